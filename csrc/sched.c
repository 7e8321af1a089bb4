/* sched.c - the loop: run queue, timers, waiting and waking, spawn, yield,
 * sleep, join, detach, cancel, cross-thread posts and polling slots, run
 * and close.
 *
 * Coroutines switch directly to one another: a coroutine that parks hands
 * the CPU to the head of the run queue without passing through the loop.
 * The loop's own context (main) gets a turn when the run queue is empty and
 * at least every BUDGET switches, so that a coroutine yielding in a loop
 * cannot starve timers, posts from other threads (or, later, I/O).
 */
#include "coro_internal.h"

#include <sched.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Switches between two turns of main: large enough that main's clock read
 * is amortised, small enough that timers and posts are served promptly. */
#define BUDGET 64
/* Switches main waits at most, once a remote coroutine has finished,
 * before it reports the outcome (coro__finished). */
#define REPORT_BUDGET 16

_Thread_local coro_loop *coro__tls_loop;

int64_t coro_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* 1 if posts wait for main (a look, for the loop thread's decisions).
 * A post seen here is run soon, so its node is fetched now: with the
 * exchange of post_head that follows (run_posts), the node's lines (a
 * remote spawn's record: what main reads to start it fills the first
 * two, coro_internal.h) cross from the poster's CPU at the same time as
 * the list head, not after it. The first line is written (run_posts
 * reverses the list through it). A Go Spawn + Wait to an idle loop went
 * from 1.85 to 1.56 us where a cache line takes 0.5 us between the CPUs.
 * The third line, a record's outcome (done, result), is fetched too: the
 * poster zeroed it, and main's publish would otherwise wait for it once the
 * coroutine returns (the median Spawn + Wait, per op, 12% faster to an idle
 * loop and 6% to a busy one; throughput the same). The write hints are
 * hints: gcc emits them as plain prefetcht0 on x86-64 unless built with
 * -mprfchw, and a real PREFETCHW of the outcome's or the report's pair
 * measured no better (README). Past a plain post's node the lines are other
 * memory, which a prefetch only moves, never faults or changes; and the node
 * is the poster's until it runs. */
static inline int posts_pending(coro_loop *l) {
  coro__post *h = atomic_load_explicit(&l->post_head, memory_order_relaxed);
  if (h) {
    __builtin_prefetch(h, 1);
    __builtin_prefetch((char *)h + 64, 0);
    __builtin_prefetch((char *)h + 128, 1);
  }
  return h != NULL;
}

/* 1 if a polling slot holds a request main has not taken (see "Polling
 * slots"), the slots' numbers loaded with order mo. */
static inline int slots_waiting(coro_loop *l, memory_order mo) {
  for (unsigned i = 0; i < l->nslots; i++)
    if (atomic_load_explicit(&l->slots[i].req, mo) !=
        atomic_load_explicit(&l->slot_seen[i], memory_order_relaxed))
      return 1;
  return 0;
}

static inline int slots_pending(coro_loop *l) {
  return slots_waiting(l, memory_order_relaxed);
}

/* Posts or slot requests for main. */
static inline int work_pending(coro_loop *l) {
  return posts_pending(l) || slots_pending(l);
}

/* slots_pending with sequentially consistent loads, for the Dekker pair
 * of a sleep (idle) with coro__loop_post_slot. */
static int slots_asked(coro_loop *l) {
  return slots_waiting(l, memory_order_seq_cst);
}

/* The waiters' beats ("Liveness"): waiter_beat, and each request taken
 * from a polling slot, whose poster polls as a beating one does. */
static inline unsigned waiter_beats(coro_loop *l) {
  return atomic_load_explicit(&l->waiter_beat, memory_order_relaxed) +
         atomic_load_explicit(&l->slot_beats, memory_order_relaxed);
}

/* ---- Run queue -------------------------------------------------------- */

/* The run queue ends at rq_tail, whose rnext is left as it was (never
 * read): no NULL stores on a yield. Walk it with rq_after. */
void coro__ready(coro_loop *l, coro *co) {
  co->state = CORO__READY;
  co->since = l->tick;
  if (l->rq_tail)
    l->rq_tail->rnext = co;
  else
    l->rq_head = co;
  l->rq_tail = co;
}

static coro *rq_pop(coro_loop *l) {
  coro *co = l->rq_head;
  if (co == l->rq_tail) /* the last one, or none */
    l->rq_head = l->rq_tail = NULL;
  else
    l->rq_head = co->rnext;
  return co;
}

/* The coroutine after co in the run queue, or NULL. */
static coro *rq_after(const coro_loop *l, const coro *co) {
  return co == l->rq_tail ? NULL : co->rnext;
}

/* Ahead of the ready coroutines: one started from a polling slot, whose
 * poster spends its CPU polling until the answer (see "Polling slots"),
 * in the order of the turn's requests (first_at). Not once the head of
 * the queue has been ready for FIRST_WAIT_MAX_NS (first_ok, set as main
 * takes the slots), give or take a turn (the ages are main's clock reads,
 * one per turn): slot starts that yield, each turn bringing more, would
 * otherwise keep the coroutines behind them from running. So that the
 * head's age is that of the wait it puts off, a coroutine put ahead takes
 * the stamp of the one it goes before when that is older: two slot starts
 * a turn, the first posting two more and yielding, left the second at
 * the head with a fresh stamp, turn after turn. */
#define FIRST_WAIT_MAX_NS 20000

static void ready_first(coro_loop *l, coro *co) {
  if (!l->first_ok) {
    coro__ready(l, co);
    return;
  }
  co->state = CORO__READY;
  /* After the turn's earlier ones, which are still queued, else first. */
  coro *prev = l->first_at;
  coro *next = prev ? rq_after(l, prev) : l->rq_head;
  if (next)
    co->rnext = next;
  else
    l->rq_tail = co;
  if (prev)
    prev->rnext = co;
  else
    l->rq_head = co;
  co->since = next && next->since < l->tick ? next->since : l->tick;
  l->first_at = co;
}

coro *coro__next(coro_loop *l) {
  if (l->budget == 0 || !l->rq_head)
    return &l->main;
  l->budget--;
  return rq_pop(l);
}

/* ---- Timer heap (binary min-heap on deadline) ------------------------- */

