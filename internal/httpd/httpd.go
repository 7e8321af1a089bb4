// Package httpd is coro httpd: an HTTP/1.1 static file server written in C
// on the coro engine, one coroutine per connection.
//
// Start opens one SO_REUSEPORT listener per loop, starts that many
// coro.Loops and spawns the C accept coroutine (httpd.c) on each; every
// accepted connection gets a detached coroutine of its own that parses
// requests with the pure parser of http_parse.c, answers them in order
// (keep-alive, pipelining) and sends bodies with coro_sendfile. No Go code
// runs while requests are served. Close cancels everything by closing the
// loops.
package httpd

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc
// #include <errno.h>
// #include <stdlib.h>
// #include "httpd.h"
// #include "http_parse.h"
// #include "mime.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/started"
)

// Config describes a server. Zero fields take the defaults below.
type Config struct {
	Addr  string         // host:port to listen on, numeric; default "127.0.0.1:8080"
	Root  string         // the directory served; required
	Loops int            // loops (threads), each with its own listener; default 1
	Stack coro.StackMode // the coroutines' stacks; default guarded
	// ReusePort shares the port with other processes' SO_REUSEPORT
	// listeners (coro.WithReusePort); without it Start fails with
	// EADDRINUSE on an address that is served.
	ReusePort bool

	// HeaderTimeout bounds the time from a request's first byte to the
	// end of its head (slow clients get 408); default 10 s.
	HeaderTimeout time.Duration
	// IdleTimeout bounds how long a connection may wait for its next
	// request; default 30 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds the wait for the client to accept each part of
	// a response (the head, then the body in parts of at most 256 KiB,
	// so a large file's transfer time is not bounded, only its stalls): a
	// client that stops reading is dropped after it; default 60 s.
	WriteTimeout time.Duration

	// After an error response sent before the request's body was read
	// (405 to an upload, 400, 413, 431, ...), the server stops writing and
	// reads and drops what the client still sends until the client closes
	// its side, so that closing does not reset the connection and destroy
	// the response before the client has read it (nginx's lingering
	// close). LingeringTimeout bounds the wait for each read, default 5 s;
	// LingeringTime all of them, default 30 s (nginx's defaults).
	LingeringTimeout time.Duration
	LingeringTime    time.Duration

	// UnsentLimit caps the bytes of a response that a connection leaves
	// queued in the kernel, unsent (TCP_NOTSENT_LOWAT): a client that
	// stops reading holds no more than this of the host's socket memory
	// until the write timeout drops it. Default 256 KiB.
	UnsentLimit int

	// MIMETypes names a file in mime.types format (Debian's
	// /etc/mime.types: per line a type and its extensions, '#' comments)
	// whose types are looked up before the built-in table's, so it adds
	// types and overrides them. A type may carry parameters written
	// without spaces ("text/html;charset=iso-8859-1"), which then replace
	// Charset for it. Default none: the built-in table alone, which covers
	// what nginx's mime.types does and more (see mime.c).
	MIMETypes string
	// Charset is the charset parameter added to the Content-Type of
	// textual types (text/*, JavaScript, XML): "utf-8" by default, "none"
	// for no parameter, so that a page's own <meta charset> decides (an
	// HTTP charset takes precedence over it). UTF-8 is the default because
	// nearly every text file on the web is UTF-8, HTML requires it of new
	// documents, and without a parameter a browser reads text/plain, CSS
	// and a page that declares nothing as windows-1252: UTF-8 text turns
	// to mojibake. A site of legacy-encoded pages sets "none" (or their
	// charset); Go's http.FileServer sends utf-8 too, nginx nothing.
	Charset string

	// AllowDotfiles serves paths with a segment that starts with '.'
	// (.git, .env, .htpasswd), which are refused with 404 by default, as
	// if they were not there: a site tree copied from a checkout brings
	// them along, and they are seldom meant to be published. .well-known
	// (RFC 8615: ACME challenges, security.txt) is served either way.
	AllowDotfiles bool

	// Cache sets the Cache-Control of files (nginx's expires): the rule
	// with the longest PathPrefix that the file's path starts with, else
	// the one with its extension, else the one with neither; no rule, no
	// header. A value with a max-age also brings an Expires that far from
	// now, for HTTP/1.0 caches. 200, 206 and 304 responses carry them.
	Cache []CacheRule

	// MaxRanges caps the ranges of a Range header: a request for more
	// gets the whole file (200), as with nginx's max_ranges. Several
	// ranges get a 206 multipart/byteranges response, in the order asked,
	// not coalesced; ranges that add up to more bytes than the file
	// (overlapping ones) get the whole file, as in nginx. Default 16, at
	// most 100; 1 answers single ranges only.
	MaxRanges int

	// Precompressed serves file.br or file.gz, where one sits beside file,
	// to a client whose Accept-Encoding takes br or gzip (q > 0; the
	// higher q first, br on a tie), with Content-Encoding, an ETag of its
	// own and ranges of the compressed bytes (nginx's gzip_static); every
	// file response then says "Vary: Accept-Encoding". Off by default: it
	// costs a failed open per request of such a client where no sibling
	// exists, and a sibling left stale by a deploy would be served.
	Precompressed bool

	// Autoindex lists a directory that has no index.html (else 403): an
	// HTML table of its entries, sub-directories first, each group sorted
	// by name, with sizes in bytes and modification times (UTC); names
	// HTML-escaped and percent-encoded in the links; names starting with
	// '.' left out unless AllowDotfiles; symlinks shown, not followed.
	// Off by default, as in nginx: a listing shows what no link does.
	Autoindex bool

	// AccessLog names the access log: a file, appended to (created
	// 0644), or "-" for stdout; "" (the default) for none. A line per
	// response, in LogFormat: "common" (the default) or "combined"
	// (adding the Referer and User-Agent), as nginx writes them, with
	// bytes below 0x20, '"', '\' and from 0x7f on written \xHH, and times
	// in UTC. Each loop gathers its lines in a 64 KiB buffer, handed to a
	// writer thread when full and each second; when the writer is 64
	// buffers (4 MiB) behind, a slow or stuck disk, full buffers are
	// dropped and their lines counted (Stats.LogDropped) rather than make
	// a loop wait; lines a failed write loses (a full disk) are counted
	// there too. Close waits for every line to be written. ReopenLog
	// reopens the file (log rotation).
	AccessLog string
	LogFormat string

	// VHosts serves name-based virtual hosts: a directory whose
	// sub-directories are the sites, each named after the host it serves,
	// in lower case ("example.com", "www.example.com"; a symlink to
	// another site's directory makes an alias). A request is served from
	// the site its host names: the authority of an absolute-form target,
	// else the Host field, with its port and a final dot dropped and
	// lower-cased. A request naming no site (another host, no Host in
	// HTTP/1.0, an IP literal) gets the default site: Root when given,
	// else VHosts/_default. A host that cannot be a host name (a byte
	// other than letters, digits, '-', '_' and '.', an empty label, more
	// than 253 bytes, a port that is not digits) gets 400 and the
	// connection closes. The sites are read at Start (at most 4,096; each
	// holds an open directory): a site added later is served after a
	// restart. Entries that are not directories, and names starting with
	// '.', are ignored; another name that is not a lower-case host name
	// fails Start. Every other setting applies to every site.
	VHosts string

	// CertFile and KeyFile make the server speak HTTPS only: its
	// certificate chain (PEM, the leaf first) and private key (PEM). TLS
	// 1.2 and 1.3, ALPN http/1.1, session resumption (tickets; TLS 1.2
	// session ids too); the handshake runs in the connection's coroutine
	// within HeaderTimeout. File bodies are read and written through TLS
	// 64 KiB at a time (4 records of 16 KiB, sent with one system call)
	// instead of sendfile (the kernel's TLS, kTLS, is not used). Needs the build tag coro_openssl: without it Start
	// fails with ErrNoTLS.
	CertFile, KeyFile string
}

