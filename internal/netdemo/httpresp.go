package netdemo

// #include <stdlib.h>
// #include "http_resp.h"
import "C"

import (
	"syscall"
	"unsafe"
)

// respResult is what the C response reader (http_resp.c) made of a byte
// stream; for tests, which cannot use cgo.
type respResult struct {
	Status  int
	Minor   int
	Framing int // enum nd_http_framing
	Length  uint64
	Close   bool
	Done    bool
	Used    int           // bytes taken before it was done or failed
	Err     syscall.Errno // 0, or what nd_http_feed or nd_http_eof returned
	Why     string
}

// feedResponse feeds b to a fresh reader in pieces cut at the offsets in
// cuts (ascending), as successive reads would deliver it, until the
// response is done or wrong. If eof is set and all of b was taken without
// the response being done, the connection's end follows.
func feedResponse(b []byte, cuts []int, eof bool) respResult {
	p := C.malloc(C.size_t(len(b) + 1))
	defer C.free(p)
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	var r C.nd_http_resp
	C.nd_http_resp_reset(&r)
	defer C.nd_http_resp_free(&r)
	var res respResult
	start := 0
	for i := 0; i <= len(cuts) && !res.Done && res.Err == 0; i++ {
		end := len(b)
		if i < len(cuts) {
			end = cuts[i]
		}
		if end <= start {
			continue
		}
		k := C.nd_http_feed(&r, (*C.char)(unsafe.Add(p, start)), C.size_t(end-start))
		if k < 0 {
			res.Err = syscall.Errno(-k)
			break
		}
		res.Used += int(k)
		res.Done = r.done != 0
		start = end
	}
	if eof && res.Err == 0 && !res.Done && res.Used == len(b) {
		if rc := C.nd_http_eof(&r); rc < 0 {
			res.Err = syscall.Errno(-rc)
		}
		res.Done = r.done != 0
	}
	res.Status, res.Minor, res.Framing = int(r.status), int(r.minor), int(r.framing)
	res.Length, res.Close = uint64(r.length), r.close != 0
	if r.why != nil {
		res.Why = C.GoString(r.why)
	}
	return res
}

// The framings, for tests.
const (
	bodyNone    = C.ND_BODY_NONE
	bodyLength  = C.ND_BODY_LENGTH
	bodyChunked = C.ND_BODY_CHUNKED
	bodyClose   = C.ND_BODY_CLOSE
	headMax     = C.ND_HTTP_HEAD_MAX
)
