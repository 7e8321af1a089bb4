package coro

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/cgo"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/ctest"
	"github.com/ccoro/coro/internal/oplat"

	// The tests exercise profiling with C frames symbolized. Only a main
	// package or a test may import it: runtime.SetCgoTraceback can be set
	// once per program.
	_ "github.com/ianlancetaylor/cgosymbolizer"
)

var modes = []StackMode{StackGuarded, StackShared}

// forModes runs f once per stack mode as a subtest.
func forModes(t *testing.T, f func(t *testing.T, mode StackMode)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) { f(t, m) })
	}
}

// newLoop makes a loop closed at the end of the test (unless the test
// closed it itself).
func newLoop(t testing.TB, opts ...Option) *Loop {
	t.Helper()
	l, err := NewLoop(opts...)
	if err != nil {
		t.Fatalf("NewLoop: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitStarted polls until a blocking fixture has begun.
func waitStarted(t *testing.T, b ctest.Box) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !b.Started() {
		if time.Now().After(deadline) {
			t.Fatal("the coroutine never started")
		}
		time.Sleep(time.Millisecond)
	}
}

// spawnSleepers spawns n coroutines on l that sleep until cancelled, each
// with a box of its own, freed when the test ends.
func spawnSleepers(t *testing.T, l *Loop, n int) ([]*Coroutine, []ctest.Box) {
	t.Helper()
	cos := make([]*Coroutine, 0, n)
	boxes := make([]ctest.Box, 0, n)
	for i := 0; i < n; i++ {
		b := ctest.NewBox()
		t.Cleanup(b.Free)
		co, err := l.Spawn(Entry(ctest.SleepForever()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		cos, boxes = append(cos, co), append(boxes, b)
	}
	return cos, boxes
}

func TestSpawnWait(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode), WithName("spawn-wait"))
		if l.Name() != "spawn-wait" {
			t.Errorf("Name = %q", l.Name())
		}
		p := ctest.NewInt64(41)
		defer ctest.Free(p)
		co, err := l.Spawn(Entry(ctest.AddOne()), p, WithCoroutineName("adder"))
		if err != nil {
			t.Fatal(err)
		}
		if co.ID() == 0 || co.Name() != "adder" {
			t.Errorf("ID %d, Name %q", co.ID(), co.Name())
		}
		res, err := co.Wait(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if res != p || ctest.Int64(p) != 42 {
			t.Fatalf("result %#x (want %#x), value %d", res, p, ctest.Int64(p))
		}
		select {
		case <-co.Done():
		default:
			t.Error("Done not closed after Wait")
		}
		// Wait again: same answer.
		if res2, err := co.Wait(context.Background()); res2 != p || err != nil {
			t.Errorf("second Wait: %#x, %v", res2, err)
		}
		if err := co.Cancel(); err != nil {
			t.Errorf("Cancel after finish: %v", err)
		}
	})
}

func TestSpawnOptions(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode), WithStackSize(64<<10), WithStackCache(0))
		p := ctest.NewInt64(1)
		defer ctest.Free(p)
		for _, opts := range [][]SpawnOption{
			{WithCoroutineStackSize(32 << 10)},
			{WithCoroutineStackMode(StackGuarded), WithCoroutineStackSize(128 << 10)},
			{WithCoroutineStackMode(StackShared)},
			{WithCoroutineStackMode(StackDefault)},
		} {
			co, err := l.Spawn(Entry(ctest.AddOne()), p, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if got := ctest.Int64(p); got != 5 {
			t.Errorf("value %d, want 5", got)
		}
	})
}

func TestInvalid(t *testing.T) {
	for _, opts := range [][]Option{
		{WithStackSize(1)},
		{WithStackSize(StackSizeMax + 1)},
		{WithStackMode(7)},
		{WithStackCache(-1)},
	} {
		if l, err := NewLoop(opts...); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("NewLoop(bad option): %v, want EINVAL", err)
			if l != nil {
				l.Close(context.Background())
			}
		}
	}
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		if _, err := l.Spawn(0, 0); err != syscall.EINVAL {
			t.Errorf("Spawn(nil fn): %v, want EINVAL", err)
		}
		for _, opt := range []SpawnOption{
			WithCoroutineStackSize(1),
			WithCoroutineStackSize(StackSizeMin - 1),
			WithCoroutineStackSize(StackSizeMax + 1),
			WithCoroutineStackMode(-1),
			WithCoroutineStackMode(3),
		} {
			if _, err := l.Spawn(Entry(ctest.Nop()), 0, opt); err != syscall.EINVAL {
				t.Errorf("Spawn(bad option): %v, want EINVAL", err)
			}
		}
		if n := coroutines.len(); n != 0 {
			t.Errorf("%d slab entries left after failed spawns", n)
		}
	})
}

