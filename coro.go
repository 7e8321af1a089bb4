package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <errno.h>
#include <stdlib.h>
#include "coro.h"

// callback.c (this package).
int coro__go_remote_spawn(coro_loop *loop, void *fn, void *arg,
                          const coro_opts *opts, uintptr_t udata,
                          coro_remote **out);
void coro__go_set_loop_id(uint64_t id);
uint64_t coro__go_loop_id(void);
void *coro__go_uintptr_to_ptr(uintptr_t v);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	// The C engine: its objects are linked in through this import.
	_ "github.com/ccoro/coro/csrc"
)

// ErrClosed is returned for operations on a loop that has been closed (or
// is closing). errors.Is(err, ErrClosed) works on every error that reports
// it, including the error of a coroutine that was still queued (never
// started) when its loop shut down.
var ErrClosed = errors.New("coro: loop closed")

// ErrAbandoned is matched (errors.Is) by the error of a Close whose
// deadline passed before every coroutine finished, and by the Wait error of
// each coroutine it had to abandon. An abandoned coroutine never runs again:
// its engine resources are freed, whatever it held itself leaks.
var ErrAbandoned = errors.New("coroutines abandoned")

// StackMode selects how coroutine stacks are allocated; see the package
// documentation.
type StackMode int

const (
	// StackDefault inherits: for a coroutine its loop's mode, for a loop
	// StackGuarded.
	StackDefault StackMode = 0
	// StackGuarded gives each coroutine an mmap'd stack with a guard page.
	StackGuarded StackMode = 1
	// StackShared runs the loop's coroutines on one shared stack and copies
	// a suspended coroutine's used bytes aside (copy-on-switch).
	StackShared StackMode = 2
)

// String returns "default", "guarded", "shared" or "StackMode(n)".
func (m StackMode) String() string {
	switch m {
	case StackDefault:
		return "default"
	case StackGuarded:
		return "guarded"
	case StackShared:
		return "shared"
	}
	return fmt.Sprintf("StackMode(%d)", int(m))
}

// Stack sizes, in bytes (CORO_STACK_SIZE_* in coro.h).
const (
	StackSizeDefault = 256 << 10 // the default stack size
	StackSizeMin     = 16 << 10  // the smallest stack size accepted
	StackSizeMax     = 1 << 30   // the largest stack size accepted
)

// Compile-time checks that the constants above match coro.h: a constant
// index other than 0 into a one-element array does not compile.
var (
	_ = [1]struct{}{}[StackDefault-C.CORO_STACK_DEFAULT]
	_ = [1]struct{}{}[StackGuarded-C.CORO_STACK_GUARDED]
	_ = [1]struct{}{}[StackShared-C.CORO_STACK_SHARED]
	_ = [1]struct{}{}[StackSizeDefault-C.CORO_STACK_SIZE_DEFAULT]
	_ = [1]struct{}{}[StackSizeMin-C.CORO_STACK_SIZE_MIN]
	_ = [1]struct{}{}[StackSizeMax-C.CORO_STACK_SIZE_MAX]
)

type loopConfig struct {
	mode        StackMode
	stackSize   int
	stackCache  int
	cacheSet    bool
	name        string
	onPanic     func(fn Func, v any)
	invalidOpts bool
}

// Option configures NewLoop.
type Option func(*loopConfig)

// WithStackMode sets the loop's default stack mode (StackGuarded if not
// given).
func WithStackMode(m StackMode) Option {
	return func(c *loopConfig) {
		if m < StackDefault || m > StackShared {
			c.invalidOpts = true
		}
		c.mode = m
	}
}

// WithStackSize sets the size in bytes of each guarded stack, or of the
// shared stack in StackShared mode. It must lie in [StackSizeMin,
// StackSizeMax]; the default is StackSizeDefault.
func WithStackSize(n int) Option {
	return func(c *loopConfig) {
		if n < StackSizeMin || n > StackSizeMax {
			c.invalidOpts = true
		}
		c.stackSize = n
	}
}

// WithStackCache sets how many stacks the loop keeps for reuse after their
// coroutines finish. 0 keeps none; without this option the engine's default
// (64) applies.
func WithStackCache(n int) Option {
	return func(c *loopConfig) {
		if n < 0 {
			c.invalidOpts = true
		}
		c.stackCache = n
		c.cacheSet = true
	}
}

