/* stack_test.c - tests of stack.c alone: guarded stacks and their cache,
 * the shared stack's save/restore and canary, the injected mapping
 * failure, and the overflow handler (reports and chaining).
 *
 * It links only stack.c: the two things stack.c needs from the rest of the
 * engine (coro__panic and coro__tls_loop) are defined here, and the loops
 * and records are plain structs filled in by hand.
 *
 * Build and run (natively; add -fsanitize=address,undefined for ASan and
 * UBSan, or -DCORO_SWITCH_UCONTEXT for the ucontext switch's layout):
 *   gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -I csrc \
 *       csrc/stack.c csrc/test/stack_test.c -o /tmp/stack_test -lpthread
 *   /tmp/stack_test
 *   valgrind -q --error-exitcode=9 --leak-check=full /tmp/stack_test
 * (Under valgrind the children that crash on purpose print valgrind's
 * "Process terminating" notes, framed by "== expected crash output of
 * child ... ==" lines; the run is judged by the final line and the exit
 * status.)
 *
 * The tests that must crash (overflow reports, chaining to SIG_DFL) run
 * their crash in a grandchild process, whose stderr and fate the test
 * checks: the harness's own child must survive to report.
 */
#include "coro_internal.h"

#include "testing.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

/* ---- Stubs for the rest of the engine ---------------------------------- */

_Thread_local coro_loop *coro__tls_loop;

/* The same message as coro.c's. */
_Noreturn void coro__panic(const coro *co, const char *what) {
  if (co)
    fprintf(stderr, "coro: %s in coroutine %llu \"%s\"\n", what,
            (unsigned long long)co->id, co->name ? co->name : "");
  else
    fprintf(stderr, "coro: %s\n", what);
  fflush(stderr);
  abort();
}

/* ---- Helpers ----------------------------------------------------------- */

#define KB 1024u

static size_t pagesz(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* A zeroed loop as coro_loop_new would configure it. */
static void loop_init(coro_loop *l, int mode, size_t size, size_t cache_max,
                      const char *name) {
  memset(l, 0, sizeof *l);
  l->stack_mode = mode;
  l->stack_size = size;
  CHECK_EQ(coro__guard_size(0, &l->guard_size), 0);
  l->cache_max = cache_max;
  l->name = name;
  l->current = &l->main;
  l->main.kind = CORO__MAIN;
  l->main.stack_mode = CORO_STACK_GUARDED;
}


/* Mapping counts are exact natively and under ASan; under valgrind they
 * are not (memcheck maps its shadow memory as the program touches new
 * memory), so there they are skipped. */
#define CHECK_MAPS(a, b)                                                     \
  do {                                                                       \
    if (!testing_under_valgrind())                                           \
      CHECK_EQ(a, b);                                                        \
  } while (0)

/* A child that faults on purpose and survives the fault (a chained
 * handler exits with a code) must not have valgrind report the fault as
 * an error: --error-exitcode would replace the child's exit code. */
static void quiet_valgrind(void) {
#ifdef VALGRIND_DISABLE_ERROR_REPORTING
  VALGRIND_DISABLE_ERROR_REPORTING;
#endif
}

/* The permissions of the mapping that holds addr ("---p"), or "" if none
 * does. */
static const char *maps_perms_at(const void *addr) {
  static char perms[8];
  char line[512];
  FILE *f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  perms[0] = '\0';
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    char p[8];
    unsigned long a = (unsigned long)(uintptr_t)addr;
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) == 3 && lo <= a && a < hi) {
      snprintf(perms, sizeof perms, "%s", p);
      break;
    }
  }
  fclose(f);
  return perms;
}

static long status_kb(const char *field) {
  char line[256];
  long v = -1;
  size_t n = strlen(field);
  FILE *f = fopen("/proc/self/status", "r");
  CHECK(f != NULL);
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      v = atol(line + n + 1);
  fclose(f);
  return v;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Run fn in a child process with stderr captured; returns its wait status
 * and leaves what it wrote in out. The children crash on purpose: what
 * escapes the capture (valgrind's notes) is framed as expected. */
#define run_child(fn, out, outsz) run_child_named(#fn, fn, out, outsz)
static void call_void(void *fn) { ((void (*)(void))fn)(); }
static int run_child_named(const char *name, void (*fn)(void), char *out,
                           size_t outsz) {
  testing_expected_crash_begin(name);
  int st = testing_child_captured(call_void, (void *)fn, out, outsz);
  testing_expected_crash_end(name);
  return st;
}

/* The child must have died of sig. */
static void check_killed_by(int st, int sig, const char *out) {
  if (!WIFSIGNALED(st) || WTERMSIG(st) != sig)
    FAILF("child status 0x%x, wanted death by signal %d; its stderr:\n%s", st,
          sig, out);
}

/* The child must have exited with code. */
static void check_exited(int st, int code, const char *out) {
  if (!WIFEXITED(st) || WEXITSTATUS(st) != code)
    FAILF("child status 0x%x, wanted exit %d; its stderr:\n%s", st, code, out);
}

/* Record where a suspended coroutine's stack ends, where stack.c looks
 * for it: ctx.sp for the assembly backends, the saved machine context for
 * the ucontext one. */
static void set_suspended_sp(coro *co, char *sp) {
#if !CORO__SWITCH_FALLBACK
  co->ctx.sp = sp;
#elif defined(__x86_64__)
  co->ctx.uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)sp;
#elif defined(__aarch64__)
  co->ctx.uc.uc_mcontext.sp = (uintptr_t)sp;
#else
  (void)co, (void)sp; /* stack.c keeps the whole stack there */
#endif
}

/* ---- GUARDED: layout, cache, bounds ------------------------------------ */

static void test_guarded_layout(int param) {
  (void)param;
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 64 * KB, 4, "layout");
  size_t p = pagesz();
  coro *co;
  char *lo, *hi;
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co, &lo, &hi), 0);
  char *map = co->stk.g.map;
  size_t map_size = co->stk.g.map_size;
  CHECK_EQ(co->stack_mode, CORO_STACK_GUARDED);
  CHECK_EQ(map_size % p, 0);
  CHECK_PTR_EQ(lo, map + l.guard_size);
  CHECK_PTR_EQ(hi, (char *)co);
  CHECK_GE(hi - lo, (long)(64 * KB)); /* at least the size asked for */
  CHECK_EQ((uintptr_t)co % 64, 0);
  /* The record is in the top page, whole. */
  CHECK_LE((char *)(co + 1), map + map_size);
  CHECK_GE((char *)co, map + map_size - p);
  CHECK_U64_EQ(l.n_mapped, 1);
  /* Guard below (the default: one page; 64 KiB on aarch64), read-write
   * above. */
  CHECK_U64_EQ(l.guard_size % p, 0);
  CHECK_GE(l.guard_size, p);
  CHECK_STR_EQ(maps_perms_at(map), "---p");
  CHECK_STR_EQ(maps_perms_at(lo - 1), "---p");
  CHECK_STR_EQ(maps_perms_at(lo), "rw-p");
  /* Fresh records are zero except the stack fields. */
  CHECK_EQ(co->magic, 0);
  CHECK_PTR_EQ(co->rnext, NULL);
  CHECK_U64_EQ(co->id, 0);
  /* The whole usable stack is writable. */
  memset(lo, 0xab, (size_t)(hi - lo));
  coro__stack_release(&l, co);
  CHECK_EQ(co->magic, CORO__MAGIC_DEAD); /* readable: still mapped */
  coro__stack_drain(&l);
  CHECK_U64_EQ(l.n_mapped, 0);
  /* Bad modes are refused. */
  CHECK_EQ(coro__stack_alloc(&l, 7, 64 * KB, 0, &co, &lo, &hi), -EINVAL);
}

