package coro

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// WithGuardSize: out-of-range sizes are EINVAL, a valid one makes a loop
// (the engine's core_test and stack_test check where the guard lies and
// that a fault in it is reported).
func TestGuardSize(t *testing.T) {
	for _, n := range []int{-1, GuardSizeMax + 1} {
		if l, err := NewLoop(WithGuardSize(n)); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("NewLoop(WithGuardSize(%d)): %v, want EINVAL", n, err)
			if l != nil {
				l.Close(context.Background())
			}
		}
	}
	for _, mode := range []StackMode{StackGuarded, StackShared} {
		l, err := NewLoop(WithStackMode(mode), WithGuardSize(1<<20+1))
		if err != nil {
			t.Fatalf("NewLoop(%v, WithGuardSize(1 MiB + 1)): %v", mode, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := l.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
	}
}

// WithCoroutineGuardSize marks a spawn invalid (EINVAL) out of range and
// hands a valid size to the engine.
func TestCoroutineGuardSize(t *testing.T) {
	for _, tc := range []struct {
		n       int
		invalid bool
	}{{-1, true}, {GuardSizeMax + 1, true}, {0, false}, {1 << 20, false}, {GuardSizeMax, false}} {
		var c spawnConfig
		WithCoroutineGuardSize(tc.n)(&c)
		if c.invalid != tc.invalid || (!tc.invalid && int(c.cGuard()) != tc.n) {
			t.Errorf("WithCoroutineGuardSize(%d): invalid %v, size %d", tc.n, c.invalid, c.cGuard())
		}
	}
}
