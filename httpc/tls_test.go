//go:build coro_openssl && cgo

package httpc_test

// The client over TLS (tls_on.c) against coro httpd's HTTPS and nginx's,
// with a test CA and certificates made by openssl per test
// (internal/tlstest): verification failures, keep-alive and resumption.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/httpc"
	"github.com/ccoro/coro/internal/httpd"
	"github.com/ccoro/coro/internal/tlstest"
)

func tlsSite(t *testing.T) (*tlstest.PKI, string, []byte) {
	t.Helper()
	p, err := tlstest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	big := make([]byte, 1<<20+17)
	rand.Read(big)
	os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("hello over TLS\n"), 0o644)
	return p, root, big
}

func startHttpd(t *testing.T, cfg httpd.Config) *httpd.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := httpd.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t *testing.T, opts *httpc.Options) *httpc.Client {
	t.Helper()
	loop, err := coro.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	c, err := httpc.NewClient(loop, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		loop.Close(context.Background())
	})
	return c
}

func do(c *httpc.Client, url string) (*httpc.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Do(ctx, &httpc.Request{URL: url})
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

func TestTLSCoroHttpd(t *testing.T) {
	p, root, big := tlsSite(t)
	s := startHttpd(t, httpd.Config{Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile})
	c := newClient(t, &httpc.Options{CAFile: p.CAFile})
	base := "https://localhost:" + port(s.Addr()) + "/"
	r, err := do(c, base+"a.txt")
	if err != nil || r.Status != 200 || string(r.Body) != "hello over TLS\n" {
		t.Fatalf("a.txt: %v %+v", err, r)
	}
	// Keep-alive over TLS: TLS 1.3's session tickets, read after the
	// first response, do not make the idle connection look used.
	for i := 0; i < 3; i++ {
		r, err = do(c, base+"big.bin")
		if err != nil || r.Status != 200 || !bytes.Equal(r.Body, big) || !r.Reused {
			t.Fatalf("big.bin %d: %v status %d, %d bytes, reused %v", i, err, r.Status, len(r.Body), r.Reused)
		}
	}
	st := s.Stats()
	if st.TLSHandshakes != 1 {
		t.Fatalf("%d handshakes for one connection", st.TLSHandshakes)
	}
	// A numeric host is checked against the certificate's IP addresses.
	if r, err = do(c, "https://127.0.0.1:"+port(s.Addr())+"/a.txt"); err != nil || r.Status != 200 {
		t.Fatalf("by address: %v", err)
	}
}

// A new connection to a host resumes the session of the last one: the
// server closes the idle connection (its idle timeout), the client then
// connects again.
func TestTLSResumption(t *testing.T) {
	p, root, _ := tlsSite(t)
	s := startHttpd(t, httpd.Config{Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile,
		IdleTimeout: 50 * time.Millisecond})
	c := newClient(t, &httpc.Options{CAFile: p.CAFile})
	url := "https://localhost:" + port(s.Addr()) + "/a.txt"
	for i := 0; i < 3; i++ {
		r, err := do(c, url)
		if err != nil || r.Status != 200 || r.Reused {
			t.Fatalf("request %d: %v %+v", i, err, r)
		}
		for end := time.Now().Add(20 * time.Second); s.Stats().LiveConns > 0; { // the server closes it
			if time.Now().After(end) {
				t.Fatal("the server kept the idle connection")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if st := s.Stats(); st.TLSHandshakes != 3 || st.TLSResumed != 2 {
		t.Fatalf("%d handshakes, %d resumed: want 3 and 2", st.TLSHandshakes, st.TLSResumed)
	}
}

func TestTLSVerifyFailures(t *testing.T) {
	p, root, _ := tlsSite(t)
	good := startHttpd(t, httpd.Config{Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile})
	// 127.0.0.2 is loopback too, but not in the certificate.
	other := startHttpd(t, httpd.Config{Root: root, CertFile: p.OtherCertFile, KeyFile: p.OtherKeyFile})
	expired := startHttpd(t, httpd.Config{Root: root, CertFile: p.ExpiredCertFile, KeyFile: p.KeyFile})
	wrongIP := startHttpd(t, httpd.Config{Addr: "127.0.0.2:0", Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile})
	c := newClient(t, &httpc.Options{CAFile: p.CAFile})
	// Each failure carries OpenSSL's reason for that request (Detail),
	// whatever the other requests of the thread did since.
	detail := func(t *testing.T, err error, want string) {
		t.Helper()
		var e *httpc.Error
		if !errors.As(err, &e) || !strings.Contains(e.Detail, want) ||
			!strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want the reason %q in its Detail and text", err, want)
		}
	}
	for _, tc := range []struct{ name, url, why string }{
		{"UnknownCA", "https://localhost:" + port(other.Addr()) + "/a.txt", "certificate verify failed: "},
		{"Expired", "https://localhost:" + port(expired.Addr()) + "/a.txt", "certificate verify failed: certificate has expired"},
		{"WrongIP", "https://127.0.0.2:" + port(wrongIP.Addr()) + "/a.txt", "certificate verify failed: IP address mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := do(c, tc.url)
			if !errors.Is(err, httpc.ErrTLS) {
				t.Fatalf("want ErrTLS, got %v", err)
			}
			detail(t, err, tc.why)
		})
	}
	t.Run("SystemStore", func(t *testing.T) {
		sys := newClient(t, nil)
		_, err := do(sys, "https://localhost:"+port(good.Addr())+"/a.txt")
		if !errors.Is(err, httpc.ErrTLS) {
			t.Fatalf("the system's CAs trusted the test CA: %v", err)
		}
		detail(t, err, "certificate verify failed: unable to get local issuer certificate")
	})
	t.Run("BadCAFile", func(t *testing.T) {
		// The client's TLS context fails once; every request says why.
		bad := newClient(t, &httpc.Options{CAFile: filepath.Join(t.TempDir(), "none.pem")})
		for i := 0; i < 2; i++ {
			_, err := do(bad, "https://localhost:"+port(good.Addr())+"/a.txt")
			if !errors.Is(err, httpc.ErrTLS) {
				t.Fatalf("want ErrTLS, got %v", err)
			}
			detail(t, err, "none.pem")
		}
	})
	t.Run("Insecure", func(t *testing.T) {
		k := newClient(t, &httpc.Options{Insecure: true})
		if r, err := do(k, "https://localhost:"+port(other.Addr())+"/a.txt"); err != nil || r.Status != 200 {
			t.Fatalf("%v", err)
		}
	})
	t.Run("PlainServer", func(t *testing.T) {
		plain := startHttpd(t, httpd.Config{Root: root})
		_, err := do(c, "https://localhost:"+port(plain.Addr())+"/a.txt")
		if !errors.Is(err, httpc.ErrTLS) {
			t.Fatalf("https to a plain HTTP server: %v", err)
		}
		detail(t, err, "TLS handshake")
	})
}

// nginx (Debian's, OpenSSL underneath) serving TLS 1.2 and 1.3 with the
// test certificate.
func TestTLSNginx(t *testing.T) {
	ngx, err := exec.LookPath("nginx")
	if err != nil {
		ngx = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(ngx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginx is required when CI=true: %v", err)
		}
		t.Skipf("no nginx: %v", err)
	}
	p, root, big := tlsSite(t)
	for _, proto := range []string{"TLSv1.2", "TLSv1.3"} {
		t.Run(proto, func(t *testing.T) {
			addr := startNginx(t, ngx, root, p, proto)
			c := newClient(t, &httpc.Options{CAFile: p.CAFile})
			for i := 0; i < 2; i++ {
				r, err := do(c, "https://localhost:"+port(addr)+"/big.bin")
				if err != nil || r.Status != 200 || !bytes.Equal(r.Body, big) || r.Reused != (i > 0) {
					t.Fatalf("request %d: %v %+v", i, err, r)
				}
			}
			bad := newClient(t, &httpc.Options{CAFile: p.OtherCAFile})
			if _, err := do(bad, "https://localhost:"+port(addr)+"/a.txt"); !errors.Is(err, httpc.ErrTLS) {
				t.Fatalf("unknown CA: %v", err)
			}
		})
	}
}

func startNginx(t *testing.T, ngx, root string, p *tlstest.PKI, proto string) string {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`worker_processes 1;
master_process off;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s ssl;
    root %[3]s;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    ssl_protocols %[6]s;
  }
}
`, dir, addr, root, p.CertFile, p.KeyFile, proto)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ngx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
