// Command idleclient is the load side of the idle-connection benchmark
// (scripts/bench-io.sh idle): it measures how much user-space memory an
// HTTP server spends on each keep-alive connection that has served a
// request and now sits idle.
//
//	idleclient -addr 127.0.0.1:PORT -path /idle.txt -pid SERVERPID [-n 19000] [-warm 100] [-sources K]
//
// In order it
//
//  1. opens -warm connections and sends one GET on each (the server's
//     allocator, caches and code pages warm up; these stay open),
//  2. reads the server's VmRSS and RssAnon from /proc/PID/status,
//  3. opens -n more connections, -c at a time, and sends one GET on each,
//     reading the whole response, so that every one has been through a
//     request and is idle in keep-alive,
//  4. waits -settle, reads the server's memory again, holds every
//     connection idle for -hold,
//  5. sends a second GET on every connection, to check that the server kept
//     them all (its idle timeout must exceed the hold), and closes them.
//
// It prints progress on stderr and one result line on stdout:
//
//	idle: conns N warm W answered A reanswered R rss_before KB rss_after KB anon_before KB anon_after KB per_conn_rss B per_conn_anon B
//
// The per-connection figures are the growth between the two readings over
// N. They count the server's user-space memory only: the kernel's socket
// buffers and epoll records are not in a process's RSS.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the server, `HOST:PORT`")
	path := flag.String("path", "/", "the `PATH` to GET on each connection")
	pid := flag.Int("pid", 0, "the server's process id, whose memory is read (required)")
	n := flag.Int("n", 19000, "idle connections to measure, `N`")
	warm := flag.Int("warm", 100, "warm-up connections, opened first and kept open, `W`")
	conc := flag.Int("c", 64, "connections being opened at once, `C`")
	sources := flag.Int("sources", 1, "dial from `K` source addresses, 127.0.0.1 to 127.0.0.K")
	settle := flag.Duration("settle", 500*time.Millisecond, "wait `D` after the last answer before reading memory")
	hold := flag.Duration("hold", 2*time.Second, "hold the connections idle for `D` before checking them")
	timeout := flag.Duration("timeout", 10*time.Second, "bound each dial and request by `D`")
	flag.Parse()
	if *pid <= 0 || *n <= 0 || *warm < 0 || *conc <= 0 || *sources < 1 || *sources > 254 {
		fmt.Fprintln(os.Stderr, "idleclient: -pid, -n and -c must be positive, -warm not negative, -sources 1 to 254")
		os.Exit(2)
	}
	c := &client{addr: *addr, path: *path, timeout: *timeout}
	if *sources > 1 {
		for k := 1; k <= *sources; k++ {
			c.src = append(c.src, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(k))})
		}
	}
	if err := c.run(*pid, *n, *warm, *conc, *settle, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "idleclient:", err)
		os.Exit(1)
	}
}

func (c *client) run(pid, n, warm, conc int, settle, hold time.Duration) error {
	warmConns, err := c.open(warm, conc)
	defer closeAll(warmConns)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	before, err := readMem(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	conns, err := c.open(n, conc)
	defer closeAll(conns)
	if err != nil {
		return fmt.Errorf("after %d connections: %w", len(conns), err)
	}
	fmt.Fprintf(os.Stderr, "idleclient: %d connections answered in %v\n", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(settle)
	after, err := readMem(pid)
	if err != nil {
		return err
	}
	time.Sleep(hold)
	re := c.again(conns, conc)
	if re != n {
		fmt.Fprintf(os.Stderr, "idleclient: only %d of %d connections answered a second request after %v idle\n", re, n, hold)
	}
	perRSS := float64(after.rss-before.rss) * 1024 / float64(n)
	perAnon := float64(after.anon-before.anon) * 1024 / float64(n)
	fmt.Printf("idle: conns %d warm %d answered %d reanswered %d rss_before %d rss_after %d anon_before %d anon_after %d per_conn_rss %.0f per_conn_anon %.0f\n",
		n, warm, len(conns), re, before.rss, after.rss, before.anon, after.anon, perRSS, perAnon)
	if re != n {
		return errors.New("the server dropped idle connections")
	}
	return nil
}

type client struct {
	addr, path string
	timeout    time.Duration
	// src are the local addresses to dial from, in turn; none: let the
	// kernel choose. Linux's connect() picks ephemeral ports from one half
	// of the range first, and once that half is in use toward one
	// destination (14,000 of the 28,000 ports here) every connect scans it
	// and becomes about 15 times slower. Binding to several loopback
	// addresses gives each its own ports.
	src []net.Addr
}

// open opens n connections, conc at a time, and sends one GET on each. It
// returns the connections that were answered, and the first error.
func (c *client) open(n, conc int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d := net.Dialer{Timeout: c.timeout}
				if len(c.src) > 0 {
					d.LocalAddr = c.src[i%len(c.src)]
				}
				conn, err := d.Dial("tcp", c.addr)
				if err == nil {
					if err = c.get(conn); err != nil {
						conn.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the other workers
					return
				}
				conns[i] = conn
			}
		}()
	}
	wg.Wait()
	ok := conns[:0]
	for _, conn := range conns {
		if conn != nil {
			ok = append(ok, conn)
		}
	}
	return ok, first
}

// again sends one more GET on every connection, conc at a time, and
// returns how many were answered.
func (c *client) again(conns []net.Conn, conc int) int {
	var next, good atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, len(conns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				if c.get(conns[i]) == nil {
					good.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(good.Load())
}

// get sends one keep-alive GET and reads the whole response. The reader is
// dropped afterwards: the server sends nothing unasked, so no bytes are
// left buffered, and the client holds no buffer per idle connection.
func (c *client) get(conn net.Conn) error {
	conn.SetDeadline(time.Now().Add(c.timeout))
	defer conn.SetDeadline(time.Time{})
	req := "GET " + c.path + " HTTP/1.1\r\nHost: " + c.addr + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", c.path, resp.Status)
	}
	if resp.Close {
		return fmt.Errorf("GET %s: the server closes the connection", c.path)
	}
	if br.Buffered() != 0 {
		return fmt.Errorf("GET %s: %d bytes after the response", c.path, br.Buffered())
	}
	return nil
}

// closeAll closes the connections with a reset (SO_LINGER 0) rather than
// a FIN: a client that closes first leaves each port in TIME_WAIT for a
// minute, and tens of thousands of those slow down the next run's connects
// (and everyone else's on the machine).
func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
}

// mem is a process's resident memory in KiB.
type mem struct{ rss, anon int64 }

func readMem(pid int) (mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	var m mem
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = v
		case "RssAnon:":
			m.anon = v
		}
	}
	if m.rss == 0 {
		return mem{}, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}
