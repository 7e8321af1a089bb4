package coro

// This file's preamble is copied into _cgo_export.h (it holds //export
// functions), so it may only declare, never define (dump.c does).

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <stdint.h>
#include <stdlib.h>
#include "coro.h"

struct coro__go_dump_req;
struct coro__go_dump_req *coro__go_dump_new(int op, unsigned flags, uint64_t id, int on, uintptr_t handle);
int coro__go_dump_post(coro_loop *loop, struct coro__go_dump_req *r);
void coro__go_dump_here(struct coro__go_dump_req *r);
void coro__go_dump_free(struct coro__go_dump_req *r);
int coro__go_dump_rc(const struct coro__go_dump_req *r);
const coro_dump_loop *coro__go_dump_sum(const struct coro__go_dump_req *r);
size_t coro__go_dump_n(const struct coro__go_dump_req *r);
const coro_dump_coro *coro__go_dump_coro(const struct coro__go_dump_req *r, size_t i);
const char *coro__go_dump_name(const struct coro__go_dump_req *r, size_t i);
uintptr_t coro__go_dump_frame(const struct coro__go_dump_req *r, size_t i, int k);
*/
import "C"

import (
	"context"
	"sort"
	"sync"
	"syscall"
	"time"
)

// CoroutineState is a coroutine's state in a LoopDump.
type CoroutineState int

// The states (coro.h: enum coro_state).
const (
	StateNew       CoroutineState = C.CORO_STATE_NEW       // spawned or created, never run
	StateReady     CoroutineState = C.CORO_STATE_READY     // on the run queue
	StateRunning   CoroutineState = C.CORO_STATE_RUNNING   // running (only seen from a callback of the loop)
	StateWaiting   CoroutineState = C.CORO_STATE_WAITING   // parked: see CoroutineInfo.Wait
	StateSuspended CoroutineState = C.CORO_STATE_SUSPENDED // created and transferred away, or in a Go call
	StateDone      CoroutineState = C.CORO_STATE_DONE      // finished, not yet joined
)

var stateNames = [...]string{"new", "ready", "running", "waiting", "suspended", "done"}

// String returns the state's name: "new", "ready", "running", "waiting",
// "suspended" or "done".
func (s CoroutineState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "?"
}

// WaitKind says what a waiting coroutine waits for.
type WaitKind int

// The wait kinds (coro.h: enum coro_wait_kind).
const (
	WaitNone     WaitKind = C.CORO_WAIT_NONE
	WaitSleep    WaitKind = C.CORO_WAIT_SLEEP     // coro_sleep until the deadline
	WaitFD       WaitKind = C.CORO_WAIT_FD        // an fd: WaitFD, WaitRead, WaitWrite
	WaitMutex    WaitKind = C.CORO_WAIT_MUTEX     // WaitObj: the coro_mutex
	WaitCond     WaitKind = C.CORO_WAIT_COND      // WaitObj: the coro_cond
	WaitSem      WaitKind = C.CORO_WAIT_SEM       // WaitObj: the coro_sem
	WaitGroup    WaitKind = C.CORO_WAIT_WG        // WaitObj: the coro_waitgroup
	WaitChanSend WaitKind = C.CORO_WAIT_CHAN_SEND // WaitObj: the coro_chan
	WaitChanRecv WaitKind = C.CORO_WAIT_CHAN_RECV // WaitObj: the coro_chan
	WaitJoin     WaitKind = C.CORO_WAIT_JOIN      // coro_join of WaitID
	WaitCall     WaitKind = C.CORO_WAIT_CALL      // a Go call (coro_call_on_loop)
	WaitDNS      WaitKind = C.CORO_WAIT_DNS       // a lookup another coroutine is making
	WaitOther    WaitKind = C.CORO_WAIT_OTHER
)

var waitNames = [...]string{"none", "sleep", "fd", "mutex", "cond", "sem", "waitgroup",
	"chan-send", "chan-recv", "join", "call", "dns", "other"}

// String returns the wait's name ("fd", "mutex", "chan-recv", ...).
func (w WaitKind) String() string {
	if w >= 0 && int(w) < len(waitNames) {
		return waitNames[w]
	}
	return "?"
}

