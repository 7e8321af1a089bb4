package coro

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/ctest"
)

// The polling slots (csrc/sched.c "Polling slots"): a Spawn whose Wait
// will poll hands the loop its request, and gets the answer, through one
// of the loop's slots.

func skipOneCPU(t *testing.T) {
	t.Helper()
	if !multiCPU {
		t.Skip("one CPU: Waits do not poll, and Spawn takes no slot")
	}
}

// spawnSlot spawns fn(arg) on l and checks that it went through a slot.
func spawnSlot(t *testing.T, l *Loop, fn, arg uintptr) *Coroutine {
	t.Helper()
	co, err := l.Spawn(Entry(fn), arg)
	if err != nil {
		t.Fatal(err)
	}
	co.mu.Lock()
	req := co.slotReq // kept when the slot is let go
	co.mu.Unlock()
	if req == 0 {
		t.Fatal("the Spawn took no polling slot")
	}
	return co
}

// TestSlotRoundTrips: each Spawn + Wait from one goroutine goes through a
// slot (the loop takes exactly one request from the slots per Spawn), and
// the answer carries each coroutine's own result, small integers included.
func TestSlotRoundTrips(t *testing.T) {
	skipOneCPU(t)
	l := newLoop(t)
	ctx := ctxTimeout(t, 30*time.Second)
	before := l.slotStarts()
	const n = 300
	for i := 0; i < n; i++ {
		co := spawnSlot(t, l, ctest.Nop(), uintptr(i))
		res, err := co.Wait(ctx)
		if err != nil || res != uintptr(i) {
			t.Fatalf("Wait %d: %d, %v", i, res, err)
		}
	}
	if got := l.slotStarts() - before; got != n {
		t.Fatalf("the loop took %d requests from its slots, want %d", got, n)
	}
}

// TestSlotTakeOver: coroutines that run long and that nobody polls do not
// keep the slots: once the loop has started them, a Spawn takes their
// slots over, and their own Waits then read the record.
func TestSlotTakeOver(t *testing.T) {
	skipOneCPU(t)
	l := newLoop(t)
	ctx := ctxTimeout(t, 30*time.Second)
	var sleepers []*Coroutine
	var boxes []ctest.Box
	for i := 0; i < slotCount; i++ {
		b := ctest.NewBox()
		defer b.Free()
		sleepers = append(sleepers, spawnSlot(t, l, ctest.SleepForever(), b.Ptr()))
		boxes = append(boxes, b)
		waitStarted(t, b)
	}
	before := l.slotStarts()
	const n = 50
	for i := 0; i < n; i++ {
		co := spawnSlot(t, l, ctest.Nop(), uintptr(i))
		if res, err := co.Wait(ctx); err != nil || res != uintptr(i) {
			t.Fatalf("Wait %d: %d, %v", i, res, err)
		}
	}
	if got := l.slotStarts() - before; got != n {
		t.Fatalf("the loop took %d requests from its slots, want %d", got, n)
	}
	for i, co := range sleepers {
		co.Cancel()
		res, err := co.Wait(ctx)
		if err != syscall.ECANCELED || res != boxes[i].Ptr() {
			t.Fatalf("sleeper %d: %#x, %v; want %#x, ECANCELED", i, res, err, boxes[i].Ptr())
		}
	}
}

