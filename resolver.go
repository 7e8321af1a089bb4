package coro

// The Loop's resolver, for Go callers: coro_lookup_ip and coro_dns_query
// (csrc/coro.h, "Names") run in a coroutine of the loop, as WaitFD does.
//
// Contract:
//   - LookupHost, LookupIP, LookupNetIP and LookupRecords may be called
//     from any goroutine, never from a callback of the loop (EDEADLK).
//   - Each spawns one coroutine on the loop with a C record (lookup.h) and
//     waits for it; the loop's default resolver (WithResolver) answers, so
//     Go callers share its cache and its queries in flight with the
//     loop's C coroutines.
//   - ctx's deadline is the lookup's deadline; ctx's cancellation cancels
//     the coroutine mid-lookup.
//   - Every error is a *net.DNSError whose Unwrap matches, with errors.Is,
//     the sentinel of what happened (ErrNoSuchHost, ErrNoData,
//     ErrServerFailure, ErrRefused), the errno the engine returned
//     (syscall.ENODATA, ETIMEDOUT, ECANCELED, EBADMSG, EINVAL,
//     ENAMETOOLONG, ENOMEM), the context's error, or ErrClosed.

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "coro.h"
#include "lookup.h"

static size_t coro__go_lookup_size(size_t cap) {
  return sizeof(coro__go_lookup) + cap * sizeof(coro_ip);
}
static coro_ip *coro__go_lookup_ip(coro__go_lookup *op, size_t i) {
  return &op->ips[i];
}
static coro_dns_rr *coro__go_rr(coro_dns_answer *a, size_t i) {
  return &a->rr[i];
}
static const char *coro__go_txt(coro_dns_rr *rr, size_t i, size_t *len) {
  *len = rr->u.txt.len[i];
  return rr->u.txt.s[i];
}
*/
import "C"

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Errors of the lookups, matched with errors.Is through the
// *net.DNSError they return.
var (
	// ErrNoSuchHost: the name does not exist (NXDOMAIN from DNS, and not
	// in the hosts file). The *net.DNSError has IsNotFound set.
	ErrNoSuchHost = errors.New("no such host")
	// ErrNoData: the name exists but has no record of the type or family
	// asked (NODATA). Also matches syscall.ENODATA; IsNotFound is set,
	// as net's resolver does.
	ErrNoData = errors.New("no record of the type asked")
	// ErrServerFailure: the servers failed (SERVFAIL, FORMERR, NOTIMP).
	// IsTemporary is set.
	ErrServerFailure = errors.New("server failure")
	// ErrRefused: every server refused the query (REFUSED), as an
	// authoritative server does for names outside its zones.
	ErrRefused = errors.New("query refused")
)

// ResolverConfig configures a loop's resolver (WithResolver). Every field
// may be left zero for the default.
type ResolverConfig struct {
	// ResolvConf is the resolv.conf to read; "" means $CORO_RESOLV_CONF,
	// else /etc/resolv.conf. It is re-read when it changes (at most one
	// stat per 5 s).
	ResolvConf string
	// Hosts is the hosts file; "" means $CORO_HOSTS, else /etc/hosts.
	Hosts string
	// Servers, "ADDR[,ADDR...]" ("127.0.0.2", "[::1]:5353",
	// "127.0.0.1:5300"), replaces the nameservers of ResolvConf (whose
	// search list and options still apply). Ports are allowed only here.
	// Anything but numeric addresses makes NewLoop fail with EINVAL.
	Servers string
	// CacheEntries bounds the cache: 0 means 4096, a negative number no
	// cache at all.
	CacheEntries int
	// CacheMaxTTL caps the TTL of cached answers (0: one hour);
	// CacheNegTTL caps that of cached negative answers (0: 5 minutes).
	// Whole seconds: less than one second is the default.
	CacheMaxTTL, CacheNegTTL time.Duration
	// UDPMaxQueries is how many queries one UDP socket (one random
	// source port) sends before the resolver opens a fresh one: 0 means
	// 100, 1 a socket per query (c-ares's ARES_OPT_UDP_MAX_QUERIES).
	// Negative makes NewLoop fail with EINVAL.
	UDPMaxQueries int
}

