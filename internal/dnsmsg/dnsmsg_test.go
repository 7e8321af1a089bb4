package dnsmsg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// seeds returns the message inputs of the C fuzz corpus (fuzz/corpus/dns_msg:
// a mode byte, then the input; modes 0 and 1 are the message decoder).
func seeds(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("..", "..", "fuzz", "corpus", "dns_msg", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[0]%4 < 2 {
			out = append(out, b[1:])
		}
	}
	return out
}

func TestEncodeDecode(t *testing.T) {
	q, err := EncodeQuery(0x1234, "www.Example.com.", 28, true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(q)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != 0x1234 || m.QName != "www.Example.com" || m.QType != 28 || !m.HasOPT || len(m.Records) != 1 {
		t.Fatalf("decoded query: %+v", m)
	}
	for _, bad := range []struct {
		name string
		want syscall.Errno
	}{{"a..b", syscall.EINVAL}, {"b\u00fccher.de", syscall.EINVAL}, {strings.Repeat("a", 64), syscall.ENAMETOOLONG}} {
		if _, err := EncodeQuery(1, bad.name, 1, false); !errors.Is(err, bad.want) {
			t.Errorf("EncodeQuery(%q) = %v, want %v", bad.name, err, bad.want)
		}
	}
	if _, err := Decode([]byte{1, 2, 3}); !errors.Is(err, syscall.EBADMSG) {
		t.Errorf("Decode(3 bytes) = %v, want EBADMSG", err)
	}
	if n := len(seeds(t)); n < 10 {
		t.Fatalf("only %d message seeds in fuzz/corpus/dns_msg", n)
	}
}

// FuzzDecode checks the decoder's contract from Go: a malformed message is
// EBADMSG (or EMSGSIZE), never a crash; a decoded question name that the
// encoder accepts comes back from a query unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, syscall.EBADMSG) && !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("Decode: unexpected error %v", err)
			}
			return
		}
		for _, r := range m.Records {
			if r.Name == "" {
				t.Fatalf("record with an empty owner: %+v", r)
			}
			if (r.Type == 1 && !r.Addr.Is4()) || (r.Type == 28 && !r.Addr.Is6()) {
				t.Fatalf("address record without its address: %+v", r)
			}
		}
		if m.QName == "" {
			return
		}
		q, err := EncodeQuery(m.ID, m.QName, m.QType, false)
		if err != nil {
			return // a name we would not send
		}
		m2, err := Decode(q)
		if err != nil || !NameEqual(m2.QName, m.QName) || m2.QType != m.QType {
			t.Fatalf("round trip of %q: %v %+v", m.QName, err, m2)
		}
	})
}
