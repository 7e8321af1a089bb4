package netdemo

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/httpd"
)

// waitFor polls cond for up to 20 s (generous: a loaded machine): a server counts a response once its
// last write has returned, which can be a moment after the client has read
// it.
func waitFor(cond func() bool) {
	for end := time.Now().Add(20 * time.Second); !cond() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}

// httpRoot writes the files the HTTP tests load: small.txt and a 1 MiB
// big.bin.
func httpRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	big := make([]byte, 1<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "small.txt"), []byte("a small file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// The load generator's completed requests and coro httpd's responses sent
// must agree exactly, in every configuration: no request goes out after the
// end, one in flight then completes, and none is lost or counted twice.
func TestHTTPLoadCountsAgree(t *testing.T) {
	root := httpRoot(t)
	type file struct {
		path   string
		size   uint64
		status int // index in LoadResult.Status
	}
	small := file{"/small.txt", 13, 0}
	big := file{"/big.bin", 1 << 20, 0}
	missing := file{"/no/such/file", 0, 2}
	for _, st := range stacks {
		for _, tc := range []struct {
			name string
			f    file
			rate float64
		}{
			{"small closed", small, 0},
			{"small rate", small, 2000},
			{"1MiB closed", big, 0},
			{"1MiB rate", big, 100},
			{"404 closed", missing, 0},
		} {
			t.Run(st.name+" "+tc.name, func(t *testing.T) {
				srv, err := httpd.Start(httpd.Config{Addr: "127.0.0.1:0", Root: root, Loops: 2, Stack: st.stack})
				if err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := srv.Close(); err != nil {
						t.Errorf("httpd Close: %v", err)
					}
				}()
				const conns = 8
				res, err := RunLoad(LoadConfig{
					Addr: srv.Addr(), Mode: "http", Path: tc.f.path, Conns: conns,
					Duration: 700 * time.Millisecond, Rate: tc.rate, Loops: 2, Stack: st.stack,
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("\n%s", res.Report())
				if res.Errors != 0 || res.FirstError != nil {
					t.Errorf("errors = %d (%v), want 0", res.Errors, res.FirstError)
				}
				if res.Connected != conns {
					t.Errorf("connected = %d, want %d", res.Connected, conns)
				}
				if res.Requests < 20 {
					t.Errorf("requests = %d, want at least 20 on loopback", res.Requests)
				}
				if tc.rate > 0 {
					want := uint64(tc.rate * 0.7)
					if res.Requests < want*8/10 || res.Requests > want*12/10 {
						t.Errorf("requests = %d at %v/s for 0.7 s, want %d +- 20%%", res.Requests, tc.rate, want)
					}
				}
				if res.Hist.Count != res.Requests {
					t.Errorf("histogram holds %d, requests %d", res.Hist.Count, res.Requests)
				}
				var want [4]uint64
				want[tc.f.status] = res.Requests
				if res.Status != want {
					t.Errorf("status classes %v, want %v", res.Status, want)
				}
				// Every response is its body plus a head of a few hundred bytes.
				if res.Bytes < res.Requests*tc.f.size || res.Bytes > res.Requests*(tc.f.size+1024) {
					t.Errorf("received %d bytes for %d responses of %d bytes", res.Bytes, res.Requests, tc.f.size)
				}
				waitFor(func() bool { return srv.Stats().Requests >= int64(res.Requests) })
				if got := srv.Stats(); got.Requests != int64(res.Requests) || got.Conns != conns {
					t.Errorf("server answered %d requests on %d connections; the load generator completed %d on %d",
						got.Requests, got.Conns, res.Requests, conns)
				}
				for _, want := range []string{"status:         2xx", "received:", "MB/s", "latency:        p50"} {
					if !strings.Contains(res.Report(), want) {
						t.Errorf("report lacks %q", want)
					}
				}
			})
		}
	}
}

// fakeServer is an HTTP server for the tests that sends canned bytes: for
// every request head it reads, it calls respond with the request's number
// (from 0, over all connections) and sends what that returns.
type fakeServer struct {
	ln        net.Listener
	conns     atomic.Int64 // connections accepted
	responses atomic.Int64 // responses written in full
	bytes     atomic.Int64 // bytes written
	classes   [6]atomic.Int64
	next      atomic.Int64
	wg        sync.WaitGroup
	mu        sync.Mutex
	open      map[net.Conn]bool
}

// fakeReply is one canned response.
type fakeReply struct {
	data   string
	status int           // its final status, counted when written in full
	close  bool          // close the connection after it
	slow   time.Duration // if > 0: write one byte at a time, pausing this long
}

func startFake(t *testing.T, respond func(n int) fakeReply) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.open, c)
					s.mu.Unlock()
					c.Close()
				}()
				s.serve(c, respond)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) serve(c net.Conn, respond func(n int) fakeReply) {
	br := bufio.NewReader(c)
	for {
		// A request head: lines up to an empty one.
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		r := respond(int(s.next.Add(1) - 1))
		if r.slow > 0 {
			for i := 0; i < len(r.data); i++ {
				if _, err := c.Write([]byte{r.data[i]}); err != nil {
					return
				}
				s.bytes.Add(1)
				time.Sleep(r.slow)
			}
		} else {
			n, err := c.Write([]byte(r.data))
			s.bytes.Add(int64(n))
			if err != nil {
				return
			}
		}
		s.responses.Add(1)
		s.classes[r.status/100].Add(1)
		if r.close {
			return
		}
	}
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// A response may arrive cut at any byte: here every byte comes in a
// segment of its own, through every framing, interim responses, and
// closes announced or not.
func TestHTTPByteAtATime(t *testing.T) {
	replies := []fakeReply{
		{data: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200},
		{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\n", status: 200},
		{data: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno", status: 404},
		{data: "HTTP/1.1 301 Moved\r\nLocation: /\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status: 301, close: true},
		{data: "HTTP/1.0 503 Busy\r\n\r\nuntil the end", status: 503, close: true},
		{data: "HTTP/1.1 204 No Content\r\n\r\n", status: 204},
	}
	s := startFake(t, func(n int) fakeReply {
		r := replies[n%len(replies)]
		r.slow = 100 * time.Microsecond
		return r
	})
	// A count of requests, not a time: a loaded machine makes the run
	// longer, never the test fail (Duration only bounds a hang).
	const conns, each = 3, 2 * 6
	res, err := RunLoad(LoadConfig{Addr: s.ln.Addr().String(), Mode: "http", Path: "/x", Conns: conns, Requests: each, Duration: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Report())
	if res.Errors != 0 {
		t.Errorf("errors = %d (%v), want 0", res.Errors, res.FirstError)
	}
	if res.Requests != conns*each {
		t.Errorf("requests = %d, want %d", res.Requests, conns*each)
	}
	waitFor(func() bool { return s.responses.Load() >= int64(res.Requests) })
	if got := s.responses.Load(); got != int64(res.Requests) {
		t.Errorf("server sent %d responses, the load generator completed %d", got, res.Requests)
	}
	for i := range res.Status {
		if got := s.classes[i+2].Load(); got != int64(res.Status[i]) {
			t.Errorf("%dxx: server sent %d, load generator counted %d", i+2, got, res.Status[i])
		}
	}
	if got := s.bytes.Load(); got != int64(res.Bytes) {
		t.Errorf("server sent %d bytes, load generator received %d", got, res.Bytes)
	}
}

// A server that answers "Connection: close" and closes: every request goes
// out on a new connection, and none is an error.
func TestHTTPConnectionClose(t *testing.T) {
	s := startFake(t, func(int) fakeReply {
		return fakeReply{data: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", status: 200, close: true}
	})
	const conns = 4
	res, err := RunLoad(LoadConfig{Addr: s.ln.Addr().String(), Mode: "http", Conns: conns, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Report())
	if res.Errors != 0 || res.Requests < 10 {
		t.Errorf("errors %d (%v), requests %d; want none and at least 10", res.Errors, res.FirstError, res.Requests)
	}
	waitFor(func() bool { return s.responses.Load() >= int64(res.Requests) })
	// A connection may open just before the end and then send nothing.
	if got, c := s.responses.Load(), s.conns.Load(); got != int64(res.Requests) || c < got || c > got+conns {
		t.Errorf("server: %d responses on %d connections; load generator: %d requests", got, c, res.Requests)
	}
}

// A server that closes a keep-alive connection without warning after one
// response (as servers do with idle connections): the next request, which
// never reached it, goes again on a new connection and is no error.
func TestHTTPServerClosesIdle(t *testing.T) {
	s := startFake(t, func(int) fakeReply {
		return fakeReply{data: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, close: true}
	})
	for _, rate := range []float64{0, 200} {
		before := s.responses.Load()
		res, err := RunLoad(LoadConfig{Addr: s.ln.Addr().String(), Mode: "http", Conns: 2, Duration: 500 * time.Millisecond, Rate: rate})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 0 || res.Requests < 10 {
			t.Errorf("rate %v: errors %d (%v), requests %d; want none and at least 10", rate, res.Errors, res.FirstError, res.Requests)
		}
		waitFor(func() bool { return s.responses.Load()-before >= int64(res.Requests) })
		if got := s.responses.Load() - before; got != int64(res.Requests) {
			t.Errorf("rate %v: server sent %d responses, load generator completed %d", rate, got, res.Requests)
		}
	}
}

// A malformed response is an error, counted, and the connection starts
// over; the run ends on time.
func TestHTTPMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		err        error
		why        string
	}{
		{"not http", "SSH-2.0-OpenSSH_9.2\r\n", syscall.EBADMSG, "not an HTTP/1.x response"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\nhello", syscall.EBADMSG, "bad Content-Length"},
		{"bytes after the body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", syscall.EPROTO, "bytes after the end of the response"},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", syscall.EBADMSG, "LF without CR"},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n", syscall.EBADMSG, "chunk data longer"},
		{"huge head", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", 20000) + "\r\n\r\n", syscall.EMSGSIZE, "response head over"},
		{"closed mid-body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", syscall.ECONNRESET, "in the middle of the response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, func(int) fakeReply {
				// The one that is cut short ends with a close.
				return fakeReply{data: tc.data, status: 200, close: tc.err == syscall.ECONNRESET}
			})
			start := time.Now()
			res, err := RunLoad(LoadConfig{Addr: s.ln.Addr().String(), Mode: "http", Conns: 2, Duration: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 0 || res.Errors < 2 || !errors.Is(res.FirstError, tc.err) ||
				!strings.Contains(fmt.Sprint(res.FirstError), tc.why) {
				t.Errorf("requests %d, errors %d (first %v); want 0 requests and errors, the first %v (%s)",
					res.Requests, res.Errors, res.FirstError, tc.err, tc.why)
			}
			if !strings.Contains(res.Report(), tc.why) {
				t.Errorf("report does not say %q:\n%s", tc.why, res.Report())
			}
			// Each error ends its connection and the next request opens a new one.
			if c := s.conns.Load(); c < 4 {
				t.Errorf("server saw %d connections, want the 2 connections to have reconnected", c)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the run took %v", d)
			}
		})
	}
}

// A server that never answers: the request in flight at the end fails
// when the grace period is over, as one error.
func TestHTTPNoAnswer(t *testing.T) {
	s := startFake(t, func(int) fakeReply { return fakeReply{data: "", status: 200} })
	res, err := RunLoad(LoadConfig{Addr: s.ln.Addr().String(), Mode: "http", Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 1 || !errors.Is(res.FirstError, syscall.ETIMEDOUT) {
		t.Errorf("requests %d, errors %d (first %v); want 0, 1 (timed out)", res.Requests, res.Errors, res.FirstError)
	}
}

func TestHTTPBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  LoadConfig
		want string
	}{
		{LoadConfig{Mode: "http", Size: 100}, "request size is for echo mode"},
		{LoadConfig{Path: "/x"}, "path and a host are for http mode"},
		{LoadConfig{Host: "example.com"}, "path and a host are for http mode"},
		{LoadConfig{Mode: "http", Path: "index.html"}, "want an absolute path"},
		{LoadConfig{Mode: "http", Path: "/a b"}, "without spaces"},
		{LoadConfig{Mode: "http", Path: "/\xc3\xa9"}, "printable ASCII"},
		{LoadConfig{Mode: "http", Path: "/" + strings.Repeat("x", 5000)}, "at most 4096"},
		{LoadConfig{Mode: "http", Host: "a\r\nX-Evil: 1"}, "printable ASCII"},
	} {
		tc.cfg.Addr, tc.cfg.Duration, tc.cfg.Stack = "127.0.0.1:1", time.Second, coro.StackGuarded
		if _, err := RunLoad(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RunLoad(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}
