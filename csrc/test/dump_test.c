/* dump_test.c - tests of coro_loop_dump, its text form, coro_cancel_by_id
 * and run accounting (dump.c). Coroutines are parked in each kind of wait
 * (sleep with a deadline, fd read and write, mutex, cond, semaphore, wait
 * group, channel send and receive, join), one is left ready and one
 * created and not started; a dump taken from the loop stack (a post) and
 * one taken from inside a coroutine must describe each exactly. Every test
 * runs once per stack mode.
 */
#include "../coro_internal.h"
#include "testing_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static coro_mutex g_m, g_cm;
static coro_cond g_c;
static coro_sem g_s;
static coro_waitgroup g_wg;
static coro_chan *g_full, *g_empty;
static int g_rd[2], g_wr[2];
static coro *g_sleeper;
static volatile int g_parked;

enum { K_SLEEP, K_FD_READ, K_FD_WRITE, K_MUTEX, K_COND, K_SEM, K_WG,
       K_SEND, K_RECV, K_JOIN, K_COUNT };

static const char *const k_names[K_COUNT] = {
    "sleep", "fd-read", "fd-write", "mutex", "cond", "sem", "wg",
    "send",  "recv",    "join"};

static void *waiter(void *arg) {
  int k = (int)(intptr_t)arg, v = 1;
  g_parked++;
  switch (k) {
  case K_SLEEP:
    return (void *)(intptr_t)coro_sleep(coro_now() + 3600 * 1000000000LL);
  case K_FD_READ:
    return (void *)(intptr_t)coro_fd_wait(g_rd[0], CORO_POLLIN, -1);
  case K_FD_WRITE:
    return (void *)(intptr_t)coro_fd_wait(g_wr[1], CORO_POLLOUT, -1);
  case K_MUTEX:
    return (void *)(intptr_t)coro_mutex_lock(&g_m, -1);
  case K_COND: {
    CHECK_EQ(coro_mutex_lock(&g_cm, -1), 0);
    int rc = coro_cond_wait(&g_c, &g_cm, -1);
    coro_mutex_unlock(&g_cm);
    return (void *)(intptr_t)rc;
  }
  case K_SEM:
    return (void *)(intptr_t)coro_sem_acquire(&g_s, -1);
  case K_WG:
    return (void *)(intptr_t)coro_wg_wait(&g_wg, -1);
  case K_SEND:
    return (void *)(intptr_t)coro_chan_send(g_full, &v, -1);
  case K_RECV:
    return (void *)(intptr_t)coro_chan_recv(g_empty, &v, -1);
  default:
    return (void *)(intptr_t)coro_join(g_sleeper, -1, NULL);
  }
}

static void *noop(void *arg) { return arg; }

struct seen {
  int n;
  coro_dump_coro c[32];
};

static int collect(void *udata, const coro_dump_coro *d) {
  struct seen *s = udata;
  CHECK_LT(s->n, 32);
  s->c[s->n++] = *d;
  return 0;
}

static const coro_dump_coro *find(const struct seen *s, uint64_t id) {
  for (int i = 0; i < s->n; i++)
    if (s->c[i].id == id)
      return &s->c[i];
  return NULL;
}

/* The world: one waiter per kind, the coroutine that is joined (the
 * sleeper doubles as the joined one), a ready one and a created one. */
static coro *g_w[K_COUNT], *g_ready, *g_created;

static void setup(int mode) {
  CHECK_EQ(pipe(g_rd), 0);
  CHECK_EQ(pipe(g_wr), 0);
  /* Fill the write pipe so a write wait blocks. */
  CHECK_EQ(fcntl(g_wr[1], F_SETFL, O_NONBLOCK), 0);
  char junk[4096];
  memset(junk, 'x', sizeof junk);
  while (write(g_wr[1], junk, sizeof junk) > 0) {
  }
  coro_mutex_init(&g_m);
  coro_mutex_init(&g_cm);
  CHECK_EQ(coro_mutex_lock(&g_m, 0), 0); /* held: the waiter blocks */
  coro_cond_init(&g_c);
  coro_sem_init(&g_s, 0);
  coro_wg_init(&g_wg);
  coro_wg_add(&g_wg, 1);
  CHECK_EQ(coro_chan_new(&g_full, sizeof(int), 1), 0);
  int one = 1;
  CHECK_EQ(coro_chan_send(g_full, &one, 0), 0);
  CHECK_EQ(coro_chan_new(&g_empty, sizeof(int), 1), 0);
  coro_opts o = {.stack_mode = mode, .name = "waiter"};
  for (int k = 0; k < K_COUNT; k++) {
    o.name = k_names[k];
    CHECK_EQ(coro_spawn(&g_w[k], waiter, (void *)(intptr_t)k, &o), 0);
    if (k == K_SLEEP)
      g_sleeper = g_w[k];
  }
}

