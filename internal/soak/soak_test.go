package soak

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccoro/coro/internal/httpd"
)

const (
	// minConns is the fewest connections a soak makes, however short.
	minConns = 10_000
	// rate is the connections opened per second: minConns in 50 s.
	rate = 200
	// maxConcurrent bounds the connections open at once, far below the
	// fd limit (20,000) of the machines the tests run on.
	maxConcurrent = 400
	// sources are the loopback addresses the clients connect from, so
	// that the TIME_WAIT of closed connections spreads over several port
	// ranges.
	sources = 8
	// bigSize is the file the clients reset in the middle of.
	bigSize = 4 << 20
)

// The child: serve the site at CORO_SOAK_SERVER until stdin closes, and
// print a sample of the process's own fds, RSS and server counters each
// second.
func TestMain(m *testing.M) {
	if root := os.Getenv("CORO_SOAK_SERVER"); root != "" {
		os.Exit(serve(root))
	}
	os.Exit(m.Run())
}

func serve(root string) int {
	// RSS in 4 KiB pages whatever the machine's transparent huge pages
	// setting: with "always" (as .ci/run sets it for the compilers' sake)
	// a heap could grow and khugepaged could collapse it in 2 MiB steps,
	// which the flatness check would read as growth. Inherited by nothing
	// here; ignored where the kernel lacks it (the samples say RSS all the
	// same).
	_ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
	s, err := httpd.Start(httpd.Config{Root: root, Loops: 2, Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak server:", err)
		return 1
	}
	fmt.Printf("addr %s\n", s.Addr())
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-eof:
			if err := s.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "soak server: Close:", err)
				return 1
			}
			return 0
		case <-tick.C:
			st := s.Stats()
			fmt.Printf("sample fds=%d rss_kb=%d live_conns=%d live_bufs=%d conns=%d requests=%d\n",
				countFDs(), rssKB(), st.LiveConns, st.LiveBufs, st.Conns, st.Requests)
		}
	}
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read
}

func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// sample is one line of the child's report.
type sample struct {
	at                       time.Duration
	fds, liveConns, liveBufs int64
	rssKB, conns, requests   int64
}

func parseSample(line string, at time.Duration) (sample, bool) {
	rest, ok := strings.CutPrefix(line, "sample ")
	if !ok {
		return sample{}, false
	}
	s := sample{at: at}
	fields := map[string]*int64{"fds": &s.fds, "rss_kb": &s.rssKB, "live_conns": &s.liveConns,
		"live_bufs": &s.liveBufs, "conns": &s.conns, "requests": &s.requests}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return sample{}, false
		}
		if p := fields[k]; p != nil {
			*p = n
		}
	}
	return s, true
}

// server is the child process and the samples it has printed.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	start time.Time

	mu      sync.Mutex
	samples []sample
	stderr  bytes.Buffer
	exited  chan struct{}
}

func startServer(t *testing.T, root string) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CORO_SOAK_SERVER="+root)
	srv := &server{cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &srv.mu, w: &srv.stderr}
	var err error
	if srv.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	srv.start = time.Now()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("soak server printed no address; stderr:\n%s", srv.stderr.String())
	}
	addr, ok := strings.CutPrefix(sc.Text(), "addr ")
	if !ok {
		t.Fatalf("soak server: %q, want its address", sc.Text())
	}
	srv.addr = addr
	go func() {
		defer close(srv.exited)
		for sc.Scan() {
			if s, ok := parseSample(sc.Text(), time.Since(srv.start)); ok {
				srv.mu.Lock()
				srv.samples = append(srv.samples, s)
				srv.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		srv.stdin.Close()
		select {
		case <-srv.exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("soak server: %v; stderr:\n%s", err, srv.stderr.String())
		}
	})
	return srv
}

func (s *server) snapshot() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample(nil), s.samples...)
}

