package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// build builds this command into dir (with -race if the test has it, and
// tags) and returns the binary's path.
func build(t *testing.T, dir, name, tags string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// An engine C frame that cgosymbolizer named in Go's traceback (function,
// then file:line): "on_fault\n\t/.../csrc/stack.c:728 pc=0x518d95".
var symbolizedEngineFrame = regexp.MustCompile(`\n\t\S*/csrc/\w+\.c:\d+ pc=0x`)

// TestCrashReportNamed: in a program built by go build (not stripped,
// unlike go test's binaries), the engine's crash report names the C frame
// where the coroutine died, for each fatal signal, on a loop Go made and on
// one a C thread made, with and without cgosymbolizer imported; the process
// still dies Go's way (a Go-made loop: exit status 2 after Go's traceback,
// whose C frames cgosymbolizer names when imported) or of the signal (a C
// thread's loop).
func TestCrashReportNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds this command twice")
	}
	if os.Getenv("CORO_TEST_EXEC") != "" {
		t.Skip("an emulated run: the go command would build for the host")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
	dir := t.TempDir()
	for _, variant := range []struct{ name, tags string }{{"plain", ""}, {"cgosymbolizer", "crashsym"}} {
		bin := build(t, dir, variant.name, variant.tags)
		for _, kind := range []string{"go", "c"} {
			for _, sig := range []string{"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"} {
				t.Run(variant.name+"/"+kind+"-"+sig, func(t *testing.T) {
					t.Parallel()
					msg, st := runChild(t, bin, kind, sig)
					checkReport(t, msg, kind, sig)
					if kind == "go" {
						if !st.Exited() || st.ExitStatus() != 2 {
							t.Fatalf("status %v, want exit status 2 (Go's crash path):\n%s", st, msg)
						}
						if got, want := symbolizedEngineFrame.MatchString(msg), variant.tags != ""; got != want {
							t.Errorf("Go's traceback names engine C frames: %v, want %v:\n%s", got, want, msg)
						}
					} else if !st.Signaled() || st.Signal().String() != signalName(sig) {
						t.Fatalf("status %v, want death by %s:\n%s", st, sig, msg)
					}
				})
			}
		}
	}
}

// runChild runs the child, which must die, and returns its stderr.
func runChild(t *testing.T, bin, kind, sig string) (string, syscall.WaitStatus) {
	t.Helper()
	cmd := exec.Command(bin, kind, sig)
	cmd.Env = append(os.Environ(), "GOTRACEBACK=single")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v (want it to die)\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stderr.String(), ee.Sys().(syscall.WaitStatus)
}

// checkReport checks the engine's report: signal, coroutine and loop, and
// the frame where the coroutine died named from the executable's symbol
// table, except where it dies inside libc: abort(), and arm64's
// raise(SIGFPE).
func checkReport(t *testing.T, msg, kind, sig string) {
	t.Helper()
	head := fmt.Sprintf("coro: fatal signal %s", sig)
	i := strings.Index(msg, head)
	co := fmt.Sprintf(`"%s-crasher" (loop "%s-loop"):`+"\n#0 0x", kind, kind)
	if i < 0 || !strings.Contains(msg[i:], co) {
		t.Fatalf("no report for %s:\n%s", sig, msg)
	}
	report := msg[i:]
	if sig == "SIGABRT" || (sig == "SIGFPE" && runtime.GOARCH != "amd64") {
		return
	}
	if !crashFrame.MatchString(report) {
		t.Errorf("report does not name ctest_crash_here as frame #0:\n%s", report)
	}
}

// The frame where the fixture dies, named from the executable's .symtab.
// (The walk may end there: the fixture is built without frame pointers.)
var crashFrame = regexp.MustCompile(`\n#0 0x[0-9a-f]+ ctest_crash_here\+0x[0-9a-f]+\n`)

func signalName(sig string) string {
	return map[string]string{
		"SIGSEGV": syscall.SIGSEGV.String(), "SIGBUS": syscall.SIGBUS.String(),
		"SIGILL": syscall.SIGILL.String(), "SIGFPE": syscall.SIGFPE.String(),
		"SIGABRT": syscall.SIGABRT.String(),
	}[sig]
}
