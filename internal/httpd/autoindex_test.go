package httpd

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// listingRow is one row of a listing: the link, the name shown, the size
// and the time columns.
var listingRow = regexp.MustCompile(`<tr><td><a href="([^"]*)">([^<]*)</a></td><td>([^<]*)</td><td>([^<]*)</td></tr>`)

// TestAutoindex checks the listing of a directory without index.html:
// sub-directories first, then files, by name; names escaped where shown
// and encoded in links that lead back to each file; dotfiles left out
// unless allowed; a directory with an index.html still served its index;
// no listing without Autoindex. With Go's client and curl in both stack
// modes.
func TestAutoindex(t *testing.T) {
	root := t.TempDir()
	odd := `<script>&amp;'".txt`
	files := map[string][]byte{
		"list/b.txt": []byte("bbb"), "list/a.txt": []byte("0123456789"), "list/Z dir/x": nil,
		"list/a-dir/y": nil, "list/" + odd: []byte("odd"), "list/a:b": []byte("colon"),
		"list/\u00e9.txt": []byte("e acute"), "list/.hidden": []byte("hidden"),
		"list/sub/index.html": []byte("sub index"), "top.txt": []byte("top"),
	}
	writeTree(t, root, files)
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "list", "sym")); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "list", "a.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	want := []string{"Z dir/", "a-dir/", "sub/", odd, "a.txt", "a:b", "b.txt", "sym", "\u00e9.txt"}
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		for _, dot := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dotfiles=%v", stack, dot), func(t *testing.T) {
				s := start(t, Config{Root: root, Stack: stack, Autoindex: true, AllowDotfiles: dot})
				base := "http://" + s.Addr()
				client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
				defer client.CloseIdleConnections()
				names := want
				if dot {
					names = append([]string{"Z dir/", "a-dir/", "sub/", ".hidden"}, want[3:]...)
				}
				resp, page := get(t, client, base+"/list/")
				c := &curlRun{bin: curlBin(t), base: base, dir: t.TempDir()}
				out := c.run(t, "-o", c.file("list"), "-w", "%{http_code} %{content_type}", c.url("/list/"))
				if out.stdout != "200 text/html; charset=utf-8" || c.read(t, "list") == nil || string(c.read(t, "list")) != string(page) {
					t.Errorf("curl: %q, want 200 and the page the Go client got", out.stdout)
				}
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
					!strings.Contains(string(page), "<title>Index of /list/</title>") {
					t.Fatalf("GET /list/: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
				}
				rows := listingRow.FindAllStringSubmatch(string(page), -1)
				if len(rows) != len(names)+1 || rows[0][1] != "../" {
					t.Fatalf("%d rows, want ../ and %d:\n%s", len(rows), len(names), page)
				}
				for i, name := range names {
					r := rows[i+1]
					href, shown := html.UnescapeString(r[1]), html.UnescapeString(r[2])
					if shown != name || !strings.HasPrefix(href, "./") {
						t.Errorf("row %d: %q -> %q, want %q", i, shown, href, name)
						continue
					}
					u, err := url.Parse(base + "/list/" + href)
					if err != nil || u.Host != s.Addr() {
						t.Errorf("row %d: link %q: %v %v", i, href, u, err)
						continue
					}
					if strings.HasSuffix(name, "/") || name == "sym" {
						if r[3] != "-" {
							t.Errorf("%s: size %q, want -", name, r[3])
						}
						continue
					}
					// The link leads to the file.
					resp, body := get(t, client, u.String())
					if resp.StatusCode != 200 || string(body) != string(files["list/"+name]) || r[3] != fmt.Sprint(len(body)) {
						t.Errorf("%s: link %q: %d %q, size shown %s", name, href, resp.StatusCode, body, r[3])
					}
					if name == "a.txt" && r[4] != "2026-01-02 03:04" {
						t.Errorf("a.txt: time %q, want 2026-01-02 03:04", r[4])
					}
				}
				// The root: no "../"; a directory with an index: the index.
				_, page = get(t, client, base+"/")
				if strings.Contains(string(page), `href="../"`) || !strings.Contains(string(page), `href="./top.txt"`) {
					t.Errorf("GET /: %s", page)
				}
				if resp, body := get(t, client, base+"/list/sub/"); string(body) != "sub index" {
					t.Errorf("GET /list/sub/: %d %q, want its index", resp.StatusCode, body)
				}
				rs := exchange(t, s, "HEAD /list/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET /top.txt HTTP/1.1\r\nHost: x\r\n\r\n")
				if rs[0].StatusCode != 200 || rs[0].ContentLength != int64(len(page2(t, client, base))) || rs[1].body != "top" {
					t.Errorf("HEAD /list/: %d, length %d; then %q", rs[0].StatusCode, rs[0].ContentLength, rs[1].body)
				}
			})
		}
	}
	s := start(t, Config{Root: root})
	if resp, _ := get(t, http.DefaultClient, "http://"+s.Addr()+"/list/"); resp.StatusCode != 403 {
		t.Errorf("without Autoindex: %d, want 403", resp.StatusCode)
	}
}

// page2 fetches /list/ again, for the length a HEAD must announce.
func page2(t *testing.T, client *http.Client, base string) []byte {
	_, page := get(t, client, base+"/list/")
	return page
}
