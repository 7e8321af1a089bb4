//go:build !coro_openssl

package httpd

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Built without OpenSSL, a certificate is refused with ErrNoTLS, whose
// message says how to build with it.
func TestHTTPSNotBuiltIn(t *testing.T) {
	root, _ := site(t)
	s, err := Start(Config{Addr: "127.0.0.1:0", Root: root, CertFile: "c.pem", KeyFile: "k.pem"})
	if err == nil {
		s.Close()
		t.Fatal("started")
	}
	if !errors.Is(err, ErrNoTLS) || err.Error() != "httpd: HTTPS not built in: build with -tags coro_openssl" {
		t.Fatalf("%v", err)
	}
}

// dialAny connects to s as its clients do: without TLS built in, plain TCP.
func dialAny(t testing.TB, s *Server, d time.Duration) net.Conn { return dialServer(t, s, d) }
