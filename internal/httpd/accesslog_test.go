package httpd

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ccoro/coro"
)

// logLines reads an access log's lines.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestAccessLog checks the lines of both formats, from Go's client, curl
// and a raw connection sending the bytes nginx escapes (a quote, a
// backslash, a tab, a byte over 0x7f) in the target and the user agent,
// and a head that does not parse; both stack modes.
func TestAccessLog(t *testing.T) {
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		for _, format := range []string{"common", "combined"} {
			t.Run(stack.String()+"/"+format, func(t *testing.T) {
				root, _ := site(t)
				path := filepath.Join(t.TempDir(), "access.log")
				s := start(t, Config{Root: root, Stack: stack, AccessLog: path, LogFormat: format})
				client := &http.Client{}
				defer client.CloseIdleConnections()
				req, _ := http.NewRequest("GET", s.URL()+"notes.txt", nil)
				req.Header.Set("User-Agent", "go test")
				req.Header.Set("Referer", "http://example.com/from")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				out, err := exec.Command(curlBin(t), append(append([]string{"-q"}, curlOpts...), "-A", `curl "q"`, "-o", "/dev/null", s.URL()+"missing")...).CombinedOutput()
				if err != nil {
					t.Fatalf("curl: %v %s", err, out)
				}
				exchange(t, s, "GET /a\"b\\c\xff HTTP/1.1\r\nHost: x\r\nUser-Agent: a\"b\\c\td\xff\r\nConnection: close\r\n\r\n")
				exchange(t, s, "BAD\r\n\r\n")
				waitFor(t, "4 lines written", func() bool { return s.Stats().LogWritten == 4 })
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				lines := logLines(t, path)
				ts := `\[\d\d/[A-Z][a-z][a-z]/\d{4}:\d\d:\d\d:\d\d \+0000\]`
				want := []string{
					`^127\.0\.0\.1 - - ` + ts + ` "GET /notes\.txt HTTP/1\.1" 200 20`,
					`^127\.0\.0\.1 - - ` + ts + ` "GET /missing HTTP/1\.1" 404 14`,
					`^127\.0\.0\.1 - - ` + ts + ` "GET /a\\x22b\\x5Cc\\xFF HTTP/1\.1" 400 16`, // a target with a quote is refused
					`^127\.0\.0\.1 - - ` + ts + ` "-" 400 16`,
				}
				if format == "combined" {
					want[0] += ` "http://example\.com/from" "go test"`
					want[1] += ` "-" "curl \\x22q\\x22"`
					want[2] += ` "-" "a\\x22b\\x5Cc\\x09d\\xFF"`
					want[3] += ` "-" "-"`
				}
				if len(lines) != len(want) {
					t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
				}
				for i, w := range want {
					if !regexp.MustCompile(w + "$").MatchString(lines[i]) {
						t.Errorf("line %d: %q\nwant %s", i, lines[i], w)
					}
				}
			})
		}
	}
}

// TestAccessLogRotate renames the log, reopens it (what SIGUSR1 does in
// coro httpd) and checks that later lines go to the new file.
func TestAccessLogRotate(t *testing.T) {
	root, _ := site(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	s := start(t, Config{Root: root, AccessLog: path})
	get(t, http.DefaultClient, s.URL()+"notes.txt")
	waitFor(t, "the first line written", func() bool { return s.Stats().LogWritten == 1 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReopenLog(); err != nil {
		t.Fatal(err)
	}
	get(t, http.DefaultClient, s.URL()+"style.css")
	waitFor(t, "the second line written", func() bool { return s.Stats().LogWritten == 2 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old, cur := logLines(t, path+".1"), logLines(t, path)
	if len(old) != 1 || !strings.Contains(old[0], "/notes.txt") || len(cur) != 1 || !strings.Contains(cur[0], "/style.css") {
		t.Errorf("rotated %q, new %q", old, cur)
	}
}

// TestAccessLogNoLoss sends requests from 16 clients on two loops and
// checks that every response has its line, none dropped.
func TestAccessLogNoLoss(t *testing.T) {
	root, _ := site(t)
	path := filepath.Join(t.TempDir(), "access.log")
	s := start(t, Config{Root: root, AccessLog: path, Loops: 2, LogFormat: "combined"})
	const clients, each = 16, 300
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			for j := 0; j < each; j++ {
				resp, err := c.Get(fmt.Sprintf("%snotes.txt?c=%d&r=%d", s.URL(), i, j))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every line written", func() bool { return s.Stats().LogWritten == clients*each })
	if st := s.Stats(); st.LogDropped != 0 {
		t.Errorf("%d lines dropped", st.LogDropped)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range logLines(t, path) {
		if m := regexp.MustCompile(`"GET /notes\.txt\?(c=\d+&r=\d+) HTTP/1\.1" 200 20 `).FindStringSubmatch(l); m != nil {
			seen[m[1]] = true
		}
	}
	if len(seen) != clients*each {
		t.Errorf("%d distinct request lines, want %d", len(seen), clients*each)
	}
}

// TestAccessLogFullDisk logs to /dev/full, where every write fails with
// ENOSPC: each line is counted as dropped, none as written, and the
// server goes on serving.
func TestAccessLogFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	root, _ := site(t)
	s := start(t, Config{Root: root, AccessLog: "/dev/full"})
	const n = 40
	for i := 0; i < n; i++ {
		resp, err := http.Get(s.URL() + "notes.txt")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	waitFor(t, "every line counted as dropped", func() bool { return s.Stats().LogDropped == n })
	if w := s.Stats().LogWritten; w != 0 {
		t.Errorf("%d lines counted as written to /dev/full", w)
	}
}
