/* remote.c - spawning on a loop from another thread.
 *
 * A remote handle is shared by the thread that spawned and the loop, so it
 * is reference-counted: one reference for the caller (dropped by
 * coro_remote_release) and one for the loop (dropped by main's report of
 * the outcome). Its id is assigned at spawn time so the caller knows it at
 * once. The loop thread publishes the outcome (result, err, then done)
 * without a lock as the coroutine finishes, and reports it later (the
 * wake of coro_remote_wait under r->mu, on_done). The report takes r->mu
 * only when a thread counted itself in r->lockers (coro_remote_wait,
 * coro_remote_cancel): Go's Wait polls the done word (or its polling
 * slot: sched.c) and never locks.
 * Holding r->mu while posting a cancel keeps the loop from being freed
 * under the poster (close reports every record before it frees the
 * loop), and only because the canceller counted itself in lockers first:
 * the count is what makes the report take r->mu, for a cancel as much
 * as for a wait.
 *
 * A remote spawn allocates nothing in the common case: released records
 * are kept for reuse (their mutex and condition variable initialised), and
 * the posts that start and cancel the coroutine are nodes in the record.
 */
#include "coro_internal.h"

#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Released records kept for reuse, process-wide (a record may outlive its
 * loop), at most REMOTE_CACHE_MAX: enough for the spawns in flight of a
 * busy program, a bound on what an idle one keeps. */
#define REMOTE_CACHE_MAX 256
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static coro_remote *cache; /* linked through next */
static int cache_len;
/* Records ever allocated and freed, for coro__remote_outstanding (tests);
 * counted on the cold paths only, beside the cache. */
static atomic_long records_made, records_freed;

/* A record with everything before mu zeroed, or NULL (errno ENOMEM). The
 * fault point counts on a reuse too, so that the fault sweeps see the same
 * points whatever the cache holds. */
