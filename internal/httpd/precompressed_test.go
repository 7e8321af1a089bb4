package httpd

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPrecompressed checks that file.br and file.gz are served in place of
// file as the Accept-Encoding asks (q=0 honoured), with Content-Encoding,
// Vary, an ETag of their own and ranges of the compressed bytes; and that
// without Precompressed they are not; with Go's client and curl in both
// stack modes.
func TestPrecompressed(t *testing.T) {
	root := t.TempDir()
	js := []byte(strings.Repeat("console.log('coro');\n", 200))
	css := []byte(strings.Repeat("body { color: black }\n", 100))
	html := []byte("<!doctype html><p>index</p>\n")
	files := map[string][]byte{
		"app.js": js, "app.js.gz": gzipped(t, js), "app.js.br": []byte("not really brotli: opaque bytes"),
		"style.css": css, "style.css.gz": gzipped(t, css),
		"plain.txt":      []byte("no siblings\n"),
		"dir/index.html": html, "dir/index.html.gz": gzipped(t, html),
		"odd.txt": []byte("odd\n"), "odd.txt.gz/x": []byte("a directory, not a file"),
	}
	writeTree(t, root, files)
	type want struct {
		file, coding string // the file served, its Content-Encoding
		code         int
	}
	cases := []struct {
		path, ae string
		hdr      []string // more request header lines
		w        want
	}{
		{"/app.js", "", nil, want{"app.js", "", 200}},
		{"/app.js", "gzip", nil, want{"app.js.gz", "gzip", 200}},
		{"/app.js", "x-gzip", nil, want{"app.js.gz", "gzip", 200}},
		{"/app.js", "gzip, deflate, br", nil, want{"app.js.br", "br", 200}},
		{"/app.js", "br;q=0.5, gzip", nil, want{"app.js.gz", "gzip", 200}},
		{"/app.js", "gzip;q=0", nil, want{"app.js", "", 200}},
		{"/app.js", "br;q=0, gzip;q=0", nil, want{"app.js", "", 200}},
		{"/app.js", "*", nil, want{"app.js.br", "br", 200}},
		{"/app.js", "*;q=0", nil, want{"app.js", "", 200}},
		{"/app.js", "identity", nil, want{"app.js", "", 200}},
		{"/style.css", "br", nil, want{"style.css", "", 200}},
		{"/style.css", "br, gzip;q=0.1", nil, want{"style.css.gz", "gzip", 200}},
		{"/plain.txt", "gzip, br", nil, want{"plain.txt", "", 200}},
		{"/odd.txt", "gzip", nil, want{"odd.txt", "", 200}},
		{"/dir/", "gzip", nil, want{"dir/index.html.gz", "gzip", 200}},
		{"/app.js", "gzip", []string{"Range", "bytes=0-9"}, want{"app.js.gz", "gzip", 206}},
	}
	ctypes := map[string]string{".js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
		"txt": "text/plain; charset=utf-8", "tml": "text/html; charset=utf-8"}
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		for _, on := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/precompressed=%v", stack, on), func(t *testing.T) {
				s := start(t, Config{Root: root, Stack: stack, Precompressed: on})
				base := "http://" + s.Addr()
				// DisableCompression: the client sends the Accept-Encoding
				// given and leaves the body as it came.
				client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 5 * time.Second}
				defer client.CloseIdleConnections()
				c := &curlRun{bin: curlBin(t), base: base, dir: t.TempDir()}
				ts := c.seq(t, "pc", len(cases), func(i int) ([]string, string) {
					opts := []string{"-H", "Accept-Encoding: " + cases[i].ae}
					for k := 0; k+1 < len(cases[i].hdr); k += 2 {
						opts = append(opts, "-H", cases[i].hdr[k]+": "+cases[i].hdr[k+1])
					}
					return opts, cases[i].path
				})
				etags := map[string]string{}
				for i, tc := range cases {
					w := tc.w
					if !on && w.coding != "" {
						w.file, w.coding = strings.TrimSuffix(strings.TrimSuffix(w.file, ".gz"), ".br"), ""
					}
					body := files[w.file]
					if w.code == 206 {
						body = body[:10]
					}
					resp, gbody := get(t, client, base+tc.path, append([]string{"Accept-Encoding", tc.ae}, tc.hdr...)...)
					for _, got := range []struct {
						who  string
						code int
						h    http.Header
						body []byte
					}{
						{"Go client", resp.StatusCode, resp.Header, gbody},
						{"curl", ts[i].code, c.dump1(t, fmt.Sprint("pc.h", i)).Header, c.read(t, fmt.Sprint("pc.", i))},
					} {
						h := got.h
						vary := ""
						if on {
							vary = "Accept-Encoding"
						}
						ct := ctypes[tc.path[len(tc.path)-3:]]
						if tc.path == "/dir/" {
							ct = ctypes["tml"]
						}
						if got.code != w.code || !bytes.Equal(got.body, body) || h.Get("Content-Encoding") != w.coding ||
							h.Get("Vary") != vary || h.Get("Content-Type") != ct {
							t.Errorf("%s: GET %s (Accept-Encoding %q): %d %q %q %q, %d bytes; want %d %q %q %q and %s",
								got.who, tc.path, tc.ae, got.code, h.Get("Content-Encoding"), h.Get("Vary"), h.Get("Content-Type"),
								len(got.body), w.code, w.coding, vary, ct, w.file)
						}
						if w.code == 206 && h.Get("Content-Range") != fmt.Sprintf("bytes 0-9/%d", len(files[w.file])) {
							t.Errorf("%s: GET %s range: Content-Range %q, want the compressed file's", got.who, tc.path, h.Get("Content-Range"))
						}
						if w.code == 200 {
							if e, ok := etags[w.file]; ok && e != h.Get("ETag") {
								t.Errorf("%s: %s: ETag %q, before %q", got.who, w.file, h.Get("ETag"), e)
							}
							etags[w.file] = h.Get("ETag")
						}
					}
				}
				if on {
					// Each variant its own validator: the plain file's ETag
					// does not validate the compressed one, nor the reverse.
					if etags["app.js"] == etags["app.js.gz"] || etags["app.js.gz"] == etags["app.js.br"] {
						t.Errorf("ETags: %v, want one per variant", etags)
					}
					resp, _ := get(t, client, base+"/app.js", "Accept-Encoding", "gzip", "If-None-Match", etags["app.js.gz"])
					if resp.StatusCode != 304 || resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("ETag") != etags["app.js.gz"] {
						t.Errorf("If-None-Match of the gzip variant, gzip accepted: %d %v", resp.StatusCode, resp.Header)
					}
					resp, _ = get(t, client, base+"/app.js", "If-None-Match", etags["app.js.gz"])
					if resp.StatusCode != 200 {
						t.Errorf("If-None-Match of the gzip variant, gzip not accepted: %d, want 200", resp.StatusCode)
					}
					resp, body := get(t, client, base+"/app.js", "Accept-Encoding", "gzip", "Range", "bytes=0-0", "If-Range", etags["app.js"])
					if resp.StatusCode != 200 || !bytes.Equal(body, files["app.js.gz"]) {
						t.Errorf("If-Range of the plain file, gzip served: %d, %d bytes, want 200 and all of app.js.gz", resp.StatusCode, len(body))
					}
					// Go's default transport asks for gzip and decodes it.
					dc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
					defer dc.CloseIdleConnections()
					resp, err := dc.Get(base + "/style.css")
					if err != nil {
						t.Fatal(err)
					}
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if !resp.Uncompressed || !bytes.Equal(got, css) {
						t.Errorf("Go's transparent gzip: uncompressed %v, %d bytes, want the CSS", resp.Uncompressed, len(got))
					}
					// curl --compressed decodes it too.
					out := c.run(t, "--compressed", "-o", c.file("cc"), "-w", "%{http_code} %{size_download}", c.url("/style.css"))
					if out.stdout != fmt.Sprint("200 ", len(files["style.css.gz"])) || !bytes.Equal(c.read(t, "cc"), css) {
						t.Errorf("curl --compressed: %q, %d bytes", out.stdout, len(c.read(t, "cc")))
					}
				}
			})
		}
	}
}
