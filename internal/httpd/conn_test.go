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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
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
				c := dialServer(t, s, 30*time.Second)
				defer c.Close()
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
			c := dialServer(t, s, 30*time.Second)
			defer c.Close()
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

// sparseFile makes a file of size bytes under root that takes no disk
// space (a hole reads as zeros).
// dialServer connects to s with a deadline d on every read and write
// (the caller closes the connection).
func dialServer(t testing.TB, s *Server, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(d))
	return c
}

func sparseFile(t testing.TB, root, name string, size int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// dialRcvbuf connects with the socket's receive buffer set to rcvbuf
// bytes before the connection exists, so that the window it offers stays
// small.
func dialRcvbuf(t *testing.T, addr string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStalledReader asks for a large file and never reads: the server
// must drop the connection at its write timeout, having queued no more
// than its unsent limit in the kernel beyond what the client's small
// receive window took. Everything the server wrote reaches the client
// when it reads at last, so the bytes it reads measure what the server's
// kernel held for it (about 4 MiB, tcp_wmem's maximum, without the
// limit).
func TestStalledReader(t *testing.T) {
	root, _ := site(t)
	const size = 64 << 20
	sparseFile(t, root, "huge.bin", size)
	const unsent = 128 << 10
	s := start(t, Config{Root: root, WriteTimeout: 200 * time.Millisecond, UnsentLimit: unsent})
	c := dialRcvbuf(t, s.Addr(), 64<<10)
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the server to drop the stalled reader", func() bool {
		st := s.Stats()
		return st.Conns == 1 && st.LiveConns == 0
	})
	n, err := io.Copy(io.Discard, c)
	t.Logf("the client read %d bytes (%v)", n, err)
	if n == 0 || n >= 1<<20 {
		t.Errorf("the server wrote %d bytes for a client that did not read, want some and less than 1 MiB", n)
	}
}

// TestTurns checks that a connection yields after a bounded amount of
// work: every 256 KiB of a body sent to a client that reads as fast as it
// can (so that the socket rarely makes the connection wait), and every 16
// pipelined requests.
func TestTurns(t *testing.T) {
	root, _ := site(t)
	const size = 64 << 20
	sparseFile(t, root, "huge.bin", size)
	s := start(t, Config{Root: root, Loops: 1})
	c := dialServer(t, s, 30*time.Second)
	defer c.Close()
	io.WriteString(c, "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReaderSize(c, 256<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); n != size || err != nil {
		t.Fatalf("body: %d bytes, %v", n, err)
	}
	// 256 parts, the last of which ends the response without a turn.
	if got := s.Stats().Turns; got < size/(256<<10)-1 {
		t.Errorf("%d turns for a %d MiB body, want at least %d", got, size>>20, size/(256<<10)-1)
	}
	before := s.Stats().Turns
	const pipelined = 64
	io.WriteString(c, strings.Repeat("GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n", pipelined))
	for i := 0; i < pipelined; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	if got := s.Stats().Turns - before; got < pipelined/16-1 {
		t.Errorf("%d turns for %d pipelined requests, want at least %d", got, pipelined, pipelined/16-1)
	}
}

// TestFairness: on a one-loop server, four clients download a large file
// as fast as they can while a fifth makes small requests one after
// another on its keep-alive connection. Each small request must be
// answered while the downloads are still in progress: a connection gives
// the others a turn after a bounded amount of work, however fast its
// client reads. (Before, one download held the loop for as long as its
// client kept up, and a small request waited for it to end.) The bytes
// the downloads had received when the small requests were done tell; the
// latencies are BenchmarkSmallDuringDownloads's. The unsent limit, which
// also makes a download wait for its client more often, is lifted here so
// that the turns alone are checked; still, on a loaded machine the
// clients' own scheduling blurs the difference, and TestTurns is the
// exact check of the mechanism.
func TestFairness(t *testing.T) {
	root, _ := site(t)
	const size = 1 << 30
	sparseFile(t, root, "huge.bin", size)
	s := start(t, Config{Root: root, Loops: 1, UnsentLimit: 1 << 30})
	dl := startDownloads(t, s, 4, "/huge.bin", size)
	defer dl.stop()
	waitFor(t, "every download to start", dl.allStarted)

	c := dialServer(t, s, 60*time.Second)
	defer c.Close()
	br := bufio.NewReader(c)
	const small = 20
	for i := 0; i < small; i++ {
		io.WriteString(c, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("small request %d: %v", i, err)
		}
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "0123456789abcdefghij" {
			t.Fatalf("small request %d: %q %v", i, b, err)
		}
	}
	got := dl.received()
	t.Logf("bytes downloaded when %d small requests were done: %v", small, got)
	for i, n := range got {
		if n >= size {
			t.Errorf("download %d had completed before the %d small requests did", i, small)
		}
	}
}