// WithResolver configures the loop's default resolver, which the
// lookups of Loop and of the loop's C coroutines (passing NULL as the
// resolver) use. Without it the resolver reads the system's files.
func WithResolver(rc ResolverConfig) Option {
	return func(c *loopConfig) {
		if rc.CacheMaxTTL < 0 || rc.CacheNegTTL < 0 ||
			rc.UDPMaxQueries < 0 || int64(rc.UDPMaxQueries) > 1<<32-1 ||
			rc.CacheMaxTTL/time.Second > 1<<32-1 || rc.CacheNegTTL/time.Second > 1<<32-1 ||
			strings.ContainsRune(rc.ResolvConf+rc.Hosts+rc.Servers, 0) || !validServers(rc.Servers) {
			c.invalidOpts = true
		}
		c.resolver = &rc
	}
}

// validServers reports whether s is "" or a list of numeric addresses,
// with or without a port, so that a typo fails NewLoop (EINVAL) rather
// than every lookup.
func validServers(s string) bool {
	if s == "" {
		return true
	}
	for _, a := range strings.Split(s, ",") {
		if _, err := netip.ParseAddr(a); err != nil {
			if _, err := netip.ParseAddrPort(a); err != nil {
				return false
			}
		}
	}
	return true
}

// cResolverOpts returns rc as the engine's options, in C memory; free it
// with freeResolverOpts once coro_loop_new has returned (the engine keeps
// a copy).
func cResolverOpts(rc *ResolverConfig) *C.coro_resolver_opts {
	o := (*C.coro_resolver_opts)(C.calloc(1, C.size_t(unsafe.Sizeof(C.coro_resolver_opts{}))))
	if o == nil {
		panic("coro: out of C memory")
	}
	cstr := func(s string) *C.char {
		if s == "" {
			return nil
		}
		return C.CString(s)
	}
	o.resolv_conf = cstr(rc.ResolvConf)
	o.hosts = cstr(rc.Hosts)
	o.servers = cstr(rc.Servers)
	switch {
	case rc.CacheEntries < 0:
		o.cache_entries = ^C.size_t(0)
	default:
		o.cache_entries = C.size_t(rc.CacheEntries)
	}
	o.cache_max_ttl = C.uint32_t(rc.CacheMaxTTL / time.Second)
	o.cache_neg_ttl = C.uint32_t(rc.CacheNegTTL / time.Second)
	o.udp_max_queries = C.uint32_t(rc.UDPMaxQueries)
	return o
}

func freeResolverOpts(o *C.coro_resolver_opts) {
	if o == nil {
		return
	}
	C.free(unsafe.Pointer(o.resolv_conf))
	C.free(unsafe.Pointer(o.hosts))
	C.free(unsafe.Pointer(o.servers))
	C.free(unsafe.Pointer(o))
}

// lookupOp is one lookup's C record (lookup.h).
type lookupOp struct {
	c *C.coro__go_lookup
	// orphaned: Close gave up on the lookup's coroutine while it ran, so
	// the record is freed when the engine is done with it, not by free.
	orphaned *atomic.Bool
}

// firstCap is how many addresses a lookup makes room for at first; a
// name with more is looked up again with room for all (through the
// cache, unless the resolver has none).
const firstCap = 128

// maxAddrs bounds the addresses of one lookup: a 64 KiB TCP answer holds
// fewer than 4,096 A records.
const maxAddrs = 1 << 13

func newLookupOp(name string, capacity int) lookupOp {
	p := (*C.coro__go_lookup)(C.calloc(1, C.coro__go_lookup_size(C.size_t(capacity))))
	if p == nil {
		panic("coro: out of C memory")
	}
	p.name = C.CString(name)
	p.cap = C.size_t(capacity)
	p.deadline = -1
	return lookupOp{p, new(atomic.Bool)}
}

func (op lookupOp) progress() (bool, bool) { return op.c.started != 0, op.c.done != 0 }

// orphan: see cRecord.
func (op lookupOp) orphan(co *Coroutine) bool {
	c := op.c
	if co.whenEngineDone(func() { freeLookup(c) }) {
		op.orphaned.Store(true)
		return true
	}
	return false
}

// free frees the record, its name and its answer (unless orphaned).
func (op lookupOp) free() {
	if !op.orphaned.Load() {
		freeLookup(op.c)
	}
}

func freeLookup(c *C.coro__go_lookup) {
	if c.answer != nil {
		C.coro_dns_answer_free(c.answer)
	}
	C.free(unsafe.Pointer(c.name))
	C.free(unsafe.Pointer(c))
}