// TestSlotsConcurrent: goroutines doing Spawn + Wait at once, while
// sleepers' slots are taken over again and again: every Wait gets its own
// coroutine's result (the slot's answer is read as a seqlock), and no
// record or slab entry is left behind.
func TestSlotsConcurrent(t *testing.T) {
	skipOneCPU(t)
	before := remoteOutstanding()
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				arg := uintptr(g<<20 | i)
				fn := ctest.Nop()
				var b ctest.Box
				if i%50 == 0 { // a sleeper, which takes a slot and holds it
					b = ctest.NewBox()
					fn, arg = ctest.SleepForever(), b.Ptr()
				}
				co, err := l.Spawn(Entry(fn), arg)
				if err != nil {
					errc <- err
					return
				}
				if b != (ctest.Box{}) {
					waitStarted(t, b)
					co.Cancel()
				}
				res, err := co.Wait(ctx)
				if b != (ctest.Box{}) {
					b.Free()
					if !errors.Is(err, syscall.ECANCELED) {
						errc <- err
						return
					}
				} else if err != nil {
					errc <- err
					return
				}
				if res != arg {
					errc <- errors.New("a Wait got another coroutine's result")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := coroutines.len(); n != 0 {
		t.Fatalf("%d slab entries left", n)
	}
	if after := remoteOutstanding(); after != before {
		t.Fatalf("engine records in use: %d before, %d after", before, after)
	}
}

// blockLoop spawns a coroutine that keeps l's thread until the returned
// function releases it (and waits for it).
func blockLoop(t *testing.T, l *Loop) (release func()) {
	t.Helper()
	b := ctest.NewBox()
	co, err := l.Spawn(Entry(ctest.Spin()), b.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	waitStarted(t, b)
	return func() {
		b.Release()
		co.Wait(context.Background())
		b.Free()
	}
}

// TestSlotCancelledBeforeStart: a request still in its slot when Cancel
// comes never runs; the slot's answer sends the Wait to the record, which
// says ECANCELED, without a result.
func TestSlotCancelledBeforeStart(t *testing.T) {
	skipOneCPU(t)
	l := newLoop(t)
	release := blockLoop(t, l)
	b := ctest.NewBox()
	defer b.Free()
	before := l.slotStarts()
	co := spawnSlot(t, l, ctest.SleepForever(), b.Ptr())
	co.Cancel()
	release()
	res, err := co.Wait(ctxTimeout(t, 10*time.Second))
	if err != syscall.ECANCELED || res != 0 {
		t.Fatalf("Wait: %#x, %v; want 0, ECANCELED", res, err)
	}
	if b.Started() {
		t.Fatal("the cancelled coroutine ran")
	}
	if got := l.slotStarts() - before; got != 1 {
		t.Fatalf("the loop took %d requests from its slots, want 1", got)
	}
}

// TestSlotRefusedAtClose: a request still in its slot when the loop
// closes never runs, and its Wait says so (ErrClosed, ESHUTDOWN).
func TestSlotRefusedAtClose(t *testing.T) {
	skipOneCPU(t)
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	release := blockLoop(t, l)
	b := ctest.NewBox()
	defer b.Free()
	co := spawnSlot(t, l, ctest.SleepForever(), b.Ptr())
	closed := make(chan error, 1)
	go func() { closed <- l.Close(context.Background()) }()
	for !l.stopping() {
		time.Sleep(time.Millisecond) // a condition, polled
	}
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = co.Wait(ctxTimeout(t, 10*time.Second))
	if !errors.Is(err, ErrClosed) || !errors.Is(err, syscall.ESHUTDOWN) {
		t.Fatalf("Wait: %v, want ErrClosed and ESHUTDOWN", err)
	}
	if b.Started() {
		t.Fatal("the refused coroutine ran")
	}
}

// TestSlotNoTakeOverOfUntaken: a Spawn takes over only a slot whose
// request the loop has taken (whose fields it has read): with the loop
// busy, two requests waiting in the two slots keep them, and a third
// Spawn posts instead. All three, cancelled before the loop takes them,
// never run.
func TestSlotNoTakeOverOfUntaken(t *testing.T) {
	skipOneCPU(t)
	l := newLoop(t)
	ctx := ctxTimeout(t, 10*time.Second)
	release := blockLoop(t, l) // its spinner holds a slot, taken
	cos, boxes := spawnSleepers(t, l, 3)
	for i, co := range cos {
		co.mu.Lock()
		req := co.slotReq
		co.mu.Unlock()
		if (req != 0) != (i < 2) {
			t.Fatalf("Spawn %d: slot request %d; want the first two through slots (one taken over from the spinner), the third posted", i, req)
		}
		co.Cancel()
	}
	release()
	for i, co := range cos {
		if res, err := co.Wait(ctx); err != syscall.ECANCELED || res != 0 {
			t.Fatalf("Wait %d: %#x, %v; want 0, ECANCELED", i, res, err)
		}
		if boxes[i].Started() {
			t.Fatalf("coroutine %d ran", i)
		}
	}
}
