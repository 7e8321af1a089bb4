/* hook_check.c - coro_hooks_check: do the hooks take effect? (coro_hooks.h)
 *
 * A definition in the executable interposes on a shared library's call
 * only if the executable's dynamic symbol table has it. The linker puts a
 * symbol there when a shared library linked at build time references it,
 * or for every symbol with -rdynamic (--export-dynamic). Without it,
 * a library loaded later (dlopen, or one that never named read at link
 * time) binds to libc's read and the hooks silently do nothing for it.
 * dlsym(RTLD_DEFAULT, name) answers what such a library binds to, so the
 * check compares it with the hook's address for every hooked name. This
 * also catches an archive member that was never linked (no -Wl,
 * --whole-archive): then the name resolves to libc.
 */
#include "hook.h"
#include "coro_hooks.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <time.h>

#define HOOK(name) {#name, (void *)name}
static const struct {
  const char *name;
  void *addr;
} hooked[] = {
    HOOK(socket), HOOK(connect), HOOK(accept), HOOK(accept4),
    HOOK(read), HOOK(readv), HOOK(recv), HOOK(recvfrom), HOOK(recvmsg),
    HOOK(write), HOOK(writev), HOOK(send), HOOK(sendto), HOOK(sendmsg),
    HOOK(poll), HOOK(ppoll), HOOK(close), HOOK(dup), HOOK(dup2), HOOK(dup3),
    HOOK(fcntl), HOOK(fcntl64), HOOK(setsockopt), HOOK(sleep), HOOK(usleep),
    HOOK(nanosleep),
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
