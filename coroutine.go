package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <errno.h>
#include <stdlib.h>
#include "coro.h"

// callback.c (this package).
#include "spawn.h"
size_t coro__go_remote_result_off(void);
size_t coro__go_remote_err_off(void);
size_t coro__go_remote_notify_off(void);
size_t coro__go_remote_done_off(void);

// remote.c.
int coro__remote_started(const coro_remote *r);
*/
import "C"

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Spawn starts fn(arg) as a coroutine on the loop. It may be called from
// any goroutine, including a Go function running as a callback of this
// loop.
//
// fn is the C function (see Entry; CORO_GO_ENTRY in coro_go.h makes one).
// arg is handed to fn unchanged, as a void *: an integer, or the address of
// C memory (C.malloc, or static), never the address of Go memory, which the
// C code would keep beyond the call and which the garbage collector could
// move or free. To hand a Go value to the coroutine, use SpawnValue.
//
// Errors: syscall.EINVAL for a zero fn or a bad option, ErrClosed when the
// loop is closed or closing, ErrNotLoop, syscall.ENOMEM.
func (l *Loop) Spawn(fn Entry, arg uintptr, opts ...SpawnOption) (*Coroutine, error) {
	return l.spawn(fn, arg, 0, opts)
}

// SpawnValue starts fn(h) as a coroutine on the loop, where h is a
// runtime/cgo.Handle of v made for this coroutine: C code passes h on
// (as an integer) to the registered Go functions it calls, which recover v
// with HandleValue. The handle is deleted exactly once, when the engine is
// done with the coroutine (it finished, or was dropped by its loop's
// shutdown); never delete it yourself. Errors are Spawn's, and on error no
// handle is left behind.
func (l *Loop) SpawnValue(fn Entry, v any, opts ...SpawnOption) (*Coroutine, error) {
	h := cgo.NewHandle(v)
	co, err := l.spawn(fn, uintptr(h), h, opts)
	if err != nil {
		h.Delete()
	}
	return co, err
}

// HandleValue returns the value behind h, a handle that SpawnValue gave
// to a coroutine (or any runtime/cgo.Handle), for use in a registered Go
// function the coroutine calls. It panics, as cgo.Handle.Value does, if h
// is not a live handle.
func HandleValue(h uintptr) any { return cgo.Handle(h).Value() }

func (l *Loop) spawn(fn Entry, arg uintptr, h cgo.Handle, opts []SpawnOption) (*Coroutine, error) {
	if !l.valid() {
		return nil, ErrNotLoop
	}
	if fn == 0 {
		return nil, syscall.EINVAL
	}
	var cfg spawnConfig
	if len(opts) > 0 {
		cfg = spawnOptions(opts) // no allocation without options
	}
	if cfg.invalid {
		return nil, syscall.EINVAL
	}
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	if l.closed.Load() {
		return nil, ErrClosed
	}

	co := &Coroutine{loop: l}
	var cname *C.char
	if cfg.name != "" {
		cname = C.CString(cfg.name)
		co.left = &engineLeft{name: cfg.name, cname: cname}
	}
	idx := coroutines.put(co)
	// co.mu is held until co.r is set: a taker of the queue may find the
	// coroutine finished before the C call returns, and waits here.
	co.mu.Lock()
	// With goroutines parked on the loop's coroutines, or woken from
	// there since the last deferred wake, a wake the spawn has to make is
	// deferred (see below).
	deferWake := C.int(0)
	if l.parked() || l.cq.woken.Load() {
		deferWake = 1
	}
	// The spawn beats for this goroutine (csrc/sched.c "Liveness") when
	// its Wait would poll: a beat tells a busy loop not to yield its CPU
	// after a report, which a goroutine that parks, or polls nothing on a
	// single CPU, needs it to do.
	// Such a spawn also goes through one of the loop's polling slots if
	// one is free and it has the default options (csrc/sched.c "Polling
	// slots"): the request and the answer on one cache line, which the
	// Wait polls. Then the loop counts the request as the beat.
	beat, slot, req, old := C.int(0), -1, uint64(0), uint64(0)
	if l.pollSlotFree() {
		if len(opts) == 0 {
			slot, req, old = l.claimSlot()
		}
		if slot < 0 {
			beat = 1
		}
	}
	s := C.coro__go_remote_spawn(l.c, l.cq.q, C.uintptr_t(fn), C.uintptr_t(arg),
		C.int(cfg.mode), C.size_t(cfg.stackSize), cfg.cGuard(), cname, C.uintptr_t(idx), deferWake, beat,
		C.int(slot), C.uint64_t(req))
	if slot >= 0 {
		l.claimed(slot, req, s.rc >= 0, old)
	}
	if s.rc < 0 {
		// Out of the slab before co.mu is let go: a Close that lists the
		// loop's Coroutines meanwhile finds co without a record (giveUp).
		if coroutines.take(idx) != nil && cname != nil {
			C.free(unsafe.Pointer(cname))
			co.left = nil
		}
		co.mu.Unlock()
		if s.rc == -C.ESHUTDOWN {
			return nil, ErrClosed
		}
		return nil, errnoErr(s.rc)
	}
	if s.owe != 0 {
		// Deferred, so that it is paid on every way out, a panic
		// included: every post after this one waits for it, a stop's
		// too, and the loop would sleep for good without it.
		defer l.payWake()
	}
	co.r = s.r
	if slot >= 0 {
		co.slot, co.slotReq = int8(slot)+1, req
	}
	co.id = uint64(s.id)
	if h != 0 {
		co.leftLocked().h = h
	}
	co.mu.Unlock()
	if s.pending >= spawnTakeAt {
		l.take(false)
	}
	return co, nil
}

