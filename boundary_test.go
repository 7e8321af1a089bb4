package coro

// Tests of the Go boundary's contracts: values that cross as integers,
// SpawnValue's handle, and what Close promises (issue 8 §1 and §4, issue 7
// §5).

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/ctest"
)

// waitFor polls cond until it holds (failing the test after 10 s).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// grow recurses n frames of 1 KiB so the goroutine's stack is copied to a
// larger one: the runtime then checks every pointer-typed value on it.
//
//go:noinline
func grow(n int) int {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return grow(n-1) + int(pad[n%len(pad)])
}

// Small integers as arguments and results, live across stack growth. With
// the old API (unsafe.Pointer results) this died with "invalid pointer
// found on stack" under -race, and often without.
func TestSmallIntegersAcrossStackGrowth(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		inc := registered(t, func(arg uintptr) (uintptr, error) {
			grow(64)
			return arg + 1, nil
		})
		for v := uintptr(1); v < 4096; v += 61 {
			co, err := l.Spawn(Entry(ctest.Nop()), v)
			if err != nil {
				t.Fatal(err)
			}
			res, err := co.Wait(context.Background())
			grow(256) // res is live across the copy
			if err != nil || res != v {
				t.Fatalf("Spawn(%d): result %d, %v", v, res, err)
			}
			b, r := callGo(t, l, inc, v)
			grow(256)
			if b.RC() != 0 || r != v+1 || b.Result() != v+1 {
				t.Fatalf("registered function(%d): rc %d, result %d / %d", v, b.RC(), r, b.Result())
			}
		}
	})
}

// SpawnValue hands a Go value to a coroutine as a handle, which the
// coroutine passes to a Go function; the handle is deleted exactly once,
// when the coroutine is done.
func TestSpawnValue(t *testing.T) {
	type req struct{ in, out string }
	var handles []uintptr
	upper := registered(t, func(h uintptr) (uintptr, error) {
		r := HandleValue(h).(*req)
		r.out = strings.ToUpper(r.in)
		handles = append(handles, h)
		return uintptr(len(r.out)), nil
	})
	ctest.SetCallGoArgFn(uintptr(upper))
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		r := &req{in: "hello"}
		co, err := l.SpawnValue(Entry(ctest.CallGoArg()), r)
		if err != nil {
			t.Fatal(err)
		}
		res, err := co.Wait(context.Background())
		if err != nil || res != 5 || r.out != "HELLO" {
			t.Fatalf("Wait: %d, %v; out %q", res, err, r.out)
		}
		h := handles[len(handles)-1]
		func() {
			defer func() {
				if recover() == nil {
					t.Error("HandleValue after the coroutine finished: no panic, so the handle was not deleted")
				}
			}()
			HandleValue(h)
		}()
	})
	var z Loop
	if _, err := z.SpawnValue(Entry(ctest.Nop()), 1); !errors.Is(err, ErrNotLoop) {
		t.Errorf("SpawnValue on a zero Loop: %v", err)
	}
}