// runLookup runs op on l: when ran is true op's outputs are final, else
// err says why it did not run to its end.
func (l *Loop) runLookup(ctx context.Context, op lookupOp) (ran bool, err error) {
	op.c.deadline = C.int64_t(cDeadline(ctx))
	ran, err = l.runOp(ctx, "lookup", C.coro_fn(C.coro__go_lookup_entry), uintptr(unsafe.Pointer(op.c)), op)
	return ran, err
}

// LookupNetIP looks up host and returns its addresses: network "ip" for
// both families, "ip4" or "ip6" for one. As glibc does with "hosts: files
// dns": a numeric address comes back as it is, localhost names are
// 127.0.0.1 and ::1, then the hosts file answers, then DNS (search list and
// ndots of resolv.conf, A and AAAA in parallel, CNAME chains followed,
// through the loop's cache).
//
// Order: IPv6 addresses first when the machine has a route to IPv6
// destinations, IPv4 first otherwise; within a family, the server's (or
// the hosts file's) order. Zones of IPv6 link-local addresses from the
// hosts file come back as the interface's name.
//
// Errors are *net.DNSError: IsNotFound for a name that does not exist
// (errors.Is ErrNoSuchHost) or has no address of the family asked
// (ErrNoData, syscall.ENODATA); IsTimeout when no server answered in time
// or ctx's deadline passed (os.ErrDeadlineExceeded, syscall.ETIMEDOUT, and
// context.DeadlineExceeded for ctx's); ctx's cancellation matches
// context.Canceled; see the package variables for the others. An unknown
// network is a net.UnknownNetworkError.
func (l *Loop) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	family := C.AF_UNSPEC
	switch network {
	case "ip":
	case "ip4":
		family = C.AF_INET
	case "ip6":
		family = C.AF_INET6
	default:
		return nil, net.UnknownNetworkError(network)
	}
	if err := l.lookupCheck(ctx, host); err != nil {
		return nil, err
	}
	for capacity := firstCap; ; capacity *= 8 {
		out, more, err := l.lookupIP(ctx, host, family, capacity)
		if !more {
			return out, err
		}
	}
}

// lookupIP is one coro_lookup_ip with room for capacity addresses; more
// reports that it filled them all (there may be more).
func (l *Loop) lookupIP(ctx context.Context, host string, family, capacity int) ([]netip.Addr, bool, error) {
	op := newLookupOp(host, capacity)
	defer op.free()
	op.c.family = C.int(family)
	ran, err := l.runLookup(ctx, op)
	if !ran {
		return nil, false, lookupErr(ctx, host, err)
	}
	rc := int(op.c.rc)
	if rc < 0 {
		err := l.rcErr(ctx, host, rc, int64(op.c.deadline))
		if op.c.server_len > 0 {
			// The server asked last, as net's resolver names it.
			err.(*net.DNSError).Server = sockaddrString(&op.c.server)
		}
		return nil, false, err
	}
	if rc == capacity && capacity < maxAddrs {
		return nil, true, nil
	}
	out := make([]netip.Addr, rc)
	for i := range out {
		out[i] = goAddr(C.coro__go_lookup_ip(op.c, C.size_t(i)))
	}
	return out, false, nil
}

// LookupIP is LookupNetIP with net.IP results, as net.Resolver.LookupIP.
func (l *Loop) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	addrs, err := l.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IP, len(addrs))
	for i, a := range addrs {
		out[i] = net.IP(a.AsSlice())
	}
	return out, nil
}

// LookupHost is LookupNetIP("ip") with the addresses as strings (an IPv6
// zone after a "%"), as net.Resolver.LookupHost.
func (l *Loop) LookupHost(ctx context.Context, host string) ([]string, error) {
	addrs, err := l.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out, nil
}

// lookupCheck refuses what cannot be looked up before anything is
// spawned.
func (l *Loop) lookupCheck(ctx context.Context, name string) error {
	switch {
	case !l.valid():
		return ErrNotLoop
	case l.onLoopThread():
		return syscall.EDEADLK
	case strings.IndexByte(name, 0) >= 0:
		// A C string would end there: another name than the one asked.
		return l.rcErr(ctx, name, -C.EINVAL, -1)
	case ctx.Err() != nil:
		return lookupErr(ctx, name, ctxErr(ctx, "lookup"))
	case l.closed.Load():
		return lookupErr(ctx, name, ErrClosed)
	}
	return nil
}

