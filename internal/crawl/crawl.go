// Package crawl is the crawler of "coro crawl": C code on the coro engine
// (this folder's C files; contracts in crawl.h) that fetches pages with
// coro's HTTP client (package httpc) from a pool of worker coroutines on
// one loop or several (Config.Loops: each on a thread the C code makes,
// with the hosts that hash to it), with per-host politeness, robots.txt (RFC 9309), link
// extraction, a compact seen-set and filters, including the seed's rule of
// following only hosts in the start site's DNS zone (SOA compared).
//
// Go only fills the configuration, runs the crawl's main coroutine on a
// coro.Loop of its own (so a console lists it with its workers) and reads
// the counters: no page crosses into Go, the JSON lines are written by C
// to a file descriptor.
package crawl

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc -I${SRCDIR}/../../httpc
// #include <stdlib.h>
// #include "crawl_go.h"
// #include "coro.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ccoro/coro"
	_ "github.com/ccoro/coro/httpc" // the HTTP client fetch.c calls
)

// Scope says which hosts a crawl may visit.
type Scope int

// The scopes (enum crawl_scope).
const (
	ScopeHost   Scope = C.CRAWL_SCOPE_HOST   // the seeds' hosts (scheme, host and port)
	ScopeDomain Scope = C.CRAWL_SCOPE_DOMAIN // Domain and the hosts below it
	ScopeAny    Scope = C.CRAWL_SCOPE_ANY    // any host
	ScopeZone   Scope = C.CRAWL_SCOPE_ZONE   // hosts whose DNS zone has the first seed's SOA
)

// ParseScope reads "host", "domain", "any" or "zone".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "host":
		return ScopeHost, nil
	case "domain":
		return ScopeDomain, nil
	case "any":
		return ScopeAny, nil
	case "zone":
		return ScopeZone, nil
	}
	return 0, fmt.Errorf("scope %q: want host, domain, any or zone", s)
}

// Config describes a crawl. Zero fields take the defaults given.
type Config struct {
	Seeds   []string // start URLs (http or https); required
	Workers int      // worker coroutines (shared out among the loops); default 16
	// Loops is the number of loops (each on a thread of its own) the
	// hosts are shared out among by a hash of scheme, host and port; a
	// link to another loop's host is handed to it. Default 1; at most
	// Workers.
	Loops   int
	PerHost int // requests to one host at a time; default 2
	// Delay spaces requests to a host: with PerHost 1 (or a host whose
	// robots.txt sets a Crawl-delay) from the end of one to the start of
	// the next, else between starts. Default 0.
	Delay         time.Duration
	MaxCrawlDelay time.Duration // bound on robots.txt's Crawl-delay; default 10 s
	Timeout       time.Duration // per request; default 30 s
	MaxDepth      int           // most links followed from a seed; 0 no limit
	MaxPages      int64         // pages fetched; 0 no limit
	MaxBytes      int           // body bytes kept per page; default 8 MiB
	IgnoreRobots  bool          // fetch no robots.txt, obey none
	Agent         string        // robots.txt product token; default "corocrawl"
	Scope         Scope
	Domain        string // for ScopeDomain
	Include       string // POSIX ERE the URL must match
	Exclude       string // POSIX ERE the URL must not match
	ResolvConf    string // the resolver's files; "" the environment's
	Hosts         string //   ($CORO_RESOLV_CONF, $CORO_HOSTS), then the system's
	Out           *os.File
	Shared        bool // shared-stack coroutines (default guarded stacks)
}

// Stats are a crawl's counters (crawl_stats).
type Stats struct {
	Pages        uint64 // responses (any status)
	Errors       uint64 // fetches that got no response
	Bytes        uint64 // body bytes received
	Links        uint64 // links found on pages
	Queued       uint64 // distinct URLs queued
	Disallowed   uint64 // queued URLs robots.txt refused
	Robots       uint64 // robots.txt requests
	Filtered     uint64 // links refused by scope, expressions or zone
	Hosts        uint64
	SeenBytes    uint64 // the seen-set's memory at the end
	FrontierPeak uint64 // most URLs waiting at once
	Stopped      bool   // Stop ended it
}

