/* hook_io.c - the reads and writes: read, readv, recv, recvfrom, recvmsg,
 * write, writev, send, sendto, sendmsg, and the wait they share
 * (hook__wait). Contract in hook.h.
 *
 * Each tries the kernel once; only on EAGAIN from a tracked fd that the
 * application thinks blocking does it wait (SO_RCVTIMEO for reads,
 * SO_SNDTIMEO for writes, per call as the kernel counts them) and retry.
 * The first try costs what libc's call costs: one syscall, no table read.
 * recv/send with MSG_DONTWAIT return EAGAIN as asked.
 *
 * Writes to a blocking stream socket return only when all is written (as
 * the kernel's blocking send does), or with the count written so far when
 * the timeout or an error ends them after some bytes went. Datagram
 * sockets never write in part, so the same loop serves them. writev and
 * sendmsg, which would need a copy of the caller's iovec to go on after a
 * partial write, return the partial count (the caller sees what a signal
 * would give it; every library that uses them loops).
 */
#include "hook.h"

#include <sys/uio.h>

int hook__wait(int fd, int events, int64_t deadline, int drained) {
  int rc;
  if (coro__hooks_on()) {
    rc = drained ? coro__fd_wait_drained(fd, events, deadline)
                 : coro_fd_wait(fd, events, deadline);
    if (rc > 0)
      return 0;
    errno = rc == -ETIMEDOUT ? EAGAIN : -rc;
    return -1;
  }
  /* Outside a hooked coroutine the application blocks the thread, as it
   * would on a blocking fd: poll(2) in slices of at most a second, so a
   * deadline is kept without arithmetic overflow. */
  struct pollfd pf = {fd, (short)(events == CORO_POLLIN ? POLLIN : POLLOUT), 0};
  for (;;) {
    int ms = 1000;
    if (deadline >= 0) {
      int64_t left = deadline - coro_now();
      if (left <= 0) {
        errno = EAGAIN;
        return -1;
      }
      if (left < 1000000000)
        ms = (int)((left + 999999) / 1000000);
    }
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    rc = (int)HOOK_RAW(SYS_ppoll, &pf, 1, &ts, NULL, 0);
    if (rc < 0)
      return -1; /* EINTR as a blocking read would give it without SA_RESTART */
    if (rc > 0)
      return (pf.revents & POLLNVAL) ? (errno = EBADF, -1) : 0;
  }
}

/* Return op's result (a syscall), retried after waits for events per the
 * contract while it fails with EAGAIN; tmo names the fd's timeout. */
#define HOOK_RETRY(events, tmo, nr, fd, ...)                                   \
  do {                                                                         \
    long r_ = HOOK_RAW(nr, fd, __VA_ARGS__);                                   \
    hook_fd *h_;                                                               \
    if (r_ >= 0 || errno != EAGAIN || !(h_ = hook__blocking(fd)))              \
      return r_;                                                               \
    int64_t dl_ = hook__deadline(h_->tmo);                                     \
    do {                                                                       \
      if (hook__wait(fd, events, dl_, events == CORO_POLLIN) < 0)              \
        return -1;                                                             \
      r_ = HOOK_RAW(nr, fd, __VA_ARGS__);                                      \
    } while (r_ < 0 && errno == EAGAIN);                                       \
    return r_;                                                                 \
  } while (0)
#define HOOK_READ(...) HOOK_RETRY(CORO_POLLIN, rcv_timeout, __VA_ARGS__)
#define HOOK_WRITEV(...) HOOK_RETRY(CORO_POLLOUT, snd_timeout, __VA_ARGS__)

ssize_t read(int fd, void *buf, size_t n) { HOOK_READ(SYS_read, fd, buf, n); }

ssize_t readv(int fd, const struct iovec *iov, int iovcnt) {
  HOOK_READ(SYS_readv, fd, iov, iovcnt);
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                 socklen_t *len) {
  if (flags & MSG_DONTWAIT)
    return HOOK_RAW(SYS_recvfrom, fd, buf, n, flags, addr, len);
  HOOK_READ(SYS_recvfrom, fd, buf, n, flags, addr, len);
}

ssize_t recv(int fd, void *buf, size_t n, int flags) {
  return recvfrom(fd, buf, n, flags, NULL, NULL);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  if (flags & MSG_DONTWAIT)
    return HOOK_RAW(SYS_recvmsg, fd, msg, flags);
  HOOK_READ(SYS_recvmsg, fd, msg, flags);
}

/* A write of n bytes at buf: all of it on a blocking tracked fd. */
static ssize_t write_all(int fd, const char *buf, size_t n, int flags,
                         const struct sockaddr *addr, socklen_t alen,
                         int plain) {
  long r = plain ? HOOK_RAW(SYS_write, fd, buf, n)
                 : HOOK_RAW(SYS_sendto, fd, buf, n, flags, addr, alen);
  hook_fd *h;
  if ((r >= 0 && (size_t)r == n) || (r < 0 && errno != EAGAIN) ||
      (flags & MSG_DONTWAIT) || !(h = hook__blocking(fd)))
    return r;
  int64_t dl = hook__deadline(h->snd_timeout);
  size_t done = r > 0 ? (size_t)r : 0;
  while (done < n) {
    if (hook__wait(fd, CORO_POLLOUT, dl, 0) < 0)
      return done ? (ssize_t)done : -1;
    r = plain ? HOOK_RAW(SYS_write, fd, buf + done, n - done)
              : HOOK_RAW(SYS_sendto, fd, buf + done, n - done, flags, addr, alen);
    if (r < 0 && errno != EAGAIN)
      return done ? (ssize_t)done : -1;
    if (r > 0)
      done += (size_t)r;
  }
  return (ssize_t)done;
}

ssize_t write(int fd, const void *buf, size_t n) {
  return write_all(fd, buf, n, 0, NULL, 0, 1);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags,
               const struct sockaddr *addr, socklen_t len) {
  return write_all(fd, buf, n, flags, addr, len, 0);
}

ssize_t send(int fd, const void *buf, size_t n, int flags) {
  return write_all(fd, buf, n, flags, NULL, 0, 0);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
  HOOK_WRITEV(SYS_writev, fd, iov, iovcnt);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  if (flags & MSG_DONTWAIT)
    return HOOK_RAW(SYS_sendmsg, fd, msg, flags);
  HOOK_WRITEV(SYS_sendmsg, fd, msg, flags);
}