// CoroutineInfo describes one coroutine in a LoopDump.
type CoroutineInfo struct {
	ID        uint64
	Name      string
	State     CoroutineState
	Created   bool // made with coro_create (runs only when transferred to)
	Cancelled bool

	Wait      WaitKind // what it waits for (WaitNone unless waiting or in a call)
	WaitObj   uintptr  // the lock, semaphore, wait group or channel's C address
	WaitFD    int      // WaitFD: the fd (else -1) ...
	WaitRead  bool     // ... waited on for reading
	WaitWrite bool     // ... and/or writing
	WaitID    uint64   // WaitJoin: the coroutine it joins

	// Deadline is when its wait times out, from the time of the dump
	// (negative: overdue); only if HasDeadline.
	Deadline    time.Duration
	HasDeadline bool
	// InState is how long it has been in State: exact with accounting,
	// else from the loop's clock read of its turn (early by at most a turn).
	InState  time.Duration
	Switches uint64        // times it was resumed
	RunTime  time.Duration // time it ran; -1 without accounting

	StackMode StackMode
	StackSize int // usable bytes (shared mode: the shared stack's)
	StackUsed int // bytes in use now
	StackPeak int // deepest use seen (guarded: resident pages; see coro.h)

	// Frames is its call stack, innermost first, when the dump was taken
	// with WithBacktraces (nil otherwise, and for the running coroutine
	// or a finished one: then BacktraceErr says why).
	Frames       []Frame
	BacktraceErr error
}

// LoopDump is a consistent snapshot of a loop, taken on its thread.
type LoopDump struct {
	LoopID uint64
	Name   string
	Time   time.Time // when it was taken

	// Coroutines alive (any state), and how many are in each state,
	// indexed by CoroutineState.
	Coroutines int
	ByState    [6]int

	ReadyQueue int    // run-queue length
	Timers     int    // pending deadlines
	FDs        int    // fds registered with the poller
	FDWaiters  int    // coroutines parked on fds
	Polls      uint64 // times the loop asked the kernel for events
	Switches   uint64
	Spawned    uint64
	Posts      uint64

	Accounting   bool          // run times are measured (SetAccounting)
	LongestRun   time.Duration // longest run without a switch since accounting began; -1 without
	LongestRunID uint64        // whose (0: none)

	Coros []CoroutineInfo // by ID
}

// A DumpOption configures Dump.
type DumpOption func(*dumpConfig)

type dumpConfig struct{ backtraces bool }

// WithBacktraces makes Dump walk every coroutine's call stack
// (CoroutineInfo.Frames).
func WithBacktraces() DumpOption { return func(c *dumpConfig) { c.backtraces = true } }

// Dump takes a snapshot of l and its coroutines: coro_loop_dump, run on
// the loop's thread from its own stack between coroutines (Go never runs
// on a coroutine stack), so every figure is of the same moment. It
// waits for the loop's next turn: a coroutine that never yields delays
// it, and then ctx ends the wait (the request is dropped by the loop
// when it comes to it).
//
// Errors: ErrClosed once l is closing; ctx.Err(); syscall.ENOMEM.
func (l *Loop) Dump(ctx context.Context, opts ...DumpOption) (*LoopDump, error) {
	var cfg dumpConfig
	for _, o := range opts {
		o(&cfg)
	}
	var flags C.unsigned
	if cfg.backtraces {
		flags = C.CORO_DUMP_BACKTRACE
	}
	r, err := l.loopRequest(ctx, goReqDump, flags, 0, 0)
	if err != nil {
		return nil, err
	}
	defer C.coro__go_dump_free(r)
	if rc := C.coro__go_dump_rc(r); rc < 0 {
		return nil, errnoErr(rc)
	}
	return l.dumpFrom(r, cfg.backtraces), nil
}

// CancelID cancels the coroutine of l with this id (any coroutine of the
// loop, whoever spawned it: coro_cancel_by_id). syscall.ESRCH if l has
// none; ErrClosed, ctx.Err() as Dump.
func (l *Loop) CancelID(ctx context.Context, id uint64) error {
	return l.loopRC(ctx, goReqCancel, id, 0)
}

