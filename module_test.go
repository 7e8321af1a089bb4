package coro

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// These tests build programs the way a user of the module does: a module of
// its own, outside this one, with its own C coroutines, whose headers come
// from cmd/coroheaders. Each variant is built once.
//
// The user's modules live in a folder named after this checkout and reused
// from run to run (emptied first), not in a new temporary folder: the go
// command keys cached cgo objects by their package's folder, and the
// vendored copy of the engine would otherwise be compiled again at every
// run (some 40 s on a loaded 2-CPU machine).

// extModule is a user's module: pure Go in main.go (so that a build
// without cgo gets as far as importing coro), the C code in count.go.
var extModule = map[string]string{
	// The directive is split so that go generate in this module skips it.
	"main.go": `// Command ext is a user's program with C coroutines of its own.
package main

//go:` + `generate go tool coroheaders

import (
	"context"
	"fmt"
	"os"

	"github.com/ccoro/coro"
)

func main() {
	l, err := coro.NewLoop(coro.WithName("ext"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer l.Close(context.Background())
	co, err := l.Spawn(countEntry(), 100)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sum, err := co.Wait(context.Background())
	fmt.Println(sum, err)
}
`,
	"count.go": `package main

/*
#include "coro.h"
#include "coro_go.h"

static void *count(void *arg) {
  long n = (long)arg, sum = 0;
  for (long i = 1; i <= n; i++) {
    sum += i;
    coro_yield();
  }
  return (void *)sum;
}
CORO_GO_ENTRY(count)

// Go's default CGO_CFLAGS are -O2 -g; headers found without any flag keep them.
#ifndef __OPTIMIZE__
#error "the package's C code is built unoptimised"
#endif
*/
import "C"

import "github.com/ccoro/coro"

func countEntry() coro.Entry { return coro.Entry(C.count_entry()) }
`,
}

const extWant = "5050 <nil>"

// goCmd runs the go command in dir with the test's environment, minus
// settings that would bend the build (GOFLAGS, a workspace), plus env.
func goCmd(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=1",
		// Network only to the module proxy: the checksums come from go.sum.
		"GONOSUMDB=*")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGo(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := goCmd(t, dir, env, args...)
	if err != nil {
		t.Fatalf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return out
}

// writeExt writes the user's module into dir; extra lines end its go.mod.
func writeExt(t *testing.T, dir string, gomodExtra string) {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/ext\n\ngo 1.26.0\n\ntool github.com/ccoro/coro/cmd/coroheaders\n" +
			strings.ReplaceAll(gomodExtra, "ROOT", root),
	}
	for name, src := range extModule {
		files[name] = src
	}
	// go.sum: this module's dependencies, so no checksum database is asked.
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	files["go.sum"] = string(sum)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkHeaders checks that go generate wrote this module's headers into dir.
func checkHeaders(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"coro.h", "coro_go.h"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// The examples hold the same generated copies (checked by
		// cmd/coroheaders' tests).
		want, err := os.ReadFile(filepath.Join("examples", "pipeline", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from examples/pipeline/%s", dir, name, name)
		}
	}
}

// buildRun builds the module in dir and runs it.
func buildRun(t *testing.T, dir string, buildArgs ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "ext.bin")
	mustGo(t, dir, nil, append(append([]string{"build", "-o", bin}, buildArgs...), ".")...)
	out, err := emulated(bin).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != extWant {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	return bin
}

func skipModuleTests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds modules")
	}
	if os.Getenv("CORO_TEST_EXEC") != "" {
		t.Skip("cross-built run: the host run builds the modules")
	}
	if os.Getenv("CORO_SKIP_MODULE_TESTS") != "" {
		// make test's coro_ucontext run: the modules are built without
		// the tag, exactly as in the -race run before it.
		t.Skip("CORO_SKIP_MODULE_TESTS: " + os.Getenv("CORO_SKIP_MODULE_TESTS"))
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
}

