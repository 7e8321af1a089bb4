// Command goclient is the Go side of `make bench-httpc`: CONNS goroutines
// sending keep-alive GETs of URL through one net/http Client (its pool
// sized to CONNS) for SECONDS, the body read and dropped. Prints
// "requests N errors E" over the whole run, then "setup S setup_cpu C
// steady N steady_s W steady_cpu C" from its own clock and getrusage; run
// it with GOMAXPROCS=1 beside the other clients pinned to one CPU.
//
//	goclient URL CONNS SECONDS [CAFILE]
//
// The setup is one GET per goroutine, all at once, so the pool opens
// CONNS connections (over TLS: CONNS handshakes); the steady state is
// what follows on them. CAFILE: the PEM that an https server's
// certificate is verified against (HTTP/1.1 only, as the other clients).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpuSeconds() float64 {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
}

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: goclient URL CONNS SECONDS [CAFILE]")
		os.Exit(2)
	}
	url := os.Args[1]
	conns, _ := strconv.Atoi(os.Args[2])
	secs, _ := strconv.ParseFloat(os.Args[3], 64)
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	if len(os.Args) == 5 {
		pem, err := os.ReadFile(os.Args[4])
		if err != nil {
			fmt.Fprintln(os.Stderr, "goclient:", err)
			os.Exit(2)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "goclient: no certificate in", os.Args[4])
			os.Exit(2)
		}
		// A TLSClientConfig of our own turns HTTP/2 off (no
		// ForceAttemptHTTP2): HTTP/1.1 as the other clients.
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	client := &http.Client{Transport: tr}
	var requests, errors atomic.Int64
	get := func() {
		resp, err := client.Get(url)
		if err != nil {
			if errors.Add(1) == 1 {
				fmt.Fprintln(os.Stderr, "goclient:", err)
			}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			requests.Add(1)
		} else {
			errors.Add(1)
		}
	}
	each := func(f func()) {
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f()
			}()
		}
		wg.Wait()
	}

	t0, c0 := time.Now(), cpuSeconds()
	each(get)
	t1, c1, n1 := time.Now(), cpuSeconds(), requests.Load()
	end := t1.Add(time.Duration(secs * float64(time.Second)))
	each(func() {
		for time.Now().Before(end) {
			get()
		}
	})
	t2, c2 := time.Now(), cpuSeconds()
	fmt.Printf("requests %d errors %d\n", requests.Load(), errors.Load())
	fmt.Printf("setup %.6f setup_cpu %.6f steady %d steady_s %.6f steady_cpu %.6f\n",
		t1.Sub(t0).Seconds(), c1-c0, requests.Load()-n1, t2.Sub(t1).Seconds(), c2-c1)
}
