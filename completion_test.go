package coro

// Tests of how Go learns of finished coroutines (completion.go), of the
// loop's idle behaviour and of WaitFD's ready fast path.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ccoro/coro/internal/ctest"
)

// TestWaitParked: a coroutine that outlasts Wait's polling is finished by
// the dispatcher, for goroutines parked in Wait and for a select on Done
// alone; many at once, finishing together.
func TestWaitParked(t *testing.T) {
	l := newLoop(t)
	const n = 50
	boxes := make([]ctest.Box, n)
	cos := make([]*Coroutine, n)
	for i := range cos {
		boxes[i] = ctest.NewBox()
		defer boxes[i].Free()
		boxes[i].SetN(30) // ms: far beyond Wait's polling
		co, err := l.Spawn(Entry(ctest.SleepMS()), boxes[i].Ptr())
		if err != nil {
			t.Fatal(err)
		}
		cos[i] = co
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, co := range cos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				select {
				case <-co.Done():
				case <-time.After(20 * time.Second):
					errs <- fmt.Errorf("coroutine %d: Done never closed", i)
					return
				}
			}
			res, err := co.Wait(ctxTimeout(t, 20*time.Second))
			if err != nil || res != boxes[i].Ptr() {
				errs <- fmt.Errorf("coroutine %d: Wait = %#x, %v; want %#x, nil", i, res, err, boxes[i].Ptr())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestUnwaitedCoroutinesReleased: coroutines nobody waits for give their
// slab slots back as later Spawns go on (they take finished keys in
// batches), without a Wait or Close.
func TestUnwaitedCoroutinesReleased(t *testing.T) {
	l := newLoop(t)
	base := coroutines.len()
	for i := 0; i < 1000; i++ {
		if _, err := l.Spawn(Entry(ctest.Nop()), 0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		co, err := l.Spawn(Entry(ctest.Nop()), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		n := coroutines.len() - base
		if n <= 2*spawnTakeAt {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d slab entries still held by finished coroutines", n)
		}
	}
}

// TestCompletionRingOverflow: more completions at once than the queue's
// ring holds, with nobody taking them meanwhile (no Spawn, no polling or
// parked Wait, the dispatcher asleep), go on its stack: every one is taken
// exactly once, each Wait gets its coroutine's outcome, and every record
// is released. A second burst, once the ring was emptied, fits in it
// again (the loop rereads how far the takers got).
func TestCompletionRingOverflow(t *testing.T) {
	l := newLoop(t)
	ctx := ctxTimeout(t, 30*time.Second)
	box := ctest.NewBox() // written by every coroutine, all on l's thread
	records := remoteOutstanding()
	queued := l.queuedLen
	// burst spawns n coroutines that sleep until cancelled, cancels them
	// all, and waits until the loop has queued every completion and
	// reported them (it sleeps only after its reports).
	burst := func(n int) []*Coroutine {
		t.Helper()
		cos := make([]*Coroutine, n)
		for i := range cos {
			co, err := l.Spawn(Entry(ctest.SleepForever()), box.Ptr())
			if err != nil {
				t.Fatal(err)
			}
			cos[i] = co
		}
		if q := queued(); q != 0 {
			t.Fatalf("%d queued before any coroutine finished", q)
		}
		// The dispatcher's first take must not race with the burst.
		waitFor(t, "the dispatcher to sleep", l.dispatcherAsleep)
		for _, co := range cos {
			co.Cancel()
		}
		waitFor(t, "every coroutine to finish", func() bool {
			return int(queued()) == n && l.asleep()
		})
		return cos
	}
	// finish waits for every coroutine of cos and takes their keys.
	finish := func(cos []*Coroutine) {
		t.Helper()
		for i, co := range cos {
			if _, err := co.Wait(ctx); !errors.Is(err, syscall.ECANCELED) {
				t.Fatalf("Wait %d: %v, want ECANCELED", i, err)
			}
		}
		// The Waits finished their coroutines themselves (they polled),
		// and left the records to whoever takes the keys: this take.
		if got := l.take(false); got != len(cos) {
			t.Errorf("took %d keys, want %d", got, len(cos))
		}
		if q := queued(); q != 0 {
			t.Errorf("%d still queued", q)
		}
	}
	overflows := l.ringOverflows()
	n := ringSize + ringSize/4
	finish(burst(n))
	if got := int(l.ringOverflows() - overflows); got != n-ringSize {
		t.Errorf("%d completions went on the stack, want %d", got, n-ringSize)
	}
	overflows = l.ringOverflows()
	finish(burst(ringSize / 2))
	if got := l.ringOverflows() - overflows; got != 0 {
		t.Errorf("%d completions of the second burst went on the stack, want 0", got)
	}
	if got := remoteOutstanding() - records; got != 0 {
		t.Errorf("%d records not released", got)
	}
	box.Free()
}

// loopTID returns the OS thread id of l's thread, asked from a Go
// function that one of its coroutines calls.
func loopTID(t *testing.T, l *Loop) int {
	t.Helper()
	fn := registered(t, func(uintptr) (uintptr, error) { return uintptr(syscall.Gettid()), nil })
	b := ctest.NewBox()
	defer b.Free()
	b.SetFn(uintptr(fn), 0)
	co, err := l.Spawn(Entry(ctest.CallGo()), b.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != nil || b.RC() != 0 {
		t.Fatalf("Wait: %v, rc %d", err, b.RC())
	}
	return int(b.Result())
}

// threadTicks reads the CPU time (user + system, in clock ticks) that
// thread tid of this process has used.
func threadTicks(t *testing.T, tid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		t.Skip("no /proc/self/task:", err)
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (state is field 3, utime 14, stime 15).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad stat line %q", data)
	}
	return utime + stime
}

// TestCoroutineSize: every Spawn allocates a Coroutine, and one that
// outgrows Go's 96-byte size class costs every Spawn + Wait more GC
// cycles and page faults (176 bytes were 0.96x Throughput against 120;
// see the struct's comment): a field added to it belongs behind left, or
// takes one out.
func TestCoroutineSize(t *testing.T) {
	if n := unsafe.Sizeof(Coroutine{}); n > 96 {
		t.Errorf("Coroutine is %d bytes, more than Go's 96-byte size class", n)
	}
}

// TestIdleLoopCPU: a loop that has gone idle after a burst of spawns from
// goroutines (which makes it spin for posts between them) sleeps in the
// kernel: its thread uses under 5% of a CPU over the next two seconds.
func TestIdleLoopCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 2 s")
	}
	l := newLoop(t)
	tid := loopTID(t, l)
	ctx := ctxTimeout(t, 20*time.Second)
	for i := 0; i < 2000; i++ {
		co, err := l.Spawn(Entry(ctest.Nop()), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := co.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// CORO_IDLE_CPU_SECONDS sets a longer period for a measurement (issue
	// 8 asks for 10 s); 2 s keeps the test short.
	period := 2 * time.Second
	if s, err := strconv.Atoi(os.Getenv("CORO_IDLE_CPU_SECONDS")); err == nil && s > 0 {
		period = time.Duration(s) * time.Second
	}
	const hz = 100 // USER_HZ, the unit of /proc's times on Linux
	before := threadTicks(t, tid)
	start := time.Now()
	time.Sleep(period) // a CPU-time measurement needs the period itself
	used := threadTicks(t, tid) - before
	limit := int64(time.Since(start).Seconds() * hz * 0.05)
	t.Logf("idle loop thread: %d ticks (%d Hz) in %v", used, hz, time.Since(start))
	if used > limit {
		t.Errorf("idle loop thread used %d ticks in %v, want <= %d (5%% of a CPU)", used, time.Since(start), limit)
	}
}

// TestWaitFDReadyNoSpawn: WaitFD on an fd that is ready already answers
// from the calling thread, without a coroutine on the loop.
func TestWaitFDReadyNoSpawn(t *testing.T) {
	l := newLoop(t)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	before := l.Stats().Spawned
	ctx := ctxTimeout(t, 10*time.Second)
	ev, err := l.WaitFD(ctx, fds[0], EventRead|EventWrite)
	if err != nil || ev != EventWrite {
		t.Fatalf("WaitFD(read|write) on a writable socket: %v, %v; want write, nil", ev, err)
	}
	if got := l.Stats().Spawned; got != before {
		t.Errorf("Stats.Spawned went from %d to %d: the ready fd took a coroutine", before, got)
	}
	// Not ready: it goes to the loop, and the deadline applies.
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.WaitFD(short, fds[0], EventRead); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("WaitFD(read) on a quiet socket: %v, want a deadline error", err)
	}
	if got := l.Stats().Spawned; got != before+1 {
		t.Errorf("Stats.Spawned = %d after a wait that blocked, want %d", got, before+1)
	}
}

// TestHelperTakesWhatItSilenced: while a Wait polls a loop (a helper),
// the loop skips the dispatcher's wake-up for coroutines that finish, so
// the helper must finish them when it stops polling, or a goroutine
// parked on one would hang. The helper is simulated by the count alone, so
// that it stops exactly after the coroutine finished.
func TestHelperTakesWhatItSilenced(t *testing.T) {
	l := newLoop(t)
	helping := (*int32)(unsafe.Pointer(l.cq.helping))
	b := ctest.NewBox()
	defer b.Free()
	b.SetN(30) // ms: beyond Wait's polling, so the waiter parks
	// A waiter the machine's load delays past the coroutine's end sees
	// it finished before it parks: then try again.
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Skip("the waiter never parked before the coroutine finished")
		}
		atomic.AddInt32(helping, 1)
		co, err := l.Spawn(Entry(ctest.SleepMS()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		go func() {
			_, err := co.Wait(ctxTimeout(t, 20*time.Second))
			res <- err
		}()
		// Finished and queued, with the waiter parked and no wake-up; or
		// the waiter, still polling, finished it itself.
		early := false
		for deadline := time.Now().Add(20 * time.Second); !early && l.queuedLen() == 0; {
			if time.Now().After(deadline) {
				t.Fatal("the coroutine never finished")
			}
			select {
			case err := <-res:
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
				early = true
			default:
				runtime.Gosched()
			}
		}
		if early || !parked(co) {
			l.help(-1, false)
			if !early {
				if err := <-res; err != nil {
					t.Fatalf("Wait: %v", err)
				}
			}
			continue
		}
		l.help(-1, false)
		if err := <-res; err != nil {
			t.Fatalf("Wait: %v", err)
		}
		return
	}
}

// parked reports whether a goroutine has parked on co.
func parked(co *Coroutine) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.parked
}

// TestManyWaitersOneLoop: 64 goroutines doing Spawn + Wait on one loop,
// of coroutines that return at once and of ones that outlast Wait's
// polling, so that polling, helping and parked Waits mix: every Wait
// returns its coroutine's result.
func TestManyWaitersOneLoop(t *testing.T) {
	l := newLoop(t)
	const workers, each = 64, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := ctest.NewBox()
			defer b.Free()
			b.SetN(1) // ms, for SleepMS
			for i := 0; i < each; i++ {
				fn := Entry(ctest.Nop())
				if (w+i)%8 == 0 {
					fn = Entry(ctest.SleepMS())
				}
				co, err := l.Spawn(fn, b.Ptr())
				if err != nil {
					errs <- err
					return
				}
				res, err := co.Wait(ctxTimeout(t, 30*time.Second))
				if err != nil || res != b.Ptr() {
					errs <- fmt.Errorf("worker %d op %d: Wait = %#x, %v; want %#x, nil", w, i, res, err, b.Ptr())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// spawnParked spawns on l a coroutine that sleeps until it is cancelled,
// and a goroutine that waits for it with ctx (parking, once its Wait has
// polled), which sends Wait's error on blocked. The coroutine writes to
// its box as it ends: the box is freed only after it has ended, also when
// the test fails before cancelling it (the loop's Close, a cleanup that
// runs after this one, would end it later).
func spawnParked(t *testing.T, ctx context.Context, l *Loop) (blocker *Coroutine, blocked <-chan error) {
	t.Helper()
	box := ctest.NewBox()
	blocker, err := l.Spawn(Entry(ctest.SleepForever()), box.Ptr())
	if err != nil {
		box.Free()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		blocker.Cancel()
		blocker.Wait(context.Background())
		box.Free()
	})
	errs := make(chan error, 1)
	go func() {
		_, err := blocker.Wait(ctx)
		errs <- err
	}()
	return blocker, errs
}

// TestDeferredWake: a Spawn that finds the loop asleep while a goroutine
// is parked on another of its coroutines defers the wake until it has let
// the other goroutines run (Loop.spawn), and makes it: the coroutine runs
// and its Wait returns, and the other coroutine is still there to cancel.
func TestDeferredWake(t *testing.T) {
	l := newLoop(t)
	ctx := ctxTimeout(t, 30*time.Second)
	blocker, blocked := spawnParked(t, ctx, l)
	// Parked (counted in the loop's parked goroutines), and the loop
	// asleep.
	deadline := time.Now().Add(20 * time.Second)
	for !parked(blocker) || !l.asleep() {
		if time.Now().After(deadline) {
			t.Fatalf("parked %v, loop asleep %v", parked(blocker), l.asleep())
		}
		runtime.Gosched()
	}
	before := l.cq.wakesDeferred.Load()
	co, err := l.Spawn(Entry(ctest.Nop()), 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.cq.wakesDeferred.Load() - before; got != 1 {
		t.Errorf("deferred wakes: %d, want 1", got)
	}
	if res, err := co.Wait(ctx); err != nil || res != 7 {
		t.Fatalf("Wait = %d, %v; want 7, nil", res, err)
	}
	blocker.Cancel()
	if err := <-blocked; !errors.Is(err, syscall.ECANCELED) {
		t.Fatalf("the blocked coroutine's Wait: %v, want ECANCELED", err)
	}
}

// TestUnparkedCompletionsWakeNobody: while a goroutine is parked on one
// of a loop's coroutines, the completions of the others, which nobody is
// parked on, do not wake the dispatcher (the loop read a count of the
// loop's parked goroutines, and each such completion was an eventfd write
// and a netpoller wake-up); the parked one's completion wakes it once.
func TestUnparkedCompletionsWakeNobody(t *testing.T) {
	l := newLoop(t)
	ctx := ctxTimeout(t, 30*time.Second)
	blocker, blocked := spawnParked(t, ctx, l)
	waitFor(t, "the waiter to park and the dispatcher to sleep", func() bool {
		return parked(blocker) && l.dispatcherAsleep()
	})
	queued := l.queuedLen
	before, queued0 := l.dispatcherWakes(), queued()
	// Fewer than make a Spawn take the queued keys itself.
	const n = spawnTakeAt / 2
	var cos []*Coroutine
	for i := 0; i < n; i++ {
		co, err := l.Spawn(Entry(ctest.Nop()), uintptr(i)+1)
		if err != nil {
			t.Fatal(err)
		}
		cos = append(cos, co)
	}
	// All queued, or the dispatcher woken (which takes them).
	waitFor(t, "the coroutines to finish and the loop to sleep", func() bool {
		return (queued()-queued0 == n || l.dispatcherWakes() != before) && l.asleep()
	})
	if got := l.dispatcherWakes() - before; got != 0 {
		t.Errorf("dispatcher woken %d times for coroutines nobody was parked on", got)
	}
	if !parked(blocker) || !l.dispatcherAsleep() {
		t.Fatal("the waiter or the dispatcher was woken")
	}
	blocker.Cancel()
	if err := <-blocked; !errors.Is(err, syscall.ECANCELED) {
		t.Fatalf("the parked Wait: %v, want ECANCELED", err)
	}
	if got := l.dispatcherWakes() - before; got != 1 {
		t.Errorf("dispatcher woken %d times for the parked one, want 1", got)
	}
	for i, co := range cos {
		if res, err := co.Wait(ctx); err != nil || res != uintptr(i)+1 {
			t.Errorf("Wait %d = %d, %v; want %d, nil", i, res, err, i+1)
		}
	}
}

// TestBeatWatch: a polling Wait finds the loop stale (and yields its CPU)
// only once the loop's beat has stood still for longer than yieldAfter,
// however long the poll, and never while the beat moves.
func TestBeatWatch(t *testing.T) {
	// The first look only records the beat: the poll's start counts as
	// its last move.
	var w beatWatch
	step := yieldAfter / 4
	since := step
	if w.stale(5, since) {
		t.Fatalf("stale at the first look, %v into the poll", since)
	}
	if first := (beatWatch{}); !first.stale(5, yieldAfter+step) {
		t.Fatalf("not stale at a first look %v into the poll", yieldAfter+step)
	}
	for i := 0; i < 100; i++ { // a moving beat: never stale
		since += step
		if w.stale(uint32(6+i), since) {
			t.Fatalf("stale at %v although the beat moved", since)
		}
	}
	moved := since
	for since-moved <= yieldAfter { // standing still: not yet
		if w.stale(105, since) {
			t.Fatalf("stale %v after the last move, want > %v", since-moved, yieldAfter)
		}
		since += step
	}
	if !w.stale(105, since) {
		t.Fatalf("not stale %v after the last move", since-moved)
	}
	if w.stale(106, since) { // moving again
		t.Fatal("stale right after the beat moved")
	}
}

// TestWaitBeats: a Spawn + Wait shows the loop that its goroutine runs
// (the loop's waiter beats move), whether the Wait polls or finds the
// coroutine finished at once (csrc/sched.c "Liveness"): the Spawn beats,
// on post_head's line just before its push, or its request through a
// polling slot counts as a beat, unless its Wait will park; and a Wait
// that polls long beats again now and then.
func TestWaitBeats(t *testing.T) {
	if !multiCPU {
		t.Skip("one CPU: Waits park at once, and Spawn does not beat")
	}
	l := newLoop(t)
	ctx := ctxTimeout(t, 30*time.Second)
	wbeat := (*uint32)(unsafe.Pointer(l.cq.waiterBeat))
	beats := func() uint32 { return atomic.LoadUint32(wbeat) + uint32(l.slotStarts()) }
	// A Spawn whose Wait will park (the loop's polling slots are taken)
	// does not beat: a busy loop then yields its CPU after the report,
	// which a waiter queued on that CPU needs.
	l.cq.spinners.Add(maxSpinners)
	before := beats()
	co, err := l.Spawn(Entry(ctest.Nop()), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if after := beats(); after != before {
		t.Fatalf("a Spawn with the polling slots taken beat (%d -> %d)", before, after)
	}
	l.cq.spinners.Add(-maxSpinners)
	for i := 0; i < 20; i++ {
		before := beats()
		co, err := l.Spawn(Entry(ctest.Nop()), 1)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // finished before Wait: its first poll sees it
			for !co.poll() {
				runtime.Gosched()
			}
		}
		if _, err := co.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if beats() == before {
			t.Fatalf("round %d: the waiter beats stood still across Spawn + Wait", i)
		}
	}
}

// TestPolledRecordsReleased: a Wait that sees its coroutine finish leaves
// the engine's record to the taker of the coroutine's key, which releases
// it with others in one call; every record is released by the time the
// loop is closed (the final take), none twice.
func TestPolledRecordsReleased(t *testing.T) {
	before := remoteOutstanding()
	l := newLoop(t)
	var cos []*Coroutine
	kept := 0
	for i := 0; i < 200; i++ {
		co, err := l.Spawn(Entry(ctest.Nop()), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := co.Wait(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		co.mu.Lock()
		if co.kept != nil {
			kept++
		}
		co.mu.Unlock()
		cos = append(cos, co)
	}
	t.Logf("%d of %d records were left to a taker by their Wait", kept, len(cos))
	if err := l.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, co := range cos {
		co.mu.Lock()
		r, finished := co.kept, co.finished
		co.mu.Unlock()
		if r != nil || !finished {
			t.Fatalf("coroutine %d: record %p still kept (finished %v) after Close", co.id, r, finished)
		}
	}
	if n := coroutines.len(); n != 0 {
		t.Fatalf("%d slab entries left after Close", n)
	}
	// Every record back in the cache or freed: none leaked (more in
	// use), none released twice (fewer).
	if after := remoteOutstanding(); after != before {
		t.Fatalf("engine records in use: %d before the loop, %d after its Close", before, after)
	}
}

// TestSpawnWaitBytes: once warm, a Spawn + Wait from one goroutine
// allocates its Coroutine, and a done channel only if the Wait parked:
// none when it sees the coroutine finish as it polls, and never a copy of
// a take's release buffer (an array of pointer type there made cgo's
// pointer check copy all 2 KiB of it into an interface at every take,
// 128 bytes per coroutine).
func TestSpawnWaitBytes(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector makes sync.Pool drop a quarter of what is put back")
	}
	l := newLoop(t)
	ctx := ctxTimeout(t, 60*time.Second)
	round := func(n int) (parked int) {
		for i := 0; i < n; i++ {
			co, err := l.Spawn(Entry(ctest.Nop()), 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := co.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			co.mu.Lock()
			if co.done != nil {
				parked++
			}
			co.mu.Unlock()
		}
		return parked
	}
	round(2000) // the slab, the take buffers and the record cache warm up
	const n = 5000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	parked := round(n)
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / n
	// A Coroutine is 96 bytes (size class 96), a channel 96: 16 bytes
	// of slack per round trip for the take buffers' pool and the like.
	limit := 112 + 112*float64(parked)/n
	t.Logf("%.0f bytes per Spawn + Wait (limit %.0f); %d of %d Waits parked", per, limit, parked, n)
	if per > limit {
		t.Errorf("%.0f bytes per Spawn + Wait, want at most %.0f (%d of %d Waits parked)", per, limit, parked, n)
	}
}

// TestWaitLetsOthersRun: with GOMAXPROCS 1, a goroutine doing Spawn +
// Wait back to back, whose Waits see their coroutines finish as they
// poll and so never block, lets another goroutine of its P run within
// 24 * waitYieldEvery round trips (the yields are drawn at random: no
// yield in that many has a chance of e^-24), fewer than Go's preemption
// (10 ms) lets pass on a quiet machine. Without the yield the other
// goroutine ran only once the goroutine had been preempted (it failed 6
// and 7 runs in 10). The warm-up first lets the loop's start-up, whose first
// round trips park or yield anyway, pass.
func TestWaitLetsOthersRun(t *testing.T) {
	l := newLoop(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := ctxTimeout(t, 30*time.Second)
	roundTrip := func() {
		co, err := l.Spawn(Entry(ctest.Nop()), 7)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := co.Wait(ctx); res != 7 || err != nil {
			t.Fatalf("Wait = %d, %v; want 7, nil", res, err)
		}
	}
	for i := 0; i < 64; i++ {
		roundTrip()
	}
	var ran atomic.Bool
	go func() { ran.Store(true) }() // runnable on this goroutine's P
	const limit = 24 * waitYieldEvery
	n := 0
	for ; n < limit && !ran.Load(); n++ {
		roundTrip()
	}
	if !ran.Load() {
		t.Fatalf("a runnable goroutine did not run during %d Spawn + Wait round trips on its P", n)
	}
}
