package dnstest

import (
	"fmt"
	"strings"
)

// The test zones. Every name the tests ask for is one of these constants,
// so a test and the zone cannot drift apart. The addresses are from the
// documentation ranges (RFC 5737, RFC 3849): nothing is ever sent to them.
const (
	Zone     = "coro.test"            // the main zone
	TopZone  = "sub"                  // a top-level zone, for the ndots cases
	RevZone  = "2.0.192.in-addr.arpa" // PTR records of 192.0.2.0/24
	V4       = "v4.coro.test"         // A 192.0.2.1 only (AAAA: NODATA)
	V6       = "v6.coro.test"         // AAAA 2001:db8::1 only (A: NODATA)
	Both     = "both.coro.test"       // A 192.0.2.2, .3; AAAA 2001:db8::2, ::3
	Alias    = "alias.coro.test"      // CNAME chain1 -> CNAME chain2 -> CNAME both
	Chain2   = "chain2.coro.test"     // the last link of Alias's chain
	Dangling = "dangling.coro.test"   // CNAME to a name that does not exist
	Many     = "many.coro.test"       // 100 A records (198.51.100.1-100): over 1232 bytes
	Missing  = "nope.coro.test"       // NXDOMAIN
	Outside  = "example.org"          // no zone of the server: REFUSED
	TXT      = "txt.coro.test"        // TXT "hello" "world"
	SRV      = "_http._tcp.coro.test" // SRV 10 5 80 v4.coro.test
	Wild     = "wild.coro.test"       // *.wild.coro.test: A 192.0.2.99 for any name below
	Loopback = "loopback.coro.test"   // A 127.0.0.1: a name of this machine's, for clients
	// The names of the search-list cases: SubHost is in Zone (search
	// domain SubDomain makes "host" reach it); ShortHost ("host.sub") is
	// both a name in TopZone (asked as it is) and, under search domain
	// Zone, SubHost: ndots decides which one answers.
	SubDomain = "sub.coro.test"
	SubHost   = "host.sub.coro.test" // A 192.0.2.10
	ShortHost = "host.sub"           // A 192.0.2.20
)

// Addresses of the names above, in the zone's order.
var (
	V4Addrs       = []string{"192.0.2.1"}
	V6Addrs       = []string{"2001:db8::1"}
	BothAddrs     = []string{"192.0.2.2", "192.0.2.3", "2001:db8::2", "2001:db8::3"}
	SubHostAddrs  = []string{"192.0.2.10"}
	ShortHostAddr = []string{"192.0.2.20"}
	WildAddrs     = []string{"192.0.2.99"}
	MXHosts       = []string{"mail.coro.test", "mail2.coro.test"} // prefs 10, 20
	TXTStrings    = []string{"hello", "world"}
)

// ManyCount is the number of A records of Many.
const ManyCount = 100

// ManyAddrs returns Many's addresses.
func ManyAddrs() []string {
	out := make([]string, ManyCount)
	for i := range out {
		out[i] = fmt.Sprintf("198.51.100.%d", i+1)
	}
	return out
}

// zones returns the zone files (name -> contents) for a server at addr.
// The negative TTL (the SOA minimum) is 60 s.
func zones(addr string) map[string]string {
	var b strings.Builder
	fmt.Fprintf(&b, `$ORIGIN %s.
$TTL 300
@        SOA   ns1 hostmaster 2026120201 3600 900 604800 60
@        NS    ns1
@        MX    10 mail
@        MX    20 mail2
@        TXT   "zone apex"
ns1      A     %s
mail     A     192.0.2.25
mail2    A     192.0.2.26
v4       A     192.0.2.1
v6       AAAA  2001:db8::1
both     A     192.0.2.2
both     A     192.0.2.3
both     AAAA  2001:db8::2
both     AAAA  2001:db8::3
alias    CNAME chain1
chain1   CNAME chain2
chain2   CNAME both
dangling CNAME nothing-here
txt      TXT   "hello" "world"
_http._tcp SRV 10 5 80 v4
*.wild   A     192.0.2.99
host.sub A     192.0.2.10
loopback A     127.0.0.1
`, Zone, addr)
	for _, a := range ManyAddrs() {
		fmt.Fprintf(&b, "many     A     %s\n", a)
	}
	top := fmt.Sprintf(`$ORIGIN %s.
$TTL 300
@        SOA   ns1.%s. hostmaster.%s. 1 3600 900 604800 60
@        NS    ns1.%s.
host     A     192.0.2.20
`, TopZone, Zone, Zone, Zone)
	rev := fmt.Sprintf(`$ORIGIN %s.
$TTL 300
@        SOA   ns1.%s. hostmaster.%s. 1 3600 900 604800 60
@        NS    ns1.%s.
1        PTR   %s.
`, RevZone, Zone, Zone, Zone, V4)
	return map[string]string{Zone: b.String(), TopZone: top, RevZone: rev}
}
