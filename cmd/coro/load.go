package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ccoro/coro/internal/demos"
	"github.com/ccoro/coro/internal/httpd"
	"github.com/ccoro/coro/internal/netdemo"
)

// loadCommand is "coro load": a load generator for echo and HTTP servers.
var loadCommand = &command{
	name:    "load",
	summary: "a load generator (echo or HTTP/1.1), one C coroutine per connection",
	args:    "[-addr HOST:PORT | -serve] [-mode echo|http] [-c N] [-d DURATION] [-n N] [-rate R] [-size BYTES] [-path /P] [-host H] [-loops N] [-stack guarded|shared]",
	help: `Load a server with -c connections for -d, each a C coroutine that sends a
request and reads the whole reply before it sends the next (lockstep).

-mode echo sends -size bytes and reads the same bytes back. -mode http
sends "GET -path HTTP/1.1" with "Host: -host" (the -addr as given unless
set) on keep-alive connections and reads each response to its end: bodies
of any size (Content-Length, chunked, or up to the close) are read in
pieces and dropped; a response with "Connection: close" is counted and the
next request opens a new connection. A malformed response, or bytes after
its end, is an error: counted, and the connection starts over. -size is
for echo only; -path and -host are for http only.

With -rate 0 every connection sends its next request as soon as the reply
is in (closed loop); with -rate R the connections together send R requests
a second, each on a fixed schedule, and latency runs from the scheduled
send time, so a slow server cannot hide its delays by slowing the sender
(no coordinated omission). The connections are spread over -loops loops
(threads).

With -n N each connection stops after N requests (failed ones count), and
the run ends when every connection has stopped, or at -d if that comes
first: a run bounded in work rather than in time (-n 0, the default: no
bound but -d).

With -serve, load starts the server itself, in the same process: coro
echo for -mode echo, coro httpd with its built-in site for -mode http, on
127.0.0.1 with a port of its own (one loop, the same -stack), and at the
end prints the requests the server counted beside its own: a whole
demonstration in one command, e.g. "coro load -serve -mode http -d 3s".

Shows progress once a second on stderr; at the end prints the connections,
duration, requests, errors (requests that failed, with the first) and
connect errors (with the first), for http the responses by
status class (2xx 3xx 4xx 5xx; all count as requests), throughput, bytes
received, latency percentiles (p50 p90 p99 p99.9 max) and a histogram with
one row per power of two of latency.

Every connection is accounted for: "connect errors" counts failed
connects (a connection whose first connect fails gives up); "not started"
the connections whose coroutine could not be spawned, and "not connected"
those the end of the run came to before they had connected (thousands of
connects at once can take longer than a short run). The error of each
kind names the limit it most likely hit and the way around it: guarded
stacks stop near 32,700 per process (vm.max_map_count): use -stack
shared; one fd per connection: raise the fd limit (ulimit -n).

Exit status: 0 every connection connected and every request completed; 1
anything failed (a request error, a connect error, a connection not
started or not connected, or no request completed: what failed is
printed on stderr, after the report), or the run could not start; 2
usage error.`,
	flags: loadFlags,
}

func loadFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	addr := fs.String("addr", "127.0.0.1:7000", "the server, `HOST:PORT`")
	mode := fs.String("mode", "echo", "the protocol, `MODE`: echo or http")
	conns := fs.Int("c", 100, "`N` connections")
	dur := fs.Duration("d", 5*time.Second, "send requests for `DURATION`")
	perConn := fs.Int("n", 0, "stop each connection after `N` requests; 0: only -d ends the run")
	rate := fs.Float64("rate", 0, "`R` requests a second in total, on a fixed schedule; 0: closed loop")
	size := fs.Int("size", 64, "echo: request (and reply) size in `BYTES`")
	path := fs.String("path", "/", "http: GET this `PATH`")
	host := fs.String("host", "", "http: the Host header, `HOST` (default: the -addr as given)")
	loops := fs.Int("loops", 1, "`N` loops (threads) sharing the connections")
	stack := fs.String("stack", "guarded", "the coroutines' stacks, `STACK`: guarded or shared")
	serve := fs.Bool("serve", false, "start the server in this process on 127.0.0.1 and load it")
	return func(stdout, stderr io.Writer) int {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case *serve && set["addr"]:
			return usageError(stderr, "load", "-serve picks its own address: drop -addr")
		case *mode != "echo" && *mode != "http":
			return usageError(stderr, "load", "-mode %q: want echo or http", *mode)
		case *mode == "http" && set["size"]:
			return usageError(stderr, "load", "-size is for -mode echo; -mode http sends GET requests")
		case *mode == "echo" && (set["path"] || set["host"]):
			return usageError(stderr, "load", "-path and -host are for -mode http")
		case *conns < 1 || *conns > 1_000_000:
			return usageError(stderr, "load", "-c %d: want 1 to 1000000 connections", *conns)
		case *perConn < 0:
			return usageError(stderr, "load", "-n %d: want 0 (no bound) or a positive count", *perConn)
		case *dur <= 0:
			return usageError(stderr, "load", "-d %v: want a positive duration", *dur)
		case !(*rate >= 0) || *rate > 1e12:
			return usageError(stderr, "load", "-rate %v: want 0 (closed loop) or a positive rate", *rate)
		case *size < 1 || *size > 64<<20:
			return usageError(stderr, "load", "-size %d: want 1 to %d bytes", *size, 64<<20)
		case *loops < 1 || *loops > 1024:
			return usageError(stderr, "load", "-loops %d: want 1 to 1024", *loops)
		case set["host"] && *host == "":
			return usageError(stderr, "load", "-host: empty")
		}
		st, err := demos.ParseStack(*stack)
		if err != nil {
			return usageError(stderr, "load", "-stack: %v", err)
		}
		target, err := numericAddr(*addr) // *addr stays the Host header's default
		if err != nil {
			return usageError(stderr, "load", "-addr: %v", err)
		}
		if _, err := netdemo.ResolveAddr(target); err != nil {
			return usageError(stderr, "load", "-addr: %v", err)
		}
		var srv *selfServer
		if *serve {
			ecfg := netdemo.EchoConfig{Addr: "127.0.0.1:0", Loops: 1, Stack: st}
			hcfg := httpd.Config{Addr: "127.0.0.1:0", Loops: 1, Stack: st}
			if srv, err = startSelfServer(*mode, ecfg, hcfg, stdout); err != nil {
				fmt.Fprintf(stderr, "coro load: -serve: %v\n", err)
				return exitFailed
			}
			defer srv.close(stderr)
			*addr, target = srv.addr, srv.addr
		}
		cfg := netdemo.LoadConfig{
			Addr: target, Mode: *mode, Conns: *conns, Duration: *dur, Rate: *rate,
			Size: *size, Loops: *loops, Stack: st, Requests: *perConn,
		}
		if *mode == "http" {
			cfg.Size, cfg.Path, cfg.Host = 0, *path, *host
			h := *host
			if h == "" {
				h = *addr
			}
			if err := netdemo.CheckHTTPTarget(*path, h); err != nil {
				return usageError(stderr, "load", "-%v", err) // "-path ...", "-host ..."
			}
		}
		p := newLoadProgress(stderr)
		cfg.Progress = p.update
		res, err := netdemo.RunLoad(cfg)
		p.done()
		if err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err) // "load: ..."
			return exitFailed
		}
		fmt.Fprint(stdout, res.Report())
		code := exitOK
		if err := res.Err(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(stderr, "coro load: %s\n", line)
			}
			code = exitFailed
		}
		if srv != nil {
			// httpd counts a response when its last write returns, which
			// may be a moment after the client has read it.
			for end := time.Now().Add(time.Second); srv.requests() < res.Requests && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
			}
			fmt.Fprintf(stdout, "server:         %d requests answered (the load generator counted %d)\n",
				srv.requests(), res.Requests)
		}
		return code
	}
}

// selfServer is the server -serve starts: coro echo or coro httpd.
type selfServer struct {
	addr  string
	echo  *netdemo.EchoServer
	httpd *httpd.Server
	dir   string // httpd's built-in site, removed on close
}

// startSelfServer starts the echo server (mode "echo", with ecfg) or httpd
// with the built-in site (with hcfg, whose Root it sets).
func startSelfServer(mode string, ecfg netdemo.EchoConfig, hcfg httpd.Config, stdout io.Writer) (*selfServer, error) {
	s := &selfServer{}
	if mode == "echo" {
		e, err := netdemo.StartEcho(ecfg)
		if err != nil {
			return nil, err
		}
		s.echo, s.addr = e, e.Addr()
		fmt.Fprintf(stdout, "load: serving echo on %s\n", s.addr)
		return s, nil
	}
	dir, err := writeBuiltinSite()
	if err != nil {
		return nil, err
	}
	hcfg.Root = dir
	h, err := httpd.Start(hcfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.httpd, s.addr, s.dir = h, h.Addr(), dir
	fmt.Fprintf(stdout, "load: serving the built-in site on %s\n", h.URL())
	return s, nil
}

// requests is what the server counted: echo's reads answered in full
// (one per request in lockstep), httpd's responses.
func (s *selfServer) requests() uint64 {
	if s.echo != nil {
		st := s.echo.Stats()
		return st.Reads
	}
	return uint64(s.httpd.Stats().Requests)
}

func (s *selfServer) close(stderr io.Writer) {
	var err error
	if s.echo != nil {
		err = s.echo.Close()
	} else {
		err = s.httpd.Close()
		os.RemoveAll(s.dir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "coro load: -serve: %v\n", err)
	}
}

// loadProgress draws the once-a-second progress line: rewritten in place on a
// terminal, one line per second otherwise.
type loadProgress struct {
	w        io.Writer
	tty      bool
	drawn    bool
	lastN    uint64
	lastTime time.Duration
}

func newLoadProgress(w io.Writer) *loadProgress {
	p := &loadProgress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *loadProgress) update(n uint64, elapsed time.Duration) {
	var rate float64
	if dt := elapsed - p.lastTime; dt > 0 {
		rate = float64(n-p.lastN) / dt.Seconds()
	}
	p.lastN, p.lastTime = n, elapsed
	line := fmt.Sprintf("load: %5.1fs %12d requests %10.0f req/s", elapsed.Seconds(), n, rate)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// done ends the progress line on a terminal.
func (p *loadProgress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
