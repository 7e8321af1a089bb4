package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include "coro.h"

// io.c (this package).
typedef struct coro__go_fdop {
  int fd;
  int in_fd;
  int events;
  int started;
  int done;
  int64_t deadline;
  int64_t offset;
  int64_t count;
  int64_t sent;
  int64_t rc;
} coro__go_fdop;
void *coro__go_wait_entry(void *arg);
void *coro__go_forget_entry(void *arg);
void coro__go_fdop_layout(size_t out[11]);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Events is a set of readiness conditions of a file descriptor, as asked
// for and reported by WaitFD. The values are the engine's CORO_POLL*
// constants.
type Events uint32

const (
	// EventRead: the fd is readable (or at end of file, or a listening
	// socket has a connection to accept).
	EventRead Events = C.CORO_POLLIN
	// EventWrite: the fd is writable.
	EventWrite Events = C.CORO_POLLOUT
	// EventError is reported (never needs asking for) when the fd has an
	// error condition, such as a socket whose connection failed.
	EventError Events = C.CORO_POLLERR
	// EventHangup is reported (never needs asking for) when the peer has
	// hung up.
	EventHangup Events = C.CORO_POLLHUP
)

// String returns the set's names joined with "|", such as "read|write",
// or "0" for the empty set.
func (e Events) String() string {
	if e == 0 {
		return "0"
	}
	s := ""
	for _, n := range []struct {
		e    Events
		name string
	}{{EventRead, "read"}, {EventWrite, "write"}, {EventError, "error"}, {EventHangup, "hangup"}} {
		if e&n.e != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
			e &^= n.e
		}
	}
	if e != 0 {
		if s != "" {
			s += "|"
		}
		s += fmt.Sprintf("%#x", uint32(e))
	}
	return s
}

// deadlineError is the error of a WaitFD or SendFile whose deadline
// passed in the engine (-ETIMEDOUT).
type deadlineError struct{ op string }

func (e *deadlineError) Error() string { return "coro: " + e.op + ": i/o timeout" }

// Is matches os.ErrDeadlineExceeded, as net.Conn deadlines do, and
// context.DeadlineExceeded, since the deadline came from a context.
func (e *deadlineError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}

// Timeout reports true, as net.Error and os.ErrDeadlineExceeded do.
func (e *deadlineError) Timeout() bool { return true }

// ctxErr is the error for a ctx that has ended: ctx.Err() when it was
// cancelled, a *deadlineError when its deadline passed, so that a deadline
// reads the same (os.ErrDeadlineExceeded and context.DeadlineExceeded)
// whether Go or the engine noticed it first.
func ctxErr(ctx context.Context, op string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return &deadlineError{op: op}
	}
	return err
}

// fdop is one request of WaitFD, ForgetFD or SendFile, run as a coroutine
// of io.c on the loop. Its record is C memory.
type fdop struct {
	c *C.coro__go_fdop
	// orphaned: Close gave up on the op's coroutine while it ran, so the
	// record is freed when the engine is done with it, not by free.
	orphaned *atomic.Bool
}

// The preamble's coro__go_fdop must match io.c's.
func init() {
	var c [11]C.size_t
	C.coro__go_fdop_layout(&c[0])
	var z C.coro__go_fdop
	g := [11]uintptr{unsafe.Sizeof(z), unsafe.Offsetof(z.fd), unsafe.Offsetof(z.in_fd),
		unsafe.Offsetof(z.events), unsafe.Offsetof(z.started), unsafe.Offsetof(z.done),
		unsafe.Offsetof(z.deadline), unsafe.Offsetof(z.offset), unsafe.Offsetof(z.count),
		unsafe.Offsetof(z.sent), unsafe.Offsetof(z.rc)}
	for i := range g {
		if uintptr(c[i]) != g[i] {
			panic(fmt.Sprintf("coro: coro__go_fdop differs between poller.go and io.c (item %d: %d in C, %d in Go)", i, c[i], g[i]))
		}
	}
}

func newFdop(fd int) fdop {
	p := (*C.coro__go_fdop)(C.calloc(1, C.size_t(unsafe.Sizeof(C.coro__go_fdop{}))))
	if p == nil {
		panic("coro: out of C memory")
	}
	p.fd = C.int(fd)
	p.deadline = -1
	return fdop{p, new(atomic.Bool)}
}

