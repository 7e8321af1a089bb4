/* fault.c - fault injection. Every allocation and every system call of
 * the engine and of the module's servers (internal/httpd, internal/netdemo)
 * that can fail for want of a resource (ENOMEM, EMFILE, ENFILE, EAGAIN) or
 * be interrupted (EINTR) goes through a wrapper: the allocation wrappers
 * are inline in coro_internal.h, the system call wrappers are here.
 * A test arms a countdown (coro__fault_arm: fail the nth point from now)
 * and runs an operation for n = 1, 2, ... until it passes without reaching
 * the nth point, as SQLite's malloc tests do: every error path is then
 * taken once, and checked for a clean error, no leak and a usable loop
 * (csrc/test/fault_test.c).
 *
 * Compiled in always: disarmed, a point costs one relaxed load and a branch
 * that is never taken (coro__fault). The state is global, not per thread,
 * so that a test can fail calls made on a loop thread it does not run on
 * (remote spawn); every field is atomic, so arming races with nothing.
 *
 * An injected EINTR models the kernel: the reads, the writes, accept,
 * sendfile, epoll_wait and ppoll fail before doing anything; connect fails
 * after the connection has been started, which is what an interrupted
 * connect does (the connection goes on asynchronously; calling connect
 * again gives EALREADY, or EISCONN once it is done).
 */
#include "coro_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/openat2.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#endif

atomic_int coro__fault_on;

static atomic_uint fault_mask;   /* the points (CORO__FP_BIT) that count */
static atomic_long fault_calls;  /* points passed since arming */
static atomic_long fault_first;  /* the first call that fails (1-based) */
static atomic_long fault_last;   /* the last call that fails */
static atomic_int fault_err;     /* errno to give; CORO__FAULT_NATURAL */
static atomic_int fired_point = -1; /* the last point failed since arming */
static atomic_int fired_err;

/* The error each point fails with when armed with CORO__FAULT_NATURAL:
 * the one the kernel gives when a resource runs out, or EINTR for the
 * calls that block and must be retried. */
static const int natural[CORO__FP_COUNT] = {
    [CORO__FP_ALLOC] = ENOMEM,       [CORO__FP_MMAP] = ENOMEM,
    [CORO__FP_MPROTECT] = ENOMEM,    [CORO__FP_EVENTFD] = EMFILE,
    [CORO__FP_EPOLL_CREATE] = EMFILE, [CORO__FP_EPOLL_CTL] = ENOMEM,
    [CORO__FP_EPOLL_WAIT] = EINTR,   [CORO__FP_PPOLL] = EINTR,
    [CORO__FP_SOCKET] = EMFILE,      [CORO__FP_SETSOCKOPT] = ENOMEM,
    [CORO__FP_BIND] = ENOMEM,        [CORO__FP_LISTEN] = ENOBUFS,
    [CORO__FP_ACCEPT] = EMFILE,      [CORO__FP_CONNECT] = ENOBUFS,
    [CORO__FP_READ] = EINTR,         [CORO__FP_WRITE] = EINTR,
    [CORO__FP_SENDFILE] = EINTR,     [CORO__FP_STACK_SAVE] = ENOMEM,
    [CORO__FP_OPEN] = EMFILE,        [CORO__FP_FSTAT] = ENOMEM,
};

static const char *const names[CORO__FP_COUNT] = {
    [CORO__FP_ALLOC] = "alloc",          [CORO__FP_MMAP] = "mmap",
    [CORO__FP_MPROTECT] = "mprotect",    [CORO__FP_EVENTFD] = "eventfd",
    [CORO__FP_EPOLL_CREATE] = "epoll_create", [CORO__FP_EPOLL_CTL] = "epoll_ctl",
    [CORO__FP_EPOLL_WAIT] = "epoll_wait", [CORO__FP_PPOLL] = "ppoll",
    [CORO__FP_SOCKET] = "socket",        [CORO__FP_SETSOCKOPT] = "setsockopt",
    [CORO__FP_BIND] = "bind",            [CORO__FP_LISTEN] = "listen",
    [CORO__FP_ACCEPT] = "accept",        [CORO__FP_CONNECT] = "connect",
    [CORO__FP_READ] = "read",            [CORO__FP_WRITE] = "write",
    [CORO__FP_SENDFILE] = "sendfile",    [CORO__FP_STACK_SAVE] = "stack_save",
    [CORO__FP_OPEN] = "open",            [CORO__FP_FSTAT] = "fstat",
};

