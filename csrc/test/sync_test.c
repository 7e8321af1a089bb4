/* sync_test.c - tests of coro's locks and queues (sync.c, chan.c) through the
 * public API only: mutex, condition variable, semaphore, wait group and
 * channel. Every test runs once per stack mode (GUARDED and SHARED), each
 * in a fork()ed child (see testing.h); the last line is `N passed, N failed`.
 *
 * SHARED mode rule for the tests themselves: a suspended coroutine's stack
 * bytes are not at their address, so every object that several coroutines
 * touch is a global, never a local of the coroutine that made it.
 *
 * Timeouts use deadlines of a millisecond or so and never assert elapsed
 * times, so the tests hold on a loaded machine and under valgrind.
 *
 * Build: `make` (build/native/sync_test), or by hand by compiling it with
 * every .c and .S file of csrc/ and -lpthread.
 */
#include "../coro.h"
#include "testing_loop.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static int64_t in_ms(int64_t n) {
  return coro_now() + n * 1000000;
}

/* Busy-wait (without switching) until a deadline set earlier has passed,
 * so that a wakeup and an expired deadline meet in the same loop tick. */
static void spin_ms(int64_t n) {
  int64_t end = in_ms(n);
  while (coro_now() < end) {
  }
}

#define go testing_go

static intptr_t join(coro *co) {
  void *r = NULL;
  CHECK_EQ(coro_join(co, -1, &r), 0);
  return (intptr_t)r;
}

static void yields(int n) {
  for (int i = 0; i < n; i++)
    CHECK_EQ(coro_yield(), 0);
}

/* Yield until *flag reaches want (bounded, so a bug fails instead of hangs). */
static void yield_until(const volatile int *flag, int want) {
  for (int i = 0; i < 10000 && *flag < want; i++)
    CHECK_EQ(coro_yield(), 0);
  CHECK_GE(*flag, want);
}

/* Each test runs on a fresh loop of the stack mode under test. */
static void sync_opts(int mode, coro_loop_opts *o) {
  o->stack_mode = mode;
  o->name = "sync_test";
}
#define TEST(name) TESTING_LOOP_TEST(name, sync_opts)

/* Shared objects and records (globals: see the SHARED rule above). */
static coro_mutex g_m, g_m2;
static coro_cond g_c, g_c2;
static coro_sem g_s, g_s2;
static coro_waitgroup g_wg;
static coro_chan *g_ch, *g_ch2;
static int g_order[256], g_norder;
static int g_rc[64];
static int g_val[64];
static volatile int g_ready;
static int64_t g_deadline;

static void reset(void) {
  g_norder = 0;
  g_ready = 0;
  g_deadline = -1;
  memset(g_rc, 0x7f, sizeof g_rc);
  memset(g_val, 0xff, sizeof g_val);
}

/* The witness runs as soon as the spawning coroutine switches: g_witness
 * still 0 later proves that nothing in between switched. */
static volatile int g_witness;
static void *witness_body(void *a) {
  (void)a;
  g_witness = 1;
  return NULL;
}
static coro *witness(void) {
  g_witness = 0;
  return go(witness_body, 0);
}

/* Hold g_m until g_s2 is released (a lock owner that is not the test). */
static void *holder_body(void *a) {
  (void)a;
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  g_ready++;
  CHECK_EQ(coro_sem_acquire(&g_s2, -1), 0);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  return NULL;
}

/* ---- mutex ------------------------------------------------------------ */

TEST(mutex_basic) {
  (void)unused_;
  coro_mutex m;
  CHECK_EQ(coro_mutex_init(NULL), -EINVAL);
  CHECK_EQ(coro_mutex_lock(NULL, -1), -EINVAL);
  CHECK_EQ(coro_mutex_unlock(NULL), -EINVAL);
  CHECK_EQ(coro_mutex_destroy(NULL), -EINVAL);
  CHECK_EQ(coro_mutex_init(&m), 0);
  CHECK_EQ(coro_mutex_unlock(&m), -EPERM); /* not locked at all */
  CHECK_EQ(coro_mutex_lock(&m, -1), 0);
  CHECK_EQ(coro_mutex_lock(&m, -1), -EDEADLK);
  CHECK_EQ(coro_mutex_lock(&m, 0), -EDEADLK);
  CHECK_EQ(coro_mutex_lock(&m, in_ms(1)), -EDEADLK);
  CHECK_EQ(coro_mutex_destroy(&m), -EBUSY);
  CHECK_EQ(coro_mutex_unlock(&m), 0);
  CHECK_EQ(coro_mutex_unlock(&m), -EPERM);
  CHECK_EQ(coro_mutex_lock(&m, 0), 0); /* a try on a free mutex succeeds */
  CHECK_EQ(coro_mutex_unlock(&m), 0);
  CHECK_EQ(coro_mutex_destroy(&m), 0);
  return NULL;
}

/* Lock g_m with g_deadline (id 1) or -1 (others), record, hold, unlock. */
static void *mutex_waiter(void *arg) {
  int id = (int)(intptr_t)arg;
  int rc = coro_mutex_lock(&g_m, id == 1 ? g_deadline : -1);
  g_rc[id] = rc;
  if (rc != 0)
    return NULL;
  g_order[g_norder++] = id;
  /* Let everyone else run while holding: a barger would show up here. */
  for (int i = 0; i < 3; i++)
    (void)coro_yield();
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  return NULL;
}

TEST(mutex_nonowner) {
  (void)unused_;
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_sem_init(&g_s2, 0), 0);
  coro *h = go(holder_body, 0);
  yield_until(&g_ready, 1);
  CHECK_EQ(coro_mutex_unlock(&g_m), -EPERM); /* held by h, not by us */
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -ETIMEDOUT);
  CHECK_EQ(coro_mutex_lock(&g_m, in_ms(1)), -ETIMEDOUT);
  /* A waiter makes the mutex busy even after its owner lets go. */
  coro *w = go(mutex_waiter, 0);
  yields(2);
  CHECK_EQ(coro_mutex_destroy(&g_m), -EBUSY);
  CHECK_EQ(coro_sem_release(&g_s2), 0);
  join(h);
  join(w);
  CHECK_EQ(g_rc[0], 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

TEST(mutex_fifo) {
  (void)unused_;
  enum { N = 20 };
  coro *w[N + 1];
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  for (int i = 0; i < N; i++)
    w[i] = go(mutex_waiter, i);
  yields(2); /* every waiter has queued, in spawn order */
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  /* Ownership went to waiter 0 at unlock: no barging by the unlocker. */
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -ETIMEDOUT);
  w[N] = go(mutex_waiter, N); /* a latecomer queues behind all of them */
  for (int i = 0; i <= N; i++)
    join(w[i]);
  CHECK_EQ(g_norder, N + 1);
  for (int i = 0; i <= N; i++)
    CHECK_EQ(g_order[i], i);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

static int64_t g_counter;
static void *contender(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < 200; i++) {
    int rc;
    /* Odd contenders use short deadlines and retry, so that timeouts
     * leave the queue while ownership is being handed along it. */
    if (id & 1) {
      while ((rc = coro_mutex_lock(&g_m, in_ms(1))) == -ETIMEDOUT) {
      }
    } else {
      rc = coro_mutex_lock(&g_m, -1);
    }
    CHECK_EQ(rc, 0);
    int64_t v = g_counter;
    if (i % 3 == 0)
      CHECK_EQ(coro_yield(), 0);
    g_counter = v + 1;
    CHECK_EQ(coro_mutex_unlock(&g_m), 0);
    if (i % 5 == 0)
      CHECK_EQ(coro_yield(), 0);
  }
  return NULL;
}

