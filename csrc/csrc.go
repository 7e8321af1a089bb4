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
// Build tags:
//
//	coro_ucontext  use the portable getcontext/swapcontext switch instead of
//	               the hand-written assembly (slow; for portability tests)
package csrc

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra
// #cgo LDFLAGS: -lpthread
import "C"
