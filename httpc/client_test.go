package httpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/fault"
)

func newClient(t testing.TB, opts *Options) *Client {
	t.Helper()
	loop, err := coro.NewLoop(coro.WithName("httpc-test"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(loop, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil && err != ErrClientClosed {
			t.Errorf("Close: %v", err)
		}
		if err := loop.Close(context.Background()); err != nil {
			t.Errorf("loop Close: %v", err)
		}
	})
	return c
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// hijack answers with raw bytes, then closes the connection.
func hijack(w http.ResponseWriter, raw string) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	buf.WriteString(raw)
	buf.Flush()
	conn.Close()
}

// The edge cases against Go's net/http server.
func TestDo(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "hello %s", b)
	})
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(200)
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush() // each part its own chunk
		}
		w.Header().Set("X-Sum", "3")
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/to-hello", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "hello", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("12345"))
		w.(http.Flusher).Flush()
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/truncated", func(w http.ResponseWriter, r *http.Request) {
		hijack(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
	})
	mux.HandleFunc("/close-after", func(w http.ResponseWriter, r *http.Request) {
		// A keep-alive answer, then the server drops the connection idle.
		hijack(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	mux.HandleFunc("/continue", func(w http.ResponseWriter, r *http.Request) {
		hijack(w, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 30*time.Second)

	t.Run("get", func(t *testing.T) {
		r, err := c.Do(ctx, &Request{URL: srv.URL + "/hello"})
		if err != nil || r.Status != 200 || string(r.Body) != "hello " || r.Get("x-method") != "GET" || r.Proto != "HTTP/1.1" {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("post", func(t *testing.T) {
		r, err := c.Do(ctx, &Request{Method: "POST", URL: srv.URL + "/hello", Body: []byte("body"),
			Header: []Field{{"Content-Type", "text/plain"}}})
		if err != nil || string(r.Body) != "hello body" || r.Get("X-Method") != "POST" {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("trailers", func(t *testing.T) {
		r, err := c.Do(ctx, &Request{URL: srv.URL + "/trailers"})
		if err != nil || string(r.Body) != "part0;part1;part2;" || r.Get("Transfer-Encoding") != "chunked" {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		r, err := c.Do(ctx, &Request{URL: srv.URL + "/to-hello", MaxRedirects: 3})
		if err != nil || r.Redirects != 1 || r.URL != srv.URL+"/hello" || string(r.Body) != "hello " {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("redirect-loop", func(t *testing.T) {
		_, err := c.Do(ctx, &Request{URL: srv.URL + "/loop", MaxRedirects: 4})
		if !errors.Is(err, ErrRedirects) {
			t.Fatalf("%v, want ErrRedirects", err)
		}
	})
	t.Run("slow-body", func(t *testing.T) {
		_, err := c.Do(ctxTimeout(t, 100*time.Millisecond), &Request{URL: srv.URL + "/slow-body"})
		var he *Error
		if !errors.As(err, &he) || !he.Timeout() || !errors.Is(err, syscall.ETIMEDOUT) ||
			!errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v, want a timeout, both ETIMEDOUT and DeadlineExceeded", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		_, err := c.Do(ctx, &Request{URL: srv.URL + "/truncated"})
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("%v, want ErrTruncated", err)
		}
	})
	t.Run("closed-idle", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			r, err := c.Do(ctx, &Request{URL: srv.URL + "/close-after"})
			if err != nil || string(r.Body) != "ok" {
				t.Fatalf("request %d: %+v, %v", i, r, err)
			}
		}
	})
	t.Run("100-continue", func(t *testing.T) {
		r, err := c.Do(ctx, &Request{URL: srv.URL + "/continue"})
		if err != nil || r.Status != 200 || string(r.Body) != "done" {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("output", func(t *testing.T) {
		f, err := os.CreateTemp(t.TempDir(), "body")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := c.Do(ctx, &Request{URL: srv.URL + "/hello", Output: f})
		if err != nil || r.Body != nil || r.BodyBytes != 6 {
			t.Fatalf("%+v, %v", r, err)
		}
		b, _ := os.ReadFile(f.Name())
		if string(b) != "hello " {
			t.Fatalf("file: %q", b)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.Do(ctx, &Request{URL: srv.URL + "/hello"})
				if err == nil && string(r.Body) != "hello " {
					err = fmt.Errorf("body %q", r.Body)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.Stats()
		if err != nil || st.Active != 0 || st.Idle > 8 {
			t.Fatalf("%+v, %v", st, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			url  string
			want error
		}{
			{"ftp://x/", ErrScheme},
			{"http://", ErrBadURL},
			{"http://127.0.0.1:1/", syscall.ECONNREFUSED},
		} {
			_, err := c.Do(ctx, &Request{URL: tc.url})
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.url, err, tc.want)
			}
		}
		if _, err := c.Do(ctx, &Request{URL: "https://127.0.0.1:1/"}); !errors.Is(err, ErrNoTLS) && !tlsBuilt {
			t.Errorf("https: %v, want ErrNoTLS", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() {
			_, err := c.Do(cctx, &Request{URL: srv.URL + "/slow-body"})
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, syscall.ECANCELED) {
			t.Fatalf("%v, want cancelled", err)
		}
	})
}

// tlsBuilt is whether https can work in this build (tls_on.c).
const tlsBuilt = tlsTag

func TestParseURL(t *testing.T) {
	u, err := ParseURL("HTTP://Example.COM:80/a/./b/../c?q#f")
	if err != nil || u.Href != "http://example.com/a/c?q#f" || u.Host != "example.com" || u.Port != 80 ||
		u.Path != "/a/c" || u.Query != "q" || !u.HasFragment {
		t.Fatalf("%+v, %v", u, err)
	}
	r, err := u.Resolve("//other/x/../y")
	if err != nil || r.String() != "http://other/y" {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := ParseURL("no scheme"); !errors.Is(err, ErrBadURL) {
		t.Fatalf("%v, want ErrBadURL", err)
	}
}

// TestFaults fails the engine's fault points (allocations, socket calls)
// one at a time during a client's whole life (NewClient, a GET on a new
// connection, a GET on the reused one, Close): each fault makes a call
// fail with an error or is survived; afterwards the process's fds are
// what they were (no connection leaks) and the next clean run works.
func TestFaults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	loop, err := coro.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close(context.Background())
	// A Close that failed (its coroutine could not be spawned) leaves the
	// client open: settle closes it, and the fds must then be back.
	var open *Client
	life := func() (err error) {
		c, err := NewClient(loop, nil)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := c.Close(); cerr != nil {
				open = c
				if err == nil {
					err = cerr
				}
			}
		}()
		ctx := ctxTimeout(t, 30*time.Second)
		for i := 0; i < 2; i++ {
			r, err := c.Do(ctx, &Request{URL: srv.URL + "/"})
			if err != nil {
				return err
			}
			if string(r.Body) != "ok" {
				return fmt.Errorf("body %q", r.Body)
			}
		}
		return nil
	}
	if err := life(); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	fds := fault.OpenFDs(t)
	var last string
	settle := func(n int64) {
		if open != nil {
			if err := open.Close(); err != nil {
				t.Fatalf("after fault %d: Close again: %v", n, err)
			}
			open = nil
		}
		srv.CloseClientConnections()
		deadline := time.Now().Add(10 * time.Second)
		for fault.OpenFDs(t) > fds {
			if time.Now().After(deadline) {
				t.Fatalf("after fault %d (%s): fds: %d, want %d", n, last, fault.OpenFDs(t), fds)
			}
			time.Sleep(time.Millisecond)
		}
	}
	fault.Sweep(t, "client", fault.All, fault.Natural, func(n int64) bool {
		err := life()
		p, _ := fault.Fired()
		last = fmt.Sprintf("%s: %v", fault.Name(p), err)
		if err != nil && !strings.HasPrefix(err.Error(), "httpc") {
			t.Fatalf("fault %d: %v: not an httpc error", n, err)
		}
		return err != nil
	}, settle)
	fault.Sweep(t, "client-eintr", fault.Blocking, syscall.EINTR, func(n int64) bool {
		return life() != nil
	}, settle)
	if err := life(); err != nil {
		t.Fatal(err)
	}
}

// Example: a GET on a loop of this process.
func ExampleClient_Do() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	loop, _ := coro.NewLoop()
	defer loop.Close(context.Background())
	c, _ := NewClient(loop, nil)
	defer c.Close()
	r, err := c.Do(context.Background(), &Request{URL: srv.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Status, string(r.Body))
	// Output: 200 hello
}

// TestDeadlineError: a request whose context's deadline passed reports the
// same error whichever timer ended it first (the engine's: ETIMEDOUT; the
// context's: DeadlineExceeded). On a loaded machine either can win, and
// slow-body above once saw the context's plain error (arm64, load 20).
func TestDeadlineError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	err := &Error{URL: "http://x/", Err: ctxErr(ctx)}
	if !err.Timeout() || !errors.Is(err, syscall.ETIMEDOUT) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v: Timeout %v, ETIMEDOUT %v, DeadlineExceeded %v; want all", err, err.Timeout(),
			errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, context.DeadlineExceeded))
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := ctxErr(cctx); !errors.Is(err, context.Canceled) || errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("cancelled: %v, want context.Canceled only", err)
	}
}

// TestIPv6: a request to a server on [::1] (an IPv6 literal in brackets:
// the host parsed without them, the address connected to over AF_INET6,
// the Host field and the redirect's absolute URL written with them, as
// Go's server insists), with a redirect on it followed, keep-alive reuse.
func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no ::1 on this machine: %v", err)
	}
	var hosts []string
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		if r.URL.Path == "/from" {
			http.Redirect(w, r, "http://"+r.Host+"/to", http.StatusFound)
			return
		}
		fmt.Fprintf(w, "%s over %s", r.URL.Path, r.RemoteAddr[:strings.LastIndexByte(r.RemoteAddr, ':')])
	})}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String() // http://[::1]:port
	c := newClient(t, nil)
	r, err := c.Do(ctxTimeout(t, 30*time.Second), &Request{URL: base + "/from", MaxRedirects: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || string(r.Body) != "/to over [::1]" || r.URL != base+"/to" || r.Redirects != 1 || !r.Reused {
		t.Errorf("got %d %q from %s (%d redirects, reused %v): want 200 %q from %s/to, 1 redirect, reused",
			r.Status, r.Body, r.URL, r.Redirects, r.Reused, "/to over [::1]", base)
	}
	mu.Lock()
	defer mu.Unlock()
	want := ln.Addr().String()
	if len(hosts) != 2 || hosts[0] != want || hosts[1] != want {
		t.Errorf("Host fields %q, want %q twice", hosts, want)
	}
}
