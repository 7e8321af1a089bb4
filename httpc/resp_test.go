package httpc

import (
	"strings"
	"syscall"
	"testing"
)

// splits returns the ways a stream of n bytes is cut into reads for the
// tests: in one piece, in two at every offset, and one byte at a time.
func splits(n int) [][]int {
	out := [][]int{nil}
	for i := 1; i < n; i++ {
		out = append(out, []int{i})
	}
	return append(out, byteCuts(n))
}

// byteCuts cuts n bytes into reads of one byte.
func byteCuts(n int) []int {
	var cuts []int
	for i := 1; i < n; i++ {
		cuts = append(cuts, i)
	}
	return cuts
}

func TestResponseGood(t *testing.T) {
	bigHead := "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", headMax-len("HTTP/1.1 200 OK\r\nX-Pad: \r\n\r\n")) + "\r\n\r\n"
	for _, tc := range []struct {
		name    string
		resp    string
		status  int
		framing int
		close   bool
		eof     bool // the server closes after the bytes
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", 200, bodyLength, false, false},
		{"length twice, same", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length:5 \r\n\r\nhello", 200, bodyLength, false, false},
		{"empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, bodyNone, false, false},
		{"empty reason", "HTTP/1.1 404 \r\nContent-Length: 1\r\n\r\nx", 404, bodyLength, false, false},
		{"no reason", "HTTP/1.1 500\r\nContent-Length: 1\r\n\r\nx", 500, bodyLength, false, false},
		{"obs-text reason", "HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n", 200, bodyNone, false, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;name=value\r\nhello\r\n00A \r\n0123456789\r\na\r\n\r\n\r\n\r\n\r\n\r\n\r\n0\r\n\r\n", 200, bodyChunked, false, false},
		{"chunked with trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
			"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n", 200, bodyChunked, false, false},
		{"interim responses skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" +
			"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nno\n", 404, bodyLength, true, false},
		{"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", 204, bodyNone, false, false},
		{"304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n", 304, bodyNone, false, false},
		{"connection close", "HTTP/1.1 301 Moved\r\nLocation: /x\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n", 301, bodyNone, true, false},
		{"1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, bodyLength, true, false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 200, bodyLength, false, false},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nall of this until the end", 200, bodyClose, true, true},
		{"coding after chunked: until close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz", 200, bodyClose, true, true},
		{"head at the limit", bigHead, 200, bodyClose, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cuts := range splits(len(tc.resp)) {
				r := feedResponse([]byte(tc.resp), cuts, tc.eof)
				if r.Err != nil || !r.Done || r.Used != len(tc.resp) || r.Status != tc.status ||
					r.Framing != tc.framing || r.Close != tc.close {
					t.Fatalf("cut at %v: %+v; want done after all %d bytes, status %d, framing %d, close %v",
						cuts, r, len(tc.resp), tc.status, tc.framing, tc.close)
				}
			}
		})
	}
}

func TestResponseBad(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\n"
	for _, tc := range []struct {
		name string
		resp string
		eof  bool
		err  error
		why  string
	}{
		{"not http", "garbage, and no end in sight", false, ErrFraming, "not an HTTP/1.x response"},
		{"http/2", "HTTP/2 200\r\n\r\n", false, ErrFraming, "not an HTTP/1.x response"},
		{"letter in code", "HTTP/1.1 2x0 OK\r\n\r\n", false, ErrFraming, "not an HTTP/1.x response"},
		{"code too big", "HTTP/1.1 600 What\r\n\r\n", false, ErrFraming, "bad status code"},
		{"code too small", "HTTP/1.1 099 What\r\n\r\n", false, ErrFraming, "bad status code"},
		{"no space after code", "HTTP/1.1 200OK\r\n\r\n", false, ErrFraming, "bad status line"},
		{"control in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", false, ErrFraming, "bad status line"},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, ErrFraming, "LF without CR"},
		{"bare CR", ok + "A: b\rC: d\r\n\r\n", false, ErrFraming, "CR without LF"},
		{"NUL", ok + "A: b\x00\r\n\r\n", false, ErrFraming, "NUL byte"},
		{"no colon", ok + "Content-Length 5\r\n\r\nhello", false, ErrFraming, "bad header field name"},
		{"space before colon", ok + "Content-Length : 5\r\n\r\nhello", false, ErrFraming, "bad header field name"},
		{"empty name", ok + ": 5\r\n\r\n", false, ErrFraming, "bad header field name"},
		{"folded", ok + "A: b\r\n c\r\n\r\n", false, ErrFraming, "folded header line"},
		{"control in value", ok + "A: b\x7f\r\n\r\n", false, ErrFraming, "control character"},
		{"negative length", ok + "Content-Length: -1\r\n\r\n", false, ErrFraming, "bad Content-Length"},
		{"length list", ok + "Content-Length: 1, 1\r\n\r\nx", false, ErrFraming, "bad Content-Length"},
		{"empty length", ok + "Content-Length:\r\n\r\n", false, ErrFraming, "bad Content-Length"},
		{"huge length", ok + "Content-Length: 1234567890123456789\r\n\r\n", false, ErrFraming, "bad Content-Length"},
		{"lengths disagree", ok + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", false, ErrFraming, "disagree"},
		{"length and chunked", ok + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, ErrFraming, "both Content-Length and Transfer-Encoding"},
		{"chunked twice", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false, ErrFraming, "chunked applied twice"},
		{"bad coding", ok + "Transfer-Encoding: chunked/x\r\n\r\n", false, ErrFraming, "bad Transfer-Encoding"},
		{"too many fields", ok + strings.Repeat("A: b\r\n", 101) + "\r\n", false, ErrHeadTooLarge, "too many header fields"},
		{"head too long", ok + "A: " + strings.Repeat("x", headMax) + "\r\n\r\n", false, ErrHeadTooLarge, "response head over the limit"},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, syscall.EPROTO, "101 Switching Protocols"},
		{"endless interim", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 17), false, ErrFraming, "too many interim"},
		{"chunk size not hex", ok + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", false, ErrFraming, "bad chunk size"},
		{"chunk size empty", ok + "Transfer-Encoding: chunked\r\n\r\n\r\n", false, ErrFraming, "bad chunk size"},
		{"chunk size huge", ok + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", false, ErrFraming, "chunk size too large"},
		{"chunk line too long", ok + "Transfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", 1100) + "\r\n", false, ErrFraming, "chunk-size line"},
		{"chunk longer than its size", ok + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", false, ErrFraming, "chunk data longer"},
		{"chunk size bare LF", ok + "Transfer-Encoding: chunked\r\n\r\n3\nabc", false, ErrFraming, "bad chunk size"},
		{"trailer bare LF", ok + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", false, ErrFraming, "bad trailer field"},
		{"closed before", "", true, ErrTruncated, "closed before the response"},
		{"closed in the head", ok + "Content-Le", true, ErrTruncated, "in the middle"},
		{"closed in the body", ok + "Content-Length: 10\r\n\r\n12345", true, ErrTruncated, "in the middle"},
		{"closed in a chunk", ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nab", true, ErrTruncated, "in the middle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cuts := range splits(len(tc.resp)) {
				r := feedResponse([]byte(tc.resp), cuts, tc.eof)
				if r.Err != tc.err || !strings.Contains(r.Why, tc.why) || r.Done {
					t.Fatalf("cut at %v: %+v; want %v (%s)", cuts, r, tc.err, tc.why)
				}
				if len(cuts) > 200 {
					break // byte at a time through a long input: the two-piece cuts did enough
				}
			}
		})
	}
}

// What follows a response is not taken: the load generator, reading in
// lockstep, counts it as a protocol error.
func TestResponseLeftover(t *testing.T) {
	for _, resp := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\n\r\n",
	} {
		b := resp + "HTTP/1.1 200 OK\r\n"
		for _, cuts := range splits(len(b)) {
			r := feedResponse([]byte(b), cuts, false)
			if !r.Done || r.Err != nil || r.Used != len(resp) {
				t.Fatalf("%q cut at %v: %+v; want done after %d bytes", b, cuts, r, len(resp))
			}
		}
	}
}

