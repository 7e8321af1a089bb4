// Package console serves a line-oriented console for looking into a
// running program that uses coro loops: which loops it has, what each
// coroutine is doing (and its backtrace), the loops' counters, fds and
// timers, Go's goroutines and memory, and a few controls (cancel a
// coroutine, run-time accounting, the slow-coroutine threshold).
//
// It is the heir of the seed's backdoor.py, without the interpreter: a
// fixed set of commands, each answered from a consistent snapshot that
// the loop takes on its own thread (coro.Loop.Dump), each with a JSON
// form for scripts.
//
// # Access
//
// On a unix socket (Config.Path), created with mode 0600, every client's
// credentials are checked with SO_PEERCRED: only the server's own uid and
// root are served. A path that exists is refused unless it is a stale
// socket (nobody listens on it), which is replaced.
//
// On TCP (Config.Addr), only a loopback address is accepted unless
// Config.Insecure is set, and a client must first send "auth TOKEN" with
// the server's token (random, made at start, printed to Config.Log unless
// given in Config.Token).
//
// # Protocol
//
// The server greets, then reads one command per line and answers each
// with lines of text (or one line of JSON for "json COMMAND ..."), ending
// every answer, the greeting included, with a line holding a single ".".
// A line of an answer that starts with "." gets a second "." in front
// (dot-stuffing, as in SMTP), which the client removes. Errors are one
// line "error: ..." before the ".". "quit" ends the
// session. The commands: see "help" (Commands lists them).
//
// # Limits
//
// At most Config.MaxClients sessions at once (default 8; more are told so
// and closed), lines of at most MaxLine bytes (a longer one is answered
// with an error and skipped), sessions idle for Config.IdleTimeout
// (default 30 minutes) closed. A client that does not read its answers is
// dropped when a write has not finished within Config.Timeout; a loop that
// does not answer within Config.Timeout (a coroutine that never yields) is
// reported as such and the others are still answered: no client can make
// a loop wait, and a stuck loop holds no client for more than the timeout.
package console

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ccoro/coro"
	"golang.org/x/sys/unix"
)

// Config configures a console server. Exactly one of Path and Addr.
type Config struct {
	Path     string // unix socket to create (mode 0600)
	Addr     string // TCP address, loopback only unless Insecure
	Insecure bool   // allow a TCP address that is not loopback
	Token    string // TCP: the token (default: 128 random bits, in hex)

	// Log receives the server's messages: where it listens and, for TCP,
	// the token. Default os.Stderr; io.Discard for none.
	Log io.Writer

	MaxClients int           // sessions at once; default 8
	Timeout    time.Duration // per loop snapshot and per write; default 5 s
	// IdleTimeout ends a session that sends no line for this long, so
	// that forgotten clients do not hold the MaxClients slots; default
	// 30 minutes.
	IdleTimeout time.Duration

	// Loops lists the loops the console shows; default coro.Loops.
	Loops func() []*coro.Loop

	// SlowThreshold and SetSlowThreshold back the "slow" command (the
	// slow-coroutine warning's threshold per loop); default: the loop's
	// SlowThreshold and SetSlowThreshold.
	SlowThreshold    func(l *coro.Loop) (time.Duration, error)
	SetSlowThreshold func(l *coro.Loop, d time.Duration) error
}

