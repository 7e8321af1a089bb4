package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ccoro/coro/internal/crawl"
)

// crawlCommand is "coro crawl": the crawler of internal/crawl.
var crawlCommand = &command{
	name:      "crawl",
	summary:   "crawl web sites from seed URLs with a pool of coroutines",
	args:      "[-c N] [-per-host N] [-delay D] [-scope host|domain|any|zone] [-domain D] [-include RE] [-exclude RE] [-depth N] [-max-pages N] [-o FILE] [-console PATH] URL...",
	takesArgs: true,
	help: `Crawl from the seed URLs: N worker coroutines (-c) fetch pages
with coro's HTTP client (keep-alive, a pool per host), extract the links of
HTML pages (a, area, link, frame, iframe; base href), resolve and normalise
them (RFC 3986), and follow those the scope and expressions allow, each URL
once. robots.txt is fetched first on every host and obeyed (RFC 9309; 4xx:
all allowed, 5xx or unreachable: nothing), and its Crawl-delay honoured up
to -max-crawl-delay, one request at a time. Requests to one host are at
most -per-host at once and spaced by -delay (with -per-host 1, from the end
of one to the start of the next). A redirect's target is queued as a link.

With -loops N the crawl runs on N loops, each on a thread of its own (use
up to one per core): the hosts are shared out among the loops by a hash
of scheme, host and port, so each host's politeness, robots.txt and
connections stay on one loop, and a link to a host of another loop is
handed to that loop (a batch per page), with no lock on the hot path.

Scopes: host (the seeds' scheme, host and port; the default), domain (-domain
and the hosts below it), any, zone (hosts whose DNS zone has the first
seed's SOA, asked with the engine's resolver: the seed's own rule).

Output: one JSON line per fetched page on stdout (or -o FILE): url,
final_url, status, depth, bytes, type, links, ms, and error for a fetch
that failed. final_url is the URL fetched; url the link followed, which for
a redirect's target is the URL its chain of redirects started from. On a terminal, a progress line on stderr; at the end a summary
on stderr. SIGINT or SIGTERM stops the crawl with the summary.

Names are resolved by the engine's resolver: $CORO_HOSTS (or -hosts) and
$CORO_RESOLV_CONF (or -resolv-conf), else the system's files.

-console PATH (or -console-tcp ADDR) serves a console while the crawl runs,
as coro httpd's does: "coro console PATH ps" lists the crawl's main and
worker coroutines and what each waits on. Its lines go to stderr.

Exit status: 0 the crawl ended (pages that failed are in the output), 1 it
could not run or its output could not be written, 2 usage error, 130
stopped by a signal.`,
	flags: crawlFlags,
}

func crawlFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	workers := fs.Int("c", 16, "`N` worker coroutines (shared out among the loops)")
	loops := fs.Int("loops", 1, "run on `N` loops, each on a thread of its own with the hosts that hash to it (at most -c)")
	perHost := fs.Int("per-host", 2, "at most `N` requests to one host at a time")
	delay := fs.Duration("delay", 0, "space requests to one host by `D`")
	maxCrawlDelay := fs.Duration("max-crawl-delay", 10*time.Second, "honour robots.txt's Crawl-delay up to `D`")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on a request after `D`")
	depth := fs.Int("depth", 0, "follow at most `N` links from a seed (0: no limit)")
	maxPages := fs.Int64("max-pages", 0, "fetch at most `N` pages (0: no limit)")
	maxBytes := fs.Int("max-bytes", 8<<20, "keep at most `N` bytes of a page")
	scope := fs.String("scope", "host", "which hosts to visit, `SCOPE`: host, domain, any or zone")
	domain := fs.String("domain", "", "the `DOMAIN` of -scope domain")
	include := fs.String("include", "", "follow only URLs matching `RE` (POSIX extended)")
	exclude := fs.String("exclude", "", "never follow URLs matching `RE`")
	noRobots := fs.Bool("no-robots", false, "neither fetch nor obey robots.txt")
	agent := fs.String("agent", "corocrawl", "the robots.txt product `TOKEN`")
	out := fs.String("o", "", "write the JSON lines to `FILE` (default stdout)")
	hosts := fs.String("hosts", "", "the resolver's hosts `FILE`")
	resolvConf := fs.String("resolv-conf", "", "the resolver's resolv.conf `FILE`")
	quiet := fs.Bool("q", false, "no progress line, no summary")
	startConsole := consoleFlags(fs)
	return func(stdout, stderr io.Writer) int {
		seeds := fs.Args()
		if len(seeds) == 0 {
			return usageError(stderr, "crawl", "no seed URL")
		}
		sc, err := crawl.ParseScope(*scope)
		if err != nil {
			return usageError(stderr, "crawl", "-scope: %v", err)
		}
		if *workers < 1 || *loops < 1 || *perHost < 1 || *depth < 0 || *maxPages < 0 || *maxBytes < 1 || *delay < 0 || *timeout <= 0 {
			return usageError(stderr, "crawl", "-c, -loops, -per-host, -max-bytes and -timeout must be positive; -depth, -max-pages and -delay not negative")
		}
		outFile, ok := stdout.(*os.File)
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				fmt.Fprintf(stderr, "coro crawl: %v\n", err)
				return exitFailed
			}
			defer f.Close()
			outFile, ok = f, true
		}
		if !ok {
			fmt.Fprintln(stderr, "coro crawl: the output must be a file; use -o")
			return exitFailed
		}
		c, err := crawl.New(crawl.Config{
			Seeds: seeds, Workers: *workers, Loops: *loops, PerHost: *perHost, Delay: *delay,
			MaxCrawlDelay: *maxCrawlDelay, Timeout: *timeout, MaxDepth: *depth,
			MaxPages: *maxPages, MaxBytes: *maxBytes, IgnoreRobots: *noRobots,
			Agent: *agent, Scope: sc, Domain: *domain, Include: *include,
			Exclude: *exclude, Hosts: *hosts, ResolvConf: *resolvConf, Out: outFile,
		})
		if err != nil {
			return usageError(stderr, "crawl", "%v", err)
		}
		defer c.Close()
		// The console's lines go to stderr: stdout may carry the pages.
		stopConsole, err := startConsole(stderr)
		if err != nil {
			fmt.Fprintf(stderr, "coro crawl: %v\n", err)
			return exitFailed
		}
		defer stopConsole()
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		done := make(chan struct{})
		start := time.Now()
		progress := !*quiet && isTerminal(stderr)
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-sigs:
					c.Stop()
				case <-tick.C:
					if progress {
						p := c.Progress()
						fmt.Fprintf(stderr, "\r%d pages, %d errors, %d queued, %d hosts, %.0f pages/s ",
							p.Pages, p.Errors, p.Queued, p.Hosts, float64(p.Pages)/time.Since(start).Seconds())
					}
				case <-done:
					return
				}
			}
		}()
		st, err := c.Run()
		close(done)
		took := time.Since(start)
		if progress {
			fmt.Fprint(stderr, "\r\033[K")
		}
		if !*quiet {
			fmt.Fprintf(stderr, "%d pages (%d failed) from %d hosts in %v, %.0f pages/s, %d bytes; %d robots.txt, %d URLs queued, %d disallowed, %d links filtered; seen-set %d bytes, frontier peak %d URLs%s\n",
				st.Pages, st.Errors, st.Hosts, took.Round(time.Millisecond),
				float64(st.Pages+st.Errors)/took.Seconds(), st.Bytes, st.Robots, st.Queued,
				st.Disallowed, st.Filtered, st.SeenBytes, st.FrontierPeak,
				map[bool]string{true: " (stopped)", false: ""}[st.Stopped])
		}
		if err != nil {
			fmt.Fprintf(stderr, "coro %v\n", err)
			return exitFailed
		}
		if st.Stopped {
			return exitStopped
		}
		return exitOK
	}
}

// exitStopped: the crawl was stopped by SIGINT or SIGTERM (128 + SIGINT,
// as shells report it).
const exitStopped = 130

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
