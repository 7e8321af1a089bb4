//go:build !coro_ucontext

package coro

// ucontextSwitch: the test binary uses the portable switch (see
// tags_ucontext_test.go); here, the assembly one.
const ucontextSwitch = false
