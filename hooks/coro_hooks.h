/* coro_hooks.h - the public face of the libc hooks (hooks/hook_*.c;
 * contract in hooks/hook.h). The hooks themselves have libc's names and
 * need no declaration; a loop turns them on with coro_loop_opts.hooks and
 * a coroutine with coro_hooks_enable (csrc/coro.h). */
#ifndef CORO_HOOKS_H
#define CORO_HOOKS_H

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the hooks take effect for shared libraries: 0 when every hooked
 * name resolves, through the dynamic linker's global scope (what a shared
 * library's call binds to), to the hook in this program, or when the
 * program is static (no global scope: every reference bound to the hooks
 * at link time). -ENOSYS otherwise, with *missing (if not NULL) the first
 * name that resolves elsewhere (libc): the program was linked without
 * exporting the hooks (-rdynamic) or without all of them (whole archive),
 * or by Go's internal linker. */
int coro_hooks_check(const char **missing);

/* The _FORTIFY_SOURCE names the hooks define too (hook_chk.c), declared
 * here because glibc declares them only under _FORTIFY_SOURCE. */
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __recv_chk(int, void *, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *,
                       socklen_t *);
int __poll_chk(struct pollfd *, nfds_t, int, size_t);
int __ppoll_chk(struct pollfd *, nfds_t, const struct timespec *,
                const sigset_t *, size_t);

#ifdef __cplusplus
}
#endif
#endif /* CORO_HOOKS_H */