// payWake writes the wake of the loop that a Spawn deferred: the spawn
// found the loop asleep, and other goroutines wait for it, some of them
// woken just now (by this goroutine's take, or another's) to spawn again:
// they post first, then the loop is woken once for them all. Each post to
// a sleeping loop woke it by itself, and the loop slept again after each
// handful: 0.3 to 0.6 eventfd writes, epoll_waits and context switches
// per coroutine with 64 goroutines spawning on a loaded machine. The
// caller holds l.inflight, which keeps the loop open until the wake.
func (l *Loop) payWake() {
	runtime.Gosched()
	C.coro__go_loop_wake(l.c)
	l.cq.woken.Store(false)
	l.cq.wakesDeferred.Add(1)
}

// spawnOptions applies opts to a new spawnConfig: the options are
// functions, so the config they write to escapes, and only a Spawn with
// options pays for it.
func spawnOptions(opts []SpawnOption) spawnConfig {
	cfg := new(spawnConfig)
	for _, o := range opts {
		o(cfg)
	}
	return *cfg
}

// waitSpin is how long Wait polls before it parks; see Wait.
const waitSpin = 50 * time.Microsecond

// A Coroutine is a handle to a coroutine started with Spawn.
type Coroutine struct {
	// Every Spawn allocates a Coroutine, so it is kept small (96 bytes,
	// a size class of Go's): the small fields share one word, what few
	// coroutines have (a name, the engine's leftovers) lies behind left,
	// and the record's done word is found from r. At 176 bytes (24 of
	// them padding, 40 the engine's leftovers) GC cycles came 1.4x as
	// often as at 120 and the Go heap's fresh pages faulted in 9% more
	// often in Throughput (a first fault of a page stalls the spawner
	// about 14 us here); 10 paired rounds against that: SpawnFromGo 0.93x
	// the time, busy 0.95x, Throughput 0.96x.
	//
	// A 96-byte object starts at a cache line or halfway through one:
	// the mutex, the flags, r and slotReq, which a Wait's every poll
	// reads, come first, in 32 bytes that always share one line; loop and
	// id, read by every poll too, follow.
	mu        sync.Mutex
	cancelled atomic.Bool
	parked    bool // counted in the loop's parked goroutines, its record's notify set (see park)
	slot      int8 // 1 + the polling slot its spawn went through, until it is let go; 0: none
	released  bool // releaseEngine ran: the engine is done with it
	finished  bool
	r         *C.coro_remote // nil once finished
	slotReq   uint64         // that spawn's request number, which the slot's answer carries (kept)

	loop *Loop
	id   uint64

	// done is made by the first goroutine that needs to block on it
	// (park: Done, a Wait that parks) and closed by finish; a Wait
	// that sees its coroutine finish as it polls never needs one, and a
	// Spawn + Wait then allocates a third fewer bytes (GC cycles, and the
	// latency tail they cause, come that much less often). Under mu.
	done chan struct{}

	kept   *C.coro_remote // the record a poller finished with, for the taker of the key to release
	result uintptr        // valid once done is closed
	err    error
	// left holds the name and what releaseEngine frees (the engine's
	// copy of the name, SpawnValue's handle, whenEngineDone's
	// functions); nil while there is none (a named or SpawnValue spawn
	// pays a second, 64-byte allocation for it). Set by Spawn before it
	// puts co in the slab, else under mu; read under mu.
	left *engineLeft
}

// ID returns the coroutine's engine id (unique in the process, never 0).
func (co *Coroutine) ID() uint64 {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.id
}

// Name returns the name given with WithCoroutineName.
func (co *Coroutine) Name() string {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.nameLocked()
}

// nameLocked is Name with co.mu held.
func (co *Coroutine) nameLocked() string {
	if co.left == nil {
		return ""
	}
	return co.left.name
}

// Done returns a channel closed when the coroutine has finished (or was
// dropped by its loop's shutdown); Wait then returns at once.
func (co *Coroutine) Done() <-chan struct{} {
	return co.park()
}

