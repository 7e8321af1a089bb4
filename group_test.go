package coro_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
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
	for i := 0; i < conns; i++ {
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
