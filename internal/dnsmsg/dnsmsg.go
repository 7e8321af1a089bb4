// Package dnsmsg exposes the engine's DNS message codec (csrc/dns_msg.c) to
// Go, for the Go fuzz target and tests. It is not an API: the resolver's
// public calls live in the engine (csrc/coro.h) and the root package.
//
// Errors are syscall.Errno values (EBADMSG for a malformed message,
// EMSGSIZE for one whose decoded form exceeds the 1 MiB arena, EINVAL or
// ENAMETOOLONG for a name the encoder refuses), so errors.Is works.
package dnsmsg

/*
#cgo CFLAGS: -I${SRCDIR}/../../csrc
#include <stdlib.h>
#include "dns_internal.h"

// The union members cgo cannot name.
static const char *rr_name_data(const coro__dns_rr *r) {
  switch (r->type) {
  case CORO__DNS_T_CNAME:
  case CORO__DNS_T_NS:
  case CORO__DNS_T_PTR:
    return r->u.target;
  case CORO__DNS_T_MX:
    return r->u.mx.host;
  case CORO__DNS_T_SOA:
    return r->u.soa.mname;
  default:
    return NULL;
  }
}
static const uint8_t *rr_addr(const coro__dns_rr *r) { return r->u.a; }
*/
import "C"

import (
	"net/netip"
	"syscall"
	"unsafe"

	// The C engine, which holds the codec: linked in through this import.
	_ "github.com/ccoro/coro/csrc"
)

// arenaSize is the decode arena: enough for any message a resolver keeps.
const arenaSize = 1 << 20

// Record is one decoded resource record.
type Record struct {
	Name    string
	Type    uint16
	Class   uint16
	TTL     uint32
	Section int // 0 answer, 1 authority, 2 additional
	// Target is the name in the rdata of CNAME, NS, PTR (target), MX
	// (host) and SOA (mname) records; empty for other types.
	Target string
	// Addr is the address of an A or AAAA record.
	Addr netip.Addr
}

// Msg is a decoded message.
type Msg struct {
	ID      uint16
	Flags   uint16
	RCode   int // with the OPT record's extended bits
	QName   string
	QType   uint16
	HasOPT  bool
	Records []Record
	// ArenaUsed is the number of arena bytes the C decoder reported.
	ArenaUsed int
}

func errno(rc C.int) error {
	return syscall.Errno(-rc)
}

// Decode decodes a DNS message with coro__dns_decode.
func Decode(b []byte) (*Msg, error) {
	arena := C.malloc(arenaSize)
	defer C.free(arena)
	var cb *C.uint8_t
	if len(b) > 0 {
		cb = (*C.uint8_t)(unsafe.Pointer(&b[0]))
	}
	var m C.coro__dns_msg
	rc := C.coro__dns_decode(cb, C.size_t(len(b)), &m, arena, arenaSize)
	if rc < 0 {
		return nil, errno(rc)
	}
	out := &Msg{
		ID:        uint16(m.id),
		Flags:     uint16(m.flags),
		RCode:     int(m.rcode),
		QType:     uint16(m.qtype),
		HasOPT:    m.has_opt != 0,
		ArenaUsed: int(rc),
	}
	if m.qname != nil {
		out.QName = C.GoString(m.qname)
	}
	rrs := unsafe.Slice(m.rr, int(m.nrr))
	for i := range rrs {
		r := &rrs[i]
		rec := Record{
			Name:    C.GoString(r.name),
			Type:    uint16(r._type),
			Class:   uint16(r.rclass),
			TTL:     uint32(r.ttl),
			Section: int(r.section),
		}
		if t := C.rr_name_data(r); t != nil {
			rec.Target = C.GoString(t)
		}
		a := unsafe.Slice((*byte)(unsafe.Pointer(C.rr_addr(r))), 16)
		switch rec.Type {
		case C.CORO__DNS_T_A:
			rec.Addr = netip.AddrFrom4([4]byte(a[:4]))
		case C.CORO__DNS_T_AAAA:
			rec.Addr = netip.AddrFrom16([16]byte(a))
		}
		out.Records = append(out.Records, rec)
	}
	return out, nil
}

// EncodeQuery writes a query with RD set, and an EDNS0 OPT record when
// edns is true, with coro__dns_encode_query.
func EncodeQuery(id uint16, name string, qtype uint16, edns bool) ([]byte, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var buf [C.CORO__DNS_QUERY_MAX]byte
	opts := C.unsigned(C.CORO__DNS_Q_RD)
	if edns {
		opts |= C.CORO__DNS_Q_EDNS
	}
	rc := C.coro__dns_encode_query((*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)),
		C.uint16_t(id), cname, C.uint16_t(qtype), opts)
	if rc < 0 {
		return nil, errno(rc)
	}
	return append([]byte(nil), buf[:rc]...), nil
}

// NameEqual reports whether two text names are equal as the resolver
// compares them (coro__dns_name_eq: ASCII case and one trailing dot
// ignored).
func NameEqual(a, b string) bool {
	ca, cb := C.CString(a), C.CString(b)
	defer C.free(unsafe.Pointer(ca))
	defer C.free(unsafe.Pointer(cb))
	return C.coro__dns_name_eq(ca, cb) == 1
}