// maxVHosts caps the sites of Config.VHosts: each holds an fd.
const maxVHosts = 4096

// vhostName reports whether name is a lower-case host name as the C
// side's http_host_name makes them.
func vhostName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// setVHosts opens the sites of dir and gives them, sorted, to the C
// configuration.
func (s *Server) setVHosts(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("httpd: vhosts: %w", err)
	}
	var names []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.IsDir() {
			continue // a file, or a dangling link: not a site
		}
		if !vhostName(name) {
			return fmt.Errorf("httpd: vhosts: %q in %s is not a lower-case host name: %w", name, dir, syscall.EINVAL)
		}
		names = append(names, name)
	}
	if len(names) > maxVHosts {
		return fmt.Errorf("httpd: vhosts: %d sites in %s, at most %d: %w", len(names), dir, maxVHosts, syscall.EINVAL)
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names) // as strcmp orders them: bytes
	vh := (*C.httpd_vhost)(C.calloc(C.size_t(len(names)), C.size_t(unsafe.Sizeof(C.httpd_vhost{}))))
	if vh == nil {
		return fmt.Errorf("httpd: vhosts: %w", syscall.ENOMEM)
	}
	s.conf.vhosts = vh
	all := unsafe.Slice(vh, len(names))
	for i := range all {
		all[i].root_fd = -1
	}
	for i, name := range names {
		fd, err := syscall.Open(filepath.Join(dir, name), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("httpd: vhosts: open %s: %w", filepath.Join(dir, name), err)
		}
		all[i].root_fd = C.int(fd)
		all[i].name = C.CString(name)
		s.conf.nvhosts = C.int(i + 1)
	}
	return nil
}

