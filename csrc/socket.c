/* socket.c - socket calls for coroutines, libdill style: every fd made here
 * is non-blocking and close-on-exec, every call that can wait takes an
 * absolute deadline, and a call that would block parks the coroutine in
 * coro_fd_wait and retries. Writes never raise SIGPIPE: send and sendto
 * pass MSG_NOSIGNAL, and write/writev rely on SIGPIPE being blocked on the
 * loop thread (poll.c), discarding the pending signal after EPIPE.
 */
#include "coro_internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Back-off bounds for accept when out of fds. */
#define ACCEPT_BACKOFF_MIN (10 * 1000000LL)
#define ACCEPT_BACKOFF_MAX (500 * 1000000LL)
/* Back-off bounds for connect to a unix socket whose listen queue is full. */
#define CONNECT_BACKOFF_MIN (1 * 1000000LL)
#define CONNECT_BACKOFF_MAX (64 * 1000000LL)

/* After a call failed with err (> 0): 1 to retry at once (EINTR), 0 to wait
 * for events on fd and retry, or a negative errno to return. */
static int after_error(int fd, int err, int events, int64_t deadline) {
  if (err == EINTR)
    return 1;
  if (err != EAGAIN && err != EWOULDBLOCK) {
    if (err == EPIPE)
      coro__sigpipe_drain();
    return -err;
  }
  if (deadline == 0)
    return -ETIMEDOUT; /* try once */
  int rc = coro__fd_wait_drained(fd, events, deadline);
  return rc < 0 ? rc : 0;
}

/* For retries with nothing to wait on: sleep for *backoff, but not past
 * the deadline, then double *backoff up to max. 0 after the sleep, 1 when
 * the deadline has passed already (or is 0: try once), or the error of
 * coro_sleep (-ECANCELED, -EPERM). */
static int backoff_sleep(int64_t *backoff, int64_t max, int64_t deadline) {
  int64_t now = coro_now();
  if (deadline == 0 || (deadline > 0 && now >= deadline))
    return 1;
  int64_t until = now + *backoff;
  if (deadline > 0 && until > deadline)
    until = deadline;
  int rc = coro_sleep(until);
  if (rc < 0)
    return rc;
  *backoff = *backoff * 2 > max ? max : *backoff * 2;
  return 0;
}

/* The retry loop shared by the transfer calls: CALL is the expression that
 * does the I/O, EV the events to wait for. */
#define IO_LOOP(fd, EV, deadline, CALL)                                      \
  do {                                                                       \
    for (;;) {                                                               \
      ssize_t n_ = (CALL);                                                   \
      if (n_ >= 0)                                                           \
        return n_;                                                           \
      int rc_ = after_error(fd, errno, EV, deadline);                        \
      if (rc_ < 0)                                                           \
        return rc_;                                                          \
    }                                                                        \
  } while (0)

/* readv(2), as recvmsg(2) on a socket the engine made: the same call for a
 * socket, but on any other file it fails with ENOTSOCK, which is how the
 * engine learns, at no cost, that the number names another file now (the
 * socket was closed with plain close() and the number reused). The wait
 * after an EAGAIN trusts the socket's kept registration (poll.c), which
 * died with it: then the record is reset and the file read as a file. */
static ssize_t read_iov(int fd, const struct iovec *iov, int iovcnt) {
  if (coro__fd_owned(fd)) {
    struct msghdr m = {.msg_iov = (struct iovec *)iov,
                       .msg_iovlen = (size_t)iovcnt};
    ssize_t n = coro__recvmsg(fd, &m, 0);
    if (n >= 0 || errno != ENOTSOCK)
      return n;
    coro__fd_disown(fd);
  }
  return iovcnt == 1 ? coro__read(fd, iov->iov_base, iov->iov_len)
                     : coro__readv(fd, iov, iovcnt);
}

ssize_t coro_read(int fd, void *buf, size_t n, int64_t deadline) {
  struct iovec v = {buf, n};
  IO_LOOP(fd, CORO_POLLIN, deadline, read_iov(fd, &v, 1));
}

ssize_t coro_write(int fd, const void *buf, size_t n, int64_t deadline) {
  IO_LOOP(fd, CORO_POLLOUT, deadline, coro__write(fd, buf, n));
}

