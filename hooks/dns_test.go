// Go's cgo resolver (net's default with netdns=cgo) calls getaddrinfo
// from Go's own threads: with the hooks linked, that call reaches the hook,
// which must hand it to libc's as if the hooks were not there.
//
//go:debug netdns=cgo

package hooks_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/hooks/internal/hookstest"
)

// TestGoResolverUnaffected: Go's resolvers still work with the hooks
// linked: the cgo one through the getaddrinfo hook to libc's (counted),
// the pure Go one without it; and a C library's getaddrinfo in a hooked
// coroutine is the engine's resolver's.
func TestGoResolverUnaffected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, libc0, _ := hookstest.DNSCounts()
	for _, r := range []*net.Resolver{net.DefaultResolver, {PreferGo: true}} {
		addrs, err := r.LookupHost(ctx, "localhost")
		if err != nil {
			t.Fatalf("PreferGo %v: %v", r.PreferGo, err)
		}
		if !slices.Contains(addrs, "127.0.0.1") {
			t.Fatalf("PreferGo %v: localhost is %v", r.PreferGo, addrs)
		}
		ips, err := r.LookupIP(ctx, "ip4", "127.0.0.1")
		if err != nil || len(ips) != 1 || !ips[0].Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("PreferGo %v: 127.0.0.1 is %v, %v", r.PreferGo, ips, err)
		}
	}
	in0, libc1, _ := hookstest.DNSCounts()
	if libc1 == libc0 {
		t.Fatal("the cgo resolver's getaddrinfo did not reach the hook")
	}

	l, err := coro.NewLoop(coro.WithHooks())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	co, err := l.Spawn(hookstest.Resolve(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	in1, libc2, _ := hookstest.DNSCounts()
	if !hookstest.Resolved() || in1 != in0+1 || libc2 != libc1 {
		t.Fatalf("in a hooked coroutine: resolved %v, engine lookups %d -> %d, libc's %d -> %d",
			hookstest.Resolved(), in0, in1, libc1, libc2)
	}
}