// goAddr converts an engine address.
func goAddr(ip *C.coro_ip) netip.Addr {
	b := (*[16]byte)(unsafe.Pointer(&ip.addr[0]))
	if ip.family == C.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	a := netip.AddrFrom16(*b)
	if ip.scope_id != 0 {
		zone := strconv.FormatUint(uint64(ip.scope_id), 10)
		if ifi, err := net.InterfaceByIndex(int(ip.scope_id)); err == nil {
			zone = ifi.Name
		}
		a = a.WithZone(zone)
	}
	return a
}

// resolveError is the UnwrapErr of the lookups' *net.DNSError.
type resolveError struct {
	msg      string        // coro_strerror's
	sentinel error         // ErrNoSuchHost ... or nil
	errno    syscall.Errno // the engine's errno, or 0
	cause    error         // ctx's error, ErrClosed, or nil
}

func (e *resolveError) Error() string { return e.msg }
func (e *resolveError) Unwrap() error { return e.cause }

// Is matches the sentinel, the errno and, for a timeout,
// os.ErrDeadlineExceeded.
func (e *resolveError) Is(target error) bool {
	switch {
	case target == nil:
		return false
	case target == e.sentinel:
		return true
	case e.errno != 0 && target == e.errno:
		return true
	}
	return e.errno == syscall.ETIMEDOUT && target == os.ErrDeadlineExceeded
}

// rcErr maps a negative result of the engine's lookups; deadline is the
// engine deadline the lookup had (ctx's, or -1).
func (l *Loop) rcErr(ctx context.Context, name string, rc int, deadline int64) error {
	e := &resolveError{msg: C.GoString(C.coro_strerror(C.int(rc)))}
	d := &net.DNSError{Name: name, UnwrapErr: e}
	switch rc {
	case -C.CORO_ENXDOMAIN:
		e.sentinel, e.msg = ErrNoSuchHost, ErrNoSuchHost.Error()
		d.IsNotFound = true
	case -C.ENODATA:
		e.sentinel = ErrNoData
		d.IsNotFound = true
	case -C.CORO_ESERVFAIL:
		e.sentinel = ErrServerFailure
		d.IsTemporary = true
	case -C.CORO_EREFUSED:
		e.sentinel = ErrRefused
	case -C.EINVAL, -C.ENAMETOOLONG:
		// Not a host name: not found, as net's resolver says.
		d.IsNotFound = true
	case -C.ETIMEDOUT:
		d.IsTimeout, d.IsTemporary = true, true
		// ctx's deadline, if it has passed by the engine's clock (Go's
		// timer that ends ctx may not have fired yet).
		if deadline >= 0 && int64(C.coro_now()) >= deadline {
			e.cause = context.DeadlineExceeded
		}
	case -C.ECANCELED:
		// Cancelled by ctx, or by Close cancelling every coroutine.
		switch {
		case ctx.Err() != nil:
			e.cause = ctx.Err()
			d.IsTimeout = errors.Is(ctx.Err(), context.DeadlineExceeded)
		case l.closed.Load():
			e.cause = ErrClosed
		}
	}
	if rc < 0 && rc > -C.CORO_ENXDOMAIN {
		e.errno = syscall.Errno(-rc)
	}
	d.Err = e.msg
	return d
}

// lookupErr wraps an error of a lookup that did not run to its end (ctx
// ended, the loop closed, the spawn failed).
func lookupErr(ctx context.Context, name string, err error) error {
	var d *net.DNSError
	if errors.As(err, &d) {
		return err
	}
	e := &resolveError{msg: err.Error(), cause: err}
	if errno, ok := err.(syscall.Errno); ok {
		e.errno, e.cause = errno, nil
	}
	return &net.DNSError{Name: name, Err: e.msg, UnwrapErr: e,
		IsTimeout: errors.Is(err, context.DeadlineExceeded)}
}

// RRType is a DNS record type (CORO_DNS_* in coro.h).
type RRType uint16

