//go:build coro_openssl && cgo

package tls

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../csrc
// #cgo LDFLAGS: -lssl -lcrypto -lpthread
// #include <openssl/opensslv.h>
// #include "coro_tls.h"
import "C"

import _ "github.com/ccoro/coro/csrc" // the engine the connections wait in

// Available reports whether TLS is built in (the build tag coro_openssl).
const Available = true

// OpenSSLVersion is the version of the OpenSSL headers the package was
// built with, as OpenSSL writes it ("OpenSSL 3.0.13 30 Jan 2024").
const OpenSSLVersion = C.OPENSSL_VERSION_TEXT

// ErrorText is coro_tls_strerror: the message for a negative return of a
// coro_tls call (an errno or one of the CORO_E* codes).
func ErrorText(code int) string { return C.GoString(C.coro_tls_strerror(C.int(code))) }
