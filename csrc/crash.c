/* crash.c - crash reports: a fatal signal in a coroutine names it.
 *
 * Contract (coro_internal.h): SIGSEGV, SIGBUS (through stack.c's fault
 * handler, for faults that are not a stack overflow), SIGILL, SIGFPE and
 * SIGABRT raised while a coroutine runs on a loop thread print, to stderr,
 * the signal, the fault address, the coroutine (id, name), its loop and
 * its backtrace with symbols; then the signal goes on to the handler that
 * was installed before ours, or to the default action, so the process
 * still dies of it (a core dump is kept; under Go, Go's crash path runs).
 * Only faults whose context is on the current coroutine's own stack are
 * reported: Go code never runs there, so a Go nil dereference on a loop
 * thread (a recoverable panic) is never reported as a crash.
 *
 * Everything the handler does is async-signal-safe: it formats with the
 * put_ functions below (no printf), writes with write(2), and names frames
 * without dladdr (which takes the loader's lock): coro__crash_init
 * snapshots the loaded objects (dl_iterate_phdr, outside any handler), and
 * the handler looks an address up in the dynamic symbol table of the
 * object holding it, reading only that object's mapped memory. Objects
 * loaded later are named "?" and symbols the dynamic linker does not see
 * (a static function; an executable's own without -rdynamic) are shown as
 * object+offset. Reports once per process: a second fault (in the report
 * itself, or in another thread) goes straight on.
 */
#include "coro_internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* ---- Async-signal-safe formatting ------------------------------------- */

char *coro__put_str(char *p, char *end, const char *s) {
  while (s != NULL && *s != '\0' && p < end)
    *p++ = *s++;
  return p;
}

char *coro__put_u64(char *p, char *end, uint64_t v) {
  char tmp[20];
  int n = 0;
  do
    tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n > 0 && p < end)
    *p++ = tmp[--n];
  return p;
}

char *coro__put_hex(char *p, char *end, uint64_t v) {
  char tmp[16];
  int n = 0;
  do
    tmp[n++] = "0123456789abcdef"[v % 16];
  while ((v /= 16) != 0);
  p = coro__put_str(p, end, "0x");
  while (n > 0 && p < end)
    *p++ = tmp[--n];
  return p;
}

void coro__write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

/* ---- Symbols without the loader's lock -------------------------------- */

#define MAX_OBJS 128

struct obj {
  uintptr_t base;       /* load bias */
  uintptr_t lo, hi;     /* the span of its PT_LOAD segments */
  const ElfW(Dyn) *dyn; /* its dynamic section, or NULL */
  char name[64];        /* file name without the directory */
};

static struct obj objs[MAX_OBJS];
static int nobjs;

static int snap_one(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size, (void)data;
  if (nobjs >= MAX_OBJS)
    return 1;
  struct obj *o = &objs[nobjs];
  memset(o, 0, sizeof *o);
  o->base = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD) {
      uintptr_t a = o->base + ph->p_vaddr, b = a + ph->p_memsz;
      if (o->lo == 0 || a < o->lo)
        o->lo = a;
      if (b > o->hi)
        o->hi = b;
    } else if (ph->p_type == PT_DYNAMIC) {
      o->dyn = (const ElfW(Dyn) *)(o->base + ph->p_vaddr);
    }
  }
  const char *n = info->dlpi_name;
  if (n == NULL || n[0] == '\0')
    n = program_invocation_short_name; /* the executable */
  const char *slash = strrchr(n, '/');
  size_t i = 0;
  for (n = slash ? slash + 1 : n; n[i] != '\0' && i + 1 < sizeof o->name; i++)
    o->name[i] = n[i];
  o->name[i] = '\0';
  if (o->hi > o->lo)
    nobjs++;
  return 0;
}

/* A dynamic tag's address: glibc relocates d_ptr in place where the
 * section is writable, not where it is read-only (the vdso). */
static uintptr_t dyn_addr(const struct obj *o, ElfW(Addr) a) {
  return a < o->base ? o->base + a : a;
}