// Wait waits for the coroutine to finish and returns its function's
// result (the void * it returned, as an integer; CPtr makes it a pointer
// again when it is the address of C memory). It may be called any number
// of times, from any goroutine.
//
// Wait polls for a few microseconds before it blocks, so that a coroutine
// that returns soon costs no goroutine hand-off; its goroutine keeps its P
// meanwhile. Now and then (about one Wait in 256) it lets the P's other
// goroutines run first, so that a goroutine doing Spawn + Wait back to
// back does not keep them waiting for Go's preemption.
//
// Errors: ctx.Err() unchanged if ctx ends first (the coroutine goes on and
// can be waited for again); syscall.ECANCELED, with the function's result,
// if the coroutine was cancelled (Cancel, or Close of its loop) before it
// finished, or without a result if it was cancelled before it started; an
// error matching ErrAbandoned and syscall.ECANCELED if Close gave up on it;
// an error matching ErrClosed if the loop shut down before it started; and
// syscall.EDEADLK, before it blocks or gives its thread up, when called
// from a Go function running on the coroutine's own loop thread, which
// could never see it finish (one that had finished before the call is
// returned as usual).
func (co *Coroutine) Wait(ctx context.Context) (uintptr, error) {
	// The check for the loop's own thread (a cgo call, a twentieth of a
	// Spawn + Wait's Go time with 64 goroutines) comes only before the
	// Wait gives its thread up or blocks (Loop.offLoopThread): before a
	// Gosched or a yield, at the 64th poll (spin), and before it parks.
	// Until then the caller may be on that thread: it polls a loop that
	// cannot run, and sees a coroutine finished before the call, which
	// it may well return.
	var asked bool
	if co.poll() {
		// Finished before this goroutine could poll. Its Spawn showed the
		// loop that the poster runs (the waiter beat: csrc/sched.c
		// "Liveness").
		return co.result, co.err
	}
	// A Wait whose coroutine finishes while it polls never blocks, so a
	// goroutine doing nothing but Spawn + Wait keeps its P like a busy
	// loop: the P's other goroutines waited for Go's preemption (20 ms for
	// a 100 us sleep beside it, with GOMAXPROCS 1). About one Wait in
	// waitYieldEvery lets them run first.
	if rand.Uint32()%waitYieldEvery == 0 {
		if !co.loop.offLoopThread(&asked) {
			return 0, co.deadlocked()
		}
		runtime.Gosched()
	}
	// Poll briefly before parking: a coroutine that returns soon is
	// finished by this goroutine, with no hand-off (completion.go). The
	// first polls spin (a round trip to a loop that is awake takes about a
	// microsecond), and they yield the CPU between polls (Loop.yieldCPU)
	// only while the loop thread shows no sign of running (spin).
	// The loop thread runs outside the Go scheduler, so polling helps even
	// with GOMAXPROCS 1, but not on a single CPU. Only maxSpinners Waits
	// per loop poll at once; the others park at once: 64 goroutines all
	// polling a loop kept its thread from the CPU they polled on (4
	// sched_yield calls and 3.5 context switches per coroutine, 84,000
	// coroutines/s), where parked ones are woken in batches.
	// (A look before the add: with many goroutines waiting, the add and
	// the drop of a Wait that parks anyway were two writes to a line all
	// of them share.)
	sp := &co.loop.cq.spinners
	if co.loop.pollSlotFree() {
		if sp.Add(1) <= maxSpinners {
			done, err := co.spin(ctx, &asked)
			sp.Add(-1)
			if done {
				return co.result, co.err
			}
			if err != nil {
				return 0, err
			}
		} else {
			sp.Add(-1)
		}
	}
	if !co.loop.offLoopThread(&asked) {
		return 0, syscall.EDEADLK
	}
	done := co.park()
	cancel := ctx.Done()
	if cancel == nil { // context.Background and the like: no select
		<-done
		return co.result, co.err
	}
	select {
	case <-done:
		return co.result, co.err
	case <-cancel:
		return 0, ctx.Err()
	}
}

// waitYieldEvery: about one Wait in this many gives the goroutines of its
// P a turn before it polls, drawn at random for each call (math/rand/v2's
// generator is per thread: no shared line). Not by coroutine id, which
// comes from per-thread blocks that every spawn draws on: a goroutine that
// spawned two coroutines per Wait only ever waited on odd ids. That bounds
// what a goroutine doing Spawn + Wait back to back keeps them waiting to
// a few hundred round trips (the worst 100 us sleep beside one went from
// 20 to 25 ms to 1.3 to 1.5 ms, where beside channel round trips it is
// 1.1 to 1.2 ms), and costs a lone goroutine's round trips nothing measurable
// (paired rounds: median and 99th percentile unchanged). One in 16 made
// the 99th percentile 2.9x slower: a Gosched with no other goroutine to
// run wakes an idle thread for nothing.
const waitYieldEvery = 256

// spin polls co for up to waitSpin: done if it finished, or ctx's error.
// Meanwhile it finishes the other coroutines of the loop that finish
// (Loop.help), and lets their goroutines run: with a polling Wait, many
// goroutines doing Spawn + Wait on a loop cost no wake-up syscalls.
//
// It yields its CPU between polls only while the loop's beat stands still
// (csrc/sched.c "Liveness"): a loop thread that runs is on another CPU and
// needs nothing from this one, while a sched_yield costs about a
// microsecond on a VM, as much as the rest of the round trip (0.9 of them
// per Spawn + Wait made the median 6.3 us where it is 2 to 3 without).
//
// asked is Wait's: whether the caller is known to be off the loop's
// thread (Loop.offLoopThread); on it, spin returns syscall.EDEADLK.
func (co *Coroutine) spin(ctx context.Context, asked *bool) (done bool, err error) {
	l := co.loop
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	_, _, gone := l.helpHeld(1, false)
	if gone {
		return false, nil
	}
	defer l.helpHeld(-1, false)
	// Its polling slot is not to be taken over while it polls.
	co.mu.Lock()
	slot := co.slot
	co.mu.Unlock()
	if slot != 0 {
		l.cq.slotPolled[slot-1].Store(1)
		defer l.cq.slotPolled[slot-1].Store(0)
	}
	return co.spinPolls(ctx, asked)
}

