package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/httpd"
)

// server is a coro server (echo or httpd) running as a child process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error // the child's exit, once
	exited bool
	addr   string // host:port from its first line
}

// startServer runs "coro args...", waits for its first line, which must
// match re with the address as the first group, and stops the child when
// the test ends (if stop has not).
func startServer(t *testing.T, re string, args ...string) *server {
	t.Helper()
	if binary == "" {
		t.Skip("cannot exec the binary here: the server must run as a child")
	}
	s := &server{t: t, cmd: exec.Command(binary, args...), done: make(chan error, 1)}
	s.cmd.Stderr = &s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !s.exited {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	lineCh := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lineCh <- line
		io.Copy(io.Discard, out)
		s.done <- s.cmd.Wait()
	}()
	var line string
	select {
	case line = <-lineCh:
	case <-time.After(10 * time.Second):
		t.Fatalf("coro %q printed nothing in 10 s", args)
	}
	m := regexp.MustCompile(re).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("coro %q: first line %q, want %s; stderr: %s", args, line, re, s.stderr.String())
	}
	s.addr = m[1]
	return s
}

// stop sends SIGTERM, waits for a clean exit and returns the stderr.
func (s *server) stop() string {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.exited = true
		if err != nil {
			s.t.Errorf("%v after SIGTERM: %v; stderr: %s", s.cmd.Args, err, s.stderr.String())
		}
	case <-time.After(10 * time.Second):
		s.t.Fatalf("%v did not exit within 10 s of SIGTERM", s.cmd.Args)
	}
	return s.stderr.String()
}

const echoListening = `^echo: listening on (127\.0\.0\.1:[1-9]\d*) \(\d+ loops?\)\n$`

