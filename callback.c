/* callback.c - the C half of the Go bindings: the trampolines through which
 * the engine calls back into Go. cgo compiles this file as part of package
 * github.com/ccoro/coro; the Go functions it calls are the //export ones of
 * callback.go, declared in the cgo-generated _cgo_export.h.
 *
 * The one rule every function here serves: Go code runs only on stacks the
 * Go runtime knows (a goroutine stack or the thread's system stack), never
 * on a coroutine stack. See DEVELOPERS.md.
 */
#include "coro.h"
#include "coro_go.h"
#include "coro_internal.h" /* the fault points' wrappers (fault.c) */
#include "spawn.h"

#include "_cgo_export.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A call from a coroutine into Go. It lives on the calling coroutine's
 * stack, which coro_call_on_loop keeps valid (in every stack mode) until
 * the call returns. */
struct coro__go_req {
  uintptr_t fn;
  uintptr_t arg;
  uintptr_t result;
  int rc;
};

/* Runs on the loop thread's own stack, where cgo may call into Go. */
static void coro__go_tramp(void *p) {
  struct coro__go_req *req = p;
  req->rc = coro__go_dispatch(req->fn, req->arg, &req->result);
}

int coro_go_call(uintptr_t fn, void *arg, void **result) {
  /* Go sees arguments and results as integers (uintptr), never as
   * pointers: see coro.go. */
  struct coro__go_req req = {fn, (uintptr_t)arg, 0, 0};
  int rc = coro_call_on_loop(coro__go_tramp, &req);
  if (rc < 0)
    return rc;
  if (req.rc == 0 && result != NULL)
    *result = (void *)req.result;
  return req.rc;
}

/* ---- Completions of Go spawns ------------------------------------------
 *
 * The engine reports a finished coroutine on the loop thread (on_done).
 * Calling Go from there would cost a C->Go callback per completion, which
 * needs a P the loop's long cgo call has given up (tens of microseconds on
 * a busy program), and then a goroutine hand-off. Instead on_done only
 * pushes the coroutine's record on its loop's completion queue, in C; the
 * Go side learns of outcomes by itself (completion.go):
 *   - a waiter polls the coro_remote's done word (an atomic load of C
 *     memory), or the answer in the polling slot its Spawn went through
 *     (`slots`, csrc/sched.c "Polling slots"), and finishes the coroutine
 *     itself when it sees it;
 *   - records in the queue are taken in batches, as their slab keys
 *     (udata), by Spawn and by a per-loop dispatcher goroutine, which
 *     sleeps in Go's netpoller on `efd`. The loop writes efd only for a
 *     coroutine that a goroutine is parked on (its record's `notify`)
 *     while the dispatcher is asleep (`sleeping`), so a completion nobody
 *     is parked on costs no syscall.
 *
 * The queue is a ring of (key, record) entries that only the loop thread
 * writes and takers read under their mutex, in order: a take reads them a
 * line at a time and fetches the records' outcome lines together. It was a
 * lock-free stack linked through the records' `next`, which a take walked
 * one record, and one transfer of a line between the CPUs, after another (a
 * tenth of the Go side's time with 64 goroutines doing Spawn + Wait; the
 * ring made them 7% faster). When the ring is full, records go on that stack
 * (the loop's list of finished records is done with `next` by the time of
 * on_done, and the record cache's starts only once the record is freed), and
 * so do the records that finish while the loop closes, for the final take.
 * The queue holds a reference to each record it holds, taken in on_done: Go
 * may release its own before the record is taken (Close gave up on the
 * coroutine), and a record freed while queued would be reused under its
 * entry (on the stack, it would go to the record cache through the very
 * link the stack uses). on_done takes no lock and never allocates: with a
 * mutex here, a taker holding it blocked the loop thread in the kernel (a
 * futex wait and wake for one Spawn + Wait in ten to a busy loop, which
 * doubled its 99th percentile), and the loop thread holding it blocked the
 * takers. */

/* The ring's size (a power of two): 16 KiB a loop. More records queued at
 * once (a burst of completions that nobody takes meanwhile) go on the
 * stack. */
#define CQ_RING 1024

/* A completion in the ring: the record's slab key, and the record. */
typedef struct {
  uintptr_t key;
  coro_remote *r;
} cq_entry;

