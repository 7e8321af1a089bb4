package coro_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/oplat"
)

// ioModes runs f once per stack mode as a subtest.
func ioModes(t *testing.T, f func(t *testing.T, mode coro.StackMode)) {
	t.Helper()
	for _, m := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		t.Run(m.String(), func(t *testing.T) { f(t, m) })
	}
}

// ioLoop makes a loop closed at the end of the test (unless the test
// closed it itself).
func ioLoop(t testing.TB, mode coro.StackMode) *coro.Loop {
	t.Helper()
	l, err := coro.NewLoop(coro.WithStackMode(mode))
	if err != nil {
		t.Fatalf("NewLoop: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil && !errors.Is(err, coro.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// epollFDs returns the process's epoll fds (from /proc).
func epollFDs() map[int]bool {
	out := map[int]bool{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && link == "anon_inode:[eventpoll]" {
			n, _ := strconv.Atoi(e.Name())
			out[n] = true
		}
	}
	return out
}

// ioLoopEpoll is ioLoop that also finds the loop's epoll fd, so that tests
// can look at its registrations; -1 when it cannot tell (no /proc, or the
// poll backend: CORO_POLL=poll).
func ioLoopEpoll(t testing.TB, mode coro.StackMode) (*coro.Loop, int) {
	t.Helper()
	before := epollFDs()
	l := ioLoop(t, mode)
	var added []int
	for fd := range epollFDs() {
		if !before[fd] {
			added = append(added, fd)
		}
	}
	if len(added) != 1 {
		t.Logf("cannot tell the loop's epoll fd (new epoll fds: %v): not checking registrations", added)
		return l, -1
	}
	return l, added[0]
}

// epollWatches reports whether epoll fd ep has a registration for fd
// (the "tfd:" lines of /proc/self/fdinfo/ep).
func epollWatches(t testing.TB, ep, fd int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(ep))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) {
			return true
		}
	}
	return false
}

func ioCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ioSocketpair returns a connected pair of non-blocking unix stream
// sockets, closed at the end of the test.
func ioSocketpair(t testing.TB) (int, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
	})
	return fds[0], fds[1]
}

// waitAsync runs WaitFD in a goroutine; the result arrives on the channel.
type waitResult struct {
	ev  coro.Events
	err error
}

func waitAsync(ctx context.Context, l *coro.Loop, fd int, ev coro.Events) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		got, err := l.WaitFD(ctx, fd, ev)
		ch <- waitResult{got, err}
	}()
	return ch
}

// parked waits until at least n waits are parked on l's fds (Stats
// FDWaiters), so that what the test does next happens during the waits,
// however slowly the machine schedules them.
func parked(t testing.TB, l *coro.Loop, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.Stats().FDWaiters < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d waits parked after 20s", l.Stats().FDWaiters, n)
		}
		time.Sleep(time.Millisecond) // polling the counter, not a guess at timing
	}
}

// notYet waits until the wait of ch has parked on l (it is the only wait
// on l) and checks that it has not returned.
func notYet(t *testing.T, l *coro.Loop, ch <-chan waitResult) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.Stats().FDWaiters < 1 {
		select {
		case r := <-ch:
			t.Fatalf("the wait returned early: %v, %v", r.ev, r.err)
		case <-time.After(time.Millisecond): // polling the counter
		}
		if time.Now().After(deadline) {
			t.Fatal("the wait has not parked after 20s")
		}
	}
	select {
	case r := <-ch:
		t.Fatalf("the wait returned early: %v, %v", r.ev, r.err)
	default:
	}
}

func recvResult(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the wait has not returned after 20s")
	}
	return waitResult{}
}

