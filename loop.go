package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <errno.h>
#include <stdlib.h>
#include "coro.h"

// callback.c (this package).
void coro__go_set_loop_id(uint64_t id);
uint64_t coro__go_loop_id(void);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A Loop is a coroutine scheduler running on an OS thread of its own.
//
// NewLoop starts a goroutine that locks itself to its OS thread for good,
// creates the C loop there and runs it in one long cgo call; coroutines are
// added with Spawn from any goroutine. Close stops it, cancels and joins the
// coroutines that are left, frees the loop and lets the thread exit. A Loop
// must be closed: an open one keeps its thread and memory.
type Loop struct {
	c     *C.coro_loop // set before NewLoop returns; freed by Close
	id    uint64       // process-unique, never 0
	name  string
	cname *C.char

	onPanic func(fn Func, v any)
	thread  threadConfig // how run sets up the thread (thread.go)

	cq completions // how Go learns of finished coroutines (completion.go)

	// Users of c from other goroutines (Spawn, Stats, Close's stop) count
	// themselves in inflight and then check closed or freeing: the loop
	// goroutine sets freeing and then waits for inflight to drain, so c is
	// never freed under a caller and nobody blocks on a lock the loop
	// thread might need. inflight, written by every Spawn and Wait, has a
	// cache line of its own: on the line of the fields above, which every
	// Spawn and Wait reads, each write cost the goroutines on the other
	// CPUs a miss.
	_        [64]byte
	inflight atomic.Int64
	_        [56]byte
	closed   atomic.Bool // no new spawns
	freeing  atomic.Bool // c is about to be freed: no C calls at all

	closeMu sync.Mutex // serialises Close
	closeCh chan int64 // Close -> loop goroutine: the C deadline
	doneCh  chan error // loop goroutine -> Close: the outcome

	// Written on the loop goroutine only.
	dropped []*Coroutine // reported -ECANCELED during coro_loop_close
	runErr  error        // coro_loop_run failed (engine bug)

	statsMu    sync.Mutex
	finalStats Stats // reported after Close

	onSlow          func(SlowReport) // WithSlowHandler (slow.go)
	abandonedTraces []string         // loop goroutine: coro_loop_close's reports
}

var (
	loopIDs atomic.Uint64
	loops   sync.Map // id -> *Loop, while open (for panic handlers)
)

// NewLoop starts a loop on a new OS thread. Errors are syscall.Errno values:
// EINVAL for a bad option, ENOMEM.
func NewLoop(opts ...Option) (*Loop, error) {
	var cfg loopConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.invalidOpts {
		return nil, syscall.EINVAL
	}
	l := &Loop{
		id:      loopIDs.Add(1),
		name:    cfg.name,
		onPanic: cfg.onPanic,
		thread:  cfg.thread,
		closeCh: make(chan int64, 1),
		doneCh:  make(chan error, 1),
	}
	var copts C.coro_loop_opts
	copts.stack_mode = C.int(cfg.mode)
	copts.stack_size = C.size_t(cfg.stackSize)
	copts.guard_size = cfg.cGuard()
	if cfg.hooks {
		copts.hooks = 1
	}
	if cfg.accounting {
		copts.accounting = 1
	}
	if cfg.cacheSet {
		if cfg.stackCache == 0 {
			copts.stack_cache = ^C.size_t(0) // keep none
		} else {
			copts.stack_cache = C.size_t(cfg.stackCache)
		}
	}
	if cfg.name != "" {
		l.cname = C.CString(cfg.name)
		copts.name = l.cname
	}
	if cfg.resolver != nil {
		// The engine copies the options in coro_loop_new.
		copts.resolver = cResolverOpts(cfg.resolver)
		defer freeResolverOpts(copts.resolver)
	}
	if err := l.newCompletions(); err != nil {
		if l.cname != nil {
			C.free(unsafe.Pointer(l.cname))
		}
		return nil, withFDLimit(err)
	}
	l.setReportOpts(&copts, &cfg)
	ready := make(chan error, 1)
	go l.run(copts, ready)
	if err := <-ready; err != nil {
		reportLoops.Delete(l.id)
		l.freeCompletions()
		if l.cname != nil {
			C.free(unsafe.Pointer(l.cname))
		}
		return nil, withFDLimit(err)
	}
	loops.Store(l.id, l)
	return l, nil
}

// valid reports whether l was made by NewLoop.
func (l *Loop) valid() bool { return l != nil && l.doneCh != nil }

