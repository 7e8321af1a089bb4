/* backtrace_test.c - tests of coro_backtrace and its formatted variants
 * (backtrace.c). A coroutine is parked inside a known chain of noinline
 * functions bt_a -> bt_b -> bt_c -> a wait (sleep, fd, mutex, channel,
 * join), and the test coroutine walks it: bt_c, bt_b, bt_a must appear in
 * that order (innermost first). Also: not-started coroutines (spawned and
 * created), the errors (the running coroutine, a call from a thread with
 * no loop, bad arguments), and corrupt frame chains (a saved frame pointer
 * overwritten on purpose: the walk stops, nothing faults). Every test runs
 * once per stack mode; in SHARED mode the walk reads the saved copy.
 *
 * Names come from dladdr, so the program is linked with -rdynamic (the
 * Makefile does) and the chain functions are not static.
 *
 * The corrupt-chain tests reach into the record (coro_internal.h) to find
 * where a frame's bytes are while it is suspended.
 */
#include "../coro_internal.h"
#include "testing_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the parked chain ------------------------------------------------- */

enum wait_kind { W_SLEEP, W_FD, W_MUTEX, W_CHAN, W_JOIN, W_TRANSFER };

static volatile int g_parked;
static volatile intptr_t g_sink;
static void *volatile g_fp_c; /* bt_c's frame record, while it waits */
static coro_mutex g_m;
static coro_chan *g_ch;
static int g_pipe[2];
static coro *g_child;

/* Not static, like the chain: dladdr names only exported symbols. */
void *sleeper_body(void *a);
void *waiter_body(void *a);

void *sleeper_body(void *a) {
  (void)a;
  return (void *)(intptr_t)coro_sleep(-1);
}

static int do_wait(int kind) {
  switch (kind) {
  case W_SLEEP:
    return coro_sleep(-1);
  case W_FD:
    return coro_fd_wait(g_pipe[0], CORO_POLLIN, -1);
  case W_MUTEX:
    return coro_mutex_lock(&g_m, -1);
  case W_CHAN: {
    int v;
    return coro_chan_recv(g_ch, &v, -1);
  }
  case W_TRANSFER: /* a created coroutine hands control back */
    return coro_transfer(coro_caller(), NULL, NULL);
  default:
    return coro_join(g_child, -1, NULL);
  }
}

/* noinline and a use of the result after the call: no inlining and no
 * tail call may fold a frame away. */
#if defined(__clang__)
#define CHAIN __attribute__((noinline))
#else
#define CHAIN __attribute__((noinline, noclone))
#endif
CHAIN int bt_c(int kind) {
  g_fp_c = __builtin_frame_address(0);
  g_parked = 1;
  int r = do_wait(kind);
  g_sink += r;
  return r;
}
CHAIN int bt_b(int kind) {
  int r = bt_c(kind);
  g_sink += r;
  return r;
}
CHAIN int bt_a(int kind) {
  int r = bt_b(kind);
  g_sink += r;
  return r;
}

void *waiter_body(void *a) {
  return (void *)(intptr_t)bt_a((int)(intptr_t)a);
}

/* ---- helpers ---------------------------------------------------------- */

#define go testing_go

static void yield_until(const volatile int *flag, int want) {
  for (int i = 0; i < 10000 && *flag < want; i++)
    CHECK_EQ(coro_yield(), 0);
  CHECK_GE(*flag, want);
}

/* The index of the first frame whose symbol starts with name+, or -1. */
static int frame_of(void **frames, int n, const char *name) {
  size_t k = strlen(name);
  for (int i = 0; i < n; i++) {
    char sym[256];
    CHECK_GT(coro_backtrace_symbol(frames[i], sym, sizeof sym), 0);
    if (strncmp(sym, name, k) == 0 && sym[k] == '+')
      return i;
  }
  return -1;
}

