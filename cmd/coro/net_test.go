package main

import (
	"bufio"
	"bytes"
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

// TestEchoLoad runs "coro echo" on a free port, loads it with "coro load"
// for a second, and stops it with SIGTERM.
func TestEchoLoad(t *testing.T) {
	if binary == "" {
		t.Skip("cannot exec the binary here: the server must run as a child")
	}
	srv := exec.Command(binary, "echo", "-addr", "127.0.0.1:0", "-loops", "2")
	var srvErr bytes.Buffer
	srv.Stderr = &srvErr
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			srv.Process.Kill()
			srv.Wait()
		}
	}()
	lineCh := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lineCh <- line
	}()
	var line string
	select {
	case line = <-lineCh:
	case <-time.After(5 * time.Second):
		t.Fatal("coro echo printed nothing in 5 s")
	}
	m := regexp.MustCompile(`^echo: listening on (127\.0\.0\.1:(\d+)) \(2 loops\)\n$`).FindStringSubmatch(line)
	if m == nil || m[2] == "0" {
		t.Fatalf("coro echo first line %q, want \"echo: listening on 127.0.0.1:PORT (2 loops)\"; stderr: %s", line, srvErr.String())
	}
	addr := m[1]

	stdout, stderr, code := coro(t, "load", "-addr", addr, "-d", "1s", "-c", "10")
	if code != 0 {
		t.Fatalf("coro load: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("coro load:\n%s", stdout)
	for _, re := range []string{
		`(?m)^connections: 10 \(10 connected\)$`,
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

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("coro echo after SIGTERM: %v; stderr: %s", err, srvErr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("coro echo did not exit within 5 s of SIGTERM")
	}
	if !strings.Contains(srvErr.String(), "echo: stopped: 10 connections") {
		t.Errorf("coro echo stderr %q, want its summary with 10 connections", srvErr.String())
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

// A load run against a port nobody listens on fails with exit status 1.
func TestLoadRefused(t *testing.T) {
	_, stderr, code := coro(t, "load", "-addr", "127.0.0.1:1", "-d", "200ms", "-c", "2")
	if code != exitFailed || !strings.Contains(stderr, "connection refused") {
		t.Errorf("coro load against a closed port: exit %d, stderr %q; want 1 and connection refused", code, stderr)
	}
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
		args := append([]string{"load", "-mode", "http", "-addr", srv.Addr(), "-d", "500ms", "-c", "4"}, tc.args...)
		stdout, stderr, code := coro(t, args...)
		if code != 0 {
			t.Fatalf("coro %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
		t.Logf("coro %q:\n%s", args, stdout)
		for _, re := range []string{
			`(?m)^connections: 4 \(4 connected\)$`,
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
		args := []string{"load", "-serve", "-mode", mode, "-d", "300ms", "-c", "4", "-stack", "shared"}
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
