//go:build coro_openssl

package httpc

// tlsTag reports whether the build has TLS (tls_on.c, -tags coro_openssl).
const tlsTag = true
