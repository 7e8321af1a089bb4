package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
)

// A client of the test: sends lines, reads answers up to the "." line.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, network, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t, c, bufio.NewReader(c)}
}

// answer reads one answer (the lines before "."), dot-stuffing undone.
func (c *client) answer() (string, error) {
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		if line == ".\n" {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}

func (c *client) mustAnswer() string {
	c.t.Helper()
	a, err := c.answer()
	if err != nil {
		c.t.Fatalf("reading an answer: %v (so far %q)", err, a)
	}
	return a
}

func (c *client) do(line string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.c, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.mustAnswer()
}

// doJSON runs "json line" and decodes the answer into v.
func (c *client) doJSON(line string, v any) {
	c.t.Helper()
	a := c.do("json " + line)
	if err := json.Unmarshal([]byte(a), v); err != nil {
		c.t.Fatalf("json %s: %v in %q", line, err, a)
	}
}

// world is a loop with known coroutines: a sleeper, one with a deadline,
// and an acceptor waiting on a listener's fd.
type world struct {
	l                *coro.Loop
	sleeper, timed   *coro.Coroutine
	acceptor         *coro.Coroutine
	lfd              int
	boxes            []ctest.Box
	slowMu           sync.Mutex
	slow             map[uint64]time.Duration
	consoleLoopsOnly func() []*coro.Loop
}

func newWorld(t *testing.T) *world {
	t.Helper()
	l, err := coro.NewLoop(coro.WithName("con"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{l: l, slow: map[uint64]time.Duration{}}
	t.Cleanup(func() {
		l.Close(context.Background())
		for _, b := range w.boxes {
			b.Free()
		}
	})
	w.consoleLoopsOnly = func() []*coro.Loop { return []*coro.Loop{l} }
	box := func() ctest.Box { b := ctest.NewBox(); w.boxes = append(w.boxes, b); return b }
	b := box()
	if w.sleeper, err = l.Spawn(coro.Entry(ctest.SleepForever()), b.Ptr(), coro.WithCoroutineName("sleeper")); err != nil {
		t.Fatal(err)
	}
	b = box()
	b.SetN(3600 * 1000)
	if w.timed, err = l.Spawn(coro.Entry(ctest.SleepMS()), b.Ptr(), coro.WithCoroutineName("timed")); err != nil {
		t.Fatal(err)
	}
	w.lfd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(w.lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(w.lfd, 1); err != nil {
		t.Fatal(err)
	}
	b = box()
	b.SetN(int64(w.lfd))
	if w.acceptor, err = l.Spawn(coro.Entry(ctest.AcceptGreet()), b.Ptr(), coro.WithCoroutineName("acceptor")); err != nil {
		t.Fatal(err)
	}
	// Wait until all three have parked.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := l.Dump(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d.ByState[coro.StateWaiting] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the coroutines never parked: %+v", d)
		}
		time.Sleep(time.Millisecond)
	}
	return w
}

func (w *world) config(path string) Config {
	return Config{
		Path: path, Log: io.Discard, Loops: w.consoleLoopsOnly,
		SlowThreshold: func(l *coro.Loop) (time.Duration, error) {
			w.slowMu.Lock()
			defer w.slowMu.Unlock()
			return w.slow[l.ID()], nil
		},
		SetSlowThreshold: func(l *coro.Loop, d time.Duration) error {
			w.slowMu.Lock()
			defer w.slowMu.Unlock()
			w.slow[l.ID()] = d
			return nil
		},
	}
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sockPath(t *testing.T) string { return filepath.Join(t.TempDir(), "console.sock") }

func TestCommands(t *testing.T) {
	w := newWorld(t)
	s := start(t, w.config(sockPath(t)))
	fi, err := os.Stat(s.Addr())
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %s: %v %v, want a socket with mode 0600", s.Addr(), fi.Mode(), err)
	}
	c := dial(t, "unix", s.Addr())
	if g := c.mustAnswer(); !strings.Contains(g, "coro console: pid ") || !strings.Contains(g, "1 loops") {
		t.Errorf("greeting %q", g)
	}
	id := func(co *coro.Coroutine) string { return fmt.Sprint(co.ID()) }
	for _, tc := range []struct {
		line string
		want []string // substrings of the text answer
	}{
		{"help", []string{"ps [LOOP] [FILTER]", "bt ID|all", "accounting on|off", "json COMMAND"}},
		{"loops", []string{"LOOP", "con", "  3  "}},
		{"ps", []string{"sleeper", "timed", "acceptor", "waiting", "sleep (deadline in ", "fd ", " read", "3 coroutines"}},
		{"ps con", []string{"sleeper", "3 coroutines"}},
		{"ps " + fmt.Sprint(w.l.ID()) + " fd", []string{"acceptor", "1 coroutines"}},
		{"ps sleep", []string{"sleeper", "timed", "2 coroutines"}},
		{"ps nosuch", []string{"0 coroutines"}},
		{"bt " + id(w.sleeper), []string{"#" + id(w.sleeper) + ` "sleeper" waiting sleep`, "    #0 ", "    #1 "}},
		{"bt all", []string{`"sleeper"`, `"timed"`, `"acceptor"`, "    #0 "}},
		{"stats", []string{`loop ` + fmt.Sprint(w.l.ID()) + ` "con": 3 coroutines`, "accounting off", "goroutines"}},
		{"fds", []string{fmt.Sprintf("%d ", w.lfd), "read", "acceptor", "fds registered", "open fds"}},
		{"timers", []string{"timed", "1 timers"}},
		{"go", []string{"goroutine ", "goroutines"}},
		{"gc", []string{"gc: heap "}},
		{"memstats", []string{"HeapAlloc", "NumGC"}},
		{"slow", []string{"slow-coroutine threshold", "off"}},
		{"slow 250", []string{"set to 250 ms on 1 loops", "250ms"}},
		{"accounting on", []string{"accounting on on 1 loops"}},
		{"loops", []string{"(#"}},
		{"accounting off", []string{"accounting off on 1 loops"}},
		{"bt 999999999", []string{"error: bt: no coroutine #999999999"}},
		{"cancel 999999999", []string{"error: cancel: no coroutine #999999999"}},
		{"cancel x", []string{"error: cancel: usage: cancel ID"}},
		{"ps nosuchloop x", []string{`error: ps: no loop "nosuchloop"`}},
		{"accounting maybe", []string{"error: accounting: usage: accounting on|off"}},
		{"slow x", []string{`error: slow: "x": want milliseconds`}},
		{"HELP", []string{"ps [LOOP]"}},
	} {
		a := c.do(tc.line)
		for _, want := range tc.want {
			if !strings.Contains(a, want) {
				t.Errorf("%s: no %q in:\n%s", tc.line, want, a)
			}
		}
	}
	// JSON forms: one line each, decoded.
	var loops loopsAnswer
	c.doJSON("loops", &loops)
	if len(loops.Loops) != 1 || loops.Loops[0].Name != "con" || loops.Loops[0].Coroutines != 3 || loops.Loops[0].Timers != 1 {
		t.Errorf("json loops: %+v", loops)
	}
	var ps psAnswer
	c.doJSON("ps", &ps)
	byName := map[string]coroRow{}
	for _, r := range ps.Coros {
		byName[r.Name] = r
	}
	if r := byName["acceptor"]; r.Wait != "fd" || r.FD != w.lfd || r.Events != "read" || r.State != "waiting" || r.StackSize == 0 {
		t.Errorf("json ps acceptor: %+v", r)
	}
	if r := byName["timed"]; r.Wait != "sleep" || r.DeadlineMS == nil || *r.DeadlineMS <= 0 {
		t.Errorf("json ps timed: %+v", r)
	}
	var bt psAnswer
	c.doJSON("bt "+id(w.sleeper), &bt)
	if len(bt.Coros) != 1 || len(bt.Coros[0].Frames) < 2 {
		t.Errorf("json bt: %+v", bt)
	}
	var fds fdsAnswer
	c.doJSON("fds", &fds)
	if len(fds.Coros) != 1 || fds.OpenFDs < 1 {
		t.Errorf("json fds: %+v", fds)
	}
	for _, cmd := range []string{"help", "stats", "timers", "go", "gc", "memstats", "slow", "accounting off"} {
		var v map[string]any
		c.doJSON(cmd, &v)
		if len(v) == 0 {
			t.Errorf("json %s: empty", cmd)
		}
	}
	// cancel ends the sleeper's sleep with ECANCELED.
	if a := c.do("cancel " + id(w.sleeper)); !strings.Contains(a, "cancelled #"+id(w.sleeper)) {
		t.Errorf("cancel: %q", a)
	}
	if _, err := w.sleeper.Wait(context.Background()); err != nil {
		t.Errorf("the cancelled sleeper: %v", err)
	}
	if a := c.do("quit"); a != "bye\n" {
		t.Errorf("quit: %q", a)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("after quit: %v, want EOF", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Addr()); !os.IsNotExist(err) {
		t.Errorf("the socket stays after Close: %v", err)
	}
}

// By default "slow" reads and sets the loops' own threshold (the
// watchdog's, coro.Loop.SetSlowThreshold).
func TestSlowDefault(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(sockPath(t))
	cfg.SlowThreshold, cfg.SetSlowThreshold = nil, nil
	s := start(t, cfg)
	c := dial(t, "unix", s.Addr())
	c.mustAnswer()
	if a := c.do("slow"); !strings.Contains(a, coro.DefaultSlowThreshold.String()) {
		t.Errorf("slow: %q", a)
	}
	if a := c.do("slow 0"); !strings.Contains(a, "set to 0 ms on 1 loops") || !strings.Contains(a, ": off") {
		t.Errorf("slow 0: %q", a)
	}
	if got := w.l.SlowThreshold(); got != 0 {
		t.Errorf("threshold after slow 0: %v", got)
	}
	if a := c.do("slow 150"); !strings.Contains(a, "150ms") || w.l.SlowThreshold() != 150*time.Millisecond {
		t.Errorf("slow 150: %q, threshold %v", a, w.l.SlowThreshold())
	}
}

func TestTCPToken(t *testing.T) {
	w := newWorld(t)
	var log strings.Builder
	cfg := w.config("")
	cfg.Addr, cfg.Log = "127.0.0.1:0", &log
	s := start(t, cfg)
	if len(s.Token()) != 32 || !strings.Contains(log.String(), "token "+s.Token()) {
		t.Fatalf("token %q, log %q", s.Token(), log.String())
	}
	for _, first := range []string{"help", "auth wrong", "auth " + s.Token() + "x", ""} {
		c := dial(t, "tcp", s.Addr())
		io.WriteString(c.c, first+"\n")
		a, _ := c.answer()
		if !strings.Contains(a, "error: authentication required") {
			t.Errorf("first line %q: %q", first, a)
		}
		if _, err := c.r.ReadByte(); err != io.EOF {
			t.Errorf("first line %q: the connection stays open (%v)", first, err)
		}
	}
	c := dial(t, "tcp", s.Addr())
	io.WriteString(c.c, "auth "+s.Token()+"\n")
	if g := c.mustAnswer(); !strings.Contains(g, "coro console") {
		t.Fatalf("greeting %q", g)
	}
	if a := c.do("ps"); !strings.Contains(a, "3 coroutines") {
		t.Errorf("ps over TCP: %q", a)
	}
	// Only loopback, unless insecure.
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "example.com:0"} {
		if _, err := Start(Config{Addr: addr, Log: io.Discard}); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Start(%s): %v, want ErrNotLoopback", addr, err)
		}
	}
	s2, err := Start(Config{Addr: "0.0.0.0:0", Insecure: true, Log: io.Discard, Token: "t"})
	if err != nil {
		t.Fatalf("insecure: %v", err)
	}
	s2.Close()
	s3, err := Start(Config{Addr: "localhost:0", Log: io.Discard})
	if err != nil {
		t.Fatalf("localhost: %v", err)
	}
	s3.Close()
	if _, err := Start(Config{Log: io.Discard}); !errors.Is(err, ErrConfig) {
		t.Errorf("no address: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(sockPath(t))
	cfg.MaxClients = 2
	s := start(t, cfg)
	c := dial(t, "unix", s.Addr())
	c.mustAnswer()
	for _, tc := range []struct{ line, want string }{
		{"frobnicate", `error: unknown command "frobnicate"`},
		{"ps \x01", "error: control character"},
		{"json", "error: json needs a command"},
		{"a 1 2 3 4 5 6 7 8 9", "error: more than 8 words"},
		{"loops extra", "error: loops: usage: loops"},
		{strings.Repeat("x", 3*MaxLine), "error: line longer than 4096 bytes"},
		{"bt", "error: bt: usage: bt ID|all"},
	} {
		if a := c.do(tc.line); !strings.Contains(a, tc.want) {
			t.Errorf("%.40q: %q, want %q", tc.line, a, tc.want)
		}
	}
	// Still usable after all that.
	if a := c.do("ps"); !strings.Contains(a, "3 coroutines") {
		t.Errorf("ps after bad input: %q", a)
	}
	// A client that asks and leaves without reading.
	for i := 0; i < 3; i++ {
		d := dial(t, "unix", s.Addr())
		io.WriteString(d.c, "go\nbt all\nps\n")
		d.c.Close()
	}
	// The cap: c is one session; a second fits once the leavers' sessions
	// have ended (accepted in order, so once a second client is greeted
	// they have), and then a third is refused.
	var c2 *client
	for deadline := time.Now().Add(10 * time.Second); c2 == nil; {
		probe := dial(t, "unix", s.Addr())
		if a, _ := probe.answer(); strings.Contains(a, "coro console") {
			c2 = probe
		} else if time.Now().After(deadline) {
			t.Fatalf("no second session: %q", a)
		} else {
			probe.c.Close()
			time.Sleep(5 * time.Millisecond)
		}
	}
	c3 := dial(t, "unix", s.Addr())
	if a, _ := c3.answer(); !strings.Contains(a, "error: too many clients (at most 2)") {
		t.Errorf("a third client: %q", a)
	}
	if _, err := c3.r.ReadByte(); err != io.EOF {
		t.Errorf("the third client stays connected: %v", err)
	}
	if a := c2.do("loops"); !strings.Contains(a, "con") {
		t.Errorf("loops on the second client: %q", a)
	}
	// A path in use: a regular file, a live socket; a stale one is taken.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := Start(Config{Path: file, Log: io.Discard}); !errors.Is(err, ErrPathInUse) {
		t.Errorf("a regular file: %v", err)
	}
	if _, err := Start(Config{Path: s.Addr(), Log: io.Discard}); !errors.Is(err, ErrPathInUse) {
		t.Errorf("a live socket: %v", err)
	}
	stale := sockPath(t)
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s2, err := Start(Config{Path: stale, Log: io.Discard, Loops: w.consoleLoopsOnly})
	if err != nil {
		t.Fatalf("a stale socket: %v", err)
	}
	d := dial(t, "unix", stale)
	d.mustAnswer()
	s2.Close()
}

// A session that sends nothing is closed at the idle timeout, freeing its
// slot.
func TestIdleTimeout(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(sockPath(t))
	cfg.IdleTimeout = 50 * time.Millisecond
	s := start(t, cfg)
	c := dial(t, "unix", s.Addr())
	c.mustAnswer()
	if a := c.mustAnswer(); !strings.Contains(a, "error: idle for 50ms: session closed") {
		t.Errorf("idle: %q", a)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("after the idle timeout: %v, want EOF", err)
	}
}

// A loop whose coroutine never yields cannot answer: the console says so
// within its timeout and answers for the other loops.
func TestStuckLoop(t *testing.T) {
	w := newWorld(t)
	stuck, err := coro.NewLoop(coro.WithName("stuck"))
	if err != nil {
		t.Fatal(err)
	}
	b := ctest.NewBox()
	defer b.Free()
	co, err := stuck.Spawn(coro.Entry(ctest.Spin()), b.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	for !b.Started() {
		time.Sleep(time.Millisecond)
	}
	cfg := w.config(sockPath(t))
	cfg.Timeout = 200 * time.Millisecond
	cfg.Loops = func() []*coro.Loop { return []*coro.Loop{w.l, stuck} }
	s := start(t, cfg)
	c := dial(t, "unix", s.Addr())
	c.mustAnswer()
	a := c.do("loops")
	if !strings.Contains(a, "stuck") || !strings.Contains(a, "no answer within 200ms") || !strings.Contains(a, "con") {
		t.Errorf("loops with a stuck loop: %q", a)
	}
	b.Release()
	if _, err := co.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := c.do("ps stuck"); !strings.Contains(a, "0 coroutines") {
		t.Errorf("ps after the release: %q", a)
	}
	if err := stuck.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestPermissions: a client of another uid is refused, by the socket's
// mode and, past it, by SO_PEERCRED. The client runs as nobody through
// setpriv (root only).
func TestPermissions(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv")
	}
	if os.Getenv("CORO_TEST_EXEC") != "" {
		t.Skip("the client is this test binary, of another architecture (CORO_TEST_EXEC)")
	}
	w := newWorld(t)
	// A directory nobody can enter, for the socket and a copy of this
	// test binary (the client).
	dir, err := os.MkdirTemp("", "console-perm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe, _ := os.Executable()
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	client := filepath.Join(dir, "client")
	if err := os.WriteFile(client, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	s := start(t, w.config(filepath.Join(dir, "console.sock")))
	asNobody := func() string {
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", client,
			"-test.run=^TestPermissionsClient$")
		cmd.Env = append(os.Environ(), "CONSOLE_TEST_DIAL="+s.Addr())
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	// Mode 0600: the kernel refuses the connect.
	if out := asNobody(); !strings.Contains(out, "permission denied") || !strings.Contains(out, "dial:") {
		t.Errorf("nobody, socket 0600: %q", out)
	}
	// Past the mode: SO_PEERCRED refuses the session.
	os.Chmod(s.Addr(), 0o666)
	if out := asNobody(); !strings.Contains(out, "answer: error: permission denied (uid 65534)") {
		t.Errorf("nobody, socket 0666: %q", out)
	}
	// Root (this process) is still served.
	c := dial(t, "unix", s.Addr())
	c.mustAnswer()
}

// TestPermissionsClient is TestPermissions' client, run as another user.
func TestPermissionsClient(t *testing.T) {
	addr := os.Getenv("CONSOLE_TEST_DIAL")
	if addr == "" {
		t.Skip("run by TestPermissions")
	}
	c, err := net.Dial("unix", addr)
	if err != nil {
		fmt.Printf("dial: %v\n", err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "ps\n")
	b, _ := io.ReadAll(c)
	fmt.Printf("answer: %s", b)
}
