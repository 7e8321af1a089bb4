//go:build coro_openssl && cgo

package tls_test

import (
	gotls "crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/fault"
	"github.com/ccoro/coro/internal/tlstest"
	"github.com/ccoro/coro/tls"
)

func pki(t *testing.T) *tlstest.PKI {
	t.Helper()
	p, err := tlstest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve accepts on a loopback listener until the test ends, handing each
// connection to handle on a goroutine of its own.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func goConfig(t *testing.T, cert, key string) *gotls.Config {
	t.Helper()
	kp, err := gotls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &gotls.Config{Certificates: []gotls.Certificate{kp}, NextProtos: []string{"http/1.1"}}
}

// echoServer is Go's TLS server: it reads a line, writes it back and
// closes with close_notify.
func echoServer(t *testing.T, cfg *gotls.Config) string {
	return serve(t, func(raw net.Conn) {
		c := gotls.Server(raw, cfg)
		defer c.Close()
		buf := make([]byte, 256)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		c.Write(buf[:n])
	})
}

var versions = []struct {
	name string
	v    int
}{{"TLSv1.2", 0x0303}, {"TLSv1.3", 0x0304}}

func TestHandshakeAndResumption(t *testing.T) {
	p := pki(t)
	addr := echoServer(t, goConfig(t, p.CertFile, p.KeyFile))
	for _, v := range versions {
		for _, shared := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shared=%v", v.name, shared), func(t *testing.T) {
				res, rc, e := tlstest.Client(tlstest.ClientArgs{Addr: addr, Host: "localhost",
					CAFile: p.CAFile, MinVersion: v.v, MaxVersion: v.v, Msg: "ping\n",
					Conns: 3, StackShared: shared})
				if rc != 0 {
					t.Fatalf("setup: %d %s", rc, e)
				}
				for i, r := range res {
					if r.Rc != 0 || r.Data != "ping\n" || r.Version != v.name || r.ALPN != "http/1.1" {
						t.Fatalf("conn %d: %+v", i, r)
					}
					// The first connection makes the session, the next resume it.
					if r.Reused != (i > 0) {
						t.Errorf("conn %d: reused %v", i, r.Reused)
					}
				}
			})
		}
	}
	t.Run("IPAddress", func(t *testing.T) {
		// A numeric host is matched against the certificate's IP names.
		res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: addr, Host: "127.0.0.1",
			CAFile: p.CAFile, Msg: "ip\n"})
		if res[0].Rc != 0 || res[0].Data != "ip\n" {
			t.Fatalf("%+v", res[0])
		}
	})
}

// Each verification failure is CORO_ECERT with its own reason.
func TestVerifyFailures(t *testing.T) {
	p := pki(t)
	good := echoServer(t, goConfig(t, p.CertFile, p.KeyFile))
	other := echoServer(t, goConfig(t, p.OtherCertFile, p.OtherKeyFile))
	expired := echoServer(t, goConfig(t, p.ExpiredCertFile, p.KeyFile))
	for _, c := range []struct {
		name, addr, host, reason string
	}{
		{"WrongHost", good, "wrong.example", "hostname mismatch"},
		{"WrongIP", good, "127.0.0.2", "IP address mismatch"},
		{"UnknownCA", other, "localhost", "unable to get local issuer certificate"},
		{"Expired", expired, "localhost", "certificate has expired"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: c.addr, Host: c.host,
				CAFile: p.CAFile, Msg: "x"})
			r := res[0]
			if r.Rc != tlstest.ECERT || r.Step != 2 || !strings.Contains(r.Err, c.reason) {
				t.Fatalf("want CORO_ECERT at the handshake with %q, got %+v", c.reason, r)
			}
			if tls.ErrorText(r.Rc) != "certificate verification failed" {
				t.Errorf("ErrorText: %q", tls.ErrorText(r.Rc))
			}
		})
	}
	t.Run("Insecure", func(t *testing.T) {
		res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: other, Host: "wrong.example",
			CAFile: p.CAFile, Insecure: true, Msg: "k\n"})
		if res[0].Rc != 0 || res[0].Data != "k\n" {
			t.Fatalf("%+v", res[0])
		}
	})
	t.Run("SystemStore", func(t *testing.T) {
		// The system's CAs do not know the test CA.
		res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: good, Host: "localhost", Msg: "x"})
		if res[0].Rc != tlstest.ECERT {
			t.Fatalf("%+v", res[0])
		}
	})
}

func TestBadConfig(t *testing.T) {
	p := pki(t)
	_, rc, e := tlstest.Client(tlstest.ClientArgs{Addr: "127.0.0.1:1", Host: "localhost",
		CAFile: p.Dir + "/missing.pem"})
	if rc != tlstest.ETLS || !strings.Contains(e, "missing.pem") {
		t.Fatalf("missing CA file: %d %q", rc, e)
	}
	_, rc, _ = tlstest.Client(tlstest.ClientArgs{Addr: "127.0.0.1:1", Host: "localhost",
		MinVersion: 0x0301})
	if rc != -int(syscall.EINVAL) {
		t.Fatalf("TLS 1.0 allowed: %d", rc)
	}
}