// ErrNoTLS is Start's error for a Config with CertFile or KeyFile when the
// program was built without the tag coro_openssl.
var ErrNoTLS = errors.New("HTTPS not built in: build with -tags coro_openssl")

// CacheRule is a Cache-Control value for some files: those under
// PathPrefix, those named with extension Ext, or, with neither, all.
type CacheRule struct {
	PathPrefix string // a URL path prefix, from "/": "/assets/"
	Ext        string // an extension with its dot, any case: ".js"
	// Value is the header's value: "max-age=3600", "no-cache",
	// "public, max-age=31536000, immutable" (for files whose names change
	// with their content). At most 200 bytes of visible ASCII and spaces.
	Value string
}

// maxAge is the max-age of a Cache-Control value in seconds, or -1.
var maxAge = regexp.MustCompile(`(?i)(?:^|[,\s])max-age=(\d{1,10})(?:$|[,\s;])`)

func (r CacheRule) check() (max int64, err error) {
	bad := func(what string) (int64, error) {
		return 0, fmt.Errorf("httpd: cache rule %+v: %s: %w", r, what, syscall.EINVAL)
	}
	switch {
	case r.PathPrefix != "" && r.Ext != "":
		return bad("both a path prefix and an extension")
	case r.PathPrefix != "" && (r.PathPrefix[0] != '/' || strings.ContainsAny(r.PathPrefix, "\x00")):
		return bad("a path prefix starts with /")
	case r.Ext != "" && (len(r.Ext) < 2 || r.Ext[0] != '.' || strings.ContainsAny(r.Ext[1:], "./\x00") || len(r.Ext) > 33):
		return bad("an extension is a dot and 1 to 32 bytes, no dot or slash")
	case r.Value == "" || len(r.Value) > 200:
		return bad("a value is 1 to 200 bytes")
	}
	for _, c := range []byte(r.Value) {
		if c < 0x20 && c != '\t' || c >= 0x7f {
			return bad("a value is visible ASCII, spaces and tabs")
		}
	}
	if m := maxAge.FindStringSubmatch(r.Value); m != nil {
		max, _ = strconv.ParseInt(m[1], 10, 64)
		return max, nil
	}
	return -1, nil
}

// Stats are the server's counters.
type Stats struct {
	Conns     int64 // connections accepted
	LiveConns int64 // connections open now
	LiveBufs  int64 // request buffers allocated now (idle connections hold none)
	Requests  int64 // responses sent
	// ParseWork counts the bytes the request-head parser examined: at
	// most twice the bytes of the heads, however they were split into
	// reads (the parser resumes where the last read stopped).
	ParseWork int64
	// Turns counts the times a connection gave the others on its loop a
	// turn: after every 256 KiB of body sent or drained, and every 16
	// requests.
	Turns int64
	// LogWritten and LogDropped count the access log's lines written and
	// dropped (the writer had fallen 4 MiB behind, or a write failed).
	LogWritten, LogDropped int64
	// TLSHandshakes counts the HTTPS handshakes completed, TLSResumed
	// those that resumed a session.
	TLSHandshakes, TLSResumed int64
}

// Server is a running server.
type Server struct {
	addr   string
	https  bool
	conf   *C.httpd_conf
	lsts   []*C.httpd_listener
	group  *coro.Group
	closed atomic.Bool
	confMu sync.Mutex // ReopenLog against free
}

