/* switch.h - coro's raw context switch: the internal contract.
 *
 * Backends (exactly one is compiled in; coro__switch_backend names it):
 *   switch_x86_64_sysv_elf_gas.S   x86-64 System V, ELF      ("x86_64")
 *   switch_arm64_aapcs_elf_gas.S   AArch64 AAPCS64, ELF      ("arm64")
 *   switch_ucontext.c              getcontext/swapcontext    ("ucontext")
 * The fallback is used when CORO_SWITCH_UCONTEXT is defined or the target is
 * neither x86-64 nor AArch64. Every file is compiled on every target (cgo
 * compiles all .c/.S of the folder); each one's body is #if-guarded.
 *
 * FP control state policy: MXCSR and the x87 control word (x86-64) and FPCR
 * (AArch64) are NOT switched. They are per-thread state shared by all the
 * coroutines of a loop thread (as in State Threads): a value set by one
 * coroutine is seen by the next one that runs, and a fresh coroutine starts
 * with whatever the thread has. The ucontext backend keeps the same policy
 * by carrying the live control state over swapcontext, which would otherwise
 * restore the value saved with the target context.
 *
 * Unwinding: each backend's switch has exact CFI at every instruction (a
 * SIGPROF may land mid-switch and a profiler unwinds from there), and the
 * first frame of a fresh context marks its return address undefined, so
 * _Unwind_Backtrace, gdb and cgosymbolizer stop cleanly there.
 *
 * This header is included by the .S files too: everything but the
 * CORO__* offset macros is hidden from the assembler.
 */
#ifndef CORO_SWITCH_H
#define CORO_SWITCH_H

/* 1 when the portable getcontext/swapcontext backend is in use. */
#if defined(CORO_SWITCH_UCONTEXT) || !(defined(__x86_64__) || defined(__aarch64__))
#define CORO__SWITCH_FALLBACK 1
#else
#define CORO__SWITCH_FALLBACK 0
#endif

/* Offset of coro__ctx.sp (the .S files load and store it). */
#define CORO__CTX_SP 0

#if !CORO__SWITCH_FALLBACK && defined(__x86_64__)
/* The frame a suspended context leaves on its own stack; ctx->sp points at
 * its lowest byte. Pushed by coro__switch in the order rbp rbx r12 r13 r14
 * r15 below the return address that the caller's `call` pushed. */
#define CORO__FRAME_R15 0x00  /* r15, last pushed */
#define CORO__FRAME_R14 0x08  /* r14 */
#define CORO__FRAME_R13 0x10  /* r13 */
#define CORO__FRAME_R12 0x18  /* r12 (a fresh context: `user`) */
#define CORO__FRAME_RBX 0x20  /* rbx (a fresh context: `entry`) */
#define CORO__FRAME_RBP 0x28  /* rbp, first pushed (a fresh context: 0) */
#define CORO__FRAME_RIP 0x30  /* resume address (a fresh context: trampoline) */
#define CORO__FRAME_SIZE 0x38 /* 7 slots; the CFA is sp + CORO__FRAME_SIZE */
/* A fresh context: the frame plus 16 zero bytes above it (a null return
 * address and frame pointer for naive walkers), so that after the 7 pops
 * rsp = hi - 16 is 16-aligned and `call entry` leaves rsp+8 16-aligned. */
#define CORO__CTX_INIT_BYTES 0x48
#endif

#if !CORO__SWITCH_FALLBACK && defined(__aarch64__)
/* The frame a suspended context leaves on its own stack; ctx->sp points at
 * its lowest byte. 20 callee-saved registers in 10 stp pairs, 16-aligned. */
#define CORO__FRAME_D8 0x00   /* d8, d9 */
#define CORO__FRAME_D10 0x10  /* d10, d11 */
#define CORO__FRAME_D12 0x20  /* d12, d13 */
#define CORO__FRAME_D14 0x30  /* d14, d15 */
#define CORO__FRAME_X19 0x40  /* x19 (a fresh context: `entry`), x20 (`user`) */
#define CORO__FRAME_X21 0x50  /* x21, x22 */
#define CORO__FRAME_X23 0x60  /* x23, x24 */
#define CORO__FRAME_X25 0x70  /* x25, x26 */
#define CORO__FRAME_X27 0x80  /* x27, x28 */
#define CORO__FRAME_X29 0x90  /* x29 (a fresh context: 0), x30 = resume address */
#define CORO__FRAME_X30 0x98  /* x30: resume address (a fresh context: trampoline) */
#define CORO__FRAME_SIZE 0xa0 /* the CFA is sp + CORO__FRAME_SIZE */
/* A fresh context: just the frame; after it is popped sp = hi, 16-aligned. */
#define CORO__CTX_INIT_BYTES 0xa0
#endif

#if CORO__SWITCH_FALLBACK
/* makecontext's own use of the stack top (return slot, spilled args,
 * alignment): a generous bound, not an exact figure. */
#define CORO__CTX_INIT_BYTES 0x80
#endif

#ifndef __ASSEMBLER__

#include <stddef.h>
#if CORO__SWITCH_FALLBACK
#include <ucontext.h>
#endif

/* Internal symbols have hidden visibility (the Go package and libcoro.a
 * both link them; they must never be exported from a shared object). */
#define CORO__SWITCH_HIDDEN __attribute__((visibility("hidden")))

