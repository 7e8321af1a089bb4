/* backtrace.c - the call stack of a suspended coroutine, in process.
 *
 * Contract (coro.h): coro_backtrace(co, frames, max) fills frames with the
 * return addresses of co's call stack, innermost first, and returns how
 * many it stored. co must belong to the calling thread's loop and must not
 * be running: every other state is walkable (sleeping, waiting on an fd, a
 * lock, a channel, a join, yielded, suspended in a transfer or in
 * coro_call_on_loop, created or spawned and not started). -EINVAL for NULL,
 * a freed record, a coroutine of another loop (or none), the running
 * coroutine, a finished one, or a loop's main context; max < 0 is -EINVAL.
 * A coroutine that has not started yet has one frame: its entry function.
 *
 * How: the switch leaves the suspended context's callee-saved registers on
 * its own stack (switch.h); among them the frame pointer of the function
 * that called coro__switch and the resume address inside it. From there
 * the walk follows the frame-pointer chain (x86-64: [rbp] = caller's rbp,
 * [rbp+8] = return address; AArch64: the frame record {x29, x30} that x29
 * points at). The engine is built with -fno-omit-frame-pointer (Makefile,
 * csrc.go) so the chain exists; code built without it (libc, the user's)
 * ends the walk early or skips frames, never crashes it. The ucontext
 * backend keeps the same registers in its ucontext_t (glibc's getcontext
 * saves rbp / x29 and the return address as the pc), so it is walked the
 * same way.
 *
 * Where the bytes are: GUARDED, on the coroutine's own stack, between its
 * saved stack pointer and the record at the top of the mapping. SHARED,
 * either on the shared stack (the coroutine is its resident owner) or in
 * the heap copy `saved`, which holds [sp, shared_hi) byte for byte; frame
 * pointers keep their shared-stack values, so each one is translated to
 * saved + (fp - sp) before it is read.
 *
 * Safety against a corrupt stack: every frame pointer must be aligned,
 * above the previous one (strictly: a loop cannot form) and inside
 * [sp, hi) together with the two words read at it; a null return address
 * or a frame pointer that fails any check ends the walk. Nothing is ever
 * read outside the coroutine's stack or its saved copy, so the walk cannot
 * fault whatever the stack holds. It reads raw stack words, so it is
 * excluded from ASan instrumentation (the words it reads are never in a
 * redzone of a live frame, but a corrupt chain could point into one).
 */
#include "coro_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* Where a suspended context's stack bytes can be read. */
struct bt_stack {
  uintptr_t lo, hi;  /* the stack's addresses in use: [sp, top) */
  const char *bytes; /* where byte lo is readable (== lo unless a copy) */
};

/* The registers a walk starts from. */
struct bt_regs {
  uintptr_t pc, fp, sp;
};

/* The frame pointer's alignment: AAPCS64 keeps sp, and so the frame
 * records, 16-aligned; on x86-64 only the word alignment is guaranteed
 * (code may keep rbp anywhere once it has realigned its frame). */
#if defined(__aarch64__)
#define BT_FP_ALIGN 16u
#else
#define BT_FP_ALIGN 8u
#endif

#if CORO__ASAN_ON
#define BT_NO_ASAN __attribute__((no_sanitize_address))
#else
#define BT_NO_ASAN
#endif

/* The word at stack address a, or 0 if [a, a + 8) is not inside st. */
BT_NO_ASAN static uintptr_t bt_word(const struct bt_stack *st, uintptr_t a) {
  if (a < st->lo || a > st->hi || st->hi - a < sizeof(uintptr_t))
    return 0;
  uintptr_t w;
  memcpy(&w, st->bytes + (a - st->lo), sizeof w);
  return w;
}

/* The registers of co's suspended context: from the switch frame (asm
 * backends) or the ucontext_t (fallback). */
BT_NO_ASAN static int bt_regs_of(const coro *co, const struct bt_stack *st,
                                 struct bt_regs *r) {
#if !CORO__SWITCH_FALLBACK && defined(__x86_64__)
  r->sp = (uintptr_t)co->ctx.sp;
  r->fp = bt_word(st, r->sp + CORO__FRAME_RBP);
  r->pc = bt_word(st, r->sp + CORO__FRAME_RIP);
#elif !CORO__SWITCH_FALLBACK && defined(__aarch64__)
  r->sp = (uintptr_t)co->ctx.sp;
  r->fp = bt_word(st, r->sp + CORO__FRAME_X29);
  r->pc = bt_word(st, r->sp + CORO__FRAME_X30);
#elif defined(__x86_64__)
  (void)st;
  r->sp = (uintptr_t)co->ctx.uc.uc_mcontext.gregs[REG_RSP];
  r->fp = (uintptr_t)co->ctx.uc.uc_mcontext.gregs[REG_RBP];
  r->pc = (uintptr_t)co->ctx.uc.uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  (void)st;
  r->sp = (uintptr_t)co->ctx.uc.uc_mcontext.sp;
  r->fp = (uintptr_t)co->ctx.uc.uc_mcontext.regs[29];
  r->pc = (uintptr_t)co->ctx.uc.uc_mcontext.pc;
#else
  (void)co, (void)st, (void)r;
  return -ENOTSUP; /* no known register layout on this target */
#endif
  return 0;
}

