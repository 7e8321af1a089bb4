package httpd

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
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

// bigHead is a request head of about size bytes: many header lines.
func bigHead(size int) string {
	var b strings.Builder
	b.WriteString("GET /notes.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\n")
	for i := 0; b.Len() < size-130; i++ {
		fmt.Fprintf(&b, "X-Pad-%03d: %s\r\n", i, strings.Repeat("p", 100))
	}
	b.WriteString("Range: bytes=1-2\r\n\r\n")
	return b.String()
}

// TestParseFed feeds heads to the parser in pieces of many sizes, as reads
// would bring them: the first result that is not 0 must be the result of
// parsing the whole input at once, with the same strings, and the parser
// must examine each byte at most twice, never again from the start.
func TestParseFed(t *testing.T) {
	inputs := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n",
		"\r\n\n\rGET / HTTP/1.0\n\n",
		"HEAD /a%20b?q HTTP/1.0\r\nConnection: keep-alive\r\nRange: bytes=1-\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nIf-Match: \"a\"\r\nIf-Match: \"b\"\r\nIf-Range: x\r\nIf-Range: y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\nX: " + strings.Repeat("a", 100),
		"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/3.0\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		strings.Repeat("\r\n", 9) + "GET / HTTP/1.1\r\n",
		"GET /" + strings.Repeat("a", 9000),
		"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 17000),
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 17000) + "\r\n\r\n",
		bigHead(16 << 10),
		bigHead(20 << 10),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := map[string]func(int) int{
		"1": func(int) int { return 1 }, "2": func(int) int { return 2 }, "3": func(int) int { return 3 },
		"7": func(int) int { return 7 }, "1000": func(int) int { return 1000 },
		"random": func(int) int { return 1 + rng.IntN(40) },
	}
	for _, in := range inputs {
		b := []byte(in)
		whole, _, _, wholeAt := parseFed(b, func(int) int { return len(b) })
		if want := parseRequest(b); whole != want {
			t.Fatalf("%.40q: fed at once %d, parsed at once %d", in, whole, want)
		}
		for name, piece := range pieces {
			n, fed, work, at := parseFed(b, piece)
			if n != whole || (n > 0 && !maps.Equal(at, wholeAt)) {
				t.Errorf("%.40q in pieces of %s: %d %v, whole %d %v", in, name, n, at, whole, wholeAt)
			}
			if work > 2*fed {
				t.Errorf("%.40q in pieces of %s: %d bytes examined for %d fed, want at most twice as many", in, name, work, fed)
			}
		}
	}
}

func TestParseRanges(t *testing.T) {
	type r = [2]uint64
	for _, tc := range []struct {
		v      string
		size   uint64
		rc     int
		ranges []r
	}{
		{"bytes=0-0", 10, 1, []r{{0, 0}}},
		{"bytes=2-", 10, 1, []r{{2, 9}}},
		{"bytes=-3", 10, 1, []r{{7, 9}}},
		{"bytes=-30", 10, 1, []r{{0, 9}}},
		{"BYTES=1-2", 10, 1, []r{{1, 2}}},
		{"bytes=5-99999999999999999999999", 10, 0, nil},
		{"bytes=10-", 10, -1, nil},
		{"bytes=0-", 0, -1, nil},
		{"bytes=0-0", 0, -1, nil},
		{"bytes=-0", 10, -1, nil},
		{"bytes=-0", 0, -1, nil},
		// RFC 9110 14.1.2: on an empty file a suffix-range with a
		// non-zero length is satisfiable; no byte can be sent in a 206,
		// so the header is ignored (14.2), not answered with 416.
		{"bytes=-1", 0, 0, nil},
		{"bytes=-5, 0-0", 0, 0, nil},
		{"bytes=1-2, 4-5", 10, 2, []r{{1, 2}, {4, 5}}},
		{"bytes=4-5,1-2", 10, 2, []r{{4, 5}, {1, 2}}}, // the order asked
		{"bytes=0-0,-1", 10, 2, []r{{0, 0}, {9, 9}}},
		{"bytes= 1-2 ,\t, 4-5 ,", 10, 2, []r{{1, 2}, {4, 5}}}, // empty members, OWS
		{"bytes=1-2,20-30,-0", 10, 1, []r{{1, 2}}},            // the unsatisfiable dropped
		{"bytes=20-30,40-", 10, -1, nil},
		{"bytes=0-5,3-9", 10, 0, nil}, // 12 bytes of a 10-byte file: the whole file
		{"bytes=0-4,5-9", 10, 2, []r{{0, 4}, {5, 9}}},
		{"bytes=0-4,0-4", 10, 2, []r{{0, 4}, {0, 4}}},
		{"bytes=0-4,0-4,0-0", 10, 0, nil},
		{"bytes=0-0,1-1,2-2,3-3", 10, 4, []r{{0, 0}, {1, 1}, {2, 2}, {3, 3}}},
		{"bytes=0-0,1-1,2-2,3-3,4-4", 10, 0, nil}, // over the cap of 4
		{"bytes=1-2,x", 10, 0, nil},
		{"bytes=1-2,5-3", 10, 0, nil},
		{"bytes=1-2,-", 10, 0, nil},
		{"bytes=", 10, 0, nil},
		{"bytes=,", 10, 0, nil},
		{"bytes=-", 10, 0, nil},
		{"lines=1-2", 10, 0, nil},
		{"bytes=1-2;x", 10, 0, nil},
		{"bytes=0-,0-", 1 << 62, 0, nil},
		{"bytes=0-,-18446744073709551615", 18446744073709551615, 0, nil}, // no overflow of the total
	} {
		rc, rs := parseRanges(tc.v, tc.size, 4)
		if rc != tc.rc || !slices.Equal(rs, tc.ranges) {
			t.Errorf("ranges(%q, %d) = %d %v, want %d %v", tc.v, tc.size, rc, rs, tc.rc, tc.ranges)
		}
	}
}

