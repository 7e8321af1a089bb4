package httpc

// #include <stdlib.h>
// #include <errno.h>
// #include <string.h>
// #include "go_glue.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ccoro/coro"
)

// Options configure a Client; the zero value is usable (the C defaults:
// 8 connections per host, 4 s idle, 10 s connect, 30 s head timeouts,
// 64 KiB heads, no body limit, User-Agent coro-http/0.1).
type Options struct {
	MaxConnsPerHost int           // connections per scheme/host/port
	IdleTimeout     time.Duration // how long an idle connection is kept
	ConnectTimeout  time.Duration // each connect, name resolution included
	HeadTimeout     time.Duration // from sending a request to its response head's end
	MaxHeadBytes    int           // the largest response head
	MaxBodyBytes    int64         // the largest response body; 0: none
	UserAgent       string        // "": the default
	CAFile          string        // PEM certificates to trust for https; "": the system's
	Insecure        bool          // skip certificate verification (tests only)
}

// Field is a header field.
type Field struct{ Name, Value string }

// Request is one request. Method "" is GET.
type Request struct {
	Method       string
	URL          string  // absolute http or https URL
	Header       []Field // extra fields; Host, Content-Length, Transfer-Encoding and Connection are the client's
	Body         []byte  // sent with Content-Length (POST and PUT always send one)
	MaxRedirects int     // redirects to follow; 0: none (the 3xx is the response)
	// Output, if set, receives the final response's body instead of
	// Response.Body (written from the loop's thread: a blocking file is
	// fine for a command-line tool, a slow pipe stalls the loop).
	Output *os.File
}

// Response is the final response of a request.
type Response struct {
	Status    int
	Proto     string  // "HTTP/1.1" or "HTTP/1.0"
	URL       string  // the URL it came from, after redirects
	Header    []Field // in order
	Body      []byte  // unless Request.Output was set
	BodyBytes int64   // body bytes received
	Redirects int     // redirects followed
	Reused    bool    // it came on a reused connection
	Retried   bool    // the request went a second time after a stale connection
}

// Get returns the first field named name (case-insensitive), or "".
func (r *Response) Get(name string) string {
	for _, f := range r.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Stats are a client's counters.
type Stats struct {
	Requests, Connects, Reuses, Retries, Redirects uint64
	Evicted, Dropped, Idle, Active                 uint64
	BytesIn, BytesOut                              uint64
}

// Error is the error of a request: the URL it was for and the cause, an
// Errno (ErrFraming, ...) or a syscall.Errno (ETIMEDOUT, ECONNREFUSED,
// ...), so errors.Is works with either. Detail is what more the client
// knows of this request's failure, or "": for ErrTLS, OpenSSL's reason
// ("TLS handshake: certificate verify failed: unable to get local issuer
// certificate").
type Error struct {
	URL    string
	Err    error
	Detail string
}

func (e *Error) Error() string {
	s := "httpc: " + e.URL + ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether a deadline ended the request.
func (e *Error) Timeout() bool {
	return errors.Is(e.Err, syscall.ETIMEDOUT) || errors.Is(e.Err, context.DeadlineExceeded)
}

// deadlineError is what a request cut by its context's deadline reports:
// the same whether the engine's timer (ETIMEDOUT) or the context's ended
// it first, which on a loaded machine is a matter of scheduling. It is
// both context.DeadlineExceeded and syscall.ETIMEDOUT for errors.Is.
type deadlineError struct{}

func (deadlineError) Error() string   { return "deadline exceeded (context)" }
func (deadlineError) Timeout() bool   { return true }
func (deadlineError) Temporary() bool { return true }
func (deadlineError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == syscall.ETIMEDOUT
}

// ctxErr is the error of a request that ctx ended (ctx.Err() != nil).
func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return deadlineError{}
	}
	return ctx.Err()
}

// ErrClientClosed is returned by calls on a closed Client.
var ErrClientClosed = errors.New("httpc: client closed")

// Client is an HTTP/1.1 client whose requests run as C coroutines on one
// coro.Loop. Its methods may be called from any goroutine (not from the
// loop's own thread); requests run concurrently on the loop.
type Client struct {
	loop *coro.Loop
	mu   sync.RWMutex // Close against the others
	c    *C.coro_http_client
	opts *C.coro__http_go_job // the options' strings, which the C client keeps
}

func entry(fn C.coro_fn) coro.Entry { return coro.Entry(uintptr(unsafe.Pointer(fn))) }

