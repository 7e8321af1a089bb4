package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrawlConsole: coro crawl -console serves a console while the crawl
// runs. The test's server holds the only page back until ps has been
// answered, so the crawl is certainly running: ps lists the loop "crawl"
// with its main coroutine (joining the workers) and the worker waiting
// for the page on its socket; then the page is let go and the crawl ends
// normally, with the console's socket removed.
func TestCrawlConsole(t *testing.T) {
	if binary == "" {
		t.Skip("needs the built binary (the crawl waits on the test's server)")
	}
	hit := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
		<-release
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>no links</html>")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	defer let()

	dir := t.TempDir()
	sock := filepath.Join(dir, "crawl.sock")
	out := filepath.Join(dir, "out.jsonl")
	cmd := exec.Command(binary, "crawl", "-no-robots", "-q", "-c", "2", "-console", sock,
		"-o", out, fmt.Sprintf("http://%s/", ln.Addr()))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	first := make(chan string, 1)
	var rest strings.Builder // read only after exited
	go func() {
		r := bufio.NewReader(stderr)
		l, _ := r.ReadString('\n')
		first <- l
		io.Copy(&rest, r)
		exited <- cmd.Wait()
	}()
	defer cmd.Process.Kill()
	select {
	case l := <-first:
		if l != "console: listening on "+sock+"\n" {
			t.Fatalf("first line on stderr: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no console line within 10 s")
	}
	select {
	case <-hit:
	case <-time.After(10 * time.Second):
		t.Fatal("the crawl did not ask for the page within 10 s")
	}

	text, errOut, code := runCoro(t, "", "console", sock, "ps")
	if code != 0 || !strings.Contains(text, "crawl worker") || !strings.Contains(text, "crawl main  ") {
		t.Errorf("console ps: %d %q %q", code, text, errOut)
	}
	js, errOut, code := runCoro(t, "", "console", sock, "json", "ps")
	var ps struct {
		Loops []struct {
			ID   uint64 `json:"id"`
			Name string `json:"name"`
		} `json:"loops"`
		Coros []struct {
			Loop   uint64 `json:"loop"`
			Name   string `json:"name"`
			State  string `json:"state"`
			Wait   string `json:"wait"`
			Events string `json:"events"`
		} `json:"coroutines"`
	}
	if err := json.Unmarshal([]byte(js), &ps); code != 0 || err != nil || len(ps.Loops) != 1 || ps.Loops[0].Name != "crawl" {
		t.Fatalf("console json ps: %d %v %q %q", code, err, js, errOut)
	}
	var mains, workers, onPage int
	for _, c := range ps.Coros {
		if c.Loop != ps.Loops[0].ID {
			t.Errorf("a coroutine of loop %d: %+v", c.Loop, c)
		}
		switch c.Name {
		case "crawl main":
			mains++
			if c.State != "waiting" || c.Wait != "join" {
				t.Errorf("crawl main: %+v, want waiting on a join", c)
			}
		case "crawl worker":
			workers++
			if c.State == "waiting" && c.Wait == "fd" && c.Events == "read" {
				onPage++
			}
		}
	}
	if mains != 1 || workers != 2 || onPage != 1 {
		t.Errorf("%d main, %d workers, %d reading the page; want 1, 2, 1: %q", mains, workers, onPage, js)
	}

	let()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("coro crawl: %v (stderr %q)", err, rest.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("coro crawl did not end within 20 s of the page")
	}
	if data, err := os.ReadFile(out); err != nil || strings.Count(string(data), "\n") != 1 || !strings.Contains(string(data), `"status":200`) {
		t.Errorf("output: %q %v", data, err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the console's socket is left: %v", err)
	}
}
