/* cclients.c - one client, twice: blocking POSIX calls on a thread, and
 * coro calls in a coroutine (see cclients.h). */
#include "cclients.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

int cc_set_addr(cc_run *run, const char *hostport) {
  return coro_addr_parse(hostport, &run->addr, &run->addrlen);
}

void cc_read(cc_run *run, int out[3]) {
  out[0] = atomic_load(&run->answered);
  out[1] = atomic_load(&run->failed);
  out[2] = atomic_load(&run->first_err);
}

/* Records which thread client number i runs on (tids may be NULL). */
static void note_thread(cc_run *run) {
  int i = atomic_fetch_add(&run->next, 1);
  if (run->tids && i < run->n)
    run->tids[i] = (int)syscall(SYS_gettid);
}

static int finish(cc_run *run, int rc) {
  if (rc == 0) {
    atomic_fetch_add(&run->answered, 1);
  } else {
    int zero = 0;
    atomic_compare_exchange_strong(&run->first_err, &zero, rc);
    atomic_fetch_add(&run->failed, 1);
  }
  return rc;
}

/* Closes with a reset (SO_LINGER 0) instead of a FIN: the answer is in,
 * and a run of thousands of clients would otherwise leave as many ports in
 * TIME_WAIT for a minute, slowing the next run's connects. */
static void close_reset(int fd, int coro) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  if (coro)
    coro_fd_close(fd);
  else
    close(fd);
}

/* ---- blocking ----------------------------------------------------------- */

/* SO_SNDTIMEO bounds connect and each write, SO_RCVTIMEO each read; a call
 * that times out fails with EAGAIN (EINPROGRESS for connect). */
static int timeout_err(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS ? -ETIMEDOUT : -err;
}

/* A connect interrupted by a signal goes on in the background (it is not
 * restarted while a timeout is set): wait for it with poll. */
static int connect_wait(int fd, int64_t timeout_ns) {
  struct pollfd pf = {.fd = fd, .events = POLLOUT};
  int rc;
  do
    rc = poll(&pf, 1, (int)(timeout_ns / 1000000));
  while (rc < 0 && errno == EINTR);
  if (rc < 0)
    return -errno;
  if (rc == 0)
    return -ETIMEDOUT;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return -errno;
  return -err;
}

static int blocking_client(cc_run *run, int fd) {
  struct timeval tv = {.tv_sec = (time_t)(run->timeout_ns / 1000000000),
                       .tv_usec = (suseconds_t)(run->timeout_ns % 1000000000 / 1000)};
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
    return -errno;
  if (connect(fd, (struct sockaddr *)&run->addr, run->addrlen) < 0) {
    if (errno != EINTR)
      return timeout_err(errno);
    int rc = connect_wait(fd, run->timeout_ns);
    if (rc < 0)
      return rc;
  }
  static const char req[] = CC_REQ;
  size_t done = 0;
  while (done < CC_REQ_LEN) {
    ssize_t w = write(fd, req + done, CC_REQ_LEN - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return timeout_err(errno);
    done += (size_t)w;
  }
  char buf[CC_REPLY_LEN];
  done = 0;
  while (done < CC_REPLY_LEN) {
    ssize_t r = read(fd, buf + done, CC_REPLY_LEN - done);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return timeout_err(errno);
    if (r == 0)
      return -EPROTO; /* the peer hung up without answering */
    done += (size_t)r;
  }
  return memcmp(buf, CC_REPLY, CC_REPLY_LEN) == 0 ? 0 : -EPROTO;
}

int cc_blocking_client(cc_run *run) {
  note_thread(run);
  int fd = socket(run->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return finish(run, -errno);
  int rc = blocking_client(run, fd);
  close_reset(fd, 0);
  return finish(run, rc);
}

/* ---- coroutines --------------------------------------------------------- */

static int coro_client(cc_run *run) {
  int64_t dl = coro_now() + run->timeout_ns;
  int fd = coro_connect((struct sockaddr *)&run->addr, run->addrlen, dl);
  if (fd < 0)
    return fd;
  ssize_t rc = coro_write_all(fd, CC_REQ, CC_REQ_LEN, dl);
  /* The buffer is on the coroutine's stack, which SHARED mode copies away
   * while the coroutine waits: fine, since coro_read waits first and reads
   * into it only once the coroutine runs again. */
  char buf[CC_REPLY_LEN];
  size_t done = 0;
  while (rc >= 0 && done < CC_REPLY_LEN) {
    rc = coro_read(fd, buf + done, CC_REPLY_LEN - done, dl);
    if (rc == 0)
      rc = -EPROTO;
    else if (rc > 0)
      done += (size_t)rc;
  }
  close_reset(fd, 1);
  if (rc < 0)
    return (int)rc;
  return memcmp(buf, CC_REPLY, CC_REPLY_LEN) == 0 ? 0 : -EPROTO;
}

static void *coro_client_main(void *arg) {
  cc_run *run = arg;
  note_thread(run);
  finish(run, coro_client(run));
  return NULL;
}

void *cc_coro_main(void *arg) {
  cc_run *run = arg;
  coro **cos = calloc((size_t)run->n, sizeof *cos);
  if (!cos) {
    for (int i = 0; i < run->n; i++)
      finish(run, -ENOMEM);
    return NULL;
  }
  coro_opts opts = {.stack_mode = run->stack_mode, .name = "cclient"};
  int spawned = 0;
  for (; spawned < run->n; spawned++) {
    int rc = coro_spawn(&cos[spawned], coro_client_main, run, &opts);
    if (rc < 0) {
      for (int i = spawned; i < run->n; i++)
        finish(run, rc);
      break;
    }
  }
  /* The clients run while this coroutine waits in its first join. */
  for (int i = 0; i < spawned; i++) {
    if (coro_join(cos[i], -1, NULL) < 0) {
      /* Cancelled (the loop is closing): stop the others, which free
       * themselves once detached. */
      for (int j = i; j < spawned; j++) {
        coro_cancel(cos[j]);
        coro_detach(cos[j]);
      }
      break;
    }
  }
  free(cos);
  return NULL;
}