// run is the loop goroutine. It never calls runtime.UnlockOSThread: when it
// returns, the Go runtime terminates the thread, taking the C thread-locals
// (the engine's current loop and coroutine) with it.
func (l *Loop) run(copts C.coro_loop_opts, ready chan<- error) {
	runtime.LockOSThread()
	if !l.setupThread(ready) {
		return
	}
	var c *C.coro_loop
	if rc := C.coro_loop_new(&c, &copts); rc < 0 {
		ready <- errnoErr(rc)
		return
	}
	l.c = c
	C.coro__go_set_loop_id(C.uint64_t(l.id))
	l.startCompletions()
	ready <- nil

	var deadline int64
	for {
		// One long cgo call: coroutines run on this thread until
		// coro_loop_stop. Callbacks into Go (registered functions; a
		// finished coroutine is reported through the completion queue,
		// in C) run on this goroutine, on the thread's own stack.
		rc := C.coro_loop_run(c, C.CORO_RUN_UNTIL_STOPPED)
		if rc < 0 {
			l.runErr = fmt.Errorf("coro: coro_loop_run: %w", errnoErr(rc))
			deadline = <-l.closeCh
			break
		}
		select {
		case deadline = <-l.closeCh:
		default:
			continue // stopped by someone else: keep running
		}
		break
	}

	// Close has set closed and drained the spawners. Take the last
	// counters, shut Stats out, wait for the callers still inside C (Close
	// itself, stopping the loop), then free the loop.
	st := l.statsC()
	st.Live, st.StacksCached, st.StacksMapped, st.Ready, st.Timers, st.StackBytesSaved, st.FDs, st.FDWaiters = 0, 0, 0, 0, 0, 0, 0, 0
	l.statsMu.Lock()
	l.finalStats = st
	l.statsMu.Unlock()
	// Finish the coroutines that finished before the close (no coroutine
	// runs until coro_loop_close): any outcome published after this one is
	// of the close, which Close's give-up relies on (Coroutine.giveUp).
	l.take(false)
	l.freeing.Store(true)
	for l.inflight.Load() != 0 {
		runtime.Gosched()
	}
	l.stopCompletions()
	rc := C.coro_loop_close(c, C.int64_t(deadline))
	l.endCompletions()
	// Coroutines the engine dropped unfinished (cancelled before they ran,
	// or abandoned at the deadline: the engine reports both as -ECANCELED)
	// are finished only now that the close is over.
	var abandoned []*Coroutine
	for _, co := range l.dropped {
		if co.finishDropped() {
			abandoned = append(abandoned, co)
		}
	}
	l.dropped = nil
	abandoned = append(abandoned, abandonLoop(l)...)
	C.coro__go_set_loop_id(0)
	if l.cname != nil {
		C.free(unsafe.Pointer(l.cname))
		l.cname = nil
	}
	loops.Delete(l.id)
	reportLoops.Delete(l.id)

	var err error
	switch {
	case rc == -C.ETIMEDOUT || len(abandoned) > 0:
		e := newAbandonedError(l, context.DeadlineExceeded, abandoned, false)
		e.traces, l.abandonedTraces = l.abandonedTraces, nil
		err = e
	case rc < 0:
		err = fmt.Errorf("coro: coro_loop_close: %w", errnoErr(rc))
	}
	if err == nil {
		err = l.runErr
	}
	l.doneCh <- err
}

// Name returns the name given with WithName.
func (l *Loop) Name() string {
	if !l.valid() {
		return ""
	}
	return l.name
}

// onLoopThread reports whether the caller is running on l's thread, which
// happens only inside a callback of l (a registered Go function called from
// one of its coroutines). Blocking there on the loop itself would deadlock.
func (l *Loop) onLoopThread() bool {
	return uint64(C.coro__go_loop_id()) == l.id
}

// offLoopThread is !onLoopThread for a Wait, asked at most once: *asked
// records that the caller is off the thread (a goroutine stays on or off
// it for the whole call).
func (l *Loop) offLoopThread(asked *bool) bool {
	if *asked {
		return true
	}
	if l.onLoopThread() {
		return false
	}
	*asked = true
	return true
}

// testHookBeforeCloseStop, if set (tests only), runs in Close just before
// it stops the loop.
var testHookBeforeCloseStop func(l *Loop)

// closeGrace is how long Close waits, once its deadline has passed, for
// the loop thread to report the engine's own outcome (the engine was given
// the same deadline) before it concludes that the thread is stuck in a
// coroutine that does not yield.
const closeGrace = 100 * time.Millisecond