// A Server is a running console.
type Server struct {
	cfg   Config
	ln    net.Listener
	token string
	path  string // the unix socket to remove at Close

	mu       sync.Mutex
	sessions map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// Errors of Start.
var (
	ErrNotLoopback = errors.New("console: not a loopback address (set Insecure to allow it)")
	ErrPathInUse   = errors.New("console: the path exists and is not a stale socket")
	ErrConfig      = errors.New("console: set exactly one of Path and Addr")
)

// Serve runs a console until ctx is done: Start, then Close when ctx ends.
func Serve(ctx context.Context, cfg Config) error {
	s, err := Start(cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Start listens and serves in the background until Close.
func Start(cfg Config) (*Server, error) {
	if (cfg.Path == "") == (cfg.Addr == "") {
		return nil, ErrConfig
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.Loops == nil {
		cfg.Loops = coro.Loops
	}
	if cfg.SlowThreshold == nil {
		cfg.SlowThreshold = func(l *coro.Loop) (time.Duration, error) { return l.SlowThreshold(), nil }
	}
	if cfg.SetSlowThreshold == nil {
		cfg.SetSlowThreshold = (*coro.Loop).SetSlowThreshold
	}
	s := &Server{cfg: cfg, sessions: map[net.Conn]struct{}{}}
	var err error
	if cfg.Path != "" {
		s.ln, err = listenUnix(cfg.Path)
		if err != nil {
			return nil, err
		}
		s.path = cfg.Path
		fmt.Fprintf(cfg.Log, "console: listening on %s\n", cfg.Path)
	} else {
		if s.ln, s.token, err = listenTCP(cfg); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Log, "console: listening on %s, token %s\n", s.ln.Addr(), s.token)
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is where the server listens: the socket's path, or host:port.
func (s *Server) Addr() string {
	if s.path != "" {
		return s.path
	}
	return s.ln.Addr().String()
}

// Token is the token TCP clients must send ("" for a unix socket).
func (s *Server) Token() string { return s.token }

// Close stops listening, ends every session, waits for them and removes
// the socket.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.sessions {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.path != "" {
		if rerr := os.Remove(s.path); rerr != nil && !os.IsNotExist(rerr) && err == nil {
			err = rerr
		}
	}
	return err
}

// listenUnix makes the socket at path with mode 0600 before anyone can
// connect: bind, chmod, then listen (a bound socket that does not listen
// refuses connections). An existing path is replaced only if it is a
// socket nobody listens on.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%w: %s", ErrPathInUse, path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s (a server listens on it)", ErrPathInUse, path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %s: %v", ErrPathInUse, path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("console: removing the stale socket: %w", err)
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console: socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // FileListener dups it
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, fmt.Errorf("console: bind %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("console: chmod %s: %w", path, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("console: listen %s: %w", path, err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("console: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // Close removes it
	return ln, nil
}

// listenTCP listens on a loopback address (any with Insecure) and makes
// the token.
func listenTCP(cfg Config) (net.Listener, string, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("console: %w", err)
	}
	if !cfg.Insecure {
		ip := net.ParseIP(host)
		if host == "localhost" {
			ip = net.IPv4(127, 0, 0, 1)
			cfg.Addr = net.JoinHostPort(ip.String(), cfg.Addr[strings.LastIndexByte(cfg.Addr, ':')+1:])
		}
		if ip == nil || !ip.IsLoopback() {
			return nil, "", fmt.Errorf("%w: %q", ErrNotLoopback, cfg.Addr)
		}
	}
	token := cfg.Token
	if token == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", fmt.Errorf("console: token: %w", err)
		}
		token = hex.EncodeToString(b[:])
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("console: %w", err)
	}
	return ln, token, nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return
			}
			// EMFILE and the like: back off instead of spinning.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		full := len(s.sessions) >= s.cfg.MaxClients
		if !full {
			s.sessions[c] = struct{}{}
		}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if full {
				s.refuse(c, fmt.Sprintf("too many clients (at most %d)", s.cfg.MaxClients))
				return
			}
			s.session(c)
			s.mu.Lock()
			delete(s.sessions, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// refuse tells c why and closes it.
func (s *Server) refuse(c net.Conn, why string) {
	c.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
	fmt.Fprintf(c, "error: %s\n.\n", why)
	c.Close()
}

// peerAllowed checks a unix client's uid: the server's own, or root.
func peerAllowed(c net.Conn) (uid int, ok bool, err error) {
	uc, isUnix := c.(*net.UnixConn)
	if !isUnix {
		return -1, true, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, false, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, false, err
	}
	if cerr != nil {
		return -1, false, cerr
	}
	uid = int(cred.Uid)
	return uid, uid == os.Getuid() || uid == 0, nil
}

// session serves one client until it quits, errs or the server closes.
func (s *Server) session(c net.Conn) {
	defer c.Close()
	if uid, ok, err := peerAllowed(c); err != nil || !ok {
		if err != nil {
			s.refuse(c, fmt.Sprintf("cannot check the client's credentials: %v", err))
		} else {
			s.refuse(c, fmt.Sprintf("permission denied (uid %d)", uid))
		}
		return
	}
	r := bufio.NewReaderSize(c, MaxLine+2)
	w := &deadlineWriter{c: c, timeout: s.cfg.Timeout}
	if s.token != "" {
		// Bounded: a client that connects and says nothing is dropped.
		c.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
		line, err := readLine(r)
		c.SetReadDeadline(time.Time{})
		want := "auth " + s.token
		if err != nil || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(line)), []byte(want)) != 1 {
			s.refuse(c, "authentication required: send \"auth TOKEN\" first (the token was printed at the server's start)")
			return
		}
	}
	w.printf("coro console: pid %d, %d loops; \"help\" lists the commands\n", os.Getpid(), len(s.cfg.Loops()))
	if !w.end() {
		return
	}
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		line, err := readLine(r)
		if errors.Is(err, ErrTooLong) {
			w.printf("error: %v\n", ErrTooLong)
			if !w.end() {
				return
			}
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.printf("error: idle for %v: session closed\n", s.cfg.IdleTimeout)
			w.end()
			return
		}
		if err != nil {
			return // EOF, reset, or the server closing
		}
		cmd, err := Parse(line)
		if errors.Is(err, ErrEmpty) {
			continue
		}
		if err != nil {
			w.printf("error: %v\n", err)
		} else if quit := s.run(w, cmd); quit {
			w.end()
			return
		}
		if !w.end() {
			return
		}
	}
}