// The types LookupRecords decodes; others come back as their rdata.
const (
	TypeA     RRType = C.CORO_DNS_A
	TypeNS    RRType = C.CORO_DNS_NS
	TypeCNAME RRType = C.CORO_DNS_CNAME
	TypeSOA   RRType = C.CORO_DNS_SOA
	TypePTR   RRType = C.CORO_DNS_PTR
	TypeMX    RRType = C.CORO_DNS_MX
	TypeTXT   RRType = C.CORO_DNS_TXT
	TypeAAAA  RRType = C.CORO_DNS_AAAA
	TypeSRV   RRType = C.CORO_DNS_SRV
)

// String returns the type's name ("MX"), or "TYPE99" for others.
func (t RRType) String() string { return C.GoString(C.coro_dns_type_name(C.int(t))) }

// ParseRRType returns the type named s ("MX", "mx", "TYPE99"), or
// syscall.EINVAL.
func ParseRRType(s string) (RRType, error) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	t := C.coro_dns_type_parse(cs)
	if t <= 0 || t > 0xffff {
		return 0, syscall.EINVAL
	}
	return RRType(t), nil
}

// SOA is the data of an SOA record.
type SOA struct {
	MName, RName                            string
	Serial, Refresh, Retry, Expire, Minimum uint32
}

// A Record is one record of an Answer. The fields its type has are set.
type Record struct {
	Name string // owner, without the final dot
	Type RRType
	TTL  uint32 // seconds, as received (the cache counts it down)

	IP     netip.Addr // A, AAAA
	Target string     // CNAME, NS, PTR; MX's host; SRV's target
	Pref   uint16     // MX
	// SRV
	Priority, Weight, Port uint16
	TXT                    []string // TXT: the character-strings
	SOA                    *SOA     // SOA
	Data                   []byte   // any other type: the rdata
}

// An Answer is what LookupRecords found.
type Answer struct {
	Name      string   // the name asked, after the search list
	CNAME     string   // the end of the CNAME chain (Name if none)
	Type      RRType   // the type asked
	Records   []Record // of Type, owned by CNAME, in the server's order
	FromCache bool     // answered by the loop's cache
	Server    string   // the server that answered ("ip:port"); "" from the cache
}

// LookupRecords asks DNS for the records of type typ of name, through the
// loop's cache, with the search list of resolv.conf (unless name ends with
// a dot); the hosts file is not consulted. One call covers every type,
// including SOA (which net.Resolver has no call for), and the Answer says
// where it came from (server or cache) and the TTLs, which the crawler
// and `coro resolve` need; LookupNetIP is the call for addresses.
//
// Errors are LookupNetIP's: a name without records of typ is IsNotFound
// and matches ErrNoData.
func (l *Loop) LookupRecords(ctx context.Context, name string, typ RRType) (*Answer, error) {
	if typ == 0 {
		return nil, &net.DNSError{Name: name, Err: "record type 0", UnwrapErr: &resolveError{msg: "record type 0", errno: syscall.EINVAL}}
	}
	if err := l.lookupCheck(ctx, name); err != nil {
		return nil, err
	}
	op := newLookupOp(name, 0)
	op.c.query = 1
	op.c._type = C.int(typ)
	defer op.free()
	ran, err := l.runLookup(ctx, op)
	if !ran {
		return nil, lookupErr(ctx, name, err)
	}
	if rc := int(op.c.rc); rc < 0 {
		return nil, l.rcErr(ctx, name, rc, int64(op.c.deadline))
	}
	return goAnswer(op.c.answer), nil
}

// goAnswer copies an engine answer into Go memory.
func goAnswer(a *C.coro_dns_answer) *Answer {
	out := &Answer{
		Name:      C.GoString(a.qname),
		CNAME:     C.GoString(a.cname),
		Type:      RRType(a._type),
		FromCache: a.from_cache != 0,
		Records:   make([]Record, int(a.n)),
	}
	if a.server_len > 0 {
		out.Server = sockaddrString(&a.server)
	}
	for i := range out.Records {
		out.Records[i] = goRecord(C.coro__go_rr(a, C.size_t(i)))
	}
	return out
}

