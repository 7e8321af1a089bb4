// Package crawlsite generates the web of test sites that the crawler's
// tests and its benchmark crawl: Hosts host names, each with Pages pages
// linking to pages of their own host and of others, robots.txt files that
// disallow parts, redirect chains, broken links, cycles, links written in
// the many ways HTML allows (relative, dot segments, fragments, entities,
// upper-case host names) and links to hosts outside the site. It serves
// them from one net/http handler (the Host header picks the site), records
// every request with the server's clock, and computes from the generator
// alone, not from any crawler, which URLs a polite crawler of the site
// fetches.
package crawlsite

import (
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Domain is the suffix of every host of the site.
const Domain = "site.test"

// Outside is a host outside the site that pages link to (never fetched
// by a crawl confined to Domain; it has no address).
const Outside = "elsewhere.example"

// Config shapes the site.
type Config struct {
	Hosts int   // host names h00.site.test ...; default 24
	Pages int   // pages per host; default 420 (10,080 in all)
	Seed  int64 // the generator's random seed
	// CrawlDelay: the robots.txt of host 3 says Crawl-delay: this many
	// seconds ("0.002"); "" for none.
	CrawlDelay string
}

// A Site is a generated site; its methods are safe for concurrent use.
type Site struct {
	cfg   Config
	hosts []*host
	mu    sync.Mutex
	reqs  []Request
	start time.Time
}

// A Request is one request the server answered.
type Request struct {
	Host, Path string
	Start, End time.Duration // since the site was made, by the server's clock
}

// A page's or path's response.
type resp struct {
	status int
	body   string
	ctype  string
	loc    string   // redirects
	links  []string // the absolute URLs the body links to (for Expected)
}

type host struct {
	name        string
	robots      int    // status of /robots.txt: 200, 404, 500
	robotsBody  string // for 200
	disallowPfx []string
	paths       map[string]*resp
}

// HostName returns the name of host i.
func HostName(i int) string { return fmt.Sprintf("h%02d.%s", i, Domain) }

// New generates a site; port is the port its URLs name (the server's).
func New(cfg Config, port int) *Site {
	if cfg.Hosts <= 0 {
		cfg.Hosts = 24
	}
	if cfg.Pages <= 0 {
		cfg.Pages = 420
	}
	s := &Site{cfg: cfg, start: time.Now()}
	rnd := rand.New(rand.NewSource(cfg.Seed))
	url := func(h int, path string) string {
		return fmt.Sprintf("http://%s:%d%s", HostName(h), port, path)
	}
	for h := 0; h < cfg.Hosts; h++ {
		ho := &host{name: HostName(h), robots: 200, paths: map[string]*resp{}}
		switch {
		case h == 1:
			ho.robots = 404 // all allowed
		case h == 2:
			ho.robots = 500 // nothing allowed
		case h%3 == 0:
			ho.disallowPfx = []string{"/private/", "/p/1"} // /p/1, /p/10..19, /p/100..199
		default:
			ho.disallowPfx = []string{"/private/"}
		}
		var rb strings.Builder
		rb.WriteString("# generated\nUser-agent: otherbot\nDisallow: /\n\nUser-agent: *\n")
		for _, p := range ho.disallowPfx {
			fmt.Fprintf(&rb, "Disallow: %s\n", p)
		}
		rb.WriteString("Allow: /private/open\n")
		if h == 3 && cfg.CrawlDelay != "" {
			fmt.Fprintf(&rb, "Crawl-delay: %s\n", cfg.CrawlDelay)
		}
		ho.robotsBody = rb.String()
		if len(ho.disallowPfx) > 0 {
			// Allow /private/open (longer than /private/) is honoured.
			ho.disallowPfx = append(ho.disallowPfx, "!/private/open")
		}
		s.hosts = append(s.hosts, ho)
	}
	for h := 0; h < cfg.Hosts; h++ {
		ho := s.hosts[h]
		for i := 0; i < cfg.Pages; i++ {
			var body strings.Builder
			var links []string
			add := func(written, abs string) {
				fmt.Fprintf(&body, "<a href=\"%s\">l</a>\n", written)
				if abs != "" {
					links = append(links, abs)
				}
			}
			body.WriteString("<!DOCTYPE html><html><head><title>p</title></head><body>\n")
			// The chain: every page reachable from /p/0 of each host
			// unless robots refuses part of it.
			add(fmt.Sprintf("/p/%d", (i+1)%cfg.Pages), url(h, fmt.Sprintf("/p/%d", (i+1)%cfg.Pages)))
			// Random pages of the host, written relative or with dots.
			for k := 0; k < 3; k++ {
				j := rnd.Intn(cfg.Pages)
				switch k {
				case 0:
					add(strconv.Itoa(j), url(h, fmt.Sprintf("/p/%d", j)))
				case 1:
					add(fmt.Sprintf("../p/./%d#frag", j), url(h, fmt.Sprintf("/p/%d", j)))
				default:
					add(fmt.Sprintf("http://%s:%d/p/%d", strings.ToUpper(HostName(h)), port, j),
						url(h, fmt.Sprintf("/p/%d", j)))
				}
			}
			// Another host: page i of the next one, and a random one.
			add(url((h+1)%cfg.Hosts, fmt.Sprintf("/p/%d", i)), url((h+1)%cfg.Hosts, fmt.Sprintf("/p/%d", i)))
			other := url(rnd.Intn(cfg.Hosts), fmt.Sprintf("/p/%d", rnd.Intn(cfg.Pages)))
			add(other, other)
			if i%10 == 0 {
				add(fmt.Sprintf("/private/%d", i), url(h, fmt.Sprintf("/private/%d", i)))
				add("/private/open", url(h, "/private/open"))
			}
			if i%25 == 0 {
				add(fmt.Sprintf("/missing/%d", i), url(h, fmt.Sprintf("/missing/%d", i)))
				add(fmt.Sprintf("/r/%d", i), url(h, fmt.Sprintf("/r/%d", i)))
				add(fmt.Sprintf("/rr/%d", i), url(h, fmt.Sprintf("/rr/%d", i)))
				add(fmt.Sprintf("/q?a=1&amp;b=%d", i), url(h, fmt.Sprintf("/q?a=1&b=%d", i)))
			}
			add("mailto:someone@"+Domain, "")
			add("javascript:void(0)", "")
			add("http://"+Outside+"/", "")
			body.WriteString("</body></html>\n")
			ho.paths[fmt.Sprintf("/p/%d", i)] = &resp{status: 200, ctype: "text/html; charset=utf-8", body: body.String(), links: links}
			if i%25 == 0 {
				ho.paths[fmt.Sprintf("/r/%d", i)] = &resp{status: 301, loc: fmt.Sprintf("/p/%d", (i+7)%cfg.Pages),
					links: []string{url(h, fmt.Sprintf("/p/%d", (i+7)%cfg.Pages))}}
				ho.paths[fmt.Sprintf("/rr/%d", i)] = &resp{status: 302, loc: url(h, fmt.Sprintf("/r/%d", i)),
					links: []string{url(h, fmt.Sprintf("/r/%d", i))}}
				ho.paths[fmt.Sprintf("/q?a=1&b=%d", i)] = &resp{status: 200, ctype: "text/plain", body: "query"}
			}
			if i%10 == 0 {
				ho.paths[fmt.Sprintf("/private/%d", i)] = &resp{status: 200, ctype: "text/html", body: "secret"}
			}
		}
		ho.paths["/private/open"] = &resp{status: 200, ctype: "text/html", body: "<a href=/p/0>home</a>",
			links: []string{url(h, "/p/0")}}
	}
	return s
}

// allowed applies host h's robots rules to path as the generator wrote
// them (prefixes, one longer Allow).
func (ho *host) allowed(path string) bool {
	switch ho.robots {
	case 404:
		return true
	case 500:
		return false
	}
	best, allow := -1, true
	for _, p := range ho.disallowPfx {
		a := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if strings.HasPrefix(path, p) && len(p) > best {
			best, allow = len(p), a
		}
	}
	return allow
}

// Expected returns the URLs a crawl from seed (a URL of the site) fetches
// when it keeps to Domain and obeys robots.txt: each reachable URL whose
// path its host's robots.txt allows, broken links and redirects included
// (a redirect's target is reached as if linked).
func (s *Site) Expected(seed string) []string {
	seen := map[string]bool{seed: true}
	queue := []string{seed}
	var out []string
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		ho, path := s.split(u)
		if ho == nil || !ho.allowed(path) {
			continue
		}
		out = append(out, u)
		r := ho.paths[path]
		if r == nil {
			continue
		}
		for _, l := range r.links {
			if !seen[l] {
				seen[l] = true
				queue = append(queue, l)
			}
		}
	}
	sort.Strings(out)
	return out
}

