// Package started checks that a loop has started a coroutine: Spawn
// returns once the spawn is queued for the loop, before the loop starts
// the coroutine, and a start that fails there (no memory for its stack,
// say) shows only in Wait. A server whose accept coroutine never started
// keeps its listener open with no one accepting, so the connections the
// kernel hands to it hang; the servers (internal/httpd, internal/netdemo)
// check each with Check before Start returns.
package started

// void *started_probe(void *arg) { return arg; }
import "C"

import (
	"context"
	"errors"
	"unsafe"

	"github.com/ccoro/coro"
)

// Check returns the error with which l failed to start co, or nil once l
// has started it (it may have finished since). It spawns a probe on l
// and waits for it: a loop starts spawns in the order they were made, so
// once the probe has finished, the loop has tried to start co.
func Check(l *coro.Loop, co *coro.Coroutine) error {
	probe, err := l.Spawn(coro.Entry(uintptr(unsafe.Pointer(C.started_probe))), 0,
		coro.WithCoroutineName("start-probe"))
	if err == nil {
		_, err = probe.Wait(context.Background())
	}
	if err != nil {
		return err
	}
	// A context already done: Wait returns at once, with co's outcome if
	// co has finished (a start that failed is a finish).
	now, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := co.Wait(now); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
