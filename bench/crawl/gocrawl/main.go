// Command gocrawl is the Go peer of "coro crawl" in the crawler benchmark
// (scripts/bench-crawl.sh): the same work done the way a Go programmer
// would, with net/http (keep-alive, at most -per-host connections to a
// host) and golang.org/x/net/html's tokenizer, -c worker goroutines, and
// the same rules: robots.txt first on each host ("*" group, longest match,
// Allow on a tie, 4xx all allowed, 5xx nothing), links of a/area/link/
// frame/iframe and base href, fragments dropped, each URL once, hosts
// within -domain, a redirect's target queued as a link, a JSON line per
// page on stdout. Host names come from -hosts (a hosts file), as coro's
// resolver gets them.
//
// It is a module of its own (bench/crawl/gocrawl/go.mod), so that
// golang.org/x/net is no requirement of the coro module.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/html"
)

type item struct {
	u     *url.URL
	depth int
}

type rule struct {
	allow bool
	pfx   string
}

type hostState struct {
	once  sync.Once
	rules []rule
	all   int // 1 allow all, -1 none, 0 rules
}

type crawler struct {
	client  *http.Client
	domain  string
	maxSize int64

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []item
	active int
	seen   map[string]bool
	hosts  map[string]*hostState
	out    *bufio.Writer
	pages  int
}

func main() {
	workers := flag.Int("c", 16, "worker goroutines")
	perHost := flag.Int("per-host", 2, "connections per host")
	domain := flag.String("domain", "", "crawl hosts within this domain")
	hostsFile := flag.String("hosts", "", "hosts file")
	flag.Parse()
	if flag.NArg() != 1 || *domain == "" {
		fmt.Fprintln(os.Stderr, "usage: gocrawl -domain D [-c N] [-per-host N] [-hosts FILE] URL")
		os.Exit(2)
	}
	addrs := map[string]string{}
	if *hostsFile != "" {
		b, err := os.ReadFile(*hostsFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			for _, n := range f[min(1, len(f)):] {
				addrs[strings.ToLower(n)] = f[0]
			}
		}
	}
	var d net.Dialer
	tr := &http.Transport{
		MaxConnsPerHost:     *perHost,
		MaxIdleConnsPerHost: *perHost,
		MaxIdleConns:        1000,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			h, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if a, ok := addrs[strings.ToLower(h)]; ok {
				h = a
			}
			return d.DialContext(ctx, network, net.JoinHostPort(h, p))
		},
	}
	c := &crawler{
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		domain:  strings.ToLower(*domain),
		maxSize: 8 << 20,
		seen:    map[string]bool{},
		hosts:   map[string]*hostState{},
		out:     bufio.NewWriterSize(os.Stdout, 64<<10),
	}
	c.cond = sync.NewCond(&c.mu)
	seed, err := url.Parse(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c.add(seed, 0)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work()
		}()
	}
	wg.Wait()
	c.out.Flush()
	fmt.Fprintf(os.Stderr, "%d pages\n", c.pages)
}