// split returns the host and path of a URL of the site.
func (s *Site) split(u string) (*host, string) {
	rest := strings.TrimPrefix(u, "http://")
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return nil, ""
	}
	name := rest[:slash]
	if c := strings.IndexByte(name, ':'); c >= 0 {
		name = name[:c]
	}
	for _, h := range s.hosts {
		if h.name == name {
			return h, rest[slash:]
		}
	}
	return nil, ""
}

// Disallowed reports whether path of the host named name is refused by its
// robots.txt.
func (s *Site) Disallowed(name, path string) bool {
	for _, h := range s.hosts {
		if h.name == name {
			return !h.allowed(path)
		}
	}
	return false
}

// Robots returns host i's robots.txt status.
func (s *Site) Robots(i int) int { return s.hosts[i].robots }

// ServeHTTP answers as the site, recording the request.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Since(s.start)
	name := r.Host
	if c := strings.IndexByte(name, ':'); c >= 0 {
		name = name[:c]
	}
	path := r.URL.RequestURI()
	defer func() {
		end := time.Since(s.start)
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Host: name, Path: path, Start: start, End: end})
		s.mu.Unlock()
	}()
	var ho *host
	for _, h := range s.hosts {
		if h.name == name {
			ho = h
		}
	}
	if ho == nil {
		http.Error(w, "no such site", http.StatusNotFound)
		return
	}
	if path == "/robots.txt" {
		if ho.robots != 200 {
			http.Error(w, "robots", ho.robots)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(ho.robotsBody))
		return
	}
	rp := ho.paths[path]
	if rp == nil {
		http.NotFound(w, r)
		return
	}
	if rp.loc != "" {
		w.Header().Set("Location", rp.loc)
		w.WriteHeader(rp.status)
		return
	}
	w.Header().Set("Content-Type", rp.ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(rp.body)))
	w.WriteHeader(rp.status)
	w.Write([]byte(rp.body))
}

// Requests returns the requests answered so far, in the order they ended.
func (s *Site) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// HostsFile returns the lines of a hosts file mapping every host name of
// the site to addr.
func (s *Site) HostsFile(addr string) string {
	var b strings.Builder
	for _, h := range s.hosts {
		fmt.Fprintf(&b, "%s %s\n", addr, h.name)
	}
	return b.String()
}

// Seed returns the URL of host 0's first page.
func (s *Site) Seed(port int) string {
	return fmt.Sprintf("http://%s:%d/p/0", HostName(0), port)
}

// Pages returns the number of pages the site has (not counting the
// redirects, queries and the rest).
func (s *Site) Pages() int { return s.cfg.Hosts * s.cfg.Pages }

// Status returns the status the server answers a URL of the site with.
func (s *Site) Status(u string) int {
	ho, path := s.split(u)
	if ho == nil {
		return 0
	}
	if r := ho.paths[path]; r != nil {
		return r.status
	}
	return http.StatusNotFound
}
