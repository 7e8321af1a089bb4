//go:build coro_openssl && cgo

package tlstest

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc -I${SRCDIR}/../../tls
// #include <stdlib.h>
// #include "fixture.h"
import "C"

import (
	"runtime"
	"time"
	"unsafe"

	_ "github.com/ccoro/coro/csrc"
	_ "github.com/ccoro/coro/tls"
)

// The error codes of coro_tls.h, as the fixtures return them (negative).
const (
	ETLS    = -5201
	ECERT   = -5202
	ETLSEOF = -5203
)

// ClientArgs are tlstest_client's arguments.
type ClientArgs struct {
	Addr, Host, CAFile     string
	MinVersion, MaxVersion int // 0, or 0x0303 (TLS 1.2), 0x0304 (TLS 1.3)
	Insecure               bool
	Msg                    string // written after the handshake
	Timeout                time.Duration
	Conns                  int // default 1
	StackShared            bool
}

// ConnResult is one connection's outcome (tlstest_conn_result).
type ConnResult struct {
	Rc, Step      int // Rc 0, or the negative error of step 1 connect, 2 handshake, 3 write, 4 read
	Reused        bool
	Version, ALPN string
	Err           string // coro_tls_last_error after the failure
	NRead         int64
	Data          string // the first bytes read
}

// onLoopThread runs f on a thread of its own that no goroutine gets back:
// the fixture makes a loop on it (a C thread-local), as coro.NewLoop's
// goroutine does, which never unlocks.
func onLoopThread(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		f()
		close(done)
	}()
	<-done
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Client runs tlstest_client: a.Conns TLS connections one after the
// other with one client configuration. err is the setup's error code.
func Client(a ClientArgs) (res []ConnResult, rc int, setupErr string) {
	if a.Conns == 0 {
		a.Conns = 1
	}
	if a.Timeout == 0 {
		a.Timeout = 30 * time.Second
	}
	cs := func(s string) *C.char {
		if s == "" {
			return nil
		}
		return C.CString(s)
	}
	ca := C.tlstest_client_args{
		addr: cs(a.Addr), host: cs(a.Host), ca_file: cs(a.CAFile),
		min_version: C.int(a.MinVersion), max_version: C.int(a.MaxVersion),
		insecure: cbool(a.Insecure), msg: cs(a.Msg),
		timeout_ns: C.int64_t(a.Timeout), conns: C.int(a.Conns),
		stack_shared: cbool(a.StackShared),
	}
	defer func() {
		for _, p := range []*C.char{ca.addr, ca.host, ca.ca_file, ca.msg} {
			C.free(unsafe.Pointer(p))
		}
	}()
	cr := (*C.tlstest_conn_result)(C.calloc(C.size_t(a.Conns), C.size_t(unsafe.Sizeof(C.tlstest_conn_result{}))))
	defer C.free(unsafe.Pointer(cr))
	var crc C.int
	onLoopThread(func() { crc = C.tlstest_client(&ca, cr) })
	rs := unsafe.Slice(cr, a.Conns)
	if crc < 0 {
		return nil, int(crc), C.GoString(&rs[0].err[0])
	}
	for _, r := range rs {
		res = append(res, ConnResult{
			Rc: int(r.rc), Step: int(r.step), Reused: r.reused != 0,
			Version: C.GoString(&r.version[0]), ALPN: C.GoString(&r.alpn[0]),
			Err: C.GoString(&r.err[0]), NRead: int64(r.nread), Data: C.GoString(&r.data[0]),
		})
	}
	return res, 0, ""
}

// ManyResult is tlstest_many's outcome.
type ManyResult struct {
	OK, Served, Failed, FirstErr int
	Err                          string
	Rc                           int
}

// Many runs n TLS clients and their server on one loop, all at once.
func Many(p *PKI, n int) ManyResult {
	cert, key, ca := C.CString(p.CertFile), C.CString(p.KeyFile), C.CString(p.CAFile)
	defer C.free(unsafe.Pointer(cert))
	defer C.free(unsafe.Pointer(key))
	defer C.free(unsafe.Pointer(ca))
	var r C.tlstest_many_result
	var rc C.int
	onLoopThread(func() { rc = C.tlstest_many(cert, key, ca, C.int(n), &r) })
	return ManyResult{OK: int(r.ok), Served: int(r.served), Failed: int(r.failed),
		FirstErr: int(r.first_err), Err: C.GoString(&r.err[0]), Rc: int(rc)}
}