/* guard_size: rounded up to pages, per loop (the cache keeps only stacks
 * with the loop's guard) and per coroutine, refused above the maximum. */
static void test_guard_sizes(int param) {
  (void)param;
  size_t p = pagesz(), g;
  CHECK_EQ(coro__guard_size(1, &g), 0);
  CHECK_U64_EQ(g, p);
  CHECK_EQ(coro__guard_size(3 * p + 1, &g), 0);
  CHECK_U64_EQ(g, 4 * p);
  CHECK_EQ(coro__guard_size(CORO_GUARD_SIZE_MAX, &g), 0);
  CHECK_U64_EQ(g, CORO_GUARD_SIZE_MAX);
  CHECK_EQ(coro__guard_size(CORO_GUARD_SIZE_MAX + 1, &g), -EINVAL);
  CHECK_EQ(coro__guard_size((size_t)-1, &g), -EINVAL);
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 64 * KB, 4, "guards");
  CHECK_EQ(coro__guard_size(100 * KB, &l.guard_size), 0);
  coro *co, *other;
  char *lo, *hi;
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co, &lo, &hi),
           0);
  char *map = co->stk.g.map;
  CHECK_PTR_EQ(lo, map + l.guard_size);
  CHECK_STR_EQ(maps_perms_at(map), "---p");
  CHECK_STR_EQ(maps_perms_at(lo - 1), "---p");
  CHECK_STR_EQ(maps_perms_at(lo), "rw-p");
  CHECK_GE(hi - lo, (long)(64 * KB));
  /* A coroutine's own guard; the loop's stays as it was. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 3 * p + 1,
                             &other, &lo, &hi),
           0);
  CHECK_PTR_EQ(lo, (char *)other->stk.g.map + 4 * p);
  CHECK_STR_EQ(maps_perms_at(lo - 1), "---p");
  CHECK_STR_EQ(maps_perms_at(lo), "rw-p");
  CHECK_U64_EQ(l.n_mapped, 2);
  /* Only the stack with the loop's guard is cached. */
  coro__stack_release(&l, other);
  CHECK_U64_EQ(l.n_mapped, 1);
  coro__stack_release(&l, co);
  CHECK_U64_EQ(l.cache_len, 1);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co, &lo, &hi),
           0);
  CHECK_PTR_EQ(co->stk.g.map, map); /* the cached one */
  CHECK_PTR_EQ(lo, map + l.guard_size);
  coro__stack_release(&l, co);
  /* Absurd sizes are refused and map nothing. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB,
                             CORO_GUARD_SIZE_MAX + 1, &co, &lo, &hi),
           -EINVAL);
  CHECK_U64_EQ(l.n_mapped, 1);
  /* The shared stack's guard is the loop's. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_SHARED, 0, 0, &co, &lo, &hi), 0);
  CHECK_STR_EQ(maps_perms_at(l.shared_map), "---p");
  CHECK_STR_EQ(maps_perms_at((char *)l.shared_map + l.guard_size - 1), "---p");
  CHECK_STR_EQ(maps_perms_at((char *)l.shared_map + l.guard_size), "rw-p");
  coro__stack_release(&l, co);
  coro__stack_drain(&l);
  CHECK_U64_EQ(l.n_mapped, 0);
}

static void test_guarded_cache_lifo(int param) {
  (void)param;
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 64 * KB, 4, "cache");
  long maps0 = testing_maps_count();
  coro *a, *b, *c;
  char *lo, *hi, *alo, *ahi;
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &a, &alo, &ahi), 0);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &b, &lo, &hi), 0);
  CHECK_U64_EQ(l.n_mapped, 2);
  long maps2 = testing_maps_count();
  CHECK_MAPS(maps2 - maps0, 4); /* two mappings per guarded stack */
  void *amap = a->stk.g.map;
  size_t amap_size = a->stk.g.map_size;
  a->magic = CORO__MAGIC_LIVE;
  a->id = 99;
  a->name = "a";
  a->state = CORO__DONE;
#ifdef __SANITIZE_ADDRESS__
  /* Redzones a coroutine left behind (frames that never returned)... */
  __asan_poison_memory_region(alo + 100, 64);
#endif
  coro__stack_release(&l, a);
  coro__stack_release(&l, b);
  CHECK_EQ(a->magic, CORO__MAGIC_DEAD);
  CHECK_EQ(b->magic, CORO__MAGIC_DEAD);
  CHECK_U64_EQ(l.cache_len, 2);
  CHECK_U64_EQ(l.n_mapped, 2);
  CHECK_MAPS(testing_maps_count(), maps2); /* cached: nothing unmapped */
  /* LIFO: b came back last, so it goes out first, then a. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &c, &lo, &hi), 0);
  CHECK_PTR_EQ(c, b);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &c, &lo, &hi), 0);
  CHECK_PTR_EQ(c, a);
  CHECK_PTR_EQ(lo, alo);
  CHECK_PTR_EQ(hi, ahi);
  CHECK_PTR_EQ(c->stk.g.map, amap);
#ifdef __SANITIZE_ADDRESS__
  /* ...are gone when the stack is handed out again. */
  CHECK_PTR_EQ(__asan_region_is_poisoned(lo, (size_t)(hi - lo)), NULL);