// A peer that never answers: the deadline ends the handshake, and a read
// after a handshake.
func TestDeadlineStalledPeer(t *testing.T) {
	p := pki(t)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	silent := serve(t, func(c net.Conn) { <-hold })
	res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: silent, Host: "localhost",
		CAFile: p.CAFile, Timeout: 200 * time.Millisecond})
	if r := res[0]; r.Rc != -int(syscall.ETIMEDOUT) || r.Step != 2 {
		t.Fatalf("handshake with a silent peer: %+v", r)
	}
	cfg := goConfig(t, p.CertFile, p.KeyFile)
	mute := serve(t, func(raw net.Conn) {
		c := gotls.Server(raw, cfg)
		if c.Handshake() == nil {
			<-hold
		}
	})
	res, _, _ = tlstest.Client(tlstest.ClientArgs{Addr: mute, Host: "localhost",
		CAFile: p.CAFile, Msg: "x", Timeout: 300 * time.Millisecond})
	if r := res[0]; r.Rc != -int(syscall.ETIMEDOUT) || r.Step != 4 {
		t.Fatalf("read from a mute peer: %+v", r)
	}
}

// A peer that closes in the middle of a record: CORO_ETLSEOF, in the
// handshake and after it, never a clean end.
func TestPeerClosesMidRecord(t *testing.T) {
	p := pki(t)
	cfg := goConfig(t, p.CertFile, p.KeyFile)
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			addr := serve(t, func(raw net.Conn) {
				c := gotls.Server(raw, cfg)
				buf := make([]byte, 64)
				if _, err := c.Read(buf); err != nil {
					return
				}
				c.Write([]byte("whole record\n"))
				// An application-data record's header and a part of its body.
				raw.Write([]byte{0x17, 0x03, 0x03, 0x00, 0x40, 1, 2, 3, 4, 5, 6, 7, 8})
				raw.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, raw)
			})
			res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: addr, Host: "localhost",
				CAFile: p.CAFile, MinVersion: v.v, MaxVersion: v.v, Msg: "x"})
			r := res[0]
			if r.Rc != tlstest.ETLSEOF || r.Step != 4 || r.Data != "whole record\n" {
				t.Fatalf("%+v", r)
			}
		})
	}
	t.Run("Handshake", func(t *testing.T) {
		addr := serve(t, func(c net.Conn) {
			buf := make([]byte, 512)
			c.Read(buf) // the ClientHello
			c.Write([]byte{0x16, 0x03, 0x03, 0x00, 0x50, 2, 0, 0})
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		})
		res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: addr, Host: "localhost", CAFile: p.CAFile})
		if r := res[0]; r.Rc != tlstest.ETLSEOF || r.Step != 2 {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("NotTLS", func(t *testing.T) {
		addr := serve(t, func(c net.Conn) {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		})
		res, _, _ := tlstest.Client(tlstest.ClientArgs{Addr: addr, Host: "localhost", CAFile: p.CAFile})
		if r := res[0]; r.Rc != tlstest.ETLS || r.Step != 2 || r.Err == "" {
			t.Fatalf("%+v", r)
		}
	})
}

// Many handshakes at once on one loop, client and server sides both ours.
func TestManyHandshakes(t *testing.T) {
	p := pki(t)
	const n = 200
	r := tlstest.Many(p, n)
	if r.Rc != 0 || r.OK != n || r.Served != n {
		t.Fatalf("%d clients: %+v", n, r)
	}
}

// TestFaults fails the engine's fault points (allocations, fds made,
// reads, writes, epoll; OpenSSL's own allocations are not swept) one at a
// time under a TLS client against Go's server, and under a client and
// server of ours on one loop: each run ends with a clean error or a right
// echo, and the process's fds go back to what they were. Under EINTR alone
// every run must succeed.
func TestFaults(t *testing.T) {
	p := pki(t)
	addr := echoServer(t, goConfig(t, p.CertFile, p.KeyFile))
	for _, c := range []struct {
		name string
		run  func(t *testing.T) bool // failed
	}{
		{"client", func(t *testing.T) bool {
			res, rc, _ := tlstest.Client(tlstest.ClientArgs{Addr: addr, Host: "localhost",
				CAFile: p.CAFile, Msg: "ping\n", Conns: 2})
			if rc != 0 {
				return true
			}
			for _, r := range res {
				if r.Rc != 0 {
					if r.Rc >= 0 || r.Step == 0 {
						t.Fatalf("not a clean error: %+v", r)
					}
					return true
				}
				if r.Data != "ping\n" {
					t.Fatalf("wrong echo: %+v", r)
				}
			}
			return false
		}},
		{"client+server", func(t *testing.T) bool {
			r := tlstest.Many(p, 2)
			if r.Rc == 0 && r.OK+r.Failed != 2 {
				t.Fatalf("clients lost: %+v", r)
			}
			return r.Rc != 0 || r.OK != 2
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.run(t) // caches
			fds := fault.OpenFDs(t)
			settle := func(n int64) {
				for end := time.Now().Add(10 * time.Second); fault.OpenFDs(t) != fds; {
					if time.Now().After(end) {
						t.Fatalf("fault %d: %d fds open, want %d", n, fault.OpenFDs(t), fds)
					}
					time.Sleep(time.Millisecond)
				}
			}
			run := func(int64) bool { return c.run(t) }
			fault.Sweep(t, "natural", fault.All, fault.Natural, run, settle)
			fault.Sweep(t, "eintr", fault.Blocking, syscall.EINTR, run, settle)
		})
	}
}