static void teardown(void) {
  for (int k = 0; k < K_COUNT; k++)
    if (k != K_SLEEP) /* joined by the K_JOIN waiter */
      CHECK_EQ(coro_cancel(g_w[k]), 0);
  for (int k = K_COUNT - 1; k >= 0; k--)
    if (k != K_SLEEP)
      CHECK_EQ(coro_join(g_w[k], -1, NULL), 0);
  CHECK_EQ(coro_cancel(g_sleeper), 0);
  CHECK_EQ(coro_join(g_sleeper, -1, NULL), 0);
  CHECK_EQ(coro_mutex_unlock(&g_m), 0);
  coro_fd_close(g_rd[0]);
  coro_fd_close(g_rd[1]);
  coro_fd_close(g_wr[0]);
  coro_fd_close(g_wr[1]);
  CHECK_EQ(coro_chan_free(g_full), 0);
  CHECK_EQ(coro_chan_free(g_empty), 0);
}

/* Every waiter is described as it waits. */
static void check_waiters(const struct seen *s) {
  for (int k = 0; k < K_COUNT; k++) {
    const coro_dump_coro *d = find(s, coro_id(g_w[k]));
    CHECK(d != NULL);
    CHECK_EQ(strcmp(d->name, k_names[k]), 0);
    CHECK_EQ(d->state, CORO_STATE_WAITING);
    CHECK_EQ(d->created, 0);
    CHECK_GE(d->switches, 1);
    CHECK_GT(d->stack_size, 0);
    CHECK_GT(d->stack_used, 0);
    CHECK_LE(d->stack_used, d->stack_size);
    CHECK_GE(d->stack_peak, d->stack_used);
    CHECK_LE(d->stack_peak, d->stack_size);
    CHECK_GT(d->since, 0);
    CHECK_EQ(d->run_ns, -1);
    switch (k) {
    case K_SLEEP:
      CHECK_EQ(d->wait, CORO_WAIT_SLEEP);
      CHECK_GT(d->deadline, coro_now());
      break;
    case K_FD_READ:
      CHECK_EQ(d->wait, CORO_WAIT_FD);
      CHECK_EQ(d->wait_fd, g_rd[0]);
      CHECK_EQ(d->wait_events, CORO_POLLIN);
      CHECK_EQ(d->deadline, -1);
      break;
    case K_FD_WRITE:
      CHECK_EQ(d->wait, CORO_WAIT_FD);
      CHECK_EQ(d->wait_fd, g_wr[1]);
      CHECK_EQ(d->wait_events, CORO_POLLOUT);
      break;
    case K_MUTEX:
      CHECK_EQ(d->wait, CORO_WAIT_MUTEX);
      CHECK(d->wait_obj == &g_m);
      break;
    case K_COND:
      CHECK_EQ(d->wait, CORO_WAIT_COND);
      CHECK(d->wait_obj == &g_c);
      break;
    case K_SEM:
      CHECK_EQ(d->wait, CORO_WAIT_SEM);
      CHECK(d->wait_obj == &g_s);
      break;
    case K_WG:
      CHECK_EQ(d->wait, CORO_WAIT_WG);
      CHECK(d->wait_obj == &g_wg);
      break;
    case K_SEND:
      CHECK_EQ(d->wait, CORO_WAIT_CHAN_SEND);
      CHECK(d->wait_obj == g_full);
      break;
    case K_RECV:
      CHECK_EQ(d->wait, CORO_WAIT_CHAN_RECV);
      CHECK(d->wait_obj == g_empty);
      break;
    case K_JOIN:
      CHECK_EQ(d->wait, CORO_WAIT_JOIN);
      CHECK_EQ(d->wait_id, coro_id(g_sleeper));
      break;
    }
  }
}

