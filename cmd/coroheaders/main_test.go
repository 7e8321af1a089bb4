package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The module's own generated files must match its headers: the Go
// package's definition of the symbol, and the copies in examples/. After
// an edit of csrc/coro.h or coro_go.h, run go generate ./... at the root.
func TestGeneratedFilesCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	h, err := readHeadersFrom(root, filepath.Join(root, "csrc"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{filepath.Join(root, "headerid.c"): h.definition("headerid.c")}
	coroH, coroGoH := h.copies()
	dirs, err := filepath.Glob(filepath.Join(root, "examples", "*", "coro.h"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples/*/coro.h (%v)", err)
	}
	for _, p := range dirs {
		want[p] = coroH
		want[filepath.Join(filepath.Dir(p), "coro_go.h")] = coroGoH
	}
	for p, w := range want {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
		} else if !bytes.Equal(got, w) {
			t.Errorf("%s is out of date: run go generate ./... in the module root", p)
		}
	}
}

// The copies hold the header unchanged and refer to the symbol, whose
// name changes with either header.
func TestCopiesReferToSymbol(t *testing.T) {
	h := headers{coroH: []byte("int a;\n"), coroGoH: []byte("int b;")}
	coroH, coroGoH := h.copies()
	sym := h.symbol()
	for _, c := range [][]byte{coroH, coroGoH} {
		if !bytes.Contains(c, []byte("extern const char "+sym+";")) || !bytes.Contains(c, []byte("= &"+sym+";")) {
			t.Errorf("copy does not refer to %s:\n%s", sym, c)
		}
	}
	if !bytes.Contains(coroH, []byte("\nint a;\n")) || !bytes.Contains(coroGoH, []byte("\nint b;\n")) {
		t.Errorf("copies lost the headers:\n%s\n%s", coroH, coroGoH)
	}
	if !strings.Contains(string(h.definition("x.c")), "const char "+sym+" = 0;") {
		t.Errorf("definition does not define %s", sym)
	}
	other := headers{coroH: h.coroH, coroGoH: []byte("int c;")}
	if other.symbol() == sym {
		t.Errorf("symbol %s does not change with coro_go.h", sym)
	}
}
