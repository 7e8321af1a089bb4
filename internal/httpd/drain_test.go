package httpd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// drainSize is the download in progress when the drain begins: large
// enough that it cannot finish before the test has checked the rest.
const drainSize = 1 << 30

// download is a GET of /huge.bin in progress, by Go's client or curl.
type download struct {
	body io.Reader
	wait func() error // the transfer's end: nil when it completed
	got  int64
}

func goDownload(t *testing.T, s *Server) *download {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Minute}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(s.URL() + "huge.bin")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != drainSize || resp.Close {
		t.Fatalf("GET /huge.bin before the drain: %d, length %d, close %v", resp.StatusCode, resp.ContentLength, resp.Close)
	}
	return &download{body: resp.Body, wait: func() error { return resp.Body.Close() }}
}

func curlDownload(t *testing.T, s *Server) *download {
	t.Helper()
	bin := curlBin(t)
	cmd := exec.Command(bin, append(append([]string{"-q"}, curlOpts...), "--max-time", "120", "--fail", s.URL()+"huge.bin")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return &download{body: out, wait: func() error {
		if err := cmd.Wait(); err != nil {
			return errors.New(err.Error() + ": " + stderr.String())
		}
		return nil
	}}
}

// read reads n bytes of the body (all that is left when n < 0).
func (d *download) read(t *testing.T, n int64) error {
	t.Helper()
	var got int64
	var err error
	if n < 0 {
		got, err = io.Copy(io.Discard, d.body)
	} else {
		got, err = io.CopyN(io.Discard, d.body, n)
	}
	d.got += got
	return err
}

// TestDrain stops a server with Shutdown while a 1 GiB download is in
// progress, a keep-alive connection is idle and another has sent half a
// request head. The listeners close at once (new connections are
// refused), the idle connection is closed, the half-sent request is
// answered with "Connection: close". Then the download completes when the
// drain's context lets it (Shutdown returns nil), and is cut when the
// context ends first (Shutdown says so). Go's client and curl, both stack
// modes, two loops (two listeners).
func TestDrain(t *testing.T) {
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		for _, client := range []string{"go", "curl"} {
			for _, complete := range []bool{true, false} {
				name := stack.String() + "/" + client + map[bool]string{true: "/completes", false: "/cut"}[complete]
				t.Run(name, func(t *testing.T) { testDrain(t, stack, client, complete) })
			}
		}
	}
}

func testDrain(t *testing.T, stack coro.StackMode, client string, complete bool) {
	root, _ := site(t)
	sparseFile(t, root, "huge.bin", drainSize)
	// Timeouts far beyond the test's, so that only the drain can close the
	// idle connection or answer the half-sent head.
	s := start(t, Config{Root: root, Stack: stack, Loops: 2, IdleTimeout: time.Hour, HeaderTimeout: time.Hour})
	addr := s.Addr()

	// An idle keep-alive connection, after one request.
	idle := dialServer(t, s, 20*time.Second)
	defer idle.Close()
	idleR := bufio.NewReader(idle)
	io.WriteString(idle, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(idleR, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("idle connection's request: %d, close %v", resp.StatusCode, resp.Close)
	}

	var d *download
	if client == "go" {
		d = goDownload(t, s)
	} else {
		d = curlDownload(t, s)
	}
	if err := d.read(t, 1<<20); err != nil {
		t.Fatalf("the download's first MiB: %v", err)
	}

	// The idle connection frees its buffer after its response is sent: on
	// a loaded machine its loop may not have got there yet, and then the
	// count of 2 below would be reached before the half head is read (the
	// drain would then close that connection as never read: "unexpected
	// EOF", seen under qemu on a busy machine).
	waitFor(t, "the idle connection's buffer freed (1 buffer: the download's)", func() bool { return s.Stats().LiveBufs == 1 })

	// Half a head: the server reads it and waits for the rest, holding a
	// request buffer (the idle connection holds none).
	half := dialServer(t, s, 20*time.Second)
	defer half.Close()
	io.WriteString(half, "GET /index.html HTTP/1.1\r\n")
	waitFor(t, "the half head read (2 buffers: it and the download)", func() bool { return s.Stats().LiveBufs == 2 })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()

	waitFor(t, "the listeners closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.Close()
			return false
		}
		if errors.Is(err, syscall.ECONNRESET) {
			// Queued on a listener as it closed: not refused yet.
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial after Shutdown: %v, want ECONNREFUSED", err)
		}
		return true
	})
	if n, err := idleR.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("idle connection at the drain: read %d, %v, want EOF", n, err)
	}
	io.WriteString(half, "Host: x\r\n\r\n")
	halfR := bufio.NewReader(half)
	resp, err = http.ReadResponse(halfR, nil)
	if err != nil {
		t.Fatalf("the half-sent request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !resp.Close || string(body) != indexHTML {
		t.Errorf("the half-sent request: %d, Connection %q, %q; want 200, close", resp.StatusCode, resp.Header.Get("Connection"), body)
	}
	if n, err := halfR.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after the half-sent request's response: read %d, %v, want EOF", n, err)
	}
	half.Close()

	if complete {
		if err := d.read(t, -1); err != nil || d.got != drainSize {
			t.Errorf("download during the drain: %d bytes, %v; want %d", d.got, err, drainSize)
		}
		if err := d.wait(); err != nil {
			t.Errorf("download: %v", err)
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		return
	}
	// The deadline: Shutdown cuts the download, which has stalled.
	cancel()
	if err := <-shut; !errors.Is(err, ErrDrainCut) || !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown at its deadline: %v, want ErrDrainCut and context.Canceled", err)
	}
	rerr := d.read(t, -1)
	werr := d.wait()
	if d.got >= drainSize || (rerr == nil && werr == nil) {
		t.Errorf("download cut by the drain deadline: %d bytes, errors %v, %v; want fewer and an error", d.got, rerr, werr)
	}
}
