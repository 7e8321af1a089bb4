/* stack.c - coroutine stacks: guarded mmap stacks with a per-loop LIFO
 * cache, the shared (copy-on-switch) stack with its save buffers, and the
 * SIGSEGV/SIGBUS handler that turns a guard-page fault into a message
 * naming the coroutine.
 *
 * A GUARDED stack is one anonymous mapping laid out, from low to high
 * addresses, as:
 *
 *   map                                                      map + map_size
 *   | guard      | usable stack ...........| struct coro | pad | tail |
 *   |  PROT_NONE |<- lo               hi ->|<- record  ->|     |16 B  |
 *
 * The guard. One page by default (coro_loop_opts/coro_opts guard_size make
 * it larger): a fault in it is reported as an overflow naming the
 * coroutine. A frame larger than the guard could step over it into the
 * mapping below and corrupt it silently, unless the compiler touches every
 * page of a new frame in order (-fstack-clash-protection, which the engine
 * is built with and which the README recommends for code that runs on
 * coroutine stacks). GCC's aarch64 probes assume a 64 KiB guard (it probes
 * once per 64 KiB), so there the default guard is 64 KiB: address space
 * only, no memory and no extra mapping.
 *
 * The record sits in the top page, where the stack also starts (stacks grow
 * down), so a coroutine that is created but idle touches exactly one page:
 * its record and its first frame share it. The tail is private to this file
 * (it holds the valgrind stack id) and is not part of the record, so the
 * record can be zeroed for reuse without losing it. The usable stack is at
 * least the size asked for: the mapping is rounded up to whole pages after
 * adding the record and tail.
 *
 * Mapping count. Each guarded stack is two kernel mappings (VMAs): the
 * guard page and the read-write part have different protections, so the
 * kernel cannot merge them. Linux limits a process to vm.max_map_count
 * mappings (65530 by default), so a process holds about 32,700 guarded
 * stacks at most, minus its other mappings; beyond that mprotect fails with
 * ENOMEM and so does coro_spawn. The SHARED mode exists for larger counts.
 *
 * The cache. Released stacks whose size is the loop's stack_size are kept
 * on a LIFO list (at most loop->cache_max of them), so a steady stream of
 * spawn/exit makes no system call at all: no mmap, no mprotect, no munmap,
 * and no madvise either (the pages a stack touched stay resident while it is
 * cached, which is the point: LIFO hands back the stack that was released
 * last, whose pages are still warm in the cache and the TLB). The bound
 * keeps that resident memory at cache_max times the depth coroutines used.
 *
 * The shared stack. SHARED coroutines of a loop all run on one mapping; the
 * engine (coro.c) copies the resident coroutine's used bytes out to a heap
 * buffer before another one runs there (coro__shared_save), and copies them
 * back when it runs again (coro__shared_restore). Records come from a
 * malloc'd free list instead of the stack's top page. A canary of fixed
 * words sits just above the guard page, below the usable part, and is
 * checked at every save: an overflow that stays within a frame's locals
 * never reaches the guard page but does smash the canary.
 */
#include "coro_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if CORO__ASAN_ON
#include <sanitizer/asan_interface.h>
#endif

/* Valgrind: its client requests compile to a few no-op instructions when
 * the program does not run under valgrind, so they are always built in
 * when the headers exist (define CORO_NO_VALGRIND to leave them out). */
#if !defined(CORO_NO_VALGRIND) && defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#define CORO_VALGRIND 1
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif
#endif

/* The record's alignment in a guarded mapping: one cache line, so the hot
 * fields at its start never share a line with the stack's first frame. */
#define REC_ALIGN 64u

/* Bytes at the very top of each stack mapping that belong to this file. */
#define TAIL_BYTES 16u

/* Bytes of fixed pattern between the shared stack's guard page and its
 * usable part. */
#define CANARY_BYTES 64u
#define CANARY_WORD ((uintptr_t)0xc0a5c0a5deadbeefull)

/* A SHARED record's save buffer is kept for the record's next user when it
 * is at most this big (the common case: a few hundred bytes), and freed
 * when larger so that one deep coroutine does not pin its peak forever. */
#define SAVED_KEEP_MAX 4096u

/* Bytes below a restored stack pointer that valgrind is told are live. */
#define VG_MARGIN 256

/* The alternate signal stack installed on threads that have none. */
#define ALTSTACK_SIZE (64u * 1024u)