func TestManyConcurrentSpawns(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		const goroutines, each = 16, 200
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				cos := make([]*Coroutine, 0, each)
				for i := 0; i < each; i++ {
					co, err := l.Spawn(Entry(ctest.Nop()), uintptr((g*each + i + 1)))
					if err != nil {
						errs <- err
						return
					}
					cos = append(cos, co)
				}
				for i, co := range cos {
					res, err := co.Wait(context.Background())
					if err != nil {
						errs <- err
						return
					}
					if want := uintptr(g*each + i + 1); uintptr(res) != want {
						errs <- fmt.Errorf("result %d, want %d", uintptr(res), want)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if st := l.Stats(); st.Spawned < goroutines*each {
			t.Errorf("Stats.Spawned = %d, want >= %d", st.Spawned, goroutines*each)
		}
	})
}

func TestCancelSleeping(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		b := ctest.NewBox()
		defer b.Free()
		co, err := l.Spawn(Entry(ctest.SleepForever()), b.Ptr(), WithCoroutineName("sleeper"))
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, b)
		select {
		case <-co.Done():
			t.Fatal("sleeper finished before Cancel")
		case <-time.After(20 * time.Millisecond):
		}
		if err := co.Cancel(); err != nil {
			t.Fatal(err)
		}
		res, err := co.Wait(ctxTimeout(t, 10*time.Second))
		if err != syscall.ECANCELED {
			t.Fatalf("Wait: %v, want ECANCELED", err)
		}
		if res != b.Ptr() {
			t.Errorf("result %#x, want the function's %#x", res, b.Ptr())
		}
		if b.RC() != -int(syscall.ECANCELED) {
			t.Errorf("coro_sleep returned %d, want -ECANCELED", b.RC())
		}
		if err := co.Cancel(); err != nil {
			t.Errorf("second Cancel: %v", err)
		}
	})
}

func TestCancelBeforeStart(t *testing.T) {
	l := newLoop(t)
	// Cancel as early as possible and many times over: whether the
	// coroutine had started or not, Wait reports ECANCELED.
	for i := 0; i < 100; i++ {
		b := ctest.NewBox()
		co, err := l.Spawn(Entry(ctest.SleepForever()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		co.Cancel()
		if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); !errors.Is(err, syscall.ECANCELED) {
			t.Fatalf("Wait: %v, want ECANCELED", err)
		}
		b.Free()
	}
}

func TestWaitContext(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		b := ctest.NewBox()
		defer b.Free()
		co, err := l.Spawn(Entry(ctest.SleepForever()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if _, err := co.Wait(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Wait: %v, want context.DeadlineExceeded", err)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if _, err := co.Wait(ctx2); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait: %v, want context.Canceled", err)
		}
		// Still waitable.
		co.Cancel()
		if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != syscall.ECANCELED {
			t.Fatalf("Wait after Cancel: %v, want ECANCELED", err)
		}
	})
}

func TestCloseCancelsLive(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l, err := NewLoop(WithStackMode(mode))
		if err != nil {
			t.Fatal(err)
		}
		const n = 10
		cos, boxes := spawnSleepers(t, l, n)
		for _, b := range boxes {
			waitStarted(t, b)
		}
		if err := l.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i, co := range cos {
			select {
			case <-co.Done():
			default:
				t.Fatalf("coroutine %d not done after Close", i)
			}
			res, err := co.Wait(context.Background())
			if err != syscall.ECANCELED || res != boxes[i].Ptr() {
				t.Errorf("Wait: %#x, %v; want %#x, ECANCELED", res, err, boxes[i].Ptr())
			}
			if boxes[i].RC() != -int(syscall.ECANCELED) {
				t.Errorf("coro_sleep returned %d, want -ECANCELED", boxes[i].RC())
			}
		}
		st := l.Stats()
		if st.Live != 0 || st.Spawned < n {
			t.Errorf("Stats after Close: %+v", st)
		}
	})
}