// readLine reads a line of at most MaxLine bytes; a longer one is read to
// its end and dropped (ErrTooLong).
func readLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	if err == nil {
		return string(b[:len(b)-1]), nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = r.ReadSlice('\n')
	}
	if err != nil {
		return "", err
	}
	return "", ErrTooLong
}

// deadlineWriter buffers an answer and writes it with a deadline; after a
// failed write it drops everything (the session ends at the next end).
type deadlineWriter struct {
	c       net.Conn
	timeout time.Duration
	buf     []byte
	failed  bool
	midLine bool // the last byte written was not a newline
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	// Dot-stuffing, as SMTP: a line of the answer that starts with "."
	// gets another, so that only the end of an answer is a lone ".".
	for _, b := range p {
		if b == '.' && !w.midLine {
			w.buf = append(w.buf, '.')
		}
		w.buf = append(w.buf, b)
		w.midLine = b != '\n'
	}
	if len(w.buf) >= 64<<10 {
		w.flush()
	}
	return len(p), nil
}

func (w *deadlineWriter) printf(format string, args ...any) {
	fmt.Fprintf(w, format, args...)
}

func (w *deadlineWriter) flush() {
	if w.failed || len(w.buf) == 0 {
		w.buf = w.buf[:0]
		return
	}
	w.c.SetWriteDeadline(time.Now().Add(w.timeout))
	if _, err := w.c.Write(w.buf); err != nil {
		w.failed = true
	}
	w.buf = w.buf[:0]
}

// end closes an answer with "." and sends it: false if the client is gone
// or did not read in time.
func (w *deadlineWriter) end() bool {
	if w.midLine {
		w.buf = append(w.buf, '\n')
		w.midLine = false
	}
	w.buf = append(w.buf, ".\n"...)
	w.flush()
	return !w.failed
}
