/* switch_test.c - standalone test of coro's raw context switch (switch.h),
 * whichever backend is compiled in. No dependency on the rest of the engine.
 *
 *   switch_test            run all tests; last line "N passed, N failed"
 *   switch_test bench N    N one-way switches between two contexts, each
 *                          side calling the switch from an ordinary noinline
 *                          function that returns; prints ns per switch
 *   switch_test bench N direct   the same with both loops calling
 *                          coro__switch themselves (the floor)
 *
 * Build (from csrc/):
 *   cc -std=c11 -Wall -Wextra -Werror -O2 -I. test/switch_test.c switch_*.S switch_ucontext.c
 * and with -DCORO_SWITCH_UCONTEXT for the fallback, with -fsanitize=address,undefined
 * (the test annotates its switches for ASan the way the engine does), with
 * aarch64-linux-gnu-gcc under qemu-aarch64. Under valgrind the stacks are
 * registered with VALGRIND_STACK_REGISTER when <valgrind/valgrind.h> exists.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../switch.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <unwind.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif
#ifndef HAVE_VALGRIND
#define HAVE_VALGRIND 0
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif
#if TEST_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__clang__)
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noipa))
#endif
#define BARRIER() __asm__ volatile("" ::: "memory")

/* ---------------------------------------------------------------- harness */

static int g_passed, g_failed, g_skipped, g_test_failed, g_test_skipped;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
      g_test_failed = 1;                                                                           \
    }                                                                                              \
  } while (0)

static void run(const char *name, void (*fn)(void)) {
  g_test_failed = g_test_skipped = 0;
  fn();
  if (g_test_skipped && !g_test_failed) {
    g_skipped++;
    printf("skip %s\n", name);
  } else if (g_test_failed) {
    g_failed++;
    printf("FAIL %s\n", name);
  } else {
    g_passed++;
    printf("ok   %s\n", name);
  }
  fflush(stdout);
}

/* ----------------------------------------------------------------- fibers */

typedef struct fiber {
  coro__ctx ctx;
  char *lo;        /* usable stack [lo, lo + size) */
  size_t size;
  char *map;       /* mapping incl. guard page; NULL for the main fiber */
  size_t maplen;
  void *asan_fake; /* ASan fake-stack handle across a switch */
  unsigned vg_id;  /* valgrind stack id */
} fiber;

static fiber g_main;       /* the thread's own stack */
static fiber *g_prev;      /* who switched last (for ASan's stack bounds of main) */
static volatile int g_tf;  /* x86-64: set the trap flag around switches */
/* ucontext backend only: glibc's swapcontext has no exact CFI while it swaps
 * registers, so an asynchronous unwind landing there can crash the
 * unwinder. The SIGPROF test blocks SIGPROF around the raw switch there. */
static volatile int g_block_prof;
static sigset_t g_prof_set;

static void tf_on(void);
static void tf_off(void);

