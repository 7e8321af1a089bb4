package coro

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/ctest"
)

// dumpUntil takes dumps of l until ok accepts one (the coroutines it
// checks have parked), or fails the test after 10 s.
func dumpUntil(t *testing.T, l *Loop, ok func(d *LoopDump) bool, opts ...DumpOption) *LoopDump {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := l.Dump(ctxTimeout(t, 10*time.Second), opts...)
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dump never showed what the test waits for: %+v", d)
		}
		time.Sleep(time.Millisecond)
	}
}

func findCoro(d *LoopDump, id uint64) *CoroutineInfo {
	for i := range d.Coros {
		if d.Coros[i].ID == id {
			return &d.Coros[i]
		}
	}
	return nil
}

func waitingIn(d *LoopDump, id uint64, w WaitKind) bool {
	c := findCoro(d, id)
	return c != nil && c.State == StateWaiting && c.Wait == w
}

func TestDump(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode), WithName("dumped"))
		forever := ctest.NewBox()
		defer forever.Free()
		sleeper, err := l.Spawn(Entry(ctest.SleepForever()), forever.Ptr(), WithCoroutineName("forever"))
		if err != nil {
			t.Fatal(err)
		}
		hour := ctest.NewBox()
		defer hour.Free()
		hour.SetN(3600 * 1000)
		timed, err := l.Spawn(Entry(ctest.SleepMS()), hour.Ptr(), WithCoroutineName("timed"))
		if err != nil {
			t.Fatal(err)
		}
		// An accept on a listener nobody connects to: an fd wait.
		lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Listen(lfd, 1); err != nil {
			t.Fatal(err)
		}
		acc := ctest.NewBox()
		defer acc.Free()
		acc.SetN(int64(lfd))
		acceptor, err := l.Spawn(Entry(ctest.AcceptGreet()), acc.Ptr(), WithCoroutineName("acceptor"))
		if err != nil {
			t.Fatal(err)
		}
		d := dumpUntil(t, l, func(d *LoopDump) bool {
			return waitingIn(d, sleeper.ID(), WaitSleep) && waitingIn(d, timed.ID(), WaitSleep) &&
				waitingIn(d, acceptor.ID(), WaitFD)
		}, WithBacktraces())
		if d.Name != "dumped" || d.LoopID != l.ID() || d.Coroutines != 3 || d.ByState[StateWaiting] != 3 {
			t.Errorf("loop: %+v", d)
		}
		if d.Timers != 1 || d.FDs < 1 || d.FDWaiters != 1 || d.Accounting || d.LongestRun != -1 {
			t.Errorf("counters: timers %d fds %d waiters %d accounting %v longest %v",
				d.Timers, d.FDs, d.FDWaiters, d.Accounting, d.LongestRun)
		}
		f, h, a := findCoro(d, sleeper.ID()), findCoro(d, timed.ID()), findCoro(d, acceptor.ID())
		if f.Name != "forever" || f.HasDeadline || f.Switches < 1 || f.RunTime != -1 {
			t.Errorf("forever: %+v", f)
		}
		if h.Name != "timed" || !h.HasDeadline || h.Deadline <= 0 || h.Deadline > time.Hour {
			t.Errorf("timed: %+v", h)
		}
		if a.WaitFD != lfd || !a.WaitRead || a.WaitWrite || a.HasDeadline {
			t.Errorf("acceptor: %+v", a)
		}
		for _, c := range []*CoroutineInfo{f, h, a} {
			if c.StackMode != mode || c.StackUsed <= 0 || c.StackUsed > c.StackSize ||
				c.StackPeak < c.StackUsed || c.StackPeak > c.StackSize {
				t.Errorf("%s: stack mode %v used %d peak %d size %d", c.Name, c.StackMode, c.StackUsed, c.StackPeak, c.StackSize)
			}
			if len(c.Frames) < 2 || c.BacktraceErr != nil {
				t.Errorf("%s: frames %v, %v", c.Name, c.Frames, c.BacktraceErr)
			}
		}
		// CancelID reaches any coroutine by its id.
		if err := l.CancelID(ctxTimeout(t, 10*time.Second), timed.ID()); err != nil {
			t.Fatal(err)
		}
		if _, err := timed.Wait(ctxTimeout(t, 10*time.Second)); err != nil || hour.RC() != -int(syscall.ECANCELED) {
			t.Errorf("after CancelID: Wait %v, coro_sleep %d", err, hour.RC())
		}
		if err := l.CancelID(ctxTimeout(t, 10*time.Second), timed.ID()); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("CancelID of a finished coroutine: %v, want ESRCH", err)
		}
		// A caller that gives up leaves nothing behind.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Dump(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Dump(cancelled ctx): %v", err)
		}
		if err := l.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Dump(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Dump after Close: %v, want ErrClosed", err)
		}
		if err := l.CancelID(context.Background(), 1); !errors.Is(err, ErrClosed) {
			t.Errorf("CancelID after Close: %v, want ErrClosed", err)
		}
		loopWaitMu.Lock()
		left := len(loopWaits)
		loopWaitMu.Unlock()
		if left != 0 {
			t.Errorf("%d requests left in flight", left)
		}
	})
}