func goRecord(rr *C.coro_dns_rr) Record {
	r := Record{Name: C.GoString(rr.name), Type: RRType(rr._type), TTL: uint32(rr.ttl)}
	u := unsafe.Pointer(&rr.u)
	switch r.Type {
	case TypeA, TypeAAAA:
		r.IP = goAddr((*C.coro_ip)(u))
	case TypeCNAME, TypeNS, TypePTR:
		r.Target = C.GoString(*(**C.char)(u))
	case TypeMX:
		mx := (*struct {
			pref C.uint16_t
			host *C.char
		})(u)
		r.Pref, r.Target = uint16(mx.pref), C.GoString(mx.host)
	case TypeSRV:
		srv := (*struct {
			prio, weight, port C.uint16_t
			target             *C.char
		})(u)
		r.Priority, r.Weight, r.Port = uint16(srv.prio), uint16(srv.weight), uint16(srv.port)
		r.Target = C.GoString(srv.target)
	case TypeSOA:
		soa := (*struct {
			mname, rname                            *C.char
			serial, refresh, retry, expire, minimum C.uint32_t
		})(u)
		r.SOA = &SOA{MName: C.GoString(soa.mname), RName: C.GoString(soa.rname),
			Serial: uint32(soa.serial), Refresh: uint32(soa.refresh), Retry: uint32(soa.retry),
			Expire: uint32(soa.expire), Minimum: uint32(soa.minimum)}
	case TypeTXT:
		txt := (*struct {
			n C.size_t
		})(u)
		r.TXT = make([]string, int(txt.n))
		for i := range r.TXT {
			var n C.size_t
			s := C.coro__go_txt(rr, C.size_t(i), &n)
			r.TXT[i] = C.GoStringN(s, C.int(n))
		}
	default:
		raw := (*struct {
			data *C.uint8_t
			len  C.size_t
		})(u)
		r.Data = C.GoBytes(unsafe.Pointer(raw.data), C.int(raw.len))
	}
	return r
}

// sockaddrString formats a server's address as "ip:port".
func sockaddrString(ss *C.struct_sockaddr_storage) string {
	switch ss.ss_family {
	case C.AF_INET:
		sa := (*C.struct_sockaddr_in)(unsafe.Pointer(ss))
		ip := *(*[4]byte)(unsafe.Pointer(&sa.sin_addr))
		return netip.AddrPortFrom(netip.AddrFrom4(ip), netPort(unsafe.Pointer(&sa.sin_port))).String()
	case C.AF_INET6:
		sa := (*C.struct_sockaddr_in6)(unsafe.Pointer(ss))
		ip := *(*[16]byte)(unsafe.Pointer(&sa.sin6_addr))
		return netip.AddrPortFrom(netip.AddrFrom16(ip), netPort(unsafe.Pointer(&sa.sin6_port))).String()
	}
	return ""
}

// netPort reads a port in network byte order.
func netPort(p unsafe.Pointer) uint16 {
	b := (*[2]byte)(p)
	return uint16(b[0])<<8 | uint16(b[1])
}

// ResolverStats are the counters of a loop's resolver; see
// coro_resolver_stats in coro.h.
type ResolverStats struct {
	Lookups                    uint64 // calls of the lookups
	CacheHits, CacheMisses     uint64
	CacheEntries               uint64 // entries now
	Shared                     uint64 // lookups that joined a query in flight
	QueriesUDP, QueriesTCP     uint64 // messages sent
	Timeouts, Retries, Ignored uint64 // Ignored: spoofed or mismatched answers
}

// ResolverStats reads the counters of the loop's resolver. Like the
// lookups it runs a coroutine on the loop (the resolver belongs to the
// loop thread); errors are Spawn's and ErrClosed.
func (l *Loop) ResolverStats(ctx context.Context) (ResolverStats, error) {
	if err := l.lookupCheck(ctx, ""); err != nil {
		return ResolverStats{}, err
	}
	op := newLookupOp("", 0)
	op.c.query = 2
	defer op.free()
	ran, err := l.runLookup(ctx, op)
	if !ran {
		return ResolverStats{}, err
	}
	if op.c.rc < 0 {
		return ResolverStats{}, errnoErr(op.c.rc)
	}
	s := &op.c.stats
	return ResolverStats{
		Lookups: uint64(s.lookups), CacheHits: uint64(s.cache_hits), CacheMisses: uint64(s.cache_misses),
		CacheEntries: uint64(s.cache_entries), Shared: uint64(s.shared),
		QueriesUDP: uint64(s.queries_udp), QueriesTCP: uint64(s.queries_tcp),
		Timeouts: uint64(s.timeouts), Retries: uint64(s.retries), Ignored: uint64(s.ignored),
	}, nil
}
