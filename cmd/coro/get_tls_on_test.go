//go:build coro_openssl && cgo

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccoro/coro/internal/httpd"
	"github.com/ccoro/coro/internal/tlstest"
)

const tlsTagBuilt = true

// coro get over TLS against coro httpd's HTTPS, run in-process (the
// binary TestMain builds has the test's tags only when they are in
// buildFlags): -cacert trusts the test CA; an unknown CA exits 35.
func TestGetHTTPS(t *testing.T) {
	p, err := tlstest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("alpha over TLS\n"), 0o644)
	s, err := httpd.Start(httpd.Config{Addr: "127.0.0.1:0", Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "https://localhost:" + s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:] + "/a.txt"
	var o, e bytes.Buffer
	if code := run([]string{"get", "-cacert", p.CAFile, url, url}, &o, &e); code != 0 ||
		o.String() != "alpha over TLS\nalpha over TLS\n" {
		t.Fatalf("exit %d, out %q, err %q", code, o.String(), e.String())
	}
	o.Reset()
	e.Reset()
	if code := run([]string{"get", "-cacert", p.OtherCAFile, url}, &o, &e); code != getTLS {
		t.Fatalf("unknown CA: exit %d, err %q", code, e.String())
	}
	// OpenSSL's reason, curl's words.
	if want := "SSL certificate problem: unable to get local issuer certificate"; !strings.Contains(e.String(), want) {
		t.Errorf("unknown CA: stderr %q, want %q", e.String(), want)
	}
}
