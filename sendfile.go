package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <stdint.h>
#include <stdlib.h>
#include "coro.h"

// io.c (this package); its record, coro__go_fdop, is declared in
// poller.go's preamble.
void *coro__go_sendfile_entry(void *arg);
int coro__go_fd_nonblocking(int fd);
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// SendFile sends count bytes of src, starting at offset, to dst with the
// engine's coro_sendfile (sendfile(2) with partial sends and waits for
// writability in the C loop's poller), and returns the number of bytes
// sent. It may be called from any goroutine but not from a callback of l
// (syscall.EDEADLK). src's own file offset is neither used nor moved.
//
// dst is either a value that implements syscall.Conn, such as a
// *net.TCPConn or *net.UnixConn (the Go wrapper is what matters: a
// *tls.Conn does not qualify), or an int holding a raw fd. The destination
// fd must be in non-blocking mode, as the fds of Go's net.Conn values
// always are; a blocking one is refused with syscall.EINVAL, since a
// blocking sendfile would stall every coroutine of the loop.
//
// Ownership: SendFile borrows dst's fd for the duration of the call. For
// a syscall.Conn it holds the fd through SyscallConn().Control, so the fd
// cannot be closed under the engine: a concurrent Close of the conn waits
// until SendFile returns (cancel ctx to make that soon). The caller must
// not read from or write to dst while SendFile runs; Go's netpoller takes
// no part (the waits for writability are the C loop's). src is held the
// same way. Before returning, SendFile drops the engine's registration of
// the destination fd (unless a WaitFD on the same fd is still in
// progress, whose return then drops it), so nothing of the call outlives
// it and the caller may close dst at once. A raw int fd stays the
// caller's: it must stay open until SendFile returns; to close it sooner,
// call ForgetFD first, which makes SendFile fail with syscall.EBADF.
//
// Deadlines and cancellation come from ctx, as for WaitFD: a deadline
// error matches both os.ErrDeadlineExceeded and context.DeadlineExceeded;
// when ctx is cancelled SendFile returns ctx.Err() (context.Canceled).
// Then, as on every other error, the count returned is what was sent
// before the error. dst's own write deadline (SetWriteDeadline) is not
// consulted.
//
// Errors: syscall.EINVAL for a nil src, a negative offset or count, a dst
// of another type, a negative fd, or a blocking destination; ErrClosed if
// l is closed or closes during the call; errors matching syscall.EPIPE or
// syscall.ECONNRESET when the peer has gone; other errno values of
// sendfile(2) (such as EINVAL when src cannot be sent from) wrapped in an
// *os.SyscallError.
func (l *Loop) SendFile(ctx context.Context, dst any, src *os.File, offset, count int64) (int64, error) {
	if src == nil || offset < 0 || count < 0 {
		return 0, syscall.EINVAL
	}
	if l.onLoopThread() {
		return 0, syscall.EDEADLK
	}
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if ctx.Err() != nil {
		return 0, ctxErr(ctx, "sendfile")
	}
	var (
		n    int64
		serr error
	)
	// send runs with both fds held.
	send := func(dfd, sfd int) {
		n, serr = l.sendfile(ctx, dfd, sfd, offset, count)
	}
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cerr error
	switch d := dst.(type) {
	case int:
		if d < 0 {
			return 0, syscall.EINVAL
		}
		cerr = srcRaw.Control(func(sfd uintptr) { send(d, int(sfd)) })
	case syscall.Conn:
		dstRaw, err := d.SyscallConn()
		if err != nil {
			return 0, err
		}
		cerr = srcRaw.Control(func(sfd uintptr) {
			cerr2 := dstRaw.Control(func(dfd uintptr) { send(int(dfd), int(sfd)) })
			if cerr2 != nil {
				serr = cerr2
			}
		})
	default:
		return 0, syscall.EINVAL
	}
	runtime.KeepAlive(dst)
	runtime.KeepAlive(src)
	if cerr != nil {
		return n, cerr
	}
	return n, serr
}

// sendfile runs coro_sendfile(dfd, sfd) in a coroutine of l.
func (l *Loop) sendfile(ctx context.Context, dfd, sfd int, offset, count int64) (int64, error) {
	switch nb := C.coro__go_fd_nonblocking(C.int(dfd)); {
	case nb < 0:
		return 0, os.NewSyscallError("fcntl", syscall.Errno(-nb))
	case nb == 0:
		return 0, fmt.Errorf("coro: SendFile: destination fd %d is in blocking mode: %w", dfd, syscall.EINVAL)
	}
	if count == 0 {
		return 0, nil
	}
	op := newFdop(dfd)
	defer op.free()
	op.c.in_fd = C.int(sfd)
	op.c.offset = C.int64_t(offset)
	op.c.count = C.int64_t(count)
	op.c.deadline = C.int64_t(cDeadline(ctx))
	ran, err := l.runOp(ctx, "sendfile", C.coro_fn(C.coro__go_sendfile_entry), uintptr(unsafe.Pointer(op.c)), op)
	if !ran {
		return 0, err
	}
	sent, rc := int64(op.c.sent), int64(op.c.rc)
	if rc < 0 {
		return sent, l.ioErr(ctx, "sendfile", rc)
	}
	return sent, nil
}