typedef struct coro__go_cq {
  /* The ring: the loop thread writes entries and then publishes them by
   * moving ring_tail; a take reads them under mu and then frees them by
   * moving ring_head. The loop reads ring_head only when its own copy
   * says the ring is full; the takers read ring_tail once per take. */
  char pad_ring[64];
  cq_entry ring[CQ_RING];
  char pad_tail[64];
  atomic_size_t ring_tail; /* entries the loop has published */
  size_t head_seen;        /* loop thread only: ring_head as last read */
  char pad_ring_head[64];
  atomic_size_t ring_head; /* entries taken: written under mu */
  /* The loop thread pushes, takers exchange: on a line of their own. */
  char pad_head[64];
  _Atomic(coro_remote *) done;   /* finished records that found the ring
                                    full, newest first */
  _Atomic(coro_remote *) closed; /* those that finished during the loop's
                                    close: only the final take's */
  atomic_int queued;   /* records pushed and not yet taken: +1 in on_done
                          (before the push), -k by a take (after its
                          exchange), so never below the true count */
  atomic_int hold;     /* closing: only the final take may take records */
  atomic_int sleeping; /* the dispatcher is about to block on efd */
  int closing;         /* loop thread only: coro_loop_close is running */
  int efd;             /* eventfd, non-blocking; read by the dispatcher */
  /* The spawners' count, on a line of its own: every Spawn adds to it,
   * and on the loop's line it waited for the line that the loop had just
   * written. */
  char pad_untaken[64];
  atomic_size_t untaken; /* spawned and not yet taken (>= queued) */
  /* The takers' side: a take moves at most n records, and keeps the rest
   * of what it exchanged for the next take. The loop never takes mu. */
  char pad_takers[64];
  pthread_mutex_t mu;
  coro_remote *left;        /* under mu: exchanged from done, not taken */
  coro_remote *left_closed; /* under mu: exchanged from closed */
  /* The polling slots (csrc/sched.c "Polling slots"), a line each: Go
   * hands each to one Spawn at a time, whose Wait will poll it
   * (Loop.spawn). */
  coro__slot slots[CORO__GO_SLOTS];
  /* Go's count, which on_done reads and Go changes, on a line of its
   * own: every polling Wait writes it twice. on_done reads it only for a
   * coroutine that a goroutine is parked on, so a lone goroutine's
   * Spawn + Wait does not pull the line to the loop thread and back. */
  char pad_helping[64];
  atomic_int helping;  /* Waits polling this loop, which take keys too */
  /* Dispatcher wakes written to efd (tests), on the same line: written
   * only by on_done, when it wakes the dispatcher. */
  atomic_ulong wakes;
  /* Completions that found the ring full (tests), likewise. */
  atomic_ulong overflows;
  char pad_end[64];
} coro__go_cq;

/* The queue of the loop that runs on this thread (on_done's). */
static _Thread_local coro__go_cq *coro__go_tls_cq;

coro__go_cq *coro__go_cq_new(int *fd) {
  /* Aligned for the slots' lines (and the pads'). */
  coro__go_cq *q = NULL;
  if (coro__fault(CORO__FP_ALLOC) ||
      posix_memalign((void **)&q, 64, sizeof *q) != 0) {
    errno = ENOMEM;
    return NULL;
  }
  memset(q, 0, sizeof *q);
  q->efd = coro__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (q->efd < 0) {
    int e = errno;
    free(q);
    errno = e;
    return NULL;
  }
  pthread_mutex_init(&q->mu, NULL);
  *fd = q->efd;
  return q;
}

/* Drops the queue's references to the records of the list rs (only what
 * a bug left behind: one release each). */
static void release_list(coro_remote *rs) {
  while (rs) {
    coro_remote *next = rs->next;
    coro_remote_release(rs);
    rs = next;
  }
}

/* Frees q but not its eventfd, which Go's os.File owns and closes. The
 * final take has emptied it; whatever a bug left is released. */
void coro__go_cq_free(coro__go_cq *q) {
  for (size_t i = atomic_load(&q->ring_head); i != atomic_load(&q->ring_tail);
       i++)
    coro_remote_release(q->ring[i & (CQ_RING - 1)].r);
  release_list(atomic_exchange(&q->done, NULL));
  release_list(atomic_exchange(&q->closed, NULL));
  release_list(q->left);
  release_list(q->left_closed);
  pthread_mutex_destroy(&q->mu);
  free(q);
}