/* The stack pointer co suspended at (the lowest byte in use). */
static uintptr_t bt_sp_of(const coro *co) {
#if !CORO__SWITCH_FALLBACK
  return (uintptr_t)co->ctx.sp;
#elif defined(__x86_64__)
  return (uintptr_t)co->ctx.uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (uintptr_t)co->ctx.uc.uc_mcontext.sp;
#else
  (void)co;
  return 0;
#endif
}

uintptr_t coro__saved_sp(const coro *co) { return bt_sp_of(co); }

/* Where co's stack bytes are: -EIO if the saved state is inconsistent
 * (a stack pointer outside its stack), which a walk must not trust. */
static int bt_stack_of(const coro *co, struct bt_stack *st) {
  const coro_loop *l = co->loop;
  uintptr_t sp = bt_sp_of(co);
  if (co->stack_mode == CORO_STACK_GUARDED) {
    /* The record sits at the top of the mapping, right above the stack. */
    uintptr_t lo = (uintptr_t)co->stk.g.map, hi = (uintptr_t)co;
    if (sp <= lo || sp > hi)
      return -EIO;
    *st = (struct bt_stack){sp, hi, (const char *)sp};
    return 0;
  }
  uintptr_t slo = (uintptr_t)l->shared_lo, shi = (uintptr_t)l->shared_hi;
  if (sp < slo || sp > shi)
    return -EIO;
  if (l->shared_owner == co) {
    *st = (struct bt_stack){sp, shi, (const char *)sp};
    return 0;
  }
  if (co->stk.s.saved == NULL || shi - sp != co->stk.s.saved_len)
    return -EIO;
  *st = (struct bt_stack){sp, shi, co->stk.s.saved};
  return 0;
}

/* Follow the frame-pointer chain from r, storing return addresses after
 * frames[0..n): returns the new count. */
BT_NO_ASAN static int bt_walk(const struct bt_stack *st, struct bt_regs r,
                              void **frames, int n, int max) {
  uintptr_t fp = r.fp, floor = r.sp;
  while (n < max) {
    if (fp == 0 || fp % BT_FP_ALIGN != 0 || fp < floor || fp >= st->hi ||
        st->hi - fp < 2 * sizeof(uintptr_t))
      break;
    uintptr_t next = bt_word(st, fp);
    uintptr_t ret = bt_word(st, fp + sizeof(uintptr_t));
    if (ret == 0)
      break;
    frames[n++] = (void *)ret;
    floor = fp + 2 * sizeof(uintptr_t); /* the next record lies above this one */
    fp = next;
  }
  return n;
}

int coro_backtrace(coro *co, void **frames, int max) {
  coro_loop *l = coro__tls_loop;
  if (co == NULL || max < 0 || (max > 0 && frames == NULL))
    return -EINVAL;
  if (l == NULL || co->magic != CORO__MAGIC_LIVE || co->loop != l ||
      co == l->current || co->kind == CORO__MAIN || co->state == CORO__DONE ||
      co->state == CORO__RUNNING)
    return -EINVAL;
  if (max == 0)
    return 0;
  if (!(co->flags & CORO__F_STARTED)) {
    /* Not started: no frame of its own yet; what it will run is fn. */
    frames[0] = (void *)(uintptr_t)co->fn;
    return 1;
  }
  struct bt_stack st;
  struct bt_regs r;
  int rc = bt_stack_of(co, &st);
  if (rc < 0)
    return rc;
  rc = bt_regs_of(co, &st, &r);
  if (rc < 0)
    return rc;
  if (r.pc == 0)
    return 0;
  frames[0] = (void *)r.pc;
  return bt_walk(&st, r, frames, 1, max);
}

/* ---- Symbols ---------------------------------------------------------- */