// Close shuts the loop down: it stops the scheduler, cancels every live
// coroutine, runs the loop until they have all finished or ctx is done,
// frees the loop and ends its thread.
//
// ctx bounds the shutdown, by its deadline and by its cancellation. The
// engine gets ctx's deadline: coroutines still alive then are abandoned
// (never run again; the engine frees their stacks and records, whatever
// they held themselves leaks) and the loop is freed before Close returns.
// If the loop thread does not come back to the scheduler at all (a
// coroutine that spins, or that ignores -ECANCELED in a loop of calls that
// then return at once, never yields), or ctx is cancelled, Close returns
// anyway, at the deadline or the cancellation, and every Wait returns: the
// coroutines still running on the thread then are given up on (reported,
// and left to the thread to finish); those that finished in the meantime
// report their own outcome, as in a Close that completes, and spawns still
// queued report that they never started (they never will; but if the
// thread never got back to the scheduler even to begin the shutdown, they
// could still start there, and are given up on too). The thread keeps the loop, its stacks and the stuck coroutine until
// the coroutine returns, then completes the shutdown by itself and exits;
// if the coroutine never returns, they stay for the life of the process.
// Cooperative coroutines cannot be preempted; Close can only stop waiting.
//
// When coroutines had to be given up on, the error matches ErrAbandoned,
// names them (id and name) and matches ctx's error: context.DeadlineExceeded
// and os.ErrDeadlineExceeded for a deadline (with a Timeout method
// returning true), context.Canceled for a cancellation. Coroutines that
// finished during Close report syscall.ECANCELED from Wait (with their
// function's result); those given up on report an error matching both
// ErrAbandoned and syscall.ECANCELED; those that never started report an
// error matching ErrClosed.
//
// Close returns ErrClosed if the loop is already closed, ErrNotLoop for a
// Loop that NewLoop did not make, an error matching syscall.EINVAL for a
// nil ctx (the loop stays open), and syscall.EDEADLK when called from a Go
// function running on the loop's own thread (a callback of one of its
// coroutines), which the shutdown would wait for.
func (l *Loop) Close(ctx context.Context) error {
	if !l.valid() {
		return ErrNotLoop
	}
	if ctx == nil {
		return fmt.Errorf("coro: Close: nil context: %w", syscall.EINVAL)
	}
	if l.onLoopThread() {
		return syscall.EDEADLK
	}
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	l.closed.Store(true)
	deadline := cDeadline(ctx)
	// Spawns that started before closed was set finish their (non-blocking)
	// C call; later ones see closed and return ErrClosed.
	for l.inflight.Load() != 0 {
		runtime.Gosched()
	}
	// Hold the loop across coro_loop_stop: once the loop goroutine has the
	// deadline it may free the loop, and C code may stop the loop at any
	// time, so without the hold the stop below could touch freed memory.
	l.inflight.Add(1)
	l.closeCh <- deadline
	if testHookBeforeCloseStop != nil {
		testHookBeforeCloseStop(l)
	}
	C.coro_loop_stop(l.c)
	l.inflight.Add(-1)

	select {
	case err := <-l.doneCh:
		return err
	case <-ctx.Done():
	}
	grace := time.Duration(0) // finished as ctx ended: its outcome stands
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		grace = closeGrace
	}
	if ok, err := l.awaitDone(grace); ok {
		return err
	}
	// Only the coroutines still running on the thread (or, if it never
	// left coro_loop_run, still able to start there) are given up on.
	closing := l.freeing.Load()
	var left []*Coroutine
	for _, co := range coroutines.ofLoop(l, false) {
		if co.giveUp(closing) {
			left = append(left, co)
		}
	}
	if len(left) == 0 {
		// No coroutine of Spawn's is left: unless one that C code spawned
		// holds the thread, the shutdown ends at once, and its outcome is
		// the one to report.
		if ok, err := l.awaitDone(closeGrace); ok {
			return err
		}
	}
	return newAbandonedError(l, ctx.Err(), left, true)
}

// awaitDone waits up to d (0: not at all) for the loop goroutine's
// outcome of the shutdown.
func (l *Loop) awaitDone(d time.Duration) (bool, error) {
	select {
	case err := <-l.doneCh:
		return true, err
	default:
	}
	if d <= 0 {
		return false, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-l.doneCh:
		return true, err
	case <-t.C:
		return false, nil
	}
}

// abandonedError is Close's error when it had to give up on coroutines.
type abandonedError struct {
	loop    string
	cause   error    // context.DeadlineExceeded or context.Canceled
	names   []string // `17 "name"` for each coroutine given up on
	running bool     // the loop thread was left running them
	traces  []string // each abandoned coroutine's backtrace (coro_loop_close's reports)
}

func newAbandonedError(l *Loop, cause error, cos []*Coroutine, running bool) *abandonedError {
	e := &abandonedError{loop: l.name, cause: cause, running: running}
	for _, co := range cos {
		e.names = append(e.names, fmt.Sprintf("%d %q", co.ID(), co.Name()))
	}
	return e
}