func TestCloseDeadlineAbandons(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l, err := NewLoop(WithStackMode(mode))
		if err != nil {
			t.Fatal(err)
		}
		stubborn, polite := ctest.NewBox(), ctest.NewBox()
		defer stubborn.Free()
		defer polite.Free()
		coS, err := l.Spawn(Entry(ctest.YieldForever()), stubborn.Ptr(), WithCoroutineName("stubborn"))
		if err != nil {
			t.Fatal(err)
		}
		coP, err := l.Spawn(Entry(ctest.SleepForever()), polite.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, stubborn)
		waitStarted(t, polite)
		start := time.Now()
		closed := make(chan error, 1)
		go func() { closed <- l.Close(ctxTimeout(t, 100*time.Millisecond)) }()
		select {
		case err = <-closed:
		case <-time.After(10 * time.Second):
			// The loop goroutine is stuck in C; nothing can free it.
			t.Fatalf("Close with a 100ms deadline has not returned after 10s: the engine does not stop (coro_loop_run) or meet the close deadline (coro_loop_close) while a coroutine keeps yielding")
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("Close took %v", el)
		}
		if !errors.Is(err, ErrAbandoned) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Close: %v; want ErrAbandoned, DeadlineExceeded", err)
		}
		var te interface{ Timeout() bool }
		if !errors.As(err, &te) || !te.Timeout() {
			t.Errorf("Close error %v has no Timeout() == true", err)
		}
		t.Logf("Close: %v", err)
		_, err = coS.Wait(ctxTimeout(t, time.Second))
		if !errors.Is(err, syscall.ECANCELED) || !errors.Is(err, ErrAbandoned) {
			t.Errorf("Wait(stubborn): %v, want ErrAbandoned and ECANCELED", err)
		}
		t.Logf("Wait(stubborn): %v", err)
		if _, err := coP.Wait(ctxTimeout(t, time.Second)); err != syscall.ECANCELED {
			t.Errorf("Wait(polite): %v, want ECANCELED", err)
		}
		// On a loaded machine the engine may miss Close's grace, and Close
		// gives up on the thread (as the error then says); the thread
		// still meets the engine's deadline, and frees the slots then.
		awaitLeftThread(t, l)
		if n := coroutines.len(); n != 0 {
			t.Errorf("%d slab entries left", n)
		}
	})
}

func TestClosed(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l, err := NewLoop(WithStackMode(mode))
		if err != nil {
			t.Fatal(err)
		}
		// Two concurrent Close calls: one does the work, the other gets
		// ErrClosed.
		errs := make(chan error, 2)
		for i := 0; i < 2; i++ {
			go func() { errs <- l.Close(context.Background()) }()
		}
		e1, e2 := <-errs, <-errs
		if !(e1 == nil && e2 == ErrClosed) && !(e1 == ErrClosed && e2 == nil) {
			t.Fatalf("concurrent Close: %v, %v; want nil and ErrClosed", e1, e2)
		}
		if err := l.Close(context.Background()); err != ErrClosed {
			t.Errorf("second Close: %v, want ErrClosed", err)
		}
		if _, err := l.Spawn(Entry(ctest.Nop()), 0); !errors.Is(err, ErrClosed) {
			t.Errorf("Spawn after Close: %v, want ErrClosed", err)
		}
		_ = l.Stats()
	})
}

func TestConcurrentSpawnAndClose(t *testing.T) {
	for i := 0; i < 20; i++ {
		l, err := NewLoop()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					co, err := l.Spawn(Entry(ctest.Nop()), 0)
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Error(err)
						}
						return
					}
					_, err = co.Wait(context.Background())
					if err != nil && !errors.Is(err, syscall.ECANCELED) && !errors.Is(err, ErrClosed) {
						t.Error(err)
						return
					}
					_ = l.Stats()
				}
			}()
		}
		// Close once the spawners are in full swing (not after a guess at
		// how long that takes: a loaded machine may not have run them).
		waitFor(t, "spawns before Close", func() bool { return l.Stats().Spawned >= 64 })
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
	if n := coroutines.len(); n != 0 {
		t.Errorf("%d slab entries left", n)
	}
}

