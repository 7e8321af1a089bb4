package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <stddef.h>
#include <stdint.h>
#include "coro.h"
#include "spawn.h"

// callback.c (this package): a loop's completion queue.
typedef struct coro__go_cq coro__go_cq;
coro__go_cq *coro__go_cq_new(int *fd);
void coro__go_cq_free(coro__go_cq *q);
void coro__go_cq_bind(coro__go_cq *q, coro_loop *l);
coro__slot *coro__go_cq_slot(coro__go_cq *q, int i);
size_t coro__go_slot_req_off(void);
size_t coro__go_slot_resp_off(void);
size_t coro__go_slot_result_off(void);
size_t coro__go_slot_ok_off(void);
unsigned coro__go_loop_slot_starts(coro_loop *l);
const uint64_t *coro__go_loop_slot_seen(coro_loop *l);
void coro__go_cq_hold(coro__go_cq *q);
size_t coro__go_cq_take(coro__go_cq *q, uintptr_t *keys, uintptr_t *recs, size_t n, int final);
int coro__go_cq_sleep(coro__go_cq *q);
unsigned long coro__go_cq_wakes(coro__go_cq *q);
int coro__go_cq_sleeping(coro__go_cq *q);
unsigned long coro__go_cq_overflows(coro__go_cq *q);
size_t coro__go_cq_ring_size(void);
const int *coro__go_cq_queued(coro__go_cq *q);
int *coro__go_cq_helping(coro__go_cq *q);
void coro__go_remote_release_n(const uintptr_t *rs, size_t n);
long coro__go_remote_outstanding(void);
unsigned *coro__go_loop_beat(coro_loop *l);
unsigned *coro__go_loop_waiter_beat(coro_loop *l);
int coro__go_loop_asleep(coro_loop *l);
int coro__go_loop_stopping(coro_loop *l);
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// How the Go side learns that coroutines started by Spawn have finished,
// without the loop thread calling into Go (callback.c explains the C half).
//
// The engine publishes each outcome in the coroutine's coro_remote (a done
// word, the result, the error) and its loop puts the coroutine's slab key
// and record in the loop's completion queue (a ring that the loop writes
// alone, with a lock-free stack for when it is full: callback.c). A Spawn
// whose Wait will poll hands its request over in one of the loop's polling
// slots instead of a post, and the loop answers there before it publishes
// (csrc/sched.c "Polling slots"; Loop.claimSlot). Then:
//
//   - Wait polls the slot's answer or the done word for a short while and,
//     when it sees the outcome, finishes the Coroutine itself
//     (Coroutine.poll): a Spawn + Wait pays no goroutine hand-off and no
//     callback. At most maxSpinners Waits per
//     loop (two) poll at a time (the others park at once), and while they
//     poll they also take the queued keys and finish their Coroutines
//     (Loop.help), waking their parked goroutines through Go channels
//     alone.
//   - A goroutine that parks on the Coroutine's done channel sets the
//     record's notify flag; when no Wait is polling, the loop then writes
//     an eventfd as that coroutine finishes, once per batch, which wakes
//     the loop's dispatcher goroutine through Go's netpoller; it takes the
//     queued keys and finishes their Coroutines.
//   - Spawn also takes queued keys, in batches, so that coroutines nobody
//     waits for give back their slab slots and records without a wake-up.
//
// Every key is taken exactly once, and only a taker frees the slab slot,
// so a slot is never reused while its key is queued. Whoever finishes a
// Coroutine first (poller or taker) records its outcome; the other finds
// it finished.

