package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ccoro/coro/internal/demos"
	"github.com/ccoro/coro/internal/netdemo"
)

// echoCommand is "coro echo": a TCP echo server.
var echoCommand = &command{
	name:    "echo",
	summary: "a TCP echo server, one C coroutine per connection",
	args:    "[-addr HOST:PORT] [-loops N] [-stack guarded|shared]",
	help: `Serve TCP echo on -addr until SIGINT or SIGTERM: every byte read on a
connection is written back. Each of the N loops (one thread each) runs an
accept coroutine on its own SO_REUSEPORT listener on the same address, and
spawns a coroutine per connection that reads and writes back until end of
file; the kernel spreads the connections over the listeners. Port 0 picks
a free port. Prints "echo: listening on ADDR (N loops)" with the real port
once it accepts, and a summary on stderr when it stops.

Exit status: 0 stopped by a signal, 1 could not listen, 2 usage error.`,
	flags: echoFlags,
}

func echoFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	addr := fs.String("addr", "127.0.0.1:7000", "listen on `HOST:PORT` (port 0: any free port)")
	loops := fs.Int("loops", 1, "`N` loops (threads), each with its own listener")
	stack := fs.String("stack", "guarded", "the coroutines' stacks, `STACK`: guarded or shared")
	return func(stdout, stderr io.Writer) int {
		if *loops < 1 || *loops > 1024 {
			return usageError(stderr, "echo", "-loops %d: want 1 to 1024", *loops)
		}
		st, err := demos.ParseStack(*stack)
		if err != nil {
			return usageError(stderr, "echo", "-stack: %v", err)
		}
		if _, err := netdemo.ResolveAddr(*addr); err != nil {
			return usageError(stderr, "echo", "-addr: %v", err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		s, err := netdemo.StartEcho(netdemo.EchoConfig{Addr: *addr, Loops: *loops, Stack: st})
		if err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err) // "echo: ..."
			return exitFailed
		}
		fmt.Fprintf(stdout, "echo: listening on %s (%d %s)\n", s.Addr(), *loops, pluralOf(*loops, "loop", "loops"))
		<-ctx.Done()
		stats := s.Stats()
		if err := s.Close(); err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stderr, "echo: stopped: %d connections, %d bytes echoed, %d connection errors\n",
			stats.Conns, stats.Bytes, stats.Errors)
		return exitOK
	}
}

// pluralOf picks the singular or plural form for n.
func pluralOf(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