// registered makes a Func for a test.
func registered(t testing.TB, f func(uintptr) (uintptr, error)) Func {
	t.Helper()
	fn, err := RegisterFunc(f)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

// callGo runs ctest_call_go(fn, arg) on l and returns the box.
func callGo(t *testing.T, l *Loop, fn Func, arg uintptr) (ctest.Box, uintptr) {
	t.Helper()
	b := ctest.NewBox()
	t.Cleanup(b.Free)
	b.SetFn(uintptr(fn), arg)
	co, err := l.Spawn(Entry(ctest.CallGo()), b.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	res, err := co.Wait(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return b, res
}

func TestGoCallback(t *testing.T) {
	double := registered(t, func(arg uintptr) (uintptr, error) {
		return uintptr((arg) * 2), nil
	})
	enoent := registered(t, func(uintptr) (uintptr, error) {
		return 0, fmt.Errorf("wrapped: %w", syscall.ENOENT)
	})
	plain := registered(t, func(uintptr) (uintptr, error) {
		return 0, errors.New("plain")
	})
	// The documented way to hand Go values to C: a cgo.Handle as an
	// integer argument, looked up again in the Go function.
	lookup := registered(t, func(arg uintptr) (uintptr, error) {
		s := cgo.Handle(uintptr(arg)).Value().(*string)
		*s += " world"
		return 0, nil
	})
	if _, err := RegisterFunc(nil); err != syscall.EINVAL {
		t.Errorf("RegisterFunc(nil): %v", err)
	}
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		b, res := callGo(t, l, double, uintptr(21))
		if b.RC() != 0 || uintptr(res) != 42 {
			t.Errorf("double: rc %d, result %d", b.RC(), uintptr(res))
		}
		greeting := "hello"
		h := cgo.NewHandle(&greeting)
		defer h.Delete()
		if b, _ := callGo(t, l, lookup, uintptr((h))); b.RC() != 0 || greeting != "hello world" {
			t.Errorf("cgo.Handle round trip: rc %d, %q", b.RC(), greeting)
		}
		if b, _ := callGo(t, l, enoent, 0); b.RC() != -int(syscall.ENOENT) {
			t.Errorf("ENOENT: rc %d", b.RC())
		}
		if b, _ := callGo(t, l, plain, 0); b.RC() != -int(syscall.EIO) {
			t.Errorf("plain error: rc %d, want CORO_GO_EERROR (-EIO)", b.RC())
		}
		if b, _ := callGo(t, l, Func(1<<30), 0); b.RC() != -int(syscall.EINVAL) {
			t.Errorf("unknown Func: rc %d, want -EINVAL", b.RC())
		}
	})
}

func TestGoCallbackSpawns(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		other := newLoop(t, WithStackMode(mode))
		p := ctest.NewInt64(0)
		defer ctest.Free(p)
		var inner []*Coroutine
		spawner := registered(t, func(uintptr) (uintptr, error) {
			// On its own loop: Spawn works; Wait would deadlock.
			co, err := l.Spawn(Entry(ctest.AddOne()), p)
			if err != nil {
				return 0, err
			}
			inner = append(inner, co)
			// On another loop: Spawn and Wait both work.
			co2, err := other.Spawn(Entry(ctest.AddOne()), p)
			if err != nil {
				return 0, err
			}
			if _, err := co2.Wait(context.Background()); err != nil {
				return 0, err
			}
			return 0, nil
		})
		b, _ := callGo(t, l, spawner, 0)
		if b.RC() != 0 {
			t.Fatalf("rc %d", b.RC())
		}
		if _, err := inner[0].Wait(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if v := ctest.Int64(p); v != 2 {
			t.Errorf("value %d, want 2", v)
		}
	})
}