// spinPolls is spin's loop of polls, apart from its defers, which this
// keeps cheap: with the loop's many returns in the same function, Go
// could not open-code them (they went through deferproc and deferreturn,
// 1.7% of Throughput's samples).
func (co *Coroutine) spinPolls(ctx context.Context, asked *bool) (done bool, err error) {
	l := co.loop
	// The first look at the loop's beat comes 32 polls in: one at the
	// start took the line the loop writes every turn, and the loop's
	// next write waited for it (a Spawn + Wait to a busy loop was 12%
	// slower). The Spawn has beaten for this goroutine already, unless
	// the polling slots were all taken then.
	//
	// The clock is first read 8 polls in: most Spawn + Waits to a loop
	// that is awake are over by then, and time.Now costs two reads of
	// the clock (a twelfth of their Go time with 64 goroutines). The
	// spin lasts that much longer than waitSpin.
	var watch beatWatch
	var start time.Time
	stale := false
	for i := 0; ; i++ {
		if co.poll() {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if i == onLoopCheckAt && !l.offLoopThread(asked) {
			return false, co.deadlocked()
		}
		if i%8 == 7 {
			if i == 7 {
				start = time.Now()
			}
			since := time.Since(start)
			if since > waitSpin {
				if !l.offLoopThread(asked) {
					return false, co.deadlocked()
				}
				return false, nil
			}
			// The beat is read every 32 polls, and every 8 once the
			// waiter yields (each yield is a syscall: a loop that moved
			// again must stop them soon).
			look := i%32 == 31 || stale
			n, b, gone := l.helpHeld(0, look)
			if gone {
				return false, nil // the loop goroutine finishes co
			}
			if look {
				stale = watch.stale(b, since)
			}
			if n > 0 {
				if !l.offLoopThread(asked) {
					return false, co.deadlocked()
				}
				runtime.Gosched()
				continue
			}
		}
		if stale {
			if !l.offLoopThread(asked) {
				return false, co.deadlocked()
			}
			l.yieldCPU(i)
		}
	}
}

// deadlocked is the way out of a Wait that finds it runs on the loop's
// thread while it polls or before it yields: EDEADLK, counted for tests,
// which tell it from the check just before parking (not counted).
func (co *Coroutine) deadlocked() error {
	spinDeadlocks.Add(1)
	return syscall.EDEADLK
}

// spinDeadlocks counts the Waits that found they ran on their loop's
// thread before they reached the check at parking (tests).
var spinDeadlocks atomic.Uint64

// onLoopCheckAt is the poll of spin at which a Wait makes sure it is not
// on its loop's thread (Wait), if nothing made it ask before.
const onLoopCheckAt = 63

// beatWatch follows the loop's beat for a polling Wait (spin).
type beatWatch struct {
	beat  uint32        // the beat last seen
	seen  bool          // beat holds a look's
	moved time.Duration // when it last moved, since the poll began
}

// stale records b, the loop's beat read at since, and reports whether the
// beat has stood still for longer than yieldAfter: then the loop thread is
// off its CPU (asleep, preempted, or in a long turn), and the waiter
// yields its own.
func (w *beatWatch) stale(b uint32, since time.Duration) bool {
	if !w.seen {
		// The first look: the beat is not known to have moved since the
		// poll began.
		w.beat, w.seen = b, true
	} else if b != w.beat {
		w.beat, w.moved = b, since
	}
	return since-w.moved > yieldAfter
}

// yieldAfter is how long the loop's beat must stand still before a
// polling Wait yields its CPU: longer than a busy loop's turn (64
// switches), short enough that a loop thread queued behind the waiter on
// its CPU soon gets it (a loaded machine).
const yieldAfter = 2 * time.Microsecond

var multiCPU = runtime.NumCPU() > 1

// pollSlotFree reports whether a Wait on l would poll now (Wait, which
// then claims a slot; Spawn, which beats only for a Wait that will).
func (l *Loop) pollSlotFree() bool {
	return multiCPU && l.cq.spinners.Load() < maxSpinners
}

// maxSpinners is how many Waits may poll one loop at once. One keeps a
// lone goroutine's round trip free of hand-offs; a second helps when many
// goroutines wait on the loop (64 on the 2-CPU test VM: Throughput 0.93x,
// faster in 9 of 10 paired rounds; neutral with GOMAXPROCS 1), perhaps as
// the other P's helper while the first one's thread is off its CPU. Tuned
// on 2 CPUs, where two polling Waits can hold both and the loop thread
// gets one back only once a poller sees its beat stand still (yieldAfter);
// more would take still more CPU time from the loop thread they wait for.
const maxSpinners = 2

// yieldCPU lets others run between two polls of Wait: the OS threads
// first. The loop thread, woken by the kernel, is often queued on this
// very CPU (the kernel places a wakee near its waker), and a waiter that
// only called runtime.Gosched would keep the CPU until it parks: on a
// loaded 2-CPU machine that made the median Spawn + Wait 60 to 120 us
// instead of 7 to 10 us. The goroutines of this P run too, but only when
// goroutines are parked on the loop (others that Spawn + Wait, which may
// sit on this P): with nobody else to run, each runtime.Gosched woke an
// idle M that found nothing and slept again (two futex calls; 1.7 per
// Spawn + Wait to a busy loop).
//
// With goroutines parked on the loop, the goroutines of this P come
// first, at every poll, and the OS threads at every 4th: those
// goroutines are mostly ones woken to spawn again and a Spawn that defers
// the loop's wake until they have (Loop.spawn), which the loop thread
// waits for as much as the waiter does (a yield per stale poll was 0.075
// sched_yield calls per coroutine with 64 goroutines, and 10% slower).
//
// While other goroutines wait on the loop too (parked, or another Wait
// polling it), the yield keeps this P (rawSchedYield): made as a Go system
// call, a yield that the kernel answered by running the loop thread for
// longer than sysmon's 20 us tick let sysmon hand the P, with the
// goroutines queued on it, to another thread, a third one fighting the
// loop thread for two CPUs; and the hand-offs kept sysmon itself waking
// every 20 us. Throughput (64 goroutines) on the 2-CPU VM: the thread
// that slept and woke most (sysmon) did so 11,759 times in 2 s, 1,117
// with the yields keeping their P, and the loop thread waited for a CPU
// 367 ms against 292; 0.93x the time per coroutine (faster in 8 of 10
// paired rounds). A lone waiter still yields as a system call: keeping
// the P made its p99 round trip 1.46x longer (16 paired rounds in one
// binary), for reasons not found. What keeping the P costs: while both
// Ps poll, a Go callback from the loop thread (which needs a P) waits
// until a Wait stops polling (waitSpin at most), where sysmon's hand-off
// gave it one within its tick.
// The caller holds l.inflight, with the loop open.
func (l *Loop) yieldCPU(i int) {
	if l.parked() {
		runtime.Gosched()
		if i%4 == 0 {
			rawSchedYield()
		}
		return
	}
	if l.cq.spinners.Load() > 1 {
		rawSchedYield()
		return
	}
	syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}

// rawSchedYield is sched_yield(2) that keeps the goroutine's P: the
// kernel may run another thread first, but Go's scheduler sees a
// goroutine running on. As the runtime's own osyield.
func rawSchedYield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}