// A Go function called from a coroutine dumps its own loop: the caller
// shows as suspended in a Go call.
func TestDumpFromCallback(t *testing.T) {
	l := newLoop(t)
	var got *LoopDump
	var dumpErr error
	fn := registered(t, func(uintptr) (uintptr, error) {
		got, dumpErr = l.Dump(context.Background(), WithBacktraces())
		return 0, nil
	})
	b, _ := callGo(t, l, fn, 0)
	if b.RC() != 0 || dumpErr != nil {
		t.Fatalf("rc %d, Dump: %v", b.RC(), dumpErr)
	}
	if len(got.Coros) != 1 {
		t.Fatalf("coroutines: %+v", got.Coros)
	}
	c := got.Coros[0]
	if c.State != StateSuspended || c.Wait != WaitCall || len(c.Frames) < 2 {
		t.Errorf("the caller: %+v", c)
	}
}

func TestDumpAccounting(t *testing.T) {
	l := newLoop(t, WithAccounting())
	b := ctest.NewBox()
	defer b.Free()
	b.SetN(1000) // 1000 yields each
	co, err := l.Spawn(Entry(ctest.PingPong()), b.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	d, err := l.Dump(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Accounting || d.LongestRun <= 0 || d.LongestRunID == 0 {
		t.Errorf("accounting %v, longest run %v by #%d", d.Accounting, d.LongestRun, d.LongestRunID)
	}
	if err := l.SetAccounting(ctxTimeout(t, 10*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if d, err = l.Dump(ctxTimeout(t, 10*time.Second)); err != nil || d.Accounting || d.LongestRun != -1 {
		t.Errorf("after SetAccounting(false): %v, %+v", err, d)
	}
	if err := l.SetAccounting(ctxTimeout(t, 10*time.Second), true); err != nil {
		t.Fatal(err)
	}
	// A sleeper's run time is measured from the first switch to it.
	s := ctest.NewBox()
	defer s.Free()
	sl, err := l.Spawn(Entry(ctest.SleepForever()), s.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	d = dumpUntil(t, l, func(d *LoopDump) bool { return waitingIn(d, sl.ID(), WaitSleep) })
	if c := findCoro(d, sl.ID()); c.RunTime < 0 || !d.Accounting {
		t.Errorf("sleeper: %+v", c)
	}
}

func TestDumpLoops(t *testing.T) {
	l := newLoop(t)
	if l.ID() == 0 {
		t.Fatal("ID 0")
	}
	found := func() bool {
		for _, x := range Loops() {
			if x == l {
				return true
			}
		}
		return false
	}
	if !found() {
		t.Fatal("Loops does not list an open loop")
	}
	if err := l.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if found() {
		t.Error("Loops lists a closed loop")
	}
	var zero Loop
	if zero.ID() != 0 {
		t.Error("ID of a Loop not made by NewLoop")
	}
	if _, err := zero.Dump(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Dump of a Loop not made by NewLoop: %v", err)
	}
}