static void heap_set(coro_loop *l, size_t i, coro *co) {
  l->heap[i] = co;
  co->heap_index = (uint32_t)(i + 1);
}

static void heap_up(coro_loop *l, size_t i) {
  coro *co = l->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (l->heap[p]->deadline <= co->deadline)
      break;
    heap_set(l, i, l->heap[p]);
    i = p;
  }
  heap_set(l, i, co);
}

static void heap_down(coro_loop *l, size_t i) {
  coro *co = l->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->heap_len)
      break;
    if (c + 1 < l->heap_len && l->heap[c + 1]->deadline < l->heap[c]->deadline)
      c++;
    if (co->deadline <= l->heap[c]->deadline)
      break;
    heap_set(l, i, l->heap[c]);
    i = c;
  }
  heap_set(l, i, co);
}

static int heap_reserve(coro_loop *l) {
  if (l->heap_len < l->heap_cap)
    return 0;
  size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
  coro **h = coro__realloc(l->heap, cap * sizeof *h);
  if (!h)
    return -ENOMEM;
  l->heap = h;
  l->heap_cap = cap;
  return 0;
}

static void heap_push(coro_loop *l, coro *co, int64_t deadline) {
  co->deadline = deadline;
  l->heap[l->heap_len++] = co;
  heap_up(l, l->heap_len - 1);
}

static void heap_remove(coro_loop *l, coro *co) {
  size_t i = co->heap_index - 1;
  co->heap_index = 0;
  coro *last = l->heap[--l->heap_len];
  if (last != co) {
    heap_set(l, i, last);
    heap_up(l, i);
    heap_down(l, last->heap_index - 1);
  }
}

/* ---- Waiting and waking ----------------------------------------------- */

static void waitq_unlink(coro *co) {
  coro__waitq *q = co->waitq;
  if (co->wprev)
    co->wprev->wnext = co->wnext;
  else
    q->head = co->wnext;
  if (co->wnext)
    co->wnext->wprev = co->wprev;
  else
    q->tail = co->wprev;
  co->wprev = co->wnext = NULL;
  co->waitq = NULL;
}

coro *coro__blocker(int *err) {
  coro_loop *l = coro__tls_loop;
  if (!l || l->in_call || l->current->kind != CORO__SPAWNED) {
    *err = -EPERM;
    return NULL;
  }
  return l->current;
}

int coro__wait_for(coro__waitq *q, int64_t deadline, int why,
                   const void *obj, int64_t arg) {
  int err;
  coro *co = coro__blocker(&err);
  if (deadline == 0)
    return co && (co->flags & CORO__F_CANCELLED) ? -ECANCELED : -ETIMEDOUT;
  if (!co)
    return err;
  if (co->flags & CORO__F_CANCELLED)
    return -ECANCELED;
  coro_loop *l = co->loop;
  if (deadline > 0) {
    if (heap_reserve(l) < 0)
      return -ENOMEM;
    heap_push(l, co, deadline);
  }
  if (q) {
    co->waitq = q;
    co->wnext = NULL;
    co->wprev = q->tail;
    if (q->tail)
      q->tail->wnext = co;
    else
      q->head = co;
    q->tail = co;
  }
  co->state = CORO__BLOCKED;
  co->wait_status = 0;
  co->why = (uint8_t)why;
  co->why_obj = obj;
  co->why_arg = arg;
  co->since = l->tick;
  coro__switch_to(l, coro__next(l));
  return co->wait_status;
}

void coro__wake(coro *co, int status) {
  if (co->state != CORO__BLOCKED)
    return;
  if (co->waitq)
    waitq_unlink(co);
  if (co->heap_index)
    heap_remove(co->loop, co);
  co->wait_status = status;
  coro__ready(co->loop, co);
}

coro *coro__wake_one(coro__waitq *q, int status) {
  coro *co = q->head;
  if (co)
    coro__wake(co, status);
  return co;
}

int coro__wake_all(coro__waitq *q, int status) {
  int n = 0;
  while (q->head) {
    coro__wake(q->head, status);
    n++;
  }
  return n;
}

static void fire_timers(coro_loop *l);

/* ---- Spawn, yield, sleep ---------------------------------------------- */

int coro__spawn(coro_loop *l, coro_fn fn, void *arg, const coro_opts *opts,
                int first, coro **out) {
  coro *co;
  int rc = coro__new(l, CORO__SPAWNED, fn, arg, opts, &co);
  if (rc < 0)
    return rc;
  l->n_active++;
  if (first)
    ready_first(l, co);
  else
    coro__ready(l, co);
  *out = co;
  return 0;
}

int coro_spawn(coro **out, coro_fn fn, void *arg, const coro_opts *opts) {
  coro_loop *l = coro__tls_loop;
  if (!l)
    return -EPERM;
  coro *co;
  int rc = coro__spawn(l, fn, arg, opts, 0, &co);
  if (rc < 0)
    return rc;
  if (out)
    *out = co;
  else
    co->flags |= CORO__F_DETACHED;
  return 0;
}

int coro_yield(void) {
  int err;
  coro *co = coro__blocker(&err);
  if (!co)
    return err;
  coro_loop *l = co->loop;
  int rc = co->flags & CORO__F_CANCELLED ? -ECANCELED : 0;
  if (!l->rq_head) {
    /* Nobody else is ready: serve due timers from here (waking only
     * moves coroutines to the run queue, safe on any stack), and let main
     * run posts now. Otherwise keep running. */
    if (l->heap_len)
      fire_timers(l);
    if (work_pending(l))
      l->budget = 0;
    else if (!l->rq_head && l->budget) {
      l->budget--;
      return rc;
    }
  }
  if (work_pending(l))
    l->budget = 0; /* let main run the posts now */
  coro__ready(l, co);
  coro__switch_to(l, coro__next(l));
  return rc;
}

int coro_sleep(int64_t deadline) {
  if (deadline == 0) {
    int err;
    coro *co = coro__blocker(&err);
    if (!co)
      return err;
    return co->flags & CORO__F_CANCELLED ? -ECANCELED : 0;
  }
  int rc = coro__wait_for(NULL, deadline, CORO_WAIT_SLEEP, NULL, 0);
  return rc == -ETIMEDOUT ? 0 : rc;
}

/* ---- Join, detach, cancel, finish -------------------------------------- */

