/* switch_ucontext.c - coro's portable context switch: getcontext,
 * makecontext and swapcontext. Compiled in when CORO_SWITCH_UCONTEXT is
 * defined or the target has no hand-written backend; the contract is in
 * switch.h. Slow (glibc's swapcontext makes a sigprocmask system call per
 * switch): for portability and for testing the engine against a second
 * implementation.
 *
 * Passing `arg`: no thread-local. The switcher stores a pointer to a small
 * handoff record on its own (about to be suspended) stack into to->sp; the
 * resumed side reads it before anything else runs, while the switcher is
 * still suspended, so the record is alive. A fresh context gets its ctx,
 * entry and user through makecontext as 32-bit halves (makecontext passes
 * only ints), and reads its arg from ctx->sp the same way.
 *
 * FP control state policy (as the asm backends): MXCSR and the x87 control
 * word (x86-64), FPCR/FPSR (AArch64), the fenv elsewhere, are NOT switched:
 * they are per-thread state. swapcontext would restore the values saved with
 * the target context, so the handoff record carries the live values over and
 * the resumed side puts them back. (Other targets use fegetenv/fesetenv,
 * which need -lm.)
 *
 * Unwinding: glibc's __start_context, below the trampoline, is the
 * outermost frame and marks its return address undefined.
 */
#include "switch.h"

#if CORO__SWITCH_FALLBACK

#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__)
typedef struct {
  uint32_t mxcsr;   /* SSE control/status */
  uint16_t x87cw;   /* x87 control word */
} coro__fpctl;
static inline void fpctl_save(coro__fpctl *f) {
  __asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));  /* read MXCSR */
  __asm__ volatile("fnstcw %0" : "=m"(f->x87cw));   /* read the x87 control word */
}
static inline void fpctl_load(const coro__fpctl *f) {
  __asm__ volatile("ldmxcsr %0" : : "m"(f->mxcsr)); /* write MXCSR */
  __asm__ volatile("fldcw %0" : : "m"(f->x87cw));   /* write the x87 control word */
}
#elif defined(__aarch64__)
typedef struct {
  uint64_t fpcr, fpsr; /* FP control and status */
} coro__fpctl;
static inline void fpctl_save(coro__fpctl *f) {
  __asm__ volatile("mrs %0, fpcr" : "=r"(f->fpcr));
  __asm__ volatile("mrs %0, fpsr" : "=r"(f->fpsr));
}
static inline void fpctl_load(const coro__fpctl *f) {
  __asm__ volatile("msr fpcr, %0" : : "r"(f->fpcr));
  __asm__ volatile("msr fpsr, %0" : : "r"(f->fpsr));
}
#else
#include <fenv.h>
typedef struct {
  fenv_t env; /* the whole FP environment */
} coro__fpctl;
static inline void fpctl_save(coro__fpctl *f) { fegetenv(&f->env); }
static inline void fpctl_load(const coro__fpctl *f) { fesetenv(&f->env); }
#endif

/* What a switcher hands to the context it resumes (lives on its stack). */
typedef struct {
  void *arg;         /* delivered as coro__switch's return value / entry's arg */
  coro__fpctl fpctl; /* the thread's FP control state at the switch */
} coro__handoff;

/* Take what the switcher left in ctx->sp: restore the thread's FP control
 * state and return the arg. */
static void *coro__take(coro__ctx *self) {
  const coro__handoff *h = (const coro__handoff *)self->sp;
  self->sp = NULL;
  fpctl_load(&h->fpctl);
  return h->arg;
}

const char coro__switch_backend[] = "ucontext";

void *coro__switch(coro__ctx *from, coro__ctx *to, void *arg) {
  coro__handoff h;
  h.arg = arg;
  fpctl_save(&h.fpctl);
  to->sp = &h;
  if (swapcontext(&from->uc, &to->uc) != 0)
    abort(); /* cannot happen with a valid context */
  return coro__take(from);
}

static uintptr_t join32(unsigned hi, unsigned lo) {
  return ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo; /* `<< 16 << 16`: no UB if uintptr_t is 32 bits */
}

/* makecontext's start function: rebuild the three pointers and call entry. */
static void coro__uc_trampoline(unsigned c1, unsigned c0, unsigned e1, unsigned e0, unsigned u1,
                                unsigned u0) {
  coro__ctx *ctx = (coro__ctx *)join32(c1, c0);
  void (*entry)(void *, void *) = (void (*)(void *, void *))join32(e1, e0);
  void *user = (void *)join32(u1, u0);
  entry(coro__take(ctx), user);
  abort(); /* entry must never return */
}

void coro__ctx_init(coro__ctx *ctx, void *lo, void *hi, void (*entry)(void *arg, void *user),
                    void *user) {
  uintptr_t h = (uintptr_t)hi & ~(uintptr_t)15;
  uintptr_t c = (uintptr_t)ctx, e = (uintptr_t)entry, u = (uintptr_t)user;
  if (getcontext(&ctx->uc) != 0)
    abort(); /* cannot happen */
  ctx->uc.uc_link = NULL;
  ctx->uc.uc_stack.ss_sp = lo;
  ctx->uc.uc_stack.ss_size = h - (uintptr_t)lo;
  ctx->uc.uc_stack.ss_flags = 0;
  ctx->sp = NULL;
  makecontext(&ctx->uc, (void (*)(void))coro__uc_trampoline, 6, (unsigned)(c >> 16 >> 16),
              (unsigned)c, (unsigned)(e >> 16 >> 16), (unsigned)e, (unsigned)(u >> 16 >> 16),
              (unsigned)u);
}

#else

/* The hand-written backend is in use: nothing here (this keeps the
 * translation unit non-empty for -Wpedantic). */
typedef int coro__switch_ucontext_unused;

#endif