func TestAcceptCoding(t *testing.T) {
	for _, tc := range []struct {
		fields   string // header lines
		gzip, br int
	}{
		{"", -1, -1},
		{"Accept-Encoding: gzip\r\n", 1000, -1},
		{"Accept-Encoding: gzip, deflate, br\r\n", 1000, 1000},
		{"accept-encoding:br;q=0.8 , GZIP;Q=0.5\r\n", 500, 800},
		{"Accept-Encoding: gzip;q=0\r\n", 0, -1},
		{"Accept-Encoding: *\r\n", 1000, 1000},
		{"Accept-Encoding: *;q=0, br\r\n", 0, 1000},
		{"Accept-Encoding: gzip;q=0, *\r\n", 0, 1000},
		{"Accept-Encoding: x-gzip\r\n", 1000, -1},
		{"Accept-Encoding: gzip\r\nAccept-Encoding: br;q=0.1\r\n", 1000, 100}, // one list in two lines
		{"Accept-Encoding: identity\r\n", -1, -1},
		{"Accept-Encoding:\r\n", -1, -1},
		{"Accept-Encoding: gzip;q=2, br;q=1.5\r\n", -1, -1}, // bad qvalues
		{"Accept-Encoding: gzip;q=0.0001\r\n", -1, -1},      // 4 digits: not a qvalue
		{"Accept-Encoding: gzip;level=9\r\n", -1, -1},
		{"Accept-Encoding: gzipx, brotli\r\n", -1, -1},
		{"Accept-Encoding: ,, gzip ;q=0.25 ,\r\n", 250, -1},
		{"X-Accept-Encoding: gzip\r\n", -1, -1},
	} {
		head := "GET / HTTP/1.1\r\nHost: x\r\n" + tc.fields + "\r\n"
		if g, b := acceptCoding(head, "gzip"), acceptCoding(head, "br"); g != tc.gzip || b != tc.br {
			t.Errorf("%q: gzip %d br %d, want %d %d", tc.fields, g, b, tc.gzip, tc.br)
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
		{"/%2e%2e/x", "/../x", true}, // serve refuses a ".." above the root
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

// TestParseConditionalFields checks what the parser records of the
// conditional fields and Range: a list field (If-Match, If-None-Match) is
// present from its first line on; a one-value field sent twice is present
// and empty, which no date, range or validator matches.
func TestParseConditionalFields(t *testing.T) {
	const rl = "GET / HTTP/1.1\r\nHost: x\r\n"
	for _, tc := range []struct {
		hdrs string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"If-Match: \"a\"\r\nif-none-match:  W/\"b\" \r\n", map[string]string{"if-match": `"a"`, "if-none-match": `W/"b"`}},
		{"If-Match: \"a\"\r\nIf-Match: \"b\"\r\n", map[string]string{"if-match": `"a"`}},
		{"If-Match:\r\n", map[string]string{"if-match": ""}},
		{"IF-UNMODIFIED-SINCE: d1\r\nIf-Modified-Since: d2\r\n", map[string]string{"if-unmodified-since": "d1", "if-modified-since": "d2"}},
		{"If-Range: \"e\"\r\nRange: bytes=0-1\r\n", map[string]string{"if-range": `"e"`, "range": "bytes=0-1"}},
		{"If-Range: \"e\"\r\nIf-Range: \"e\"\r\n", map[string]string{"if-range": ""}},
		{"Range: bytes=0-1\r\nX: y\r\nRange: bytes=2-3\r\nRange: bytes=4-5\r\n", map[string]string{"range": ""}},
		{"If-Modified-Since: d\r\nIf-Modified-Since: d\r\n", map[string]string{"if-modified-since": ""}},
		{"If-Unmodified-Since: d\r\nIf-Unmodified-Since: d\r\n", map[string]string{"if-unmodified-since": ""}},
	} {
		head := rl + tc.hdrs + "\r\n"
		ph := parseHead([]byte(head))
		if ph.n != len(head) || !maps.Equal(ph.fields, tc.want) {
			t.Errorf("%q: %d %q, want %d %q", tc.hdrs, ph.n, ph.fields, len(head), tc.want)
		}
	}
}

func TestEtagMatch(t *testing.T) {
	const e = `"14-65a"`
	for _, tc := range []struct {
		v            string
		weak, strong bool
	}{
		{e, true, true},
		{"W/" + e, true, false},
		{"*", true, true},
		{" * ", true, true},
		{`"x", *`, true, true},
		{"*x", false, false},
		{` "x" ,, ` + e + ` `, true, true},
		{`"x", W/` + e, true, false},
		{`"x"`, false, false},
		{`14-65a`, false, false},
		{`"14-65a`, false, false},
		{`"14-65a""`, false, false},
		{`"14-65a" x, "y"`, false, false},
		{`"y" , "14-65a"  ,"z"`, true, true},
		{`"14-65a",`, true, true},
		{"", false, false},
		{"W/", false, false},
		{`W/,` + e, true, true},
	} {
		if got := etagMatch(tc.v, e, false); got != tc.weak {
			t.Errorf("weak match %q: %v, want %v", tc.v, got, tc.weak)
		}
		if got := etagMatch(tc.v, e, true); got != tc.strong {
			t.Errorf("strong match %q: %v, want %v", tc.v, got, tc.strong)
		}
	}
	// Lines of one list field are one list; other fields do not count.
	const rl = "GET / HTTP/1.1\r\nHost: x\r\n"
	for _, tc := range []struct {
		hdrs, name string
		strong     bool
		want       bool
	}{
		{"If-Match: \"x\"\r\nIf-Match: " + e + "\r\n", "if-match", true, true},
		{"If-Match: \"x\"\r\nX-Other: " + e + "\r\nif-match: \"y\"\r\n", "if-match", true, false},
		{"If-Match: W/" + e + "\r\nIf-Match: \"y\"\r\n", "if-match", true, false},
		{"If-None-Match: \"x\"\nIf-None-Match:\tW/" + e + "\t\n", "if-none-match", false, true},
		{"If-None-Match: " + e + "\r\n", "if-match", true, false},
		{"If-Match-X: " + e + "\r\n", "if-match", true, false},
		{"If-Match:\r\n", "if-match", true, false},
	} {
		if got := etagListMatch(rl+tc.hdrs+"\r\n", tc.name, e, tc.strong); got != tc.want {
			t.Errorf("%q, %s: %v, want %v", tc.hdrs, tc.name, got, tc.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	const t0 = 784111777 // Sun, 06 Nov 1994 08:49:37 GMT
	for _, tc := range []struct {
		v    string
		want int64
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", t0},
		{"Sunday, 06-Nov-94 08:49:37 GMT", t0},
		{"Sun Nov  6 08:49:37 1994", t0},
		{"Thu, 01 Jan 1970 00:00:01 GMT", 1},
		{"Sun, 06 Nov 1994 08:49:37", -1},
		{"Sun, 06 Nov 1994 08:49:37 GMT ", -1},
		{"Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", -1},
		{"1994-11-06T08:49:37Z", -1},
		{"", -1},
		{"not a date", -1},
		{strings.Repeat("Sun, ", 20), -1},
		{"Sun, 06 Nov 1994 08:49:37 GMT\x00", -1},
	} {
		if got := parseDate(tc.v); got != tc.want {
			t.Errorf("parseDate(%q) = %d, want %d", tc.v, got, tc.want)
		}
	}
	// RFC 850's two-digit year is at most 50 years ahead, else in the
	// past (by the year: the month and day do not count).
	now := time.Now().UTC()
	for _, tc := range []struct{ sent, want int }{{0, 0}, {49, 49}, {51, -49}, {-49, -49}, {-51, 49}} {
		sent, want := now.AddDate(tc.sent, 0, 0), now.AddDate(tc.want, 0, 0)
		if got := parseDate(sent.Format("Monday, 02-Jan-06 15:04:05 GMT")); got != want.Unix() {
			t.Errorf("RFC 850 date %d years from now: %v, want %v", tc.sent, time.Unix(got, 0).UTC(), want)
		}
	}
}

func TestIfRangeMatch(t *testing.T) {
	const e, t0 = `"14-65a"`, 784111777
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{e, true},
		{"W/" + e, false},
		{`"14-65b"`, false},
		{e + ", " + e, false},
		{"*", false},
		{"Sun, 06 Nov 1994 08:49:37 GMT", true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", true},
		{"Sun, 06 Nov 1994 08:49:38 GMT", false},
		{"Sun, 06 Nov 1994 08:49:36 GMT", false},
		{"yesterday", false},
		{"", false},
	} {
		if got := ifRangeMatch(tc.v, e, t0); got != tc.want {
			t.Errorf("If-Range %q: %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestTargetQuery(t *testing.T) {
	for _, tc := range []struct {
		target, q string
		ok        bool
	}{
		{"/a", "", false},
		{"/a?", "", true},
		{"/a?b=1&c", "b=1&c", true},
		{"/a?b?c#d?e", "b?c", true},
		{"/a#b?c", "", false},
		{"http://h?q", "q", true},
		{"http://h/x?q=%20#", "q=%20", true},
	} {
		q, ok := targetQuery(tc.target)
		if q != tc.q || ok != tc.ok {
			t.Errorf("query of %q: %q %v, want %q %v", tc.target, q, ok, tc.q, tc.ok)
		}
	}
}

func TestURIEncode(t *testing.T) {
	for _, tc := range []struct {
		in    string
		query bool
		want  string
	}{
		{"/a/b-c_d.e~f", false, "/a/b-c_d.e~f"},
		{"!$&'()*+,;=:@", false, "!$&'()*+,;=:@"},
		{"a b\"%?#<>\\^`{|}", false, "a%20b%22%25%3F%23%3C%3E%5C%5E%60%7B%7C%7D"},
		{"a b\"%?#<>", true, "a%20b%22%?%23%3C%3E"},
		{"\r\nSet-Cookie: x\x00\x7f", false, "%0D%0ASet-Cookie:%20x%00%7F"},
		{"\r\n", true, "%0D%0A"},
		{"\xc3\xa9\xff", false, "%C3%A9%FF"},
		{"", false, ""},
	} {
		got, n := uriEncode(tc.in, tc.query, -1)
		if got != tc.want || n != len(tc.want) {
			t.Errorf("encode(%q, query %v) = %q %d, want %q", tc.in, tc.query, got, n, tc.want)
		}
		// A short buffer gets a NUL-terminated prefix and the full length.
		for _, c := range []int{0, 1, 2, 4} {
			got, n := uriEncode(tc.in, tc.query, c)
			want := tc.want[:min(len(tc.want), max(c-1, 0))]
			if got != want || n != len(tc.want) {
				t.Errorf("encode(%q) into %d bytes = %q %d, want %q %d", tc.in, c, got, n, want, len(tc.want))
			}
		}
	}
}

// FuzzParseRequest checks that the parser never reads past its input, that
// a head it accepts parses alone to the same length, that no proper prefix
// of it is taken for a head or an error, and that the incremental parser
// fed a byte at a time gets the whole parse's result with its strings,
// examining each byte at most twice.
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
		_, _, _, whole := parseFed(b, func(int) int { return len(b) })
		m, fed, work, at := parseFed(b, func(int) int { return 1 })
		if m != n || (n > 0 && !maps.Equal(at, whole)) || work > 2*fed {
			t.Fatalf("fed a byte at a time: %d %v, %d bytes examined for %d; whole: %d %v", m, at, work, fed, n, whole)
		}
	})
}
