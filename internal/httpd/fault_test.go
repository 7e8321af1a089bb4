package httpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/fault"
)

// A faultStep is one request of the sweep's connection and the response
// it gets when nothing fails.
type faultStep struct {
	req    string
	status int
	body   []byte
}

// faultSteps are requests that pass every allocation and system call of
// the server: a file, a redirect (its Location built in a buffer of its
// own), a redirect whose head is too long for the connection's head
// buffer (a buffer of its own too), a directory's index (two opens, two
// fstats) and a large file (sendfile, in turns).
func faultSteps(big []byte) []faultStep {
	moved := []byte("301 Moved Permanently\n")
	return []faultStep{
		{"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 200, []byte(indexHTML)},
		{"GET /dir HTTP/1.1\r\nHost: x\r\n\r\n", 301, moved},
		{"GET /dir?" + strings.Repeat("q", 1100) + " HTTP/1.1\r\nHost: x\r\n\r\n", 301, moved},
		{"GET /dir/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, []byte("dir index\n")},
		{"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, big},
	}
}

// faultRequest sends the steps' requests on one connection and checks
// what comes back: each response complete and right, or a 5xx, or the
// connection ended early (a body cut short must still be a prefix of the
// right one). ok reports that every response was complete.
func faultRequest(t *testing.T, s *Server, steps []faultStep) (ok bool) {
	t.Helper()
	c := dialAny(t, s, 10*time.Second)
	defer c.Close()
	var reqs strings.Builder
	for _, st := range steps {
		reqs.WriteString(st.req)
	}
	go io.WriteString(c, reqs.String())
	br := bufio.NewReader(c)
	for _, st := range steps {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if isTimeout(err) {
				t.Fatalf("no response: %v", err)
			}
			return false // the server closed the connection: a clean error
		}
		body, err := io.ReadAll(resp.Body)
		if isTimeout(err) {
			t.Fatalf("body: %v", err)
		}
		if resp.StatusCode >= 500 {
			return false
		}
		if resp.StatusCode != st.status || !bytes.HasPrefix(st.body, body) {
			t.Fatalf("%.20q: status %d, %d bytes of body, not a prefix of the right one", st.req, resp.StatusCode, len(body))
		}
		if err != nil || len(body) != len(st.body) {
			return false
		}
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestFaults fails the fault points of the engine and of the server's own
// code (allocations, mappings, fds made, opens and fstats, epoll_ctl, and
// EINTR at the blocking calls) one at a time while the server answers
// faultSteps on one connection, as csrc/test/fault_test.c does for the
// engine's own operations: for each n = 1, 2, ... until the requests pass
// without reaching the nth point (fault.Sweep), the client gets right
// responses or a clean end, the server's connections and buffers go back
// to none, the process's fd count to what it was, and the next request is
// served. Under EINTR alone every request must succeed.
func TestFaults(t *testing.T) {
	root, big := site(t)
	steps := faultSteps(big)
	for _, mode := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		t.Run(mode.String(), func(t *testing.T) {
			s := start(t, Config{Root: root, Stack: mode})
			for i := 0; i < 3; i++ { // caches, the client's netpoller
				if !faultRequest(t, s, steps) {
					t.Fatal("the requests failed with no fault injected")
				}
			}
			fds := idleFDs(t, s)
			run := func(int64) bool { return !faultRequest(t, s, steps) }
			for _, sw := range []struct {
				name   string
				points uint
				err    syscall.Errno
			}{
				{"natural", fault.All, fault.Natural},
				{"eintr", fault.Blocking, syscall.EINTR},
			} {
				fault.Sweep(t, sw.name, sw.points, sw.err, run, func(n int64) { settle(t, s, fds, sw.name, n) })
			}
		})
	}
}

// idleFDs waits until the server holds no connection and returns the
// process's fd count then.
func idleFDs(t *testing.T, s *Server) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().LiveConns != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open: %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	return fault.OpenFDs(t)
}

// settle waits until the server holds no connection or buffer and the
// process's fd count is back to fds, then checks that a request is served.
func settle(t *testing.T, s *Server, fds int, name string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		got := fault.OpenFDs(t)
		if st.LiveConns == 0 && st.LiveBufs == 0 && got == fds {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fault %d: %+v, %d fds open, want no connection and %d fds", name, n, st, got, fds)
		}
		time.Sleep(time.Millisecond)
	}
	resp, body := raw(t, s, "GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "0123") {
		t.Fatalf("%s: after fault %d: status %d, body %q", name, n, resp.StatusCode, body)
	}
}

// TestStartFaults sweeps the server's whole life: Start (its loop, its
// listener, its accept coroutine), one request, and Close. Each fault
// fails Start with an "httpd: " error, or fails the request cleanly, or
// is survived; never a hang (an accept coroutine its loop could not start
// once left a listener no one accepted on, which Close did not close).
// After each, the process's fds are what they were. Under EINTR alone
// every run must succeed.
func TestStartFaults(t *testing.T) {
	root, _ := site(t)
	// The access log's open, allocations and writer thread are swept in
	// one stack mode: they do not depend on it.
	logPath := filepath.Join(t.TempDir(), "access.log")
	for _, c := range []struct {
		name string
		mode coro.StackMode
		log  string
	}{
		{"guarded", coro.StackGuarded, ""},
		{"shared", coro.StackShared, ""},
		{"guarded+log", coro.StackGuarded, logPath},
	} {
		mode := c.mode
		t.Run(c.name, func(t *testing.T) {
			fds := fault.OpenFDs(t)
			steps := []faultStep{{"GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, []byte("0123456789abcdefghij")}}
			run := func(n int64) bool {
				s, err := Start(Config{Addr: "127.0.0.1:0", Root: root, Stack: mode, AccessLog: c.log})
				if err != nil {
					if !strings.HasPrefix(err.Error(), "httpd: ") {
						t.Fatalf("fault %d: %v", n, err)
					}
					return true
				}
				defer func() {
					if err := s.Close(); err != nil {
						t.Fatalf("fault %d: Close: %v", n, err)
					}
				}()
				return !faultRequest(t, s, steps)
			}
			settle := func(n int64) {
				if got := fault.OpenFDs(t); got != fds {
					t.Fatalf("fault %d: %d fds open, want %d", n, got, fds)
				}
			}
			fault.Sweep(t, "natural", fault.All, fault.Natural, run, settle)
			fault.Sweep(t, "eintr", fault.Blocking, syscall.EINTR, run, settle)
		})
	}
}
