// Command goclient is the Go side of `make bench-httpc`: CONNS goroutines
// sending keep-alive GETs of URL through one net/http Client (its pool
// sized to CONNS) for SECONDS, the body read and dropped. Prints
// "requests N errors E"; run it with GOMAXPROCS=1 beside the other
// clients pinned to one CPU.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: goclient URL CONNS SECONDS")
		os.Exit(2)
	}
	url := os.Args[1]
	conns, _ := strconv.Atoi(os.Args[2])
	secs, _ := strconv.ParseFloat(os.Args[3], 64)
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	client := &http.Client{Transport: tr}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	var requests, errors atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				resp, err := client.Get(url)
				if err != nil {
					errors.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					requests.Add(1)
				} else {
					errors.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("requests %d errors %d\n", requests.Load(), errors.Load())
}