// WithName names the loop in the engine's messages (stack overflow reports)
// and in Name.
func WithName(s string) Option {
	return func(c *loopConfig) { c.name = s }
}

// WithPanicHandler sets the function that receives the value of a panic
// raised by a registered Go function (see RegisterFunc) called from one of
// this loop's coroutines. It runs on the loop thread right after the panic
// was recovered, while the coroutine that made the call waits; the C caller
// then gets CORO_GO_EPANIC. By default the panic is logged with its stack
// through the standard log package.
func WithPanicHandler(h func(fn Func, v any)) Option {
	return func(c *loopConfig) { c.onPanic = h }
}

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

	// Users of c from other goroutines (Spawn, Stats) count themselves in
	// inflight and then check closed or freeing: Close sets the flag and
	// then waits for inflight to drain, so c is never freed under a caller
	// and nobody blocks on a lock the loop thread might need.
	inflight atomic.Int64
	closed   atomic.Bool // no new spawns
	freeing  atomic.Bool // c is about to be freed: no C calls at all

	closeMu sync.Mutex // serialises Close
	closeCh chan int64 // Close -> loop goroutine: the C deadline
	doneCh  chan error // loop goroutine -> Close: the outcome

	// Written on the loop goroutine only.
	closing bool         // inside coro_loop_close: every coroutine was cancelled
	dropped []*Coroutine // reported -ECANCELED during coro_loop_close
	runErr  error        // coro_loop_run failed (engine bug)

	statsMu    sync.Mutex
	finalStats Stats // reported after Close
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
		closeCh: make(chan int64, 1),
		doneCh:  make(chan error, 1),
	}
	var copts C.coro_loop_opts
	copts.stack_mode = C.int(cfg.mode)
	copts.stack_size = C.size_t(cfg.stackSize)
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
	ready := make(chan error, 1)
	go l.run(copts, ready)
	if err := <-ready; err != nil {
		if l.cname != nil {
			C.free(unsafe.Pointer(l.cname))
		}
		return nil, err
	}
	loops.Store(l.id, l)
	return l, nil
}