func TestCallbackPanic(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		var mu sync.Mutex
		var got []any
		l := newLoop(t, WithStackMode(mode), WithPanicHandler(func(fn Func, v any) {
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		}))
		boom := registered(t, func(uintptr) (uintptr, error) { panic("boom") })
		var nilMap map[string]int
		crash := registered(t, func(uintptr) (uintptr, error) {
			nilMap["x"] = 1 // a runtime panic
			return 0, nil
		})
		for i := 0; i < 3; i++ {
			if b, _ := callGo(t, l, boom, 0); b.RC() != -int(syscall.ENOTRECOVERABLE) {
				t.Errorf("panic: rc %d, want CORO_GO_EPANIC", b.RC())
			}
		}
		if b, _ := callGo(t, l, crash, 0); b.RC() != -int(syscall.ENOTRECOVERABLE) {
			t.Errorf("runtime panic: rc %d, want CORO_GO_EPANIC", b.RC())
		}
		mu.Lock()
		if len(got) != 4 || got[0] != "boom" {
			t.Errorf("panic handler got %v", got)
		}
		if _, ok := got[3].(runtime.Error); !ok {
			t.Errorf("runtime panic value %T %v", got[3], got[3])
		}
		mu.Unlock()
		// The loop survives.
		p := ctest.NewInt64(1)
		defer ctest.Free(p)
		co, err := l.Spawn(Entry(ctest.AddOne()), p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != nil || ctest.Int64(p) != 2 {
			t.Fatalf("after panics: %v, %d", err, ctest.Int64(p))
		}
	})
}

