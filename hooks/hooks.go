// Package hooks makes blocking C client libraries run concurrently on
// coroutines: importing it (even as _) links the libc hooks (hook_*.c in
// this folder) into the program, and then, inside the coroutines of a loop
// made with coro.WithHooks (or a C coroutine turned on with
// coro_hooks_enable), blocking libc calls made by C code (read, write,
// connect, accept, poll, sleep, getaddrinfo, ...) wait in the loop instead
// of blocking its thread. Everywhere else (Go's own threads, other C threads, loops
// without hooks) they behave as libc's. hook.h holds the contract: which
// fds are hooked, timeouts, errors (ECANCELED for a cancelled coroutine).
//
// The hooks are C definitions of libc's names in the executable. A shared
// library's call reaches them only if the executable exports them in its
// dynamic symbol table; the system linker does that for a definition of a
// name that a linked shared library (libc) also defines, so cgo's default
// external linking needs no flag (Go's internal linker cannot link the
// package at all). Check reports whether it worked; if not, the package
// says so on standard error when the program starts.
//
// The engine (github.com/ccoro/coro) never contains the hooks: programs
// that do not import this package are unaffected.
package hooks

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra
// #cgo amd64 arm64 CFLAGS: -fstack-clash-protection
// #cgo LDFLAGS: -ldl
// #include "coro_hooks.h"
import "C"

import (
	"fmt"
	"os"

	_ "github.com/ccoro/coro/csrc" // the engine the hooks wait in
)

var checkErr = check()

func check() error {
	var missing *C.char
	if C.coro_hooks_check(&missing) != 0 {
		return fmt.Errorf("coro/hooks: the libc hooks do not take effect: "+
			"%s resolves to libc's, not to the hook (the program was linked "+
			"with the hooks hidden from its dynamic symbol table)",
			C.GoString(missing))
	}
	return nil
}

func init() {
	if checkErr != nil {
		fmt.Fprintln(os.Stderr, checkErr)
	}
}

// Check returns nil when every hooked libc name resolves, for shared
// libraries, to the hook in this program (or the program is static), and
// otherwise an error naming the first that resolves to libc's.
func Check() error { return checkErr }
