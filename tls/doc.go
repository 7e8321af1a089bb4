// Package tls is TLS (OpenSSL) on coro's sockets, for C code running in
// coroutines: its public header tls/coro_tls.h declares client and server
// configurations, coro_tls_connect (SNI, the certificate chain verified
// against a CA file or the system's store, the host name checked),
// coro_tls_accept, read, write, shutdown and free. OpenSSL reads and writes
// the socket through a BIO of coro_read and coro_write, so a TLS call that
// waits for the network parks only its coroutine. Versions TLS 1.2 and 1.3,
// ALPN http/1.1, session resumption (a client keeps the last session of
// each of 64 hosts; a server issues tickets). Errors are negative: an errno
// or CORO_ETLS (5201), CORO_ECERT (5202), CORO_ETLSEOF (5203), with
// OpenSSL's reason kept in coro_tls_last_error.
//
// OpenSSL is a system library (libssl-dev on Debian), so the package is
// built only with the build tag coro_openssl; without it Available is false
// and nothing links OpenSSL, and `go get` of coro needs only a C compiler:
//
//	go build -tags coro_openssl ./cmd/coro
//
// Import it (as _) from a cgo package whose C includes coro_tls.h (add
// -I to this folder), as internal/httpd does.
package tls