int coro_join(coro *co, int64_t deadline, void **result) {
  coro_loop *l = coro__tls_loop;
  if (!l)
    return -EPERM;
  if (!co || co->magic != CORO__MAGIC_LIVE || co->loop != l ||
      co->kind == CORO__MAIN)
    return -EINVAL;
  if (co == l->current)
    return -EDEADLK;
  if (co->flags & (CORO__F_DETACHED | CORO__F_JOINING))
    return -EINVAL;
  if (co->state != CORO__DONE) {
    if (co->kind == CORO__CREATED)
      return -EINVAL; /* only a transfer can finish it */
    int err;
    coro *me = coro__blocker(&err);
    if (!me)
      return deadline == 0 ? -ETIMEDOUT : err;
    if (me->flags & CORO__F_CANCELLED)
      return -ECANCELED;
    if (deadline == 0)
      return -ETIMEDOUT;
    co->flags |= CORO__F_JOINING;
    co->link.joiner = me;
    int rc = coro__wait_for(NULL, deadline, CORO_WAIT_JOIN, NULL,
                            (int64_t)co->id);
    co->flags &= (uint8_t)~CORO__F_JOINING;
    co->link.joiner = NULL;
    if (co->state != CORO__DONE)
      return rc < 0 ? rc : -EINVAL;
  }
  if (result)
    *result = co->result;
  coro__free(l, co);
  return 0;
}

int coro_detach(coro *co) {
  coro_loop *l = coro__tls_loop;
  if (!l || !co || co->magic != CORO__MAGIC_LIVE || co->loop != l ||
      co->kind != CORO__SPAWNED)
    return -EINVAL;
  if (co->flags & (CORO__F_DETACHED | CORO__F_JOINING))
    return -EINVAL;
  if (co->state == CORO__DONE) {
    coro__free(l, co);
    return 0;
  }
  co->flags |= CORO__F_DETACHED;
  return 0;
}

int coro_cancel(coro *co) {
  if (!co || co->magic != CORO__MAGIC_LIVE || co->kind == CORO__MAIN)
    return -EINVAL;
  if (co->state == CORO__DONE || (co->flags & CORO__F_CANCELLED))
    return 0;
  co->flags |= CORO__F_CANCELLED;
  if (co->state == CORO__BLOCKED)
    coro__wake(co, -ECANCELED);
  return 0;
}

int coro_cancelled(void) {
  coro *co = coro_self();
  if (!co)
    return -EPERM;
  return (co->flags & CORO__F_CANCELLED) != 0;
}

void coro__finished(coro_loop *l, coro *co) {
  l->n_active--;
  if (co->remote) {
    coro_remote *r = co->remote;
    co->remote = NULL;
    /* Published at once, for a thread that polls the record (Go's Wait):
     * main's report, which wakes coro_remote_wait and calls on_done,
     * comes up to REPORT_BUDGET switches later, and on a loop kept busy
     * that wait was a third of a Spawn + Wait from Go. The name is the
     * caller's once the outcome is out (coro_remote_spawn), so the record
     * that remains until the switch away from this stack no longer
     * shows it. */
    co->name = NULL;
    /* The slot's answer first: the publication writes lines the poster
     * zeroed, and its poll of the slot need not wait for them. */
    if (r->slot) { /* main's own line of the record */
      coro__slot_answer(r->slot, r->slot_req, co->result, 1);
      r->slot = NULL;
    }
    coro__remote_publish(r, co->id, co->result, 0);
    r->next = l->rdone;
    l->rdone = r;
    /* Main reports it soon, with the others that finish meanwhile: a
     * report per coroutine cost the loop a sched_yield (report_remotes)
     * per coroutine when many goroutines spawn on it. */
    if (l->budget > REPORT_BUDGET)
      l->budget = REPORT_BUDGET;
  }
  if (co->flags & CORO__F_DETACHED)
    l->zombie = co;
  else if (co->flags & CORO__F_JOINING)
    coro__wake(co->link.joiner, 0);
}

/* ---- Cross-thread posts -----------------------------------------------
 *
 * The protocol, which costs a poster no lock and a loop that is awake no
 * system call:
 *   - a poster pushes its node on post_head with a CAS (a Treiber stack:
 *     lock-free, so a poster the kernel preempts holds no lock that the
 *     loop or the other posters wait for, as a held post_mu was);
 *   - main takes the whole list with one exchange and runs it oldest
 *     first (run_posts reverses it), so posts from one thread run in the
 *     order they were made;
 *   - only the push that found the list empty may have to wake the loop:
 *     a non-empty list is one main has not taken yet, and main looks at
 *     the list after announcing its sleep and before it sleeps, so it
 *     sees that node, this one included. The price: if the kernel
 *     preempts that first poster between its push and its wake, the posts
 *     pushed after it wait for its thread to run again (no post is lost,
 *     but one can be late by a scheduling delay, where every poster woke
 *     the loop before);
 *   - that poster wakes the loop only if main announced a sleep
 *     (`sleeping`), and swaps the flag to 0 so that of several posters
 *     (or a stop) racing for one sleep, one writes wake_fd.
 * `sleeping` and post_head are a Dekker pair, every access seq_cst: main
 * stores sleeping = 1 then loads post_head (idle), a poster CASes
 * post_head then loads sleeping. In the single total order of seq_cst
 * operations one of the two loads comes after the other side's store, so
 * either main sees the post and does not sleep or the poster sees the
 * sleep and writes wake_fd: no lost wake-up (core_test post_wake_race
 * hung in 4 of 6 runs without main's second look). The operations are
 * seq_cst, which ThreadSanitizer understands, and a seq_cst fence sits
 * between each side's store and load as well: arm64 orders stlr before
 * ldar, but qemu-user running arm64 on x86 does not (it emits no mfence
 * for them), and there the test hung in half the runs without the
 * fences. */

/* 1 if this caller must wake the loop: it had announced a sleep, and no
 * other poster has claimed the wake of that sleep. */
static int claim_wake(coro_loop *l) {
  return atomic_load(&l->sleeping) && atomic_exchange(&l->sleeping, 0);
}

static void write_wake(coro_loop *l) {
  uint64_t one = 1;
  ssize_t w = write(l->wake_fd, &one, sizeof one);
  (void)w; /* EAGAIN: the counter is already non-zero, it will wake */
  atomic_fetch_add_explicit(&l->n_wakes, 1, memory_order_relaxed);
}

