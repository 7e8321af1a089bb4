package httpd

// The server checked by curl, a client written by others (Debian's
// package), next to the Go client and raw connections of httpd_test.go.
//
// Two things are not here. curl dropped HTTP/1.1 pipelining in 7.65, so
// pipelining is checked over a raw connection (TestServer/*/pipelining);
// and curl sends a request head at once, so the slow client that must get
// 408 is a raw connection too (TestDeadlines/slowloris).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// hugeSize is larger than a socket's send buffer can grow (tcp_wmem's
// maximum is 4 MiB by default), so coro_sendfile must wait for the socket
// again and again; and odd, so that no chunk size divides it.
const hugeSize = 4<<20 + 4321

// curlBin returns curl's path. Without curl the test is skipped, unless
// CI=true: CI installs curl (.ci/install-deps test), so there a missing
// curl is a broken setup, not a reason to pass silently.
func curlBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("curl is required when CI=true: %v (bash .ci/install-deps test)", err)
	}
	t.Skipf("curl not found, the curl tests do not run: %v (bash .ci/install-deps test installs it)", err)
	return ""
}

// curlOpts go with every transfer: no proxy from the environment, and a
// bound on each transfer. --next resets per-transfer options, so next
// repeats them. (-q, which must come first, keeps ~/.curlrc out.)
var curlOpts = []string{"--silent", "--show-error", "--noproxy", "*", "--max-time", "20"}

func next() []string { return append([]string{"--next"}, curlOpts...) }

// curlRun runs curl against one server.
type curlRun struct {
	bin  string
	base string // "http://127.0.0.1:PORT" or "http://[::1]:PORT"
	dir  string // where transfers write bodies and header dumps
}

type curlOut struct {
	stdout, stderr string
	exit           int
}

// run runs curl with args and returns its output and exit status. curl
// runs natively even when the test binary runs under qemu (CORO_TEST_EXEC):
// qemu-user passes exec of a host binary to the kernel.
func (c *curlRun) run(t *testing.T, args ...string) curlOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(append([]string{"-q"}, curlOpts...), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("curl %s: still running after 60 s (stderr %q)", brief(args), stderr.String())
	}
	out := curlOut{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		out.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("curl %s: %v", brief(args), err)
	}
	return out
}

// brief shortens long arguments (URLs and headers of many KiB) for messages.
func brief(args []string) string {
	var b []string
	for _, a := range args {
		if len(a) > 80 {
			a = fmt.Sprintf("%s...(%d bytes)", a[:60], len(a))
		}
		b = append(b, strconv.Quote(a))
	}
	return strings.Join(b, " ")
}

func (c *curlRun) url(path string) string { return c.base + path }

// file names a file in the run's directory.
func (c *curlRun) file(name string) string { return filepath.Join(c.dir, name) }

// read returns a file curl wrote. curl creates no file for an empty body,
// so a missing file reads as empty.
func (c *curlRun) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(c.file(name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return b
}

// wout is the -w format of most runs: one line per transfer.
const wout = "%{http_code} %{num_connects} %{exitcode} %{size_download}\\n"

type transfer struct {
	code     int   // the status code (as curl reports it)
	connects int   // new connections this transfer made: 0 = reused
	exit     int   // curl's error for this transfer, 0 = none
	size     int64 // body bytes received
}

// transfers parses the lines that wout printed.
func transfers(t *testing.T, out curlOut, want int) []transfer {
	t.Helper()
	var ts []transfer
	for _, line := range strings.Split(strings.TrimSpace(out.stdout), "\n") {
		var tr transfer
		if _, err := fmt.Sscanf(line, "%d %d %d %d", &tr.code, &tr.connects, &tr.exit, &tr.size); err != nil {
			t.Fatalf("curl output line %q: %v (stderr %q)", line, err, out.stderr)
		}
		ts = append(ts, tr)
	}
	if len(ts) != want {
		t.Fatalf("curl reported %d transfers, want %d (stdout %q, stderr %q)", len(ts), want, out.stdout, out.stderr)
	}
	return ts
}

// dump reads the header blocks curl wrote with -D (one per response,
// appended when one option group has several URLs).
func (c *curlRun) dump(t *testing.T, name string) []*http.Response {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(c.read(t, name)))
	var rs []*http.Response
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return rs
		}
		// HEAD: the dump holds heads only, whatever their Content-Length.
		r, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
		if err != nil {
			t.Fatalf("header dump %s: %v", name, err)
		}
		rs = append(rs, r)
	}
}

