package coro

// coro.go: the package's core vocabulary (errors, stack modes, the C entry
// point and the values that cross to C). Loops are in loop.go, coroutines
// in coroutine.go, options in options.go, calls from C into Go in
// callback.go.

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <stdint.h>
#include "coro.h"

// callback.c (this package).
void *coro__go_uintptr_to_ptr(uintptr_t v);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"

	// The C engine: its objects are linked in through this import.
	_ "github.com/ccoro/coro/csrc"
)

// ErrClosed is returned for operations on a loop that has been closed (or
// is closing). errors.Is(err, ErrClosed) works on every error that reports
// it, including the Wait error of a coroutine that was still queued (never
// started) when its loop shut down.
var ErrClosed = errors.New("coro: loop closed")

// ErrAbandoned is matched (errors.Is) by the error of a Close that had to
// give up on coroutines: because its deadline passed, or its context was
// cancelled, before every coroutine finished. The Wait error of each
// coroutine given up on matches it too. See Loop.Close for what is left
// behind.
var ErrAbandoned = errors.New("coroutines abandoned")

// ErrNotLoop is returned by the methods of a Loop that NewLoop did not
// make (a zero Loop{} or a nil *Loop).
var ErrNotLoop = fmt.Errorf("coro: Loop not created by NewLoop: %w", syscall.EINVAL)

// Entry is the address of a C coroutine function: coro_fn in coro.h,
//
//	void *fn(void *arg);
//
// It is an integer because every cgo package has its own C types: a Go
// type from package coro cannot name another package's C function type.
// Make one with the CORO_GO_ENTRY macro of coro_go.h, which also has the C
// compiler check the function's type (a wrong signature fails to compile):
//
//	// in the cgo preamble:
//	#include "coro_go.h"
//	static void *count(void *arg) { ... }
//	CORO_GO_ENTRY(count)          // defines count_entry()
//
//	// in Go:
//	co, err := l.Spawn(coro.Entry(C.count_entry()), 100)
//
// The macro works for static functions, the natural choice in a preamble.
// Taking the address in Go (C.coro_fn(C.count)) does not: cgo refers to
// the function from another object file, so a static one fails to link
// ("undefined reference"), and nothing checks its type.
type Entry uintptr

// Values that cross between Go and C (Spawn's argument, a coroutine's
// result, a registered function's argument and result) are uintptr: an
// integer (a count, a runtime/cgo.Handle, the handle of SpawnValue) or the
// address of C memory. They never travel as unsafe.Pointer, because the Go
// runtime checks pointer-typed values when it copies a goroutine's stack
// and aborts the program on one that holds a small integer ("invalid
// pointer found on stack").

// CPtr converts v, which must be the address of C memory (from C.malloc,
// or static C data), back to a pointer for use with cgo, as
// (*C.struct_x)(coro.CPtr(res)). The conversion is made in C, so go vet's
// unsafeptr check has nothing to flag. Never call it with an integer that
// is not an address: a pointer-typed small integer crashes the Go runtime
// when it copies the goroutine's stack.
func CPtr(v uintptr) unsafe.Pointer {
	if v == 0 {
		return nil
	}
	return C.coro__go_uintptr_to_ptr(C.uintptr_t(v))
}

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

// errnoErr converts a negative errno from C.
func errnoErr(rc C.int) error {
	return syscall.Errno(-rc)
}
