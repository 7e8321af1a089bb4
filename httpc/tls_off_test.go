//go:build !coro_openssl

package httpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/httpc"
)

// Built without OpenSSL, an https URL fails at once with ErrNoTLS, whose
// message says how to build with TLS; no connection is made.
func TestTLSNotBuiltIn(t *testing.T) {
	loop, err := coro.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close(context.Background())
	c, err := httpc.NewClient(loop, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Do(ctx, &httpc.Request{URL: "https://127.0.0.1:1/"})
	if !errors.Is(err, httpc.ErrNoTLS) || !strings.Contains(err.Error(), "coro_openssl") {
		t.Fatalf("%v", err)
	}
}
