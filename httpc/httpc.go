// Package httpc is coro's HTTP/1.1 client: C code (the files of this
// folder, public header coro_http.h) running in coroutines of a coro.Loop,
// with a connection pool per scheme/host/port, redirects, retries of
// idempotent requests and deadlines, and a Go face (Client, Do).
//
// TLS is opt-in: build with -tags coro_openssl (it links OpenSSL's libssl
// and libcrypto); without the tag, https requests fail with ErrNoTLS.
package httpc

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../csrc
// #cgo amd64 arm64 CFLAGS: -fstack-clash-protection
// #include "coro_http.h"
import "C"

import (
	_ "github.com/ccoro/coro/csrc" // the engine the client runs in
)
