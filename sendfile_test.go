package coro_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
)

// sfFile writes n pseudo-random bytes to a temporary file and returns it
// (open for reading, closed at the end of the test) and its contents.
func sfFile(t testing.TB, n int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(data)
	name := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// sfTCP returns both ends of a loopback TCP connection, closed at the end
// of the test.
func sfTCP(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// readN reads n bytes from r in a goroutine.
func readN(r io.Reader, n int) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		buf := make([]byte, n)
		k, _ := io.ReadFull(r, buf)
		ch <- buf[:k]
	}()
	return ch
}

func TestSendFileRange(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l, ep := ioLoopEpoll(t, mode)
		f, data := sfFile(t, 1<<20)
		c, s := sfTCP(t)
		ctx := ioCtx(t, 30*time.Second)
		const off, cnt = 1000, 70000
		got := readN(s, cnt)
		n, err := l.SendFile(ctx, c, f, off, cnt)
		if err != nil || n != cnt {
			t.Fatalf("SendFile: %d, %v", n, err)
		}
		if b := <-got; !bytes.Equal(b, data[off:off+cnt]) {
			t.Fatalf("the peer got %d bytes, not the range sent", len(b))
		}
		// The loop keeps no registration of the conn's fd.
		if raw, err := c.SyscallConn(); err == nil && ep >= 0 {
			raw.Control(func(fd uintptr) {
				if epollWatches(t, ep, int(fd)) {
					t.Errorf("fd %d is still registered with the loop's epoll after SendFile", fd)
				}
			})
		}
		// src's own offset is untouched.
		if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
			t.Errorf("file position moved to %d", pos)
		}
		// Past the end: only what is there.
		got = readN(s, 100)
		n, err = l.SendFile(ctx, c, f, int64(len(data))-100, 5000)
		if err != nil || n != 100 {
			t.Fatalf("SendFile across EOF: %d, %v", n, err)
		}
		if b := <-got; !bytes.Equal(b, data[len(data)-100:]) {
			t.Fatal("wrong tail")
		}
		// Zero bytes.
		if n, err := l.SendFile(ctx, c, f, 0, 0); n != 0 || err != nil {
			t.Errorf("SendFile(count 0): %d, %v", n, err)
		}
		// The conn still works for Go afterwards.
		if _, err := c.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		if b := <-readN(s, 5); string(b) != "after" {
			t.Fatalf("got %q", b)
		}
	})
}

func TestSendFileLarge(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		const size = 8 << 20
		f, data := sfFile(t, size)
		c, s := sfTCP(t)
		// A small buffer makes the engine wait for writability many times.
		c.SetWriteBuffer(64 << 10)
		ctx := ioCtx(t, 60*time.Second)
		got := readN(s, size)
		start := time.Now()
		n, err := l.SendFile(ctx, c, f, 0, size)
		if err != nil || n != size {
			t.Fatalf("SendFile: %d, %v", n, err)
		}
		b := <-got
		if !bytes.Equal(b, data) {
			t.Fatalf("the peer got %d bytes that differ from the file", len(b))
		}
		t.Logf("8 MiB in %v", time.Since(start))
	})
}

func TestSendFilePeerCloses(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		const size = 32 << 20
		f, _ := sfFile(t, size)
		c, s := sfTCP(t)
		c.SetWriteBuffer(64 << 10)
		go func() {
			// Read a little, then reset the connection.
			buf := make([]byte, 64<<10)
			io.ReadFull(s, buf)
			s.SetLinger(0)
			s.Close()
		}()
		n, err := l.SendFile(ioCtx(t, 60*time.Second), c, f, 0, size)
		if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("SendFile to a peer that left: %d, %v; want EPIPE or ECONNRESET", n, err)
		}
		if n < 0 || n >= size {
			t.Errorf("sent %d of %d", n, size)
		}
		t.Logf("sent %d bytes before: %v", n, err)
	})
}

func TestSendFileRawFD(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l, ep := ioLoopEpoll(t, mode)
		f, data := sfFile(t, 3<<20)
		ctx := ioCtx(t, 30*time.Second)
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fds[0])
		recv := os.NewFile(uintptr(fds[1]), "recv") // blocking reads
		defer recv.Close()

		// A blocking destination is refused.
		if n, err := l.SendFile(ctx, fds[0], f, 0, 10); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("SendFile(blocking fd): %d, %v; want EINVAL", n, err)
		}
		if err := syscall.SetNonblock(fds[0], true); err != nil {
			t.Fatal(err)
		}
		const off = 12345
		cnt := len(data) - off
		got := readN(recv, cnt)
		n, err := l.SendFile(ctx, fds[0], f, off, int64(cnt))
		if err != nil || n != int64(cnt) {
			t.Fatalf("SendFile: %d, %v", n, err)
		}
		if b := <-got; !bytes.Equal(b, data[off:]) {
			t.Fatalf("the peer got %d bytes that differ", len(b))
		}
		// No registration is left: the fd can be closed and its number
		// reused without ForgetFD.
		if ep >= 0 && epollWatches(t, ep, fds[0]) {
			t.Errorf("fd %d is still registered with the loop's epoll after SendFile", fds[0])
		}
		syscall.Close(fds[0])
		peer := sameNumberSocketpair(t, fds[0])
		short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if ev, err := l.WaitFD(short, fds[0], coro.EventRead); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("WaitFD on the reused number: %v, %v; want a timeout", ev, err)
		}
		syscall.Write(peer, []byte("z"))
		if ev, err := l.WaitFD(ctx, fds[0], coro.EventRead); err != nil || ev&coro.EventRead == 0 {
			t.Fatalf("WaitFD on the reused number: %v, %v", ev, err)
		}
	})
}