/* The tests that drive a loop are the first coroutine of a fresh loop
 * "dumper" of the stack mode under test (testing_loop.h). */
static int g_mode;

static void dump_opts(int mode, coro_loop_opts *o) {
  g_mode = mode;
  g_parked = 0;
  o->stack_mode = mode;
  o->name = "dumper";
}
#define TEST(name) TESTING_LOOP_TEST(name, dump_opts)

/* ---- from the loop stack (a post) ------------------------------------- */

static struct seen g_seen;
static coro_dump_loop g_sum;
static int g_dump_rc;

static void dump_post(void *arg) {
  (void)arg;
  memset(&g_seen, 0, sizeof g_seen);
  g_dump_rc = coro_loop_dump(coro_loop_current(), CORO_DUMP_BACKTRACE, &g_sum,
                             collect, &g_seen);
}

TEST(from_post) {
  (void)unused_;
  int mode = g_mode;
  setup(mode);
  while (g_parked < K_COUNT)
    CHECK_EQ(coro_yield(), 0);
  coro_opts o = {.stack_mode = mode, .name = "created"};
  CHECK_EQ(coro_create(&g_created, noop, NULL, &o), 0);
  o.name = "ready";
  CHECK_EQ(coro_spawn(&g_ready, noop, NULL, &o), 0);
  /* A post runs on main's next turn; this coroutine sleeps until then
   * (a sleep, unlike a yield, lets the ready coroutine run only after). */
  g_dump_rc = 1;
  CHECK_EQ(coro_loop_post(coro_loop_current(), dump_post, NULL), 0);
  while (g_dump_rc == 1)
    CHECK_EQ(coro_sleep(coro_now() + 1000000), 0);
  CHECK_EQ(g_dump_rc, 0);
  check_waiters(&g_seen);
  const coro_dump_coro *me = find(&g_seen, coro_id(coro_self()));
  CHECK(me != NULL);
  CHECK_EQ(me->state, CORO_STATE_WAITING); /* sleeping in this loop */
  CHECK_EQ(me->wait, CORO_WAIT_SLEEP);
  const coro_dump_coro *cr = find(&g_seen, coro_id(g_created));
  CHECK(cr != NULL);
  CHECK_EQ(cr->state, CORO_STATE_NEW);
  CHECK_EQ(cr->created, 1);
  CHECK_EQ(cr->switches, 0);
  CHECK_EQ(cr->nframes, 1); /* not started: its entry function */
  CHECK(cr->frames[0] == (void *)(uintptr_t)noop);
  /* Backtraces of the waiters came with the dump. */
  for (int k = 0; k < K_COUNT; k++) {
    const coro_dump_coro *d = find(&g_seen, coro_id(g_w[k]));
    CHECK_GT(d->nframes, 1);
  }
  /* The ready one finished meanwhile or is still ready: both are fine,
   * but the sum must add up. */
  uint64_t total = 0;
  for (int i = 0; i < 6; i++)
    total += g_sum.by_state[i];
  CHECK_EQ(total, g_sum.coroutines);
  CHECK_EQ(g_sum.coroutines, (uint64_t)g_seen.n);
  CHECK_GE(g_sum.by_state[CORO_STATE_WAITING], K_COUNT + 1);
  CHECK_GE(g_sum.timers, 2); /* the sleeper and this driver */
  CHECK_GE(g_sum.fds, 2);
  CHECK_EQ(g_sum.accounting, 0);
  CHECK_EQ(g_sum.longest_run_ns, -1);
  CHECK_EQ(coro_free(g_created), 0);
  CHECK_EQ(coro_join(g_ready, -1, NULL), 0);
  teardown();
  return NULL;
}


/* ---- from inside a coroutine, text, cancel by id ---------------------- */

