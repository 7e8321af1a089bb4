package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ccoro/coro/internal/hookdemo"
)

// hookdemoCommand is "coro hookdemo": a blocking C client made concurrent
// by the libc hooks, then the same with the hooks off.
var hookdemoCommand = &command{
	name:    "hookdemo",
	summary: "run a blocking C client many at once on one thread, hooks on and off",
	args:    "[-n N] [-delay D]",
	help: `Run N copies of a blocking C client (plain libc: connect, write, read,
close; internal/hookdemo/client.c) at once as coroutines of one loop,
against a local server that answers each request after D (as a database
takes to run a query): first with the libc hooks on (coro.WithHooks), then
off. Prints, for each, the clients, the most in flight at once, the
failures and the time. With the hooks the calls wait in the loop and the
run takes about D; without, each call blocks the loop's thread and the run
takes about N x D.

Exit status: 0 success, 1 a client failed, 2 usage error.`,
	flags: hookdemoFlags,
}

func init() { commands["hookdemo"] = hookdemoCommand }

func hookdemoFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	n := fs.Int("n", 200, "`N` clients at once")
	delay := fs.Duration("delay", 20*time.Millisecond, "the server answers each request after `D`")
	return func(stdout, stderr io.Writer) int {
		if *n < 1 || *n > 10000 {
			return usageError(stderr, "hookdemo", "-n %d: want 1 to 10000", *n)
		}
		if *delay < 0 || *delay > 10*time.Second {
			return usageError(stderr, "hookdemo", "-delay %v: want 0 to 10s", *delay)
		}
		fmt.Fprintf(stdout, "%d blocking C clients at once, the server answers each after %v\n", *n, *delay)
		rc := exitOK
		for _, on := range []bool{true, false} {
			r, err := hookdemo.Run(context.Background(), *n, *delay, on)
			if err != nil {
				fmt.Fprintf(stderr, "coro hookdemo: %v\n", err)
				return exitFailed
			}
			fmt.Fprintln(stdout, r)
			if r.Failed > 0 {
				rc = exitFailed
			}
		}
		return rc
	}
}
