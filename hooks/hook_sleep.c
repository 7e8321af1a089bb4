/* hook_sleep.c - sleep, usleep, nanosleep, clock_nanosleep: in a hooked
 * coroutine they sleep in the loop (coro_sleep), letting the others run.
 * Contract in hook.h. clock_nanosleep is hooked for CLOCK_REALTIME,
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME (an absolute CLOCK_REALTIME time is
 * turned into an interval when the call starts: a clock step during the
 * sleep is not followed); other clocks go to the kernel.
 *
 * Elsewhere they are the kernel's nanosleep (CLOCK_REALTIME relative sleep
 * is what glibc's three calls make; the monotonic clock of coro_sleep
 * counts the same intervals). A cancelled coroutine's sleep ends at once:
 * nanosleep and usleep give -1 ECANCELED (not EINTR: callers loop on EINTR
 * and would spin, hook.h), nanosleep writes the time left to rem, and
 * sleep returns the seconds left, as after a signal; clock_nanosleep
 * returns ECANCELED (it returns errors, never sets errno).
 */
#include "hook.h"

#include <time.h>

/* Sleep for *req in the loop: 0, or -1 ECANCELED with the time left in
 * *rem (if not NULL). A request of HOOK_FOREVER or more sleeps until the
 * cancel. */
static int loop_sleep(const struct timespec *req, struct timespec *rem) {
  int64_t t0 = coro_now(), ns = hook__ns(req->tv_sec, req->tv_nsec);
  /* (a zero sleep still lets the others run, as the kernel's yields) */
  if (coro_sleep(ns ? hook__deadline(ns) : t0) == 0)
    return 0;
  if (rem)
    *rem = hook__ts_left(*req, coro_now() - t0);
  errno = ECANCELED;
  return -1;
}

int nanosleep(const struct timespec *req, struct timespec *rem) {
  if (!req || req->tv_sec < 0 || req->tv_nsec < 0 ||
      req->tv_nsec >= 1000000000 || !coro__hooks_on())
    return (int)HOOK_RAW(SYS_nanosleep, req, rem);
  return loop_sleep(req, rem);
}

int usleep(useconds_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  return nanosleep(&ts, NULL);
}

unsigned sleep(unsigned s) {
  struct timespec ts = {(time_t)s, 0}, rem = {0, 0};
  if (nanosleep(&ts, &rem) == 0)
    return 0;
  /* (a cancel: the seconds left, as after a signal) */
  return (unsigned)rem.tv_sec + (rem.tv_nsec > 0);
}

int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                    struct timespec *rem) {
  int ok_clock = clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC ||
                 clk == CLOCK_BOOTTIME;
  if (!req || req->tv_sec < 0 || req->tv_nsec < 0 ||
      req->tv_nsec >= 1000000000 || !ok_clock || !coro__hooks_on()) {
    long r = HOOK_RAW(SYS_clock_nanosleep, clk, flags, req, rem);
    return r < 0 ? errno : 0;
  }
  struct timespec rel = *req;
  if (flags & TIMER_ABSTIME) {
    /* The interval to the time; far times (HOOK_FOREVER) stay far. */
    struct timespec now;
    (void)HOOK_RAW(SYS_clock_gettime, clk, &now);
    int64_t now_ns = hook__ns(now.tv_sec, now.tv_nsec);
    if (hook__ns(req->tv_sec, req->tv_nsec) <= now_ns)
      return 0;
    rel = hook__ts_left(*req, now_ns);
  }
  if (loop_sleep(&rel, (flags & TIMER_ABSTIME) ? NULL : rem) == 0)
    return 0;
  return ECANCELED;
}
