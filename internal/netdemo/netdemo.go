// Package netdemo holds the C network demos of the coro command (an echo
// server and a load generator for echo and HTTP/1.1 servers) and the Go
// code that starts them and reads their counters.
//
// Both run entirely in C coroutines on coro.Loops, one loop per thread: Go
// only allocates their records in C memory, spawns their entry functions,
// and reads the results, so no request crosses into Go.
package netdemo

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc -I${SRCDIR}/../../httpc
// #include <stdlib.h>
// #include "netdemo.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/ccoro/coro"
	_ "github.com/ccoro/coro/httpc" // the response parser of load.c (resp.c)
	"github.com/ccoro/coro/internal/started"
)

// closeTimeout bounds how long closing a loop waits for its coroutines to
// finish after they have been cancelled.
const closeTimeout = 5 * time.Second

// errno turns a negative errno returned by the C side into an error.
func errno(rc C.int) error {
	return syscall.Errno(-rc)
}

// ResolveAddr turns "host:port" into the numeric form the C side parses
// ("127.0.0.1:7000", "[::1]:7000"), resolving a host name if need be.
func ResolveAddr(addr string) (string, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("bad address %q: %w", addr, err)
	}
	ip := a.IP
	if ip == nil {
		ip = net.IPv4zero
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port)), nil
}

