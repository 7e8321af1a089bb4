package httpd

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	ok := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		in   string
		want int
	}{
		{ok, len(ok)},
		{ok + "GET /2 HTTP/1.1\r\n", len(ok)},
		{"\r\n" + ok, len(ok) + 2},
		{"GET / HTTP/1.0\n\n", 16},
		{"GET / HTTP/1.1\r\nHost: x\r\n", 0},
		{"GET / HT", 0},
		{"", 0},
		{"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", -400},
		{"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", -400},
		{"GET / HTTP/3.0\r\nHost: x\r\n\r\n", -505},
		{"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", -400},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", -400},
		{"GET /" + strings.Repeat("a", 9000), -414},
		{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 17000), -431},
	} {
		if got := parseRequest([]byte(tc.in)); got != tc.want {
			t.Errorf("parse(%.40q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		v           string
		size        uint64
		rc          int
		first, last uint64
	}{
		{"bytes=0-0", 10, 1, 0, 0},
		{"bytes=2-", 10, 1, 2, 9},
		{"bytes=-3", 10, 1, 7, 9},
		{"bytes=-30", 10, 1, 0, 9},
		{"bytes=5-99999999999999999999999", 10, 0, 0, 0},
		{"bytes=10-", 10, -1, 0, 0},
		{"bytes=0-", 0, -1, 0, 0},
		{"bytes=1-2, 4-5", 10, 0, 0, 0},
		{"bytes=-", 10, 0, 0, 0},
		{"lines=1-2", 10, 0, 0, 0},
	} {
		rc, f, l := parseRange(tc.v, tc.size)
		if rc != tc.rc || (rc == 1 && (f != tc.first || l != tc.last)) {
			t.Errorf("range(%q, %d) = %d %d-%d, want %d %d-%d", tc.v, tc.size, rc, f, l, tc.rc, tc.first, tc.last)
		}
	}
}

func TestDecodePath(t *testing.T) {
	for _, tc := range []struct {
		target, want string
		ok           bool
	}{
		{"/", "/", true},
		{"/a%20b?q=%zz#f", "/a b", true},
		{"/%2e%2e/x", "/../x", true}, // serve refuses the ".." segment
		{"/a%2Fb", "/a/b", true},
		// The absolute-form (RFC 9112 3.2.2), as curl -x sends it.
		{"http://example.com/notes.txt", "/notes.txt", true},
		{"HTTP://127.0.0.1:8080/a%20b?x", "/a b", true},
		{"https://[::1]:443/x/", "/x/", true},
		{"http://example.com", "/", true},
		{"http://example.com?q=1", "/", true},
		{"http://example.com#top", "/", true},
		{"http://h/../etc/passwd", "/../etc/passwd", true},
		{"http:///x", "", false},
		{"http://user@host/x", "", false},
		{"ftp://host/x", "", false},
		{"http:/x", "", false},
		{"*", "", false},
		{"x", "", false},
		{"", "", false},
		{"/%zz", "", false},
		{"/%4", "", false},
		{"/a%00b", "", false},
		{"/a\\b", "", false},
		{"/a%5cb", "", false},
		{"/a%0ab", "", false},
	} {
		got, ok := decodePath(tc.target)
		if got != tc.want || ok != tc.ok {
			t.Errorf("decodePath(%q) = %q %v, want %q %v", tc.target, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseRequest checks that the parser never reads past its input, that
// a head it accepts parses alone to the same length, and that feeding the
// bytes in two pieces never turns a complete head into an error.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HEAD /a%20b?q HTTP/1.0\r\nConnection: keep-alive\r\nRange: bytes=1-\r\n\r\nGET"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := parseRequest(b)
		if n > len(b) {
			t.Fatalf("parse = %d > len %d", n, len(b))
		}
		if n > 0 {
			if m := parseRequest(b[:n]); m != n {
				t.Fatalf("head alone parses to %d, want %d", m, n)
			}
			if m := parseRequest(append(bytes.Clone(b[:n]), "junk"...)); m != n {
				t.Fatalf("head + junk parses to %d, want %d", m, n)
			}
			for i := 0; i < n; i++ {
				if m := parseRequest(b[:i]); m > 0 {
					t.Fatalf("prefix %d of a %d-byte head parses to %d", i, n, m)
				}
			}
		}
	})
}