static void check_chain(void **frames, int n) {
  int c = frame_of(frames, n, "bt_c"), b = frame_of(frames, n, "bt_b"),
      a = frame_of(frames, n, "bt_a");
  CHECK_GE(c, 0);
  CHECK_EQ(b, c + 1);
  CHECK_EQ(a, b + 1);
  CHECK_GT(frame_of(frames, n, "waiter_body"), a);
}

/* Park a waiter in kind, walk it, wake it with a cancel, join it. */
static void parked(int kind) {
  g_parked = 0;
  coro *w = go(waiter_body, kind);
  yield_until(&g_parked, 1);
  void *frames[CORO_BACKTRACE_MAX];
  int n = coro_backtrace(w, frames, CORO_BACKTRACE_MAX);
  CHECK_GT(n, 3);
  check_chain(frames, n);
  /* A short array gets the innermost frames. */
  void *two[2];
  CHECK_EQ(coro_backtrace(w, two, 2), 2);
  CHECK_PTR_EQ(two[0], frames[0]);
  CHECK_PTR_EQ(two[1], frames[1]);
  CHECK_EQ(coro_backtrace(w, two, 0), 0);
  /* The text form names the chain in the same order. */
  char text[8192];
  int len = coro_backtrace_format(w, text, sizeof text);
  CHECK_GT(len, 0);
  CHECK_EQ((size_t)len, strlen(text));
  char *pc = strstr(text, " bt_c+"), *pb = strstr(text, " bt_b+"),
       *pa = strstr(text, " bt_a+");
  CHECK(pc != NULL && pb != NULL && pa != NULL && pc < pb && pb < pa);
  char small[24];
  CHECK_EQ(coro_backtrace_format(w, small, sizeof small), -ENOSPC);
  CHECK_EQ(strlen(small), 0u); /* no partial line */
  CHECK_EQ(coro_backtrace_by_id(coro_id(w), two, 2), 2);
  CHECK_PTR_EQ(two[0], frames[0]);
  CHECK_EQ(coro_cancel(w), 0);
  void *r = NULL;
  CHECK_EQ(coro_join(w, -1, &r), 0);
  CHECK_EQ((intptr_t)r, -ECANCELED);
}

static int g_mode;

static void bt_opts(int mode, coro_loop_opts *o) {
  o->stack_mode = mode;
  o->name = "backtrace_test";
  g_mode = mode;
}
#define TEST(name) TESTING_LOOP_TEST(name, bt_opts)

/* ---- each wait kind --------------------------------------------------- */

TEST(in_sleep) {
  (void)unused_;
  parked(W_SLEEP);
  return NULL;
}

TEST(in_fd_wait) {
  (void)unused_;
  CHECK_EQ(pipe(g_pipe), 0);
  parked(W_FD);
  CHECK_EQ(coro_fd_close(g_pipe[0]), 0);
  CHECK_EQ(close(g_pipe[1]), 0);
  return NULL;
}

TEST(in_mutex_lock) {
  (void)unused_;
  CHECK_EQ(coro_mutex_init(&g_m), 0);
  CHECK_EQ(coro_mutex_lock(&g_m, -1), 0);
  parked(W_MUTEX);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  CHECK_EQ(coro_mutex_destroy(&g_m), 0);
  return NULL;
}

TEST(in_chan_recv) {
  (void)unused_;
  CHECK_EQ(coro_chan_new(&g_ch, sizeof(int), 1), 0);
  parked(W_CHAN);
  CHECK_EQ(coro_chan_free(g_ch), 0);
  return NULL;
}

TEST(in_join) {
  (void)unused_;
  g_child = go(sleeper_body, 0);
  parked(W_JOIN);
  /* The child: asleep in coro_sleep, called straight from its entry. */
  void *frames[CORO_BACKTRACE_MAX];
  int n = coro_backtrace(g_child, frames, CORO_BACKTRACE_MAX);
  CHECK_GT(frame_of(frames, n, "sleeper_body"), 0);
  CHECK_EQ(coro_cancel(g_child), 0);
  CHECK_EQ(coro_join(g_child, -1, NULL), 0);
  return NULL;
}