/* The number of dynamic symbols, from DT_HASH or DT_GNU_HASH. */
static size_t dyn_count(const struct obj *o, const ElfW(Dyn) *d) {
  const uint32_t *h = NULL, *gh = NULL;
  for (; d->d_tag != DT_NULL; d++) {
    if (d->d_tag == DT_HASH)
      h = (const uint32_t *)dyn_addr(o, d->d_un.d_ptr);
    else if (d->d_tag == DT_GNU_HASH)
      gh = (const uint32_t *)dyn_addr(o, d->d_un.d_ptr);
  }
  if (h != NULL)
    return h[1];
  if (gh == NULL)
    return 0;
  uint32_t nbuckets = gh[0], symoff = gh[1], bloom = gh[2];
  const uint32_t *buckets =
      (const uint32_t *)((const ElfW(Addr) *)(gh + 4) + bloom);
  const uint32_t *chain = buckets + nbuckets;
  uint32_t last = 0;
  for (uint32_t i = 0; i < nbuckets; i++)
    if (buckets[i] > last)
      last = buckets[i];
  if (last < symoff)
    return symoff;
  while (!(chain[last - symoff] & 1))
    last++;
  return (size_t)last + 1;
}

static const char *sym_lookup(const struct obj *o, const ElfW(Sym) *syms,
                              size_t n, const char *str, size_t strsz,
                              uintptr_t a, uintptr_t *start);

/* The function symbol of o covering a: its name and address, or NULL. */
static const char *dyn_lookup(const struct obj *o, uintptr_t a,
                              uintptr_t *start) {
  if (o->dyn == NULL)
    return NULL;
  const ElfW(Sym) *sym = NULL;
  const char *str = NULL;
  for (const ElfW(Dyn) *d = o->dyn; d->d_tag != DT_NULL; d++) {
    if (d->d_tag == DT_SYMTAB)
      sym = (const ElfW(Sym) *)dyn_addr(o, d->d_un.d_ptr);
    else if (d->d_tag == DT_STRTAB)
      str = (const char *)dyn_addr(o, d->d_un.d_ptr);
  }
  if (sym == NULL || str == NULL)
    return NULL;
  return sym_lookup(o, sym, dyn_count(o, o->dyn), str, 0, a, start);
}

/* The executable's full symbol table (.symtab), mapped read-only from
 * /proc/self/exe by the first report that needs it (open, fstat, mmap and
 * close are system calls without locks; nothing is mapped in a process
 * that never reports). It names what the dynamic table does not: static
 * functions, and in a Go program every C function. NULL when the file has
 * none (stripped) or cannot be read. */
static atomic_int exe_tried;
static const ElfW(Sym) *exe_sym;
static size_t exe_nsym;
static const char *exe_str;
static size_t exe_strsz;

static int sect_ok(const ElfW(Shdr) *sh, size_t size) {
  return sh->sh_offset <= size && sh->sh_size <= size - sh->sh_offset;
}

static void map_exe_symtab(void) {
  if (atomic_exchange(&exe_tried, 1) != 0)
    return;
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(ElfW(Ehdr))) {
    close(fd);
    return;
  }
  size_t size = (size_t)st.st_size;
  const char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED)
    return;
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)m;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
      eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      eh->e_shentsize == sizeof(ElfW(Shdr)) && eh->e_shoff != 0 &&
      eh->e_shoff <= size &&
      eh->e_shnum <= (size - eh->e_shoff) / sizeof(ElfW(Shdr))) {
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(m + eh->e_shoff);
    for (size_t i = 0; i < eh->e_shnum; i++) {
      if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
        continue;
      const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
      if (!sect_ok(&sh[i], size) || !sect_ok(strs, size))
        break;
      exe_sym = (const ElfW(Sym) *)(m + sh[i].sh_offset);
      exe_nsym = sh[i].sh_size / sizeof(ElfW(Sym));
      exe_str = m + strs->sh_offset;
      exe_strsz = strs->sh_size;
      return;
    }
  }
  munmap((void *)m, size);
}

/* The function symbol covering a in syms[0..n) of object o: its name and
 * address, or NULL. */
static const char *sym_lookup(const struct obj *o, const ElfW(Sym) *syms,
                              size_t n, const char *str, size_t strsz,
                              uintptr_t a, uintptr_t *start) {
  const char *best = NULL;
  uintptr_t best_a = 0;
  for (size_t i = 0; i < n; i++) {
    const ElfW(Sym) *s = &syms[i];
    if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
        (strsz != 0 && s->st_name >= strsz))
      continue;
    uintptr_t sa = o->base + s->st_value;
    if (a < sa || a >= sa + (s->st_size ? s->st_size : 1))
      continue;
    if (best == NULL || sa > best_a) {
      best = str + s->st_name;
      best_a = sa;
    }
  }
  *start = best_a;
  return best;
}