#endif
  CHECK_U64_EQ(c->stk.g.map_size, amap_size);
  /* The reused record is zeroed except its stack fields. */
  CHECK_EQ(c->magic, 0);
  CHECK_U64_EQ(c->id, 0);
  CHECK_PTR_EQ(c->name, NULL);
  CHECK_EQ(c->state, 0);
  CHECK_EQ(c->stack_mode, CORO_STACK_GUARDED);
  CHECK_U64_EQ(l.cache_len, 0);
  CHECK_U64_EQ(l.n_mapped, 2);
  CHECK_MAPS(testing_maps_count(), maps2);
  coro__stack_release(&l, b);
  coro__stack_release(&l, a);
  coro__stack_drain(&l);
  CHECK_U64_EQ(l.n_mapped, 0);
  CHECK_U64_EQ(l.cache_len, 0);
  CHECK_PTR_EQ(l.cache, NULL);
  CHECK_MAPS(testing_maps_count(), maps0);
}

static void test_guarded_cache_bound(int param) {
  (void)param;
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 32 * KB, 3, "bound");
  long maps0 = testing_maps_count();
  coro *co[5];
  char *lo, *hi;
  for (int i = 0; i < 5; i++)
    CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 32 * KB, 0, &co[i], &lo, &hi), 0);
  CHECK_U64_EQ(l.n_mapped, 5);
  for (int i = 0; i < 5; i++)
    coro__stack_release(&l, co[i]);
  CHECK_U64_EQ(l.cache_len, 3); /* the bound */
  CHECK_U64_EQ(l.n_mapped, 3);
  CHECK_MAPS(testing_maps_count(), maps0 + 3 * 2);
  coro__stack_drain(&l);
  CHECK_MAPS(testing_maps_count(), maps0);

  /* cache_max 0 keeps nothing. */
  loop_init(&l, CORO_STACK_GUARDED, 32 * KB, 0, "nocache");
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 32 * KB, 0, &co[0], &lo, &hi), 0);
  coro__stack_release(&l, co[0]);
  CHECK_U64_EQ(l.cache_len, 0);
  CHECK_U64_EQ(l.n_mapped, 0);
  CHECK_MAPS(testing_maps_count(), maps0);
}

static void test_guarded_other_sizes(int param) {
  (void)param;
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 64 * KB, 8, "sizes");
  long maps0 = testing_maps_count();
  coro *co;
  char *lo, *hi;
  /* A size that is not the loop's: mapped fresh, unmapped on release. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 200 * KB, 0, &co, &lo, &hi), 0);
  CHECK_GE(hi - lo, (long)(200 * KB));
  CHECK_U64_EQ(l.n_mapped, 1);
  CHECK_MAPS(testing_maps_count(), maps0 + 2);
  coro__stack_release(&l, co);
  CHECK_U64_EQ(l.cache_len, 0);
  CHECK_U64_EQ(l.n_mapped, 0);
  CHECK_MAPS(testing_maps_count(), maps0);
  /* An odd size is rounded up to pages. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 16 * KB + 1, 0, &co, &lo, &hi), 0);
  CHECK_EQ(co->stk.g.map_size % pagesz(), 0);
  CHECK_GE(hi - lo, (long)(16 * KB + 1));
  coro__stack_release(&l, co);
  CHECK_MAPS(testing_maps_count(), maps0);
  /* A cached stack is never handed out for another size. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co, &lo, &hi), 0);
  coro *cached = co;
  coro__stack_release(&l, co);
  CHECK_U64_EQ(l.cache_len, 1);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 128 * KB, 0, &co, &lo, &hi), 0);
  CHECK_PTR_NE(co, cached);
  CHECK_U64_EQ(l.cache_len, 1);
  coro__stack_release(&l, co);
  coro__stack_drain(&l);
  CHECK_MAPS(testing_maps_count(), maps0);
}

/* ---- Injected mapping failure ----------------------------------------- */

static void test_inject_failure(int param) {
  (void)param;
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 64 * KB, 4, "inject");
  coro *co[3];
  char *lo, *hi;
  long maps0 = testing_maps_count();
  coro__fault_arm_at(CORO__FP_BIT(CORO__FP_MPROTECT), 3, -1, ENOMEM);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co[0], &lo, &hi), 0);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co[1], &lo, &hi), 0);
  long maps2 = testing_maps_count();
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co[2], &lo, &hi), -ENOMEM);
  CHECK_MAPS(testing_maps_count(), maps2); /* the failed attempt left nothing */
  CHECK_U64_EQ(l.n_mapped, 2);
  /* It keeps failing until reset, for other sizes and the shared stack too. */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 100 * KB, 0, &co[2], &lo, &hi), -ENOMEM);
  CHECK_EQ(coro__shared_init(&l), -ENOMEM);
  CHECK_PTR_EQ(l.shared_map, NULL);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_SHARED, 0, 0, &co[2], &lo, &hi), -ENOMEM);
  CHECK_PTR_EQ(l.rec_free, NULL);
  CHECK_MAPS(testing_maps_count(), maps2);
  /* A cached stack needs no mapping, so it is still handed out. */
  coro__stack_release(&l, co[1]);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co[2], &lo, &hi), 0);
  CHECK_PTR_EQ(co[2], co[1]);
  coro__fault_arm_at(CORO__FP_BIT(CORO__FP_MPROTECT), 1, -1, ENOMEM);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co[1], &lo, &hi), -ENOMEM);
  coro__fault_arm(0, 0);
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, 64 * KB, 0, &co[1], &lo, &hi), 0);
  CHECK_EQ(coro__shared_init(&l), 0);
  for (int i = 0; i < 3; i++)
    coro__stack_release(&l, co[i]);
  coro__stack_drain(&l);
  CHECK_U64_EQ(l.n_mapped, 0);
  CHECK_MAPS(testing_maps_count(), maps0);
}

/* ---- SHARED: records, save, restore, canary ---------------------------- */

