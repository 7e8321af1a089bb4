/* echo.c - a TCP echo server: one coroutine per connection.
 *
 * Each loop runs one accept coroutine on its own listener; the listeners
 * share one address through SO_REUSEPORT (the Go side opens them with
 * coro.Group.ListenEach), so the kernel spreads incoming connections over
 * the loops (threads). Every accepted connection gets a detached coroutine
 * that reads and writes the data back until the peer closes, or until the
 * idle timeout: a peer that sends nothing for idle_ns, or does not read
 * its replies so that one cannot be written back within idle_ns, is cut
 * off, so that no client can hold a connection (an fd, a coroutine and a
 * buffer) for ever. When the loop shuts down, every coroutine is
 * cancelled: its pending read or accept returns -ECANCELED and it closes
 * its fd. The connection's buffer lives in heap memory, not on the
 * coroutine's stack, so a switch in CORO_STACK_SHARED mode copies only a
 * few frames.
 */
#include "netdemo.h"
/* The engine's fault points (coro__malloc): the allocations go through
 * them, so that the fault sweep (fault_test.go) fails each in turn. */
#include "coro_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ECHO_BUF 16384

typedef struct echo_conn {
  nd_echo *srv;
  int fd;
  char buf[ECHO_BUF];
} echo_conn;

/* A connection's coroutine: echo until end of file, an error, or
 * cancellation. Bytes count once written back in full, so a client that
 * has read its whole reply knows the server has counted it. */
static void *echo_conn_main(void *arg) {
  echo_conn *c = arg;
  nd_echo *srv = c->srv;
  ssize_t rc;
  for (;;) {
    rc = coro_read(c->fd, c->buf, sizeof c->buf, coro_now() + srv->idle_ns);
    if (rc <= 0)
      break;
    atomic_fetch_add_explicit(&srv->reads, 1, memory_order_relaxed);
    size_t n = (size_t)rc;
    rc = coro_write_all(c->fd, c->buf, n, coro_now() + srv->idle_ns);
    if (rc < 0)
      break;
    atomic_fetch_add_explicit(&srv->bytes, n, memory_order_relaxed);
  }
  /* End of file, a peer that went away, and cancellation are how
   * connections end; a timeout is counted apart from the errors. */
  if (rc == -ETIMEDOUT)
    atomic_fetch_add_explicit(&srv->timeouts, 1, memory_order_relaxed);
  else if (rc < 0 && rc != -ECANCELED && rc != -ECONNRESET && rc != -EPIPE)
    atomic_fetch_add_explicit(&srv->errors, 1, memory_order_relaxed);
  coro_fd_close(c->fd);
  free(c);
  atomic_fetch_sub_explicit(&srv->active, 1, memory_order_relaxed);
  return NULL;
}

void *nd_echo_accept_main(void *arg) {
  nd_echo_acceptor *a = arg;
  static const coro_opts conn_opts = {.name = "echo-conn"};
  for (;;) {
    int fd = coro_accept(a->lfd, NULL, NULL, -1);
    if (fd < 0) {
      if (fd == -ECANCELED)
        break;
      if (fd == -EBADF || fd == -EINVAL || fd == -ENOTSOCK) {
        a->err = fd; /* not a listening socket: nothing to serve */
        break;
      }
      /* A connection that went away before it was accepted, or no memory
       * for the wait just now, is no reason to stop serving the others;
       * but never spin on an error that stays. */
      if (coro_sleep(coro_now() + 10 * 1000000LL) < 0)
        break;
      continue;
    }
    echo_conn *c = coro__malloc(sizeof *c);
    if (!c) {
      coro_fd_close(fd);
      continue;
    }
    c->srv = a->srv;
    c->fd = fd;
    atomic_fetch_add_explicit(&a->srv->conns, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->srv->active, 1, memory_order_relaxed);
    int rc = coro_spawn(NULL, echo_conn_main, c, &conn_opts);
    if (rc < 0) {
      atomic_fetch_sub_explicit(&a->srv->active, 1, memory_order_relaxed);
      coro_fd_close(fd);
      free(c);
      if (rc == -ESHUTDOWN)
        break;
    }
  }
  coro_fd_close(a->lfd);
  a->lfd = -1;
  return NULL;
}

void nd_echo_read(const nd_echo *srv, uint64_t out[ND_ECHO_STATS]) {
  out[0] = atomic_load_explicit(&srv->conns, memory_order_relaxed);
  out[1] = atomic_load_explicit(&srv->active, memory_order_relaxed);
  out[2] = atomic_load_explicit(&srv->bytes, memory_order_relaxed);
  out[3] = atomic_load_explicit(&srv->reads, memory_order_relaxed);
  out[4] = atomic_load_explicit(&srv->errors, memory_order_relaxed);
  out[5] = atomic_load_explicit(&srv->timeouts, memory_order_relaxed);
}
