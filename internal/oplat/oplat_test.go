package oplat

import (
	"testing"
	"time"
)

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