func (op fdop) free() {
	if !op.orphaned.Load() {
		freeRecord(op.c)
	}
}

// testHookFreeRecord, if set (tests only), is handed each fdop record
// (address, size) instead of its C.free.
var testHookFreeRecord func(p unsafe.Pointer, size uintptr)

func freeRecord(c *C.coro__go_fdop) {
	if testHookFreeRecord != nil {
		testHookFreeRecord(unsafe.Pointer(c), unsafe.Sizeof(*c))
		return
	}
	C.free(unsafe.Pointer(c))
}

// A cRecord is the C record of a request that runOp runs: fdop here,
// lookupOp in resolver.go.
type cRecord interface {
	// progress reports the coroutine's marks: begun, outputs final.
	progress() (started, done bool)
	// orphan makes the record co's to free once the engine is done with
	// co, and reports false if the engine is done already.
	orphan(co *Coroutine) bool
}

func (op fdop) progress() (bool, bool) { return op.c.started != 0, op.c.done != 0 }

func (op fdop) orphan(co *Coroutine) bool {
	c := op.c
	if co.whenEngineDone(func() { freeRecord(c) }) {
		op.orphaned.Store(true)
		return true
	}
	return false
}

// runOp spawns fn(arg), fn one of the C entry points of io.c or lookup.c
// and arg op's C record, on l, cancels it when ctx ends, and waits for it
// to finish. It returns true if the coroutine ran to its end (op's outputs
// are then valid); false with Wait's error if Close abandoned it midway;
// or false with the reason it never started: ctxErr if ctx ended first,
// ErrClosed if the loop shut down, or the Spawn error.
func (l *Loop) runOp(ctx context.Context, name string, fn C.coro_fn, arg uintptr, op cRecord) (bool, error) {
	// The one place an internal entry point becomes an Entry (users make
	// theirs with CORO_GO_ENTRY).
	co, err := l.Spawn(Entry(uintptr(unsafe.Pointer(fn))), arg)
	if err != nil {
		return false, err
	}
	stop := context.AfterFunc(ctx, func() { co.Cancel() })
	_, werr := co.Wait(context.Background())
	stop()
	// Wait's error says nothing about the C call once the coroutine ran
	// (it reports ECANCELED after any Cancel); the record does.
	started, done := op.progress()
	if done {
		return true, nil
	}
	if errors.Is(werr, ErrAbandoned) {
		// Close gave up on it. If it was still running, it may yet write
		// the record: the record goes when the engine is done with it.
		op.orphan(co)
		return false, werr
	}
	if started && werr != nil {
		// Abandoned by Close in the middle of the call.
		return false, werr
	}
	if ctx.Err() != nil {
		return false, ctxErr(ctx, name)
	}
	if l.closed.Load() || errors.Is(werr, ErrClosed) {
		return false, ErrClosed
	}
	if werr == nil {
		werr = syscall.ECANCELED
	}
	return false, werr
}

// ioErr maps a negative errno of the engine's I/O calls to the error
// WaitFD and SendFile return.
func (l *Loop) ioErr(ctx context.Context, op string, rc int64) error {
	switch {
	case rc == -C.ETIMEDOUT:
		return &deadlineError{op: op}
	case rc == -C.ECANCELED:
		// Cancelled by ctx, or by Close cancelling every coroutine.
		if ctx.Err() != nil {
			return ctxErr(ctx, op)
		}
		if l.closed.Load() {
			return ErrClosed
		}
		return os.NewSyscallError(op, syscall.ECANCELED)
	}
	return os.NewSyscallError(op, syscall.Errno(-rc))
}

