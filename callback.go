package coro

// This file's preamble is copied into _cgo_export.h (it holds //export
// functions), so it may only declare, never define.

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <stdint.h>
#include "coro.h"
#include "coro_go.h"

uint64_t coro__go_loop_id(void); // callback.c
*/
import "C"

import (
	"errors"
	"log"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
)

// A Func identifies a Go function registered with RegisterFunc. C code
// running in a coroutine calls it with coro_go_call(id, arg, &result)
// (declared in coro_go.h, which documents the return values).
type Func uintptr

// maxFuncs bounds the registry: registrations are meant to happen once per
// function, typically at init time, not per call.
const maxFuncs = 1 << 16

var (
	funcsMu sync.Mutex // serialises RegisterFunc
	// funcs is replaced (copy on write) by RegisterFunc and read without
	// locking by the dispatcher: index = id-1.
	funcs atomic.Pointer[[]func(arg uintptr) (uintptr, error)]
)

// RegisterFunc registers f so that C code in coroutines can call it, and
// returns its id. Registrations are permanent and each one costs an entry
// in a fixed registry (at most 65536); calls allocate nothing.
//
// f runs on the thread of the loop whose coroutine called it, on the
// thread's own stack, while that coroutine is suspended and no other
// coroutine of the loop runs: the loop is blocked until f returns, so f
// should be short. While it runs, every engine call that would switch
// coroutines returns -EPERM. f may Spawn on any loop and Wait for
// coroutines of other loops, but Wait or Close on its own loop return
// syscall.EDEADLK (Wait returns the outcome of a coroutine that had
// finished before). f must not call runtime.Goexit (so no t.FailNow or
// t.Fatal in tests): that cannot unwind through the C frames below it.
//
// arg is the void * the C code passed, as an integer (CPtr makes it a
// pointer again when it is the address of C memory; HandleValue looks up a
// handle). f's result is handed back to C as a void *: an integer or the
// address of C memory, never of Go memory. An error wrapping a syscall.Errno reaches
// C as that negative errno, any other error as CORO_GO_EERROR; a panic is
// recovered, given to the loop's panic handler (WithPanicHandler) and
// reported to C as CORO_GO_EPANIC.
func RegisterFunc(f func(arg uintptr) (uintptr, error)) (Func, error) {
	if f == nil {
		return 0, syscall.EINVAL
	}
	funcsMu.Lock()
	defer funcsMu.Unlock()
	var old []func(uintptr) (uintptr, error)
	if p := funcs.Load(); p != nil {
		old = *p
	}
	if len(old) >= maxFuncs {
		return 0, syscall.ENOSPC
	}
	next := make([]func(uintptr) (uintptr, error), len(old)+1)
	copy(next, old)
	next[len(old)] = f
	funcs.Store(&next)
	return Func(len(next)), nil
}

// coro__go_dispatch is called by coro_go_call's trampoline (callback.c) on the
// loop thread's own stack, inside coro_call_on_loop.
//
//export coro__go_dispatch
func coro__go_dispatch(fn C.uintptr_t, arg C.uintptr_t, result *C.uintptr_t) (rc C.int) {
	var f func(uintptr) (uintptr, error)
	if p := funcs.Load(); p != nil && fn >= 1 && uintptr(fn) <= uintptr(len(*p)) {
		f = (*p)[fn-1]
	}
	if f == nil {
		return -C.EINVAL
	}
	defer func() {
		if v := recover(); v != nil {
			rc = C.CORO_GO_EPANIC
			reportPanic(Func(fn), v)
		}
	}()
	res, err := f(uintptr(arg))
	if err != nil {
		return errToC(err)
	}
	*result = C.uintptr_t(res)
	return 0
}

// errToC maps a registered function's error to the C return value.
func errToC(err error) C.int {
	var en syscall.Errno
	if errors.As(err, &en) && en != 0 {
		return -C.int(en)
	}
	return C.CORO_GO_EERROR
}

// reportPanic hands a recovered panic to the calling loop's handler.
func reportPanic(fn Func, v any) {
	var l *Loop
	if id := uint64(C.coro__go_loop_id()); id != 0 {
		if x, ok := loops.Load(id); ok {
			l = x.(*Loop)
		}
	}
	if l != nil && l.onPanic != nil {
		l.onPanic(fn, v)
		return
	}
	name := ""
	if l != nil {
		name = l.name
	}
	log.Printf("coro: Go function %d called from a coroutine of loop %q panicked: %v\n%s", fn, name, v, debug.Stack())
}
