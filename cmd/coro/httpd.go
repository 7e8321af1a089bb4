package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ccoro/coro/internal/demos"
	"github.com/ccoro/coro/internal/httpd"
)

// httpdCommand is the httpd subcommand (see the commands table in main.go).
var httpdCommand = &command{
	name:    "httpd",
	summary: "serve static files over HTTP/1.1, one C coroutine per connection",
	args:    "[-addr HOST:PORT] [-root DIR] [-loops N] [-stack guarded|shared] [-header-timeout D] [-idle D] [-write-timeout D] [-lingering-timeout D] [-lingering-time D] [-unsent-limit BYTES] [-reuseport]",
	help: `Serve the files under DIR over HTTP/1.1 (GET and HEAD; keep-alive and
pipelining; Range, ETag and Last-Modified; If-Match, If-Unmodified-Since,
If-None-Match, If-Modified-Since and If-Range; a directory's index.html,
with /dir redirected to /dir/) from N loops, each a thread with its own
SO_REUSEPORT listener, running one C coroutine per connection. With no
-root, a small built-in site (index.html, style.css, a 1 MiB file) is
written to a temporary directory and served. Prints
"httpd: serving DIR on http://ADDR/ (N loops)" and runs until SIGINT or
SIGTERM. An address another server listens on is an error unless
-reuseport shares the port (see "coro echo -h").

The limits on clients: a request head must arrive within -header-timeout
(else 408); a keep-alive connection waits at most -idle for its next
request; a client must accept each part of a response (the head, then the
body 256 KiB at a time) within -write-timeout, else it is dropped, and no
more than -unsent-limit bytes of a response wait unsent in the kernel
for it (TCP_NOTSENT_LOWAT). After an error response sent before a request
body was read (405 to an upload, 400, 431), the server stops writing and
reads and drops what the client still sends until it is done (nginx's
lingering close), waiting at most -lingering-timeout for each read and
-lingering-time in all, so that closing does not reset the connection
before the client has read the response.

Exit status: 0 after a signal, 1 the server failed, 2 usage error.`,
	flags: httpdFlags,
}

// The built-in site served when no -root is given.
var builtinSite = map[string]string{
	"index.html": `<!doctype html>
<html><head><meta charset="utf-8"><title>coro httpd</title>
<link rel="stylesheet" href="style.css"></head>
<body><h1>coro httpd</h1>
<p>Served by C coroutines, one per connection.</p>
<p><a href="big.bin">big.bin</a> (1 MiB of random bytes)</p>
</body></html>
`,
	"style.css": "body { font-family: sans-serif; margin: 2em; }\nh1 { color: #a33; }\n",
}

// writeBuiltinSite writes the built-in site to a new temporary directory.
func writeBuiltinSite() (string, error) {
	dir, err := os.MkdirTemp("", "coro-httpd-")
	if err != nil {
		return "", err
	}
	for name, text := range builtinSite {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	big := make([]byte, 1<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func httpdFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	addr := fs.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT` (a host name is resolved once; port 0 picks one)")
	root := fs.String("root", "", "serve the files under `DIR` (default: a built-in site in a temporary directory)")
	loops := fs.Int("loops", 1, "`N` loops (threads), each with its own SO_REUSEPORT listener")
	stack := fs.String("stack", "guarded", "the coroutines' stacks, `STACK`: guarded or shared")
	header := fs.Duration("header-timeout", 10*time.Second, "a request head must arrive within `D` (else 408)")
	reusePort := fs.Bool("reuseport", false, "share the port with other servers that listen on it with SO_REUSEPORT")
	idle := fs.Duration("idle", 30*time.Second, "close keep-alive connections idle for `D`")
	write := fs.Duration("write-timeout", 60*time.Second, "drop a client that takes longer than `D` to accept a part of a response")
	lingerTimeout := fs.Duration("lingering-timeout", 5*time.Second, "after an early error response, wait at most `D` for each read of what the client still sends")
	lingerTime := fs.Duration("lingering-time", 30*time.Second, "after an early error response, read what the client still sends for at most `D`")
	unsent := fs.Int("unsent-limit", 256<<10, "leave at most `BYTES` of a response unsent in the kernel")
	return func(stdout, stderr io.Writer) int {
		if *loops < 1 || *loops > 1024 {
			return usageError(stderr, "httpd", "-loops %d: want 1 to 1024", *loops)
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"header-timeout", *header}, {"idle", *idle}, {"write-timeout", *write},
			{"lingering-timeout", *lingerTimeout}, {"lingering-time", *lingerTime}} {
			if d.v <= 0 {
				return usageError(stderr, "httpd", "-%s %v: must be positive", d.name, d.v)
			}
		}
		if *unsent < 1 {
			return usageError(stderr, "httpd", "-unsent-limit %d: must be positive", *unsent)
		}
		st, err := demos.ParseStack(*stack)
		if err != nil {
			return usageError(stderr, "httpd", "-stack: %v", err)
		}
		if *addr, err = numericAddr(*addr); err != nil {
			return usageError(stderr, "httpd", "-addr: %v", err)
		}
		dir := *root
		if dir == "" {
			if dir, err = writeBuiltinSite(); err != nil {
				fmt.Fprintf(stderr, "coro httpd: %v\n", err)
				return exitFailed
			}
			defer os.RemoveAll(dir)
		}
		// Catch the signals before serving, so that one sent as soon as the
		// URL is printed is not fatal.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
		srv, err := httpd.Start(httpd.Config{
			Addr: *addr, Root: dir, Loops: *loops, Stack: st,
			HeaderTimeout: *header, IdleTimeout: *idle, WriteTimeout: *write,
			LingeringTimeout: *lingerTimeout, LingeringTime: *lingerTime, UnsentLimit: *unsent,
			ReusePort: *reusePort,
		})
		if err != nil {
			fmt.Fprintf(stderr, "coro %v%s\n", err, addrInUseHint(err)) // "httpd: ..."
			return exitFailed
		}
		fmt.Fprintf(stdout, "httpd: serving %s on %s (%d loops)\n", dir, srv.URL(), *loops)
		<-sigs
		if err := srv.Close(); err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err)
			return exitFailed
		}
		return exitOK
	}
}