TEST(mutex_contention) {
  (void)unused_;
  enum { N = 50 };
  coro *w[N];
  g_counter = 0;
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  for (int i = 0; i < N; i++)
    w[i] = go(contender, i);
  for (int i = 0; i < N; i++)
    join(w[i]);
  CHECK_EQ(g_counter, N * 200);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

TEST(mutex_timeout) {
  (void)unused_;
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  g_deadline = in_ms(1);
  coro *w0 = go(mutex_waiter, 0), *w1 = go(mutex_waiter, 1);
  coro *w2 = go(mutex_waiter, 2);
  join(w1); /* times out between two waiters */
  CHECK_EQ(g_rc[1], -ETIMEDOUT);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -EDEADLK); /* still ours */
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  join(w0);
  join(w2);
  CHECK_EQ(g_norder, 2);
  CHECK_EQ(g_order[0], 0);
  CHECK_EQ(g_order[1], 2);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), 0);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

TEST(mutex_cancel) {
  (void)unused_;
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  coro *w0 = go(mutex_waiter, 0), *w2 = go(mutex_waiter, 2);
  coro *w3 = go(mutex_waiter, 3);
  yields(2);
  CHECK_EQ(coro_cancel(w2), 0); /* the middle one */
  join(w2);
  CHECK_EQ(g_rc[2], -ECANCELED);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -EDEADLK); /* still ours */
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  join(w0);
  join(w3);
  CHECK_EQ(g_norder, 2);
  CHECK_EQ(g_order[0], 0);
  CHECK_EQ(g_order[1], 3);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  /* The only waiter cancelled: the mutex stays with its owner, then free. */
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  coro *w = go(mutex_waiter, 4);
  yields(2);
  CHECK_EQ(coro_cancel(w), 0);
  join(w);
  CHECK_EQ(g_rc[4], -ECANCELED);
  CHECK_EQ(coro_mutex_destroy(&g_m), -EBUSY);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

/* Ownership handed at unlock survives a cancel or an expired deadline that
 * reaches the waiter before it runs: it owns the mutex, nothing is lost. */
TEST(mutex_handoff_race) {
  (void)unused_;
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  coro *w = go(mutex_waiter, 0);
  yields(2);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  CHECK_EQ(coro_cancel(w), 0);
  join(w);
  CHECK_EQ(g_rc[0], 0);
  CHECK_EQ(g_norder, 1);

  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  g_deadline = in_ms(200); /* generous: valgrind must park the waiter first */
  w = go(mutex_waiter, 1);
  yields(2);
  spin_ms(250); /* its deadline has passed, but no timer has fired yet */
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  join(w);
  CHECK_EQ(g_rc[1], 0);
  CHECK_EQ(g_norder, 2);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), 0);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

/* ---- condition variable ----------------------------------------------- */

/* Wait on g_c once; record the status and the order of wakeups. */
static void *cond_waiter(void *arg) {
  int id = (int)(intptr_t)arg;
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  g_ready++;
  g_rc[id] = coro_cond_wait(&g_c, &g_m, id == 1 ? g_deadline : -1);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -EDEADLK); /* holds m, whatever */
  g_order[g_norder++] = id;
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  return NULL;
}

TEST(cond_basic) {
  (void)unused_;
  reset();
  CHECK_EQ(coro_cond_init(NULL), -EINVAL);
  CHECK_EQ(coro_cond_signal(NULL), -EINVAL);
  CHECK_EQ(coro_cond_broadcast(NULL), -EINVAL);
  CHECK_EQ(coro_cond_destroy(NULL), -EINVAL);
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_cond_wait(NULL, &g_m, -1), -EINVAL);
  CHECK_EQ(coro_cond_wait(&g_c, NULL, -1), -EINVAL);
  CHECK_EQ(coro_cond_wait(&g_c, &g_m, -1), -EPERM); /* m not held */
  CHECK_EQ(coro_cond_signal(&g_c), 0);              /* nobody waits */
  CHECK_EQ(coro_cond_broadcast(&g_c), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  CHECK_EQ(coro_cond_wait(&g_c, &g_m, 0), -ETIMEDOUT);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -EDEADLK);
  CHECK_EQ(coro_cond_wait(&g_c, &g_m, in_ms(1)), -ETIMEDOUT);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -EDEADLK);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  /* A waiter that times out leaves the queue: a later signal is not used
   * up on it but reaches the next waiter. */
  g_deadline = in_ms(1);
  coro *w1 = go(cond_waiter, 1);
  join(w1);
  CHECK_EQ(g_rc[1], -ETIMEDOUT);
  coro *w0 = go(cond_waiter, 0);
  yield_until(&g_ready, 2);
  CHECK_EQ(coro_cond_destroy(&g_c), -EBUSY);
  CHECK_EQ(coro_cond_signal(&g_c), 0);
  join(w0);
  CHECK_EQ(g_rc[0], 0);
  CHECK_EQ(coro_cond_destroy(&g_c), 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

TEST(cond_signal_fifo) {
  (void)unused_;
  enum { N = 10 };
  coro *w[N];
  reset();
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  for (int i = 0; i < N; i++)
    w[i] = go(cond_waiter, i + 2);
  yield_until(&g_ready, N);
  for (int k = 0; k < N; k++) {
    CHECK_EQ(coro_cond_signal(&g_c), 0);
    yields(3);
    CHECK_EQ(g_norder, k + 1); /* one signal, one wakeup */
  }
  for (int i = 0; i < N; i++) {
    join(w[i]);
    CHECK_EQ(g_order[i], i + 2);
    CHECK_EQ(g_rc[i + 2], 0);
  }
  CHECK_EQ(coro_cond_destroy(&g_c), 0);
  return NULL;
}

TEST(cond_broadcast) {
  (void)unused_;
  enum { N = 10 };
  coro *w[N];
  reset();
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  for (int i = 0; i < N; i++)
    w[i] = go(cond_waiter, i + 2);
  yield_until(&g_ready, N);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  CHECK_EQ(coro_cond_broadcast(&g_c), 0);
  yields(3);
  CHECK_EQ(g_norder, 0); /* all woken, all queued for m, which we hold */
  CHECK_EQ(coro_cond_destroy(&g_c), 0);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  for (int i = 0; i < N; i++) {
    join(w[i]);
    CHECK_EQ(g_order[i], i + 2);
    CHECK_EQ(g_rc[i + 2], 0);
  }
  return NULL;
}

static volatile int g_cw_cancelled;
static void *cond_cancel_waiter(void *arg) {
  (void)arg;
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  g_ready++;
  g_rc[0] = coro_cond_wait(&g_c, &g_m, -1);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -EDEADLK); /* re-locked */
  g_cw_cancelled = coro_cancelled();
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  g_rc[1] = coro_sem_acquire(&g_s, -1); /* the cancel is still sticky */
  return NULL;
}

/* Re-locking after the wait is not cancellable: a cancelled waiter waits
 * for the mutex like any other, then returns with it held. */
TEST(cond_cancel_relock) {
  (void)unused_;
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_sem_init(&g_s, 0), 0);
  for (int round = 0; round < 2; round++) {
    reset();
    g_cw_cancelled = 0;
    coro *w = go(cond_cancel_waiter, 0);
    yield_until(&g_ready, 1);
    CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
    if (round == 0) {
      CHECK_EQ(coro_cancel(w), 0); /* cancelled in the wait */
    } else {
      CHECK_EQ(coro_cond_signal(&g_c), 0);
      yields(3);
      CHECK_EQ(coro_cancel(w), 0); /* cancelled while re-locking */
    }
    yields(3);
    CHECK_EQ(coro_done(w), 0); /* still waiting for m */
    CHECK_EQ(coro_mutex_unlock(&g_m), 0);
    join(w);
    CHECK_EQ(g_rc[0], round == 0 ? -ECANCELED : 0);
    CHECK_EQ(g_cw_cancelled, 1);
    CHECK_EQ(g_rc[1], -ECANCELED);
    CHECK_EQ(coro_mutex_destroy(&g_m), 0);
    CHECK_EQ(coro_cond_destroy(&g_c), 0);
  }
  return NULL;
}

