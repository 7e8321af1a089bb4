package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ccoro/coro/internal/demos"
	"github.com/ccoro/coro/internal/httpd"
)

// httpdCommand is the httpd subcommand (see the commands table in main.go).
var httpdCommand = &command{
	name:    "httpd",
	summary: "serve static files over HTTP/1.1, one C coroutine per connection",
	args:    "[-addr HOST:PORT] [-root DIR] [-loops N] [-stack guarded|shared] [-header-timeout D] [-idle D] [-write-timeout D] [-lingering-timeout D] [-lingering-time D] [-unsent-limit BYTES] [-reuseport] [-mime-types FILE] [-charset NAME|none] [-dotfiles deny|allow] [-cache VALUE] [-cache-ext .EXT,...=VALUE]... [-cache-path /PREFIX=VALUE]... [-max-ranges N] [-precompressed] [-autoindex] [-drain D] [-access-log FILE|-] [-log-format common|combined] [-vhosts DIR]",
	help: `Serve the files under DIR over HTTP/1.1 (GET and HEAD; keep-alive and
pipelining; Range, ETag and Last-Modified; If-Match, If-Unmodified-Since,
If-None-Match, If-Modified-Since and If-Range; a directory's index.html,
with /dir redirected to /dir/) from N loops, each a thread with its own
SO_REUSEPORT listener, running one C coroutine per connection. With no
-root, a small built-in site (index.html, style.css, a 1 MiB file) is
written to a temporary directory and served. Prints
"httpd: serving DIR on http://ADDR/ (N loops)" and runs until a signal
(see Stopping below). An address another server listens on is an error unless
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

What is served: the Content-Type comes from the file name's extension
(its longest one first: "a.tar.gz" tries "tar.gz", then "gz") in a
built-in table of about 140 extensions (what nginx's mime.types covers,
and mjs, map, webmanifest, apng, jxl, opus, flac, ...; unknown ones are
application/octet-stream). -mime-types reads more from FILE, in the
format of Debian's /etc/mime.types (per line a type and its extensions;
'#' comments), looked up first, so it adds and overrides types; a type
may carry parameters written without spaces
("text/html;charset=iso-8859-1 html"). -charset NAME adds
"; charset=NAME" to textual types (text/*, JavaScript, XML); the default
is utf-8, the encoding of nearly every text file on the web, without
which browsers read UTF-8 text, CSS and pages that declare nothing as
windows-1252. A site of pages in another encoding sets -charset none:
then each page's own <meta charset> decides (an HTTP charset wins over
it).

Paths: dot segments are resolved as RFC 3986 says ("/sub/../a.txt" is
"/a.txt", also percent-encoded); one that would climb above the root is
refused (403). A path with a segment that starts with '.' (.git, .env,
.htpasswd) gets 404 unless -dotfiles allow; .well-known (RFC 8615: ACME
challenges, security.txt) is served either way.

Caching (nginx's expires): no Cache-Control by default. -cache VALUE
sends "Cache-Control: VALUE" with every file; -cache-ext
'.js,.css=VALUE' with files of those extensions (any case), and
-cache-path '/assets/=VALUE' with files whose path starts with /assets/;
both may be repeated. The rule of the longest matching path prefix wins,
then an extension's, then -cache. A VALUE with max-age=N also sends
Expires N seconds from now. 200, 206 and 304 responses carry them, errors
and redirects not. For files named by their content's hash, say
-cache-path '/assets/=public, max-age=31536000, immutable'; for pages
that must be checked each time, -cache-ext '.html=no-cache'.

Ranges: a Range with several ranges gets a 206 multipart/byteranges
response, its parts in the order asked (not coalesced), as nginx sends
them; more than -max-ranges ranges (16; at most 100), or ranges that add
up to more bytes than the file (overlapping ones), get the whole file, as
in nginx. A suffix range (bytes=-N, N > 0) on an empty file is
satisfiable (RFC 9110 14.1.2) but has no byte to send: it gets the empty
file with 200, not 416.

Precompressed files (nginx's gzip_static), with -precompressed: when the
client's Accept-Encoding takes br or gzip (q > 0; the higher q first, br
on a tie) and file.br or file.gz sits beside file, that file is sent
with Content-Encoding, an ETag of its own and ranges over its compressed
bytes; every file response then carries "Vary: Accept-Encoding". Nothing
is compressed on the fly. Off by default: it costs a failed open per
request where no sibling exists, and a sibling left stale by a deploy
would be served instead of the file.

Directories: /dir is redirected to /dir/, which serves dir/index.html;
without one, 403, or with -autoindex (off, as in nginx: a listing shows
what no link does) an HTML listing: sub-directories first, then files,
each sorted by name, with sizes in bytes and times in UTC, names
HTML-escaped and percent-encoded in their links; dotfiles left out unless
-dotfiles allow; symlinks listed, not followed.

Access log (off by default): -access-log FILE appends a line per response
to FILE ("-": stdout) in nginx's common format, or with -log-format
combined also the Referer and User-Agent; bytes below 0x20, '"', '\\'
and from 0x7f on are written \xHH, as nginx does, and times are UTC. Each
loop gathers its lines in a 64 KiB buffer that a writer thread writes
when it is full and each second, so a slow disk never stalls a loop; when
the writer is 4 MiB behind, lines are dropped and counted rather than
waited for. SIGUSR1 reopens FILE (log rotation: rename it, send SIGUSR1,
new lines go to a new FILE), as with nginx.

Virtual hosts, with -vhosts DIR: each sub-directory of DIR is a site named
after the host it serves, in lower case (DIR/example.com/,
DIR/www.example.com/; a symlink makes an alias). A request is served from
the site its Host (or absolute-form target) names, port and final dot
dropped, lower-cased; one naming no site (another host, none, an IP
literal) from the default site: -root when given, else DIR/_default/. A
Host that cannot be a host name ("..", "/", other bytes than letters,
digits, '-', '_', '.') gets 400. The sites are read at start: a new one
needs a restart. Every other flag applies to every site.
HTTPS, with -cert FILE -key FILE (the certificate chain, leaf first, and
its key, PEM): TLS 1.2 and 1.3 only, ALPN http/1.1, session resumption
(tickets, and TLS 1.2 session ids); file bodies are read and encrypted
64 KiB at a time, in 16 KiB records, instead of sendfile (kernel TLS
is not used). Needs a
coro built with -tags coro_openssl (OpenSSL): otherwise -cert says
"HTTPS not built in".

Stopping (nginx's graceful and fast shutdown): SIGTERM or SIGINT closes
the listeners at once (new connections are refused) and the keep-alive
connections idle between requests, lets every request being read or
answered finish (its response says "Connection: close" if it had not
begun), and exits when the last connection has closed or -drain (30s)
has passed, whichever is first: then the connections left are cut.
-drain 0 stops at once. SIGQUIT, or a second SIGTERM or SIGINT, stops at
once, also during a drain. A drain that had to cut connections says how
many on stderr.

Exit status: 0 after a signal (a drain cut short too), 1 the server
failed, 2 usage error.`,
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
	mimeTypes := fs.String("mime-types", "", "add and override types from `FILE` (mime.types format)")
	cacheAll := fs.String("cache", "", "send \"Cache-Control: `VALUE`\" with every file that no -cache-ext or -cache-path rule matches")
	var cache cacheRules
	fs.Var(cacheFlag{&cache, false}, "cache-ext", "`.EXT,...=VALUE`: send \"Cache-Control: VALUE\" with files of those extensions (repeatable)")
	fs.Var(cacheFlag{&cache, true}, "cache-path", "`/PREFIX=VALUE`: send \"Cache-Control: VALUE\" with files under /PREFIX (repeatable)")
	autoindex := fs.Bool("autoindex", false, "list a directory that has no index.html (else 403)")
	precompressed := fs.Bool("precompressed", false, "send file.br or file.gz, when beside file, to clients that accept br or gzip")
	maxRanges := fs.Int("max-ranges", 16, "answer at most `N` ranges of a Range header (1 to 100); more get the whole file")
	dotfiles := fs.String("dotfiles", "deny", "`deny` (404) or allow paths with a segment starting with '.'")
	charset := fs.String("charset", "utf-8", "add \"; charset=`NAME`\" to the Content-Type of textual types; none for no charset")
	accessLog := fs.String("access-log", "", "append a line per response to `FILE` (- for stdout); none by default")
	logFormat := fs.String("log-format", "common", "the access log's format, `FORMAT`: common or combined")
	vhosts := fs.String("vhosts", "", "serve each sub-directory of `DIR` as the site of the host it is named after (default site: -root, else DIR/_default)")
	cert := fs.String("cert", "", "serve HTTPS with the certificate chain in `FILE` (PEM; needs -key)")
	key := fs.String("key", "", "the private key of -cert, `FILE` (PEM)")
	drain := fs.Duration("drain", 30*time.Second, "on SIGTERM or SIGINT, let requests in progress finish for at most `D` (0: stop at once)")
	startConsole := consoleFlags(fs)
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
		if *logFormat != "common" && *logFormat != "combined" {
			return usageError(stderr, "httpd", "-log-format %q: want common or combined", *logFormat)
		}
		if *drain < 0 {
			return usageError(stderr, "httpd", "-drain %v: must not be negative", *drain)
		}
		if *unsent < 1 {
			return usageError(stderr, "httpd", "-unsent-limit %d: must be positive", *unsent)
		}
		if *maxRanges < 1 || *maxRanges > 100 {
			return usageError(stderr, "httpd", "-max-ranges %d: want 1 to 100", *maxRanges)
		}
		if *dotfiles != "deny" && *dotfiles != "allow" {
			return usageError(stderr, "httpd", "-dotfiles %q: want deny or allow", *dotfiles)
		}
		if (*cert == "") != (*key == "") {
			return usageError(stderr, "httpd", "-cert and -key go together")
		}
		st, err := demos.ParseStack(*stack)
		if err != nil {
			return usageError(stderr, "httpd", "-stack: %v", err)
		}
		if *addr, err = numericAddr(*addr); err != nil {
			return usageError(stderr, "httpd", "-addr: %v", err)
		}
		dir := *root
		if dir == "" && *vhosts == "" {
			if dir, err = writeBuiltinSite(); err != nil {
				fmt.Fprintf(stderr, "coro httpd: %v\n", err)
				return exitFailed
			}
			defer os.RemoveAll(dir)
		}
		// Catch the signals before serving, so that one sent as soon as the
		// URL is printed is not fatal.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
		defer signal.Stop(sigs)
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		srv, err := httpd.Start(httpd.Config{
			Addr: *addr, Root: dir, Loops: *loops, Stack: st,
			HeaderTimeout: *header, IdleTimeout: *idle, WriteTimeout: *write,
			LingeringTimeout: *lingerTimeout, LingeringTime: *lingerTime, UnsentLimit: *unsent,
			ReusePort: *reusePort, MIMETypes: *mimeTypes, Charset: *charset,
			AllowDotfiles: *dotfiles == "allow", Cache: cache.with(*cacheAll),
			MaxRanges: *maxRanges, Precompressed: *precompressed,
			Autoindex: *autoindex, AccessLog: *accessLog, LogFormat: *logFormat,
			VHosts:   *vhosts,
			CertFile: *cert, KeyFile: *key,
		})
		if err != nil {
			fmt.Fprintf(stderr, "coro %v%s\n", err, addrInUseHint(err)) // "httpd: ..."
			return exitFailed
		}
		if *vhosts != "" {
			dir = "the sites of " + *vhosts
		}
		fmt.Fprintf(stdout, "httpd: serving %s on %s (%d loops)\n", dir, srv.URL(), *loops)
		stopConsole, err := startConsole(stdout)
		if err != nil {
			fmt.Fprintf(stderr, "coro httpd: %v\n", err)
			srv.Close()
			return exitFailed
		}
		defer stopConsole()
		stopped := make(chan struct{})
		reopened := make(chan struct{})
		go func() {
			// SIGUSR1 reopens the access log until the server stops.
			defer close(reopened)
			for {
				select {
				case <-usr1:
					if err := srv.ReopenLog(); err != nil {
						fmt.Fprintf(stderr, "coro %v\n", err)
					}
				case <-stopped:
					return
				}
			}
		}()
		defer func() { close(stopped); <-reopened }()
		if err := stopHttpd(srv, sigs, *drain, stderr); err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err)
			return exitFailed
		}
		return exitOK
	}
}