/* The private tail of a stack mapping. */
struct stack_tail {
  unsigned vg_id; /* valgrind stack id (0 when not registered) */
  uint32_t guard; /* bytes of guard at the bottom of the mapping */
};
_Static_assert(sizeof(struct stack_tail) <= TAIL_BYTES, "tail fits");

/* ---- Small helpers ---------------------------------------------------- */

/* The page size, asked once: sysconf is a libc call and spawn is hot. The
 * racy first store is benign (every thread stores the same value). */
static size_t page_size(void) {
  static atomic_size_t cached;
  size_t p = atomic_load_explicit(&cached, memory_order_relaxed);
  if (p == 0) {
    long v = sysconf(_SC_PAGESIZE);
    p = v > 0 ? (size_t)v : 4096u;
    atomic_store_explicit(&cached, p, memory_order_relaxed);
  }
  return p;
}

/* Round n up to a multiple of `to`, a power of two (page sizes, 16): a
 * mask, not a division, because spawn computes sizes on its hot path. */
static size_t round_up(size_t n, size_t to) { return (n + to - 1) & ~(to - 1); }

static struct stack_tail *tail_of(void *map, size_t map_size) {
  return (struct stack_tail *)((char *)map + map_size - TAIL_BYTES);
}

/* ---- Guard sizes ------------------------------------------------------ */

/* The default guard: one page, or 64 KiB where GCC's stack clash probes
 * assume that much (aarch64: see the top comment). */
static size_t guard_default(void) {
#if defined(__aarch64__)
  size_t g = 64u * 1024u;
  return g > page_size() ? g : page_size();
#else
  return page_size();
#endif
}

int coro__guard_size(size_t n, size_t *out) {
  if (n > CORO_GUARD_SIZE_MAX)
    return -EINVAL;
  *out = n == 0 ? guard_default() : round_up(n, page_size());
  return 0;
}

/* ---- Mapping ---------------------------------------------------------- */

/* Map map_size bytes with a PROT_NONE guard of `guard` bytes (whole pages)
 * at the bottom, and note the guard in the mapping's tail.
 *
 * The whole region is mapped read-write and then its lowest pages are
 * turned into the guard. (Mapping it all PROT_NONE and opening the rest
 * would give the same two mappings; this way mmap already sets the final
 * protection of the stack, and the mprotect that follows touches only the
 * guard, which is never populated.)
 *   MAP_NORESERVE: a stack's pages are mostly never touched; under the
 *     default heuristic overcommit this keeps the mapping out of the commit
 *     charge, so 256 KiB stacks do not count as 256 KiB each. Under strict
 *     overcommit (mode 2) the kernel ignores the flag and charges them,
 *     which is what an administrator who chose that mode wants.
 *   MAP_STACK: since Linux 6.7 it also means "no transparent huge pages",
 *     so a large stack never gets a 2 MiB page that would make an idle
 *     coroutine cost 2 MiB. Older kernels ignore it.
 *   Not MAP_GROWSDOWN: its semantics (and the kernel's stack guard gap
 *     around it) are fragile, and a fixed size is what we want.
 * mprotect is where the mapping count limit shows (it splits one mapping
 * into two, and a fresh anonymous mapping may first have merged with a
 * neighbour), so a fault injected there (fault.c) exercises the path that
 * must unmap what mmap gave. Both failures are reported as -ENOMEM. */
static int map_guarded(size_t map_size, size_t guard, char **out) {
  char *m = coro__mmap(map_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK);
  if (m == MAP_FAILED)
    return -ENOMEM;
  if (coro__mprotect(m, guard, PROT_NONE) != 0) {
    munmap(m, map_size);
    return -ENOMEM;
  }
  tail_of(m, map_size)->guard = (uint32_t)guard;
  *out = m;
  return 0;
}

/* Register [lo, hi) as a stack with valgrind, so that it recognises a jump
 * of the stack pointer into it as a stack switch rather than a huge frame,
 * and remember the id in the mapping's tail for the deregistration. */
static void vg_register(struct stack_tail *t, char *lo, char *hi) {
#ifdef CORO_VALGRIND
  t->vg_id = VALGRIND_STACK_REGISTER(lo, hi);
#else
  (void)t, (void)lo, (void)hi;
#endif
}

/* Forget a stack before its mapping goes away. Under ASan, also clear the
 * shadow of what frames poisoned there: the address range will be reused
 * by later mappings (or by malloc), which must not inherit stale redzones. */
