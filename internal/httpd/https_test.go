//go:build coro_openssl && cgo

package httpd

// HTTPS (tls_on.c), checked with Go's client and curl over TLS 1.2 and
// 1.3, with a test CA and certificates made by openssl in a temporary
// directory (internal/tlstest).

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/fault"
	"github.com/ccoro/coro/internal/tlstest"
)

func testPKI(t *testing.T) *tlstest.PKI {
	t.Helper()
	p, err := tlstest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func caPool(t *testing.T, p *tlstest.PKI) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate")
	}
	return pool
}

var tlsVersions = []struct {
	name string
	v    uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

// Go's client: files, ranges, errors, keep-alive, ALPN and the version
// asked for, and resumption on new connections, in both stack modes.
func TestHTTPSGoClient(t *testing.T) {
	p := testPKI(t)
	root, big := site(t)
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		s := start(t, Config{Root: root, Stack: stack, CertFile: p.CertFile, KeyFile: p.KeyFile})
		if !strings.HasPrefix(s.URL(), "https://") {
			t.Fatalf("URL %s", s.URL())
		}
		for _, v := range tlsVersions {
			t.Run(fmt.Sprintf("%v/%s", stack, v.name), func(t *testing.T) {
				tc := &tls.Config{RootCAs: caPool(t, p), ServerName: "localhost",
					MinVersion: v.v, MaxVersion: v.v, NextProtos: []string{"http/1.1"},
					ClientSessionCache: tls.NewLRUClientSessionCache(4)}
				client := &http.Client{Timeout: 20 * time.Second,
					Transport: &http.Transport{TLSClientConfig: tc}}
				defer client.CloseIdleConnections()
				resp, body := get(t, client, s.URL())
				if resp.StatusCode != 200 || string(body) != indexHTML {
					t.Fatalf("index: %d %q", resp.StatusCode, body)
				}
				if resp.TLS.Version != v.v || resp.TLS.NegotiatedProtocol != "http/1.1" {
					t.Fatalf("version %x ALPN %q", resp.TLS.Version, resp.TLS.NegotiatedProtocol)
				}
				if resp, body = get(t, client, s.URL()+"big.bin"); !bytes.Equal(body, big) {
					t.Fatalf("big.bin: %d, %d bytes", resp.StatusCode, len(body))
				}
				resp, body = get(t, client, s.URL()+"big.bin", "Range", "bytes=100000-100009")
				if resp.StatusCode != 206 || !bytes.Equal(body, big[100000:100010]) {
					t.Fatalf("range: %d %x", resp.StatusCode, body)
				}
				resp, body = get(t, client, s.URL()+"big.bin", "Range", "bytes=0-1,70000-70001")
				if resp.StatusCode != 206 || !bytes.Contains(body, big[70000:70002]) ||
					!strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") {
					t.Fatalf("ranges: %d %q", resp.StatusCode, body)
				}
				if resp, _ = get(t, client, s.URL()+"missing"); resp.StatusCode != 404 {
					t.Fatalf("missing: %d", resp.StatusCode)
				}
				// A new connection resumes the session of the last one.
				client.CloseIdleConnections()
				before := s.Stats().TLSResumed
				resp, _ = get(t, client, s.URL()+"notes.txt")
				if !resp.TLS.DidResume || s.Stats().TLSResumed != before+1 {
					t.Fatalf("no resumption: client %v, server %d -> %d", resp.TLS.DidResume, before, s.Stats().TLSResumed)
				}
			})
		}
	}
}

// heldConn is a connection whose writes, once held, wait for flush: the
// TLS records of several writes then leave in one segment.
type heldConn struct {
	net.Conn
	hold bool
	buf  bytes.Buffer
}

func (c *heldConn) Write(p []byte) (int, error) {
	if c.hold {
		return c.buf.Write(p)
	}
	return c.Conn.Write(p)
}

// Pipelined requests in records of their own that arrive together: the
// second is read from the socket with the first (OpenSSL's read-ahead)
// and waits in TLS, not in the socket, so the server must not wait for
// the socket before reading it.
func TestHTTPSPipelinedRecords(t *testing.T) {
	p := testPKI(t)
	root, _ := site(t)
	s := start(t, Config{Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile, IdleTimeout: time.Minute})
	raw := dialServer(t, s, 10*time.Second)
	defer raw.Close()
	hc := &heldConn{Conn: raw}
	c := tls.Client(hc, &tls.Config{RootCAs: caPool(t, p), ServerName: "localhost"})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	hc.hold = true
	io.WriteString(c, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	io.WriteString(c, "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
	hc.hold = false
	if _, err := raw.Write(hc.buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for _, want := range []string{"0123456789abcdefghij", "body { color: black }\n"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
}

// curl (OpenSSL underneath, Debian's build): both versions, ALPN, the CA
// file, a second connection resuming the first's session.
func TestHTTPSCurl(t *testing.T) {
	curl := curlBin(t)
	p := testPKI(t)
	root, big := site(t)
	s := start(t, Config{Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile})
	url := "https://localhost:" + s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:] + "/"
	for _, v := range []string{"1.2", "1.3"} {
		t.Run("TLS"+v, func(t *testing.T) {
			out := t.TempDir() + "/big"
			before := s.Stats()
			// Two transfers on two connections (Connection: close): the
			// second resumes the first's session.
			cmd := exec.Command(curl, append(append([]string{"-q"}, curlOpts...), "-v",
				"--cacert", p.CAFile, "--tlsv"+v, "--tls-max", v, "-H", "Connection: close",
				"-o", out, url+"big.bin", "-o", "/dev/null", url+"index.html")...)
			stderr, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, stderr)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, big) {
				t.Fatalf("big.bin: %d bytes", len(got))
			}
			for _, want := range []string{"SSL connection using TLSv" + v, "ALPN: server accepted http/1.1", "SSL certificate verify ok"} {
				if !strings.Contains(string(stderr), want) {
					t.Errorf("curl -v does not say %q:\n%s", want, stderr)
				}
			}
			after := s.Stats()
			if after.TLSHandshakes != before.TLSHandshakes+2 || after.TLSResumed != before.TLSResumed+1 {
				t.Errorf("handshakes %d -> %d, resumed %d -> %d: want 2 handshakes, 1 resumed",
					before.TLSHandshakes, after.TLSHandshakes, before.TLSResumed, after.TLSResumed)
			}
		})
	}
	t.Run("UnknownCA", func(t *testing.T) {
		cmd := exec.Command(curl, append(append([]string{"-q"}, curlOpts...),
			"--cacert", p.OtherCAFile, url)...)
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate") {
			t.Fatalf("curl trusted an unknown CA: %v %s", err, out)
		}
	})
}