// poll reports whether co has finished, finishing it itself if the engine
// has published its outcome. It leaves coroutines that finish while their
// loop is being freed to the loop goroutine, which alone knows how the
// close went.
func (co *Coroutine) poll() bool {
	co.mu.Lock()
	if co.finished {
		co.mu.Unlock()
		return true
	}
	if co.r == nil || co.loop.freeing.Load() {
		co.mu.Unlock()
		return false
	}
	if co.slot != 0 {
		if done, res := co.pollSlot(); done {
			result, err, _ := co.outcomeOf(res, 0, false)
			co.kept = co.r // as below
			raceSync()
			co.finishReleased(result, err)
			return true
		}
		if co.slot != 0 {
			co.mu.Unlock()
			return false
		}
		// The record has the outcome, or the slot was taken over.
	}
	if !co.published() {
		co.mu.Unlock()
		return false
	}
	result, err, _ := co.outcome(false)
	// The record is left to the taker of co's key (complete), which
	// releases it with others in one call: its reference count lies on
	// the line the loop thread writes as it reports the coroutine, and a
	// release here was a cgo call and a transfer of that line per Wait.
	co.kept = co.r
	raceSync() // before the close of done: its other waiters need it too
	co.finishReleased(result, err)
	return true
}

// pollSlot reads the answer to co's request in its polling slot (co.mu
// held, co.slot set): done with the result if the coroutine returned it.
// Otherwise it clears co.slot if the record is to be read instead: the
// outcome was not a plain return, or another Spawn took the slot over
// once the loop had taken this request (then the loop may not answer
// there). The loop writes 0 to resp before it changes result and ok, then
// the request's number: the second look at resp tells that result was
// this request's (a seqlock).
func (co *Coroutine) pollSlot() (done bool, result uintptr) {
	p := unsafe.Pointer(co.loop.cq.slots[co.slot-1])
	resp := (*uint64)(unsafe.Add(p, slotRespOff))
	if atomic.LoadUint64(resp) == co.slotReq {
		ok := atomic.LoadInt32((*int32)(unsafe.Add(p, slotOkOff)))
		result = atomic.LoadUintptr((*uintptr)(unsafe.Add(p, slotResultOff)))
		if atomic.LoadUint64(resp) == co.slotReq {
			if ok != 0 {
				return true, result
			}
			co.dropSlot() // the record has it, published after the answer
			return false, 0
		}
	}
	if atomic.LoadUint64((*uint64)(unsafe.Add(p, slotReqOff))) != co.slotReq {
		co.dropSlot() // taken over
	}
	return false, 0
}