// SetAccounting turns the measuring of coroutine run times on or off
// (coro_loop_set_accounting: a clock read per switch while on; see
// WithAccounting). Turning it on resets LongestRun. Errors as Dump.
func (l *Loop) SetAccounting(ctx context.Context, on bool) error {
	v := C.int(0)
	if on {
		v = 1
	}
	return l.loopRC(ctx, goReqAccounting, 0, v)
}

// WithAccounting turns on the measuring of coroutine run times from the
// loop's start (coro_loop_opts.accounting; see SetAccounting): a clock
// read per switch, which BenchmarkYield shows the cost of.
func WithAccounting() Option { return func(c *loopConfig) { c.accounting = true } }

// ID returns l's process-unique id (never 0), as Loops lists it.
func (l *Loop) ID() uint64 {
	if !l.valid() {
		return 0
	}
	return l.id
}

// Loops returns the loops of the process that are open (made by NewLoop
// and not yet closed), by ID.
func Loops() []*Loop {
	var ls []*Loop
	loops.Range(func(_, v any) bool {
		ls = append(ls, v.(*Loop))
		return true
	})
	sort.Slice(ls, func(i, j int) bool { return ls[i].id < ls[j].id })
	return ls
}

const (
	goReqDump       = 1
	goReqCancel     = 2
	goReqAccounting = 3
)

// loopRequest runs a request on l's thread and returns it, answered; the
// caller frees it.
func (l *Loop) loopRequest(ctx context.Context, op C.int, flags C.unsigned, id uint64, on C.int) (*C.struct_coro__go_dump_req, error) {
	if !l.valid() {
		return nil, ErrClosed
	}
	if l.onLoopThread() {
		r := C.coro__go_dump_new(op, flags, C.uint64_t(id), on, 0)
		if r == nil {
			return nil, syscall.ENOMEM
		}
		C.coro__go_dump_here(r)
		return r, nil
	}
	var r *C.struct_coro__go_dump_req
	err := l.postWait(ctx, func(key uintptr) C.int {
		if r = C.coro__go_dump_new(op, flags, C.uint64_t(id), on, C.uintptr_t(key)); r == nil {
			return -C.int(syscall.ENOMEM)
		}
		return C.coro__go_dump_post(l.c, r)
	}, func() { C.coro__go_dump_free(r) })
	if err != nil {
		return nil, err
	}
	return r, nil
}

// loopRC runs a request whose answer is its return code.
func (l *Loop) loopRC(ctx context.Context, op C.int, id uint64, on C.int) error {
	r, err := l.loopRequest(ctx, op, 0, id, on)
	if err != nil {
		return err
	}
	defer C.coro__go_dump_free(r)
	if rc := C.coro__go_dump_rc(r); rc < 0 {
		return errnoErr(rc)
	}
	return nil
}

// A request posted to a loop (Dump, CancelID, SetAccounting, Backtrace)
// that its caller waits for.
type loopWait struct {
	done      chan struct{}
	free      func() // frees the C request
	abandoned bool   // its caller left (ctx): the callback frees it
}

var (
	loopWaitMu   sync.Mutex
	loopWaitNext uintptr
	loopWaits    = map[uintptr]*loopWait{}
)

// postWait posts a request to l and waits until the loop has run it.
// post makes the C request, which reports key through loopWaitDone once
// it has run, and posts it: 0, or -errno if it was not posted (free is
// then called; it must accept a request never made). On ctx's end the
// loop's callback frees the request instead. Errors: ErrClosed,
// ctx.Err(), the errno of post.
func (l *Loop) postWait(ctx context.Context, post func(key uintptr) C.int, free func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &loopWait{done: make(chan struct{}), free: free}
	loopWaitMu.Lock()
	loopWaitNext++
	key := loopWaitNext
	loopWaits[key] = w
	loopWaitMu.Unlock()
	rc := C.int(-C.int(syscall.ESHUTDOWN))
	l.inflight.Add(1)
	if !l.freeing.Load() {
		rc = post(key)
	}
	l.inflight.Add(-1)
	if rc < 0 {
		loopWaitMu.Lock()
		delete(loopWaits, key)
		loopWaitMu.Unlock()
		free()
		if rc == -C.int(syscall.ESHUTDOWN) {
			return ErrClosed
		}
		return errnoErr(rc)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		loopWaitMu.Lock()
		_, pending := loopWaits[key]
		w.abandoned = pending // the loop's callback frees the request
		loopWaitMu.Unlock()
		if pending {
			return ctx.Err()
		}
		<-w.done
	}
	return nil
}

