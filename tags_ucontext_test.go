//go:build coro_ucontext

package coro

// ucontextSwitch: the test binary uses the portable switch, whose
// swapcontext makes a system call (sigprocmask) at every switch.
const ucontextSwitch = true