func closeLoops(loops []*coro.Loop) error {
	var errs []error
	for _, l := range loops {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		errs = append(errs, l.Close(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// ---- echo server -----------------------------------------------------

// DefaultEchoIdle is the echo server's idle timeout when EchoConfig sets
// none: long enough for any client that is still there, short enough that
// one that went away silently (or never reads) does not hold its fd,
// coroutine and buffer for long.
const DefaultEchoIdle = 60 * time.Second

// EchoConfig describes an echo server.
type EchoConfig struct {
	Addr  string         // host:port to listen on; port 0 picks one
	Loops int            // loops (threads), each with its own listener; default 1
	Stack coro.StackMode // the coroutines' stacks
	// ReusePort shares the port with the SO_REUSEPORT listeners of
	// another process of the same user (see coro.WithReusePort); without
	// it StartEcho fails with EADDRINUSE on an address that is served.
	ReusePort bool
	// IdleTimeout closes a connection that sends nothing for this long,
	// or whose reply cannot be written back within it (a client that does
	// not read); default DefaultEchoIdle.
	IdleTimeout time.Duration
}

// EchoServer is a running echo server.
type EchoServer struct {
	addr  string
	group *coro.Group
	srv   *C.nd_echo
	accs  []*C.nd_echo_acceptor
	accCo []*coro.Coroutine
}

// EchoStats are an echo server's counters.
type EchoStats struct {
	Conns    uint64 // connections accepted
	Active   uint64 // connections open now
	Bytes    uint64 // bytes echoed
	Reads    uint64 // reads that returned data
	Errors   uint64 // connections that ended with an error
	Timeouts uint64 // connections closed at the idle timeout
}

// StartEcho starts an echo server: cfg.Loops loops, each running an
// accept coroutine on its own listener on cfg.Addr (coro.Group.ListenEach:
// the kernel spreads the connections over them), which spawns a coroutine
// per connection that echoes until end of file or the idle timeout. With
// port 0, the first listener picks the port and the others share it.
// Errors start with "echo: "; an address that is served already fails
// with EADDRINUSE (errors.Is) unless cfg.ReusePort is set.
func StartEcho(cfg EchoConfig) (*EchoServer, error) {
	if cfg.Loops == 0 {
		cfg.Loops = 1
	}
	if cfg.Loops < 1 || cfg.Loops > 1024 {
		return nil, fmt.Errorf("echo: %d loops: want 1 to 1024", cfg.Loops)
	}
	if cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("echo: idle timeout %v: want more than 0", cfg.IdleTimeout)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultEchoIdle
	}
	addr, err := ResolveAddr(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	s := &EchoServer{srv: (*C.nd_echo)(C.calloc(1, C.size_t(unsafe.Sizeof(C.nd_echo{}))))}
	if s.srv == nil {
		return nil, fmt.Errorf("echo: %w", syscall.ENOMEM)
	}
	s.srv.idle_ns = C.int64_t(cfg.IdleTimeout)
	fail := func(err error) (*EchoServer, error) {
		s.Close()
		return nil, fmt.Errorf("echo: %w", err)
	}
	if s.group, err = coro.NewGroup(cfg.Loops, coro.WithStackMode(cfg.Stack), coro.WithName("echo")); err != nil {
		return fail(err)
	}
	var lopts []coro.ListenOption
	if cfg.ReusePort {
		lopts = append(lopts, coro.WithReusePort())
	}
	fds, bound, err := s.group.ListenEach(addr, lopts...)
	if err != nil {
		return fail(err)
	}
	s.addr = bound
	// Each listener goes into its acceptor record at once, so that Close
	// closes those whose accept coroutine never ran.
	for i, fd := range fds {
		a := (*C.nd_echo_acceptor)(C.calloc(1, C.size_t(unsafe.Sizeof(C.nd_echo_acceptor{}))))
		if a == nil {
			for _, fd := range fds[i:] {
				syscall.Close(fd)
			}
			return fail(syscall.ENOMEM)
		}
		a.srv, a.lfd = s.srv, C.int(fd)
		s.accs = append(s.accs, a)
	}
	for i, a := range s.accs {
		co, err := s.group.Loop(i).Spawn(coro.Entry(uintptr(unsafe.Pointer(C.coro_fn(C.nd_echo_accept_main)))), uintptr(unsafe.Pointer(a)), coro.WithCoroutineName("echo-accept"))
		if err != nil {
			return fail(err)
		}
		s.accCo = append(s.accCo, co)
		if err := started.Check(s.group.Loop(i), co); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// Addr returns the address the server listens on, with the real port.
func (s *EchoServer) Addr() string { return s.addr }

// Stats reads the server's counters; safe while it runs.
func (s *EchoServer) Stats() EchoStats {
	var v [C.ND_ECHO_STATS]C.uint64_t
	C.nd_echo_read(s.srv, &v[0])
	return EchoStats{Conns: uint64(v[0]), Active: uint64(v[1]), Bytes: uint64(v[2]),
		Reads: uint64(v[3]), Errors: uint64(v[4]), Timeouts: uint64(v[5])}
}

// Close stops the server: closing the loops cancels their accept and
// connection coroutines, which close their sockets. It returns the first
// error an accept loop met, if any, or the loops' Close errors.
func (s *EchoServer) Close() error {
	if s.srv == nil {
		return errors.New("echo: already closed")
	}
	var err error
	if s.group != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		err = s.group.Close(ctx)
		cancel()
	}
	for i, a := range s.accs {
		if i < len(s.accCo) && a.err < 0 && err == nil {
			err = fmt.Errorf("echo: accept: %w", errno(a.err))
		}
		if a.lfd >= 0 {
			// Its coroutine never ran to close it.
			C.coro_fd_close(a.lfd)
		}
		C.free(unsafe.Pointer(a))
	}
	C.free(unsafe.Pointer(s.srv))
	s.srv, s.accs, s.group, s.accCo = nil, nil, nil, nil
	return err
}

// ---- load generator --------------------------------------------------

// LoadConfig describes a load run.
type LoadConfig struct {
	Addr     string         // the server, host:port
	Mode     string         // "echo" (default) or "http"
	Conns    int            // connections, default 1
	Duration time.Duration  // how long to send requests
	Requests int            // per connection at most, failed ones included; 0: no limit but Duration
	Rate     float64        // total requests per second; 0 for closed loop
	Size     int            // echo: request size in bytes, default 64; must be 0 for http
	Path     string         // http: the path to GET, default "/"; must be "" for echo
	Host     string         // http: the Host header, default Addr as given; must be "" for echo
	Loops    int            // loops (threads) sharing the connections, default 1
	Stack    coro.StackMode // the coroutines' stacks
	// Progress, if set, is called about once a second while the run lasts
	// with the requests completed so far and the time since the start.
	Progress func(requests uint64, elapsed time.Duration)
}

// LoadResult is what a load run measured. Every connection configured
// is one of Connected, Late, NotStarted, or failed its first connect
// (counted among ConnectErrors).
type LoadResult struct {
	Mode       string        // "echo" or "http"
	Conns      int           // connections configured
	Connected  int           // connections that got through at least once
	Late       int           // connections that had not connected when the run ended
	NotStarted int           // connections whose coroutine could not be started
	StartError error         // why the first of those could not, with the limit it hit
	Duration   time.Duration // from the start to the last reply
	Requests   uint64        // requests completed (for http: responses of any status)
	Errors     uint64        // requests that failed: I/O errors and malformed responses
	FirstError error         // the first of those errors, if any
	// ConnectErrors counts failed connects: a connection's first (it
	// then gives up) and its reconnects after an error.
	ConnectErrors     uint64
	FirstConnectError error     // the first, with the limit it hit
	Bytes             uint64    // bytes received (for http: heads and bodies)
	Status            [4]uint64 // http: responses by status class, 2xx, 3xx, 4xx, 5xx
	Hist              Histogram // latencies of the completed requests
}

// lateHint explains the connections that had not connected at the end.
const lateHint = "connecting them all took longer than the run: use a longer -d, or fewer connections (-c)"

// Err returns nil for a run in which every connection connected and
// every request completed, and otherwise what went wrong, one line per
// kind of failure: connections not started, connect errors, connections
// late, request errors, or no request completed at all. errors.Is sees
// the first error of each kind (syscall.ECONNREFUSED, syscall.EMFILE, ...).
func (r *LoadResult) Err() error {
	var errs []error
	if r.NotStarted > 0 {
		errs = append(errs, fmt.Errorf("%d of %d connections not started: %w", r.NotStarted, r.Conns, r.StartError))
	}
	if r.ConnectErrors > 0 {
		errs = append(errs, fmt.Errorf("%d connect errors (first: %w)", r.ConnectErrors, r.FirstConnectError))
	}
	if r.Late > 0 {
		errs = append(errs, fmt.Errorf("%d of %d connections had not connected when the run ended: %s", r.Late, r.Conns, lateHint))
	}
	if r.Errors > 0 {
		errs = append(errs, fmt.Errorf("%d request errors (first: %w)", r.Errors, r.FirstError))
	}
	if r.Requests == 0 && errs == nil {
		errs = append(errs, errors.New("no request completed"))
	}
	return errors.Join(errs...)
}

// Throughput returns the completed requests per second.
func (r *LoadResult) Throughput() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// checkRequestText reports whether s can go into a request line or a
// header as it is: printable ASCII without spaces.
func checkRequestText(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte %#02x at %d: want printable ASCII without spaces (percent-encode the rest)", c, i)
		}
	}
	return nil
}

// CheckHTTPTarget checks that path and host can go into the request line
// and the Host header of http mode as they are. Its errors start with
// "path" or "host".
func CheckHTTPTarget(path, host string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("path %q: want an absolute path such as /index.html", path)
	case len(path) > 4096:
		return fmt.Errorf("path of %d bytes: want at most 4096", len(path))
	case host == "":
		return errors.New("host: empty")
	case len(host) > 1024:
		return fmt.Errorf("host of %d bytes: want at most 1024", len(host))
	}
	if err := checkRequestText(path); err != nil {
		return fmt.Errorf("path %q: %w", path, err)
	}
	if err := checkRequestText(host); err != nil {
		return fmt.Errorf("host %q: %w", host, err)
	}
	return nil
}

// RunLoad runs a load generator against cfg.Addr for cfg.Duration (or
// until each connection has sent cfg.Requests) and waits for it to
// finish. Its error (starting with "load: ") is for a bad cfg or a run
// that could not take place; what failed during a run is in the result
// (see LoadResult.Err).
func RunLoad(cfg LoadConfig) (*LoadResult, error) {
	var request string
	switch cfg.Mode {
	case "", "echo":
		cfg.Mode = "echo"
		if cfg.Path != "" || cfg.Host != "" {
			return nil, errors.New("load: a path and a host are for http mode")
		}
		if cfg.Size == 0 {
			cfg.Size = 64
		}
	case "http":
		if cfg.Size != 0 {
			return nil, errors.New("load: a request size is for echo mode (http sends GET requests)")
		}
		if cfg.Path == "" {
			cfg.Path = "/"
		}
		if cfg.Host == "" {
			cfg.Host = cfg.Addr
		}
		if err := CheckHTTPTarget(cfg.Path, cfg.Host); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		// What wrk sends: keep-alive is HTTP/1.1's default.
		request = "GET " + cfg.Path + " HTTP/1.1\r\nHost: " + cfg.Host + "\r\n\r\n"
	default:
		return nil, fmt.Errorf("load: unknown mode %q (want echo or http)", cfg.Mode)
	}
	if cfg.Conns == 0 {
		cfg.Conns = 1
	}
	if cfg.Loops == 0 {
		cfg.Loops = 1
	}
	switch {
	case cfg.Conns < 1 || cfg.Conns > 1_000_000:
		return nil, fmt.Errorf("load: %d connections: want 1 to 1000000", cfg.Conns)
	case cfg.Mode == "echo" && (cfg.Size < 1 || cfg.Size > 64<<20):
		return nil, fmt.Errorf("load: size %d: want 1 to %d bytes", cfg.Size, 64<<20)
	case cfg.Loops < 1 || cfg.Loops > 1024:
		return nil, fmt.Errorf("load: %d loops: want 1 to 1024", cfg.Loops)
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("load: duration %v: want more than 0", cfg.Duration)
	case cfg.Requests < 0:
		return nil, fmt.Errorf("load: %d requests: want 0 (no limit) or more", cfg.Requests)
	case cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("load: rate %v: want 0 (closed loop) or more", cfg.Rate)
	}
	addr, err := ResolveAddr(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	loops := min(cfg.Loops, cfg.Conns)
	var interval int64
	if cfg.Rate > 0 {
		iv := float64(cfg.Conns) * 1e9 / cfg.Rate
		if iv < 1 {
			iv = 1
		}
		interval = int64(min(iv, float64(math.MaxInt64/4)))
	}

	jobs := make([]*C.nd_load, 0, loops)
	// The request, shared read-only by every loop; freed with the jobs,
	// once the loops are closed.
	var creq *C.char
	if request != "" {
		creq = C.CString(request)
	}
	defer func() {
		for _, j := range jobs {
			C.free(unsafe.Pointer(j))
		}
		C.free(unsafe.Pointer(creq))
	}()
	start := int64(C.coro_now())
	end := start + int64(cfg.Duration)
	first := 0
	for i := 0; i < loops; i++ {
		j := (*C.nd_load)(C.calloc(1, C.size_t(unsafe.Sizeof(C.nd_load{}))))
		if j == nil {
			return nil, fmt.Errorf("load: %w", syscall.ENOMEM)
		}
		jobs = append(jobs, j)
		n := cfg.Conns / loops
		if i < cfg.Conns%loops {
			n++
		}
		for k := 0; k < len(addr); k++ {
			j.addr[k] = C.char(addr[k])
		}
		j.mode = C.ND_LOAD_ECHO
		if cfg.Mode == "http" {
			j.mode = C.ND_LOAD_HTTP
			j.request = creq
			j.request_len = C.size_t(len(request))
		}
		j.conns = C.int(n)
		j.first_conn = C.int(first)
		j.total_conns = C.int(cfg.Conns)
		j.start_ns = C.int64_t(start)
		j.end_ns = C.int64_t(end)
		j.interval_ns = C.int64_t(interval)
		j.max_requests = C.int64_t(cfg.Requests)
		j.size = C.size_t(cfg.Size)
		first += n
	}

	var ls []*coro.Loop
	var cos []*coro.Coroutine
	var runErr error
	for i, j := range jobs {
		l, err := coro.NewLoop(coro.WithStackMode(cfg.Stack), coro.WithName(fmt.Sprintf("load-%d", i)))
		if err != nil {
			runErr = err
			break
		}
		ls = append(ls, l)
		co, err := l.Spawn(coro.Entry(uintptr(unsafe.Pointer(C.coro_fn(C.nd_load_main)))), uintptr(unsafe.Pointer(j)), coro.WithCoroutineName("load"))
		if err != nil {
			runErr = err
			break
		}
		cos = append(cos, co)
	}
	if runErr == nil {
		runErr = waitAll(cos, jobs, start, cfg.Progress)
	}
	if err := closeLoops(ls); runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, fmt.Errorf("load: %w", runErr)
	}

	res := &LoadResult{Mode: cfg.Mode, Conns: cfg.Conns}
	var finish int64
	var startErr, connectErr C.int
	for _, j := range jobs {
		res.Requests += uint64(C.nd_load_requests(j))
		res.Errors += uint64(C.nd_load_errors(j))
		res.Bytes += uint64(C.nd_load_bytes(j))
		for i := range res.Status {
			res.Status[i] += uint64(j.status[i])
		}
		res.Connected += int(j.connected)
		res.Late += int(j.late)
		res.NotStarted += int(j.not_started)
		res.ConnectErrors += uint64(j.connect_errors)
		if j.first_err < 0 && res.FirstError == nil {
			res.FirstError = errno(j.first_err)
			if j.first_why != nil {
				res.FirstError = fmt.Errorf("%s: %w", C.GoString(j.first_why), res.FirstError)
			}
		}
		if startErr == 0 {
			startErr = j.start_err
		}
		if connectErr == 0 {
			connectErr = j.first_connect_err
		}
		finish = max(finish, int64(j.finish_ns))
		res.Hist.add(&j.hist)
	}
	res.Duration = time.Duration(finish - start)
	if startErr < 0 {
		res.StartError = explainLimit("spawn", errno(startErr), cfg.Stack, cfg.Conns-res.NotStarted)
	}
	if connectErr < 0 {
		res.FirstConnectError = explainLimit("connect "+addr, errno(connectErr), cfg.Stack, 0)
	}
	return res, nil
}

// waitAll waits for the load coroutines, calling progress once a second,
// and returns the first error of one (a coroutine the loop could not
// start, for want of memory for its stack say, never ran: its job holds
// no result).
func waitAll(cos []*coro.Coroutine, jobs []*C.nd_load, start int64, progress func(uint64, time.Duration)) error {
	var first error
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for _, co := range cos {
		for waiting := true; waiting; {
			select {
			case <-co.Done():
				waiting = false
			case <-tick.C:
				if progress != nil {
					var n uint64
					for _, j := range jobs {
						n += uint64(C.nd_load_requests(j))
					}
					progress(n, time.Duration(int64(C.coro_now())-start))
				}
			}
		}
		// The coroutine has finished; Wait only collects its outcome.
		if _, err := co.Wait(context.Background()); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ---- histogram -------------------------------------------------------

// Histogram is a log-linear latency histogram (nanoseconds), merged from
// the loops' C histograms: each bucket is within 1/64 of its values.
type Histogram struct {
	Count    uint64
	Min, Max time.Duration
	counts   []uint64 // per C bucket
}

func (h *Histogram) add(c *C.nd_hist) {
	if c.count == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, C.ND_HIST_BUCKETS)
		h.Min = time.Duration(math.MaxInt64)
	}
	for i, v := range c.counts {
		h.counts[i] += uint64(v)
	}
	h.Count += uint64(c.count)
	h.Min = min(h.Min, time.Duration(c.min))
	h.Max = max(h.Max, time.Duration(c.max))
}

// Percentile returns the latency below which the fraction p (0 to 1) of
// the requests fall: the top of the bucket holding that rank, capped by
// the maximum.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p * float64(h.Count)))
	rank = min(max(rank, 1), h.Count)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			v := time.Duration(C.nd_hist_high(C.int(i)))
			return min(max(v, h.Min), h.Max)
		}
	}
	return h.Max
}