/* The wake for a post. */
void coro__loop_wake(coro_loop *l) {
  write_wake(l);
  /* The time tells idle() whether spinning a little longer would have
   * caught this post. */
  atomic_store_explicit(&l->post_woke, coro_now(), memory_order_relaxed);
}

/* 1 if it woke the loop (a stop). */
static int wake_loop(coro_loop *l) {
  if (!claim_wake(l))
    return 0;
  write_wake(l);
  return 1;
}

int coro__loop_post_node_owe(coro_loop *l, coro__post *p, int *owe) {
  /* Counted from before the check of shutdown until after the wake:
   * posters and shutdown are a Dekker pair (seq_cst) with close, which
   * stores shutdown then waits for posters to leave, so every post that
   * passed the check is on the list before close takes it for the last
   * time, and wake_fd is still open for the wake (an owed wake is the
   * caller's to keep the loop open for). */
  if (owe)
    *owe = 0;
  atomic_fetch_add(&l->posters, 1);
  atomic_thread_fence(memory_order_seq_cst); /* posters, then shutdown */
  if (atomic_load(&l->shutdown)) {
    atomic_fetch_sub(&l->posters, 1);
    return -ESHUTDOWN;
  }
  coro__post *old = atomic_load_explicit(&l->post_head, memory_order_relaxed);
  do
    p->next = old;
  while (!atomic_compare_exchange_weak(&l->post_head, &old, p));
  if (!old) {
    atomic_thread_fence(memory_order_seq_cst); /* the push, then sleeping */
    int claimed = claim_wake(l);
    if (owe)
      *owe = claimed;
    else if (claimed)
      coro__loop_wake(l);
  }
  atomic_fetch_sub(&l->posters, 1);
  return 0;
}

int coro__loop_post_node(coro_loop *l, coro__post *p) {
  return coro__loop_post_node_owe(l, p, NULL);
}

/* ---- Polling slots ------------------------------------------------------
 *
 * A post costs the round trip of a poster that polls for the outcome
 * (Go's Spawn + Wait) more than its two necessary cache-line transfers:
 * the push is a locked instruction on the line main spins on, which first
 * waits for the record's lines (main read them for the last spawn) and
 * only then fetches its own; main then reads the record and writes the
 * outcome on lines the poster has just written. A polling slot is one
 * line that carries the request (record, function, argument, id) and the
 * answer (the result, or "see the record"): the poster writes it with
 * plain stores, main takes the request with one read, starts the
 * coroutine from it alone, and answers on the same line before it writes
 * anything the poster wrote (coro__finished: the answer, then the
 * publication). A bare C model of the two protocols on the test VM, in its
 * slow state (a cache line round trip 440 to 500 ns): 890 to 1,050 ns per
 * round trip with the post, 520 to 630 with the slot and a record written
 * after the answer; any read or write of a record line the poster had
 * just written, before the answer, put it back above 940 (README).
 *
 * The bindings own the slots and hand each to one poster at a time (one
 * that will poll; coro__loop_set_slots); main keeps, per slot, the number
 * of the last request it took. A request goes after the posts of the turn
 * were taken and before they run (run_posts), and its coroutine runs
 * before those already ready, unless they have waited long
 * (ready_first): its poster spends a CPU polling until the answer, and
 * behind the four yielding coroutines of the busy benchmark a Go Spawn
 * + Wait took 1,471 ns where it takes 1,344 at the head (0.919x, faster
 * in 11 of 12 paired rounds, the VM's slow state). Waking: a slot's
 * number and `sleeping` are a Dekker pair as post_head is (the poster
 * stores the number, fences and loads sleeping; idle stores sleeping,
 * fences and loads the numbers). A slot skips `posters`: the caller
 * keeps the loop from closing until the request is stored (the Go
 * bindings hold the loop's inflight count), and close's turns take what
 * is stored. */
void coro__loop_set_slots(coro_loop *l, coro__slot *slots, unsigned n) {
  if (n > CORO__SLOTS_MAX)
    n = CORO__SLOTS_MAX;
  l->slots = slots;
  l->nslots = n;
  for (unsigned i = 0; i < n; i++)
    atomic_store(&l->slot_seen[i], atomic_load(&slots[i].req));
}

const atomic_uint_least64_t *coro__loop_slot_seen(coro_loop *l) {
  return l->slot_seen;
}

void coro__loop_post_slot(coro_loop *l, int *owe) {
  atomic_thread_fence(memory_order_seq_cst); /* the request, then sleeping */
  int claimed = claim_wake(l);
  if (owe)
    *owe = claimed;
  else if (claimed)
    coro__loop_wake(l);
}

unsigned coro__loop_slot_starts(coro_loop *l) {
  return atomic_load_explicit(&l->slot_beats, memory_order_relaxed);
}

int coro_loop_post(coro_loop *l, void (*fn)(void *arg), void *arg) {
  if (!l || !fn)
    return -EINVAL;
  coro__post *p = coro__malloc(sizeof *p);
  if (!p)
    return -ENOMEM;
  p->fn = fn;
  p->arg = arg;
  p->owned = 1;
  int rc = coro__loop_post_node(l, p);
  if (rc < 0)
    free(p);
  return rc;
}

int coro_loop_stop(coro_loop *l) {
  if (!l)
    return -EINVAL;
  /* Counted as a poster from before the store until after the wake: the
   * loop may see the stop, leave its run and close at once on its own
   * thread, and close frees the loop only once posters is 0 (ASan caught
   * wake_loop reading a freed loop in fault_test's remote sweep). */
  atomic_fetch_add(&l->posters, 1);
  atomic_store(&l->stop, 1);
  atomic_thread_fence(memory_order_seq_cst); /* stop, then sleeping */
  wake_loop(l);
  atomic_fetch_sub(&l->posters, 1);
  return 0;
}

/* Starts the requests waiting in the polling slots; posts: main took
 * posts in this turn (run_posts). */
