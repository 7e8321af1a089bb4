/* client.c - the demo's blocking client: plain libc calls, written as any
 * blocking C client library is (connect, write the request, read until
 * the answer's newline, close). It knows nothing of coroutines; run in a
 * coroutine of a loop with the hooks on, its calls wait in the loop. */
#include "hookdemo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static hookdemo_stats stats;
static struct sockaddr_in server;

void hookdemo_reset(int port) {
  stats = (hookdemo_stats){0};
  server = (struct sockaddr_in){.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

hookdemo_stats hookdemo_get(void) { return stats; }

/* One request; 0 or -errno (-EBADMSG: a wrong answer). */
static int request(int id) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -errno;
  int rc = 0;
  char req[32], buf[32];
  int n = snprintf(req, sizeof req, "q %d\n", id);
  if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0 ||
      write(fd, req, (size_t)n) != n) {
    rc = -errno;
    goto out;
  }
  size_t got = 0;
  while (got < (size_t)n) {
    ssize_t r = read(fd, buf + got, sizeof buf - got);
    if (r <= 0) {
      rc = r < 0 ? -errno : -EBADMSG;
      goto out;
    }
    got += (size_t)r;
  }
  if (got != (size_t)n || memcmp(buf, req, (size_t)n) != 0)
    rc = -EBADMSG;
out:
  close(fd);
  return rc;
}

void *hookdemo_client(void *arg) {
  int id = (int)(intptr_t)arg;
  if (++stats.in_flight > stats.max_in_flight)
    stats.max_in_flight = stats.in_flight;
  int rc = request(id);
  stats.in_flight--;
  if (rc == 0)
    stats.ok++;
  else
    stats.failed++;
  return NULL;
}