char *coro__put_frame(char *p, char *end, int i, const void *pc) {
  uintptr_t a = (uintptr_t)pc;
  p = coro__put_str(p, end, "#");
  p = coro__put_u64(p, end, (uint64_t)i);
  p = coro__put_str(p, end, " ");
  p = coro__put_hex(p, end, a);
  p = coro__put_str(p, end, " ");
  const struct obj *o = NULL;
  for (int k = 0; k < nobjs; k++)
    if (a >= objs[k].lo && a < objs[k].hi)
      o = &objs[k];
  if (o == NULL) {
    p = coro__put_str(p, end, "?");
  } else {
    /* A return address may be just past its function (a call to a
     * noreturn one): look the call up instead (i > 0). */
    uintptr_t start = 0, look = i > 0 ? a - 1 : a;
    const char *name = NULL;
    if (o == &objs[0] && exe_sym != NULL) /* the executable: .symtab */
      name = sym_lookup(o, exe_sym, exe_nsym, exe_str, exe_strsz, look,
                        &start);
    if (name == NULL)
      name = dyn_lookup(o, look, &start);
    if (name != NULL && name[0] != '\0') {
      p = coro__put_str(p, end, name);
      p = coro__put_str(p, end, "+");
      p = coro__put_hex(p, end, a - start);
    } else {
      p = coro__put_str(p, end, o->name);
      p = coro__put_str(p, end, "+");
      p = coro__put_hex(p, end, a - o->base);
    }
  }
  return coro__put_str(p, end, "\n");
}

char *coro__put_backtrace(char *p, char *end, const coro *co,
                          const void *uctx) {
  void *frames[CORO_BACKTRACE_MAX];
  int n = coro__backtrace_uctx(co, uctx, frames, CORO_BACKTRACE_MAX);
  if (n > 0)
    map_exe_symtab();
  for (int i = 0; i < n; i++)
    p = coro__put_frame(p, end, i, frames[i]);
  return p;
}

/* ---- The report --------------------------------------------------------- */

static atomic_int reported;

static const char *sig_name(int sig) {
  switch (sig) {
  case SIGSEGV: return "SIGSEGV";
  case SIGBUS: return "SIGBUS";
  case SIGILL: return "SIGILL";
  case SIGFPE: return "SIGFPE";
  case SIGABRT: return "SIGABRT";
  default: return "signal";
  }
}

void coro__crash_report(int sig, const void *vinfo, const void *uctx) {
  const siginfo_t *info = vinfo;
  coro_loop *l = coro__tls_loop;
  if (l == NULL || l->current == NULL || l->current == &l->main ||
      !coro__uctx_on_stack(l->current, uctx))
    return;
  if (atomic_exchange(&reported, 1) != 0)
    return;
  const coro *co = l->current;
  char buf[6144];
  char *p = buf, *end = buf + sizeof buf;
  p = coro__put_str(p, end, "coro: fatal signal ");
  p = coro__put_str(p, end, sig_name(sig));
  if (info != NULL && info->si_code > 0 && sig != SIGABRT) {
    p = coro__put_str(p, end, " (fault address ");
    p = coro__put_hex(p, end, (uintptr_t)info->si_addr);
    p = coro__put_str(p, end, ")");
  }
  p = coro__put_str(p, end, " in coroutine ");
  p = coro__put_u64(p, end, co->id);
  p = coro__put_str(p, end, " \"");
  p = coro__put_str(p, end, co->name);
  p = coro__put_str(p, end, "\" (loop \"");
  p = coro__put_str(p, end, l->name);
  p = coro__put_str(p, end, "\"):\n");
  p = coro__put_backtrace(p, end, co, uctx);
  coro__write_all(STDERR_FILENO, buf, (size_t)(p - buf));
}

/* ---- SIGILL, SIGFPE, SIGABRT -------------------------------------------- */

static const int crash_sigs[] = {SIGILL, SIGFPE, SIGABRT};
static struct sigaction crash_prev[3];
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;
static int crash_err;

static void on_crash(int sig, siginfo_t *info, void *uctx) {
  int saved_errno = errno;
  coro__crash_report(sig, info, uctx);
  for (int i = 0; i < 3; i++)
    if (crash_sigs[i] == sig)
      coro__signal_chain(sig, info, uctx, &crash_prev[i]);
  errno = saved_errno;
}

static void crash_install(void) {
  dl_iterate_phdr(snap_one, NULL); /* the executable comes first */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_crash;
  /* As stack.c's: SA_ONSTACK (Go insists, and the stack may be bad). */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; i++) {
    /* Read the previous action first: a signal on another thread in
     * between must never find crash_prev unset. */
    if (sigaction(crash_sigs[i], NULL, &crash_prev[i]) != 0 ||
        sigaction(crash_sigs[i], &sa, &crash_prev[i]) != 0) {
      crash_err = -errno;
      return;
    }
  }
}

int coro__crash_init(void) {
  pthread_once(&crash_once, crash_install);
  return crash_err;
}