static void forget_stack(struct stack_tail *t, char *lo, char *hi) {
#ifdef CORO_VALGRIND
  VALGRIND_STACK_DEREGISTER(t->vg_id);
#else
  (void)t;
#endif
#if CORO__ASAN_ON
  __asan_unpoison_memory_region(lo, (size_t)(hi - lo));
#else
  (void)lo, (void)hi;
#endif
}

/* ---- GUARDED stacks --------------------------------------------------- */

/* The mapping size for a usable stack of at least `size` bytes below a
 * guard of `guard` bytes. */
static size_t guarded_map_size(size_t size, size_t guard) {
  size_t p = page_size();
  return guard + round_up(size + sizeof(struct coro) + TAIL_BYTES +
                              REC_ALIGN - 1,
                          p);
}

/* The guard of a guarded stack, from its mapping's tail. */
static size_t guard_of(const coro *co) {
  return tail_of(co->stk.g.map, co->stk.g.map_size)->guard;
}

size_t coro__stack_guard(const coro *co) { return guard_of(co); }

/* Where the record of a guarded mapping lives: as high as the tail and the
 * alignment allow. */
static coro *guarded_record(char *map, size_t map_size) {
  uintptr_t top = (uintptr_t)map + map_size - TAIL_BYTES;
  return (coro *)((top - sizeof(struct coro)) & ~(uintptr_t)(REC_ALIGN - 1));
}

/* Zero a reused record. One memset of the whole record compiles to
 * `rep stos` on x86-64, whose start-up cost was about a quarter of a whole
 * spawn+join (28 of 96 ns measured); 64-byte pieces compile to plain
 * vector stores. */
static void zero_record(coro *co) {
  char *p = (char *)co;
  size_t i = 0;
  for (; i + 64 <= sizeof *co; i += 64)
    memset(p + i, 0, 64);
  memset(p + i, 0, sizeof *co - i);
}

static int guarded_alloc(coro_loop *loop, size_t size, size_t guard,
                         coro **out, char **lo, char **hi) {
  size_t map_size = guarded_map_size(size, guard);
  coro *co;
  char *map;
  if (loop->cache != NULL && guard == loop->guard_size &&
      map_size == guarded_map_size(loop->stack_size, guard)) {
    /* Every cached stack has the loop's size and guard: the head fits. */
    co = loop->cache;
    loop->cache = co->rnext;
    loop->cache_len--;
    map = co->stk.g.map;
    zero_record(co);
    co->stk.g.map = map;
    co->stk.g.map_size = map_size;
#if CORO__ASAN_ON
    /* Frames that never returned (a coroutine that ended in coro_exit, or
     * whose last frames were abandoned) leave poisoned redzones behind;
     * the next coroutine's frames must not trip over them. */
    __asan_unpoison_memory_region(map + guard,
                                  (size_t)((char *)co - (map + guard)));
#endif
#ifdef CORO_VALGRIND
    /* Memcheck marked the parts of the stack that earlier frames popped as
     * inaccessible; the stack is fresh memory for the new coroutine. */
    VALGRIND_MAKE_MEM_UNDEFINED(map + guard,
                                (size_t)((char *)co - (map + guard)));
#endif
  } else {
    int err = map_guarded(map_size, guard, &map);
    if (err < 0)
      return err;
    /* Fresh anonymous memory is already zero: the record needs no memset,
     * and the mapping's only resident page is the top one, which the
     * record and the coroutine's first frame share. */
    co = guarded_record(map, map_size);
    co->stk.g.map = map;
    co->stk.g.map_size = map_size;
    vg_register(tail_of(map, map_size), map + guard, (char *)co);
    loop->n_mapped++;
  }
  co->stack_mode = CORO_STACK_GUARDED;
  *out = co;
  *lo = map + guard;
  *hi = (char *)co;
  return 0;
}

static void guarded_unmap(coro_loop *loop, coro *co) {
  char *map = co->stk.g.map;
  size_t map_size = co->stk.g.map_size;
  forget_stack(tail_of(map, map_size), map + guard_of(co), (char *)co);
  munmap(map, map_size); /* the record goes with it */
  loop->n_mapped--;
}

static void guarded_release(coro_loop *loop, coro *co) {
  /* The record stays mapped while cached, so a stale handle reads DEAD
   * there (until the stack is reused: the check is best effort). */
  co->magic = CORO__MAGIC_DEAD;
  if (co->stk.g.map_size ==
          guarded_map_size(loop->stack_size, loop->guard_size) &&
      guard_of(co) == loop->guard_size && loop->cache_len < loop->cache_max) {
    co->rnext = loop->cache;
    loop->cache = co;
    loop->cache_len++;
    return;
  }
  guarded_unmap(loop, co);
}

