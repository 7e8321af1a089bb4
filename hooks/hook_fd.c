/* hook_fd.c - the per-fd table and the hooks that change it: close, dup,
 * dup2, dup3, fcntl (fcntl64), ioctl (FIONBIO), setsockopt. Contract in
 * hook.h.
 *
 * The table is process-wide (fds are): chunks of 1024 entries under a
 * fixed array of chunk pointers, so lookups take no lock and an entry never
 * moves. A chunk is made once, published with a compare-and-swap (loops on
 * several threads may make fds at once). Covers fds below 1024 * 1024;
 * fds above are never tracked (their calls pass through).
 *
 * fcntl: F_GETFL reports O_NONBLOCK as the application set it, not as the
 * hooks set it underneath; F_SETFL records what the application asks and
 * keeps the kernel file non-blocking. getsockopt needs no hook: setsockopt
 * hands SO_RCVTIMEO/SO_SNDTIMEO to the kernel too (where they do nothing on
 * a non-blocking file), so the kernel reports them back.
 *
 * dup copies the entry (approximate: O_NONBLOCK and the timeouts belong to
 * the open file and the socket, shared by the copies, while the table has
 * one entry per number; a later F_SETFL through one copy is not seen by the
 * other).
 */
#include "hook.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/time.h>

#define CHUNK 1024
#define NCHUNKS 1024

static _Atomic(hook_fd *) chunks[NCHUNKS];

hook_fd *hook__fd_get(int fd) {
  if (fd < 0 || fd >= CHUNK * NCHUNKS)
    return NULL;
  hook_fd *c = atomic_load_explicit(&chunks[fd / CHUNK], memory_order_acquire);
  return c ? &c[fd % CHUNK] : NULL;
}

hook_fd *hook__fd_make(int fd) {
  if (fd < 0 || fd >= CHUNK * NCHUNKS)
    return NULL;
  hook_fd *c = atomic_load_explicit(&chunks[fd / CHUNK], memory_order_acquire);
  if (!c) {
    hook_fd *n = calloc(CHUNK, sizeof *n);
    if (!n)
      return NULL;
    if (atomic_compare_exchange_strong(&chunks[fd / CHUNK], &c, n))
      c = n;
    else
      free(n); /* another thread made it: c holds theirs */
  }
  return &c[fd % CHUNK];
}

void hook__fd_new(int fd, int nb) {
  if (!coro__hooks_on()) {
    hook_fd *h = hook__fd_get(fd);
    if (h)
      *h = (hook_fd){0};
    return;
  }
  /* The engine's record of an older file of this number is stale too. */
  coro__fd_adopt(fd);
  hook_fd *h = hook__fd_make(fd);
  if (!h) { /* untracked: the fd blocks the thread, as libc's would */
    long fl = nb ? 0 : HOOK_RAW(SYS_fcntl, fd, F_GETFL);
    if (fl > 0)
      (void)HOOK_RAW(SYS_fcntl, fd, F_SETFL, fl & ~(long)O_NONBLOCK);
    return;
  }
  *h = (hook_fd){0};
  h->user_nb = (uint8_t)(nb != 0);
  h->tracked = 1;
}

void hook__fd_gone(int fd) {
  hook_fd *h = hook__fd_get(fd);
  int tracked = h && h->tracked;
  if (h)
    *h = (hook_fd){0};
  /* Only for fds coroutines may wait on: the engine closes its own fds
   * (the epoll fd as the loop is freed) through this hook too. */
  if (tracked || coro__hooks_on())
    coro_fd_forget(fd);
}

int close(int fd) {
  hook__fd_gone(fd);
  return (int)HOOK_RAW(SYS_close, fd);
}

/* to is a new number for from's file (dup, F_DUPFD): it gets from's entry,
 * or none. */
static void copy_state(int from, int to) {
  hook_fd *n = hook__fd_get(to);
  if (n)
    *n = (hook_fd){0};
  if (coro__hooks_on())
    coro__fd_adopt(to);
  hook_fd *h = hook__fd_get(from);
  if (h && h->tracked && (n = hook__fd_make(to)))
    *n = *h;
}

int dup(int fd) {
  int n = (int)HOOK_RAW(SYS_dup, fd);
  if (n >= 0)
    copy_state(fd, n);
  return n;
}

int dup3(int fd, int fd2, int flags) {
  int n = (int)HOOK_RAW(SYS_dup3, fd, fd2, flags);
  if (n < 0)
    return n; /* fd2 untouched: its state and waiters stay */
  if (fd != fd2)
    hook__fd_gone(fd2); /* its old file's state and registration */
  copy_state(fd, n);
  return n;
}

int dup2(int fd, int fd2) {
  if (fd == fd2) /* dup3 refuses this; dup2 checks fd is open */
    return (int)HOOK_RAW(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : fd;
  return dup3(fd, fd2, 0);
}

static int hook_fcntl(int fd, int cmd, unsigned long arg) {
  hook_fd *h = hook__fd_get(fd);
  if (h && h->tracked) {
    if (cmd == F_GETFL) {
      long fl = HOOK_RAW(SYS_fcntl, fd, F_GETFL);
      if (fl >= 0)
        fl = h->user_nb ? (fl | O_NONBLOCK) : (fl & ~(long)O_NONBLOCK);
      return (int)fl;
    }
    if (cmd == F_SETFL) {
      int r = (int)HOOK_RAW(SYS_fcntl, fd, F_SETFL, arg | O_NONBLOCK);
      if (r == 0)
        h->user_nb = (uint8_t)((arg & O_NONBLOCK) != 0);
      return r;
    }
  }
  int r = (int)HOOK_RAW(SYS_fcntl, fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
    copy_state(fd, r);
  return r;
}

/* The third argument is an int, a long or a pointer by cmd; as glibc does,
 * read it as the widest (the ABIs pass each in one register slot). */
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return hook_fcntl(fd, cmd, arg);
}

/* What glibc's headers call for fcntl under _FILE_OFFSET_BITS=64. */
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  hook_fd *h;
  if (req == FIONBIO && arg && (h = hook__fd_get(fd)) && h->tracked) {
    h->user_nb = (uint8_t)(*(const int *)arg != 0);
    return 0;
  }
  return (int)HOOK_RAW(SYS_ioctl, fd, req, arg);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
  int r = (int)HOOK_RAW(SYS_setsockopt, fd, level, name, val, len);
  hook_fd *h;
  if (r == 0 && level == SOL_SOCKET &&
      (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
      len >= (socklen_t)sizeof(struct timeval) && (h = hook__fd_get(fd)) &&
      h->tracked) {
    const struct timeval *tv = val;
    int64_t ns = hook__ns(tv->tv_sec, (int64_t)tv->tv_usec * 1000);
    if (name == SO_RCVTIMEO)
      h->rcv_timeout = ns;
    else
      h->snd_timeout = ns;
  }
  return r;
}
