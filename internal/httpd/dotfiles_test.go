package httpd

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// writeTree writes files (by path relative to root) under root, with
// their directories.
func writeTree(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// dotSite writes a root with hidden files and directories beside public
// ones; the content of each file is its path.
func dotSite(t *testing.T) string {
	root := t.TempDir()
	files := map[string][]byte{}
	for _, name := range []string{"index.html", "a.txt", "sub/x.txt", "sub/index.html", ".env", ".htpasswd",
		".git/config", ".git/HEAD", "sub/.hidden", ".d/index.html", ".well-known/security.txt",
		".well-known/.secret", ".well-known/acme-challenge/tok", "..x/y.txt"} {
		files[name] = []byte("/" + name)
	}
	writeTree(t, root, files)
	return root
}

// TestDotfiles checks that paths with a segment starting with '.' are
// refused with 404 unless AllowDotfiles, .well-known aside, and that dot
// segments are resolved inside the root and refused above it; with Go's
// client and curl (--path-as-is), both sending the paths as they are, in
// both stack modes.
func TestDotfiles(t *testing.T) {
	root := dotSite(t)
	// The status, then the file served ("" for an error body), by path;
	// code2 is the status when dotfiles are allowed (0: the same).
	type want struct {
		code  int
		file  string
		code2 int
		file2 string
	}
	cases := map[string]want{
		"/.env":                           {404, "", 200, "/.env"},
		"/.htpasswd":                      {404, "", 200, "/.htpasswd"},
		"/.git/config":                    {404, "", 200, "/.git/config"},
		"/.git/":                          {404, "", 403, ""}, // no index, no listing
		"/.git":                           {404, "", 301, ""},
		"/%2egit/HEAD":                    {404, "", 200, "/.git/HEAD"},
		"/sub/.hidden":                    {404, "", 200, "/sub/.hidden"},
		"/.d/":                            {404, "", 200, "/.d/index.html"},
		"/..x/y.txt":                      {404, "", 200, "/..x/y.txt"},
		"/.well-known/security.txt":       {200, "/.well-known/security.txt", 0, ""},
		"/.well-known/acme-challenge/tok": {200, "/.well-known/acme-challenge/tok", 0, ""},
		"/.well-known/.secret":            {404, "", 200, "/.well-known/.secret"},
		"/.well-knownx":                   {404, "", 404, ""},
		"/a.txt":                          {200, "/a.txt", 0, ""},
		// Dot segments resolved (RFC 3986 5.2.4) before the check: what
		// they remove is not looked at.
		"/sub/../a.txt":            {200, "/a.txt", 0, ""},
		"/sub/%2e%2e/a.txt":        {200, "/a.txt", 0, ""},
		"/sub/./x.txt":             {200, "/sub/x.txt", 0, ""},
		"/nope/../sub/x.txt":       {200, "/sub/x.txt", 0, ""},
		"/.git/../a.txt":           {200, "/a.txt", 0, ""},
		"/sub/.hidden/../x.txt":    {200, "/sub/x.txt", 0, ""},
		"/sub/..":                  {200, "/index.html", 0, ""},
		"/sub/x.txt/..":            {200, "/sub/index.html", 0, ""},
		"/sub/../sub":              {301, "", 0, ""},
		"/a.txt/.":                 {404, "", 0, ""}, // "/a.txt/": no such directory
		"/sub/../../a.txt":         {403, "", 0, ""},
		"/../a.txt":                {403, "", 0, ""},
		"/sub/%2e%2e/%2e%2e/a.txt": {403, "", 0, ""},
		"/..":                      {403, "", 0, ""},
	}
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		for _, allow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/allow=%v", stack, allow), func(t *testing.T) {
				s := start(t, Config{Root: root, Stack: stack, AllowDotfiles: allow})
				client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				defer client.CloseIdleConnections()
				c := &curlRun{bin: curlBin(t), base: "http://" + s.Addr(), dir: t.TempDir()}
				args := []string{"--path-as-is", "-w", wout}
				var paths []string
				for p := range cases {
					paths = append(paths, p)
					args = append(args, "-o", c.file(fmt.Sprint("dot.", len(paths)-1)), c.url(p))
				}
				ts := transfers(t, c.run(t, args...), len(paths))
				for i, p := range paths {
					w := cases[p]
					if allow && w.code2 != 0 {
						w.code, w.file = w.code2, w.file2
					}
					body := string(c.read(t, fmt.Sprint("dot.", i)))
					resp, gbody := get(t, client, "http://"+s.Addr()+p)
					for _, got := range []struct {
						who  string
						code int
						body string
					}{{"curl", ts[i].code, body}, {"Go client", resp.StatusCode, string(gbody)}} {
						if got.code != w.code || (w.file != "" && got.body != w.file) ||
							(w.file == "" && !strings.HasPrefix(got.body, fmt.Sprint(w.code, " "))) {
							t.Errorf("%s: GET %s: %d %q, want %d %q", got.who, p, got.code, got.body, w.code, w.file)
						}
					}
				}
			})
		}
	}
}
