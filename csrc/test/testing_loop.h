/* testing_loop.h - the loop harness of the engine's C tests (beside
 * testing.h, which the tests of the switch and stacks alone use without
 * the engine).
 *
 * A test is the body of the first coroutine of a fresh loop, run until
 * every coroutine has finished; the loop must then close cleanly. Each
 * test program says how its loops are made (stack mode, backend, name)
 * from the test's parameter, and defines TEST over TESTING_LOOP_TEST:
 *
 *   static void my_opts(int param, coro_loop_opts *o) {
 *     o->stack_mode = param;
 *     o->name = "my_test";
 *   }
 *   #define TEST(name) TESTING_LOOP_TEST(name, my_opts)
 *   TEST(something) { (void)unused_; ...; return NULL; }
 */
#ifndef CORO_TESTING_LOOP_H
#define CORO_TESTING_LOOP_H

#include <string.h>

#include "coro.h"
#include "testing.h"

/* Starts fn(arg) as a coroutine of the calling loop; fails the test if it
 * cannot. */
static inline coro *testing_go(coro_fn fn, intptr_t arg) {
  coro *co = NULL;
  CHECK_EQ(coro_spawn(&co, fn, (void *)arg, NULL), 0);
  return co;
}

/* Runs body as the first coroutine of a new loop made with opts until
 * every coroutine has finished, then joins it and closes the loop. */
static inline void testing_run_loop(const coro_loop_opts *opts, coro_fn body) {
  coro_loop *loop = NULL;
  CHECK_EQ(coro_loop_new(&loop, opts), 0);
  coro *co = testing_go(body, 0);
  CHECK_EQ(coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_join(co, 0, NULL), 0);
  CHECK_EQ(coro_loop_close(loop, -1), 0);
}

/* Defines the body of a coroutine, name##_body, and a testing_case
 * function name(param) that runs it on a loop whose options setup(param,
 * &opts) fills in (from zero). */
#define TESTING_LOOP_TEST(name, setup)                                       \
  TESTING_LOOP_TEST_AFTER(name, setup, testing_nothing_after)

/* TESTING_LOOP_TEST, then after(param) once the loop has closed: for what
 * a program checks after every test (setup, called before the loop is
 * made, records what after compares with: the open fds, say). */
#define TESTING_LOOP_TEST_AFTER(name, setup, after)                          \
  static void *name##_body(void *unused_);                                   \
  static void name(int param) {                                              \
    coro_loop_opts opts_;                                                    \
    memset(&opts_, 0, sizeof opts_);                                         \
    setup(param, &opts_);                                                    \
    testing_run_loop(&opts_, name##_body);                                   \
    after(param);                                                            \
  }                                                                          \
  static void *name##_body(void *unused_)

static inline void testing_nothing_after(int param) { (void)param; }

#endif /* CORO_TESTING_LOOP_H */