// next waits for the sample after the n-th one.
func (s *server) next(t *testing.T, n int) sample {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ss := s.snapshot(); len(ss) > n {
			return ss[n]
		}
		if time.Now().After(deadline) {
			t.Fatal("the soak server printed no sample for 20 s")
		}
		time.Sleep(50 * time.Millisecond) // polling for the next line
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tally counts what the clients did and saw.
type tally struct {
	conns, requests, resets, closedByServer, failures atomic.Int64
	mu                                                sync.Mutex
	firstErrors                                       []string
}

func (c *tally) fail(format string, args ...any) {
	c.failures.Add(1)
	c.mu.Lock()
	if len(c.firstErrors) < 10 {
		c.firstErrors = append(c.firstErrors, fmt.Sprintf(format, args...))
	}
	c.mu.Unlock()
}

// client runs connection number i: a mix of keep-alive exchanges, resets
// in the middle of a response, resets in the middle of a request head and
// connections the server closes.
func client(addr string, i int64, tl *tally) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%sources))}
	d := net.Dialer{LocalAddr: src, Timeout: 20 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tl.fail("conn %d: dial: %v", i, err)
		return
	}
	tc := c.(*net.TCPConn)
	defer tc.Close()
	tl.conns.Add(1)
	tc.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(tc)
	get := func(path string, close bool) (*http.Response, error) {
		req := "GET " + path + " HTTP/1.1\r\nHost: soak\r\n"
		if close {
			req += "Connection: close\r\n"
		}
		if _, err := io.WriteString(tc, req+"\r\n"); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, nil)
	}
	small := func(close bool) bool {
		resp, err := get("/small.txt", close)
		if err != nil {
			tl.fail("conn %d: GET /small.txt: %v", i, err)
			return false
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != smallBody {
			tl.fail("conn %d: GET /small.txt: %d, %d bytes, %v", i, resp.StatusCode, len(body), err)
			return false
		}
		tl.requests.Add(1)
		return true
	}
	// Keep-alive requests a moment apart, so that a few hundred
	// connections are open at any time.
	pace := func() { time.Sleep(time.Duration(300+i%5*200) * time.Millisecond) }
	switch i % 10 {
	case 0, 1, 2, 3, 4, 5: // a few requests, then the client closes
		for k := int64(0); k <= i%4; k++ {
			if !small(false) {
				return
			}
			pace()
		}
	case 6, 7: // reset in the middle of a large response
		small(false)
		pace()
		resp, err := get("/big.bin", false)
		if err != nil || resp.StatusCode != 200 {
			tl.fail("conn %d: GET /big.bin: %v", i, err)
			return
		}
		if _, err := io.CopyN(io.Discard, resp.Body, 64<<10); err != nil {
			tl.fail("conn %d: reading /big.bin: %v", i, err)
			return
		}
		tc.SetLinger(0) // close sends RST with most of the file unsent
		tl.resets.Add(1)
	case 8: // the server closes after the answer
		small(false)
		pace()
		if small(true) {
			if _, err := br.ReadByte(); err != io.EOF {
				tl.fail("conn %d: after Connection: close: %v, want EOF", i, err)
				return
			}
			tl.closedByServer.Add(1)
		}
	case 9: // reset in the middle of a request head
		io.WriteString(tc, "GET /small.txt HTTP/1.1\r\nHost: so")
		pace()
		tc.SetLinger(0)
		tl.resets.Add(1)
	}
}

const smallBody = "soak: a small file served over and over\n"

