package httpd

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/syscount"
)

// TestSyscallsPerRequest counts the loop's poller syscalls per request for
// one client sending requests back to back on a keep-alive connection,
// with both poll backends. Per request a connection waits for its next
// request with coro_fd_wait (one re-arm: epoll_ctl(MOD), or fcntl with
// poll) and the loop sleeps once (with a finite timeout: ppoll, then
// epoll_wait(0) to collect; or one ppoll). The loop once also looked at
// the kernel without sleeping right after that sleep, a fourth syscall per
// request for nothing (io_test syscalls_per_round_trip is the exact check
// in C).
func TestSyscallsPerRequest(t *testing.T) {
	syscount.Backends(t, func(t *testing.T, backend string) {
		root, _ := site(t)
		s := start(t, Config{Root: root, Loops: 1})
		c := dialServer(t, s, 30*time.Second)
		defer c.Close()
		br := bufio.NewReader(c)
		get := func(i int) {
			if _, err := io.WriteString(c, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(b), "0123") {
				t.Fatalf("response %d: %d %q %v", i, resp.StatusCode, b, err)
			}
		}
		l := s.group.Loop(0)
		syscount.Measure(l, 10, get) // warm-up
		max := map[string]float64{"epoll": 3, "poll": 2}[backend]
		syscount.Measure(l, 300, get).Check(t, "httpd "+backend, max)
	})
}