// WaitFD waits until fd is ready for the events asked for (EventRead,
// EventWrite or both) and returns the events that are ready, which may
// include EventError and EventHangup. It may be called from any goroutine
// but not from a Go function running as a callback of l (syscall.EDEADLK).
//
// An fd that is ready already is reported after one poll(2) from the
// calling thread. Otherwise the wait happens in the C loop's own poller,
// not in Go's netpoller: the call spawns a small coroutine on l that parks
// in coro_fd_wait, so fd need not be known to Go. Any pollable fd will do
// (socket, pipe, eventfd, terminal); a regular file is always ready. Readiness is a hint, as with
// poll(2): the next read or write may still find EAGAIN.
//
// Deadlines and cancellation come from ctx: ctx's deadline becomes the
// engine's, and when it passes (whether the engine or Go notices first)
// the error matches both os.ErrDeadlineExceeded and
// context.DeadlineExceeded and has Timeout() == true; when ctx is
// cancelled WaitFD returns ctx.Err() (context.Canceled). If l is closed,
// or closes during the wait, the error is ErrClosed.
//
// Ownership: the caller keeps owning fd and is the one who closes it
// (with plain close, never coro_fd_close). The engine registers fd with
// its poller only while WaitFD or SendFile calls on it are in progress:
// the last of them on fd to return drops the registration
// (coro_fd_forget), so an fd nobody waits on may be closed at any time,
// and a new file that gets the same number starts clean. To close an fd
// while another goroutine may be waiting on it, call ForgetFD first: the
// waits in progress then return an error matching syscall.EBADF, whereas
// a wait on an fd closed under it would sleep on a registration the kernel
// has silently dropped until its deadline or cancellation. Since dropping
// the registration wakes every waiter of fd on the loop, do not wait on
// one fd both with WaitFD and from C coroutines of the same loop
// (coro_fd_wait): those would get -EBADF when a WaitFD on it returns.
//
// Errors: syscall.EINVAL for a negative fd or an events set that is empty
// or has bits other than EventRead and EventWrite; errors matching
// syscall.EBADF when fd was forgotten (ForgetFD) or is not open; the
// deadline, cancellation and ErrClosed errors above.
func (l *Loop) WaitFD(ctx context.Context, fd int, events Events) (Events, error) {
	if fd < 0 || events == 0 || events&^(EventRead|EventWrite) != 0 {
		return 0, syscall.EINVAL
	}
	if l.onLoopThread() {
		return 0, syscall.EDEADLK
	}
	if ctx.Err() != nil {
		return 0, ctxErr(ctx, "coro_fd_wait")
	}
	if l.closed.Load() {
		return 0, ErrClosed
	}
	// An fd that is ready now needs no coroutine: one poll(2), from this
	// thread (coro_fd_wait with deadline 0 works outside a loop).
	if rc := int64(C.coro_fd_wait(C.int(fd), C.int(events), 0)); rc > 0 {
		return Events(rc), nil
	} else if rc == -C.EBADF {
		return 0, l.ioErr(ctx, "coro_fd_wait", rc)
	}
	op := newFdop(fd)
	defer op.free()
	op.c.events = C.int(events)
	op.c.deadline = C.int64_t(cDeadline(ctx))
	ran, err := l.runOp(ctx, "coro_fd_wait", C.coro_fn(C.coro__go_wait_entry), uintptr(unsafe.Pointer(op.c)), op)
	if !ran {
		return 0, err
	}
	if rc := int64(op.c.rc); rc < 0 {
		return 0, l.ioErr(ctx, "coro_fd_wait", rc)
	}
	return Events(op.c.rc), nil
}

// ForgetFD drops the engine's registration of fd on l and wakes every
// wait on fd in progress (WaitFD, SendFile, and C coroutines in
// coro_fd_wait) with an error matching syscall.EBADF. It does not close
// fd. Call it before closing an fd that another goroutine may be waiting
// on; it is harmless for an fd the engine does not know. It may be
// called from any goroutine but not from a callback of l
// (syscall.EDEADLK). Errors: syscall.EINVAL for a negative fd, ErrClosed.
func (l *Loop) ForgetFD(fd int) error {
	if fd < 0 {
		return syscall.EINVAL
	}
	if l.onLoopThread() {
		return syscall.EDEADLK
	}
	op := newFdop(fd)
	defer op.free()
	ctx := context.Background()
	ran, err := l.runOp(ctx, "coro_fd_forget", C.coro_fn(C.coro__go_forget_entry), uintptr(unsafe.Pointer(op.c)), op)
	if !ran {
		return err
	}
	if rc := int64(op.c.rc); rc < 0 && rc != -C.ENOENT && rc != -C.EBADF {
		return os.NewSyscallError("coro_fd_forget", syscall.Errno(-rc))
	}
	return nil
}
