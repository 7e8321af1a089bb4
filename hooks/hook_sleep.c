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

/* Sleep ns in the loop: 0, or the ns left when cancelled. */
static int64_t loop_sleep(int64_t ns) {
  int64_t end = coro_now() + ns;
  if (coro_sleep(end) == 0)
    return 0;
  int64_t left = end - coro_now();
  return left > 0 ? left : 1;
}

int nanosleep(const struct timespec *req, struct timespec *rem) {
  if (!req || req->tv_sec < 0 || req->tv_nsec < 0 ||
      req->tv_nsec >= 1000000000 || !coro__hooks_on())
    return (int)HOOK_RAW(SYS_nanosleep, req, rem);
  int64_t left = loop_sleep((int64_t)req->tv_sec * 1000000000 + req->tv_nsec);
  if (!left)
    return 0;
  if (rem)
    *rem = (struct timespec){(time_t)(left / 1000000000), (long)(left % 1000000000)};
  errno = ECANCELED;
  return -1;
}

int usleep(useconds_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  return nanosleep(&ts, NULL);
}

unsigned sleep(unsigned s) {
  struct timespec ts = {(time_t)s, 0}, rem = {0, 0};
  if (nanosleep(&ts, &rem) == 0)
    return 0;
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
  int64_t ns = (int64_t)req->tv_sec * 1000000000 + req->tv_nsec;
  if (flags & TIMER_ABSTIME) {
    struct timespec now;
    (void)HOOK_RAW(SYS_clock_gettime, clk, &now);
    ns -= (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (ns <= 0)
      return 0;
  }
  int64_t left = loop_sleep(ns);
  if (!left)
    return 0;
  if (rem && !(flags & TIMER_ABSTIME))
    *rem = (struct timespec){(time_t)(left / 1000000000), (long)(left % 1000000000)};
  return ECANCELED;
}
