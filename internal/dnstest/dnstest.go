// Package dnstest runs a real DNS server (NSD, an authoritative server
// from Debian's nsd package) for the resolver's tests: one per test
// package, started by Main from TestMain, serving the zones of zone.go on
// port 53 of a 127.0.0.x address of its own (resolv.conf names no ports,
// so each test package needs an address; x is picked so that packages
// testing in parallel do not collide).
//
//	func TestMain(m *testing.M) { dnstest.Main(m) }
//
//	func TestX(t *testing.T) {
//		srv := dnstest.Get(t) // skips, or fails in CI, without a server
//		conf := srv.ResolvConf(t, "options ndots:5")
//		...
//	}
//
// Without the nsd binary the tests that need the server skip, with a
// message saying how to install it, except in CI (CI=true), where a
// missing server fails them: CI installs it (.ci/install-deps test).
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Binary is the server's program.
const Binary = "/usr/sbin/nsd"

// ErrNotInstalled: the server's program is absent.
var ErrNotInstalled = errors.New("dnstest: " + Binary + " not installed (bash .ci/install-deps test installs the nsd package)")

// A Server is a running NSD.
type Server struct {
	Addr string // 127.0.0.x, listening on port 53 (UDP and TCP)
	dir  string
	cmd  *exec.Cmd
	done chan error // the process's exit
}

var (
	inMain   atomic.Bool // Run is running the tests
	once     sync.Once   // starts the server, at the first Get
	shared   *Server
	startErr error
)

// Main runs the tests, stops the package's server if one of them started
// it, and exits; call it from TestMain. The server starts at the first
// Get, once per test binary: a run of only the benchmarks, or of tests
// that need no DNS, starts none (NSD's start-up took a CPU for 0.2 s,
// beside the benchmarks it disturbed). The tests still run when the
// server cannot start: those that need it call Get, which skips or fails
// them.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that has more to do: it returns m.Run's
// exit code.
func Run(m *testing.M) int {
	inMain.Store(true)
	code := m.Run()
	once.Do(func() {}) // no Get from now on starts one
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}

// Get returns the package's server, started by the first call. Without
// one it skips the test when the program is not installed and this is not
// CI, and fails it otherwise.
func Get(t testing.TB) *Server {
	t.Helper()
	if !inMain.Load() {
		t.Fatal("dnstest: Get without dnstest.Main in TestMain")
	}
	once.Do(func() { shared, startErr = Start() })
	if shared != nil {
		return shared
	}
	if startErr == nil {
		t.Fatal("dnstest: Get after the tests ended")
	}
	if errors.Is(startErr, ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(startErr)
	}
	t.Fatal(startErr)
	return nil
}

// Start starts a server on the first free address of a range that depends
// on the process id, and returns once it answers a query.
func Start() (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, ErrNotInstalled
	}
	// 127.0.0.100-249: above the addresses people usually give loopback
	// services. Start from the pid so that the test binaries that go test
	// runs in parallel mostly try different addresses first; an address
	// another process holds is skipped (probe, or nsd fails to bind).
	base := os.Getpid() % 150
	var errs []error
	for i := 0; i < 20; i++ {
		addr := fmt.Sprintf("127.0.0.%d", 100+(base+i*7)%150)
		if !free(addr) {
			continue
		}
		s, err := startAt(addr)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("dnstest: no server started: %w", errors.Join(errs...))
}

// free reports whether port 53 of addr is free for both UDP and TCP.
func free(addr string) bool {
	u, err := net.ListenPacket("udp4", net.JoinHostPort(addr, "53"))
	if err != nil {
		return false
	}
	u.Close()
	l, err := net.Listen("tcp4", net.JoinHostPort(addr, "53"))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func startAt(addr string) (*Server, error) {
	dir, err := os.MkdirTemp("", "dnstest-*")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, dir: dir, done: make(chan error, 1)}
	if err := s.writeConfig(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd = exec.Command(Binary, "-d", "-c", filepath.Join(dir, "nsd.conf"))
	s.cmd.Dir = dir
	// Its own process group: Close ends the server and the children it
	// forks (xfrd, the serving process) together. Pdeathsig: if the test
	// binary dies without Close (a crash, a timeout's SIGKILL), the kernel
	// ends the server too, which then ends its children. The signal comes
	// when the thread that started the server exits, so that thread is
	// kept for the server alone: locked, waiting for it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the server
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.done <- s.cmd.Wait()
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.waitAnswering(10 * time.Second); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) writeConfig() error {
	var conf strings.Builder
	fmt.Fprintf(&conf, `server:
  ip-address: %[1]s
  port: 53
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "%[2]s"
  database: ""
  zonelistfile: "%[2]s/zone.list"
  xfrdfile: "%[2]s/xfrd.state"
  xfrdir: "%[2]s"
  pidfile: "%[2]s/nsd.pid"
  logfile: "%[2]s/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
  reuseport: no
  # The tests send thousands of queries from one address at once: no
  # rate limit, and room for them in the socket (the kernel caps it at
  # net.core.rmem_max unless nsd may force it).
  receive-buffer-size: 8388608
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
`, s.Addr, s.dir)
	for name, text := range zones(s.Addr) {
		file := name + ".zone"
		if err := os.WriteFile(filepath.Join(s.dir, file), []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&conf, "zone:\n  name: %s\n  zonefile: %s\n", name, file)
	}
	return os.WriteFile(filepath.Join(s.dir, "nsd.conf"), []byte(conf.String()), 0o644)
}

// waitAnswering polls a query until the server answers it, the process
// exits, or the time is up.
func (s *Server) waitAnswering(limit time.Duration) error {
	r := s.GoResolver()
	end := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		addrs, err := r.LookupHost(ctx, V4+".")
		cancel()
		if err == nil && len(addrs) == 1 && addrs[0] == V4Addrs[0] {
			return nil
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			return fmt.Errorf("dnstest: nsd on %s exited (%v): %s", s.Addr, werr, s.logs())
		default:
		}
		if time.Now().After(end) {
			return fmt.Errorf("dnstest: nsd on %s did not answer within %v (last: %v): %s", s.Addr, limit, err, s.logs())
		}
		time.Sleep(20 * time.Millisecond) // between polls of a condition
	}
}

// logs returns what the server wrote, for error messages.
func (s *Server) logs() string {
	var b strings.Builder
	for _, f := range []string{"stderr", "nsd.log"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, f))
		b.Write(data)
	}
	return strings.TrimSpace(b.String())
}

// Close stops the server and removes its files.
func (s *Server) Close() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
			err = fmt.Errorf("dnstest: nsd on %s ignored SIGTERM for 10 s", s.Addr)
		}
	}
	os.RemoveAll(s.dir)
	return err
}

// ResolvConf writes a resolv.conf naming the server, followed by lines
// (search, options ...), into a temporary directory of t, and returns its
// path.
func (s *Server) ResolvConf(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	WriteFile(t, path, append([]string{"nameserver " + s.Addr}, lines...)...)
	return path
}

// WriteFile writes lines to path (a resolv.conf or hosts file), replacing
// it atomically, so that a resolver re-reading it never sees half of it.
func WriteFile(t testing.TB, path string, lines ...string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// GoResolver returns Go's own resolver (the pure-Go one) sending every
// query to the server, for comparisons. It reads the search list and
// ndots from the system's /etc/resolv.conf, which the tests cannot
// change, so compare it on fully qualified names (with the final dot).
func (s *Server) GoResolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(s.Addr, "53"))
		},
	}
}
