/* yield_count: two coroutines yielding to each other, for counting the
 * instructions of one coro_yield with callgrind (scripts/callgrind-yield.sh).
 *
 * Usage: yield_count N [accounting]
 *   N yields in all (N/2 by each coroutine); "accounting" turns run
 *   accounting on. The script runs it for N and 2N and divides the
 * difference of the instruction totals by N, so start-up, loop creation
 * and close cancel out: what is left is the yield, its switch and main's
 * share (a turn every 64 switches). Instruction counts do not move with
 * the machine's load, unlike timings. */
#include "coro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *yielder(void *arg) {
  long n = (long)arg;
  for (long i = 0; i < n; i++)
    if (coro_yield() != 0)
      abort();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: yield_count N [accounting]\n");
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  coro_loop *l;
  if (coro_loop_new(&l, NULL) < 0)
    return 1;
#ifndef YIELD_COUNT_NO_ACCOUNTING /* for building trees from before it */
  if (argc > 2 && strcmp(argv[2], "accounting") == 0 &&
      coro_loop_set_accounting(l, 1) < 0)
    return 1;
#endif
  for (int i = 0; i < 2; i++)
    if (coro_spawn(NULL, yielder, (void *)(n / 2), NULL) < 0)
      return 1;
  if (coro_loop_run(l, CORO_RUN_UNTIL_EMPTY) < 0)
    return 1;
  return coro_loop_close(l, -1) < 0;
}