// dropSlot lets co's polling slot go (co.mu held): free for the next
// Spawn, unless another one took it over.
func (co *Coroutine) dropSlot() {
	co.loop.releaseSlot(int(co.slot-1), co.slotReq)
	co.slot = 0
}

// published reports whether the engine has published co's outcome (co.mu
// held, co.r set): its done word holds co's id (the record's next use
// has another).
func (co *Coroutine) published() bool {
	return atomic.LoadUint64((*uint64)(unsafe.Add(unsafe.Pointer(co.r), remoteDoneOff))) == co.id
}

// park counts the caller in the loop's parked goroutines and sets the
// record's notify flag (once per Coroutine), so that the loop wakes the
// dispatcher when co finishes, then polls once more: either that poll sees
// the outcome or the loop sees the flag (callback.c, coro__go_on_done). It
// returns the channel that is closed once co has finished.
func (co *Coroutine) park() <-chan struct{} {
	co.mu.Lock()
	if co.finished {
		co.mu.Unlock()
		return closedChan
	}
	// Counted before parked becomes visible: a finisher that sees parked
	// takes the count back (finishKeep), and must never take it before
	// it was given, or the count would drop to 0 under another waiter for
	// a moment and a polling Wait could leave that waiter's key queued
	// (Loop.help). The flag is set while co holds the record (unfinished,
	// under co.mu), with a sequentially consistent store: the poll below
	// loads done after it.
	if !co.parked {
		co.loop.addParked(1)
		co.parked = true
		atomic.StoreInt32((*int32)(unsafe.Add(unsafe.Pointer(co.r), remoteNotifyOff)), 1)
	}
	if co.done == nil {
		co.done = make(chan struct{})
	}
	done := co.done
	co.mu.Unlock()
	co.poll()
	return done
}

// closedChan is the done channel of every coroutine that had finished
// before anyone asked for one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Cancel cancels the coroutine: from now on every blocking call it makes
// returns -ECANCELED at once (coro_yield still yields), and a blocking call
// in progress wakes with -ECANCELED. Cancellation is sticky and
// asynchronous: Cancel does not wait for the coroutine to finish. Cancelling
// a finished coroutine does nothing. It may be called from any goroutine.
func (co *Coroutine) Cancel() error {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.finished || co.r == nil {
		// Finished, or Spawn has not returned yet (then nobody holds co).
		return nil
	}
	if co.published() {
		// Finished in C, not yet seen by Go: nothing to cancel, and Wait
		// must report the coroutine's own outcome, not ECANCELED.
		return nil
	}
	co.cancelled.Store(true)
	if rc := C.coro_remote_cancel(co.r); rc < 0 {
		return errnoErr(rc)
	}
	return nil
}

// finish records the outcome and wakes the waiters, once: it reports
// whether this call did it.
func (co *Coroutine) finish(result uintptr, err error) bool {
	co.mu.Lock()
	if co.finished {
		co.mu.Unlock()
		return false
	}
	co.finishLocked(result, err)
	return true
}

// finishLocked is finish with co.mu held (it unlocks it) and co not yet
// finished.
func (co *Coroutine) finishLocked(result uintptr, err error) {
	if r := co.finishKeep(result, err); r != nil {
		C.coro_remote_release(r)
	}
}

// finishKeep is finishLocked that leaves the release of the engine's
// record to the caller: it returns the record (nil if none), which nobody
// else uses any more, so that a taker releases a batch of them in one cgo
// call (Loop.take).
func (co *Coroutine) finishKeep(result uintptr, err error) *C.coro_remote {
	co.finished = true
	co.result, co.err = result, err
	if co.slot != 0 {
		// Answered (the loop answers before it publishes or reports), or
		// the loop will never take another request: free for the next
		// Spawn.
		co.dropSlot()
	}
	r := co.r
	co.r = nil
	parked, done := co.parked, co.done
	co.mu.Unlock()
	if done != nil {
		close(done)
	}
	if parked {
		co.loop.addParked(-1)
		if l := co.loop; !l.cq.woken.Load() {
			l.cq.woken.Store(true)
		}
	}
	return r
}

// releaseEngine frees what the engine may use while the coroutine can
// still run (its name's C copy, SpawnValue's handle): called once the
// engine is done with it, which may be after finish when Close gave up
// on a coroutine that was still running.
func (co *Coroutine) releaseEngine() {
	co.mu.Lock()
	e := co.engineLocked()
	co.mu.Unlock()
	e.free()
}

// finishReleased is finishKeep then releaseEngine, for a poller that saw
// the coroutine return (co.mu held, unlocked on return), in one hold of
// co.mu: taken again for the release, it was two more locked
// instructions between the answer and the goroutine's next Spawn
// (against that, 10 paired rounds: SpawnFromGo 0.97x the time, the busy
// round trip 0.96x, Throughput 0.98x).
func (co *Coroutine) finishReleased(result uintptr, err error) {
	e := co.engineLocked()
	co.finishKeep(result, err)
	e.free()
}