/* On the loop thread, before it runs the loop. */
void coro__go_cq_bind(coro__go_cq *q, coro_loop *l) {
  coro__go_tls_cq = q;
  coro__loop_set_slots(l, q->slots, CORO__GO_SLOTS);
}

/* Slot i's address, which Go polls without a call (Coroutine.poll). */
coro__slot *coro__go_cq_slot(coro__go_cq *q, int i) { return &q->slots[i]; }

/* Where a slot's request number and answer lie, for Go to read them
 * (req and resp, uint64s; result, a void * read as a uintptr; ok, an
 * int). */
size_t coro__go_slot_req_off(void) { return offsetof(coro__slot, req); }
size_t coro__go_slot_resp_off(void) { return offsetof(coro__slot, resp); }
size_t coro__go_slot_result_off(void) { return offsetof(coro__slot, result); }
size_t coro__go_slot_ok_off(void) { return offsetof(coro__slot, ok); }

/* Requests the loop took from slots (tests). */
unsigned coro__go_loop_slot_starts(coro_loop *l) {
  return coro__loop_slot_starts(l);
}

/* The number of the last request the loop took from each slot, which Go
 * reads with its own atomic loads while the loop lives (Loop.claimSlot). */
_Static_assert(sizeof(atomic_uint_least64_t) == sizeof(uint64_t) &&
                   ATOMIC_LONG_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
               "Go's 64-bit atomics on slot_seen need a plain lock-free word");
const uint64_t *coro__go_loop_slot_seen(coro_loop *l) {
  return (const uint64_t *)coro__loop_slot_seen(l);
}

/* On the loop thread, before coro_loop_close: from now on records go to
 * `closed`, only the final take gets any, and efd is never written again
 * (Go closes it). */
void coro__go_cq_hold(coro__go_cq *q) {
  atomic_store(&q->hold, 1);
  q->closing = 1;
}

/* Moves up to n completions from the ring into keys (key << 1) and recs;
 * returns how many. Under q->mu. The records' outcome lines, which the
 * caller reads next (Loop.take), are fetched together here: a walk from
 * record to record met one transfer between CPUs after another. */
static size_t take_ring(coro__go_cq *q, uintptr_t *keys, uintptr_t *recs,
                        size_t n) {
  size_t head = atomic_load_explicit(&q->ring_head, memory_order_relaxed);
  /* seq_cst, not only acquire: the helpers' pair (see on_done) needs this
   * load ordered after the helper's seq_cst update of `helping`, which an
   * exchange of the stack's head gave the stack for free. The same plain
   * load on x86-64, LDAR on arm64. */
  size_t tail = atomic_load(&q->ring_tail);
  size_t k = tail - head < n ? tail - head : n;
  for (size_t i = 0; i < k; i++) {
    const cq_entry *e = &q->ring[(head + i) & (CQ_RING - 1)];
    keys[i] = e->key << 1;
    recs[i] = (uintptr_t)e->r;
    __builtin_prefetch(&e->r->done);
  }
  /* The entries are read: the loop may write them again. */
  atomic_store_explicit(&q->ring_head, head + k, memory_order_release);
  return k;
}

/* Moves up to n records from *from (a taker's leftovers), and once they
 * run out from the shared stack src, into keys (each key << 1 | closing)
 * and recs; returns how many. Fewer than n only when both were empty:
 * every caller goes on taking until it gets fewer than it asked for, and
 * then nothing it could take is left. Under q->mu. */
static size_t take_from(coro_remote **from, _Atomic(coro_remote *) *src,
                        uintptr_t *keys, uintptr_t *recs, size_t n,
                        uintptr_t closing) {
  size_t k = 0;
  while (k < n && (*from || (*from = atomic_exchange(src, NULL)))) {
    coro_remote *r = *from;
    keys[k] = (uintptr_t)r->udata << 1 | closing;
    recs[k++] = (uintptr_t)r;
    *from = r->next;
  }
  return k;
}