/* ---- The SHARED stack: copying ----------------------------------------- */

/* Copy a stack image. Under ASan the source holds other frames' redzones,
 * which ASan has poisoned: the copy must neither be instrumented nor go
 * through libc's memcpy (ASan intercepts it and would report them). The
 * volatile accesses keep the compiler from turning the loop back into a
 * memcpy call. Without ASan, memcpy is the fastest copy there is (and under
 * valgrind it carries definedness along with the bytes). */
#if CORO__ASAN_ON
__attribute__((no_sanitize_address)) static void
copy_stack(void *dst, const void *src, size_t n) {
  if ((((uintptr_t)dst | (uintptr_t)src | n) & (sizeof(uintptr_t) - 1)) == 0) {
    volatile uintptr_t *d = dst;
    const volatile uintptr_t *s = src;
    for (size_t i = 0; i < n / sizeof(uintptr_t); i++)
      d[i] = s[i];
  } else {
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;
    for (size_t i = 0; i < n; i++)
      d[i] = s[i];
  }
}
#else
static void copy_stack(void *dst, const void *src, size_t n) {
  if (n != 0) /* a new coroutine's buffer may be NULL: memcpy forbids it */
    memcpy(dst, src, n);
}
#endif

/* True if the canary under the shared stack is intact. Not instrumented:
 * an overflowing frame may have left its redzones poisoned there. */
#if CORO__ASAN_ON
__attribute__((no_sanitize_address))
#endif
static bool canary_ok(const coro_loop *loop) {
  const volatile uintptr_t *w =
      (const volatile uintptr_t *)(loop->shared_lo - CANARY_BYTES);
  for (size_t i = 0; i < CANARY_BYTES / sizeof(uintptr_t); i++)
    if (w[i] != CANARY_WORD)
      return false;
  return true;
}

int coro__shared_init(coro_loop *loop) {
  if (loop->shared_map != NULL)
    return 0;
  size_t size = loop->stack_mode == CORO_STACK_SHARED && loop->stack_size != 0
                    ? loop->stack_size
                    : CORO_STACK_SIZE_DEFAULT;
  size_t p = page_size(), guard = loop->guard_size;
  size_t map_size = guard + round_up(CANARY_BYTES + size + TAIL_BYTES, p);
  char *map;
  int err = map_guarded(map_size, guard, &map);
  if (err < 0)
    return err;
  loop->shared_map = map;
  loop->shared_map_size = map_size;
  loop->shared_lo = map + guard + CANARY_BYTES;
  loop->shared_hi = map + map_size - TAIL_BYTES;
  loop->shared_owner = NULL;
  uintptr_t *w = (uintptr_t *)(map + guard);
  for (size_t i = 0; i < CANARY_BYTES / sizeof(uintptr_t); i++)
    w[i] = CANARY_WORD;
  vg_register(tail_of(map, map_size), loop->shared_lo, loop->shared_hi);
  return 0;
}

/* The lowest byte of a suspended coroutine's stack that must be kept: its
 * stack pointer at the switch. The assembly backends leave it in ctx.sp
 * (the lowest byte of the registers they pushed). The ucontext backend
 * uses ctx.sp as a mailbox and keeps the real one in the saved machine
 * context; its swapcontext saves the caller's stack pointer, above the
 * return address, and resumes by jumping to the saved instruction pointer,
 * so nothing below it is needed either. On a target without a known
 * layout the whole stack is kept (correct, but a full-size copy). */
static char *suspended_sp(const coro_loop *loop, const coro *co) {
#if !CORO__SWITCH_FALLBACK
  (void)loop;
  return co->ctx.sp;
#elif defined(__x86_64__)
  (void)loop;
  return (char *)(uintptr_t)co->ctx.uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  (void)loop;
  return (char *)(uintptr_t)co->ctx.uc.uc_mcontext.sp;
#else
  (void)co;
  return loop->shared_lo;
#endif
}

void coro__shared_check(coro_loop *loop, coro *owner) {
  if (!canary_ok(loop))
    coro__panic(owner, "stack overflow (canary)");
}

