package httpd

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// wantPart is one part of a multipart/byteranges body.
type wantPart struct {
	first, last int
}

// checkMultipart checks a multipart/byteranges response body against the
// file's content and the parts wanted, in order.
func checkMultipart(t *testing.T, who, rng string, h http.Header, body, file []byte, ctype string, parts []wantPart) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" || params["boundary"] == "" {
		t.Errorf("%s: %s: Content-Type %q (%v)", who, rng, h.Get("Content-Type"), err)
		return
	}
	if h.Get("Content-Range") != "" {
		t.Errorf("%s: %s: Content-Range %q on a multipart response", who, rng, h.Get("Content-Range"))
	}
	if cl := h.Get("Content-Length"); cl != fmt.Sprint(len(body)) {
		t.Errorf("%s: %s: Content-Length %s, body %d bytes", who, rng, cl, len(body))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i, w := range parts {
		p, err := mr.NextPart()
		if err != nil {
			t.Errorf("%s: %s: part %d: %v", who, rng, i, err)
			return
		}
		got, err := io.ReadAll(p)
		cr := fmt.Sprintf("bytes %d-%d/%d", w.first, w.last, len(file))
		if err != nil || !bytes.Equal(got, file[w.first:w.last+1]) || p.Header.Get("Content-Range") != cr ||
			p.Header.Get("Content-Type") != ctype {
			t.Errorf("%s: %s: part %d: %q %q, %d bytes (%v); want %q %q and bytes %d-%d",
				who, rng, i, p.Header.Get("Content-Type"), p.Header.Get("Content-Range"), len(got), err, ctype, cr, w.first, w.last)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("%s: %s: after %d parts: %v, want the end", who, rng, len(parts), err)
	}
}

// TestMultipartRanges checks Range headers with several ranges (206
// multipart/byteranges, in the order asked), the cap on their number and
// the rule against overlaps (the whole file), and a suffix range on an
// empty file (RFC 9110 14.1.2: satisfiable, so no 416), with Go's client
// and curl in both stack modes, and the framing with a pipelined request
// after each.
func TestMultipartRanges(t *testing.T) {
	root := t.TempDir()
	big := make([]byte, 1<<20+7)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	text := []byte("0123456789abcdefghij")
	writeTree(t, root, map[string][]byte{"big.bin": big, "notes.txt": text, "empty.txt": nil})
	cases := []struct {
		path, rng string
		code      int
		parts     []wantPart // several: multipart
		whole     bool       // 200 and the whole file
	}{
		{"/notes.txt", "bytes=0-1,4-5", 206, []wantPart{{0, 1}, {4, 5}}, false},
		{"/notes.txt", "bytes=10-,0-0,-2", 206, []wantPart{{10, 19}, {0, 0}, {18, 19}}, false},
		{"/notes.txt", "bytes=3-4,100-200", 206, []wantPart{{3, 4}}, false}, // one left: a plain 206
		{"/notes.txt", "bytes=0-9,5-15", 200, nil, true},                    // 22 bytes of 20: overlap
		{"/notes.txt", "bytes=0-0,1-1,2-2,3-3,4-4", 206, []wantPart{{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}}, false},
		{"/notes.txt", "bytes=0-0,1-1,2-2,3-3,4-4,5-5", 200, nil, true}, // over -max-ranges 5
		{"/big.bin", "bytes=0-300000,500000-999999,-5", 206, []wantPart{{0, 300000}, {500000, 999999}, {len(big) - 5, len(big) - 1}}, false},
		{"/empty.txt", "bytes=-1", 200, nil, true},
		{"/empty.txt", "bytes=-5,7-9", 200, nil, true},
		{"/empty.txt", "bytes=0-0", 416, nil, false},
		{"/empty.txt", "bytes=-0", 416, nil, false},
	}
	files := map[string][]byte{"/notes.txt": text, "/big.bin": big, "/empty.txt": nil}
	ctypes := map[string]string{"/notes.txt": "text/plain; charset=utf-8", "/big.bin": "application/octet-stream"}
	check := func(t *testing.T, who string, i int, code int, h http.Header, body []byte) {
		tc := cases[i]
		file := files[tc.path]
		switch {
		case code != tc.code:
			t.Errorf("%s: %s %s: %d, want %d", who, tc.path, tc.rng, code, tc.code)
		case tc.whole:
			if !bytes.Equal(body, file) || h.Get("Content-Range") != "" {
				t.Errorf("%s: %s %s: %d bytes, Content-Range %q, want the whole file", who, tc.path, tc.rng, len(body), h.Get("Content-Range"))
			}
		case code == 416:
			if h.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(file)) {
				t.Errorf("%s: %s %s: 416 with Content-Range %q", who, tc.path, tc.rng, h.Get("Content-Range"))
			}
		case len(tc.parts) == 1:
			p := tc.parts[0]
			if !bytes.Equal(body, file[p.first:p.last+1]) || h.Get("Content-Type") != ctypes[tc.path] ||
				h.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", p.first, p.last, len(file)) {
				t.Errorf("%s: %s %s: %q %q %q", who, tc.path, tc.rng, h.Get("Content-Type"), h.Get("Content-Range"), body)
			}
		default:
			checkMultipart(t, who, tc.rng, h, body, file, ctypes[tc.path], tc.parts)
		}
	}
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		t.Run(stack.String(), func(t *testing.T) {
			s := start(t, Config{Root: root, Stack: stack, MaxRanges: 5})
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			for i, tc := range cases {
				resp, body := get(t, client, "http://"+s.Addr()+tc.path, "Range", tc.rng)
				check(t, "Go client", i, resp.StatusCode, resp.Header, body)
				// Pipelined: a HEAD announces the GET's length, and the
				// request after the GET parses, so the framing is right.
				req := "HTTP/1.1\r\nHost: x\r\nRange: " + tc.rng + "\r\n\r\n"
				rs := exchange(t, s, "HEAD "+tc.path+" "+req, "GET "+tc.path+" "+req, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
				if rs[0].ContentLength != rs[1].ContentLength || rs[2].StatusCode != 200 || rs[2].body != string(text) {
					t.Errorf("pipelined: %s %s: HEAD length %d, GET length %d, next %d %q",
						tc.path, tc.rng, rs[0].ContentLength, rs[1].ContentLength, rs[2].StatusCode, rs[2].body)
				}
			}
			c := &curlRun{bin: curlBin(t), base: "http://" + s.Addr(), dir: t.TempDir()}
			ts := c.seq(t, "mr", len(cases), func(i int) ([]string, string) {
				return []string{"-r", strings.TrimPrefix(cases[i].rng, "bytes=")}, cases[i].path
			})
			for i := range cases {
				h := c.dump1(t, fmt.Sprint("mr.h", i))
				body := c.read(t, fmt.Sprint("mr.", i))
				if ts[i].code == 416 {
					body = nil
				}
				check(t, "curl", i, ts[i].code, h.Header, body)
				if i > 0 && ts[i].connects != 0 {
					t.Errorf("curl: %s %s: a new connection, want the kept one", cases[i].path, cases[i].rng)
				}
			}
		})
	}
	if _, err := Start(Config{Root: root, Addr: "127.0.0.1:0", MaxRanges: 101}); err == nil {
		t.Error("MaxRanges 101: started")
	}
}
