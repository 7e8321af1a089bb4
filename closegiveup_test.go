package coro

// What Close names when it gives up: only coroutines really left on the
// loop thread. Coroutines that finished in C during the close report their
// own outcome, and a spawn that Cancel stopped before it started reports
// ECANCELED, whether Close gave up on the thread or the engine dropped
// coroutines at the deadline.

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ccoro/coro/internal/ctest"
)

// engineDone reports whether the engine has published co's outcome.
func engineDone(co *Coroutine) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.finished || (co.r != nil && co.published())
}

// names reports whether Close's error names co (`id "name"`).
func names(err error, co *Coroutine) bool {
	return strings.Contains(err.Error(), strconv.FormatUint(co.ID(), 10)+` "`+co.Name()+`"`)
}

// holdLoop holds l's thread in a Go function called by a coroutine (co),
// so that spawns stay queued, until release is called (once).
func holdLoop(t *testing.T, l *Loop) (co *Coroutine, release func()) {
	t.Helper()
	entered, released := make(chan struct{}), make(chan struct{})
	var once sync.Once
	block := registered(t, func(uintptr) (uintptr, error) {
		once.Do(func() { close(entered) })
		<-released
		return 0, nil
	})
	b := ctest.NewBox()
	t.Cleanup(b.Free) // after Close: the coroutine is gone then
	b.SetFn(uintptr(block), 0)
	co, err := l.Spawn(Entry(ctest.CallGo()), b.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	return co, func() { close(released) }
}

// awaitLeftThread waits until the thread Close left behind has completed
// the shutdown by itself.
func awaitLeftThread(t *testing.T, l *Loop) {
	t.Helper()
	waitFor(t, "the loop thread to finish the shutdown", func() bool {
		_, open := loops.Load(l.id)
		return !open
	})
}

// A coroutine that returned during the close while another one then held
// the thread: Close, cancelled, gives up on the one that spins only. (It
// once named both, and the finished one's Wait said ErrAbandoned.)
func TestCloseGiveUpNamesOnlyRunning(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l, err := NewLoop(WithStackMode(mode), WithName("giveup"))
		if err != nil {
			t.Fatal(err)
		}
		sb, yb := ctest.NewBox(), ctest.NewBox()
		sleeper, err := l.Spawn(Entry(ctest.SleepForever()), sb.Ptr(), WithCoroutineName("sleeper"))
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, sb)
		stuck, err := l.Spawn(Entry(ctest.YieldThenSpin()), yb.Ptr(), WithCoroutineName("stuck"))
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, yb)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- l.Close(ctx) }()
		// The close cancels both: the sleeper returns at once, and its
		// outcome is published while the other one still yields; then the
		// other one spins without yielding, and Close is cancelled.
		waitFor(t, "the sleeper's outcome", func() bool { return engineDone(sleeper) })
		yb.Advance()
		waitFor(t, "the spin", func() bool { return yb.Out() == 2 })
		cancel()
		err = <-closed
		if !errors.Is(err, ErrAbandoned) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Close: %v, want ErrAbandoned and context.Canceled", err)
		}
		if !names(err, stuck) || names(err, sleeper) {
			t.Errorf("Close: %v; want the spinning coroutine %d named, not the finished %d", err, stuck.ID(), sleeper.ID())
		}
		res, werr := sleeper.Wait(ctxTimeout(t, 10*time.Second))
		if !errors.Is(werr, syscall.ECANCELED) || errors.Is(werr, ErrAbandoned) || res != sb.Ptr() {
			t.Errorf("Wait(sleeper) = %#x, %v; want its result %#x and ECANCELED, not ErrAbandoned", res, werr, sb.Ptr())
		}
		if _, werr := stuck.Wait(ctxTimeout(t, 10*time.Second)); !errors.Is(werr, ErrAbandoned) {
			t.Errorf("Wait(stuck): %v, want ErrAbandoned", werr)
		}
		yb.Release()
		awaitLeftThread(t, l)
		sb.Free()
		yb.Free()
	})
}