// Start starts a server. Its listeners are open when Start returns.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.Loops == 0 {
		cfg.Loops = 1
	}
	if cfg.Loops < 1 || cfg.Loops > 1024 {
		return nil, fmt.Errorf("httpd: %d loops: want 1 to 1024", cfg.Loops)
	}
	if cfg.Stack == coro.StackDefault {
		cfg.Stack = coro.StackGuarded
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.LingeringTimeout <= 0 {
		cfg.LingeringTimeout = 5 * time.Second
	}
	if cfg.LingeringTime <= 0 {
		cfg.LingeringTime = 30 * time.Second
	}
	if cfg.UnsentLimit <= 0 {
		cfg.UnsentLimit = 256 << 10
	}
	if cfg.MaxRanges == 0 {
		cfg.MaxRanges = 16
	}
	if cfg.MaxRanges < 1 || cfg.MaxRanges > C.HTTP_RANGES_MAX {
		return nil, fmt.Errorf("httpd: %d max ranges: want 1 to %d: %w", cfg.MaxRanges, C.HTTP_RANGES_MAX, syscall.EINVAL)
	}
	if cfg.Charset == "" {
		cfg.Charset = "utf-8"
	}
	if !validCharset(cfg.Charset) {
		return nil, fmt.Errorf("httpd: charset %q: want a token of at most 40 letters, digits and -._ (or none): %w", cfg.Charset, syscall.EINVAL)
	}
	if cfg.Root == "" && cfg.VHosts != "" {
		cfg.Root = filepath.Join(cfg.VHosts, "_default")
		if _, err := os.Stat(cfg.Root); err != nil {
			return nil, fmt.Errorf("httpd: vhosts %s has no default site: give a root or create %s: %w", cfg.VHosts, cfg.Root, err)
		}
	}
	if cfg.Root == "" {
		return nil, errors.New("httpd: no root directory")
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "common"
	}
	if cfg.LogFormat != "common" && cfg.LogFormat != "combined" {
		return nil, fmt.Errorf("httpd: log format %q: want common or combined: %w", cfg.LogFormat, syscall.EINVAL)
	}
	st, err := os.Stat(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("httpd: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("httpd: %s is not a directory", cfg.Root)
	}
	rootFd, err := syscall.Open(cfg.Root, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("httpd: open %s: %w", cfg.Root, err)
	}
	conf := (*C.httpd_conf)(C.calloc(1, C.size_t(unsafe.Sizeof(C.httpd_conf{}))))
	if conf == nil {
		syscall.Close(rootFd)
		return nil, fmt.Errorf("httpd: %w", syscall.ENOMEM)
	}
	conf.root_fd = C.int(rootFd)
	conf.header_timeout_ns = C.int64_t(cfg.HeaderTimeout.Nanoseconds())
	conf.idle_timeout_ns = C.int64_t(cfg.IdleTimeout.Nanoseconds())
	conf.write_timeout_ns = C.int64_t(cfg.WriteTimeout.Nanoseconds())
	conf.lingering_timeout_ns = C.int64_t(cfg.LingeringTimeout.Nanoseconds())
	conf.lingering_time_ns = C.int64_t(cfg.LingeringTime.Nanoseconds())
	conf.unsent_limit = C.int(cfg.UnsentLimit)
	conf.allow_dotfiles = C.int(b2i(cfg.AllowDotfiles))
	conf.max_ranges = C.int(cfg.MaxRanges)
	conf.precompressed = C.int(b2i(cfg.Precompressed))
	conf.autoindex = C.int(b2i(cfg.Autoindex))
	s := &Server{conf: conf}
	if err := s.setCache(cfg.Cache); err != nil {
		s.free()
		return nil, err
	}
	if cfg.VHosts != "" {
		if err := s.setVHosts(cfg.VHosts); err != nil {
			s.free()
			return nil, err
		}
	}
	if cfg.Charset != "none" {
		conf.charset = C.CString(cfg.Charset)
	}
	if cfg.MIMETypes != "" {
		if conf.mime, err = loadMIMETypes(cfg.MIMETypes); err != nil {
			s.free()
			return nil, err
		}
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		if err := s.setTLS(cfg.CertFile, cfg.KeyFile); err != nil {
			s.free()
			return nil, err
		}
	}
	if cfg.AccessLog != "" {
		var path *C.char
		if cfg.AccessLog != "-" {
			path = C.CString(cfg.AccessLog)
			defer C.free(unsafe.Pointer(path))
		}
		if rc := C.httpd_log_open(&conf.log, path, C.int(b2i(cfg.LogFormat == "combined")), C.int(cfg.Loops)); rc < 0 {
			s.free()
			return nil, fmt.Errorf("httpd: access log %s: %w", cfg.AccessLog, syscall.Errno(-rc))
		}
	}

	// One loop per thread, each with its own SO_REUSEPORT listener on the
	// address (the first picks the port when Addr asks for port 0).
	g, err := coro.NewGroup(cfg.Loops, coro.WithStackMode(cfg.Stack), coro.WithName("httpd"))
	if err != nil {
		s.free()
		return nil, fmt.Errorf("httpd: %w", err)
	}
	s.group = g
	var lopts []coro.ListenOption
	if cfg.ReusePort {
		lopts = append(lopts, coro.WithReusePort())
	}
	fds, addr, err := g.ListenEach(cfg.Addr, lopts...)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("httpd: %w", err)
	}
	s.addr = addr
	for i, fd := range fds {
		lst := (*C.httpd_listener)(C.calloc(1, C.size_t(unsafe.Sizeof(C.httpd_listener{}))))
		if lst == nil {
			err = syscall.ENOMEM
		} else {
			lst.conf, lst.fd, lst.loop = conf, C.int(fd), C.int(i)
			s.lsts = append(s.lsts, lst)
			var co *coro.Coroutine
			co, err = g.Loop(i).Spawn(coro.Entry(uintptr(unsafe.Pointer(C.httpd_accept_main))), uintptr(unsafe.Pointer(lst)),
				coro.WithCoroutineName("httpd-accept"))
			if err == nil {
				err = started.Check(g.Loop(i), co)
			}
			if err == nil && conf.log != nil {
				co, err = g.Loop(i).Spawn(coro.Entry(uintptr(unsafe.Pointer(C.httpd_log_main))), uintptr(unsafe.Pointer(lst)),
					coro.WithCoroutineName("httpd-log"))
				if err == nil {
					err = started.Check(g.Loop(i), co)
				}
			}
		}
		if err != nil {
			// The listeners after i have no record yet; i's record
			// keeps it open if its accept coroutine never ran, and
			// Close (free) closes it then.
			for _, fd := range fds[i+1:] {
				syscall.Close(fd)
			}
			if lst == nil {
				syscall.Close(fd)
			}
			s.Close()
			return nil, fmt.Errorf("httpd: %w", err)
		}
	}
	return s, nil
}

