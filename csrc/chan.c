/* chan.c - the bounded FIFO channel.
 *
 * The rule that shapes everything here: in SHARED stack mode a suspended
 * coroutine's stack bytes are not at their address, so nobody may read a
 * blocked sender's element or write a blocked receiver's buffer. Every
 * copy is therefore made by the coroutine that owns the element, while it
 * runs, between its own stack and the channel's ring.
 *
 * Reservations instead of direct copies. A waiter is woken with status 0
 * only together with a reservation: a free slot set aside for a woken
 * sender (rsv_send) or a buffered element set aside for a woken receiver
 * (rsv_recv). The woken coroutine then makes its own copy when it runs.
 * Coroutines that arrive meanwhile may use only what is not reserved, so a
 * waiter never loses what it was promised. coro__wait returns the waker's
 * status once woken, even if a cancel or the deadline follows before the
 * waiter runs, so a reservation is never dropped; a waiter that times out
 * or is cancelled first has left the queue and was promised nothing. That
 * is how no wakeup is ever lost. chan_pump restores the invariant after
 * every change: no sender waits while an unreserved slot is free, and no
 * receiver waits while an unreserved element is buffered. Waiters are
 * served in queue order, so both sides are FIFO and nobody starves.
 *
 * Unbuffered channels (capacity 0) use a ring of one staging slot. A
 * sender waits for the slot, copies its element in (it is then "staged",
 * ch->stager names it) and waits on ackq until a receiver commits to the
 * element: either by taking it, or by being woken with a reservation for
 * it. The sender is woken with 0 at that moment and its send succeeds;
 * the receiver copies the element out when it runs. A sender that gives
 * up (deadline, cancel) before the commit takes its element back out.
 *
 * Close. Waiting senders wake with -EPIPE; their elements never entered
 * the channel. Buffered elements, and those of senders already woken with
 * a slot (their send was admitted before the close), are drained by
 * receivers before receives fail with -EPIPE. An unbuffered sender whose
 * element is staged but not yet committed when the channel closes gets
 * -EPIPE and its element is dropped: no receiver ever sees it. A committed
 * element is delivered and its send has already returned 0. So a send's
 * result says exactly whether its element was (or will be) received.
 */
#include "coro_internal.h"

#include <stdlib.h>
#include <string.h>

/* Bounds: an element is copied in one memcpy by each side, and the ring is
 * one allocation; larger data should travel as pointers. */
#define CHAN_ELEM_MAX ((size_t)64 * 1024)
#define CHAN_RING_MAX ((size_t)1024 * 1024 * 1024)

struct coro_chan {
  size_t elem_size;
  size_t cap;        /* as created; 0 = unbuffered */
  size_t slots;      /* ring slots: cap, or 1 staging slot when cap == 0 */
  size_t head;       /* ring index of the oldest element */
  size_t count;      /* elements in the ring (reserved ones included) */
  size_t rsv_send;   /* free slots promised to woken senders */
  size_t rsv_recv;   /* buffered elements promised to woken receivers */
  size_t inside;     /* coroutines parked, or woken but not yet returned */
  int closed;
  coro *stager;      /* unbuffered: whose uncommitted element is staged */
  coro *dropped;     /* unbuffered: whose staged element close dropped */
  coro__waitq sendq; /* senders waiting for a slot */
  coro__waitq recvq; /* receivers waiting for an element */
  coro__waitq ackq;  /* unbuffered: the stager, waiting for a commit */
  unsigned char ring[];
};

/* Park the caller on q. A try (deadline 0) fails without switching and
 * without needing a coroutine, so that polling works on the loop stack.
 * `inside` keeps coro_chan_free from freeing the channel under a
 * coroutine that will still touch it when it runs. */
static int chan_park(coro_chan *ch, coro__waitq *q, int64_t deadline) {
  ch->inside++;
  /* A sender parks on sendq, or on ackq until its element is taken. */
  int why = q == &ch->recvq ? CORO_WAIT_CHAN_RECV : CORO_WAIT_CHAN_SEND;
  int err = coro__wait_for(q, deadline, why, ch, 0);
  ch->inside--;
  return err;
}

static size_t chan_free_slots(const coro_chan *ch) {
  return ch->slots - ch->count - ch->rsv_send;
}

static size_t chan_ready_elems(const coro_chan *ch) {
  return ch->count - ch->rsv_recv;
}

/* Whether an empty channel may still get an element: it is open, or
 * admitted senders of a closed buffered channel have yet to copy theirs
 * in. (Unbuffered senders woken after a close never stage.) */
static int chan_more_coming(const coro_chan *ch) {
  return !ch->closed || (ch->cap > 0 && ch->rsv_send > 0);
}

/* Unbuffered: a receiver has committed to the staged element; the sender's
 * send has succeeded. It may be parked on ackq, or not yet (still inside
 * coro_chan_send, which checks ch->stager), or gone (gave up: it sees that
 * it is no longer the stager). */
static void chan_commit(coro_chan *ch) {
  if (ch->stager == NULL)
    return;
  ch->stager = NULL;
  (void)coro__wake_one(&ch->ackq, 0);
}

/* Hand out what is free to the longest waiters, each woken with 0 and a
 * reservation; after a close with nothing more to come, fail the rest. */