static void run_slots(coro_loop *l, int posts) {
  /* A cancel on the loop's thread (which posts nothing) counts from the
   * look that finds it set: one made by a report during these starts
   * (a refused request's on_done) is seen by the next turn's. */
  int here = l->cancelled_here;
  l->cancelled_here = 0;
  /* tick is the last turn's clock read: at most a turn old. */
  l->first_ok =
      !l->rq_head || l->tick - l->rq_head->since < FIRST_WAIT_MAX_NS;
  for (unsigned i = 0; i < l->nslots; i++) {
    coro__slot *s = &l->slots[i];
    uint64_t q = atomic_load_explicit(&s->req, memory_order_acquire);
    if (q == atomic_load_explicit(&l->slot_seen[i], memory_order_relaxed))
      continue;
    /* The request's fields are read before slot_seen says it was taken:
     * from then on another poster may take the slot over and write its
     * own. */
    coro__slot_request rq = {s->r, s->fn, s->arg, s->id, s->cpu};
    atomic_store_explicit(&l->slot_seen[i], q, memory_order_release);
    /* The record's outcome pair, which main publishes once the
     * coroutine has returned (after the answer), fetched while it starts
     * and runs. A read: it changes no store's order. */
    __builtin_prefetch((char *)rq.r + 128, 1);
    l->n_posts++; /* a post by another way, for the stats */
    atomic_store_explicit(&l->slot_beats,
                          atomic_load_explicit(&l->slot_beats,
                                               memory_order_relaxed) +
                              1,
                          memory_order_relaxed);
    coro__remote_start_slot(l, s, q, &rq, posts || here || l->cancelled_here);
  }
  /* NULL between turns: it may finish, and be freed, before the next. */
  l->first_at = NULL;
}

static void run_posts(coro_loop *l) {
  coro__post *q = NULL;
  if (posts_pending(l))
    q = atomic_exchange(&l->post_head, NULL);
  /* The slots after the take of the list: a cancel of a slot's request
   * that could keep it from starting is then in that list (see
   * coro__remote_start_slot), and before the posts run: a cancel among
   * them finds the coroutine started. */
  if (l->nslots)
    run_slots(l, q != NULL);
  coro__post *p = NULL; /* q reversed: oldest first */
  while (q) {
    coro__post *n = q->next;
    q->next = p;
    p = q;
    q = n;
  }
  while (p) {
    /* Read before the call: a node kept in a record may go with it. */
    coro__post *next = p->next;
    int owned = p->owned;
    p->fn(p->arg);
    if (owned)
      free(p);
    l->n_posts++;
    p = next;
  }
}

static void report_remotes(coro_loop *l) {
  if (!l->rdone)
    return;
  while (l->rdone) {
    coro_remote *r = l->rdone;
    l->rdone = r->next;
    r->next = NULL;
    coro__remote_report(r);
  }
  /* A busy loop would otherwise keep its CPU for the rest of its time
   * slice while the thread waiting for these outcomes (often queued on
   * this very CPU: the kernel places a wakee near its waker) cannot run:
   * on the loaded 2-CPU machine, Spawn + Wait to a busy loop took ms.
   * Not when the waiter beat moved (a poller posted or polled): it runs
   * on another CPU, and a yield would cost this loop a system call per
   * report for nothing (see "Liveness"). Each report uses up one beat,
   * and one more beat is kept for the next report: a waiter that sees
   * its coroutine finish (published before this report, coro__finished)
   * often spawns the next one, and beats, before main reports the first,
   * and then the next report found no new beat and yielded (a fifth of
   * the Spawn + Waits to a busy loop, each then waiting microseconds for
   * main to come back and take its post). */
  if (l->rq_head) {
    unsigned w = waiter_beats(l);
    unsigned unused = w - l->waiter_seen; /* beats since the last use */
    if (unused == 0) {
      sched_yield();
      l->n_report_yields++;
    } else {
      l->waiter_seen = unused > 2 ? w - 1 : l->waiter_seen + 1;
    }
  }
}

/* ---- Liveness -----------------------------------------------------------
 *
 * A thread that waits for this loop's work by polling (Go's Wait, which
 * polls a remote spawn's done word or polling slot) must give its CPU up
 * when the loop thread is queued behind it on that CPU, and only then: a
 * sched_yield costs about a microsecond on a VM, more than the rest of a
 * round trip to a loop that is running. Neither side can ask the kernel where the
 * other runs, so each shows that it runs: main stores a new `beat` each
 * turn and while it spins for posts; the poller adds to `waiter_beat` as
 * it posts its request (a Go spawn whose Wait will poll, just before its
 * push: remote.c, coro__remote_spawn_owe) and now and then while it polls,
 * and main counts each request it takes from a polling slot as such a
 * beat (`slot_beats`: the slot's poster polls).
 * `waiter_beat` lies on post_head's line, which the poster keeps for its
 * push and main reads anyway (its turns take the posts, its spin for posts
 * watches the head): on a line of its own, the beat at the start of each
 * poll was a transfer of that line to the poller and one back to main, and a
 * Go Spawn + Wait to a busy loop was 14% slower (2.54 us where it is 2.18
 * when a cache line takes 0.5 us between the CPUs, the test VM's slow state;
 * one run of 8 rounds). A poller yields only once `beat` has stood still
 * for a while (the loop thread is off its CPU, asleep, or in a long turn),
 * and main yields after a report only if no beat of `waiter_beat` is
 * left for it (each report uses one up; report_remotes). Relaxed
 * operations: a stale look only costs a yield more or less, never
 * correctness. */
static inline void beat(coro_loop *l) {
  /* main is the only writer: a load and a store, no read-modify-write. */
  unsigned b = atomic_load_explicit(&l->beat, memory_order_relaxed);
  atomic_store_explicit(&l->beat, b + 1, memory_order_relaxed);
}

const atomic_uint *coro__loop_beat(const coro_loop *l) { return &l->beat; }

int coro__loop_asleep(coro_loop *l) { return atomic_load(&l->sleeping); }

int coro__loop_stopping(coro_loop *l) { return atomic_load(&l->stop); }

atomic_uint *coro__loop_waiter_beat(coro_loop *l) { return &l->waiter_beat; }

/* ---- The loop --------------------------------------------------------- */

static void fire_timers(coro_loop *l) {
  if (!l->heap_len)
    return;
  int64_t now = coro_now();
  l->tick = now;
  while (l->heap_len && l->heap[0]->deadline <= now)
    coro__wake(l->heap[0], -ETIMEDOUT);
}