func TestWaitFDReadWrite(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		a, b := ioSocketpair(t)
		ctx := ioCtx(t, 20*time.Second)

		// An empty socket is writable at once.
		ev, err := l.WaitFD(ctx, a, coro.EventWrite)
		if err != nil || ev&coro.EventWrite == 0 {
			t.Fatalf("WaitFD(write): %v, %v", ev, err)
		}

		// Readable only once the peer writes.
		ch := waitAsync(ctx, l, b, coro.EventRead)
		notYet(t, l, ch)
		if _, err := syscall.Write(a, []byte("x")); err != nil {
			t.Fatal(err)
		}
		r := recvResult(t, ch)
		if r.err != nil || r.ev&coro.EventRead == 0 {
			t.Fatalf("WaitFD(read): %v, %v", r.ev, r.err)
		}
		buf := make([]byte, 8)
		if n, err := syscall.Read(b, buf); n != 1 || err != nil {
			t.Fatalf("read: %d, %v", n, err)
		}

		// Both asked for: the ready set says which.
		ev, err = l.WaitFD(ctx, b, coro.EventRead|coro.EventWrite)
		if err != nil || ev&coro.EventWrite == 0 || ev&coro.EventRead != 0 {
			t.Fatalf("WaitFD(read|write) on an empty socket: %v, %v", ev, err)
		}

		// A pipe, and the peer hanging up.
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(p[0])
		ch = waitAsync(ctx, l, p[0], coro.EventRead)
		notYet(t, l, ch)
		if err := l.ForgetFD(p[1]); err != nil { // harmless: never waited on
			t.Fatal(err)
		}
		syscall.Close(p[1])
		r = recvResult(t, ch)
		if r.err != nil || r.ev&(coro.EventRead|coro.EventHangup) == 0 {
			t.Fatalf("WaitFD(read) on a pipe whose writer closed: %v, %v", r.ev, r.err)
		}
		t.Logf("pipe after hang-up: %v", r.ev)
	})
}

func TestWaitFDTimeout(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		_, b := ioSocketpair(t)
		const d = 50 * time.Millisecond
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		ev, err := l.WaitFD(ctx, b, coro.EventRead)
		el := time.Since(start)
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFD: %v, %v; want a deadline error", ev, err)
		}
		var te interface{ Timeout() bool }
		if !errors.As(err, &te) || !te.Timeout() {
			t.Errorf("%v has no Timeout() == true", err)
		}
		if el < d-5*time.Millisecond || el > 10*time.Second {
			t.Errorf("returned after %v, want about %v", el, d)
		}
		// A deadline already past.
		past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel2()
		if _, err := l.WaitFD(past, b, coro.EventRead); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("WaitFD(past deadline): %v", err)
		}
	})
}

func TestWaitFDCancel(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		_, b := ioSocketpair(t)
		ctx, cancel := context.WithCancel(context.Background())
		ch := waitAsync(ctx, l, b, coro.EventRead)
		notYet(t, l, ch)
		cancel()
		if r := recvResult(t, ch); r.err != context.Canceled {
			t.Fatalf("WaitFD: %v, %v; want context.Canceled", r.ev, r.err)
		}
		// Already cancelled.
		if _, err := l.WaitFD(ctx, b, coro.EventWrite); err != context.Canceled {
			t.Errorf("WaitFD(cancelled ctx): %v", err)
		}
		// The loop and the fd still work.
		if ev, err := l.WaitFD(ioCtx(t, 20*time.Second), b, coro.EventWrite); err != nil || ev&coro.EventWrite == 0 {
			t.Errorf("WaitFD after a cancel: %v, %v", ev, err)
		}
	})
}

