/* tsan_test.c - checks that ThreadSanitizer sees coroutines right: the
 * switch path's fiber annotations (coro.c) give each coroutine its own
 * shadow call stack, so a race inside a coroutine is reported, with the
 * racing coroutine's own frames and none of a suspended neighbour's.
 *
 * Meaningful only in a -fsanitize=thread build (make V=tsan runs it);
 * elsewhere each test says so and passes. Each race runs in a grandchild
 * whose stderr (the expected TSan report) is captured and checked, and
 * printed only when the test fails.
 *
 * Without the annotations, TSan keeps one shadow stack per thread: frames
 * of a coroutine that suspends are never popped, so the report of a race
 * in the next coroutine shows the neighbour's frames under its own (and a
 * long run of spawns overflows the shadow stack: "CHECK failed:
 * sanitizer_stackdepot.cpp ... args.size < 1 << kStackSizeBits").
 */
#include "coro.h"

#include "testing.h"

#include <pthread.h>
#include <time.h>

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif

/* Written by a coroutine and a thread, unsynchronised (external, so that
 * the compiler keeps stores nobody reads). */
int tsan_test_racy;

static void pause_ms(long ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* The other thread's write. The sleeps order nothing for TSan (they are
 * not synchronisation), so whichever write comes second is reported. */
static void *thread_writer(void *arg) {
  (void)arg;
  tsan_test_racy = 1;
  return NULL;
}

/* A neighbour that suspends deep in its own frames and stays there. */
static void __attribute__((noinline)) bystander_deep(void) {
  (void)coro_sleep(-1);
}
static void *bystander(void *arg) {
  (void)arg;
  bystander_deep();
  return NULL;
}

static void __attribute__((noinline)) coroutine_racer(void) { tsan_test_racy = 2; }
static void *racer(void *arg) {
  (void)arg;
  pause_ms(50); /* usually after the thread's write: the report is then here */
  coroutine_racer();
  return NULL;
}

static void race_child(void *mode) {
  coro_loop_opts o = {0};
  o.stack_mode = *(int *)mode;
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, thread_writer, NULL), 0);
  CHECK_EQ(coro_spawn(NULL, bystander, NULL, NULL), 0);
  CHECK_EQ(coro_spawn(NULL, racer, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), -EDEADLK); /* bystander waits */
  pause_ms(50);
  CHECK_EQ(pthread_join(t, NULL), 0); /* and the child exits 0: no report */
}

/* The report: the child must die of it (TSan's exit code, halt_on_error)
 * with the racing coroutine's frames and none of the bystander's. */
static void test_race_reported(int mode) {
  if (!TSAN_BUILD) {
    printf("    not a ThreadSanitizer build: nothing to check\n");
    return;
  }
  static char out[1 << 16];
  int st = testing_child_captured(race_child, &mode, out, sizeof out);
  if (!(WIFEXITED(st) && WEXITSTATUS(st) != 0) ||
      strstr(out, "WARNING: ThreadSanitizer: data race") == NULL)
    FAILF("the race went unreported (status 0x%x); the child's stderr:\n%s", st, out);
  if (strstr(out, "coroutine_racer") == NULL || strstr(out, "thread_writer") == NULL)
    FAILF("the report lacks the racing coroutine or thread:\n%s", out);
  /* The stacks of the accesses come before "Location is"; after it, the
   * fibers' creation sites may well name the bystander. */
  char *loc = strstr(out, "Location is");
  if (loc != NULL)
    *loc = '\0';
  if (strstr(out, "bystander") != NULL)
    FAILF("the report shows a suspended coroutine's frames (the switch is not "
          "annotated for TSan):\n%s", out);
}

static const testing_case tests[] = {
    {"race_reported", test_race_reported, 0},
};

static const testing_param modes[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

TESTING_MAIN(tests, modes)
