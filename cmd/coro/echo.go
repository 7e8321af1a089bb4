package main

import (
	"context"
	"errors"
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
	args:    "[-addr HOST:PORT] [-loops N] [-stack guarded|shared] [-idle D] [-reuseport]",
	help: `Serve TCP echo on -addr until SIGINT or SIGTERM: every byte read on a
connection is written back. Each of the N loops (one thread each) runs an
accept coroutine on its own listener on the same address, and spawns a
coroutine per connection that reads and writes back until end of file;
the listeners share the address through SO_REUSEPORT, so the kernel
spreads the connections over the loops. Port 0 picks a free port. Prints
"echo: listening on ADDR (N loops)" with the real port once it accepts,
and a summary on stderr when it stops.

A connection that sends nothing for -idle, or does not read its replies
so that one cannot be written back within -idle, is closed.

An address that another server listens on is an error ("address already
in use"), whether or not that server shares its port. With -reuseport the
port is shared with the servers there that let it be shared (any coro
echo or httpd, and programs that set SO_REUSEPORT) run by the same user:
the kernel then spreads the connections over all of them.

Exit status: 0 stopped by a signal, 1 could not listen, 2 usage error.`,
	flags: echoFlags,
}

func echoFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	addr := fs.String("addr", "127.0.0.1:7000", "listen on `HOST:PORT` (port 0: any free port)")
	loops := fs.Int("loops", 1, "`N` loops (threads), each with its own listener")
	stack := fs.String("stack", "guarded", "the coroutines' stacks, `STACK`: guarded or shared")
	idle := fs.Duration("idle", netdemo.DefaultEchoIdle, "close a connection idle for `D` (or whose reply cannot be written for D)")
	reusePort := fs.Bool("reuseport", false, "share the port with other servers that listen on it with SO_REUSEPORT")
	startConsole := consoleFlags(fs)
	return func(stdout, stderr io.Writer) int {
		if *loops < 1 || *loops > 1024 {
			return usageError(stderr, "echo", "-loops %d: want 1 to 1024", *loops)
		}
		if *idle <= 0 {
			return usageError(stderr, "echo", "-idle %v: want a positive duration", *idle)
		}
		st, err := demos.ParseStack(*stack)
		if err != nil {
			return usageError(stderr, "echo", "-stack: %v", err)
		}
		if *addr, err = numericAddr(*addr); err != nil {
			return usageError(stderr, "echo", "-addr: %v", err)
		}
		if _, err := netdemo.ResolveAddr(*addr); err != nil {
			return usageError(stderr, "echo", "-addr: %v", err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		s, err := netdemo.StartEcho(netdemo.EchoConfig{
			Addr: *addr, Loops: *loops, Stack: st, IdleTimeout: *idle, ReusePort: *reusePort,
		})
		if err != nil {
			fmt.Fprintf(stderr, "coro %v%s\n", err, addrInUseHint(err)) // "echo: ..."
			return exitFailed
		}
		fmt.Fprintf(stdout, "echo: listening on %s (%d %s)\n", s.Addr(), *loops, pluralOf(*loops, "loop", "loops"))
		stopConsole, err := startConsole(stdout)
		if err != nil {
			fmt.Fprintf(stderr, "coro echo: %v\n", err)
			s.Close()
			return exitFailed
		}
		defer stopConsole()
		<-ctx.Done()
		stats := s.Stats()
		if err := s.Close(); err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stderr, "echo: stopped: %d connections, %d bytes echoed, %d connection errors, %d idle timeouts\n",
			stats.Conns, stats.Bytes, stats.Errors, stats.Timeouts)
		return exitOK
	}
}

// addrInUseHint says, after a listen error, what EADDRINUSE means for
// coro's servers and how to share the port instead.
func addrInUseHint(err error) string {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return ""
	}
	return " (another server listens there: pick another -addr, or share the port with -reuseport)"
}

// pluralOf picks the singular or plural form for n.
func pluralOf(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