static void chan_pump(coro_chan *ch) {
  while (chan_free_slots(ch) > 0 && !coro__waitq_empty(&ch->sendq)) {
    ch->rsv_send++;
    (void)coro__wake_one(&ch->sendq, 0);
  }
  while (chan_ready_elems(ch) > 0 && !coro__waitq_empty(&ch->recvq)) {
    ch->rsv_recv++;
    chan_commit(ch);
    (void)coro__wake_one(&ch->recvq, 0);
  }
  if (!chan_more_coming(ch))
    (void)coro__wake_all(&ch->recvq, -EPIPE);
}

/* Copy the running coroutine's element into the ring's next free slot. */
static void chan_put(coro_chan *ch, const void *elem) {
  size_t tail = (ch->head + ch->count) % ch->slots;

  memcpy(ch->ring + tail * ch->elem_size, elem, ch->elem_size);
  ch->count++;
}

/* Copy the oldest element out to the running coroutine's buffer. */
static void chan_take(coro_chan *ch, void *elem) {
  memcpy(elem, ch->ring + ch->head * ch->elem_size, ch->elem_size);
  ch->head = (ch->head + 1) % ch->slots;
  ch->count--;
  chan_commit(ch);
}

int coro_chan_new(coro_chan **out, size_t elem_size, size_t capacity) {
  size_t slots = capacity > 0 ? capacity : 1;
  coro_chan *ch;

  if (out == NULL || elem_size == 0 || elem_size > CHAN_ELEM_MAX ||
      slots > CHAN_RING_MAX / elem_size)
    return -EINVAL;
  ch = coro__calloc(1, sizeof *ch + slots * elem_size);
  if (ch == NULL)
    return -ENOMEM;
  ch->elem_size = elem_size;
  ch->cap = capacity;
  ch->slots = slots;
  *out = ch;
  return 0;
}

/* Unbuffered: the element is staged; wait until a receiver commits to it.
 * On failure decide by the channel's state, not by the status: between
 * our wakeup and now a receiver may have taken the element (then it was
 * delivered and the send succeeded) or close may have dropped it. */
static int chan_rendezvous(coro_chan *ch, int64_t deadline) {
  coro *self = coro__running();
  int rc;

  ch->stager = self;
  chan_pump(ch);
  if (ch->stager != self)
    return 0;
  rc = chan_park(ch, &ch->ackq, deadline);
  if (rc == 0)
    return 0;
  if (ch->stager == self) {
    ch->stager = NULL;
    ch->count--;
    chan_pump(ch);
    return rc;
  }
  if (ch->dropped == self) {
    ch->dropped = NULL;
    return rc;
  }
  return 0;
}

int coro_chan_send(coro_chan *ch, const void *elem, int64_t deadline) {
  int rc;

  if (ch == NULL || elem == NULL)
    return -EINVAL;
  if (ch->closed)
    return -EPIPE;
  /* The rendezvous tells senders apart by identity, which needs a loop. */
  if (ch->cap == 0 && coro__running() == NULL)
    return -EPERM;
  if (chan_free_slots(ch) == 0) {
    rc = chan_park(ch, &ch->sendq, deadline);
    if (rc != 0)
      return rc;
    /* Woken with a slot. A closed unbuffered channel has no receiver to
     * meet; a buffered one still delivers what was admitted before. */
    ch->rsv_send--;
    if (ch->closed && ch->cap == 0) {
      chan_pump(ch);
      return -EPIPE;
    }
  }
  chan_put(ch, elem);
  if (ch->cap == 0)
    return chan_rendezvous(ch, deadline);
  chan_pump(ch);
  return 0;
}

int coro_chan_recv(coro_chan *ch, void *elem, int64_t deadline) {
  int rc;

  if (ch == NULL || elem == NULL)
    return -EINVAL;
  if (chan_ready_elems(ch) == 0) {
    if (!chan_more_coming(ch))
      return -EPIPE;
    rc = chan_park(ch, &ch->recvq, deadline);
    if (rc != 0)
      return rc;
    ch->rsv_recv--; /* woken with an element set aside for us */
  }
  chan_take(ch, elem);
  chan_pump(ch);
  return 0;
}

int coro_chan_close(coro_chan *ch) {
  if (ch == NULL)
    return -EINVAL;
  if (ch->closed)
    return -EPIPE;
  ch->closed = 1;
  /* An uncommitted staged element belongs to a send that has not
   * happened: take it out so no receiver sees it, and fail that send. */
  if (ch->stager != NULL) {
    ch->dropped = ch->stager;
    ch->stager = NULL;
    ch->count--;
  }
  (void)coro__wake_all(&ch->sendq, -EPIPE);
  (void)coro__wake_all(&ch->ackq, -EPIPE);
  chan_pump(ch);
  return 0;
}

size_t coro_chan_len(const coro_chan *ch) {
  /* An unbuffered channel holds no elements, only a send in progress. */
  return ch != NULL && ch->cap > 0 ? ch->count : 0;
}

int coro_chan_free(coro_chan *ch) {
  if (ch == NULL)
    return -EINVAL;
  /* A woken coroutine that has not run yet still holds a reservation, or
   * must check stager/dropped: it is counted in `inside` until it returns. */
  if (ch->inside > 0 || ch->stager != NULL)
    return -EBUSY;
  free(ch);
  return 0;
}