// seq runs one curl with n transfers in a row (each after --next, so all on
// one connection when the server keeps it): transfer i adds the options
// req(i) gives, dumps its head to NAME.h<i> and its body to NAME.<i>, and
// fetches path.
func (c *curlRun) seq(t *testing.T, name string, n int, req func(i int) (opts []string, path string)) []transfer {
	var args []string
	for i := 0; i < n; i++ {
		if i > 0 {
			args = append(args, next()...)
		}
		opts, path := req(i)
		args = append(args, opts...)
		args = append(args, "-w", wout, "-D", c.file(fmt.Sprint(name, ".h", i)),
			"-o", c.file(fmt.Sprint(name, ".", i)), c.url(path))
	}
	return transfers(t, c.run(t, args...), n)
}

// connection is a response's Connection header (which ReadResponse turns
// into Close when it says close).
func connection(r *http.Response) string {
	if r.Close {
		return "close"
	}
	return r.Header.Get("Connection")
}

// dump1 reads a header dump that must hold one response.
func (c *curlRun) dump1(t *testing.T, name string) *http.Response {
	t.Helper()
	rs := c.dump(t, name)
	if len(rs) != 1 {
		t.Fatalf("header dump %s: %d responses, want 1", name, len(rs))
	}
	return rs[0]
}

// curlSite is the test site of httpd_test.go plus what the curl tests
// need: a file larger than a socket buffer, an empty file and a name with
// a space. It returns the root and the files' contents by URL path.
func curlSite(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	root, _ := site(t)
	huge := make([]byte, hugeSize)
	if _, err := rand.Read(huge); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"huge.bin":       huge,
		"empty.txt":      nil,
		"with space.txt": []byte("spaced out\n"),
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{}
	for _, name := range []string{"index.html", "notes.txt", "style.css", "big.bin", "huge.bin",
		"empty.txt", "with space.txt", "dir/index.html", "sub/file.txt"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		files["/"+name] = b
	}
	return root, files
}

// ipv6Loopback reports whether ::1 can be listened on here.
func ipv6Loopback() error {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return err
	}
	return l.Close()
}

// errorBody is the body the server sends with an error status (and with
// a redirect).
var errorBody = map[int]string{
	301: "301 Moved Permanently\n",
	400: "400 Bad Request\n",
	403: "403 Forbidden\n",
	404: "404 Not Found\n",
	405: "405 Method Not Allowed\n",
	412: "412 Precondition Failed\n",
	414: "414 URI Too Long\n",
	416: "416 Range Not Satisfiable\n",
	431: "431 Request Header Fields Too Large\n",
	501: "501 Not Implemented\n",
}