// A Loop that NewLoop did not make, and a nil ctx, give clear errors and
// wedge nothing.
func TestCloseBadInput(t *testing.T) {
	var z Loop
	var nilLoop *Loop
	for name, l := range map[string]*Loop{"zero": &z, "nil": nilLoop} {
		if err := l.Close(context.Background()); !errors.Is(err, ErrNotLoop) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: Close: %v, want ErrNotLoop", name, err)
		}
		if _, err := l.Spawn(Entry(ctest.Nop()), 0); !errors.Is(err, ErrNotLoop) {
			t.Errorf("%s: Spawn: %v, want ErrNotLoop", name, err)
		}
		if st := l.Stats(); st != (Stats{}) {
			t.Errorf("%s: Stats: %+v", name, st)
		}
		if l.Name() != "" {
			t.Errorf("%s: Name: %q", name, l.Name())
		}
	}
	l := newLoop(t)
	//lint:ignore SA1012 the nil context is the point of the test
	if err := l.Close(nil); !errors.Is(err, syscall.EINVAL) { //nolint:staticcheck
		t.Fatalf("Close(nil): %v, want EINVAL", err)
	}
	// The loop is still open and usable.
	co, err := l.Spawn(Entry(ctest.Nop()), 5)
	if err != nil {
		t.Fatalf("Spawn after Close(nil): %v", err)
	}
	if res, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != nil || res != 5 {
		t.Fatalf("Wait: %d, %v", res, err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// Close returns at its deadline, or at cancellation, even when a coroutine
// never returns to the scheduler; it names the coroutine, and the thread
// finishes the shutdown by itself once the coroutine returns.
func TestCloseKeepsItsWord(t *testing.T) {
	cases := []struct {
		name    string
		fixture uintptr
		cancel  bool // cancel ctx instead of a deadline
	}{
		{"spin/deadline", ctest.Spin(), false},
		{"sleep-ignoring-cancel/deadline", ctest.SleepIgnoring(), false},
		{"spin/cancel", ctest.Spin(), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLoop(WithName("stuck-loop"))
			if err != nil {
				t.Fatal(err)
			}
			b := ctest.NewBox()
			co, err := l.Spawn(Entry(tc.fixture), b.Ptr(), WithCoroutineName("stuck"))
			if err != nil {
				t.Fatal(err)
			}
			waitStarted(t, b)
			var ctx context.Context
			var cancel context.CancelFunc
			if tc.cancel {
				ctx, cancel = context.WithCancel(context.Background())
				go func() {
					// Cancel once Close is waiting: it has stopped the
					// loop by then.
					for len(l.closeCh) == 0 && !l.freeing.Load() {
						time.Sleep(100 * time.Microsecond)
					}
					cancel()
				}()
			} else {
				ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
			}
			defer cancel()
			err = l.Close(ctx)
			if !errors.Is(err, ErrAbandoned) {
				t.Fatalf("Close: %v, want ErrAbandoned", err)
			}
			id := strconv.FormatUint(co.ID(), 10)
			if !strings.Contains(err.Error(), id+` "stuck"`) {
				t.Errorf("Close error does not name coroutine %s \"stuck\": %v", id, err)
			}
			if tc.cancel {
				if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Close cancelled: %v, want context.Canceled", err)
				}
			} else if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Close at deadline: %v, want DeadlineExceeded", err)
			}
			if _, werr := co.Wait(ctxTimeout(t, 10*time.Second)); !errors.Is(werr, ErrAbandoned) || !errors.Is(werr, syscall.ECANCELED) {
				t.Errorf("Wait of the stuck coroutine: %v", werr)
			}
			if err := l.Close(context.Background()); err != ErrClosed {
				t.Errorf("second Close: %v, want ErrClosed", err)
			}
			// What was left: the thread. Let the coroutine return; the
			// thread then completes the shutdown and frees the loop.
			b.Release()
			awaitLeftThread(t, l)
			b.Free()
		})
	}
}

// A coroutine queued when Close began never starts, and says so with
// ErrClosed (not ECANCELED, which means "cancelled"): made deterministic by
// holding the loop thread in a Go callback while the spawn is queued and
// Close stops the loop.
func TestQueuedSpawnAtCloseIsErrClosed(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l, err := NewLoop(WithStackMode(mode))
		if err != nil {
			t.Fatal(err)
		}
		first, release := holdLoop(t, l)
		queued, err := l.Spawn(Entry(ctest.Nop()), 7)
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() { closed <- l.Close(context.Background()) }()
		// Close has handed over its deadline and stopped the loop once
		// closeCh holds the deadline and Close's hold is gone.
		waitFor(t, "Close to stop the loop", func() bool {
			return len(l.closeCh) == 1 && l.inflight.Load() == 0
		})
		release()
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
		// It finished, but its outcome is reported during the shutdown,
		// which reports ECANCELED for every coroutine that had started.
		if _, err := first.Wait(context.Background()); err != nil && !errors.Is(err, syscall.ECANCELED) {
			t.Errorf("the running coroutine: %v", err)
		}
		_, err = queued.Wait(context.Background())
		if !errors.Is(err, ErrClosed) || errors.Is(err, syscall.ECANCELED) {
			t.Errorf("queued coroutine: %v, want ErrClosed", err)
		}
	})
}

// C code stopping the loop while Close runs: Close's own coro_loop_stop
// must never reach a freed loop. The hook checks the invariant that makes
// it so (Close holds the loop across the call), at the moment the loop
// goroutine is ready to free it.
func TestCloseRacesCStop(t *testing.T) {
	var held, checked int
	testHookBeforeCloseStop = func(l *Loop) {
		checked++
		if l.inflight.Load() > 0 {
			held++
		}
	}
	defer func() { testHookBeforeCloseStop = nil }()
	for i := 0; i < 50; i++ {
		l, err := NewLoop()
		if err != nil {
			t.Fatal(err)
		}
		b := ctest.NewBox()
		co, err := l.Spawn(Entry(ctest.Stopper()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, b)
		if err := l.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := co.Wait(context.Background()); err != nil && !errors.Is(err, syscall.ECANCELED) {
			t.Errorf("Wait: %v", err)
		}
		b.Free()
	}
	if held != checked || checked != 50 {
		t.Errorf("Close stopped the loop without holding it in %d of %d runs", checked-held, checked)
	}
}