// loopWaitDone runs on the loop thread (in a post) once request key has
// run.
func loopWaitDone(key uintptr) {
	loopWaitMu.Lock()
	w := loopWaits[key]
	delete(loopWaits, key)
	loopWaitMu.Unlock()
	if w == nil {
		return
	}
	if w.abandoned {
		w.free()
		return
	}
	close(w.done)
}

// coro__go_dump_done runs on the loop thread, on its own stack, once
// request key has run.
//
//export coro__go_dump_done
func coro__go_dump_done(key C.uintptr_t) { loopWaitDone(uintptr(key)) }

// dumpFrom converts an answered dump request.
func (l *Loop) dumpFrom(r *C.struct_coro__go_dump_req, backtraces bool) *LoopDump {
	s := C.coro__go_dump_sum(r)
	now := int64(s.now)
	d := &LoopDump{
		LoopID:       l.id,
		Name:         l.name,
		Time:         time.Now(),
		Coroutines:   int(s.coroutines),
		ReadyQueue:   int(s.ready),
		Timers:       int(s.timers),
		FDs:          int(s.fds),
		FDWaiters:    int(s.fd_waiters),
		Polls:        uint64(s.polls),
		Switches:     uint64(s.switches),
		Spawned:      uint64(s.spawned),
		Posts:        uint64(s.posts),
		Accounting:   s.accounting != 0,
		LongestRun:   time.Duration(s.longest_run_ns),
		LongestRunID: uint64(s.longest_run_id),
	}
	for i := range d.ByState {
		d.ByState[i] = int(s.by_state[i])
	}
	n := int(C.coro__go_dump_n(r))
	d.Coros = make([]CoroutineInfo, n)
	for i := 0; i < n; i++ {
		// Field by field: the C records are cut before their frames, so
		// the struct must never be copied whole.
		c := C.coro__go_dump_coro(r, C.size_t(i))
		ci := &d.Coros[i]
		ci.ID = uint64(c.id)
		ci.Name = C.GoString(C.coro__go_dump_name(r, C.size_t(i)))
		ci.State = CoroutineState(c.state)
		ci.Created = c.created != 0
		ci.Cancelled = c.cancelled != 0
		ci.Wait = WaitKind(c.wait)
		ci.WaitObj = uintptr(c.wait_obj)
		ci.WaitFD = int(c.wait_fd)
		ci.WaitRead = c.wait_events&C.CORO_POLLIN != 0
		ci.WaitWrite = c.wait_events&C.CORO_POLLOUT != 0
		ci.WaitID = uint64(c.wait_id)
		if c.deadline >= 0 {
			ci.HasDeadline = true
			ci.Deadline = time.Duration(int64(c.deadline) - now)
		}
		if c.since > 0 && int64(c.since) <= now {
			ci.InState = time.Duration(now - int64(c.since))
		}
		ci.Switches = uint64(c.switches)
		ci.RunTime = time.Duration(c.run_ns)
		ci.StackMode = StackMode(c.stack_mode)
		ci.StackSize = int(c.stack_size)
		ci.StackUsed = int(c.stack_used)
		ci.StackPeak = int(c.stack_peak)
		if backtraces {
			nf := int(c.nframes)
			if nf < 0 {
				ci.BacktraceErr = errnoErr(C.int(nf))
			} else {
				ci.Frames = make([]Frame, nf)
				for k := range ci.Frames {
					ci.Frames[k] = symbolize(uintptr(C.coro__go_dump_frame(r, C.size_t(i), C.int(k))))
				}
			}
		}
	}
	sort.Slice(d.Coros, func(i, j int) bool { return d.Coros[i].ID < d.Coros[j].ID })
	return d
}
