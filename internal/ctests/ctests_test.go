package ctests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// cflags are the Makefile's, minus -Werror: a newer compiler's new warning
// must not fail `go test` (the Makefile and CI keep -Werror).
var cflags = []string{"-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-g", "-fno-omit-frame-pointer", "-O2", "-fstack-clash-protection"}

// program is one C program of csrc/test and what it links.
type program struct {
	name string
	// sources returns the engine files (relative to csrc) it links.
	sources func(engine []string) []string
	// run is false for helpers that other programs start.
	run bool
	// ldflags are its extra link flags (the Makefile's; see
	// TestBuildMatchesMakefile).
	ldflags []string
}

// dynamic links a program with -rdynamic: it names the engine's frames
// with dladdr, which sees only the dynamic symbol table.
var dynamic = []string{"-rdynamic"}

func whole(engine []string) []string { return engine }

// programs mirrors the Makefile: switch_test and stack_test test one part
// of the engine alone; the others link all of it. A test program that is not
// listed here links the whole engine.
var programs = map[string]program{
	"overflow_test": {name: "overflow_test", sources: whole, run: false},
	"core_test":     {name: "core_test", sources: whole, run: true},
	"sync_test":     {name: "sync_test", sources: whole, run: true},
	// Backtraces, the loop dump and the watchdog's reports name frames.
	"backtrace_test": {name: "backtrace_test", sources: whole, run: true, ldflags: dynamic},
	"dump_test":      {name: "dump_test", sources: whole, run: true, ldflags: dynamic},
	"watchdog_test":  {name: "watchdog_test", sources: whole, run: true, ldflags: dynamic},
	"switch_test": {name: "switch_test", run: true, sources: func(engine []string) []string {
		var s []string
		for _, f := range engine {
			if f == "switch_ucontext.c" || strings.HasSuffix(f, ".S") {
				s = append(s, f)
			}
		}
		return s
	}},
	"stack_test": {name: "stack_test", run: true, sources: func([]string) []string {
		return []string{"stack.c", "fault.c", "crash.c", "backtrace.c"}
	}},
	// The real servers and their client libraries it needs are the
	// Makefile's (make hooks-servers runs it through scripts/with-servers.sh).
	"hooks_servers_test": {name: "hooks_servers_test", sources: whole, run: false},
	// The libc hooks (../hooks, not part of the engine) and the test's
	// blocking client; the libpq test needs the Makefile (pkg-config).
	"hooks_test": {name: "hooks_test", run: true, sources: func(engine []string) []string {
		s := append([]string{"test/hooks_client.c"}, engine...)
		m, _ := filepath.Glob(filepath.Join("..", "..", "hooks", "hook*.c"))
		for _, f := range m {
			s = append(s, filepath.Join("..", "hooks", filepath.Base(f)))
		}
		return s
	}},
}

// findCC returns the C compiler command ($CC may carry flags), or nil.
func findCC() []string {
	if cc := strings.Fields(os.Getenv("CC")); len(cc) > 0 {
		if _, err := exec.LookPath(cc[0]); err == nil {
			return cc
		}
	}
	for _, c := range []string{"cc", "gcc", "clang"} {
		if p, err := exec.LookPath(c); err == nil {
			return []string{p}
		}
	}
	return nil
}

var summary = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

