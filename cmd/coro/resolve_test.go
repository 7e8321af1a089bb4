package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ccoro/coro/internal/dnstest"
)

// resolveEnv points the resolver of the commands run by the test at the
// test server (CORO_RESOLV_CONF) and at a hosts file of the test's
// (CORO_HOSTS), so that nothing is asked of the system's nameservers.
func resolveEnv(t *testing.T, hostsLines ...string) *dnstest.Server {
	srv := dnstest.Get(t)
	t.Setenv("CORO_RESOLV_CONF", srv.ResolvConf(t))
	hosts := filepath.Join(t.TempDir(), "hosts")
	dnstest.WriteFile(t, hosts, append([]string{"127.0.0.1 localhost", "::1 localhost"}, hostsLines...)...)
	t.Setenv("CORO_HOSTS", hosts)
	return srv
}

func TestResolve(t *testing.T) {
	srv := resolveEnv(t, "192.0.2.55 myhost.test")
	for _, c := range []struct {
		args   []string
		code   int
		stdout []string // lines, in order
		source string   // in the ";;" line
		stderr string
	}{
		{[]string{"-type", "MX", dnstest.Zone}, 0, []string{"10 mail.coro.test.", "20 mail2.coro.test."}, srv.Addr + ":53", ""},
		{[]string{"-type", "txt", dnstest.TXT}, 0, []string{`"hello" "world"`}, srv.Addr + ":53", ""},
		{[]string{"-type", "SOA", dnstest.Zone}, 0, []string{"ns1.coro.test. hostmaster.coro.test. 2026120201 3600 900 604800 60"}, srv.Addr + ":53", ""},
		{[]string{"-type", "A", dnstest.Alias}, 0, []string{"192.0.2.2", "192.0.2.3"}, srv.Addr + ":53", ""},
		{[]string{dnstest.V4}, 0, dnstest.V4Addrs, "dns", ""},
		{[]string{"myhost.test"}, 0, []string{"192.0.2.55"}, "hosts", ""},
		{[]string{"-short", dnstest.V6}, 0, dnstest.V6Addrs, "", ""},
		{[]string{"-server", srv.Addr, "-type", "AAAA", dnstest.V6}, 0, dnstest.V6Addrs, srv.Addr + ":53", ""},
		{[]string{dnstest.V4, dnstest.Missing}, 1, dnstest.V4Addrs, "dns", "no such host"},
		{[]string{"-type", "A", dnstest.Outside}, 1, nil, "", "refused"},
		{[]string{}, 2, nil, "", "no NAME"},
		{[]string{"-type", "BOGUS", dnstest.V4}, 2, nil, "", "not a record type"},
	} {
		stdout, stderr, code := coro(t, append([]string{"resolve"}, c.args...)...)
		if code != c.code || !strings.Contains(strings.ToLower(stderr), strings.ToLower(c.stderr)) {
			t.Errorf("resolve %q: exit %d, stderr %q; want %d, %q", c.args, code, stderr, c.code, c.stderr)
			continue
		}
		var records []string
		var summary string
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if strings.HasPrefix(line, ";;") {
				summary = line
			} else if line != "" {
				records = append(records, line)
			}
		}
		if strings.Join(records, "|") != strings.Join(c.stdout, "|") {
			t.Errorf("resolve %q: records %q, want %q", c.args, records, c.stdout)
		}
		if c.source != "" && !regexp.MustCompile(` in [0-9.]+[µm]?s from `+regexp.QuoteMeta(c.source)+`$`).MatchString(summary) {
			t.Errorf("resolve %q: summary %q, want the time and %q", c.args, summary, c.source)
		}
		if c.source == "" && summary != "" {
			t.Errorf("resolve %q: summary %q with -short", c.args, summary)
		}
	}
}

// TestNetHostNames: echo, httpd and load take host names in -addr: a
// name from the hosts file, one from the test server, localhost.
func TestNetHostNames(t *testing.T) {
	resolveEnv(t, "127.0.0.1 echo.test")
	srv := startServer(t, echoListening, "echo", "-addr", "echo.test:0")
	if !strings.HasPrefix(srv.addr, "127.0.0.1:") {
		t.Fatalf("echo on echo.test:0 listens on %s", srv.addr)
	}
	port := srv.addr[strings.LastIndexByte(srv.addr, ':'):]
	for _, addr := range []string{"echo.test" + port, dnstest.Loopback + port} {
		if _, stderr, code := coro(t, "load", "-addr", addr, "-n", "3", "-d", "60s", "-c", "2"); code != 0 {
			t.Errorf("load -addr %s: exit %d: %s", addr, code, stderr)
		}
	}
	srv.stop()
	// localhost: both commands resolve it the same way, whichever family
	// comes first here.
	local := startServer(t, `^echo: listening on (\S+) \(\d+ loops?\)\n$`, "echo", "-addr", "localhost:0")
	port = local.addr[strings.LastIndexByte(local.addr, ':'):]
	if _, stderr, code := coro(t, "load", "-addr", "localhost"+port, "-n", "3", "-d", "60s", "-c", "2"); code != 0 {
		t.Errorf("load -addr localhost%s (echo on %s): exit %d: %s", port, local.addr, code, stderr)
	}
	local.stop()
	web := startServer(t, `^httpd: serving \S+ on http://(\S+)/ \(\d+ loops?\)\n$`, "httpd", "-addr", dnstest.Loopback+":0")
	if !strings.HasPrefix(web.addr, "127.0.0.1:") {
		t.Errorf("httpd on %s:0 serves on %s", dnstest.Loopback, web.addr)
	}
	port = web.addr[strings.LastIndexByte(web.addr, ':'):]
	if _, stderr, code := coro(t, "load", "-mode", "http", "-addr", dnstest.Loopback+port, "-n", "3", "-d", "60s", "-c", "2"); code != 0 {
		t.Errorf("load -mode http -addr %s%s: exit %d: %s", dnstest.Loopback, port, code, stderr)
	}
	web.stop()
	// A name that does not exist: a usage error, and no load.
	if _, stderr, code := coro(t, "load", "-addr", dnstest.Missing+":7", "-n", "3", "-d", "60s", "-c", "1"); code != 2 || !strings.Contains(stderr, "no such host") {
		t.Errorf("load -addr %s:7: exit %d %s, want 2 and no such host", dnstest.Missing, code, stderr)
	}
}