/* A suspended context is only its stack pointer: the callee-saved registers and the resume address are pushed on its own stack. */
typedef struct coro__ctx {
  void *sp; /* asm: the suspended frame; fallback: mailbox of what the switcher hands over */
#if CORO__SWITCH_FALLBACK
  ucontext_t uc; /* fallback only */
#endif
} coro__ctx;

/* Save the running context into *from, resume *to, and deliver `arg` there: as the return value of the
   coro__switch call that suspended *to, or, for a fresh context, as the first argument of its entry.
   Returns the arg passed by whoever later switches back to *from. */
CORO__SWITCH_HIDDEN void *coro__switch(coro__ctx *from, coro__ctx *to, void *arg);

/* Prepare a fresh context whose stack is [lo, hi) (hi 16-byte aligned by this function if not).
   The first switch to it calls entry(arg, user) on that stack. entry must never return (it ends by
   switching away for good); if it does, the trampoline calls abort(). */
CORO__SWITCH_HIDDEN void coro__ctx_init(coro__ctx *ctx, void *lo, void *hi,
                                        void (*entry)(void *arg, void *user), void *user);

/* The name of the backend compiled in: "x86_64", "arm64" or "ucontext". */
CORO__SWITCH_HIDDEN extern const char coro__switch_backend[];

#if !CORO__SWITCH_FALLBACK
/* Not callable: the outermost frame of every fresh context (its CFI marks the return address undefined);
   exported so tests and tools can recognise where a coroutine's stack ends. */
CORO__SWITCH_HIDDEN void coro__ctx_trampoline(void);
#endif

/* Tie the frame offsets shared with the .S files to a C view of the frame. */
#if !CORO__SWITCH_FALLBACK && defined(__x86_64__)
struct coro__frame {
  void *r15, *r14, *r13, *r12, *rbx, *rbp; /* callee-saved GPRs, in pop order */
  void *rip;                               /* resume address */
};
_Static_assert(offsetof(struct coro__frame, r15) == CORO__FRAME_R15, "r15 slot");
_Static_assert(offsetof(struct coro__frame, r14) == CORO__FRAME_R14, "r14 slot");
_Static_assert(offsetof(struct coro__frame, r13) == CORO__FRAME_R13, "r13 slot");
_Static_assert(offsetof(struct coro__frame, r12) == CORO__FRAME_R12, "r12 slot");
_Static_assert(offsetof(struct coro__frame, rbx) == CORO__FRAME_RBX, "rbx slot");
_Static_assert(offsetof(struct coro__frame, rbp) == CORO__FRAME_RBP, "rbp slot");
_Static_assert(offsetof(struct coro__frame, rip) == CORO__FRAME_RIP, "rip slot");
_Static_assert(sizeof(struct coro__frame) == CORO__FRAME_SIZE, "frame size");
_Static_assert(CORO__FRAME_RIP == CORO__FRAME_SIZE - 8, "resume address is the caller's return slot");
_Static_assert((CORO__CTX_INIT_BYTES - CORO__FRAME_SIZE) % 16 == 0,
               "after the pops of a fresh frame rsp is 16-aligned");
#endif

#if !CORO__SWITCH_FALLBACK && defined(__aarch64__)
struct coro__frame {
  double d8, d9, d10, d11, d12, d13, d14, d15; /* callee-saved low halves of v8-v15 */
  void *x19, *x20, *x21, *x22, *x23, *x24, *x25, *x26, *x27, *x28; /* callee-saved GPRs */
  void *x29, *x30;                                                 /* frame pointer, resume address */
};
_Static_assert(offsetof(struct coro__frame, d8) == CORO__FRAME_D8, "d8 slot");
_Static_assert(offsetof(struct coro__frame, d10) == CORO__FRAME_D10, "d10 slot");
_Static_assert(offsetof(struct coro__frame, d12) == CORO__FRAME_D12, "d12 slot");
_Static_assert(offsetof(struct coro__frame, d14) == CORO__FRAME_D14, "d14 slot");
_Static_assert(offsetof(struct coro__frame, x19) == CORO__FRAME_X19, "x19 slot");
_Static_assert(offsetof(struct coro__frame, x21) == CORO__FRAME_X21, "x21 slot");
_Static_assert(offsetof(struct coro__frame, x23) == CORO__FRAME_X23, "x23 slot");
_Static_assert(offsetof(struct coro__frame, x25) == CORO__FRAME_X25, "x25 slot");
_Static_assert(offsetof(struct coro__frame, x27) == CORO__FRAME_X27, "x27 slot");
_Static_assert(offsetof(struct coro__frame, x29) == CORO__FRAME_X29, "x29 slot");
_Static_assert(offsetof(struct coro__frame, x30) == CORO__FRAME_X30, "x30 slot");
_Static_assert(sizeof(struct coro__frame) == CORO__FRAME_SIZE, "frame size");
_Static_assert(CORO__FRAME_SIZE % 16 == 0, "sp stays 16-aligned");
_Static_assert(CORO__CTX_INIT_BYTES == CORO__FRAME_SIZE, "a fresh frame is just the frame");
#endif

_Static_assert(offsetof(coro__ctx, sp) == CORO__CTX_SP, "ctx->sp offset");

#endif /* !__ASSEMBLER__ */
#endif /* CORO_SWITCH_H */
