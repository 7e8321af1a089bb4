/* stream_tcp.c - the plain TCP stream of the HTTP client (see stream.h):
 * the engine's socket calls behind the ops table. */
#include "stream.h"

#include "coro.h"
#include "coro_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

static ssize_t tcp_read(coro__http_stream *s, void *buf, size_t n,
                        int64_t deadline) {
  return coro_read(s->fd, buf, n, deadline);
}

static ssize_t tcp_write(coro__http_stream *s, const void *buf, size_t n,
                         int64_t deadline) {
  return coro_write_all(s->fd, buf, n, deadline);
}

static int tcp_idle_ok(coro__http_stream *s) {
  return coro__http_fd_idle_ok(s->fd);
}

static void tcp_close(coro__http_stream *s) {
  coro_fd_close(s->fd);
  free(s);
}

static const coro__http_stream_ops tcp_ops = {
    tcp_read, tcp_write, tcp_idle_ok, tcp_close};

int coro__http_tcp_stream(int fd, coro__http_stream **out) {
  coro__http_stream *s = coro__malloc(sizeof *s);
  if (!s) {
    coro_fd_close(fd);
    return -ENOMEM;
  }
  s->ops = &tcp_ops;
  s->fd = fd;
  *out = s;
  return 0;
}

int coro__http_fd_idle_ok(int fd) {
  char c;
  ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  /* Data before a request means the server speaks out of turn (or it is
   * a late part of a response we misframed); 0 is its close. Only "would
   * block" says the connection is idle and open. */
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
