package httpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

const indexHTML = "<!doctype html><title>t</title><p>hello from coro httpd</p>\n"

// oddDir is a directory name with bytes that a URL must percent-encode,
// and oddURL its percent-encoded path.
const (
	oddDir = "odd dir %?#\"\u00e9;"
	oddURL = "/odd%20dir%20%25%3F%23%22%C3%A9;"
)

// site writes a test root and returns it with the 1 MiB file's content.
func site(t *testing.T) (string, []byte) {
	t.Helper()
	root := t.TempDir()
	big := make([]byte, 1<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"index.html":           []byte(indexHTML),
		"style.css":            []byte("body { color: black }\n"),
		"data.json":            []byte(`{"a": 1}`),
		"app.js":               []byte("console.log(1)\n"),
		"notes.txt":            []byte("0123456789abcdefghij"),
		"blob.bin":             []byte{0, 1, 2},
		"big.bin":              big,
		"dir/index.html":       []byte("dir index\n"),
		"sub/file.txt":         []byte("sub file\n"),
		oddDir + "/index.html": []byte("odd index\n"),
	}
	writeTree(t, root, files)
	if err := os.Symlink("/etc", filepath.Join(root, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../etc/passwd", filepath.Join(root, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	return root, big
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// raw sends req on a new connection and reads one response.
func raw(t *testing.T, s *Server, req string) (*http.Response, string) {
	t.Helper()
	r := exchange(t, s, req)[0]
	return r.Response, r.body
}

// rawResp is one response read from a raw connection, with its body.
type rawResp struct {
	*http.Response
	body string
}

// exchange sends reqs on one connection at once (pipelined) and reads a
// response to each, in order: the framing of each response must be right
// for the next one to parse.
func exchange(t *testing.T, s *Server, reqs ...string) []rawResp {
	t.Helper()
	c := dialAny(t, s, 5*time.Second)
	defer c.Close()
	go io.WriteString(c, strings.Join(reqs, ""))
	br := bufio.NewReader(c)
	var rs []rawResp
	for _, req := range reqs {
		method, _, _ := strings.Cut(req, " ")
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%.60q: %v", req, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%.60q: body: %v", req, err)
		}
		rs = append(rs, rawResp{resp, string(body)})
	}
	return rs
}

func get(t *testing.T, client *http.Client, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestServer(t *testing.T) {
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		t.Run(stack.String(), func(t *testing.T) {
			root, big := site(t)
			s := start(t, Config{Root: root, Stack: stack, Loops: 2})
			testServer(t, s, big)
		})
	}
}

func testServer(t *testing.T, s *Server, big []byte) {
	base := "http://" + s.Addr()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	t.Run("get", func(t *testing.T) {
		for _, tc := range []struct{ path, ctype, body string }{
			{"/", "text/html; charset=utf-8", indexHTML},
			{"/index.html", "text/html; charset=utf-8", indexHTML},
			{"/style.css", "text/css; charset=utf-8", "body { color: black }\n"},
			{"/data.json", "application/json", `{"a": 1}`},
			{"/app.js", "text/javascript; charset=utf-8", "console.log(1)\n"},
			{"/notes.txt", "text/plain; charset=utf-8", "0123456789abcdefghij"},
			{"/blob.bin", "application/octet-stream", "\x00\x01\x02"},
			{"/dir/", "text/html; charset=utf-8", "dir index\n"},
			{"/sub/./file.txt?x=1", "text/plain; charset=utf-8", "sub file\n"},
			{"/%73tyle.css", "text/css; charset=utf-8", "body { color: black }\n"},
		} {
			resp, body := get(t, client, base+tc.path)
			if resp.StatusCode != 200 || string(body) != tc.body {
				t.Errorf("GET %s: %d %q, want 200 %q", tc.path, resp.StatusCode, body, tc.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.ctype {
				t.Errorf("GET %s: Content-Type %q, want %q", tc.path, ct, tc.ctype)
			}
			if resp.ContentLength != int64(len(tc.body)) {
				t.Errorf("GET %s: Content-Length %d", tc.path, resp.ContentLength)
			}
			if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Date") == "" {
				t.Errorf("GET %s: missing validators or Date: %v", tc.path, resp.Header)
			}
		}
	})

	// RFC 9112 3.2.2: a server must accept the absolute-form of the
	// request-target (what a client sends to a proxy), and this server
	// ignores its authority as it ignores Host.
	t.Run("absolute-form", func(t *testing.T) {
		for _, tc := range []struct {
			target string
			code   int
			body   string
		}{
			{"http://example.com/notes.txt", 200, "0123456789abcdefghij"},
			{"HTTP://" + s.Addr() + "/sub/file.txt?x=1", 200, "sub file\n"},
			{"http://example.com", 200, indexHTML},
			{"http://example.com/../etc/passwd", 403, "403 Forbidden\n"},
			{"http://user@example.com/notes.txt", 400, "400 Bad Request\n"},
			{"ftp://example.com/notes.txt", 400, "400 Bad Request\n"},
		} {
			resp, body := raw(t, s, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != tc.code || body != tc.body {
				t.Errorf("GET %s: %d %q, want %d %q", tc.target, resp.StatusCode, body, tc.code, tc.body)
			}
		}
	})

	t.Run("head", func(t *testing.T) {
		resp, err := client.Head(base + "/index.html")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(indexHTML)) {
			t.Errorf("HEAD: %d length %d", resp.StatusCode, resp.ContentLength)
		}
		// A raw HEAD must carry no body: the next response must follow at once.
		c := dialServer(t, s, 5*time.Second)
		defer c.Close()
		io.WriteString(c, "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		r1, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
		if err != nil || r1.ContentLength != 1<<20 {
			t.Fatalf("HEAD big: %v %v", r1, err)
		}
		r2, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r2.Body)
		if string(b) != "0123456789abcdefghij" {
			t.Errorf("after HEAD: %q", b)
		}
	})

	t.Run("keepalive", func(t *testing.T) {
		var dials atomic.Int32
		d := &net.Dialer{}
		kc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return d.DialContext(ctx, network, addr)
			},
		}}
		defer kc.CloseIdleConnections()
		for i := 0; i < 5; i++ {
			if resp, _ := get(t, kc, base+"/style.css"); resp.StatusCode != 200 || resp.Close {
				t.Fatalf("request %d: %d close=%v", i, resp.StatusCode, resp.Close)
			}
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("%d connections for 5 requests, want 1", n)
		}
		// The idle keep-alive connection holds no request buffer.
		deadline := time.Now().Add(20 * time.Second) // generous: a loaded machine
		for {
			st := s.Stats()
			if st.LiveBufs == 0 && st.LiveConns >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("idle: %+v, want no buffers and a live connection", st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("close", func(t *testing.T) {
		for _, tc := range []struct {
			req   string
			close bool
		}{
			{"GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true},
			{"GET /notes.txt HTTP/1.0\r\n\r\n", true},
			{"GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false},
			{"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n", false},
		} {
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.req)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			if resp.Close != tc.close {
				t.Errorf("%q: close %v, want %v", tc.req, resp.Close, tc.close)
			}
			if tc.close {
				if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("%q: after response: %d %v, want EOF", tc.req, n, err)
				}
			}
			c.Close()
		}
	})

	t.Run("pipelining", func(t *testing.T) {
		c := dialServer(t, s, 5*time.Second)
		defer c.Close()
		io.WriteString(c, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		br := bufio.NewReader(c)
		for i, want := range []string{"0123456789abcdefghij", "body { color: black }\n", `{"a": 1}`} {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != want {
				t.Errorf("response %d: %d %q, want %q", i, resp.StatusCode, b, want)
			}
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after the last response: %v, want EOF", err)
		}
	})

	t.Run("conditional", func(t *testing.T) {
		resp, _ := get(t, client, base+"/style.css")
		etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if !strings.HasPrefix(etag, `"`) {
			t.Fatalf("ETag %q", etag)
		}
		for _, hdr := range [][]string{
			{"If-None-Match", etag},
			{"If-None-Match", `"nope", W/` + etag},
			{"If-None-Match", "*"},
			{"If-Modified-Since", lm},
			{"If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)},
		} {
			resp, body := get(t, client, base+"/style.css", hdr...)
			if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != etag {
				t.Errorf("%v: %d %q etag %q, want 304", hdr, resp.StatusCode, body, resp.Header.Get("ETag"))
			}
		}
		for _, hdr := range [][]string{
			{"If-None-Match", `"other"`},
			{"If-Modified-Since", time.Unix(1000, 0).UTC().Format(http.TimeFormat)},
			{"If-Modified-Since", "not a date"},
		} {
			if resp, _ := get(t, client, base+"/style.css", hdr...); resp.StatusCode != 200 {
				t.Errorf("%v: %d, want 200", hdr, resp.StatusCode)
			}
		}
	})

	// If-Match and If-Unmodified-Since (412), and the order of RFC 9110
	// 13.2.2 among all four conditions and the Range.
	t.Run("preconditions", func(t *testing.T) {
		const text = "0123456789abcdefghij"
		resp, _ := get(t, client, base+"/notes.txt")
		etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		mtime, err := http.ParseTime(lm)
		if err != nil || !strings.HasPrefix(etag, `"`) {
			t.Fatalf("validators: ETag %q, Last-Modified %q (%v)", etag, lm, err)
		}
		const old = "Sun, 06 Nov 1994 08:49:37 GMT"
		future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
		e412 := "412 Precondition Failed\n"
		for _, tc := range []struct {
			hdrs string
			code int
			body string
		}{
			{"If-Match: " + etag, 200, text},
			{"If-Match: *", 200, text},
			{`If-Match: "x", ` + etag, 200, text},
			{"If-Match: \"x\"\r\nIf-Match: " + etag, 200, text}, // two lines, one list
			{`If-Match: "x"`, 412, e412},
			{"If-Match: W/" + etag, 412, e412}, // the strong comparison
			{"If-Match:", 412, e412},           // an empty list matches nothing
			{"If-Unmodified-Since: " + old, 412, e412},
			{"If-Unmodified-Since: " + lm, 200, text},
			{"If-Unmodified-Since: " + future, 200, text},
			{"If-Unmodified-Since: " + mtime.Format(time.ANSIC), 200, text},
			{"If-Unmodified-Since: Sunday, 06-Nov-94 08:49:37 GMT", 412, e412},
			{"If-Unmodified-Since: not a date", 200, text},
			{"If-Unmodified-Since: " + old + "\r\nIf-Unmodified-Since: " + old, 200, text}, // two dates: invalid
			// If-Unmodified-Since counts only without If-Match.
			{"If-Match: " + etag + "\r\nIf-Unmodified-Since: " + old, 200, text},
			{"If-Match: \"x\"\r\nIf-Unmodified-Since: " + future, 412, e412},
			// Both come before If-None-Match.
			{"If-Match: \"x\"\r\nIf-None-Match: " + etag, 412, e412},
			{"If-Unmodified-Since: " + old + "\r\nIf-None-Match: " + etag, 412, e412},
			{"If-Match: " + etag + "\r\nIf-None-Match: " + etag, 304, ""},
			{"If-Unmodified-Since: " + lm + "\r\nIf-Modified-Since: " + lm, 304, ""},
			{"If-Match: " + etag + "\r\nIf-None-Match: \"x\"\r\nIf-Modified-Since: " + lm, 200, text},
			{"If-None-Match: \"x\"\r\nIf-None-Match: W/" + etag, 304, ""}, // two lines, one list
			{"If-Modified-Since: " + mtime.Format("Monday, 02-Jan-06 15:04:05 GMT"), 304, ""},
			{"If-Modified-Since: " + lm + "\r\nIf-Modified-Since: " + lm, 200, text}, // two dates: invalid
			// And before the Range.
			{"If-Match: \"x\"\r\nRange: bytes=0-4", 412, e412},
			{"If-Unmodified-Since: " + old + "\r\nRange: bytes=0-4", 412, e412},
			{"If-Match: " + etag + "\r\nRange: bytes=0-4", 206, text[:5]},
		} {
			r := exchange(t, s, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n"+tc.hdrs+"\r\n\r\n")[0]
			if r.StatusCode != tc.code || r.body != tc.body || r.Close {
				t.Errorf("%q: %d %q close=%v, want %d %q and keep-alive", tc.hdrs, r.StatusCode, r.body, r.Close, tc.code, tc.body)
			}
			if tc.code != 304 && r.ContentLength != int64(len(tc.body)) {
				t.Errorf("%q: Content-Length %d, want %d", tc.hdrs, r.ContentLength, len(tc.body))
			}
		}
		// HEAD gets the same 412 head and no body; the connection goes on.
		// A file that is not there gets 404 whatever the conditions say.
		rs := exchange(t, s,
			"HEAD /notes.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"x\"\r\n\r\n",
			"GET /nope HTTP/1.1\r\nHost: x\r\nIf-Match: \"x\"\r\nIf-Unmodified-Since: "+old+"\r\n\r\n",
			"GET /notes.txt HTTP/1.1\r\nHost: x\r\nIf-Match: "+etag+"\r\n\r\n")
		if r := rs[0]; r.StatusCode != 412 || r.ContentLength != int64(len(e412)) || r.body != "" {
			t.Errorf("HEAD with a failed If-Match: %d, Content-Length %d, body %q", r.StatusCode, r.ContentLength, r.body)
		}
		if rs[1].StatusCode != 404 || rs[2].StatusCode != 200 || rs[2].body != text {
			t.Errorf("after HEAD 412: %d, then %d %q", rs[1].StatusCode, rs[2].StatusCode, rs[2].body)
		}
	})

	// If-Range: the Range counts when it names the file's current version
	// (its strong ETag, or its Last-Modified to the second), else the
	// whole file comes back with 200.
	t.Run("if-range", func(t *testing.T) {
		const text = "0123456789abcdefghij"
		resp, _ := get(t, client, base+"/notes.txt")
		etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		mtime, err := http.ParseTime(lm)
		if err != nil {
			t.Fatal(err)
		}
		const rng = "Range: bytes=0-4\r\n"
		for _, tc := range []struct {
			hdrs string
			code int
			body string
		}{
			{rng + "If-Range: " + etag, 206, text[:5]},
			{rng + "If-Range: " + lm, 206, text[:5]},
			{rng + "If-Range: " + mtime.Format("Monday, 02-Jan-06 15:04:05 GMT"), 206, text[:5]},
			{rng + "If-Range: " + mtime.Format(time.ANSIC), 206, text[:5]},
			{rng + `If-Range: "other"`, 200, text},
			{rng + "If-Range: W/" + etag, 200, text}, // weak tags never match
			{rng + "If-Range: " + mtime.Add(time.Second).Format(http.TimeFormat), 200, text},
			{rng + "If-Range: " + mtime.Add(-time.Second).Format(http.TimeFormat), 200, text},
			{rng + "If-Range: yesterday", 200, text},
			{rng + "If-Range: " + etag + "\r\nIf-Range: " + etag, 200, text}, // two: invalid
			{"If-Range: " + etag, 200, text},                                 // no Range
			{"Range: bytes=100-\r\nIf-Range: " + etag, 416, "416 Range Not Satisfiable\n"},
			{"Range: bytes=100-\r\nIf-Range: \"other\"", 200, text},
			{rng + "If-Range: " + etag + "\r\nIf-None-Match: " + etag, 304, ""},
			{rng + "Range: bytes=0-4", 200, text}, // two Ranges: invalid
		} {
			r := exchange(t, s, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n"+tc.hdrs+"\r\n\r\n")[0]
			if r.StatusCode != tc.code || r.body != tc.body || r.Close {
				t.Errorf("%q: %d %q close=%v, want %d %q", tc.hdrs, r.StatusCode, r.body, r.Close, tc.code, tc.body)
			}
			if cr := r.Header.Get("Content-Range"); tc.code == 206 && cr != "bytes 0-4/20" {
				t.Errorf("%q: Content-Range %q", tc.hdrs, cr)
			}
		}
		// Through Go's client: another file's ETag gets the whole file, the
		// file's own the range.
		resp, body := get(t, client, base+"/big.bin", "Range", "bytes=10-19", "If-Range", etag)
		if resp.StatusCode != 200 || !bytes.Equal(body, big) {
			t.Errorf("big.bin with notes.txt's ETag in If-Range: %d, %d bytes, want 200 and the whole file", resp.StatusCode, len(body))
		}
		resp, _ = get(t, client, base+"/big.bin")
		resp, body = get(t, client, base+"/big.bin", "Range", "bytes=10-19", "If-Range", resp.Header.Get("ETag"))
		if resp.StatusCode != 206 || !bytes.Equal(body, big[10:20]) {
			t.Errorf("big.bin with its ETag in If-Range: %d, %d bytes, want 206 and 10", resp.StatusCode, len(body))
		}
	})

	// A directory without its final slash: 301 to the URL with it, so
	// that relative links in its index resolve against the directory.
	t.Run("redirect", func(t *testing.T) {
		const e301 = "301 Moved Permanently\n"
		longQ := strings.Repeat("\xe9", 2500) // raw bytes, each %E9 in the Location
		reqs := []struct {
			method, target string
			code           int
			loc, body      string
		}{
			{"GET", "/dir", 301, "/dir/", e301},
			{"HEAD", "/dir", 301, "/dir/", ""},
			{"GET", "/dir?q=1", 301, "/dir/?q=1", e301},
			{"GET", "/dir?", 301, "/dir/?", e301},
			{"GET", "/dir?a=%20b&c=\"<>\xc3\xa9`^{|}?#frag", 301, "/dir/?a=%20b&c=%22%3C%3E%C3%A9%60%5E%7B%7C%7D?", e301},
			{"GET", "/dir?x=%0D%0ASet-Cookie:%20a=b", 301, "/dir/?x=%0D%0ASet-Cookie:%20a=b", e301},
			{"GET", "//dir", 301, "/dir/", e301}, // never "//dir/", another host
			{"GET", "/./dir", 301, "/dir/", e301},
			{"GET", "/%64ir", 301, "/dir/", e301},
			{"GET", "http://example.com/dir?x", 301, "/dir/?x", e301},
			{"GET", "/sub", 301, "/sub/", e301},
			{"GET", oddURL, 301, oddURL + "/", e301},
			{"GET", "/dir?" + longQ, 301, "/dir/?" + strings.Repeat("%E9", 2500), e301},
			{"GET", "/dir/", 200, "", "dir index\n"},
			{"GET", "/dir/?q=1", 200, "", "dir index\n"},
			{"GET", "/dir/.", 200, "", "dir index\n"},
			{"GET", "/.", 200, "", indexHTML},
			{"GET", oddURL + "/", 200, "", "odd index\n"},
			{"GET", "/sub/", 403, "", "403 Forbidden\n"},
			{"GET", "/notes.txt", 200, "", "0123456789abcdefghij"},
		}
		var raws []string
		for _, r := range reqs {
			raws = append(raws, r.method+" "+r.target+" HTTP/1.1\r\nHost: x\r\n\r\n")
		}
		for i, r := range exchange(t, s, raws...) {
			want := reqs[i]
			if r.StatusCode != want.code || r.Header.Get("Location") != want.loc || r.body != want.body || r.Close {
				t.Errorf("%s %.40q: %d Location %.60q body %q close=%v; want %d %.60q %q",
					want.method, want.target, r.StatusCode, r.Header.Get("Location"), r.body, r.Close, want.code, want.loc, want.body)
			}
			// Exactly the headers of an error response and Location: no
			// header came from the request.
			if want.code == 301 && (r.ContentLength != int64(len(e301)) || len(r.Header) != 6 || len(r.Header["Location"]) != 1) {
				t.Errorf("%s %.40q: Content-Length %d, headers %q", want.method, want.target, r.ContentLength, r.Header)
			}
		}
		// Go's client follows the redirect and lands on the index.
		resp, body := get(t, client, base+"/dir?q=1")
		if resp.StatusCode != 200 || string(body) != "dir index\n" || resp.Request.URL.String() != base+"/dir/?q=1" {
			t.Errorf("Go client GET /dir?q=1: %d %q at %s", resp.StatusCode, body, resp.Request.URL)
		}
	})

	t.Run("range", func(t *testing.T) {
		const text = "0123456789abcdefghij"
		for _, tc := range []struct {
			rng, body, cr string
		}{
			{"bytes=0-9", text[:10], "bytes 0-9/20"},
			{"bytes=15-", text[15:], "bytes 15-19/20"},
			{"bytes=-5", text[15:], "bytes 15-19/20"},
			{"bytes=18-100", text[18:], "bytes 18-19/20"},
			{"bytes=-100", text, "bytes 0-19/20"},
		} {
			resp, body := get(t, client, base+"/notes.txt", "Range", tc.rng)
			if resp.StatusCode != 206 || string(body) != tc.body || resp.Header.Get("Content-Range") != tc.cr {
				t.Errorf("%s: %d %q %q, want 206 %q %q", tc.rng, resp.StatusCode, body,
					resp.Header.Get("Content-Range"), tc.body, tc.cr)
			}
		}
		for _, rng := range []string{"bytes=20-", "bytes=100-200", "bytes=-0"} {
			resp, _ := get(t, client, base+"/notes.txt", "Range", rng)
			if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */20" {
				t.Errorf("%s: %d %q, want 416", rng, resp.StatusCode, resp.Header.Get("Content-Range"))
			}
		}
		for _, rng := range []string{"bytes=0-9,5-15", "items=0-1", "bytes=5-2"} {
			if resp, body := get(t, client, base+"/notes.txt", "Range", rng); resp.StatusCode != 200 || string(body) != text {
				t.Errorf("%s: %d, want 200 (ignored)", rng, resp.StatusCode)
			}
		}
		resp, body := get(t, client, base+"/big.bin", "Range", "bytes=1000-1999")
		if resp.StatusCode != 206 || !bytes.Equal(body, big[1000:2000]) {
			t.Errorf("big range: %d, %d bytes", resp.StatusCode, len(body))
		}
	})

	t.Run("notfound", func(t *testing.T) {
		for path, code := range map[string]int{
			"/nope.html":     404,
			"/sub/":          403,
			"/index.html/x":  404,
			"/sub/file.txt/": 404,
		} {
			if resp, _ := get(t, client, base+path); resp.StatusCode != code {
				t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, code)
			}
		}
	})

	t.Run("traversal", func(t *testing.T) {
		passwd, _ := os.ReadFile("/etc/passwd")
		for _, path := range []string{
			"/../etc/passwd", "/%2e%2e/etc/passwd", "/%2E%2E%2Fetc%2Fpasswd",
			"/sub/../../etc/passwd", "/sub/%2e%2e/%2e%2e/etc/passwd", "/..%5c..%5cetc/passwd",
			"/etc/passwd", "/passwd", "/sub/up", "/a%00b", "/a\\b", "/etc/",
		} {
			resp, body := raw(t, s, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if resp.StatusCode == 200 || (len(passwd) > 0 && strings.Contains(body, string(passwd[:min(16, len(passwd))]))) {
				t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
			}
			if resp.StatusCode != 400 && resp.StatusCode != 403 && resp.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 400, 403 or 404", path, resp.StatusCode)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		long := "/" + strings.Repeat("a", 9000)
		bigHdr := "X-Big: " + strings.Repeat("b", 17000) + "\r\n"
		for _, tc := range []struct {
			req  string
			code int
		}{
			{"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405},
			{"DELETE /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 405},
			{"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501},
			{"garbage\r\n\r\n", 400},
			{"GET /index.html HTTP/1.1\r\n\r\n", 400},
			{"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n", 400},
			{"GET /index.html HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400},
			{"GET /index.html HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400},
			{"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
			{"GET /index.html HTTP/2.0\r\nHost: x\r\n\r\n", 505},
			{"GET " + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
			{"GET /index.html HTTP/1.1\r\nHost: x\r\n" + bigHdr + "\r\n", 431},
		} {
			resp, _ := raw(t, s, tc.req)
			if resp.StatusCode != tc.code {
				t.Errorf("%.40q: %d, want %d", tc.req, resp.StatusCode, tc.code)
			}
			if tc.code == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("405 Allow %q", resp.Header.Get("Allow"))
			}
		}
	})

	t.Run("big", func(t *testing.T) {
		resp, body := get(t, client, base+"/big.bin")
		if resp.StatusCode != 200 || !bytes.Equal(body, big) {
			t.Errorf("big: %d, %d bytes, equal %v", resp.StatusCode, len(body), bytes.Equal(body, big))
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			go func() {
				// The timeout only bounds a hang: 20 MiB at once on a
				// loaded machine can take seconds.
				c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: i%2 == 0}}
				defer c.CloseIdleConnections()
				resp, err := c.Get(base + "/big.bin")
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && !bytes.Equal(b, big) {
					err = fmt.Errorf("%d bytes differ", len(b))
				}
				errs <- err
			}()
		}
		for i := 0; i < 20; i++ {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

func TestDeadlines(t *testing.T) {
	root, _ := site(t)
	s := start(t, Config{Root: root, HeaderTimeout: 500 * time.Millisecond, IdleTimeout: 400 * time.Millisecond})

	t.Run("slowloris", func(t *testing.T) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		begin := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			req := "GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("z", 100) + "\r\n\r\n"
			for i := 0; i < len(req); i++ {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := c.Write([]byte{req[i]}); err != nil {
					return
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("read: %v (got %q)", err, got)
		}
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408 ") {
			t.Errorf("slow client got %q, want 408 or nothing", got)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("closed after %v, want about 0.7 s", d)
		}
	})

	t.Run("idle", func(t *testing.T) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		begin := time.Now()
		io.WriteString(c, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("idle connection: %v, want EOF", err)
		}
		if d := time.Since(begin); d < 300*time.Millisecond || d > 2*time.Second {
			t.Errorf("idle connection closed after %v, want about 0.4 s", d)
		}
	})
}

func TestStartErrors(t *testing.T) {
	root := t.TempDir()
	for _, cfg := range []Config{
		{},
		{Root: filepath.Join(root, "missing"), Addr: "127.0.0.1:0"},
		{Root: root, Addr: "localhost:0"},
		{Root: root, Addr: "127.0.0.1:0", Loops: -1},
	} {
		if s, err := Start(cfg); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}

// TestIdleConnsHoldNoBuffers parks many keep-alive connections after one
// request each and checks that none of them holds a request buffer, and
// that each saves little stack: an idle connection waits in conn_main's
// shallow frame, outside the request code's 1 KiB of scratch arrays
// (about 300 bytes are saved per connection on x86-64; 1,400 when the
// wait was inside the request code's frame).
func TestIdleConnsHoldNoBuffers(t *testing.T) {
	root, _ := site(t)
	s := start(t, Config{Root: root, Stack: coro.StackShared})
	const n = 200
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
	}
	deadline := time.Now().Add(20 * time.Second) // generous: a loaded machine
	for {
		st := s.Stats()
		if st.LiveConns == n && st.LiveBufs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections: %+v, want %d live and no buffers", n, st, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The accept coroutine is suspended too: n+1 saved stacks.
	ls := s.group.Loop(0).Stats()
	if ls.Live != n+1 {
		t.Fatalf("loop stats %+v: want %d live coroutines", ls, n+1)
	}
	per := ls.StackBytesSaved / ls.Live
	t.Logf("%d bytes of stack saved per idle connection", per)
	if per == 0 || per > 640 {
		t.Errorf("idle connections save %d bytes of stack each, want at most 640", per)
	}
}

// TestHeadInPieces sends a 16 KiB request head 16 bytes per write, so that
// the server reads it in many pieces: it must answer it, and its parser
// must have examined each byte at most twice (re-parsing the head from its
// start at every read examined it about as many times as there were
// reads).
func TestHeadInPieces(t *testing.T) {
	root, _ := site(t)
	s := start(t, Config{Root: root})
	head := bigHead(16 << 10)
	c := dialServer(t, s, 20*time.Second)
	defer c.Close()
	for i := 0; i < len(head); i += 16 {
		if _, err := io.WriteString(c, head[i:min(i+16, len(head))]); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 206 || string(body) != "12" {
		t.Errorf("%d %q, want 206 %q", resp.StatusCode, body, "12")
	}
	if w := s.Stats().ParseWork; w < int64(len(head)) || w > 2*int64(len(head)) {
		t.Errorf("the parser examined %d bytes of a %d-byte head, want at most twice as many", w, len(head))
	}
}