/* A bounded queue built from a mutex and two conditions. */
static int g_q[8], g_qhead, g_qlen, g_qdone;
static int64_t g_sum, g_items;
static void *cv_producer(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < 300; i++) {
    CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
    while (g_qlen == 8)
      CHECK_EQ(coro_cond_wait(&g_c2, &g_m, -1), 0);
    g_q[(g_qhead + g_qlen++) % 8] = id * 1000 + i;
    CHECK_EQ(coro_cond_signal(&g_c), 0);
    CHECK_EQ(coro_mutex_unlock(&g_m), 0);
    if (i % 7 == 0)
      CHECK_EQ(coro_yield(), 0);
  }
  return NULL;
}
static void *cv_consumer(void *arg) {
  (void)arg;
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  for (;;) {
    while (g_qlen == 0 && !g_qdone)
      CHECK_EQ(coro_cond_wait(&g_c, &g_m, -1), 0);
    if (g_qlen == 0)
      break;
    g_sum += g_q[g_qhead];
    g_items++;
    g_qhead = (g_qhead + 1) % 8;
    g_qlen--;
    CHECK_EQ(coro_cond_signal(&g_c2), 0);
  }
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  return NULL;
}

TEST(cond_prodcons) {
  (void)unused_;
  enum { P = 4, C = 3 };
  coro *p[P], *c[C];
  int64_t want = 0;
  g_qhead = g_qlen = g_qdone = 0;
  g_sum = g_items = 0;
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_cond_init(&g_c2), 0);
  for (int i = 0; i < C; i++)
    c[i] = go(cv_consumer, i);
  for (int i = 0; i < P; i++) {
    p[i] = go(cv_producer, i + 1);
    for (int k = 0; k < 300; k++)
      want += (i + 1) * 1000 + k;
  }
  for (int i = 0; i < P; i++)
    join(p[i]);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  g_qdone = 1;
  CHECK_EQ(coro_cond_broadcast(&g_c), 0);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  for (int i = 0; i < C; i++)
    join(c[i]);
  CHECK_EQ(g_items, P * 300);
  CHECK_EQ(g_sum, want);
  CHECK_EQ(coro_cond_destroy(&g_c), 0);
  CHECK_EQ(coro_cond_destroy(&g_c2), 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

/* ---- semaphore -------------------------------------------------------- */

TEST(sem_basic) {
  (void)unused_;
  coro_sem s;
  CHECK_EQ(coro_sem_init(NULL, 0), -EINVAL);
  CHECK_EQ(coro_sem_init(&s, -1), -EINVAL);
  CHECK_EQ(coro_sem_acquire(NULL, -1), -EINVAL);
  CHECK_EQ(coro_sem_release(NULL), -EINVAL);
  CHECK_EQ(coro_sem_value(NULL), -EINVAL);
  CHECK_EQ(coro_sem_destroy(NULL), -EINVAL);
  CHECK_EQ(coro_sem_init(&s, 2), 0);
  CHECK_EQ(coro_sem_value(&s), 2);
  CHECK_EQ(coro_sem_acquire(&s, -1), 0);
  CHECK_EQ(coro_sem_acquire(&s, 0), 0);
  CHECK_EQ(coro_sem_value(&s), 0);
  CHECK_EQ(coro_sem_acquire(&s, 0), -ETIMEDOUT);
  CHECK_EQ(coro_sem_acquire(&s, in_ms(1)), -ETIMEDOUT);
  CHECK_EQ(coro_sem_value(&s), 0);
  CHECK_EQ(coro_sem_release(&s), 0);
  CHECK_EQ(coro_sem_release(&s), 0);
  CHECK_EQ(coro_sem_value(&s), 2);
  CHECK_EQ(coro_sem_destroy(&s), 0);
  CHECK_EQ(coro_sem_init(&s, INT64_MAX), 0);
  CHECK_EQ(coro_sem_release(&s), -EOVERFLOW);
  CHECK_EQ(coro_sem_value(&s), INT64_MAX);
  CHECK_EQ(coro_sem_acquire(&s, 0), 0);
  CHECK_EQ(coro_sem_release(&s), 0);
  CHECK_EQ(coro_sem_value(&s), INT64_MAX);
  return NULL;
}

static void *sem_waiter(void *arg) {
  int id = (int)(intptr_t)arg;
  int rc = coro_sem_acquire(&g_s, id == 1 ? g_deadline : -1);
  g_rc[id] = rc;
  if (rc == 0)
    g_order[g_norder++] = id;
  return NULL;
}

TEST(sem_fifo_handoff) {
  (void)unused_;
  enum { N = 8 };
  coro *w[N];
  reset();
  CHECK_EQ(coro_sem_init(&g_s, 0), 0);
  for (int i = 0; i < N; i++)
    w[i] = go(sem_waiter, i + 2);
  yields(2);
  CHECK_EQ(coro_sem_destroy(&g_s), -EBUSY);
  CHECK_EQ(coro_cancel(w[3]), 0);
  yields(2);
  CHECK_EQ(g_rc[5], -ECANCELED);
  for (int k = 0; k < N - 1; k++) {
    CHECK_EQ(coro_sem_release(&g_s), 0);
    /* The unit went to the longest waiter, not into the value. */
    CHECK_EQ(coro_sem_value(&g_s), 0);
    CHECK_EQ(coro_sem_acquire(&g_s, 0), -ETIMEDOUT);
    yields(2);
    CHECK_EQ(g_norder, k + 1);
  }
  for (int i = 0; i < N; i++)
    join(w[i]);
  int want[] = {2, 3, 4, 6, 7, 8, 9};
  for (int i = 0; i < N - 1; i++)
    CHECK_EQ(g_order[i], want[i]);
  CHECK_EQ(coro_sem_value(&g_s), 0);
  CHECK_EQ(coro_sem_destroy(&g_s), 0);
  return NULL;
}

/* A unit handed to a waiter survives a cancel or an expired deadline that
 * reaches it before it runs. */
TEST(sem_race) {
  (void)unused_;
  reset();
  CHECK_EQ(coro_sem_init(&g_s, 0), 0);
  coro *w = go(sem_waiter, 0);
  yields(2);
  CHECK_EQ(coro_sem_release(&g_s), 0);
  CHECK_EQ(coro_cancel(w), 0);
  join(w);
  CHECK_EQ(g_rc[0], 0);
  g_deadline = in_ms(200);
  w = go(sem_waiter, 1);
  yields(2);
  spin_ms(250);
  CHECK_EQ(coro_sem_release(&g_s), 0);
  join(w);
  CHECK_EQ(g_rc[1], 0);
  CHECK_EQ(coro_sem_value(&g_s), 0);
  /* And a waiter that timed out took nothing: the unit stays. */
  g_deadline = in_ms(1);
  w = go(sem_waiter, 1);
  join(w);
  CHECK_EQ(g_rc[1], -ETIMEDOUT);
  CHECK_EQ(coro_sem_release(&g_s), 0);
  CHECK_EQ(coro_sem_value(&g_s), 1);
  return NULL;
}

/* ---- wait group ------------------------------------------------------- */

TEST(wg_basic) {
  (void)unused_;
  coro_waitgroup wg;
  CHECK_EQ(coro_wg_init(NULL), -EINVAL);
  CHECK_EQ(coro_wg_add(NULL, 1), -EINVAL);
  CHECK_EQ(coro_wg_done(NULL), -EINVAL);
  CHECK_EQ(coro_wg_wait(NULL, -1), -EINVAL);
  CHECK_EQ(coro_wg_destroy(NULL), -EINVAL);
  CHECK_EQ(coro_wg_init(&wg), 0);
  CHECK_EQ(coro_wg_wait(&wg, 0), 0); /* count 0: at once */
  CHECK_EQ(coro_wg_wait(&wg, -1), 0);
  CHECK_EQ(coro_wg_done(&wg), -EINVAL); /* would go negative */
  CHECK_EQ(coro_wg_wait(&wg, 0), 0);    /* ... and changed nothing */
  CHECK_EQ(coro_wg_add(&wg, 2), 0);
  CHECK_EQ(coro_wg_add(&wg, -3), -EINVAL);
  CHECK_EQ(coro_wg_add(&wg, INT64_MIN), -EINVAL);
  CHECK_EQ(coro_wg_wait(&wg, 0), -ETIMEDOUT);
  CHECK_EQ(coro_wg_wait(&wg, in_ms(1)), -ETIMEDOUT);
  CHECK_EQ(coro_wg_done(&wg), 0);
  CHECK_EQ(coro_wg_wait(&wg, 0), -ETIMEDOUT);
  CHECK_EQ(coro_wg_done(&wg), 0);
  CHECK_EQ(coro_wg_wait(&wg, 0), 0);
  CHECK_EQ(coro_wg_add(&wg, 0), 0);
  CHECK_EQ(coro_wg_add(&wg, 1), 0);
  CHECK_EQ(coro_wg_add(&wg, INT64_MAX), -EOVERFLOW);
  CHECK_EQ(coro_wg_done(&wg), 0);
  CHECK_EQ(coro_wg_wait(&wg, 0), 0);
  CHECK_EQ(coro_wg_destroy(&wg), 0);
  return NULL;
}

static void *wg_waiter(void *arg) {
  int id = (int)(intptr_t)arg;
  g_rc[id] = coro_wg_wait(&g_wg, -1);
  g_order[g_norder++] = id;
  return NULL;
}
static void *wg_worker(void *arg) {
  for (intptr_t i = 0; i < (intptr_t)arg; i++)
    CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_wg_done(&g_wg), 0);
  return NULL;
}

