// Command gohooks is the Go side of the hooks benchmark
// (scripts/bench-hooks.sh, make bench-hooks): two more peers of
// bench/hooks/hooks_bench.c's BLPOP run, with the same blocking hiredis
// client (peer.c):
//
//	gohooks blpop cgo N PORT     N goroutines, each calling the client
//	                             through one cgo call: each blocked call
//	                             holds an OS thread
//	gohooks blpop group N PORT   N coroutines spread over a coro.Group
//	                             (one loop per CPU) with the hooks on
//	                             (group-shared: the loops' shared stacks)
//
// It prints hooks_bench's line: wall (s), cpu (s), rss (peak, KiB: VmHWM),
// threads (the most the process had), ok, failed; and exits 1 if any
// client failed. It is a module of its own (go.mod, the coro module
// replaced by this checkout) so that hiredis is never a requirement of
// github.com/ccoro/coro.
package main

/*
#cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/.. -I${SRCDIR}/../../../csrc -I${SRCDIR}/../../..
#cgo LDFLAGS: -lhiredis -lpthread
#include <stdlib.h>
#include "peer.h"
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ccoro/coro"
	_ "github.com/ccoro/coro/hooks" // the libc hooks of WithHooks loops
)

func main() {
	if len(os.Args) != 5 || os.Args[1] != "blpop" {
		usage()
	}
	mode := os.Args[2]
	n, err1 := strconv.Atoi(os.Args[3])
	port, err2 := strconv.Atoi(os.Args[4])
	if err1 != nil || err2 != nil || n <= 0 || (mode != "cgo" && mode != "group" && mode != "group-shared") {
		usage()
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if C.peer_sampler_start() < 0 {
		fail("cannot start the thread sampler")
	}
	t0 := time.Now()
	if mode == "cgo" {
		runCgo(n, port)
	} else {
		runGroup(n, port, mode == "group-shared")
	}
	wall := time.Since(t0).Seconds()
	threads := int(C.peer_sampler_stop())

	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	name := C.CString("VmHWM:")
	rss := int64(C.peer_status_field(name))
	C.free(unsafe.Pointer(name))
	c := C.peer_counts_get()
	fmt.Printf("wall=%.4f cpu=%.3f rss=%d threads=%d ok=%d failed=%d early=%d\n",
		wall, cpu, rss, threads, int(c.ok), int(c.failed), int(c.early))
	if c.failed != 0 || int(c.ok) != n {
		os.Exit(1)
	}
}

// runCgo runs the clients on goroutines, each blocked in one cgo call
// (and so on an OS thread of its own) from its connect to its disconnect.
func runCgo(n, port int) {
	// The runtime's limit (10,000 threads by default) would kill the
	// process at N = 10,000 blocked calls plus its own threads.
	debug.SetMaxThreads(n + 1000)
	if C.peer_setup(C.int(port), C.int(n), 0) < 0 {
		fail("peer_setup")
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			C.peer_blpop_thread(C.int(i))
		}(i)
	}
	wg.Wait()
}

// runGroup runs the clients as coroutines of a Group with hooks, client i
// on loop i % Len() (the gate of peer.c counts on it).
func runGroup(n, port int, shared bool) {
	mode := coro.StackGuarded
	if shared {
		mode = coro.StackShared
	}
	g, err := coro.NewGroup(0, coro.WithHooks(), coro.WithStackMode(mode))
	if err != nil {
		fail(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if C.peer_setup(C.int(port), C.int(n), C.int(g.Len())) < 0 {
		fail("peer_setup: too many loops")
	}
	for j := 0; j < g.Len(); j++ {
		co, err := g.Loop(j).Spawn(coro.Entry(C.peer_register_entry()), uintptr(j))
		if err == nil {
			_, err = co.Wait(ctx)
		}
		if err != nil {
			fail(err.Error())
		}
	}
	cos := make([]*coro.Coroutine, n)
	for i := range cos {
		var err error
		if cos[i], err = g.Loop(i%g.Len()).Spawn(coro.Entry(C.peer_client_entry()), uintptr(i)); err != nil {
			fail(err.Error())
		}
	}
	for _, co := range cos {
		if _, err := co.Wait(ctx); err != nil {
			fail(err.Error())
		}
	}
	if err := g.Close(ctx); err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "gohooks:", msg)
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gohooks blpop cgo|group|group-shared N PORT")
	os.Exit(2)
}
