// Command crawlbench runs the crawler benchmark of scripts/bench-crawl.sh:
// it serves the generated site of internal/crawl/crawlsite (24 hosts,
// 10,080 pages) from this process on a loopback port, and crawls it
// -count times with each client in turn (interleaved, so that the load of
// the machine falls on all alike): coro crawl, the Go crawler
// (bench/crawl/gocrawl) and wget --recursive. Each client runs as a child
// process (pinned with -cpu, when given, away from the server's CPU); its
// CPU time is its user + system time (rusage of the child), its pages the
// requests the server answered during its run (robots.txt excluded), so
// every client is counted alike. Prints each run, then the medians and
// the ratios to coro.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ccoro/coro/internal/crawl/crawlsite"
)

type client struct {
	name string
	args []string
}

type result struct {
	pages int64
	wall  time.Duration
	cpu   time.Duration
}

func main() {
	count := flag.Int("count", 5, "runs of each client")
	workers := flag.Int("c", 16, "concurrency of coro and the Go crawler")
	perHost := flag.Int("per-host", 2, "connections per host (coro, Go)")
	coroBin := flag.String("coro", "build/coro", "the coro command")
	goBin := flag.String("gocrawl", "build/gocrawl", "the Go crawler")
	wgetBin := flag.String("wget", "wget", "wget; \"\" to leave it out")
	cpu := flag.String("cpu", "", "run the clients with taskset -c `CPUS`")
	loops := flag.Int("loops", 0, "also run coro crawl -loops `N` (0: not)")
	flag.Parse()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	site := crawlsite.New(crawlsite.Config{Seed: 1}, port)
	var pages atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/robots.txt" {
			pages.Add(1)
		}
		site.ServeHTTP(w, r)
	})
	go http.Serve(ln, h)
	dir, err := os.MkdirTemp("", "crawlbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte(site.HostsFile("127.0.0.1")), 0o644); err != nil {
		fail(err)
	}
	seed := site.Seed(port)
	want := len(site.Expected(seed))
	c := fmt.Sprint(*workers)
	ph := fmt.Sprint(*perHost)
	clients := []client{
		{"coro", []string{*coroBin, "crawl", "-q", "-c", c, "-per-host", ph, "-scope", "domain",
			"-domain", crawlsite.Domain, "-hosts", hosts, "-o", "/dev/null", seed}},
		{"go", []string{*goBin, "-c", c, "-per-host", ph, "-domain", crawlsite.Domain, "-hosts", hosts, seed}},
	}
	if *loops > 0 {
		clients = append(clients, client{fmt.Sprintf("coro-L%d", *loops), []string{*coroBin, "crawl", "-q",
			"-c", c, "-loops", fmt.Sprint(*loops), "-per-host", ph, "-scope", "domain",
			"-domain", crawlsite.Domain, "-hosts", hosts, "-o", "/dev/null", seed}})
	}
	if *wgetBin != "" {
		// wget resolves with the system's resolver, which cannot be given
		// a hosts file: it asks the site through it as an HTTP proxy
		// (absolute URIs on one keep-alive connection), which the server
		// answers alike. wget fetches one page at a time.
		clients = append(clients, client{"wget", []string{*wgetBin, "-r", "-l", "inf", "-H",
			"-D", crawlsite.Domain, "-nv", "-q", "--delete-after", "-P", filepath.Join(dir, "wget"),
			"-e", "robots=on", "-e", "use_proxy=yes",
			"-e", fmt.Sprintf("http_proxy=http://127.0.0.1:%d/", port), seed}})
	}
	res := map[string][]result{}
	fmt.Printf("site: %d hosts, %d pages, %d URLs a polite crawl fetches; -c %d -per-host %d\n",
		24, site.Pages(), want, *workers, *perHost)
	for i := 0; i < *count; i++ {
		for _, cl := range clients {
			args := cl.args
			if *cpu != "" {
				args = append([]string{"taskset", "-c", *cpu}, args...)
			}
			pages.Store(0)
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Stdout = nil
			var stderr strings.Builder
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			wall := time.Since(start)
			// wget exits 8 when some page was an error (the 404s).
			if err != nil && !(cl.name == "wget" && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 8) {
				fail(fmt.Errorf("%s: %v\n%s", cl.name, err, stderr.String()))
			}
			r := result{pages.Load(), wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
			res[cl.name] = append(res[cl.name], r)
			fmt.Printf("run %d %-5s %6d pages %8.3f s %8.0f pages/s %7.1f us CPU/page\n", i+1, cl.name,
				r.pages, wall.Seconds(), float64(r.pages)/wall.Seconds(), float64(r.cpu.Microseconds())/float64(r.pages))
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nmedians of %d runs (load average %s):\n", *count, strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("%-6s %7s %10s %14s %14s %16s\n", "client", "pages", "pages/s", "us CPU/page", "pages/CPU-s", "coro / client (pages/CPU-s)")
	type med struct{ pps, cpuPer float64 }
	meds := map[string]med{}
	for _, cl := range clients {
		var pps, cpp []float64
		var pg int64
		for _, r := range res[cl.name] {
			pps = append(pps, float64(r.pages)/r.wall.Seconds())
			cpp = append(cpp, float64(r.cpu.Microseconds())/float64(r.pages))
			pg = r.pages
		}
		meds[cl.name] = med{median(pps), median(cpp)}
		m := meds[cl.name]
		fmt.Printf("%-6s %7d %10.0f %14.1f %14.0f %16.2fx\n", cl.name, pg, m.pps, m.cpuPer, 1e6/m.cpuPer,
			m.cpuPer/meds["coro"].cpuPer)
	}
}

func median(v []float64) float64 {
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crawlbench:", err)
	os.Exit(1)
}
