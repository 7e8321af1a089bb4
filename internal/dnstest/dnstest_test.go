package dnstest

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// TestZone checks the server and the zone with Go's resolver: the
// resolver tests rely on each of these answers.
func TestZone(t *testing.T) {
	srv := Get(t)
	r := srv.GoResolver()
	ctx := context.Background()
	host := func(name string, want []string) {
		t.Helper()
		got, err := r.LookupHost(ctx, name+".")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
	}
	host(V4, V4Addrs)
	host(V6, V6Addrs)
	host(Both, BothAddrs)
	host(Alias, BothAddrs)
	host(SubHost, SubHostAddrs)
	host(ShortHost, ShortHostAddr)
	host("x.y."+Wild, WildAddrs)
	host(Many, ManyAddrs()) // over UDP's 1232 bytes: Go retries over TCP

	var dnsErr *net.DNSError
	if _, err := r.LookupHost(ctx, Missing+"."); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("%s: %v, want not found", Missing, err)
	}
	if _, err := r.LookupHost(ctx, Outside+"."); !errors.As(err, &dnsErr) || dnsErr.IsNotFound || dnsErr.Err != "server misbehaving" {
		t.Errorf("%s: %v, want refused (server misbehaving)", Outside, err)
	}
	mx, err := r.LookupMX(ctx, Zone+".")
	if err != nil || len(mx) != 2 || mx[0].Host != MXHosts[0]+"." || mx[0].Pref != 10 {
		t.Errorf("MX %s: %v %v", Zone, mx, err)
	}
	txt, err := r.LookupTXT(ctx, TXT+".")
	if err != nil || len(txt) != 1 || txt[0] != "helloworld" {
		t.Errorf("TXT %s: %q %v", TXT, txt, err)
	}
	names, err := r.LookupAddr(ctx, V4Addrs[0])
	if err != nil || len(names) != 1 || names[0] != V4+"." {
		t.Errorf("PTR %s: %v %v", V4Addrs[0], names, err)
	}
	_, srvs, err := r.LookupSRV(ctx, "http", "tcp", Zone+".")
	if err != nil || len(srvs) != 1 || srvs[0].Port != 80 || srvs[0].Target != V4+"." {
		t.Errorf("SRV: %v %v", srvs, err)
	}
}