ssize_t coro_readv(int fd, const struct iovec *iov, int iovcnt,
                   int64_t deadline) {
  IO_LOOP(fd, CORO_POLLIN, deadline, read_iov(fd, iov, iovcnt));
}

ssize_t coro_writev(int fd, const struct iovec *iov, int iovcnt,
                    int64_t deadline) {
  IO_LOOP(fd, CORO_POLLOUT, deadline, coro__writev(fd, iov, iovcnt));
}

ssize_t coro_recv(int fd, void *buf, size_t n, int flags, int64_t deadline) {
  IO_LOOP(fd, CORO_POLLIN, deadline,
          coro__recvfrom(fd, buf, n, flags, NULL, NULL));
}

ssize_t coro_send(int fd, const void *buf, size_t n, int flags,
                  int64_t deadline) {
  IO_LOOP(fd, CORO_POLLOUT, deadline,
          coro__sendto(fd, buf, n, flags | MSG_NOSIGNAL, NULL, 0));
}

ssize_t coro_recvfrom(int fd, void *buf, size_t n, int flags,
                      struct sockaddr *addr, socklen_t *len,
                      int64_t deadline) {
  IO_LOOP(fd, CORO_POLLIN, deadline,
          coro__recvfrom(fd, buf, n, flags, addr, len));
}

ssize_t coro_sendto(int fd, const void *buf, size_t n, int flags,
                    const struct sockaddr *addr, socklen_t len,
                    int64_t deadline) {
  IO_LOOP(fd, CORO_POLLOUT, deadline,
          coro__sendto(fd, buf, n, flags | MSG_NOSIGNAL, addr, len));
}

ssize_t coro_write_all(int fd, const void *buf, size_t n, int64_t deadline) {
  const char *p = buf;
  size_t done = 0;
  while (done < n) {
    ssize_t w = coro_write(fd, p + done, n - done, deadline);
    if (w < 0)
      return w; /* the bytes before `done` were sent */
    done += (size_t)w;
  }
  return (ssize_t)n;
}

int coro_shutdown(int fd, int how) {
  return shutdown(fd, how) < 0 ? -errno : 0;
}

/* ---- Listening and accepting ------------------------------------------ */

static int listen_on(int family, const struct sockaddr *addr, socklen_t len,
                     int backlog, int flags) {
  int fd = coro__socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  coro__fd_adopt(fd);
  int one = 1;
  if (family != AF_UNIX) {
    if (coro__setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
      goto fail;
    if ((flags & CORO_REUSEPORT) &&
        coro__setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
      goto fail;
  }
  if (coro__bind(fd, addr, len) < 0 || coro__listen(fd, backlog) < 0)
    goto fail;
  return fd;
fail:;
  int e = -errno;
  coro_fd_close(fd);
  return e;
}

int coro_tcp_listen(const struct sockaddr *addr, socklen_t len, int backlog,
                    int flags) {
  if (!addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) ||
      (flags & ~CORO_REUSEPORT))
    return -EINVAL;
  return listen_on(addr->sa_family, addr, len, backlog, flags);
}

static int unix_addr(const char *path, struct sockaddr_un *sun,
                     socklen_t *len) {
  if (!path || !path[0])
    return -EINVAL;
  size_t n = strlen(path);
  if (n >= sizeof sun->sun_path)
    return -ENAMETOOLONG;
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, path, n + 1);
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return 0;
}

int coro_unix_listen(const char *path, int backlog) {
  struct sockaddr_un sun;
  socklen_t len;
  int rc = unix_addr(path, &sun, &len);
  if (rc < 0)
    return rc;
  return listen_on(AF_UNIX, (struct sockaddr *)&sun, len, backlog, 0);
}