TEST(wg_waiters) {
  (void)unused_;
  enum { W = 5, K = 6 };
  coro *w[W], *k[K];
  reset();
  CHECK_EQ(coro_wg_init(&g_wg), 0);
  CHECK_EQ(coro_wg_add(&g_wg, 1), 0);
  for (int i = 0; i < W; i++)
    w[i] = go(wg_waiter, i);
  yields(2);
  CHECK_EQ(coro_wg_destroy(&g_wg), -EBUSY);
  CHECK_EQ(coro_cancel(w[2]), 0);
  join(w[2]);
  CHECK_EQ(g_rc[2], -ECANCELED);
  CHECK_EQ(coro_wg_add(&g_wg, K), 0);
  for (int i = 0; i < K; i++)
    k[i] = go(wg_worker, 3 + i);
  for (int i = 0; i < K; i++)
    join(k[i]);
  yields(2);
  CHECK_EQ(g_norder, 1); /* only the cancelled one: count is still 1 */
  CHECK_EQ(coro_wg_done(&g_wg), 0);
  for (int i = 0; i < W; i++)
    if (i != 2) /* already joined */
      join(w[i]);
  CHECK_EQ(g_norder, W);
  for (int i = 0; i < W; i++)
    if (i != 2)
      CHECK_EQ(g_rc[i], 0);
  CHECK_EQ(coro_wg_destroy(&g_wg), 0);
  return NULL;
}

/* ---- channel ---------------------------------------------------------- */

TEST(chan_args) {
  (void)unused_;
  coro_chan *ch = NULL;
  int v = 0;
  CHECK_EQ(coro_chan_new(NULL, 4, 1), -EINVAL);
  CHECK_EQ(coro_chan_new(&ch, 0, 1), -EINVAL);
  CHECK_EQ(coro_chan_new(&ch, 64 * 1024 + 1, 1), -EINVAL);
  CHECK_EQ(coro_chan_new(&ch, 4, SIZE_MAX), -EINVAL);
  CHECK_EQ(coro_chan_new(&ch, 64 * 1024, SIZE_MAX / 2), -EINVAL);
  CHECK_EQ(coro_chan_new(&ch, 4, (size_t)1 << 40), -EINVAL);
  CHECK_EQ(coro_chan_send(NULL, &v, -1), -EINVAL);
  CHECK_EQ(coro_chan_recv(NULL, &v, -1), -EINVAL);
  CHECK_EQ(coro_chan_close(NULL), -EINVAL);
  CHECK_EQ(coro_chan_free(NULL), -EINVAL);
  CHECK_EQ(coro_chan_len(NULL), 0);
  CHECK_EQ(coro_chan_new(&ch, 64 * 1024, 4), 0);
  CHECK_EQ(coro_chan_free(ch), 0);
  CHECK_EQ(coro_chan_new(&ch, sizeof v, 0), 0);
  CHECK_EQ(coro_chan_send(ch, NULL, -1), -EINVAL);
  CHECK_EQ(coro_chan_recv(ch, NULL, -1), -EINVAL);
  CHECK_EQ(coro_chan_free(ch), 0);
  return NULL;
}

TEST(chan_buffered) {
  (void)unused_;
  int v;
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 3), 0);
  CHECK_EQ(coro_chan_len(g_ch), 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_recv(g_ch, &v, in_ms(1)), -ETIMEDOUT);
  for (v = 1; v <= 3; v++)
    CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  CHECK_EQ(coro_chan_len(g_ch), 3);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_send(g_ch, &v, in_ms(1)), -ETIMEDOUT);
  CHECK_EQ(coro_chan_len(g_ch), 3);
  for (int i = 1; i <= 3; i++) {
    CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
    CHECK_EQ(v, i);
  }
  CHECK_EQ(coro_chan_len(g_ch), 0);
  /* Wrap around the ring many times, keeping the order. */
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 100; round++) {
    for (int k = 0; k < 1 + round % 3; k++, next_in++)
      CHECK_EQ(coro_chan_send(g_ch, &next_in, 0), 0);
    for (int k = 0; k < 1 + (round + 1) % 3 && next_out < next_in; k++) {
      CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
      CHECK_EQ(v, next_out++);
    }
    while (coro_chan_len(g_ch) == 3) {
      CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
      CHECK_EQ(v, next_out++);
    }
  }
  while (next_out < next_in) {
    CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
    CHECK_EQ(v, next_out++);
  }
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

/* Send g_val[id] on g_ch (id 1: with g_deadline); record the status. */
static void *chan_sender(void *arg) {
  int id = (int)(intptr_t)arg;
  int v = g_val[id];
  g_ready++;
  g_rc[id] = coro_chan_send(g_ch, &v, id == 1 ? g_deadline : -1);
  if (g_rc[id] == 0)
    g_order[g_norder++] = id;
  return NULL;
}
/* Receive into g_val[id] from g_ch (id 1: with g_deadline). */
static void *chan_receiver(void *arg) {
  int id = (int)(intptr_t)arg;
  int v = -1;
  g_ready++;
  g_rc[id] = coro_chan_recv(g_ch, &v, id == 1 ? g_deadline : -1);
  g_val[id] = v;
  if (g_rc[id] == 0)
    g_order[g_norder++] = id;
  return NULL;
}

TEST(chan_close_buffered) {
  (void)unused_;
  int v;
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 4), 0);
  v = 1;
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  v = 2;
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  CHECK_EQ(coro_chan_close(g_ch), -EPIPE);
  CHECK_EQ(coro_chan_send(g_ch, &v, -1), -EPIPE);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), -EPIPE);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0); /* drains first */
  CHECK_EQ(v, 1);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
  CHECK_EQ(v, 2);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -EPIPE); /* then fails, no block */
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -EPIPE);
  CHECK_EQ(coro_chan_free(g_ch), 0);

  /* Blocked receivers wake with -EPIPE. */
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 2), 0);
  coro *r[3];
  for (int i = 0; i < 3; i++)
    r[i] = go(chan_receiver, i + 2);
  yields(2);
  CHECK_EQ(coro_chan_free(g_ch), -EBUSY);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  for (int i = 0; i < 3; i++) {
    join(r[i]);
    CHECK_EQ(g_rc[i + 2], -EPIPE);
  }
  CHECK_EQ(coro_chan_free(g_ch), 0);

  /* Blocked senders wake with -EPIPE; their elements never went in. */
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 2), 0);
  for (v = 10; v < 12; v++)
    CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  coro *s[3];
  for (int i = 0; i < 3; i++) {
    g_val[i + 2] = 20 + i;
    s[i] = go(chan_sender, i + 2);
  }
  yields(2);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  for (int i = 0; i < 3; i++) {
    join(s[i]);
    CHECK_EQ(g_rc[i + 2], -EPIPE);
  }
  for (int i = 10; i < 12; i++) {
    CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
    CHECK_EQ(v, i);
  }
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -EPIPE);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

