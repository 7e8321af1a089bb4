package httpd

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// cacheRules are the rules of TestCache: one global, two by extension,
// two by path prefix (the longer wins).
var cacheRules = []CacheRule{
	{Value: "max-age=60"},
	{Ext: ".js", Value: "public, max-age=31536000, immutable"},
	{Ext: ".CSS", Value: "public, max-age=31536000, immutable"},
	{Ext: ".html", Value: "no-cache"},
	{PathPrefix: "/assets/", Value: "max-age=600"},
	{PathPrefix: "/assets/v2/", Value: "private, max-age=7"},
}

// TestCache checks Cache-Control and Expires by rule, on 200, 206 and
// 304 responses and not on errors, with Go's client and curl in both stack
// modes.
func TestCache(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{}
	for _, name := range []string{"index.html", "a.txt", "app.js", "Style.Css", "assets/x.js", "assets/v2/y.txt",
		"assets/index.html", "sub/index.html"} {
		files[name] = []byte("0123456789")
	}
	writeTree(t, root, files)
	// The Cache-Control by path and request header ("" none), and the
	// max-age that Expires must be from Date (-1: no Expires).
	type want struct {
		cc  string
		max int64
	}
	immutable := want{"public, max-age=31536000, immutable", 31536000}
	cases := []struct {
		path, hdr, val string
		code           int
		want           want
	}{
		{"/a.txt", "", "", 200, want{"max-age=60", 60}},
		{"/app.js", "", "", 200, immutable},
		{"/Style.Css", "", "", 200, immutable},
		{"/index.html", "", "", 200, want{"no-cache", -1}},
		{"/", "", "", 200, want{"no-cache", -1}},
		{"/sub/", "", "", 200, want{"no-cache", -1}},
		{"/assets/x.js", "", "", 200, want{"max-age=600", 600}},
		{"/assets/", "", "", 200, want{"max-age=600", 600}},
		{"/assets/v2/y.txt", "", "", 200, want{"private, max-age=7", 7}},
		{"/sub/../assets/x.js", "", "", 200, want{"max-age=600", 600}},
		{"/a.txt", "Range", "bytes=2-4", 206, want{"max-age=60", 60}},
		{"/app.js", "If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 304, immutable},
		{"/nope.js", "", "", 404, want{"", -1}},
		{"/assets", "", "", 301, want{"", -1}},
		{"/a.txt", "Range", "bytes=20-", 416, want{"", -1}},
	}
	check := func(t *testing.T, who string, i int, h http.Header, code int) {
		tc := cases[i]
		if code != tc.code {
			t.Errorf("%s: GET %s %s: %d, want %d", who, tc.path, tc.val, code, tc.code)
		}
		if got := h.Get("Cache-Control"); got != tc.want.cc || len(h.Values("Cache-Control")) > 1 {
			t.Errorf("%s: GET %s %s: Cache-Control %q, want %q", who, tc.path, tc.val, h.Values("Cache-Control"), tc.want.cc)
		}
		exp := h.Get("Expires")
		if tc.want.max < 0 {
			if exp != "" {
				t.Errorf("%s: GET %s: Expires %q, want none", who, tc.path, exp)
			}
			return
		}
		e, err1 := http.ParseTime(exp)
		d, err2 := http.ParseTime(h.Get("Date"))
		// Both are read from the clock in the same response, which may
		// straddle a second.
		if diff := int64(e.Sub(d) / time.Second); err1 != nil || err2 != nil || diff < tc.want.max-1 || diff > tc.want.max {
			t.Errorf("%s: GET %s: Expires %q, Date %q: want %d s apart", who, tc.path, exp, h.Get("Date"), tc.want.max)
		}
	}
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		t.Run(stack.String(), func(t *testing.T) {
			s := start(t, Config{Root: root, Stack: stack, Cache: cacheRules})
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			defer client.CloseIdleConnections()
			for i, tc := range cases {
				var hdr []string
				if tc.hdr != "" {
					hdr = []string{tc.hdr, tc.val}
				}
				resp, _ := get(t, client, "http://"+s.Addr()+tc.path, hdr...)
				check(t, "Go client", i, resp.Header, resp.StatusCode)
			}
			c := &curlRun{bin: curlBin(t), base: "http://" + s.Addr(), dir: t.TempDir()}
			ts := c.seq(t, "cache", len(cases), func(i int) ([]string, string) {
				opts := []string{"--path-as-is"}
				if cases[i].hdr != "" {
					opts = append(opts, "-H", cases[i].hdr+": "+cases[i].val)
				}
				return opts, cases[i].path
			})
			for i := range cases {
				check(t, "curl", i, c.dump1(t, fmt.Sprint("cache.h", i)).Header, ts[i].code)
			}
		})
	}
	// No rules, no header.
	s := start(t, Config{Root: root})
	resp, _ := get(t, http.DefaultClient, "http://"+s.Addr()+"/app.js")
	if resp.Header.Get("Cache-Control") != "" || resp.Header.Get("Expires") != "" {
		t.Errorf("no rules: %v", resp.Header)
	}
}

func TestCacheRuleErrors(t *testing.T) {
	root := t.TempDir()
	for _, r := range []CacheRule{
		{Value: ""},
		{Value: strings.Repeat("a", 201)},
		{Value: "max-age=1\r\nX-Evil: 1"},
		{Value: "max-age=\x7f"},
		{Ext: "js", Value: "x"},
		{Ext: ".", Value: "x"},
		{Ext: ".a/b", Value: "x"},
		{Ext: ".min.js", Value: "x"},
		{PathPrefix: "assets/", Value: "x"},
		{PathPrefix: "/a", Ext: ".js", Value: "x"},
	} {
		s, err := Start(Config{Root: root, Addr: "127.0.0.1:0", Cache: []CacheRule{{Value: "no-cache"}, r}})
		if err == nil {
			s.Close()
			t.Errorf("%+v: started", r)
		}
	}
}
