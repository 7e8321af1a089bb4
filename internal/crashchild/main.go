// Command crashchild is the child of this package's test: a coroutine that
// dies of a signal, in a program built the way users build theirs (go
// build: not stripped, unlike go test's binaries) so that the engine's
// crash report names the C frames from the executable's symbol table; with
// the build tag crashsym it also imports cgosymbolizer, as a user's main
// package may, so that Go's traceback after the report walks the C frames
// too. It is never installed: the test builds it.
//
// Usage: crashchild go|c SIGSEGV|SIGBUS|SIGILL|SIGFPE|SIGABRT
//
// "go": the coroutine "go-crasher" on a loop Go made ("go-loop"); "c": the
// coroutine "c-crasher" on a loop a C thread made ("c-loop").
package main

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
)

var signals = map[string]syscall.Signal{
	"SIGSEGV": syscall.SIGSEGV, "SIGBUS": syscall.SIGBUS, "SIGILL": syscall.SIGILL,
	"SIGFPE": syscall.SIGFPE, "SIGABRT": syscall.SIGABRT,
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "go" && os.Args[1] != "c") || signals[os.Args[2]] == 0 {
		fmt.Fprintln(os.Stderr, "usage: crashchild go|c SIGSEGV|SIGBUS|SIGILL|SIGFPE|SIGABRT")
		os.Exit(2)
	}
	b := ctest.NewBox()
	b.SetN(int64(signals[os.Args[2]]))
	if os.Args[1] == "c" {
		ctest.CrashOnCLoop(b) // does not return
	} else {
		l, err := coro.NewLoop(coro.WithName("go-loop"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		co, err := l.Spawn(coro.Entry(ctest.Crash()), b.Ptr(), coro.WithCoroutineName("go-crasher"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		co.Wait(context.Background())
	}
	fmt.Println("child survived")
	os.Exit(3)
}
