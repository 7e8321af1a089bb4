package console

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Command
		err  error
	}{
		{"ps", Command{Name: "ps"}, nil},
		{"  PS  1\tfd \r", Command{Name: "ps", Args: []string{"1", "fd"}}, nil},
		{"json bt all", Command{Name: "bt", Args: []string{"all"}, JSON: true}, nil},
		{"JSON loops", Command{Name: "loops", JSON: true}, nil},
		{"json", Command{}, ErrJSONOnly},
		{"", Command{}, ErrEmpty},
		{" \t \r", Command{}, ErrEmpty},
		{"ps \x00", Command{}, ErrBadByte},
		{"ps \x1b[A", Command{}, ErrBadByte},
		{"ps caf\xc3\xa9", Command{}, ErrBadByte},
		{"ps\n", Command{}, ErrBadByte},
		{"a 1 2 3 4 5 6 7 8", Command{Name: "a", Args: strings.Fields("1 2 3 4 5 6 7 8")}, nil},
		{"a 1 2 3 4 5 6 7 8 9", Command{}, ErrTooMany},
		{strings.Repeat("x", MaxLine), Command{Name: strings.Repeat("x", MaxLine)}, nil},
		{strings.Repeat("x", MaxLine+1), Command{}, ErrTooLong},
	} {
		got, err := Parse(tc.line)
		if !errors.Is(err, tc.err) || (err == nil && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.line, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParse checks Parse's promises on any input: no panic; a command has
// a lower-case name of printable ASCII without spaces, at most maxArgs
// arguments, each printable ASCII without spaces; the input was at most
// MaxLine bytes.
//
// The parser is Go, so Go's native fuzzing is its fuzzer (libFuzzer is
// for the C parsers, with corpora under fuzz/corpus). Its corpus is
// testdata/fuzz/FuzzParse, which every go test run replays (and so make
// test, in milliseconds): the hand-written seedN inputs, and the inputs
// the fuzzer found interesting (new coverage) in its runs, copied from
// Go's cache, where go test -fuzz keeps them. To extend it:
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s ./console
//	cp "$(go env GOCACHE)/fuzz/github.com/ccoro/coro/console/FuzzParse/"* console/testdata/fuzz/FuzzParse/
//
// (A failing input is written to testdata/fuzz/FuzzParse by go test
// itself: commit it with the fix.)
func FuzzParse(f *testing.F) {
	for _, s := range []string{"ps", "json ps 1 fd", "bt all", "\r", "json", "ps \x00", "slow 200",
		strings.Repeat("a ", 10), strings.Repeat("z", MaxLine+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := Parse(line)
		if err != nil {
			if c.Name != "" || c.Args != nil {
				t.Fatalf("error %v with a command %+v", err, c)
			}
			return
		}
		if len(line) > MaxLine {
			t.Fatalf("accepted a line of %d bytes", len(line))
		}
		if len(c.Args) > maxArgs {
			t.Fatalf("%d arguments", len(c.Args))
		}
		for _, w := range append([]string{c.Name}, c.Args...) {
			if w == "" {
				t.Fatalf("empty word in %+v", c)
			}
			for i := 0; i < len(w); i++ {
				if w[i] <= ' ' || w[i] > '~' {
					t.Fatalf("byte %#x in word %q", w[i], w)
				}
			}
		}
		if c.Name != strings.ToLower(c.Name) {
			t.Fatalf("name %q not lower case", c.Name)
		}
	})
}
