package httpd

// The connection's life beyond one request: the lingering close after an
// early error response, the write timeout and the cap on unsent bytes for
// a client that stops reading, and the turns that keep one busy connection
// from holding its loop.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond every 5 ms until it holds, failing the test after
// 20 s (a bound for a loaded machine, not a timing).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 20 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLingeringClose sends requests that the server answers early, before
// reading their bodies (a method it refuses, a head over the limits), each
// followed by a body larger than the socket buffers, written in full
// before the response is read, as a client that does not watch for an
// early answer does. The server must read and drop the body until the
// client is done: closing with unread bytes would reset the connection and
// destroy the response in flight.
func TestLingeringClose(t *testing.T) {
	root, _ := site(t)
	s := start(t, Config{Root: root})
	bigHdr := "X-Big: " + strings.Repeat("b", 17000) + "\r\n"
	for _, size := range []int{4 << 20, 16 << 20} {
		body := strings.Repeat("u", size)
		for _, tc := range []struct {
			name, head string
			code       int
		}{
			{"POST", fmt.Sprintf("POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), 405},
			{"PUT chunked", "PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 405},
			{"431", "POST / HTTP/1.1\r\nHost: x\r\n" + bigHdr + "\r\n", 431},
			{"400", "POST / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400},
		} {
			t.Run(fmt.Sprintf("%s/%dMiB", tc.name, size>>20), func(t *testing.T) {
				c, err := net.Dial("tcp", s.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.WriteString(c, tc.head+body); err != nil {
					t.Fatalf("sending the body: %v", err)
				}
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("reading the response: %v", err)
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != tc.code || string(got) != errorBody[tc.code] || !resp.Close {
					t.Fatalf("%d %q (%v) close=%v, want %d %q and close", resp.StatusCode, got, err, resp.Close, tc.code, errorBody[tc.code])
				}
				// The server shut its side down after the response.
				if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("after the response: %d %v, want EOF", n, err)
				}
			})
		}
	}
	waitFor(t, "no live connections", func() bool { return s.Stats().LiveConns == 0 })
}

// TestLingeringBounds checks the two bounds of the lingering close: a
// client that stops sending its body but keeps the connection open is
// closed after LingeringTimeout, and one that keeps sending for ever after
// LingeringTime. Each gets its response and the server's EOF first.
func TestLingeringBounds(t *testing.T) {
	root, _ := site(t)
	for _, tc := range []struct {
		name          string
		timeout, time time.Duration
		keepSending   bool
	}{
		{"stalled", 100 * time.Millisecond, time.Hour, false},
		{"endless", time.Hour, 300 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Config{Root: root, LingeringTimeout: tc.timeout, LingeringTime: tc.time})
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nsome of the body")
			stop := make(chan struct{})
			sent := make(chan error, 1)
			if tc.keepSending {
				// 1 KiB every 5 ms until the server resets the connection.
				go func() {
					chunk := make([]byte, 1024)
					for {
						select {
						case <-stop:
							sent <- nil
							return
						case <-time.After(5 * time.Millisecond):
						}
						if _, err := c.Write(chunk); err != nil {
							sent <- err
							return
						}
					}
				}()
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			if resp.StatusCode != 405 {
				t.Fatalf("status %d, want 405", resp.StatusCode)
			}
			if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("after the response: %d %v, want EOF", n, err)
			}
			waitFor(t, "the server to close the lingering connection", func() bool { return s.Stats().LiveConns == 0 })
			if tc.keepSending {
				// Still sending when the server closed: its writes fail now.
				select {
				case err := <-sent:
					if err == nil {
						t.Fatal("the writer stopped before the server closed")
					}
				case <-time.After(20 * time.Second):
					close(stop)
					t.Fatalf("the writer got no error 20 s after the server closed (%v)", <-sent)
				}
			}
		})
	}
}
