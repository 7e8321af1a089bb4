/* overflow_test.c - a program that overflows a coroutine's stack on purpose.
 *
 * Usage: overflow_test guarded|shared [frame]
 *
 * It spawns, in a loop of the given stack mode, a coroutine named
 * "deep-recursion" that recurses without bound, after printing the
 * coroutine's id on stdout as `id=N`. With "frame" the coroutine is named
 * "big-frame" and each level has a 64 KiB frame, which jumps a one-page
 * guard unless the compiler probes the frame's pages in order
 * (-fstack-clash-protection, which the Makefile adds): without it the
 * result is a plain SIGSEGV, or a write into whatever is mapped below. The engine must report the overflow on
 * stderr (naming the coroutine's id and name) and abort, so the expected
 * outcome is death by SIGABRT. core_test runs it as a child process and
 * checks exactly that; exit status 3 means the recursion somehow returned,
 * 2 a usage error, 1 an engine call that failed.
 */
#include "coro.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Always 0: read through a volatile so the compiler can neither prove the
 * recursion infinite nor drop the test. */
static volatile int never;

/* Each frame keeps a volatile array live across the recursive call, so the
 * call is not a tail call and every level really costs stack. */
static int __attribute__((noinline)) recurse(int depth) {
  volatile char pad[128];
  pad[0] = (char)depth;
  pad[sizeof pad - 1] = 0;
  if (never)
    return pad[0];
  return recurse(depth + 1) + pad[sizeof pad - 1];
}

/* 64 KiB per level, touched at its lowest address first (the write a
 * stack clash would let through). */
static int __attribute__((noinline)) recurse_big(int depth) {
  volatile char pad[64 * 1024];
  pad[0] = (char)depth;
  pad[sizeof pad - 1] = 0;
  if (never)
    return pad[0];
  return recurse_big(depth + 1) + pad[sizeof pad - 1];
}

static void *deep(void *arg) {
  (void)arg;
  return (void *)(intptr_t)recurse(0);
}

static void *deep_big(void *arg) {
  (void)arg;
  return (void *)(intptr_t)recurse_big(0);
}

static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv) {
  int mode;
  int big = argc == 3 && strcmp(argv[2], "frame") == 0;
  if ((argc == 2 || big) && strcmp(argv[1], "guarded") == 0)
    mode = CORO_STACK_GUARDED;
  else if ((argc == 2 || big) && strcmp(argv[1], "shared") == 0)
    mode = CORO_STACK_SHARED;
  else {
    fprintf(stderr, "usage: %s guarded|shared [frame]\n", argv[0]);
    return 2;
  }
  coro_loop_opts lo;
  memset(&lo, 0, sizeof lo);
  lo.stack_mode = mode;
  lo.name = "overflow";
  coro_loop *loop;
  int rc = coro_loop_new(&loop, &lo);
  if (rc != 0) {
    fprintf(stderr, "overflow_test: coro_loop_new: %d\n", rc);
    return 1;
  }
  /* Use up some ids first, so that the victim's id is a distinctive number
   * in the report rather than a lone "1". */
  for (int i = 0; i < 40; i++) {
    rc = coro_spawn(NULL, nothing, NULL, NULL);
    if (rc != 0) {
      fprintf(stderr, "overflow_test: coro_spawn: %d\n", rc);
      return 1;
    }
  }
  rc = coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY);
  if (rc != 0) {
    fprintf(stderr, "overflow_test: coro_loop_run: %d\n", rc);
    return 1;
  }
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.name = big ? "big-frame" : "deep-recursion";
  coro *co;
  rc = coro_spawn(&co, big ? deep_big : deep, NULL, &o);
  if (rc != 0) {
    fprintf(stderr, "overflow_test: coro_spawn: %d\n", rc);
    return 1;
  }
  printf("id=%" PRIu64 "\n", coro_id(co));
  fflush(stdout);
  rc = coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY);
  fprintf(stderr, "overflow_test: the recursion returned (run: %d)\n", rc);
  return 3;
}
