package main

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// peer starts runPeer for n clients on a free loopback port and returns
// its address and a channel that gets its result.
func peer(t *testing.T, n int, timeout time.Duration) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runPeer(ln, n, timeout) }()
	return ln.Addr().String(), done
}

// TestClients runs 50 clients in each mode against a peer that answers
// only once all 50 have asked: every client must be answered, in cgo mode
// each on a thread of its own (all 50 were blocked at once), in coro mode
// all on the loop's one thread.
func TestClients(t *testing.T) {
	const n = 50
	for _, tc := range []struct {
		mode    string
		stack   coro.StackMode
		threads int
	}{
		{"cgo", coro.StackGuarded, n},
		{"coro", coro.StackGuarded, 1},
		{"coro", coro.StackShared, 1},
	} {
		name := tc.mode
		if tc.mode == "coro" {
			name += "/" + tc.stack.String()
		}
		t.Run(name, func(t *testing.T) {
			addr, done := peer(t, n, 20*time.Second)
			res, err := runClients(tc.mode, addr, n, tc.stack, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.Answered != n || res.Failed != 0 {
				t.Fatalf("%+v: want %d answered, none failed", res, n)
			}
			if res.ClientThreads != tc.threads {
				t.Errorf("clients ran on %d threads, want %d", res.ClientThreads, tc.threads)
			}
			if res.Threads < tc.threads || res.Wall <= 0 || res.HWMKiB <= 0 {
				t.Errorf("%+v: want at least %d threads, a wall time and a peak RSS", res, tc.threads)
			}
			if err := <-done; err != nil {
				t.Errorf("peer: %v", err)
			}
		})
	}
}

// TestClientsRefused runs clients against a port nobody listens on: each
// fails with ECONNREFUSED, and the run ends.
func TestClientsRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, mode := range []string{"cgo", "coro"} {
		res, err := runClients(mode, addr, 5, coro.StackShared, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.Answered != 0 || res.Failed != 5 || !errors.Is(res.FirstErr, syscall.ECONNREFUSED) {
			t.Errorf("%s: %+v, want 5 failed with ECONNREFUSED", mode, res)
		}
	}
}

// TestPeerGivesUp has fewer clients ask than the peer waits for: the peer
// fails when its timeout passes, and closes the connection of the client
// that asked without answering it.
func TestPeerGivesUp(t *testing.T) {
	addr, done := peer(t, 3, 300*time.Millisecond)
	res, err := runClients("cgo", addr, 1, coro.StackGuarded, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 1 || !errors.Is(res.FirstErr, syscall.EPROTO) {
		t.Errorf("client: %+v, want 1 failed with EPROTO (no answer)", res)
	}
	// Whichever notices the deadline first, the accept loop or the one
	// connection's handler, reports it.
	if err := <-done; err == nil || !strings.Contains(err.Error(), "1 of 3") {
		t.Errorf("peer: %v, want a timeout with 1 of 3 clients in", err)
	}
}

// TestBadRuns checks the errors for arguments that cannot work.
func TestBadRuns(t *testing.T) {
	for _, tc := range []struct {
		mode, addr, stack string
		n                 int
		want              string
	}{
		{"threads", "127.0.0.1:1", "guarded", 1, `unknown mode "threads"`},
		{"coro", "localhost:1", "guarded", 1, "bad address"},
		{"coro", "127.0.0.1:1", "huge", 1, "unknown stack kind"},
		{"cgo", "127.0.0.1:1", "guarded", goMaxThreads, "Go's limit of 10000 threads"},
		{"coro", "127.0.0.1:1", "guarded", 0, "must be positive"},
	} {
		err := run(tc.mode, tc.addr, tc.n, tc.stack, time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q, %q, %d, %q): %v, want %q", tc.mode, tc.addr, tc.n, tc.stack, err, tc.want)
		}
	}
}