/* How long an idle loop waits for a post before it sleeps in the kernel.
 * A post to a sleeping loop costs the poster an eventfd write (~1 us) and
 * the loop a wake-up from the kernel (several us); a steady stream of
 * posts (Spawn + Wait from goroutines) that finds the loop spinning pays
 * neither. But a spin only helps when the poster runs on another CPU at
 * the same time: on an oversubscribed machine the spinning loop holds the
 * CPU the poster is queued for, and each spin delays the post it waits for
 * (measured on the shared 2-CPU machine: Spawn + Wait median 9 us without
 * a spin, 15 us with a fixed 5 us spin, 20 us with 10 us). So the spin
 * starts short and earns its length: it doubles (up to SPIN_MAX_NS) each
 * time it catches a post, halves each time it ends without one (to zero:
 * an idle loop burns at most about 2 * SPIN_MAX_NS before it sleeps for
 * good), and restarts at SPIN_START_NS when a post arrives soon after the
 * loop fell asleep. */
#define SPIN_MAX_NS 50000
#define SPIN_START_NS 2000
#define SPIN_MIN_NS 500
/* The spin when a poller posted or polled lately (main saw its beat move
 * within the last SPIN_ALIVE_NS: see "Liveness"): it was on another CPU,
 * and a Go Wait that sees its coroutine finish often spawns the next one
 * soon, but now and then only after tens of microseconds (the Go
 * runtime's own threads take the CPU).
 * The learned length alone left the loop asleep for 15 to 60% of the
 * round trips of one goroutine's Spawn + Wait (an eventfd write and a
 * wake-up each, 8 to 12 us); a 10 us floor still for 20 to 30%, the full
 * length for 2 to 5%. "Lately", not "since the last spin": the spawner
 * beats as it posts, and when it posted before main's spin began (main
 * was still reporting the coroutine before, which the waiter had seen
 * finish), that spin took the beat and the post at once, and the next
 * spin, which waits for the next post, saw no beat (one round trip in
 * 100 to 400 fell asleep so, and waited for a wake-up). */
#define SPIN_ALIVE_NS SPIN_MAX_NS
/* But not while the machine is oversubscribed, which the kernel shows by
 * keeping this thread waiting for a CPU (its run-queue wait: rqwait.c):
 * there the poster may be queued behind this very spin, and a full spin
 * per round trip made the median 57 us where sleeping at once made it
 * 9 us (one busy process beside the benchmark on 2 CPUs). The verdict is
 * the share of a window of at least CONTENDED_WINDOW_NS that the thread
 * spent waiting, more than 1/CONTENDED_SHARE, and holds for the next
 * window. A window, not a sample: beside a busy thread the loop runs for
 * a time slice (milliseconds) and then waits for one, and a spike (a
 * Go GC worker on its CPU for a millisecond) is no verdict. Turning the
 * floor off for 100 ms at any preemption (the rule before) kept it off
 * for two thirds of the round trips of one goroutine's Spawn + Wait on an
 * idle machine, the Go runtime's sysmon alone waking a thousand times a
 * second; with 1 ms samples, two spikes in 0.3 s still did. */
#define CONTENDED_WINDOW_NS 20000000
#define CONTENDED_SHARE 8

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* 1 if this thread waited for a CPU for a good part of its last window
 * (see SPIN_ALIVE_NS); never where the kernel does not tell the wait.
 * now is coro_now(), which the caller has read. */
static int contended(coro_loop *l, int64_t now) {
  int64_t span = now - l->busy_at;
  if (span < CONTENDED_WINDOW_NS)
    return l->busy;
  int64_t wait = coro__rq_wait();
  /* The window ends at the first look after its length, however late:
   * the thread looks only while it spins. The first look (busy_at 0)
   * starts the first window, and so does a look after one that failed;
   * a failed look gives no verdict, and the next comes a window later. */
  int known = wait >= 0 && l->busy_at != 0 && l->busy_wait >= 0;
  l->busy = known && (wait - l->busy_wait) * CONTENDED_SHARE > span;
  l->busy_at = now;
  l->busy_wait = wait;
  return l->busy;
}

/* For tests: contended() as main's spin sees it, on the loop's thread. */
int coro__loop_contended(coro_loop *l) { return contended(l, coro_now()); }

/* Spin until a post or a stop (1), until the spin's length has passed or
 * the deadline `until` (-1: none) comes (0). The length is l->spin_ns,
 * learned, or SPIN_ALIVE_NS when a waiter beat lately (within
 * SPIN_ALIVE_NS) and the last such long spin caught its post: a goroutine
 * that does other work for longer than SPIN_ALIVE_NS between its round
 * trips would otherwise cost a full spin for nothing on every one (the
 * review of the beats); one miss turns the floor off until a spin, or a
 * post soon after a sleep, shows that spinning pays again. Never while
 * coroutines wait for fds: their events arrive only through the kernel,
 * which the spin does not ask. */
static int spin_for_posts(coro_loop *l, int64_t until) {
  int64_t ns = l->spin_ns;
  int alive = 0;
  unsigned w = waiter_beats(l);
  int64_t now = coro_now();
  if (w != l->waiter_idle) {
    l->waiter_idle = w;
    l->waiter_idle_at = now;
  }
  if (now - l->waiter_idle_at < SPIN_ALIVE_NS && ns < SPIN_ALIVE_NS &&
      !l->alive_missed && !contended(l, now)) {
    ns = SPIN_ALIVE_NS;
    alive = 1;
  }
  if (ns < SPIN_MIN_NS || l->spin_off || coro__poll_waiters(l))
    return 0;
  int64_t end = now + ns;
  if (until >= 0 && until < end)
    end = until;
  for (unsigned i = 1;; i++) {
    if (i % 8 == 0)
      beat(l);
    if (work_pending(l) ||
        atomic_load_explicit(&l->stop, memory_order_relaxed)) {
      /* Learned from its own length, not the floor's. */
      if (l->spin_ns < SPIN_MAX_NS)
        l->spin_ns *= 2;
      if (l->spin_ns < SPIN_MIN_NS)
        l->spin_ns = SPIN_MIN_NS;
      l->alive_missed = 0;
      return 1;
    }
    cpu_relax();
    if (i % 32 == 0 && coro_now() >= end)
      break;
  }
  l->spin_ns /= 2;
  if (alive)
    l->alive_missed = 1;
  return 0;
}

