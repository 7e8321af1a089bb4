// Package syscount measures, for tests, the system calls a loop's poller
// makes per operation (the Stats counters PollSyscalls, PollCalls, FDArms,
// PollProbes and Events), under each poll backend.
package syscount

import (
	"testing"

	"github.com/ccoro/coro"
)

// Backends runs f as a subtest once per poll backend, with CORO_POLL set
// so that the loops f makes use it (not with t.Parallel).
func Backends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range []string{"epoll", "poll"} {
		t.Run(b, func(t *testing.T) {
			t.Setenv("CORO_POLL", b)
			f(t, b)
		})
	}
}

// Counts are a loop's poller counters over n operations.
type Counts struct {
	N        int
	Syscalls uint64 // every syscall of the poller
	Sleeps   uint64 // backend waits (with or without sleeping)
	Arms     uint64 // registrations made or changed
	Probes   uint64 // poll(2) of try-once waits
	Events   uint64 // fd events delivered to waiters
}

// Measure runs op n times and returns l's poller counts over them.
func Measure(l *coro.Loop, n int, op func(i int)) Counts {
	a := l.Stats()
	for i := 0; i < n; i++ {
		op(i)
	}
	z := l.Stats()
	return Counts{N: n, Syscalls: z.PollSyscalls - a.PollSyscalls, Sleeps: z.PollCalls - a.PollCalls,
		Arms: z.FDArms - a.FDArms, Probes: z.PollProbes - a.PollProbes, Events: z.Events - a.Events}
}

// PerOp is the poller's syscalls per operation.
func (c Counts) PerOp() float64 { return float64(c.Syscalls) / float64(c.N) }

// Check logs c and fails t if there were more than max poller syscalls
// per operation (with 0.1 of slack for the odd extra wake-up, an EINTR,
// on a loaded machine) or any poll(2) probe.
func (c Counts) Check(t testing.TB, what string, max float64) {
	t.Helper()
	n := float64(c.N)
	t.Logf("%s: per operation %.2f poller syscalls (%.2f backend waits, %.2f arms, %.2f probes, %.2f fd events)",
		what, c.PerOp(), float64(c.Sleeps)/n, float64(c.Arms)/n, float64(c.Probes)/n, float64(c.Events)/n)
	if c.PerOp() > max+0.1 {
		t.Errorf("%s: %.2f poller syscalls per operation, want at most %v", what, c.PerOp(), max)
	}
	if c.Probes != 0 {
		t.Errorf("%s: %d poll(2) probes, want none", what, c.Probes)
	}
}
