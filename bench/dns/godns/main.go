// Command godns is the Go side of the resolver benchmark
// (scripts/bench-dns.sh): N lookups of the distinct names
// h00000.bench.test. ... by Go's pure-Go resolver (net.Resolver with
// PreferGo, its Dial aimed at the benchmark's server), one goroutine per
// lookup, all at once; then the same names again ("warm": Go's resolver
// has no cache, so it asks the server again). Each lookup asks for IPv4
// only (LookupNetIP "ip4": one A query) and its answer is checked.
//
// It prints one line per phase, as bench/dns/dnsbench.c does:
//
//	dns impl=go phase=cold lookups=10000 errors=0 wall_ns=... cpu_ns=...
//
// cpu_ns is the process's user + system time (getrusage). The script runs
// it with GOMAXPROCS=1, one thread running Go code, like the other
// implementations' one loop.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	server := flag.String("server", "127.0.0.1", "the DNS server's address (port 53)")
	n := flag.Int("n", 10000, "names to look up")
	flag.Parse()

	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(*server, "53"))
		},
	}
	names := make([]string, *n)
	want := make([]netip.Addr, *n)
	for i := range names {
		names[i] = fmt.Sprintf("h%05d.bench.test.", i)
		want[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for _, phase := range []string{"cold", "warm"} {
		var errs atomic.Int64
		var first atomic.Value
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t0, c0 := time.Now(), cpuNow()
		for i := range names {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				addrs, err := r.LookupNetIP(ctx, "ip4", names[i])
				if err != nil || len(addrs) != 1 || addrs[0] != want[i] {
					if errs.Add(1) == 1 {
						first.Store(fmt.Sprintf("%s: %v %v", names[i], addrs, err))
					}
				}
			}(i)
		}
		wg.Wait()
		wall, cpu := time.Since(t0), cpuNow()-c0
		cancel()
		fmt.Printf("dns impl=go phase=%s lookups=%d errors=%d wall_ns=%d cpu_ns=%d\n",
			phase, *n, errs.Load(), wall.Nanoseconds(), cpu.Nanoseconds())
		if f := first.Load(); f != nil {
			fmt.Fprintf(os.Stderr, "godns: %s: first error: %s\n", phase, f)
		}
	}
}
