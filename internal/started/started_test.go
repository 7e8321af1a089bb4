package started

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
	"github.com/ccoro/coro/internal/fault"
)

// Check says nil for a coroutine its loop started, running or not, and
// returns the error of one the loop could not start: its stack's mapping
// failed after Spawn had returned.
func TestCheck(t *testing.T) {
	l, err := coro.NewLoop(coro.WithStackMode(coro.StackGuarded))
	if err != nil {
		t.Fatal(err)
	}
	box := ctest.NewBox()
	defer func() {
		if err := l.Close(context.Background()); err != nil {
			t.Error(err)
		}
		box.Free() // the sleeper, cancelled by Close, is done with it
	}()
	sleeper, err := l.Spawn(coro.Entry(ctest.SleepForever()), box.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(l, sleeper); err != nil {
		t.Fatalf("running: %v", err)
	}
	nop, err := l.Spawn(coro.Entry(ctest.Nop()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(l, nop); err != nil {
		t.Fatalf("finished: %v", err)
	}
	// The loop's first coroutine with a shared stack: the loop maps the
	// shared stack then.
	fault.ArmAt(fault.Mmap, 1, 1, fault.Natural)
	co, err := l.Spawn(coro.Entry(ctest.Nop()), 0, coro.WithCoroutineStackMode(coro.StackShared))
	if err != nil {
		fault.Disarm()
		t.Fatal(err)
	}
	err = Check(l, co)
	point, _ := fault.Fired()
	fault.Disarm()
	if point < 0 {
		t.Fatal("the spawn mapped no memory")
	}
	if !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("not started: %v, want ENOMEM", err)
	}
}