// sameNumberSocketpair makes a fresh socketpair and moves one end to the
// number fd (which must be closed), returning the other end.
func sameNumberSocketpair(t *testing.T, fd int) int {
	t.Helper()
	p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p[1] == fd {
		p[0], p[1] = p[1], p[0]
	}
	if p[0] != fd {
		if err := syscall.Dup3(p[0], fd, syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		syscall.Close(p[0])
	}
	t.Cleanup(func() { syscall.Close(p[1]) })
	return p[1]
}

func TestForgetFD(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l, ep := ioLoopEpoll(t, mode)
		ctx := ioCtx(t, 20*time.Second)

		// ForgetFD during a wait: the wait fails with EBADF.
		a, b := ioSocketpair(t)
		ch := waitAsync(ctx, l, b, coro.EventRead)
		notYet(t, l, ch)
		if ep >= 0 && !epollWatches(t, ep, b) {
			t.Errorf("fd %d is not registered with the loop's epoll during a wait", b)
		}
		if err := l.ForgetFD(b); err != nil {
			t.Fatal(err)
		}
		r := recvResult(t, ch)
		if !errors.Is(r.err, syscall.EBADF) {
			t.Fatalf("WaitFD during ForgetFD: %v, %v; want EBADF", r.ev, r.err)
		}

		// Wait on b until readable, ForgetFD, close it, reopen the same
		// number as an empty socket: no stale readiness.
		if _, err := syscall.Write(a, []byte("stale")); err != nil {
			t.Fatal(err)
		}
		if ev, err := l.WaitFD(ctx, b, coro.EventRead); err != nil || ev&coro.EventRead == 0 {
			t.Fatalf("WaitFD: %v, %v", ev, err)
		}
		// The last wait to end dropped the registration.
		if ep >= 0 && epollWatches(t, ep, b) {
			t.Errorf("fd %d is still registered with the loop's epoll after its waits ended", b)
		}
		if err := l.ForgetFD(b); err != nil {
			t.Fatal(err)
		}
		syscall.Close(b)
		peer := sameNumberSocketpair(t, b)
		short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if ev, err := l.WaitFD(short, b, coro.EventRead); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("WaitFD on the reopened fd: %v, %v; want a timeout (no stale event)", ev, err)
		}
		ch = waitAsync(ctx, l, b, coro.EventRead)
		notYet(t, l, ch)
		if _, err := syscall.Write(peer, []byte("fresh")); err != nil {
			t.Fatal(err)
		}
		if r := recvResult(t, ch); r.err != nil || r.ev&coro.EventRead == 0 {
			t.Fatalf("WaitFD on the reopened fd: %v, %v", r.ev, r.err)
		}

		// Without ForgetFD: once no wait is in progress, the last one has
		// dropped the registration, so close and reopen are clean too.
		syscall.Close(b)
		peer = sameNumberSocketpair(t, b)
		if _, err := syscall.Write(peer, []byte("y")); err != nil {
			t.Fatal(err)
		}
		if ev, err := l.WaitFD(ctx, b, coro.EventRead); err != nil || ev&coro.EventRead == 0 {
			t.Fatalf("WaitFD: %v, %v", ev, err)
		}
		buf := make([]byte, 8)
		syscall.Read(b, buf)
		syscall.Close(b) // no ForgetFD
		sameNumberSocketpair(t, b)
		short2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel2()
		if ev, err := l.WaitFD(short2, b, coro.EventRead); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("WaitFD on an fd reopened without ForgetFD: %v, %v; want a timeout", ev, err)
		}

		// An fd that is not open.
		dead, _ := ioSocketpair(t)
		n, err := syscall.Dup(dead)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(n)
		if ev, err := l.WaitFD(ctx, n, coro.EventRead); !errors.Is(err, syscall.EBADF) {
			t.Errorf("WaitFD(closed fd): %v, %v; want EBADF", ev, err)
		}
	})
}

