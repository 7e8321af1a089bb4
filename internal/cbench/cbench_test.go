package cbench

import "testing"

// TestLoops runs every loop briefly, so that a broken loop fails here rather
// than as a bogus benchmark figure.
func TestLoops(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		sched bool
	}{{"switch", 2, false}, {"ring", 1000, false}, {"ringsched", 1000, true}} {
		r, err := NewRing(tc.size, tc.sched)
		if err != nil {
			t.Fatalf("%s: new: %v", tc.name, err)
		}
		for _, n := range []int{1, 7, 2500} {
			if err := r.Run(n); err != nil {
				t.Fatalf("%s: run %d: %v", tc.name, n, err)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatalf("%s: close: %v", tc.name, err)
		}
	}
	y, err := NewYield()
	if err != nil {
		t.Fatal(err)
	}
	if err := y.Run(1001); err != nil {
		t.Fatal(err)
	}
	if err := y.Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []StackMode{Guarded, Shared} {
		s, err := NewSpawn(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(1000); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdle parks a few coroutines in each mode.
func TestIdle(t *testing.T) {
	for _, m := range []StackMode{Guarded, Shared} {
		r, err := Idle(m, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 1000 || r.SpawnErr != nil {
			t.Fatalf("mode %d: %+v", m, r)
		}
		t.Logf("mode %d: %d B/coroutine", m, r.RSSBytes/int64(r.Count))
	}
}

// TestTimer runs the timer loop with and without a deadline; Run itself
// checks that exactly the sleepers' timers remain pending.
func TestTimer(t *testing.T) {
	for _, tc := range []struct {
		pending  int
		deadline bool
	}{{0, true}, {0, false}, {1000, true}, {100000, true}} {
		tm, err := NewTimer(tc.pending, tc.deadline)
		if err != nil {
			t.Fatalf("%+v: new: %v", tc, err)
		}
		for _, n := range []int{1, 1000} {
			if err := tm.Run(n); err != nil {
				t.Fatalf("%+v: run %d: %v", tc, n, err)
			}
		}
		if err := tm.Close(); err != nil {
			t.Fatalf("%+v: close: %v", tc, err)
		}
	}
	if _, err := NewTimer(-1, true); err == nil {
		t.Fatal("NewTimer(-1): no error")
	}
}

// TestDNSCache fills the cache and hits every name, wrapping around.
func TestDNSCache(t *testing.T) {
	d, err := NewDNSCache(1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(2500); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDNSCache(0); err == nil {
		t.Fatal("NewDNSCache(0) succeeded")
	}
}
