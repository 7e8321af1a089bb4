/* hook_poll.c - poll, ppoll and select: a library's own wait on its fds,
 * with its timeout, made a wait in the loop. Contract in hook.h.
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
 * The same fd twice in one call waits for the union of its entries'
 * events (one epoll registration, EPOLL_CTL_MOD), and each entry gets its
 * own revents from the kernel's poll. A file epoll refuses (EPERM: a
 * regular file, /dev/null) is left out of the set: the kernel's poll calls
 * it ready for reading and writing at once and never for anything else.
 * Negative fds are ignored, as by poll(2). A timeout of HOOK_FOREVER or
 * more is forever (hook.h).
 *
 * select and pselect are poll over the fds their sets name (POLLIN for
 * the read set, POLLOUT for the write set, POLLPRI for the exception set),
 * mapped back as the kernel maps them (a hang-up or error makes an fd
 * readable and writable; an fd not open is EBADF); select writes the time
 * left to the timeout as Linux does, pselect leaves it (as glibc's).
 *
 * ppoll and pselect with a signal mask cannot be a wait in the loop (the
 * mask is the thread's, shared by every coroutine): they go to the kernel
 * and block the thread. Elsewhere (not hooked, timeout 0) all go to the
 * kernel.
 */
#include "hook.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/epoll.h>

/* The kernel's poll once (timeout 0). */
static int poll_now(struct pollfd *fds, nfds_t n) {
  struct timespec zero = {0, 0};
  return (int)HOOK_RAW(SYS_ppoll, fds, n, &zero, NULL, 0);
}

/* The per-call epoll set's registration of entry i: the events of every
 * entry naming its fd (the same fd twice in one poll is legal, and one
 * epoll registration must serve both). 0, or -errno. */
static int add_entry(int ep, struct pollfd *fds, nfds_t i) {
  struct epoll_event e = {.events = (uint16_t)fds[i].events, .data.u64 = i};
  if (HOOK_RAW(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, fds[i].fd, &e) == 0)
    return 0;
  if (errno == EPERM)
    return 0; /* a file epoll cannot watch (regular file, /dev/null): see
                 wait_set */
  if (errno != EEXIST)
    return -errno;
  for (nfds_t j = 0; j < i; j++)
    if (fds[j].fd == fds[i].fd)
      e.events |= (uint16_t)fds[j].events;
  return HOOK_RAW(SYS_epoll_ctl, ep, EPOLL_CTL_MOD, fds[i].fd, &e) < 0 ? -errno
                                                                       : 0;
}

/* The loop's wait for fds (see the top comment): the wait's result
 * (> 0 ready, else -errno). exact: wait on exactly the events asked; else
 * one fd asking for read or write (or priority data, counted as read)
 * waits with coro_fd_wait, which cannot tell those apart and reports a
 * file epoll refuses (a regular file) as ready: a wake that the kernel's
 * poll then finds not ready sets exact (hooked_poll).
 * Files epoll refuses are left out of the set: the kernel's poll reports
 * them ready for read and write always (the first poll_now saw that) and
 * never for anything else, so they can only wait out the timeout. A
 * negative fd is ignored, as by poll(2). */
static int wait_set(struct pollfd *fds, nfds_t n, int64_t deadline, int exact) {
  if (n == 1 && fds[0].fd >= 0 && !exact) {
    int ev = ((fds[0].events & (POLLIN | POLLPRI | POLLRDHUP)) ? CORO_POLLIN : 0) |
             ((fds[0].events & POLLOUT) ? CORO_POLLOUT : 0);
    if (ev)
      return coro_fd_wait(fds[0].fd, ev, deadline);
  }
  int ep = (int)HOOK_RAW(SYS_epoll_create1, EPOLL_CLOEXEC);
  if (ep < 0)
    return -errno;
  int rc = 0;
  for (nfds_t i = 0; i < n && rc == 0; i++)
    if (fds[i].fd >= 0)
      rc = add_entry(ep, fds, i);
  if (rc == 0)
    rc = coro_fd_wait(ep, CORO_POLLIN, deadline);
  coro_fd_forget(ep); /* no record left for the next file of that number */
  (void)HOOK_RAW(SYS_close, ep);
  return rc;
}

/* poll/ppoll with a deadline (-1: none) in a hooked coroutine. */
static int hooked_poll(struct pollfd *fds, nfds_t n, int64_t deadline) {
  int r = poll_now(fds, n), exact = 0;
  while (r == 0) {
    int rc = wait_set(fds, n, deadline, exact);
    if (rc == -ETIMEDOUT)
      return 0;
    if (rc < 0) {
      errno = -rc;
      return -1;
    }
    r = poll_now(fds, n);
    exact = 1; /* a wake for nothing: see wait_set */
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
    return hooked_poll(fds, n,
                       tmo ? hook__deadline(hook__ns(tmo->tv_sec, tmo->tv_nsec)) : -1);
  }
  /* The kernel writes the time left back: into a copy, as glibc does. */
  struct timespec ts;
  if (tmo)
    ts = *tmo;
  return (int)HOOK_RAW(SYS_ppoll, fds, n, tmo ? &ts : NULL, mask, _NSIG / 8);
}

