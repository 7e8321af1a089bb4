//go:build coro_ucontext

package main

// The binary under test must use the same switch as the test itself.
func init() { buildFlags = append(buildFlags, "-tags=coro_ucontext") }