TEST(from_coroutine) {
  (void)unused_;
  int mode = g_mode;
  setup(mode);
  while (g_parked < K_COUNT)
    CHECK_EQ(coro_yield(), 0);
  struct seen *s = calloc(1, sizeof *s);
  CHECK(s != NULL);
  coro_dump_loop sum;
  CHECK_EQ(coro_loop_dump(coro_loop_current(), 0, &sum, collect, s), 0);
  check_waiters(s);
  const coro_dump_coro *me = find(s, coro_id(coro_self()));
  CHECK_EQ(me->state, CORO_STATE_RUNNING);
  CHECK_EQ(me->nframes, 0); /* no CORO_DUMP_BACKTRACE */
  CHECK_GT(me->stack_used, 0);
  CHECK_EQ(sum.by_state[CORO_STATE_RUNNING], 1);
  CHECK_EQ(strcmp(sum.name, "dumper"), 0);
  /* A callback's non-zero return stops the walk and comes back. */
  CHECK_EQ(coro_loop_dump(coro_loop_current(), 0, NULL, NULL, NULL), 0);
  /* Text: a header, a line per coroutine, frames with the flag. */
  size_t cap = 1 << 16;
  char *buf = malloc(cap);
  CHECK(buf != NULL);
  int n = coro_loop_dump_text(coro_loop_current(), CORO_DUMP_BACKTRACE, buf,
                              cap);
  CHECK_GT(n, 0);
  CHECK_EQ((size_t)n, strlen(buf));
  CHECK(strstr(buf, "loop \"dumper\"") == buf);
  CHECK(strstr(buf, "\"fd-read\" waiting fd ") != NULL);
  CHECK(strstr(buf, " read for ") != NULL);
  CHECK(strstr(buf, "\"mutex\" waiting mutex 0x") != NULL);
  CHECK(strstr(buf, "\"sleep\" waiting sleep deadline in ") != NULL);
  CHECK(strstr(buf, "waiting join #") != NULL);
  CHECK(strstr(buf, "    #0 0x") != NULL);
  /* Too short: whole lines only, -ENOSPC. */
  int m = coro_loop_dump_text(coro_loop_current(), 0, buf, 40);
  CHECK_EQ(m, -ENOSPC);
  CHECK_EQ(buf[0], '\0'); /* the header alone is longer than 40 */
  m = coro_loop_dump_text(coro_loop_current(), CORO_DUMP_BACKTRACE, buf,
                          (size_t)n / 2);
  CHECK_EQ(m, -ENOSPC);
  CHECK_GT(strlen(buf), 0);
  CHECK_EQ(buf[strlen(buf) - 1], '\n');
  free(buf);
  free(s);
  /* Cancel by id: the mutex waiter wakes with -ECANCELED. */
  CHECK_EQ(coro_cancel_by_id(coro_id(g_w[K_MUTEX])), 0);
  void *res;
  CHECK_EQ(coro_join(g_w[K_MUTEX], -1, &res), 0);
  CHECK_EQ((intptr_t)res, -ECANCELED);
  CHECK_EQ(coro_spawn(&g_w[K_MUTEX], noop, NULL, NULL), 0);
  CHECK_EQ(coro_cancel_by_id(UINT64_MAX), -ESRCH);
  teardown();
  return NULL;
}


/* ---- accounting ------------------------------------------------------- */

static volatile int g_spin_done;

static void *spinner(void *arg) {
  (void)arg;
  /* Run about 5 ms of CPU without switching (the clock, not a count:
   * the run must be long compared with everything else here). */
  int64_t end = coro_now() + 5000000;
  while (coro_now() < end) {
  }
  for (int i = 0; i < 10; i++)
    coro_yield();
  g_spin_done = 1;
  return NULL;
}

TEST(accounting) {
  (void)unused_;
  int mode = g_mode;
  coro_loop *l = coro_loop_current();
  CHECK_EQ(coro_loop_accounting(l), 0);
  CHECK_EQ(coro_loop_set_accounting(l, 2), -EINVAL);
  CHECK_EQ(coro_loop_set_accounting(l, 1), 0);
  CHECK_EQ(coro_loop_accounting(l), 1);
  coro_opts o = {.stack_mode = mode, .name = "spinner"};
  coro *sp;
  g_spin_done = 0;
  CHECK_EQ(coro_spawn(&sp, spinner, NULL, &o), 0);
  while (!g_spin_done)
    CHECK_EQ(coro_yield(), 0);
  struct seen s = {0};
  coro_dump_loop sum;
  CHECK_EQ(coro_loop_dump(l, 0, &sum, collect, &s), 0);
  const coro_dump_coro *d = find(&s, coro_id(sp));
  CHECK(d != NULL);
  CHECK_GE(d->run_ns, 5000000);
  CHECK_EQ(sum.accounting, 1);
  CHECK_GE(sum.longest_run_ns, 5000000);
  CHECK_NE(sum.longest_run_id, 0); /* the spinner, unless a preemption
                                      made another run even longer */
  const coro_dump_coro *me = find(&s, coro_id(coro_self()));
  CHECK_GE(me->run_ns, 0);
  CHECK_EQ(coro_join(sp, -1, NULL), 0);
  CHECK_EQ(coro_loop_set_accounting(l, 0), 0);
  CHECK_EQ(coro_loop_dump(l, 0, &sum, NULL, NULL), 0);
  CHECK_EQ(sum.longest_run_ns, -1);
  return NULL;
}