// engineLeft is a Coroutine's name and what releaseEngine frees, taken
// from the Coroutine under its mu by engineLocked, which marks it
// released, leaves the name and deletes the handle.
type engineLeft struct {
	name  string // WithCoroutineName's, which the Coroutine keeps
	cname *C.char
	h     cgo.Handle
	later []func()
}

// engineLocked takes what releaseEngine frees out of co and marks co
// released (co.mu held). It deletes SpawnValue's handle itself (a map
// delete, no cgo call): under co.mu, before any finish of co can wake a
// waiter, whose HandleValue must then panic (TestSpawnValue), whichever
// way co finishes (a poller, a take, Close's give-up).
func (co *Coroutine) engineLocked() engineLeft {
	co.released = true
	if co.left == nil {
		return engineLeft{}
	}
	e := *co.left
	if e.h != 0 {
		e.h.Delete()
		e.h = 0
	}
	if e.name == "" {
		co.left = nil // SpawnValue's 64 bytes, not kept for co's lifetime
	} else {
		*co.left = engineLeft{name: e.name}
	}
	return e
}

// leftLocked returns co.left, made if nil (co.mu held).
func (co *Coroutine) leftLocked() *engineLeft {
	if co.left == nil {
		co.left = new(engineLeft)
	}
	return co.left
}

// free frees e's copy of the name, then runs its functions (the
// handle went in engineLocked).
func (e engineLeft) free() {
	if e.cname != nil {
		C.free(unsafe.Pointer(e.cname))
	}
	for _, f := range e.later {
		f()
	}
}

// whenEngineDone arranges for f to run once the engine is done with co
// and reports true, or reports false if it is done already (then f is not
// run). For C memory the coroutine may still use after Wait returned,
// which happens when Close gave up on it while it ran.
func (co *Coroutine) whenEngineDone(f func()) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.released {
		return false
	}
	l := co.leftLocked()
	l.later = append(l.later, f)
	return true
}

// complete finishes co, whose key a taker found in the loop's completion
// queue; closing says the coroutine finished during coro_loop_close (only
// the loop goroutine takes those). The engine is done with it. It returns
// the engine's record for the caller to release (nil if none).
//
// It holds co.mu once (the release, as in finishReleased, and the finish):
// a Spawn takes its goroutine's finished coroutines 16 at a time, and a
// second hold was two more locked instructions per coroutine.
func (co *Coroutine) complete(closing bool) *C.coro_remote {
	co.mu.Lock()
	e := co.engineLocked()
	if co.finished {
		// A poller saw it first (and released it), or Close gave up on
		// it; a poller left the record to this taker.
		r := co.kept
		co.kept = nil
		co.mu.Unlock()
		e.free()
		return r
	}
	result, err, dropped := co.outcome(closing)
	if dropped {
		// Finished by the loop goroutine once coro_loop_close returns.
		co.mu.Unlock()
		e.free()
		co.loop.dropped = append(co.loop.dropped, co)
		return nil
	}
	r := co.finishKeep(result, err)
	e.free()
	return r
}

// outcome reads the published outcome of co (co.mu held, co.r set and
// done) and maps it to Wait's result and error; dropped means the close
// cancelled it, which the loop goroutine judges once the close is over.
func (co *Coroutine) outcome(closing bool) (result uintptr, err error, dropped bool) {
	// Read from the record's C memory without a cgo call: the outcome is
	// final once done is set (the caller saw it, or took the key the loop
	// queued after setting it), and never written again.
	p := unsafe.Pointer(co.r)
	res := *(*uintptr)(unsafe.Add(p, remoteResultOff))
	cerr := C.int(*(*int32)(unsafe.Add(p, remoteErrOff)))
	return co.outcomeOf(res, cerr, closing)
}

// outcomeOf is outcome for the engine's result res and error cerr.
func (co *Coroutine) outcomeOf(res uintptr, cerr C.int, closing bool) (result uintptr, err error, dropped bool) {
	switch {
	case cerr == -C.ESHUTDOWN:
		err = neverStartedErr()
	case cerr == -C.ECANCELED && closing:
		return 0, nil, true
	case cerr < 0:
		err = errnoErr(cerr)
	case co.cancelled.Load() || closing:
		err = syscall.ECANCELED
	}
	return res, err, false
}

// The offsets of a coro_remote's result (a void *) and err (an int),
// which outcome reads, of its done word (a uint64: published), and of its
// notify flag (an int), which park sets.
var (
	remoteDoneOff   = uintptr(C.coro__go_remote_done_off())
	remoteResultOff = uintptr(C.coro__go_remote_result_off())
	remoteErrOff    = uintptr(C.coro__go_remote_err_off())
	remoteNotifyOff = uintptr(C.coro__go_remote_notify_off())
)

// neverStartedErr is Wait's error for a coroutine whose loop shut down
// before it started.
func neverStartedErr() error {
	return fmt.Errorf("%w (coroutine never started: %w)", ErrClosed, syscall.ESHUTDOWN)
}

