package coro

// #include "coro.h"
import "C"

// GuardSizeMax is the largest guard size WithGuardSize and
// WithCoroutineGuardSize accept: 64 MiB.
const GuardSizeMax = 64 << 20

// The constant must match the engine's.
var _ = [1]struct{}{}[GuardSizeMax-C.CORO_GUARD_SIZE_MAX]

// guardConfig is the guard size of a loop or a coroutine, embedded in
// loopConfig and spawnConfig; 0 means the default.
type guardConfig struct {
	guardSize int
}

// cGuard is the value for guard_size in coro_loop_opts and coro_opts.
func (g guardConfig) cGuard() C.size_t { return C.size_t(g.guardSize) }

func validGuard(n int) bool { return n >= 0 && n <= GuardSizeMax }

// WithGuardSize sets the size in bytes of the inaccessible guard below each
// of the loop's guarded stacks and below its shared stack, rounded up to
// whole pages; 0 keeps the default (one page; 64 KiB on arm64). A
// coroutine that runs into the guard aborts the process with a report
// naming it. A larger guard catches a larger frame that C code compiled
// without -fstack-clash-protection could otherwise step over; it costs
// address space only. It must lie in [0, GuardSizeMax].
func WithGuardSize(n int) Option {
	return func(c *loopConfig) {
		if !validGuard(n) {
			c.invalidOpts = true
		}
		c.guardSize = n
	}
}

// WithCoroutineGuardSize overrides the loop's guard size (see WithGuardSize)
// for this coroutine's stack (guarded stacks only; a coroutine on the
// shared stack has the loop's). It must lie in [0, GuardSizeMax].
func WithCoroutineGuardSize(n int) SpawnOption {
	return func(c *spawnConfig) {
		if !validGuard(n) {
			c.invalid = true
		}
		c.guardSize = n
	}
}