// Addr returns the host:port the server listens on (with the port chosen
// when the configured port was 0).
func (s *Server) Addr() string { return s.addr }

// URL returns "http://ADDR/", or "https://ADDR/" for an HTTPS server.
func (s *Server) URL() string {
	if s.https {
		return "https://" + s.addr + "/"
	}
	return "http://" + s.addr + "/"
}

// setTLS makes the C configuration's TLS one (tls_on.c, or tls_off.c's
// refusal).
func (s *Server) setTLS(cert, key string) error {
	if cert == "" || key == "" {
		return fmt.Errorf("httpd: HTTPS needs both a certificate and a key file: %w", syscall.EINVAL)
	}
	cc, ck := C.CString(cert), C.CString(key)
	defer C.free(unsafe.Pointer(cc))
	defer C.free(unsafe.Pointer(ck))
	var why *C.char
	if rc := C.httpd_tls_new(&s.conf.tls, cc, ck, &why); rc < 0 {
		if rc == -C.ENOSYS {
			return fmt.Errorf("httpd: %w", ErrNoTLS)
		}
		return fmt.Errorf("httpd: TLS: %s", C.GoString(why))
	}
	s.https = true
	return nil
}

// Stats reads the server's counters (all zero once closed). It must not
// run concurrently with Close.
func (s *Server) Stats() Stats {
	if s.closed.Load() {
		return Stats{}
	}
	return Stats{
		Conns:         atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.conns))),
		LiveConns:     atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.live_conns))),
		LiveBufs:      atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.live_bufs))),
		Requests:      atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.requests))),
		ParseWork:     atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.parse_work))),
		Turns:         atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.turns))),
		TLSHandshakes: atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.tls_handshakes))),
		TLSResumed:    atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.tls_resumed))),
		LogWritten: func() int64 {
			if s.conf.log == nil {
				return 0
			}
			return int64(C.httpd_log_written(s.conf.log))
		}(),
		LogDropped: func() int64 {
			if s.conf.log == nil {
				return 0
			}
			return int64(C.httpd_log_dropped(s.conf.log))
		}(),
	}
}

// ReopenLog makes the access log's writer reopen its file before its next
// write: rename the file, then call this, and new lines go to a new file
// of the configured name (nginx's SIGUSR1). The reopen is asynchronous:
// its error, if it failed, is returned by the next call. It may be called
// at any time, also during or after Close (then it does nothing).
func (s *Server) ReopenLog() error {
	s.confMu.Lock()
	defer s.confMu.Unlock()
	if s.conf == nil || s.conf.log == nil {
		return nil
	}
	if rc := C.httpd_log_reopen(s.conf.log); rc < 0 {
		return fmt.Errorf("httpd: reopen the access log: %w", syscall.Errno(-rc))
	}
	return nil
}

// ErrDrainCut is the error of Shutdown when its context ended before
// every connection had finished: the rest were closed (cut).
var ErrDrainCut = errors.New("connections cut at the drain deadline")

// Shutdown stops the server gracefully (nginx's graceful shutdown): it
// closes the listeners, so new connections are refused; closes the
// keep-alive connections idle between requests; lets each request being
// read or answered finish, its response with "Connection: close" if its
// head was not sent yet; and when the last connection has closed, or ctx
// is done (the drain deadline), closes the server as Close does. Its
// error wraps ErrDrainCut and ctx's error when ctx cut connections, or is
// Close's. Shutdown must not run concurrently with Close or Stats.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closed.Load() {
		return nil
	}
	for i, l := range s.lsts {
		// Spawned on each loop: the listener record and the list of its
		// connections belong to the loop's thread.
		if _, err := s.group.Loop(i).Spawn(coro.Entry(uintptr(unsafe.Pointer(C.httpd_drain_main))), uintptr(unsafe.Pointer(l)),
			coro.WithCoroutineName("httpd-drain")); err != nil {
			return s.Close()
		}
	}
	// Polled: a connection's end is a counter the loops update in C, and
	// 5 ms is nothing next to a drain deadline of seconds.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	live := func() int64 { return atomic.LoadInt64((*int64)(unsafe.Pointer(&s.conf.live_conns))) }
	for live() > 0 {
		select {
		case <-ctx.Done():
			n := live()
			if err := s.Close(); err != nil {
				return err
			}
			return fmt.Errorf("httpd: shutdown: %d %w: %w", n, ErrDrainCut, ctx.Err())
		case <-tick.C:
		}
	}
	return s.Close()
}