/* The option turns it on from the start. */
static void accounting_opt(int mode) {
  coro_loop *l;
  coro_loop_opts lo = {.stack_mode = mode, .accounting = 1};
  CHECK_EQ(coro_loop_new(&l, &lo), 0);
  CHECK_EQ(coro_loop_accounting(l), 1);
  coro_dump_loop sum;
  CHECK_EQ(coro_loop_dump(l, 0, &sum, NULL, NULL), 0);
  CHECK_EQ(sum.longest_run_ns, 0);
  CHECK_EQ(coro_loop_close(l, -1), 0);
}

/* Turned on while coroutines live: every context's switch is accounted
 * from then on (coro_loop_set_accounting sets CORO__F_ACCOUNT in each).
 * The driver spins 5 ms and sleeps, which switches to the spinner: only
 * if the spinner carries the flag is the driver charged its 5 ms (else
 * the next accounted switch charges them to the spinner). The spinner
 * spins 5 ms and sleeps while the driver sleeps, which switches to main:
 * only if main carries the flag is the spinner charged its 5 ms (main's
 * own time is charged to nobody). Lower bounds only: a preemption makes
 * a run longer, never shorter. */
static volatile int g_go;

static void spin_ms(int ms) {
  int64_t end = coro_now() + ms * INT64_C(1000000);
  while (coro_now() < end) {
  }
}

static void *late_spinner(void *arg) {
  (void)arg;
  while (!g_go)
    CHECK_EQ(coro_yield(), 0);
  spin_ms(5);
  CHECK_EQ(coro_sleep(coro_now() + 1000000), 0);
  g_spin_done = 1;
  return NULL;
}

/* The switch's flag byte agrees with the loop: CORO__F_ACCOUNT in every
 * context exactly while accounting is on, CORO__F_AWAY in every SHARED
 * coroutine but the shared stack's owner. */
static void check_switch_flags(coro_loop *l) {
  int on = coro_loop_accounting(l);
  CHECK_EQ(!!(l->main.flags & CORO__F_ACCOUNT), on);
  CHECK_EQ(l->main.flags & CORO__F_AWAY, 0);
  for (coro *co = l->all; co != NULL; co = co->anext) {
    CHECK_EQ(!!(co->flags & CORO__F_ACCOUNT), on);
    int away = co->stack_mode == CORO_STACK_SHARED && l->shared_owner != co;
    CHECK_EQ(!!(co->flags & CORO__F_AWAY), away);
  }
}

static void *walk_driver(void *arg) {
  int mode = (int)(intptr_t)arg;
  coro_loop *l = coro_loop_current();
  coro_opts o = {.stack_mode = mode, .name = "late"};
  coro *sp;
  g_go = g_spin_done = 0;
  CHECK_EQ(coro_spawn(&sp, late_spinner, NULL, &o), 0);
  CHECK_EQ(coro_yield(), 0); /* the spinner runs, and waits for g_go */
  check_switch_flags(l);
  CHECK_EQ(coro_loop_set_accounting(l, 1), 0);
  check_switch_flags(l);
  g_go = 1;
  spin_ms(5);
  while (!g_spin_done)
    CHECK_EQ(coro_sleep(coro_now() + 2000000), 0);
  check_switch_flags(l);
  struct seen s = {0};
  CHECK_EQ(coro_loop_dump(l, 0, NULL, collect, &s), 0);
  CHECK_GE(find(&s, coro_id(coro_self()))->run_ns, 5000000);
  CHECK_GE(find(&s, coro_id(sp))->run_ns, 5000000);
  CHECK_EQ(coro_join(sp, -1, NULL), 0);
  CHECK_EQ(coro_loop_set_accounting(l, 0), 0);
  check_switch_flags(l);
  /* Off again: switches stay counted, and take the common path. */
  uint64_t before = find(&s, coro_id(coro_self()))->switches;
  CHECK_EQ(coro_sleep(coro_now() + 1000000), 0);
  memset(&s, 0, sizeof s);
  CHECK_EQ(coro_loop_dump(l, 0, NULL, collect, &s), 0);
  CHECK_GT(find(&s, coro_id(coro_self()))->switches, before);
  check_switch_flags(l);
  return NULL;
}