static void test_shared_round_trip(int param) {
  (void)param;
  coro_loop l;
  loop_init(&l, CORO_STACK_SHARED, 32 * KB, 4, "shared");
  coro *a, *b;
  char *lo, *hi, *lo2, *hi2;
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_SHARED, 0, 0, &a, &lo, &hi), 0);
  CHECK_PTR_NE(l.shared_map, NULL);
  CHECK_PTR_EQ(lo, l.shared_lo);
  CHECK_PTR_EQ(hi, l.shared_hi);
  CHECK_GE(hi - lo, (long)(32 * KB));
  CHECK_EQ((uintptr_t)hi % 16, 0);
  CHECK_STR_EQ(maps_perms_at(l.shared_map), "---p");
  CHECK_EQ(a->stack_mode, CORO_STACK_SHARED);
  CHECK_U64_EQ(l.n_mapped, 0); /* n_mapped counts guarded stacks only */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_SHARED, 0, 0, &b, &lo2, &hi2), 0);
  CHECK_PTR_EQ(lo2, lo); /* one stack for all */
  a->id = 1;
  b->id = 2;

  /* a is resident with 1000 bytes in use (an odd size on purpose). */
  size_t na = 1000, nb = 3000;
  for (size_t i = 0; i < na; i++)
    hi[-(long)na + (long)i] = (char)(i * 7 + 1);
  l.shared_owner = a;
  set_suspended_sp(a, hi - na);
#ifdef __SANITIZE_ADDRESS__
  /* Frames leave poisoned redzones on the stack: the save must copy them
   * without a report (this is what fails with libc memcpy). */
  __asan_poison_memory_region(hi - 512, 64);
#endif
  CHECK_EQ(coro__shared_save(&l, a), 0);
  CHECK_EQ(a->stk.s.saved_len, na);
  CHECK_GE(a->stk.s.saved_cap, na);
  CHECK_U64_EQ(l.n_saved_bytes, na);
  CHECK_PTR_EQ(l.shared_owner, NULL);

  /* b, new, goes on the stack (nothing saved: restore just installs it,
   * and clears a's redzones from the shadow) and writes deeper. */
  CHECK_EQ(b->stk.s.saved_len, 0);
  coro__shared_restore(&l, b);
  CHECK_PTR_EQ(l.shared_owner, b);
  CHECK_U64_EQ(l.n_saved_bytes, na);
#ifdef __SANITIZE_ADDRESS__
  CHECK_PTR_EQ(__asan_region_is_poisoned(lo, (size_t)(hi - lo)), NULL);
#endif
  memset(hi - 8 * KB, 0x5a, 8 * KB);
  for (size_t i = 0; i < nb; i++)
    hi[-(long)nb + (long)i] = (char)(i * 13 + 3);
  set_suspended_sp(b, hi - nb);
  CHECK_EQ(coro__shared_save(&l, b), 0);
  CHECK_U64_EQ(l.n_saved_bytes, na + nb);

  /* a comes back intact. */
  memset(hi - 8 * KB, 0, 8 * KB);
  l.shared_owner = NULL; /* as if b had finished */
#ifdef __SANITIZE_ADDRESS__
  /* b's redzones, deeper than a's frames: gone after the restore. */
  __asan_poison_memory_region(hi - 6 * KB, 64);
#endif
  coro__shared_restore(&l, a);
#ifdef __SANITIZE_ADDRESS__
  CHECK_PTR_EQ(__asan_region_is_poisoned(lo, (size_t)(hi - lo)), NULL);
#endif
  CHECK_PTR_EQ(l.shared_owner, a);
  CHECK_U64_EQ(l.n_saved_bytes, nb);
  CHECK_EQ(a->stk.s.saved_len, 0);
  for (size_t i = 0; i < na; i++)
    CHECK_EQ((unsigned char)hi[-(long)na + (long)i], (unsigned char)(i * 7 + 1));
  /* a grows deeper, saves again (the buffer grows), then b comes back. */
  for (size_t i = 0; i < 6000; i++)
    hi[-6000 + (long)i] = (char)(i * 5);
  set_suspended_sp(a, hi - 6000);
  CHECK_EQ(coro__shared_save(&l, a), 0);
  CHECK_GE(a->stk.s.saved_cap, 6000);
  coro__shared_restore(&l, b);
  CHECK_PTR_EQ(l.shared_owner, b);
  for (size_t i = 0; i < nb; i++)
    CHECK_EQ((unsigned char)hi[-(long)nb + (long)i], (unsigned char)(i * 13 + 3));
  coro__shared_restore(&l, a);
  for (size_t i = 0; i < 6000; i++)
    CHECK_EQ((unsigned char)hi[-6000 + (long)i], (unsigned char)(i * 5));
  CHECK_U64_EQ(l.n_saved_bytes, 0);

  /* a shallow save after the deep one shrinks the big buffer. */
  set_suspended_sp(a, hi - 64);
  CHECK_EQ(coro__shared_save(&l, a), 0);
  CHECK_LE(a->stk.s.saved_cap, 64);
  CHECK_U64_EQ(l.n_saved_bytes, 64);

  /* Release: records go to the free list (DEAD, still readable), small
   * buffers are kept for the next user, big ones are freed. */
  set_suspended_sp(b, hi - 5000);
  coro__shared_restore(&l, b);
  CHECK_EQ(coro__shared_save(&l, b), 0); /* cap 5008 > 4 KiB */
  CHECK_U64_EQ(l.n_saved_bytes, 64 + 5000);
  /* An empty save (nothing in use) keeps the big buffer as it is. */
  void *bbuf = b->stk.s.saved;
  coro__shared_restore(&l, b);
  set_suspended_sp(b, hi);
  CHECK_EQ(coro__shared_save(&l, b), 0);
  CHECK_EQ(b->stk.s.saved_len, 0);
  CHECK_PTR_EQ(b->stk.s.saved, bbuf);
  CHECK_U64_EQ(l.n_saved_bytes, 64);
  coro__stack_release(&l, a);
  CHECK_EQ(a->magic, CORO__MAGIC_DEAD);
  CHECK_U64_EQ(l.n_saved_bytes, 0);
  coro__stack_release(&l, b);
  CHECK_U64_EQ(l.n_saved_bytes, 0);
  CHECK_PTR_EQ(l.rec_free, b);
  CHECK_PTR_EQ(b->stk.s.saved, NULL);
  CHECK_PTR_NE(a->stk.s.saved, NULL);
  coro *c;
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_SHARED, 0, 0, &c, &lo, &hi), 0);
  CHECK_PTR_EQ(c, b); /* LIFO */
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_SHARED, 0, 0, &c, &lo, &hi), 0);
  CHECK_PTR_EQ(c, a);
  CHECK_PTR_NE(c->stk.s.saved, NULL); /* kept across reuse */
  CHECK_EQ(c->stk.s.saved_len, 0);
  CHECK_EQ(c->magic, 0);
  CHECK_U64_EQ(c->id, 0);
  /* A resident record released: the owner slot is cleared. */
  coro__shared_restore(&l, c);
  CHECK_PTR_EQ(l.shared_owner, c);
  coro__stack_release(&l, c);
  CHECK_PTR_EQ(l.shared_owner, NULL);
  coro__stack_release(&l, b);
  coro__stack_drain(&l);
  CHECK_PTR_EQ(l.shared_map, NULL);
  CHECK_PTR_EQ(l.rec_free, NULL);
}

