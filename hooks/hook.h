/* hook.h - what the libc hooks (hooks/hook_*.c) share: the scope check,
 * the raw system calls, the per-fd table and the wait.
 *
 * The hooks are definitions of libc's own names (read, connect, poll, ...)
 * in the program. They are not in the engine (csrc/): a program gets them
 * only by linking them, the Go package github.com/ccoro/coro/hooks (cgo
 * compiles this folder) or libcoro_hooks.a for C programs (make; link it
 * whole, -Wl,--whole-archive, or call coro_hooks_check: hook_check.c).
 * A definition in the executable that is in its dynamic symbol table
 * interposes on libc for every shared library (the dynamic linker searches
 * the executable first); calls inside libc itself (getaddrinfo's sockets,
 * fclose's close) use libc's hidden aliases and are never hooked.
 *
 * Scope. A hook acts only when coro__hooks_on() says so: the thread runs a
 * spawned coroutine whose loop has coro_loop_opts.hooks set, or which
 * coro_hooks_enable turned on. Everywhere else (other threads, the loop's
 * own stack, hooks off) the call goes to the kernel as libc's would, with
 * the same result and errno; the one difference is the fds below.
 *
 * Tracked fds. A socket made by socket/socketpair/accept/accept4 inside
 * a hooked coroutine is tracked: the kernel file is made non-blocking
 * underneath, and the table remembers whether the application asked for
 * O_NONBLOCK (SOCK_NONBLOCK, fcntl F_SETFL, ioctl FIONBIO) and its
 * SO_RCVTIMEO/SO_SNDTIMEO. A call
 * on a tracked fd the application thinks blocking tries once and, on
 * EAGAIN, waits: in a hooked coroutine in the loop (coro_fd_wait, with the
 * fd's timeout as deadline, EAGAIN on expiry as the kernel gives); anywhere
 * else in poll(2), so the fd still blocks as the application expects. An
 * fd the application made non-blocking returns EAGAIN as it expects.
 * Untracked fds (made before, elsewhere, or not sockets) pass through: a
 * blocking call on one blocks the thread, as without hooks.
 * The table is cleared by the close and dup2/dup3 hooks; an fd closed
 * behind them (a raw syscall, Go's runtime) leaves its entry until the
 * next socket/accept hook hands out that number again.
 *
 * Errors of a hooked wait: as the kernel's, plus ECANCELED when the
 * coroutine is cancelled (coro_cancel) inside the call. libc never gives
 * ECANCELED from read or connect; it was chosen over EINTR because a
 * library retries EINTR, and a cancelled coroutine's calls fail at once
 * forever (cancellation is sticky), so EINTR would spin. A library treats
 * ECANCELED as any I/O error: it fails the request and the connection.
 * A hooked wait is never interrupted by signals (as with SA_RESTART).
 *
 * Real calls go through syscall(2) with the raw numbers, never dlsym
 * (RTLD_NEXT is NULL in a static binary). The name lookups, which are no
 * syscall, are the exception (hook_dns.c): outside hooked coroutines they
 * reach libc's through dlsym where it finds them, and the engine's
 * resolver on a private thread where it does not. They are not pthread
 * cancellation points (libc's are): a thread cancelled while blocked in a
 * hooked name is cancelled at its next cancellation point instead.
 */
#ifndef CORO_HOOK_H
#define CORO_HOOK_H

/* Our definitions must not meet the fortified inline wrappers. */
#undef _FORTIFY_SOURCE

#include "../csrc/coro_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The kernel's answer, libc style: the result, or -1 with errno set. */
#define HOOK_RAW(...) syscall(__VA_ARGS__)

/* Per-fd state (hook_fd.c). */
typedef struct hook_fd {
  uint8_t tracked;     /* a socket the hooks made non-blocking underneath */
  uint8_t user_nb;     /* the application asked for O_NONBLOCK */
  int64_t rcv_timeout; /* SO_RCVTIMEO in ns; 0: none */
  int64_t snd_timeout; /* SO_SNDTIMEO in ns; 0: none */
} hook_fd;

