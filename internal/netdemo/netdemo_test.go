package netdemo

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/fault"
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
			if err := res.Err(); err != nil || res.Errors != 0 || res.FirstError != nil {
				t.Errorf("errors = %d (%v), want 0; Err %v", res.Errors, res.FirstError, err)
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
			for _, want := range []string{"requests:", "\nerrors:         0\n", "\nconnect errors: 0\n", "throughput:", "latency:        p50", "p99.9", "histogram:"} {
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

// A server that is not there: every connect is refused, each connection
// gives up after its first, and the result says so.
func TestConnectRefused(t *testing.T) {
	s := startEcho(t, 1, coro.StackGuarded)
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := RunLoad(LoadConfig{Addr: addr, Conns: 3, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Report())
	if res.Connected != 0 || res.ConnectErrors != 3 || res.Requests != 0 || res.Errors != 0 || res.Late != 0 ||
		!errors.Is(res.FirstConnectError, syscall.ECONNREFUSED) {
		t.Errorf("connected %d, connect errors %d (%v), requests %d, errors %d, late %d; want 3 refused connects and nothing else",
			res.Connected, res.ConnectErrors, res.FirstConnectError, res.Requests, res.Errors, res.Late)
	}
	if err := res.Err(); !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "3 connect errors") {
		t.Errorf("Err() = %v, want 3 connect errors, connection refused", err)
	}
	if want := "connect errors: 3 (first: connect " + addr + ": connection refused)"; !strings.Contains(res.Report(), want) {
		t.Errorf("report lacks %q", want)
	}
}

// Connections whose coroutine cannot be spawned (stack mappings fail
// after the first few, as at vm.max_map_count) are counted as not
// started, with the error; the others run.
func TestLoadNotStarted(t *testing.T) {
	s := startEcho(t, 1, coro.StackShared)
	defer s.Close()
	const conns = 20
	fault.ArmAt(fault.Mmap, 7, -1, syscall.ENOMEM) // 6 mappings succeed, then none
	res, err := RunLoad(LoadConfig{Addr: s.Addr(), Conns: conns, Duration: 300 * time.Millisecond})
	fault.Disarm()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Report())
	if res.NotStarted == 0 || res.NotStarted == conns || res.Connected+res.NotStarted != conns ||
		!errors.Is(res.StartError, syscall.ENOMEM) || res.Requests == 0 {
		t.Errorf("connected %d, not started %d (%v), requests %d; want some started and the rest not, for ENOMEM",
			res.Connected, res.NotStarted, res.StartError, res.Requests)
	}
	if err := res.Err(); !errors.Is(err, syscall.ENOMEM) || !strings.Contains(err.Error(), "connections not started: spawn: cannot allocate memory") {
		t.Errorf("Err() = %v, want the connections not started", err)
	}
	if !strings.Contains(res.Report(), "\nnot started:    ") {
		t.Errorf("report lacks the not started line")
	}
}

// Connections that the end of the run reaches before they have connected
// are counted as not connected, not lost: here the run ends 1 ns after
// its start, before any coroutine runs.
func TestLoadLate(t *testing.T) {
	s := startEcho(t, 1, coro.StackShared)
	defer s.Close()
	res, err := RunLoad(LoadConfig{Addr: s.Addr(), Conns: 5, Duration: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Late != 5 || res.Connected != 0 || res.ConnectErrors != 0 || res.Requests != 0 {
		t.Errorf("late %d, connected %d, connect errors %d, requests %d; want all 5 late", res.Late, res.Connected, res.ConnectErrors, res.Requests)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "5 of 5 connections had not connected when the run ended: ") {
		t.Errorf("Err() = %v, want the 5 not connected", err)
	}
	if !strings.Contains(res.Report(), "\nnot connected:  5 when the run ended: ") {
		t.Errorf("report lacks the not connected line:\n%s", res.Report())
	}
}

// The errors of the limits a large run meets name the limit and the way
// around it.
func TestExplainLimit(t *testing.T) {
	maxMaps := readSysctl("vm/max_map_count")
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op      string
		err     error
		stack   coro.StackMode
		started int
		want    string // "" for no hint
	}{
		{"spawn", syscall.ENOMEM, coro.StackGuarded, 32700, "spawn: cannot allocate memory: guarded stacks are limited by vm.max_map_count ("},
		{"spawn", syscall.ENOMEM, coro.StackGuarded, 10, ""}, // far below the limit: memory
		{"spawn", syscall.ENOMEM, coro.StackShared, 32700, ""},
		{"connect 127.0.0.1:1", syscall.EMFILE, coro.StackGuarded, 0,
			fmt.Sprintf("connect 127.0.0.1:1: too many open files: the fd limit (ulimit -n) is %d", lim.Cur)},
		{"connect 127.0.0.1:1", syscall.EADDRNOTAVAIL, coro.StackGuarded, 0, "net.ipv4.ip_local_port_range"},
		{"connect 127.0.0.1:1", syscall.ECONNREFUSED, coro.StackGuarded, 0, ""},
	} {
		if tc.op == "spawn" && len(maxMaps) != 1 {
			continue // no /proc/sys here
		}
		err := explainLimit(tc.op, tc.err, tc.stack, tc.started)
		if !errors.Is(err, tc.err) {
			t.Errorf("explainLimit(%s, %v): %v does not wrap the error", tc.op, tc.err, err)
		}
		plain := tc.op + ": " + tc.err.Error()
		if tc.want == "" && err.Error() != plain || tc.want != "" && !strings.HasPrefix(err.Error(), plain) ||
			!strings.Contains(err.Error(), tc.want) {
			t.Errorf("explainLimit(%s, %v, started %d) = %q, want %q", tc.op, tc.err, tc.started, err, tc.want)
		}
	}
	if err := explainLimit("spawn", syscall.ENOMEM, coro.StackGuarded, 32700); len(maxMaps) == 1 && !strings.HasSuffix(err.Error(), ": use -stack shared") {
		t.Errorf("the map count hint %q does not end with the way around it", err)
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
