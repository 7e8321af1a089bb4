package httpc

// #include <stdlib.h>
// #include "coro_http.h"
import "C"

import (
	"unsafe"
)

// URL is a parsed, normalized absolute URL (RFC 3986; see coro_url in
// coro_http.h). Optional parts are "" when absent; HasQuery and
// HasFragment tell an empty one from none.
type URL struct {
	Href        string // the whole normalized URL
	Scheme      string
	UserInfo    string
	Host        string // IPv6 without brackets
	Port        int    // the scheme's default when none was given
	Path        string
	Query       string
	Fragment    string
	HasQuery    bool
	HasFragment bool
}

func urlFrom(u *C.coro_url) *URL {
	r := &URL{
		Href: C.GoString(u.href), Scheme: C.GoString(u.scheme), Host: C.GoString(u.host),
		Port: int(u.port), Path: C.GoString(u.path),
	}
	if u.userinfo != nil {
		r.UserInfo = C.GoString(u.userinfo)
	}
	if u.query != nil {
		r.Query, r.HasQuery = C.GoString(u.query), true
	}
	if u.fragment != nil {
		r.Fragment, r.HasFragment = C.GoString(u.fragment), true
	}
	return r
}

// ParseURL parses and normalizes an absolute URL. Errors match ErrBadURL.
func ParseURL(s string) (*URL, error) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var u C.coro_url
	if rc := C.coro_url_parse(&u, cs); rc < 0 {
		return nil, &Error{URL: s, Err: errOf(rc)}
	}
	defer C.coro_url_free(&u)
	return urlFrom(&u), nil
}

// Resolve resolves the reference ref (relative, scheme-relative,
// absolute, ...) against u as RFC 3986 section 5.2 says, normalized.
func (u *URL) Resolve(ref string) (*URL, error) {
	cb, cr := C.CString(u.Href), C.CString(ref)
	defer C.free(unsafe.Pointer(cb))
	defer C.free(unsafe.Pointer(cr))
	var out C.coro_url
	if rc := C.coro_url_join(&out, cb, cr); rc < 0 {
		return nil, &Error{URL: ref, Err: errOf(rc)}
	}
	defer C.coro_url_free(&out)
	return urlFrom(&out), nil
}

// String returns the normalized URL.
func (u *URL) String() string { return u.Href }
