//go:build !coro_openssl

package tls

// Available reports whether TLS is built in: false, the program was built
// without the build tag coro_openssl.
const Available = false