// A Crawl is made by New, run once by Run, and freed by Close.
type Crawl struct {
	mu      sync.Mutex
	g       *C.crawl_go
	cstrs   []*C.char
	seeds   **C.char
	cfg     *C.crawl_config
	flt     *C.crawl_go_filter
	running bool
	loop    []coro.Option // the loop Run makes
}

func (c *Crawl) cstr(s string) *C.char {
	if s == "" {
		return nil
	}
	p := C.CString(s)
	c.cstrs = append(c.cstrs, p)
	return p
}

// New checks cfg and makes a crawl.
func New(cfg Config) (*Crawl, error) {
	if len(cfg.Seeds) == 0 {
		return nil, errors.New("crawl: no seed URL")
	}
	c := &Crawl{}
	c.cfg = (*C.crawl_config)(C.calloc(1, C.size_t(unsafe.Sizeof(C.crawl_config{}))))
	c.flt = (*C.crawl_go_filter)(C.calloc(1, C.size_t(unsafe.Sizeof(C.crawl_go_filter{}))))
	c.seeds = (**C.char)(C.calloc(C.size_t(len(cfg.Seeds)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	C.crawl_config_init(c.cfg)
	seeds := unsafe.Slice(c.seeds, len(cfg.Seeds))
	for i, s := range cfg.Seeds {
		seeds[i] = c.cstr(s)
	}
	k := c.cfg
	k.seeds = c.seeds
	k.nseeds = C.size_t(len(cfg.Seeds))
	if cfg.Workers > 0 {
		k.workers = C.int(cfg.Workers)
	}
	if cfg.PerHost > 0 {
		k.per_host = C.int(cfg.PerHost)
	}
	if cfg.Loops < 0 {
		c.free()
		return nil, fmt.Errorf("crawl: %d loops", cfg.Loops)
	}
	if cfg.Loops > 0 {
		k.loops = C.int(cfg.Loops)
	}
	k.delay_ns = C.int64_t(cfg.Delay)
	if cfg.MaxCrawlDelay > 0 {
		k.max_crawl_delay_ns = C.int64_t(cfg.MaxCrawlDelay)
	}
	if cfg.Timeout > 0 {
		k.timeout_ns = C.int64_t(cfg.Timeout)
	}
	k.max_depth = -1
	if cfg.MaxDepth > 0 {
		k.max_depth = C.int(cfg.MaxDepth)
	}
	k.max_pages = C.int64_t(cfg.MaxPages)
	if cfg.MaxBytes > 0 {
		k.max_bytes = C.size_t(cfg.MaxBytes)
	}
	if cfg.IgnoreRobots {
		k.robots = 0
	}
	if cfg.Agent != "" {
		k.agent = c.cstr(cfg.Agent)
	}
	k.resolv_conf = c.cstr(cfg.ResolvConf)
	k.hosts = c.cstr(cfg.Hosts)
	c.loop = []coro.Option{coro.WithName("crawl"),
		coro.WithResolver(coro.ResolverConfig{ResolvConf: cfg.ResolvConf, Hosts: cfg.Hosts})}
	if cfg.Shared {
		k.stack_mode = C.CORO_STACK_SHARED
		c.loop = append(c.loop, coro.WithStackMode(coro.StackShared))
	}
	c.flt.scope = C.int(cfg.Scope)
	c.flt.domain = c.cstr(cfg.Domain)
	c.flt.include = c.cstr(cfg.Include)
	c.flt.exclude = c.cstr(cfg.Exclude)
	fd := -1
	if cfg.Out != nil {
		fd = int(cfg.Out.Fd())
	}
	var msg [256]C.char
	rc := C.crawl_go_new(&c.g, c.cfg, c.flt, C.int(fd), &msg[0], C.size_t(len(msg)))
	runtime.KeepAlive(cfg.Out)
	if rc < 0 {
		c.free()
		if m := C.GoString(&msg[0]); m != "" {
			return nil, fmt.Errorf("crawl: %s", m)
		}
		if syscall.Errno(-rc) == syscall.EINVAL {
			return nil, fmt.Errorf("crawl: a seed is not an http or https URL: %q", cfg.Seeds)
		}
		return nil, fmt.Errorf("crawl: %w", syscall.Errno(-rc))
	}
	return c, nil
}

func (c *Crawl) free() {
	for _, p := range c.cstrs {
		C.free(unsafe.Pointer(p))
	}
	c.cstrs = nil
	C.free(unsafe.Pointer(c.seeds))
	C.free(unsafe.Pointer(c.cfg))
	C.free(unsafe.Pointer(c.flt))
	c.seeds, c.cfg, c.flt = nil, nil, nil
}

func statsOf(s *C.crawl_stats) Stats {
	return Stats{
		Pages: uint64(s.pages), Errors: uint64(s.errors), Bytes: uint64(s.bytes),
		Links: uint64(s.links), Queued: uint64(s.queued), Disallowed: uint64(s.disallowed),
		Robots: uint64(s.robots), Filtered: uint64(s.filtered), Hosts: uint64(s.hosts),
		SeenBytes: uint64(s.seen_bytes), FrontierPeak: uint64(s.frontier_peak),
		Stopped: s.stopped != 0,
	}
}

// Run crawls until the frontier is empty, MaxPages is reached or Stop is
// called, on a coro.Loop of its own named "crawl" (coro.Loops lists it
// while it runs, so a console shows the crawl's coroutines), and returns
// the counters. Call it once.
func (c *Crawl) Run() (Stats, error) {
	c.mu.Lock()
	if c.running || c.g == nil {
		c.mu.Unlock()
		return Stats{}, errors.New("crawl: Run called twice or after Close")
	}
	c.running = true
	c.mu.Unlock()
	l, err := coro.NewLoop(c.loop...)
	if err != nil {
		return Stats{}, fmt.Errorf("crawl: loop: %w", err)
	}
	var rc uintptr
	co, err := l.Spawn(coro.Entry(uintptr(unsafe.Pointer(C.crawl_go_entry))), uintptr(unsafe.Pointer(c.g)),
		coro.WithCoroutineName("crawl main"))
	if err == nil {
		rc, err = co.Wait(context.Background())
	}
	// As crawl_run: what is left (nothing, unless Stop came mid-way) has
	// 5 s to end. Closing also runs or drops a Stop's post to the loop
	// before Close may free the crawl.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	cerr := l.Close(ctx)
	cancel()
	st := c.Progress()
	if err != nil {
		return st, fmt.Errorf("crawl: %w", err)
	}
	if e := C.int(int64(rc)); e < 0 {
		return st, fmt.Errorf("crawl: %s", C.GoString(C.crawl_go_strerror(e)))
	}
	if cerr != nil {
		return st, fmt.Errorf("crawl: %w", cerr)
	}
	return st, nil
}

// Stop ends a running crawl soon: requests in flight are cancelled, the
// counters and lines already written stay. Safe from any goroutine,
// before, during or after Run (not after Close).
func (c *Crawl) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.g != nil {
		C.crawl_go_stop(c.g)
	}
}

// Progress returns the counters so far; safe while Run runs.
func (c *Crawl) Progress() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s C.crawl_stats
	if c.g != nil {
		C.crawl_go_progress(c.g, &s)
	}
	return statsOf(&s)
}

// Close frees the crawl; call it after Run has returned (or instead of it).
func (c *Crawl) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.g == nil {
		return
	}
	C.crawl_go_free(c.g)
	c.g = nil
	c.free()
}
