// Command pipeline runs a pipeline of C coroutines joined by channels
// (coro_chan_*): one coroutine produces the numbers 1..n, three square
// them, and the coroutine Go spawned sums the squares and returns the sum.
//
// The C code includes the headers that `go generate` copied into this
// folder (see the go:generate line below and cmd/coroheaders).
package main

//go:generate go run github.com/ccoro/coro/cmd/coroheaders

/*
#include <stdint.h>
#include <stdlib.h>
#include "coro.h"
#include "coro_go.h"

// What a stage reads from and writes to. Stages get a pointer to one that
// lives in sum_squares's frame: other coroutines may use it while
// sum_squares is suspended because the loop's stacks are guarded (in
// StackShared mode, a suspended coroutine's stack is copied away; there,
// allocate it with malloc).
struct stage {
  coro_chan *in, *out;
  long n;
};

// produce sends 1..n, then closes its channel so the next stage ends.
static void *produce(void *arg) {
  struct stage *s = arg;
  for (long i = 1; i <= s->n; i++)
    if (coro_chan_send(s->out, &i, -1) < 0)
      break; // cancelled: the loop is closing
  coro_chan_close(s->out);
  return NULL;
}

// square squares what it receives until its input is closed and drained
// (-EPIPE).
static void *square(void *arg) {
  struct stage *s = arg;
  long x;
  while (coro_chan_recv(s->in, &x, -1) == 0) {
    x *= x;
    if (coro_chan_send(s->out, &x, -1) < 0)
      break;
  }
  return NULL;
}

enum { SQUARERS = 3 };

// sum_squares is the coroutine Go spawns: it builds the pipeline, sums its
// output and returns the sum, or -1 if something failed.
static void *sum_squares(void *arg) {
  long sum = -1, x;
  struct stage src = {.n = (long)(uintptr_t)arg}, sq = {0};
  coro *workers[1 + SQUARERS];
  int started = 0;
  if (coro_chan_new(&src.out, sizeof(long), 4) < 0)
    return (void *)(intptr_t)-1;
  if (coro_chan_new(&sq.out, sizeof(long), 4) < 0)
    goto free_src;
  sq.in = src.out;
  if (coro_spawn(&workers[started], produce, &src, NULL) < 0)
    goto collect;
  started++;
  for (; started < 1 + SQUARERS; started++)
    if (coro_spawn(&workers[started], square, &sq, NULL) < 0)
      goto collect;
  sum = 0;
collect:
  if (sum < 0)
    coro_chan_close(src.out); // a spawn failed: end the stages started
  // The squarers end when the producer's channel is drained; the sum stage
  // ends when every squarer has finished, so sq.out is closed after the
  // last join below: receive exactly as many squares as were produced.
  for (long i = 0; sum >= 0 && i < src.n; i++) {
    if (coro_chan_recv(sq.out, &x, -1) < 0) {
      sum = -1;
      break;
    }
    sum += x;
  }
  if (sum < 0)
    coro_chan_close(sq.out);
  for (int i = 0; i < started; i++)
    coro_join(workers[i], -1, NULL);
  coro_chan_free(sq.out);
free_src:
  coro_chan_free(src.out);
  return (void *)(intptr_t)sum;
}
CORO_GO_ENTRY(sum_squares)
*/
import "C"

import (
	"context"
	"fmt"
	"os"

	"github.com/ccoro/coro"
	_ "github.com/ianlancetaylor/cgosymbolizer" // C frames in tracebacks
)

func main() {
	l, err := coro.NewLoop(coro.WithName("pipeline"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer l.Close(context.Background())

	for _, n := range []uintptr{10, 1000} {
		co, err := l.Spawn(coro.Entry(C.sum_squares_entry()), n)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sum, err := co.Wait(context.Background())
		if err != nil || int(sum) < 0 {
			fmt.Fprintln(os.Stderr, "sum_squares failed:", err)
			os.Exit(1)
		}
		fmt.Printf("sum of squares 1..%d = %d\n", n, int(sum))
	}
}