// normalize drops the fragment, lower-cases scheme and host and drops a
// default port (net/url resolved the dot segments already).
func normalize(u *url.URL) string {
	u.Fragment = ""
	u.RawFragment = ""
	u.Scheme = strings.ToLower(u.Scheme)
	h := strings.ToLower(u.Host)
	h = strings.TrimSuffix(h, ":80")
	u.Host = h
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

func (c *crawler) inScope(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == c.domain || strings.HasSuffix(h, "."+c.domain)
}

// add queues u if it is new; called with c.mu held or before the workers.
func (c *crawler) add(u *url.URL, depth int) {
	if !c.inScope(u) {
		return
	}
	k := normalize(u)
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	c.queue = append(c.queue, item{u, depth})
	c.cond.Signal()
}

func (c *crawler) work() {
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && c.active > 0 {
			c.cond.Wait()
		}
		if len(c.queue) == 0 {
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		it := c.queue[0]
		c.queue = c.queue[1:]
		c.active++
		hs := c.hosts[it.u.Host]
		if hs == nil {
			hs = &hostState{}
			c.hosts[it.u.Host] = hs
		}
		c.mu.Unlock()
		hs.once.Do(func() { c.robots(it.u, hs) })
		var links []*url.URL
		if hs.allowed(it.u.EscapedPath()) {
			links = c.fetch(it)
		}
		c.mu.Lock()
		for _, l := range links {
			c.add(l, it.depth+1)
		}
		c.active--
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

func (c *crawler) robots(u *url.URL, hs *hostState) {
	r, err := c.client.Get(u.Scheme + "://" + u.Host + "/robots.txt")
	if err != nil {
		hs.all = -1
		return
	}
	defer r.Body.Close()
	switch {
	case r.StatusCode >= 500:
		hs.all = -1
		return
	case r.StatusCode >= 400:
		hs.all = 1
		return
	}
	sc := bufio.NewScanner(io.LimitReader(r.Body, 512<<10))
	star, inGroup, rules := false, false, false
	for sc.Scan() {
		l := sc.Text()
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "user-agent":
			if !inGroup || rules {
				star, rules = false, false
			}
			inGroup = true
			if v == "*" {
				star = true
			}
		case "allow", "disallow":
			rules = true
			if star && v != "" {
				hs.rules = append(hs.rules, rule{k == "allow", v})
			}
		}
	}
}

func (hs *hostState) allowed(path string) bool {
	if hs.all != 0 {
		return hs.all > 0
	}
	best, allow := -1, true
	for _, r := range hs.rules {
		if strings.HasPrefix(path, r.pfx) && (len(r.pfx) > best || len(r.pfx) == best && r.allow) {
			best, allow = len(r.pfx), r.allow
		}
	}
	return allow
}

type line struct {
	URL    string  `json:"url"`
	Status int     `json:"status"`
	Depth  int     `json:"depth"`
	Bytes  int64   `json:"bytes"`
	Type   string  `json:"type"`
	Links  int     `json:"links"`
	Ms     float64 `json:"ms"`
	Error  string  `json:"error,omitempty"`
}

func (c *crawler) fetch(it item) []*url.URL {
	start := time.Now()
	u := it.u
	l := line{URL: u.String(), Depth: it.depth}
	var links []*url.URL
	r, err := c.client.Get(u.String())
	if err != nil {
		l.Error = err.Error()
	} else {
		l.Status = r.StatusCode
		ct := r.Header.Get("Content-Type")
		l.Type, _, _ = strings.Cut(ct, ";")
		switch {
		case r.StatusCode >= 300 && r.StatusCode < 400:
			if t, err := u.Parse(r.Header.Get("Location")); err == nil {
				links = append(links, t)
			}
			n, _ := io.Copy(io.Discard, r.Body)
			l.Bytes = n
		case r.StatusCode/100 == 2 && l.Type == "text/html":
			cr := &countReader{r: io.LimitReader(r.Body, c.maxSize)}
			links = extract(cr, u)
			n, _ := io.Copy(io.Discard, r.Body)
			l.Bytes = cr.n + n
		default:
			n, _ := io.Copy(io.Discard, r.Body)
			l.Bytes = n
		}
		r.Body.Close()
	}
	l.Links = len(links)
	l.Ms = float64(time.Since(start).Microseconds()) / 1000
	b, _ := json.Marshal(l)
	c.mu.Lock()
	c.out.Write(b)
	c.out.WriteByte('\n')
	c.pages++
	c.mu.Unlock()
	return links
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// extract returns the links of an HTML page resolved against its base.
func extract(r io.Reader, page *url.URL) []*url.URL {
	var raw []string
	base := page
	z := html.NewTokenizer(r)
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		var want string
		switch string(name) {
		case "a", "area", "link", "base":
			want = "href"
		case "frame", "iframe":
			want = "src"
		default:
			continue
		}
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			if string(k) == want {
				if string(name) == "base" {
					if b, err := page.Parse(strings.TrimSpace(string(v))); err == nil && base == page {
						base = b
					}
				} else {
					raw = append(raw, strings.TrimSpace(string(v)))
				}
				break
			}
		}
	}
	out := make([]*url.URL, 0, len(raw))
	for _, s := range raw {
		if u, err := base.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			out = append(out, u)
		}
	}
	return out
}