func newJob() *C.coro__http_go_job {
	j := (*C.coro__http_go_job)(C.calloc(1, C.size_t(unsafe.Sizeof(C.coro__http_go_job{}))))
	if j == nil {
		panic("httpc: out of C memory")
	}
	j.rc = -C.ECANCELED // what a job cancelled before it started reports
	return j
}

// run runs fn(j) in a coroutine of the loop and waits for it; if ctx ends
// first, the coroutine is cancelled and waited for. It reports whether
// j may be freed (false: the loop's Close abandoned the coroutine, which
// may still hold j).
func (c *Client) run(ctx context.Context, fn C.coro_fn, j *C.coro__http_go_job) (bool, error) {
	co, err := c.loop.Spawn(entry(fn), uintptr(unsafe.Pointer(j)), coro.WithCoroutineName("httpc"))
	if err != nil {
		return true, err
	}
	_, err = co.Wait(ctx)
	if err != nil && ctx.Err() != nil && !errors.Is(err, syscall.ECANCELED) {
		co.Cancel()
		_, err = co.Wait(context.Background())
		if err == nil || errors.Is(err, syscall.ECANCELED) {
			err = ctx.Err()
		}
	}
	if errors.Is(err, coro.ErrAbandoned) {
		return false, err
	}
	if err != nil && !errors.Is(err, syscall.ECANCELED) && err != ctx.Err() {
		return true, err
	}
	return true, nil
}

// NewClient makes a client on loop. opts may be nil.
func NewClient(loop *coro.Loop, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.MaxConnsPerHost < 0 || opts.IdleTimeout < 0 || opts.ConnectTimeout < 0 ||
		opts.HeadTimeout < 0 || opts.MaxHeadBytes < 0 || opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("httpc: negative option: %w", syscall.EINVAL)
	}
	j := newJob()
	o := &j.opts
	o.max_conns_per_host = C.int(opts.MaxConnsPerHost)
	o.idle_timeout = C.int64_t(opts.IdleTimeout)
	o.connect_timeout = C.int64_t(opts.ConnectTimeout)
	o.head_timeout = C.int64_t(opts.HeadTimeout)
	o.head_max = C.size_t(opts.MaxHeadBytes)
	o.body_max = C.uint64_t(opts.MaxBodyBytes)
	// The strings live as long as the client (freed by Close).
	if opts.UserAgent != "" {
		o.user_agent = C.CString(opts.UserAgent)
	}
	if opts.CAFile != "" {
		o.tls.ca_file = C.CString(opts.CAFile)
	}
	if opts.Insecure {
		o.tls.insecure = 1
	}
	c := &Client{loop: loop}
	free, err := c.run(context.Background(), C.coro_fn(C.coro__http_go_new), j)
	if err == nil && j.rc < 0 {
		err = errOf(j.rc)
	}
	if err != nil {
		if free {
			C.free(unsafe.Pointer(o.user_agent))
			C.free(unsafe.Pointer(o.tls.ca_file))
			C.free(unsafe.Pointer(j))
		}
		return nil, fmt.Errorf("httpc: new client: %w", err)
	}
	c.c = j.c
	// The job keeps the option strings; Close frees it.
	c.opts = j
	return c, nil
}

// cDeadline is ctx's deadline as the engine's absolute time: -1 for none.
func cDeadline(ctx context.Context) C.int64_t {
	d, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	// The remainder first, then the engine's clock (the same monotonic
	// clock): so the engine's timer never fires before d, and a request it
	// ends finds the context's deadline passed (Do's one error for both).
	rem := time.Until(d)
	now := C.coro_now()
	if rem <= 0 {
		return now
	}
	return now + C.int64_t(rem)
}