int coro__shared_save(coro_loop *loop, coro *owner) {
  char *sp = suspended_sp(loop, owner);
  if (!canary_ok(loop))
    coro__panic(owner, "stack overflow (canary)");
  if (sp < loop->shared_lo || sp > loop->shared_hi)
    coro__panic(owner, "saved stack pointer outside the shared stack");
  size_t used = (size_t)(loop->shared_hi - sp);
  /* The buffer grows to the size in use (rounded to malloc's 16-byte
   * granule, which costs nothing), and shrinks when it is far too big, so
   * an idle coroutine holds what its frames use, not its peak. */
  size_t cap = owner->stk.s.saved_cap;
  size_t want = round_up(used, 16);
  if (used > cap || (cap > SAVED_KEEP_MAX && want != 0 && want < cap / 4)) {
    /* (Never realloc to 0 bytes: glibc would free the buffer.) */
    void *buf = coro__realloc_at(CORO__FP_STACK_SAVE, owner->stk.s.saved, want);
    if (buf == NULL) {
      if (used > cap)
        return -ENOMEM; /* still resident: the caller may try again */
    } else {
      owner->stk.s.saved = buf;
      owner->stk.s.saved_cap = (uint32_t)want;
    }
  }
  copy_stack(owner->stk.s.saved, sp, used);
  loop->n_saved_bytes -= owner->stk.s.saved_len;
  owner->stk.s.saved_len = (uint32_t)used;
  if (owner->peak < (uint32_t)used)
    owner->peak = (uint32_t)used; /* coro_loop_dump's stack_peak */
  loop->n_saved_bytes += used;
  if (loop->shared_owner == owner)
    coro__shared_own(loop, NULL);
  return 0;
}

/* Also the way a new coroutine (saved_len 0) goes onto the shared stack
 * before its first frame is built there: nothing is copied, but the stack
 * is made fresh for it (the sanitizer states below). */
void coro__shared_restore(coro_loop *loop, coro *co) {
  size_t len = co->stk.s.saved_len;
  char *dst = loop->shared_hi - len;
#ifdef CORO_VALGRIND
  /* Memcheck marked what the previous owner's frames popped as
   * inaccessible; these bytes become live stack again (the copy then
   * carries over the saved bytes' definedness), and so does a margin below
   * them: the x86-64 red zone, and the return address that swapcontext
   * pushes below the resumed stack pointer. */
  char *from = dst - loop->shared_lo > VG_MARGIN ? dst - VG_MARGIN
                                                 : loop->shared_lo;
  VALGRIND_MAKE_MEM_UNDEFINED(from, (size_t)(loop->shared_hi - from));
#endif
  copy_stack(dst, co->stk.s.saved, len);
#if CORO__ASAN_ON
  /* The shadow still describes the previous owner's frames (redzones
   * poisoned at other depths); none of it applies to co. The whole stack
   * is cleared, not only the restored part, because co's deeper frames
   * will land below it where the previous owner's redzones may be. */
  __asan_unpoison_memory_region(loop->shared_lo,
                                (size_t)(loop->shared_hi - loop->shared_lo));
#endif
  loop->n_saved_bytes -= len;
  co->stk.s.saved_len = 0; /* the copy is stale once co runs */
  coro__shared_own(loop, co);
}

void coro__shared_own(coro_loop *loop, coro *co) {
  if (loop->shared_owner != NULL)
    loop->shared_owner->flags |= CORO__F_AWAY;
  if (co != NULL)
    co->flags &= (uint8_t)~CORO__F_AWAY;
  loop->shared_owner = co;
}

/* ---- SHARED records --------------------------------------------------- */

static int shared_alloc(coro_loop *loop, coro **out, char **lo, char **hi) {
  if (loop->shared_map == NULL) {
    int err = coro__shared_init(loop);
    if (err < 0)
      return err;
  }
  coro *co = loop->rec_free;
  if (co != NULL) {
    loop->rec_free = co->rnext;
    loop->rec_free_len--;
    void *saved = co->stk.s.saved;
    uint32_t cap = co->stk.s.saved_cap;
    zero_record(co);
    co->stk.s.saved = saved;
    co->stk.s.saved_cap = cap;
  } else {
    /* Plain malloc, not a 64-byte aligned allocation: with a million
     * records the alignment padding would cost more than it saves. */
    co = coro__calloc(1, sizeof *co);
    if (co == NULL)
      return -ENOMEM;
  }
  co->stack_mode = CORO_STACK_SHARED;
  *out = co;
  *lo = loop->shared_lo;
  *hi = loop->shared_hi;
  return 0;
}

