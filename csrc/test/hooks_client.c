/* hooks_client.c - a client written as for a blocking libc, knowing
 * nothing of coro: socket, connect, write, poll with a timeout, read,
 * close, usleep. Linked with the hooks (hooks_test), its calls wait in the
 * loop when it runs in a hooked coroutine. Kept in its own file so that
 * nothing of the engine is in sight of it. */
#include "hooks_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(int fd, int err) {
  if (fd >= 0)
    close(fd);
  return -err;
}

int blocking_echo(const struct sockaddr_in *addr, int id, client_stats *st) {
  if (usleep(1000) < 0)
    return -errno;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -errno;
  if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
    return fail(fd, errno);
  char req[32], ans[32];
  int n = snprintf(req, sizeof req, "req %d\n", id);
  if (write(fd, req, (size_t)n) != n)
    return fail(fd, errno);
  if (++st->in_flight > st->max_in_flight)
    st->max_in_flight = st->in_flight;
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  int r = poll(&pf, 1, 10000);
  st->in_flight--;
  if (r <= 0)
    return fail(fd, r == 0 ? ETIMEDOUT : errno);
  size_t got = 0;
  while (got < sizeof ans && (got == 0 || ans[got - 1] != '\n')) {
    ssize_t k = read(fd, ans + got, sizeof ans - got);
    if (k < 0)
      return fail(fd, errno);
    if (k == 0)
      break;
    got += (size_t)k;
  }
  if (got != (size_t)n || memcmp(ans, req, got) != 0)
    return fail(fd, EBADMSG);
  return close(fd) < 0 ? -errno : 0;
}