/* Real coroutines on the shared stack (ucontext), swapped by a little
 * scheduler the way coro.c does it: each one keeps a distinctive array in
 * its frame across many swaps with the other, which runs at the same
 * addresses in between. Checks that save/restore really preserve a live
 * call stack, and (under ASan and valgrind) that the copies raise no
 * false reports. */
#define NCO 3
static coro_loop shl;
static coro *shco[NCO];
static ucontext_t uc_sched;

#if !CORO__SWITCH_FALLBACK
/* The stack pointer saved in a suspended ucontext. */
static char *uc_sp(const ucontext_t *uc) {
#if defined(__x86_64__)
  return (char *)(uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (char *)(uintptr_t)uc->uc_mcontext.sp;
#else
  (void)uc;
  return shl.shared_lo; /* unknown layout: keep the whole stack */
#endif
}
#endif
/* Each coroutine's context: with the ucontext backend, the record's own
 * (so stack.c finds the stack pointer swapcontext saved there). */
#if CORO__SWITCH_FALLBACK
#define CO_UC(i) (&shco[i]->ctx.uc)
#else
static ucontext_t uc_co[NCO];
#define CO_UC(i) (&uc_co[i])
#endif
static int shco_done[NCO];

static __attribute__((noinline)) void deep(int idx, int depth) {
  volatile unsigned char buf[700];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)(idx * 41 + depth * 3 + (int)i);
  if (depth > 0) {
    deep(idx, depth - 1);
  } else {
    swapcontext(CO_UC(idx), &uc_sched);
  }
  for (size_t i = 0; i < sizeof buf; i++)
    if (buf[i] != (unsigned char)(idx * 41 + depth * 3 + (int)i))
      FAILF("coroutine %d depth %d byte %zu corrupted", idx, depth, i);
}

static void shared_body(int idx) {
  for (int round = 0; round < 6; round++)
    deep(idx, (idx + round) % 4); /* a different depth at every swap */
  shco_done[idx] = 1;
  /* Returning resumes uc_link: the scheduler. */
}

static void test_shared_real_switches(int param) {
  (void)param;
  coro_loop *l = &shl;
  loop_init(l, CORO_STACK_SHARED, 64 * KB, 4, "real");
  coro__tls_loop = l;
  char *lo, *hi;
  for (int i = 0; i < NCO; i++)
    CHECK_EQ(coro__stack_alloc(l, CORO_STACK_SHARED, 0, 0, &shco[i], &lo, &hi), 0);
  int started[NCO] = {0};
  int left = NCO, turns = 0;
  while (left > 0) {
    for (int i = 0; i < NCO; i++) {
      if (shco_done[i])
        continue;
      coro *co = shco[i];
      coro *owner = l->shared_owner;
      if (owner != co) {
        if (owner != NULL)
          CHECK_EQ(coro__shared_save(l, owner), 0);
        if (!started[i]) {
          /* First run: the initial frame goes on the shared stack. */
          ucontext_t *uc = CO_UC(i);
          CHECK_EQ(getcontext(uc), 0);
          uc->uc_stack.ss_sp = lo;
          uc->uc_stack.ss_size = (size_t)(hi - lo);
          uc->uc_link = &uc_sched;
          makecontext(uc, (void (*)(void))shared_body, 1, i);
          started[i] = 1;
          l->shared_owner = co;
        } else {
          coro__shared_restore(l, co);
        }
      }
      l->current = co;
      CHECK_EQ(swapcontext(&uc_sched, CO_UC(i)), 0);
      l->current = &l->main;
#if !CORO__SWITCH_FALLBACK
      /* Where the engine's switch would have left it: the stack pointer
       * swapcontext saved (exact, even with a sanitizer's interceptor
       * frame below the coroutine's own). */
      set_suspended_sp(co, uc_sp(CO_UC(i)));
#endif
      turns++;
      if (shco_done[i]) {
        left--;
        coro__stack_release(l, co); /* it finished on the shared stack */
      }
    }
  }
  CHECK_EQ(turns, NCO * 7);
  CHECK_U64_EQ(l->n_saved_bytes, 0);
  coro__stack_drain(l);
  coro__tls_loop = NULL;
}

static void canary_child(void) {
  static coro_loop l;
  loop_init(&l, CORO_STACK_SHARED, 32 * KB, 4, "canary");
  coro *co;
  char *lo, *hi;
  if (coro__stack_alloc(&l, CORO_STACK_SHARED, 0, 0, &co, &lo, &hi) != 0)
    _exit(3);
  co->id = 4242;
  co->name = "canary-victim";
  l.shared_owner = co;
  set_suspended_sp(co, hi - 256);
  lo[-1] = 0; /* one byte below the usable stack: the canary */
  coro__shared_save(&l, co);
  _exit(4); /* not reached */
}

static void test_shared_canary_abort(int param) {
  (void)param;
  char out[4096];
  int st = run_child(canary_child, out, sizeof out);
  check_killed_by(st, SIGABRT, out);
  if (strstr(out, "coro: stack overflow (canary) in coroutine 4242 "
                  "\"canary-victim\"") == NULL)
    FAILF("unexpected message: %s", out);
}

/* ---- Overflow reports -------------------------------------------------- */

/* A loop and a coroutine that is "running" (loop->current) as the engine
 * would have them while the coroutine runs; the fault is then made by
 * touching its stack's guard page directly. */
static coro_loop fault_loop;
static coro *fault_co;
static char *fault_lo, *fault_hi;

static void fault_setup(int mode, size_t guard, const char *coname) {
  loop_init(&fault_loop, mode, 32 * KB, 4, "faulty-loop");
  coro__tls_loop = &fault_loop;
  if (coro__overflow_init(&fault_loop) != 0)
    _exit(3);
  if (coro__stack_alloc(&fault_loop, mode, 32 * KB, guard, &fault_co, &fault_lo,
                        &fault_hi) != 0)
    _exit(3);
  fault_co->magic = CORO__MAGIC_LIVE;
  fault_co->id = 42;
  fault_co->name = coname;
  fault_co->state = CORO__RUNNING;
  fault_co->loop = &fault_loop;
  fault_loop.current = fault_co;
}