// stopHttpd waits for a signal and stops srv: gracefully on SIGTERM or
// SIGINT (Shutdown, for at most drain), at once on SIGQUIT or on any
// signal during the drain. A drain cut short is reported, not an error.
func stopHttpd(srv *httpd.Server, sigs <-chan os.Signal, drain time.Duration, stderr io.Writer) error {
	if sig := <-sigs; sig == syscall.SIGQUIT || drain == 0 {
		return srv.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-sigs:
		cancel()
		err = <-done
	}
	if errors.Is(err, httpd.ErrDrainCut) {
		fmt.Fprintf(stderr, "coro %v\n", err)
		return nil
	}
	return err
}

// cacheRules collects the rules of -cache-ext and -cache-path.
type cacheRules []httpd.CacheRule

// with returns the rules and, when all is set, the rule for every file.
func (r cacheRules) with(all string) []httpd.CacheRule {
	if all == "" {
		return r
	}
	return append(r, httpd.CacheRule{Value: all})
}

// cacheFlag is -cache-ext (".js,.css=VALUE") or -cache-path
// ("/assets/=VALUE"): what comes before the first '=' selects the files.
type cacheFlag struct {
	rules  *cacheRules
	byPath bool
}

func (f cacheFlag) String() string { return "" }

func (f cacheFlag) Set(v string) error {
	sel, value, ok := strings.Cut(v, "=")
	if !ok || sel == "" || strings.TrimSpace(value) == "" {
		return errors.New("want SELECTOR=VALUE")
	}
	value = strings.TrimSpace(value)
	if f.byPath {
		*f.rules = append(*f.rules, httpd.CacheRule{PathPrefix: sel, Value: value})
		return nil
	}
	for _, ext := range strings.Split(sel, ",") {
		*f.rules = append(*f.rules, httpd.CacheRule{Ext: strings.TrimSpace(ext), Value: value})
	}
	return nil
}