/* Moves up to n records into keys (Go memory, for this call only: each
 * the record's slab key << 1, | 1 if it finished during the loop's close)
 * and recs (the records, whose queue references the caller releases once
 * it has read them); returns how many. While held, only a final take gets
 * any. */
size_t coro__go_cq_take(coro__go_cq *q, uintptr_t *keys, uintptr_t *recs,
                        size_t n, int final) {
  size_t k = 0;
  pthread_mutex_lock(&q->mu);
  if (!atomic_load(&q->hold) || final) {
    k = take_ring(q, keys, recs, n);
    if (k < n)
      k += take_from(&q->left, &q->done, keys + k, recs + k, n - k, 0);
    if (final && k < n)
      k += take_from(&q->left_closed, &q->closed, keys + k, recs + k, n - k,
                     1);
  }
  pthread_mutex_unlock(&q->mu);
  if (k > 0) {
    atomic_fetch_sub(&q->queued, (int)k);
    atomic_fetch_sub(&q->untaken, k);
  }
  return k;
}

/* The dispatcher is going to block on efd: 1 if it must not, because
 * records are waiting (then it takes them first). A Dekker pair with
 * on_done (seq_cst): it stores sleeping and loads the ring's tail and the
 * stack, on_done pushes, fences and then exchanges sleeping, so either
 * the dispatcher sees the record or on_done sees it sleeping and writes
 * efd. Leftovers of a take are that taker's to finish: every take loops
 * until it got fewer than it asked for, and then none are left. */
int coro__go_cq_sleep(coro__go_cq *q) {
  atomic_store(&q->sleeping, 1);
  int pending = !atomic_load(&q->hold) &&
                (atomic_load(&q->ring_tail) != atomic_load(&q->ring_head) ||
                 atomic_load(&q->done) != NULL);
  if (pending)
    atomic_store(&q->sleeping, 0);
  return pending;
}

/* 1 while the dispatcher is blocked on efd, or about to be (tests). */
int coro__go_cq_sleeping(coro__go_cq *q) { return atomic_load(&q->sleeping); }

/* The completions that found the ring full and went on the stack (tests). */
unsigned long coro__go_cq_overflows(coro__go_cq *q) {
  return atomic_load_explicit(&q->overflows, memory_order_relaxed);
}

/* The ring's size (tests). */
size_t coro__go_cq_ring_size(void) { return CQ_RING; }

/* The dispatcher wakes that on_done wrote to efd (tests). */
unsigned long coro__go_cq_wakes(coro__go_cq *q) {
  return atomic_load_explicit(&q->wakes, memory_order_relaxed);
}

/* The queue's count and its count of helpers: Waits that poll one of
 * this loop's coroutines and meanwhile take the queue's records, so that
 * the loop need not wake the dispatcher (completion.go). Go reads and
 * changes both with atomic operations while q lives, without a call.
 * `helping` and `queued` are a Dekker pair (seq_cst): on_done adds to
 * queued, pushes, and (for a record a goroutine is parked on, the only
 * kind that needs a wake) fences and loads helping; a helper that stops
 * decrements helping then loads queued and takes; so either the helper
 * sees the record and takes it or on_done sees no helper. */
const int *coro__go_cq_queued(coro__go_cq *q) {
  return (const int *)&q->queued;
}

int *coro__go_cq_helping(coro__go_cq *q) { return (int *)&q->helping; }

/* On the loop thread: puts r in the ring, 0 if it is full. */
static int ring_push(coro__go_cq *q, coro_remote *r) {
  size_t tail = atomic_load_explicit(&q->ring_tail, memory_order_relaxed);
  if (tail - q->head_seen >= CQ_RING) {
    q->head_seen = atomic_load_explicit(&q->ring_head, memory_order_acquire);
    if (tail - q->head_seen >= CQ_RING)
      return 0;
  }
  q->ring[tail & (CQ_RING - 1)] = (cq_entry){(uintptr_t)r->udata, r};
  atomic_store_explicit(&q->ring_tail, tail + 1, memory_order_release);
  return 1;
}

/* On the loop thread: pushes r on the stack *head. */
static void stack_push(_Atomic(coro_remote *) *head, coro_remote *r) {
  coro_remote *old = atomic_load_explicit(head, memory_order_relaxed);
  do
    r->next = old;
  while (!atomic_compare_exchange_weak(head, &old, r));
}

