package demos

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ccoro/coro"
)

var stacks = []coro.StackMode{coro.StackGuarded, coro.StackShared}

func TestParseTree(t *testing.T) {
	tests := []struct {
		in   string
		want []int64
	}{
		{"7", []int64{7}},
		{"(7)", []int64{7}},
		{"  ( -1  +2\t(3) )\n", []int64{-1, 2, 3}},
		{"((1 2) (3 (4 5)))", []int64{1, 2, 3, 4, 5}},
		{"(1 (2 (3 4)) 5)", []int64{1, 2, 3, 4, 5}},
		{"((((((9))))))", []int64{9}},
		{"(1(2)3)", []int64{1, 2, 3}},
	}
	for _, tc := range tests {
		got, err := ParseTree(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseTree(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseTreeErrors(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth+1) + "1" + strings.Repeat(")", MaxDepth+1)
	tests := []struct{ in, want string }{
		{"", "empty tree"},
		{"   ", "empty tree"},
		{"()", "empty list"},
		{"(1 ()", "empty list"},
		{"(1 2", "want )"},
		{"(1 2))", "after the tree"},
		{"1 2", "after the tree"},
		{")", "want a leaf"},
		{"(x)", `leaf "x"`},
		{"(1.5)", `leaf "1.5"`},
		{"99999999999999999999", "64-bit integer"},
		{deep, "deeper than"},
	}
	for _, tc := range tests {
		_, err := ParseTree(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTree(%.20q) error = %v; want it to mention %q", tc.in, err, tc.want)
		}
	}
}

// expectFringe computes in Go what the coroutines must find.
func expectFringe(t *testing.T, a, b string) (pairs int, same bool) {
	t.Helper()
	fa, err := ParseTree(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := ParseTree(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i == len(fa) && i == len(fb) {
			return i, true
		}
		if i == len(fa) || i == len(fb) || fa[i] != fb[i] {
			return i + 1, false
		}
	}
}

func TestCompareFringes(t *testing.T) {
	wide := make([]string, 500)
	for i := range wide {
		wide[i] = fmt.Sprint(i)
	}
	deepA := strings.Repeat("(0 ", MaxDepth-1) + "(0 1)" + strings.Repeat(")", MaxDepth-1)
	deepB := strings.Repeat("0 ", MaxDepth) + "1"
	tests := []struct {
		name, a, b string
		verdict    string // the report's last line
	}{
		{"default shapes", "((1 2) (3 (4 5)))", "(1 (2 (3 4)) 5)", "same fringe"},
		{"single leaves", "4", "((4))", "same fringe"},
		{"differ in the middle", "((1 2) (3 (4 5)))", "(1 (2 (3 9)) 5)",
			"different fringe at leaf 4: 4 vs 9"},
		{"differ at first leaf", "(1 2)", "(2 1)", "different fringe at leaf 1: 1 vs 2"},
		{"a shorter", "((1 2) 3)", "(1 (2 (3 4)))", "different fringe at leaf 4: end vs 4"},
		{"b shorter", "(1 (2 (3 4)) 5)", "((1 2) (3 4))", "different fringe at leaf 5: 5 vs end"},
		{"negative leaves", "(-1 (-2))", "((-1 -2))", "same fringe"},
		{"wide vs nested", "(" + strings.Join(wide, " ") + ")",
			strings.Repeat("(", 1) + strings.Join(wide[:250], " ") + " (" +
				strings.Join(wide[250:], " ") + "))", "same fringe"},
		{"deepest allowed", deepA, "(" + deepB + ")", "same fringe"},
	}
	for _, st := range stacks {
		for _, tc := range tests {
			t.Run(st.String()+"/"+tc.name, func(t *testing.T) {
				res, err := CompareFringes(tc.a, tc.b, st)
				if err != nil {
					t.Fatal(err)
				}
				wantPairs, wantSame := expectFringe(t, tc.a, tc.b)
				if res.Same != wantSame || len(res.Pairs) != wantPairs {
					t.Errorf("same = %v with %d pairs; want %v with %d",
						res.Same, len(res.Pairs), wantSame, wantPairs)
				}
				lines := strings.Split(strings.TrimSuffix(res.Report(), "\n"), "\n")
				if got := lines[len(lines)-1]; got != tc.verdict {
					t.Errorf("verdict %q, want %q", got, tc.verdict)
				}
				if len(lines) != len(res.Pairs)+1 {
					t.Errorf("report has %d lines for %d pairs", len(lines), len(res.Pairs))
				}
			})
		}
	}
}

func TestSameFringeReport(t *testing.T) {
	report, same, err := SameFringe("((1 2) (3 (4 5)))", "(1 (2 (3 4)) 5)")
	if err != nil || !same {
		t.Fatalf("SameFringe = %v, %v", same, err)
	}
	want := "leaf 1: 1 == 1\nleaf 2: 2 == 2\nleaf 3: 3 == 3\nleaf 4: 4 == 4\nleaf 5: 5 == 5\nsame fringe\n"
	if report != want {
		t.Errorf("report:\n%s\nwant:\n%s", report, want)
	}
	report, same, err = SameFringe("(1 2 3)", "(1 (2))")
	if err != nil || same {
		t.Fatalf("SameFringe = %v, %v", same, err)
	}
	want = "leaf 1: 1 == 1\nleaf 2: 2 == 2\nleaf 3: 3 != end\ndifferent fringe at leaf 3: 3 vs end\n"
	if report != want {
		t.Errorf("report:\n%s\nwant:\n%s", report, want)
	}
	if _, _, err := SameFringe("(1", "1"); err == nil || !strings.HasPrefix(err.Error(), "samefringe: tree a: ") {
		t.Errorf("bad tree a: err = %v", err)
	}
	if _, _, err := SameFringe("1", "(1 ())"); err == nil || !strings.HasPrefix(err.Error(), "samefringe: tree b: ") {
		t.Errorf("bad tree b: err = %v", err)
	}
}

// TestPotatoHops checks with the C side's own counters that the token made
// exactly the hops asked for, and that with n*k hops every member of the
// ring held it exactly k times.
func TestPotatoHops(t *testing.T) {
	for _, sched := range []bool{false, true} {
		for _, st := range stacks {
			for _, n := range []int{2, 3, 17, 1000} {
				for _, k := range []int64{1, 3, 50} {
					mode := "transfer"
					if sched {
						mode = "sched"
					}
					name := fmt.Sprintf("%s/%s/n=%d/k=%d", mode, st, n, k)
					t.Run(name, func(t *testing.T) {
						r, err := RunPotato(PotatoConfig{N: n, Hops: int64(n) * k, Sched: sched, Stack: st})
						if err != nil {
							t.Fatal(err)
						}
						if r.Hops != int64(n)*k {
							t.Errorf("hops = %d, want %d", r.Hops, int64(n)*k)
						}
						if len(r.Received) != n {
							t.Fatalf("%d counters, want %d", len(r.Received), n)
						}
						for i, c := range r.Received {
							if c != k {
								t.Fatalf("member %d got the token %d times, want %d", i, c, k)
							}
						}
						if r.NsPerHop < 0 {
							t.Errorf("ns/hop = %v", r.NsPerHop)
						}
						if r.Switches < uint64(r.Hops) {
							t.Errorf("%d switches for %d hops", r.Switches, r.Hops)
						}
					})
				}
			}
		}
	}
}

// TestPotatoPartialLap stops the token mid-lap: the first members got it
// one more time than the rest.
func TestPotatoPartialLap(t *testing.T) {
	for _, sched := range []bool{false, true} {
		for _, st := range stacks {
			r, err := RunPotato(PotatoConfig{N: 5, Hops: 12, Sched: sched, Stack: st})
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{3, 3, 2, 2, 2}; r.Hops != 12 || !slices.Equal(r.Received, want) {
				t.Errorf("sched=%v %s: hops %d, received %v; want 12, %v", sched, st, r.Hops, r.Received, want)
			}
			if _, err := Potato(5, 1, sched, st == coro.StackShared); err != nil {
				t.Errorf("one hop: %v", err)
			}
		}
	}
}

func TestPotatoBadConfig(t *testing.T) {
	for _, cfg := range []PotatoConfig{{N: 1, Hops: 10}, {N: 0, Hops: 10}, {N: 2, Hops: 0}, {N: 2, Hops: -5}} {
		if _, err := RunPotato(cfg); err == nil {
			t.Errorf("RunPotato(%+v) succeeded", cfg)
		}
	}
}

func TestParseStack(t *testing.T) {
	for _, st := range stacks {
		got, err := ParseStack(st.String())
		if err != nil || got != st {
			t.Errorf("ParseStack(%q) = %v, %v", st.String(), got, err)
		}
	}
	if _, err := ParseStack("huge"); err == nil {
		t.Error("ParseStack(huge) succeeded")
	}
}

func BenchmarkPotato(b *testing.B) {
	for _, sched := range []bool{false, true} {
		for _, st := range stacks {
			mode := "transfer"
			if sched {
				mode = "sched"
			}
			b.Run(mode+"/"+st.String(), func(b *testing.B) {
				r, err := RunPotato(PotatoConfig{N: 100, Hops: int64(b.N) + 1, Sched: sched, Stack: st})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.NsPerHop, "ns/hop")
			})
		}
	}
}