/* Sleep in the kernel until a post, a stop, an fd event, or the deadline
 * (-1: none). [I/O] The poller sleeps on the registered fds and wake_fd.
 * The second look at post_head after the store of `sleeping` is the one
 * that keeps a post from being lost (see "Cross-thread posts"). */
static void idle(coro_loop *l, int64_t until) {
  if (spin_for_posts(l, until))
    return;
  int64_t start = coro_now();
  l->n_sleeps++;
  atomic_store(&l->sleeping, 1);
  atomic_thread_fence(memory_order_seq_cst); /* sleeping, then the list */
  if (!atomic_load(&l->post_head) && !slots_asked(l) &&
      !atomic_load(&l->stop)) {
    coro__poll_run(l, until);
    l->slept = 1; /* for the posts of the next turn (colocate.c) */
  }
  atomic_store(&l->sleeping, 0);
  /* A post that came soon after the loop fell asleep (by the poster's
   * clock: the kernel's wake-up latency does not count): spinning again
   * would have caught it. */
  int64_t woke = atomic_load_explicit(&l->post_woke, memory_order_relaxed);
  if (woke >= start && woke - start < SPIN_MAX_NS) {
    if (l->spin_ns < SPIN_START_NS)
      l->spin_ns = SPIN_START_NS;
    l->alive_missed = 0;
  }
}

/* One turn of main: posts, finished remotes, timers, then run the ready
 * coroutines. Returns 1 if something ran or is ready, 0 if idle. */
static int turn(coro_loop *l) {
  beat(l);
  run_posts(l);
  l->slept = 0; /* only this turn's posts follow the sleep */
  report_remotes(l);
  /* [I/O] Pick up ready fds without sleeping while coroutines are ready,
   * so busy coroutines cannot starve I/O; with nothing ready, idle() asks
   * the kernel once and sleeps there. Not right after that sleep, though:
   * nothing has run since, and an fd that became ready meanwhile is picked
   * up on the next turn (it was a syscall per wake-up for nothing). */
  if (l->rq_head && coro__poll_due(l))
    coro__poll_run(l, 0);
  /* The turn's clock read stamps the state changes until the next turn
   * (dump.c); fire_timers reads it when timers are due anyway. */
  if (l->heap_len)
    fire_timers(l);
  else
    l->tick = coro_now();
  if (!l->rq_head)
    return 0;
  l->budget = BUDGET;
  l->main.state = CORO__READY;
  coro__switch_to(l, rq_pop(l));
  l->main.state = CORO__RUNNING;
  return 1;
}

static int64_t next_deadline(coro_loop *l) {
  return l->heap_len ? l->heap[0]->deadline : -1;
}

static int on_loop_stack(coro_loop *l) {
  return l && coro__tls_loop == l && l->current == &l->main && !l->in_call;
}

int coro_loop_run(coro_loop *l, int mode) {
  if (mode != CORO_RUN_UNTIL_EMPTY && mode != CORO_RUN_UNTIL_STOPPED)
    return -EINVAL;
  if (!on_loop_stack(l) || l->running)
    return -EPERM;
  l->running = 1;
  int rc = 0;
  for (;;) {
    /* A stop is honoured between turns, even while coroutines stay
     * ready (a spinning yielder must not keep the loop from stopping). */
    if (atomic_load(&l->stop)) {
      atomic_store(&l->stop, 0);
      break;
    }
    if (turn(l))
      continue;
    if (mode == CORO_RUN_UNTIL_EMPTY) {
      if (l->n_active == 0)
        break;
      if (!l->heap_len && !atomic_load(&l->post_head) && !slots_asked(l) &&
          !coro__poll_waiters(l)) { /* [I/O] an fd event may wake them */
        rc = -EDEADLK; /* only another thread could wake them */
        break;
      }
    }
    idle(l, next_deadline(l));
  }
  l->running = 0;
  return rc;
}

/* ---- Create and close -------------------------------------------------- */

int coro_loop_new(coro_loop **out, const coro_loop_opts *opts) {
  if (!out)
    return -EINVAL;
  if (coro__tls_loop)
    return -EBUSY;
  coro_loop_opts o = {0};
  if (opts)
    o = *opts;
  if (o.stack_mode == CORO_STACK_DEFAULT)
    o.stack_mode = CORO_STACK_GUARDED;
  if (o.stack_mode != CORO_STACK_GUARDED && o.stack_mode != CORO_STACK_SHARED)
    return -EINVAL;
  if (o.stack_size == 0)
    o.stack_size = CORO_STACK_SIZE_DEFAULT;
  if (o.stack_size < CORO_STACK_SIZE_MIN || o.stack_size > CORO_STACK_SIZE_MAX)
    return -EINVAL;
  size_t guard;
  if (coro__guard_size(o.guard_size, &guard) < 0)
    return -EINVAL;
  coro_resolver_opts *ropts;
  if (coro__resolver_opts_dup(o.resolver, &ropts) < 0)
    return -ENOMEM;
  coro_loop *l = coro__calloc(1, sizeof *l);
  if (!l) {
    free(ropts);
    return -ENOMEM;
  }
  l->resolver_opts = ropts;
  l->stack_mode = o.stack_mode;
  l->stack_size = o.stack_size;
  l->guard_size = guard;
  l->cache_max = o.stack_cache == 0                ? CORO_STACK_CACHE_DEFAULT
                 : o.stack_cache == (size_t)-1 ? 0
                                                   : o.stack_cache;
  l->name = o.name;
  l->hooks = o.hooks != 0;
  l->tick = coro_now();
  l->accounting = o.accounting != 0;
  l->switch_at = l->tick;
  l->acct_longest = l->accounting ? 0 : -1;
  l->owner = pthread_self();
  l->budget = BUDGET;
  l->main.magic = CORO__MAGIC_LIVE;
  l->main.loop = l;
  l->main.kind = CORO__MAIN;
  l->main.state = CORO__RUNNING;
  l->main.stack_mode = CORO_STACK_GUARDED; /* its own stack, never shared */
  if (l->accounting)
    l->main.flags |= CORO__F_ACCOUNT;
  l->main.name = "loop";
  l->current = &l->main;
  l->errno_ptr = &errno;
  l->wake_fd = coro__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->wake_fd < 0) {
    int e = -errno;
    free(ropts);
    free(l);
    return e;
  }
  int rc = coro__poll_new(l, o.poll_backend); /* [I/O] */
  if (rc < 0) {
    close(l->wake_fd);
    free(ropts);
    free(l);
    return rc;
  }
  rc = coro__overflow_init(l);
  if (rc == 0) {
    rc = coro__watch_init(l, &o); /* the slow-coroutine watchdog */
    if (rc < 0)
      coro__altstack_release(l);
  }
  if (rc < 0) {
    coro__poll_free(l); /* [I/O] */
    close(l->wake_fd);
    free(ropts);
    free(l);
    return rc;
  }