/* select and pselect in a hooked coroutine, through hooked_poll; tmo
 * (NULL: none) gets the time left when left (select's, as Linux writes
 * it; pselect's glibc keeps). */
static int hooked_select(int n, fd_set *rd, fd_set *wr, fd_set *ex,
                         const struct timespec *tmo, struct timespec *left) {
  struct pollfd stack[64], *p = stack;
  nfds_t np = 0;
  for (int fd = 0; fd < n; fd++)
    np += (rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) ||
          (ex && FD_ISSET(fd, ex));
  if (np > 64 && !(p = malloc(np * sizeof *p))) {
    errno = ENOMEM;
    return -1;
  }
  np = 0;
  for (int fd = 0; fd < n; fd++) {
    short ev = (short)(((rd && FD_ISSET(fd, rd)) ? POLLIN : 0) |
                       ((wr && FD_ISSET(fd, wr)) ? POLLOUT : 0) |
                       ((ex && FD_ISSET(fd, ex)) ? POLLPRI : 0));
    if (ev)
      p[np++] = (struct pollfd){fd, ev, 0};
  }
  int64_t t0 = coro_now();
  int r = hooked_poll(p, np, tmo ? hook__deadline(hook__ns(tmo->tv_sec, tmo->tv_nsec))
                                 : -1);
  if (r > 0) {
    r = 0;
    for (nfds_t i = 0; i < np && r >= 0; i++)
      if (p[i].revents & POLLNVAL)
        r = -1;
    if (r < 0)
      errno = EBADF; /* the sets stay as they were, as the kernel's */
    else {
      if (rd) FD_ZERO(rd);
      if (wr) FD_ZERO(wr);
      if (ex) FD_ZERO(ex);
      for (nfds_t i = 0; i < np; i++) {
        short re = p[i].revents, ev = p[i].events;
        if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)))
          FD_SET(p[i].fd, rd), r++;
        if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR)))
          FD_SET(p[i].fd, wr), r++;
        if ((ev & POLLPRI) && (re & POLLPRI))
          FD_SET(p[i].fd, ex), r++;
      }
    }
  } else if (r == 0) {
    if (rd) FD_ZERO(rd);
    if (wr) FD_ZERO(wr);
    if (ex) FD_ZERO(ex);
  }
  if (left && r >= 0)
    *left = r == 0 ? (struct timespec){0, 0} : hook__ts_left(*tmo, coro_now() - t0);
  if (p != stack)
    free(p);
  return r;
}

/* A valid call the loop can wait for: n in range, a valid timeout other
 * than zero (zero is the kernel's: a try). */
static int select_hookable(int n, const struct timespec *tmo) {
  return n >= 0 && n <= FD_SETSIZE &&
         (!tmo || (tmo->tv_sec >= 0 && tmo->tv_nsec >= 0 &&
                   tmo->tv_nsec < 1000000000 &&
                   (tmo->tv_sec != 0 || tmo->tv_nsec != 0))) &&
         coro__hooks_on();
}

int select(int n, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv) {
  /* The timeval as glibc takes it: negative parts are EINVAL, microseconds
   * beyond a second are carried into the seconds (saturating). */
  struct timespec ts;
  if (tv) {
    if (tv->tv_sec < 0 || tv->tv_usec < 0) {
      errno = EINVAL;
      return -1;
    }
    time_t carry = (time_t)(tv->tv_usec / 1000000);
    ts.tv_sec = tv->tv_sec > (time_t)INT64_MAX - carry ? (time_t)INT64_MAX
                                                      : tv->tv_sec + carry;
    ts.tv_nsec = (long)(tv->tv_usec % 1000000) * 1000;
  }
  int r = select_hookable(n, tv ? &ts : NULL)
              ? hooked_select(n, rd, wr, ex, tv ? &ts : NULL, tv ? &ts : NULL)
              /* the kernel's, through pselect6 (arm64 has no select) */
              : (int)HOOK_RAW(SYS_pselect6, n, rd, wr, ex, tv ? &ts : NULL, NULL);
  if (tv) /* the time left, as Linux writes it */
    *tv = (struct timeval){ts.tv_sec, (suseconds_t)(ts.tv_nsec / 1000)};
  return r;
}

int pselect(int n, fd_set *rd, fd_set *wr, fd_set *ex,
            const struct timespec *tmo, const sigset_t *mask) {
  /* With a mask it cannot be a wait in the loop (as ppoll's). */
  if (!mask && select_hookable(n, tmo))
    return hooked_select(n, rd, wr, ex, tmo, NULL);
  /* The kernel writes the time left back: into a copy, as glibc does. The
   * sixth argument is {mask, its size}. */
  struct timespec ts;
  if (tmo)
    ts = *tmo;
  struct {
    const sigset_t *mask;
    size_t len;
  } data = {mask, _NSIG / 8};
  return (int)HOOK_RAW(SYS_pselect6, n, rd, wr, ex, tmo ? &ts : NULL,
                       mask ? &data : NULL);
}
