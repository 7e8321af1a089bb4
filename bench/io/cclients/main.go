// Command cclients is the "Go developer's alternative" benchmark
// (scripts/bench-io.sh clients): N C clients that each block on a socket
// read until their peer answers, run either as goroutines calling blocking
// C through cgo, or as C coroutines on one coro loop.
//
//	cclients -mode peer -addr 127.0.0.1:PORT -n N
//	cclients -mode cgo  -addr 127.0.0.1:PORT -n N
//	cclients -mode coro -addr 127.0.0.1:PORT -n N [-stack guarded|shared]
//
// The peer (a separate process) accepts N connections, reads a request on
// each, and answers only once all N have asked, so that all N clients are
// blocked at the same time; it prints "cclients peer: listening on ADDR"
// first and exits once it has answered all N (or after -timeout).
//
// Each client (cclients.c) connects, writes 8 bytes and reads the 8-byte
// answer, then closes. In cgo mode each goroutine makes one cgo call that
// does all of it with blocking socket, connect, write and read: a goroutine
// blocked in C holds its OS thread, so N clients take N threads. In coro
// mode one coroutine on one loop spawns N coroutines that do the same with
// coro_connect, coro_write_all and coro_read.
//
// The client prints one line:
//
//	clients: mode M stack S n N answered A failed F wall_ms W threads T client_threads C hwm_kb H
//
// wall_ms runs from the first client's start to the last answer; threads is
// the process's peak thread count (/proc/self/status, sampled every
// millisecond and at the end: the Go runtime keeps idle threads, so the end
// sees cgo mode's peak); client_threads is the number of distinct threads
// the clients ran on; hwm_kb is the process's peak RSS (VmHWM).
package main

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../../csrc
// #include <stdlib.h>
// #include "cclients.h"
import "C"

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/demos"
)

// goMaxThreads is the Go runtime's default limit on OS threads
// (runtime/debug.SetMaxThreads); a program over it dies.
const goMaxThreads = 10000

// spareFDs and spareThreads are what the process needs besides one fd
// (and, in cgo mode, one thread) per client.
const (
	spareFDs     = 64
	spareThreads = 100
)

func main() {
	mode := flag.String("mode", "", "`MODE`: peer, cgo or coro")
	addr := flag.String("addr", "127.0.0.1:7300", "the peer's `HOST:PORT` (peer: listen there; port 0 picks one)")
	n := flag.Int("n", 5000, "clients, `N`")
	stack := flag.String("stack", "guarded", "coro mode: the coroutines' stacks, `STACK`: guarded or shared")
	timeout := flag.Duration("timeout", 60*time.Second, "bound each client (peer: the whole run) by `D`")
	flag.Parse()
	if err := run(*mode, *addr, *n, *stack, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "cclients:", err)
		os.Exit(1)
	}
}

func run(mode, addr string, n int, stack string, timeout time.Duration) error {
	if n <= 0 || timeout <= 0 {
		return errors.New("-n and -timeout must be positive")
	}
	if mode == "peer" {
		if err := checkFDs(n); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		fmt.Printf("cclients peer: listening on %s\n", ln.Addr())
		if err := runPeer(ln, n, timeout); err != nil {
			return err
		}
		fmt.Printf("cclients peer: answered %d\n", n)
		return nil
	}
	st, err := demos.ParseStack(stack)
	if err != nil {
		return fmt.Errorf("-stack: %w", err)
	}
	res, err := runClients(mode, addr, n, st, timeout)
	if err != nil {
		return err
	}
	stackName := "-"
	if mode == "coro" {
		stackName = stack
	}
	fmt.Printf("clients: mode %s stack %s n %d answered %d failed %d wall_ms %.1f threads %d client_threads %d hwm_kb %d\n",
		mode, stackName, n, res.Answered, res.Failed, float64(res.Wall.Microseconds())/1000,
		res.Threads, res.ClientThreads, res.HWMKiB)
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d clients failed; the first: %w", res.Failed, n, res.FirstErr)
	}
	return nil
}

// result is one client run's outcome.
type result struct {
	Answered, Failed int
	FirstErr         error // the first failure, when Failed > 0
	Wall             time.Duration
	Threads          int   // peak threads of the process
	ClientThreads    int   // distinct threads the clients ran on
	HWMKiB           int64 // peak RSS of the process
}

