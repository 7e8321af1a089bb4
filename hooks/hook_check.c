/* hook_check.c - coro_hooks_check: do the hooks take effect? (coro_hooks.h)
 *
 * A definition in the executable interposes on a shared library's call
 * only if the executable's dynamic symbol table has it. GNU ld puts it
 * there when a shared library of the link references the name or defines
 * it too: libc defines every hooked name, so any dynamic link exports the
 * hooks without -rdynamic (checked with nm -D, for C and cgo). They are
 * missing when the link hides them (-Wl,--exclude-libs, a version script,
 * -fvisibility=hidden objects), or when an archive member was never
 * linked: a program that neither calls this check (whose table below
 * pulls in every member) nor links libcoro_hooks.a whole gets only the
 * hooks it names itself. dlsym(RTLD_DEFAULT, name) answers what a
 * shared library binds to, so the check compares it with the hook for
 * every name. In a static program it finds nothing (NULL): there every
 * reference was bound to the hooks at link time, and the check passes.
 */
#include "hook.h"
#include "coro_hooks.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <time.h>

#define HOOK(name) {#name, (void *)name}
static const struct {
  const char *name;
  void *addr;
} hooked[] = {
    HOOK(socket), HOOK(socketpair), HOOK(connect), HOOK(accept), HOOK(accept4),
    HOOK(read), HOOK(readv), HOOK(recv), HOOK(recvfrom), HOOK(recvmsg),
    HOOK(write), HOOK(writev), HOOK(send), HOOK(sendto), HOOK(sendmsg),
    HOOK(poll), HOOK(ppoll), HOOK(select), HOOK(pselect), HOOK(close), HOOK(dup), HOOK(dup2), HOOK(dup3),
    HOOK(fcntl), HOOK(fcntl64), HOOK(ioctl), HOOK(setsockopt), HOOK(sleep), HOOK(usleep),
    HOOK(nanosleep), HOOK(clock_nanosleep), HOOK(__read_chk), HOOK(__recv_chk),
    HOOK(__recvfrom_chk), HOOK(__poll_chk), HOOK(__ppoll_chk),
    HOOK(getaddrinfo), HOOK(freeaddrinfo), HOOK(gethostbyname),
    HOOK(gethostbyname2), HOOK(gethostbyname_r), HOOK(gethostbyname2_r),
};

int coro_hooks_check(const char **missing) {
  for (size_t i = 0; i < sizeof hooked / sizeof hooked[0]; i++) {
    void *p = dlsym(RTLD_DEFAULT, hooked[i].name);
    if (p && p != hooked[i].addr) {
      if (missing)
        *missing = hooked[i].name;
      return -ENOSYS;
    }
  }
  return 0;
}