/* ---- not started ------------------------------------------------------ */

TEST(not_started) {
  (void)unused_;
  void *frames[4];
  coro *s = go(waiter_body, W_SLEEP); /* spawned, on the run queue */
  CHECK_EQ(coro_backtrace(s, frames, 4), 1);
  CHECK_PTR_EQ(frames[0], (void *)(uintptr_t)waiter_body);
  char text[512];
  CHECK_GT(coro_backtrace_format(s, text, sizeof text), 0);
  CHECK(strstr(text, " waiter_body+0x0\n") != NULL);
  coro *c = NULL; /* created, never transferred to */
  CHECK_EQ(coro_create(&c, sleeper_body, NULL, NULL), 0);
  CHECK_EQ(coro_backtrace(c, frames, 4), 1);
  CHECK_PTR_EQ(frames[0], (void *)(uintptr_t)sleeper_body);
  CHECK_EQ(coro_free(c), 0);
  /* Created, run once, suspended in a transfer back to us. */
  g_parked = 0;
  CHECK_EQ(coro_create(&c, waiter_body, (void *)(intptr_t)W_TRANSFER, NULL), 0);
  CHECK_EQ(coro_transfer(c, NULL, NULL), 0);
  CHECK_EQ(g_parked, 1);
  void *all[CORO_BACKTRACE_MAX];
  check_chain(all, coro_backtrace(c, all, CORO_BACKTRACE_MAX));
  CHECK_EQ(coro_free(c), 0);
  CHECK_EQ(coro_cancel(s), 0);
  CHECK_EQ(coro_join(s, -1, NULL), 0);
  return NULL;
}

/* ---- errors ----------------------------------------------------------- */

static void *from_thread(void *co) {
  void *frames[4];
  return (void *)(intptr_t)coro_backtrace(co, frames, 4);
}

TEST(errors) {
  (void)unused_;
  void *frames[4];
  char text[64];
  CHECK_EQ(coro_backtrace(coro_self(), frames, 4), -EINVAL); /* running */
  CHECK_EQ(coro_backtrace_format(coro_self(), text, sizeof text), -EINVAL);
  CHECK_EQ(coro_backtrace(NULL, frames, 4), -EINVAL);
  g_parked = 0;
  coro *w = go(waiter_body, W_SLEEP);
  yield_until(&g_parked, 1);
  CHECK_EQ(coro_backtrace(w, frames, -1), -EINVAL);
  CHECK_EQ(coro_backtrace(w, NULL, 4), -EINVAL);
  CHECK_EQ(coro_backtrace_format(w, NULL, 10), -EINVAL);
  CHECK_EQ(coro_backtrace_format(w, text, 0), -EINVAL);
  CHECK_EQ(coro_backtrace_symbol(frames[0], NULL, 0), -EINVAL);
  CHECK_EQ(coro_backtrace_by_id(0, frames, 4), -ESRCH);
  /* Another thread (no loop of its own, or another loop) is refused. */
  pthread_t t;
  void *rc = NULL;
  CHECK_EQ(pthread_create(&t, NULL, from_thread, w), 0);
  CHECK_EQ(pthread_join(t, &rc), 0);
  CHECK_EQ((intptr_t)rc, -EINVAL);
  /* A finished coroutine has no stack to walk. */
  CHECK_EQ(coro_cancel(w), 0);
  for (int i = 0; i < 100 && !coro_done(w); i++)
    CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_done(w), 1);
  CHECK_EQ(coro_backtrace(w, frames, 4), -EINVAL);
  CHECK_EQ(coro_join(w, -1, NULL), 0);
  /* An unknown address still formats. */
  CHECK_GT(coro_backtrace_symbol((void *)16, text, sizeof text), 0);
  CHECK_STR_EQ(text, "0x10");
  return NULL;
}