static coro_remote *remote_alloc(void) {
  if (CORO__UNLIKELY(coro__fault(CORO__FP_ALLOC))) {
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_lock(&cache_mu);
  coro_remote *r = cache;
  if (r) {
    cache = r->next;
    cache_len--;
  }
  pthread_mutex_unlock(&cache_mu);
  if (r) {
    /* Not the outcome's pair: done says which spawn it is for. */
    memset(r, 0, offsetof(coro_remote, done));
    memset(&r->lockers, 0,
           offsetof(coro_remote, mu) - offsetof(coro_remote, lockers));
    return r;
  }
  /* Aligned for the layout of coro_remote (coro_internal.h). */
  size_t size = (sizeof *r + CORO__REMOTE_ALIGN - 1) &
                ~(size_t)(CORO__REMOTE_ALIGN - 1);
  r = aligned_alloc(CORO__REMOTE_ALIGN, size);
  if (!r)
    return NULL;
  memset(r, 0, size);
  atomic_fetch_add_explicit(&records_made, 1, memory_order_relaxed);
  pthread_mutex_init(&r->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  return r;
}

/* Frees the records of the list `rs` (linked by next): as many as the
 * cache has room for go to it, under one lock for the whole list (the
 * spawners take cache_mu for each record they reuse, and a lock per record
 * doubled the traffic on its line), the rest to free(). */
static void remote_free_list(coro_remote *rs) {
  pthread_mutex_lock(&cache_mu);
  while (rs && cache_len < REMOTE_CACHE_MAX) {
    coro_remote *next = rs->next;
    rs->next = cache;
    cache = rs;
    cache_len++;
    rs = next;
  }
  pthread_mutex_unlock(&cache_mu);
  while (rs) {
    coro_remote *next = rs->next;
    pthread_mutex_destroy(&rs->mu);
    pthread_cond_destroy(&rs->cv);
    free(rs);
    atomic_fetch_add_explicit(&records_freed, 1, memory_order_relaxed);
    rs = next;
  }
}

long coro__remote_outstanding(void) {
  pthread_mutex_lock(&cache_mu);
  long n = atomic_load(&records_made) - atomic_load(&records_freed) -
           cache_len;
  pthread_mutex_unlock(&cache_mu);
  return n;
}

static void remote_free(coro_remote *r) {
  r->next = NULL;
  remote_free_list(r);
}

/* Drops a reference to r: 1 if it was the last (the caller frees r). A
 * release of a record nobody holds any more (a bug) counts as a free for
 * coro__remote_outstanding, which then shrinks. */
static int unref_last(coro_remote *r) {
  int refs = atomic_fetch_sub(&r->refs, 1);
  if (CORO__UNLIKELY(refs <= 0))
    atomic_fetch_add_explicit(&records_freed, 1, memory_order_relaxed);
  return refs == 1;
}

void coro__remote_ref(coro_remote *r) { atomic_fetch_add(&r->refs, 1); }

static void remote_unref(coro_remote *r) {
  if (unref_last(r))
    remote_free(r);
}

void coro__remote_release_n(coro_remote **rs, size_t n) {
  /* The records this drops the last reference of are freed as one list. */
  coro_remote *freed = NULL;
  for (size_t i = 0; i < n; i++) {
    coro_remote *r = rs[i];
    if (!r || !unref_last(r))
      continue;
    r->next = freed;
    freed = r;
  }
  if (freed)
    remote_free_list(freed);
}

/* On the loop thread, the only writer of the outcome: result and err,
 * then done (a release, for coro_remote_poll's load), once. Not seq_cst:
 * the Dekker pairs with done (lockers, notify) are the report's, which
 * fences first. A seq_cst store here waited for the store buffer to
 * drain, the slot's answer with it (sched.c "Polling slots"): a transfer
 * of the line the poller polls, which the loop paid in full before it
 * took the next request (8.7% of the samples with 64 goroutines in the
 * VM's slow state).
 * Without r->mu: a coro_remote_wait that checked done under it and found
 * it unset is woken by the report, which then sees it in lockers and
 * broadcasts under mu; a coro_remote_cancel that found it unset holds mu,
 * which the report (seeing it in lockers too) waits for, and the loop is
 * freed only after its reports. */
void coro__remote_publish(coro_remote *r, uint64_t id, void *result,
                          int err) {
  if (atomic_load_explicit(&r->done, memory_order_relaxed) == id)
    return;
  r->result = result;
  r->err = err;
  r->co = NULL;
  atomic_store_explicit(&r->done, id, memory_order_release);
}

/* 1 once r's outcome is published (seq_cst, as the Dekker pairs with
 * done need). */
static int finished(const coro_remote *r) {
  return atomic_load(&r->done) == r->id;
}

/* On the loop thread, once r is published: wakes coro_remote_wait, calls
 * on_done, and drops the loop's reference. */
void coro__remote_report(coro_remote *r) {
  /* done was stored before this fence, and its loads come after it: a
   * locker that the load misses counted itself (seq_cst) after the fence,
   * so its look at done, under mu, sees the outcome; so does a parker
   * whose notify flag on_done's load misses (callback.c). */
  atomic_thread_fence(memory_order_seq_cst);
  /* Go's Wait, which polls, never locks: a lock, a
   * broadcast and an unlock per coroutine saved on the loop thread. */
  if (atomic_load(&r->lockers)) {
    pthread_mutex_lock(&r->mu);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
  }
  if (r->on_done)
    r->on_done(r, r->udata);
  remote_unref(r);
}

void coro__remote_complete(coro_loop *l, coro_remote *r, void *result,
                           int err) {
  (void)l;
  coro__remote_publish(r, r->id, result, err);
  coro__remote_report(r);
}

void coro__slot_answer(coro__slot *s, uint64_t q, void *result, int ok) {
  /* Taken over by a later request: this request's poster learns its
   * outcome from the record (it finds the slot's number changed). A
   * poster that takes the slot over between this look and the answer
   * writes only the request's fields and number, none of the answer's,
   * and its own answer carries its own number. */
  if (atomic_load_explicit(&s->req, memory_order_relaxed) != q)
    return;
  /* 0 first: a poster of an earlier request that reads result while it
   * changes then finds resp no longer its number (a seqlock). */
  atomic_store_explicit(&s->resp, 0, memory_order_relaxed);
  atomic_thread_fence(memory_order_release); /* the 0, then result */
  atomic_store_explicit(&s->result, result, memory_order_relaxed);
  atomic_store_explicit(&s->ok, ok, memory_order_relaxed);
  atomic_store_explicit(&s->resp, q, memory_order_release);
}

/* On the loop thread: spawns r's coroutine, fn(arg) with opts and id as
 * the post or the slot gave them, or completes r with why it cannot
 * start. cancel: r's cancel flag may be set (see
 * coro__remote_start_slot). s, q: the slot and request it came through,
 * else NULL: answered "read the record" when it does not start, and then
 * (main's own line of the record) when it finishes. */
static void start(coro_loop *l, coro_remote *r, coro_fn fn, void *arg,
                  const coro_opts *opts, uint64_t id, int cpu, int cancel,
                  coro__slot *s, uint64_t q) {
  if (l->slept) { /* the first remote spawn after a sleep */
    l->slept = 0;
    coro__colocate_note(l, cpu);
  }
  /* Cancelled before it started: it never runs. Arriving while the loop
   * closes: it never runs either, and says why (-ESHUTDOWN, as a spawn
   * refused by a closing loop does), so the caller can tell "the loop shut
   * down under it" from "it was cancelled". */
  int err = 0;
  coro *co = NULL;
  /* While the loop closes, cancels are not posted (they are refused:
   * close cancels everything), so the flag is read then too. */
  if ((cancel || l->closing) && atomic_load(&r->cancel))
    err = -ECANCELED;
  else if (l->closing)
    err = -ESHUTDOWN;
  else
    err = coro__spawn(l, fn, arg, opts, s != NULL, &co);
  if (err < 0) {
    if (s)
      coro__slot_answer(s, q, NULL, 0);
    coro__remote_complete(l, r, NULL, err);
    return;
  }
  co->id = id;
  co->remote = r;
  co->flags |= CORO__F_DETACHED;
  r->co = co;
  r->slot = s;
  r->slot_req = q;
  atomic_store_explicit(&r->started, id, memory_order_relaxed);
}

/* On the loop thread, on the loop stack: a post's remote spawn. */
static void remote_start(void *p) {
  coro_remote *r = p;
  start(coro__tls_loop, r, r->fn, r->arg, &r->opts, r->id, r->cpu, 1, NULL,
        0);
}

/* Main, as remote_start for a post, but from what the slot held: until
 * the answer, main reads and writes no line the poster wrote for this
 * spawn except the slot's (see sched.c "Polling slots"). A cancel sets
 * r->cancel, then posts (or, on the loop's thread, sets cancelled_here;
 * while the loop closes, it does not post): it can have stopped this
 * spawn from starting only if its post came with this turn's (taken
 * before main looked at the slots), it ran on the loop's thread, or the
 * loop closes; a later one cancels the coroutine that started. Otherwise
 * the record's first line, which the poster has just written, is not
 * read. */
void coro__remote_start_slot(coro_loop *l, coro__slot *s, uint64_t q,
                             const coro__slot_request *rq, int posts) {
  start(l, rq->r, rq->fn, rq->arg, NULL, rq->id, rq->cpu, posts, s, q);
}

/* A record for a spawn of fn(arg) on loop, with the caller's and the
 * loop's references, or NULL (ENOMEM). */
static coro_remote *remote_new(coro_loop *loop, coro_fn fn, void *arg,
                               void (*on_done)(coro_remote *r, void *udata),
                               void *udata) {
  coro_remote *r = remote_alloc();
  if (!r)
    return NULL;
  atomic_init(&r->refs, 2);
  r->id = coro__next_id();
  r->loop = loop;
  r->fn = fn;
  r->arg = arg;
  r->on_done = on_done;
  r->udata = udata;
  /* The poster's CPU, for colocate.c, when the loop looks asleep (this
   * spawn may be the one that wakes it); -1 otherwise, which spares the
   * other spawns the call (a read of rseq with glibc >= 2.35, a system
   * call without). `sleeping` is read-mostly, while a look at post_head
   * before the push's CAS would fetch that contended line twice. A stale
   * look only skips a note or makes one more. */
  r->cpu = coro__loop_asleep(loop) ? sched_getcpu() : -1;
  return r;
}

int coro_remote_spawn(coro_loop *loop, coro_fn fn, void *arg,
                      const coro_opts *opts,
                      void (*on_done)(coro_remote *r, void *udata),
                      void *udata, coro_remote **out) {
  return coro__remote_spawn_owe(loop, fn, arg, opts, on_done, udata, out,
                                NULL, 0);
}

int coro__remote_spawn_owe(coro_loop *loop, coro_fn fn, void *arg,
                           const coro_opts *opts,
                           void (*on_done)(coro_remote *r, void *udata),
                           void *udata, coro_remote **out, int *owe,
                           int beat) {
  if (!loop || !fn || !out)
    return -EINVAL;
  int rc = coro__check_opts(opts);
  if (rc < 0)
    return rc;
  coro_remote *r = remote_new(loop, fn, arg, on_done, udata);
  if (!r)
    return -ENOMEM;
  if (opts)
    r->opts = *opts;
  r->start_post.fn = remote_start;
  r->start_post.arg = r;
  /* beat: the spawner runs and will poll (the Go bindings' Spawn), a
   * beat for the loop ("Liveness"), on post_head's line, which the push
   * takes next. Before the push: main, which sees the post, then sees the
   * beat too. After it, main had often run the coroutine and started its
   * next spin for posts before the beat came, and that spin, finding no
   * sign of a waiter, used its learned length, which a miss had
   * shortened: the loop fell asleep once in 300 round trips of one
   * goroutine's Spawn + Wait, and each such round trip waited for a
   * wake-up. Just before the push, not before the record is made: the
   * loop's spin reads the line, and in between it took the line back, so
   * that the push waited for it a second time (paired rounds: the busy
   * median op 0.95x, faster in 11 and 12 of 12 in two runs; Throughput
   * 0.95x). */
  if (beat)
    atomic_fetch_add_explicit(coro__loop_waiter_beat(loop), 1,
                              memory_order_relaxed);
  rc = coro__loop_post_node_owe(loop, &r->start_post, owe);
  if (rc < 0) {
    remote_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

int coro__remote_spawn_slot(coro_loop *loop, coro__slot *s, coro_fn fn,
                            void *arg,
                            void (*on_done)(coro_remote *r, void *udata),
                            void *udata, coro_remote **out, int *owe,
                            uint64_t req) {
  if (owe)
    *owe = 0;
  if (!loop || !s || !fn || !out || req == 0)
    return -EINVAL;
  coro_remote *r = remote_new(loop, fn, arg, on_done, udata);
  if (!r)
    return -ENOMEM;
  /* The request: plain stores, and its number last with a release. No
   * locked instruction between the record's stores and this one: it
   * would wait for the record's lines (main read them last time), and
   * only then could the slot's line start towards this CPU. */
  s->r = r;
  s->fn = fn;
  s->arg = arg;
  s->id = r->id;
  s->cpu = r->cpu;
  atomic_store_explicit(&s->req, req, memory_order_release);
  coro__loop_post_slot(loop, owe);
  *out = r;
  return 0;
}

/* A finished record's outcome, as coro_remote_wait returns it: err, and
 * the result in *result (if asked for) when err is 0. */
static int wait_outcome(const coro_remote *r, void **result) {
  if (r->err == 0 && result)
    *result = r->result;
  return r->err;
}

int coro_remote_wait(coro_remote *r, int64_t deadline, void **result) {
  if (!r)
    return -EINVAL;
  if (coro__tls_loop == r->loop)
    return -EDEADLK; /* the loop cannot run while its thread waits */
  /* Finished already: the outcome is final (coro_remote_poll), and a
   * count in lockers would only cost the report a lock. */
  if (finished(r))
    return wait_outcome(r, result);
  atomic_fetch_add(&r->lockers, 1); /* before the look at done: report */
  pthread_mutex_lock(&r->mu);
  int rc = 0;
  while (!finished(r)) {
    if (deadline == 0) {
      rc = -ETIMEDOUT;
      break;
    }
    if (deadline < 0) {
      pthread_cond_wait(&r->cv, &r->mu);
      continue;
    }
    struct timespec ts = {.tv_sec = deadline / 1000000000,
                          .tv_nsec = deadline % 1000000000};
    if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT &&
        !finished(r)) {
      rc = -ETIMEDOUT;
      break;
    }
  }
  if (rc == 0)
    rc = wait_outcome(r, result);
  pthread_mutex_unlock(&r->mu);
  atomic_fetch_sub(&r->lockers, 1);
  return rc;
}

int coro_remote_poll(coro_remote *r, void **result, int *err) {
  if (!r)
    return -EINVAL;
  /* No lock: result and err are written before done is stored (a
   * release) and never after, so this acquire load is enough. When the
   * loop thread stored done under r->mu, a poller that saw done and
   * then took r->mu found it held: a futex wait and a wake per Spawn +
   * Wait whenever the waiter polled on another CPU. */
  if (!finished(r))
    return 0;
  if (result)
    *result = r->result;
  if (err)
    *err = r->err;
  return 1;
}

/* On the loop thread: cancel the coroutine if it is still alive. */
static void remote_cancel_on_loop(void *p) {
  coro_remote *r = p;
  if (r->co)
    coro_cancel(r->co);
  remote_unref(r);
}

int coro_remote_cancel(coro_remote *r) {
  if (!r)
    return -EINVAL;
  /* Cancellation is sticky: the first call alone posts (the record holds
   * one cancel node); later ones have nothing to add. */
  if (atomic_exchange(&r->cancel, 1))
    return 0;
  atomic_fetch_add(&r->lockers, 1); /* before the look at done: report */
  pthread_mutex_lock(&r->mu);
  if (!finished(r)) {
    atomic_fetch_add(&r->refs, 1);
    if (coro__tls_loop == r->loop) {
      pthread_mutex_unlock(&r->mu);
      atomic_fetch_sub(&r->lockers, 1);
      /* No post: main's next look at the slots must read the flag
       * (coro__remote_start_slot). */
      r->loop->cancelled_here = 1;
      remote_cancel_on_loop(r);
      return 0;
    }
    r->cancel_post.fn = remote_cancel_on_loop;
    r->cancel_post.arg = r;
    if (coro__loop_post_node(r->loop, &r->cancel_post) < 0)
      atomic_fetch_sub(&r->refs, 1); /* closing: it cancels everything */
  }
  pthread_mutex_unlock(&r->mu);
  atomic_fetch_sub(&r->lockers, 1);
  return 0;
}

uint64_t coro_remote_id(const coro_remote *r) { return r ? r->id : 0; }

void coro_remote_release(coro_remote *r) {
  if (r)
    remote_unref(r);
}

/* For the Go bindings: 1 if the coroutine was spawned on its loop (it has
 * run, or runs now), 0 if it has not been (yet, or ever). */
int coro__remote_started(const coro_remote *r) {
  return atomic_load(&r->started) == r->id;
}
