package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	corolib "github.com/ccoro/coro"
	"github.com/ccoro/coro/httpc"
)

// Exit statuses of coro get, as curl's (curl(1), EXIT CODES).
const (
	getUnsupported = 1  // a scheme other than http(s), or https without TLS built in
	getBadURL      = 3  // a malformed URL
	getResolve     = 6  // the host name could not be resolved
	getConnect     = 7  // the connection was refused or failed
	getWeird       = 8  // a malformed response
	getPartial     = 18 // the connection closed before the response ended
	getHTTPError   = 22 // -f and a status of 400 or more
	getWrite       = 23 // the output could not be written
	getTimeout     = 28 // a deadline passed
	getTLS         = 35 // the TLS handshake or certificate verification failed
	getRedirects   = 47 // more redirects than allowed
	getRecv        = 56 // the connection failed while receiving
	getTooLarge    = 63 // the response was larger than allowed
)

var getCommand = &command{
	name:      "get",
	summary:   "fetch URLs with the engine's HTTP/1.1 client (curl style)",
	args:      "[-o FILE]... [-v] [-H 'K: V']... [-X METHOD] [-d DATA] [-L] [-f] [-cacert FILE] [-timeout D] URL...",
	takesArgs: true,
	help: `Fetch each URL with the HTTP/1.1 client of package httpc (C coroutines on
one loop, a connection pool per host), all of them concurrently, and write
the bodies to standard output in the order of the URLs. -o FILE writes a
URL's body to FILE instead; as with curl, the -o options pair with the URLs
in order, wherever they stand (the first -o for the first URL, the second
for the second, ...; URLs past the last -o go to standard output), and
flags may come between URLs: coro get -o a.html URL1 -o b.html URL2 URL3
writes URL1's body to a.html, URL2's to b.html and URL3's to standard
output. More -o than URLs, or one FILE twice, is a usage error. -v prints
each request and response head to standard error. https needs a coro
built with TLS (go build -tags coro_openssl ./cmd/coro); without it https
URLs fail with exit status 1.
A TLS failure is printed with OpenSSL's reason, in curl's words ("SSL
certificate problem: unable to get local issuer certificate").

Exit status, as curl's: 0 every URL fetched (any HTTP status, unless -f);
1 unsupported scheme or TLS not built in; 2 usage error; 3 malformed URL;
6 host not resolved; 7 connect failed; 8 malformed response; 18 connection
closed mid-response; 22 with -f, a status of 400 or more; 23 write error;
28 timeout; 35 TLS handshake or verification failed; 47 too many
redirects; 56 receive failure; 63 response too large. With several URLs,
the status is that of the first URL (in the order given) that failed.`,
	flags: getFlags,
}

// outFlags collects repeated -o values.
type outFlags []string

func (o *outFlags) String() string { return strings.Join(*o, " ") }
func (o *outFlags) Set(v string) error {
	if v == "" {
		return errors.New("empty file name")
	}
	*o = append(*o, v)
	return nil
}

// headerFlags collects repeated -H values.
type headerFlags []httpc.Field

func (h *headerFlags) String() string { return fmt.Sprint(*h) }
func (h *headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New(`want "Name: value"`)
	}
	*h = append(*h, httpc.Field{Name: strings.TrimSpace(k), Value: strings.TrimSpace(val)})
	return nil
}

// getExit maps a request's error to curl's exit status.
func getExit(err error) int {
	var en httpc.Errno
	var se syscall.Errno
	switch {
	case errors.As(err, &en):
		switch en {
		case httpc.ErrBadURL:
			return getBadURL
		case httpc.ErrScheme, httpc.ErrNoTLS:
			return getUnsupported
		case httpc.ErrFraming:
			return getWeird
		case httpc.ErrTruncated:
			return getPartial
		case httpc.ErrRedirects:
			return getRedirects
		case httpc.ErrHeadTooLarge, httpc.ErrBodyTooLarge:
			return getTooLarge
		case httpc.ErrTLS:
			return getTLS
		}
		return getResolve // the resolver's own codes (no such name, ...)
	case errors.Is(err, context.DeadlineExceeded):
		return getTimeout
	case errors.As(err, &se):
		switch se {
		case syscall.ETIMEDOUT:
			return getTimeout
		case syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.EADDRNOTAVAIL:
			return getConnect
		case syscall.ENODATA:
			return getResolve
		case syscall.EPIPE, syscall.ENOSPC, syscall.EBADF, syscall.EIO:
			return getWrite
		}
		return getRecv
	}
	return getRecv
}

func getFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	var outs outFlags
	fs.Var(&outs, "o", "write the body of the URL in the same place among the URLs to `FILE` (repeatable: the first -o for the first URL, ...)")
	verbose := fs.Bool("v", false, "print the request and response heads to standard error")
	var headers headerFlags
	fs.Var(&headers, "H", "add the request field `'K: V'` (repeatable)")
	method := fs.String("X", "", "the request `METHOD` (default GET, or POST with -d)")
	data := fs.String("d", "", "send `DATA` as the body (@FILE: the file's contents)")
	follow := fs.Bool("L", false, "follow redirects (at most 20)")
	fail := fs.Bool("f", false, "fail (exit status 22) on a status of 400 or more, printing no body")
	cacert := fs.String("cacert", "", "trust the PEM certificates in `FILE` for https")
	timeout := fs.Duration("timeout", 0, "give up on each URL after `D` (0: no limit)")
	return func(stdout, stderr io.Writer) int {
		// Flags may follow URLs (curl's -o URL -o URL): the flag package
		// stops at the first argument, so parse again after each URL.
		var urls []string
		for args := fs.Args(); len(args) > 0; args = fs.Args() {
			urls = append(urls, args[0])
			if err := fs.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return usageError(stderr, "get", "-h comes before the URLs")
				}
				fmt.Fprintf(stderr, "Run 'coro get -h' for usage.\n")
				return exitUsage
			}
		}
		if len(urls) == 0 {
			return usageError(stderr, "get", "no URL to fetch")
		}
		if len(outs) > len(urls) {
			return usageError(stderr, "get", "%d -o options for %d URLs", len(outs), len(urls))
		}
		for i, o := range outs {
			for _, p := range outs[:i] {
				if p == o {
					return usageError(stderr, "get", "-o %s given twice", o)
				}
			}
		}
		var body []byte
		dataSet := false
		fs.Visit(func(f *flag.Flag) { dataSet = dataSet || f.Name == "d" })
		if dataSet {
			body = []byte(*data)
			if strings.HasPrefix(*data, "@") {
				b, err := os.ReadFile((*data)[1:])
				if err != nil {
					return usageError(stderr, "get", "-d: %v", err)
				}
				body = b
			}
		}
		m := *method
		if m == "" && dataSet {
			m = "POST"
		}
		// outputs[i]: URL i's file, nil for standard output.
		outputs := make([]*os.File, len(urls))
		for i, o := range outs {
			f, err := os.Create(o)
			if err != nil {
				fmt.Fprintf(stderr, "coro get: %v\n", err)
				return getWrite
			}
			defer f.Close()
			outputs[i] = f
		}
		loop, err := corolib.NewLoop(corolib.WithName("get"))
		if err != nil {
			fmt.Fprintf(stderr, "coro get: %v\n", err)
			return exitFailed
		}
		defer loop.Close(context.Background())
		client, err := httpc.NewClient(loop, &httpc.Options{CAFile: *cacert})
		if err != nil {
			fmt.Fprintf(stderr, "coro get: %v\n", err)
			return exitFailed
		}
		defer client.Close()
		type result struct {
			resp *httpc.Response
			err  error
		}
		res := make([]result, len(urls))
		var wg sync.WaitGroup
		for i, u := range urls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				if *timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, *timeout)
					defer cancel()
				}
				req := &httpc.Request{Method: m, URL: u, Header: headers, Body: body, Output: outputs[i]}
				if *follow {
					req.MaxRedirects = 20
				}
				r, err := client.Do(ctx, req)
				res[i] = result{r, err}
			}()
		}
		wg.Wait()
		status := exitOK
		for i, r := range res {
			code := exitOK
			if r.err != nil {
				fmt.Fprintf(stderr, "coro get: %s\n", getMessage(r.err))
				code = getExit(r.err)
			} else {
				if *verbose {
					printHead(stderr, m, urls[i], r.resp)
				}
				if *fail && r.resp.Status >= 400 {
					fmt.Fprintf(stderr, "coro get: %s: the server answered %d\n", urls[i], r.resp.Status)
					code = getHTTPError
				} else if outputs[i] == nil {
					if _, err := stdout.Write(r.resp.Body); err != nil {
						fmt.Fprintf(stderr, "coro get: %v\n", err)
						code = getWrite
					}
				}
			}
			if status == exitOK {
				status = code
			}
		}
		return status
	}
}

// getMessage is a request's error as coro get prints it: a TLS failure
// with OpenSSL's reason in curl's words ("SSL certificate problem: unable
// to get local issuer certificate"), anything else as the client says it.
func getMessage(err error) string {
	var e *httpc.Error
	if !errors.As(err, &e) || !errors.Is(err, httpc.ErrTLS) || e.Detail == "" {
		return err.Error()
	}
	if _, reason, ok := strings.Cut(e.Detail, "certificate verify failed: "); ok {
		return e.URL + ": SSL certificate problem: " + reason
	}
	return e.URL + ": SSL connect error: " + e.Detail
}

// printHead writes what -v shows of one exchange, curl's way.
func printHead(w io.Writer, method, url string, r *httpc.Response) {
	if method == "" {
		method = "GET"
	}
	fmt.Fprintf(w, "> %s %s\n", method, url)
	if r.Redirects > 0 {
		fmt.Fprintf(w, "* %d redirect(s) to %s\n", r.Redirects, r.URL)
	}
	fmt.Fprintf(w, "< %s %d\n", r.Proto, r.Status)
	for _, f := range r.Header {
		fmt.Fprintf(w, "< %s: %s\n", f.Name, f.Value)
	}
	fmt.Fprintf(w, "* %d body bytes; connection %s%s\n", r.BodyBytes,
		map[bool]string{true: "reused", false: "new"}[r.Reused],
		map[bool]string{true: ", retried once", false: ""}[r.Retried])
}
