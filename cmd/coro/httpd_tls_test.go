//go:build !coro_openssl

package main

import (
	"strings"
	"testing"
)

// Built without OpenSSL, -cert fails with a message saying how to build
// with it; -cert without -key is a usage error either way.
func TestHttpdHTTPSNotBuiltIn(t *testing.T) {
	_, stderr, code := coro(t, "httpd", "-addr", "127.0.0.1:0", "-cert", "c.pem", "-key", "k.pem")
	if code != 1 || !strings.Contains(stderr, "HTTPS not built in: build with -tags coro_openssl") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = coro(t, "httpd", "-addr", "127.0.0.1:0", "-cert", "c.pem")
	if code != 2 || !strings.Contains(stderr, "-cert and -key go together") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