// Clients that do not speak TLS, or not at all, lose their connection and
// nothing else: the server still serves.
func TestHTTPSBadClients(t *testing.T) {
	p := testPKI(t)
	root, _ := site(t)
	s := start(t, Config{Root: root, CertFile: p.CertFile, KeyFile: p.KeyFile,
		HeaderTimeout: 300 * time.Millisecond})
	plain := dialServer(t, s, 10*time.Second)
	io.WriteString(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := io.Copy(io.Discard, plain); err != nil {
		t.Fatalf("plain HTTP to HTTPS: %d bytes, %v", n, err)
	}
	plain.Close()
	silent := dialServer(t, s, 10*time.Second) // no ClientHello: the handshake times out
	if _, err := io.Copy(io.Discard, silent); err != nil {
		t.Fatalf("silent client: %v", err)
	}
	silent.Close()
	half := dialServer(t, s, 10*time.Second) // half a ClientHello, then nothing
	half.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
	if _, err := io.Copy(io.Discard, half); err != nil {
		t.Fatalf("half a ClientHello: %v", err)
	}
	half.Close()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: caPool(t, p), ServerName: "localhost"}}}
	if resp, _ := get(t, client, s.URL()+"notes.txt"); resp.StatusCode != 200 {
		t.Fatalf("after bad clients: %d", resp.StatusCode)
	}
	client.CloseIdleConnections()
}

func TestHTTPSConfigErrors(t *testing.T) {
	p := testPKI(t)
	root, _ := site(t)
	for _, c := range []struct {
		name, cert, key, want string
	}{
		{"NoKey", p.CertFile, "", "both"},
		{"MissingCert", p.Dir + "/none.pem", p.KeyFile, "none.pem"},
		{"MissingKey", p.CertFile, p.Dir + "/none.key", "none.key"},
		{"KeyMismatch", p.CertFile, p.OtherKeyFile, "key values mismatch"},
		{"KeyAsCert", p.KeyFile, p.KeyFile, "server.key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Start(Config{Addr: "127.0.0.1:0", Root: root, CertFile: c.cert, KeyFile: c.key})
			if err == nil {
				s.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if c.name == "NoKey" && !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("not EINVAL: %v", err)
			}
		})
	}
}

// dialAny connects to s as its clients do: over TLS (not verified: the
// sweeps' certificates are the test's own) when s serves HTTPS. The
// handshake happens at the first read or write.
func dialAny(t testing.TB, s *Server, d time.Duration) net.Conn {
	c := dialServer(t, s, d)
	if !s.https {
		return c
	}
	return tls.Client(c, &tls.Config{InsecureSkipVerify: true})
}

// TestHTTPSFaults is TestFaults over TLS: the engine's and the server's
// fault points fail one at a time (OpenSSL's own allocations are not
// swept) while a connection gets faultSteps, the large file cut to 300
// KiB (through the 64 KiB TLS buffer, past a turn: the 1 MiB one made
// the sweep the costliest test of the stage); each time the client gets
// right responses or a clean end, and the server's connections, buffers
// and fds go back to what they were. One stack mode: the TLS code above
// the engine does not depend on it (TestHTTPSGoClient runs both).
func TestHTTPSFaults(t *testing.T) {
	p := testPKI(t)
	root, big := site(t)
	mid := big[:300<<10]
	if err := os.WriteFile(root+"/mid.bin", mid, 0o644); err != nil {
		t.Fatal(err)
	}
	steps := faultSteps(big)
	steps[len(steps)-1] = faultStep{"GET /mid.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, mid}
	for _, mode := range []coro.StackMode{coro.StackGuarded} {
		t.Run(mode.String(), func(t *testing.T) {
			s := start(t, Config{Root: root, Stack: mode, CertFile: p.CertFile, KeyFile: p.KeyFile})
			for i := 0; i < 3; i++ {
				if !faultRequest(t, s, steps) {
					t.Fatal("the requests failed with no fault injected")
				}
			}
			fds := idleFDs(t, s)
			run := func(int64) bool { return !faultRequest(t, s, steps) }
			fault.Sweep(t, "natural", fault.All, fault.Natural, run, func(n int64) { settle(t, s, fds, "natural", n) })
			fault.Sweep(t, "eintr", fault.Blocking, syscall.EINTR, run, func(n int64) { settle(t, s, fds, "eintr", n) })
		})
	}
}
