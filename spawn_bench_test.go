package coro_test

// Benchmarks of the Go boundary (issue 8 §3): Spawn + Wait from
// goroutines, and WaitFD, each beside the Go peer doing the same
// request/response with Go's own machinery. BenchmarkSpawnFromGo (package
// coro's bindings_test.go) is the round trip to an idle loop.

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
	"github.com/ccoro/coro/internal/oplat"
	"golang.org/x/sys/unix"
)

// BenchmarkSpawnFromGoBusy: one op is Spawn + Wait of a trivial C function
// from a goroutine, on a loop kept busy by four coroutines yielding to one
// another in a loop (two ctest_pingpong pairs).
func BenchmarkSpawnFromGoBusy(b *testing.B) {
	l := ioLoop(b, coro.StackGuarded)
	ctx := context.Background()
	var busy []*coro.Coroutine
	for i := 0; i < 2; i++ {
		box := ctest.NewBox()
		defer box.Free()
		box.SetN(1 << 60)
		co, err := l.Spawn(coro.Entry(ctest.PingPong()), box.Ptr())
		if err != nil {
			b.Fatal(err)
		}
		busy = append(busy, co)
	}
	oplat.Run(b, func() {
		co, err := l.Spawn(coro.Entry(ctest.Nop()), 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := co.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	})
	for _, co := range busy {
		co.Cancel()
		co.Wait(ctx)
	}
}

// BenchmarkSpawnFromGoChan: the peer of SpawnFromGo: one op is a request
// to a goroutine over a channel and its response over another (the
// goroutine parks between requests, as an idle loop sleeps).
func BenchmarkSpawnFromGoChan(b *testing.B) {
	req, resp := chanEcho(b)
	var i uintptr
	oplat.Run(b, func() {
		i++
		req <- i
		<-resp
	})
}

// chanEcho starts the goroutine of the channel peers: it sends back each
// request on resp, until the benchmark ends.
func chanEcho(b *testing.B) (req chan<- uintptr, resp <-chan uintptr) {
	rq, rs := make(chan uintptr), make(chan uintptr)
	go func() {
		for v := range rq {
			rs <- v
		}
	}()
	b.Cleanup(func() { close(rq) })
	return rq, rs
}

// BenchmarkCacheLinePingPong: the floor under every request/response
// between two threads on different CPUs: one op is a round trip of a
// counter between two OS threads that spin on it (each goroutine locked to
// its thread). On the test VM it is 150 ns in one state of the host and
// 600 ns in the other; a Spawn + Wait moves at least four such lines
// (the post, the record, the outcome and the loop's look at the post), so
// its figures are read beside this one.
func BenchmarkCacheLinePingPong(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs")
	}
	var line struct {
		_ [64]byte
		n atomic.Int64
		_ [56]byte
	}
	n := int64(b.N)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		for i := int64(1); i <= n; i++ {
			for line.n.Load() != 2*i-1 {
			}
			line.n.Store(2 * i)
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := int64(1); i <= n; i++ {
		line.n.Store(2*i - 1)
		for line.n.Load() != 2*i {
		}
	}
	b.StopTimer()
	<-done
}

// BenchmarkCPUStalls: the time the machine takes away from a thread that
// never blocks: one op is 10 us of clock reads on a locked thread, and a
// gap of more than 5 us between two reads is a stall (the vCPU or the
// thread was off its CPU). It reports stalls/s and the us of them per
// second. On the test VM, idle otherwise, each vCPU stalls for 20 to 30
// us about once a millisecond (1,300 to 1,600 stalls/s, 3 to 4% of the
// time) with nothing in the guest's scheduler traces; the count also
// takes in the Go runtime's own preemptions and the other threads of a
// busy machine. A round trip between two threads that one of
// them hits takes tens of microseconds, which is where much of the
// Spawn + Wait 99th percentile comes from when the median is below a
// microsecond.
func BenchmarkCPUStalls(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const window = 10 * time.Microsecond
	const gap = 5 * time.Microsecond
	var stalls int
	var lost time.Duration
	b.ResetTimer()
	start := time.Now()
	prev := start
	for i := 0; i < b.N; i++ {
		end := prev.Add(window)
		for {
			t := time.Now()
			if d := t.Sub(prev); d > gap {
				stalls++
				lost += d
			}
			prev = t
			if t.After(end) {
				break
			}
		}
	}
	b.StopTimer()
	if s := time.Since(start).Seconds(); s > 0 {
		b.ReportMetric(float64(stalls)/s, "stalls/s")
		b.ReportMetric(float64(lost.Microseconds())/s, "stall-us/s")
	}
}

// throughputWorkers is how many goroutines spawn and wait at once.
const throughputWorkers = 64

// BenchmarkThroughput: 64 goroutines each doing Spawn + Wait of a trivial
// C function in a loop on one loop; one op is one completed coroutine, and
// coroutines/s is the rate.
func BenchmarkThroughput(b *testing.B) {
	l := ioLoop(b, coro.StackGuarded)
	ctx := context.Background()
	runWorkers(b, func(n int) {
		for i := 0; i < n; i++ {
			co, err := l.Spawn(coro.Entry(ctest.Nop()), 0)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := co.Wait(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkThroughputChan: the peer of Throughput: 64 goroutines each
// sending requests to one server goroutine and waiting for the response
// on a channel of their own.
func BenchmarkThroughputChan(b *testing.B) {
	type request struct {
		v    uintptr
		resp chan uintptr
	}
	req := make(chan request, throughputWorkers)
	go func() {
		for r := range req {
			r.resp <- r.v
		}
	}()
	defer close(req)
	runWorkers(b, func(n int) {
		resp := make(chan uintptr, 1)
		for i := 0; i < n; i++ {
			req <- request{uintptr(i), resp}
			<-resp
		}
	})
}

// runWorkers times b.N ops split among throughputWorkers goroutines and
// reports the rate as coroutines/s. As many ops as it times, up to
// oplat.WarmOps, run untimed first (see oplat).
func runWorkers(b *testing.B, work func(n int)) {
	split(min(b.N, oplat.WarmOps), work)
	b.ResetTimer()
	split(b.N, work)
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "coroutines/s")
	}
}

// split runs total ops split among throughputWorkers goroutines, each
// doing work(its share), and waits for them.
func split(total int, work func(n int)) {
	var wg sync.WaitGroup
	for w := 0; w < throughputWorkers; w++ {
		n := total / throughputWorkers
		if w < total%throughputWorkers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(n)
		}()
	}
	wg.Wait()
}

// BenchmarkWaitFDReadyNetpoll: the peer of WaitFDReady: one op is a
// readiness wait through Go's netpoller on a socket that is already
// writable (SyscallConn's Write callback, which polls only if the first
// attempt reports EAGAIN; here it never does).
func BenchmarkWaitFDReadyNetpoll(b *testing.B) {
	a, _ := ioSocketpair(b)
	fd, err := syscall.Dup(a)
	if err != nil {
		b.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	poll := func(fd uintptr) bool { return pollNow(int(fd), pollOut) }
	oplat.Run(b, func() {
		if err := rc.Write(poll); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkWaitFDReadyPipe: the other peer of WaitFDReady: one op is a
// one-byte write and then read of a pipe through os.File (Go's
// netpoller): the read finds the byte ready. Two syscalls per op.
func BenchmarkWaitFDReadyPipe(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	buf := make([]byte, 1)
	oplat.Run(b, func() {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Read(buf); err != nil {
			b.Fatal(err)
		}
	})
}

const pollOut = unix.POLLOUT

// pollNow polls fd once without waiting: whether one of events is ready.
// (unix.Poll: there is no poll(2) system call on arm64, only ppoll.)
func pollNow(fd int, events int16) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := unix.Poll(fds, 0)
	return err != nil || n == 1
}

// BenchmarkSleeperBesideSpawnWait: what a goroutine doing Spawn + Wait
// back to back costs the other goroutines of its P: with GOMAXPROCS 1,
// one op is a round trip, while another goroutine sleeps 100 us at a
// time; worst-sleep-us is the longest of those sleeps. Its peer,
// SleeperBesideChan, does channel round trips with a server goroutine.
func BenchmarkSleeperBesideSpawnWait(b *testing.B) {
	l := ioLoop(b, coro.StackGuarded)
	ctx := context.Background()
	benchSleeper(b, func() {
		co, err := l.Spawn(coro.Entry(ctest.Nop()), 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := co.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSleeperBesideChan: the peer of SleeperBesideSpawnWait, with
// SpawnFromGoChan's round trip.
func BenchmarkSleeperBesideChan(b *testing.B) {
	req, resp := chanEcho(b)
	benchSleeper(b, func() {
		req <- 0
		<-resp
	})
}

// benchSleeper runs op b.N times with GOMAXPROCS 1 beside a goroutine
// that sleeps 100 us at a time, and reports its longest sleep. (The name
// still carries the GOMAXPROCS the benchmark started with, as -2.)
func benchSleeper(b *testing.B, op func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := make(chan struct{})
	worst := make(chan time.Duration, 1)
	stopped := false
	defer func() { // a b.Fatal in op: the sleeper must not outlive it
		if !stopped {
			close(stop)
		}
	}()
	go func() {
		var w time.Duration
		for {
			select {
			case <-stop:
				worst <- w
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(100 * time.Microsecond)
			if d := time.Since(t0); d > w {
				w = d
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op()
	}
	b.StopTimer()
	close(stop)
	stopped = true
	b.ReportMetric(float64(<-worst)/1e3, "worst-sleep-us")
}