/* A sender woken with a slot before the close was admitted: its element is
 * delivered after the close, and a receiver waits for it. */
TEST(chan_close_admitted) {
  (void)unused_;
  int v = 1;
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 1), 0);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  g_val[0] = 2;
  coro *s = go(chan_sender, 0);
  yields(2);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0); /* s now holds the free slot */
  CHECK_EQ(v, 1);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0); /* waits for s's element */
  CHECK_EQ(v, 2);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -EPIPE);
  join(s);
  CHECK_EQ(g_rc[0], 0);
  CHECK_EQ(coro_chan_free(g_ch), 0);

  /* The same with more receivers than elements in flight: the extra one
   * gets -EPIPE once the admitted sender has delivered. */
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 1), 0);
  v = 1;
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  g_val[0] = 2;
  s = go(chan_sender, 0);
  yields(2);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  coro *r2 = go(chan_receiver, 2), *r3 = go(chan_receiver, 3);
  join(s);
  join(r2);
  join(r3);
  CHECK_EQ(g_rc[0], 0);
  CHECK_EQ(g_rc[2] == 0 ? g_val[2] : g_val[3], 2);
  CHECK_EQ(g_rc[2] + g_rc[3], -EPIPE); /* one got it, one -EPIPE */
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

TEST(chan_rendezvous) {
  (void)unused_;
  int v = 5;
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 0), 0);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), -ETIMEDOUT); /* no receiver */
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT); /* no sender */
  CHECK_EQ(coro_chan_send(g_ch, &v, in_ms(1)), -ETIMEDOUT);
  CHECK_EQ(coro_chan_recv(g_ch, &v, in_ms(1)), -ETIMEDOUT);
  CHECK_EQ(coro_chan_len(g_ch), 0);

  /* A send returns only once a receiver has taken the element. */
  g_val[0] = 42;
  coro *s = go(chan_sender, 0);
  yields(5);
  CHECK_EQ(coro_done(s), 0);
  CHECK_EQ(coro_chan_len(g_ch), 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0); /* a sender waits: try works */
  CHECK_EQ(v, 42);
  join(s);
  CHECK_EQ(g_rc[0], 0);

  /* A try-send meets a waiting receiver. */
  coro *r = go(chan_receiver, 2);
  yields(2);
  v = 7;
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  join(r);
  CHECK_EQ(g_rc[2], 0);
  CHECK_EQ(g_val[2], 7);

  /* Senders queue for the staging slot; each is delivered in order. */
  reset();
  coro *ss[4];
  for (int i = 0; i < 4; i++) {
    g_val[i + 2] = 100 + i;
    ss[i] = go(chan_sender, i + 2);
  }
  yields(2);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
    CHECK_EQ(v, 100 + i);
  }
  for (int i = 0; i < 4; i++) {
    join(ss[i]);
    CHECK_EQ(g_rc[i + 2], 0);
  }
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

/* An unbuffered sender that gives up takes its element back, unless a
 * receiver took it first: then the send succeeded after all. */
TEST(chan_rendezvous_giveup) {
  (void)unused_;
  int v;
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 0), 0);
  g_val[1] = 1;
  g_deadline = in_ms(1);
  coro *s = go(chan_sender, 1);
  join(s);
  CHECK_EQ(g_rc[1], -ETIMEDOUT);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT); /* taken back */

  g_val[2] = 2;
  s = go(chan_sender, 2);
  yields(2);
  CHECK_EQ(coro_cancel(s), 0);
  join(s);
  CHECK_EQ(g_rc[2], -ECANCELED);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT);

  /* Cancelled, but a receiver takes the element before the sender runs:
   * delivered exactly once, and the send reports success. */
  g_val[3] = 3;
  s = go(chan_sender, 3);
  yields(2);
  CHECK_EQ(coro_cancel(s), 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(v, 3);
  join(s);
  CHECK_EQ(g_rc[3], 0);

  /* A sender queued for the slot that gives up after being given the slot
   * passes the slot on to the next sender. */
  reset();
  g_val[2] = 20;
  g_val[3] = 30;
  g_val[4] = 40;
  coro *s2 = go(chan_sender, 2), *s3 = go(chan_sender, 3);
  coro *s4 = go(chan_sender, 4);
  yields(2);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0); /* s2's; s3 gets the slot */
  CHECK_EQ(v, 20);
  CHECK_EQ(coro_cancel(s3), 0);
  yields(3); /* s3 stages, finds no receiver, gives up; s4 gets the slot */
  CHECK_EQ(g_rc[3], -ECANCELED);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
  CHECK_EQ(v, 40);
  join(s2);
  join(s3);
  join(s4);
  CHECK_EQ(g_rc[2], 0);
  CHECK_EQ(g_rc[3], -ECANCELED);
  CHECK_EQ(g_rc[4], 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

TEST(chan_rendezvous_close) {
  (void)unused_;
  int v;
  reset();
  /* A staged, uncommitted element is dropped: its send fails. */
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 0), 0);
  g_val[2] = 2;
  g_val[3] = 3;
  coro *s2 = go(chan_sender, 2), *s3 = go(chan_sender, 3);
  yields(2);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -EPIPE);
  join(s2);
  join(s3);
  CHECK_EQ(g_rc[2], -EPIPE);
  CHECK_EQ(g_rc[3], -EPIPE);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), -EPIPE);
  CHECK_EQ(coro_chan_free(g_ch), 0);

  /* A committed element is delivered although the close comes before the
   * receiver runs; the send has already succeeded. */
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 0), 0);
  coro *r = go(chan_receiver, 2);
  yields(2);
  v = 9;
  CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  join(r);
  CHECK_EQ(g_rc[2], 0);
  CHECK_EQ(g_val[2], 9);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -EPIPE);
  CHECK_EQ(coro_chan_free(g_ch), 0);

  /* A sender given the slot just before the close fails: nobody can
   * meet it any more. */
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 0), 0);
  g_val[2] = 2;
  g_val[3] = 3;
  s2 = go(chan_sender, 2);
  s3 = go(chan_sender, 3);
  yields(2);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(v, 2);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  join(s2);
  join(s3);
  CHECK_EQ(g_rc[2], 0);
  CHECK_EQ(g_rc[3], -EPIPE);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -EPIPE);

  /* A staged sender that gave up (cancelled) before the close ran. */
  CHECK_EQ(coro_chan_free(g_ch), 0);
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 0), 0);
  g_val[2] = 2;
  s2 = go(chan_sender, 2);
  yields(2);
  CHECK_EQ(coro_cancel(s2), 0);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -EPIPE);
  join(s2);
  CHECK_NE(g_rc[2], 0);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