int coro_accept(int lfd, struct sockaddr *addr, socklen_t *len,
                int64_t deadline) {
  int64_t backoff = ACCEPT_BACKOFF_MIN;
  for (;;) {
    int fd = coro__accept4(lfd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      coro__fd_adopt(fd);
      return fd;
    }
    int err = errno;
    if (err == ECONNABORTED || err == EINTR)
      continue; /* that connection is gone; the next may be fine */
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      /* Out of fds (or memory). The listening socket stays readable, so
       * waiting on it would spin: sleep instead, longer each time, until
       * someone frees an fd or the deadline passes. */
      int rc = backoff_sleep(&backoff, ACCEPT_BACKOFF_MAX, deadline);
      if (rc != 0)
        return rc > 0 ? -err : rc;
      continue;
    }
    int rc = after_error(lfd, err, CORO_POLLIN, deadline);
    if (rc < 0)
      return rc;
  }
}

/* ---- Connecting ---------------------------------------------------------- */

int coro_connect(const struct sockaddr *addr, socklen_t len,
                 int64_t deadline) {
  if (!addr)
    return -EINVAL;
  int fd = coro__socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  if (fd < 0)
    return -errno;
  coro__fd_adopt(fd);
  int rc = 0;
  int64_t backoff = CONNECT_BACKOFF_MIN;
  int interrupted = 0;
  while (coro__connect(fd, addr, len) < 0) {
    int err = errno;
    /* An interrupted connect goes on in the background: connecting again
     * says how it does (EALREADY: still going, EISCONN: done). */
    if (err == EINTR) {
      interrupted = 1;
      continue;
    }
    if (interrupted && err == EISCONN)
      break;
    if (interrupted && err == EALREADY)
      err = EINPROGRESS;
    if (err == EAGAIN && addr->sa_family == AF_UNIX) {
      /* A unix socket's listen queue is full. There is nothing to wait on
       * (the socket is not connecting), so retry after a short sleep. */
      rc = backoff_sleep(&backoff, CONNECT_BACKOFF_MAX, deadline);
      if (rc > 0)
        rc = -ETIMEDOUT;
      if (rc < 0)
        break;
      continue;
    }
    if (err != EINPROGRESS) {
      rc = -err;
      break;
    }
    if (deadline == 0) {
      rc = -ETIMEDOUT;
      break;
    }
    rc = coro_fd_wait(fd, CORO_POLLOUT, deadline);
    if (rc < 0)
      break;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
      soerr = errno;
    rc = soerr ? -soerr : 0;
    break;
  }
  if (rc < 0) {
    coro_fd_close(fd);
    return rc;
  }
  return fd;
}

int coro_unix_connect(const char *path, int64_t deadline) {
  struct sockaddr_un sun;
  socklen_t len;
  int rc = unix_addr(path, &sun, &len);
  if (rc < 0)
    return rc;
  return coro_connect((struct sockaddr *)&sun, len, deadline);
}

/* ---- Addresses ----------------------------------------------------------- */

static int parse_port(const char *s, in_port_t *out) {
  if (!*s)
    return -EINVAL;
  unsigned long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -EINVAL;
    v = v * 10 + (unsigned long)(*s - '0');
    if (v > 65535)
      return -EINVAL;
  }
  *out = htons((in_port_t)v);
  return 0;
}

int coro_addr_parse(const char *hostport, struct sockaddr_storage *out,
                    socklen_t *len) {
  if (!hostport || !out || !len)
    return -EINVAL;
  char host[INET6_ADDRSTRLEN + 1];
  const char *port;
  size_t hl;
  int v6 = hostport[0] == '[';
  if (v6) {
    const char *end = strchr(hostport, ']');
    if (!end || end[1] != ':')
      return -EINVAL;
    hl = (size_t)(end - hostport - 1);
    port = end + 2;
    hostport++;
  } else {
    const char *colon = strrchr(hostport, ':');
    if (!colon)
      return -EINVAL;
    hl = (size_t)(colon - hostport);
    port = colon + 1;
  }
  if (hl == 0 || hl >= sizeof host)
    return -EINVAL;
  memcpy(host, hostport, hl);
  host[hl] = '\0';
  in_port_t p;
  if (parse_port(port, &p) < 0)
    return -EINVAL;
  memset(out, 0, sizeof *out);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
      return -EINVAL;
    a->sin6_family = AF_INET6;
    a->sin6_port = p;
    *len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
      return -EINVAL;
    a->sin_family = AF_INET;
    a->sin_port = p;
    *len = sizeof *a;
  }
  return 0;
}
