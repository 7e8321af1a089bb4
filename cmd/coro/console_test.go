package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startWithConsole runs `coro args...` (a server with -console flags)
// and returns the lines it printed at start: want of them.
func startWithConsole(t *testing.T, want int, args ...string) []string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, want)
	go func() {
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			lines <- line
		}
		cmd.Wait()
		close(done)
	}()
	var got []string
	for len(got) < want {
		select {
		case l := <-lines:
			got = append(got, l)
		case <-time.After(10 * time.Second):
			t.Fatalf("printed %q within 10 s (stderr %q)", got, stderr.String())
		}
	}
	return got
}

// runCoro runs the binary with stdin and returns its stdout, stderr and
// exit status.
func runCoro(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestConsoleClient: coro httpd and coro echo with -console and
// -console-tcp, driven by coro console one command at a time, from a
// script on stdin, over TCP with its token, and its errors.
func TestConsoleClient(t *testing.T) {
	if binary == "" {
		t.Skip("needs the built binary (the servers run until signalled)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "httpd.sock")
	lines := startWithConsole(t, 3, "httpd", "-addr", "127.0.0.1:0", "-loops", "2",
		"-console", sock, "-console-tcp", "127.0.0.1:0")
	if !strings.HasPrefix(lines[0], "httpd: serving ") || lines[1] != "console: listening on "+sock+"\n" {
		t.Fatalf("start: %q", lines)
	}
	m := regexp.MustCompile(`^console: listening on (127\.0\.0\.1:\d+), token ([0-9a-f]{32})\n$`).FindStringSubmatch(lines[2])
	if m == nil {
		t.Fatalf("the TCP console's line: %q", lines[2])
	}
	tcpAddr, token := m[1], m[2]

	// One command.
	out, errOut, code := runCoro(t, "", "console", sock, "loops")
	if code != 0 || !strings.Contains(out, "LOOP") || strings.Count(out, "httpd") < 2 {
		t.Errorf("console loops: %d %q %q", code, out, errOut)
	}
	out, _, code = runCoro(t, "", "console", sock, "json", "ps")
	var ps struct {
		Coros []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Wait  string `json:"wait"`
		} `json:"coroutines"`
	}
	if err := json.Unmarshal([]byte(out), &ps); code != 0 || err != nil || len(ps.Coros) < 2 {
		t.Errorf("console json ps: %d %v %q", code, err, out)
	}
	for _, c := range ps.Coros {
		if c.State == "waiting" && c.Wait == "" {
			t.Errorf("a waiting coroutine without its wait: %+v", c)
		}
	}
	// A script on stdin, as socat or a pipe would send it.
	out, errOut, code = runCoro(t, "help\n\nstats\nnosuch\nquit\nloops\n", "console", sock)
	for _, want := range []string{"coro console: pid ", "bt ID|all", "accounting off", `error: unknown command "nosuch"`, "bye\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("script: no %q in %q", want, out)
		}
	}
	if code != 0 || !strings.HasSuffix(out, "bye\n") {
		t.Errorf("script: status %d (stderr %q); after quit nothing runs: %q", code, errOut, out)
	}
	// A command that answers an error fails.
	if _, _, code := runCoro(t, "", "console", sock, "bt", "123456789"); code != 1 {
		t.Errorf("bt of no coroutine: status %d, want 1", code)
	}
	// TCP with the token, from the flag or the environment.
	if out, errOut, code := runCoro(t, "", "console", "-token", token, tcpAddr, "loops"); code != 0 || !strings.Contains(out, "httpd") {
		t.Errorf("TCP: %d %q %q", code, out, errOut)
	}
	cmd := exec.Command(binary, "console", tcpAddr, "memstats")
	cmd.Env = append(cmd.Environ(), "CORO_CONSOLE_TOKEN="+token)
	if b, err := cmd.Output(); err != nil || !strings.Contains(string(b), "HeapAlloc") {
		t.Errorf("TCP, token from the environment: %v %q", err, b)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"console", tcpAddr, "loops"}, 1, "needs its token"},
		{[]string{"console", "-token", "nope", tcpAddr, "loops"}, 1, "authentication required"},
		{[]string{"console", filepath.Join(dir, "none.sock"), "loops"}, 1, "no such file"},
		{[]string{"console"}, 2, "want PATH or HOST:PORT"},
		{[]string{"httpd", "-addr", "127.0.0.1:0", "-console-tcp", "0.0.0.0:0"}, 1, "not a loopback address"},
		{[]string{"httpd", "-addr", "127.0.0.1:0", "-console", sock}, 1, "a server listens on it"},
	} {
		_, errOut, code := runCoro(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%q: status %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}

	// coro echo takes the same flags.
	esock := filepath.Join(dir, "echo.sock")
	lines = startWithConsole(t, 2, "echo", "-addr", "127.0.0.1:0", "-console", esock)
	if lines[1] != "console: listening on "+esock+"\n" {
		t.Fatalf("echo: %q", lines)
	}
	if out, errOut, code := runCoro(t, "ps\n", "console", esock); code != 0 || !strings.Contains(out, "coroutines") {
		t.Errorf("echo's console: %d %q %q", code, out, errOut)
	}
}

// TestConsoleTerminal drives coro console through a pseudo-terminal: the
// line-editing session (x/term) prompts, runs what is typed and ends with
// quit.
func TestConsoleTerminal(t *testing.T) {
	if binary == "" {
		t.Skip("needs the built binary")
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	defer master.Close()
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the slave: %v", err)
	}
	defer slave.Close()

	sock := filepath.Join(t.TempDir(), "echo.sock")
	startWithConsole(t, 2, "echo", "-addr", "127.0.0.1:0", "-console", sock)
	cmd := exec.Command(binary, "console", sock)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var mu sync.Mutex
	var seen strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := master.Read(buf)
			mu.Lock()
			seen.Write(buf[:k])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			s := seen.String()
			mu.Unlock()
			if strings.Contains(s, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q on the terminal: %q", want, s)
			}
		}
	}
	waitFor("coro> ")
	io.WriteString(master, "loops\r")
	waitFor("echo-0")
	io.WriteString(master, "quit\r")
	waitFor("bye")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("coro console: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("coro console did not exit after quit")
	}
}
