//go:build coro_ucontext

package csrc

// #cgo CFLAGS: -DCORO_SWITCH_UCONTEXT
import "C"