int coro_backtrace_symbol(const void *pc, char *buf, size_t len) {
  if (buf == NULL || len == 0)
    return -EINVAL;
  Dl_info info;
  uintptr_t a = (uintptr_t)pc;
  /* A function's own address (a coroutine not started yet) names it. A
   * return address may be the first byte after its function (a call to a
   * noreturn function ends it): look up the call instruction instead. */
  int found = a != 0 && dladdr((void *)a, &info) != 0;
  if (!found || info.dli_saddr != (void *)a)
    found = a != 0 && dladdr((void *)(a - 1), &info) != 0;
  int w;
  if (found && info.dli_sname != NULL && info.dli_saddr != NULL)
    w = snprintf(buf, len, "%s+0x%lx", info.dli_sname,
                 (unsigned long)(a - (uintptr_t)info.dli_saddr));
  else if (found && info.dli_fname != NULL && info.dli_fbase != NULL) {
    const char *base = strrchr(info.dli_fname, '/');
    w = snprintf(buf, len, "%s+0x%lx", base ? base + 1 : info.dli_fname,
                 (unsigned long)(a - (uintptr_t)info.dli_fbase));
  } else
    w = snprintf(buf, len, "0x%lx", (unsigned long)a);
  return w < 0 ? -EIO : w;
}

int coro_backtrace_format(coro *co, char *buf, size_t len) {
  if (buf == NULL || len == 0)
    return -EINVAL;
  void *frames[CORO_BACKTRACE_MAX];
  int n = coro_backtrace(co, frames, CORO_BACKTRACE_MAX);
  if (n < 0)
    return n;
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    char sym[256];
    coro_backtrace_symbol(frames[i], sym, sizeof sym);
    int w = snprintf(buf + used, len - used, "#%d 0x%016lx %s\n", i,
                     (unsigned long)(uintptr_t)frames[i], sym);
    if (w < 0)
      return -EIO;
    if ((size_t)w >= len - used) {
      buf[used] = '\0'; /* whole lines only */
      return -ENOSPC;
    }
    used += (size_t)w;
  }
  return (int)used;
}

int coro_backtrace_by_id(uint64_t id, void **frames, int max) {
  coro_loop *l = coro__tls_loop;
  if (l == NULL)
    return -EINVAL;
  for (coro *co = l->all; co != NULL; co = co->anext)
    if (co->id == id)
      return coro_backtrace(co, frames, max);
  return -ESRCH;
}

/* ---- The running coroutine, from a signal context ---------------------- */

#include <ucontext.h>

/* The registers a signal interrupted (uctx: this thread's ucontext_t). */
static int bt_regs_uctx(const void *uctx, struct bt_regs *r) {
  const ucontext_t *uc = uctx;
#if defined(__x86_64__)
  r->pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  r->fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
  r->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  r->pc = (uintptr_t)uc->uc_mcontext.pc;
  r->fp = (uintptr_t)uc->uc_mcontext.regs[29];
  r->sp = (uintptr_t)uc->uc_mcontext.sp;
#else
  (void)uc, (void)r;
  return -ENOTSUP;
#endif
  return 0;
}

/* The stack the running coroutine co is on, from its stack pointer sp:
 * GUARDED, its own mapping (guard included: an overflow's sp is in it) up
 * to the record; SHARED, the shared stack's mapping (it is the resident
 * owner while it runs), whose words are read only above its guard. -EIO
 * if sp is elsewhere. */
static int bt_running_stack(const coro *co, uintptr_t sp,
                            struct bt_stack *st) {
  uintptr_t lo, hi, readable;
  if (co == NULL || co->kind == CORO__MAIN)
    return -EIO;
  if (co->stack_mode == CORO_STACK_GUARDED) {
    lo = (uintptr_t)co->stk.g.map;
    hi = (uintptr_t)co;
    readable = sp;
  } else {
    lo = (uintptr_t)co->loop->shared_map;
    hi = (uintptr_t)co->loop->shared_hi;
    /* Above the guard: the canary zone below shared_lo holds the frames
     * of an overflow the canary has not caught yet. */
    uintptr_t floor = lo + co->loop->guard_size;
    readable = sp > floor ? sp : floor;
  }
  if (lo == 0 || sp <= lo || sp >= hi)
    return -EIO;
  *st = (struct bt_stack){readable, hi, (const char *)readable};
  return 0;
}

int coro__uctx_on_stack(const coro *co, const void *uctx) {
  struct bt_regs r;
  struct bt_stack st;
  return uctx != NULL && bt_regs_uctx(uctx, &r) == 0 &&
         bt_running_stack(co, r.sp, &st) == 0;
}

int coro__backtrace_uctx(const coro *co, const void *uctx, void **frames,
                         int max) {
  struct bt_regs r;
  struct bt_stack st;
  if (uctx == NULL || max <= 0 || bt_regs_uctx(uctx, &r) < 0 ||
      bt_running_stack(co, r.sp, &st) < 0)
    return 0;
  frames[0] = (void *)r.pc;
  return bt_walk(&st, r, frames, 1, max);
}