// FuzzResponse checks that the reader never crashes and that how the
// bytes are cut into reads never changes what it makes of them.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\nbad",
	} {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		whole := feedResponse(b, nil, true)
		if whole.Used > len(b) || (whole.Err == nil && !whole.Done && whole.Used != len(b)) {
			t.Fatalf("whole: %+v for %d bytes", whole, len(b))
		}
		same := func(r respResult, how string) {
			if r.Err != whole.Err || r.Why != whole.Why || r.Done != whole.Done {
				t.Fatalf("%s: %+v; in one piece: %+v", how, r, whole)
			}
			if r.Done && (r.Used != whole.Used || r.Status != whole.Status || r.Close != whole.Close) {
				t.Fatalf("%s: %+v; in one piece: %+v", how, r, whole)
			}
		}
		if len(b) > 0 {
			same(feedResponse(b, []int{int(cut) % len(b)}, true), "cut in two")
		}
		if len(b) <= 2048 {
			same(feedResponse(b, byteCuts(len(b)), true), "byte at a time")
		}
	})
}

// The body reaches on_body in order, without the chunk framing; answers
// to HEAD have none whatever their fields say.
func TestResponseBodyAndHead(t *testing.T) {
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n"
	for _, cuts := range splits(len(chunked)) {
		r := feedResponse([]byte(chunked), cuts, false)
		if !r.Done || r.Err != nil || r.Body != "hello world" {
			t.Fatalf("cut at %v: %+v", cuts, r)
		}
	}
	length := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	if r := feedResponse([]byte(length), []int{3, 40}, false); r.Body != "hello" || !r.Done {
		t.Fatalf("length: %+v", r)
	}
	head := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
	for _, resp := range []string{head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"} {
		r := feedResponseHead([]byte(resp+"HTTP/1.1"), nil, false, 1)
		if !r.Done || r.Err != nil || r.Used != len(resp) || r.Framing != bodyNone || r.Body != "" {
			t.Fatalf("HEAD %q: %+v", resp, r)
		}
	}
	if r := feedResponseHead([]byte(head), nil, false, 1); r.Length != 5 {
		t.Fatalf("HEAD keeps the length a GET would get: %+v", r)
	}
}
