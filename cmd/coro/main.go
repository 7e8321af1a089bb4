// Command coro runs the demo programs of the coro coroutine engine.
//
// Usage:
//
//	coro <subcommand> [flags]
//
// The subcommands are:
//
//	samefringe  compare the leaves of two trees with two generator coroutines
//	potato      pass a token round a ring of coroutines and time each hop
//	echo        a TCP echo server, one C coroutine per connection
//	load        a load generator (echo or HTTP/1.1), one C coroutine per connection
//	httpd       serve static files over HTTP/1.1, one C coroutine per connection
//	resolve     look names up with the engine's resolver (dig +short style)
//	hookdemo    a blocking C client run many at once on one thread, hooks on and off
//	help        list the subcommands, or show one subcommand's flags
//
// Run "coro help <subcommand>" or "coro <subcommand> -h" for its flags.
//
// samefringe reads two trees written as an integer leaf or a parenthesised
// list of one or more trees, for example "((1 2) (3 (4 5)))", walks both
// with recursive generator coroutines (coro_create) driven leaf by leaf
// with coro_transfer, prints each compared pair and then "same fringe" or
// "different fringe at leaf N: x vs y" ("end" stands for a tree that has
// run out of leaves).
//
// potato passes a token round a ring of -n coroutines for -hops hops, either
// by direct coro_transfer from each holder to the next (-mode transfer) or
// through the scheduler, each coroutine waiting on its own semaphore and
// releasing the next one's (-mode sched), and prints
// "N coroutines, H hops, X ns/hop". The whole run is one C call on a loop
// that lives on the calling thread.
//
// echo and httpd run N loops (-loops), each on its own thread with its own
// listener on the same address (the loops share the port through
// SO_REUSEPORT), until SIGINT or SIGTERM; on an address that another
// server listens on they fail ("address already in use") unless
// -reuseport asks to share the port. echo closes connections idle for
// -idle. httpd with no -root serves a small built-in site on
// 127.0.0.1:8080 and prints its URL. load runs -c connections for -d
// against an echo server or, with -mode http, an HTTP/1.1 server
// (keep-alive GETs of -path), closed-loop or at a fixed -rate with latency
// measured from each request's scheduled send time, and prints
// throughput, latency percentiles and a histogram. Their -addr takes a
// host name too: it is looked up once at start with the engine's
// resolver, and the first address in the resolver's order is used.
//
// resolve looks each NAME up with the engine's resolver (coro resolve
// [-type T] [-server ADDR] [-short] NAME...) and prints the records one a
// line as dig +short does, then the time taken and where the answer came
// from (a server, "cache", "hosts" or "dns").
//
// Exit status: 0 on success (for samefringe: the fringes are the same;
// for load: every connection connected and every request completed);
// 1 when samefringe finds different fringes, when potato fails while
// running, when echo or httpd cannot listen, or when anything in a load
// run failed (a request, a connect, a connection that could not start;
// stderr says what, and names the limit hit), or when resolve could not
// resolve some NAME; 2 for a usage error
// (unknown subcommand, bad flag or flag value, unreadable tree) and when
// samefringe fails while running, as with cmp(1).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/ccoro/coro/internal/demos"
)

// Exit statuses.
const (
	exitOK        = 0
	exitDifferent = 1 // samefringe: the fringes differ
	exitFailed    = 1 // potato: the run failed
	exitUsage     = 2 // bad command line; samefringe: trouble (as cmp)
)

// Default trees for samefringe: different shapes, the same fringe 1 2 3 4 5.
const (
	defaultTreeA = "((1 2) (3 (4 5)))"
	defaultTreeB = "(1 (2 (3 4)) 5)"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	args    string // the flags synopsis for the usage line
	help    string // what it does, printed above the flags
	// takesArgs: arguments after the flags are the command's (fs.Args());
	// other commands refuse them.
	takesArgs bool
	// flags defines the subcommand's flags on fs and returns the function
	// that runs it once they are parsed.
	flags func(fs *flag.FlagSet) func(stdout, stderr io.Writer) int
}

var commands = map[string]*command{
	"samefringe": {
		name:    "samefringe",
		summary: "compare the leaves of two trees with two generator coroutines",
		args:    "[-a TREE] [-b TREE] [-stack guarded|shared]",
		help: `Compare the fringes (leaves, left to right) of two trees. Each tree is
walked by a recursive generator coroutine (coro_create) that hands each
leaf to the comparing coroutine with coro_transfer; the comparison stops at
the first difference. Prints each compared pair, then "same fringe" or
"different fringe at leaf N: x vs y" ("end": that tree ran out of leaves).

A TREE is an integer leaf or a parenthesised list of one or more trees,
e.g. "((1 2) (3 (4 5)))", nested at most ` + fmt.Sprint(demos.MaxDepth) + ` deep.

Exit status: 0 same fringe, 1 different fringe, 2 usage error or failure.`,
		flags: samefringeFlags,
	},
	"potato": {
		name:    "potato",
		summary: "pass a token round a ring of coroutines and time each hop",
		args:    "[-n N] [-hops H] [-mode transfer|sched] [-stack guarded|shared]",
		help: `Pass a token round a ring of N coroutines until it has made H hops and
print "N coroutines, H hops, X ns/hop" (timed from the first hop to the
last). A hop is one coroutine receiving the token. The whole run is one C
call on a loop on the calling thread.

Exit status: 0 success, 1 the run failed, 2 usage error.`,
		flags: potatoFlags,
	},
	"echo":    echoCommand,
	"load":    loadCommand,
	"httpd":   httpdCommand,
	"resolve": resolveCommand,
	"console": consoleCommand,
	"get":     getCommand,
	"crawl":   crawlCommand,
}

func samefringeFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	a := fs.String("a", defaultTreeA, "the first `TREE`")
	b := fs.String("b", defaultTreeB, "the second `TREE`")
	stack := fs.String("stack", "guarded", "the coroutines' stacks, `STACK`: guarded (an mmap'd stack each)\nor shared (one stack, copied on switch)")
	return func(stdout, stderr io.Writer) int {
		st, err := demos.ParseStack(*stack)
		if err != nil {
			return usageError(stderr, "samefringe", "-stack: %v", err)
		}
		res, err := demos.CompareFringes(*a, *b, st)
		if err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err) // "samefringe: ..."
			return exitUsage
		}
		fmt.Fprintf(stdout, "a: %s\nb: %s\n%s", strings.TrimSpace(*a), strings.TrimSpace(*b), res.Report())
		if !res.Same {
			return exitDifferent
		}
		return exitOK
	}
}

func potatoFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	n := fs.Int("n", 1000, "`N` coroutines in the ring (at least 2)")
	hops := fs.Int64("hops", 10_000_000, "the token makes `H` hops (at least 1)")
	mode := fs.String("mode", "transfer", "how the token moves, `MODE`: transfer (each holder calls\ncoro_transfer on the next) or sched (each waits on its own coro_sem,\nreleases the next one's and parks)")
	stack := fs.String("stack", "guarded", "the coroutines' stacks, `STACK`: guarded (an mmap'd stack each;\nabout 32,000 at most) or shared (one stack, copied on switch)")
	return func(stdout, stderr io.Writer) int {
		if *n < 2 {
			return usageError(stderr, "potato", "-n %d: a ring needs at least 2 coroutines", *n)
		}
		if *hops < 1 {
			return usageError(stderr, "potato", "-hops %d: need at least 1 hop", *hops)
		}
		var sched bool
		switch *mode {
		case "transfer":
		case "sched":
			sched = true
		default:
			return usageError(stderr, "potato", "-mode %q: want transfer or sched", *mode)
		}
		st, err := demos.ParseStack(*stack)
		if err != nil {
			return usageError(stderr, "potato", "-stack: %v", err)
		}
		res, err := demos.RunPotato(demos.PotatoConfig{N: *n, Hops: *hops, Sched: sched, Stack: st})
		if err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err) // "potato: ..."
			return exitFailed
		}
		fmt.Fprintf(stdout, "%d coroutines, %d hops, %.1f ns/hop\n", *n, res.Hops, res.NsPerHop)
		return exitOK
	}
}

// usageError reports a bad flag value the way the flag package reports a
// bad flag: the message, then how to get help.
func usageError(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "coro %s: %s\n", name, fmt.Sprintf(format, args...))
	fmt.Fprintf(stderr, "Run 'coro %s -h' for usage.\n", name)
	return exitUsage
}

// printUsage writes the list of subcommands.
func printUsage(w io.Writer) {
	fmt.Fprint(w, "coro runs the demos of the coro coroutine engine.\n\n")
	fmt.Fprint(w, "Usage:\n\n\tcoro <subcommand> [flags]\n\nSubcommands:\n\n")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "\t%-11s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(w, "\t%-11s %s\n", "help", "list the subcommands, or show one subcommand's flags")
	fmt.Fprint(w, "\nRun 'coro help <subcommand>' for a subcommand's flags.\n")
}

// newFlagSet makes cmd's flag set; the returned function runs cmd.
func newFlagSet(cmd *command, stderr io.Writer) (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := flag.NewFlagSet("coro "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // run prints the usage itself, to the right stream
	return fs, cmd.flags(fs)
}

// printCommandUsage writes cmd's synopsis, description and flags to w.
func printCommandUsage(w io.Writer, cmd *command) {
	fs, _ := newFlagSet(cmd, w)
	fmt.Fprintf(w, "usage: coro %s %s\n\n%s\n\nFlags:\n", cmd.name, cmd.args, cmd.help)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// run runs the command line args (without the program name) and returns
// the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		if name != "help" || len(args) == 1 {
			printUsage(stdout)
			return exitOK
		}
		if len(args) > 2 {
			fmt.Fprintln(stderr, "usage: coro help [subcommand]")
			return exitUsage
		}
		cmd, ok := commands[args[1]]
		if !ok {
			fmt.Fprintf(stderr, "coro help: unknown subcommand %q. Run 'coro help' for the list.\n", args[1])
			return exitUsage
		}
		printCommandUsage(stdout, cmd)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "coro: unknown subcommand %q. Run 'coro help' for the list.\n", args[0])
		return exitUsage
	}
	fs, runCmd := newFlagSet(cmd, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(stdout, cmd)
			return exitOK
		}
		// The flag package has printed the error already.
		fmt.Fprintf(stderr, "Run 'coro %s -h' for usage.\n", cmd.name)
		return exitUsage
	}
	if fs.NArg() > 0 && !cmd.takesArgs {
		return usageError(stderr, cmd.name, "unexpected argument %q", fs.Arg(0))
	}
	return runCmd(stdout, stderr)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