static void guard_fault_child(void) {
  fault_setup(CORO_STACK_GUARDED, 0, "deep");
  /* The byte just below the usable stack is in the guard page. */
  *(volatile char *)(fault_lo - 1) = 1;
  _exit(4);
}

/* Run child, which faults in the guard of coroutine 42 called name on
 * "faulty-loop": it must die by SIGABRT with the report. */
static void expect_fault_report(void (*child)(void), const char *name) {
  char out[4096], want[256];
  int st = run_child(child, out, sizeof out);
  check_killed_by(st, SIGABRT, out);
  snprintf(want, sizeof want,
           "coro: stack overflow in coroutine 42 \"%s\" (loop "
           "\"faulty-loop\")\n",
           name);
  if (strstr(out, want) == NULL)
    FAILF("unexpected message: %s", out);
}

static void test_guard_fault_report(int param) {
  (void)param;
  expect_fault_report(guard_fault_child, "deep");
}

/* A frame that jumps deep: the lowest byte of a 64 KiB guard is still
 * reported (the whole guard counts, not its first page). */
static void big_guard_fault_child(void) {
  fault_setup(CORO_STACK_GUARDED, 64 * KB, "deep");
  *(volatile char *)(fault_lo - 64 * KB) = 1;
  _exit(4);
}

static void test_big_guard_fault_report(int param) {
  (void)param;
  expect_fault_report(big_guard_fault_child, "deep");
}

static void shared_guard_fault_child(void) {
  fault_setup(CORO_STACK_SHARED, 0, "shallow");
  fault_loop.shared_owner = fault_co;
  /* Below the canary: the shared stack's guard page. */
  *(volatile char *)((char *)fault_loop.shared_map + 100) = 1;
  _exit(4);
}

static void test_shared_guard_fault_report(int param) {
  (void)param;
  expect_fault_report(shared_guard_fault_child, "shallow");
}

/* A real overflow: unbounded recursion on a 16 KiB guarded stack, entered
 * with swapcontext. The handler can only run on the alternate stack. */
static ucontext_t uc_main_ov, uc_ov;

/* Bounded by a limit far beyond what 16 KiB holds, which also keeps the
 * compiler from calling it infinite. */
static volatile int recurse_limit = 1 << 20;

static __attribute__((noinline)) int recurse(int n) {
  volatile char pad[512];
  pad[0] = (char)n;
  if (n >= recurse_limit)
    return pad[0];
  return recurse(n + 1) + pad[0];
}

static void overflow_body(void) { recurse(0); }

static void real_overflow_child(void) {
  loop_init(&fault_loop, CORO_STACK_GUARDED, 16 * KB, 4, "recursive-loop");
  coro__tls_loop = &fault_loop;
  if (coro__overflow_init(&fault_loop) != 0)
    _exit(3);
  if (coro__stack_alloc(&fault_loop, CORO_STACK_GUARDED, 16 * KB, 0, &fault_co,
                        &fault_lo, &fault_hi) != 0)
    _exit(3);
  fault_co->id = 7;
  fault_co->name = "recurser";
  fault_loop.current = fault_co;
  getcontext(&uc_ov);
  uc_ov.uc_stack.ss_sp = fault_lo;
  uc_ov.uc_stack.ss_size = (size_t)(fault_hi - fault_lo);
  uc_ov.uc_link = &uc_main_ov;
  makecontext(&uc_ov, overflow_body, 0);
  swapcontext(&uc_main_ov, &uc_ov);
  _exit(4);
}

static void test_real_overflow_report(int param) {
  (void)param;
  char out[8192];
  int st = run_child(real_overflow_child, out, sizeof out);
  check_killed_by(st, SIGABRT, out);
  if (strstr(out, "coro: stack overflow in coroutine 7 \"recurser\" (loop "
                  "\"recursive-loop\")\n") == NULL)
    FAILF("unexpected message: %s", out);
}

/* ---- Chaining to the previous handler ---------------------------------- */

/* In page 0: never mapped. Volatile so the compiler does not see (and
 * warn about) the constant. */
static void *volatile bad_addr = (void *)16;
static void *bus_addr;

static void prev_siginfo(int sig, siginfo_t *info, void *uctx) {
  (void)uctx;
  /* Arguments as the kernel would pass them, and the signal blocked. */
  sigset_t cur;
  pthread_sigmask(SIG_SETMASK, NULL, &cur);
  if (!sigismember(&cur, sig))
    _exit(70);
  if (sig == SIGSEGV && info->si_addr == bad_addr && info->si_code > 0)
    _exit(77);
  if (sig == SIGBUS && info->si_addr == bus_addr)
    _exit(79);
  _exit(71);
}

static void prev_plain(int sig) { _exit(sig == SIGSEGV ? 78 : 72); }

static void install_prev(int sig, int siginfo) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  if (siginfo) {
    sa.sa_sigaction = prev_siginfo;
    sa.sa_flags = SA_SIGINFO;
  } else {
    sa.sa_handler = prev_plain;
  }
  sigaction(sig, &sa, NULL);
}

static void chain_siginfo_child(void) {
  quiet_valgrind();
  install_prev(SIGSEGV, 1);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  *(volatile char *)bad_addr = 1; /* a fault in no guard page */
  _exit(4);
}

static void chain_main_null_child(void) {
  quiet_valgrind();
  install_prev(SIGSEGV, 1);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  /* On the loop's own stack main is current: its record has no mapping,
   * and page 0 must not be taken for a guard page. */
  fault_loop.current = &fault_loop.main;
  *(volatile char *)bad_addr = 1;
  _exit(4);
}

static void chain_plain_child(void) {
  quiet_valgrind();
  install_prev(SIGSEGV, 0);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  *(volatile char *)bad_addr = 1;
  _exit(4);
}

static void chain_dfl_child(void) {
  signal(SIGSEGV, SIG_DFL); /* a sanitizer may have installed its own */
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  *(volatile char *)bad_addr = 1;
  _exit(4);
}

static void chain_ign_child(void) {
  quiet_valgrind();
  signal(SIGSEGV, SIG_IGN);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  /* A sent SIGSEGV whose previous action is SIG_IGN stays ignored. */
  raise(SIGSEGV);
  /* A real fault cannot be ignored: the default action kills. */
  *(volatile char *)bad_addr = 1;
  _exit(4);
}

