package oplat

import (
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// minorFaults is the calling thread's count of minor page faults so far:
// the process's would count the runtime's other threads too (the GC,
// and under -race its shadow memory: 290 and 1,045 faults in two runs of
// 5 with both CPUs busy).
func minorFaults(t *testing.T) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// TestRecordPrefaulted: recording a million ops faults no page in: the
// record was written before the first op (8 MiB, 2,048 pages, which
// faulted in as the ops filled them before).
func TestRecordPrefaulted(t *testing.T) {
	const n = 1 << 20
	// One thread for the whole count: its faults are the records'.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o := newOps(n)
	o.zero = time.Now()
	before := minorFaults(t)
	for i := 0; i < n; i++ {
		o.Done()
	}
	// The runtime may still fault a few pages on this thread (a stack
	// growth, a GC assist); the record alone would be 2,048.
	if d := minorFaults(t) - before; d > 256 {
		t.Errorf("%d minor page faults while recording %d ops, want at most 256", d, n)
	}
	if len(o.t) != n {
		t.Errorf("recorded %d ops, want %d", len(o.t), n)
	}
}

func TestPercentile(t *testing.T) {
	d := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n)
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{d(7), 50, 7},
		{d(7), 99, 7},
		{d(1, 2), 50, 1},
		{d(1, 2, 3), 50, 2},
		{d(1, 2, 3, 4), 50, 2},
		{d(1, 2, 3, 4), 99, 4},
		{d(1, 2, 3, 4), 0, 1},
		{d(1, 2, 3, 4), 100, 4},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %d) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
	// 100 values 1..100: the p-th percentile is p.
	var h []time.Duration
	for i := 1; i <= 100; i++ {
		h = append(h, time.Duration(i))
	}
	for _, p := range []int{1, 50, 99, 100} {
		if got := Percentile(h, p); got != time.Duration(p) {
			t.Errorf("Percentile(1..100, %d) = %v", p, got)
		}
	}
}

// BenchmarkRecord checks Ops end to end: one record per op, reported.
func BenchmarkRecord(b *testing.B) {
	o := Start(b)
	for i := 0; i < b.N; i++ {
		o.Done()
	}
	if len(o.t) != b.N {
		b.Fatalf("%d ops recorded, want %d", len(o.t), b.N)
	}
	o.Report()
}

// TestRunWarms: Run calls op as many times untimed as it times, up to
// WarmOps, and then b.N times. A fixed count above WarmOps (rather than
// the default second, which a trivial op fills with tens of millions of
// recorded ops) gives a run of 1 op and one over the cap.
func TestRunWarms(t *testing.T) {
	f := flag.Lookup("test.benchtime")
	old := f.Value.String()
	if err := f.Value.Set(fmt.Sprintf("%dx", WarmOps+WarmOps/2)); err != nil {
		t.Fatal(err)
	}
	defer f.Value.Set(old)
	type call struct{ n, ops int }
	var calls []call
	testing.Benchmark(func(b *testing.B) {
		ops := 0
		Run(b, func() { ops++ })
		calls = append(calls, call{b.N, ops})
	})
	if len(calls) == 0 || calls[len(calls)-1].n <= WarmOps {
		t.Fatalf("benchmark runs %v: none over WarmOps (%d)", calls, WarmOps)
	}
	for _, c := range calls {
		if want := c.n + min(c.n, WarmOps); c.ops != want {
			t.Errorf("b.N %d: %d calls of op, want %d", c.n, c.ops, want)
		}
	}
}