/* The engine's on_done for Go spawns: on the loop thread, on its stack,
 * after the outcome is published in r and before the loop drops its
 * reference. */
static void coro__go_on_done(coro_remote *r, void *udata) {
  (void)udata; /* read from the record by the take */
  coro__go_cq *q = coro__go_tls_cq;
  coro__remote_ref(r); /* the queue's */
  /* Counted before the push, so that the count is never below what the
   * queue holds (a take subtracts what it took). The helpers' Dekker
   * pair still holds: a helper that sees the count before the push is
   * visible and takes nothing was seen to stop by the load of helping
   * below (after the push and a fence), or the push came before its
   * take. */
  atomic_fetch_add(&q->queued, 1);
  if (q->closing) {
    stack_push(&q->closed, r);
  } else if (!ring_push(q, r)) { /* full: the stack */
    atomic_fetch_add_explicit(&q->overflows, 1, memory_order_relaxed);
    stack_push(&q->done, r);
  }
  /* Closing: the final take finishes everything. While a Wait polls,
   * it takes this record soon: one helper turns a batch of completions
   * into no syscall at all, where the dispatcher costs an eventfd write
   * and a netpoller wake-up per batch.
   *
   * notify: a goroutine parked on this coroutine. It was a count of the
   * loop's parked goroutines, on a line of the queue: each park and each
   * finish moved it to the Go side and each completion back, two or three
   * transfers between CPUs per parked Spawn + Wait (parking Waits with
   * GOMAXPROCS 1 spent a sixth of their thread's time on them). In the
   * record, it lies beside what the report has just read and written.
   * The parker stores it, then loads done; publish stored done before
   * the report's fence (coro__remote_report), and this load comes after
   * it: either the parker sees the outcome, or this sees the flag. */
  if (q->closing || !atomic_load(&r->notify))
    return;
  /* The push before the loads below (a ring push is a plain store): the
   * helpers' pair (helping, then queued and the take) and the
   * dispatcher's (sleeping, then the ring) both need it. Paid only for a
   * coroutine a goroutine is parked on. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load(&q->helping) == 0 && atomic_exchange(&q->sleeping, 0)) {
    atomic_fetch_add_explicit(&q->wakes, 1, memory_order_relaxed);
    uint64_t one = 1;
    ssize_t w = write(q->efd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero */
  }
}

/* The options come as scalars and the results go back in a struct
 * returned by value (spawn.h): three of Spawn's five allocations per call
 * were its variables that escaped because their addresses went to C. */
coro__go_spawned coro__go_remote_spawn(coro_loop *loop, coro__go_cq *q,
                                       uintptr_t fn, uintptr_t arg,
                                       int stack_mode, size_t stack_size,
                                       size_t guard_size, const char *name,
                                       uintptr_t udata, int defer_wake,
                                       int beat, int slot, uint64_t req) {
  coro__go_spawned s = {0};
  /* untaken counts the queued records too (it is at least their number):
   * below the mark there cannot be enough to take. */
  size_t untaken = atomic_fetch_add(&q->untaken, 1) + 1;
  if (untaken >= CORO__GO_TAKE_AT)
    s.pending = (size_t)atomic_load_explicit(&q->queued, memory_order_relaxed);
  coro_opts opts = {.stack_mode = stack_mode,
                    .stack_size = stack_size,
                    .name = name,
                    .guard_size = guard_size};
  /* fn is a C function's address, carried by Go as a coro.Entry
   * (an integer: see CORO_GO_ENTRY in coro_go.h). */
  int *owe = defer_wake && !coro__tls_loop ? &s.owe : NULL;
  if (slot >= 0 && slot < CORO__GO_SLOTS)
    s.rc = coro__remote_spawn_slot(loop, &q->slots[slot], (coro_fn)fn,
                                   (void *)arg, coro__go_on_done,
                                   (void *)udata, &s.r, owe, req);
  else
    s.rc = coro__remote_spawn_owe(loop, (coro_fn)fn, (void *)arg, &opts,
                                  coro__go_on_done, (void *)udata, &s.r,
                                  owe, beat);
  if (s.rc < 0) {
    atomic_fetch_sub(&q->untaken, 1);
    s.r = NULL;
    return s;
  }
  s.id = coro_remote_id(s.r);
  return s;
}

