// Package oplat gives a benchmark of round trips the distribution of its
// ops' latencies, beside the mean that ns/op is.
//
// ns/op is the total time over b.N: a mean, which a few ops that waited
// for a descheduled thread (milliseconds on a loaded 2-CPU machine) can
// move by more than the common case changes. A latency target is about
// the common case and the tail, as wrk and redis-benchmark report them:
// Record takes the time once per op, and Report adds the median and the
// 99th percentile as the metrics p50-ns and p99-ns.
//
// The clock read costs one vDSO call per op (about 25 ns on the test VM),
// which both a benchmark and its peer pay when both record.
//
// Run first runs untimed ops, as many as it will time up to WarmOps (a
// benchmark that times its ops its own way does the same with WarmOps): a
// benchmark run with a fixed count (-benchtime 200000x) has no
// calibration runs before it, and without them its timed ops paid for
// the process's start (the Go heap growing to its steady size faulted
// about 1,300 fresh pages into a run of 200,000 Spawn + Waits in
// Throughput, about 14 us each on the test VM).
package oplat

import (
	"slices"
	"testing"
	"time"
)

// Ops records the latency of each op of one benchmark run.
type Ops struct {
	b    *testing.B
	t    []time.Duration // each op's end, since start
	last time.Duration
	zero time.Time
}

// WarmOps is the most untimed ops Run runs first: enough for a few GC
// cycles of a benchmark that allocates a Coroutine per op.
const WarmOps = 100_000

// Run calls op as many times as b will time (b.N, up to WarmOps) before
// the timer starts, then times b.N calls of it and reports their
// latencies (Start, Done, Report).
func Run(b *testing.B, op func()) {
	for i := 0; i < min(b.N, WarmOps); i++ {
		op()
	}
	o := Start(b)
	for i := 0; i < b.N; i++ {
		op()
		o.Done()
	}
	o.Report()
}

// Start resets b's timer and starts recording b.N ops.
func Start(b *testing.B) *Ops {
	o := newOps(b.N)
	o.b = b
	b.ResetTimer()
	o.zero = time.Now()
	return o
}

// newOps makes the record for n ops and writes all of it once, before
// any op is timed: a large slice fresh from make lies on pages the
// kernel maps only at their first write, and each such write in the
// timed loop was a page fault (about 14 us on the test VM) every 512
// ops, in both a benchmark and its peer: 27 ns of SpawnFromGo's mean,
// and 0.3% of its ops counted as 10 us or longer.
func newOps(n int) *Ops {
	t := make([]time.Duration, n)
	for i := range t {
		t[i] = -1 // any store faults the page in (zeros too: a memclr)
	}
	return &Ops{t: t[:0]}
}

// Done marks the end of an op (and the start of the next one).
func (o *Ops) Done() {
	now := time.Since(o.zero)
	o.t = append(o.t, now-o.last)
	o.last = now
}

// Report stops b's timer and reports the median and the 99th percentile
// of the recorded ops (nothing if none were).
func (o *Ops) Report() {
	o.b.StopTimer()
	if len(o.t) == 0 {
		return
	}
	slices.Sort(o.t)
	o.b.ReportMetric(float64(Percentile(o.t, 50).Nanoseconds()), "p50-ns")
	o.b.ReportMetric(float64(Percentile(o.t, 99).Nanoseconds()), "p99-ns")
}

// Percentile returns the p-th percentile (0 to 100, nearest rank) of
// sorted, which must not be empty.
func Percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // the nearest rank, 1-based
	if i < 1 {
		i = 1
	}
	if i > len(sorted) {
		i = len(sorted)
	}
	return sorted[i-1]
}