// Close stops the server at once: every loop cancels its coroutines (open
// connections are closed) and shuts down, waiting at most 5 seconds.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var first error
	if s.group != nil {
		first = s.group.Close(ctx)
	}
	if first != nil && errors.Is(first, coro.ErrAbandoned) {
		// Abandoned coroutines may still reference the records: leak them.
		return fmt.Errorf("httpd: close: %w", first)
	}
	s.free()
	if first != nil {
		return fmt.Errorf("httpd: close: %w", first)
	}
	return nil
}

func (s *Server) free() {
	for _, l := range s.lsts {
		if l.fd >= 0 {
			// Its accept coroutine never ran to close it.
			C.coro_fd_close(l.fd)
		}
		C.free(unsafe.Pointer(l))
	}
	s.lsts = nil
	s.confMu.Lock()
	defer s.confMu.Unlock()
	if s.conf != nil {
		if s.conf.log != nil {
			// The loops have stopped: their buffers are written out.
			C.httpd_log_close(s.conf.log)
		}
		if s.conf.mime != nil {
			freeMIMETypes(s.conf.mime)
		}
		C.free(unsafe.Pointer(s.conf.charset))
		C.httpd_tls_free(s.conf.tls)
		if s.conf.cache != nil {
			for _, r := range unsafe.Slice(s.conf.cache, s.conf.ncache) {
				C.free(unsafe.Pointer(r.prefix))
				C.free(unsafe.Pointer(r.ext))
				C.free(unsafe.Pointer(r.value))
			}
			C.free(unsafe.Pointer(s.conf.cache))
		}
		if s.conf.vhosts != nil {
			for _, v := range unsafe.Slice(s.conf.vhosts, s.conf.nvhosts) {
				syscall.Close(int(v.root_fd))
				C.free(unsafe.Pointer(v.name))
			}
			C.free(unsafe.Pointer(s.conf.vhosts))
		}
		syscall.Close(int(s.conf.root_fd))
		C.free(unsafe.Pointer(s.conf))
		s.conf = nil
	}
}

// setCache checks the cache rules and copies them to the C configuration.
func (s *Server) setCache(rules []CacheRule) error {
	if len(rules) == 0 {
		return nil
	}
	if len(rules) > 1000 {
		return fmt.Errorf("httpd: %d cache rules, want at most 1000: %w", len(rules), syscall.EINVAL)
	}
	max := make([]int64, len(rules))
	for i, r := range rules {
		var err error
		if max[i], err = r.check(); err != nil {
			return err
		}
	}
	cr := (*C.httpd_cache_rule)(C.calloc(C.size_t(len(rules)), C.size_t(unsafe.Sizeof(C.httpd_cache_rule{}))))
	if cr == nil {
		return fmt.Errorf("httpd: %w", syscall.ENOMEM)
	}
	s.conf.cache, s.conf.ncache = cr, C.int(len(rules))
	for i, r := range rules {
		c := &unsafe.Slice(cr, len(rules))[i]
		if r.PathPrefix != "" {
			c.prefix = C.CString(r.PathPrefix[1:]) // relative to the root, as the C side's paths are
		}
		if r.Ext != "" {
			c.ext = C.CString(strings.ToLower(r.Ext[1:]))
		}
		c.value = C.CString(r.Value)
		c.max_age = C.int64_t(max[i])
	}
	return nil
}

// validCharset reports whether a charset name is safe and plausible in a
// Content-Type parameter: RFC 2978's names are letters, digits and -._:+
// and at most 40 bytes.
func validCharset(cs string) bool {
	if cs == "" || len(cs) > 40 {
		return false
	}
	for _, c := range []byte(cs) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':' || c == '+') {
			return false
		}
	}
	return true
}

// loadMIMETypes reads and parses a mime.types file into a C table.
func loadMIMETypes(path string) (*C.mime_table, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("httpd: mime types: %w", err)
	}
	t, line, err := parseMIMETypes(text)
	if err != nil {
		if line > 0 {
			return nil, fmt.Errorf("httpd: %s:%d: want a type (token/token[;params], at most %d bytes) and extensions (at most %d bytes, no leading or trailing dot): %w",
				path, line, C.MIME_TYPE_MAX, C.MIME_EXT_MAX, err)
		}
		return nil, fmt.Errorf("httpd: %s: %w", path, err)
	}
	return t, nil
}