/* The entry of fd, or NULL (fd < 0, beyond the table, never set). */
hook_fd *hook__fd_get(int fd);
/* The entry of fd, made when missing: NULL when out of memory or range. */
hook_fd *hook__fd_make(int fd);
/* fd was just handed out by the kernel: clear what an older file of that
 * number left, and track it if the caller is a hooked coroutine (nb: the
 * application asked for a non-blocking fd). A hooked caller made the
 * kernel file non-blocking already (SOCK_NONBLOCK). */
void hook__fd_new(int fd, int nb);
/* fd is gone (closed, or replaced by dup2/dup3): forget its entry and
 * wake the coroutines of this thread's loop waiting on it (EBADF). */
void hook__fd_gone(int fd);

/* An fd the caller expects to block on: tracked and not made non-blocking
 * by the application. NULL when the call should pass through. */
static inline hook_fd *hook__blocking(int fd) {
  hook_fd *h = hook__fd_get(fd);
  return h && h->tracked && !h->user_nb ? h : NULL;
}

/* Timeouts of HOOK_FOREVER ns (2^62: 146 years) or more are forever, so
 * no deadline sum overflows (nanosleep of {LONG_MAX, 0}, a select of
 * INT64_MAX seconds: a wrapped sum would be a deadline in the past). */
#define HOOK_FOREVER ((int64_t)1 << 62)

/* sec s + ns ns (a valid timespec's or timeval's parts) in ns, at most
 * HOOK_FOREVER. */
static inline int64_t hook__ns(int64_t s, int64_t ns) {
  return s >= HOOK_FOREVER / 1000000000 ? HOOK_FOREVER : s * 1000000000 + ns;
}

/* The deadline (coro_now clock) for a timeout in ns; -1: none (0, below
 * 0 as SO_RCVTIMEO's "none", or forever). */
static inline int64_t hook__deadline(int64_t timeout) {
  return timeout > 0 && timeout < HOOK_FOREVER ? coro_now() + timeout : -1;
}

/* ts less ns (>= 0) spent, at least 0: the time left that nanosleep and
 * select report, exact for any valid ts. */
static inline struct timespec hook__ts_left(struct timespec ts, int64_t ns) {
  int64_t s = ns / 1000000000, n = ns % 1000000000;
  if (ts.tv_sec < s || (ts.tv_sec == s && ts.tv_nsec <= n))
    return (struct timespec){0, 0};
  ts.tv_sec -= (time_t)s;
  ts.tv_nsec -= (long)n;
  if (ts.tv_nsec < 0)
    ts.tv_sec--, ts.tv_nsec += 1000000000;
  return ts;
}

/* Wait until fd is ready for events (CORO_POLLIN or CORO_POLLOUT) or the
 * deadline (-1: none) passes (hook_io.c). In a hooked coroutine, in the
 * loop; elsewhere in poll(2). 0 when ready, else -1 with errno: EAGAIN
 * (deadline), ECANCELED, EBADF (closed meanwhile), EINTR (poll(2) only),
 * ENOMEM. drained: the caller just had EAGAIN reading fd. */
int hook__wait(int fd, int events, int64_t deadline, int drained);

/* Name lookups (hook_dns.c): how many went to the engine's resolver in a
 * hooked coroutine, to libc's (dlsym RTLD_NEXT), to the engine's on the
 * private thread; for the tests. */
enum { CORO__DNS_IN_LOOP, CORO__DNS_LIBC, CORO__DNS_THREAD };
void coro__hooks_dns_counts(uint64_t out[3]);
/* Non-zero: outside hooked coroutines, use the private thread even where
 * libc's lookups are reachable (tests of the static programs' path). */
extern _Atomic int coro__hooks_dns_force_thread;
/* The private thread's resolver options, when set before its first use
 * (tests: a scripted server's port); NULL: the system's. */
extern const struct coro_resolver_opts *coro__hooks_dns_resolver;

#endif /* CORO_HOOK_H */
