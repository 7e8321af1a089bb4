package netdemo

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// roundTrip sends msg on c and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// TestEchoIdleTimeout: the server closes a connection that sends nothing
// for the idle timeout, and one whose client does not read its replies,
// and counts both as timeouts, not errors; a connection that keeps
// talking for several timeouts stays open.
func TestEchoIdleTimeout(t *testing.T) {
	// Long enough that a busy client never pauses that long on a loaded
	// machine, short enough for a test.
	const idle = 500 * time.Millisecond
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			s, err := StartEcho(EchoConfig{Addr: "127.0.0.1:0", Stack: st.stack, IdleTimeout: idle})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			// A client that goes quiet: the server hangs up, well before
			// the 20 s this read waits at most.
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, []byte("ping"))
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("idle connection: read %d, %v; want the server's close (EOF)", n, err)
			}
			waitFor(func() bool { st := s.Stats(); return st.Timeouts == 1 && st.Active == 0 })
			if st := s.Stats(); st.Timeouts != 1 || st.Errors != 0 || st.Active != 0 {
				t.Errorf("after the idle close: %+v, want 1 timeout, no error, none active", st)
			}

			// A client that talks without a pause for 2 timeouts is
			// never idle that long: no timeout.
			c2, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			c2.SetDeadline(time.Now().Add(20 * time.Second))
			for end := time.Now().Add(2 * idle); time.Now().Before(end); {
				roundTrip(t, c2, []byte("busy"))
			}
			if got := s.Stats().Timeouts; got != 1 {
				t.Errorf("a busy connection timed out: %d timeouts, want still 1", got)
			}
			c2.Close()

			// A client that sends and never reads: once the socket
			// buffers are full the server's reply cannot be written, and
			// the server gives up on it at the timeout. The client's
			// writes then fail (the server reset the connection) instead
			// of blocking until their 20 s deadline.
			c3, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c3.Close()
			c3.SetWriteDeadline(time.Now().Add(20 * time.Second))
			buf := make([]byte, 64<<10)
			var werr error
			for werr == nil {
				_, werr = c3.Write(buf)
			}
			if errors.Is(werr, os.ErrDeadlineExceeded) || !(errors.Is(werr, syscall.ECONNRESET) || errors.Is(werr, syscall.EPIPE)) {
				t.Fatalf("client that does not read: write %v; want the server's reset", werr)
			}
			waitFor(func() bool { return s.Stats().Timeouts == 2 })
			if st := s.Stats(); st.Timeouts != 2 || st.Errors != 0 {
				t.Errorf("after the write timeout: %+v, want 2 timeouts and no error", st)
			}
		})
	}
}

// TestEchoAddressInUse: a second echo server on an address that one
// serves fails with EADDRINUSE, and leaves the first serving every
// connection; with ReusePort it shares the port, and the kernel gives it
// a share of the connections.
func TestEchoAddressInUse(t *testing.T) {
	s := startEcho(t, 2, coro.StackGuarded)
	defer s.Close()
	for _, loops := range []int{1, 2} {
		if s2, err := StartEcho(EchoConfig{Addr: s.Addr(), Loops: loops}); !errors.Is(err, syscall.EADDRINUSE) {
			if err == nil {
				s2.Close()
			}
			t.Fatalf("second echo server (%d loops) on %s: %v, want EADDRINUSE", loops, s.Addr(), err)
		}
	}
	dialEcho := func(n int) {
		for i := 0; i < n; i++ {
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			roundTrip(t, c, []byte("x"))
			c.Close()
		}
	}
	dialEcho(16)
	if got := s.Stats().Conns; got != 16 {
		t.Errorf("the first server accepted %d of 16 connections", got)
	}

	s2, err := StartEcho(EchoConfig{Addr: s.Addr(), ReusePort: true})
	if err != nil {
		t.Fatalf("second echo server with ReusePort: %v", err)
	}
	defer s2.Close()
	// 3 listeners, 1 of them the second server's: it gets none of 96
	// with probability (2/3)^96, about 1e-17.
	dialEcho(96)
	first, second := s.Stats().Conns-16, s2.Stats().Conns
	if first+second != 96 || first == 0 || second == 0 {
		t.Errorf("connections: %d to the first server, %d to the second; want 96 spread over both", first, second)
	}
}

// TestLoadAcrossIdleCloses: when the echo server has closed an idle
// connection, the load generator's next request, which never reached it,
// goes again on a new connection and is no error; every request counted
// was echoed.
func TestLoadAcrossIdleCloses(t *testing.T) {
	s, err := StartEcho(EchoConfig{Addr: "127.0.0.1:0", IdleTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// 2 connections, each sending every 250 ms: idle 5 times as long as
	// the server allows between requests.
	res, err := RunLoad(LoadConfig{Addr: s.Addr(), Conns: 2, Duration: time.Second, Rate: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Report())
	if err := res.Err(); err != nil || res.Requests < 4 {
		t.Errorf("requests %d, Err %v; want at least 4 and no error", res.Requests, err)
	}
	waitFor(func() bool { return s.Stats().Bytes >= res.Requests*64 })
	if st := s.Stats(); st.Timeouts == 0 || st.Bytes != res.Requests*64 {
		t.Errorf("server %+v: want idle closes, and %d requests of 64 bytes echoed", st, res.Requests)
	}
}
