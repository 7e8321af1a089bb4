package netdemo

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/fault"
)

// TestFaults fails the engine's fault points one at a time, the nth for n
// = 1, 2, ..., during a short load run against the echo server in the same
// process: the run's loop creation, spawns, connects and first requests,
// and the server's accepts and echoes. A run is time-bound, so it passes
// thousands of points: the sweep stops at the first 60. Each fault may
// fail the run with a "load: " error or end one connection; never more.
// After each, the server's connections and the process's fds go back to
// what they were and a clean run has no error. Under EINTR alone no run
// may see an error at all.
func TestFaults(t *testing.T) {
	const points = 60
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			s := startEcho(t, 1, st.stack)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			cfg := LoadConfig{Addr: s.Addr(), Conns: 2, Duration: 20 * time.Millisecond, Size: 64, Stack: st.stack}
			// A run without faults has no error and, within a generous
			// time, completes requests (a run is time-bound: on a loaded
			// machine one may end before its first reply).
			clean := func(what string) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					res, err := RunLoad(cfg)
					if err != nil || res.Errors != 0 {
						t.Fatalf("%s: %v, %+v", what, err, res)
					}
					if res.Requests > 0 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: no request completed: %+v", what, res)
					}
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
				failed := 0
				for n := int64(1); n <= points; n++ {
					fault.ArmAt(set, n, 1, e)
					res, err := RunLoad(cfg)
					point, ferr := fault.Fired()
					fault.Disarm()
					bad := err != nil || res.Errors != 0
					switch {
					case bad && (point < 0 || e == syscall.EINTR):
						t.Fatalf("%s: fault %d (point %d, %v): %v, %+v", name, n, point, ferr, err, res)
					case err != nil && !strings.HasPrefix(err.Error(), "load: "):
						t.Fatalf("%s: fault %d: error %q", name, n, err)
					case err == nil && res.Errors > 1:
						t.Fatalf("%s: fault %d (point %d, %v): %d connections failed", name, n, point, ferr, res.Errors)
					}
					if bad {
						failed++
					}
					if got := settle(); got != fds {
						t.Fatalf("%s: fault %d (point %d, %v): %d fds open, want %d", name, n, point, ferr, got, fds)
					}
					clean(name)
				}
				t.Logf("%s: %d faults injected, %d runs saw an error", name, points, failed)
			}
			sweep("natural", fault.All, fault.Natural)
			sweep("eintr", fault.Blocking, syscall.EINTR)
		})
	}
}