func TestCallbackPanicDefaultLogs(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log.SetOutput(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	defer log.SetOutput(os.Stderr)
	l := newLoop(t, WithName("logging-loop"))
	boom := registered(t, func(uintptr) (uintptr, error) { panic("logged boom") })
	if b, _ := callGo(t, l, boom, 0); b.RC() != -int(syscall.ENOTRECOVERABLE) {
		t.Errorf("rc %d", b.RC())
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "logged boom") || !strings.Contains(out, "logging-loop") {
		t.Errorf("log: %q", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestCallbackDeadlock(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		other := newLoop(t, WithStackMode(mode))
		b := ctest.NewBox()
		defer b.Free()
		sleeper, err := l.Spawn(Entry(ctest.SleepForever()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		otherCo, err := other.Spawn(Entry(ctest.Nop()), 0)
		if err != nil {
			t.Fatal(err)
		}
		// One that finished before the callback: its Wait there returns
		// the outcome, as anywhere.
		fin, err := l.Spawn(Entry(ctest.Nop()), 0)
		if err != nil {
			t.Fatal(err)
		}
		<-fin.Done()
		var closeErr, waitErr, parkErr, finErr, otherErr, otherCloseErr error
		var spinFound uint64
		fn := registered(t, func(uintptr) (uintptr, error) {
			closeErr = l.Close(context.Background())
			spun := spinDeadlocks.Load()
			_, waitErr = sleeper.Wait(context.Background())
			spinFound = spinDeadlocks.Load() - spun
			_, finErr = fin.Wait(context.Background())
			// A Wait that parks at once (the polling slots are taken).
			l.cq.spinners.Add(maxSpinners)
			_, parkErr = sleeper.Wait(context.Background())
			l.cq.spinners.Add(-maxSpinners)
			_, otherErr = otherCo.Wait(context.Background())
			otherCloseErr = other.Close(context.Background())
			return 0, nil
		})
		callGo(t, l, fn, 0)
		if closeErr != syscall.EDEADLK || waitErr != syscall.EDEADLK {
			t.Errorf("Close %v, Wait %v from a callback of the same loop; want EDEADLK", closeErr, waitErr)
		}
		// Found before it parked (where Waits poll: with one CPU they
		// park at once).
		if multiCPU && spinFound != 1 {
			t.Errorf("the polling Wait from a callback: %d deadlocks found before it parked, want 1", spinFound)
		}
		if parkErr != syscall.EDEADLK {
			t.Errorf("Wait %v from a callback of the same loop with the polling slots taken; want EDEADLK", parkErr)
		}
		if finErr != nil {
			t.Errorf("Wait for a finished coroutine from a callback of its loop: %v", finErr)
		}
		if otherErr != nil || otherCloseErr != nil {
			t.Errorf("Wait %v, Close %v on another loop; want nil", otherErr, otherCloseErr)
		}
		// The loop is still open and working.
		sleeper.Cancel()
		if _, err := sleeper.Wait(ctxTimeout(t, 10*time.Second)); err != syscall.ECANCELED {
			t.Errorf("Wait: %v", err)
		}
	})
}

func TestCallbackCannotSwitch(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		var yieldRC, sleepRC int
		fn := registered(t, func(uintptr) (uintptr, error) {
			yieldRC = ctest.TryYield()
			sleepRC = ctest.TrySleep()
			return 0, nil
		})
		b, _ := callGo(t, l, fn, 0)
		if b.RC() != 0 {
			t.Errorf("rc %d", b.RC())
		}
		if yieldRC != -int(syscall.EPERM) || sleepRC != -int(syscall.EPERM) {
			t.Errorf("coro_yield %d, coro_sleep %d inside a Go callback; want -EPERM", yieldRC, sleepRC)
		}
	})
}

func TestStats(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		before := l.Stats()
		p := ctest.NewInt64(0)
		defer ctest.Free(p)
		const n = 50
		for i := 0; i < n; i++ {
			co, err := l.Spawn(Entry(ctest.AddOne()), p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := co.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		b := ctest.NewBox()
		defer b.Free()
		co, err := l.Spawn(Entry(ctest.SleepForever()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, b)
		st := l.Stats()
		t.Logf("before %+v\nafter %+v", before, st)
		if st.Spawned-before.Spawned != n+1 {
			t.Errorf("Spawned moved by %d, want %d", st.Spawned-before.Spawned, n+1)
		}
		if st.Switches <= before.Switches {
			t.Errorf("Switches did not move")
		}
		if st.Live < 1 {
			t.Errorf("Live = %d with a sleeper", st.Live)
		}
		if st.Posts <= before.Posts {
			t.Errorf("Posts did not move (Spawn posts to the loop)")
		}
		if mode == StackGuarded && st.StacksMapped == 0 {
			t.Errorf("StacksMapped = 0 with a live guarded coroutine")
		}
		co.Cancel()
		co.Wait(context.Background())
	})
}

// TestGoSignalsStillWork: a nil dereference in Go code, on another thread
// while a loop switches coroutines, must reach Go's handler (the engine's
// SIGSEGV handler chains) and become a recoverable panic.
func TestGoSignalsStillWork(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l := newLoop(t, WithStackMode(mode))
		b := ctest.NewBox()
		defer b.Free()
		b.SetN(2_000_000)
		co, err := l.Spawn(Entry(ctest.PingPong()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			func() {
				defer func() {
					r := recover()
					if _, ok := r.(runtime.Error); !ok {
						t.Fatalf("recovered %v, want a runtime.Error", r)
					}
				}()
				var p *int
				*p = i
			}()
		}
		co.Cancel()
		co.Wait(context.Background())
	})
}

const overflowEnv = "CORO_TEST_OVERFLOW_CHILD"

// TestStackOverflowChild is the child half of TestStackOverflow.
func TestStackOverflowChild(t *testing.T) {
	if os.Getenv(overflowEnv) == "" {
		t.Skip("runs as a child of TestStackOverflow")
	}
	l, err := NewLoop(WithStackMode(StackGuarded), WithName("overflow-loop"))
	if err != nil {
		t.Fatal(err)
	}
	b := ctest.NewBox()
	co, err := l.Spawn(Entry(ctest.Recurse()), b.Ptr(), WithCoroutineName("deep-diver"))
	if err != nil {
		t.Fatal(err)
	}
	co.Wait(context.Background())
	fmt.Println("child survived the overflow")
	os.Exit(0)
}

func TestStackOverflow(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	msg, err := dyingChild(t, "TestStackOverflowChild", overflowEnv+"=1")
	t.Logf("child: %v", err)
	if !strings.Contains(msg, "stack overflow in coroutine") || !strings.Contains(msg, "deep-diver") {
		t.Fatalf("stderr lacks the overflow report naming the coroutine:\n%s", msg)
	}
	first, _, _ := strings.Cut(msg[strings.Index(msg, "stack overflow"):], "\n")
	t.Logf("report: %s", first)
}

// TestCPUProfileDuringSwitches: SIGPROF lands on the loop thread while
// coroutines switch (on Go's signal stack, never the coroutine's), and
// cgosymbolizer unwinds the C stacks it interrupts.
func TestCPUProfileDuringSwitches(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of switching")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to parse the profile")
	}
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.pprof")
	f, err := os.Create(prof)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	perMode := map[StackMode]int64{StackGuarded: 25_000_000, StackShared: 5_000_000}
	if ucontextSwitch || os.Getenv("CORO_TEST_EXEC") != "" {
		// A system call per switch, or every instruction emulated (qemu):
		// a tenth of the switches still gives seconds of samples, and the
		// test minutes less.
		for m := range perMode {
			perMode[m] /= 10
		}
	}
	for _, mode := range modes {
		l := newLoop(t, WithStackMode(mode))
		b := ctest.NewBox()
		b.SetN(perMode[mode])
		start := time.Now()
		co, err := l.Spawn(Entry(ctest.PingPong()), b.Ptr(), WithCoroutineName("pingpong"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := co.Wait(ctxTimeout(t, 5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if b.RC() != 0 || b.Out() != 2*perMode[mode] {
			t.Errorf("%v: rc %d out %d", mode, b.RC(), b.Out())
		}
		el := time.Since(start)
		t.Logf("%v: %d yields in %v (%.1f ns/yield), stats %+v", mode, 2*perMode[mode], el,
			float64(el.Nanoseconds())/float64(2*perMode[mode]), l.Stats())
		b.Free()
	}
	pprof.StopCPUProfile()
	f.Close()
	pp := exec.Command(goTool, "tool", "pprof", "-top", "-nodecount=15", os.Args[0], prof)
	pp.Env = hostEnv()
	out, err := pp.CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	t.Logf("profile:\n%s", out)
	if !strings.Contains(string(out), "Total samples") && !strings.Contains(string(out), "flat%") {
		t.Errorf("unexpected pprof output")
	}
	if !strings.Contains(string(out), "yielder") && !strings.Contains(string(out), "coro_") {
		t.Logf("note: no C frames symbolized in the profile")
	}
}

func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out, err := exec.Command("gcc", "-print-file-name=libc.a").Output()
	if err != nil || !filepath.IsAbs(strings.TrimSpace(string(out))) {
		t.Skip("no static libc (gcc -print-file-name=libc.a)")
	}
	bin := filepath.Join(t.TempDir(), "static")
	cmd := exec.Command(goTool, "build", "-o", bin,
		"-ldflags", "-linkmode external -extldflags -static", "./testdata/static")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary has %v: not static", p.Type)
		}
	}
	ef.Close()
	got, err := emulated(bin).CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "42" {
		t.Fatalf("static binary: %v\n%s", err, got)
	}
}

func TestStackModeString(t *testing.T) {
	for m, want := range map[StackMode]string{StackDefault: "default", StackGuarded: "guarded", StackShared: "shared", 9: "StackMode(9)"} {
		if m.String() != want {
			t.Errorf("%d: %q", int(m), m.String())
		}
	}
}

var (
	benchFuncOnce sync.Once
	benchFunc     Func
)

// BenchmarkGoCallback: one op is coroutine -> Go function -> back to the
// coroutine (coro_go_call), the loop of calls running in C.
func BenchmarkGoCallback(b *testing.B) {
	benchFuncOnce.Do(func() {
		benchFunc = registered(b, func(arg uintptr) (uintptr, error) { return arg, nil })
	})
	l := newLoop(b)
	box := ctest.NewBox()
	defer box.Free()
	box.SetFn(uintptr(benchFunc), 0)
	box.SetN(int64(b.N))
	b.ResetTimer()
	co, err := l.Spawn(Entry(ctest.CallGoN()), box.Ptr())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := co.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if box.RC() != 0 || box.Out() != int64(b.N) {
		b.Fatalf("rc %d, %d calls of %d", box.RC(), box.Out(), b.N)
	}
}

// BenchmarkSpawnFromGo: one op is Spawn + Wait of a trivial C function
// from a goroutine.
func BenchmarkSpawnFromGo(b *testing.B) {
	l := newLoop(b)
	ctx := context.Background()
	oplat.Run(b, func() {
		co, err := l.Spawn(Entry(ctest.Nop()), 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := co.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	})
}

// emulated runs a program built for the target, through the emulator the
// test binary itself runs under when cross-testing (make test-arm64 sets
// CORO_TEST_EXEC to "qemu-aarch64 -L /usr/aarch64-linux-gnu"): qemu-user
// does not follow exec into a foreign binary by itself.
func emulated(name string, args ...string) *exec.Cmd {
	if w := strings.Fields(os.Getenv("CORO_TEST_EXEC")); len(w) > 0 {
		return exec.Command(w[0], append(append(w[1:], name), args...)...)
	}
	return exec.Command(name, args...)
}

// hostEnv is the environment without the cross-compilation settings, for
// running host tools such as go tool pprof.
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "GOARCH", "CC", "CGO_CFLAGS", "CGO_LDFLAGS":
			continue
		}
		env = append(env, kv)
	}
	return env
}
