package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccoro/coro/internal/crawl/crawlsite"
)

// TestCrawlCommand crawls a small generated site (3 hosts of 20 pages)
// with "coro crawl" and checks its lines against the site's expected set,
// the summary and the exit status.
func TestCrawlCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	site := crawlsite.New(crawlsite.Config{Hosts: 3, Pages: 20, Seed: 2}, port)
	srv := &http.Server{Handler: site}
	go srv.Serve(ln)
	defer srv.Close()
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte(site.HostsFile("127.0.0.1")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	_, stderr, code := coro(t, "crawl", "-c", "4", "-scope", "domain", "-domain", crawlsite.Domain,
		"-hosts", hosts, "-o", out, site.Seed(port))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := site.Expected(site.Seed(port))
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// final_url is the page fetched; url, for a redirect's target
		// reached first through the redirect, is where its chain began
		// (which of the two comes first depends on the fetches' order).
		var v struct {
			FinalURL string `json:"final_url"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got[v.FinalURL] = true
	}
	for _, u := range want {
		if !got[u] {
			t.Errorf("%s not fetched", u)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d pages fetched, want %d", len(got), len(want))
	}
	if s := fmt.Sprintf("%d pages (0 failed) from 3 hosts", len(want)); !strings.Contains(stderr, s) {
		t.Errorf("summary %q does not say %q", stderr, s)
	}
}

func TestCrawlUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"crawl"}, "no seed URL"},
		{[]string{"crawl", "-scope", "moon", "http://x/"}, `scope "moon"`},
		{[]string{"crawl", "-c", "0", "http://x/"}, "must be positive"},
		// -o: run in-process (under qemu) stdout is no file.
		{[]string{"crawl", "-o", os.DevNull, "ftp://x/"}, "not an http or https URL"},
		{[]string{"crawl", "-o", os.DevNull, "-include", "(", "http://x/"}, "include ("},
	} {
		stdout, stderr, code := coro(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("coro %q: exit %d, stderr %q, stdout %q; want 2 and %q", tc.args, code, stderr, stdout, tc.want)
		}
	}
}
