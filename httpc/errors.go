package httpc

// #include "coro_http.h"
import "C"

import (
	"errors"
	"syscall"
)

// Errno is an error of the C client: a negative return of a coro_http_
// call, negated. Values below 4096 are syscall.Errno values (errors.Is
// with syscall.ETIMEDOUT, ECONNREFUSED, ... works through Is); the others
// are the client's own (ErrBadURL, ...) and the resolver's.
type Errno int

// The client's own errors (coro_http.h).
const (
	ErrBadURL       Errno = C.CORO_HTTP_EURL       // a URL that cannot be parsed or used
	ErrFraming      Errno = C.CORO_HTTP_EFRAMING   // a malformed response
	ErrRedirects    Errno = C.CORO_HTTP_EREDIRECTS // more redirects than allowed
	ErrHeadTooLarge Errno = C.CORO_HTTP_EHEADSIZE  // response head over the limit
	ErrBodyTooLarge Errno = C.CORO_HTTP_EBODYSIZE  // response body over the limit
	ErrNoTLS        Errno = C.CORO_HTTP_ENOTLS     // https without TLS built in
	ErrTLS          Errno = C.CORO_HTTP_ETLS       // TLS handshake or verification failed
	ErrTruncated    Errno = C.CORO_HTTP_ETRUNCATED // closed before the response ended
	ErrScheme       Errno = C.CORO_HTTP_ESCHEME    // not http or https
)

func (e Errno) Error() string {
	return C.GoString(C.coro_http_strerror(-C.int(e)))
}

// Is makes errors.Is(err, syscall.ETIMEDOUT) and the like work, and
// treats ETIMEDOUT as os.ErrDeadlineExceeded's kin through syscall.Errno.
func (e Errno) Is(target error) bool {
	var se syscall.Errno
	if errors.As(target, &se) {
		return int(se) == int(e)
	}
	return false
}

// Timeout reports whether the error is a deadline's.
func (e Errno) Timeout() bool { return e == Errno(syscall.ETIMEDOUT) }

func errOf(rc C.int) error {
	if rc >= 0 {
		return nil
	}
	if -rc < 4096 {
		return syscall.Errno(-rc)
	}
	return Errno(-rc)
}