func TestC(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the C tests need Linux (/proc, eventfd); GOOS is %s", runtime.GOOS)
	}
	if why := os.Getenv("CORO_SKIP_CTESTS"); why != "" {
		// Set by the Makefile, which runs the same programs itself (once
		// per variant: make check, make test): running them here again
		// would only double the time. And under qemu-user (make
		// test-arm64) the test binary cannot exec the arm64 programs it
		// would build.
		t.Skipf("CORO_SKIP_CTESTS is set (%s): the C tests run separately", why)
	}
	cc := findCC()
	if cc == nil {
		t.Skip("no C compiler found (tried $CC, cc, gcc, clang): the C tests of csrc/test were not run")
	}
	csrc, err := filepath.Abs(filepath.Join("..", "..", "csrc"))
	if err != nil {
		t.Fatal(err)
	}
	var engine []string
	for _, pat := range []string{"*.c", "*.S"} {
		m, err := filepath.Glob(filepath.Join(csrc, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			engine = append(engine, filepath.Base(f))
		}
	}
	sort.Strings(engine)
	if len(engine) == 0 {
		t.Fatalf("no engine sources in %s", csrc)
	}
	tests, err := filepath.Glob(filepath.Join(csrc, "test", "*_test.c"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	build := func(name string) (string, error) {
		p, ok := programs[name]
		if !ok {
			p = program{name: name, sources: whole, run: true}
		}
		out := filepath.Join(dir, name)
		args := append([]string{}, cc[1:]...)
		args = append(args, cflags...)
		args = append(args, "-I", csrc, filepath.Join(csrc, "test", name+".c"))
		for _, f := range p.sources(engine) {
			args = append(args, filepath.Join(csrc, f))
		}
		args = append(args, "-I", filepath.Join(csrc, "..", "hooks"), "-lpthread", "-ldl")
		args = append(args, p.ldflags...)
		args = append(args, "-o", out)
		cmd := exec.Command(cc[0], args...)
		var msg bytes.Buffer
		cmd.Stdout = &msg
		cmd.Stderr = &msg
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s %s: %v\n%s", cc[0], strings.Join(args, " "), err, msg.String())
		}
		if msg.Len() > 0 {
			t.Logf("building %s:\n%s", name, msg.String())
		}
		return out, nil
	}

	overflow, err := build("overflow_test")
	if err != nil {
		t.Fatalf("building overflow_test: %v", err)
	}
	for _, src := range tests {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		if p, ok := programs[name]; ok && !p.run {
			continue
		}
		t.Run(name, func(t *testing.T) {
			bin, err := build(name)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "CORO_OVERFLOW_TEST="+overflow)
			out, runErr := cmd.CombinedOutput()
			m := summary.FindAllSubmatch(out, -1)
			if runErr != nil || len(m) == 0 || string(m[len(m)-1][2]) != "0" {
				var fails []string
				for _, line := range strings.Split(string(out), "\n") {
					if strings.HasPrefix(line, "FAIL ") {
						fails = append(fails, line)
					}
				}
				t.Fatalf("%s: %v\n%s\nfailed:\n%s", name, runErr, out, strings.Join(fails, "\n"))
			}
			t.Logf("%s: %s", name, m[len(m)-1][0])
		})
	}
}

// TestBuildMatchesMakefile keeps cflags and programs in step with the
// Makefile, which builds the same programs for make's runs: its shared
// compile flags (CFLAGS_BASE), each -rdynamic it gives a program of
// csrc/test (as LDEXTRA or in its own rule), and the engine files of a
// program it builds from some of them must be here too. backtrace_test,
// dump_test, watchdog_test and stack_test once failed in a plain `go
// test ./...` (no frame pointers, no -rdynamic, two files missing from
// stack_test's link), unnoticed because make test runs the programs
// itself and skips this package's C runs. Needs no C compiler, so it runs
// in every go test run.
func TestBuildMatchesMakefile(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{} // programs the Makefile links with -rdynamic
	var rule string           // the program whose recipe is being read
	target := regexp.MustCompile(`^\$\(B\)/(\w+_test):(.*)$`)
	object := regexp.MustCompile(`\$\(B\)/(\w+\.c)\.o`)
	for _, line := range strings.Split(string(mk), "\n") {
		if m := target.FindStringSubmatch(line); m != nil {
			rule = m[1]
			// A program built from some of the engine's objects (not
			// libcoro.a) must link the same files here.
			if objs := object.FindAllStringSubmatch(m[2], -1); objs != nil {
				var mkSrc []string
				for _, o := range objs {
					mkSrc = append(mkSrc, o[1])
				}
				var here []string
				if p, ok := programs[rule]; ok {
					here = p.sources(nil)
				}
				slices.Sort(mkSrc)
				slices.Sort(here)
				if !slices.Equal(mkSrc, here) {
					t.Errorf("%s: the Makefile links %v, programs %v", rule, mkSrc, here)
				}
			}
			if strings.Contains(m[2], "LDEXTRA") && strings.Contains(m[2], "-rdynamic") {
				want[rule] = true
			}
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			rule = ""
			continue
		}
		if rule != "" && strings.Contains(line, "-rdynamic") {
			want[rule] = true
		}
	}
	// The compile flags every variant shares (CFLAGS_BASE), but -Werror
	// (left out, see cflags) and the include path (given per build).
	base := regexp.MustCompile(`(?m)^CFLAGS_BASE\s*:?=\s*(.*)$`).FindSubmatch(mk)
	if base == nil {
		t.Fatal("no CFLAGS_BASE in the Makefile")
	}
	for _, f := range strings.Fields(string(base[1])) {
		if f != "-Werror" && !strings.HasPrefix(f, "-I") && !slices.Contains(cflags, f) {
			t.Errorf("CFLAGS_BASE has %s, cflags here do not", f)
		}
	}
	tests, err := filepath.Glob(filepath.Join("..", "..", "csrc", "test", "*_test.c"))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("found no -rdynamic program in the Makefile: has its layout changed?")
	}
	for _, src := range tests {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		if has := slices.Contains(programs[name].ldflags, "-rdynamic"); has != want[name] {
			t.Errorf("%s: -rdynamic in the Makefile %v, in programs %v", name, want[name], has)
		}
	}
}