func TestSendFileDeadlineAndCancel(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		const size = 32 << 20
		f, _ := sfFile(t, size)
		c, _ := sfTCP(t) // the peer never reads
		c.SetWriteBuffer(64 << 10)

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		n, err := l.SendFile(ctx, c, f, 0, size)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("SendFile: %d, %v; want a deadline error", n, err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("took %v", el)
		}
		if n < 0 || n >= size {
			t.Errorf("sent %d of %d before the deadline", n, size)
		}
		t.Logf("sent %d bytes before: %v", n, err)

		ctx2, cancel2 := context.WithCancel(context.Background())
		go func() {
			parked(t, l, 1) // cancel a SendFile that is blocked, not one yet to start
			cancel2()
		}()
		n, err = l.SendFile(ctx2, c, f, 0, size)
		if err != context.Canceled {
			t.Fatalf("SendFile: %d, %v; want context.Canceled", n, err)
		}
		if _, err := l.SendFile(ctx2, c, f, 0, size); err != context.Canceled {
			t.Errorf("SendFile(cancelled ctx): %v", err)
		}
	})
}

func TestSendFileForgetFD(t *testing.T) {
	ioModes(t, func(t *testing.T, mode coro.StackMode) {
		l := ioLoop(t, mode)
		f, _ := sfFile(t, 8<<20)
		a, _ := ioSocketpair(t) // the peer never reads
		done := make(chan error, 1)
		go func() {
			_, err := l.SendFile(ioCtx(t, 30*time.Second), a, f, 0, 8<<20)
			done <- err
		}()
		parked(t, l, 1)
		select {
		case err := <-done:
			t.Fatalf("SendFile returned before ForgetFD: %v", err)
		default:
		}
		if err := l.ForgetFD(a); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, syscall.EBADF) {
				t.Fatalf("SendFile after ForgetFD: %v, want EBADF", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("SendFile still blocked 20s after ForgetFD")
		}
	})
}

func TestSendFileInvalid(t *testing.T) {
	l, err := coro.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := sfFile(t, 100)
	c, _ := sfTCP(t)
	ctx := ioCtx(t, 20*time.Second)
	for _, tc := range []struct {
		name     string
		dst      any
		src      *os.File
		off, cnt int64
	}{
		{"nil file", c, nil, 0, 10},
		{"negative offset", c, f, -1, 10},
		{"negative count", c, f, 0, -1},
		{"negative fd", -1, f, 0, 10},
		{"string dst", "127.0.0.1:80", f, 0, 10},
		{"nil dst", nil, f, 0, 10},
	} {
		if n, err := l.SendFile(ctx, tc.dst, tc.src, tc.off, tc.cnt); n != 0 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %d, %v; want EINVAL", tc.name, n, err)
		}
	}
	// A file that is not a regular file cannot be sent from.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sock := os.NewFile(uintptr(fds[0]), "sock")
	defer sock.Close()
	defer syscall.Close(fds[1])
	if n, err := l.SendFile(ctx, c, sock, 0, 10); err == nil {
		t.Errorf("SendFile from a socket: %d, nil error", n)
	} else {
		t.Logf("SendFile from a socket: %v", err)
	}
	// A closed source.
	g, _ := sfFile(t, 10)
	g.Close()
	if _, err := l.SendFile(ctx, c, g, 0, 10); err == nil {
		t.Error("SendFile from a closed file: nil error")
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SendFile(ctx, c, f, 0, 10); !errors.Is(err, coro.ErrClosed) {
		t.Errorf("SendFile after Close: %v, want ErrClosed", err)
	}
}

// Send part of a file to a TCP connection; the loop's poller waits
// whenever the socket is full.
func ExampleLoop_SendFile() {
	l, err := coro.NewLoop()
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	dir, err := os.MkdirTemp("", "sendfile")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "greeting")
	if err := os.WriteFile(name, []byte("well, hello, world!"), 0o600); err != nil {
		panic(err)
	}
	f, err := os.Open(name)
	if err != nil {
		panic(err)
	}
	defer f.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	received := make(chan string)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		received <- string(b)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := l.SendFile(ctx, conn, f, 6, 12) // "hello, world"
	conn.Close()
	fmt.Println(n, err, <-received)
	// Output: 12 <nil> hello, world
}