static void shared_release(coro_loop *loop, coro *co) {
  co->magic = CORO__MAGIC_DEAD;
  if (loop->shared_owner == co) {
    /* It ended its run on the shared stack: the last chance to see an
     * overflow it caused. */
    if (loop->shared_map != NULL && !canary_ok(loop))
      coro__panic(co, "stack overflow (canary)");
    coro__shared_own(loop, NULL);
  }
  loop->n_saved_bytes -= co->stk.s.saved_len;
  co->stk.s.saved_len = 0;
  if (co->stk.s.saved_cap > SAVED_KEEP_MAX) {
    free(co->stk.s.saved);
    co->stk.s.saved = NULL;
    co->stk.s.saved_cap = 0;
  }
  if (loop->rec_free_len >= CORO__REC_CACHE_MAX) {
    free(co->stk.s.saved);
    free(co);
    return;
  }
  /* Kept (not freed) so that a stale handle reads DEAD, like a cached
   * guarded record; freed by coro__stack_drain. */
  co->rnext = loop->rec_free;
  loop->rec_free = co;
  loop->rec_free_len++;
}

/* ---- The contract ----------------------------------------------------- */

int coro__stack_alloc(coro_loop *loop, int mode, size_t size, size_t guard,
                      coro **out, char **lo, char **hi) {
  if (mode == CORO_STACK_GUARDED) {
    size_t g = loop->guard_size;
    if (guard != 0 && coro__guard_size(guard, &g) < 0)
      return -EINVAL;
    return guarded_alloc(loop, size, g, out, lo, hi);
  }
  if (mode == CORO_STACK_SHARED)
    return shared_alloc(loop, out, lo, hi);
  return -EINVAL;
}

void coro__stack_release(coro_loop *loop, coro *co) {
  if (co->stack_mode == CORO_STACK_SHARED)
    shared_release(loop, co);
  else
    guarded_release(loop, co);
}

void coro__stack_drain(coro_loop *loop) {
  while (loop->cache != NULL) {
    coro *co = loop->cache;
    loop->cache = co->rnext;
    loop->cache_len--;
    guarded_unmap(loop, co);
  }
  while (loop->rec_free != NULL) {
    coro *co = loop->rec_free;
    loop->rec_free = co->rnext;
    loop->rec_free_len--;
    free(co->stk.s.saved);
    free(co);
  }
  if (loop->shared_map != NULL) {
    forget_stack(tail_of(loop->shared_map, loop->shared_map_size),
                 loop->shared_lo, loop->shared_hi);
    munmap(loop->shared_map, loop->shared_map_size);
    loop->shared_map = NULL;
    loop->shared_map_size = 0;
    loop->shared_lo = loop->shared_hi = NULL;
    loop->shared_owner = NULL;
  }
}

/* ---- Overflow reports ------------------------------------------------- */

/* The handlers that were installed before ours, called for every fault
 * that is not a coroutine's overflow. Written once (under pthread_once)
 * before our handler can run. */
static struct sigaction prev_segv, prev_bus;
static pthread_once_t overflow_once = PTHREAD_ONCE_INIT;
static int overflow_err;

/* The alternate signal stack this thread got from coro__overflow_init
 * (NULL if none), and the loop it is installed for (NULL while it is
 * disabled). Once registered, the mapping stays until the thread exits
 * (alt_exit, a thread-specific data destructor): releasing it with the
 * loop only disables it. Disabling is not enough to unmap it, because
 * valgrind (3.19) keeps a disabled alternate stack's address and size and
 * delivers every later SA_ONSTACK signal there: the engine's own handlers
 * (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE: installed for the process,
 * for good) would then run on unmapped memory, and a plain abort() after
 * the loop was freed (or in a child forked then) died of SIGSEGV ("Can't
 * extend stack ... during signal delivery"). The kernel forgets a disabled
 * stack, so natively the difference is 68 KiB of address space (a page or
 * two resident) per thread that ever ran a loop, reused by its next loop. */
static _Thread_local char *alt_map;
static _Thread_local size_t alt_map_size;
static _Thread_local coro_loop *alt_loop;
static pthread_key_t alt_key;
static pthread_once_t alt_key_once = PTHREAD_ONCE_INIT;
static int alt_key_err;

/* The report (async-signal-safe: crash.c's put_ functions and write),
 * with the backtrace of the overflowing coroutine from the fault's
 * context; then abort. */
