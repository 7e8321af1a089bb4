package netdemo

import (
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

var stacks = []struct {
	name  string
	stack coro.StackMode
}{
	{"guarded", coro.StackGuarded},
	{"shared", coro.StackShared},
}

func startEcho(t *testing.T, loops int, stack coro.StackMode) *EchoServer {
	t.Helper()
	s, err := StartEcho(EchoConfig{Addr: "127.0.0.1:0", Loops: loops, Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(s.Addr(), ":0") || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q, want 127.0.0.1 with a real port", s.Addr())
	}
	return s
}

// The generator's completed requests and the server's echoed bytes must
// agree exactly: no request is sent after the end, and one in flight then
// completes.
func TestEchoLoadCountsAgree(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			s := startEcho(t, 2, st.stack)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			const size = 100
			var progress int
			res, err := RunLoad(LoadConfig{
				Addr: s.Addr(), Conns: 20, Duration: 1500 * time.Millisecond,
				Size: size, Loops: 2, Stack: st.stack,
				Progress: func(uint64, time.Duration) { progress++ },
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", res.Report())
			if res.Errors != 0 || res.FirstError != nil {
				t.Errorf("errors = %d (%v), want 0", res.Errors, res.FirstError)
			}
			if res.Connected != 20 {
				t.Errorf("connected = %d, want 20", res.Connected)
			}
			if res.Requests < 1000 {
				t.Errorf("requests = %d, want at least 1000 on loopback", res.Requests)
			}
			if res.Hist.Count != res.Requests {
				t.Errorf("histogram holds %d, requests %d", res.Hist.Count, res.Requests)
			}
			if progress < 1 {
				t.Errorf("progress called %d times, want at least once", progress)
			}
			st := s.Stats()
			if st.Bytes != res.Requests*size {
				t.Errorf("server echoed %d bytes, want %d requests * %d = %d",
					st.Bytes, res.Requests, size, res.Requests*size)
			}
			if st.Conns != 20 || st.Errors != 0 {
				t.Errorf("server stats %+v, want 20 connections and no errors", st)
			}
			for _, want := range []string{"requests:", "errors:      0", "throughput:", "latency:     p50", "p99.9", "histogram:"} {
				if !strings.Contains(res.Report(), want) {
					t.Errorf("report lacks %q", want)
				}
			}
		})
	}
}

func TestLoadRate(t *testing.T) {
	s := startEcho(t, 1, coro.StackGuarded)
	defer s.Close()
	res, err := RunLoad(LoadConfig{Addr: s.Addr(), Conns: 20, Duration: time.Second, Rate: 2000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Report())
	if res.Errors != 0 {
		t.Errorf("errors = %d, want 0", res.Errors)
	}
	if res.Requests < 1600 || res.Requests > 2400 {
		t.Errorf("requests = %d, want 2000 +- 20%%", res.Requests)
	}
	if got := s.Stats().Bytes; got != res.Requests*64 {
		t.Errorf("server echoed %d bytes, want %d", got, res.Requests*64)
	}
}

func TestBadAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "300.1.1.1:80", "127.0.0.1:http-alt-nonsense"} {
		if _, err := RunLoad(LoadConfig{Addr: addr, Duration: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "bad address") {
			t.Errorf("RunLoad(%q) = %v, want a bad address error", addr, err)
		}
		if s, err := StartEcho(EchoConfig{Addr: addr}); err == nil || !strings.Contains(err.Error(), "bad address") {
			if s != nil {
				s.Close()
			}
			t.Errorf("StartEcho(%q) = %v, want a bad address error", addr, err)
		}
	}
}

// A server that is not there: every connect is refused and the run says so.
func TestConnectRefused(t *testing.T) {
	s := startEcho(t, 1, coro.StackGuarded)
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := RunLoad(LoadConfig{Addr: addr, Conns: 3, Duration: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("RunLoad against a closed port = %v, want connection refused", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []LoadConfig{
		{Addr: "127.0.0.1:1", Mode: "http", Size: 10, Duration: time.Second},
		{Addr: "127.0.0.1:1", Mode: "ftp", Duration: time.Second},
		{Addr: "127.0.0.1:1", Conns: -1, Duration: time.Second},
		{Addr: "127.0.0.1:1", Duration: 0},
		{Addr: "127.0.0.1:1", Rate: -5, Duration: time.Second},
	} {
		if _, err := RunLoad(cfg); err == nil {
			t.Errorf("RunLoad(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestHistogram(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123456789, 1 << 40, 1<<63 + 12345, ^uint64(0)} {
		i := histBucket(v)
		if lo, hi := histLow(i), histHigh(i); v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
	}
}
