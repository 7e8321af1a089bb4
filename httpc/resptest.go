package httpc

// #include <stdlib.h>
// #include <string.h>
// #include "coro_http.h"
// // The body pieces of the last feedResponse, gathered (up to 64 KiB).
// static char resptest_b[65536];
// static size_t resptest_n;
// static int resptest_body(void *arg, const char *p, size_t n) {
//   (void)arg;
//   if (n > sizeof resptest_b - resptest_n) n = sizeof resptest_b - resptest_n;
//   memcpy(resptest_b + resptest_n, p, n);
//   resptest_n += n;
//   return 0;
// }
// static char *resptest_buf(void) { return resptest_b; }
// static void resptest_setup(coro_http_resp *r, int head, size_t head_max) {
//   coro_http_resp_init(r);
//   r->head_request = head;
//   r->head_max = head_max;
//   r->on_body = resptest_body;
//   resptest_n = 0;
// }
// static int resptest_len(void) { return (int)resptest_n; }
import "C"

import (
	"unsafe"
)

// respResult is what the C response parser (resp.c) made of a byte
// stream; for tests, which cannot use cgo.
type respResult struct {
	Status  int
	Minor   int
	Framing int // enum coro_http_framing
	Length  uint64
	Close   bool
	Done    bool
	Used    int   // bytes taken before it was done or failed
	Err     error // nil, or what coro_http_resp_feed or coro_http_resp_eof returned
	Body    string
	Why     string
}

// feedResponse feeds b to a fresh reader in pieces cut at the offsets in
// cuts (ascending), as successive reads would deliver it, until the
// response is done or wrong. If eof is set and all of b was taken without
// the response being done, the connection's end follows.
func feedResponse(b []byte, cuts []int, eof bool) respResult {
	return feedResponseHead(b, cuts, eof, 0)
}

// feedResponseHead is feedResponse with head set for an answer to HEAD.
func feedResponseHead(b []byte, cuts []int, eof bool, head int) respResult {
	p := C.malloc(C.size_t(len(b) + 1))
	defer C.free(p)
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	var r C.coro_http_resp
	C.resptest_setup(&r, C.int(head), headMax)
	defer C.coro_http_resp_free(&r)
	var res respResult
	start := 0
	for i := 0; i <= len(cuts) && !res.Done && res.Err == nil; i++ {
		end := len(b)
		if i < len(cuts) {
			end = cuts[i]
		}
		if end <= start {
			continue
		}
		k := C.coro_http_resp_feed(&r, (*C.char)(unsafe.Add(p, start)), C.size_t(end-start))
		if k < 0 {
			res.Err = errOf(C.int(k))
			break
		}
		res.Used += int(k)
		res.Done = r.done != 0
		start = end
	}
	if eof && res.Err == nil && !res.Done && res.Used == len(b) {
		if rc := C.coro_http_resp_eof(&r); rc < 0 {
			res.Err = errOf(rc)
		}
		res.Done = r.done != 0
	}
	res.Status, res.Minor, res.Framing = int(r.status), int(r.minor), int(r.framing)
	res.Length, res.Close = uint64(r.length), r.close != 0
	res.Body = C.GoStringN(C.resptest_buf(), C.resptest_len())
	if r.why != nil {
		res.Why = C.GoString(r.why)
	}
	return res
}

// The framings, for tests.
const (
	bodyNone    = C.CORO_HTTP_BODY_NONE
	bodyLength  = C.CORO_HTTP_BODY_LENGTH
	bodyChunked = C.CORO_HTTP_BODY_CHUNKED
	bodyClose   = C.CORO_HTTP_BODY_CLOSE
	headMax     = 16 * 1024 // the limit the tests set (the default is larger)
)
