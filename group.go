package coro

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "coro.h"

// The port a socket is bound to, or -errno.
static int coro__go_bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
    return -errno;
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return -EAFNOSUPPORT;
}

// coro_tcp_listen on a numeric "host:port": fd or -errno. With joinable
// (and flags without CORO_REUSEPORT), SO_REUSEPORT is set once the socket
// listens: it bound exclusively, and the caller's later SO_REUSEPORT
// listeners can join it (see ListenEach).
static int coro__go_listen(const char *hostport, int backlog, int flags,
                           int joinable) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc = coro_addr_parse(hostport, &ss, &len);
  if (rc < 0)
    return rc;
  int fd = coro_tcp_listen((struct sockaddr *)&ss, len, backlog, flags);
  int one = 1;
  if (fd >= 0 && joinable &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  return fd;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// A Group is a set of loops, each on its own OS thread, for spreading
// coroutines over every core: a server runs one accept coroutine per loop,
// each on its own listener, the listeners sharing one address through
// SO_REUSEPORT (see ListenEach), so that the kernel spreads connections
// over the loops and no loop is woken for another's connection, as every
// loop would be with one shared listener.
// Spawn places coroutines round-robin; Loop(i) picks one.
type Group struct {
	loops []*Loop
	next  atomic.Uint64
}

// NewGroup starts n loops (n <= 0: one per CPU, runtime.NumCPU()) with
// the given options. With WithName(s), loop i is named "s-i"; with
// WithCPU(c), loop i is pinned to the i-th CPU from c (see WithCPU). If a
// loop cannot be started, the ones already started are closed and the
// error is returned, naming the loop.
func NewGroup(n int, opts ...Option) (*Group, error) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	var cfg loopConfig
	for _, o := range opts {
		o(&cfg)
	}
	var cpus []int
	if cfg.thread.pin && !cfg.invalidOpts {
		var err error
		if cpus, err = groupCPUs(cfg.thread.cpu, n); err != nil {
			return nil, err
		}
	}
	g := &Group{loops: make([]*Loop, 0, n)}
	for i := 0; i < n; i++ {
		// Options apply in order: these per-loop ones come last.
		lopts := append([]Option(nil), opts...)
		if cfg.name != "" {
			lopts = append(lopts, WithName(fmt.Sprintf("%s-%d", cfg.name, i)))
		}
		if cpus != nil {
			lopts = append(lopts, WithCPU(cpus[i]))
		}
		l, err := NewLoop(lopts...)
		if err != nil {
			g.Close(context.Background())
			return nil, fmt.Errorf("coro: NewGroup: loop %d of %d: %w", i, n, err)
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

// Len returns the number of loops.
func (g *Group) Len() int { return len(g.loops) }

// Loop returns loop i, 0 <= i < Len().
func (g *Group) Loop(i int) *Loop { return g.loops[i] }

// Next returns the loops in turn, round-robin. Safe for concurrent use.
func (g *Group) Next() *Loop {
	return g.loops[(g.next.Add(1)-1)%uint64(len(g.loops))]
}

// Spawn spawns fn(arg) on the next loop, round-robin (see Loop.Spawn).
func (g *Group) Spawn(fn Entry, arg uintptr, opts ...SpawnOption) (*Coroutine, error) {
	return g.Next().Spawn(fn, arg, opts...)
}

// Stats returns each loop's counters, in loop order.
func (g *Group) Stats() []Stats {
	st := make([]Stats, len(g.loops))
	for i, l := range g.loops {
		st[i] = l.Stats()
	}
	return st
}

// Close closes every loop, all under the same ctx (each loop's Close runs
// concurrently, so the deadline is not spent loop after loop), and returns
// their errors joined (errors.Is sees each one).
func (g *Group) Close(ctx context.Context) error {
	errs := make([]error, len(g.loops))
	done := make(chan struct{})
	for i, l := range g.loops {
		go func() {
			errs[i] = l.Close(ctx)
			done <- struct{}{}
		}()
	}
	for range g.loops {
		<-done
	}
	return errors.Join(errs...)
}

// ListenTCP opens a listening TCP socket for C coroutines to accept on,
// with coro_tcp_listen: non-blocking, close-on-exec, SO_REUSEADDR (so that
// a restarted server can bind while its old connections are in TIME_WAIT),
// and SO_REUSEPORT when reusePort is set. Without reusePort the listener
// is exclusive: it fails with EADDRINUSE when any socket listens on the
// address, and no other socket can listen there while it does. With
// reusePort it shares the port with the listeners there (and those still
// to come) that set SO_REUSEPORT too, as long as they belong to the same
// user: the kernel spreads the connections over all of them, whichever
// process they belong to. addr is a numeric "host:port" ("127.0.0.1:8080",
// "[::1]:0"); port 0 picks a free port, and bound tells which. The caller
// owns fd: hand it to one coroutine, which closes it with coro_fd_close,
// or close it with syscall.Close if no coroutine ever used it. Errors are
// *net.OpError values wrapping a syscall.Errno (EINVAL for an address that
// is not numeric), so errors.Is(err, syscall.EADDRINUSE) works.
func ListenTCP(addr string, reusePort bool) (fd int, bound string, err error) {
	return listenTCP(addr, reusePort, false)
}

// listenTCP is ListenTCP; with joinable (and not reusePort), SO_REUSEPORT
// is set after listen(2), for ListenEach's first listener.
func listenTCP(addr string, reusePort, joinable bool) (fd int, bound string, err error) {
	flags, join := C.int(0), C.int(0)
	if reusePort {
		flags = C.CORO_REUSEPORT
	} else if joinable {
		join = 1
	}
	caddr := C.CString(addr)
	rc := C.coro__go_listen(caddr, C.SOMAXCONN, flags, join)
	C.free(unsafe.Pointer(caddr))
	opErr := func(err error) error {
		e := &net.OpError{Op: "listen", Net: "tcp", Err: err}
		if a, aerr := net.ResolveTCPAddr("tcp", addr); aerr == nil {
			e.Addr = a
		}
		return e
	}
	if rc < 0 {
		return -1, "", opErr(syscall.Errno(-rc))
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil { // coro_addr_parse accepted it, so this cannot happen
		syscall.Close(int(rc))
		return -1, "", opErr(err)
	}
	port := C.coro__go_bound_port(rc)
	if port < 0 {
		syscall.Close(int(rc))
		return -1, "", opErr(syscall.Errno(-port))
	}
	return int(rc), net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// A ListenOption configures ListenEach.
type ListenOption func(*listenConfig)

type listenConfig struct {
	reusePort bool
}

// WithReusePort makes ListenEach share the port with the listeners that
// other processes of the same user have on the address with SO_REUSEPORT
// (for example a second server started with it): the kernel then spreads
// the connections over both processes' listeners. Without it, ListenEach
// fails with EADDRINUSE when anything listens on the address.
func WithReusePort() ListenOption {
	return func(c *listenConfig) { c.reusePort = true }
}

// ListenEach opens one listener per loop on the same address, all in one
// SO_REUSEPORT group so that the kernel spreads the connections over the
// loops: fds[i] is for loop i. With port 0 the first listener picks the
// port and the others join it. On error none is left open.
//
// The listeners are exclusive unless WithReusePort is given: if another
// socket listens on the address (another server, whether or not it set
// SO_REUSEPORT), ListenEach fails with EADDRINUSE instead of silently
// taking a share of that server's connections.
//
// How, given Linux's rules: a socket may bind an address that a listener
// holds only if both set SO_REUSEPORT before they were bound (and belong
// to the same user). So the first listener binds and listens without
// SO_REUSEPORT, which fails if anything listens there, and only then sets
// it, which lets the Group's other listeners, which set it before binding,
// join (the kernel checks the flags at bind time, and adds a listener to
// the group of a listening socket that has the flag when it listens).
// Setting SO_REUSEPORT on none of them would make the loops' listeners
// fail; setting it on all before binding, as nginx's "reuseport" does,
// lets the Group join any SO_REUSEPORT listener of the same user that is
// already there. A socket that comes later and itself asks to share
// (SO_REUSEPORT, same user) can still join the Group's listeners: that is
// the caller of that socket asking, and Linux has no way to close a
// SO_REUSEPORT group while keeping it open to the Group's own listeners.
func (g *Group) ListenEach(addr string, opts ...ListenOption) (fds []int, bound string, err error) {
	var cfg listenConfig
	for _, o := range opts {
		o(&cfg)
	}
	bound = addr
	for i := range g.loops {
		fd, b, err := listenTCP(bound, i > 0 || cfg.reusePort, true)
		if err != nil {
			for _, fd := range fds {
				syscall.Close(fd)
			}
			return nil, "", err
		}
		fds = append(fds, fd)
		bound = b
	}
	return fds, bound, nil
}