// runClients runs n clients against the peer at addr in mode "cgo" or
// "coro" (with stack mode st) and waits for all of them.
func runClients(mode, addr string, n int, st coro.StackMode, timeout time.Duration) (result, error) {
	if mode != "cgo" && mode != "coro" {
		return result{}, fmt.Errorf("unknown mode %q (want peer, cgo or coro)", mode)
	}
	if mode == "cgo" && n+spareThreads > goMaxThreads {
		return result{}, fmt.Errorf("cgo mode takes a thread per blocked client: %d clients would pass Go's limit of %d threads", n, goMaxThreads)
	}
	if err := checkFDs(n); err != nil {
		return result{}, err
	}
	r := (*C.cc_run)(C.calloc(1, C.size_t(unsafe.Sizeof(C.cc_run{}))))
	if r == nil {
		return result{}, syscall.ENOMEM
	}
	defer C.free(unsafe.Pointer(r))
	r.tids = (*C.int)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.int(0)))))
	if r.tids == nil {
		return result{}, syscall.ENOMEM
	}
	defer C.free(unsafe.Pointer(r.tids))
	caddr := C.CString(addr)
	rc := C.cc_set_addr(r, caddr)
	C.free(unsafe.Pointer(caddr))
	if rc < 0 {
		return result{}, fmt.Errorf("bad address %q: want a numeric HOST:PORT", addr)
	}
	r.n = C.int(n)
	r.timeout_ns = C.int64_t(timeout.Nanoseconds())
	r.stack_mode = C.int(st)

	var loop *coro.Loop
	if mode == "coro" {
		var err error
		if loop, err = coro.NewLoop(coro.WithStackMode(st), coro.WithName("cclients")); err != nil {
			return result{}, err
		}
	}
	peak := sampleThreads()
	start := time.Now()
	var err error
	if mode == "cgo" {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				C.cc_blocking_client(r)
			}()
		}
		wg.Wait()
	} else {
		err = runCoro(loop, r, timeout)
	}
	wall := time.Since(start)
	threads := peak()
	if loop != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = errors.Join(err, loop.Close(ctx))
		cancel()
	}
	if err != nil {
		return result{}, err
	}
	var out [3]C.int
	C.cc_read(r, &out[0])
	res := result{
		Answered:      int(out[0]),
		Failed:        int(out[1]),
		Wall:          wall,
		Threads:       threads,
		ClientThreads: distinct(unsafe.Slice((*int32)(unsafe.Pointer(r.tids)), n)),
	}
	if out[2] < 0 {
		res.FirstErr = syscall.Errno(-out[2])
	}
	res.HWMKiB, _ = statusField("VmHWM:")
	return res, nil
}

// runCoro spawns cc_coro_main, which spawns the clients, on loop and
// waits for it (a little longer than the clients' own deadline).
func runCoro(loop *coro.Loop, r *C.cc_run, timeout time.Duration) error {
	co, err := loop.Spawn(coro.Entry(uintptr(unsafe.Pointer(C.coro_fn(C.cc_coro_main)))), uintptr(unsafe.Pointer(r)), coro.WithCoroutineName("cclients"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	_, err = co.Wait(ctx)
	return err
}

// sampleThreads samples the process's thread count every millisecond
// until the function it returns is called; that returns the peak,
// including one last reading.
func sampleThreads() func() int {
	var peak atomic.Int64
	note := func() {
		if v, err := statusField("Threads:"); err == nil && v > peak.Load() {
			peak.Store(v)
		}
	}
	note()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				note()
			}
		}
	}()
	return func() int {
		close(stop)
		<-done
		note()
		return int(peak.Load())
	}
}

// statusField reads a numeric field of /proc/self/status.
func statusField(key string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", key)
}

func distinct(tids []int32) int {
	seen := make(map[int32]bool)
	for _, t := range tids {
		if t != 0 {
			seen[t] = true
		}
	}
	return len(seen)
}

// checkFDs fails when the process may not open an fd per client. (Go
// raises the soft limit to the hard one at start.)
func checkFDs(n int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if uint64(n+spareFDs) > rl.Cur {
		return fmt.Errorf("%d clients need %d open files; the limit is %d", n, n+spareFDs, rl.Cur)
	}
	return nil
}

// The protocol: CC_REQ and CC_REPLY in cclients.h. (The clients check the
// reply, so a mismatch fails every run.)
const (
	request = "request\n"
	reply   = "answer!\n"
)

// runPeer accepts n connections on ln, reads a request on each, answers
// all of them once all n have asked, and returns when every connection is
// done, or fails when timeout passes first. It closes ln.
func runPeer(ln net.Listener, n int, timeout time.Duration) error {
	defer ln.Close()
	deadline := time.Now().Add(timeout)
	if tl, ok := ln.(*net.TCPListener); ok {
		tl.SetDeadline(deadline)
	}
	all := make(chan struct{}) // closed when the n-th request is in
	var asked, answered atomic.Int64
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range n {
		c, err := ln.Accept()
		if err != nil {
			fail(fmt.Errorf("accepted %d of %d: %w", asked.Load(), n, err))
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetDeadline(deadline)
			buf := make([]byte, len(request))
			if _, err := io.ReadFull(c, buf); err != nil {
				fail(fmt.Errorf("reading a request: %w", err))
				return
			}
			if string(buf) != request {
				fail(fmt.Errorf("request %q, want %q", buf, request))
				return
			}
			if asked.Add(1) == int64(n) {
				close(all)
			}
			select {
			case <-all:
			case <-time.After(time.Until(deadline)):
				fail(fmt.Errorf("only %d of %d clients asked in %v", asked.Load(), n, timeout))
				return
			}
			if _, err := io.WriteString(c, reply); err != nil {
				fail(fmt.Errorf("answering: %w", err))
				return
			}
			answered.Add(1)
			// Wait for the client to close first (it resets the
			// connection, so no TIME_WAIT is left on either side).
			io.Copy(io.Discard, c)
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if answered.Load() != int64(n) {
		return fmt.Errorf("answered %d of %d", answered.Load(), n)
	}
	return nil
}