func TestWaitFDConcurrent(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		ctx := ioCtx(t, 30*time.Second)
		const pairs, sharers = 64, 8
		type pair struct{ w, r int }
		ps := make([]pair, pairs)
		for i := range ps {
			ps[i].w, ps[i].r = ioSocketpair(t)
		}
		var wg sync.WaitGroup
		errs := make(chan error, pairs+sharers)
		var started sync.WaitGroup
		for i, p := range ps {
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				ev, err := l.WaitFD(ctx, p.r, coro.EventRead)
				if err != nil || ev&coro.EventRead == 0 {
					errs <- fmt.Errorf("pair %d: %v, %v", i, ev, err)
				}
			}()
		}
		// Several goroutines waiting on one fd all wake.
		shared := ps[0].r
		for i := 0; i < sharers; i++ {
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				ev, err := l.WaitFD(ctx, shared, coro.EventRead)
				if err != nil || ev&coro.EventRead == 0 {
					errs <- fmt.Errorf("sharer %d: %v, %v", i, ev, err)
				}
			}()
		}
		started.Wait()
		parked(t, l, pairs+sharers)
		for _, p := range ps {
			if _, err := syscall.Write(p.w, []byte("go")); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(25 * time.Second):
			t.Fatal("waits still blocked after 25s")
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestWaitFDInvalid(t *testing.T) {
	l, err := coro.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ioSocketpair(t)
	ctx := ioCtx(t, 20*time.Second)
	for _, c := range []struct {
		fd int
		ev coro.Events
	}{{-1, coro.EventRead}, {a, 0}, {a, coro.EventError}, {a, coro.EventRead | coro.EventHangup}} {
		if _, err := l.WaitFD(ctx, c.fd, c.ev); err != syscall.EINVAL {
			t.Errorf("WaitFD(%d, %v): %v, want EINVAL", c.fd, c.ev, err)
		}
	}
	if err := l.ForgetFD(-1); err != syscall.EINVAL {
		t.Errorf("ForgetFD(-1): %v", err)
	}

	// A wait in progress when the loop closes, and waits after.
	ch := waitAsync(ctx, l, a, coro.EventRead)
	notYet(t, l, ch)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r := recvResult(t, ch); !errors.Is(r.err, coro.ErrClosed) {
		t.Errorf("WaitFD across Close: %v, %v; want ErrClosed", r.ev, r.err)
	}
	if _, err := l.WaitFD(ctx, a, coro.EventWrite); !errors.Is(err, coro.ErrClosed) {
		t.Errorf("WaitFD after Close: %v", err)
	}
	if err := l.ForgetFD(a); !errors.Is(err, coro.ErrClosed) {
		t.Errorf("ForgetFD after Close: %v", err)
	}
}

func TestEventsString(t *testing.T) {
	for ev, want := range map[coro.Events]string{
		0:                                   "0",
		coro.EventRead:                      "read",
		coro.EventRead | coro.EventWrite:    "read|write",
		coro.EventError | coro.EventHangup:  "error|hangup",
		coro.EventWrite | coro.Events(1<<8): "write|0x100",
	} {
		if got := ev.String(); got != want {
			t.Errorf("%#x: %q, want %q", uint32(ev), got, want)
		}
	}
}

// Wait in the C loop's poller for a socket to become readable.
func ExampleLoop_WaitFD() {
	l, err := coro.NewLoop()
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		panic(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])

	go syscall.Write(fds[0], []byte("hello"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := l.WaitFD(ctx, fds[1], coro.EventRead)
	fmt.Println(ev, err)

	// Nothing more to read: the deadline passes.
	buf := make([]byte, 16)
	n, _ := syscall.Read(fds[1], buf)
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	_, err = l.WaitFD(short, fds[1], coro.EventRead)
	fmt.Println(string(buf[:n]), errors.Is(err, os.ErrDeadlineExceeded))

	// Before closing an fd other goroutines may still be waiting on.
	l.ForgetFD(fds[1])
	// Output:
	// read <nil>
	// hello true
}

// BenchmarkWaitFDReady: one op is a WaitFD on an fd that is already
// writable (a spawn on the loop, one coro_fd_wait, one Wait).
func BenchmarkWaitFDReady(b *testing.B) {
	l := ioLoop(b, coro.StackGuarded)
	a, _ := ioSocketpair(b)
	ctx := context.Background()
	oplat.Run(b, func() {
		if _, err := l.WaitFD(ctx, a, coro.EventWrite); err != nil {
			b.Fatal(err)
		}
	})
}

// TestStatsIO checks the I/O counters: a wait the loop sleeps for counts
// kernel poll calls and a delivered event, and the registration WaitFD
// takes is gone once it returns.
func TestStatsIO(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		a, b := ioSocketpair(t)
		ctx := ioCtx(t, 20*time.Second)
		before := l.Stats()
		ch := waitAsync(ctx, l, b, coro.EventRead)
		notYet(t, l, ch)
		if _, err := syscall.Write(a, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if r := recvResult(t, ch); r.err != nil || r.ev&coro.EventRead == 0 {
			t.Fatalf("WaitFD(read): %v, %v", r.ev, r.err)
		}
		st := l.Stats()
		if st.PollCalls == 0 || st.PollCalls <= before.PollCalls {
			t.Errorf("PollCalls = %d (before the wait: %d), want it to grow", st.PollCalls, before.PollCalls)
		}
		if st.Events == 0 || st.Events <= before.Events {
			t.Errorf("Events = %d (before the wait: %d), want it to grow", st.Events, before.Events)
		}
		if st.FDs != 0 {
			t.Errorf("FDs = %d after WaitFD returned, want 0", st.FDs)
		}
		if st.FDArms <= before.FDArms {
			t.Errorf("FDArms = %d (before the wait: %d), want it to grow", st.FDArms, before.FDArms)
		}
		if err := l.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if fin := l.Stats(); fin.PollCalls < st.PollCalls || fin.Events < st.Events || fin.FDArms < st.FDArms || fin.FDs != 0 {
			t.Errorf("Stats after Close = %+v, want PollCalls >= %d, Events >= %d, FDs 0", fin, st.PollCalls, st.Events)
		}
	})
}
