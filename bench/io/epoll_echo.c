/* epoll_echo.c - the floor for the echo benchmark: a hand-written,
 * single-threaded epoll state machine.
 *
 *   epoll_echo -addr 127.0.0.1:PORT
 *
 * Every socket is registered once, edge-triggered, and stays registered for
 * its whole life, so the steady state costs one epoll_wait per batch of
 * ready connections and no epoll_ctl at all. A readable connection is read
 * until EAGAIN (edge-triggered demands it) and every chunk is written back
 * at once; only when the peer's receive window is full does the connection
 * keep the unsent bytes and wait for EPOLLOUT, and it stops reading until
 * they are gone (the same back pressure a blocking echo loop has). There is
 * no speculative read: a connection is touched only when epoll says so, and
 * a read shorter than the buffer counts as the EAGAIN (any byte arriving
 * after it raises a new edge), so lockstep traffic costs one read and one
 * write per request, not a third read that fails.
 *
 * Prints "epoll_echo: listening on ADDR" once it accepts and runs until
 * SIGINT or SIGTERM. Not part of `go build` (scripts/bench-io.sh builds it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 16384
#define MAX_EVENTS 256

/* One connection: the bytes read but not yet written back. */
typedef struct conn {
  int fd;
  size_t off, len; /* pending bytes are buf[off, len) */
  char buf[BUF_SIZE];
} conn;

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void conn_close(conn *c) {
  close(c->fd); /* closing removes it from the epoll set */
  free(c);
}

/* Write back what is pending; 1 done, 0 would block, -1 the connection is
 * gone. */
static int flush(conn *c) {
  while (c->off < c->len) {
    ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);
    if (n > 0) {
      c->off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    return -1;
  }
  c->off = c->len = 0;
  return 1;
}

/* Handle readiness on a connection; -1 when it must be closed. */
static int serve(conn *c, uint32_t ev) {
  if (c->off < c->len) {
    /* Waiting for EPOLLOUT: flush first, read only once it drained. */
    int rc = flush(c);
    if (rc <= 0)
      return rc;
  }
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    for (;;) {
      ssize_t n = read(c->fd, c->buf, BUF_SIZE);
      if (n > 0) {
        c->off = 0;
        c->len = (size_t)n;
        int rc = flush(c);
        if (rc < 0)
          return -1;
        if (rc == 0)
          return 0; /* resume on EPOLLOUT; the edge for EPOLLIN comes again */
        if ((size_t)n < BUF_SIZE)
          return 0; /* a short read means the socket is drained */
        continue;
      }
      if (n == 0)
        return -1;
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *addr = "127.0.0.1:7000";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-addr") == 0 && i + 1 < argc)
      addr = argv[++i];
    else {
      fprintf(stderr, "usage: epoll_echo [-addr HOST:PORT]\n");
      return 2;
    }
  }
  char host[64];
  const char *colon = strrchr(addr, ':');
  if (!colon || (size_t)(colon - addr) >= sizeof host) {
    fprintf(stderr, "epoll_echo: -addr %s: want HOST:PORT\n", addr);
    return 2;
  }
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = 0;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "epoll_echo: -addr %s: want a numeric IPv4 host\n", addr);
    return 2;
  }

  struct sigaction act = {.sa_handler = on_signal};
  sigaction(SIGINT, &act, NULL);
  sigaction(SIGTERM, &act, NULL);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0)
    die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
    die("bind");
  if (listen(lfd, 4096) < 0)
    die("listen");
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  char shown[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sa.sin_addr, shown, sizeof shown);
  printf("epoll_echo: listening on %s:%d\n", shown, ntohs(sa.sin_port));
  fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    die("epoll_create1");
  /* The listener is level-triggered: accept one batch per wakeup and let
   * epoll report the rest, so accepting never starves the connections. */
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
    die("epoll_ctl");

  struct epoll_event evs[MAX_EVENTS];
  unsigned long conns = 0;
  while (!stopping) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c == NULL) {
        for (int k = 0; k < 64; k++) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0)
            break; /* EAGAIN, or EMFILE: try again on the next wakeup */
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn *nc = malloc(sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          nc->off = nc->len = 0;
          struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = nc};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_close(nc);
            continue;
          }
          conns++;
        }
        continue;
      }
      uint32_t ev = evs[i].events;
      /* EPOLLOUT edges on an idle connection are harmless: serve() only
       * writes when bytes are pending and reads only on EPOLLIN. */
      if (serve(c, ev) < 0)
        conn_close(c);
    }
  }
  fprintf(stderr, "epoll_echo: stopped: %lu connections\n", conns);
  return 0;
}
