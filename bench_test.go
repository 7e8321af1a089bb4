package coro_test

// Benchmarks of the C engine against Go's own primitives. The C loops live
// in internal/cbench: each Run call takes b.N down into C, so no figure here
// includes the cost of a cgo call. scripts/bench.sh runs these together with
// the C/C++ peers in bench/peers and prints medians and ratios.
//
// Units: every switch benchmark also reports ns/switch, the cost of one
// one-way switch, so that rows whose "op" differ (an iter.Pull next() is two
// switches) compare directly.

import (
	"iter"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/cbench"
)

// reportPerSwitch reports ns per one-way switch, given switches per op.
func reportPerSwitch(b *testing.B, perOp float64) {
	if b.N > 0 && b.Elapsed() > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/perOp, "ns/switch")
	}
}

// cLoop is one of package cbench's C benchmark loops: Run makes n ops in
// one cgo call, Close frees the loop.
type cLoop interface {
	Run(n int) error
	Close() error
}

// runC times b.N ops of the loop l that a constructor returned with err
// (its set-up is not timed), reports ns per one-way switch when perSwitch
// is positive, and closes the loop.
func runC(b *testing.B, l cLoop, err error, perSwitch float64) {
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := l.Run(b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if perSwitch > 0 {
		reportPerSwitch(b, perSwitch)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSwitch: one op is one one-way symmetric switch between two
// created coroutines (coro_transfer), each switching from an ordinary
// non-inlined function that returns.
func BenchmarkSwitch(b *testing.B) {
	r, err := cbench.NewSwitch()
	runC(b, r, err, 1)
}

// BenchmarkSwitchGoChan: one op is one one-way handoff between two
// goroutines over unbuffered channels.
func BenchmarkSwitchGoChan(b *testing.B) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	b.ResetTimer()
	// Each round trip is two handoffs; an odd b.N ends with one more send.
	for i := 0; i+1 < b.N; i += 2 {
		ping <- i
		<-pong
	}
	if b.N%2 == 1 {
		ping <- 0
	}
	b.StopTimer()
	close(ping)
	for range pong {
	}
	reportPerSwitch(b, 1)
}

// BenchmarkSwitchIterPull: one op is one next() of an iter.Pull iterator,
// which is two one-way switches (to the iterator and back); ns/switch
// reports half of ns/op.
func BenchmarkSwitchIterPull(b *testing.B) {
	seq := func(yield func(int) bool) {
		for i := 0; yield(i); i++ {
		}
	}
	next, stop := iter.Pull(iter.Seq[int](seq))
	defer stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := next(); !ok {
			b.Fatal("iterator ended")
		}
	}
	b.StopTimer()
	reportPerSwitch(b, 2)
}

// BenchmarkYield: one op is one coro_yield from one spawned coroutine to
// another through the scheduler.
func BenchmarkYield(b *testing.B) {
	y, err := cbench.NewYield()
	runC(b, y, err, 1)
}

// BenchmarkYieldWatched: BenchmarkYield with the slow-coroutine watchdog
// watching the loop (threshold 200 ms: a tick every 50 ms); its peer in
// the same run is BenchmarkYield (watchdog off). The switch path does not
// change with the watchdog: only its thread's ticks could cost.
func BenchmarkYieldWatched(b *testing.B) {
	y, err := cbench.NewYield()
	if err == nil {
		err = y.SetSlow(int64(200 * time.Millisecond))
	}
	runC(b, y, err, 1)
}

// BenchmarkSpawn: one op is coro_spawn of a trivial coroutine, running it to
// completion and coro_join, from a driver coroutine, with a warm stack
// cache; one sub-benchmark per stack mode.
func BenchmarkSpawn(b *testing.B) {
	for _, m := range []struct {
		name string
		mode cbench.StackMode
	}{{"guarded", cbench.Guarded}, {"shared", cbench.Shared}} {
		b.Run(m.name, func(b *testing.B) {
			s, err := cbench.NewSpawn(m.mode)
			runC(b, s, err, 0)
		})
	}
}

// BenchmarkSpawnGo: one op is `go f()` plus a sync.WaitGroup wait for it.
func BenchmarkSpawnGo(b *testing.B) {
	var wg sync.WaitGroup
	f := func() { wg.Done() }
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		go f()
		wg.Wait()
	}
}

// BenchmarkTimer: one op is a semaphore wait with a deadline that a partner
// coroutine satisfies first (the deadline enters the loop's timer heap and
// leaves it: one timer add and cancel) while `pending` other timers wait in
// the heap; "none" is the same op without a deadline (the two switches
// alone). The target: add+cancel with 100,000 pending costs <= 2x
// the same with 1,000 pending.
func BenchmarkTimer(b *testing.B) {
	for _, tc := range []struct {
		name     string
		pending  int
		deadline bool
	}{
		{"none", 1000, false},
		{"pending=1000", 1000, true},
		{"pending=100000", 100000, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			t, err := cbench.NewTimer(tc.pending, tc.deadline)
			runC(b, t, err, 0)
		})
	}
}

// BenchmarkDNSCacheHit: one op is one hit of the resolver's cache
// (coro__dns_cache_get) holding 10,000 names, asked in turn: the part of a
// warm lookup the cache owns. The target for the whole warm lookup
// is 10 million a second on one loop (100 ns). It also reports the
// thread's CPU time per op (cpu-ns/op), which a loaded machine inflates
// less than the wall clock.
func BenchmarkDNSCacheHit(b *testing.B) {
	d, err := cbench.NewDNSCache(10000)
	if err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	c0 := threadCPU(b)
	if err := d.Run(b.N); err != nil {
		b.Fatal(err)
	}
	cpu := threadCPU(b) - c0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
}