// deadlinePassed reports whether ctx has a deadline and it has passed, even
// if ctx.Err() does not say so yet (the context's timer may run late).
func deadlinePassed(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// Do runs req and returns its final response. Any status is a response
// (a 404 is not an error); errors are *Error. ctx's deadline bounds the
// whole request (redirects and the one retry included) and its end
// cancels it.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return nil, ErrClientClosed
	}
	j := newJob()
	var cstrs []unsafe.Pointer
	cstr := func(s string) *C.char {
		p := C.CString(s)
		cstrs = append(cstrs, unsafe.Pointer(p))
		return p
	}
	freeAll := func() {
		for _, p := range cstrs {
			C.free(p)
		}
		C.coro_http_response_free(&j.resp)
		C.free(unsafe.Pointer(j))
	}
	q := &j.req
	q.url = cstr(req.URL)
	if req.Method != "" {
		q.method = cstr(req.Method)
	}
	if len(req.Header) > 0 {
		n := len(req.Header)
		hp := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.coro_http_header{})))
		cstrs = append(cstrs, hp)
		hs := unsafe.Slice((*C.coro_http_header)(hp), n)
		for i, f := range req.Header {
			hs[i].name = cstr(f.Name)
			hs[i].value = cstr(f.Value)
		}
		q.headers = (*C.coro_http_header)(hp)
		q.nheaders = C.size_t(n)
	}
	if req.Body != nil {
		b := C.CBytes(req.Body)
		cstrs = append(cstrs, b)
		q.body = b
		q.body_len = C.size_t(len(req.Body))
	}
	q.max_redirects = C.int(req.MaxRedirects)
	q.deadline = cDeadline(ctx)
	q.body_fd = -1
	if req.Output != nil {
		q.body_fd = C.int(req.Output.Fd())
	}
	j.c = c.c
	free, err := c.run(ctx, C.coro_fn(C.coro__http_go_do), j)
	runtime.KeepAlive(req.Output) // its fd was in use until now
	if !free {
		return nil, &Error{URL: req.URL, Err: err}
	}
	defer freeAll()
	if err != nil {
		return nil, &Error{URL: req.URL, Err: err}
	}
	if j.rc < 0 {
		err := errOf(j.rc)
		// The context ended it (cancelled in Wait), or its deadline, which
		// the engine's timer also has, did: one error either way.
		if j.rc == -C.ECANCELED && ctx.Err() != nil {
			err = ctxErr(ctx)
		} else if j.rc == -C.ETIMEDOUT && deadlinePassed(ctx) {
			err = deadlineError{}
		}
		return nil, &Error{URL: req.URL, Err: err, Detail: C.GoString(&j.resp.why[0])}
	}
	r := &j.resp
	resp := &Response{
		Status:    int(r.status),
		Proto:     fmt.Sprintf("HTTP/1.%d", int(r.minor)),
		URL:       C.GoString(r.url),
		BodyBytes: int64(r.body_bytes),
		Redirects: int(r.redirects),
		Reused:    r.reused != 0,
		Retried:   r.retried != 0,
	}
	if r.nheaders > 0 {
		hs := unsafe.Slice(r.headers, int(r.nheaders))
		resp.Header = make([]Field, len(hs))
		for i, h := range hs {
			resp.Header[i] = Field{C.GoString(h.name), C.GoString(h.value)}
		}
	}
	if r.body != nil {
		resp.Body = C.GoBytes(unsafe.Pointer(r.body), C.int(r.body_len))
	}
	return resp, nil
}

// Stats reads the client's counters.
func (c *Client) Stats() (Stats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return Stats{}, ErrClientClosed
	}
	j := newJob()
	j.c = c.c
	free, err := c.run(context.Background(), C.coro_fn(C.coro__http_go_stats), j)
	if !free {
		return Stats{}, err
	}
	defer C.free(unsafe.Pointer(j))
	if err != nil {
		return Stats{}, err
	}
	s := &j.stats
	return Stats{
		Requests: uint64(s.requests), Connects: uint64(s.connects), Reuses: uint64(s.reuses),
		Retries: uint64(s.retries), Redirects: uint64(s.redirects), Evicted: uint64(s.evicted),
		Dropped: uint64(s.dropped), Idle: uint64(s.idle), Active: uint64(s.active),
		BytesIn: uint64(s.bytes_in), BytesOut: uint64(s.bytes_out),
	}, nil
}

// Close closes the client's idle connections and frees it. It waits for
// requests in flight through this Client to end (Close holds the lock
// that Do holds while it runs). A second Close returns ErrClientClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return ErrClientClosed
	}
	j := newJob()
	j.c = c.c
	free, err := c.run(context.Background(), C.coro_fn(C.coro__http_go_free), j)
	if err == nil && j.rc < 0 {
		err = errOf(j.rc)
	}
	if free {
		C.free(unsafe.Pointer(j))
	}
	if err != nil {
		return fmt.Errorf("httpc: close: %w", err)
	}
	c.c = nil
	C.free(unsafe.Pointer(c.opts.opts.user_agent))
	C.free(unsafe.Pointer(c.opts.opts.tls.ca_file))
	C.free(unsafe.Pointer(c.opts))
	c.opts = nil
	return nil
}