static void chain_sent_dfl_child(void) {
  signal(SIGSEGV, SIG_DFL);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  /* A sent SIGSEGV with si_addr garbage is never an overflow, and its
   * default action still applies. */
  kill(getpid(), SIGSEGV);
  _exit(4);
}

/* SIGBUS: touching a page of a file mapping beyond the end of the file. */
static void *bus_page(void) {
  int fd = memfd_create("stack_test", MFD_CLOEXEC);
  if (fd < 0)
    _exit(5);
  void *m = mmap(NULL, pagesz(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED)
    _exit(5);
  close(fd);
  return m;
}

static void chain_bus_child(void) {
  quiet_valgrind();
  bus_addr = bus_page();
  install_prev(SIGBUS, 1);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  *(volatile char *)bus_addr = 1;
  _exit(4);
}

static void chain_bus_dfl_child(void) {
  bus_addr = bus_page();
  signal(SIGBUS, SIG_DFL);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  *(volatile char *)bus_addr = 1;
  _exit(4);
}

/* A previous handler that recovers (as Go's does for a nil dereference,
 * turning it into a panic): faults keep reaching it, again and again. */
static sigjmp_buf recover_jb;
static void prev_recover(int sig, siginfo_t *info, void *uctx) {
  (void)sig, (void)info, (void)uctx;
  siglongjmp(recover_jb, 1);
}

static void chain_recover_child(void) {
  quiet_valgrind();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = prev_recover;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  fault_setup(CORO_STACK_GUARDED, 0, "innocent");
  volatile int recovered = 0;
  for (int i = 0; i < 3; i++) {
    if (sigsetjmp(recover_jb, 1) == 0)
      *(volatile char *)bad_addr = 1;
    else
      recovered++;
  }
  if (recovered != 3)
    _exit(6);
  /* The overflow report still works after the recoveries. */
  *(volatile char *)(fault_lo - 1) = 1;
  _exit(4);
}

static void test_chain(int param) {
  (void)param;
  char out[8192];
  int st = run_child(chain_siginfo_child, out, sizeof out);
  check_exited(st, 77, out);
  st = run_child(chain_main_null_child, out, sizeof out);
  check_exited(st, 77, out);
  st = run_child(chain_plain_child, out, sizeof out);
  check_exited(st, 78, out);
  st = run_child(chain_dfl_child, out, sizeof out);
  check_killed_by(st, SIGSEGV, out);
  st = run_child(chain_ign_child, out, sizeof out);
  check_killed_by(st, SIGSEGV, out);
  st = run_child(chain_sent_dfl_child, out, sizeof out);
  check_killed_by(st, SIGSEGV, out);
  st = run_child(chain_bus_child, out, sizeof out);
  check_exited(st, 79, out);
  st = run_child(chain_bus_dfl_child, out, sizeof out);
  check_killed_by(st, SIGBUS, out);
  st = run_child(chain_recover_child, out, sizeof out);
  check_killed_by(st, SIGABRT, out);
  if (strstr(out, "coro: stack overflow in coroutine 42 \"innocent\"") == NULL)
    FAILF("unexpected message: %s", out);
}

/* ---- Alternate signal stacks ------------------------------------------- */

static void *altstack_thread(void *arg) {
  (void)arg;
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 32 * KB, 4, "alt");
  stack_t ss, orig;
  /* A new thread has none, unless a sanitizer gave it one: set that aside
   * for the test and put it back at the end. */
  CHECK_EQ(sigaltstack(NULL, &orig), 0);
  stack_t off = {.ss_flags = SS_DISABLE};
  CHECK_EQ(sigaltstack(&off, NULL), 0);
  /* Let this thread's malloc arena and stdio buffers appear first. */
  free(malloc(64));
  (void)maps_perms_at(NULL);
  long maps0 = testing_maps_count();
  CHECK_EQ(coro__overflow_init(&l), 0);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK(!(ss.ss_flags & SS_DISABLE));
  CHECK_GE(ss.ss_size, 64 * KB);
  void *ours = ss.ss_sp;
  CHECK_STR_EQ(maps_perms_at((char *)ours - pagesz()), "---p");
  /* Idempotent: a second call keeps it. */
  CHECK_EQ(coro__overflow_init(&l), 0);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK_PTR_EQ(ss.ss_sp, ours);
  /* Another loop's release leaves it alone. */
  coro_loop other;
  loop_init(&other, CORO_STACK_GUARDED, 32 * KB, 4, "other");
  coro__altstack_release(&other);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK_PTR_EQ(ss.ss_sp, ours);
  coro__altstack_release(&l);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK(ss.ss_flags & SS_DISABLE);
  /* Disabled but still mapped (valgrind delivers SA_ONSTACK signals onto
   * a disabled stack, see stack.c), and the thread's next loop reuses it:
   * no new mapping. Unmapped when the thread exits (test_altstack). */
  CHECK_STR_EQ(maps_perms_at(ours), "rw-p");
  long maps1 = testing_maps_count();
  CHECK_EQ(coro__overflow_init(&l), 0);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK(!(ss.ss_flags & SS_DISABLE));
  CHECK_PTR_EQ(ss.ss_sp, ours);
  CHECK_MAPS(testing_maps_count(), maps1);
  coro__altstack_release(&l);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK(ss.ss_flags & SS_DISABLE);
  CHECK_MAPS(testing_maps_count(), maps1);
  CHECK(maps1 > maps0);

  /* A thread that has its own alternate stack keeps it. */
  static char mine[64 * KB];
  stack_t own = {.ss_sp = mine, .ss_size = sizeof mine, .ss_flags = 0};
  CHECK_EQ(sigaltstack(&own, NULL), 0);
  CHECK_EQ(coro__overflow_init(&l), 0);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK_PTR_EQ(ss.ss_sp, mine);
  coro__altstack_release(&l);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK_PTR_EQ(ss.ss_sp, mine);
  CHECK_EQ(sigaltstack(&off, NULL), 0);

  /* Ours replaced by someone else's: neither removed nor unmapped. */
  CHECK_EQ(coro__overflow_init(&l), 0);
  CHECK_EQ(sigaltstack(&own, NULL), 0);
  coro__altstack_release(&l);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK_PTR_EQ(ss.ss_sp, mine);
  if (orig.ss_flags & SS_DISABLE)
    CHECK_EQ(sigaltstack(&off, NULL), 0);
  else
    CHECK_EQ(sigaltstack(&orig, NULL), 0);
  return ours;
}