// TestEchoLoad runs "coro echo" on a free port, loads it with "coro load"
// (20 requests a connection: bounded in work, not in time, which a loaded
// machine stretches), and stops it with SIGTERM.
func TestEchoLoad(t *testing.T) {
	srv := startServer(t, `^echo: listening on (127\.0\.0\.1:[1-9]\d*) \(2 loops\)\n$`,
		"echo", "-addr", "127.0.0.1:0", "-loops", "2")
	addr := srv.addr

	stdout, stderr, code := coro(t, "load", "-addr", addr, "-n", "20", "-d", "60s", "-c", "10")
	if code != 0 {
		t.Fatalf("coro load: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("coro load:\n%s", stdout)
	for _, re := range []string{
		`(?m)^connections: +10 \(10 connected\)$`,
		`(?m)^requests: +[1-9]\d*$`,
		`(?m)^errors: +0$`,
		`(?m)^throughput: +\d+ req/s$`,
		`(?m)^latency: +p50 \S+ +p90 \S+ +p99 \S+ +p99\.9 \S+ +max \S+$`,
		`(?m)^histogram:$`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("coro load output lacks %s", re)
		}
	}
	if got := srv.stop(); !strings.Contains(got, "echo: stopped: 10 connections") {
		t.Errorf("coro echo stderr %q, want its summary with 10 connections", got)
	}
}

// TestServeAddressInUse: a second coro echo or coro httpd on an address
// that one of them serves exits with status 1 and "address already in
// use" instead of taking a share of its connections, whichever server
// runs and whichever comes second.
func TestServeAddressInUse(t *testing.T) {
	servers := map[string][]string{
		"echo":  {"echo", "-loops", "2"},
		"httpd": {"httpd", "-loops", "2"},
	}
	firstLine := map[string]string{
		"echo":  echoListening,
		"httpd": `^httpd: serving \S+ on http://(127\.0\.0\.1:[1-9]\d*)/ \(2 loops\)\n$`,
	}
	for _, first := range []string{"echo", "httpd"} {
		srv := startServer(t, firstLine[first], append(servers[first], "-addr", "127.0.0.1:0")...)
		for _, second := range []string{"echo", "httpd"} {
			args := append(servers[second], "-addr", srv.addr)
			// Bounded: a second server that did start runs until killed.
			cmd := exec.Command(binary, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != exitFailed ||
					!strings.Contains(stderr.String(), "address already in use") ||
					!strings.Contains(stderr.String(), "-reuseport") {
					t.Errorf("coro %q beside coro %s: %v, stderr %q; want exit 1, address already in use and the -reuseport hint",
						args, first, err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("coro %q beside coro %s on %s: still running after 10 s, want it to fail", args, first, srv.addr)
			}
		}
		srv.stop()
	}
}

// echoConns makes n connections to addr, each one echo round trip.
func echoConns(t *testing.T, addr string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, 2)
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "hi" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
		c.Close()
	}
}

// stoppedConns reads the connection count from coro echo's summary.
func stoppedConns(t *testing.T, stderr string) int {
	t.Helper()
	m := regexp.MustCompile(`echo: stopped: (\d+) connections`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary in coro echo's stderr %q", stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestEchoReusePort: a second coro echo with -reuseport shares the first
// one's port, and the kernel spreads the connections over both.
func TestEchoReusePort(t *testing.T) {
	first := startServer(t, echoListening, "echo", "-addr", "127.0.0.1:0")
	second := startServer(t, echoListening, "echo", "-addr", first.addr, "-reuseport")
	// 2 listeners: all 64 on one has probability 2^-63.
	echoConns(t, first.addr, 64)
	n1, n2 := stoppedConns(t, first.stop()), stoppedConns(t, second.stop())
	if n1+n2 != 64 || n1 == 0 || n2 == 0 {
		t.Errorf("connections: %d to the first server, %d to the second; want 64 spread over both", n1, n2)
	}
}

// TestEchoIdle: coro echo -idle closes a connection that sends nothing
// for that long, and says so in its summary.
func TestEchoIdle(t *testing.T) {
	srv := startServer(t, echoListening, "echo", "-addr", "127.0.0.1:0", "-idle", "200ms")
	c, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// The echo, then the server's close, long before the 20 s deadline.
	if got, err := io.ReadAll(c); err != nil || string(got) != "x" {
		t.Fatalf("idle connection: read %q, %v; want \"x\" and the server's close", got, err)
	}
	if got := srv.stop(); !strings.Contains(got, "1 idle timeouts") {
		t.Errorf("coro echo stderr %q, want 1 idle timeout in its summary", got)
	}
	_, stderr, code := coro(t, "echo", "-idle", "0s")
	if code != exitUsage || !strings.Contains(stderr, "-idle 0s") {
		t.Errorf("coro echo -idle 0s: exit %d, stderr %q; want a usage error", code, stderr)
	}
}

func TestNetBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"echo", "-loops", "0"},
		{"echo", "-addr", "no-port"},
		{"echo", "-stack", "tiny"},
		{"echo", "-bogus"},
		{"load", "-c", "x"},
		{"load", "-c", "0"},
		{"load", "-d", "0s"},
		{"load", "-n", "-1"},
		{"load", "-rate", "-1"},
		{"load", "-size", "0"},
		{"load", "-mode", "ftp"},
		{"load", "-addr", "300.1.1.1:80"},
		{"load", "extra"},
		{"load", "-serve", "-addr", "127.0.0.1:7000"},
	} {
		_, stderr, code := coro(t, args...)
		if code != exitUsage {
			t.Errorf("coro %q: exit %d, want %d; stderr: %s", args, code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, "Run 'coro "+args[0]+" -h' for usage.") {
			t.Errorf("coro %q: stderr %q lacks the pointer to -h", args, stderr)
		}
	}
}

// A load run against a port nobody listens on prints its report, with
// every connect counted as a connect error, and fails with exit status 1.
func TestLoadRefused(t *testing.T) {
	stdout, stderr, code := coro(t, "load", "-addr", "127.0.0.1:1", "-d", "60s", "-c", "2")
	if code != exitFailed || !strings.Contains(stderr, "coro load: 2 connect errors (first: connect 127.0.0.1:1: connection refused)") {
		t.Errorf("coro load against a closed port: exit %d, stderr %q; want 1 and 2 connect errors, connection refused", code, stderr)
	}
	for _, re := range []string{`(?m)^connections: +2 \(0 connected\)$`, `(?m)^connect errors: +2 \(first: .*connection refused\)$`, `(?m)^requests: +0$`} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("coro load report lacks %s:\n%s", re, stdout)
		}
	}
}

// A load run with more connections than the fd limit allows fails with
// exit status 1, and its connect error names the limit and the way
// around it; the connections that did get an fd work.
func TestLoadFDLimit(t *testing.T) {
	srv := startServer(t, echoListening, "echo", "-addr", "127.0.0.1:0")
	// The shell lowers the limit (soft and hard, so that Go cannot raise
	// it again) and becomes coro load.
	cmd := exec.Command("sh", "-c", `ulimit -n 64 && exec "$0" "$@"`,
		binary, "load", "-addr", srv.addr, "-c", "200", "-n", "5", "-d", "60s")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailed {
		t.Fatalf("coro load -c 200 with ulimit -n 64: %v, want exit 1\nstdout:\n%s\nstderr:\n%s", err, o.String(), e.String())
	}
	want := "too many open files: the fd limit (ulimit -n) is 64, one fd a connection: raise it with ulimit -n, or use fewer connections (-c)"
	if !strings.Contains(e.String(), want) {
		t.Errorf("stderr %q lacks %q", e.String(), want)
	}
	m := regexp.MustCompile(`(?m)^connections: +200 \((\d+) connected\)$`).FindStringSubmatch(o.String())
	if m == nil || m[1] == "0" || m[1] == "200" || !regexp.MustCompile(`(?m)^requests: +[1-9]`).MatchString(o.String()) {
		t.Errorf("report: want some of the 200 connected and requests completed\n%s", o.String())
	}
	srv.stop()
}

func TestLoadHTTPBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "gopher"}, `-mode "gopher": want echo or http`},
		{[]string{"-mode", "http", "-size", "100"}, "-size is for -mode echo"},
		{[]string{"-path", "/x"}, "-path and -host are for -mode http"},
		{[]string{"-mode", "echo", "-host", "example.com"}, "-path and -host are for -mode http"},
		{[]string{"-mode", "http", "-path", "index.html"}, `-path "index.html": want an absolute path`},
		{[]string{"-mode", "http", "-path", "/a b"}, "without spaces"},
		{[]string{"-mode", "http", "-path", "/\xff"}, "printable ASCII"},
		{[]string{"-mode", "http", "-host", ""}, "-host: empty"},
		{[]string{"-mode", "http", "-host", "a b"}, `-host "a b"`},
		{[]string{"-mode", "http", "-c", "0"}, "-c 0"},
	} {
		_, stderr, code := coro(t, append([]string{"load"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Run 'coro load -h' for usage.") {
			t.Errorf("coro load %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestLoadHTTP runs "coro load -mode http" against coro httpd (in this
// process, so that its counters can be read): a file and a missing path.
func TestLoadHTTP(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := httpd.Start(httpd.Config{Addr: "127.0.0.1:0", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var total int64
	for _, tc := range []struct {
		args   []string
		status string
	}{
		{[]string{"-path", "/f.txt", "-stack", "shared"}, `(?m)^status: +2xx [1-9]\d* +3xx 0 +4xx 0 +5xx 0$`},
		{[]string{"-path", "/missing", "-rate", "500", "-host", "example.com"}, `(?m)^status: +2xx 0 +3xx 0 +4xx [1-9]\d* +5xx 0$`},
	} {
		args := append([]string{"load", "-mode", "http", "-addr", srv.Addr(), "-n", "20", "-d", "60s", "-c", "4"}, tc.args...)
		stdout, stderr, code := coro(t, args...)
		if code != 0 {
			t.Fatalf("coro %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
		t.Logf("coro %q:\n%s", args, stdout)
		for _, re := range []string{
			`(?m)^connections: +4 \(4 connected\)$`,
			`(?m)^errors: +0$`,
			tc.status,
			`(?m)^throughput: +\d+ req/s$`,
			`(?m)^received: +[\d.]+ MB, [\d.]+ MB/s$`,
			`(?m)^latency: +p50 \S+ +p90 \S+ +p99 \S+ +p99\.9 \S+ +max \S+$`,
		} {
			if !regexp.MustCompile(re).MatchString(stdout) {
				t.Errorf("coro load output lacks %s", re)
			}
		}
		m := regexp.MustCompile(`(?m)^requests: +(\d+)$`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("no requests line")
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		total += n
		// The server counts a response when its last write returns, which
		// may be a moment after the client read it.
		for end := time.Now().Add(20 * time.Second); srv.Stats().Requests < total && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
		if got := srv.Stats().Requests; got != total {
			t.Errorf("server answered %d requests in all, coro load completed %d", got, total)
		}
	}
}

// TestLoadServe: "coro load -serve" starts its own server, echo or httpd
// with the built-in site, and the two counts of requests agree.
func TestLoadServe(t *testing.T) {
	for _, mode := range []string{"echo", "http"} {
		args := []string{"load", "-serve", "-mode", mode, "-n", "20", "-d", "60s", "-c", "4", "-stack", "shared"}
		stdout, stderr, code := coro(t, args...)
		if code != 0 {
			t.Fatalf("coro %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
		if !regexp.MustCompile(`(?m)^load: serving .* on (http://)?127\.0\.0\.1:\d+/?$`).MatchString(stdout) {
			t.Errorf("coro %q: no serving line in\n%s", args, stdout)
		}
		m := regexp.MustCompile(`(?m)^server: +(\d+) requests answered \(the load generator counted (\d+)\)$`).FindStringSubmatch(stdout)
		if m == nil || m[1] != m[2] || m[1] == "0" {
			t.Errorf("coro %q: server line %q, want equal non-zero counts\n%s", args, m, stdout)
		}
		if !regexp.MustCompile(`(?m)^errors: +0$`).MatchString(stdout) {
			t.Errorf("coro %q: errors in\n%s", args, stdout)
		}
	}
}