/* ---- corrupt chains --------------------------------------------------- */

/* Where the word at stack address a of suspended w is stored now. */
static uintptr_t *word_at(coro *w, void *a) {
  coro_loop *l = w->loop;
  if (w->stack_mode == CORO_STACK_GUARDED || l->shared_owner == w)
    return a;
  char *base = l->shared_hi - w->stk.s.saved_len;
  CHECK((char *)a >= base && (char *)a < l->shared_hi);
  return (uintptr_t *)((char *)w->stk.s.saved + ((char *)a - base));
}

/* Overwrite one word of bt_c's frame record (0: the saved frame pointer,
 * 1: the return address) with each bad value in turn and walk: the walk
 * keeps what lies below the bad link and stops there. */
static void corrupt(int slot) {
  g_parked = 0;
  coro *w = go(waiter_body, W_SLEEP);
  yield_until(&g_parked, 1);
  uintptr_t *p = word_at(w, (uintptr_t *)g_fp_c + slot);
  uintptr_t good = *p, fp = (uintptr_t)g_fp_c;
  uintptr_t bad[] = {
      0,                         /* end of chain */
      fp,                        /* a loop onto itself */
      fp - 64,                   /* downwards */
      good + 1,                  /* misaligned */
      (uintptr_t)0xdead0000,     /* outside the stack */
      UINTPTR_MAX - 7,           /* wraps around */
      (uintptr_t)&g_sink,        /* readable, but not this stack */
  };
  void *frames[CORO_BACKTRACE_MAX];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (slot == 1 && bad[i] == good + 1)
      continue; /* a return address one byte on is still inside bt_b */
    *p = bad[i];
    int n = coro_backtrace(w, frames, CORO_BACKTRACE_MAX);
    CHECK_GE(n, 1);
    CHECK_GE(frame_of(frames, n, "bt_c"), 0);
    if (slot == 0) { /* the link out of bt_b's frame is gone */
      CHECK_EQ(frame_of(frames, n, "bt_b"), n - 1); /* and ends there */
      CHECK_EQ(frame_of(frames, n, "bt_a"), -1);
    } else if (bad[i] == 0) { /* a null return address ends the walk */
      CHECK_EQ(frame_of(frames, n, "bt_b"), -1);
      CHECK_EQ(frame_of(frames, n, "bt_a"), -1);
    } else { /* a wrong address is only a wrong frame: the chain goes on */
      CHECK_EQ(frame_of(frames, n, "bt_b"), -1);
      CHECK_GE(frame_of(frames, n, "bt_a"), 0);
    }
    char text[8192];
    CHECK_GT(coro_backtrace_format(w, text, sizeof text), 0);
  }
  *p = good; /* before it runs again: bt_b would return through it */
  int n = coro_backtrace(w, frames, CORO_BACKTRACE_MAX);
  check_chain(frames, n);
  CHECK_EQ(coro_cancel(w), 0);
  CHECK_EQ(coro_join(w, -1, NULL), 0);
}

TEST(corrupt_frame_pointer) {
  (void)unused_;
  corrupt(0);
  return NULL;
}

TEST(corrupt_return_address) {
  (void)unused_;
  corrupt(1);
  return NULL;
}

static const testing_case tests[] = {
    {"in_sleep", in_sleep, 0},
    {"in_fd_wait", in_fd_wait, 0},
    {"in_mutex_lock", in_mutex_lock, 0},
    {"in_chan_recv", in_chan_recv, 0},
    {"in_join", in_join, 0},
    {"not_started", not_started, 0},
    {"errors", errors, 0},
    {"corrupt_frame_pointer", corrupt_frame_pointer, 0},
    {"corrupt_return_address", corrupt_return_address, 0},
};

static const testing_param modes[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

TESTING_MAIN(tests, modes)
