// Package ctest holds the C fixtures of package coro's tests and examples:
// cgo is not allowed in _test.go files. It does not import package coro
// (coro's own tests import it); the C code calls coro_go_call, which the
// linker finds in package coro's objects.
package ctest

/*
#cgo CFLAGS: -I${SRCDIR}/../../csrc -I${SRCDIR}/../..
#include <stdlib.h>
#include "coro.h"
#include "ctest.h"
*/
import "C"

import (
	"unsafe"

	_ "github.com/ccoro/coro/csrc" // the engine's objects
)

// fp returns a fixture's address as coro.Entry's integer (this package
// cannot import coro: coro's own tests import it).
func fp(f C.coro_fn) uintptr { return uintptr(unsafe.Pointer(f)) }

// AddOne returns ctest_add_one: *(int64_t *)arg += 1, returns arg.
func AddOne() uintptr { return fp(C.coro_fn(C.ctest_add_one)) }

// Nop returns ctest_nop, which returns its argument.
func Nop() uintptr { return fp(C.coro_fn(C.ctest_nop)) }

// SleepForever returns ctest_sleep_forever (Box: RC = coro_sleep(-1)).
func SleepForever() uintptr { return fp(C.coro_fn(C.ctest_sleep_forever)) }

// SleepMS returns ctest_sleep_ms (Box: RC = coro_sleep(now + N ms)).
func SleepMS() uintptr { return fp(C.coro_fn(C.ctest_sleep_ms)) }

// YieldForever returns ctest_yield_forever, which ignores cancellation
// and never returns.
func YieldForever() uintptr { return fp(C.coro_fn(C.ctest_yield_forever)) }

// CallGo returns ctest_call_go (Box: RC = coro_go_call(Fn, Arg, &Result)).
func CallGo() uintptr { return fp(C.coro_fn(C.ctest_call_go)) }

// CallGoN returns ctest_call_go_n (Box: N calls of Fn; Out = calls made,
// RC = the last return code).
func CallGoN() uintptr { return fp(C.coro_fn(C.ctest_call_go_n)) }

// Recurse returns ctest_recurse (Box: recurses N frames of over 512 bytes;
// N <= 0: without bound).
func Recurse() uintptr { return fp(C.coro_fn(C.ctest_recurse)) }

// PingPong returns ctest_pingpong (Box: two coroutines yield N times
// each; RC = the join's return code; Out = 2N).
func PingPong() uintptr { return fp(C.coro_fn(C.ctest_pingpong)) }

// AcceptGreet returns ctest_accept_greet (Box: accepts on listener fd N
// until cancelled, writes "hi" to each connection and closes it; Out =
// connections so far, read with Started-style atomics via AcceptedCount;
// RC = the error that ended it; closes the listener).
func AcceptGreet() uintptr { return fp(C.coro_fn(C.ctest_accept_greet)) }

// Spin returns ctest_spin (Box: Out = 1 once started; spins without ever
// yielding until Release).
func Spin() uintptr { return fp(C.coro_fn(C.ctest_spin)) }

// YieldThenSpin returns ctest_yield_then_spin (Box: Out = 1 once started;
// yields in a loop, cancelled or not, until Advance; then Out = 2 and it
// spins without yielding until Release).
func YieldThenSpin() uintptr { return fp(C.coro_fn(C.ctest_yield_then_spin)) }

// Advance ends the yielding phase of YieldThenSpin.
func (b Box) Advance() { C.ctest_box_advance(b.p) }

// SleepIgnoring returns ctest_sleep_ignoring (Box: Out = 1 once started;
// calls coro_sleep(now + 1 ms) in a loop, ignoring -ECANCELED (after a
// cancel each call returns at once, so it never yields) until Release).
func SleepIgnoring() uintptr { return fp(C.coro_fn(C.ctest_sleep_ignoring)) }

// CallGoArg returns ctest_call_go_arg: coro_go_call(fn, arg) with fn set
// by SetCallGoArgFn; returns the result, or the negative return code.
func CallGoArg() uintptr { return fp(C.coro_fn(C.ctest_call_go_arg)) }

