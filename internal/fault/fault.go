// Package fault arms the engine's fault injection (csrc/fault.c) from Go
// tests: the nth allocation or resource-bound system call of the engine,
// or of the servers of this module built on it (internal/httpd,
// internal/netdemo), from now on fails, on whichever thread it happens. It is for tests only:
// armed, it makes the engine fail on purpose.
//
// The engine must be linked into the test binary (import the root package
// or a package that does, such as internal/httpd).
package fault

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc
// #include "coro_internal.h"
import "C"

import (
	"os"
	"syscall"
	"testing"
)

// Natural, as the error to Arm, makes each point fail with its own error:
// ENOMEM for allocations and mappings, EMFILE for calls that make an fd,
// EINTR for calls that block.
const Natural = syscall.Errno(^uintptr(0)) // C.CORO__FAULT_NATURAL

// The point sets for ArmAt.
var (
	// All is every point but the save of a shared stack, whose failure
	// aborts the process by design.
	All = uint(C.CORO__FP_ALL &^ (1 << C.CORO__FP_STACK_SAVE))
	// Blocking is the calls that block (epoll_wait, ppoll, accept,
	// connect, read, write, sendfile): EINTR there must be retried.
	Blocking = uint(1<<C.CORO__FP_EPOLL_WAIT | 1<<C.CORO__FP_PPOLL |
		1<<C.CORO__FP_ACCEPT | 1<<C.CORO__FP_CONNECT | 1<<C.CORO__FP_READ |
		1<<C.CORO__FP_WRITE | 1<<C.CORO__FP_SENDFILE)
	// Mmap is the engine's mmap calls (stacks).
	Mmap = uint(1 << C.CORO__FP_MMAP)
)

// Mapping reports whether point is mmap or mprotect, whose failures the
// engine reports as ENOMEM whatever the kernel said.
func Mapping(point int) bool {
	return point == C.CORO__FP_MMAP || point == C.CORO__FP_MPROTECT
}

func cerr(err syscall.Errno) C.int {
	if err == Natural {
		return C.CORO__FAULT_NATURAL
	}
	return C.int(err)
}

// ArmAt makes the nth point of the set `points` passed from now on fail
// with err (or Natural), and then `times`-1 more in a row (times < 0: all
// that follow); n <= 0 disarms.
func ArmAt(points uint, n, times int64, err syscall.Errno) {
	C.coro__fault_arm_at(C.uint(points), C.long(n), C.long(times), cerr(err))
}

// Disarm stops the injection.
func Disarm() { C.coro__fault_arm(0, 0) }

// Calls is the number of points passed since the last ArmAt.
func Calls() int64 { return int64(C.coro__fault_calls()) }

// Fired reports the point that failed since the last ArmAt (-1 if none)
// and the error it failed with.
func Fired() (point int, err syscall.Errno) {
	var e C.int
	p := C.coro__fault_fired(&e)
	return int(p), syscall.Errno(e)
}

// Name is the point's name ("alloc", "read", ...), "none" for -1.
func Name(point int) string { return C.GoString(C.coro__fault_name(C.int(point))) }

// Sweep fails the nth point of the set `points` with err (or Natural) for
// n = 1, 2, ..., as SQLite's malloc tests do, and calls run(n) once per n
// with the fault armed: run performs the operation, checks its outcome
// (Fired says which point failed, if one did) and reports whether the
// operation failed. Then Sweep disarms and calls settle(n), which checks
// that nothing leaked and the server or loop is still usable. It stops
// after the first run that passed without reaching its nth point (the
// operation succeeded untouched), and fails t when an operation failed
// with no fault injected, or failed at all when err is EINTR (the engine
// retries an interrupted call). It logs and returns the number of faults
// injected; failed counts the runs whose operation failed.
func Sweep(t testing.TB, name string, points uint, err syscall.Errno,
	run func(n int64) (failed bool), settle func(n int64)) (injected, failed int64) {
	t.Helper()
	byPoint := map[string]int{}
	for n := int64(1); ; n++ {
		if n > 10000 {
			t.Fatalf("%s: no end after %d faults", name, n)
		}
		ArmAt(points, n, 1, err)
		bad := run(n)
		point, ferr := Fired()
		Disarm()
		if bad {
			failed++
			if point < 0 || err == syscall.EINTR {
				t.Fatalf("%s: fault %d (%s, %v): the operation failed", name, n, Name(point), ferr)
			}
		}
		settle(n)
		if point < 0 {
			break
		}
		injected++
		byPoint[Name(point)]++
	}
	t.Logf("%s: %d faults injected %v, %d failed the operation", name, injected, byPoint, failed)
	return injected, failed
}

// OpenFDs counts the process's open fds (/proc/self/fd): what a sweep
// checks for leaks after each fault.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