#if CORO__ASAN_ON
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &l->asan_main_lo, &l->asan_main_size);
    pthread_attr_destroy(&attr);
  }
#endif
  coro__tls_loop = l;
  *out = l;
  return 0;
}

coro_loop *coro_loop_current(void) { return coro__tls_loop; }

const char *coro_loop_name(const coro_loop *l) {
  return l && l->name ? l->name : "";
}

int coro_loop_stats_get(const coro_loop *l, coro_loop_stats *out) {
  if (!l || !out)
    return -EINVAL;
  memset(out, 0, sizeof *out);
  out->live = l->n_live;
  out->spawned = l->n_spawned;
  out->switches = l->n_switches;
  out->stacks_cached = l->cache_len;
  out->stacks_mapped = l->n_mapped;
  /* The run queue may only be walked by its own thread. */
  size_t ready = 0;
  if (coro__tls_loop == l)
    for (coro *c = l->rq_head; c; c = rq_after(l, c))
      ready++;
  out->ready = ready;
  out->timers = l->heap_len;
  out->posts = l->n_posts;
  out->cpu_moves = l->n_moves;
  out->stack_bytes_saved = l->n_saved_bytes;
  coro__poll_stats(l, out); /* [I/O] */
  return 0;
}

/* Report each coroutine close is about to abandon (started, not
 * finished) with where it is suspended: to the loop's report_fn, else
 * stderr (watchdog.c). */
static void report_abandoned(coro_loop *l) {
  for (coro *c = l->all; c; c = c->anext) {
    if (c->kind != CORO__SPAWNED || c->state == CORO__DONE ||
        !(c->flags & CORO__F_STARTED))
      continue;
    coro_report r;
    memset(&r, 0, sizeof r);
    r.kind = CORO_REPORT_ABANDONED;
    r.id = c->id;
    snprintf(r.name, sizeof r.name, "%s", c->name ? c->name : "");
    r.loop = l;
    r.loop_name = coro_loop_name(l);
    int n = coro_backtrace(c, r.frames, (int)(sizeof r.frames / sizeof r.frames[0]));
    r.nframes = n > 0 ? n : 0;
    coro__report(l, &r);
  }
}

int coro_loop_close(coro_loop *l, int64_t deadline) {
  if (!on_loop_stack(l) || l->running)
    return -EPERM;
  l->running = 1; /* posts and callbacks run during close cannot re-enter */
  /* Refuse new posts; the ones already queued still run (a remote spawn
   * among them fails with -ESHUTDOWN and reports it). */
  atomic_store(&l->shutdown, 1);
  atomic_thread_fence(memory_order_seq_cst); /* shutdown, then posters */
  /* Posters that passed their check of shutdown are pushing now: once
   * they leave, the list holds every post there will be. */
  while (atomic_load(&l->posters) > 0)
    sched_yield();
  l->closing = 1;
  for (coro *c = l->all; c; c = c->anext)
    if (c->kind == CORO__SPAWNED)
      coro_cancel(c);
  /* Let them finish. The first turn runs whatever the deadline says: each
   * coroutine the cancel made ready gets its chance to see it, so a thread
   * descheduled past a short deadline (a loaded machine) does not turn a
   * cooperative coroutine into an abandoned one. */
  int turns = 0;
  while (l->n_active > 0 || l->rq_head || work_pending(l)) {
    /* Checked every turn after that: coroutines that ignore cancellation
     * and keep yielding must not hold close past its deadline. */
    if (turns++ > 0 && l->n_active > 0 && deadline >= 0 &&
        coro_now() >= deadline)
      break;
    if (turn(l))
      continue;
    if (l->n_active == 0)
      continue; /* posts only */
    int64_t until = next_deadline(l);
    if (deadline >= 0 && (until < 0 || until > deadline))
      until = deadline;
    if (until < 0)
      break; /* blocked for good: nothing can wake them any more */
    idle(l, until);
  }
  run_posts(l);
  report_remotes(l);
  int rc = l->n_active > 0 ? -ETIMEDOUT : 0;
  if (rc < 0)
    report_abandoned(l);
  coro__watch_close(l);
  /* Everything goes: drop the transfer links first so that freeing
   * records does not search for the coroutines that would return to them. */
  for (coro *c = l->all; c; c = c->anext) {
    c->callees = 0;
    if (c->kind == CORO__CREATED)
      c->link.caller = NULL;
  }
  /* Abandon what is left: unlink from wait queues so user objects stay
   * consistent, report remotes, free records and stacks. */
  while (l->all) {
    coro *c = l->all;
    if (c->waitq)
      waitq_unlink(c);
    if (c->heap_index)
      heap_remove(l, c);
    if (c->remote) {
      coro_remote *r = c->remote;
      c->remote = NULL;
      coro__remote_complete(l, r, NULL, -ECANCELED);
    }
    coro__free(l, c);
  }
  if (l->zombie)
    l->zombie = NULL; /* already freed above: it was on the all list */
  l->rq_head = l->rq_tail = NULL;
  coro__resolver_loop_free(l);
  coro__stack_drain(l);
  coro__altstack_release(l);
  free(l->heap);
  coro__poll_free(l); /* [I/O] */
  /* A poster refused by shutdown may still be inside coro_loop_post (it
   * touches posters), and a stopper inside coro_loop_stop: wait for them
   * to leave. */
  while (atomic_load(&l->posters) > 0)
    sched_yield();
  close(l->wake_fd);
  coro__tls_loop = NULL;
  free(l);
  return rc;
}