TEST(chan_fifo) {
  (void)unused_;
  enum { N = 10 };
  static const size_t caps[] = {0, 2};
  int v;
  for (size_t c = 0; c < 2; c++) {
    coro *w[N];
    size_t cap = caps[c];
    reset();
    CHECK_EQ(coro_chan_new(&g_ch, sizeof v, cap), 0);
    /* Senders blocked on a full channel deliver in the order they came. */
    for (v = 0; v < (int)cap; v++)
      CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
    for (int i = 0; i < N; i++) {
      g_val[i + 2] = 100 + i;
      w[i] = go(chan_sender, i + 2);
    }
    yields(2);
    for (int i = 0; i < (int)cap; i++) {
      CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
      CHECK_EQ(v, i);
    }
    for (int i = 0; i < N; i++) {
      CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
      CHECK_EQ(v, 100 + i);
    }
    for (int i = 0; i < N; i++)
      join(w[i]);
    /* Receivers blocked on an empty channel are served in order. */
    reset();
    for (int i = 0; i < N; i++)
      w[i] = go(chan_receiver, i + 2);
    yields(2);
    for (v = 0; v < N; v++)
      CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
    for (int i = 0; i < N; i++) {
      join(w[i]);
      CHECK_EQ(g_rc[i + 2], 0);
      CHECK_EQ(g_val[i + 2], i);
    }
    CHECK_EQ(coro_chan_free(g_ch), 0);
  }
  return NULL;
}

TEST(chan_cancel) {
  (void)unused_;
  int v;
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 1), 0);
  coro *r = go(chan_receiver, 2);
  yields(2);
  CHECK_EQ(coro_cancel(r), 0);
  join(r);
  CHECK_EQ(g_rc[2], -ECANCELED);
  v = 1; /* the channel works on */
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  g_val[3] = 3;
  coro *s = go(chan_sender, 3);
  yields(2);
  CHECK_EQ(coro_cancel(s), 0);
  join(s);
  CHECK_EQ(g_rc[3], -ECANCELED);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(v, 1);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT); /* 3 never went in */
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

/* A waiter woken with an element (or a slot) and then cancelled, or whose
 * deadline expires in the same tick, keeps what it was given. */
TEST(chan_no_lost_wakeup) {
  (void)unused_;
  static const size_t caps[] = {0, 2};
  int v;
  for (size_t c = 0; c < 2; c++) {
    reset();
    CHECK_EQ(coro_chan_new(&g_ch, sizeof v, caps[c]), 0);
    coro *r = go(chan_receiver, 2);
    yields(2);
    v = 11;
    CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
    CHECK_EQ(coro_cancel(r), 0);
    join(r);
    CHECK_EQ(g_rc[2], 0);
    CHECK_EQ(g_val[2], 11);

    g_deadline = in_ms(200);
    r = go(chan_receiver, 1);
    yields(2);
    spin_ms(250);
    v = 12;
    CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
    join(r);
    CHECK_EQ(g_rc[1], 0);
    CHECK_EQ(g_val[1], 12);

    /* Two receivers, the first cancelled right after the first send. */
    coro *r3 = go(chan_receiver, 3), *r4 = go(chan_receiver, 4);
    yields(2);
    v = 13;
    CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
    CHECK_EQ(coro_cancel(r3), 0);
    v = 14;
    CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
    join(r3);
    join(r4);
    CHECK_EQ(g_rc[3], 0);
    CHECK_EQ(g_val[3], 13);
    CHECK_EQ(g_rc[4], 0);
    CHECK_EQ(g_val[4], 14);
    CHECK_EQ(coro_chan_free(g_ch), 0);
  }
  /* Sender side: given a slot, then cancelled; it still delivers. */
  reset();
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 1), 0);
  v = 1;
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  g_val[2] = 2;
  coro *s = go(chan_sender, 2);
  yields(2);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(coro_cancel(s), 0);
  join(s);
  CHECK_EQ(g_rc[2], 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(v, 2);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

TEST(chan_free_busy) {
  (void)unused_;
  int v = 1;
  static const size_t caps[] = {0, 2};
  for (size_t c = 0; c < 2; c++) {
    reset();
    CHECK_EQ(coro_chan_new(&g_ch, sizeof v, caps[c]), 0);
    coro *r = go(chan_receiver, 2);
    yields(2);
    CHECK_EQ(coro_chan_free(g_ch), -EBUSY);
    /* Woken but not yet run: it will still touch the channel. */
    CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
    CHECK_EQ(coro_chan_free(g_ch), -EBUSY);
    join(r);
    CHECK_EQ(g_rc[2], 0);
    CHECK_EQ(coro_chan_free(g_ch), 0);
  }
  return NULL;
}

/* Large elements copied between stack buffers: in SHARED mode a direct copy
 * from or to a suspended coroutine's stack would corrupt the data. */
typedef struct big {
  uint32_t seq;
  unsigned char data[8188];
} big;
static void big_fill(big *b, uint32_t seq) {
  b->seq = seq;
  for (size_t i = 0; i < sizeof b->data; i++)
    b->data[i] = (unsigned char)(seq * 31 + i * 7);
}
static int big_ok(const big *b) {
  for (size_t i = 0; i < sizeof b->data; i++)
    if (b->data[i] != (unsigned char)(b->seq * 31 + i * 7))
      return 0;
  return 1;
}
static void *big_sender(void *arg) {
  big b;
  for (uint32_t i = 0; i < 100; i++) {
    big_fill(&b, (uint32_t)(intptr_t)arg * 1000 + i);
    CHECK_EQ(coro_chan_send(g_ch, &b, -1), 0);
    big_fill(&b, 0xffff); /* the channel must hold its own copy */
  }
  return NULL;
}
static void *big_receiver(void *arg) {
  big b;
  (void)arg;
  for (;;) {
    memset(&b, 0, sizeof b);
    int rc = coro_chan_recv(g_ch, &b, -1);
    if (rc == -EPIPE)
      break;
    CHECK_EQ(rc, 0);
    CHECK(big_ok(&b));
    g_items++;
    g_sum += b.seq;
  }
  return NULL;
}

TEST(chan_big_elem) {
  (void)unused_;
  static const size_t caps[] = {0, 3};
  for (size_t c = 0; c < 2; c++) {
    coro *s[2], *r[2];
    int64_t want = 0;
    g_items = g_sum = 0;
    CHECK_EQ(coro_chan_new(&g_ch, sizeof(big), caps[c]), 0);
    for (int i = 0; i < 2; i++) {
      r[i] = go(big_receiver, i);
      s[i] = go(big_sender, i + 1);
      for (int k = 0; k < 100; k++)
        want += (i + 1) * 1000 + k;
    }
    for (int i = 0; i < 2; i++)
      join(s[i]);
    CHECK_EQ(coro_chan_close(g_ch), 0);
    for (int i = 0; i < 2; i++)
      join(r[i]);
    CHECK_EQ(g_items, 200);
    CHECK_EQ(g_sum, want);
    CHECK_EQ(coro_chan_free(g_ch), 0);
  }
  return NULL;
}

/* Producers and consumers with a mix of deadlines; every item arrives
 * exactly once and each producer's items arrive in order at each consumer. */
enum { SP = 5, SC = 4 };
static int g_stress_k;
static int64_t g_seen[SC][SP];
static uint32_t g_rand = 12345;
static int rnd(int n) {
  g_rand = g_rand * 1103515245u + 12345u;
  return (int)((g_rand >> 16) % (uint32_t)n);
}
static void *stress_producer(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < g_stress_k; i++) {
    int64_t item = ((int64_t)id << 32) | i;
    int rc;
    if (rnd(4) == 0) {
      while ((rc = coro_chan_send(g_ch, &item, in_ms(1))) == -ETIMEDOUT) {
      }
    } else if (rnd(4) == 0) {
      while ((rc = coro_chan_send(g_ch, &item, 0)) == -ETIMEDOUT)
        CHECK_EQ(coro_yield(), 0);
    } else {
      rc = coro_chan_send(g_ch, &item, -1);
    }
    CHECK_EQ(rc, 0);
    if (rnd(3) == 0)
      CHECK_EQ(coro_yield(), 0);
  }
  CHECK_EQ(coro_wg_done(&g_wg), 0);
  return NULL;
}
static void *stress_consumer(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int p = 0; p < SP; p++)
    g_seen[id][p] = -1;
  for (;;) {
    int64_t item;
    int rc = coro_chan_recv(g_ch, &item, rnd(3) == 0 ? in_ms(1) : -1);
    if (rc == -ETIMEDOUT)
      continue;
    if (rc == -EPIPE)
      break;
    CHECK_EQ(rc, 0);
    int p = (int)(item >> 32);
    int64_t i = item & 0xffffffff;
    CHECK(p >= 0 && p < SP);
    CHECK_GT(i, g_seen[id][p]); /* per-producer order */
    g_seen[id][p] = i;
    g_items++;
    g_sum += item;
    if (rnd(3) == 0)
      CHECK_EQ(coro_yield(), 0);
  }
  return NULL;
}
static void *stress_closer(void *arg) {
  (void)arg;
  CHECK_EQ(coro_wg_wait(&g_wg, -1), 0);
  CHECK_EQ(coro_chan_close(g_ch), 0);
  return NULL;
}

