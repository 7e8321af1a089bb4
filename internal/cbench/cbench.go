// Package cbench runs coro's C benchmark loops for the benchmarks in the
// repository's bench_test.go.
//
// Every benchmark here is a state object with a constructor (setup, not
// timed), a Run method and a Close method. Run takes the iteration count
// (b.N) and runs the whole loop in C in one cgo call, so cgo's own cost
// (tens of nanoseconds a call) never shows in a per-operation figure.
//
// A coro loop belongs to one OS thread, so each constructor locks the calling
// goroutine to its thread (runtime.LockOSThread) and Close unlocks it: make
// every call of one object from the goroutine that created it.
package cbench

/*
#cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc
#include "cbench.h"
#include "coro.h"
*/
import "C"

import (
	"runtime"
	"syscall"
	"time"

	// The engine's C objects, which the C loops here call.
	_ "github.com/ccoro/coro/csrc"
)

// StackMode selects a loop's stack mode (enum coro_stack_mode).
type StackMode int

// The stack modes of coro.h.
const (
	Guarded StackMode = C.CORO_STACK_GUARDED
	Shared  StackMode = C.CORO_STACK_SHARED
)

func errno(rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return syscall.Errno(-rc)
}

// Ring is a ring of coroutines passing a token around; see NewRing.
type Ring struct {
	p *C.cb_ring
}

// NewRing makes a ring of size coroutines on a new loop bound to the calling
// thread. With sched false they are created coroutines that hand the token
// on by direct coro_transfer; with sched true they are spawned coroutines
// that each park on their own coro_sem and wake the next through the
// scheduler.
func NewRing(size int, sched bool) (*Ring, error) {
	runtime.LockOSThread()
	s := C.int(0)
	if sched {
		s = 1
	}
	r := &Ring{}
	if err := errno(C.cb_ring_new(&r.p, C.long(size), s)); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return r, nil
}

// NewSwitch makes the symmetric switch benchmark: two created coroutines
// that coro_transfer to each other, each from an ordinary non-inlined
// function that returns. It is a direct ring of two.
func NewSwitch() (*Ring, error) { return NewRing(2, false) }

// Run moves the token hops times; one hop is one one-way switch.
func (r *Ring) Run(hops int) error {
	return errno(C.cb_ring_run(r.p, C.long(hops)))
}

// Close frees the coroutines and the loop and unlocks the thread.
func (r *Ring) Close() error {
	err := errno(C.cb_ring_free(r.p))
	r.p = nil
	runtime.UnlockOSThread()
	return err
}

// Yield is two spawned coroutines that call coro_yield in turn.
type Yield struct {
	p *C.cb_yield
}

// NewYield makes the yield benchmark on a new loop bound to the calling
// thread.
func NewYield() (*Yield, error) {
	runtime.LockOSThread()
	y := &Yield{}
	if err := errno(C.cb_yield_new(&y.p)); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return y, nil
}

// SetSlow sets the loop's slow-coroutine threshold (coro_loop_set_slow):
// the watchdog then watches the benchmark's loop.
func (y *Yield) SetSlow(ns int64) error {
	return errno(C.cb_yield_set_slow(y.p, C.int64_t(ns)))
}

// Run spawns the two coroutines and runs the loop until they have yielded n
// times in total.
func (y *Yield) Run(n int) error {
	return errno(C.cb_yield_run(y.p, C.long(n)))
}

// SetAccounting turns the loop's run-time accounting on or off
// (coro_loop_set_accounting), to measure its cost.
func (y *Yield) SetAccounting(on bool) error {
	v := C.int(0)
	if on {
		v = 1
	}
	return errno(C.cb_yield_accounting(y.p, v))
}

// Close frees the loop and unlocks the thread.
func (y *Yield) Close() error {
	err := errno(C.cb_yield_free(y.p))
	y.p = nil
	runtime.UnlockOSThread()
	return err
}

// Spawn is a driver coroutine that spawns a trivial coroutine and joins it,
// one after another.
type Spawn struct {
	p *C.cb_spawn
}