// completions is a loop's completion queue and dispatcher.
type completions struct {
	q    *C.coro__go_cq
	efd  *os.File      // the queue's eventfd, read by the dispatcher
	done chan struct{} // closed when the dispatcher has returned

	// The queue's length and helpers (C memory, atomic; callback.c),
	// valid while q is.
	queued, helping *C.int

	// spinners counts the Waits polling a coroutine of this loop; see
	// Coroutine.Wait. On a cache line of its own, as Loop.inflight.
	_        [64]byte
	spinners atomic.Int32
	_        [60]byte

	// woken is set when a goroutine parked on one of the loop's
	// coroutines is woken, and cleared by a Spawn's deferred wake of the
	// loop (Loop.spawn): such goroutines often spawn again at once. Read
	// by every Spawn, written about once per batch of completions, on a
	// line of its own.
	woken atomic.Bool
	_     [63]byte

	// parked counts the goroutines parked on the loop's coroutines (see
	// Coroutine.park). Go's alone: the loop reads each record's notify
	// flag instead. On a line of its own, as spinners.
	parked atomic.Int32
	_      [60]byte

	// wakesDeferred counts the wakes of the loop that a Spawn deferred
	// (tests).
	wakesDeferred atomic.Uint64

	// The polling slots (C memory in q, csrc/sched.c "Polling slots"),
	// and the loop's count of the requests it took from each (C memory,
	// atomic, valid while the loop is).
	slots    [slotCount]*C.coro__slot
	slotSeen *C.uint64_t
	// Each slot's state (see Loop.claimSlot), and whether a Wait polls
	// it. On a line of their own: every Spawn whose Wait would poll
	// tries a claim.
	_          [64]byte
	slotState  [slotCount]atomic.Uint64
	slotPolled [slotCount]atomic.Int32
	_          [64 - 12*slotCount]byte

	// The loop's liveness words (C memory, atomic; csrc/sched.c
	// "Liveness"), valid while the loop is: beat moves while the loop
	// thread runs; a Spawn whose Wait will poll adds to waiterBeat
	// (callback.c), and so does a Wait that polls long.
	beat, waiterBeat *C.uint
}

// takeBatch is how many keys one take moves; spawnTakeAt is the queue
// length at which Spawn takes them (smaller batches are left for the next
// Spawn or the dispatcher).
const (
	takeBatch   = 256
	spawnTakeAt = C.CORO__GO_TAKE_AT
)

// newCompletions makes l's queue (on any goroutine).
func (l *Loop) newCompletions() error {
	var fd C.int
	q, err := C.coro__go_cq_new(&fd)
	if q == nil {
		if en, ok := err.(syscall.Errno); ok {
			return en
		}
		return syscall.ENOMEM
	}
	l.cq = completions{q: q, efd: os.NewFile(uintptr(fd), "coro-completions"), done: make(chan struct{}),
		queued: C.coro__go_cq_queued(q), helping: C.coro__go_cq_helping(q)}
	for i := range l.cq.slots {
		l.cq.slots[i] = C.coro__go_cq_slot(q, C.int(i))
	}
	return nil
}

// freeCompletions frees a queue that was never started (NewLoop failed).
func (l *Loop) freeCompletions() {
	l.cq.efd.Close()
	C.coro__go_cq_free(l.cq.q)
}

// startCompletions binds the queue to the loop thread (the caller must be
// the loop goroutine) and starts the dispatcher.
func (l *Loop) startCompletions() {
	C.coro__go_cq_bind(l.cq.q, l.c)
	l.cq.beat = C.coro__go_loop_beat(l.c)
	l.cq.waiterBeat = C.coro__go_loop_waiter_beat(l.c)
	l.cq.slotSeen = C.coro__go_loop_slot_seen(l.c)
	go l.dispatch()
}

// dispatch is the dispatcher goroutine: it finishes queued coroutines
// whenever the loop wakes it, until stopCompletions closes its eventfd.
func (l *Loop) dispatch() {
	defer close(l.cq.done)
	var buf [8]byte
	for {
		l.take(false)
		if C.coro__go_cq_sleep(l.cq.q) != 0 {
			continue
		}
		if _, err := l.cq.efd.Read(buf[:]); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return // closed by stopCompletions
			}
			// Anything else would leave every parked Wait hanging.
			panic(fmt.Sprintf("coro: loop %q: reading the completion eventfd: %v", l.name, err))
		}
	}
}

// take finishes the Coroutines of the keys in l's queue; final (the loop
// goroutine after coro_loop_close) also takes the keys of coroutines that
// finished during the close, which only it may judge. Its callers keep
// the queue alive: Spawn and a polling Wait hold l.inflight with the loop
// open, the dispatcher runs until stopCompletions, and the loop goroutine
// frees the queue only after its final take.
// It returns how many it took.
func (l *Loop) take(final bool) int {
	f := C.int(0)
	if final {
		f = 1
	}
	// The buffers are Go memory handed to C, which makes them escape:
	// pooled, they cost no 6 KiB allocation per take.
	b := takeBufs.Get().(*takeBuf)
	defer takeBufs.Put(b)
	total := 0
	for {
		// The queue's references to the n records come first in rs,
		// the records that Go's own references are dropped for after.
		n := int(C.coro__go_cq_take(l.cq.q, &b.keys[0], &b.rs[0], takeBatch, f))
		nr := n
		coroutines.takeKeys(b.keys[:n], b.cos[:n])
		for i, k := range b.keys[:n] {
			if co := b.cos[i]; co != nil {
				b.cos[i] = nil
				if r := co.complete(k&1 != 0); r != nil {
					b.rs[nr] = C.uintptr_t(uintptr(unsafe.Pointer(r)))
					nr++
				}
			}
		}
		if nr > 0 {
			C.coro__go_remote_release_n(&b.rs[0], C.size_t(nr))
		}
		total += n
		if n < takeBatch {
			return total
		}
	}
}