const char *coro__fault_name(int point) {
  return point >= 0 && point < CORO__FP_COUNT && names[point] ? names[point]
                                                               : "none";
}

void coro__fault_arm_at(unsigned points, long n, long times, int err) {
  atomic_store(&coro__fault_on, 0);
  atomic_store(&fault_calls, 0);
  atomic_store(&fired_point, -1);
  atomic_store(&fired_err, 0);
  if (n <= 0 || times == 0)
    return;
  atomic_store(&fault_mask, points);
  atomic_store(&fault_first, n);
  atomic_store(&fault_last, times < 0 || times > LONG_MAX - n ? LONG_MAX
                                                               : n + times - 1);
  atomic_store(&fault_err, err);
  atomic_store(&coro__fault_on, 1);
}

void coro__fault_arm(long n, int err) {
  coro__fault_arm_at(CORO__FP_ALL, n, 1, err);
}

long coro__fault_calls(void) { return atomic_load(&fault_calls); }

int coro__fault_fired(int *err) {
  if (err)
    *err = atomic_load(&fired_err);
  return atomic_load(&fired_point);
}

int coro__fault_hit(int point) {
  if (!(atomic_load(&fault_mask) & CORO__FP_BIT(point)))
    return 0;
  long c = atomic_fetch_add(&fault_calls, 1) + 1;
  long last = atomic_load(&fault_last);
  if (c < atomic_load(&fault_first) || c > last)
    return 0;
  if (c == last)
    atomic_store(&coro__fault_on, 0); /* the last failure: disarm */
  int e = atomic_load(&fault_err);
  if (e == CORO__FAULT_NATURAL)
    e = natural[point];
  if (e) {
    atomic_store(&fired_err, e);
    atomic_store(&fired_point, point);
  }
  return e;
}

/* Fail the wrapper with the injected errno, if any. */
#define FAULT_POINT(point, failed)                                           \
  do {                                                                       \
    int e_ = coro__fault(point);                                             \
    if (e_) {                                                                \
      errno = e_;                                                            \
      return failed;                                                         \
    }                                                                        \
  } while (0)

void *coro__mmap(size_t len, int prot, int flags) {
  FAULT_POINT(CORO__FP_MMAP, MAP_FAILED);
  return mmap(NULL, len, prot, flags, -1, 0);
}

int coro__mprotect(void *addr, size_t len, int prot) {
  FAULT_POINT(CORO__FP_MPROTECT, -1);
  return mprotect(addr, len, prot);
}

int coro__socket(int domain, int type, int protocol) {
  FAULT_POINT(CORO__FP_SOCKET, -1);
  return socket(domain, type, protocol);
}

int coro__setsockopt(int fd, int level, int name, const void *val,
                     socklen_t len) {
  FAULT_POINT(CORO__FP_SETSOCKOPT, -1);
  return setsockopt(fd, level, name, val, len);
}

int coro__bind(int fd, const struct sockaddr *addr, socklen_t len) {
  FAULT_POINT(CORO__FP_BIND, -1);
  return bind(fd, addr, len);
}

int coro__listen(int fd, int backlog) {
  FAULT_POINT(CORO__FP_LISTEN, -1);
  return listen(fd, backlog);
}

int coro__accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  FAULT_POINT(CORO__FP_ACCEPT, -1);
  return accept4(fd, addr, len, flags);
}

