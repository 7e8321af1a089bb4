package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corolib "github.com/ccoro/coro" // main_test.go has a helper named coro
)

// resolveCommand is "coro resolve": the engine's resolver from the
// command line.
var resolveCommand = &command{
	name:      "resolve",
	summary:   "look names up with the engine's resolver (dig +short style)",
	args:      "[-type A|AAAA|SOA|MX|TXT|NS|CNAME|PTR|SRV|TYPEn] [-server ADDR] [-short] [-timeout D] NAME...",
	takesArgs: true,
	help: `Look each NAME up with the engine's resolver, on a loop of this process,
and print what was found, one record a line as dig +short prints them,
then (without -short) a line with the name, the time taken and where the
answer came from.

Without -type, NAME is resolved to addresses as a program would: a
numeric address as it is, localhost names, then the hosts file
($CORO_HOSTS or /etc/hosts), then DNS (A and AAAA), IPv6 first when the
machine has a route to IPv6, else IPv4 first. The source is "hosts"
(hosts file, localhost or numeric), "cache" or "dns". With -type, DNS is
asked for records of that type (the hosts file is not read) and the
source is the server that answered ("127.0.0.1:53") or "cache".

The configuration is the system's: $CORO_RESOLV_CONF or /etc/resolv.conf
(nameservers, search list, ndots, timeout, attempts); -server replaces its
nameservers ("127.0.0.1", "[::1]:5353", "127.0.0.2,127.0.0.3").

Exit status: 0 every NAME resolved, 1 some did not (stderr says why:
no such host, no record of the type, server failure, refused, timeout),
2 usage error.`,
	flags: resolveFlags,
}

func resolveFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	typ := fs.String("type", "", "ask DNS for records of `TYPE` (A, AAAA, SOA, MX, TXT, NS, CNAME, PTR,\nSRV, TYPEn); default: the addresses, hosts file first")
	server := fs.String("server", "", "ask `ADDR[,ADDR...]` instead of resolv.conf's nameservers")
	short := fs.Bool("short", false, "print the records only")
	timeout := fs.Duration("timeout", 15*time.Second, "give up on a NAME after `D`")
	return func(stdout, stderr io.Writer) int {
		names := fs.Args()
		if len(names) == 0 {
			return usageError(stderr, "resolve", "no NAME to look up")
		}
		var rtype corolib.RRType
		if *typ != "" {
			t, err := corolib.ParseRRType(*typ)
			if err != nil {
				return usageError(stderr, "resolve", "-type %q: not a record type", *typ)
			}
			rtype = t
		}
		if *timeout <= 0 {
			return usageError(stderr, "resolve", "-timeout %v: must be positive", *timeout)
		}
		l, err := corolib.NewLoop(corolib.WithName("resolve"), corolib.WithResolver(corolib.ResolverConfig{Servers: *server}))
		if err != nil {
			fmt.Fprintf(stderr, "coro resolve: %v\n", err)
			return exitFailed
		}
		defer l.Close(context.Background())
		code := exitOK
		for _, name := range names {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			lines, source, took, err := resolveOne(ctx, l, name, rtype)
			cancel()
			if err != nil {
				fmt.Fprintf(stderr, "coro resolve: %v\n", err)
				code = exitFailed
				continue
			}
			for _, s := range lines {
				fmt.Fprintln(stdout, s)
			}
			if !*short {
				what := "addresses"
				if rtype != 0 {
					what = rtype.String()
				}
				fmt.Fprintf(stdout, ";; %s %s: %d in %v from %s\n", name, what, len(lines), took.Round(time.Microsecond), source)
			}
		}
		return code
	}
}

// resolveOne looks name up on l and returns the records as text lines
// and where they came from.
func resolveOne(ctx context.Context, l *corolib.Loop, name string, typ corolib.RRType) (lines []string, source string, took time.Duration, err error) {
	if typ != 0 {
		start := time.Now()
		a, err := l.LookupRecords(ctx, name, typ)
		took = time.Since(start)
		if err != nil {
			return nil, "", took, err
		}
		for _, r := range a.Records {
			lines = append(lines, recordText(r))
		}
		source = a.Server
		if a.FromCache {
			source = "cache"
		}
		return lines, source, took, nil
	}
	// The address lookup does not say where its answer came from; the
	// resolver's counters do, since this loop runs one lookup at a time.
	before, err := l.ResolverStats(ctx)
	if err != nil {
		return nil, "", 0, err
	}
	start := time.Now()
	addrs, err := l.LookupNetIP(ctx, "ip", name)
	took = time.Since(start)
	if err != nil {
		return nil, "", took, err
	}
	after, err := l.ResolverStats(ctx)
	if err != nil {
		return nil, "", took, err
	}
	switch {
	case after.QueriesUDP+after.QueriesTCP > before.QueriesUDP+before.QueriesTCP:
		source = "dns"
	case after.CacheHits > before.CacheHits:
		source = "cache"
	default:
		source = "hosts"
	}
	for _, a := range addrs {
		lines = append(lines, a.String())
	}
	return lines, source, took, nil
}

// recordText formats a record's data as dig +short does.
func recordText(r corolib.Record) string {
	switch r.Type {
	case corolib.TypeA, corolib.TypeAAAA:
		return r.IP.String()
	case corolib.TypeCNAME, corolib.TypeNS, corolib.TypePTR:
		return r.Target + "."
	case corolib.TypeMX:
		return fmt.Sprintf("%d %s.", r.Pref, r.Target)
	case corolib.TypeSRV:
		return fmt.Sprintf("%d %d %d %s.", r.Priority, r.Weight, r.Port, r.Target)
	case corolib.TypeSOA:
		s := r.SOA
		return fmt.Sprintf("%s. %s. %d %d %d %d %d", s.MName, s.RName, s.Serial, s.Refresh, s.Retry, s.Expire, s.Minimum)
	case corolib.TypeTXT:
		q := make([]string, len(r.TXT))
		for i, s := range r.TXT {
			q[i] = strconv.Quote(s)
		}
		return strings.Join(q, " ")
	}
	// RFC 3597's generic form.
	return fmt.Sprintf(`\# %d %s`, len(r.Data), hex.EncodeToString(r.Data))
}

// numericAddr turns the HOST:PORT of a -addr flag into a numeric address
// (the C servers and the load generator parse only those): a host name is
// looked up once, with the engine's resolver, and its first address in
// the resolver's order is taken. A numeric or empty host is left as it is.
func numericAddr(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if host == "" {
		return hostport, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return hostport, nil
	}
	if last := host[strings.LastIndexByte(host, '.')+1:]; strings.Trim(last, "0123456789") == "" {
		// "300.1.1.1": a bad address, not a host name (no top-level
		// domain is all digits), so nothing is looked up.
		return "", fmt.Errorf("bad address %q", hostport)
	}
	l, err := corolib.NewLoop(corolib.WithName("resolve"))
	if err != nil {
		return "", err
	}
	defer l.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	addrs, err := l.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 { // never: a lookup that finds nothing fails
		return "", errors.New("lookup " + host + ": no address")
	}
	return net.JoinHostPort(addrs[0].String(), port), nil
}