// moduleDir returns an empty folder for the test's modules: the same one at
// every run from this checkout, locked against another test process.
func moduleDir(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(os.TempDir(), fmt.Sprintf("coro-moduletest-%x", sha256.Sum256([]byte(root)))[:len("coro-moduletest-")+12])
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(base, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // releases the lock
	dir := filepath.Join(base, t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A user's module with a replace directive: go generate copies the headers
// from the replacement (the module cache would serve a released version
// the same way), and the program builds and runs with no flags. Then the
// same module built without cgo, with a stale header, statically, and
// vendored.
func TestExternalModule(t *testing.T) {
	skipModuleTests(t)
	dir := filepath.Join(moduleDir(t), "ext")
	writeExt(t, dir, "\nrequire github.com/ccoro/coro v0.0.0-00010101000000-000000000000\n\nreplace github.com/ccoro/coro => ROOT\n")
	mustGo(t, dir, []string{"GOFLAGS=-mod=mod"}, "mod", "tidy")
	mustGo(t, dir, nil, "generate", "./...")
	checkHeaders(t, dir)
	buildRun(t, dir)

	t.Run("nocgo", func(t *testing.T) {
		out, err := goCmd(t, dir, []string{"CGO_ENABLED=0"}, "build", "-o", os.DevNull, ".")
		if err == nil || !strings.Contains(out, "coro_requires_cgo_set_CGO_ENABLED_1") {
			t.Fatalf("CGO_ENABLED=0 build: %v, want a failure naming coro_requires_cgo_set_CGO_ENABLED_1:\n%s", err, out)
		}
	})

	t.Run("stale", func(t *testing.T) {
		// A copy from another version of the module names another symbol.
		p := filepath.Join(dir, "coro.h")
		h, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(p, h, 0o644)
		re := regexp.MustCompile(`coro_headers_[0-9a-f]{12}_stale`)
		if !re.Match(h) {
			t.Fatalf("no coro_headers_<id>_stale symbol in %s", p)
		}
		old := re.ReplaceAll(h, []byte("coro_headers_000000000000_stale"))
		if err := os.WriteFile(p, old, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := goCmd(t, dir, nil, "build", "-o", os.DevNull, ".")
		if err == nil || !strings.Contains(out, "coro_headers_000000000000_stale_run_go_generate") {
			t.Fatalf("build with a stale coro.h: %v, want a link failure naming coro_headers_000000000000_stale_run_go_generate:\n%s", err, out)
		}
	})

	t.Run("static", func(t *testing.T) {
		checkStaticBuild(t, dir, filepath.Join(dir, "ext.static"), ".", "", extWant)
	})

	t.Run("vendor", func(t *testing.T) {
		mustGo(t, dir, nil, "mod", "vendor")
		// The headers are generated again from vendor/ alone.
		for _, name := range []string{"coro.h", "coro_go.h"} {
			os.Remove(filepath.Join(dir, name))
		}
		mustGo(t, dir, []string{"GOFLAGS=-mod=vendor", "GOPROXY=off"}, "generate", "./...")
		checkHeaders(t, dir)
		buildRun(t, dir, "-mod=vendor")
	})
}

// A user's module developed beside a checkout of this one in a go.work
// workspace, without a replace directive. Its go.mod does not require the
// module: a real one would name a released version, and this checkout has
// none (with a placeholder version required, loading the module graph
// asked the proxy for that version's go.mod, which does not exist).
func TestExternalModuleWorkspace(t *testing.T) {
	skipModuleTests(t)
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	ws := moduleDir(t)
	dir := filepath.Join(ws, "ext")
	writeExt(t, dir, "")
	work := "go 1.26.0\n\nuse (\n\t./ext\n\t" + root + "\n)\n"
	if err := os.WriteFile(filepath.Join(ws, "go.work"), []byte(work), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"GOWORK=" + filepath.Join(ws, "go.work")}
	mustGo(t, dir, env, "generate", "./...")
	checkHeaders(t, dir)
	bin := filepath.Join(dir, "ext.bin")
	mustGo(t, dir, env, "build", "-o", bin, ".")
	if out, err := emulated(bin).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != extWant {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
}

// staticTags keep the Go standard library from linking glibc's name
// service functions (getaddrinfo, getpwnam_r), which glibc warns cannot
// work in a static binary: net and os/user use their pure-Go code instead.
const staticTags = "netgo,osusergo"

// checkStaticBuild builds pkg in dir as the README says a static binary is
// built, checks that the linker had nothing to warn about and that the
// binary is static, and runs it with args, expecting want.
func checkStaticBuild(t *testing.T, dir, bin, pkg, args, want string) {
	t.Helper()
	if out, err := exec.Command("gcc", "-print-file-name=libc.a").Output(); err != nil || !filepath.IsAbs(strings.TrimSpace(string(out))) {
		t.Skip("no static libc (gcc -print-file-name=libc.a)")
	}
	out := mustGo(t, dir, nil, "build", "-o", bin, "-tags", staticTags,
		"-ldflags", "-linkmode external -extldflags -static", pkg)
	if strings.Contains(out, "warning") {
		t.Errorf("static build of %s warns:\n%s", pkg, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has %v: not static", bin, p.Type)
		}
	}
	got, err := emulated(bin, strings.Fields(args)...).CombinedOutput()
	if err != nil || !strings.Contains(string(got), want) {
		t.Fatalf("%s %s: %v, want %q in\n%s", bin, args, err, want, got)
	}
}

// cmd/coro links net (the servers, the load generator): its static build
// is the one that printed glibc's getaddrinfo warning.
func TestCmdCoroStaticBuild(t *testing.T) {
	skipModuleTests(t)
	checkStaticBuild(t, ".", filepath.Join(t.TempDir(), "coro"), "./cmd/coro", "samefringe", "same fringe")
}

// Without cgo, every package of the module fails naming the cause, not the
// first cgo-only package it happens to import.
func TestNoCgoMessage(t *testing.T) {
	skipModuleTests(t)
	for _, pkg := range []string{"./cmd/coro", ".", "./csrc"} {
		out, err := goCmd(t, ".", []string{"CGO_ENABLED=0"}, "build", "-o", os.DevNull, pkg)
		if err == nil || !strings.Contains(out, "coro_requires_cgo_set_CGO_ENABLED_1") {
			t.Errorf("CGO_ENABLED=0 go build %s: %v, want a failure naming coro_requires_cgo_set_CGO_ENABLED_1:\n%s", pkg, err, out)
		}
	}
}