// takeBuf is a take's room for a batch of keys and of records to release
// (the queue's references and Go's own, released in one call per batch).
type takeBuf struct {
	keys [takeBatch]C.uintptr_t
	cos  [takeBatch]*Coroutine      // keys[i]'s, from one lock of the slab
	rs   [2 * takeBatch]C.uintptr_t // addresses of C memory: see coro__go_remote_release_n
}

var takeBufs = sync.Pool{New: func() any { return new(takeBuf) }}

// help is take for a Wait that polls (Coroutine.spin), which takes the
// lock only when keys are queued: delta 1 first counts the caller as a
// helper, -1 first stops counting it (then the take finds every key the
// loop queued without waking the dispatcher, counting on this helper; see
// callback.c). Nothing once the loop is being freed: the loop goroutine
// finishes every coroutine itself.
// With beats it also returns the loop's beat, and beats for the caller,
// which shows the loop thread that the caller is on a CPU (csrc/sched.c
// "Liveness"): each costs a cache line the loop thread writes or reads,
// so a poller beats only now and then, and not when it stops polling (its
// next Spawn should not wait for the line).
func (l *Loop) help(delta int32, beats bool) (taken int, beat uint32) {
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	taken, beat, _ = l.helpHeld(delta, beats)
	return taken, beat
}

// helpHeld is help for a caller that holds l.inflight (a polling Wait
// holds it for the whole poll: each add and drop of it is a write to a
// line that every Spawn and Wait writes too); gone reports that the loop
// is being freed, and then it did nothing.
func (l *Loop) helpHeld(delta int32, beats bool) (taken int, beat uint32, gone bool) {
	if l.freeing.Load() {
		return 0, 0, true
	}
	if beats {
		beat = atomic.LoadUint32((*uint32)(unsafe.Pointer(l.cq.beat)))
		atomic.AddUint32((*uint32)(unsafe.Pointer(l.cq.waiterBeat)), 1)
	}
	if delta != 0 {
		atomic.AddInt32((*int32)(unsafe.Pointer(l.cq.helping)), delta)
	}
	// Nobody parked: nobody needs the keys now (Spawn takes them in
	// batches), and a lone Spawn + Wait keeps off the ring the loop
	// writes each completion in. Whoever parks later counts itself first
	// and then polls its own done word, which is set before its key is
	// queued: it sees it.
	if !l.parked() || l.queuedLen() == 0 {
		return 0, beat, false
	}
	return l.take(false), beat, false
}

// stopCompletions, on the loop goroutine before coro_loop_close (after
// freeing is set and inflight has drained), holds the queue for the final
// take and stops the dispatcher.
func (l *Loop) stopCompletions() {
	C.coro__go_cq_hold(l.cq.q)
	l.cq.efd.Close()
	<-l.cq.done
}

// endCompletions, on the loop goroutine after coro_loop_close, finishes
// every coroutine still queued and frees the queue.
func (l *Loop) endCompletions() {
	l.take(true)
	C.coro__go_cq_free(l.cq.q)
	l.cq.q = nil
}

// dispatcherWakes reports how many times the loop woke the dispatcher
// (tests; the loop must be open).
func (l *Loop) dispatcherWakes() uint64 { return uint64(C.coro__go_cq_wakes(l.cq.q)) }

// ringOverflows reports how many completions found the queue's ring full
// and went on its stack (tests; the loop must be open).
func (l *Loop) ringOverflows() uint64 { return uint64(C.coro__go_cq_overflows(l.cq.q)) }

// ringSize is the completion ring's size (tests).
var ringSize = int(C.coro__go_cq_ring_size())

// dispatcherAsleep reports whether the dispatcher has announced that it
// blocks on the queue's eventfd (tests; the loop must be open).
func (l *Loop) dispatcherAsleep() bool { return C.coro__go_cq_sleeping(l.cq.q) != 0 }