// run is the loop goroutine. It never calls runtime.UnlockOSThread: when it
// returns, the Go runtime terminates the thread, taking the C thread-locals
// (the engine's current loop and coroutine) with it.
func (l *Loop) run(copts C.coro_loop_opts, ready chan<- error) {
	runtime.LockOSThread()
	var c *C.coro_loop
	if rc := C.coro_loop_new(&c, &copts); rc < 0 {
		ready <- errnoErr(rc)
		return
	}
	l.c = c
	C.coro__go_set_loop_id(C.uint64_t(l.id))
	ready <- nil

	var deadline int64
	for {
		// One long cgo call: coroutines run on this thread until
		// coro_loop_stop. Callbacks into Go (on_done, registered
		// functions) run on this goroutine, on the thread's own stack.
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
	// counters, shut Stats out, then free the loop.
	st := l.statsC()
	st.Live, st.StacksCached, st.StacksMapped, st.Ready, st.Timers, st.StackBytesSaved, st.FDs = 0, 0, 0, 0, 0, 0, 0
	l.statsMu.Lock()
	l.finalStats = st
	l.statsMu.Unlock()
	l.freeing.Store(true)
	for l.inflight.Load() != 0 {
		runtime.Gosched()
	}
	l.closing = true
	rc := C.coro_loop_close(c, C.int64_t(deadline))
	// Coroutines the engine dropped unfinished (cancelled before they ran,
	// or abandoned at the deadline: the engine reports both as -ECANCELED)
	// are finished only now that the outcome of the whole Close is known.
	abandoned := 0
	for _, co := range l.dropped {
		if rc == -C.ETIMEDOUT {
			co.finish(nil, abandonedCoroutineErr(co))
			abandoned++
		} else {
			co.finish(nil, syscall.ECANCELED)
		}
	}
	l.dropped = nil
	abandoned += abandonLoop(l)
	C.coro__go_set_loop_id(0)
	if l.cname != nil {
		C.free(unsafe.Pointer(l.cname))
		l.cname = nil
	}
	loops.Delete(l.id)

	var err error
	switch {
	case rc == -C.ETIMEDOUT || abandoned > 0:
		err = &abandonedError{n: abandoned}
	case rc < 0:
		err = fmt.Errorf("coro: coro_loop_close: %w", errnoErr(rc))
	}
	if err == nil {
		err = l.runErr
	}
	l.doneCh <- err
}

// Name returns the name given with WithName.
func (l *Loop) Name() string { return l.name }

// onLoopThread reports whether the caller is running on l's thread, which
// happens only inside a callback of l (a registered Go function called from
// one of its coroutines). Blocking there on the loop itself would deadlock.
func (l *Loop) onLoopThread() bool {
	return uint64(C.coro__go_loop_id()) == l.id
}

// Close shuts the loop down: it stops the scheduler, cancels every live
// coroutine, runs the loop until they have all finished or ctx's deadline
// passes, abandons the ones left, frees the loop and ends its thread.
//
// Only ctx's deadline is used (no deadline: wait as long as it takes):
// the C shutdown cannot be interrupted, so cancelling ctx does not cut it
// short. When coroutines had to be abandoned the error matches ErrAbandoned
// and also context.DeadlineExceeded and os.ErrDeadlineExceeded (and has a
// Timeout method returning true), so callers may test it whichever way
// they test deadlines. Coroutines that finished during Close report
// syscall.ECANCELED from Wait (with their function's result); abandoned
// ones report an error matching both ErrAbandoned and syscall.ECANCELED.
//
// Close returns ErrClosed if the loop is already closed, and
// syscall.EDEADLK when called from a Go function running on the loop's own
// thread (a callback of one of its coroutines), which the shutdown would
// wait for.
func (l *Loop) Close(ctx context.Context) error {
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
	l.closeCh <- deadline
	C.coro_loop_stop(l.c)
	return <-l.doneCh
}

// abandonedError is Close's error when its deadline passed.
type abandonedError struct{ n int }

func (e *abandonedError) Error() string {
	return fmt.Sprintf("coro: %v: %d coroutine(s) dropped unfinished at the Close deadline", ErrAbandoned, e.n)
}

// abandonedCoroutineErr is Wait's error for a coroutine Close dropped at
// its deadline.
func abandonedCoroutineErr(co *Coroutine) error {
	co.mu.Lock()
	id := co.id
	co.mu.Unlock()
	return fmt.Errorf("coro: coroutine %d %q: %w at the Close deadline: %w", id, co.name, ErrAbandoned, syscall.ECANCELED)
}

func (e *abandonedError) Is(target error) bool {
	return target == ErrAbandoned || target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

// Timeout reports true, as net.Error and os.ErrDeadlineExceeded do.
func (e *abandonedError) Timeout() bool { return true }

// cDeadline converts ctx's deadline to an absolute CLOCK_MONOTONIC time in
// nanoseconds for the C API: -1 without a deadline. A deadline already past
// becomes the current time (never 0, which means "try once" to the engine).
func cDeadline(ctx context.Context) int64 {
	d, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	now := int64(C.coro_now())
	rem := time.Until(d)
	if rem <= 0 {
		return now
	}
	return now + int64(rem)
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
	// FDWaiters is the number of waits (WaitFD, SendFile, C coroutines
	// in coro_fd_wait) parked on an fd now: tests wait on it to know that
	// a wait has begun.
	FDWaiters uint64
}

// Stats reads the loop's counters. It may be called from any goroutine;
// the values are read without locking and may be slightly stale. After
// Close has begun freeing the loop, Stats reports the cumulative counters
// (Spawned, Switches, Posts, PollCalls, Events, FDArms) as of the start of the
// shutdown and zero for the others.
func (l *Loop) Stats() Stats {
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
		FDWaiters:       uint64(cs.fd_waiters),
	}
}

type spawnConfig struct {
	name      string
	mode      StackMode
	stackSize int
	invalid   bool
}

// SpawnOption configures Spawn.
type SpawnOption func(*spawnConfig)

// WithCoroutineName names the coroutine (Name, and the engine's messages
// such as stack overflow reports).
func WithCoroutineName(s string) SpawnOption {
	return func(c *spawnConfig) { c.name = s }
}

// WithCoroutineStackMode overrides the loop's stack mode for this
// coroutine.
func WithCoroutineStackMode(m StackMode) SpawnOption {
	return func(c *spawnConfig) {
		if m < StackDefault || m > StackShared {
			c.invalid = true
		}
		c.mode = m
	}
}

// WithCoroutineStackSize sets this coroutine's stack size (guarded stacks
// only; it must lie in [StackSizeMin, StackSizeMax]).
func WithCoroutineStackSize(n int) SpawnOption {
	return func(c *spawnConfig) {
		if n < StackSizeMin || n > StackSizeMax {
			c.invalid = true
		}
		c.stackSize = n
	}
}

// Spawn starts fn(arg) as a coroutine on the loop. It may be called from
// any goroutine, including a Go function running as a callback of this
// loop.
//
// fn is a C function pointer of type void *(*)(void *) (coro_fn), carried
// as an unsafe.Pointer because every cgo package has its own C types; in a
// cgo package, unsafe.Pointer(C.coro_fn(C.my_function)) makes one. arg is
// handed to fn unchanged and must be C memory (C.malloc, or static), or an
// integer such as a runtime/cgo.Handle made into a pointer with UintptrArg:
// never a pointer into Go memory, which the C code would keep beyond the
// call and which the garbage collector could move or free.
//
// Errors: syscall.EINVAL for a nil fn or a bad option, ErrClosed when the
// loop is closed or closing, syscall.ENOMEM.
func (l *Loop) Spawn(fn unsafe.Pointer, arg unsafe.Pointer, opts ...SpawnOption) (*Coroutine, error) {
	if fn == nil {
		return nil, syscall.EINVAL
	}
	var cfg spawnConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.invalid {
		return nil, syscall.EINVAL
	}
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	if l.closed.Load() {
		return nil, ErrClosed
	}

	co := &Coroutine{loop: l, name: cfg.name, done: make(chan struct{})}
	var copts C.coro_opts
	copts.stack_mode = C.int(cfg.mode)
	copts.stack_size = C.size_t(cfg.stackSize)
	if cfg.name != "" {
		co.cname = C.CString(cfg.name)
		copts.name = co.cname
	}
	idx := coroutines.put(co)
	var r *C.coro_remote
	rc := C.coro__go_remote_spawn(l.c, fn, arg, &copts, C.uintptr_t(idx), &r)
	if rc < 0 {
		if coroutines.take(idx) != nil && co.cname != nil {
			C.free(unsafe.Pointer(co.cname))
		}
		if rc == -C.ESHUTDOWN {
			return nil, ErrClosed
		}
		return nil, errnoErr(rc)
	}
	co.mu.Lock()
	co.id = uint64(C.coro_remote_id(r))
	if co.finished {
		// on_done already ran on the loop thread.
		C.coro_remote_release(r)
	} else {
		co.r = r
	}
	co.mu.Unlock()
	return co, nil
}

// UintptrArg returns v as a pointer-typed argument for Spawn (or for a
// registered function's result), for passing an integer such as a
// runtime/cgo.Handle to C code. v must be small (below 4096, as cgo.Handle
// values in practice are) or not an address in Go memory. The conversion
// is made in C, since in Go unsafe.Pointer(uintptr(v)) is reported by go
// vet and, under -race (checkptr), rejected for small values. The C side
// recovers the integer with a cast, (uintptr_t)arg; Go code with
// uintptr(p).
func UintptrArg(v uintptr) unsafe.Pointer {
	return C.coro__go_uintptr_to_ptr(C.uintptr_t(v))
}

// waitSpin is how long Wait polls before it parks; see Wait.
const waitSpin = 50 * time.Microsecond

// A Coroutine is a handle to a coroutine started with Spawn.
type Coroutine struct {
	loop *Loop
	name string
	done chan struct{}

	cancelled atomic.Bool

	mu       sync.Mutex
	id       uint64
	r        *C.coro_remote // nil once finished
	cname    *C.char        // freed once finished
	finished bool
	result   unsafe.Pointer // valid once done is closed
	err      error
}

// ID returns the coroutine's engine id (unique in the process, never 0).
func (co *Coroutine) ID() uint64 {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.id
}

// Name returns the name given with WithCoroutineName.
func (co *Coroutine) Name() string { return co.name }

// Done returns a channel closed when the coroutine has finished (or was
// dropped by its loop's shutdown); Wait then returns at once.
func (co *Coroutine) Done() <-chan struct{} { return co.done }

// Wait waits for the coroutine to finish and returns its function's
// result. It may be called any number of times, from any goroutine.
//
// Errors: ctx.Err() unchanged if ctx ends first (the coroutine goes on and
// can be waited for again); syscall.ECANCELED, with the function's result,
// if the coroutine was cancelled (Cancel, or Close of its loop) before it
// finished, or without a result if it was cancelled before it started; an
// error matching ErrAbandoned and syscall.ECANCELED if Close abandoned it;
// an error matching ErrClosed if the loop shut down before it started; and
// syscall.EDEADLK, at once, when called from a Go function running on the
// coroutine's own loop thread, which could never see it finish.
func (co *Coroutine) Wait(ctx context.Context) (unsafe.Pointer, error) {
	if co.loop.onLoopThread() {
		return nil, syscall.EDEADLK
	}
	select {
	case <-co.done:
		return co.result, co.err
	default:
	}
	// Spin briefly before parking. A goroutine parked here is woken by
	// the loop goroutine's cgo callback, which queues it on the callback's
	// P and then returns to C with that P still attached (in syscall
	// state): unless an idle thread steals it at once, it sits there until
	// sysmon retakes the P, tens of microseconds later. Short coroutines
	// finish within the spin and never pay that (Spawn+Wait: ~49 µs/op
	// parked at once, ~12 µs/op with the spin, on the 2-CPU test machine).
	if runtime.GOMAXPROCS(0) > 1 {
		for start := time.Now(); time.Since(start) < waitSpin; {
			runtime.Gosched()
			select {
			case <-co.done:
				return co.result, co.err
			case <-ctx.Done():
				return nil, ctx.Err()
			default:
			}
		}
	}
	select {
	case <-co.done:
		return co.result, co.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

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
	co.cancelled.Store(true)
	if rc := C.coro_remote_cancel(co.r); rc < 0 {
		return errnoErr(rc)
	}
	return nil
}

// finish records the outcome and wakes the waiters (once).
func (co *Coroutine) finish(result unsafe.Pointer, err error) {
	co.mu.Lock()
	if co.finished {
		co.mu.Unlock()
		return
	}
	co.finished = true
	co.result, co.err = result, err
	if co.r != nil {
		C.coro_remote_release(co.r)
		co.r = nil
	}
	cname := co.cname
	co.cname = nil
	co.mu.Unlock()
	if cname != nil {
		C.free(unsafe.Pointer(cname))
	}
	close(co.done)
}

// complete is called on the loop goroutine (from the engine's on_done, on the
// loop thread's own stack) when the coroutine finished or was dropped.
func (co *Coroutine) complete(r *C.coro_remote) {
	var result unsafe.Pointer
	var cerr C.int
	C.coro_remote_poll(r, &result, &cerr)
	var err error
	switch {
	case cerr == -C.ESHUTDOWN:
		err = fmt.Errorf("%w (coroutine never started: %w)", ErrClosed, syscall.ESHUTDOWN)
	case cerr == -C.ECANCELED && co.loop.closing:
		// Finished by the loop goroutine once coro_loop_close returns.
		co.loop.dropped = append(co.loop.dropped, co)
		return
	case cerr < 0:
		err = errnoErr(cerr)
	case co.cancelled.Load() || co.loop.closing:
		err = syscall.ECANCELED
	}
	co.finish(result, err)
}

// abandonLoop finishes the Coroutines of l that the engine dropped without
// any on_done call (the engine's contract promises one; this is a safety
// net so that no Wait can hang). Runs on the loop goroutine after
// coro_loop_close, when no callback of l can run any more.
func abandonLoop(l *Loop) int {
	left := coroutines.takeLoop(l)
	for _, co := range left {
		co.finish(nil, abandonedCoroutineErr(co))
	}
	return len(left)
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

// takeLoop removes and returns every Coroutine of l.
func (s *slab) takeLoop(l *Loop) []*Coroutine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Coroutine
	for i, co := range s.items {
		if co != nil && co.loop == l {
			out = append(out, co)
			s.items[i] = nil
			s.free = append(s.free, uintptr(i+1))
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

// errnoErr converts a negative errno from C.
func errnoErr(rc C.int) error {
	return syscall.Errno(-rc)
}