// NewSpawn makes the spawn benchmark on a new loop of the given stack mode,
// bound to the calling thread, and warms its stack cache.
func NewSpawn(mode StackMode) (*Spawn, error) {
	runtime.LockOSThread()
	s := &Spawn{}
	if err := errno(C.cb_spawn_new(&s.p, C.int(mode))); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return s, nil
}

// Run spawns, runs to completion and joins n trivial coroutines.
func (s *Spawn) Run(n int) error {
	return errno(C.cb_spawn_run(s.p, C.long(n)))
}

// Close frees the loop and unlocks the thread.
func (s *Spawn) Close() error {
	err := errno(C.cb_spawn_free(s.p))
	s.p = nil
	runtime.UnlockOSThread()
	return err
}

// IdleResult is what one idle-memory measurement found.
type IdleResult struct {
	Count      int           // coroutines parked at once
	SpawnErr   error         // why spawning stopped before the count asked for, if it did
	RSSBytes   int64         // process RSS growth with all of them parked
	PTEBytes   int64         // page-table growth (VmPTE), which RSS leaves out
	SavedBytes int64         // SHARED: stack bytes held in save buffers
	Park       time.Duration // spawning them all and running until all parked
	Total      time.Duration // the whole measurement, teardown included
}

// Idle measures the memory idle coroutines cost: on a new loop of the given
// mode it spawns up to want coroutines (GUARDED: no more than the process's
// mapping limit leaves room for), each parked on a semaphore from a frame
// that holds a 200-byte buffer, reads the RSS growth, then cancels them and
// closes the loop. It runs in one cgo call on one thread.
func Idle(mode StackMode, want int) (IdleResult, error) {
	var r C.cb_idle_result
	err := errno(C.cb_idle(C.int(mode), C.long(want), &r))
	return IdleResult{
		Count:      int(r.count),
		SpawnErr:   errno(C.int(r.spawn_err)),
		RSSBytes:   int64(r.rss_bytes),
		PTEBytes:   int64(r.pte_bytes),
		SavedBytes: int64(r.saved_bytes),
		Park:       time.Duration(r.park_ns),
		Total:      time.Duration(r.total_ns),
	}, err
}

// Timer is a loop with pending timers (coroutines asleep until deadlines an
// hour or more away) and a driver that waits on a semaphore that a partner
// releases before the wait's deadline: with a deadline, one op is one timer
// add and cancel among the pending ones, plus two switches; without one, it
// is the two switches alone.
type Timer struct {
	p *C.cb_timer
}

// NewTimer makes the timer benchmark with the given number of pending timers
// on a new loop bound to the calling thread.
func NewTimer(pending int, deadline bool) (*Timer, error) {
	runtime.LockOSThread()
	t := &Timer{}
	d := C.int(0)
	if deadline {
		d = 1
	}
	if err := errno(C.cb_timer_new(&t.p, C.long(pending), d)); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return t, nil
}

// Run makes n waits and checks that no timer of the driver's is left behind.
func (t *Timer) Run(n int) error {
	return errno(C.cb_timer_run(t.p, C.long(n)))
}

// Close cancels the sleepers, frees the loop and unlocks the thread.
func (t *Timer) Close() error {
	err := errno(C.cb_timer_free(t.p))
	t.p = nil
	runtime.UnlockOSThread()
	return err
}

// DNSCache is the resolver's cache holding answers for names h00000.bench.test
// and on; one op is one warm hit (coro__dns_cache_get), the names asked in
// turn. It needs no loop.
type DNSCache struct {
	p *C.cb_dnscache
}

// NewDNSCache fills a cache with names answers and asks each once.
func NewDNSCache(names int) (*DNSCache, error) {
	d := &DNSCache{}
	if err := errno(C.cb_dnscache_new(&d.p, C.long(names))); err != nil {
		return nil, err
	}
	return d, nil
}

// Run makes n lookups, each of which must hit.
func (d *DNSCache) Run(n int) error {
	return errno(C.cb_dnscache_run(d.p, C.long(n)))
}

// Close frees the cache.
func (d *DNSCache) Close() error {
	err := errno(C.cb_dnscache_free(d.p))
	d.p = nil
	return err
}
