package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHttpd runs `coro httpd` on a free port, fetches the built-in index
// and stops it with SIGTERM.
func TestHttpd(t *testing.T) {
	if binary == "" {
		t.Skip("needs the built binary (it runs until signalled)")
	}
	for _, args := range [][]string{
		{"httpd", "-addr", "127.0.0.1:0"},
		{"httpd", "-addr", "127.0.0.1:0", "-loops", "2", "-stack", "shared"},
		{"httpd", "-addr", "127.0.0.1:0", "-header-timeout", "300ms", "-idle", "5s", "-write-timeout", "5s",
			"-lingering-timeout", "1s", "-lingering-time", "2s", "-unsent-limit", "65536"},
		{"httpd", "-addr", "127.0.0.1:0", "-charset", "iso-8859-1", "-mime-types", "/dev/null", "-dotfiles", "allow",
			"-cache", "max-age=60", "-cache-ext", ".html,.htm=no-cache", "-max-ranges", "1", "-precompressed", "-autoindex"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			cmd := exec.Command(binary, args...)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			exited := false
			defer func() {
				if !exited {
					cmd.Process.Kill()
					<-done
				}
			}()
			lines := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(out).ReadString('\n')
				lines <- line
				io.Copy(io.Discard, out)
				done <- cmd.Wait()
			}()
			var line string
			select {
			case line = <-lines:
			case <-time.After(5 * time.Second):
				t.Fatal("no output within 5 s")
			}
			m := regexp.MustCompile(`^httpd: serving (\S+) on (http://127\.0\.0\.1:\d+/) \((\d+) loops\)\n$`).FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("first line %q (stderr %q)", line, stderr.String())
			}
			client := &http.Client{Timeout: 5 * time.Second}
			resp, err := client.Get(m[2])
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantType := "text/html; charset=utf-8"
			if i := slices.Index(args, "-charset"); i >= 0 {
				wantType = "text/html; charset=" + args[i+1]
			}
			if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>coro httpd</h1>") ||
				resp.Header.Get("Content-Type") != wantType ||
				slices.Contains(args, "-cache-ext") != (resp.Header.Get("Cache-Control") == "no-cache") ||
				slices.Contains(args, "-precompressed") != (resp.Header.Get("Vary") == "Accept-Encoding") {
				t.Errorf("GET /: %d %q %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), body)
			}
			resp, err = client.Get(m[2] + "big.bin")
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n != 1<<20 {
				t.Errorf("GET /big.bin: %d, %d bytes", resp.StatusCode, n)
			}
			client.CloseIdleConnections()
			if slices.Contains(args, "-header-timeout") {
				// An incomplete head gets 408 after -header-timeout (300 ms,
				// where the default would be 10 s), then the server closes.
				c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(m[2], "http://"), "/"))
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 408 ") {
					t.Errorf("incomplete head: %q %v, want 408 and EOF", got, err)
				}
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				exited = true
				if err != nil {
					t.Errorf("after SIGTERM: %v (stderr %q)", err, stderr.String())
				}
			case <-time.After(8 * time.Second):
				t.Fatal("still running 8 s after SIGTERM")
			}
		})
	}
}

func TestHttpdBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"httpd", "-x"}, "flag provided but not defined: -x"},
		{[]string{"httpd", "-loops", "0"}, "-loops 0"},
		{[]string{"httpd", "-stack", "huge"}, `unknown stack kind "huge"`},
		{[]string{"httpd", "-idle", "soon"}, `invalid value "soon"`},
		{[]string{"httpd", "-write-timeout", "0"}, "-write-timeout 0s: must be positive"},
		{[]string{"httpd", "-lingering-time", "-1s"}, "-lingering-time -1s: must be positive"},
		{[]string{"httpd", "-unsent-limit", "0"}, "-unsent-limit 0: must be positive"},
		{[]string{"httpd", "-dotfiles", "yes"}, `-dotfiles "yes": want deny or allow`},
		{[]string{"httpd", "-max-ranges", "0"}, "-max-ranges 0: want 1 to 100"},
		{[]string{"httpd", "-drain", "-1s"}, "-drain -1s: must not be negative"},
		{[]string{"httpd", "-log-format", "json"}, `-log-format "json": want common or combined`},
		{[]string{"httpd", "-cache-ext", ".js"}, `invalid value ".js" for flag -cache-ext: want SELECTOR=VALUE`},
		{[]string{"httpd", "extra"}, `unexpected argument "extra"`},
	} {
		_, stderr, code := coro(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("coro %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// A server that cannot start (a bad address, a mime.types file
	// missing or with a bad line, a charset that is no name) fails with 1.
	bad := filepath.Join(t.TempDir(), "bad.types")
	if err := os.WriteFile(bad, []byte("text/plain txt\ntext/html .html\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-addr", "192.0.2.1:1"}, "listen"}, /* not an address of this host */
		{[]string{"-mime-types", "/nonexistent/mime.types"}, "no such file"},
		{[]string{"-mime-types", bad}, "bad.types:2:"},
		{[]string{"-charset", "utf 8"}, `charset "utf 8"`},
		{[]string{"-cache-path", "assets/=max-age=1"}, "a path prefix starts with /"},
	} {
		if _, stderr, code := coro(t, append([]string{"httpd", "-addr", "127.0.0.1:0"}, tc.args...)...); code != exitFailed || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// runHttpd starts `coro httpd` with args and returns it with its URL and a
// channel that gets its exit (stderr holds what it wrote there).
func runHttpd(t *testing.T, stderr *strings.Builder, args ...string) (cmd *exec.Cmd, url string, done chan error) {
	t.Helper()
	cmd = exec.Command(binary, append([]string{"httpd", "-addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, out)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	m := regexp.MustCompile(`^httpd: serving \S+ on (http://127\.0\.0\.1:\d+/) `).FindStringSubmatch(<-lines)
	if m == nil {
		t.Fatalf("no URL printed (stderr %q)", stderr.String())
	}
	return cmd, m[1], done
}

// waitExit waits for the process of runHttpd to exit with status 0.
func waitExit(t *testing.T, done chan error, stderr *strings.Builder) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v (stderr %q)", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after the signals")
	}
}

// TestHttpdDrain stops `coro httpd` with a signal while a 1 GiB download
// is in progress: after SIGTERM new connections are refused and the
// download completes within -drain; it is cut when -drain passes, on
// SIGQUIT and on a second SIGTERM. The process exits with 0 each time.
func TestHttpdDrain(t *testing.T) {
	if binary == "" {
		t.Skip("needs the built binary (it runs until signalled)")
	}
	root := t.TempDir()
	const size = 1 << 30
	f, err := os.Create(filepath.Join(root, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		name     string
		drain    string
		sigs     []syscall.Signal
		complete bool
	}{
		{"completes", "10m", []syscall.Signal{syscall.SIGTERM}, true},
		{"deadline", "100ms", []syscall.Signal{syscall.SIGTERM}, false},
		{"sigquit", "10m", []syscall.Signal{syscall.SIGQUIT}, false},
		{"second-sigterm", "10m", []syscall.Signal{syscall.SIGTERM, syscall.SIGTERM}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			cmd, url, done := runHttpd(t, &stderr, "-root", root, "-loops", "2", "-drain", tc.drain)
			client := &http.Client{Timeout: 2 * time.Minute}
			defer client.CloseIdleConnections()
			resp, err := client.Get(url + "huge.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.CopyN(io.Discard, resp.Body, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
			for i, sig := range tc.sigs {
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				if i > 0 || sig == syscall.SIGQUIT {
					continue
				}
				// Refused once both listeners have closed (reset while one
				// closes with the connection in its queue).
				deadline := time.Now().Add(20 * time.Second)
				for {
					c, err := net.Dial("tcp", addr)
					if err == nil {
						c.Close()
					} else if errors.Is(err, syscall.ECONNREFUSED) {
						break
					} else if !errors.Is(err, syscall.ECONNRESET) {
						t.Fatalf("dial after SIGTERM: %v", err)
					}
					if time.Now().After(deadline) {
						t.Fatal("still accepting 20 s after SIGTERM")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			if !tc.complete {
				// The stalled download holds the drain until it is cut.
				waitExit(t, done, &stderr)
			}
			n, rerr := io.Copy(io.Discard, resp.Body)
			got += n
			if tc.complete != (got == size && rerr == nil) {
				t.Errorf("download: %d bytes, %v (complete: want %v)", got, rerr, tc.complete)
			}
			if tc.complete {
				client.CloseIdleConnections()
				waitExit(t, done, &stderr)
			}
			if cut := strings.Contains(stderr.String(), "connections cut"); cut != (tc.name == "deadline" || tc.name == "second-sigterm") {
				t.Errorf("stderr %q: a cut drain says so, only it", stderr.String())
			}
		})
	}
}

// TestHttpdAccessLog runs `coro httpd -access-log FILE -log-format
// combined`, rotates the log with a rename and SIGUSR1, and checks that
// each request's line is in the file it was made for.
func TestHttpdAccessLog(t *testing.T) {
	if binary == "" {
		t.Skip("needs the built binary (it runs until signalled)")
	}
	path := filepath.Join(t.TempDir(), "access.log")
	var stderr strings.Builder
	cmd, url, done := runHttpd(t, &stderr, "-access-log", path, "-log-format", "combined")
	client := &http.Client{Timeout: 10 * time.Second}
	fetch := func(p string) {
		t.Helper()
		resp, err := client.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Lines are written within a second: wait for the file to hold one.
	waitLine := func(file, what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(file)
			if strings.Contains(string(b), what) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no line with %q after 20 s (holds %q)", file, what, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fetch("style.css")
	waitLine(path, "/style.css")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	// The reopen happens at the writer's next wake-up; until a request
	// made after it lands in the new file, lines may still reach the old.
	for i := 0; ; i++ {
		fetch("index.html")
		if _, err := os.Stat(path); err == nil {
			break
		}
		if i > 2000 {
			t.Fatal("no new file after SIGUSR1")
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitLine(path, "/index.html")
	client.CloseIdleConnections()
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, done, &stderr)
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), `"GET /style.css HTTP/1.1" 200 `) || strings.Contains(string(cur), "/style.css") ||
		!regexp.MustCompile(`(?m)^127\.0\.0\.1 - - \[[^]]+\] "GET /index.html HTTP/1.1" 200 \d+ "-" "Go-http-client/1.1"$`).Match(cur) {
		t.Errorf("rotated %q, new %q", old, cur)
	}
}