static void test_altstack(int param) {
  (void)param;
  pthread_t t;
  void *ours;
  CHECK_EQ(pthread_create(&t, NULL, altstack_thread, NULL), 0);
  CHECK_EQ(pthread_join(t, &ours), 0);
  /* The thread's exit unmapped its alternate stack. */
  CHECK_STR_EQ(maps_perms_at(ours), "");
}

/* SA_ONSTACK signals after the loop's alternate stack was released: the
 * engine's SIGABRT handler (crash.c) runs and the default action follows,
 * in this thread and in a child forked after the release. Valgrind
 * delivers onto the disabled stack: it died of SIGSEGV ("Can't extend
 * stack ... during signal delivery") when the release unmapped it. */
static void install_and_release_altstack(void) {
  stack_t off = {.ss_flags = SS_DISABLE}, ss;
  CHECK_EQ(sigaltstack(&off, NULL), 0); /* so that the loop maps its own */
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, 32 * KB, 4, "released");
  CHECK_EQ(coro__overflow_init(&l), 0);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK(!(ss.ss_flags & SS_DISABLE));
  coro__altstack_release(&l);
  CHECK_EQ(sigaltstack(NULL, &ss), 0);
  CHECK(ss.ss_flags & SS_DISABLE);
}

static void released_then_abort(void) {
  install_and_release_altstack();
  abort();
}

static void released_fork_abort(void) {
  install_and_release_altstack();
  fflush(NULL);
  pid_t pid = fork();
  CHECK_GE(pid, 0);
  if (pid == 0)
    abort();
  int st;
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  _exit(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT ? 80 : 81);
}

static void test_altstack_released_abort(int param) {
  (void)param;
  char out[4096];
  int st = run_child(released_then_abort, out, sizeof out);
  check_killed_by(st, SIGABRT, out);
  st = run_child(released_fork_abort, out, sizeof out);
  check_exited(st, 80, out);
}

/* ---- Measurements ------------------------------------------------------ */

static void test_bench_cache(int param) {
  (void)param;
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, CORO_STACK_SIZE_DEFAULT, 64, "bench");
  coro *co;
  char *lo, *hi;
  CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, l.stack_size, 0, &co, &lo, &hi), 0);
  coro__stack_release(&l, co);
  long n = testing_under_valgrind() ? 20000 : 2000000;
  long maps0 = testing_maps_count();
  int64_t t0 = now_ns();
  for (long i = 0; i < n; i++) {
    CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, l.stack_size, 0, &co, &lo, &hi), 0);
    coro__stack_release(&l, co);
  }
  int64_t t1 = now_ns();
  CHECK_MAPS(testing_maps_count(), maps0); /* no mapping was made */
  CHECK_U64_EQ(l.n_mapped, 1);
  printf("    guarded alloc+release from the cache: %.1f ns (%ld rounds)\n",
         (double)(t1 - t0) / (double)n, n);
  coro__stack_drain(&l);

  /* The same without a cache: mmap + mprotect + munmap every time. (Fewer
   * rounds: each is three syscalls and a page fault, and 100,000 of them
   * took 22 to 30 s on a loaded 2-CPU machine, against the 30 s timeout.) */
  loop_init(&l, CORO_STACK_GUARDED, CORO_STACK_SIZE_DEFAULT, 0, "nocache");
  n /= 200; /* 3 syscalls a round: slow on a loaded machine (0.2 ms seen) */
  t0 = now_ns();
  for (long i = 0; i < n; i++) {
    CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, l.stack_size, 0, &co, &lo, &hi), 0);
    coro__stack_release(&l, co);
  }
  t1 = now_ns();
  printf("    guarded alloc+release without cache: %.1f ns\n",
         (double)(t1 - t0) / (double)n);
}

/* What an idle guarded stack costs: resident memory and page tables per
 * stack, for a coroutine that is created (the engine fills its record and
 * writes its first frame, here simulated by touching the top 512 bytes). */
static void test_idle_cost(int param) {
  (void)param;
  enum { N = 4096 };
  static coro *cos[N];
  coro_loop l;
  loop_init(&l, CORO_STACK_GUARDED, CORO_STACK_SIZE_DEFAULT, 0, "idle");
  char *lo, *hi;
  long rss0 = status_kb("VmRSS"), pte0 = status_kb("VmPTE");
  for (int i = 0; i < N; i++) {
    CHECK_EQ(coro__stack_alloc(&l, CORO_STACK_GUARDED, l.stack_size, 0, &cos[i], &lo, &hi), 0);
    cos[i]->id = (uint64_t)i + 1;
    memset(hi - 512, 0, 512);
  }
  long rss1 = status_kb("VmRSS"), pte1 = status_kb("VmPTE");
  printf("    idle guarded stack (%u KiB): %.0f B resident + %.0f B page "
         "tables per stack, %zu B mapping\n",
         CORO_STACK_SIZE_DEFAULT / KB, (double)(rss1 - rss0) * 1024.0 / N,
         (double)(pte1 - pte0) * 1024.0 / N, cos[0]->stk.g.map_size);
  for (int i = 0; i < N; i++)
    coro__stack_release(&l, cos[i]);
  CHECK_U64_EQ(l.n_mapped, 0);
}

/* ---- The list ---------------------------------------------------------- */

static const testing_case tests[] = {
    {"guarded_layout", test_guarded_layout, 0},
    {"guard_sizes", test_guard_sizes, 0},
    {"guarded_cache_lifo", test_guarded_cache_lifo, 0},
    {"guarded_cache_bound", test_guarded_cache_bound, 0},
    {"guarded_other_sizes", test_guarded_other_sizes, 0},
    {"inject_failure", test_inject_failure, 0},
    {"shared_round_trip", test_shared_round_trip, 0},
    {"shared_real_switches", test_shared_real_switches, 0},
    {"shared_canary_abort", test_shared_canary_abort, 0},
    {"guard_fault_report", test_guard_fault_report, 0},
    {"big_guard_fault_report", test_big_guard_fault_report, 0},
    {"shared_guard_fault_report", test_shared_guard_fault_report, 0},
    {"real_overflow_report", test_real_overflow_report, 0},
    {"chain", test_chain, 0},
    {"altstack", test_altstack, 0},
    {"altstack_released_abort", test_altstack_released_abort, 0},
    {"bench_cache", test_bench_cache, 120}, /* a timing only, never a verdict */
    {"idle_cost", test_idle_cost, 0},
};

static const testing_param params[] = {{"stack", 0}};

TESTING_MAIN(tests, params)