// threadCPU returns the calling thread's user + system time.
func threadCPU(b *testing.B) time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD (Linux), absent from package syscall
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const ringSize = 1000

func benchRing(b *testing.B, sched bool) {
	r, err := cbench.NewRing(ringSize, sched)
	runC(b, r, err, 1)
}

// BenchmarkRing1000: one op is one hop of a token around a ring of 1000
// created coroutines, by direct coro_transfer.
func BenchmarkRing1000(b *testing.B) { benchRing(b, false) }

// BenchmarkRing1000Sched: one op is one hop around a ring of 1000 spawned
// coroutines through the scheduler: each releases the next one's coro_sem
// and parks on its own.
func BenchmarkRing1000Sched(b *testing.B) { benchRing(b, true) }

// BenchmarkRing1000GoChan: one op is one hop around a ring of 1000
// goroutines connected by unbuffered channels.
func BenchmarkRing1000GoChan(b *testing.B) {
	chans := make([]chan int, ringSize)
	for i := range chans {
		chans[i] = make(chan int)
	}
	done := make(chan struct{})
	for i := range chans {
		in, out := chans[i], chans[(i+1)%ringSize]
		go func() {
			for t := range in {
				if t == 0 {
					done <- struct{}{}
					continue
				}
				out <- t - 1
			}
		}()
	}
	// One warm-up lap, so that every goroutine is parked on its channel.
	chans[0] <- ringSize
	<-done
	b.ResetTimer()
	chans[0] <- b.N
	<-done
	b.StopTimer()
	for _, c := range chans {
		close(c)
	}
	reportPerSwitch(b, 1)
}

// BenchmarkIdle reports the memory an idle coroutine costs (B/coroutine,
// from process RSS growth), with each coroutine parked on a semaphore from a
// frame holding a 200-byte buffer: "guarded" parks 100,000 or as many as the
// mapping limit (vm.max_map_count) allows, "shared" parks 1,000,000 in
// SHARED mode. One op is one whole measurement (spawn all, park, measure,
// cancel and free): run it with -benchtime 1x for one measurement per count.
func BenchmarkIdle(b *testing.B) {
	for _, m := range []struct {
		name string
		mode cbench.StackMode
		want int
	}{{"guarded", cbench.Guarded, 100_000}, {"shared", cbench.Shared, 1_000_000}} {
		b.Run(m.name, func(b *testing.B) {
			var count, rss, pte, saved, park float64
			for i := 0; i < b.N; i++ {
				r, err := cbench.Idle(m.mode, m.want)
				if err != nil {
					b.Fatal(err)
				}
				if r.SpawnErr != nil {
					b.Logf("spawning stopped at %d: %v", r.Count, r.SpawnErr)
				}
				if r.Count == 0 {
					b.Fatal("no coroutine could be spawned")
				}
				count += float64(r.Count)
				rss += float64(r.RSSBytes) / float64(r.Count)
				pte += float64(r.PTEBytes) / float64(r.Count)
				saved += float64(r.SavedBytes) / float64(r.Count)
				park += float64(r.Park.Nanoseconds()) / float64(r.Count)
				if i == 0 {
					b.Logf("%d coroutines: RSS +%.1f MiB, page tables +%.1f MiB, parked in %v, measured in %v",
						r.Count, float64(r.RSSBytes)/(1<<20), float64(r.PTEBytes)/(1<<20), r.Park, r.Total)
				}
			}
			n := float64(b.N)
			b.ReportMetric(count/n, "coroutines")
			b.ReportMetric(rss/n, "B/coroutine")
			b.ReportMetric(rss/n*count/n/(1<<20), "MiB")
			b.ReportMetric(pte/n, "PTE-B/coroutine")
			if m.mode == cbench.Shared {
				b.ReportMetric(saved/n, "saved-B/coroutine")
			}
			b.ReportMetric(park/n, "ns/park")
		})
	}
}

// BenchmarkIdleGoroutine: the Go peer of BenchmarkIdle: 100,000 goroutines
// parked on a channel from a frame holding a 200-byte buffer.
func BenchmarkIdleGoroutine(b *testing.B) {
	const count = 100_000
	var rss, park float64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		debug.FreeOSMemory()
		rss0 := processRSS(b)
		t0 := time.Now()
		gate := make(chan struct{})
		var parked, finished sync.WaitGroup
		parked.Add(count)
		finished.Add(count)
		for j := 0; j < count; j++ {
			go idleGoroutine(gate, &parked, &finished)
		}
		parked.Wait()
		// Done runs just before the receive: let the last ones reach it.
		runtime.Gosched()
		d := time.Since(t0)
		rss += float64(processRSS(b)-rss0) / count
		park += float64(d.Nanoseconds()) / count
		close(gate)
		finished.Wait()
	}
	b.ReportMetric(count, "coroutines")
	b.ReportMetric(rss/float64(b.N), "B/coroutine")
	b.ReportMetric(rss/float64(b.N)*count/(1<<20), "MiB")
	b.ReportMetric(park/float64(b.N), "ns/park")
}

//go:noinline
func idleGoroutine(gate chan struct{}, parked, finished *sync.WaitGroup) {
	var buf [200]byte
	for i := range buf {
		buf[i] = byte(i)
	}
	parked.Done()
	<-gate
	if buf[len(buf)-1] != byte(len(buf)-1) {
		panic("idle frame clobbered")
	}
	finished.Done()
}

// processRSS reads the process's resident set size from /proc/self/statm.
func processRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm:", err)
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		b.Fatalf("bad statm %q", data)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}
