package hookdemo

import (
	"context"
	"testing"
	"time"
)

// TestRun: with the hooks, every client is in its blocking calls at once
// (the server answers none until all 200 are in); without, one at a
// time (counts, not times).
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	on, err := run(ctx, 200, 0, true, 200)
	if err != nil {
		t.Fatal(err)
	}
	if on.OK != 200 || on.MaxInFlight != 200 {
		t.Fatalf("hooks on: %v", on)
	}
	off, err := Run(ctx, 10, time.Millisecond, false)
	if err != nil {
		t.Fatal(err)
	}
	if off.OK != 10 || off.MaxInFlight != 1 {
		t.Fatalf("hooks off: %v", off)
	}
	t.Log(on)
	t.Log(off)
}
