package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ccoro/coro/internal/dnstest"
)

// binary is the coro command built once for all tests by TestMain, or ""
// when it cannot be run here (a cross-built test run under an emulator such
// as qemu-aarch64, which cannot exec a second foreign binary): then the
// tests call run in-process, which is what main does apart from os.Exit.
var binary string

// buildFlags are the go build flags that give the binary the same build
// tags as this test (see tags_ucontext_test.go).
var buildFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coro-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "coro")
	args := append(append([]string{"build"}, buildFlags...), "-o", binary, ".")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if err := exec.Command(binary, "help").Run(); errors.Is(err, syscall.ENOEXEC) {
		fmt.Fprintf(os.Stderr, "note: cannot exec the built binary (%v): testing run in-process\n", err)
		binary = ""
	}
	code := dnstest.Run(m) // a DNS server for resolve_test.go
	os.RemoveAll(dir)
	os.Exit(code)
}

// coro runs the command with args and returns its stdout, stderr and exit
// status.
func coro(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	if binary == "" {
		code = run(args, &o, &e)
		return o.String(), e.String(), code
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("coro %q: %v", args, err)
	}
	return o.String(), e.String(), code
}

func TestSameFringe(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		code  int
		lines []string // all of stdout, one entry a line
	}{
		{"defaults", nil, 0, []string{
			"a: ((1 2) (3 (4 5)))",
			"b: (1 (2 (3 4)) 5)",
			"leaf 1: 1 == 1",
			"leaf 2: 2 == 2",
			"leaf 3: 3 == 3",
			"leaf 4: 4 == 4",
			"leaf 5: 5 == 5",
			"same fringe",
		}},
		{"different value", []string{"-b", "(1 (2 (3 9)) 5)"}, 1, []string{
			"a: ((1 2) (3 (4 5)))",
			"b: (1 (2 (3 9)) 5)",
			"leaf 1: 1 == 1",
			"leaf 2: 2 == 2",
			"leaf 3: 3 == 3",
			"leaf 4: 4 != 9",
			"different fringe at leaf 4: 4 vs 9",
		}},
		{"a longer", []string{"-a", "(1 (2 3))", "-b", "((1) 2)"}, 1, []string{
			"a: (1 (2 3))",
			"b: ((1) 2)",
			"leaf 1: 1 == 1",
			"leaf 2: 2 == 2",
			"leaf 3: 3 != end",
			"different fringe at leaf 3: 3 vs end",
		}},
		{"b longer, shared stacks", []string{"-stack", "shared", "-a", "7", "-b", "(7 8)"}, 1, []string{
			"a: 7",
			"b: (7 8)",
			"leaf 1: 7 == 7",
			"leaf 2: end != 8",
			"different fringe at leaf 2: end vs 8",
		}},
		{"same, shared stacks", []string{"-stack", "shared", "-a", "(((1 2 3)))", "-b", "(1 (2) ((3)))"}, 0, []string{
			"a: (((1 2 3)))",
			"b: (1 (2) ((3)))",
			"leaf 1: 1 == 1",
			"leaf 2: 2 == 2",
			"leaf 3: 3 == 3",
			"same fringe",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := coro(t, append([]string{"samefringe"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if want := strings.Join(tc.lines, "\n") + "\n"; stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
			}
			if stderr != "" {
				t.Errorf("stderr: %s", stderr)
			}
		})
	}
}

func TestPotato(t *testing.T) {
	line := regexp.MustCompile(`^(\d+) coroutines, (\d+) hops, (\d+\.\d) ns/hop\n$`)
	for _, mode := range []string{"transfer", "sched"} {
		for _, stack := range []string{"guarded", "shared"} {
			t.Run(mode+"/"+stack, func(t *testing.T) {
				stdout, stderr, code := coro(t, "potato", "-n", "50", "-hops", "5000", "-mode", mode, "-stack", stack)
				if code != 0 {
					t.Fatalf("exit %d; stderr:\n%s", code, stderr)
				}
				m := line.FindStringSubmatch(stdout)
				if m == nil || m[1] != "50" || m[2] != "5000" {
					t.Fatalf("stdout %q, want \"50 coroutines, 5000 hops, X ns/hop\"", stdout)
				}
				if ns, err := strconv.ParseFloat(m[3], 64); err != nil || ns <= 0 {
					t.Errorf("ns/hop %q", m[3])
				}
			})
		}
	}
}

// TestPotatoTooManyStacks asks for more guarded stacks than the kernel's
// mapping limit allows: the run fails cleanly with exit 1 and a hint.
func TestPotatoTooManyStacks(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		t.Skip(err)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || limit > 1<<20 {
		t.Skipf("max_map_count %q", b)
	}
	// Each guarded stack costs two mappings, so limit stacks cannot fit.
	_, stderr, code := coro(t, "potato", "-n", strconv.Itoa(limit), "-hops", "1")
	if code != 1 || !strings.Contains(stderr, "cannot allocate memory") ||
		!strings.Contains(stderr, "-stack shared") {
		t.Errorf("exit %d, stderr %q; want 1 and an ENOMEM message with a hint", code, stderr)
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string // substrings of stdout
	}{
		{[]string{"help"}, []string{"coro <subcommand> [flags]", "samefringe", "potato", "help"}},
		{[]string{"-h"}, []string{"samefringe", "potato"}},
		{[]string{"help", "potato"}, []string{"usage: coro potato", "-n N", "-hops H", "-mode MODE", "-stack STACK"}},
		{[]string{"potato", "-h"}, []string{"usage: coro potato", "-n N", "-hops H", "-mode MODE", "-stack STACK",
			"default 1000", "default 10000000", `default "transfer"`, `default "guarded"`, "Exit status"}},
		{[]string{"samefringe", "-h"}, []string{"usage: coro samefringe", "-a TREE", "-b TREE", "-stack STACK",
			"same fringe", "different fringe at leaf N", "Exit status"}},
		{[]string{"samefringe", "--help"}, []string{"usage: coro samefringe"}},
	}
	for _, tc := range tests {
		stdout, stderr, code := coro(t, tc.args...)
		if code != 0 {
			t.Errorf("coro %q: exit %d, want 0; stderr:\n%s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("coro %q: stdout does not mention %q:\n%s", tc.args, w, stdout)
			}
		}
	}
}

// TestUsageErrors: every bad command line exits 2 with a message on stderr
// and nothing on stdout.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // a substring of stderr
	}{
		{nil, "coro <subcommand> [flags]"},
		{[]string{"bogus"}, `unknown subcommand "bogus"`},
		{[]string{"help", "bogus"}, `unknown subcommand "bogus"`},
		{[]string{"help", "potato", "samefringe"}, "usage: coro help"},
		{[]string{"potato", "-x"}, "flag provided but not defined: -x"},
		{[]string{"potato", "-n", "abc"}, `invalid value "abc" for flag -n`},
		{[]string{"potato", "-n", "1"}, "at least 2 coroutines"},
		{[]string{"potato", "-hops", "0"}, "at least 1 hop"},
		{[]string{"potato", "-mode", "fast"}, `-mode "fast"`},
		{[]string{"potato", "-stack", "huge"}, `unknown stack kind "huge"`},
		{[]string{"potato", "extra"}, `unexpected argument "extra"`},
		{[]string{"samefringe", "-y"}, "flag provided but not defined: -y"},
		{[]string{"samefringe", "-a", "(1 2"}, "tree a: at offset 4"},
		{[]string{"samefringe", "-b", "()"}, "tree b: at offset 1: empty list"},
		{[]string{"samefringe", "-a", "(1 x)"}, `leaf "x"`},
		{[]string{"samefringe", "-stack", "huge"}, `unknown stack kind "huge"`},
	}
	for _, tc := range tests {
		stdout, stderr, code := coro(t, tc.args...)
		if code != 2 {
			t.Errorf("coro %q: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("coro %q: stderr %q does not mention %q", tc.args, stderr, tc.want)
		}
		if stdout != "" {
			t.Errorf("coro %q: stdout %q, want nothing", tc.args, stdout)
		}
	}
}
