package coro_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
)

// TestGroupListenEach runs a server the way the issue asks for every core:
// one loop per thread, each with its own SO_REUSEPORT listener on the same
// address, each accepting in a C coroutine. Every connection is answered,
// the kernel spreads them over both loops, and closing the group cancels
// the accept coroutines, which close their listeners.
func TestGroupListenEach(t *testing.T) {
	g, err := coro.NewGroup(2, coro.WithName("grp"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 2 || g.Loop(0).Name() != "grp-0" || g.Loop(1).Name() != "grp-1" {
		t.Fatalf("Len %d, names %q %q", g.Len(), g.Loop(0).Name(), g.Loop(1).Name())
	}
	fds, addr, err := g.ListenEach("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) != 2 || fds[0] == fds[1] {
		t.Fatalf("fds %v", fds)
	}
	var boxes []ctest.Box
	var cos []*coro.Coroutine
	for i, fd := range fds {
		b := ctest.NewBox()
		defer b.Free()
		b.SetN(int64(fd))
		co, err := g.Loop(i).Spawn(coro.Entry(ctest.AcceptGreet()), b.Ptr())
		if err != nil {
			t.Fatal(err)
		}
		boxes, cos = append(boxes, b), append(cos, co)
	}
	const conns = 64
	greet(t, addr, conns)
	n0, n1 := boxes[0].AcceptedCount(), boxes[1].AcceptedCount()
	if n0+n1 != conns || n0 == 0 || n1 == 0 {
		// SO_REUSEPORT hashes the 4-tuple: all 64 on one listener has
		// probability 2^-63.
		t.Fatalf("accepted %d + %d, want %d spread over both loops", n0, n1, conns)
	}
	for i, st := range g.Stats() {
		if st.FDArms == 0 || st.Events == 0 {
			t.Errorf("loop %d stats %+v: want fd registrations and events", i, st)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, co := range cos {
		if _, err := co.Wait(ctx); !errors.Is(err, syscall.ECANCELED) {
			t.Errorf("accept coroutine %d: %v, want ECANCELED", i, err)
		}
		if boxes[i].RC() != -int(syscall.ECANCELED) {
			t.Errorf("accept coroutine %d: rc %d", i, boxes[i].RC())
		}
	}
	// The listeners are closed: nothing accepts on the address now.
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s after Close: connected", addr)
	}
}

// TestGroupSpawnRoundRobin: Spawn places coroutines on the loops in turn.
func TestGroupSpawnRoundRobin(t *testing.T) {
	g, err := coro.NewGroup(3)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(context.Background())
	before := g.Stats()
	for i := 0; i < 30; i++ {
		co, err := g.Spawn(coro.Entry(ctest.Nop()), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := co.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i, st := range g.Stats() {
		if d := st.Spawned - before[i].Spawned; d != 10 {
			t.Errorf("loop %d: %d spawned, want 10", i, d)
		}
	}
}

// TestGroupErrors: a bad option fails NewGroup without leaking loops, n <= 0
// means one loop per CPU, and ListenTCP rejects addresses it cannot use.
func TestGroupErrors(t *testing.T) {
	if _, err := coro.NewGroup(2, coro.WithStackSize(1)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("NewGroup with a bad option: %v, want EINVAL", err)
	}
	g, err := coro.NewGroup(0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != runtime.NumCPU() {
		t.Errorf("NewGroup(0): %d loops, want %d", g.Len(), runtime.NumCPU())
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Spawn(coro.Entry(ctest.Nop()), 0); !errors.Is(err, coro.ErrClosed) {
		t.Errorf("Spawn after Close: %v, want ErrClosed", err)
	}
	for _, addr := range []string{"localhost:0", "127.0.0.1", "", "[::1]:99999"} {
		if fd, _, err := coro.ListenTCP(addr, false); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ListenTCP(%q): fd %d, %v; want EINVAL", addr, fd, err)
		}
	}
	fd, addr, err := coro.ListenTCP("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	// Without SO_REUSEPORT the address is taken.
	if fd2, _, err := coro.ListenTCP(addr, true); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second listener on %s: fd %d, %v; want EADDRINUSE", addr, fd2, err)
	}
}

// greetServer is a Group serving "hi" with ctest.AcceptGreet on the
// listeners from ListenEach, one accept coroutine per loop.
type greetServer struct {
	g     *coro.Group
	addr  string
	boxes []ctest.Box
}

// startGreet starts a Group of n loops listening on addr; an error from
// ListenEach is returned with the Group closed.
func startGreet(t *testing.T, n int, addr string, opts ...coro.ListenOption) (*greetServer, error) {
	t.Helper()
	g, err := coro.NewGroup(n)
	if err != nil {
		t.Fatal(err)
	}
	fds, bound, err := g.ListenEach(addr, opts...)
	if err != nil {
		g.Close(context.Background())
		return nil, err
	}
	s := &greetServer{g: g, addr: bound}
	for i, fd := range fds {
		b := ctest.NewBox()
		b.SetN(int64(fd))
		s.boxes = append(s.boxes, b)
		if _, err := g.Loop(i).Spawn(coro.Entry(ctest.AcceptGreet()), b.Ptr()); err != nil {
			t.Fatal(err)
		}
	}
	return s, nil
}

// accepted returns the connections each loop has accepted.
func (s *greetServer) accepted() []int64 {
	n := make([]int64, len(s.boxes))
	for i, b := range s.boxes {
		n[i] = b.AcceptedCount()
	}
	return n
}

func (s *greetServer) close(t *testing.T) {
	t.Helper()
	if err := s.g.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, b := range s.boxes {
		b.Free()
	}
}

// greet makes n connections to addr, each answered with "hi".
func greet(t *testing.T, addr string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "hi" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
}

// TestGroupListenExclusive: a Group's listeners do not take a share of
// another server's port. ListenEach fails with EADDRINUSE on an address
// that anything listens on, a plain listener, another Group or a listener
// that set SO_REUSEPORT; while a Group listens, another listener fails
// unless it asks to share. The loops of one Group all still accept (a
// Group of 3: the later listeners join the first), and with WithReusePort
// a second Group does share the port: the connections spread over the
// listeners of both.
func TestGroupListenExclusive(t *testing.T) {
	hosts := []string{"127.0.0.1"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		hosts = append(hosts, "[::1]")
	}
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) {
			s, err := startGreet(t, 3, host+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer s.close(t)

			// Another Group, a single listener, or one that shares:
			// none gets in without asking.
			if s2, err := startGreet(t, 2, s.addr); !errors.Is(err, syscall.EADDRINUSE) {
				if s2 != nil {
					s2.close(t)
				}
				t.Errorf("second Group on %s: %v, want EADDRINUSE", s.addr, err)
			}
			fd, _, err := coro.ListenTCP(s.addr, false)
			if !errors.Is(err, syscall.EADDRINUSE) {
				if err == nil {
					syscall.Close(fd)
				}
				t.Errorf("ListenTCP(%s) beside a Group: %v, want EADDRINUSE", s.addr, err)
			}
			if !strings.Contains(fmt.Sprint(err), s.addr[strings.LastIndex(s.addr, ":"):]) {
				t.Errorf("error %q does not name the address", err)
			}

			// The Group's own loops share the port: 3 listeners, 96
			// connections, each listener's share about 1/3 (none at all
			// has probability 3 * (2/3)^96, about 4e-17).
			greet(t, s.addr, 96)
			for i, n := range s.accepted() {
				if n == 0 {
					t.Errorf("loop %d accepted none of 96: %v", i, s.accepted())
				}
			}

			// A second Group that asks to share joins the first one's
			// listeners: the kernel spreads the connections over all 5.
			s2, err := startGreet(t, 2, s.addr, coro.WithReusePort())
			if err != nil {
				t.Fatalf("second Group with WithReusePort: %v", err)
			}
			defer s2.close(t)
			before := s.accepted()
			greet(t, s.addr, 160)
			var first, second int64
			for i, n := range s.accepted() {
				first += n - before[i]
			}
			for _, n := range s2.accepted() {
				second += n
			}
			// 2 of the 5 listeners are the second Group's: its share is
			// about 64 of 160; none has probability (3/5)^160.
			if first+second != 160 || second == 0 || first == 0 {
				t.Errorf("accepted %d by the first Group, %d by the second; want 160 spread over both", first, second)
			}
		})
	}
}

// TestGroupListenTaken: ListenEach fails with EADDRINUSE when a listener
// is already there, whether it set SO_REUSEPORT (another process's
// SO_REUSEPORT group) or not (a plain server, as Go's net.Listen makes),
// and leaves no listener of its own behind; the listener that was there
// still gets every connection.
func TestGroupListenTaken(t *testing.T) {
	for _, reusePort := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuseport=%v", reusePort), func(t *testing.T) {
			fd, addr, err := coro.ListenTCP("127.0.0.1:0", reusePort)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			if s, err := startGreet(t, 2, addr); !errors.Is(err, syscall.EADDRINUSE) {
				if s != nil {
					s.close(t)
				}
				t.Fatalf("ListenEach on %s held by a listener: %v, want EADDRINUSE", addr, err)
			}
			// Every connection reaches the listener that was there (the
			// backlog holds them; nobody accepts).
			for i := 0; i < 8; i++ {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			// A blocking accept, bounded: one that went elsewhere would
			// time out instead of hanging the test.
			syscall.SetNonblock(fd, false)
			tv := syscall.NsecToTimeval((10 * time.Second).Nanoseconds())
			if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 8; i++ {
				cfd, _, err := syscall.Accept(fd)
				if err != nil {
					t.Fatalf("the listener that was there: accept %d of 8: %v", i+1, err)
				}
				syscall.Close(cfd)
			}
		})
	}
}

// Run one accept coroutine per loop, each on its own SO_REUSEPORT
// listener on the same address, as a server for every core does. (Here
// ctest.AcceptGreet, a C function that writes "hi" to each connection,
// stands for the program's own accept loop.)
func ExampleGroup() {
	g, err := coro.NewGroup(2, coro.WithName("srv"))
	if err != nil {
		panic(err)
	}
	fds, addr, err := g.ListenEach("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var args []ctest.Box // C memory, freed once the coroutines are gone
	for i, fd := range fds {
		b := ctest.NewBox()
		args = append(args, b)
		b.SetN(int64(fd))
		if _, err := g.Loop(i).Spawn(coro.Entry(ctest.AcceptGreet()), b.Ptr()); err != nil {
			panic(err)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	msg, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(g.Len(), string(msg))

	g.Close(context.Background()) // cancels the accept coroutines
	for _, b := range args {
		b.Free()
	}
	// Output: 2 hi
}