// A spawn cancelled before it started, while the close then had to
// abandon another coroutine at its deadline: it reports ECANCELED and is
// not named. (It was labelled abandoned: the engine reports both as
// -ECANCELED.) The spawn is kept queued by holding the loop thread in a Go
// callback until Close has stopped the loop.
func TestCloseDeadlineCancelledSpawnNotAbandoned(t *testing.T) {
	forModes(t, func(t *testing.T, mode StackMode) {
		l, err := NewLoop(WithStackMode(mode))
		if err != nil {
			t.Fatal(err)
		}
		yb := ctest.NewBox()
		defer yb.Free()
		yielder, err := l.Spawn(Entry(ctest.YieldForever()), yb.Ptr(), WithCoroutineName("yielder"))
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, yb)
		_, release := holdLoop(t, l)
		queued, err := l.Spawn(Entry(ctest.Nop()), 7, WithCoroutineName("cancelled"))
		if err != nil {
			t.Fatal(err)
		}
		if err := queued.Cancel(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- l.Close(ctx) }()
		waitFor(t, "Close to stop the loop", func() bool {
			return len(l.closeCh) == 1 && l.inflight.Load() == 0
		})
		release()
		err = <-closed
		if !errors.Is(err, ErrAbandoned) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v, want ErrAbandoned and DeadlineExceeded", err)
		}
		if !names(err, yielder) || names(err, queued) {
			t.Errorf("Close: %v; want %d \"yielder\" named, not %d \"cancelled\"", err, yielder.ID(), queued.ID())
		}
		if _, werr := queued.Wait(ctxTimeout(t, 10*time.Second)); !errors.Is(werr, syscall.ECANCELED) || errors.Is(werr, ErrAbandoned) {
			t.Errorf("Wait(cancelled before it started): %v, want ECANCELED, not ErrAbandoned", werr)
		}
		if _, werr := yielder.Wait(ctxTimeout(t, 10*time.Second)); !errors.Is(werr, ErrAbandoned) {
			t.Errorf("Wait(yielder): %v, want ErrAbandoned", werr)
		}
	})
}

// quarantine takes the fdop records handed to testHookFreeRecord: it fills
// each with a pattern instead of freeing it, so that a write by a
// coroutine that still held the record shows.
type quarantine struct {
	mu   sync.Mutex
	recs [][]byte
}

const poison = 0xa5

func (q *quarantine) take(p unsafe.Pointer, size uintptr) {
	b := unsafe.Slice((*byte)(p), size)
	for i := range b {
		b[i] = poison
	}
	q.mu.Lock()
	q.recs = append(q.recs, b)
	q.mu.Unlock()
}

// check reports the records written after they were freed, frees them
// all, and returns how many there were.
func (q *quarantine) check(t *testing.T) int {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.recs)
	for _, b := range q.recs {
		for i, v := range b {
			if v != poison {
				t.Errorf("an fdop record was written after it was freed (byte %d: %#x)", i, v)
				break
			}
		}
		ctest.Free(uintptr(unsafe.Pointer(&b[0])))
	}
	q.recs = nil
	return n
}

// A WaitFD in progress when Close gives up on the loop thread (held by a
// coroutine that spins) returns ErrAbandoned, and its coroutine, parked in
// coro_fd_wait, still holds the C record: when the thread comes back and
// the close cancels the wait, the coroutine writes its outcome there. The
// record must be freed only then. It was freed when WaitFD returned (the
// coroutine then wrote freed memory; nothing failed visibly): freed
// records are quarantined and checked here. Half the waits also have their
// own context cancelled meanwhile, which posts a cancel the stuck thread
// runs only later.
func TestWaitFDRecordOutlivesGiveUp(t *testing.T) {
	var q quarantine
	testHookFreeRecord = q.take
	defer func() { testHookFreeRecord = nil }()
	for i := 0; i < 10; i++ {
		l, err := NewLoop()
		if err != nil {
			t.Fatal(err)
		}
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithCancel(context.Background())
		waited := make(chan error, 1)
		go func() {
			_, err := l.WaitFD(wctx, p[0], EventRead)
			waited <- err
		}()
		waitFor(t, "the wait to park", func() bool { return l.Stats().FDWaiters == 1 })
		b := ctest.NewBox()
		if _, err := l.Spawn(Entry(ctest.Spin()), b.Ptr(), WithCoroutineName("spin")); err != nil {
			t.Fatal(err)
		}
		waitStarted(t, b)
		if i%2 == 1 {
			wcancel()
		}
		ctx, cancel := context.WithCancel(context.Background())
		closed := make(chan error, 1)
		go func() { closed <- l.Close(ctx) }()
		waitFor(t, "Close to stop the loop", func() bool {
			return len(l.closeCh) == 1 && l.inflight.Load() == 0
		})
		cancel()
		if err := <-closed; !errors.Is(err, ErrAbandoned) {
			t.Fatalf("Close: %v, want ErrAbandoned", err)
		}
		if err := <-waited; !errors.Is(err, ErrAbandoned) {
			t.Errorf("WaitFD: %v, want ErrAbandoned", err)
		}
		b.Release()
		awaitLeftThread(t, l)
		if n := q.check(t); n != 1 {
			t.Errorf("%d records freed, want 1", n)
		}
		b.Free()
		wcancel()
		syscall.Close(p[0])
		syscall.Close(p[1])
	}
}
