// Package csrc compiles coro's C engine (csrc/*.c, csrc/*.S) through cgo.
//
// It exists so that cgo, which compiles only the C and assembly files of the
// package's own folder, builds the engine as one cached unit that also
// survives `go mod vendor`. The package has no Go API: the root package
// github.com/ccoro/coro declares the C functions it calls from csrc/coro.h
// and the linker resolves them to the objects built here.
//
// The cgo flags leave out -Werror on purpose: our own builds (Makefile, CI)
// use it, but a user's newer compiler must not fail on a new warning.
//
// -fstack-clash-protection makes a function with a frame larger than a page
// touch its pages in order, so that a coroutine overflowing its stack meets
// the guard below it (and is reported by name) instead of jumping it. GCC
// has it on amd64 and arm64, clang on amd64 only before clang 17 (on arm64
// an older clang warns that the flag is unused, which is harmless).
//
// -fno-omit-frame-pointer keeps the frame-pointer chain that coro_backtrace
// (backtrace.c) walks through a suspended coroutine's stack; it costs the
// engine one register (rbp/x29) and a push and a move in each non-leaf
// function: BenchmarkYield, 13 alternating runs each on a loaded 2-CPU
// machine, median 17.8 ns with it against 14.9 ns without, fastest runs
// 11.1 ns against 10.3 ns (+7%); the spread of the medians is mostly load.
//
// Build tags:
//
//	coro_ucontext  use the portable getcontext/swapcontext switch instead of
//	               the hand-written assembly (slow; for portability tests)
package csrc

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -fno-omit-frame-pointer
// #cgo amd64 arm64 CFLAGS: -fstack-clash-protection
// #cgo LDFLAGS: -lpthread
import "C"