void coro__go_loop_wake(coro_loop *loop) { coro__loop_wake(loop); }

/* For tests: 1 while the loop has announced a sleep and no post has
 * claimed its wake. Asked of sched.c: this file never reads coro_loop's
 * fields, whose layout depends on CORO_SWITCH_UCONTEXT (the ucontext
 * switch's context is larger), a define only the csrc package is built
 * with (the coro_ucontext tag); read here, `sleeping` came from the
 * wrong offset under that tag, and the test waiting for it never ended. */
int coro__go_loop_asleep(coro_loop *l) { return coro__loop_asleep(l); }

/* For tests: 1 while a stop of the loop is pending (Close asked for it,
 * and the loop thread has not yet left its run). */
int coro__go_loop_stopping(coro_loop *l) { return coro__loop_stopping(l); }

/* Where a record's outcome lies, for Go to read it without a call once
 * the done word holds the id (remote.c publishes result and err before
 * done and never changes them after): result is a void *, read by Go as a
 * uintptr, err an int. */
size_t coro__go_remote_result_off(void) {
  return offsetof(coro_remote, result);
}

size_t coro__go_remote_err_off(void) { return offsetof(coro_remote, err); }

/* Where a record's done word lies, which Go polls with an atomic load
 * instead of a call: the id once the outcome is published (remote.c). */
_Static_assert(sizeof(atomic_uint_least64_t) == sizeof(uint64_t),
               "Go's 64-bit atomics on done need a plain word");
size_t coro__go_remote_done_off(void) { return offsetof(coro_remote, done); }

/* Where a record's notify flag lies, which a parking goroutine sets with
 * an atomic store while it holds the record (Coroutine.park). */
size_t coro__go_remote_notify_off(void) {
  return offsetof(coro_remote, notify);
}

/* The loop's liveness words (sched.c "Liveness") as plain ints, which Go
 * reads and adds to with its own atomic operations while the loop lives
 * (atomic_uint has unsigned's layout). */
_Static_assert(sizeof(atomic_uint) == sizeof(unsigned) &&
                   ATOMIC_INT_LOCK_FREE == 2,
               "Go's 32-bit atomics on the beats need a plain lock-free int");

unsigned *coro__go_loop_beat(coro_loop *l) {
  return (unsigned *)coro__loop_beat(l);
}

unsigned *coro__go_loop_waiter_beat(coro_loop *l) {
  return (unsigned *)coro__loop_waiter_beat(l);
}

/* Releases the records of a batch of finished coroutines (Loop.take): one
 * cgo call for the batch instead of one per coroutine. rs is Go memory
 * for this call only, holding the records' addresses as integers: an
 * array of pointer type made cgo's pointer check copy the whole array
 * (2 KiB) into an interface at each call, 30% of the bytes a Spawn + Wait
 * allocated. */
void coro__go_remote_release_n(const uintptr_t *rs, size_t n) {
  coro_remote *batch[64]; /* pointers of their own type: no aliasing */
  while (n > 0) {
    size_t k = n < 64 ? n : 64;
    for (size_t i = 0; i < k; i++)
      batch[i] = (coro_remote *)rs[i];
    coro__remote_release_n(batch, k);
    rs += k;
    n -= k;
  }
}

/* For tests: the records in use (remote.c). */
long coro__go_remote_outstanding(void) { return coro__remote_outstanding(); }

/* The id of the Go Loop whose goroutine owns this thread, or 0. Go cannot
 * ask "which locked goroutine am I", but C thread-locals answer exactly the
 * question "is this caller running on loop L's thread". */
static _Thread_local uint64_t coro__go_tls_loop_id;

void coro__go_set_loop_id(uint64_t id) { coro__go_tls_loop_id = id; }

uint64_t coro__go_loop_id(void) { return coro__go_tls_loop_id; }

/* The address of C memory, carried by Go as a uintptr, as a pointer again
 * (coro.CPtr). Done in C because go vet flags the Go conversion
 * uintptr -> unsafe.Pointer. */
void *coro__go_uintptr_to_ptr(uintptr_t v) { return (void *)v; }