int coro__connect(int fd, const struct sockaddr *addr, socklen_t len) {
  int e = coro__fault(CORO__FP_CONNECT);
  if (e == EINTR) {
    /* Interrupted after the connection was started (see the top). */
    if (connect(fd, addr, len) < 0 && errno != EINPROGRESS)
      return -1;
  }
  if (e) {
    errno = e;
    return -1;
  }
  return connect(fd, addr, len);
}

ssize_t coro__read(int fd, void *buf, size_t n) {
  FAULT_POINT(CORO__FP_READ, -1);
  return read(fd, buf, n);
}

ssize_t coro__recvmsg(int fd, struct msghdr *msg, int flags) {
  FAULT_POINT(CORO__FP_READ, -1);
  return recvmsg(fd, msg, flags);
}

ssize_t coro__pread(int fd, void *buf, size_t n, off_t off) {
  FAULT_POINT(CORO__FP_READ, -1);
  return pread(fd, buf, n, off);
}

ssize_t coro__write(int fd, const void *buf, size_t n) {
  FAULT_POINT(CORO__FP_WRITE, -1);
  return write(fd, buf, n);
}

ssize_t coro__readv(int fd, const struct iovec *iov, int iovcnt) {
  FAULT_POINT(CORO__FP_READ, -1);
  return readv(fd, iov, iovcnt);
}

ssize_t coro__writev(int fd, const struct iovec *iov, int iovcnt) {
  FAULT_POINT(CORO__FP_WRITE, -1);
  return writev(fd, iov, iovcnt);
}

ssize_t coro__recvfrom(int fd, void *buf, size_t n, int flags,
                       struct sockaddr *addr, socklen_t *len) {
  FAULT_POINT(CORO__FP_READ, -1);
  return recvfrom(fd, buf, n, flags, addr, len);
}

ssize_t coro__sendto(int fd, const void *buf, size_t n, int flags,
                     const struct sockaddr *addr, socklen_t len) {
  FAULT_POINT(CORO__FP_WRITE, -1);
  return sendto(fd, buf, n, flags, addr, len);
}

int coro__openat(int dir, const char *path, int flags) {
  FAULT_POINT(CORO__FP_OPEN, -1);
  return openat(dir, path, flags);
}

int coro__fstat(int fd, struct stat *st) {
  FAULT_POINT(CORO__FP_FSTAT, -1);
  return fstat(fd, st);
}

int coro__ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts) {
  FAULT_POINT(CORO__FP_PPOLL, -1);
  return ppoll(fds, n, ts, NULL);
}

#ifdef __linux__
int coro__eventfd(unsigned initval, int flags) {
  FAULT_POINT(CORO__FP_EVENTFD, -1);
  return eventfd(initval, flags);
}

int coro__epoll_create1(int flags) {
  FAULT_POINT(CORO__FP_EPOLL_CREATE, -1);
  return epoll_create1(flags);
}

int coro__epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  /* Removal frees kernel memory: it cannot run out of any. */
  if (op != EPOLL_CTL_DEL)
    FAULT_POINT(CORO__FP_EPOLL_CTL, -1);
  return epoll_ctl(epfd, op, fd, ev);
}

int coro__epoll_wait(int epfd, struct epoll_event *evs, int n, int ms) {
  FAULT_POINT(CORO__FP_EPOLL_WAIT, -1);
  return epoll_wait(epfd, evs, n, ms);
}

ssize_t coro__sendfile(int out_fd, int in_fd, off_t *off, size_t n) {
  FAULT_POINT(CORO__FP_SENDFILE, -1);
  return sendfile(out_fd, in_fd, off, n);
}

/* glibc has no openat2 wrapper. */
int coro__openat2(int dir, const char *path, const struct open_how *how) {
  FAULT_POINT(CORO__FP_OPEN, -1);
  return (int)syscall(SYS_openat2, dir, path, how, sizeof *how);
}
#endif
