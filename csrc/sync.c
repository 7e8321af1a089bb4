/* sync.c - mutex, condition variable, semaphore and wait group.
 *
 * Every object is a small counter or owner plus a FIFO of parked coroutines
 * (coro__waitq); parking, timeouts and cancellation are coro__wait's job.
 * Resources are handed over, never raced for: an unlock makes the longest
 * waiter the owner before waking it, and a release gives its unit to the
 * longest waiter, so a coroutine that arrives later cannot barge ahead of
 * one that waits, and none starves. The handoff is safe because coro__wait
 * returns the waker's status once woken, even if a cancel or the deadline
 * follows before the waiter runs: a waiter woken with 0 always gets what
 * was handed to it. A waiter that times out or is cancelled has been
 * unlinked by the scheduler before anyone could hand it anything.
 *
 * Only the blocking path needs a coroutine: a call that can complete at
 * once (an uncontended lock, a try with deadline 0) works anywhere on the
 * loop thread, also on the loop's own stack and inside coro_call_on_loop.
 * Cancellation is reported by the blocking path, so a cancelled coroutine
 * can still take a free lock (it may need one to clean up).
 */
#include "coro_internal.h"

/* ---- mutex ------------------------------------------------------------ */

int coro_mutex_init(coro_mutex *m) {
  if (m == NULL)
    return -EINVAL;
  m->owner = NULL;
  m->waiters.head = m->waiters.tail = NULL;
  return 0;
}

/* Give m to its longest waiter, or free it. The waiter becomes the owner
 * before it wakes, so nobody can take m in between (no barging). */
static void mutex_release(coro_mutex *m) {
  coro *next = m->waiters.head;

  m->owner = next;
  if (next != NULL)
    coro__wake(next, 0);
}

int coro_mutex_lock(coro_mutex *m, int64_t deadline) {
  coro *self = coro__running();

  if (m == NULL)
    return -EINVAL;
  if (self == NULL)
    return -EPERM;
  /* A free mutex has no waiters: release hands it to them first. */
  if (m->owner == NULL) {
    m->owner = self;
    return 0;
  }
  if (m->owner == self)
    return -EDEADLK;
  /* Woken with 0 means mutex_release already made us the owner. */
  return coro__wait_for(&m->waiters, deadline, CORO_WAIT_MUTEX, m, 0);
}

int coro_mutex_unlock(coro_mutex *m) {
  if (m == NULL)
    return -EINVAL;
  if (m->owner == NULL || m->owner != coro__running())
    return -EPERM;
  mutex_release(m);
  return 0;
}

int coro_mutex_destroy(coro_mutex *m) {
  if (m == NULL)
    return -EINVAL;
  if (m->owner != NULL || !coro__waitq_empty(&m->waiters))
    return -EBUSY;
  return 0;
}

/* ---- condition variable ----------------------------------------------- */

int coro_cond_init(coro_cond *c) {
  if (c == NULL)
    return -EINVAL;
  c->waiters.head = c->waiters.tail = NULL;
  return 0;
}

/* Take m back after a condition wait, whatever it takes: the caller's
 * invariants depend on holding m when coro_cond_wait returns, as with
 * pthreads. Cancellation is sticky (coro__wait would fail at once for a
 * cancelled coroutine), so the flag is set aside while we queue for m and
 * put back afterwards. A cancel that arrives meanwhile wakes us unowned;
 * we then queue again (the flag it set is kept for afterwards). */
static void cond_relock(coro_mutex *m, coro *self) {
  uint8_t cancelled = self->flags & CORO__F_CANCELLED;

  while (m->owner != self) {
    if (m->owner == NULL) {
      m->owner = self;
      break;
    }
    self->flags &= (uint8_t)~CORO__F_CANCELLED;
    (void)coro__wait_for(&m->waiters, -1, CORO_WAIT_MUTEX, m, 0);
    cancelled |= self->flags & CORO__F_CANCELLED;
  }
  self->flags |= cancelled;
}

