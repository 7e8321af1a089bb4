package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <errno.h>
#include <stdlib.h>
#include "coro.h"

// callback.c (this package).
int coro__go_remote_spawn(coro_loop *loop, uintptr_t fn, uintptr_t arg,
                          const coro_opts *opts, uintptr_t udata,
                          coro_remote **out);
int coro__go_remote_poll(coro_remote *r, uintptr_t *result, int *err);
*/
import "C"

import (
	"context"
	"fmt"
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
	copts.guard_size = cfg.cGuard()
	if cfg.name != "" {
		co.cname = C.CString(cfg.name)
		copts.name = co.cname
	}
	idx := coroutines.put(co)
	var r *C.coro_remote
	rc := C.coro__go_remote_spawn(l.c, C.uintptr_t(fn), C.uintptr_t(arg), &copts, C.uintptr_t(idx), &r)
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
	co.handle = h
	if co.finished {
		// on_done already ran on the loop thread.
		C.coro_remote_release(r)
	} else {
		co.r = r
	}
	released := co.engineDone
	co.mu.Unlock()
	if released && h != 0 {
		// The engine was done before we stored the handle.
		co.releaseEngine()
	}
	return co, nil
}

// waitSpin is how long Wait polls before it parks; see Wait.
const waitSpin = 50 * time.Microsecond

// A Coroutine is a handle to a coroutine started with Spawn.
type Coroutine struct {
	loop *Loop
	name string
	done chan struct{}

	cancelled atomic.Bool

	mu         sync.Mutex
	id         uint64
	r          *C.coro_remote // nil once finished
	cname      *C.char        // the engine's copy of the name; freed when the engine is done
	handle     cgo.Handle     // SpawnValue's; deleted when the engine is done
	engineDone bool           // the engine will not run or name the coroutine again
	finished   bool
	result     uintptr // valid once done is closed
	err        error
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
// result (the void * it returned, as an integer; CPtr makes it a pointer
// again when it is the address of C memory). It may be called any number
// of times, from any goroutine.
//
// Errors: ctx.Err() unchanged if ctx ends first (the coroutine goes on and
// can be waited for again); syscall.ECANCELED, with the function's result,
// if the coroutine was cancelled (Cancel, or Close of its loop) before it
// finished, or without a result if it was cancelled before it started; an
// error matching ErrAbandoned and syscall.ECANCELED if Close gave up on it;
// an error matching ErrClosed if the loop shut down before it started; and
// syscall.EDEADLK, at once, when called from a Go function running on the
// coroutine's own loop thread, which could never see it finish.
func (co *Coroutine) Wait(ctx context.Context) (uintptr, error) {
	if co.loop.onLoopThread() {
		return 0, syscall.EDEADLK
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
				return 0, ctx.Err()
			default:
			}
		}
	}
	select {
	case <-co.done:
		return co.result, co.err
	case <-ctx.Done():
		return 0, ctx.Err()
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

// finish records the outcome and wakes the waiters, once: it reports
// whether this call did it.
func (co *Coroutine) finish(result uintptr, err error) bool {
	co.mu.Lock()
	if co.finished {
		co.mu.Unlock()
		return false
	}
	co.finished = true
	co.result, co.err = result, err
	if co.r != nil {
		C.coro_remote_release(co.r)
		co.r = nil
	}
	co.mu.Unlock()
	close(co.done)
	return true
}

// releaseEngine frees what the engine may use while the coroutine can
// still run (its name, SpawnValue's handle): called once the engine is
// done with it, which may be after finish when Close gave up on a
// coroutine that was still running.
func (co *Coroutine) releaseEngine() {
	co.mu.Lock()
	co.engineDone = true
	cname, h := co.cname, co.handle
	co.cname, co.handle = nil, 0
	co.mu.Unlock()
	if cname != nil {
		C.free(unsafe.Pointer(cname))
	}
	if h != 0 {
		h.Delete()
	}
}

// complete is called on the loop goroutine (from the engine's on_done, on the
// loop thread's own stack) when the coroutine finished or was dropped.
func (co *Coroutine) complete(r *C.coro_remote) {
	co.releaseEngine()
	var result C.uintptr_t
	var cerr C.int
	C.coro__go_remote_poll(r, &result, &cerr)
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
	co.finish(uintptr(result), err)
}

// abandonLoop finishes the Coroutines of l that the engine dropped without
// any on_done call (the engine's contract promises one; this is a safety
// net so that no Wait can hang). Runs on the loop goroutine after
// coro_loop_close, when no callback of l can run any more.
func abandonLoop(l *Loop) []*Coroutine {
	var out []*Coroutine
	for _, co := range coroutines.takeLoop(l) {
		co.releaseEngine()
		if co.finish(0, abandonedCoroutineErr(co, "at the Close deadline")) {
			out = append(out, co)
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

// ofLoop returns every Coroutine of l still in the slab (not yet reported
// by the engine), leaving them there.
func (s *slab) ofLoop(l *Loop) []*Coroutine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Coroutine
	for _, co := range s.items {
		if co != nil && co.loop == l {
			out = append(out, co)
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
