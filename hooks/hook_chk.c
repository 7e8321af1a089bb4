/* hook_chk.c - the _FORTIFY_SOURCE variants that glibc's headers make of
 * the hooked calls when the buffer's size is known at compile time
 * (Debian builds its libraries with -D_FORTIFY_SOURCE=2): __read_chk,
 * __recv_chk, __recvfrom_chk, __poll_chk, __ppoll_chk. Each checks the
 * size as glibc's does (__chk_fail: "buffer overflow detected", abort),
 * then is the hook. Contract in hook.h.
 */
#include "hook.h"

#include <signal.h>

/* glibc's; exported, not declared in its headers. */
extern void __chk_fail(void) __attribute__((noreturn));

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  if (n > buflen)
    __chk_fail();
  return read(fd, buf, n);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags) {
  if (n > buflen)
    __chk_fail();
  return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *len) {
  if (n > buflen)
    __chk_fail();
  return recvfrom(fd, buf, n, flags, addr, len);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof *fds < n)
    __chk_fail();
  return poll(fds, n, timeout);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
                const sigset_t *mask, size_t fdslen) {
  if (fdslen / sizeof *fds < n)
    __chk_fail();
  return ppoll(fds, n, tmo, mask);
}