func writeSite(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), bigSize/16)
	if err := os.WriteFile(filepath.Join(root, "small.txt"), []byte(smallBody), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestSoak churns connections against coro httpd for $CORO_SOAK (at
// least minConns of them) and requires the server's fds and RSS to stay
// flat after the warm-up (the first quarter of the run), and every fd
// beyond the idle server's to be gone once the clients are.
//
// Flat means: in the last half of the run, (1) the fds that are not
// connections (fds - live connections: the listeners, the loops' own, a
// file being sent) never exceed the warm-up's most by more than
// fdSlack, and (2) RSS never exceeds the warm-up's most by more than
// rssSlack (10%, at least 8 MiB). A leak of one fd or one stack per
// connection would break the first or the second many times over.
func TestSoak(t *testing.T) {
	spec := os.Getenv("CORO_SOAK")
	if spec == "" {
		t.Skip("set CORO_SOAK to a duration to run the soak (make test: 60s; make soak: 10m)")
	}
	dur, err := time.ParseDuration(spec)
	if err != nil || dur < 20*time.Second {
		t.Fatalf("CORO_SOAK=%q: want a duration of at least 20s", spec)
	}
	srv := startServer(t, writeSite(t))
	idle := srv.next(t, 0)
	t.Logf("idle server: %d fds, %d kB RSS", idle.fds, idle.rssKB)

	var tl tally
	sem := make(chan struct{}, maxConcurrent)
	var wg sync.WaitGroup
	begin := time.Now()
	tick := time.NewTicker(time.Second / rate)
	var opened int64
	for ; time.Since(begin) < dur || opened < minConns; opened++ {
		if time.Since(begin) > 3*dur {
			t.Errorf("only %d connections opened in %v (want %d): the clients fell far behind", opened, 3*dur, minConns)
			break
		}
		<-tick.C          // pacing the churn, not waiting for a condition
		sem <- struct{}{} // at most maxConcurrent open
		wg.Add(1)
		go func(i int64) {
			defer wg.Done()
			defer func() { <-sem }()
			client(srv.addr, i, &tl)
		}(opened)
	}
	tick.Stop()
	wg.Wait()
	churn := time.Since(begin)

	// Once the clients are gone, so are their connections and fds.
	var last sample
	for n := len(srv.snapshot()); ; n++ {
		last = srv.next(t, n)
		if last.liveConns == 0 && last.fds <= idle.fds {
			break
		}
		if time.Since(begin) > churn+60*time.Second {
			t.Errorf("60 s after the churn: %d live connections, %d fds (idle server: %d)", last.liveConns, last.fds, idle.fds)
			break
		}
	}

	all := srv.snapshot()
	var run []sample // the samples taken during the churn
	for _, s := range all {
		if d := s.at - begin.Sub(srv.start); d >= 0 && d <= churn {
			run = append(run, s)
		}
	}
	t.Logf("%d connections (%d requests, %d reset by the client, %d closed by the server) in %v; %d client failures",
		tl.conns.Load(), tl.requests.Load(), tl.resets.Load(), tl.closedByServer.Load(), churn.Round(time.Second), tl.failures.Load())
	var series strings.Builder
	fmt.Fprintf(&series, "%6s %6s %6s %6s %9s %8s %9s\n", "t(s)", "fds", "conns", "bufs", "rss(kB)", "accepted", "requests")
	for _, s := range all {
		fmt.Fprintf(&series, "%6.0f %6d %6d %6d %9d %8d %9d\n", s.at.Seconds(), s.fds, s.liveConns, s.liveBufs, s.rssKB, s.conns, s.requests)
	}
	t.Logf("server samples, one a second:\n%s", series.String())

	if f := tl.failures.Load(); f > 0 {
		tl.mu.Lock()
		t.Errorf("%d client failures; the first:\n%s", f, strings.Join(tl.firstErrors, "\n"))
		tl.mu.Unlock()
	}
	if got := tl.conns.Load(); got < minConns {
		t.Errorf("%d connections made, want at least %d", got, minConns)
	}
	if len(run) < 8 {
		t.Fatalf("only %d samples during the churn", len(run))
	}
	warm := run[:len(run)/4]
	tail := run[len(run)/2:]
	maxOf := func(ss []sample, f func(sample) int64) int64 {
		m := f(ss[0])
		for _, s := range ss[1:] {
			m = max(m, f(s))
		}
		return m
	}
	other := func(s sample) int64 { return s.fds - s.liveConns }
	rss := func(s sample) int64 { return s.rssKB }
	const fdSlack = 16
	if w, l := maxOf(warm, other), maxOf(tail, other); l > w+fdSlack {
		t.Errorf("fds besides connections grew: at most %d in the warm-up, %d in the last half (slack %d)", w, l, fdSlack)
	}
	w, l := maxOf(warm, rss), maxOf(tail, rss)
	if slack := max(w/10, 8<<10); l > w+slack {
		t.Errorf("RSS grew: at most %d kB in the warm-up, %d kB in the last half (slack %d kB)", w, l, slack)
	}
	t.Logf("flat: fds besides connections at most %d (warm-up) / %d (last half); RSS at most %d / %d kB",
		maxOf(warm, other), maxOf(tail, other), w, l)
}