static void fiber_new(fiber *f, size_t size, void (*entry)(void *, void *), void *user) {
  long page = sysconf(_SC_PAGESIZE);
  memset(f, 0, sizeof *f);
  f->maplen = size + (size_t)page;
  f->map = mmap(NULL, f->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (f->map == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  mprotect(f->map, (size_t)page, PROT_NONE); /* guard page */
  f->lo = f->map + page;
  f->size = size;
#if HAVE_VALGRIND
  f->vg_id = VALGRIND_STACK_REGISTER(f->lo, f->lo + f->size);
#endif
  coro__ctx_init(&f->ctx, f->lo, f->lo + f->size, entry, user);
}

static void fiber_free(fiber *f) {
#if HAVE_VALGRIND
  VALGRIND_STACK_DEREGISTER(f->vg_id);
#endif
  munmap(f->map, f->maplen);
  f->map = NULL;
}

#if TEST_ASAN
static void asan_finish(void *fake) {
  const void *b;
  size_t s;
  __sanitizer_finish_switch_fiber(fake, &b, &s);
  if (g_prev && !g_prev->lo) { /* learn the main stack's bounds */
    g_prev->lo = (char *)(uintptr_t)b;
    g_prev->size = s;
  }
}
#endif

/* The test's switch: an ordinary noinline function that calls coro__switch
 * and returns (not a tail call), with the ASan fiber annotations the engine
 * does around the raw switch. */
NOIPA static void *sw(fiber *from, fiber *to, void *arg) {
  g_prev = from;
#if TEST_ASAN
  __sanitizer_start_switch_fiber(&from->asan_fake, to->lo, to->size);
#endif
  if (g_tf)
    tf_on();
  if (CORO__SWITCH_FALLBACK && g_block_prof)
    sigprocmask(SIG_BLOCK, &g_prof_set, NULL);
  void *r = coro__switch(&from->ctx, &to->ctx, arg);
  if (CORO__SWITCH_FALLBACK && g_block_prof)
    sigprocmask(SIG_UNBLOCK, &g_prof_set, NULL);
  if (g_tf)
    tf_off();
#if TEST_ASAN
  asan_finish(from->asan_fake);
#endif
  BARRIER();
  return r;
}

/* Switch away for good (the fiber is finished). */
__attribute__((noreturn)) static void sw_exit(fiber *from, fiber *to, void *arg) {
  g_prev = from;
#if TEST_ASAN
  __sanitizer_start_switch_fiber(NULL, to->lo, to->size);
#endif
  coro__switch(&from->ctx, &to->ctx, arg);
  fprintf(stderr, "a finished fiber was resumed\n");
  abort();
}

/* First thing in every fresh fiber. */
static void fiber_started(void) {
#if TEST_ASAN
  asan_finish(NULL);
#endif
}

/* ------------------------------------------------------- arch probes */

/* sp_probe() returns the caller's stack pointer at the call, i.e. what
 * the caller keeps ABI-aligned (x86-64: rsp before `call`; arm64: sp). */
uintptr_t sp_probe(void);
#if defined(__x86_64__)
__asm__(".text\n.p2align 4\n.type sp_probe,@function\nsp_probe:\n"
        "  .cfi_startproc\n  leaq 8(%rsp), %rax\n  ret\n  .cfi_endproc\n.size sp_probe,.-sp_probe\n"
        ".type tf_on_asm,@function\ntf_on_asm:\n  .cfi_startproc\n  pushfq\n  .cfi_adjust_cfa_offset 8\n"
        "  orq $0x100, (%rsp)\n  popfq\n  .cfi_adjust_cfa_offset -8\n  ret\n  .cfi_endproc\n"
        ".size tf_on_asm,.-tf_on_asm\n"
        ".type tf_off_asm,@function\ntf_off_asm:\n  .cfi_startproc\n  pushfq\n  .cfi_adjust_cfa_offset 8\n"
        "  andq $-0x101, (%rsp)\n  popfq\n  .cfi_adjust_cfa_offset -8\n  ret\n  .cfi_endproc\n"
        ".size tf_off_asm,.-tf_off_asm\n");
void tf_on_asm(void);
void tf_off_asm(void);
static void tf_on(void) { tf_on_asm(); }
static void tf_off(void) { tf_off_asm(); }
#elif defined(__aarch64__)
__asm__(".text\n.p2align 2\n.type sp_probe,%function\nsp_probe:\n"
        "  .cfi_startproc\n  mov x0, sp\n  ret\n  .cfi_endproc\n.size sp_probe,.-sp_probe\n");
static void tf_on(void) {}
static void tf_off(void) {}
#else
uintptr_t sp_probe(void) { return (uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)15; }
static void tf_on(void) {}
static void tf_off(void) {}
#endif

/* FP control state: x86-64 MXCSR + x87 control word; arm64 FPCR. */
#if defined(__x86_64__)
typedef struct {
  unsigned mxcsr;
  unsigned short cw;
} fpstate;
static fpstate fp_get(void) {
  fpstate s;
  __asm__ volatile("stmxcsr %0" : "=m"(s.mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(s.cw));
  return s;
}
static void fp_set(fpstate s) {
  __asm__ volatile("ldmxcsr %0" : : "m"(s.mxcsr));
  __asm__ volatile("fldcw %0" : : "m"(s.cw));
}
/* Rounding mode m (0 nearest, 1 down, 2 up, 3 zero) in both units; ftz adds FTZ|DAZ. */
static fpstate fp_mode(fpstate base, unsigned m, int ftz) {
  base.mxcsr = (base.mxcsr & ~0xe040u & ~0x3fu) | (m << 13) | (ftz ? 0x8040u : 0);
  base.cw = (unsigned short)((base.cw & ~0x0c00u) | (m << 10));
  return base;
}
static int fp_eq(fpstate a, fpstate b) { return (a.mxcsr & ~0x3fu) == (b.mxcsr & ~0x3fu) && a.cw == b.cw; }
#define FP_DOWN 1
#define FP_UP 2
#define FP_ZERO 3
#elif defined(__aarch64__)
typedef struct {
  uint64_t fpcr;
} fpstate;
static fpstate fp_get(void) {
  fpstate s;
  __asm__ volatile("mrs %0, fpcr" : "=r"(s.fpcr));
  return s;
}
static void fp_set(fpstate s) { __asm__ volatile("msr fpcr, %0" : : "r"(s.fpcr)); }
/* FPCR.RMode (bits 23:22): 0 nearest, 1 up (+inf), 2 down (-inf), 3 zero; FZ is bit 24. */
static fpstate fp_mode(fpstate base, unsigned m, int ftz) {
  base.fpcr = (base.fpcr & ~(UINT64_C(7) << 22)) | ((uint64_t)m << 22) | (ftz ? UINT64_C(1) << 24 : 0);
  return base;
}
static int fp_eq(fpstate a, fpstate b) { return a.fpcr == b.fpcr; }
#define FP_UP 1
#define FP_DOWN 2
#define FP_ZERO 3
#endif

/* ------------------------------------------------------- unwind helpers */

/* The function containing this frame's pc (the exact pc for the frame a
 * signal interrupted, else the return address - 1). */
static uintptr_t func_of(struct _Unwind_Context *c, uintptr_t *pc, int *sigframe) {
  int before = 0;
  uintptr_t ip = _Unwind_GetIPInfo(c, &before);
  if (pc)
    *pc = ip;
  if (sigframe)
    *sigframe = before;
  if (!ip)
    return 0;
  return (uintptr_t)_Unwind_FindEnclosingFunction((void *)(ip + (before ? 1 : 0)));
}

static uintptr_t trampoline_fn(void) {
#if !CORO__SWITCH_FALLBACK
  return (uintptr_t)&coro__ctx_trampoline;
#else
  return 0;
#endif
}

#define MAX_FRAMES 64

typedef struct {
  int n;
  uintptr_t fn[MAX_FRAMES];
  uintptr_t pc[MAX_FRAMES];
  int sig[MAX_FRAMES];
} bt;

static _Unwind_Reason_Code bt_cb(struct _Unwind_Context *c, void *p) {
  bt *b = p;
  if (_Unwind_GetIP(c) == 0)
    return _URC_NO_REASON; /* libgcc reports the end (return address undefined) as a last pc 0 */
  if (b->n >= MAX_FRAMES)
    return _URC_NORMAL_STOP; /* too deep: walked into garbage */
  b->fn[b->n] = func_of(c, &b->pc[b->n], &b->sig[b->n]);
  b->n++;
  return _URC_NO_REASON;
}

/* ============================================================ the tests */

/* ---- ping-pong of values with a fresh context */

static void pp_entry(void *arg, void *user) {
  fiber_started();
  fiber *self = user;
  uintptr_t x = (uintptr_t)arg;
  while (x != UINTPTR_MAX)
    x = (uintptr_t)sw(self, &g_main, (void *)(x * 2 + 1));
  sw_exit(self, &g_main, (void *)(uintptr_t)0xd09e);
}

static void test_pingpong(void) {
  fiber f;
  fiber_new(&f, 64 << 10, pp_entry, &f);
  int bad = 0;
  for (uintptr_t i = 1; i <= 200000; i++)
    bad += (uintptr_t)sw(&g_main, &f, (void *)i) != i * 2 + 1;
  CHECK(bad == 0);
  CHECK((uintptr_t)sw(&g_main, &f, (void *)UINTPTR_MAX) == 0xd09e);
  fiber_free(&f);
}

/* ---- a fresh context's entry gets (arg, user) on an ABI-aligned stack */

typedef struct {
  fiber f;
  void *arg;
  void *user;
  uintptr_t sp;
  int in_stack;
} entry_job;

static void entry_entry(void *arg, void *user) {
  uintptr_t sp = sp_probe(); /* first: the caller's sp as `entry` sees it */
  fiber_started();
  entry_job *j = user;
  j->arg = arg;
  j->user = user;
  j->sp = sp;
  j->in_stack = sp > (uintptr_t)j->f.lo && sp <= (uintptr_t)j->f.lo + j->f.size;
  sw_exit(&j->f, &g_main, (void *)(uintptr_t)0x600d);
}

static void test_entry_args(void) {
  /* Several stack tops: aligned and misaligned hi, to exercise the rounding. */
  for (int k = 0; k < 4; k++) {
    entry_job j;
    memset(&j, 0, sizeof j);
    fiber_new(&j.f, 64 << 10, entry_entry, &j);
    if (k) /* re-init with a misaligned top */
      coro__ctx_init(&j.f.ctx, j.f.lo, j.f.lo + j.f.size - 8 * (unsigned)k - 1, entry_entry, &j);
    void *r = sw(&g_main, &j.f, (void *)(uintptr_t)(0xa1a1 + k));
    CHECK(r == (void *)(uintptr_t)0x600d);
    CHECK(j.arg == (void *)(uintptr_t)(0xa1a1 + k));
    CHECK(j.user == &j);
    CHECK(j.in_stack);
    CHECK(j.sp % 16 == 0);
    if (j.sp % 16 != 0)
      fprintf(stderr, "  misaligned sp at entry: %#lx\n", (unsigned long)j.sp);
    fiber_free(&j.f);
  }
  CHECK(strcmp(coro__switch_backend, CORO__SWITCH_FALLBACK ? "ucontext"
#if defined(__x86_64__)
                                                           : "x86_64"
#else
                                                           : "arm64"
#endif
               ) == 0);
  CHECK(CORO__CTX_INIT_BYTES > 0 && CORO__CTX_INIT_BYTES < 4096);
}

/* ---- many contexts in a ring, callee-saved registers preserved */

#define RING 1000
#define ROUNDS 20

static fiber *g_ring;
static _Atomic unsigned long g_torture_bad;

/* Keep many integer and FP values live across the switch so the compiler puts
 * them in callee-saved registers, then check them. */
NOIPA static void *torture(fiber *from, fiber *to, void *arg, uintptr_t seed) {
  volatile uintptr_t vs = seed;
  uintptr_t s = vs;
  uintptr_t a = s * 3, b = s ^ 0x5555, c = s + 77, d = s * s, e = ~s, f = s << 3, g = s >> 1,
            h = s * 7 + 1, i = s ^ 0xabcdef, j = s + 0x1234567;
  double da = (double)s * 0.5, db = (double)s + 0.25, dc = (double)s * 3.0, dd = (double)s - 7.0,
         de = (double)(s & 0xffff) / 3.0, df = (double)s * 1e-3, dg = (double)s + 1e6,
         dh = (double)s * -2.0;
  void *r = sw(from, to, arg);
  unsigned long bad = 0;
  bad += a != s * 3;
  bad += b != (s ^ 0x5555);
  bad += c != s + 77;
  bad += d != s * s;
  bad += e != ~s;
  bad += f != s << 3;
  bad += g != s >> 1;
  bad += h != s * 7 + 1;
  bad += i != (s ^ 0xabcdef);
  bad += j != s + 0x1234567;
  bad += da != (double)s * 0.5;
  bad += db != (double)s + 0.25;
  bad += dc != (double)s * 3.0;
  bad += dd != (double)s - 7.0;
  bad += de != (double)(s & 0xffff) / 3.0;
  bad += df != (double)s * 1e-3;
  bad += dg != (double)s + 1e6;
  bad += dh != (double)s * -2.0;
  if (bad)
    atomic_fetch_add(&g_torture_bad, bad);
  return r;
}

static void ring_entry(void *arg, void *user) {
  fiber_started();
  uintptr_t idx = (uintptr_t)user;
  uintptr_t tok = (uintptr_t)arg;
  for (;;) {
    fiber *next = idx + 1 < RING ? &g_ring[idx + 1] : &g_main;
    tok = (uintptr_t)torture(&g_ring[idx], next, (void *)(tok + idx), tok * 31 + idx);
    if (tok == UINTPTR_MAX)
      break;
  }
  sw_exit(&g_ring[idx], idx + 1 < RING ? &g_ring[idx + 1] : &g_main, (void *)UINTPTR_MAX);
}

static void test_many(void) {
  g_ring = calloc(RING, sizeof *g_ring);
  for (uintptr_t k = 0; k < RING; k++)
    fiber_new(&g_ring[k], 32 << 10, ring_entry, (void *)k);
  uintptr_t sum = RING * (RING - 1) / 2;
  int bad = 0;
  for (uintptr_t r = 0; r < ROUNDS; r++) {
    uintptr_t tok = r * 1000003;
    uintptr_t got = (uintptr_t)torture(&g_main, &g_ring[0], (void *)tok, r);
    bad += got != tok + sum;
  }
  CHECK(bad == 0);
  CHECK((uintptr_t)sw(&g_main, &g_ring[0], (void *)UINTPTR_MAX) == UINTPTR_MAX);
  CHECK(atomic_load(&g_torture_bad) == 0);
  for (int k = 0; k < RING; k++)
    fiber_free(&g_ring[k]);
  free(g_ring);
}

/* ---- FP control policy: MXCSR / x87 CW / FPCR are per-thread, not switched */

#if defined(__x86_64__) || defined(__aarch64__)
typedef struct {
  fiber f;
  fpstate base;
  int fresh_saw_main, resumed_saw_main;
} fp_job;

/* 1/3 in the current rounding mode (volatile: no constant folding). */
NOIPA static double third(void) {
  volatile double a = 1.0, b = 3.0;
  volatile double r = a / b;
  return r;
}

static void fp_entry(void *arg, void *user) {
  (void)arg;
  fiber_started();
  fp_job *j = user;
  /* Fresh: sees whatever the thread has (main set "toward zero" + FTZ). */
  j->fresh_saw_main = fp_eq(fp_get(), fp_mode(j->base, FP_ZERO, 1));
  fp_set(fp_mode(j->base, FP_UP, 0)); /* set "up" here ... */
  sw(&j->f, &g_main, NULL);           /* ... main must see it */
  /* Resumed: sees what main set meanwhile ("down"). */
  j->resumed_saw_main = fp_eq(fp_get(), fp_mode(j->base, FP_DOWN, 0));
  sw_exit(&j->f, &g_main, NULL);
}

static void test_fp_policy(void) {
  if (RUNNING_ON_VALGRIND) { /* valgrind emulates only round-to-nearest, no FTZ/DAZ */
    printf("     (skipped under valgrind: it does not emulate MXCSR/FPCR modes)\n");
    g_test_skipped = 1;
    return;
  }
  fp_job j;
  memset(&j, 0, sizeof j);
  fpstate orig = fp_get();
  j.base = orig;
  fiber_new(&j.f, 64 << 10, fp_entry, &j);
  fp_set(fp_mode(orig, FP_ZERO, 1));
  sw(&g_main, &j.f, NULL);
  int main_saw_fiber = fp_eq(fp_get(), fp_mode(orig, FP_UP, 0));
  double up = third(); /* rounding really is "up" here */
  fp_set(fp_mode(orig, FP_DOWN, 0));
  double down = third();
  sw(&g_main, &j.f, NULL);
  int main_saw_down = fp_eq(fp_get(), fp_mode(orig, FP_DOWN, 0));
  fp_set(orig); /* restore before anything else runs */
  CHECK(j.fresh_saw_main);
  CHECK(main_saw_fiber);
  CHECK(j.resumed_saw_main);
  CHECK(main_saw_down);
  CHECK(up > down);
  CHECK(fp_eq(fp_get(), orig));
  fiber_free(&j.f);
}
#else
static void test_fp_policy(void) {}
#endif

/* ---- _Unwind_Backtrace from inside a coroutine stops at its first frame */

typedef struct {
  fiber f;
  bt b;
  _Unwind_Reason_Code rc;
} unwind_job;

static uintptr_t g_unwind_entry_fn; /* &unwind_entry */

NOIPA static int deep(unwind_job *j, int n) {
  if (n > 0) {
    int r = deep(j, n - 1);
    BARRIER(); /* a real call chain, no tail recursion */
    return r + 1;
  }
  j->rc = _Unwind_Backtrace(bt_cb, &j->b);
  return 0;
}

static void unwind_entry(void *arg, void *user) {
  (void)arg;
  fiber_started();
  unwind_job *j = user;
  int r = deep(j, 5);
  BARRIER();
  sw_exit(&j->f, &g_main, (void *)(uintptr_t)r);
}

static void test_unwind(void) {
  unwind_job *j = calloc(1, sizeof *j);
  g_unwind_entry_fn = (uintptr_t)&unwind_entry;
  fiber_new(&j->f, 256 << 10, unwind_entry, j);
  CHECK((uintptr_t)sw(&g_main, &j->f, NULL) == 5);
  bt *b = &j->b;
  int deeps = 0, entry_at = -1;
  for (int i = 0; i < b->n; i++) {
    deeps += b->fn[i] == (uintptr_t)&deep;
    if (b->fn[i] == g_unwind_entry_fn)
      entry_at = i;
  }
  CHECK(j->rc == _URC_END_OF_STACK);
  CHECK(b->n < MAX_FRAMES);
  CHECK(deeps == 6);
  CHECK(entry_at >= 0);
  int after = entry_at >= 0 ? b->n - 1 - entry_at : -1;
#if !CORO__SWITCH_FALLBACK
  /* Exactly one frame below entry: the trampoline, and the walk ends there. */
  CHECK(after == 1);
  CHECK(b->fn[b->n - 1] == trampoline_fn());
#else
  /* The trampoline and glibc's __start_context at most. */
  CHECK(after >= 1 && after <= 2);
#endif
  if (g_test_failed || getenv("SWITCH_TEST_VERBOSE")) {
    fprintf(stderr, "  backtrace: rc=%d frames=%d entry_at=%d\n", (int)j->rc, b->n, entry_at);
    for (int i = 0; i < b->n; i++)
      fprintf(stderr, "   #%d pc=%#lx fn=%#lx\n", i, (unsigned long)b->pc[i], (unsigned long)b->fn[i]);
  }
  fiber_free(&j->f);
  free(j);
}

/* ---- asynchronous unwinds from signal handlers landing anywhere */

/* Shared by the SIGPROF and the single-step tests. Written by the handler. */
static struct {
  _Atomic unsigned long samples, in_switch, in_tramp, reached, deep, badrc, badcaller;
  _Atomic int maxdepth;
  _Atomic uintptr_t switch_pcs[256]; /* distinct pcs seen inside coro__switch */
} g_sig;

static void note_switch_pc(uintptr_t pc) {
  for (int i = 0; i < 256; i++) {
    uintptr_t v = atomic_load(&g_sig.switch_pcs[i]);
    if (v == pc)
      return;
    if (v == 0) {
      atomic_store(&g_sig.switch_pcs[i], pc);
      return;
    }
  }
}

static int distinct_switch_pcs(void) {
  int n = 0;
  while (n < 256 && atomic_load(&g_sig.switch_pcs[n]))
    n++;
  return n;
}

static void sample_handler(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  (void)si;
  (void)ucv;
  bt b;
  b.n = 0;
  _Unwind_Reason_Code rc = _Unwind_Backtrace(bt_cb, &b);
  atomic_fetch_add(&g_sig.samples, 1);
  if (rc != _URC_END_OF_STACK)
    atomic_fetch_add(&g_sig.badrc, 1);
  if (b.n >= MAX_FRAMES)
    atomic_fetch_add(&g_sig.deep, 1);
  int md = atomic_load(&g_sig.maxdepth);
  while (b.n > md && !atomic_compare_exchange_weak(&g_sig.maxdepth, &md, b.n)) {
  }
  /* The interrupted frame is the first with the signal-frame flag. */
  int k = 0;
  while (k < b.n && !b.sig[k])
    k++;
  if (k == b.n)
    return; /* the unwinder did not get through the signal frame */
  atomic_fetch_add(&g_sig.reached, 1);
  uintptr_t switch_fn = (uintptr_t)&coro__switch;
  if (b.fn[k] == switch_fn) {
    atomic_fetch_add(&g_sig.in_switch, 1);
    note_switch_pc(b.pc[k]);
    /* Exact CFI: the caller must be sw() (or the fresh context's trampoline
     * once the resume address is in the scratch register). */
    int ok = k + 1 < b.n && (b.fn[k + 1] == (uintptr_t)&sw || b.fn[k + 1] == (uintptr_t)&sw_exit ||
                             (trampoline_fn() && b.fn[k + 1] == trampoline_fn()));
    if (!ok) {
      atomic_fetch_add(&g_sig.badcaller, 1);
      if (getenv("SWITCH_TEST_VERBOSE")) {
        fprintf(stderr, "bad: k=%d n=%d pc=%#lx off=%ld\n", k, b.n, (unsigned long)b.pc[k], (long)(b.pc[k]-switch_fn));
        for (int i = 0; i < b.n; i++)
          fprintf(stderr, "   #%d pc=%#lx fn=%#lx sig=%d\n", i, (unsigned long)b.pc[i], (unsigned long)b.fn[i], b.sig[i]);
      }
    }
  } else if (trampoline_fn() && b.fn[k] == trampoline_fn()) {
    atomic_fetch_add(&g_sig.in_tramp, 1);
    if (k != b.n - 1)
      atomic_fetch_add(&g_sig.badcaller, 1); /* must be the last frame */
  }
}

static void *g_altstack;

static void install_handler(int signo) {
  if (!g_altstack) {
    size_t sz = 1 << 20;
    g_altstack = malloc(sz);
    stack_t ss = {.ss_sp = g_altstack, .ss_size = sz, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
      perror("sigaltstack");
      exit(2);
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = sample_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(signo, &sa, NULL);
}

static void reset_sig(void) { memset(&g_sig, 0, sizeof g_sig); }

static void pong_entry(void *arg, void *user) {
  fiber_started();
  fiber *self = user;
  uintptr_t x = (uintptr_t)arg;
  while (x != UINTPTR_MAX)
    x = (uintptr_t)sw(self, &g_main, (void *)(x + 1));
  sw_exit(self, &g_main, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_sigprof(void) {
  reset_sig();
  install_handler(SIGPROF);
  fiber f;
  fiber_new(&f, 256 << 10, pong_entry, &f);
  sigemptyset(&g_prof_set);
  sigaddset(&g_prof_set, SIGPROF);
  g_block_prof = 1;
  struct itimerval it = {{0, 100}, {0, 100}}; /* 100 us of CPU time */
  setitimer(ITIMER_PROF, &it, NULL);
  unsigned long switches = 0;
  int bad = 0;
  double t0 = now_s();
  for (;;) {
    for (uintptr_t i = 0; i < 10000; i++)
      bad += (uintptr_t)sw(&g_main, &f, (void *)i) != i + 1;
    switches += 20000;
    double t = now_s() - t0;
    /* The assembly switch: run until 100 samples landed inside
     * coro__switch itself (the instructions the test is about). The
     * ucontext switch never runs coro__switch (its samples land in libc's
     * swapcontext, about 2 us a switch with its sigprocmask), so waiting
     * for that count only burned 4,000,000 switches (14 s natively, 31 s
     * in a loaded CI stage): 200 samples (the profiling timer ticks about
     * 250 times a CPU-second) unwound through the signal frame are its
     * check. */
    if (CORO__SWITCH_FALLBACK ? atomic_load(&g_sig.samples) >= 200 || t > 3.0
                              : switches >= 4000000 &&
                                    (atomic_load(&g_sig.in_switch) >= 100 || t > 3.0))
      break;
    if (t > 30.0)
      break;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_PROF, &off, NULL);
  signal(SIGPROF, SIG_IGN);
  g_block_prof = 0;
  sw(&g_main, &f, (void *)UINTPTR_MAX);
  fiber_free(&f);
  printf("     %lu one-way switches, %lu samples: %lu unwound through the signal frame, "
         "%lu inside coro__switch (%d distinct pcs), %lu in the trampoline, max depth %d\n",
         switches, atomic_load(&g_sig.samples), atomic_load(&g_sig.reached),
         atomic_load(&g_sig.in_switch), distinct_switch_pcs(), atomic_load(&g_sig.in_tramp),
         atomic_load(&g_sig.maxdepth));
  CHECK(bad == 0);
  CHECK(atomic_load(&g_sig.samples) > 0);
  CHECK(atomic_load(&g_sig.badrc) == 0);
  CHECK(atomic_load(&g_sig.deep) == 0);
  CHECK(atomic_load(&g_sig.badcaller) == 0);
#if defined(__x86_64__)
  /* Natively the kernel's signal frame is always unwound through. */
  CHECK(atomic_load(&g_sig.reached) == atomic_load(&g_sig.samples));
#endif
}

/* ---- x86-64: single-step the switch; unwind from every instruction */

#if defined(__x86_64__)
static void stepper_entry(void *arg, void *user) {
  fiber_started();
  fiber *self = user;
  uintptr_t x = (uintptr_t)arg;
  while (x != UINTPTR_MAX)
    x = (uintptr_t)sw(self, &g_main, (void *)(x + 1));
  g_tf = 0;
  sw_exit(self, &g_main, NULL);
}

static void test_single_step(void) {
  if (RUNNING_ON_VALGRIND) {
    printf("     (skipped under valgrind: no trap flag)\n");
    g_test_skipped = 1;
    return;
  }
  if (CORO__SWITCH_FALLBACK) {
    printf("     (skipped for the ucontext backend: glibc's swapcontext has no exact CFI)\n");
    g_test_skipped = 1;
    return;
  }
  reset_sig();
  install_handler(SIGTRAP);
  fiber f;
  fiber_new(&f, 256 << 10, stepper_entry, &f);
  g_tf = 1; /* includes the first entry through the trampoline */
  int bad = 0;
  for (uintptr_t i = 1; i <= 50; i++)
    bad += (uintptr_t)sw(&g_main, &f, (void *)i) != i + 1;
  g_tf = 0;
  tf_off();
  sw(&g_main, &f, (void *)UINTPTR_MAX);
  signal(SIGTRAP, SIG_DFL);
  fiber_free(&f);
  int pcs = distinct_switch_pcs();
  printf("     %lu steps: %lu inside coro__switch (%d distinct pcs), %lu in the trampoline, "
         "max depth %d\n",
         atomic_load(&g_sig.samples), atomic_load(&g_sig.in_switch), pcs,
         atomic_load(&g_sig.in_tramp), atomic_load(&g_sig.maxdepth));
  CHECK(bad == 0);
  CHECK(atomic_load(&g_sig.badrc) == 0);
  CHECK(atomic_load(&g_sig.deep) == 0);
  CHECK(atomic_load(&g_sig.badcaller) == 0);
  CHECK(atomic_load(&g_sig.reached) == atomic_load(&g_sig.samples));
#if !CORO__SWITCH_FALLBACK
  CHECK(pcs == 16);                            /* every instruction of coro__switch: 6 push, 2 mov, 6 pop, mov, ret */
  CHECK(atomic_load(&g_sig.in_tramp) >= 3);    /* mov, mov, call */
#endif
}
#endif

/* ================================================================ bench */

static fiber g_bench_peer;

#if TEST_ASAN
#define bench_sw(from, to, arg) sw(from, to, arg)
#else
/* An ordinary function calling the switch and returning. */
NOIPA static void *bench_sw(fiber *from, fiber *to, void *arg) {
  void *r = coro__switch(&from->ctx, &to->ctx, arg);
  BARRIER();
  return r;
}
#endif

static void bench_entry(void *arg, void *user) {
  (void)user;
  fiber_started();
  if (arg == (void *)1) /* "direct" mode: the loop calls coro__switch itself */
    for (;;)
      arg = coro__switch(&g_bench_peer.ctx, &g_main.ctx, arg);
  for (;;)
    arg = bench_sw(&g_bench_peer, &g_main, arg);
}

/* n one-way switches; direct: both loops call coro__switch themselves (the
 * floor), else through bench_sw (an ordinary function returning after the
 * switch: what callers really do, and the figure the issue asks for). */
static void bench_run(long n, int direct) {
  fiber_new(&g_bench_peer, 64 << 10, bench_entry, NULL);
  void *mode = (void *)(uintptr_t)(direct ? 1 : 2);
  long rounds = n / 2;
  for (long i = 0; i < 1000; i++) /* warm up */
    direct ? coro__switch(&g_main.ctx, &g_bench_peer.ctx, mode) : bench_sw(&g_main, &g_bench_peer, mode);
  struct timespec c0, c1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  double t0 = now_s();
  if (direct)
    for (long i = 0; i < rounds; i++)
      coro__switch(&g_main.ctx, &g_bench_peer.ctx, mode);
  else
    for (long i = 0; i < rounds; i++)
      bench_sw(&g_main, &g_bench_peer, mode);
  double t = now_s() - t0;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
  /* Wall time is what a quiet machine shows; thread CPU time leaves out
   * the time this thread was preempted on a busy one. */
  printf("backend %s%s: %ld one-way switches, wall %.2f ns/switch, cpu %.2f ns/switch\n",
         coro__switch_backend, direct ? " direct" : "", rounds * 2,
         t * 1e9 / (double)(rounds * 2), cpu * 1e9 / (double)(rounds * 2));
  /* the peer is left suspended (it never ends); its stack is leaked */
}

static int bench(long n, int direct) {
#if TEST_ASAN
  direct = 0; /* the annotations are needed on every switch */
#endif
  bench_run(n, direct);
  return 0;
}

/* ================================================================= main */

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && strcmp(argv[1], "bench") == 0)
    return bench(argc >= 3 ? atol(argv[2]) : 100000000L, argc >= 4 && strcmp(argv[3], "direct") == 0);
  printf("switch backend: %s%s%s\n", coro__switch_backend, TEST_ASAN ? " (asan)" : "",
         RUNNING_ON_VALGRIND ? " (valgrind)" : "");
  run("pingpong", test_pingpong);
  run("entry_args_alignment", test_entry_args);
  run("many_contexts_callee_saved", test_many);
  run("fp_control_not_switched", test_fp_policy);
  run("unwind_stops_at_trampoline", test_unwind);
  run("sigprof_unwind_mid_switch", test_sigprof);
#if defined(__x86_64__)
  run("single_step_unwind_every_insn", test_single_step);
#endif
  if (g_skipped)
    printf("%d passed, %d failed, %d skipped\n", g_passed, g_failed, g_skipped);
  else
    printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