func (e *abandonedError) Error() string {
	why := "at the Close deadline"
	if errors.Is(e.cause, context.Canceled) {
		why = "when Close was cancelled"
	}
	s := fmt.Sprintf("coro: loop %q: %v %s: %d coroutine(s)", e.loop, ErrAbandoned, why, len(e.names))
	if len(e.names) > 0 {
		s += " [" + strings.Join(e.names, ", ") + "]"
	}
	if e.running {
		s += "; the loop thread did not return to the scheduler and is left running them"
	}
	for _, t := range e.traces {
		s += "\n" + t
	}
	return s
}

// Is matches ErrAbandoned and the context's error; a deadline also matches
// os.ErrDeadlineExceeded.
func (e *abandonedError) Is(target error) bool {
	if target == ErrAbandoned || target == e.cause {
		return true
	}
	return target == os.ErrDeadlineExceeded && e.cause == context.DeadlineExceeded
}

// Timeout reports whether the Close deadline passed, as net.Error does.
func (e *abandonedError) Timeout() bool { return e.cause == context.DeadlineExceeded }

// abandonedCoroutineErr is Wait's error for a coroutine Close gave up on.
func abandonedCoroutineErr(id uint64, name, how string) error {
	return fmt.Errorf("coro: coroutine %d %q: %w %s: %w", id, name, ErrAbandoned, how, syscall.ECANCELED)
}

// Stats are a loop's counters; see coro_loop_stats in coro.h.
type Stats struct {
	Live         uint64 // coroutines alive
	Spawned      uint64 // coroutines ever spawned
	Switches     uint64 // context switches performed
	StacksCached uint64 // stacks in the reuse cache now
	StacksMapped uint64 // stacks mapped now (in use and cached)
	// Ready is the run-queue length. The engine counts it only when
	// read on the loop's own thread (from a registered function called
	// by one of its coroutines); elsewhere it is 0.
	Ready           uint64
	Timers          uint64 // pending deadlines
	Posts           uint64 // cross-thread posts handled
	StackBytesSaved uint64 // StackShared: bytes held by suspended coroutines
	// FDs is the number of file descriptors registered with the loop's
	// poller now. WaitFD and SendFile hold a registration only while
	// they wait; one taken by a C coroutine lasts until coro_fd_close or
	// coro_fd_forget (ForgetFD), so an fd closed otherwise may still count.
	FDs       uint64
	PollCalls uint64 // times the loop asked the kernel for ready fds
	Events    uint64 // fd events delivered to waiters
	// FDArms counts the registrations the loop made or changed in the
	// kernel (epoll_ctl calls with the epoll backend). A socket made by
	// the engine's C socket calls keeps its read registration between
	// waits, so a connection that reads request after request adds none.
	FDArms uint64
	// PollProbes counts the poll(2) calls of try-once fd waits (deadline
	// 0) made on the loop thread; PollSyscalls every system call the
	// poller made (waits, registrations, probes, reads of its wake fd).
	PollProbes   uint64
	PollSyscalls uint64
	// FDWaiters is the number of waits (WaitFD, SendFile, C coroutines
	// in coro_fd_wait) parked on an fd now: tests wait on it to know that
	// a wait has begun.
	FDWaiters uint64
}

// Stats reads the loop's counters. It may be called from any goroutine;
// the values are read without locking and may be slightly stale. After
// Close has begun freeing the loop, Stats reports the cumulative counters
// (Spawned, Switches, Posts, PollCalls, Events, FDArms) as of the start of the
// shutdown and zero for the others. A Loop not made by NewLoop reports
// zeros.
func (l *Loop) Stats() Stats {
	if !l.valid() {
		return Stats{}
	}
	l.inflight.Add(1)
	if !l.freeing.Load() {
		st := l.statsC()
		l.inflight.Add(-1)
		return st
	}
	l.inflight.Add(-1)
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	return l.finalStats
}

func (l *Loop) statsC() Stats {
	var cs C.coro_loop_stats
	C.coro_loop_stats_get(l.c, &cs)
	return Stats{
		Live:            uint64(cs.live),
		Spawned:         uint64(cs.spawned),
		Switches:        uint64(cs.switches),
		StacksCached:    uint64(cs.stacks_cached),
		StacksMapped:    uint64(cs.stacks_mapped),
		Ready:           uint64(cs.ready),
		Timers:          uint64(cs.timers),
		Posts:           uint64(cs.posts),
		StackBytesSaved: uint64(cs.stack_bytes_saved),
		FDs:             uint64(cs.fds),
		PollCalls:       uint64(cs.poll_calls),
		Events:          uint64(cs.events),
		FDArms:          uint64(cs.fd_arms),
		PollProbes:      uint64(cs.poll_probes),
		PollSyscalls:    uint64(cs.poll_syscalls),
		FDWaiters:       uint64(cs.fd_waiters),
	}
}
