//go:build coro_openssl && cgo

package tls_test

import (
	"fmt"

	"github.com/ccoro/coro/tls"
)

// A program built with -tags coro_openssl has TLS; the C calls' errors
// (coro_tls.h) have messages of their own.
func Example() {
	fmt.Println(tls.Available)
	fmt.Println(tls.ErrorText(-5202)) // CORO_ECERT
	fmt.Println(tls.ErrorText(-5203)) // CORO_ETLSEOF
	// Output:
	// true
	// certificate verification failed
	// TLS connection closed without close_notify
}