// downloads are clients downloading one file as fast as they can, again
// and again on their keep-alive connections, each counting the body bytes
// it has received.
type downloads struct {
	conns []net.Conn
	got   []atomic.Int64
	done  chan error
}

func startDownloads(t testing.TB, s *Server, n int, path string, size int64) *downloads {
	t.Helper()
	d := &downloads{got: make([]atomic.Int64, n), done: make(chan error, n)}
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		d.conns = append(d.conns, c)
		go func() {
			br := bufio.NewReaderSize(c, 64<<10)
			buf := make([]byte, 256<<10)
			for {
				io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					d.done <- err
					return
				}
				for err == nil {
					var k int
					k, err = resp.Body.Read(buf)
					d.got[i].Add(int64(k))
				}
				if err != io.EOF {
					d.done <- err
					return
				}
			}
		}()
	}
	return d
}

func (d *downloads) allStarted() bool {
	for i := range d.got {
		if d.got[i].Load() == 0 {
			return false
		}
	}
	return true
}

func (d *downloads) received() []int64 {
	r := make([]int64, len(d.got))
	for i := range d.got {
		r[i] = d.got[i].Load()
	}
	return r
}

// stop closes the downloads' connections and waits for their readers.
func (d *downloads) stop() {
	for _, c := range d.conns {
		c.Close()
	}
	for range d.conns {
		<-d.done
	}
}

// BenchmarkSmallDuringDownloads measures the latency of small requests on
// one keep-alive connection while four clients download a 1 GiB file as
// fast as they can from the same one-loop server: p50, p99 and the worst,
// and the downloads' throughput meanwhile.
func BenchmarkSmallDuringDownloads(b *testing.B) {
	root := b.TempDir()
	if err := os.WriteFile(filepath.Join(root, "notes.txt"), []byte("0123456789abcdefghij"), 0o644); err != nil {
		b.Fatal(err)
	}
	sparseFile(b, root, "huge.bin", 1<<30)
	s, err := Start(Config{Root: root, Addr: "127.0.0.1:0", Loops: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	dl := startDownloads(b, s, 4, "/huge.bin", 1<<30)
	defer dl.stop()
	for !dl.allStarted() {
		time.Sleep(time.Millisecond)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	lat := make([]time.Duration, 0, b.N)
	sum := func(v []int64) (n int64) {
		for _, x := range v {
			n += x
		}
		return n
	}
	before := sum(dl.received())
	ls0 := s.group.Loop(0).Stats()
	b.ResetTimer()
	begin := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		io.WriteString(c, "GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	moved := sum(dl.received()) - before
	ls := s.group.Loop(0).Stats()
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(lat[len(lat)/2]), "p50-us")
	b.ReportMetric(us(lat[len(lat)*99/100]), "p99-us")
	b.ReportMetric(us(lat[len(lat)-1]), "max-us")
	b.ReportMetric(float64(moved)/elapsed.Seconds()/1e6, "download-MB/s")
	// How much the downloads moved between two of the loop's looks at the
	// other sockets: what a small request waits behind at worst.
	b.ReportMetric(float64(moved)/float64(ls.PollCalls-ls0.PollCalls)/1e3, "download-kB/poll")
}
