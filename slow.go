package coro

// This file's preamble is copied into _cgo_export.h (it holds an //export
// function), so it may only declare, never define (report.c does).

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <stdint.h>
#include "coro.h"

void coro__go_report_opts(coro_loop_opts *o, uint64_t id);
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// DefaultSlowThreshold is a loop's slow-coroutine threshold unless
// WithSlowThreshold says otherwise (as Shrapnel's).
const DefaultSlowThreshold = 200 * time.Millisecond

// A SlowReport tells of a coroutine that ran longer than its loop's
// threshold without switching (see WithSlowThreshold). Each such run is
// reported twice: while it still runs (Done false, Run so far, Frames
// where it was running then), and once it has switched (Done true, Run its
// total).
type SlowReport struct {
	ID        uint64        // the coroutine's id (0 if unknown)
	Name      string        // its name (truncated to 63 bytes)
	Loop      string        // its loop's name
	Run       time.Duration // CPU time run without switching, to the watchdog's tick
	Threshold time.Duration // the threshold it crossed
	Done      bool          // the run has ended
	Frames    []Frame       // where it ran (Done false; empty when sampling is off)
}

// String formats the report as the engine does on stderr: one line, then
// one line per frame.
func (r SlowReport) String() string {
	var b strings.Builder
	if r.Done {
		fmt.Fprintf(&b, "coro: coroutine %d %q (loop %q) switched after running %v without switching (threshold %v)\n",
			r.ID, r.Name, r.Loop, r.Run, r.Threshold)
		return b.String()
	}
	fmt.Fprintf(&b, "coro: coroutine %d %q (loop %q) has run %v without switching (threshold %v)\n",
		r.ID, r.Name, r.Loop, r.Run, r.Threshold)
	for i, f := range r.Frames {
		fmt.Fprintf(&b, "#%d %#016x %v\n", i, f.PC, f)
	}
	return b.String()
}

// WithSlowThreshold sets the loop's slow-coroutine threshold: a coroutine
// that runs longer than d of CPU time without switching is reported (see
// SlowReport and WithSlowHandler). 0 turns the watchdog off; the default
// is DefaultSlowThreshold. The switch path pays nothing for it; a
// watchdog thread (one per process) looks at the loop every d/4 (within 1
// to 50 ms), and samples a slow coroutine's backtrace with a signal
// (SIGRTMIN+5, SA_RESTART) to the loop thread, which C code making system
// calls without restart semantics may see as EINTR; the environment
// variable CORO_SLOW_NOSIGNAL=1 turns the signal off (reports then have no
// frames).
func WithSlowThreshold(d time.Duration) Option {
	return func(c *loopConfig) {
		if d < 0 {
			c.invalidOpts = true
		}
		c.slow = d
		c.slowSet = true
	}
}

// WithSlowHandler sets the function that receives the loop's slow
// reports instead of stderr. It runs on the watchdog's thread, holding up
// the watchdog of every loop while it runs: it should return quickly, and
// must not Close the loop.
func WithSlowHandler(h func(SlowReport)) Option {
	return func(c *loopConfig) { c.onSlow = h }
}

// SetSlowThreshold changes the loop's slow-coroutine threshold (0: off);
// see WithSlowThreshold. Errors: syscall.EINVAL for a negative d,
// ErrClosed once the loop is closing.
func (l *Loop) SetSlowThreshold(d time.Duration) error {
	if !l.valid() {
		return ErrNotLoop
	}
	if d < 0 {
		return syscall.EINVAL
	}
	rc := -C.int(syscall.ESHUTDOWN)
	l.inflight.Add(1)
	if !l.freeing.Load() {
		rc = C.coro_loop_set_slow(l.c, C.int64_t(d))
	}
	l.inflight.Add(-1)
	if rc == -C.int(syscall.ESHUTDOWN) {
		return ErrClosed
	}
	if rc < 0 {
		return errnoErr(rc)
	}
	return nil
}

// SlowThreshold returns the loop's slow-coroutine threshold (0: off).
func (l *Loop) SlowThreshold() time.Duration {
	return l.readNS(func(c *C.coro_loop) C.int64_t { return C.coro_loop_get_slow(c) })
}

// LongestRun returns the longest run without a switch the watchdog has
// seen on the loop (CPU time, to its tick; only while a threshold is set).
func (l *Loop) LongestRun() time.Duration {
	return l.readNS(func(c *C.coro_loop) C.int64_t { return C.coro_loop_longest_run(c) })
}

// readNS calls get on the C loop unless it is being freed (then 0).
func (l *Loop) readNS(get func(*C.coro_loop) C.int64_t) time.Duration {
	if !l.valid() {
		return 0
	}
	var d time.Duration
	l.inflight.Add(1)
	if !l.freeing.Load() {
		d = time.Duration(get(l.c))
	}
	l.inflight.Add(-1)
	return d
}

// reportLoops maps a loop's id to its *Loop from before its C loop exists
// until after it is freed: the engine's reports name the loop by id.
var reportLoops sync.Map

// setReportOpts fills the threshold and the report function of copts.
func (l *Loop) setReportOpts(copts *C.coro_loop_opts, cfg *loopConfig) {
	slow := DefaultSlowThreshold
	if cfg.slowSet {
		slow = cfg.slow
	}
	copts.slow_ns = C.int64_t(slow)
	l.onSlow = cfg.onSlow
	C.coro__go_report_opts(copts, C.uint64_t(l.id))
	reportLoops.Store(l.id, l)
}

func reportFrames(r *C.coro_report) []Frame {
	n := int(r.nframes)
	if n > len(r.frames) {
		n = len(r.frames)
	}
	frames := make([]Frame, n)
	for i := range frames {
		frames[i] = symbolize(uintptr(unsafe.Pointer(r.frames[i])))
	}
	return frames
}

// coroGoReport receives the engine's reports for the loop with this id:
// slow runs on the watchdog thread, abandoned coroutines on the loop
// thread's own stack inside coro_loop_close (collected for Close's error).
//
//export coroGoReport
func coroGoReport(r *C.coro_report, id C.uint64_t) {
	v, ok := reportLoops.Load(uint64(id))
	if !ok {
		return
	}
	l := v.(*Loop)
	name := C.GoString(&r.name[0])
	switch r.kind {
	case C.CORO_REPORT_ABANDONED:
		var b strings.Builder
		fmt.Fprintf(&b, "coroutine %d %q suspended at:", uint64(r.id), name)
		for i, f := range reportFrames(r) {
			fmt.Fprintf(&b, "\n\t#%d %v", i, f)
		}
		l.abandonedTraces = append(l.abandonedTraces, b.String())
	case C.CORO_REPORT_SLOW, C.CORO_REPORT_SLOW_END:
		rep := SlowReport{
			ID:        uint64(r.id),
			Name:      name,
			Loop:      l.name,
			Run:       time.Duration(r.run_ns),
			Threshold: time.Duration(r.threshold_ns),
			Done:      r.kind == C.CORO_REPORT_SLOW_END,
		}
		if !rep.Done {
			rep.Frames = reportFrames(r)
		}
		if l.onSlow != nil {
			l.onSlow(rep)
			return
		}
		os.Stderr.WriteString(rep.String())
	}
}
