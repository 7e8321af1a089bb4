package coro

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/ctest"
	"github.com/ccoro/coro/internal/fault"
)

// TestFaults fails the engine's fault points one at a time, the nth for n
// = 1, 2, ... until the operation passes without reaching it, over what
// the Go API does for a loop's life: NewLoop (the loop thread makes its
// loop), Spawn from a goroutine (a remote spawn: handle, post, spawn on the
// loop thread), Wait and Close. Each run either works or returns the
// injected errno (errors.Is) from NewLoop, Spawn or Wait; afterwards the
// process's fd count is what it was and a new loop spawns and waits. Under
// EINTR alone every run must work.
func TestFaults(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		p := ctest.NewInt64(0)
		defer ctest.Free(p)
		op := func() error {
			l, err := NewLoop(WithStackMode(mode))
			if err != nil {
				return err
			}
			defer func() {
				if err := l.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}()
			co, err := l.Spawn(Entry(ctest.AddOne()), p)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = co.Wait(ctx)
			return err
		}
		if err := op(); err != nil {
			t.Fatal(err)
		}
		fds0 := fault.OpenFDs(t)
		sweep := func(name string, set uint, e syscall.Errno) {
			var n int64
			for n = 1; ; n++ {
				if n > 1000 {
					t.Fatalf("%s: no end after %d faults", name, n)
				}
				fault.ArmAt(set, n, 1, e)
				err := op()
				point, ferr := fault.Fired()
				fault.Disarm()
				want := ferr
				if fault.Mapping(point) {
					want = syscall.ENOMEM
				}
				if err != nil && (point < 0 || e == syscall.EINTR || !errors.Is(err, want)) {
					t.Fatalf("%s: fault %d (point %d, %v): %v", name, n, point, ferr, err)
				}
				if got := fault.OpenFDs(t); got != fds0 {
					t.Fatalf("%s: fault %d (point %d, %v): %d fds open, want %d", name, n, point, ferr, got, fds0)
				}
				if err := op(); err != nil {
					t.Fatalf("%s: after fault %d: %v", name, n, err)
				}
				if point < 0 {
					break
				}
			}
			t.Logf("%s: %d faults injected", name, n-1)
		}
		sweep("natural", fault.All, fault.Natural)
		sweep("eintr", fault.Blocking, syscall.EINTR)
	})
}