// SetCallGoArgFn sets the coro.Func that CallGoArg calls.
func SetCallGoArgFn(fn uintptr) { C.ctest_set_call_go_arg_fn(C.uintptr_t(fn)) }

// Stopper returns ctest_stopper (Box: Out = 1 once started; calls
// coro_loop_stop on its own loop and yields, until cancelled).
func Stopper() uintptr { return fp(C.coro_fn(C.ctest_stopper)) }

// AcceptedCount reads Out atomically (for AcceptGreet).
func (b Box) AcceptedCount() int64 { return int64(C.ctest_box_out(b.p)) }

// TryYield calls coro_yield from the calling thread's current context.
func TryYield() int { return int(C.ctest_try_yield()) }

// TrySleep calls coro_sleep(now + 1 ms) from the current context.
func TrySleep() int { return int(C.ctest_try_sleep()) }

// NewInt64 returns the address of a C int64_t holding v; free it with Free.
func NewInt64(v int64) uintptr { return uintptr(unsafe.Pointer(C.ctest_int64_new(C.int64_t(v)))) }

// Int64 reads the C int64_t at p.
func Int64(p uintptr) int64 { return int64(C.ctest_int64_get(C.uintptr_t(p))) }

// Free frees C memory from NewInt64.
func Free(p uintptr) { C.ctest_int64_free(C.uintptr_t(p)) }

// A Box is a struct ctest_box in C memory, the argument of most fixtures.
type Box struct{ p *C.struct_ctest_box }

// NewBox allocates a zeroed box.
func NewBox() Box { return Box{C.ctest_box_new()} }

// Free frees the box.
func (b Box) Free() { C.ctest_box_free(b.p) }

// Ptr returns the box as a fixture argument.
func (b Box) Ptr() uintptr { return uintptr(unsafe.Pointer(b.p)) }

// SetN sets the input count or value.
func (b Box) SetN(n int64) { b.p.n = C.int64_t(n) }

// SetFn sets the coro.Func id (as a uintptr) and its argument.
func (b Box) SetFn(fn uintptr, arg uintptr) {
	b.p.fn = C.uintptr_t(fn)
	b.p.arg = C.uintptr_t(arg)
}

// RC returns the recorded return code.
func (b Box) RC() int { return int(b.p.rc) }

// Out returns the recorded output value.
func (b Box) Out() int64 { return int64(b.p.out) }

// Started reads Out atomically: fixtures that block set it to 1 first.
func (b Box) Started() bool { return C.ctest_box_out(b.p) != 0 }

// Result returns the Func's recorded result.
func (b Box) Result() uintptr { return uintptr(b.p.result) }

// Crash returns ctest_crash (Box: dies of signal N in ctest_crash_here:
// SIGSEGV at address 16, SIGBUS, SIGILL, SIGFPE, SIGABRT).
func Crash() uintptr { return fp(C.coro_fn(C.ctest_crash)) }

// CrashHere returns the address of ctest_crash_here, where Crash dies
// (tests find it in a report's frames without symbols: go test strips
// the test binary).
func CrashHere() uintptr { return uintptr(C.ctest_crash_here_addr()) }

// CrashOnCLoop runs Crash's coroutine on a loop made by a C thread (named
// "c-loop", the coroutine "c-crasher"); it does not return.
func CrashOnCLoop(b Box) int { return int(C.ctest_crash_on_c_loop(b.p)) }

// Release sets the box's release flag (atomically), which ends Spin and
// SleepIgnoring.
func (b Box) Release() { C.ctest_box_release(b.p) }

// LookupMany returns ctest_lookup_many (Box: N coroutines each look up
// "<i>.<Arg>", Arg a C string; Out = lookups that found 1 address, RC =
// the last other result, RC2 = a spawn or join failure).
func LookupMany() uintptr { return fp(C.coro_fn(C.ctest_lookup_many)) }

// RC2 returns the second recorded return code.
func (b Box) RC2() int { return int(b.p.rc2) }

// CString returns s as a C string (free it with Free).
func CString(s string) uintptr { return uintptr(unsafe.Pointer(C.CString(s))) }
