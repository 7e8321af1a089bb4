//go:build coro_ucontext && cgo

package netdemo

// The C of this package includes csrc/coro_internal.h, whose structures
// (the loop, the coroutine) hold the switch's context: with the
// coro_ucontext tag the csrc package is built with CORO_SWITCH_UCONTEXT,
// so this package must be too, or its C would see the engine's fields at
// other offsets than the engine does.

// #cgo CFLAGS: -DCORO_SWITCH_UCONTEXT
import "C"