// asleep reports whether the loop thread has announced that it sleeps
// in the kernel, and no post has claimed its wake yet (tests; the loop
// must be open).
func (l *Loop) asleep() bool { return C.coro__go_loop_asleep(l.c) != 0 }

// stopping reports whether a stop of the loop is pending: Close asked for
// it, and the loop thread has not left its run yet (tests; the loop must
// not be freed meanwhile).
func (l *Loop) stopping() bool { return C.coro__go_loop_stopping(l.c) != 0 }

// addParked counts a goroutine parked on (delta 1) or no longer waiting
// for (-1) a coroutine of l; see Coroutine.park. Go memory, which needs
// no hold of the loop.
func (l *Loop) addParked(delta int32) { l.cq.parked.Add(delta) }

// remoteOutstanding reports the engine's records in use, process-wide
// (tests: every Spawn's record is released exactly once).
func remoteOutstanding() int { return int(C.coro__go_remote_outstanding()) }

// queuedLen is the completion queue's count of keys the loop has queued
// and no take has taken yet (never below the true count; callback.c), for
// a caller that keeps the queue alive (see take).
func (l *Loop) queuedLen() int32 {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(l.cq.queued)))
}

// parked reports whether goroutines are parked on coroutines of l.
func (l *Loop) parked() bool { return l.cq.parked.Load() > 0 }

// slotCount is how many polling slots a loop has (CORO__GO_SLOTS), as
// many as Waits may poll it at once (maxSpinners).
const slotCount = C.CORO__GO_SLOTS

// A slot's state word: the number of its last request << 3 | the flags.
// Free (no flag): the next Spawn may claim it for request number + 1.
// Claiming: a Spawn stores that request. Held: the request is stored, and
// its Coroutine has not finished; another Spawn may still take it over
// once the loop has taken the request (its coroutine started) if no Wait
// polls it (slotPolled): a coroutine that runs long, and whose goroutine
// parked or never waits, would otherwise hold it to its end.
const (
	slotClaiming = 1
	slotHeld     = 2
)

// claimSlot claims a polling slot of l for a Spawn whose Wait will poll
// (Loop.spawn): a free one, else one it may take over. It returns the
// slot, the number of the request to make and the slot's state before
// (for claimed), or -1.
func (l *Loop) claimSlot() (int, uint64, uint64) {
	for pass := 0; pass < 2; pass++ {
		for i := range l.cq.slotState {
			o := &l.cq.slotState[i]
			w := o.Load()
			switch {
			case w&7 == 0: // free
			case pass == 1 && w&7 == slotHeld && l.cq.slotPolled[i].Load() == 0 &&
				atomic.LoadUint64((*uint64)(unsafe.Add(unsafe.Pointer(l.cq.slotSeen), 8*i))) >= w>>3:
				// Taken over: the loop took its request.
			default:
				continue
			}
			req := w>>3 + 1
			if o.CompareAndSwap(w, req<<3|slotClaiming) {
				return i, req, w
			}
		}
	}
	return -1, 0, 0
}

// claimed ends the claim of slot i for request req: held if the spawn
// stored it, else back to its state before the claim (old), which a
// take-over leaves held by the Coroutine it took it from.
func (l *Loop) claimed(i int, req uint64, stored bool, old uint64) {
	if stored {
		l.cq.slotState[i].Store(req<<3 | slotHeld)
	} else {
		l.cq.slotState[i].Store(old)
	}
}

// releaseSlot frees slot i once the Coroutine of request req has
// finished, unless another Spawn took the slot over meanwhile.
func (l *Loop) releaseSlot(i int, req uint64) {
	l.cq.slotState[i].CompareAndSwap(req<<3|slotHeld, req<<3)
}

// slotStarts reports how many requests the loop took from its polling
// slots (tests; the loop must be open).
func (l *Loop) slotStarts() uint { return uint(C.coro__go_loop_slot_starts(l.c)) }

// The offsets of a slot's answer: the number of the request answered (a
// uint64, stored last), the result (a void *) and ok (an int: 1 if result
// is the outcome, 0 if the record holds it).
var (
	slotReqOff    = uintptr(C.coro__go_slot_req_off())
	slotRespOff   = uintptr(C.coro__go_slot_resp_off())
	slotResultOff = uintptr(C.coro__go_slot_result_off())
	slotOkOff     = uintptr(C.coro__go_slot_ok_off())
)
