/* echo.c - a TCP echo server: one coroutine per connection.
 *
 * Each loop runs one accept coroutine on its own listener; all listeners
 * share one address through SO_REUSEPORT, so the kernel spreads incoming
 * connections over the loops (threads). Every accepted connection gets a
 * detached coroutine that reads and writes the data back until the peer
 * closes. When the loop shuts down, every coroutine is cancelled: its
 * pending read or accept returns -ECANCELED and it closes its fd. The
 * connection's buffer lives in heap memory, not on the coroutine's stack,
 * so a switch in CORO_STACK_SHARED mode copies only a few frames.
 */
#include "netdemo.h"

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
  int failed = 0;
  for (;;) {
    ssize_t n = coro_read(c->fd, c->buf, sizeof c->buf, -1);
    if (n <= 0) {
      failed = n < 0 && n != -ECANCELED && n != -ECONNRESET;
      break;
    }
    atomic_fetch_add_explicit(&srv->reads, 1, memory_order_relaxed);
    ssize_t w = coro_write_all(c->fd, c->buf, (size_t)n, -1);
    if (w < 0) {
      failed = w != -ECANCELED && w != -EPIPE && w != -ECONNRESET;
      break;
    }
    atomic_fetch_add_explicit(&srv->bytes, (uint64_t)n, memory_order_relaxed);
  }
  if (failed)
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
    echo_conn *c = malloc(sizeof *c);
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

void nd_echo_read(const nd_echo *srv, uint64_t out[5]) {
  out[0] = atomic_load_explicit(&srv->conns, memory_order_relaxed);
  out[1] = atomic_load_explicit(&srv->active, memory_order_relaxed);
  out[2] = atomic_load_explicit(&srv->bytes, memory_order_relaxed);
  out[3] = atomic_load_explicit(&srv->reads, memory_order_relaxed);
  out[4] = atomic_load_explicit(&srv->errors, memory_order_relaxed);
}
