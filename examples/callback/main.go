// Command callback shows C code in a coroutine calling Go: a C coroutine
// splits a text into words and hands each word to a Go function
// (registered with coro.RegisterFunc, called with coro_go_call), which
// counts it in a Go map. The map reaches the coroutine as a handle made by
// SpawnValue, and the Go function gets it back with HandleValue: Go memory
// never goes to C.
//
// The C code includes the headers that `go generate` copied into this
// folder (see the go:generate line below and cmd/coroheaders).
package main

//go:generate go run github.com/ccoro/coro/cmd/coroheaders

/*
#include <stdint.h>
#include <string.h>
#include "coro.h"
#include "coro_go.h"

// What count_words hands to the Go function for each word. It lives on
// the coroutine's stack: coro_go_call keeps it valid, in every stack mode,
// until the Go function returns.
struct word {
  uintptr_t counts; // the coroutine's argument: a handle of the Go map
  const char *p;
  size_t len;
};

static uintptr_t count_fn; // the registered Go function, set by Go first

static void set_count_fn(uintptr_t fn) { count_fn = fn; }

static const char text[] =
    "the coroutine runs C and the loop runs the coroutine and Go counts the words";

// count_words calls the Go function once per word of text and returns the
// number of words, or the negative errno coro_go_call reported.
static void *count_words(void *arg) {
  intptr_t words = 0;
  for (const char *p = text; *p;) {
    size_t len = strcspn(p, " ");
    if (len > 0) {
      struct word w = {(uintptr_t)arg, p, len};
      int rc = coro_go_call(count_fn, &w, NULL);
      if (rc < 0)
        return (void *)(intptr_t)rc;
      words++;
    }
    p += len + (p[len] == ' ');
  }
  return (void *)words;
}
CORO_GO_ENTRY(count_words)
*/
import "C"

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/ccoro/coro"
	_ "github.com/ianlancetaylor/cgosymbolizer" // C frames in tracebacks
)

// countWord runs on the loop thread while the coroutine that called it
// waits. arg is the address of a C struct word.
func countWord(arg uintptr) (uintptr, error) {
	w := (*C.struct_word)(coro.CPtr(arg))
	counts := coro.HandleValue(uintptr(w.counts)).(map[string]int)
	counts[C.GoStringN(w.p, C.int(w.len))]++
	return 0, nil
}

func main() {
	fn, err := coro.RegisterFunc(countWord)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	C.set_count_fn(C.uintptr_t(fn))

	l, err := coro.NewLoop(coro.WithName("callback"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer l.Close(context.Background())

	counts := map[string]int{}
	co, err := l.SpawnValue(coro.Entry(C.count_words_entry()), counts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	words, err := co.Wait(context.Background())
	if err != nil || int(words) < 0 {
		fmt.Fprintln(os.Stderr, "count_words failed:", err, int(words))
		os.Exit(1)
	}
	// The coroutine has finished: the map is ours alone again.
	fmt.Printf("%d words\n", int(words))
	for _, w := range slices.Sorted(maps.Keys(counts)) {
		fmt.Printf("%-9s %d\n", w, counts[w])
	}
}