// parseMIMETypes runs mime_table_parse over text: the table (in C memory,
// released by freeMIMETypes), or the error and the line at fault.
func parseMIMETypes(text []byte) (*C.mime_table, int, error) {
	t := (*C.mime_table)(C.calloc(1, C.size_t(unsafe.Sizeof(C.mime_table{}))))
	if t == nil {
		return nil, 0, syscall.ENOMEM
	}
	var cs *C.char
	if len(text) > 0 {
		cs = (*C.char)(C.CBytes(text))
		defer C.free(unsafe.Pointer(cs))
	}
	var line C.size_t
	if rc := C.mime_table_parse(t, cs, C.size_t(len(text)), &line); rc < 0 {
		C.free(unsafe.Pointer(t))
		return nil, int(line), syscall.Errno(-rc)
	}
	return t, 0, nil
}

// freeMIMETypes releases a table from parseMIMETypes.
func freeMIMETypes(t *C.mime_table) {
	C.mime_table_free(t)
	C.free(unsafe.Pointer(t))
}

// mimeLookup runs mime_lookup for tests ("" for no type).
func mimeLookup(t *C.mime_table, path string) string {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	if ty := C.mime_lookup(t, cp); ty != nil {
		return C.GoString(ty)
	}
	return ""
}

// mimeEntries lists a table's entries for tests (the built-in one when t
// is nil), in its order.
func mimeEntries(t *C.mime_table) [][2]string {
	if t == nil {
		t = C.mime_builtin()
	}
	var out [][2]string
	for _, e := range unsafe.Slice(t.v, t.n) {
		out = append(out, [2]string{C.GoString(e.ext), C.GoString(e._type)})
	}
	return out
}

// mimeWantsCharset runs mime_wants_charset for tests.
func mimeWantsCharset(ty string) bool {
	cs := C.CString(ty)
	defer C.free(unsafe.Pointer(cs))
	return C.mime_wants_charset(cs) == 1
}

// parseRequest runs the C request parser over b, for tests and fuzzing:
// the head's length, 0 when more bytes are needed, or the negated status.
func parseRequest(b []byte) int {
	p := C.malloc(C.size_t(len(b) + 1))
	defer C.free(p)
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	var req C.http_request
	return int(C.http_parse_request((*C.char)(p), C.size_t(len(b)), &req))
}

// parseFed feeds b to the C parser in pieces, as reads would bring it:
// piece(i) is the size of the i-th (at least 1). It returns the first
// result that is not 0 (or 0), the bytes fed by then, the parser's work,
// and the offsets into b of the strings it recorded, by name, for
// comparison with a parse of the whole buffer.
func parseFed(b []byte, piece func(i int) int) (n, fed, work int, at map[string][2]int) {
	p := C.malloc(C.size_t(len(b) + 1))
	defer C.free(p)
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	var ps C.http_parser
	var req C.http_request
	C.http_parser_init(&ps, &req)
	for i := 0; n == 0 && fed < len(b); i++ {
		fed = min(len(b), fed+max(1, piece(i)))
		n = int(C.http_parser_feed(&ps, (*C.char)(p), C.size_t(fed), &req))
	}
	return n, fed, int(ps.work), reqOffsets(&req, uintptr(p))
}

// reqOffsets returns where the strings of req start in the buffer at base
// and their lengths, by name; unset strings are left out.
func reqOffsets(req *C.http_request, base uintptr) map[string][2]int {
	at := map[string][2]int{}
	for name, s := range map[string]C.http_str{
		"method": req.method_name, "target": req.target, "host": req.host, "fields": req.fields,
		"if-match": req.if_match, "if-none-match": req.if_none_match,
		"if-modified-since": req.if_modified_since, "if-unmodified-since": req.if_unmodified_since,
		"if-range": req.if_range, "range": req._range,
	} {
		if s.p != nil {
			at[name] = [2]int{int(uintptr(unsafe.Pointer(s.p)) - base), int(s.n)}
		}
	}
	at["flags"] = [2]int{int(req.method)<<8 | int(req.minor)<<4 | int(req.keep_alive)<<1 | int(req.has_body)}
	return at
}

// parseRanges runs the C Range parser (see http_parse_ranges) for tests,
// with room for cap ranges: its result, and the ranges it returned.
func parseRanges(v string, size uint64, cap int) (rc int, ranges [][2]uint64) {
	cs := C.CString(v)
	defer C.free(unsafe.Pointer(cs))
	out := (*C.http_range)(C.malloc(C.size_t(cap) * C.size_t(unsafe.Sizeof(C.http_range{}))))
	defer C.free(unsafe.Pointer(out))
	rc = int(C.http_parse_ranges(C.http_str{p: cs, n: C.size_t(len(v))}, C.uint64_t(size), out, C.int(cap)))
	for _, r := range unsafe.Slice(out, max(rc, 0)) {
		ranges = append(ranges, [2]uint64{uint64(r.first), uint64(r.last)})
	}
	return rc, ranges
}

