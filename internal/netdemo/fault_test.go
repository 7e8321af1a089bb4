package netdemo

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/fault"
)

// TestFaults fails the fault points of the engine and of the echo server
// and the load generator (their allocations) one at a time, the nth for
// n = 1, 2, ... (fault.Sweep), during a load run against the echo server
// in the same process: the run's loop creation, spawns, connects and
// requests, and the server's accepts, spawns and echoes. The run is
// bounded in work (each of 2 connections sends 2 requests), so the sweep
// goes on until a run passes untouched. Each fault may fail the run with a
// "load: " error, or fail one connection's connect or one request, or
// leave the connections of a spawn that failed unstarted; never more, and
// the requests not failed are all answered. After each, the server's
// connections and the process's fds go back to what they were and a clean
// run has no error. Under EINTR alone no run may see an error at all.
func TestFaults(t *testing.T) {
	const conns, requests = 2, 2
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			s := startEcho(t, 1, st.stack)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			// Duration only bounds a run that would hang: Requests ends it.
			cfg := LoadConfig{Addr: s.Addr(), Conns: conns, Requests: requests,
				Duration: time.Minute, Size: 64, Stack: st.stack}
			clean := func(what string) {
				t.Helper()
				res, err := RunLoad(cfg)
				if err != nil || res.Err() != nil || res.Requests != conns*requests {
					t.Fatalf("%s: %v, %+v", what, err, res)
				}
			}
			clean("warm-up")
			settle := func() int {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for s.Stats().Active != 0 {
					if time.Now().After(deadline) {
						t.Fatalf("connections still open: %+v", s.Stats())
					}
					time.Sleep(time.Millisecond)
				}
				return fault.OpenFDs(t)
			}
			fds := settle()
			sweep := func(name string, set uint, e syscall.Errno) {
				run := func(n int64) bool {
					res, err := RunLoad(cfg)
					point, ferr := fault.Fired()
					if err != nil {
						if !strings.HasPrefix(err.Error(), "load: ") {
							t.Fatalf("%s: fault %d (%s, %v): error %q", name, n, fault.Name(point), ferr, err)
						}
						return true
					}
					// One fault fails one connection's first connect (it
					// then gives up), or one request (the connection goes
					// on with a new one), or leaves the connections from
					// the spawn that failed on unstarted; every request
					// sent that did not fail is answered.
					lost := res.Errors + res.ConnectErrors
					sent := uint64(conns-res.NotStarted) - res.ConnectErrors
					if lost > 1 || res.NotStarted > 0 && lost > 0 ||
						res.Requests+res.Errors != sent*requests {
						t.Fatalf("%s: fault %d (%s, %v): %+v", name, n, fault.Name(point), ferr, res)
					}
					return res.Err() != nil
				}
				fault.Sweep(t, name, set, e, run, func(n int64) {
					if got := settle(); got != fds {
						t.Fatalf("%s: fault %d: %d fds open, want %d", name, n, got, fds)
					}
					clean(name)
				})
			}
			sweep("natural", fault.All, fault.Natural)
			sweep("eintr", fault.Blocking, syscall.EINTR)
		})
	}
}

// TestStartFaults sweeps the echo server's whole life: StartEcho (its
// loop, its listener, its accept coroutine), one echo over a connection,
// and Close. Each fault fails StartEcho with an "echo: " error, or ends
// the connection, or is survived; never a hang (an accept coroutine its
// loop could not start once left a server that did not answer). After
// each, the process's fds are what they were. Under EINTR alone every
// run must succeed.
func TestStartFaults(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			fds := fault.OpenFDs(t)
			run := func(n int64) bool {
				s, err := StartEcho(EchoConfig{Addr: "127.0.0.1:0", Stack: st.stack})
				if err != nil {
					if !strings.HasPrefix(err.Error(), "echo: ") {
						t.Fatalf("fault %d: %v", n, err)
					}
					return true
				}
				defer func() {
					if err := s.Close(); err != nil {
						t.Fatalf("fault %d: Close: %v", n, err)
					}
				}()
				c, err := net.Dial("tcp", s.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 4)
				if _, err := c.Write([]byte("ping")); err != nil {
					return true
				}
				_, err = io.ReadFull(c, buf)
				if isTimeout(err) {
					point, ferr := fault.Fired()
					t.Fatalf("fault %d (%s, %v): no echo: %v", n, fault.Name(point), ferr, err)
				}
				return err != nil || string(buf) != "ping"
			}
			settle := func(n int64) {
				if got := fault.OpenFDs(t); got != fds {
					t.Fatalf("fault %d: %d fds open, want %d", n, got, fds)
				}
			}
			fault.Sweep(t, "natural", fault.All, fault.Natural, run, settle)
			fault.Sweep(t, "eintr", fault.Blocking, syscall.EINTR, run, settle)
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
