/* io.c - the C half of (*Loop).WaitFD, ForgetFD and SendFile (poller.go,
 * sendfile.go). cgo compiles this file as part of package
 * github.com/ccoro/coro.
 *
 * Each Go call spawns one tiny coroutine on the loop with a
 * coro__go_fdop record as its argument. The record is C memory allocated
 * by the Go side and freed by it once the coroutine is done, so it never
 * lives on a coroutine stack (which SHARED mode would copy away) and Go
 * never hands C a pointer into Go memory. Nothing here calls into Go.
 */
#include "coro.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

/* One I/O request from Go. The Go side fills the inputs before the spawn
 * and reads the outputs after the coroutine has finished. */
typedef struct coro__go_fdop {
  int fd;           /* WaitFD, ForgetFD: the fd; SendFile: out_fd */
  int in_fd;        /* SendFile: the file */
  int events;       /* WaitFD: CORO_POLLIN and/or CORO_POLLOUT */
  int started;      /* output: 1 once the coroutine has begun */
  int done;         /* output: 1 once the outputs below are final */
  int64_t deadline; /* absolute CLOCK_MONOTONIC ns, -1 for none */
  int64_t offset;   /* SendFile: where to start in the file */
  int64_t count;    /* SendFile: bytes to send */
  int64_t sent;     /* output, SendFile: bytes sent, even on error */
  int64_t rc;       /* output: the engine call's result */
} coro__go_fdop;

/* How many requests from Go use each fd on this thread's loop. The engine
 * keeps a registration for an fd once a coroutine has waited on it; a
 * registration left behind after the caller closes the fd would be stale
 * for the next file that gets the same number. So the last request on an
 * fd to finish drops the registration with coro_fd_forget, and no
 * registration outlives the Go calls that made it. The table lives in
 * thread-locals because only the loop's own coroutines touch it, one at a
 * time; it is freed whenever no request is in progress. */
static _Thread_local int *coro__go_fd_users;
static _Thread_local size_t coro__go_fd_cap;
static _Thread_local size_t coro__go_fd_total;

static int coro__go_fd_hold(int fd) {
  if (fd < 0)
    return -EBADF;
  if ((size_t)fd >= coro__go_fd_cap) {
    size_t cap = coro__go_fd_cap ? coro__go_fd_cap : 64;
    while (cap <= (size_t)fd)
      cap *= 2;
    int *p = realloc(coro__go_fd_users, cap * sizeof *p);
    if (p == NULL)
      return -ENOMEM;
    for (size_t i = coro__go_fd_cap; i < cap; i++)
      p[i] = 0;
    coro__go_fd_users = p;
    coro__go_fd_cap = cap;
  }
  coro__go_fd_users[fd]++;
  coro__go_fd_total++;
  return 0;
}

static void coro__go_fd_release(int fd) {
  if (--coro__go_fd_users[fd] == 0)
    coro_fd_forget(fd);
  if (--coro__go_fd_total == 0) {
    free(coro__go_fd_users);
    coro__go_fd_users = NULL;
    coro__go_fd_cap = 0;
  }
}

/* The start of an operation on op->fd: mark it started and hold the fd.
 * 0, or -1 when the hold failed (op is then done, with the error). */
static int coro__go_op_begin(coro__go_fdop *op) {
  op->started = 1;
  int rc = coro__go_fd_hold(op->fd);
  if (rc < 0) {
    op->rc = rc;
    op->done = 1;
    return -1;
  }
  return 0;
}

/* The end of an operation begun with coro__go_op_begin. */
static void coro__go_op_end(coro__go_fdop *op) {
  coro__go_fd_release(op->fd);
  op->done = 1;
}

void *coro__go_wait_entry(void *arg) {
  coro__go_fdop *op = arg;
  if (coro__go_op_begin(op) < 0)
    return NULL;
  op->rc = coro_fd_wait(op->fd, op->events, op->deadline);
  coro__go_op_end(op);
  return NULL;
}

void *coro__go_forget_entry(void *arg) {
  coro__go_fdop *op = arg;
  op->started = 1;
  op->rc = coro_fd_forget(op->fd);
  op->done = 1;
  return NULL;
}

void *coro__go_sendfile_entry(void *arg) {
  coro__go_fdop *op = arg;
  if (coro__go_op_begin(op) < 0)
    return NULL;
  int64_t off = op->offset;
  ssize_t n = coro_sendfile(op->fd, op->in_fd, &off, (size_t)op->count, op->deadline);
  /* On an error after a partial send, the advanced offset still tells how
   * much went out. */
  op->sent = n >= 0 ? (int64_t)n : off - op->offset;
  op->rc = n;
  coro__go_op_end(op);
  return NULL;
}

/* The record's layout, which poller.go declares again (cgo cannot share a
 * type between a preamble and this file): the Go side checks it at init. */
void coro__go_fdop_layout(size_t out[11]) {
  out[0] = sizeof(coro__go_fdop);
  out[1] = offsetof(coro__go_fdop, fd);
  out[2] = offsetof(coro__go_fdop, in_fd);
  out[3] = offsetof(coro__go_fdop, events);
  out[4] = offsetof(coro__go_fdop, started);
  out[5] = offsetof(coro__go_fdop, done);
  out[6] = offsetof(coro__go_fdop, deadline);
  out[7] = offsetof(coro__go_fdop, offset);
  out[8] = offsetof(coro__go_fdop, count);
  out[9] = offsetof(coro__go_fdop, sent);
  out[10] = offsetof(coro__go_fdop, rc);
}

/* 1 if fd is in non-blocking mode, 0 if not, -errno if it is not open.
 * SendFile refuses blocking sockets: a blocking sendfile would stall every
 * coroutine of the loop. */
int coro__go_fd_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -errno;
  return (fl & O_NONBLOCK) != 0;
}
