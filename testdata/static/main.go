// Command static is built by TestStaticBuild with
// -ldflags '-linkmode external -extldflags -static' to check that a program
// using package coro links and runs as a fully static binary.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../..
#include <stdint.h>
#include "coro_go.h"
static void *add_one(void *arg) { return (void *)((uintptr_t)arg + 1); }
CORO_GO_ENTRY(add_one)
*/
import "C"

import (
	"context"
	"fmt"
	"os"

	"github.com/ccoro/coro"
)

func main() {
	l, err := coro.NewLoop(coro.WithName("static"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	co, err := l.Spawn(coro.Entry(C.add_one_entry()), 41)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	res, err := co.Wait(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := l.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(uintptr(res))
}