int coro_cond_wait(coro_cond *c, coro_mutex *m, int64_t deadline) {
  coro *self = coro__running();
  int err = 0;
  int rc;

  if (c == NULL || m == NULL)
    return -EINVAL;
  if (self == NULL || m->owner != self)
    return -EPERM;
  /* A try, a caller that cannot block and a cancelled caller fail before
   * m is released: unlocking would hand m to a waiter, and taking it back
   * could then need the very blocking they cannot do. */
  if (deadline == 0)
    return coro__wait(&c->waiters, 0);
  if (coro__blocker(&err) == NULL)
    return err;
  if (self->flags & CORO__F_CANCELLED)
    return -ECANCELED;
  mutex_release(m);
  rc = coro__wait_for(&c->waiters, deadline, CORO_WAIT_COND, c, 0);
  cond_relock(m, self);
  return rc;
}

int coro_cond_signal(coro_cond *c) {
  if (c == NULL)
    return -EINVAL;
  /* Waiters that timed out or were cancelled have left the queue, so the
   * signal always reaches a coroutine that is still waiting. */
  (void)coro__wake_one(&c->waiters, 0);
  return 0;
}

int coro_cond_broadcast(coro_cond *c) {
  if (c == NULL)
    return -EINVAL;
  (void)coro__wake_all(&c->waiters, 0);
  return 0;
}

int coro_cond_destroy(coro_cond *c) {
  if (c == NULL)
    return -EINVAL;
  return coro__waitq_empty(&c->waiters) ? 0 : -EBUSY;
}

/* ---- semaphore -------------------------------------------------------- */

int coro_sem_init(coro_sem *s, int64_t value) {
  if (s == NULL || value < 0)
    return -EINVAL;
  s->value = value;
  s->waiters.head = s->waiters.tail = NULL;
  return 0;
}

int coro_sem_acquire(coro_sem *s, int64_t deadline) {
  if (s == NULL)
    return -EINVAL;
  /* A positive value has no waiters: release hands units to them first. */
  if (s->value > 0) {
    s->value--;
    return 0;
  }
  /* Woken with 0 means coro_sem_release handed us its unit. */
  return coro__wait_for(&s->waiters, deadline, CORO_WAIT_SEM, s, 0);
}

int coro_sem_release(coro_sem *s) {
  if (s == NULL)
    return -EINVAL;
  if (coro__wake_one(&s->waiters, 0) != NULL)
    return 0;
  if (s->value == INT64_MAX)
    return -EOVERFLOW;
  s->value++;
  return 0;
}

int64_t coro_sem_value(const coro_sem *s) {
  return s != NULL ? s->value : -EINVAL;
}

int coro_sem_destroy(coro_sem *s) {
  if (s == NULL)
    return -EINVAL;
  return coro__waitq_empty(&s->waiters) ? 0 : -EBUSY;
}

/* ---- wait group ------------------------------------------------------- */

int coro_wg_init(coro_waitgroup *wg) {
  if (wg == NULL)
    return -EINVAL;
  wg->count = 0;
  wg->waiters.head = wg->waiters.tail = NULL;
  return 0;
}

int coro_wg_add(coro_waitgroup *wg, int64_t delta) {
  if (wg == NULL)
    return -EINVAL;
  /* Check before changing anything, so a bad call leaves the group as is.
   * count >= 0, so count + delta cannot overflow for a negative delta. */
  if (delta < 0 && wg->count + delta < 0)
    return -EINVAL;
  if (delta > 0 && wg->count > INT64_MAX - delta)
    return -EOVERFLOW;
  wg->count += delta;
  if (wg->count == 0)
    (void)coro__wake_all(&wg->waiters, 0);
  return 0;
}

int coro_wg_done(coro_waitgroup *wg) {
  return coro_wg_add(wg, -1);
}

int coro_wg_wait(coro_waitgroup *wg, int64_t deadline) {
  if (wg == NULL)
    return -EINVAL;
  if (wg->count == 0)
    return 0;
  return coro__wait_for(&wg->waiters, deadline, CORO_WAIT_WG, wg, 0);
}

int coro_wg_destroy(coro_waitgroup *wg) {
  if (wg == NULL)
    return -EINVAL;
  return coro__waitq_empty(&wg->waiters) ? 0 : -EBUSY;
}
