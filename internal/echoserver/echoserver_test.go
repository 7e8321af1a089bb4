package echoserver_test

import (
	"bufio"
	"fmt"
	"net"
	"testing"

	"github.com/ccoro/coro/internal/echoserver"
)

// start starts a server with the barrier, stopped when the test ends.
func start(t *testing.T, barrier int) int {
	t.Helper()
	port, stop, err := echoserver.Start(0, barrier)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return port
}

// ask connects and sends line; the answer is read with answered.
func ask(t *testing.T, port int, line string) *bufio.Reader {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	return bufio.NewReader(c)
}

func answered(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	if s, err := r.ReadString('\n'); err != nil || s != want {
		t.Fatalf("answer %q, %v; want %q", s, err, want)
	}
}

// TestBarrier: with a barrier of 2 both requests are answered, each with
// its own line, once both are in (that none is answered before is what
// the hooks' tests count: all their clients in flight at once).
func TestBarrier(t *testing.T) {
	port := start(t, 2)
	r1 := ask(t, port, "one\n")
	r2 := ask(t, port, "two\n")
	answered(t, r2, "two\n")
	answered(t, r1, "one\n")
}

// TestNoBarrier: without a barrier each line comes back at once.
func TestNoBarrier(t *testing.T) {
	answered(t, ask(t, start(t, 0), "alone\n"), "alone\n")
}