// Text draws the histogram with one row per power of two of latency from
// the smallest to the largest seen, each with its count and a bar of up
// to width characters.
func (h *Histogram) Text(width int) string {
	if h.Count == 0 {
		return "  (no requests)\n"
	}
	type row struct {
		lo, hi time.Duration
		n      uint64
	}
	var rows []row
	for i, n := range h.counts {
		if n == 0 {
			continue
		}
		lo := uint64(C.nd_hist_low(C.int(i)))
		e := 0
		for (uint64(1) << (e + 1)) <= lo {
			e++
		}
		rlo := time.Duration(uint64(1) << e)
		if lo == 0 {
			rlo = 0
		}
		if len(rows) == 0 || rows[len(rows)-1].lo != rlo {
			// Fill the empty powers of two in between.
			for len(rows) > 0 && rows[len(rows)-1].hi < rlo {
				last := rows[len(rows)-1].hi
				rows = append(rows, row{lo: last, hi: 2 * last})
			}
			rows = append(rows, row{lo: rlo, hi: max(2*rlo, 1)})
		}
		rows[len(rows)-1].n += n
	}
	var top uint64
	for _, r := range rows {
		top = max(top, r.n)
	}
	var b strings.Builder
	for _, r := range rows {
		bar := int(float64(r.n) / float64(top) * float64(width))
		if bar == 0 && r.n > 0 {
			bar = 1
		}
		fmt.Fprintf(&b, "  %8s - %-8s %10d %s\n", round(r.lo), round(r.hi), r.n, strings.Repeat("#", bar))
	}
	return b.String()
}

