/* hook_sock.c - the hooks that make and connect sockets: socket,
 * socketpair, connect, accept, accept4. Contract in hook.h.
 *
 * socket, socketpair and accept/accept4 are where an fd becomes tracked
 * (hook.h): in a hooked coroutine the new socket is non-blocking
 * underneath, and the table records whether the application asked for
 * SOCK_NONBLOCK. SOCK_CLOEXEC and the other flags go to the kernel as
 * given.
 *
 * connect on a tracked socket the application thinks blocking starts the
 * connection (EINPROGRESS from the non-blocking kernel file), waits for
 * writability in the loop within SO_SNDTIMEO, then reads SO_ERROR and
 * returns its verdict: 0, or -1 with errno = SO_ERROR (ECONNREFUSED,
 * ETIMEDOUT, ...). Reading SO_ERROR also clears it, as the blocking
 * kernel connect does, so the application's own getsockopt(SO_ERROR)
 * afterwards gives 0. (Tencent libco returned success without reading it,
 * its issues 13 and 129.) When SO_SNDTIMEO expires first, the result is
 * the kernel's for a blocking socket: -1 EINPROGRESS, the connection going
 * on. An application that set O_NONBLOCK gets EINPROGRESS at once, as it
 * expects, and waits itself (its poll is hooked too).
 */
#include "hook.h"

int socket(int domain, int type, int protocol) {
  /* Hooked, the kernel file is made non-blocking in the same call. */
  int on = coro__hooks_on();
  int fd = (int)HOOK_RAW(SYS_socket, domain, on ? type | SOCK_NONBLOCK : type,
                         protocol);
  if (fd >= 0)
    hook__fd_new(fd, type & SOCK_NONBLOCK);
  return fd;
}

int socketpair(int domain, int type, int protocol, int sv[2]) {
  int on = coro__hooks_on();
  int r = (int)HOOK_RAW(SYS_socketpair, domain,
                        on ? type | SOCK_NONBLOCK : type, protocol, sv);
  if (r == 0) {
    hook__fd_new(sv[0], type & SOCK_NONBLOCK);
    hook__fd_new(sv[1], type & SOCK_NONBLOCK);
  }
  return r;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  int r = (int)HOOK_RAW(SYS_connect, fd, addr, len);
  hook_fd *h;
  if (r == 0 || errno != EINPROGRESS || !(h = hook__blocking(fd)))
    return r;
  if (hook__wait(fd, CORO_POLLOUT, hook__deadline(h->snd_timeout), 0) < 0) {
    if (errno == EAGAIN)
      errno = EINPROGRESS;
    return -1;
  }
  int err = 0;
  socklen_t elen = sizeof err;
  if (HOOK_RAW(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
    return -1;
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  hook_fd *h = hook__blocking(fd);
  /* The new socket is non-blocking underneath only when hooked. */
  int kflags = coro__hooks_on() ? flags | SOCK_NONBLOCK : flags;
  int n = (int)HOOK_RAW(SYS_accept4, fd, addr, len, kflags);
  if (n < 0 && errno == EAGAIN && h) {
    int64_t dl = hook__deadline(h->rcv_timeout);
    do {
      if (hook__wait(fd, CORO_POLLIN, dl, 0) < 0)
        return -1;
      n = (int)HOOK_RAW(SYS_accept4, fd, addr, len, kflags);
    } while (n < 0 && errno == EAGAIN);
  }
  if (n >= 0)
    hook__fd_new(n, flags & SOCK_NONBLOCK);
  return n;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  return accept4(fd, addr, len, 0);
}
