package netdemo

import (
	"net"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/syscount"
)

// TestEchoSyscallsPerRequest counts the loop's poller syscalls per request
// for one client sending messages back to back, with both poll backends. A
// connection reads until EAGAIN and then waits knowing the fd drained: no
// re-arm with epoll's kept edge registration (one fcntl with poll), and
// the loop sleeps once (with a finite timeout: ppoll, then epoll_wait(0)
// to collect; or one ppoll): at most two per request, and at most two per
// wake-up by the connection's fd (an fd event), since how many requests
// find their data there already depends on the timing. The loop once also
// looked at the kernel without sleeping right after each such sleep, a
// third syscall per wake-up for nothing.
func TestEchoSyscallsPerRequest(t *testing.T) {
	syscount.Backends(t, func(t *testing.T, backend string) {
		s, err := StartEcho(EchoConfig{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		msg := []byte("0123456789abcdef")
		echo := func(int) { roundTrip(t, c, msg) }
		l := s.group.Loop(0)
		syscount.Measure(l, 10, echo) // warm-up
		const n = 300
		got := syscount.Measure(l, n, echo)
		got.Check(t, "echo "+backend, 2)
		if got.Events < n/10 {
			t.Errorf("%d fd events for %d requests: the connection hardly waited", got.Events, n)
		} else if pe := float64(got.Syscalls) / float64(got.Events); pe > 2.1 {
			t.Errorf("%.2f poller syscalls per fd event, want at most 2", pe)
		}
	})
}
