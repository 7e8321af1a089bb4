package coro

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/ctest"
)

func TestBacktrace(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		b := ctest.NewBox()
		defer b.Free()
		co, err := l.Spawn(Entry(ctest.SleepForever()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, b)
		// The walk runs between coroutines: once started, the sleeper is
		// parked in coro_sleep, called from ctest_sleep_forever.
		frames, err := l.Backtrace(ctxTimeout(t, 10*time.Second), co.ID())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		fixture, sleep := -1, -1
		start := ctest.SleepForever()
		for i, f := range frames {
			names = append(names, f.String())
			// By address: the fixture is a few dozen bytes long.
			if f.PC > start && f.PC < start+256 && fixture < 0 {
				fixture = i
			}
			if f.Func == "coro_sleep" {
				sleep = i
			}
		}
		t.Logf("backtrace:\n  %s", strings.Join(names, "\n  "))
		if fixture < 1 {
			t.Fatalf("no return into ctest_sleep_forever (%#x) below the top of the stack: %v", start, names)
		}
		// go test links without a symbol table (-s) unless asked; names
		// are checked when there is one (go test -ldflags=-s=false).
		if exeSyms.once.Do(loadExeSyms); len(exeSyms.syms) == 0 {
			t.Log("the test binary has no symbol table: names not checked")
		} else {
			if s := frames[fixture].String(); !strings.HasPrefix(s, "ctest_sleep_forever+0x") {
				t.Errorf("frame %d prints as %q", fixture, s)
			}
			if sleep < 0 || sleep > fixture {
				t.Errorf("coro_sleep (%d) not inside ctest_sleep_forever (%d): %v", sleep, fixture, names)
			}
		}
		if _, err := l.Backtrace(ctxTimeout(t, 10*time.Second), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("Backtrace(0): %v, want ESRCH", err)
		}
		// A caller that gives up leaves nothing behind (the loop frees
		// the request when it answers).
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Backtrace(ctx, co.ID()); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Backtrace(cancelled ctx): %v", err)
		}
		if err := co.Cancel(); err != nil {
			t.Fatal(err)
		}
		if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); !errors.Is(err, syscall.ECANCELED) {
			t.Fatalf("Wait: %v", err)
		}
		if _, err := l.Backtrace(ctxTimeout(t, 10*time.Second), co.ID()); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("Backtrace(finished): %v, want ESRCH", err)
		}
		if err := l.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Backtrace(ctxTimeout(t, 10*time.Second), co.ID()); !errors.Is(err, ErrClosed) {
			t.Errorf("Backtrace after Close: %v, want ErrClosed", err)
		}
		loopWaitMu.Lock()
		left := len(loopWaits)
		loopWaitMu.Unlock()
		if left != 0 {
			t.Errorf("%d requests left in flight", left)
		}
	})
}