static _Noreturn void report_overflow(const coro_loop *loop, const coro *co,
                                      const void *uctx) {
  char buf[4096];
  char *p = buf, *end = buf + sizeof buf;
  p = coro__put_str(p, end, "coro: stack overflow in coroutine ");
  p = coro__put_u64(p, end, co->id);
  p = coro__put_str(p, end, " \"");
  p = coro__put_str(p, end, co->name != NULL ? co->name : "");
  p = coro__put_str(p, end, "\" (loop \"");
  p = coro__put_str(p, end, loop->name != NULL ? loop->name : "");
  p = coro__put_str(p, end, "\")\n");
  p = coro__put_backtrace(p, end, co, uctx);
  coro__write_all(STDERR_FILENO, buf, (size_t)(p - buf));
  abort();
}

/* True if addr lies in the guard of the stack the running coroutine of
 * this thread's loop is on. Main (the loop thread's own stack) has no
 * mapping of ours, and a NULL map must not make page 0 look like a guard.
 * (The guard's size is read from the mapping's tail: mapped, and written
 * once before the stack was first used.) */
static bool in_guard_page(const coro_loop *loop, const coro *co,
                          const char *addr) {
  const char *g;
  size_t size;
  if (co->stack_mode == CORO_STACK_SHARED) {
    g = loop->shared_map;
    size = g != NULL ? tail_of(loop->shared_map, loop->shared_map_size)->guard
                     : 0;
  } else {
    g = co->stk.g.map;
    size = g != NULL ? guard_of(co) : 0;
  }
  return g != NULL && addr >= g && addr < g + size;
}

/* Hand a fault we do not own to the handler that was there before ours,
 * the way the kernel would have called it. */
void coro__signal_chain(int sig, siginfo_t *info, void *uctx,
                        const struct sigaction *prev) {
  bool sent = info->si_code <= 0; /* kill/raise/sigqueue, not a fault */
  if (!(prev->sa_flags & SA_SIGINFO) &&
      (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN)) {
    /* The kernel ignores a sent signal whose action is SIG_IGN, but forces
     * the default action for a real fault. */
    if (prev->sa_handler == SIG_IGN && sent)
      return;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    /* A fault re-executes the faulting instruction on return and then
     * meets the default action; a sent signal must be sent again (it stays
     * pending while blocked in here and is delivered on return). */
    if (sent)
      raise(sig);
    return;
  }
  /* The mask the kernel would have set: the interrupted one plus the
   * handler's sa_mask plus the signal itself unless SA_NODEFER. */
  sigset_t mask, old;
  const ucontext_t *uc = uctx;
  if (uc != NULL)
    mask = uc->uc_sigmask;
  else
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
  sigorset(&mask, &mask, &prev->sa_mask);
  if (!(prev->sa_flags & SA_NODEFER))
    sigaddset(&mask, sig);
  else
    sigdelset(&mask, sig);
  pthread_sigmask(SIG_SETMASK, &mask, &old);
  if (prev->sa_flags & SA_RESETHAND) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
  }
  if (prev->sa_flags & SA_SIGINFO)
    prev->sa_sigaction(sig, info, uctx);
  else
    prev->sa_handler(sig);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The SIGSEGV/SIGBUS handler. It runs on the thread's alternate signal
 * stack (SA_ONSTACK): the faulting coroutine's stack is exhausted. Only a
 * fault the kernel raised (si_code > 0; only then is si_addr meaningful)
 * inside the guard page of the stack the current coroutine runs on is an
 * overflow; everything else (a Go nil dereference, a fault in unrelated C
 * code, a sanitizer's own use) goes to the previous handler. */
static void on_fault(int sig, siginfo_t *info, void *uctx) {
  int saved_errno = errno;
  coro_loop *loop = coro__tls_loop;
  if (info->si_code > 0 && loop != NULL) {
    coro *co = loop->current;
    if (co != NULL && co != &loop->main &&
        in_guard_page(loop, co, (const char *)info->si_addr))
      report_overflow(loop, co, uctx);
  }
  coro__crash_report(sig, info, uctx); /* a fault in a coroutine's code */
  errno = saved_errno;
  coro__signal_chain(sig, info, uctx, sig == SIGBUS ? &prev_bus : &prev_segv);
  errno = saved_errno;
}

/* Install on_fault for SIGSEGV and SIGBUS, keeping the previous actions.
 * The previous action is read first and stored before ours is installed,
 * so a fault on another thread in between never finds prev_* unset.
 *   SA_ONSTACK: required; the fault is on an exhausted stack. Go's
 *     handler, when we chain to it, also insists on running on the signal
 *     stack (else: fatal error "non-Go code set up signal handler without
 *     SA_ONSTACK flag").
 *   SA_SIGINFO: for si_addr and to chain with the original arguments.
 *   No SA_NODEFER: a fault inside the handler itself then kills the
 *     process at once instead of recursing on the alternate stack.
 *   sa_mask empty: chain() sets the previous handler's own mask. */
static void overflow_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, NULL, &prev_segv) != 0 ||
      sigaction(SIGBUS, NULL, &prev_bus) != 0 ||
      sigaction(SIGSEGV, &sa, &prev_segv) != 0 ||
      sigaction(SIGBUS, &sa, &prev_bus) != 0)
    overflow_err = -errno;
}

