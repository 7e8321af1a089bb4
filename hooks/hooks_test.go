package hooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/hooks"
	"github.com/ccoro/coro/hooks/internal/hookstest"
	"github.com/ccoro/coro/internal/echoserver"
)

// TestCheck: the go tool's default (external) link exports the hooks, so
// a shared library's read is the hook.
func TestCheck(t *testing.T) {
	if err := hooks.Check(); err != nil {
		t.Fatal(err)
	}
}

// echoServer echoes each request line once target requests have arrived
// (a barrier: the clients can only finish if all are in flight at once),
// or after 20 s (internal/echoserver).
func echoServer(t *testing.T, target int) int {
	port, stop, err := echoserver.Start(0, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return port
}

// runClients runs n blocking C clients (hooks_client.c) as coroutines of
// a new loop made with opts, against an echoServer(target), and returns
// their counters.
func runClients(t *testing.T, n, target int, opts ...coro.Option) hookstest.Stats {
	port := echoServer(t, target)
	hookstest.Reset(port)
	l, err := coro.NewLoop(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cos := make([]*coro.Coroutine, n)
	for i := range cos {
		if cos[i], err = l.Spawn(hookstest.Echo(), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, co := range cos {
		if _, err := co.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return hookstest.Get()
}

// TestConcurrentClients: with hooks, 1,000 clients written for a blocking
// libc are all in flight at once on one loop thread.
func TestConcurrentClients(t *testing.T) {
	const n = 1000
	st := runClients(t, n, n, coro.WithHooks())
	if st.OK != n || st.MaxInFlight != n {
		t.Fatalf("%+v, want %d ok, all in flight at once", st, n)
	}
}

// TestHooksOff: without WithHooks the same clients block the loop's
// thread, one at a time (the server answers each at once).
func TestHooksOff(t *testing.T) {
	st := runClients(t, 10, 1)
	if st.OK != 10 || st.MaxInFlight != 1 {
		t.Fatalf("%+v, want 10 ok, one at a time", st)
	}
}
