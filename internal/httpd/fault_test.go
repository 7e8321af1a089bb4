package httpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/fault"
)

// faultRequest sends a small and a large request (sendfile) on one
// connection and checks what comes back: each response complete and right,
// or a 5xx, or the connection ended early (a body cut short must still be
// a prefix of the file). ok reports that both responses were complete.
func faultRequest(t *testing.T, s *Server, big []byte) (ok bool) {
	t.Helper()
	c := dialServer(t, s, 10*time.Second)
	defer c.Close()
	go io.WriteString(c, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	complete := 0
	for _, want := range [][]byte{[]byte(indexHTML), big} {
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
		if resp.StatusCode != 200 || !bytes.HasPrefix(want, body) {
			t.Fatalf("status %d, %d bytes of body, not a prefix of the file", resp.StatusCode, len(body))
		}
		if err != nil || len(body) != len(want) {
			return false
		}
		complete++
	}
	return complete == 2
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestFaults fails the engine's fault points (allocations, mappings, fd
// creation, epoll_ctl, and EINTR at the blocking calls) one at a time while
// the server answers two requests, as csrc/test/fault_test.c does for the
// engine's own operations: for each n = 1, 2, ... until the requests pass
// without reaching the nth point, the client gets right responses or a
// clean end, the server's connections and buffers go back to none, the
// process's fd count to what it was, and the next request is served. Under
// EINTR alone every request must succeed.
func TestFaults(t *testing.T) {
	root, big := site(t)
	for _, mode := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		t.Run(mode.String(), func(t *testing.T) {
			s := start(t, Config{Root: root, Stack: mode})
			for i := 0; i < 3; i++ { // caches, the client's netpoller
				if !faultRequest(t, s, big) {
					t.Fatal("the requests failed with no fault injected")
				}
			}
			fds := idleFDs(t, s)
			sweep := func(name string, points uint, err syscall.Errno) {
				var n, failed int64
				for n = 1; ; n++ {
					if n > 2000 {
						t.Fatalf("%s: no end after %d faults", name, n)
					}
					fault.ArmAt(points, n, 1, err)
					ok := faultRequest(t, s, big)
					point, ferr := fault.Fired()
					fault.Disarm()
					if !ok {
						failed++
						if point < 0 || err == syscall.EINTR {
							t.Fatalf("%s: fault %d (point %d, %v): the requests failed", name, n, point, ferr)
						}
					}
					settle(t, s, fds, name, n)
					if point < 0 {
						break
					}
				}
				t.Logf("%s: %d faults injected, %d ended a request early", name, n-1, failed)
			}
			sweep("natural", fault.All, fault.Natural)
			sweep("eintr", fault.Blocking, syscall.EINTR)
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
