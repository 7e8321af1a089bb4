package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
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
		{"load", "-mode", "http"},
		{"load", "-mode", "ftp"},
		{"load", "-addr", "300.1.1.1:80"},
		{"load", "extra"},
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