// Report renders the result: the settings, counts, throughput,
// percentiles and the text histogram.
func (r *LoadResult) Report() string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-15s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	line("connections", "%d (%d connected)", r.Conns, r.Connected)
	if r.NotStarted > 0 {
		line("not started", "%d: %v", r.NotStarted, r.StartError)
	}
	if r.Late > 0 {
		line("not connected", "%d when the run ended: %s", r.Late, lateHint)
	}
	line("duration", "%.3fs", r.Duration.Seconds())
	line("requests", "%d", r.Requests)
	withFirst := func(label string, n uint64, first error) {
		if first != nil {
			line(label, "%d (first: %v)", n, first)
		} else {
			line(label, "%d", n)
		}
	}
	withFirst("errors", r.Errors, r.FirstError)
	withFirst("connect errors", r.ConnectErrors, r.FirstConnectError)
	if r.Mode == "http" {
		line("status", "2xx %d  3xx %d  4xx %d  5xx %d", r.Status[0], r.Status[1], r.Status[2], r.Status[3])
	}
	line("throughput", "%.0f req/s", r.Throughput())
	var mbs float64
	if r.Duration > 0 {
		mbs = float64(r.Bytes) / 1e6 / r.Duration.Seconds()
	}
	line("received", "%.1f MB, %.1f MB/s", float64(r.Bytes)/1e6, mbs)
	h := &r.Hist
	line("latency", "p50 %v  p90 %v  p99 %v  p99.9 %v  max %v",
		round(h.Percentile(0.5)), round(h.Percentile(0.9)), round(h.Percentile(0.99)),
		round(h.Percentile(0.999)), round(h.Max))
	b.WriteString("histogram:\n")
	b.WriteString(h.Text(40))
	return b.String()
}

// round keeps about three significant digits of d.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}

// Test hooks: the C bucket functions (cgo cannot be used in tests).

func histBucket(v uint64) int { return int(C.nd_hist_bucket(C.uint64_t(v))) }
func histLow(i int) uint64    { return uint64(C.nd_hist_low(C.int(i))) }
func histHigh(i int) uint64   { return uint64(C.nd_hist_high(C.int(i))) }