TEST(chan_stress) {
  (void)unused_;
  static const size_t caps[] = {0, 1, 7};
  g_stress_k = testing_under_valgrind() ? 300 : 3000;
  for (size_t c = 0; c < 3; c++) {
    coro *p[SP], *cs[SC];
    int64_t want = 0;
    g_items = g_sum = 0;
    CHECK_EQ(coro_chan_new(&g_ch, sizeof(int64_t), caps[c]), 0);
    CHECK_EQ(coro_wg_init(&g_wg), 0);
    CHECK_EQ(coro_wg_add(&g_wg, SP), 0);
    for (int i = 0; i < SC; i++)
      cs[i] = go(stress_consumer, i);
    for (int i = 0; i < SP; i++) {
      p[i] = go(stress_producer, i);
      for (int k = 0; k < g_stress_k; k++)
        want += ((int64_t)i << 32) | k;
    }
    coro *closer = go(stress_closer, 0);
    for (int i = 0; i < SP; i++)
      join(p[i]);
    join(closer);
    for (int i = 0; i < SC; i++)
      join(cs[i]);
    CHECK_EQ(g_items, (int64_t)SP * g_stress_k);
    CHECK_EQ(g_sum, want);
    CHECK_EQ(coro_chan_len(g_ch), 0);
    CHECK_EQ(coro_chan_free(g_ch), 0);
    CHECK_EQ(coro_wg_destroy(&g_wg), 0);
  }
  return NULL;
}

/* ---- where blocking is impossible ------------------------------------- */

static void *lockstack_probe(void *arg) {
  (void)arg;
  CHECK_EQ(coro_mutex_unlock(&g_m), -EPERM); /* the loop stack owns it */
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -ETIMEDOUT);
  CHECK_EQ(coro_mutex_lock(&g_m, in_ms(1)), -ETIMEDOUT);
  return NULL;
}

/* On the loop's own stack, outside any coroutine: calls that need not
 * block work, blocking ones fail with -EPERM, tries with -ETIMEDOUT. */
static void loop_stack(int mode) {
  coro_loop *loop = NULL;
  coro_loop_opts o;
  int v;
  memset(&o, 0, sizeof o);
  o.stack_mode = mode;
  CHECK_EQ(coro_loop_new(&loop, &o), 0);

  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), -EDEADLK);
  coro *p = go(lockstack_probe, 0);
  CHECK_EQ(coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_join(p, 0, NULL), 0);

  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_cond_wait(&g_c, &g_m, -1), -EPERM);
  CHECK_EQ(coro_cond_wait(&g_c, &g_m, 0), -ETIMEDOUT);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -EDEADLK); /* still held */
  CHECK_EQ(coro_cond_signal(&g_c), 0);
  CHECK_EQ(coro_cond_broadcast(&g_c), 0);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);

  CHECK_EQ(coro_sem_init(&g_s, 0), 0);
  CHECK_EQ(coro_sem_acquire(&g_s, -1), -EPERM);
  CHECK_EQ(coro_sem_acquire(&g_s, 0), -ETIMEDOUT);
  CHECK_EQ(coro_sem_release(&g_s), 0);
  CHECK_EQ(coro_sem_acquire(&g_s, -1), 0);

  CHECK_EQ(coro_wg_init(&g_wg), 0);
  CHECK_EQ(coro_wg_wait(&g_wg, -1), 0);
  CHECK_EQ(coro_wg_add(&g_wg, 1), 0);
  CHECK_EQ(coro_wg_wait(&g_wg, -1), -EPERM);
  CHECK_EQ(coro_wg_wait(&g_wg, 0), -ETIMEDOUT);
  CHECK_EQ(coro_wg_done(&g_wg), 0);

  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 1), 0);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -EPERM);
  v = 3;
  CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0);
  CHECK_EQ(coro_chan_send(g_ch, &v, -1), -EPERM);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), -ETIMEDOUT);
  v = 0;
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), 0);
  CHECK_EQ(v, 3);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 0), 0);
  CHECK_EQ(coro_chan_send(g_ch, &v, -1), -EPERM);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -EPERM);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_free(g_ch), 0);

  CHECK_EQ(coro_loop_close(loop, -1), 0);
}

/* Inside coro_call_on_loop: the same rules, with coroutines around. */
static int g_onloop_rc[16];
static void onloop_fn(void *arg) {
  int v = 77, i = 0;
  (void)arg;
  g_onloop_rc[i++] = coro_in_loop_call();                  /* 1 */
  g_onloop_rc[i++] = coro_mutex_lock(&g_m2, -1);          /* free: 0 */
  g_onloop_rc[i++] = coro_cond_wait(&g_c, &g_m2, -1);     /* -EPERM */
  g_onloop_rc[i++] = coro_mutex_unlock(&g_m2);            /* 0 */
  g_onloop_rc[i++] = coro_mutex_lock(&g_m, -1);           /* held: -EPERM */
  g_onloop_rc[i++] = coro_mutex_lock(&g_m, 0);            /* -ETIMEDOUT */
  g_onloop_rc[i++] = coro_sem_acquire(&g_s, -1);          /* -EPERM */
  g_onloop_rc[i++] = coro_wg_wait(&g_wg, -1);             /* -EPERM */
  g_onloop_rc[i++] = coro_chan_send(g_ch, &v, -1);        /* receiver: 0 */
  g_onloop_rc[i++] = coro_chan_send(g_ch, &v, -1);        /* none: -EPERM */
  g_onloop_rc[i++] = coro_chan_recv(g_ch, &v, -1);        /* -EPERM */
}

/* A created coroutine runs only when transferred to: it cannot block. */
static void *created_body(void *arg) {
  int v;
  (void)arg;
  g_onloop_rc[0] = coro_sem_acquire(&g_s, -1);   /* -EPERM */
  g_onloop_rc[1] = coro_mutex_lock(&g_m2, -1);   /* free: 0 */
  g_onloop_rc[2] = coro_mutex_unlock(&g_m2);     /* 0 */
  g_onloop_rc[3] = coro_chan_recv(g_ch, &v, -1); /* -EPERM */
  g_onloop_rc[4] = coro_sem_acquire(&g_s, 0);    /* -ETIMEDOUT */
  return NULL;
}

