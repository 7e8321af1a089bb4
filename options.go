package coro

import "time"

// Options of NewLoop (Option) and of Spawn (SpawnOption).

// loopConfig collects NewLoop's options.
type loopConfig struct {
	hooks       bool // WithHooks
	accounting  bool // WithAccounting (dump.go)
	mode        StackMode
	stackSize   int
	stackCache  int
	cacheSet    bool
	name        string
	onPanic     func(fn Func, v any)
	thread      threadConfig    // WithCPU (thread.go)
	resolver    *ResolverConfig // WithResolver (resolver.go)
	invalidOpts bool
	slow        time.Duration // WithSlowThreshold (slow.go)
	slowSet     bool
	onSlow      func(SlowReport) // WithSlowHandler
	guardConfig
}

// Option configures NewLoop.
type Option func(*loopConfig)

// WithStackMode sets the loop's default stack mode (StackGuarded if not
// given).
func WithStackMode(m StackMode) Option {
	return func(c *loopConfig) {
		if m < StackDefault || m > StackShared {
			c.invalidOpts = true
		}
		c.mode = m
	}
}

// WithStackSize sets the size in bytes of each guarded stack, or of the
// shared stack in StackShared mode. It must lie in [StackSizeMin,
// StackSizeMax]; the default is StackSizeDefault.
func WithStackSize(n int) Option {
	return func(c *loopConfig) {
		if n < StackSizeMin || n > StackSizeMax {
			c.invalidOpts = true
		}
		c.stackSize = n
	}
}

// WithStackCache sets how many stacks the loop keeps for reuse after their
// coroutines finish. 0 keeps none; without this option the engine's default
// (64) applies.
func WithStackCache(n int) Option {
	return func(c *loopConfig) {
		if n < 0 {
			c.invalidOpts = true
		}
		c.stackCache = n
		c.cacheSet = true
	}
}

// WithName names the loop in the engine's messages (stack overflow reports)
// and in Name.
func WithName(s string) Option {
	return func(c *loopConfig) { c.name = s }
}

// WithHooks turns the libc hooks on for the loop's coroutines
// (coro_loop_opts.hooks): blocking libc calls of C code they run (read,
// connect, poll, sleep, ...) wait in the loop instead of blocking its
// thread. The hooks exist only in a program that imports
// github.com/ccoro/coro/hooks; without it the option does nothing.
func WithHooks() Option { return func(c *loopConfig) { c.hooks = true } }

// WithPanicHandler sets the function that receives the value of a panic
// raised by a registered Go function (see RegisterFunc) called from one of
// this loop's coroutines. It runs on the loop thread right after the panic
// was recovered, while the coroutine that made the call waits; the C caller
// then gets CORO_GO_EPANIC. By default the panic is logged with its stack
// through the standard log package.
func WithPanicHandler(h func(fn Func, v any)) Option {
	return func(c *loopConfig) { c.onPanic = h }
}

// spawnConfig collects Spawn's options.
type spawnConfig struct {
	name      string
	mode      StackMode
	stackSize int
	invalid   bool
	guardConfig
}

// SpawnOption configures Spawn.
type SpawnOption func(*spawnConfig)

// WithCoroutineName names the coroutine (Name, and the engine's messages
// such as stack overflow reports).
func WithCoroutineName(s string) SpawnOption {
	return func(c *spawnConfig) { c.name = s }
}

// WithCoroutineStackMode overrides the loop's stack mode for this
// coroutine.
func WithCoroutineStackMode(m StackMode) SpawnOption {
	return func(c *spawnConfig) {
		if m < StackDefault || m > StackShared {
			c.invalid = true
		}
		c.mode = m
	}
}

// WithCoroutineStackSize sets this coroutine's stack size (guarded stacks
// only; it must lie in [StackSizeMin, StackSizeMax]).
func WithCoroutineStackSize(n int) SpawnOption {
	return func(c *spawnConfig) {
		if n < StackSizeMin || n > StackSizeMax {
			c.invalid = true
		}
		c.stackSize = n
	}
}
