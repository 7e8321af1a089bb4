package main

import (
	"net"

	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccoro/coro/internal/httpd"
)

// TestGet runs coro get against coro httpd (in this process) serving a
// directory of the test's: bodies to stdout in the order of the URLs,
// -o, -v, -f, -L, several URLs at once, and curl's exit statuses.
func TestGet(t *testing.T) {
	root := t.TempDir()
	for name, body := range map[string]string{"a.txt": "alpha\n", "b.txt": "bravo\n", "dir/c.txt": "charlie\n", "dir/index.html": "see c.txt\n"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := httpd.Start(httpd.Config{Addr: "127.0.0.1:0", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()

	out, errOut, code := coro(t, "get", base+"/a.txt", base+"/b.txt", base+"/a.txt")
	if code != 0 || out != "alpha\nbravo\nalpha\n" {
		t.Fatalf("three URLs: %d %q %q", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "out")
	out, errOut, code = coro(t, "get", "-v", "-o", file, base+"/dir/c.txt")
	if b, _ := os.ReadFile(file); code != 0 || out != "" || string(b) != "charlie\n" ||
		!strings.Contains(errOut, "< HTTP/1.1 200") || !strings.Contains(errOut, "< Content-Length: 8") {
		t.Fatalf("-o -v: %d %q %q %q", code, out, errOut, b)
	}
	// -o pairs with the URLs in order wherever it stands (curl's rule);
	// URLs past the last -o go to standard output.
	f1, f2 := filepath.Join(t.TempDir(), "1"), filepath.Join(t.TempDir(), "2")
	out, errOut, code = coro(t, "get", "-o", f1, base+"/a.txt", "-o", f2, base+"/b.txt", base+"/dir/c.txt")
	b1, _ := os.ReadFile(f1)
	b2, _ := os.ReadFile(f2)
	if code != 0 || out != "charlie\n" || string(b1) != "alpha\n" || string(b2) != "bravo\n" {
		t.Fatalf("-o a -o b c: %d %q %q %q %q", code, out, errOut, b1, b2)
	}
	out, errOut, code = coro(t, "get", "-o", f1, "-o", f2, base+"/b.txt", base+"/a.txt")
	b1, _ = os.ReadFile(f1)
	b2, _ = os.ReadFile(f2)
	if code != 0 || out != "" || string(b1) != "bravo\n" || string(b2) != "alpha\n" {
		t.Fatalf("-o -o a b: %d %q %q %q %q", code, out, errOut, b1, b2)
	}
	// httpd redirects a directory without its slash.
	out, _, code = coro(t, "get", "-L", "-H", "X-Test: 1", base+"/dir")
	if code != 0 || !strings.Contains(out, "c.txt") {
		t.Fatalf("-L: %d %q", code, out)
	}
	if _, _, code = coro(t, "get", base+"/dir"); code != 0 {
		t.Fatalf("a 301 without -L: %d", code)
	}
	if _, _, code = coro(t, "get", "-f", base+"/missing"); code != getHTTPError {
		t.Fatalf("-f 404: %d", code)
	}
	if _, errOut, code = coro(t, "get", "-X", "HEAD", base+"/a.txt"); code != 0 {
		t.Fatalf("HEAD: %d %q", code, errOut)
	}
	// A port nobody listens on: connect failed (7).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/"
	l.Close()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"get", dead}, getConnect},
		{[]string{"get", "ftp://127.0.0.1/"}, getUnsupported},
		{[]string{"get", "http://"}, getBadURL},
		{[]string{"get", "http://no-such-host.invalid/"}, getResolve},
		{[]string{"get", base + "/a.txt", dead}, getConnect}, // the first failure's
		{[]string{"get"}, exitUsage},
		{[]string{"get", "-o", file, "-o", file + "2", base + "/a.txt"}, exitUsage}, // more -o than URLs
		{[]string{"get", "-o", file, base + "/a.txt", "-o", file, base + "/b.txt"}, exitUsage},
		{[]string{"get", base + "/a.txt", "-nosuchflag"}, exitUsage},
		{[]string{"get", "-H", "nocolon", base + "/a.txt"}, exitUsage},
	} {
		if _, errOut, code := coro(t, tc.args...); code != tc.code {
			t.Errorf("%q: exit %d, want %d (%s)", tc.args, code, tc.code, errOut)
		}
	}
	if !tlsTagBuilt {
		if _, errOut, code := coro(t, "get", "https://"+s.Addr()+"/"); code != getUnsupported ||
			!strings.Contains(errOut, "build with -tags coro_openssl") {
			t.Errorf("https without TLS: %d %q", code, errOut)
		}
	}

}
