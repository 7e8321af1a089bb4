//go:build coro_openssl && cgo

package httpc

// The TLS streams (tls_on.c) use the tls package's C (coro_tls.h).

// #cgo CFLAGS: -I${SRCDIR}/../tls
import "C"

import _ "github.com/ccoro/coro/tls" // coro_tls_*, and -lssl -lcrypto
