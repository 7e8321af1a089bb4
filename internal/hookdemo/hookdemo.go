// Package hookdemo is "coro hookdemo": a blocking C client (client.c,
// plain libc calls) run many at once as coroutines of one loop, with the
// libc hooks on and then off, against a server that takes a fixed time to
// answer each request (as a database takes to run a query). With the hooks
// the clients wait in the loop and overlap; without, each call blocks the
// loop's thread and they run one after the other.
//
// The client needs only libc, so the coro command still builds with
// nothing but a C compiler; the proofs with real client libraries
// (hiredis, libpq, libmariadb, libcurl) are csrc/test/hooks_servers_test.c.
package hookdemo

/*
#cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc -I${SRCDIR}/../..
#include "coro_go.h"
#include "hookdemo.h"

CORO_GO_ENTRY(hookdemo_client)
*/
import "C"

import (
	"context"
	"fmt"
	"time"

	"github.com/ccoro/coro"
	_ "github.com/ccoro/coro/hooks" // the libc hooks, linked in
	"github.com/ccoro/coro/internal/echoserver"
)

// Result is one run's outcome.
type Result struct {
	Hooks       bool
	Clients     int
	MaxInFlight int // the most clients inside their blocking calls at once
	OK, Failed  int
	Elapsed     time.Duration
}

// String is the result as one line of the demo's table.
func (r Result) String() string {
	on := "off"
	if r.Hooks {
		on = "on "
	}
	return fmt.Sprintf("hooks %s  %4d clients on 1 loop thread  max in flight %4d  ok %4d  failed %d  %8.3f s",
		on, r.Clients, r.MaxInFlight, r.OK, r.Failed, r.Elapsed.Seconds())
}

// Run runs n clients at once on a new loop, with the hooks on or off,
// against a server that answers each request after delay.
func Run(ctx context.Context, n int, delay time.Duration, hooks bool) (Result, error) {
	return run(ctx, n, delay, hooks, 0)
}

func run(ctx context.Context, n int, delay time.Duration, hooks bool, barrier int) (Result, error) {
	port, stop, err := echoserver.Start(delay, barrier)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	var opts []coro.Option
	if hooks {
		opts = append(opts, coro.WithHooks())
	}
	l, err := coro.NewLoop(opts...)
	if err != nil {
		return Result{}, err
	}
	defer l.Close(context.Background())
	C.hookdemo_reset(C.int(port))
	start := time.Now()
	cos := make([]*coro.Coroutine, n)
	for i := range cos {
		if cos[i], err = l.Spawn(coro.Entry(C.hookdemo_client_entry()), uintptr(i)); err != nil {
			return Result{}, err
		}
	}
	for _, co := range cos {
		if _, err := co.Wait(ctx); err != nil {
			return Result{}, err
		}
	}
	el := time.Since(start)
	st := C.hookdemo_get()
	return Result{Hooks: hooks, Clients: n, MaxInFlight: int(st.max_in_flight),
		OK: int(st.ok), Failed: int(st.failed), Elapsed: el}, nil
}
