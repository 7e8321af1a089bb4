package httpd

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// vhostSites writes a sites directory: two sites, an alias (a symlink),
// a default site, and entries that are not sites (a file, a hidden
// directory). Each file's content names its site and path.
func vhostSites(t *testing.T) string {
	dir := t.TempDir()
	files := map[string][]byte{}
	for _, name := range []string{"a.example/index.html", "a.example/x.txt", "b.example/x.txt",
		"_default/index.html", "_default/x.txt", ".git/index.html", "under_score/x.txt"} {
		files[name] = []byte(name)
	}
	files["README"] = []byte("not a site")
	writeTree(t, dir, files)
	if err := os.Symlink("a.example", filepath.Join(dir, "www.a.example")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestVHosts checks which site answers a request for each way of naming a
// host (Host field, absolute-form target, case, port, final dot, no Host,
// IP literals) and that hosts that cannot be names get 400, with raw
// requests, Go's client and curl, in both stack modes; then the same
// with Root as the default site.
func TestVHosts(t *testing.T) {
	dir := vhostSites(t)
	root := t.TempDir()
	writeTree(t, root, map[string][]byte{"index.html": []byte("root/index.html"), "x.txt": []byte("root/x.txt")})
	// The request's line and Host field ("" for none), and the body
	// wanted: a file's content, or the status for an error.
	type tc struct {
		target, host string
		want         string
	}
	cases := []tc{
		{"/", "a.example", "a.example/index.html"},
		{"/x.txt", "a.example", "a.example/x.txt"},
		{"/x.txt", "A.Example", "a.example/x.txt"},
		{"/x.txt", "a.example:8080", "a.example/x.txt"},
		{"/x.txt", "a.example.", "a.example/x.txt"},
		{"/x.txt", "a.example.:80", "a.example/x.txt"},
		{"/x.txt", "www.a.example", "a.example/x.txt"}, // the alias
		{"/x.txt", "b.example", "b.example/x.txt"},
		{"/", "b.example", "403"}, // no index in that site
		{"/x.txt", "under_score", "under_score/x.txt"},
		{"/x.txt", "c.example", "default/x.txt"},
		{"/x.txt", "example", "default/x.txt"},
		{"/x.txt", "127.0.0.1", "default/x.txt"},
		{"/x.txt", "[::1]:8080", "default/x.txt"},
		{"/x.txt", "readme", "default/x.txt"}, // a file is not a site
		{"/x.txt", "", "default/x.txt"},       // HTTP/1.0 without Host
		// The absolute-form's authority wins over Host (RFC 9112 3.2.2).
		{"http://b.example/x.txt", "a.example", "b.example/x.txt"},
		{"http://B.EXAMPLE:99/x.txt", "a.example", "b.example/x.txt"},
		{"http://c.example/x.txt", "a.example", "default/x.txt"},
		// Not host names: a directory could not be named so.
		{"/x.txt", "..", "400"},
		{"/x.txt", ".", "400"},
		{"/x.txt", "../a.example", "400"},
		{"/x.txt", "a.example/..", "400"},
		{"/x.txt", "a..example", "400"},
		{"/x.txt", ".a.example", "400"},
		{"/x.txt", "a example", "400"},
		{"/x.txt", "a\\example", "400"},
		{"/x.txt", "a.example:http", "400"},
		{"/x.txt", "a.exämple", "400"},
		{"/x.txt", strings.Repeat("a", 64) + ".example", "400"},
		{"/x.txt", strings.Repeat("a.", 127) + "ab", "400"}, // 256 bytes
		{"http://../x.txt", "a.example", "400"},
	}
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		for _, withRoot := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/root=%v", stack, withRoot), func(t *testing.T) {
				cfg := Config{VHosts: dir, Stack: stack}
				if withRoot {
					cfg.Root = root
				}
				s := start(t, cfg)
				for _, c := range cases {
					want := c.want
					if withRoot && strings.HasPrefix(want, "default/") {
						want = "root/" + strings.TrimPrefix(want, "default/")
					} else if strings.HasPrefix(want, "default/") {
						want = "_" + want
					}
					req := "GET " + c.target + " HTTP/1.1\r\nHost: " + c.host + "\r\nConnection: close\r\n\r\n"
					if c.host == "" {
						req = "GET " + c.target + " HTTP/1.0\r\n\r\n"
					}
					resp, body := raw(t, s, req)
					if got := fmt.Sprint(resp.StatusCode); len(want) == 3 && got != want ||
						len(want) > 3 && (got != "200" || body != want) {
						t.Errorf("GET %s, Host %q: %d %q, want %s", c.target, c.host, resp.StatusCode, body, want)
					}
				}
			})
		}
	}

	// Go's client and curl name the host as browsers do.
	s := start(t, Config{VHosts: dir})
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for host, want := range map[string]string{"a.example": "a.example/x.txt", "WWW.A.EXAMPLE": "a.example/x.txt",
		"b.example:1234": "b.example/x.txt", "other.example": "_default/x.txt"} {
		req, err := http.NewRequest("GET", "http://"+s.Addr()+"/x.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 64)
		n, _ := resp.Body.Read(body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body[:n]) != want {
			t.Errorf("Go client, Host %s: %d %q, want %q", host, resp.StatusCode, body[:n], want)
		}
	}
	c := &curlRun{bin: curlBin(t), base: "http://" + s.Addr(), dir: t.TempDir()}
	out := c.run(t, "-w", wout, "-o", c.file("v.0"), "-H", "Host: b.example", c.url("/x.txt"),
		"--next", "-w", wout, "-o", c.file("v.1"), "--resolve", "a.example:"+strings.Split(s.Addr(), ":")[1]+":127.0.0.1",
		"http://a.example:"+strings.Split(s.Addr(), ":")[1]+"/x.txt")
	ts := transfers(t, out, 2)
	for i, want := range []string{"b.example/x.txt", "a.example/x.txt"} {
		if body := string(c.read(t, fmt.Sprint("v.", i))); ts[i].code != 200 || body != want {
			t.Errorf("curl %d: %d %q, want %q", i, ts[i].code, body, want)
		}
	}
}

// TestVHostsStartErrors checks the sites directories Start refuses, and
// that it leaves no fd open when it does.
func TestVHostsStartErrors(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	noDefault := t.TempDir()
	writeTree(t, noDefault, map[string][]byte{"a.example/x.txt": nil})
	badName := t.TempDir()
	writeTree(t, badName, map[string][]byte{"_default/x.txt": nil, "a.example/x.txt": nil, "B.example/x.txt": nil})
	before := fds()
	for _, c := range []struct {
		cfg  Config
		want error
	}{
		{Config{VHosts: filepath.Join(t.TempDir(), "none")}, os.ErrNotExist},
		{Config{VHosts: noDefault}, os.ErrNotExist},
		{Config{VHosts: badName}, syscall.EINVAL},
	} {
		c.cfg.Addr = "127.0.0.1:0"
		s, err := Start(c.cfg)
		if err == nil {
			s.Close()
			t.Errorf("%+v: started", c.cfg)
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.cfg, err, c.want)
		}
	}
	if after := fds(); after != before {
		t.Errorf("%d fds open after the failed starts, %d before", after, before)
	}
	// With Root given, no _default is needed.
	s := start(t, Config{VHosts: noDefault, Root: noDefault})
	if _, body := raw(t, s, "GET /x.txt HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"); body != "" {
		t.Errorf("a.example/x.txt: %q, want it empty", body)
	}
}