/* At the exit of a thread that mapped an alternate stack: disable it if
 * it is still installed (a loop never freed), then unmap it; unless the
 * thread is exiting from a handler running on it (pthread_exit in a
 * handler), which would unmap the stack this very code runs on. */
static void alt_exit(void *map) {
  stack_t cur;
  if (sigaltstack(NULL, &cur) != 0)
    return;
  if (!(cur.ss_flags & SS_DISABLE) &&
      (char *)cur.ss_sp == (char *)map + page_size()) {
    if (cur.ss_flags & SS_ONSTACK)
      return;
    stack_t off;
    memset(&off, 0, sizeof off);
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, NULL);
  }
  munmap(map, alt_map_size);
  alt_map = NULL;
  alt_map_size = 0;
  alt_loop = NULL;
}

static void alt_key_create(void) {
  alt_key_err = -pthread_key_create(&alt_key, alt_exit);
}

int coro__overflow_init(coro_loop *loop) {
  pthread_once(&overflow_once, overflow_install);
  if (overflow_err != 0)
    return overflow_err;
  int rc = coro__crash_init(); /* the other fatal signals (crash.c) */
  if (rc < 0)
    return rc;
  /* A handler on an exhausted stack cannot run, so the thread needs an
   * alternate signal stack. One that exists already (Go gives each of its
   * threads one; a sanitizer may have installed one) is used as it is. */
  stack_t cur;
  if (sigaltstack(NULL, &cur) != 0)
    return -errno;
  if (!(cur.ss_flags & SS_DISABLE))
    return 0;
  size_t p = page_size();
  bool fresh = alt_map == NULL;
  if (fresh) {
    pthread_once(&alt_key_once, alt_key_create);
    if (alt_key_err != 0)
      return alt_key_err;
    size_t size = ALTSTACK_SIZE;
#ifdef _SC_SIGSTKSZ
    /* Signal frames grow with the CPU's vector state (AVX-512, AMX, SVE);
     * libc's recommendation already allows for it. */
    long need = sysconf(_SC_SIGSTKSZ);
    if (need > 0 && (size_t)need > size)
      size = (size_t)need;
#endif
    size = round_up(size, p);
    /* With a guard page of its own, so an overflowing handler faults (and
     * the kernel kills the process) instead of writing below the stack. */
    char *map;
    int err = map_guarded(p + size, p, &map);
    if (err < 0)
      return err;
    if ((err = pthread_setspecific(alt_key, map)) != 0) {
      munmap(map, p + size);
      return -err;
    }
    alt_map = map;
    alt_map_size = p + size;
  }
  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_sp = alt_map + p;
  ss.ss_size = alt_map_size - p;
  ss.ss_flags = 0;
  if (sigaltstack(&ss, NULL) != 0) {
    int err = -errno;
    if (fresh) {
      /* Never registered: nothing can deliver a signal onto it. */
      pthread_setspecific(alt_key, NULL);
      munmap(alt_map, alt_map_size);
      alt_map = NULL;
      alt_map_size = 0;
    }
    return err;
  }
  alt_loop = loop;
  return 0;
}

void coro__altstack_release(coro_loop *loop) {
  if (alt_map == NULL || alt_loop != loop)
    return;
  alt_loop = NULL;
  /* Disabled only if it is still the one installed and not in use; else
   * someone replaced it and may put it back later (as Go does when a C
   * thread leaves Go). Either way it stays mapped (see alt_map). */
  stack_t cur;
  if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) &&
      !(cur.ss_flags & SS_ONSTACK) && cur.ss_sp == alt_map + page_size()) {
    stack_t off;
    memset(&off, 0, sizeof off);
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, NULL);
  }
}