TEST(accounting_walk) {
  (void)unused_;
  return walk_driver((void *)(intptr_t)g_mode);
}

/* ---- errors ----------------------------------------------------------- */

static int stop_at_two(void *udata, const coro_dump_coro *d) {
  (void)d;
  return ++*(int *)udata == 2 ? 42 : 0;
}

static void *other_thread(void *arg) {
  coro_loop *l = arg;
  coro_dump_loop sum;
  return (void *)(intptr_t)coro_loop_dump(l, 0, &sum, NULL, NULL);
}

static void errors(int mode) {
  coro_dump_loop sum;
  char buf[64];
  CHECK_EQ(coro_loop_dump(NULL, 0, &sum, NULL, NULL), -EINVAL);
  CHECK_EQ(coro_cancel_by_id(1), -EPERM);
  coro_loop *l;
  coro_loop_opts lo = {.stack_mode = mode};
  CHECK_EQ(coro_loop_new(&l, &lo), 0);
  CHECK_EQ(coro_loop_dump(l, 0x80, &sum, NULL, NULL), -EINVAL);
  CHECK_EQ(coro_loop_dump_text(l, 0, NULL, 10), -EINVAL);
  CHECK_EQ(coro_loop_dump_text(l, 0, buf, 0), -EINVAL);
  CHECK_EQ(coro_loop_set_accounting(NULL, 1), -EINVAL);
  pthread_t t;
  void *res;
  CHECK_EQ(pthread_create(&t, NULL, other_thread, l), 0);
  CHECK_EQ(pthread_join(t, &res), 0);
  CHECK_EQ((intptr_t)res, -EPERM);
  /* An empty loop: only the counters. */
  CHECK_EQ(coro_loop_dump(l, 0, &sum, NULL, NULL), 0);
  CHECK_EQ(sum.coroutines, 0);
  coro *a, *b, *c;
  CHECK_EQ(coro_spawn(&a, noop, NULL, NULL), 0);
  CHECK_EQ(coro_spawn(&b, noop, NULL, NULL), 0);
  CHECK_EQ(coro_spawn(&c, noop, NULL, NULL), 0);
  int calls = 0;
  CHECK_EQ(coro_loop_dump(l, 0, NULL, stop_at_two, &calls), 42);
  CHECK_EQ(calls, 2);
  CHECK_EQ(coro_loop_dump(l, 0, &sum, NULL, NULL), 0);
  CHECK_EQ(sum.by_state[CORO_STATE_READY], 3);
  CHECK_EQ(sum.ready, 3);
  CHECK_EQ(strcmp(coro_state_name(CORO_STATE_SUSPENDED), "suspended"), 0);
  CHECK_EQ(strcmp(coro_state_name(99), "?"), 0);
  CHECK_EQ(strcmp(coro_wait_name(CORO_WAIT_CHAN_RECV), "chan-recv"), 0);
  CHECK_EQ(strcmp(coro_wait_name(-1), "?"), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_join(a, 0, NULL), 0);
  CHECK_EQ(coro_join(b, 0, NULL), 0);
  CHECK_EQ(coro_join(c, 0, NULL), 0);
  CHECK_EQ(coro_loop_close(l, -1), 0);
}

static const testing_case tests[] = {
    {"from_post", from_post, 0},
    {"from_coroutine", from_coroutine, 0},
    {"accounting", accounting, 0},
    {"accounting_opt", accounting_opt, 0},
    {"accounting_walk", accounting_walk, 0},
    {"errors", errors, 0},
};

static const testing_param modes[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

TESTING_MAIN(tests, modes)