// startedLocked reports whether the engine spawned co on its loop: it has
// run, or runs now (co.mu held, co.r set).
func (co *Coroutine) startedLocked() bool { return C.coro__remote_started(co.r) != 0 }

// finishDropped finishes co, which the engine reported -ECANCELED during
// its loop's close, and reports whether it was abandoned. Both a coroutine
// the close gave up on at its deadline and one that Cancel stopped before
// it started end that way; only the first had started (a coroutine that
// returns reports its result, not -ECANCELED).
func (co *Coroutine) finishDropped() bool {
	co.mu.Lock()
	if co.finished {
		co.mu.Unlock() // Close's give-up judged it (giveUp)
		return false
	}
	if !co.startedLocked() {
		co.finishLocked(0, syscall.ECANCELED)
		return false
	}
	co.finishLocked(0, abandonedCoroutineErr(co.id, co.nameLocked(), "at the Close deadline"))
	return true
}

// giveUp finishes co, a coroutine of a loop whose Close stopped waiting
// for the loop thread (closing: the thread has left coro_loop_run for
// coro_loop_close), with what is known of it now, and reports whether it
// is left to the thread: started and not finished, or (not closing) still
// able to start. A coroutine that finished in C reports its own outcome;
// one that never started and never will reports so.
func (co *Coroutine) giveUp(closing bool) bool {
	co.mu.Lock()
	if co.finished || co.r == nil {
		// Finished, or its Spawn failed: nobody holds co, which that
		// Spawn takes out of the slab.
		co.mu.Unlock()
		return false
	}
	if co.published() {
		// Published: the engine is done with it. With closing, the
		// coroutines that finished before the close were finished by the
		// loop goroutine before it began, so this one finished during it.
		result, err, dropped := co.outcome(closing)
		if dropped {
			co.mu.Unlock()
			co.finishDropped()
		} else {
			co.finishLocked(result, err)
		}
		co.releaseEngine()
		return false
	}
	if closing && !co.startedLocked() {
		// Still queued: the close refuses to start it (its post finds the
		// loop closing), so the engine will never use it.
		err := neverStartedErr()
		if co.cancelled.Load() {
			err = syscall.ECANCELED
		}
		co.finishLocked(0, err)
		co.releaseEngine()
		return false
	}
	co.finishLocked(0, abandonedCoroutineErr(co.id, co.nameLocked(), "left running when Close returned"))
	return true
}

// abandonLoop finishes the Coroutines of l that the engine dropped without
// any on_done call (the engine's contract promises one; this is a safety
// net so that no Wait can hang). Runs on the loop goroutine after
// coro_loop_close, when no callback of l can run any more.
func abandonLoop(l *Loop) []*Coroutine {
	var out []*Coroutine
	for _, co := range coroutines.ofLoop(l, true) {
		co.releaseEngine()
		if co.finish(0, abandonedCoroutineErr(co.ID(), co.Name(), "at the Close deadline")) {
			out = append(out, co)
		}
		co.mu.Lock()
		r := co.kept
		co.kept = nil
		co.mu.Unlock()
		if r != nil {
			C.coro_remote_release(r)
		}
	}
	return out
}

// slab maps the small integers handed to C as on_done's udata to
// Coroutines. A slot is taken at Spawn and given back when the coroutine
// is done, so steady spawning allocates nothing here (unlike one
// runtime/cgo.Handle per coroutine), and C never holds a Go pointer.
type slab struct {
	mu    sync.Mutex
	items []*Coroutine
	free  []uintptr
}

var coroutines slab

// put stores co and returns its key (1-based; 0 is never used).
func (s *slab) put(co *Coroutine) uintptr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		s.items[i-1] = co
		return i
	}
	s.items = append(s.items, co)
	return uintptr(len(s.items))
}

// take removes and returns the Coroutine under key i, or nil.
func (s *slab) take(i uintptr) *Coroutine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked(i)
}

// takeLocked is take for a caller that holds s.mu.
func (s *slab) takeLocked(i uintptr) *Coroutine {
	if i == 0 || i > uintptr(len(s.items)) {
		return nil
	}
	co := s.items[i-1]
	if co != nil {
		s.items[i-1] = nil
		s.free = append(s.free, i)
	}
	return co
}

// takeKeys is take for each queue key of keys (slab key << 1 | flag),
// into cos, under one lock: a take of 16 keys locked the slab 16 times,
// a line that every Spawn of every goroutine writes too.
func (s *slab) takeKeys(keys []C.uintptr_t, cos []*Coroutine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for j, k := range keys {
		cos[j] = s.takeLocked(uintptr(k >> 1))
	}
}

// ofLoop returns every Coroutine of l still in the slab (not yet taken
// from the completion queue); with remove, it also gives their slots back.
func (s *slab) ofLoop(l *Loop, remove bool) []*Coroutine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Coroutine
	for i, co := range s.items {
		if co != nil && co.loop == l {
			out = append(out, co)
			if remove {
				s.items[i] = nil
				s.free = append(s.free, uintptr(i+1))
			}
		}
	}
	return out
}

// len reports the live slots (tests).
func (s *slab) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items) - len(s.free)
}
