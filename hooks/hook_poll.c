/* hook_poll.c - poll and ppoll: a library's own wait on its fds, with its
 * timeout, made a wait in the loop. Contract in hook.h.
 *
 * In a hooked coroutine, a poll with a timeout other than 0 first asks the
 * kernel once without waiting (most calls end here: something is ready).
 * If nothing is, it waits in the loop: on one fd with coro_fd_wait; on
 * several, on a per-call epoll set (epoll_create1 + one epoll_ctl per fd +
 * close: n + 2 syscalls, about what the kernel's own poll costs to set up,
 * and no coroutine per fd), which the loop watches as one fd. When the
 * wait ends it asks the kernel once more for the revents, so the result is
 * always poll(2)'s own; a wake that finds nothing (readiness is a hint)
 * waits again until the deadline. 0 on timeout, -1 ECANCELED when the
 * coroutine is cancelled. The fds need not be tracked: poll never reads.
 *
 * ppoll with a signal mask cannot be a wait in the loop (the mask is the
 * thread's, shared by every coroutine): it goes to the kernel and blocks
 * the thread. Elsewhere (not hooked, timeout 0) both go to the kernel.
 */
#include "hook.h"

#include <signal.h>
#include <sys/epoll.h>

/* The kernel's poll once (timeout 0). */
static int poll_now(struct pollfd *fds, nfds_t n) {
  struct timespec zero = {0, 0};
  return (int)HOOK_RAW(SYS_ppoll, fds, n, &zero, NULL, 0);
}

/* The loop's wait for fds (see the top comment): the wait's result
 * (> 0 ready, else -errno). */
static int wait_set(struct pollfd *fds, nfds_t n, int64_t deadline) {
  if (n == 1) {
    int ev = ((fds[0].events & (POLLIN | POLLPRI | POLLRDHUP)) ? CORO_POLLIN : 0) |
             ((fds[0].events & POLLOUT) ? CORO_POLLOUT : 0);
    if (ev)
      return coro_fd_wait(fds[0].fd, ev, deadline);
  }
  int ep = (int)HOOK_RAW(SYS_epoll_create1, EPOLL_CLOEXEC);
  if (ep < 0)
    return -errno;
  int rc = 0;
  for (nfds_t i = 0; i < n && rc == 0; i++) {
    if (fds[i].fd < 0)
      continue;
    struct epoll_event e = {.events = (uint32_t)(uint16_t)fds[i].events,
                            .data.u64 = i};
    if (HOOK_RAW(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, fds[i].fd, &e) < 0 &&
        errno != EEXIST) /* the same fd twice: one registration serves */
      rc = -errno;
  }
  if (rc == 0)
    rc = coro_fd_wait(ep, CORO_POLLIN, deadline);
  coro_fd_forget(ep); /* no record left for the next file of that number */
  (void)HOOK_RAW(SYS_close, ep);
  return rc;
}

/* poll/ppoll with a deadline (-1: none) in a hooked coroutine. */
static int hooked_poll(struct pollfd *fds, nfds_t n, int64_t deadline) {
  int r = poll_now(fds, n);
  while (r == 0) {
    int rc = wait_set(fds, n, deadline);
    if (rc == -ETIMEDOUT)
      return 0;
    if (rc < 0) {
      errno = -rc;
      return -1;
    }
    r = poll_now(fds, n);
  }
  return r;
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
  if (timeout != 0 && coro__hooks_on())
    return hooked_poll(fds, n,
                       timeout < 0 ? -1 : coro_now() + (int64_t)timeout * 1000000);
  struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
  return (int)HOOK_RAW(SYS_ppoll, fds, n, timeout < 0 ? NULL : &ts, NULL, 0);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
          const sigset_t *mask) {
  /* A zero or invalid timeout is the kernel's to answer. */
  int kernel = tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 ||
                       tmo->tv_nsec >= 1000000000 ||
                       (tmo->tv_sec == 0 && tmo->tv_nsec == 0));
  if (!mask && !kernel && coro__hooks_on()) {
    int64_t dl = -1;
    if (tmo)
      dl = coro_now() + (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec;
    return hooked_poll(fds, n, dl);
  }
  /* The kernel writes the time left back: into a copy, as glibc does. */
  struct timespec ts;
  if (tmo)
    ts = *tmo;
  return (int)HOOK_RAW(SYS_ppoll, fds, n, tmo ? &ts : NULL, mask, _NSIG / 8);
}
