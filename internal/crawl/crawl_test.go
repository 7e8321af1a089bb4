package crawl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/crawl/crawlsite"
	"github.com/ccoro/coro/internal/dnstest"
	"github.com/ccoro/coro/internal/fault"
)

func TestMain(m *testing.M) { dnstest.Main(m) }

// listen opens a loopback listener for serve; its port is known before
// the handler is made, so the handler reads only what was set before the
// server started (the crawl's C side gives the race detector no
// happens-before edge to later writes).
func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// serve serves h on ln until the test ends.
func serve(t *testing.T, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// A line of the crawl's output.
type line struct {
	URL      string  `json:"url"`
	FinalURL string  `json:"final_url"`
	Status   int     `json:"status"`
	Depth    int     `json:"depth"`
	Bytes    int64   `json:"bytes"`
	Type     string  `json:"type"`
	Links    int     `json:"links"`
	Ms       float64 `json:"ms"`
	Error    string  `json:"error"`
}

func readLines(t *testing.T, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCrawlSite crawls the generated site (10,080 pages over 24 host
// names, all 127.0.0.1 through a hosts file given to the engine's
// resolver) and checks, on the server's side, that the crawl fetched
// exactly the reachable pages robots.txt allows, each once; robots.txt
// first on each host and once; never a disallowed path; one request at a
// time per host, each starting at least the delay after the previous one
// ended (server clock); and that the output has a line per fetch.
func TestCrawlSite(t *testing.T) {
	// Under qemu (the arm64 stage), where every instruction of the server
	// and the crawl is emulated, a quarter of the site: the full one is
	// crawled natively and under the race detector.
	pages, least := 420, 10000
	if os.Getenv("CORO_TEST_EXEC") != "" {
		pages, least = 100, 2000
	}
	crawlSite(t, pages, least, 1)
}

// TestCrawlSiteLoops: the same checks with the hosts shared out among 3
// loops on threads of their own (links to another loop's hosts handed
// off), on a smaller site (2,400 pages): every page still fetched
// exactly once, robots.txt once per host and first, politeness kept.
func TestCrawlSiteLoops(t *testing.T) {
	if os.Getenv("CORO_TEST_EXEC") != "" {
		// qemu-user runs the threads with the host's memory order:
		// nothing that the native and race runs do not check.
		t.Skip("under qemu: TestCrawlSite runs the crawl's C there")
	}
	crawlSite(t, 100, 2000, 3)
}

func crawlSite(t *testing.T, pages, least, loops int) {
	ln, port := listen(t)
	site := crawlsite.New(crawlsite.Config{Pages: pages, Seed: 1, CrawlDelay: "0.002"}, port)
	serve(t, ln, site)
	hosts := writeFile(t, "hosts", site.HostsFile("127.0.0.1"))
	// No DNS: every name is in the hosts file; the resolv.conf names a
	// server nothing listens on, so a stray query would fail, not leak.
	resolv := writeFile(t, "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	const delay = time.Millisecond
	c, err := New(Config{
		Seeds: []string{site.Seed(port)}, Workers: 32, Loops: loops, PerHost: 1, Delay: delay,
		Scope: ScopeDomain, Domain: crawlsite.Domain, Hosts: hosts, ResolvConf: resolv,
		Timeout: 30 * time.Second, Out: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Run()
	out.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)

	want := site.Expected(site.Seed(port))
	if len(want) < least {
		t.Fatalf("the site has only %d reachable pages", len(want))
	}
	reqs := site.Requests()
	got := map[string]int{}
	byHost := map[string][]crawlsite.Request{}
	for _, r := range reqs {
		byHost[r.Host] = append(byHost[r.Host], r)
		if r.Path == "/robots.txt" {
			continue
		}
		if site.Disallowed(r.Host, r.Path) {
			t.Errorf("disallowed path requested: %s %s", r.Host, r.Path)
		}
		got[fmt.Sprintf("http://%s:%d%s", r.Host, port, r.Path)]++
	}
	for _, u := range want {
		if got[u] != 1 {
			t.Errorf("%s fetched %d times, want 1", u, got[u])
		}
		delete(got, u)
	}
	for u, n := range got {
		t.Errorf("%s fetched %d times, want 0 (unreachable or not allowed)", u, n)
	}
	for name, rs := range byHost {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
		if rs[0].Path != "/robots.txt" {
			t.Errorf("%s: first request %s, want /robots.txt", name, rs[0].Path)
		}
		robots := 0
		for i, r := range rs {
			if r.Path == "/robots.txt" {
				robots++
			}
			if i > 0 {
				gap := r.Start - rs[i-1].End
				min := delay
				if name == crawlsite.HostName(3) {
					min = 2 * time.Millisecond // its Crawl-delay
				}
				if gap < min {
					t.Errorf("%s: %s started %v after %s ended (overlap or gap under %v)",
						name, r.Path, gap, rs[i-1].Path, min)
				}
			}
		}
		if robots != 1 {
			t.Errorf("%s: robots.txt fetched %d times", name, robots)
		}
	}
	if len(byHost) != 24 {
		t.Errorf("%d hosts asked, want 24", len(byHost))
	}

	lines := readLines(t, outPath)
	if len(lines) != len(want) {
		t.Errorf("%d output lines, want %d", len(lines), len(want))
	}
	// final_url is the URL fetched (each of want once); url the link
	// followed, which for a redirect's target is where its chain began.
	statuses := map[int]int{}
	finals := map[string]int{}
	redirected := 0
	for _, l := range lines {
		statuses[l.Status]++
		finals[l.FinalURL]++
		if l.Error != "" || l.Status != site.Status(l.FinalURL) {
			t.Errorf("line %+v: want status %d, no error", l, site.Status(l.FinalURL))
		}
		if l.URL != l.FinalURL {
			redirected++
			if s := site.Status(l.URL); s < 300 || s > 399 {
				t.Errorf("line %+v: url is not a redirect (status %d)", l, s)
			}
		}
	}
	for _, u := range want {
		if finals[u] != 1 {
			t.Errorf("%s: %d lines with it as final_url, want 1", u, finals[u])
		}
	}
	// (How many targets are reached first through their redirect depends
	// on the order of the fetches; TestCrawlLimits has one that must be.)
	t.Logf("%d lines reached through redirects", redirected)
	if statuses[301] == 0 || statuses[302] == 0 || statuses[404] == 0 || statuses[200] == 0 {
		t.Errorf("statuses %v: want 200s, 301s, 302s and 404s", statuses)
	}
	if st.Pages != uint64(len(want)) || st.Errors != 0 || st.Robots != 24 {
		t.Errorf("stats %+v: want %d pages, 0 errors, 24 robots", st, len(want))
	}
	if st.Filtered == 0 || st.Disallowed == 0 {
		t.Errorf("stats %+v: want some links filtered (outside host) and disallowed", st)
	}
}

// TestCrawlZone: with the zone scope, a link is followed only to a host
// whose DNS zone (the SOA found walking up its labels, asked of the test's
// NSD) is the seed's: a.coro.test and x.wild.coro.test are in the zone
// coro.test, host.sub is in the zone sub and example.org in none.
func TestCrawlZone(t *testing.T) {
	srv := dnstest.Get(t)
	pages := map[string]string{
		"a.coro.test":      `<a href="http://x.wild.coro.test:PORT/">w</a> <a href="http://host.sub:PORT/">s</a> <a href="http://example.org:PORT/">o</a>`,
		"x.wild.coro.test": `<a href="http://a.coro.test:PORT/2">back</a>`,
		"host.sub":         `never`,
		"example.org":      `never`,
	}
	ln, port := listen(t)
	var mu sync.Mutex
	var got []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Split(r.Host, ":")[0]
		mu.Lock()
		got = append(got, name+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, strings.ReplaceAll(pages[name], "PORT", fmt.Sprint(port)))
	})
	serve(t, ln, h)
	hosts := writeFile(t, "hosts", "127.0.0.1 a.coro.test x.wild.coro.test host.sub example.org\n")
	c, err := New(Config{
		Seeds: []string{fmt.Sprintf("http://a.coro.test:%d/", port)}, Scope: ScopeZone,
		Hosts: hosts, ResolvConf: srv.ResolvConf(t), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(got)
	want := []string{"a.coro.test/", "a.coro.test/2", "a.coro.test/robots.txt",
		"x.wild.coro.test/", "x.wild.coro.test/robots.txt"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests %q, want %q", got, want)
	}
	if st.Filtered != 2 {
		t.Errorf("filtered %d, want 2 (host.sub, example.org)", st.Filtered)
	}
}

// TestCrawlBadConfig: bad input gets a clear error and no crawl.
func TestCrawlBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no seed"},
		{Config{Seeds: []string{"ftp://x/"}}, "not an http"},
		{Config{Seeds: []string{"http://x/"}, Include: "("}, "include ("},
		{Config{Seeds: []string{"http://x/"}, Scope: ScopeDomain}, "domain scope without a domain"},
	} {
		c, err := New(tc.cfg)
		if err == nil {
			c.Close()
			t.Errorf("%+v: no error", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := ParseScope("galaxy"); err == nil {
		t.Error("ParseScope(galaxy): no error")
	}
}

// TestCrawlStop: Stop from another goroutine ends a crawl of a server that
// never answers, promptly and with the counters.
func TestCrawlStop(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	})
	ln, port := listen(t)
	serve(t, ln, h)
	defer close(release)
	c, err := New(Config{Seeds: []string{fmt.Sprintf("http://127.0.0.1:%d/", port)}, IgnoreRobots: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		<-started
		c.Stop()
	}()
	st, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Stopped || st.Pages != 0 {
		t.Errorf("stats %+v: want stopped, no pages", st)
	}
}

// TestCrawlLimits: a page over MaxBytes is kept up to the limit (the
// links after it are not seen, the line says "truncated" and counts every
// byte), links of a page that is not HTML are not followed, MaxDepth
// bounds the chain, a server answering garbage gives an error line with
// the client's reason, IgnoreRobots asks for no robots.txt, and the
// lines of a chain of redirects (/moved -> /moved2 -> /target, reached
// only so) have the chain's start as url and the URL fetched as
// final_url.
func TestCrawlLimits(t *testing.T) {
	const maxBytes = 64 << 10
	big := "<html>" + strings.Repeat("<p>filler</p>\n", 100<<10/14) + `<a href="/after-limit">x</a>`
	var mu sync.Mutex
	var asked []string
	// A server that answers every request with a malformed status line.
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	garbage := gl.Addr().String()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		switch p := r.URL.Path; {
		case p == "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<a href="/big">b</a><a href="/text">t</a><a href="/deep/1">d</a><a href="http://%s/">g</a><a href="/moved">m</a>`, garbage)
		case p == "/moved":
			http.Redirect(w, r, "/moved2", http.StatusMovedPermanently)
		case p == "/moved2":
			http.Redirect(w, r, "/target", http.StatusFound)
		case p == "/target":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `only through /moved`)
		case p == "/big":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, big)
		case p == "/text":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, `<a href="/from-text">no</a>`)
		case strings.HasPrefix(p, "/deep/"):
			var n int
			fmt.Sscanf(p, "/deep/%d", &n)
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<a href="/deep/%d">next</a>`, n+1)
		default:
			http.NotFound(w, r)
		}
	})
	ln, port := listen(t)
	serve(t, ln, h)
	go func() {
		for {
			c, err := gl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				c.Write([]byte("HTTP/1.1 abc\r\n\r\n"))
			}()
		}
	}()
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{
		Seeds: []string{fmt.Sprintf("http://127.0.0.1:%d/", port)}, Scope: ScopeAny,
		IgnoreRobots: true, MaxBytes: maxBytes, MaxDepth: 3, Out: out, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Run()
	out.Close()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	sort.Strings(asked)
	got := strings.Join(asked, " ")
	mu.Unlock()
	if want := "/ /big /deep/1 /deep/2 /deep/3 /moved /moved2 /target /text"; got != want {
		t.Errorf("requests %q, want %q", got, want)
	}
	lines := readLines(t, outPath)
	var sawBig, sawGarbage, sawTarget bool
	for _, l := range lines {
		switch {
		case strings.HasSuffix(l.FinalURL, "/moved2"), strings.HasSuffix(l.FinalURL, "/target"):
			// A redirect's target: url is where the chain began,
			// final_url the URL fetched.
			sawTarget = sawTarget || strings.HasSuffix(l.FinalURL, "/target")
			if !strings.HasSuffix(l.URL, "/moved") {
				t.Errorf("line %+v: want url .../moved (the chain's start)", l)
			}
		case l.URL != l.FinalURL:
			t.Errorf("line %+v: url and final_url differ", l)
		case strings.HasSuffix(l.URL, "/big"):
			sawBig = true
			if l.Error != "truncated" || l.Bytes != int64(len(big)) || l.Status != 200 {
				t.Errorf("big page: %+v, want truncated, %d bytes", l, len(big))
			}
		case strings.Contains(l.URL, garbage):
			sawGarbage = true
			if l.Status != 0 || l.Error == "" {
				t.Errorf("garbage server: %+v, want status 0 and an error", l)
			}
			t.Logf("garbage server: %s", l.Error)
		}
	}
	if !sawBig || !sawGarbage || !sawTarget || len(lines) != 10 {
		t.Errorf("%d lines (big %v, garbage %v, redirect target %v), want 10: %+v",
			len(lines), sawBig, sawGarbage, sawTarget, lines)
	}
	if st.Robots != 0 || st.Errors != 1 {
		t.Errorf("stats %+v: want no robots.txt, 1 error", st)
	}
}

// TestCrawlFaults sweeps the engine's fault points (csrc/fault.c: every
// allocation of the crawler's C, of httpc and of the engine, and the
// socket calls and waits) through a small crawl on 2 loops: 3 hosts (so
// that links most likely cross loops) with robots.txt, a disallowed path
// and a redirect. The nth point fails for n = 1, 2, ...: each crawl must end
// (no hang, no crash) with the whole output or with an error, pages with
// an error or fewer pages; after each, the fds are back. Then EINTR at
// each blocking call, which the engine retries: the whole crawl, each
// time.
func TestCrawlFaults(t *testing.T) {
	if os.Getenv("CORO_TEST_EXEC") != "" {
		t.Skip("under qemu: the native and race runs sweep the same C")
	}
	ln, port := listen(t)
	names := []string{"a.test", "b.test", "c.test"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.Split(r.Host, ":")[0]
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nDisallow: /private\n")
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<a href="/r">r</a><a href="/private">p</a>`)
			for _, n := range names {
				if n != host {
					fmt.Fprintf(w, `<a href="http://%s:%d/">%s</a>`, n, port, n)
				}
			}
		case "/r":
			http.Redirect(w, r, "/2", http.StatusMovedPermanently)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `end`)
		}
	})
	serve(t, ln, h)
	hosts := writeFile(t, "hosts", "127.0.0.1 "+strings.Join(names, " ")+"\n")
	resolv := writeFile(t, "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
	dir := t.TempDir()
	const want = 9 // /, /r and /2 on each host
	// crawl reports whether the crawl was hurt: an error, or not every
	// page fetched.
	crawl := func(n int64) (hurt bool, why string) {
		out, err := os.Create(filepath.Join(dir, fmt.Sprint("out", n)))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		c, err := New(Config{
			Seeds: []string{fmt.Sprintf("http://a.test:%d/", port)}, Workers: 2, Loops: 2,
			Scope: ScopeDomain, Domain: "test", Hosts: hosts, ResolvConf: resolv,
			Timeout: 10 * time.Second, Out: out,
		})
		if err != nil {
			return true, err.Error()
		}
		defer c.Close()
		st, err := c.Run()
		if err != nil {
			return true, err.Error()
		}
		lines := readLines(t, out.Name())
		if st.Pages != want || st.Errors != 0 || len(lines) != want {
			return true, fmt.Sprintf("%d pages, %d errors, %d lines", st.Pages, st.Errors, len(lines))
		}
		return false, ""
	}
	if hurt, why := crawl(0); hurt {
		t.Fatalf("without faults: %s", why)
	}
	fds := fault.OpenFDs(t)
	settle := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for fault.OpenFDs(t) > fds {
			if time.Now().After(deadline) {
				t.Fatalf("after fault %d: %d fds, want %d", n, fault.OpenFDs(t), fds)
			}
			time.Sleep(time.Millisecond)
		}
	}
	fault.Sweep(t, "crawl", fault.All, fault.Natural, func(n int64) bool {
		hurt, _ := crawl(n)
		return hurt
	}, settle)
	fault.Sweep(t, "crawl-eintr", fault.Blocking, syscall.EINTR, func(n int64) bool {
		hurt, why := crawl(n)
		if hurt {
			t.Errorf("EINTR %d: %s", n, why)
		}
		return hurt
	}, settle)
}