// TestCurl runs the curl checks against the server in both stack modes,
// on IPv4 and IPv6 loopback.
func TestCurl(t *testing.T) {
	bin := curlBin(t)
	root, files := curlSite(t)
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		for _, host := range []string{"127.0.0.1", "::1"} {
			t.Run(stack.String()+"/"+host, func(t *testing.T) {
				if host == "::1" {
					if err := ipv6Loopback(); err != nil {
						t.Skipf("IPv6 loopback unavailable here: %v", err)
					}
				}
				s := start(t, Config{Root: root, Stack: stack, Loops: 2, Addr: net.JoinHostPort(host, "0")})
				c := &curlRun{bin: bin, base: "http://" + s.Addr(), dir: t.TempDir()}
				testCurl(t, c, files)
				// Every connection curl opened is gone once curl has
				// exited, and with it every request buffer.
				deadline := time.Now().Add(20 * time.Second) // generous: a loaded machine
				for {
					st := s.Stats()
					if st.LiveConns == 0 && st.LiveBufs == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("after curl exited: %+v, want no live connections or buffers", st)
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
	}
}

func testCurl(t *testing.T, c *curlRun, files map[string][]byte) {
	// Several URLs in one curl invocation share one keep-alive connection,
	// across bodies sent by sendfile, error responses and directory
	// indexes; every body arrives byte for byte.
	t.Run("keepalive", func(t *testing.T) {
		gets := []struct {
			path string
			code int
			body []byte
		}{
			{"/", 200, files["/index.html"]},
			{"/notes.txt", 200, files["/notes.txt"]},
			{"/huge.bin", 200, files["/huge.bin"]},
			{"/nope.html", 404, []byte(errorBody[404])},
			{"/sub/", 403, []byte(errorBody[403])},
			{"/with%20space.txt", 200, files["/with space.txt"]},
			{"/big.bin", 200, files["/big.bin"]},
			{"/dir", 301, []byte(errorBody[301])},
			{"/dir/", 200, files["/dir/index.html"]},
			{"/%73tyle.css?v=1", 200, files["/style.css"]},
			{"/empty.txt", 200, nil},
			{"/huge.bin", 200, files["/huge.bin"]},
		}
		args := []string{"-v", "-w", wout, "-D", c.file("keepalive.h")}
		for i, g := range gets {
			args = append(args, "-o", c.file(fmt.Sprint("keepalive.", i)), c.url(g.path))
		}
		out := c.run(t, args...)
		ts := transfers(t, out, len(gets))
		heads := c.dump(t, "keepalive.h")
		for i, g := range gets {
			tr := ts[i]
			body := c.read(t, fmt.Sprint("keepalive.", i))
			if tr.code != g.code || tr.exit != 0 || !bytes.Equal(body, g.body) {
				t.Errorf("GET %s: %d (curl error %d), %d bytes, want %d and the %d bytes served",
					g.path, tr.code, tr.exit, len(body), g.code, len(g.body))
			}
			if wantNew := b2i(i == 0); tr.connects != wantNew {
				t.Errorf("GET %s (transfer %d): %d new connections, want %d", g.path, i, tr.connects, wantNew)
			}
			if i < len(heads) {
				h := heads[i]
				if connection(h) != "keep-alive" || h.ContentLength != int64(len(g.body)) {
					t.Errorf("GET %s: Connection %q, Content-Length %d", g.path, connection(h), h.ContentLength)
				}
			}
		}
		if len(heads) != len(gets) {
			t.Errorf("%d header blocks, want %d", len(heads), len(gets))
		}
		if n := strings.Count(out.stderr, "Re-using existing connection"); n != len(gets)-1 {
			t.Errorf("curl -v says %d connection re-uses, want %d", n, len(gets)-1)
		}
	})

	// HTTP/1.0 without keep-alive closes after each response; with it
	// the connection stays.
	t.Run("http1.0", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			conn string
		}{
			{nil, "close"},
			{[]string{"-H", "Connection: keep-alive"}, "keep-alive"},
		} {
			h := c.file("http10.h")
			os.Remove(h)
			args := append([]string{"--http1.0", "-w", wout, "-D", h,
				"-o", c.file("http10.0"), "-o", c.file("http10.1")}, tc.args...)
			ts := transfers(t, c.run(t, append(args, c.url("/notes.txt"), c.url("/style.css"))...), 2)
			for i, r := range c.dump(t, "http10.h") {
				if r.StatusCode != 200 || connection(r) != tc.conn {
					t.Errorf("--http1.0 %q, response %d: %d, Connection %q, want 200 %q",
						tc.args, i, r.StatusCode, connection(r), tc.conn)
				}
			}
			reused := tc.conn == "keep-alive"
			if (ts[1].connects == 0) != reused {
				t.Errorf("--http1.0 %q: second transfer made %d new connections, want reuse %v", tc.args, ts[1].connects, reused)
			}
			if !bytes.Equal(c.read(t, "http10.0"), files["/notes.txt"]) || !bytes.Equal(c.read(t, "http10.1"), files["/style.css"]) {
				t.Errorf("--http1.0 %q: bodies differ from the files", tc.args)
			}
		}
	})

	// HEAD (-I) sends the head of a GET and no body: the GET that follows
	// on the same connection gets its own response intact.
	t.Run("head", func(t *testing.T) {
		args := []string{"-I", "-w", wout, "-o", c.file("head.0"), c.url("/huge.bin")}
		args = append(args, next()...)
		args = append(args, "-I", "-w", wout, "-o", c.file("head.1"), c.url("/nope.html"))
		args = append(args, next()...)
		args = append(args, "-w", wout, "-o", c.file("head.2"), c.url("/notes.txt"))
		ts := transfers(t, c.run(t, args...), 3)
		for i, want := range []struct {
			code int
			size int64
		}{{200, hugeSize}, {404, int64(len(errorBody[404]))}} {
			h := c.dump1(t, fmt.Sprint("head.", i))
			if ts[i].code != want.code || h.StatusCode != want.code || h.ContentLength != want.size {
				t.Errorf("HEAD %d: %d, Content-Length %d, want %d %d", i, h.StatusCode, h.ContentLength, want.code, want.size)
			}
		}
		if h := c.dump1(t, "head.0"); h.Header.Get("Accept-Ranges") != "bytes" || h.Header.Get("ETag") == "" {
			t.Errorf("HEAD /huge.bin: %v", h.Header)
		}
		if ts[2].code != 200 || ts[1].connects != 0 || ts[2].connects != 0 ||
			!bytes.Equal(c.read(t, "head.2"), files["/notes.txt"]) {
			t.Errorf("GET after HEADs: %+v, body %q", ts, c.read(t, "head.2"))
		}
	})

	// Ranges (-r), all on one connection. The server serves one range
	// (several: TestMultipartRanges); it ignores an invalid one, or ranges
	// that add up to more than the file, and sends the whole file (RFC
	// 9110 14.2 allows that), and answers 416 when the range starts past
	// the end.
	t.Run("range", func(t *testing.T) {
		notes, huge := files["/notes.txt"], files["/huge.bin"]
		ranges := []struct {
			path, rng string
			code      int
			body      []byte
			cr        string // Content-Range
		}{
			{"/notes.txt", "0-9", 206, notes[:10], "bytes 0-9/20"},
			{"/notes.txt", "-5", 206, notes[15:], "bytes 15-19/20"},
			{"/notes.txt", "15-", 206, notes[15:], "bytes 15-19/20"},
			{"/notes.txt", "18-100", 206, notes[18:], "bytes 18-19/20"},
			{"/notes.txt", "0-15,10-19", 200, notes, ""},
			{"/empty.txt", "-5", 200, nil, ""},
			{"/notes.txt", "5-2", 200, notes, ""},
			{"/notes.txt", "20-", 416, []byte(errorBody[416]), "bytes */20"},
			{"/notes.txt", "100-200", 416, []byte(errorBody[416]), "bytes */20"},
			{"/empty.txt", "0-", 416, []byte(errorBody[416]), "bytes */0"},
			{"/huge.bin", "1000000-3999999", 206, huge[1000000:4000000], fmt.Sprintf("bytes 1000000-3999999/%d", hugeSize)},
			{"/huge.bin", "-1000", 206, huge[hugeSize-1000:], fmt.Sprintf("bytes %d-%d/%d", hugeSize-1000, hugeSize-1, hugeSize)},
			{"/huge.bin", "4194000-", 206, huge[4194000:], fmt.Sprintf("bytes 4194000-%d/%d", hugeSize-1, hugeSize)},
			{"/notes.txt", "3-3", 206, notes[3:4], "bytes 3-3/20"},
		}
		ts := c.seq(t, "range", len(ranges), func(i int) ([]string, string) {
			r := ranges[i]
			return []string{"-r", r.rng}, r.path
		})
		for i, r := range ranges {
			h := c.dump1(t, fmt.Sprint("range.h", i))
			body := c.read(t, fmt.Sprint("range.", i))
			if ts[i].code != r.code || h.StatusCode != r.code || !bytes.Equal(body, r.body) ||
				h.Header.Get("Content-Range") != r.cr || h.ContentLength != int64(len(r.body)) {
				t.Errorf("-r %s %s: %d, Content-Range %q, Content-Length %d, %d bytes (equal %v); want %d %q, %d bytes",
					r.rng, r.path, h.StatusCode, h.Header.Get("Content-Range"), h.ContentLength, len(body),
					bytes.Equal(body, r.body), r.code, r.cr, len(r.body))
			}
			if i > 0 && ts[i].connects != 0 {
				t.Errorf("-r %s %s: a new connection, want the kept one", r.rng, r.path)
			}
		}
	})

	// curl -C - resumes a partial download with a Range request; once the
	// file is complete the server's 416 tells curl there is nothing left,
	// which curl takes as success.
	t.Run("resume", func(t *testing.T) {
		huge := files["/huge.bin"]
		part := c.file("resume.bin")
		if err := os.WriteFile(part, huge[:1234567], 0o644); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{206, 416} {
			tr := transfers(t, c.run(t, "-C", "-", "-w", wout, "-o", part, c.url("/huge.bin")), 1)[0]
			if got := c.read(t, "resume.bin"); tr.code != want || tr.exit != 0 || !bytes.Equal(got, huge) {
				t.Errorf("resume %d: %d (curl error %d), %d bytes (equal %v), want %d and the whole file",
					i, tr.code, tr.exit, len(got), bytes.Equal(got, huge), want)
			}
		}
	})

	// Conditional requests. curl -z fakes a 304 by itself when a 200's
	// Last-Modified fails the condition, so the server's own status is
	// read from the header dump, not from %{http_code}.
	t.Run("conditional", func(t *testing.T) {
		c.run(t, "-D", c.file("cond.h"), "-o", os.DevNull, c.url("/notes.txt"))
		h := c.dump1(t, "cond.h")
		etag, lm := h.Header.Get("ETag"), h.Header.Get("Last-Modified")
		if !strings.HasPrefix(etag, `"`) || lm == "" {
			t.Fatalf("validators: ETag %q, Last-Modified %q", etag, lm)
		}
		conds := []struct {
			args []string
			code int
		}{
			{[]string{"-H", "If-None-Match: " + etag}, 304},
			{[]string{"-H", `If-None-Match: "x", W/` + etag}, 304},
			{[]string{"-H", "If-None-Match: *"}, 304},
			{[]string{"-H", `If-None-Match: "other"`}, 200},
			{[]string{"-z", lm}, 304},
			{[]string{"-z", "Sun, 06 Nov 1994 08:49:37 GMT"}, 200},
			// If-None-Match decides; If-Modified-Since is then ignored.
			{[]string{"-H", `If-None-Match: "other"`, "-H", "If-Modified-Since: " + lm}, 200},
			// The condition comes before the range.
			{[]string{"-H", "If-None-Match: " + etag, "-r", "0-4"}, 304},
		}
		ts := c.seq(t, "cond", len(conds), func(i int) ([]string, string) {
			cd := conds[i]
			return cd.args, "/notes.txt"
		})
		for i, cd := range conds {
			h := c.dump1(t, fmt.Sprint("cond.h", i))
			body := c.read(t, fmt.Sprint("cond.", i))
			want := files["/notes.txt"]
			if cd.code == 304 {
				want = nil
				if h.Header.Get("ETag") != etag || h.Header.Get("Last-Modified") != lm {
					t.Errorf("%q: 304 without the validators: %v", cd.args, h.Header)
				}
			}
			if h.StatusCode != cd.code || ts[i].code != cd.code || !bytes.Equal(body, want) {
				t.Errorf("%q: server sent %d, curl reports %d, body %q; want %d", cd.args, h.StatusCode, ts[i].code, body, cd.code)
			}
		}
	})

	// If-Match, If-Unmodified-Since (curl -z -DATE) and If-Range, on one
	// connection: 412 when a precondition fails, the whole file when
	// If-Range names another version.
	t.Run("preconditions", func(t *testing.T) {
		c.run(t, "-D", c.file("pre.h"), "-o", os.DevNull, c.url("/notes.txt"))
		h := c.dump1(t, "pre.h")
		etag, lm := h.Header.Get("ETag"), h.Header.Get("Last-Modified")
		if !strings.HasPrefix(etag, `"`) || lm == "" {
			t.Fatalf("validators: ETag %q, Last-Modified %q", etag, lm)
		}
		const old = "Sun, 06 Nov 1994 08:49:37 GMT"
		future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
		notes := files["/notes.txt"]
		e412 := []byte(errorBody[412])
		conds := []struct {
			args []string
			code int
			body []byte
		}{
			{[]string{"-H", "If-Match: " + etag}, 200, notes},
			{[]string{"-H", "If-Match: *"}, 200, notes},
			{[]string{"-H", `If-Match: "x"`}, 412, e412},
			{[]string{"-H", "If-Match: W/" + etag}, 412, e412},
			{[]string{"-z", "-" + old}, 412, e412},
			{[]string{"-z", "-" + future}, 200, notes},
			{[]string{"-H", "If-Match: " + etag, "-H", "If-Unmodified-Since: " + old}, 200, notes},
			{[]string{"-H", `If-Match: "x"`, "-H", "If-None-Match: " + etag}, 412, e412},
			{[]string{"-H", `If-Match: "x"`, "-r", "0-4"}, 412, e412},
			{[]string{"-H", "If-Match: " + etag, "-r", "0-4"}, 206, notes[:5]},
			{[]string{"-I", "-H", `If-Match: "x"`}, 412, nil},
			{[]string{"-r", "0-4", "-H", "If-Range: " + etag}, 206, notes[:5]},
			{[]string{"-r", "0-4", "-H", "If-Range: " + lm}, 206, notes[:5]},
			{[]string{"-r", "0-4", "-H", `If-Range: "other"`}, 200, notes},
			{[]string{"-r", "0-4", "-H", "If-Range: W/" + etag}, 200, notes},
			{[]string{"-r", "0-4", "-H", "If-Range: " + old}, 200, notes},
		}
		// -I writes the head where the body would go: nothing to compare.
		head := func(args []string) bool { return args[0] == "-I" }
		ts := c.seq(t, "pre", len(conds), func(i int) ([]string, string) {
			cd := conds[i]
			return cd.args, "/notes.txt"
		})
		for i, cd := range conds {
			h := c.dump1(t, fmt.Sprint("pre.h", i))
			body := c.read(t, fmt.Sprint("pre.", i))
			if h.StatusCode != cd.code || (!head(cd.args) && !bytes.Equal(body, cd.body)) ||
				ts[i].size != int64(len(cd.body)) || connection(h) != "keep-alive" {
				t.Errorf("%q: server sent %d, Connection %q, body %q; want %d %q", cd.args, h.StatusCode, connection(h), body, cd.code, cd.body)
			}
			if cd.code == 412 && h.ContentLength != int64(len(e412)) {
				t.Errorf("%q: Content-Length %d", cd.args, h.ContentLength)
			}
			if ts[i].exit != 0 || (i > 0 && ts[i].connects != 0) {
				t.Errorf("%q: %+v, want no curl error and the kept connection", cd.args, ts[i])
			}
		}
	})

	// A directory without its final slash: 301 with Location "/dir/"
	// (keeping the query), which curl -L follows on the same connection.
	t.Run("redirect", func(t *testing.T) {
		reqs := []struct {
			args     []string
			path     string
			code     int
			location string
			body     []byte
		}{
			{nil, "/dir", 301, "/dir/", []byte(errorBody[301])},
			{nil, "/dir?q=1", 301, "/dir/?q=1", []byte(errorBody[301])},
			{[]string{"-I"}, "/dir", 301, "/dir/", nil},
			{nil, "/sub", 301, "/sub/", []byte(errorBody[301])},
			{nil, oddURL, 301, oddURL + "/", []byte(errorBody[301])},
			{nil, "/dir/", 200, "", files["/dir/index.html"]},
		}
		ts := c.seq(t, "redir", len(reqs), func(i int) ([]string, string) {
			r := reqs[i]
			return r.args, r.path
		})
		for i, r := range reqs {
			h := c.dump1(t, fmt.Sprint("redir.h", i))
			body := c.read(t, fmt.Sprint("redir.", i))
			if h.StatusCode != r.code || h.Header.Get("Location") != r.location ||
				(r.args == nil && !bytes.Equal(body, r.body)) || ts[i].size != int64(len(r.body)) ||
				connection(h) != "keep-alive" {
				t.Errorf("%q %s: %d, Location %q, Connection %q, body %q; want %d %q %q",
					r.args, r.path, h.StatusCode, h.Header.Get("Location"), connection(h), body, r.code, r.location, r.body)
			}
			if r.code == 301 && h.ContentLength != int64(len(errorBody[301])) {
				t.Errorf("%q %s: Content-Length %d", r.args, r.path, h.ContentLength)
			}
			if ts[i].exit != 0 || (i > 0 && ts[i].connects != 0) {
				t.Errorf("%q %s: %+v, want no curl error and the kept connection", r.args, r.path, ts[i])
			}
		}
		// -L: one redirect, followed on the connection it came on.
		for _, tc := range []struct {
			args        []string
			path, final string
			body        []byte // nil: not compared (-I writes the heads there)
		}{
			{nil, "/dir?q=1", "/dir/?q=1", files["/dir/index.html"]},
			{[]string{"-I"}, "/dir", "/dir/", nil},
			{nil, oddURL, oddURL + "/", []byte("odd index\n")},
		} {
			os.Remove(c.file("redir.L"))
			args := append(append([]string{"-L"}, tc.args...), "-w", "%{http_code} %{num_redirects} %{num_connects} %{url_effective}\\n",
				"-o", c.file("redir.L"), c.url(tc.path))
			out := c.run(t, args...)
			want := "200 1 1 " + c.url(tc.final) + "\n"
			if out.stdout != want || out.exit != 0 || (tc.body != nil && !bytes.Equal(c.read(t, "redir.L"), tc.body)) {
				t.Errorf("curl -L %q %s: %q (exit %d, %q), body %q; want %q", tc.args, tc.path, out.stdout, out.exit, out.stderr,
					c.read(t, "redir.L"), want)
			}
		}
	})

	// Methods other than GET and HEAD: 405 with Allow for the standard
	// ones, 501 for unknown ones. Without a body the connection stays; a
	// request body is not read, so the server closes, and curl, which sees
	// the early answer, stops uploading and gets the 405 intact, with
	// Expect: 100-continue and without it.
	t.Run("methods", func(t *testing.T) {
		huge := c.file("upload.bin")
		if err := os.WriteFile(huge, files["/huge.bin"], 0o644); err != nil {
			t.Fatal(err)
		}
		reqs := []struct {
			args []string
			code int
			conn string
		}{
			{[]string{"-X", "POST"}, 405, "keep-alive"},
			{[]string{"-X", "BREW"}, 501, "keep-alive"},
			{[]string{"-X", "DELETE"}, 405, "keep-alive"},
			{[]string{"-X", "OPTIONS"}, 405, "keep-alive"},
			{[]string{"-d", "abc"}, 405, "close"},
			{[]string{"--data-binary", "@" + huge}, 405, "close"},
			{[]string{"--data-binary", "@" + huge, "-H", "Expect:"}, 405, "close"},
			{[]string{"-T", huge}, 405, "close"}, // PUT
			{nil, 200, "keep-alive"},
		}
		ts := c.seq(t, "method", len(reqs), func(i int) ([]string, string) {
			r := reqs[i]
			return r.args, "/notes.txt"
		})
		for i, r := range reqs {
			h := c.dump1(t, fmt.Sprint("method.h", i))
			body := string(c.read(t, fmt.Sprint("method.", i)))
			want := errorBody[r.code]
			if r.code == 200 {
				want = string(files["/notes.txt"])
			}
			if ts[i].code != r.code || ts[i].exit != 0 || body != want || connection(h) != r.conn {
				t.Errorf("%q: %d (curl error %d), Connection %q, body %q; want %d %q %q",
					r.args, ts[i].code, ts[i].exit, connection(h), body, r.code, r.conn, want)
			}
			if r.code == 405 && h.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%q: Allow %q", r.args, h.Header.Get("Allow"))
			}
			// A request after a kept connection reuses it; after a
			// closed one it connects again.
			if i > 0 {
				if wantNew := b2i(reqs[i-1].conn == "close"); ts[i].connects != wantNew {
					t.Errorf("%q after %q: %d new connections, want %d", r.args, reqs[i-1].args, ts[i].connects, wantNew)
				}
			}
		}
	})

	// The limits: a request line over 8 KiB gets 414, a header section
	// over 16 KiB 431 (one huge header or many), an HTTP/1.1 request
	// without Host 400. Each closes the connection and curl connects again
	// for the next URL; just under the limits a request is served.
	t.Run("limits", func(t *testing.T) {
		many := []string{}
		for i := 0; i < 120; i++ {
			many = append(many, "-H", fmt.Sprintf("X-Many-%03d: %s", i, strings.Repeat("m", 150)))
		}
		reqs := []struct {
			path string
			args []string
			code int
			conn string
		}{
			{"/" + strings.Repeat("a", 9000), nil, 414, "close"},
			{"/notes.txt", []string{"-H", "X-Big: " + strings.Repeat("b", 17000)}, 431, "close"},
			{"/notes.txt", many, 431, "close"},
			{"/notes.txt", []string{"-H", "Host:"}, 400, "close"},
			// A name past NAME_MAX in a line under the limit: 404.
			{"/" + strings.Repeat("a", 8000), nil, 404, "keep-alive"},
			{"/notes.txt", []string{"-H", "X-Big: " + strings.Repeat("b", 15000)}, 200, "keep-alive"},
		}
		ts := c.seq(t, "limit", len(reqs), func(i int) ([]string, string) {
			r := reqs[i]
			return r.args, r.path
		})
		for i, r := range reqs {
			h := c.dump1(t, fmt.Sprint("limit.h", i))
			body := string(c.read(t, fmt.Sprint("limit.", i)))
			want := errorBody[r.code]
			if r.code == 200 {
				want = string(files["/notes.txt"])
			}
			if ts[i].code != r.code || ts[i].exit != 0 || body != want || connection(h) != r.conn {
				t.Errorf("request %d (%.30s, %d args): %d (curl error %d), Connection %q, body %q; want %d %q",
					i, r.path, len(r.args), ts[i].code, ts[i].exit, connection(h), body, r.code, r.conn)
			}
			if wantNew := b2i(i == 0 || reqs[i-1].conn == "close"); ts[i].connects != wantNew {
				t.Errorf("request %d: %d new connections, want %d", i, ts[i].connects, wantNew)
			}
		}
	})

	// Traversal, sent as is (--path-as-is: curl would otherwise remove
	// the dot segments itself): every ".." segment that climbs above the
	// root is refused, also percent-encoded; one that stays inside it is
	// resolved (RFC 3986 5.2.4). So are symlinks that lead out of the
	// root, a backslash and a NUL.
	t.Run("traversal", func(t *testing.T) {
		passwd, _ := os.ReadFile("/etc/passwd")
		paths := []struct {
			path  string
			codes []int
		}{
			{"/../etc/passwd", []int{403}},
			{"/sub/../../etc/passwd", []int{403}},
			{"/sub/../notes.txt", []int{200}},
			{"/sub/../sub/../../notes.txt", []int{403}},
			{"/%2e%2e/etc/passwd", []int{403}},
			{"/%2E%2E%2Fetc%2Fpasswd", []int{403}},
			{"/.%2e/etc/passwd", []int{403}},
			{"/%2e%2e", []int{403}},
			{"/sub/%2e%2e/%2e%2e/etc/passwd", []int{403}},
			{"/sub/%2e%2e/notes.txt", []int{200}},
			{"/..%2f..%2fetc/passwd", []int{403}},
			{"/..%5c..%5cetc/passwd", []int{400}},
			{"/a%00b", []int{400}},
			{"/%zz", []int{400}},
			// Symlinks out of the root: openat2 RESOLVE_BENEATH refuses
			// them with EXDEV (403); without openat2 (old kernels, some
			// emulators) the O_NOFOLLOW walk fails with ELOOP (403) or,
			// for a symlink used as a directory, ENOTDIR (404).
			{"/passwd", []int{403}},
			{"/etc/passwd", []int{403, 404}},
			{"/etc/", []int{403, 404}},
			{"/sub/up", []int{403}},
			// Dot segments that stay put are fine.
			{"/sub/%2e/file.txt", []int{200}},
			{"/./notes.txt", []int{200}},
			{"/%2e/notes.txt", []int{200}},
			{"//notes.txt", []int{200}},
			{"/notes.txt?x=../../etc/passwd", []int{200}},
		}
		args := []string{"--path-as-is", "-w", wout}
		for i, p := range paths {
			args = append(args, "-o", c.file(fmt.Sprint("trav.", i)), c.url(p.path))
		}
		ts := transfers(t, c.run(t, args...), len(paths))
		for i, p := range paths {
			body := c.read(t, fmt.Sprint("trav.", i))
			ok := false
			for _, code := range p.codes {
				ok = ok || ts[i].code == code
			}
			if !ok || ts[i].exit != 0 {
				t.Errorf("GET %s: %d (curl error %d), want one of %v", p.path, ts[i].code, ts[i].exit, p.codes)
			}
			if len(passwd) > 0 && bytes.Contains(body, passwd[:min(16, len(passwd))]) {
				t.Errorf("GET %s: served /etc/passwd", p.path)
			}
			if ts[i].code == 200 && !bytes.Equal(body, files["/notes.txt"]) && !bytes.Equal(body, files["/sub/file.txt"]) {
				t.Errorf("GET %s: 200 with %q", p.path, body)
			}
		}
		// Without --path-as-is curl resolves the dots itself and asks
		// for /etc/passwd, the symlink: still refused.
		tr := transfers(t, c.run(t, "-w", wout, "-o", c.file("trav.x"), c.url("/sub/../../etc/passwd")), 1)[0]
		if tr.code != 403 && tr.code != 404 {
			t.Errorf("GET /sub/../../etc/passwd (resolved by curl): %d", tr.code)
		}
	})

	// The absolute-form of the request-target, as curl sends it to a
	// proxy (-x) or with --request-target: served like the origin-form.
	t.Run("absolute-form", func(t *testing.T) {
		// --noproxy "" undoes curlOpts' "*", which would bypass -x too.
		args := []string{"--noproxy", "", "-x", c.base, "-w", wout, "-o", c.file("abs.0"), "http://example.invalid/notes.txt"}
		args = append(args, next()...)
		args = append(args, "--request-target", "http://example.invalid/style.css",
			"-w", wout, "-o", c.file("abs.1"), c.url("/"))
		ts := transfers(t, c.run(t, args...), 2)
		if ts[0].code != 200 || !bytes.Equal(c.read(t, "abs.0"), files["/notes.txt"]) {
			t.Errorf("curl -x: %d %q", ts[0].code, c.read(t, "abs.0"))
		}
		if ts[1].code != 200 || !bytes.Equal(c.read(t, "abs.1"), files["/style.css"]) {
			t.Errorf("curl --request-target: %d %q", ts[1].code, c.read(t, "abs.1"))
		}
	})

	// HTTP/2: the h2c upgrade offer is ignored and the answer is HTTP/1.1;
	// the HTTP/2 preface ("PRI * HTTP/2.0") gets 505 and a close, which
	// curl reports as an error at once rather than timing out (28).
	t.Run("http2", func(t *testing.T) {
		out := c.run(t, "--http2", "-w", "%{http_code} %{http_version}\\n", "-o", c.file("h2c"), c.url("/notes.txt"))
		if strings.TrimSpace(out.stdout) != "200 1.1" || !bytes.Equal(c.read(t, "h2c"), files["/notes.txt"]) {
			t.Errorf("--http2: %q, want 200 over HTTP/1.1", out.stdout)
		}
		out = c.run(t, "--http2-prior-knowledge", "-o", os.DevNull, c.url("/notes.txt"))
		if out.exit == 0 || out.exit == 28 {
			t.Errorf("--http2-prior-knowledge: curl exit %d (%q), want a prompt failure", out.exit, out.stderr)
		}
	})

	// Parallel transfers (-Z), each on its own connection: several
	// sendfile bodies in flight at once on the server's two loops.
	t.Run("parallel", func(t *testing.T) {
		const n = 6
		args := []string{"-Z", "--parallel-max", strconv.Itoa(n), "--parallel-immediate", "-w", wout}
		for i := 0; i < n; i++ {
			args = append(args, "-o", c.file(fmt.Sprint("par.", i)), c.url("/huge.bin"))
		}
		args = append(args, next()...)
		args = append(args, "-r", "1-4194304", "-w", wout, "-o", c.file("par.r"), c.url("/huge.bin"))
		ts := transfers(t, c.run(t, args...), n+1)
		for _, tr := range ts {
			if tr.exit != 0 || (tr.code != 200 && tr.code != 206) {
				t.Errorf("parallel transfer: %+v", tr)
			}
		}
		for i := 0; i < n; i++ {
			if !bytes.Equal(c.read(t, fmt.Sprint("par.", i)), files["/huge.bin"]) {
				t.Errorf("parallel transfer %d: body differs from the file", i)
			}
		}
		if !bytes.Equal(c.read(t, "par.r"), files["/huge.bin"][1:4194305]) {
			t.Errorf("parallel range: body differs from the file")
		}
	})
}