TEST(cannot_block) {
  (void)unused_;
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_init(&g_m2), 0);
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_sem_init(&g_s, 0), 0);
  CHECK_EQ(coro_sem_init(&g_s2, 0), 0);
  CHECK_EQ(coro_wg_init(&g_wg), 0);
  CHECK_EQ(coro_wg_add(&g_wg, 1), 0);
  CHECK_EQ(coro_chan_new(&g_ch, sizeof(int), 0), 0);
  coro *h = go(holder_body, 0);
  coro *r = go(chan_receiver, 2);
  yield_until(&g_ready, 2);
  CHECK_EQ(coro_call_on_loop(onloop_fn, NULL), 0);
  int want[] = {1, 0, -EPERM, 0, -EPERM, -ETIMEDOUT, -EPERM, -EPERM, 0,
                -EPERM, -EPERM};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    CHECK_EQ(g_onloop_rc[i], want[i]);
  join(r);
  CHECK_EQ(g_rc[2], 0);
  CHECK_EQ(g_val[2], 77);

  coro *g = NULL;
  CHECK_EQ(coro_create(&g, created_body, NULL, NULL), 0);
  CHECK_EQ(coro_transfer(g, NULL, NULL), 1);
  int want2[] = {-EPERM, 0, 0, -EPERM, -ETIMEDOUT};
  for (size_t i = 0; i < sizeof want2 / sizeof want2[0]; i++)
    CHECK_EQ(g_onloop_rc[i], want2[i]);
  CHECK_EQ(coro_join(g, 0, NULL), 0);

  CHECK_EQ(coro_sem_release(&g_s2), 0);
  join(h);
  CHECK_EQ(coro_wg_done(&g_wg), 0);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

/* Tries (deadline 0) that would block fail without switching. */
TEST(try_never_switches) {
  (void)unused_;
  int v = 1;
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_init(&g_m2), 0);
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_sem_init(&g_s, 0), 0);
  CHECK_EQ(coro_sem_init(&g_s2, 0), 0);
  CHECK_EQ(coro_wg_init(&g_wg), 0);
  CHECK_EQ(coro_wg_add(&g_wg, 1), 0);
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 1), 0);
  CHECK_EQ(coro_chan_new(&g_ch2, sizeof v, 0), 0);
  coro *h = go(holder_body, 0);
  yield_until(&g_ready, 1);
  coro *w = witness();
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -ETIMEDOUT);
  CHECK_EQ(coro_mutex_lock(&g_m2, 0), 0);
  CHECK_EQ(coro_cond_wait(&g_c, &g_m2, 0), -ETIMEDOUT);
  CHECK_EQ(coro_mutex_unlock(&g_m2), 0);
  CHECK_EQ(coro_sem_acquire(&g_s, 0), -ETIMEDOUT);
  CHECK_EQ(coro_wg_wait(&g_wg, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), 0);
  CHECK_EQ(coro_chan_send(g_ch, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(coro_chan_send(g_ch2, &v, 0), -ETIMEDOUT);
  CHECK_EQ(coro_chan_recv(g_ch2, &v, 0), -ETIMEDOUT);
  CHECK_EQ(g_witness, 0);
  join(w);
  CHECK_EQ(g_witness, 1);
  CHECK_EQ(coro_sem_release(&g_s2), 0);
  join(h);
  CHECK_EQ(coro_wg_done(&g_wg), 0);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  CHECK_EQ(coro_chan_free(g_ch2), 0);
  return NULL;
}

/* A cancelled coroutine: what would block reports -ECANCELED at once (a
 * try too); what need not block still works. */
static void *cancelled_body(void *arg) {
  int v = 5;
  (void)arg;
  CHECK_EQ(coro_cancel(coro_self()), 0);
  CHECK_EQ(coro_cancelled(), 1);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), -ECANCELED); /* held by the holder */
  CHECK_EQ(coro_mutex_lock(&g_m, 0), -ECANCELED);
  CHECK_EQ(coro_mutex_lock(&g_m2, -1), 0); /* free: no blocking needed */
  CHECK_EQ(coro_cond_wait(&g_c, &g_m2, -1), -ECANCELED);
  CHECK_EQ(coro_mutex_lock(&g_m2, 0), -EDEADLK); /* still held */
  CHECK_EQ(coro_cond_destroy(&g_c), 0);          /* nobody waits */
  CHECK_EQ(coro_mutex_unlock(&g_m2), 0);
  CHECK_EQ(coro_sem_acquire(&g_s, -1), -ECANCELED);
  CHECK_EQ(coro_sem_release(&g_s), 0);
  CHECK_EQ(coro_sem_acquire(&g_s, -1), 0);
  CHECK_EQ(coro_wg_wait(&g_wg, -1), -ECANCELED);
  CHECK_EQ(coro_chan_recv(g_ch, &v, -1), -ECANCELED);
  CHECK_EQ(coro_chan_send(g_ch, &v, -1), 0); /* buffered, room */
  CHECK_EQ(coro_chan_send(g_ch2, &v, -1), -ECANCELED); /* no receiver */
  g_ready = 100;
  return NULL;
}

TEST(cancelled_caller) {
  (void)unused_;
  int v;
  reset();
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_init(&g_m2), 0);
  CHECK_EQ(coro_cond_init(&g_c), 0);
  CHECK_EQ(coro_sem_init(&g_s, 0), 0);
  CHECK_EQ(coro_sem_init(&g_s2, 0), 0);
  CHECK_EQ(coro_wg_init(&g_wg), 0);
  CHECK_EQ(coro_wg_add(&g_wg, 1), 0);
  CHECK_EQ(coro_chan_new(&g_ch, sizeof v, 1), 0);
  CHECK_EQ(coro_chan_new(&g_ch2, sizeof v, 0), 0);
  coro *h = go(holder_body, 0);
  yield_until(&g_ready, 1);
  join(go(cancelled_body, 0));
  CHECK_EQ(g_ready, 100);
  CHECK_EQ(coro_chan_recv(g_ch, &v, 0), 0);
  CHECK_EQ(v, 5);
  CHECK_EQ(coro_chan_recv(g_ch2, &v, 0), -ETIMEDOUT); /* not left behind */
  CHECK_EQ(coro_sem_release(&g_s2), 0);
  join(h);
  CHECK_EQ(coro_wg_done(&g_wg), 0);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  CHECK_EQ(coro_chan_free(g_ch2), 0);
  return NULL;
}

/* ---- main ------------------------------------------------------------- */

static const testing_case tests[] = {
    {"mutex_basic", mutex_basic, 0},
    {"mutex_nonowner", mutex_nonowner, 0},
    {"mutex_fifo", mutex_fifo, 0},
    {"mutex_contention", mutex_contention, 0},
    {"mutex_timeout", mutex_timeout, 0},
    {"mutex_cancel", mutex_cancel, 0},
    {"mutex_handoff_race", mutex_handoff_race, 0},
    {"cond_basic", cond_basic, 0},
    {"cond_signal_fifo", cond_signal_fifo, 0},
    {"cond_broadcast", cond_broadcast, 0},
    {"cond_cancel_relock", cond_cancel_relock, 0},
    {"cond_prodcons", cond_prodcons, 0},
    {"sem_basic", sem_basic, 0},
    {"sem_fifo_handoff", sem_fifo_handoff, 0},
    {"sem_race", sem_race, 0},
    {"wg_basic", wg_basic, 0},
    {"wg_waiters", wg_waiters, 0},
    {"chan_args", chan_args, 0},
    {"chan_buffered", chan_buffered, 0},
    {"chan_close_buffered", chan_close_buffered, 0},
    {"chan_close_admitted", chan_close_admitted, 0},
    {"chan_rendezvous", chan_rendezvous, 0},
    {"chan_rendezvous_giveup", chan_rendezvous_giveup, 0},
    {"chan_rendezvous_close", chan_rendezvous_close, 0},
    {"chan_fifo", chan_fifo, 0},
    {"chan_cancel", chan_cancel, 0},
    {"chan_no_lost_wakeup", chan_no_lost_wakeup, 0},
    {"chan_free_busy", chan_free_busy, 0},
    {"chan_big_elem", chan_big_elem, 0},
    {"chan_stress", chan_stress, 120},
    {"loop_stack", loop_stack, 0},
    {"cannot_block", cannot_block, 0},
    {"try_never_switches", try_never_switches, 0},
    {"cancelled_caller", cancelled_caller, 0},
};

static const testing_param modes[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

TESTING_MAIN(tests, modes)