// decodePath runs the C request-target decoder (see http_decode_path) for
// tests: the decoded path, or ok false when the target is refused.
func decodePath(target string) (path string, ok bool) {
	ct := C.CString(target)
	defer C.free(unsafe.Pointer(ct))
	const size = C.HTTP_LINE_MAX + 1
	out := (*C.char)(C.malloc(size))
	defer C.free(unsafe.Pointer(out))
	n := C.http_decode_path(C.http_str{p: ct, n: C.size_t(len(target))}, out, size)
	if n < 0 {
		return "", false
	}
	return C.GoStringN(out, n), true
}

// cstr copies s to C memory that free releases; for the test wrappers.
func cstr(s string) (C.http_str, func()) {
	p := C.malloc(C.size_t(len(s) + 1))
	b := unsafe.Slice((*byte)(p), len(s)+1)
	copy(b, s)
	b[len(s)] = 0
	return C.http_str{p: (*C.char)(p), n: C.size_t(len(s))}, func() { C.free(p) }
}

// gostr returns a parsed field: ok false when the parser left it unset.
func gostr(s C.http_str) (v string, ok bool) {
	if s.p == nil {
		return "", false
	}
	return C.GoStringN(s.p, C.int(s.n)), true
}

// parsedHead is what the C parser recorded of a request head, for tests.
type parsedHead struct {
	n      int               // http_parse_request's result
	fields map[string]string // the conditional and Range fields it set
}

// parseHead runs the C parser over b (see http_parse_request) for tests:
// the result and the fields it recorded, by lower-case name.
func parseHead(b []byte) parsedHead {
	s, free := cstr(string(b))
	defer free()
	var req C.http_request
	ph := parsedHead{n: int(C.http_parse_request(s.p, s.n, &req)), fields: map[string]string{}}
	for name, f := range map[string]C.http_str{
		"if-match":            req.if_match,
		"if-none-match":       req.if_none_match,
		"if-modified-since":   req.if_modified_since,
		"if-unmodified-since": req.if_unmodified_since,
		"if-range":            req.if_range,
		"range":               req._range,
	} {
		if v, ok := gostr(f); ok {
			ph.fields[name] = v
		}
	}
	return ph
}

// etagListMatch parses head and runs http_etag_list_match over its fields
// for tests.
func etagListMatch(head, name, etag string, strong bool) bool {
	s, free := cstr(head)
	defer free()
	var req C.http_request
	if C.http_parse_request(s.p, s.n, &req) <= 0 {
		return false
	}
	cn, cfree := cstr(name)
	defer cfree()
	ce, efree := cstr(etag)
	defer efree()
	return C.http_etag_list_match(req.fields, cn.p, ce.p, C.int(b2i(strong))) == 1
}

// acceptCoding parses head and runs http_accept_coding over its fields
// for tests (-2 when the head does not parse).
func acceptCoding(head, coding string) int {
	s, free := cstr(head)
	defer free()
	var req C.http_request
	if C.http_parse_request(s.p, s.n, &req) <= 0 {
		return -2
	}
	cc, cfree := cstr(coding)
	defer cfree()
	return int(C.http_accept_coding(req.fields, cc.p))
}

// etagMatch runs http_etag_match for tests.
func etagMatch(v, etag string, strong bool) bool {
	cv, free := cstr(v)
	defer free()
	ce, efree := cstr(etag)
	defer efree()
	return C.http_etag_match(cv, ce.p, C.int(b2i(strong))) == 1
}

// parseDate runs http_parse_date for tests: Unix seconds, or -1.
func parseDate(v string) int64 {
	cv, free := cstr(v)
	defer free()
	return int64(C.http_parse_date(cv))
}

// ifRangeMatch runs http_if_range_match for tests.
func ifRangeMatch(v, etag string, mtime int64) bool {
	cv, free := cstr(v)
	defer free()
	ce, efree := cstr(etag)
	defer efree()
	return C.http_if_range_match(cv, ce.p, C.time_t(mtime)) == 1
}

// targetQuery runs http_target_query for tests.
func targetQuery(target string) (query string, ok bool) {
	ct, free := cstr(target)
	defer free()
	return gostr(C.http_target_query(ct))
}

// uriEncode runs http_uri_encode for tests, into a buffer of capacity cap
// (-1: as large as needed); it returns the output and the length reported.
func uriEncode(s string, query bool, cap int) (string, int) {
	cs, free := cstr(s)
	defer free()
	n := int(C.http_uri_encode(cs.p, cs.n, C.int(b2i(query)), nil, 0))
	if cap < 0 {
		cap = n + 1
	}
	out := (*C.char)(C.malloc(C.size_t(cap + 1)))
	defer C.free(unsafe.Pointer(out))
	m := int(C.http_uri_encode(cs.p, cs.n, C.int(b2i(query)), out, C.size_t(cap)))
	if cap == 0 {
		return "", m
	}
	return C.GoString(out), m
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
