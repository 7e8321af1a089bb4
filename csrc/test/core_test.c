/* core_test.c - tests of coro.h's "Loops", "Coroutines", "Low-level" and
 * "From other threads" sections: the scheduler and the direct-transfer API.
 *
 * Every test runs twice, with its loop in CORO_STACK_GUARDED and in
 * CORO_STACK_SHARED (the parameter `mode`), each run in a fork()ed child
 * (see testing.h). Tests assert behaviour, never timings: deadlines only
 * bound how long something may take, with generous margins.
 *
 * Usage: core_test [-l] [substring...]   (see testing.h)
 * The overflow test runs the helper program overflow_test (built from
 * overflow_test.c): its path is $CORO_OVERFLOW_TEST, else the file
 * "overflow_test" next to this program's executable; it is run under the
 * words of $CORO_TEST_RUN as a command prefix when that is set (qemu,
 * valgrind: whatever this program runs under).
 *
 * SHARED-mode rule honoured throughout: no coroutine ever uses a pointer
 * into another coroutine's stack while that one is suspended, so state
 * shared between coroutines lives in static variables or on the heap.
 */
#include "coro.h"
#include "coro_internal.h" /* coro__fault_arm */
#include "testing.h"

#include <dirent.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

#define MS 1000000LL

static coro_loop *g_loop;      /* the loop of the test in progress */
static int g_mode;             /* its stack mode */
static pthread_t g_loop_thread;

static int64_t in_ms(int64_t ms) { return coro_now() + ms * MS; }

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static coro_loop *loop_make(int mode, size_t stack_size, size_t cache) {
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = mode;
  o.stack_size = stack_size;
  o.stack_cache = cache;
  o.name = "test";
  coro_loop *l = NULL;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  CHECK(l != NULL);
  CHECK_PTR_EQ(coro_loop_current(), l);
  g_loop = l;
  g_mode = mode;
  g_loop_thread = pthread_self();
  return l;
}

static coro_loop *loop_mode(int mode) { return loop_make(mode, 0, 0); }

static void loop_close_ok(coro_loop *l) {
  CHECK_EQ(coro_loop_close(l, in_ms(20000)), 0);
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  if (g_loop == l)
    g_loop = NULL;
}

static void run_empty(coro_loop *l) {
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
}

static coro *spawn_opts(coro_fn fn, void *arg, int mode, size_t size,
                        const char *name) {
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = mode;
  o.stack_size = size;
  o.name = name;
  coro *co = NULL;
  CHECK_EQ(coro_spawn(&co, fn, arg, &o), 0);
  CHECK(co != NULL);
  return co;
}

static coro *spawn_ok(coro_fn fn, void *arg) {
  return spawn_opts(fn, arg, CORO_STACK_DEFAULT, 0, NULL);
}

static void spawn_detached(coro_fn fn, void *arg) {
  CHECK_EQ(coro_spawn(NULL, fn, arg, NULL), 0);
}

static coro *create_opts(coro_fn fn, void *arg, int mode) {
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = mode;
  coro *co = NULL;
  CHECK_EQ(coro_create(&co, fn, arg, &o), 0);
  CHECK(co != NULL);
  return co;
}

static void *join_ok(coro *co) {
  void *r = (void *)(intptr_t)0x5eed;
  CHECK_EQ(coro_join(co, -1, &r), 0);
  return r;
}

/* Join from the loop stack, where only polling is allowed. */
static void *join_poll_ok(coro *co) {
  void *r = (void *)(intptr_t)0x5eed;
  CHECK_EQ(coro_join(co, 0, &r), 0);
  return r;
}

static coro_loop_stats stats_of(coro_loop *l) {
  coro_loop_stats s;
  memset(&s, 0xa5, sizeof s);
  CHECK_EQ(coro_loop_stats_get(l, &s), 0);
  return s;
}

static pthread_t thread_go(void *(*fn)(void *), void *arg) {
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, fn, arg), 0);
  return t;
}

static void thread_wait(pthread_t t) { CHECK_EQ(pthread_join(t, NULL), 0); }

static void *ret_arg(void *arg) { return arg; }

/* Sleeps without a deadline; returns what coro_sleep returned. */
static void *sleep_forever(void *arg) {
  (void)arg;
  return (void *)(intptr_t)coro_sleep(-1);
}

static void never_cb(void *arg) {
  (void)arg;
  FAILF("a callback that must never run ran");
}

/* Yields a few times (so every coroutine ready before it runs to its next
 * blocking point), then stops the loop. Spawned detached. */
static void *stopper(void *arg) {
  long n = (long)(intptr_t)arg;
  if (n <= 0)
    n = 3;
  for (long i = 0; i < n; i++)
    CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_loop_stop(coro_loop_current()), 0);
  return NULL;
}

/* Run body() inside a detached coroutine of a fresh loop of the given mode,
 * until the loop is empty; then close the loop. */
static void (*g_body)(void);
static int g_body_done;

static void *body_entry(void *arg) {
  (void)arg;
  g_body();
  g_body_done = 1;
  return NULL;
}

static void run_body(int mode, void (*body)(void)) {
  coro_loop *l = loop_mode(mode);
  g_body = body;
  g_body_done = 0;
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.name = "body";
  CHECK_EQ(coro_spawn(NULL, body_entry, NULL, &o), 0);
  run_empty(l);
  CHECK(g_body_done);
  loop_close_ok(l);
}

/* /proc/self/maps, read with read(2) into static storage (no malloc, so
 * reading it does not itself change the mappings). */
static char maps_chunk[65536];

/* Calls fn(lo, hi, line) for each mapping; stops when fn returns nonzero. */
static void maps_each(int (*fn)(uintptr_t lo, uintptr_t hi, const char *line,
                                void *ctx),
                      void *ctx) {
  static char line[4096];
  size_t len = 0;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  CHECK_GE(fd, 0);
  for (;;) {
    ssize_t n = read(fd, maps_chunk, sizeof maps_chunk);
    if (n < 0 && errno == EINTR)
      continue;
    CHECK_GE(n, 0);
    if (n == 0)
      break;
    for (ssize_t i = 0; i < n; i++) {
      char c = maps_chunk[i];
      if (c != '\n') {
        if (len < sizeof line - 1)
          line[len++] = c;
        continue;
      }
      line[len] = '\0';
      len = 0;
      unsigned long lo, hi;
      if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
          fn((uintptr_t)lo, (uintptr_t)hi, line, ctx)) {
        close(fd);
        return;
      }
    }
  }
  close(fd);
}

static int count_cb(uintptr_t lo, uintptr_t hi, const char *line, void *ctx) {
  (void)lo, (void)hi, (void)line;
  ++*(long *)ctx;
  return 0;
}

static long maps_count(void) {
  long n = 0;
  maps_each(count_cb, &n);
  return n;
}

struct find_ctx {
  uintptr_t addr, lo, hi;
  int found;
};

static int find_cb(uintptr_t lo, uintptr_t hi, const char *line, void *ctx) {
  (void)line;
  struct find_ctx *f = ctx;
  if (f->addr >= lo && f->addr < hi) {
    f->lo = lo;
    f->hi = hi;
    f->found = 1;
    return 1;
  }
  return 0;
}

/* The mapping [*lo, *hi) that contains addr. */
static void maps_find(const void *addr, uintptr_t *lo, uintptr_t *hi) {
  struct find_ctx f = {(uintptr_t)addr, 0, 0, 0};
  maps_each(find_cb, &f);
  if (!f.found)
    FAILF("no mapping contains %p", addr);
  *lo = f.lo;
  *hi = f.hi;
}

/* Resident set size in KiB, from /proc/self/statm. */
static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  CHECK(f != NULL);
  long size = 0, rss = 0;
  CHECK_EQ(fscanf(f, "%ld %ld", &size, &rss), 2);
  fclose(f);
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* All nonzero and pairwise distinct (sorts ids). */
static void check_ids_unique(uint64_t *ids, size_t n) {
  qsort(ids, n, sizeof ids[0], cmp_u64);
  for (size_t i = 0; i < n; i++) {
    CHECK_NE(ids[i], 0);
    if (i > 0 && ids[i] == ids[i - 1])
      FAILF("id %" PRIu64 " appears twice", ids[i]);
  }
}

/* Fork a child that runs fn(arg) with stdout and stderr captured. */
typedef struct child_result {
  int status;
  char out[8192];
  size_t out_len;
  char err[65536];
  size_t err_len;
} child_result;

static void run_child(void (*fn)(void *), void *arg, child_result *res) {
  int po[2], pe[2];
  CHECK_EQ(pipe2(po, O_CLOEXEC), 0);
  CHECK_EQ(pipe2(pe, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK_GE(pid, 0);
  if (pid == 0) {
    if (dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
      _exit(126);
    fn(arg);
    fflush(NULL);
    _exit(0);
  }
  close(po[1]);
  close(pe[1]);
  memset(res, 0, sizeof *res);
  struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    CHECK_GE(n, 0);
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || p[i].revents == 0)
        continue;
      char tmp[4096];
      ssize_t r = read(p[i].fd, tmp, sizeof tmp);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        close(p[i].fd);
        p[i].fd = -1;
        open_fds--;
        continue;
      }
      char *buf = i == 0 ? res->out : res->err;
      size_t *len = i == 0 ? &res->out_len : &res->err_len;
      size_t cap = (i == 0 ? sizeof res->out : sizeof res->err) - 1;
      size_t take = (size_t)r;
      if (take > cap - *len)
        take = cap - *len;
      memcpy(buf + *len, tmp, take);
      *len += take;
      buf[*len] = '\0';
    }
  }
  while (waitpid(pid, &res->status, 0) < 0)
    CHECK_EQ(errno, EINTR);
}

static void check_killed_by(const child_result *res, int sig) {
  if (!WIFSIGNALED(res->status) || WTERMSIG(res->status) != sig) {
    fprintf(stderr, "child stderr:\n%s\n", res->err);
    if (WIFSIGNALED(res->status))
      FAILF("child killed by signal %d, expected %d", WTERMSIG(res->status),
            sig);
    FAILF("child exited with status %d, expected death by signal %d",
          WEXITSTATUS(res->status), sig);
  }
}

/* ------------------------------------------------------------------ */
/* Loops                                                              */
/* ------------------------------------------------------------------ */

static void test_loop_new(int mode) {
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = mode;
  o.name = "main-loop";
  coro_loop *l = NULL, *l2 = NULL;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  CHECK(l != NULL);
  CHECK_PTR_EQ(coro_loop_current(), l);
  CHECK_STR_EQ(coro_loop_name(l), "main-loop");
  /* One loop per thread. */
  CHECK_EQ(coro_loop_new(&l2, &o), -EBUSY);
  CHECK_EQ(coro_loop_new(&l2, NULL), -EBUSY);
  CHECK_PTR_EQ(coro_loop_current(), l);
  /* Nothing to run: returns at once. */
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  coro_loop_stats st = stats_of(l);
  CHECK_U64_EQ(st.live, 0);
  CHECK_U64_EQ(st.spawned, 0);
  CHECK_U64_EQ(st.ready, 0);
  CHECK_U64_EQ(st.timers, 0);
  CHECK_U64_EQ(st.posts, 0);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  CHECK_PTR_EQ(coro_loop_current(), NULL);

  /* The thread may have a loop again; NULL opts give the defaults, and a
   * loop's default mode is GUARDED. */
  CHECK_EQ(coro_loop_new(&l, NULL), 0);
  CHECK_PTR_EQ(coro_loop_current(), l);
  const char *n = coro_loop_name(l);
  CHECK(n == NULL || n[0] == '\0');
  coro *co = NULL;
  CHECK_EQ(coro_spawn(&co, ret_arg, (void *)3, NULL), 0);
  CHECK_EQ(co->stack_mode, CORO_STACK_GUARDED);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 3);
  CHECK_EQ(coro_loop_close(l, -1), 0);

  /* CORO_STACK_DEFAULT for a loop means GUARDED too. */
  memset(&o, 0, sizeof o);
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  CHECK_EQ(coro_spawn(&co, ret_arg, (void *)4, NULL), 0);
  CHECK_EQ(co->stack_mode, CORO_STACK_GUARDED);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 4);
  CHECK_EQ(coro_loop_close(l, -1), 0);

  /* And a loop of the mode under test gives its coroutines that mode. */
  l = loop_mode(mode);
  CHECK_EQ(coro_spawn(&co, ret_arg, (void *)5, NULL), 0);
  CHECK_EQ(co->stack_mode, mode);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 5);
  loop_close_ok(l);
}

static void test_loop_new_bad_opts(int mode) {
  struct {
    int mode;
    size_t size;
  } bad[] = {
      {3, 0},
      {-1, 0},
      {99, 0},
      {mode, 1},
      {mode, CORO_STACK_SIZE_MIN - 1},
      {mode, (size_t)CORO_STACK_SIZE_MAX + 1},
      {mode, SIZE_MAX},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    coro_loop_opts o;
    memset(&o, 0, sizeof o);
    o.stack_mode = bad[i].mode;
    o.stack_size = bad[i].size;
    coro_loop *l = NULL;
    int rc = coro_loop_new(&l, &o);
    if (rc != -EINVAL)
      fprintf(stderr, "case %zu: mode %d size %zu\n", i, bad[i].mode,
              bad[i].size);
    CHECK_EQ(rc, -EINVAL);
    CHECK_PTR_EQ(coro_loop_current(), NULL);
  }
  /* Good sizes: 0 (the default), the limits, and one that needs rounding
   * up to whole pages. Coroutines run on each but the 1 GiB one. */
  size_t good[] = {0, CORO_STACK_SIZE_MIN, CORO_STACK_SIZE_MIN + 1,
                   CORO_STACK_SIZE_MAX};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    coro_loop *l = loop_make(mode, good[i], 0);
    if (good[i] != CORO_STACK_SIZE_MAX) {
      coro *co = spawn_ok(ret_arg, (void *)(intptr_t)(i + 1));
      run_empty(l);
      CHECK_EQ((intptr_t)join_poll_ok(co), (intptr_t)(i + 1));
    }
    loop_close_ok(l);
  }
  /* stack_cache: (size_t)-1 keeps none, any value is valid. */
  coro_loop *l = loop_make(mode, 0, (size_t)-1);
  coro *co = spawn_ok(ret_arg, NULL);
  run_empty(l);
  join_poll_ok(co);
  loop_close_ok(l);
}

/* Another thread: its own loop, and no access to ours. */
static coro_loop *lt_main_loop;
static uint64_t lt_ids[2];

static void *lt_thread(void *arg) {
  (void)arg;
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  /* Not this thread's loop. */
  CHECK_EQ(coro_loop_run(lt_main_loop, CORO_RUN_UNTIL_EMPTY), -EPERM);
  CHECK_EQ(coro_loop_run(lt_main_loop, CORO_RUN_UNTIL_STOPPED), -EPERM);
  CHECK_EQ(coro_loop_close(lt_main_loop, -1), -EPERM);
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = g_mode;
  coro_loop *l = NULL;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  CHECK(l != lt_main_loop);
  CHECK_PTR_EQ(coro_loop_current(), l);
  coro *co = spawn_ok(ret_arg, (void *)8);
  lt_ids[1] = coro_id(co);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ((intptr_t)join_poll_ok(co), 8);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  return NULL;
}

static void test_loop_per_thread(int mode) {
  coro_loop *l = loop_mode(mode);
  lt_main_loop = l;
  coro *co = spawn_ok(ret_arg, (void *)9);
  lt_ids[0] = coro_id(co);
  thread_wait(thread_go(lt_thread, NULL));
  CHECK_PTR_EQ(coro_loop_current(), l);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 9);
  /* Ids are unique per process, not per loop. */
  CHECK_NE(lt_ids[0], lt_ids[1]);
  loop_close_ok(l);
}

/* coro_loop_run and coro_loop_close from places they are not allowed. */
static int nr_post_ran;

static void nr_post(void *arg) {
  (void)arg;
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_EMPTY), -EPERM);
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_STOPPED), -EPERM);
  CHECK_EQ(coro_loop_close(g_loop, -1), -EPERM);
  nr_post_ran = 1;
}

static void nr_call(void *arg) {
  (void)arg;
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_EMPTY), -EPERM);
  CHECK_EQ(coro_loop_close(g_loop, -1), -EPERM);
}

static void *nr_closer_thread(void *arg) {
  (void)arg;
  CHECK_EQ(coro_loop_close(g_loop, -1), -EPERM);
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_EMPTY), -EPERM);
  return NULL;
}

static void body_nested_run(void) {
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_EMPTY), -EPERM);
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_STOPPED), -EPERM);
  CHECK_EQ(coro_loop_close(g_loop, -1), -EPERM);
  CHECK_EQ(coro_loop_close(g_loop, 0), -EPERM);
  CHECK_EQ(coro_loop_post(g_loop, nr_post, NULL), 0);
  CHECK_EQ(coro_yield(), 0); /* posts run during a yield */
  CHECK_EQ(nr_post_ran, 1);
  CHECK_EQ(coro_call_on_loop(nr_call, NULL), 0);
  /* From another thread, while this loop runs. */
  thread_wait(thread_go(nr_closer_thread, NULL));
}

static void test_loop_run_eperm(int mode) { run_body(mode, body_nested_run); }

/* CORO_RUN_UNTIL_EMPTY returns once everything has finished. */
static int ue_finished;

static void *ue_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  switch (i % 4) {
  case 0:
    break;
  case 1:
    for (int k = 0; k < 5; k++)
      CHECK_EQ(coro_yield(), 0);
    break;
  case 2:
    CHECK_EQ(coro_sleep(in_ms(1 + i % 5)), 0);
    break;
  case 3: {
    coro *c = spawn_ok(ret_arg, arg);
    CHECK_EQ((intptr_t)join_ok(c), i);
    break;
  }
  }
  ue_finished++;
  return NULL;
}

static void test_run_until_empty(int mode) {
  coro_loop *l = loop_mode(mode);
  for (int i = 0; i < 20; i++)
    spawn_detached(ue_worker, (void *)(intptr_t)i);
  run_empty(l);
  CHECK_EQ(ue_finished, 20);
  coro_loop_stats st = stats_of(l);
  CHECK_U64_EQ(st.live, 0);
  CHECK_U64_EQ(st.ready, 0);
  CHECK_U64_EQ(st.timers, 0);
  CHECK_U64_EQ(st.spawned, 25); /* 20 + the 5 that case 3 spawned */
  /* Again: nothing to do. */
  run_empty(l);
  loop_close_ok(l);
}

/* UNTIL_EMPTY with a coroutine that nothing can ever wake: -EDEADLK. */
static void test_run_deadlock(int mode) {
  coro_loop *l = loop_mode(mode);
  coro *x = spawn_ok(sleep_forever, NULL);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), -EDEADLK);
  CHECK_EQ(coro_done(x), 0);
  CHECK_EQ(coro_cancel(x), 0);
  run_empty(l);
  CHECK_EQ(coro_done(x), 1);
  CHECK_EQ((intptr_t)join_poll_ok(x), -ECANCELED);
  loop_close_ok(l);
}

/* coro_loop_stop from a coroutine and from other threads. */
static int ls_flag;
static long ls_spins;

static void *ls_spinner(void *arg) {
  (void)arg;
  while (!ls_flag) {
    ls_spins++;
    CHECK_EQ(coro_yield(), 0);
  }
  return NULL;
}

static atomic_int ls_in_run;

static void ls_mark(void *arg) {
  (void)arg;
  atomic_store(&ls_in_run, 1);
}

/* Stops the loop once it is surely inside coro_loop_run (a post has run),
 * after a nap that lets an idle loop go to sleep: a stop that arrived
 * before the run would prove nothing. */
static void *ls_stop_thread(void *arg) {
  atomic_store(&ls_in_run, 0);
  CHECK_EQ(coro_loop_post(g_loop, ls_mark, NULL), 0);
  while (!atomic_load(&ls_in_run))
    nap_ms(1);
  nap_ms((long)(intptr_t)arg);
  CHECK_EQ(coro_loop_stop(g_loop), 0);
  return NULL;
}

static void test_loop_stop(int mode) {
  coro_loop *l = loop_mode(mode);
  /* From a coroutine, with another coroutine still busy. */
  coro *spin = spawn_ok(ls_spinner, NULL);
  CHECK_EQ(coro_spawn(NULL, stopper, (void *)5, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_GT(ls_spins, 0);
  CHECK_EQ(coro_done(spin), 0);
  /* From another thread while the loop is busy with that coroutine. */
  pthread_t t = thread_go(ls_stop_thread, (void *)20);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(t);
  CHECK_EQ(coro_done(spin), 0);
  ls_flag = 1;
  run_empty(l);
  join_poll_ok(spin);
  /* From another thread while the loop sleeps: with a coroutine asleep
   * without a deadline, and with no coroutine at all. */
  coro *s = spawn_ok(sleep_forever, NULL);
  t = thread_go(ls_stop_thread, (void *)30);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(t);
  CHECK_EQ(coro_done(s), 0);
  CHECK_EQ(coro_cancel(s), 0); /* from the loop stack */
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(s), -ECANCELED);
  t = thread_go(ls_stop_thread, (void *)30);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(t);
  loop_close_ok(l);
}

/* coro_loop_post from the loop thread: the callback runs on the loop stack,
 * between coroutines, and may only use non-blocking calls. */
static int pc_calls;
static coro *pc_child;
static coro *pc_sleeper;

static void pc_cb(void *arg) {
  CHECK_PTR_EQ(arg, &pc_calls);
  CHECK(pthread_equal(pthread_self(), g_loop_thread));
  CHECK_PTR_EQ(coro_self(), NULL);
  CHECK_EQ(coro_in_loop_call(), 0);
  CHECK_EQ(coro_yield(), -EPERM);
  CHECK_EQ(coro_sleep(-1), -EPERM);
  CHECK_EQ(coro_sleep(in_ms(10)), -EPERM);
  CHECK_EQ(coro_cancelled(), -EPERM);
  CHECK_EQ(coro_call_on_loop(never_cb, NULL), -EPERM);
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_EMPTY), -EPERM);
  void *r;
  CHECK_EQ(coro_join(pc_sleeper, -1, &r), -EPERM);
  CHECK_EQ(coro_join(pc_sleeper, in_ms(10), &r), -EPERM);
  CHECK_EQ(coro_join(pc_sleeper, 0, &r), -ETIMEDOUT); /* polling is fine */
  CHECK_EQ(coro_spawn(&pc_child, ret_arg, (void *)11, NULL), 0);
  pc_calls++;
}

static void body_post_same_thread(void) {
  pc_sleeper = spawn_ok(sleep_forever, NULL);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_loop_post(coro_loop_current(), pc_cb, &pc_calls), 0);
  CHECK_EQ(pc_calls, 0); /* not before this coroutine switches */
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(pc_calls, 1);
  CHECK_EQ((intptr_t)join_ok(pc_child), 11);
  CHECK_GE(stats_of(g_loop).posts, 1);
  CHECK_EQ(coro_cancel(pc_sleeper), 0);
  CHECK_EQ((intptr_t)join_ok(pc_sleeper), -ECANCELED);
}

static void test_post_same_thread(int mode) {
  run_body(mode, body_post_same_thread);
}

/* coro_loop_post from other threads: thread-safe, wakes the sleeping loop. */
#define PX_THREADS 4
#define PX_EACH 500
static int px_count; /* only touched on the loop thread */

static void px_cb(void *arg) {
  CHECK_PTR_EQ(arg, &px_count);
  CHECK(pthread_equal(pthread_self(), g_loop_thread));
  CHECK_PTR_EQ(coro_self(), NULL);
  if (++px_count == PX_THREADS * PX_EACH)
    CHECK_EQ(coro_loop_stop(g_loop), 0);
}

static void *px_thread(void *arg) {
  (void)arg;
  nap_ms(20); /* let the loop go to sleep first */
  for (int i = 0; i < PX_EACH; i++)
    CHECK_EQ(coro_loop_post(g_loop, px_cb, &px_count), 0);
  return NULL;
}

static void test_post_cross_thread(int mode) {
  coro_loop *l = loop_mode(mode);
  pthread_t t[PX_THREADS];
  for (int i = 0; i < PX_THREADS; i++)
    t[i] = thread_go(px_thread, NULL);
  /* No coroutine at all: the loop sleeps until the posts wake it. */
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  for (int i = 0; i < PX_THREADS; i++)
    thread_wait(t[i]);
  CHECK_EQ(px_count, PX_THREADS * PX_EACH);
  CHECK_U64_EQ(stats_of(l).posts, PX_THREADS * PX_EACH);
  loop_close_ok(l);
}

/* A loop kept busy by yielding coroutines still handles posts. */
static int py_flag;

static void py_cb(void *arg) {
  (void)arg;
  py_flag = 1;
}

static void *py_thread(void *arg) {
  (void)arg;
  nap_ms(20);
  CHECK_EQ(coro_loop_post(g_loop, py_cb, NULL), 0);
  return NULL;
}

static void *py_yielder(void *arg) {
  (void)arg;
  while (!py_flag)
    CHECK_EQ(coro_yield(), 0);
  return NULL;
}

static void test_post_while_busy(int mode) {
  coro_loop *l = loop_mode(mode);
  spawn_detached(py_yielder, NULL);
  spawn_detached(py_yielder, NULL);
  pthread_t t = thread_go(py_thread, NULL);
  run_empty(l);
  thread_wait(t);
  CHECK_EQ(py_flag, 1);
  loop_close_ok(l);
}

/* Liveness beats (sched.c "Liveness"). A report of finished remote
 * coroutines yields main's CPU, while other coroutines are ready, only if
 * no waiter beat is left for it: each report uses one up, and at most one
 * more is kept for the next report. Main's own beat moves across every
 * round trip, which a polling waiter reads. Here the remote coroutine
 * itself plays the waiter's part and beats (or not) when it runs, which
 * is after the last report and before its own, so that the count of
 * yields is exact for each pattern of beats per round (bt_beats). Two
 * yielders keep coroutines ready at every report. */
#define BT_ROUNDS 50
static atomic_int bt_stop;
static int bt_loop_still; /* round trips across which main's beat stood still */

static void *bt_yielder(void *arg) {
  (void)arg;
  while (!atomic_load(&bt_stop))
    CHECK_EQ(coro_yield(), 0);
  return NULL;
}

static void *bt_remote(void *arg) {
  for (intptr_t n = (intptr_t)arg; n > 0; n--)
    atomic_fetch_add(coro__loop_waiter_beat(g_loop), 1);
  return (void *)7;
}

/* The beats of round i in each pattern: none; one a round; two in the
 * even rounds and none in the odd ones (a waiter that spawned its next
 * coroutine, and beat, before main reported the last one: the odd
 * rounds use the beat kept); five in the first round only (one is kept). */
enum { BT_NONE, BT_EACH, BT_PAIRS, BT_BURST };
static intptr_t bt_beats(int pattern, int i) {
  switch (pattern) {
  case BT_EACH:
    return 1;
  case BT_PAIRS:
    return i % 2 == 0 ? 2 : 0;
  case BT_BURST:
    return i == 0 ? 5 : 0;
  default:
    return 0;
  }
}

static void *bt_thread(void *arg) {
  const atomic_uint *beat = coro__loop_beat(g_loop);
  int pattern = (int)(intptr_t)arg;
  for (int i = 0; i < BT_ROUNDS; i++) {
    unsigned b = atomic_load(beat);
    coro_remote *r = NULL;
    CHECK_EQ(coro_remote_spawn(g_loop, bt_remote,
                               (void *)bt_beats(pattern, i), NULL, NULL,
                               NULL, &r),
             0);
    void *res = NULL;
    CHECK_EQ(coro_remote_wait(r, -1, &res), 0);
    CHECK_EQ((intptr_t)res, 7);
    coro_remote_release(r);
    if (atomic_load(beat) == b)
      bt_loop_still++;
  }
  atomic_store(&bt_stop, 1);
  return NULL;
}

static void beat_rounds(int mode, int pattern, uint64_t yields) {
  coro_loop *l = loop_mode(mode);
  atomic_store(&bt_stop, 0);
  bt_loop_still = 0;
  spawn_detached(bt_yielder, NULL);
  spawn_detached(bt_yielder, NULL);
  pthread_t t = thread_go(bt_thread, (void *)(intptr_t)pattern);
  run_empty(l);
  thread_wait(t);
  CHECK_EQ(bt_loop_still, 0);
  CHECK_U64_EQ(l->n_report_yields, yields);
  loop_close_ok(l);
}

static void test_remote_beats(int mode) {
  beat_rounds(mode, BT_EACH, 0);
  beat_rounds(mode, BT_NONE, BT_ROUNDS);
  beat_rounds(mode, BT_PAIRS, 0);
  /* Round 0 uses one beat and keeps one, round 1 uses that. */
  beat_rounds(mode, BT_BURST, BT_ROUNDS - 2);
}

/* Lost wake-ups. A poster that posts the moment its previous post has
 * run races main on its way to sleep (spin_off: main goes from its turn
 * straight to the kernel, so every round crosses that window). If main
 * did not look at the list again after announcing its sleep (sched.c,
 * idle), or a poster skipped the wake, some post would land in the
 * window, nobody would write wake_fd, main would sleep for good and the
 * test would time out. With several posters: at most one wake_fd write
 * per announced sleep (the posters swap `sleeping` to 0). */
#define PW_MAX 3
static atomic_int pw_ran[PW_MAX];
static int pw_rounds;

static void pw_cb(void *arg) { atomic_fetch_add(&pw_ran[(intptr_t)arg], 1); }

static void *pw_poster(void *arg) {
  intptr_t i = (intptr_t)arg;
  for (int r = 0; r < pw_rounds; r++) {
    CHECK_EQ(coro_loop_post(g_loop, pw_cb, arg), 0);
    for (unsigned k = 1; atomic_load(&pw_ran[i]) <= r; k++)
      if (k % 64 == 0)
        sched_yield(); /* a single CPU, or valgrind's one thread at a time */
  }
  return NULL;
}

static void *pw_stopper(void *arg) {
  pthread_t *t = arg;
  for (int i = 0; t[i]; i++)
    thread_wait(t[i]);
  CHECK_EQ(coro_loop_stop(g_loop), 0);
  return NULL;
}

static void post_wake_rounds(int mode, int posters) {
  coro_loop *l = loop_mode(mode);
  l->spin_off = 1;
  pw_rounds = testing_under_valgrind() ? 500 : 10000;
  pthread_t t[PW_MAX + 1] = {0};
  for (intptr_t i = 0; i < posters; i++)
    t[i] = thread_go(pw_poster, (void *)i);
  pthread_t stopper = thread_go(pw_stopper, t);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(stopper);
  for (int i = 0; i < posters; i++)
    CHECK_EQ(atomic_load(&pw_ran[i]), pw_rounds);
  CHECK_U64_EQ(stats_of(l).posts, (uint64_t)posters * pw_rounds);
  uint64_t wakes = atomic_load(&l->n_wakes);
  CHECK_LE(wakes, l->n_sleeps);
  printf("%d poster(s), %d rounds: %llu sleeps announced, %llu wake-ups\n",
         posters, pw_rounds, (unsigned long long)l->n_sleeps,
         (unsigned long long)wakes);
  loop_close_ok(l);
}

/* A lone poster never hit the window in 20,000 rounds here (it learns
 * of its post's run later than main reaches its sleep); three did in 4
 * of 6 runs of 5,000 rounds when main's second look was removed. */
static void test_post_wake_race(int mode) { post_wake_rounds(mode, PW_MAX); }

/* Stats: counters that follow what the loop does. */
static coro *st_sleeper;

static void *st_deep_sleeper(void *arg) {
  (void)arg;
  volatile char frame[2048];
  memset((char *)frame, 7, sizeof frame);
  int rc = coro_sleep(in_ms(60000));
  CHECK_EQ(frame[100], 7);
  return (void *)(intptr_t)rc;
}

static void *st_stats_reader(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    coro_loop_stats s;
    CHECK_EQ(coro_loop_stats_get(g_loop, &s), 0);
    CHECK_LE(s.ready, s.live);
  }
  return NULL;
}

static void body_stats(void) {
  coro_loop_stats s0 = stats_of(g_loop);
  CHECK_U64_EQ(s0.live, 1); /* this body */
  CHECK_U64_EQ(s0.spawned, 1);
  CHECK_U64_EQ(s0.ready, 0);
  CHECK_U64_EQ(s0.timers, 0);
  CHECK_GT(s0.switches, 0);
  st_sleeper = spawn_ok(st_deep_sleeper, NULL);
  coro *other = spawn_ok(st_deep_sleeper, NULL);
  coro_loop_stats s1 = stats_of(g_loop);
  CHECK_U64_EQ(s1.live, 3);
  CHECK_U64_EQ(s1.spawned, 3);
  CHECK_U64_EQ(s1.ready, 2);
  CHECK_EQ(coro_yield(), 0);
  coro_loop_stats s2 = stats_of(g_loop);
  CHECK_U64_EQ(s2.ready, 0);
  CHECK_U64_EQ(s2.timers, 2);
  CHECK_GE(s2.switches, s1.switches + 2);
  if (g_mode == CORO_STACK_SHARED) {
    /* This body is resident; the two sleepers' frames are saved copies. */
    CHECK_GE(s2.stack_bytes_saved, 2 * 2048);
  } else {
    CHECK_GE(s2.stacks_mapped, 3);
  }
  /* Stats are thread-safe to read. */
  thread_wait(thread_go(st_stats_reader, NULL));
  CHECK_EQ(coro_cancel(st_sleeper), 0);
  CHECK_EQ(coro_cancel(other), 0);
  CHECK_EQ((intptr_t)join_ok(st_sleeper), -ECANCELED);
  CHECK_EQ((intptr_t)join_ok(other), -ECANCELED);
  coro_loop_stats s3 = stats_of(g_loop);
  CHECK_U64_EQ(s3.live, 1);
  CHECK_U64_EQ(s3.timers, 0);
  CHECK_U64_EQ(s3.spawned, 3);
  /* A created coroutine counts as live and spawned, but is never ready. */
  coro *g = create_opts(ret_arg, NULL, CORO_STACK_DEFAULT);
  coro_loop_stats s4 = stats_of(g_loop);
  CHECK_U64_EQ(s4.live, 2);
  CHECK_U64_EQ(s4.spawned, 4);
  CHECK_U64_EQ(s4.ready, 0);
  CHECK_EQ(coro_free(g), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, 1);
}

static void test_stats(int mode) { run_body(mode, body_stats); }

/* The GUARDED stack cache: bounded, LIFO, and off with (size_t)-1. Run with
 * explicitly GUARDED coroutines in either loop mode. */
static void cache_round(size_t cache, int spawn_n, uint64_t want_cached) {
  coro_loop *l = loop_make(g_mode, 0, cache);
  coro **cos = calloc((size_t)spawn_n, sizeof *cos);
  CHECK(cos != NULL);
  for (int i = 0; i < spawn_n; i++)
    cos[i] = spawn_opts(ret_arg, NULL, CORO_STACK_GUARDED, 0, NULL);
  CHECK_U64_EQ(stats_of(l).stacks_mapped, (uint64_t)spawn_n);
  run_empty(l);
  for (int i = 0; i < spawn_n; i++)
    join_poll_ok(cos[i]);
  coro_loop_stats s = stats_of(l);
  CHECK_U64_EQ(s.stacks_cached, want_cached);
  CHECK_U64_EQ(s.stacks_mapped, want_cached);
  CHECK_U64_EQ(s.live, 0);
  free(cos);
  loop_close_ok(l);
}

static void test_stack_cache(int mode) {
  g_mode = mode;
  cache_round(2, 5, 2);
  cache_round((size_t)-1, 5, 0);
  cache_round(0, CORO_STACK_CACHE_DEFAULT + 6, CORO_STACK_CACHE_DEFAULT);
  /* LIFO: the stack (and so the record on it) last given back is the
   * first reused. */
  coro_loop *l = loop_mode(mode);
  coro *a = spawn_opts(ret_arg, NULL, CORO_STACK_GUARDED, 0, NULL);
  coro *b = spawn_opts(ret_arg, NULL, CORO_STACK_GUARDED, 0, NULL);
  run_empty(l);
  join_poll_ok(a);
  join_poll_ok(b);
  coro *c = spawn_opts(ret_arg, NULL, CORO_STACK_GUARDED, 0, NULL);
  CHECK_PTR_EQ(c, b);
  CHECK_U64_EQ(stats_of(l).stacks_cached, 1);
  run_empty(l);
  join_poll_ok(c);
  loop_close_ok(l);
}

/* ------------------------------------------------------------------ */
/* Coroutines                                                         */
/* ------------------------------------------------------------------ */

typedef int (*make_fn)(coro **out, coro_fn fn, void *arg, const coro_opts *o);

static void check_make_bad_input(make_fn mk) {
  coro_loop_stats s0 = stats_of(g_loop);
  coro *co = NULL;
  coro_opts o;
  CHECK_EQ(mk(&co, NULL, NULL, NULL), -EINVAL);
  memset(&o, 0, sizeof o);
  CHECK_EQ(mk(&co, NULL, NULL, &o), -EINVAL);
  int bad_modes[] = {3, -1, 99};
  for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
    memset(&o, 0, sizeof o);
    o.stack_mode = bad_modes[i];
    CHECK_EQ(mk(&co, ret_arg, NULL, &o), -EINVAL);
  }
  size_t bad_sizes[] = {1, CORO_STACK_SIZE_MIN - 1,
                        (size_t)CORO_STACK_SIZE_MAX + 1, SIZE_MAX};
  int modes[] = {CORO_STACK_DEFAULT, CORO_STACK_GUARDED, CORO_STACK_SHARED};
  for (size_t m = 0; m < 3; m++) {
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
      memset(&o, 0, sizeof o);
      o.stack_mode = modes[m];
      o.stack_size = bad_sizes[i];
      int rc = mk(&co, ret_arg, NULL, &o);
      if (rc != -EINVAL)
        fprintf(stderr, "stack_mode %d stack_size %zu\n", modes[m],
                bad_sizes[i]);
      CHECK_EQ(rc, -EINVAL);
    }
  }
  /* Nothing was created. */
  coro_loop_stats s1 = stats_of(g_loop);
  CHECK_U64_EQ(s1.live, s0.live);
  CHECK_U64_EQ(s1.spawned, s0.spawned);
  CHECK_U64_EQ(s1.stacks_mapped, s0.stacks_mapped);
}

static void body_spawn_bad_input(void) {
  check_make_bad_input(coro_spawn);
  check_make_bad_input(coro_create);
  /* Good options: every mode, size 0 (the default), the minimum, and one
   * that needs rounding up. */
  struct {
    int mode;
    size_t size;
  } good[] = {
      {CORO_STACK_DEFAULT, 0},
      {CORO_STACK_GUARDED, 0},
      {CORO_STACK_SHARED, 0},
      {CORO_STACK_GUARDED, CORO_STACK_SIZE_MIN},
      {CORO_STACK_GUARDED, CORO_STACK_SIZE_MIN + 1},
      {CORO_STACK_GUARDED, 4 * CORO_STACK_SIZE_DEFAULT},
      {CORO_STACK_DEFAULT, CORO_STACK_SIZE_MIN},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    coro *co = spawn_opts(ret_arg, (void *)(intptr_t)(i + 100), good[i].mode,
                          good[i].size, NULL);
    int want = good[i].mode == CORO_STACK_DEFAULT ? g_mode : good[i].mode;
    CHECK_EQ(co->stack_mode, want);
    CHECK_EQ((intptr_t)join_ok(co), (intptr_t)(i + 100));
    coro_opts o;
    memset(&o, 0, sizeof o);
    o.stack_mode = good[i].mode;
    o.stack_size = good[i].size;
    CHECK_EQ(coro_create(&co, ret_arg, NULL, &o), 0);
    CHECK_EQ(co->stack_mode, want);
    CHECK_EQ(coro_free(co), 0);
  }
  /* NULL opts, and NULL out (detached). */
  coro *co = NULL;
  CHECK_EQ(coro_spawn(&co, ret_arg, (void *)5, NULL), 0);
  CHECK_EQ((intptr_t)join_ok(co), 5);
  uint64_t live = stats_of(g_loop).live;
  CHECK_EQ(coro_spawn(NULL, ret_arg, NULL, NULL), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live + 1);
  CHECK_EQ(coro_yield(), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
}

static void test_spawn_bad_input(int mode) {
  run_body(mode, body_spawn_bad_input);
}

/* No loop on the thread: -EPERM everywhere a loop is needed. */
static coro *nl_gen;

static void check_no_loop_calls(void) {
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  coro *co = NULL;
  CHECK_EQ(coro_spawn(&co, ret_arg, NULL, NULL), -EPERM);
  CHECK_EQ(coro_spawn(NULL, ret_arg, NULL, NULL), -EPERM);
  CHECK_EQ(coro_create(&co, ret_arg, NULL, NULL), -EPERM);
  CHECK_EQ(coro_yield(), -EPERM);
  CHECK_EQ(coro_sleep(0), -EPERM);
  CHECK_EQ(coro_sleep(-1), -EPERM);
  CHECK_EQ(coro_sleep(in_ms(1)), -EPERM);
  CHECK_PTR_EQ(coro_self(), NULL);
  CHECK_PTR_EQ(coro_caller(), NULL);
  CHECK_EQ(coro_cancelled(), -EPERM);
  CHECK_EQ(coro_call_on_loop(never_cb, NULL), -EPERM);
  CHECK_EQ(coro_in_loop_call(), 0);
  coro_key k;
  CHECK_EQ(coro_key_create(&k, NULL), 0); /* keys are process-wide */
  CHECK_EQ(coro_local_set(k, &k), -EPERM);
  CHECK_PTR_EQ(coro_local_get(k), NULL);
  CHECK_GT(coro_now(), 0);
}

static void *nl_thread(void *arg) {
  (void)arg;
  check_no_loop_calls();
  /* A created coroutine of another thread's loop. */
  CHECK_EQ(coro_transfer(nl_gen, NULL, NULL), -EPERM);
  return NULL;
}

static void test_no_loop(int mode) {
  check_no_loop_calls();
  coro_loop *l = loop_mode(mode);
  nl_gen = create_opts(ret_arg, NULL, CORO_STACK_DEFAULT);
  thread_wait(thread_go(nl_thread, NULL));
  CHECK_EQ(coro_done(nl_gen), 0);
  CHECK_EQ(coro_free(nl_gen), 0);
  /* On the loop stack, the coroutine-only calls still fail. */
  CHECK_EQ(coro_yield(), -EPERM);
  CHECK_EQ(coro_sleep(0), -EPERM);
  CHECK_EQ(coro_sleep(-1), -EPERM);
  CHECK_EQ(coro_cancelled(), -EPERM);
  CHECK_EQ(coro_call_on_loop(never_cb, NULL), -EPERM);
  CHECK_PTR_EQ(coro_self(), NULL);
  loop_close_ok(l);
}

/* A spawned coroutine first runs when its spawner next switches. */
static int dr_ran;

static void *dr_mark(void *arg) {
  dr_ran++;
  return arg;
}

static void body_deferred(void) {
  coro *co = spawn_ok(dr_mark, (void *)1);
  CHECK_EQ(dr_ran, 0);
  CHECK_EQ(coro_done(co), 0);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(dr_ran, 1);
  CHECK_EQ(coro_done(co), 1);
  CHECK_EQ((intptr_t)join_ok(co), 1);
}

static void test_spawn_deferred(int mode) {
  coro_loop *l = loop_mode(mode);
  /* Spawned from the loop stack: runs only once the loop runs. */
  coro *co = spawn_ok(dr_mark, (void *)2);
  CHECK_EQ(dr_ran, 0);
  run_empty(l);
  CHECK_EQ(dr_ran, 1);
  CHECK_EQ((intptr_t)join_poll_ok(co), 2);
  dr_ran = 0;
  loop_close_ok(l);
  run_body(mode, body_deferred);
}

/* Yield is round-robin. */
#define RR_N 5
#define RR_K 20
static int rr_log[RR_N * RR_K];
static int rr_pos;

static void *rr_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  for (int k = 0; k < RR_K; k++) {
    rr_log[rr_pos++] = i;
    CHECK_EQ(coro_yield(), 0);
  }
  return NULL;
}

static void body_round_robin(void) {
  coro *co[RR_N];
  for (int i = 0; i < RR_N; i++)
    co[i] = spawn_ok(rr_worker, (void *)(intptr_t)i);
  for (int i = 0; i < RR_N; i++)
    join_ok(co[i]);
  CHECK_EQ(rr_pos, RR_N * RR_K);
  for (int j = 0; j < RR_N * RR_K; j++) {
    if (rr_log[j] != j % RR_N) {
      for (int q = 0; q < RR_N * RR_K; q++)
        fprintf(stderr, "%d%c", rr_log[q], q % RR_N == RR_N - 1 ? '\n' : ' ');
      FAILF("position %d ran coroutine %d, expected %d", j, rr_log[j], j % RR_N);
    }
  }
}

static void test_yield_round_robin(int mode) {
  run_body(mode, body_round_robin);
}

/* Yielders do not starve a sleeper whose deadline has passed. */
static int ns_woke;
static long ns_spins;

static void *ns_yielder(void *arg) {
  (void)arg;
  while (!ns_woke) {
    CHECK_EQ(coro_yield(), 0);
    ns_spins++;
  }
  return NULL;
}

static void *ns_sleeper(void *arg) {
  (void)arg;
  int64_t d = in_ms(20);
  CHECK_EQ(coro_sleep(d), 0);
  CHECK_GE(coro_now(), d);
  ns_woke = 1;
  return NULL;
}

static void test_yield_no_starve(int mode) {
  coro_loop *l = loop_mode(mode);
  spawn_detached(ns_yielder, NULL);
  spawn_detached(ns_sleeper, NULL);
  spawn_detached(ns_yielder, NULL);
  run_empty(l);
  CHECK_EQ(ns_woke, 1);
  CHECK_GT(ns_spins, 0);
  loop_close_ok(l);
}

/* A yield lets the loop's own work run: a sleeper whose deadline has
 * passed wakes during a single yield, even with nobody else ready. */
static int yt_woke;
static int64_t yt_deadline;

static void *yt_sleeper(void *arg) {
  (void)arg;
  CHECK_EQ(coro_sleep(yt_deadline), 0);
  yt_woke = 1;
  return NULL;
}

static void body_yield_timers(void) {
  for (int round = 0; round < 3; round++) {
    yt_woke = 0;
    yt_deadline = in_ms(5);
    coro *a = spawn_ok(yt_sleeper, NULL);
    CHECK_EQ(coro_yield(), 0); /* a runs and sleeps */
    CHECK_EQ(yt_woke, 0);
    while (coro_now() <= yt_deadline) {
      /* spin without switching until the deadline has passed */
    }
    CHECK_EQ(yt_woke, 0);
    CHECK_EQ(coro_yield(), 0);
    CHECK_EQ(yt_woke, 1);
    join_ok(a);
  }
}

static void test_yield_runs_timers(int mode) {
  run_body(mode, body_yield_timers);
}

/* Sleep and deadlines. */
static int sl_order[6];
static int sl_pos;
static int64_t sl_base;

static void *sl_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  int64_t d = sl_base + (int64_t)(5 - i) * 3 * MS;
  CHECK_EQ(coro_sleep(d), 0);
  CHECK_GE(coro_now(), d);
  sl_order[sl_pos++] = i;
  return NULL;
}

static void body_sleep(void) {
  CHECK_EQ(coro_sleep(0), 0); /* try once: already due */
  CHECK_EQ(coro_sleep(coro_now() - MS), 0);
  CHECK_EQ(coro_sleep(1), 0);
  int64_t d = in_ms(20);
  CHECK_EQ(coro_sleep(d), 0);
  CHECK_GE(coro_now(), d); /* never early */
  /* Sleepers wake in deadline order, whatever their spawn order. */
  sl_base = in_ms(10);
  coro *co[6];
  for (int i = 0; i < 6; i++)
    co[i] = spawn_ok(sl_worker, (void *)(intptr_t)i);
  for (int i = 0; i < 6; i++)
    join_ok(co[i]);
  for (int i = 0; i < 6; i++)
    CHECK_EQ(sl_order[i], 5 - i);
  /* coro_now is CLOCK_MONOTONIC. */
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int64_t n = coro_now();
  clock_gettime(CLOCK_MONOTONIC, &b);
  CHECK_LE((int64_t)a.tv_sec * 1000000000LL + a.tv_nsec, n);
  CHECK_LE(n, (int64_t)b.tv_sec * 1000000000LL + b.tv_nsec);
}

static void test_sleep(int mode) {
  run_body(mode, body_sleep);
  coro_loop *l = loop_mode(mode);
  CHECK_EQ(coro_sleep(0), -EPERM); /* the loop stack is no coroutine */
  CHECK_EQ(coro_sleep(in_ms(1)), -EPERM);
  CHECK_EQ(coro_yield(), -EPERM);
  loop_close_ok(l);
}

/* Join. */
static void body_join(void) {
  void *r = NULL;
  coro *x = spawn_ok(ret_arg, (void *)0x1234);
  CHECK_EQ(coro_join(x, -1, &r), 0);
  CHECK_PTR_EQ(r, (void *)0x1234);
  x = spawn_ok(ret_arg, (void *)1);
  CHECK_EQ(coro_join(x, -1, NULL), 0); /* result may be NULL */
  /* Deadlines: poll, then a timed wait, on a coroutine that sleeps. */
  x = spawn_ok(sleep_forever, NULL);
  CHECK_EQ(coro_join(x, 0, &r), -ETIMEDOUT); /* not even started */
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_join(x, 0, &r), -ETIMEDOUT);
  int64_t d = in_ms(10);
  CHECK_EQ(coro_join(x, d, &r), -ETIMEDOUT);
  CHECK_GE(coro_now(), d);
  CHECK_EQ(coro_done(x), 0);
  CHECK_EQ(coro_cancel(x), 0);
  r = NULL;
  CHECK_EQ(coro_join(x, in_ms(20000), &r), 0);
  CHECK_EQ((intptr_t)r, -ECANCELED);
  /* A finished coroutine is joined by a poll. */
  x = spawn_ok(ret_arg, (void *)5);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_done(x), 1);
  CHECK_EQ(coro_join(x, 0, &r), 0);
  CHECK_EQ((intptr_t)r, 5);
  /* Joining wakes up when the target finishes later. */
  x = spawn_ok(st_deep_sleeper, NULL);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_cancel(x), 0);
  CHECK_EQ((intptr_t)join_ok(x), -ECANCELED);
}

static void test_join(int mode) {
  run_body(mode, body_join);
  /* From the loop stack: polling only. */
  coro_loop *l = loop_mode(mode);
  coro *y = spawn_ok(ret_arg, (void *)9);
  void *r;
  CHECK_EQ(coro_join(y, -1, &r), -EPERM);
  CHECK_EQ(coro_join(y, in_ms(10), &r), -EPERM);
  CHECK_EQ(coro_join(y, 0, &r), -ETIMEDOUT);
  run_empty(l);
  CHECK_EQ(coro_done(y), 1);
  CHECK_EQ(coro_join(y, 0, &r), 0);
  CHECK_EQ((intptr_t)r, 9);
  loop_close_ok(l);
}

/* Join errors. */
static int jn_rc;
static void *jn_result;

static void *jn_joiner(void *arg) {
  jn_result = NULL;
  jn_rc = coro_join((coro *)arg, -1, &jn_result);
  return NULL;
}

static coro *jo_other;
static atomic_int jo_ready, jo_go;

static void *jo_thread(void *arg) {
  (void)arg;
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = g_mode;
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  jo_other = spawn_ok(ret_arg, (void *)21);
  atomic_store(&jo_ready, 1);
  while (!atomic_load(&jo_go))
    nap_ms(1);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ((intptr_t)join_poll_ok(jo_other), 21);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  return NULL;
}

static void body_join_errors(void) {
  void *r;
  /* Self. */
  CHECK_EQ(coro_join(coro_self(), -1, &r), -EDEADLK);
  CHECK_EQ(coro_join(coro_self(), 0, &r), -EDEADLK);
  /* Two joiners: the second gets -EINVAL, and so does a detach. */
  coro *x = spawn_ok(sleep_forever, NULL);
  coro *a = spawn_ok(jn_joiner, x);
  CHECK_EQ(coro_yield(), 0); /* x sleeps, a waits in join */
  CHECK_EQ(coro_join(x, -1, &r), -EINVAL);
  CHECK_EQ(coro_join(x, 0, &r), -EINVAL);
  CHECK_EQ(coro_detach(x), -EINVAL);
  CHECK_EQ(coro_cancel(x), 0);
  join_ok(a);
  CHECK_EQ(jn_rc, 0);
  CHECK_EQ((intptr_t)jn_result, -ECANCELED);
  /* Join after a completed join: best effort -EINVAL, since the record is
   * cached and marked dead (nothing was spawned in between). */
  x = spawn_ok(ret_arg, (void *)3);
  CHECK_EQ((intptr_t)join_ok(x), 3);
  CHECK_EQ(coro_join(x, -1, &r), -EINVAL);
  CHECK_EQ(coro_join(x, 0, &r), -EINVAL);
  /* Detached: join and a second detach fail (before it has run, so the
   * handle is still valid). */
  uint64_t live = stats_of(g_loop).live;
  x = spawn_ok(ret_arg, NULL);
  CHECK_EQ(coro_detach(x), 0);
  CHECK_EQ(coro_join(x, -1, &r), -EINVAL);
  CHECK_EQ(coro_join(x, 0, &r), -EINVAL);
  CHECK_EQ(coro_detach(x), -EINVAL);
  CHECK_EQ(coro_yield(), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live); /* it freed itself */
  /* A created coroutine that has not finished. */
  coro *g = create_opts(ret_arg, NULL, CORO_STACK_DEFAULT);
  CHECK_EQ(coro_join(g, -1, &r), -EINVAL);
  CHECK_EQ(coro_join(g, 0, &r), -EINVAL);
  CHECK_EQ(coro_free(g), 0);
  /* A joiner that is cancelled gets -ECANCELED; the target stays
   * joinable. */
  x = spawn_ok(sleep_forever, NULL);
  a = spawn_ok(jn_joiner, x);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_cancel(a), 0);
  join_ok(a);
  CHECK_EQ(jn_rc, -ECANCELED);
  CHECK_EQ(coro_done(x), 0);
  CHECK_EQ(coro_cancel(x), 0);
  CHECK_EQ((intptr_t)join_ok(x), -ECANCELED);
  /* A coroutine of another thread's loop. */
  pthread_t t = thread_go(jo_thread, NULL);
  while (!atomic_load(&jo_ready))
    nap_ms(1);
  CHECK_EQ(coro_join(jo_other, -1, &r), -EINVAL);
  CHECK_EQ(coro_join(jo_other, 0, &r), -EINVAL);
  atomic_store(&jo_go, 1);
  thread_wait(t);
}

static void test_join_errors(int mode) { run_body(mode, body_join_errors); }

/* Detach. */
static void body_detach(void) {
  uint64_t live = stats_of(g_loop).live;
  /* Before it runs. */
  coro *x = spawn_ok(ret_arg, NULL);
  CHECK_EQ(coro_detach(x), 0);
  CHECK_EQ(coro_yield(), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
  /* After it finished: freed now (or at the latest at the next switch). */
  x = spawn_ok(ret_arg, NULL);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_done(x), 1);
  CHECK_EQ(coro_detach(x), 0);
  CHECK_EQ(coro_yield(), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
  /* While it sleeps. */
  x = spawn_ok(sleep_forever, NULL);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_detach(x), 0);
  CHECK_EQ(coro_cancel(x), 0); /* still valid: it has not finished */
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_yield(), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
}

static void test_detach(int mode) { run_body(mode, body_detach); }

/* Cancel. */
static int cp_cancelled, cp_sleep, cp_sleep0, cp_yield;

static void *cancel_probe(void *arg) {
  cp_cancelled = coro_cancelled();
  cp_sleep = coro_sleep(-1);
  cp_sleep0 = coro_sleep(0);
  cp_yield = coro_yield();
  return arg;
}

static void *self_cancel(void *arg) {
  CHECK_EQ(coro_cancelled(), 0);
  CHECK_EQ(coro_cancel(coro_self()), 0);
  CHECK_EQ(coro_cancelled(), 1);
  CHECK_EQ(coro_sleep(in_ms(60000)), -ECANCELED);
  return arg;
}

static void body_cancel(void) {
  CHECK_EQ(coro_cancel(NULL), -EINVAL);
  CHECK_EQ(coro_cancelled(), 0);
  /* Before its first run. */
  coro *x = spawn_ok(cancel_probe, (void *)4);
  CHECK_EQ(coro_cancel(x), 0);
  CHECK_EQ(coro_cancel(x), 0);
  CHECK_EQ((intptr_t)join_ok(x), 4);
  CHECK_EQ(cp_cancelled, 1);
  CHECK_EQ(cp_sleep, -ECANCELED);
  CHECK_EQ(cp_sleep0, -ECANCELED);
  CHECK_EQ(cp_yield, -ECANCELED);
  /* A finished one: nothing happens, the result stands. */
  x = spawn_ok(ret_arg, (void *)8);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_done(x), 1);
  CHECK_EQ(coro_cancel(x), 0);
  CHECK_EQ(coro_cancel(x), 0);
  CHECK_EQ((intptr_t)join_ok(x), 8);
  /* Itself. */
  x = spawn_ok(self_cancel, (void *)6);
  CHECK_EQ((intptr_t)join_ok(x), 6);
  CHECK_EQ(coro_cancelled(), 0);
}

static void test_cancel(int mode) { run_body(mode, body_cancel); }

/* Cancellation is sticky. */
static long sk_ticks;
static int sk_stop;
static coro *sk_y;

static void *sk_peer(void *arg) {
  (void)arg;
  while (!sk_stop) {
    sk_ticks++;
    CHECK_EQ(coro_yield(), 0);
  }
  return NULL;
}

static void *sk_victim(void *arg) {
  (void)arg;
  CHECK_EQ(coro_sleep(-1), -ECANCELED);
  CHECK_EQ(coro_cancelled(), 1);
  CHECK_EQ(coro_sleep(0), -ECANCELED);
  CHECK_EQ(coro_sleep(-1), -ECANCELED);
  CHECK_EQ(coro_sleep(in_ms(60000)), -ECANCELED); /* at once */
  /* Spawning is not blocking; joining is, and the target stays joinable. */
  sk_y = spawn_ok(sleep_forever, NULL);
  void *r;
  CHECK_EQ(coro_join(sk_y, -1, &r), -ECANCELED);
  CHECK_EQ(coro_join(sk_y, in_ms(60000), &r), -ECANCELED);
  CHECK_EQ(coro_done(sk_y), 0);
  /* coro_yield reports it, but still yields. */
  for (int i = 0; i < 3; i++) {
    long t = sk_ticks;
    CHECK_EQ(coro_yield(), -ECANCELED);
    CHECK_GT(sk_ticks, t);
  }
  CHECK_EQ(coro_cancelled(), 1);
  return (void *)77;
}

static void body_cancel_sticky(void) {
  coro *peer = spawn_ok(sk_peer, NULL);
  coro *v = spawn_ok(sk_victim, NULL);
  CHECK_EQ(coro_yield(), 0); /* v sleeps */
  CHECK_EQ(coro_cancel(v), 0);
  CHECK_EQ((intptr_t)join_ok(v), 77);
  CHECK(sk_y != NULL);
  CHECK_EQ(coro_cancel(sk_y), 0);
  CHECK_EQ((intptr_t)join_ok(sk_y), -ECANCELED);
  sk_stop = 1;
  join_ok(peer);
}

static void test_cancel_sticky(int mode) { run_body(mode, body_cancel_sticky); }

/* Cancel wakes a sleeper (well before its deadline: the test's timeout is
 * shorter than the sleep). */
static void *long_sleeper(void *arg) {
  (void)arg;
  return (void *)(intptr_t)coro_sleep(in_ms(600000));
}

static void body_cancel_wakes(void) {
  coro *a = spawn_ok(long_sleeper, NULL);
  coro *b = spawn_ok(sleep_forever, NULL);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_done(a), 0);
  CHECK_EQ(coro_done(b), 0);
  CHECK_EQ(coro_cancel(a), 0);
  CHECK_EQ((intptr_t)join_ok(a), -ECANCELED);
  CHECK_EQ(coro_done(b), 0);
  CHECK_EQ(coro_cancel(b), 0);
  CHECK_EQ((intptr_t)join_ok(b), -ECANCELED);
}

static void test_cancel_wakes_sleeper(int mode) {
  run_body(mode, body_cancel_wakes);
  /* Cancelled from the loop stack, between runs. */
  coro_loop *l = loop_mode(mode);
  coro *a = spawn_ok(long_sleeper, NULL);
  CHECK_EQ(coro_spawn(NULL, stopper, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(coro_done(a), 0);
  CHECK_EQ(coro_cancel(a), 0);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(a), -ECANCELED);
  loop_close_ok(l);
}

/* Ids: nonzero and unique per process. */
#define NIDS 1000
static uint64_t id_self[NIDS];
static uint64_t id_all[NIDS + 200];
static size_t id_n;

static void *id_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  id_self[i] = coro_id(coro_self());
  return NULL;
}

static void *id_thread(void *arg) {
  (void)arg;
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = g_mode;
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  coro *c[100];
  for (int i = 0; i < 100; i++) {
    c[i] = spawn_ok(ret_arg, NULL);
    id_all[NIDS + 100 + i] = coro_id(c[i]);
  }
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  for (int i = 0; i < 100; i++)
    join_poll_ok(c[i]);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  return NULL;
}

static void body_ids(void) {
  static coro *co[NIDS];
  for (int i = 0; i < NIDS; i++) {
    co[i] = spawn_ok(id_worker, (void *)(intptr_t)i);
    id_all[i] = coro_id(co[i]); /* known at spawn */
  }
  for (int i = 0; i < NIDS; i++) {
    join_ok(co[i]);
    CHECK_U64_EQ(id_self[i], id_all[i]);
  }
  /* Created coroutines and this body have ids too. */
  for (int i = 0; i < 99; i++) {
    coro *g = create_opts(ret_arg, NULL, CORO_STACK_DEFAULT);
    id_all[NIDS + i] = coro_id(g);
    CHECK_EQ(coro_free(g), 0);
  }
  id_all[NIDS + 99] = coro_id(coro_self());
  /* And another thread's loop draws from the same space. */
  thread_wait(thread_go(id_thread, NULL));
  id_n = NIDS + 200;
  check_ids_unique(id_all, id_n);
}

static void test_ids(int mode) { run_body(mode, body_ids); }

/* Names. */
static void *name_worker(void *arg) {
  (void)arg;
  CHECK_STR_EQ(coro_name(coro_self()), "worker-1");
  CHECK_EQ(coro_yield(), 0);
  CHECK_STR_EQ(coro_name(coro_self()), "renamed");
  return NULL;
}

static void body_names(void) {
  CHECK_STR_EQ(coro_name(coro_self()), "body");
  coro *x = spawn_opts(name_worker, NULL, CORO_STACK_DEFAULT, 0, "worker-1");
  CHECK_STR_EQ(coro_name(x), "worker-1");
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_set_name(x, "renamed"), 0);
  CHECK_STR_EQ(coro_name(x), "renamed");
  join_ok(x);
  coro *y = spawn_ok(ret_arg, NULL);
  CHECK_STR_EQ(coro_name(y), "");
  CHECK_EQ(coro_set_name(y, "y"), 0);
  CHECK_STR_EQ(coro_name(y), "y");
  CHECK_EQ(coro_set_name(y, NULL), 0);
  CHECK_STR_EQ(coro_name(y), "");
  join_ok(y);
  coro *g = create_opts(ret_arg, NULL, CORO_STACK_DEFAULT);
  CHECK_STR_EQ(coro_name(g), "");
  CHECK_EQ(coro_set_name(g, "gen"), 0);
  CHECK_STR_EQ(coro_name(g), "gen");
  CHECK_EQ(coro_free(g), 0);
}

static void test_names(int mode) { run_body(mode, body_names); }

/* coro_done and coro_exit. */
static int ex_after;

static void __attribute__((noinline)) ex_deep(int n) {
  volatile char pad[64];
  pad[0] = (char)n;
  if (n < 0)
    return;
  if (n == 0)
    coro_exit((void *)0x77);
  ex_deep(n - 1);
  ex_after += pad[0] + 1;
}

static void *ex_worker(void *arg) {
  (void)arg;
  ex_deep(10);
  ex_after = 1;
  return NULL;
}

static void body_exit(void) {
  coro *x = spawn_ok(ex_worker, NULL);
  CHECK_EQ(coro_done(x), 0);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_done(x), 1);
  CHECK_EQ((intptr_t)join_ok(x), 0x77);
  CHECK_EQ(ex_after, 0);
}

static void exit_child(void *arg) {
  if (arg != NULL) {
    coro_loop *l;
    if (coro_loop_new(&l, NULL) != 0)
      _exit(125);
  }
  coro_exit(NULL); /* not in a coroutine: aborts */
}

static void test_exit(int mode) {
  run_body(mode, body_exit);
  /* Outside a coroutine, with and without a loop: abort with a message.
   * The thread ran loops before (run_body): under valgrind the SIGABRT
   * (crash.c's handler, SA_ONSTACK) is delivered onto the alternate stack
   * their release disabled, which must still be mapped (stack.c). */
  child_result res;
  run_child(exit_child, NULL, &res);
  check_killed_by(&res, SIGABRT);
  CHECK_GT(res.err_len, 0);
  run_child(exit_child, (void *)1, &res);
  check_killed_by(&res, SIGABRT);
  CHECK_GT(res.err_len, 0);
}

/* Coroutine-local storage. */
static coro_key lk1, lk2;
static int lv_a, lv_b, lv_c;
static int dt_calls;
static void *dt_vals[8];
static coro *dt_self[8];

static void dtor(void *v) {
  CHECK_LT(dt_calls, 8);
  dt_vals[dt_calls] = v;
  dt_self[dt_calls] = coro_self();
  dt_calls++;
}

static void *loc_a(void *arg) {
  (void)arg;
  CHECK_PTR_EQ(coro_local_get(lk1), NULL);
  CHECK_PTR_EQ(coro_local_get(lk2), NULL);
  CHECK_EQ(coro_local_set(lk1, &lv_a), 0);
  CHECK_EQ(coro_local_set(lk2, &lv_c), 0);
  CHECK_EQ(coro_yield(), 0);
  CHECK_PTR_EQ(coro_local_get(lk1), &lv_a);
  CHECK_PTR_EQ(coro_local_get(lk2), &lv_c);
  return NULL;
}

static void *loc_b(void *arg) {
  (void)arg;
  CHECK_PTR_EQ(coro_local_get(lk1), NULL);
  CHECK_EQ(coro_local_set(lk1, &lv_b), 0);
  CHECK_EQ(coro_yield(), 0);
  CHECK_PTR_EQ(coro_local_get(lk1), &lv_b);
  CHECK_EQ(coro_local_set(lk1, NULL), 0); /* no destructor for NULL */
  CHECK_PTR_EQ(coro_local_get(lk1), NULL);
  return NULL;
}

static void *loc_exit(void *arg) {
  (void)arg;
  CHECK_EQ(coro_local_set(lk1, &lv_c), 0);
  coro_exit(NULL);
}

static void *loc_cancel(void *arg) {
  (void)arg;
  CHECK_EQ(coro_local_set(lk1, &lv_a), 0);
  CHECK_EQ(coro_sleep(-1), -ECANCELED);
  return NULL;
}

static void body_locals(void) {
  CHECK_EQ(coro_key_create(&lk1, dtor), 0);
  CHECK_EQ(coro_key_create(&lk2, NULL), 0);
  CHECK_NE(lk1, lk2);
  coro *a = spawn_ok(loc_a, NULL);
  coro *b = spawn_ok(loc_b, NULL);
  join_ok(a);
  CHECK_EQ(dt_calls, 1);
  CHECK_PTR_EQ(dt_vals[0], &lv_a);
  CHECK_PTR_EQ(dt_self[0], a); /* ran in the finishing coroutine */
  join_ok(b);
  CHECK_EQ(dt_calls, 1);
  coro *e = spawn_ok(loc_exit, NULL);
  join_ok(e);
  CHECK_EQ(dt_calls, 2);
  CHECK_PTR_EQ(dt_vals[1], &lv_c);
  CHECK_PTR_EQ(dt_self[1], e);
  coro *c = spawn_ok(loc_cancel, NULL);
  CHECK_EQ(coro_yield(), 0);
  CHECK_EQ(coro_cancel(c), 0);
  join_ok(c);
  CHECK_EQ(dt_calls, 3);
  CHECK_PTR_EQ(dt_vals[2], &lv_a);
  CHECK_PTR_EQ(dt_self[2], c);
  /* Bad keys. */
  CHECK_EQ(coro_local_set(CORO_KEYS_MAX, &lv_a), -EINVAL);
  CHECK_EQ(coro_local_set((coro_key)-1, &lv_a), -EINVAL);
  CHECK_PTR_EQ(coro_local_get(CORO_KEYS_MAX), NULL);
  CHECK_PTR_EQ(coro_local_get((coro_key)-1), NULL);
  coro_key unused = 0;
  while (unused == lk1 || unused == lk2)
    unused++;
  CHECK_EQ(coro_local_set(unused, &lv_a), -EINVAL); /* never created */
  /* This body's own slot; its value is left set (destructor at exit). */
  CHECK_EQ(coro_local_set(lk2, &lv_b), 0);
  CHECK_PTR_EQ(coro_local_get(lk2), &lv_b);
}

static void test_locals(int mode) {
  run_body(mode, body_locals);
  CHECK_EQ(dt_calls, 3);
  /* The loop stack is no coroutine. */
  coro_loop *l = loop_mode(mode);
  CHECK_EQ(coro_local_set(lk1, &lv_a), -EPERM);
  CHECK_PTR_EQ(coro_local_get(lk1), NULL);
  loop_close_ok(l);
}

/* At most CORO_KEYS_MAX keys per process (a fresh process per test). */
static void test_keys_max(int mode) {
  (void)mode;
  coro_key k;
  int n = 0, rc;
  while ((rc = coro_key_create(&k, NULL)) == 0) {
    n++;
    CHECK_LE(n, CORO_KEYS_MAX);
  }
  CHECK_LT(rc, 0);
  CHECK_EQ(n, CORO_KEYS_MAX);
}

/* ------------------------------------------------------------------ */
/* Low-level: coro_create, coro_transfer, coro_caller, coro_free       */
/* ------------------------------------------------------------------ */

#define GEN_N 10
static coro *gen_seen_caller;

static void *gen_count(void *arg) {
  int n = (int)(intptr_t)arg;
  coro *me = coro_self();
  CHECK(me != NULL);
  gen_seen_caller = coro_caller();
  for (int i = 1; i <= n; i++) {
    void *got = NULL;
    coro *back = coro_caller();
    CHECK(back != NULL);
    CHECK_EQ(coro_transfer(back, (void *)(intptr_t)i, &got), 0);
    CHECK_PTR_EQ(coro_self(), me);
    CHECK_EQ((intptr_t)got, 100 + i);
  }
  return (void *)(intptr_t)-1;
}

/* Drive a counting generator of the given mode from wherever we are. */
static void consume_count(int mode, int by_join) {
  coro *g = create_opts(gen_count, (void *)(intptr_t)GEN_N, mode);
  CHECK_EQ(coro_done(g), 0);
  CHECK_NE(coro_id(g), 0);
  void *v = NULL;
  CHECK_EQ(coro_transfer(g, (void *)100, &v), 0);
  CHECK_EQ((intptr_t)v, 1);
  if (coro_self() != NULL)
    CHECK_PTR_EQ(gen_seen_caller, coro_self());
  else
    CHECK(gen_seen_caller != NULL); /* the loop stack's context */
  for (int i = 1; i < GEN_N; i++) {
    CHECK_EQ(coro_transfer(g, (void *)(intptr_t)(100 + i), &v), 0);
    CHECK_EQ((intptr_t)v, i + 1);
    CHECK_EQ(coro_done(g), 0);
  }
  CHECK_EQ(coro_transfer(g, (void *)(intptr_t)(100 + GEN_N), &v), 1);
  CHECK_EQ((intptr_t)v, -1);
  CHECK_EQ(coro_done(g), 1);
  CHECK_EQ(coro_transfer(g, NULL, &v), -EINVAL); /* finished */
  if (by_join) {
    void *r = NULL;
    CHECK_EQ(coro_join(g, 0, &r), 0);
    CHECK_EQ((intptr_t)r, -1);
  } else {
    CHECK_EQ(coro_free(g), 0);
  }
}

static void *gen_exit(void *arg) {
  (void)arg;
  CHECK_EQ(coro_transfer(coro_caller(), (void *)1, NULL), 0);
  coro_exit((void *)55);
}

/* A created coroutine that itself drives a generator: a chain. */
static void *gen_chain(void *arg) {
  (void)arg;
  /* The way back, read before anyone else transfers to us. */
  coro *back = coro_caller();
  CHECK(back != NULL);
  coro *inner = create_opts(gen_count, (void *)3, CORO_STACK_DEFAULT);
  void *v;
  for (int i = 1; i <= 3; i++) {
    CHECK_EQ(coro_transfer(inner, (void *)(intptr_t)(100 + i - 1), &v), 0);
    CHECK_EQ((intptr_t)v, i);
    CHECK_PTR_EQ(gen_seen_caller, coro_self());
    /* Hand each value on to our own caller. */
    CHECK_EQ(coro_transfer(back, v, NULL), 0);
  }
  CHECK_EQ(coro_transfer(inner, (void *)103, &v), 1);
  CHECK_EQ(coro_free(inner), 0);
  return (void *)9;
}

static void run_generators(void) {
  int modes[] = {CORO_STACK_DEFAULT, CORO_STACK_GUARDED, CORO_STACK_SHARED};
  for (int m = 0; m < 3; m++) {
    consume_count(modes[m], 0);
    consume_count(modes[m], 1);
    coro *g = create_opts(gen_exit, NULL, modes[m]);
    void *v;
    CHECK_EQ(coro_transfer(g, NULL, &v), 0);
    CHECK_EQ((intptr_t)v, 1);
    CHECK_EQ(coro_transfer(g, NULL, &v), 1);
    CHECK_EQ((intptr_t)v, 55);
    CHECK_EQ(coro_free(g), 0);
    g = create_opts(gen_chain, NULL, modes[m]);
    for (int i = 1; i <= 3; i++) {
      CHECK_EQ(coro_transfer(g, NULL, &v), 0);
      CHECK_EQ((intptr_t)v, i);
    }
    CHECK_EQ(coro_transfer(g, NULL, &v), 1);
    CHECK_EQ((intptr_t)v, 9);
    CHECK_EQ(coro_free(g), 0);
  }
  /* received may be NULL. */
  coro *g = create_opts(gen_count, (void *)1, CORO_STACK_DEFAULT);
  CHECK_EQ(coro_transfer(g, NULL, NULL), 0);
  CHECK_EQ(coro_transfer(g, (void *)101, NULL), 1);
  CHECK_EQ(coro_free(g), 0);
}

static void body_generators(void) {
  CHECK_PTR_EQ(coro_caller(), NULL); /* nobody transferred to a spawned one */
  uint64_t live = stats_of(g_loop).live;
  run_generators();
  CHECK_U64_EQ(stats_of(g_loop).live, live);
}

static void test_generator(int mode) {
  run_body(mode, body_generators);
  /* From the loop stack, without ever running the loop. */
  coro_loop *l = loop_mode(mode);
  run_generators();
  CHECK_U64_EQ(stats_of(l).live, 0);
  loop_close_ok(l);
}

/* A generator pipeline: a generator that pulls from another generator and
 * yields to its own caller. Its way back (coro_caller) must survive the
 * inner generator's transfers back to it, and when it finishes, control
 * and its result go to its consumer. */
#define PL_N 5

static void *pl_source(void *arg) {
  (void)arg;
  for (int i = 1; i <= PL_N; i++)
    CHECK_EQ(coro_transfer(coro_caller(), (void *)(intptr_t)i, NULL), 0);
  return NULL;
}

static void *pl_double(void *arg) {
  int mode = (int)(intptr_t)arg;
  coro *consumer = coro_caller();
  coro *src = create_opts(pl_source, NULL, mode);
  void *v;
  int rc;
  while ((rc = coro_transfer(src, NULL, &v)) == 0) {
    CHECK_PTR_EQ(coro_caller(), consumer); /* still the way back */
    CHECK_EQ(coro_transfer(coro_caller(), (void *)(2 * (intptr_t)v), NULL), 0);
  }
  CHECK_EQ(rc, 1);
  CHECK_EQ(coro_free(src), 0);
  return (void *)100;
}

static void run_pipeline(void) {
  int modes[] = {CORO_STACK_GUARDED, CORO_STACK_SHARED};
  for (int m = 0; m < 2; m++) {
    coro *d = create_opts(pl_double, (void *)(intptr_t)modes[m], modes[1 - m]);
    void *v;
    for (int i = 1; i <= PL_N; i++) {
      CHECK_EQ(coro_transfer(d, NULL, &v), 0);
      CHECK_EQ((intptr_t)v, 2 * i);
    }
    CHECK_EQ(coro_transfer(d, NULL, &v), 1);
    CHECK_EQ((intptr_t)v, 100);
    CHECK_EQ(coro_free(d), 0);
  }
}

static void body_pipeline(void) {
  uint64_t live = stats_of(g_loop).live;
  run_pipeline();
  CHECK_U64_EQ(stats_of(g_loop).live, live);
}

static void test_generator_pipeline(int mode) {
  run_body(mode, body_pipeline);
  coro_loop *l = loop_mode(mode);
  run_pipeline(); /* from the loop stack */
  CHECK_U64_EQ(stats_of(l).live, 0);
  loop_close_ok(l);
}

/* Transfer and free errors; scheduler calls inside a created coroutine. */
static coro *te_spawned;
static coro *te_outer;
static coro *te_inner_co;

static void *te_inner(void *arg) {
  (void)arg;
  CHECK_PTR_EQ(coro_caller(), te_outer);
  CHECK_EQ(coro_free(coro_self()), -EBUSY); /* running */
  CHECK_EQ(coro_transfer(coro_caller(), (void *)1, NULL), 0);
  return NULL;
}

static void *te_gen(void *arg) {
  (void)arg;
  coro *me = coro_self();
  coro *back = coro_caller(); /* the way back, before anyone else calls */
  CHECK_EQ(coro_transfer(me, NULL, NULL), -EINVAL);     /* self */
  CHECK_EQ(coro_transfer(NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(coro_transfer(te_spawned, NULL, NULL), -EINVAL); /* scheduled */
  CHECK_EQ(coro_free(me), -EBUSY);                      /* running */
  CHECK_EQ(coro_free(te_spawned), -EINVAL);
  /* Scheduler calls that would block or yield. */
  CHECK_EQ(coro_yield(), -EPERM);
  CHECK_EQ(coro_sleep(-1), -EPERM);
  CHECK_EQ(coro_sleep(in_ms(1)), -EPERM);
  void *r;
  CHECK_EQ(coro_join(te_spawned, -1, &r), -EPERM);
  /* A nested generator, left suspended. */
  te_outer = me;
  te_inner_co = create_opts(te_inner, NULL, CORO_STACK_DEFAULT);
  void *v;
  CHECK_EQ(coro_transfer(te_inner_co, NULL, &v), 0);
  CHECK_EQ((intptr_t)v, 1);
  CHECK_EQ(coro_transfer(back, (void *)2, NULL), 0);
  FAILF("a freed suspended coroutine was resumed");
  return NULL;
}

static void body_transfer_errors(void) {
  te_spawned = spawn_ok(sleep_forever, NULL);
  CHECK_EQ(coro_transfer(NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(coro_transfer(coro_self(), NULL, NULL), -EINVAL);
  CHECK_EQ(coro_transfer(te_spawned, NULL, NULL), -EINVAL);
  CHECK_EQ(coro_free(te_spawned), -EINVAL);
  uint64_t live = stats_of(g_loop).live;
  /* Free a never-started one, a suspended one, and a finished one. */
  coro *g = create_opts(te_gen, NULL, CORO_STACK_DEFAULT);
  CHECK_U64_EQ(stats_of(g_loop).live, live + 1);
  CHECK_EQ(coro_free(g), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
  g = create_opts(te_gen, NULL, CORO_STACK_DEFAULT);
  void *v;
  CHECK_EQ(coro_transfer(g, NULL, &v), 0);
  CHECK_EQ((intptr_t)v, 2);
  CHECK_EQ(coro_done(g), 0);
  CHECK_EQ(coro_done(te_inner_co), 0);
  /* Both are suspended and off the transfer chain (which is just this
   * coroutine now), so both can be freed: the inner one (nobody would ever
   * return to it) at once, then the outer one. */
  CHECK_EQ(coro_free(te_inner_co), 0);
  CHECK_EQ(coro_free(g), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
  /* The other order: the outer one first may be refused while the inner
   * one, whose way back it is, lives; then it goes after the inner one. */
  g = create_opts(te_gen, NULL, CORO_STACK_DEFAULT);
  CHECK_EQ(coro_transfer(g, NULL, &v), 0);
  CHECK_EQ((intptr_t)v, 2);
  int rc = coro_free(g);
  CHECK(rc == 0 || rc == -EBUSY);
  CHECK_EQ(coro_free(te_inner_co), 0);
  if (rc == -EBUSY)
    CHECK_EQ(coro_free(g), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
  g = create_opts(ret_arg, (void *)3, CORO_STACK_DEFAULT);
  CHECK_EQ(coro_transfer(g, NULL, &v), 1);
  CHECK_EQ((intptr_t)v, 3);
  CHECK_EQ(coro_transfer(g, NULL, &v), -EINVAL);
  CHECK_EQ(coro_free(g), 0);
  CHECK_U64_EQ(stats_of(g_loop).live, live);
  CHECK_EQ(coro_cancel(te_spawned), 0);
  CHECK_EQ((intptr_t)join_ok(te_spawned), -ECANCELED);
}

/* Freeing one's own (suspended) caller: the freed coroutine is never
 * resumed, and the orphan returns to the loop's own context when it
 * finishes. Driven from the loop stack, which is that context. */
static coro *fc_a, *fc_b;

static void *fc_b_fn(void *arg) {
  (void)arg;
  CHECK_PTR_EQ(coro_caller(), fc_a);
  CHECK_EQ(coro_free(fc_a), 0);
  CHECK_PTR_EQ(coro_caller(), NULL);
  return (void *)7;
}

static void *fc_a_fn(void *arg) {
  (void)arg;
  fc_b = create_opts(fc_b_fn, NULL, CORO_STACK_DEFAULT);
  (void)coro_transfer(fc_b, NULL, NULL);
  FAILF("a freed coroutine was resumed");
  return NULL;
}

static void test_transfer_errors(int mode) {
  run_body(mode, body_transfer_errors);
  coro_loop *l = loop_mode(mode);
  int modes[] = {CORO_STACK_GUARDED, CORO_STACK_SHARED};
  for (int m = 0; m < 2; m++) {
    fc_a = create_opts(fc_a_fn, NULL, modes[m]);
    void *v = NULL;
    CHECK_EQ(coro_transfer(fc_a, NULL, &v), 1);
    CHECK_EQ((intptr_t)v, 7);
    CHECK_EQ(coro_done(fc_b), 1);
    CHECK_EQ(coro_free(fc_b), 0);
    CHECK_U64_EQ(stats_of(l).live, 0);
  }
  loop_close_ok(l);
}

/* Same fringe: two generators walk differently shaped trees. */
typedef struct node {
  struct node *l, *r;
  int leaf;
} node;

static node *mk_leaf(int v) {
  node *n = calloc(1, sizeof *n);
  CHECK(n != NULL);
  n->leaf = v;
  return n;
}

static node *mk_pair(node *l, node *r) {
  node *n = calloc(1, sizeof *n);
  CHECK(n != NULL);
  n->l = l;
  n->r = r;
  return n;
}

static node *tree_balanced(int lo, int hi) {
  if (lo == hi)
    return mk_leaf(lo);
  int mid = lo + (hi - lo) / 2;
  return mk_pair(tree_balanced(lo, mid), tree_balanced(mid + 1, hi));
}

static node *tree_left(int lo, int hi) {
  node *t = mk_leaf(lo);
  for (int i = lo + 1; i <= hi; i++)
    t = mk_pair(t, mk_leaf(i));
  return t;
}

static node *tree_right(int lo, int hi) {
  node *t = mk_leaf(hi);
  for (int i = hi - 1; i >= lo; i--)
    t = mk_pair(mk_leaf(i), t);
  return t;
}

static void tree_free(node *n) {
  if (n->l != NULL) {
    tree_free(n->l);
    tree_free(n->r);
  }
  free(n);
}

static node *tree_find(node *n, int v) {
  if (n->l == NULL)
    return n->leaf == v ? n : NULL;
  node *f = tree_find(n->l, v);
  return f != NULL ? f : tree_find(n->r, v);
}

static void walk(node *n) {
  if (n->l == NULL) {
    CHECK_EQ(coro_transfer(coro_caller(), (void *)(intptr_t)n->leaf, NULL), 0);
    return;
  }
  walk(n->l);
  walk(n->r);
}

static void *fringe_gen(void *arg) {
  walk(arg);
  return NULL;
}

static int same_fringe(node *a, node *b, int mode) {
  coro *ga = create_opts(fringe_gen, a, mode);
  coro *gb = create_opts(fringe_gen, b, mode);
  int eq;
  for (;;) {
    void *va, *vb;
    int ra = coro_transfer(ga, NULL, &va);
    int rb = coro_transfer(gb, NULL, &vb);
    CHECK(ra == 0 || ra == 1);
    CHECK(rb == 0 || rb == 1);
    if (ra == 1 || rb == 1) {
      eq = ra == 1 && rb == 1;
      break;
    }
    if (va != vb) {
      eq = 0;
      break;
    }
  }
  /* Finished or suspended mid-walk: both are freed the same way. */
  CHECK_EQ(coro_free(ga), 0);
  CHECK_EQ(coro_free(gb), 0);
  return eq;
}

#define FRINGE_N 300

static void run_same_fringe(void) {
  node *bal = tree_balanced(1, FRINGE_N);
  node *left = tree_left(1, FRINGE_N);
  node *right = tree_right(1, FRINGE_N);
  node *other = tree_balanced(1, FRINGE_N);
  tree_find(other, FRINGE_N / 2)->leaf = -7;
  node *shorter = tree_right(1, FRINGE_N - 1);
  node *first = tree_left(1, FRINGE_N);
  tree_find(first, 1)->leaf = 1000;
  int modes[] = {CORO_STACK_DEFAULT, CORO_STACK_GUARDED, CORO_STACK_SHARED};
  for (int m = 0; m < 3; m++) {
    int md = modes[m];
    CHECK_EQ(same_fringe(bal, left, md), 1);
    CHECK_EQ(same_fringe(left, right, md), 1);
    CHECK_EQ(same_fringe(right, bal, md), 1);
    CHECK_EQ(same_fringe(bal, bal, md), 1);
    CHECK_EQ(same_fringe(bal, other, md), 0);
    CHECK_EQ(same_fringe(other, right, md), 0);
    CHECK_EQ(same_fringe(bal, shorter, md), 0);
    CHECK_EQ(same_fringe(shorter, left, md), 0);
    CHECK_EQ(same_fringe(first, right, md), 0);
  }
  tree_free(bal);
  tree_free(left);
  tree_free(right);
  tree_free(other);
  tree_free(shorter);
  tree_free(first);
}

static void body_same_fringe(void) {
  uint64_t live = stats_of(g_loop).live;
  run_same_fringe();
  CHECK_U64_EQ(stats_of(g_loop).live, live);
}

static void test_same_fringe(int mode) {
  run_body(mode, body_same_fringe);
  coro_loop *l = loop_mode(mode);
  run_same_fringe(); /* from the loop stack */
  CHECK_U64_EQ(stats_of(l).live, 0);
  loop_close_ok(l);
}

/* coro_call_on_loop. */
#define CL_DEEP (1u << 20)

typedef struct cl_state {
  unsigned char *buf;
  size_t buflen;
  int in_call, rc_yield, rc_sleep, rc_sleep_t, rc_nested, rc_transfer;
  int rc_join, rc_run, rc_close, rc_exit_guard;
  uintptr_t local_addr;
  long deep_sum;
  coro *gen, *other;
} cl_state;

static cl_state cl;
static uintptr_t cl_main_local;

static long __attribute__((noinline)) cl_deep_use(void) {
  volatile unsigned char big[CL_DEEP];
  for (size_t i = 0; i < sizeof big; i += 64)
    big[i] = (unsigned char)(i >> 6);
  long sum = 0;
  for (size_t i = 0; i < sizeof big; i += 64)
    sum += big[i];
  return sum;
}

static long cl_deep_expected(void) {
  long sum = 0;
  for (size_t i = 0; i < CL_DEEP; i += 64)
    sum += (unsigned char)(i >> 6);
  return sum;
}

static void cl_fn(void *arg) {
  cl_state *s = arg;
  volatile char here = 1;
  s->local_addr = (uintptr_t)&here;
  s->in_call = coro_in_loop_call();
  s->rc_yield = coro_yield();
  s->rc_sleep = coro_sleep(-1);
  s->rc_sleep_t = coro_sleep(in_ms(10));
  s->rc_nested = coro_call_on_loop(never_cb, NULL);
  s->rc_transfer = coro_transfer(s->gen, NULL, NULL);
  s->rc_join = coro_join(s->other, -1, NULL);
  s->rc_run = coro_loop_run(coro_loop_current(), CORO_RUN_UNTIL_EMPTY);
  s->rc_close = coro_loop_close(coro_loop_current(), -1);
  /* The caller's stack, in every mode. */
  for (size_t i = 0; i < s->buflen; i++)
    CHECK_EQ(s->buf[i], (unsigned char)i);
  for (size_t i = 0; i < s->buflen; i++)
    s->buf[i] = (unsigned char)(255 - i);
  /* A call far deeper than the coroutine's own stack. */
  s->deep_sum = cl_deep_use();
  CHECK_EQ(here, 1);
}

static void *cl_worker(void *arg) {
  (void)arg;
  unsigned char buf[256];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)i;
  cl.buf = buf;
  cl.buflen = sizeof buf;
  CHECK_EQ(coro_in_loop_call(), 0);
  CHECK_EQ(coro_call_on_loop(cl_fn, &cl), 0);
  CHECK_EQ(coro_in_loop_call(), 0);
  CHECK_EQ(cl.in_call, 1);
  CHECK_EQ(cl.rc_yield, -EPERM);
  CHECK_EQ(cl.rc_sleep, -EPERM);
  CHECK_EQ(cl.rc_sleep_t, -EPERM);
  CHECK_EQ(cl.rc_nested, -EPERM);
  CHECK_EQ(cl.rc_transfer, -EPERM);
  CHECK_EQ(cl.rc_join, -EPERM);
  CHECK_EQ(cl.rc_run, -EPERM);
  CHECK_EQ(cl.rc_close, -EPERM);
  for (size_t i = 0; i < sizeof buf; i++)
    CHECK_EQ(buf[i], (unsigned char)(255 - i));
  CHECK_EQ(cl.deep_sum, cl_deep_expected());
  /* fn ran on the loop thread's stack (the one coro_loop_run was called
   * on), not on this coroutine's. */
  uintptr_t clo, chi, mlo, mhi;
  maps_find(buf, &clo, &chi);
  maps_find((void *)cl_main_local, &mlo, &mhi);
  CHECK((uintptr_t)buf >= clo && (uintptr_t)buf < chi);
  if (cl.local_addr >= clo && cl.local_addr < chi)
    FAILF("fn's local %p lies in the coroutine's stack [%p, %p)",
          (void *)cl.local_addr, (void *)clo, (void *)chi);
  if (!(cl.local_addr >= mlo && cl.local_addr < mhi))
    FAILF("fn's local %p is not on the loop thread's stack [%p, %p)",
          (void *)cl.local_addr, (void *)mlo, (void *)mhi);
  /* Works again, and the coroutine still runs normally afterwards. */
  CHECK_EQ(coro_yield(), 0);
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)i;
  CHECK_EQ(coro_call_on_loop(cl_fn, &cl), 0);
  CHECK_EQ(cl.in_call, 1);
  CHECK_EQ(buf[0], 255);
  return NULL;
}

static void test_call_on_loop(int mode) {
  volatile char main_local = 0;
  cl_main_local = (uintptr_t)&main_local;
  coro_loop *l = loop_mode(mode);
  CHECK_EQ(coro_call_on_loop(never_cb, NULL), -EPERM); /* no coroutine */
  CHECK_EQ(coro_in_loop_call(), 0);
  cl.gen = create_opts(ret_arg, NULL, CORO_STACK_DEFAULT);
  cl.other = spawn_ok(sleep_forever, NULL);
  /* The smallest stack the engine allows (GUARDED); in SHARED mode the
   * shared stack (256 KiB) is also far smaller than the deep call. */
  coro *w = spawn_opts(cl_worker, NULL, CORO_STACK_DEFAULT,
                       CORO_STACK_SIZE_MIN, "on-loop");
  CHECK_EQ(coro_spawn(NULL, stopper, (void *)10, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(coro_done(w), 1);
  join_poll_ok(w);
  CHECK_EQ(coro_free(cl.gen), 0);
  CHECK_EQ(coro_cancel(cl.other), 0);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(cl.other), -ECANCELED);
  CHECK_EQ(main_local, 0);
  loop_close_ok(l);
}

/* errno is per coroutine across every switch. */
/* Sets errno to base, yields, checks it; base + 1 around a sleep. Two of
 * them with different bases interleave. */
static void *er_worker(void *arg) {
  int base = (int)(intptr_t)arg;
  for (int i = 0; i < 20; i++) {
    errno = base;
    CHECK_EQ(coro_yield(), 0);
    CHECK_EQ(errno, base);
    errno = base + 1;
    CHECK_EQ(coro_sleep(in_ms(1)), 0);
    CHECK_EQ(errno, base + 1);
  }
  return NULL;
}

static void *er_gen(void *arg) {
  (void)arg;
  for (int i = 0; i < 5; i++) {
    errno = 55;
    CHECK_EQ(coro_transfer(coro_caller(), NULL, NULL), 0);
    CHECK_EQ(errno, 55);
  }
  return NULL;
}

static void body_errno(void) {
  coro *a = spawn_ok(er_worker, (void *)(intptr_t)1234);
  coro *b = spawn_ok(er_worker, (void *)(intptr_t)7);
  errno = 99;
  join_ok(a);
  CHECK_EQ(errno, 99);
  errno = 98;
  join_ok(b);
  CHECK_EQ(errno, 98);
  coro *g = create_opts(er_gen, NULL, CORO_STACK_DEFAULT);
  int rc;
  do {
    errno = 66;
    rc = coro_transfer(g, NULL, NULL);
    CHECK_GE(rc, 0);
    CHECK_EQ(errno, 66);
  } while (rc == 0);
  CHECK_EQ(coro_free(g), 0);
}

static void test_errno(int mode) { run_body(mode, body_errno); }

/* Stacks of both kinds keep their contents across many switches. */
static int __attribute__((noinline)) integ_rec(int id, int depth) {
  volatile unsigned char buf[512];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)(id * 31 + depth * 7 + (int)i);
  if (depth > 0) {
    int r = integ_rec(id, depth - 1);
    if (r != 0)
      return r;
  } else {
    for (int k = 0; k < 10; k++)
      CHECK_EQ(coro_yield(), 0);
  }
  CHECK_EQ(coro_yield(), 0);
  for (size_t i = 0; i < sizeof buf; i++)
    if (buf[i] != (unsigned char)(id * 31 + depth * 7 + (int)i))
      return 1000 + depth;
  return 0;
}

static void *integ_worker(void *arg) {
  return (void *)(intptr_t)integ_rec((int)(intptr_t)arg, 12);
}

static void body_stack_integrity(void) {
  int modes[] = {CORO_STACK_GUARDED, CORO_STACK_SHARED, CORO_STACK_DEFAULT};
  coro *co[12];
  for (int i = 0; i < 12; i++)
    co[i] = spawn_opts(integ_worker, (void *)(intptr_t)i, modes[i % 3],
                       i % 3 == 0 ? CORO_STACK_SIZE_MIN : 0, NULL);
  for (int i = 0; i < 12; i++)
    CHECK_EQ((intptr_t)join_ok(co[i]), 0);
}

static void test_stack_integrity(int mode) {
  run_body(mode, body_stack_integrity);
}

/* Many coroutines alive at once: 10,000 GUARDED, 100,000 SHARED. */
static long mn_started;

static void *mn_worker(void *arg) {
  mn_started++;
  CHECK_EQ(coro_sleep(-1), -ECANCELED);
  return arg;
}

static void body_many(void) {
  long n = g_mode == CORO_STACK_GUARDED ? 10000 : 100000;
  long rss0 = rss_kib();
  coro **co = malloc((size_t)n * sizeof *co);
  CHECK(co != NULL);
  for (long i = 0; i < n; i++)
    co[i] = spawn_ok(mn_worker, (void *)(intptr_t)i);
  CHECK_EQ(coro_yield(), 0); /* every one runs and blocks */
  CHECK_EQ(mn_started, n);
  coro_loop_stats s = stats_of(g_loop);
  CHECK_U64_EQ(s.live, (uint64_t)n + 1);
  CHECK_U64_EQ(s.timers, 0);
  CHECK_U64_EQ(s.ready, 0);
  long grown = rss_kib() - rss0;
  fprintf(stderr, "%ld %s coroutines: +%ld KiB resident (%ld bytes each)\n", n,
          g_mode == CORO_STACK_GUARDED ? "guarded" : "shared", grown,
          grown * 1024 / n);
#if !defined(__SANITIZE_ADDRESS__)
  if (!testing_under_valgrind() && g_mode == CORO_STACK_SHARED)
    CHECK_LT(grown, 200L * 1024); /* idle SHARED coroutines are small */
#endif
  for (long i = 0; i < n; i++)
    CHECK_EQ(coro_cancel(co[i]), 0);
  for (long i = 0; i < n; i++)
    CHECK_EQ((intptr_t)join_ok(co[i]), i);
  free(co);
  CHECK_U64_EQ(stats_of(g_loop).live, 1);
}

static void test_many(int mode) { run_body(mode, body_many); }

/* Out of memory: mmap failures injected by the test hook. */

/* Let n more stack mappings succeed, then fail every one with ENOMEM
 * (until coro__fault_arm(0, 0)). The failure is put on mprotect, the step
 * that must unmap what mmap gave. */
static void fail_mappings_after(long n) {
  coro__fault_arm_at(CORO__FP_BIT(CORO__FP_MPROTECT), n + 1, -1, ENOMEM);
}

static void check_oom_clean(coro_loop_stats a, long maps_a, coro_loop *l) {
  coro_loop_stats b = stats_of(l);
  CHECK_U64_EQ(b.live, a.live);
  CHECK_U64_EQ(b.spawned, a.spawned);
  CHECK_U64_EQ(b.stacks_mapped, a.stacks_mapped);
  CHECK_U64_EQ(b.stacks_cached, a.stacks_cached);
  CHECK_EQ(maps_count(), maps_a);
}

static void test_oom(int mode) {
  coro_loop *l = loop_mode(mode);
  (void)maps_count(); /* warm up */
  coro_loop_stats s0 = stats_of(l);
  long m0 = maps_count();
  coro *co = NULL;
  /* The first stack of the loop: GUARDED maps it, SHARED maps the shared
   * stack. Both fail. */
  fail_mappings_after(0);
  CHECK_EQ(coro_spawn(&co, ret_arg, NULL, NULL), -ENOMEM);
  CHECK_EQ(coro_spawn(NULL, ret_arg, NULL, NULL), -ENOMEM);
  CHECK_EQ(coro_create(&co, ret_arg, NULL, NULL), -ENOMEM);
  check_oom_clean(s0, m0, l);
  /* An explicitly GUARDED one fails too, in either loop mode. */
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = CORO_STACK_GUARDED;
  CHECK_EQ(coro_spawn(&co, ret_arg, NULL, &o), -ENOMEM);
  check_oom_clean(s0, m0, l);
  /* Allowed again: works. */
  coro__fault_arm(0, 0);
  co = spawn_ok(ret_arg, (void *)1);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 1);
  /* One more mapping allowed, then failure. */
  coro_loop_stats s1 = stats_of(l);
  fail_mappings_after(1);
  coro *a, *b = NULL;
  if (mode == CORO_STACK_GUARDED) {
    /* a reuses the stack the first coroutine left in the cache (no
     * mapping), b takes the one fresh mapping, the next one fails. */
    CHECK_U64_EQ(s1.stacks_cached, 1);
    a = spawn_opts(ret_arg, (void *)2, CORO_STACK_GUARDED, 0, NULL);
    b = spawn_opts(ret_arg, (void *)3, CORO_STACK_GUARDED, 0, NULL);
    coro_loop_stats s2 = stats_of(l);
    long m2 = maps_count();
    CHECK_EQ(coro_spawn(&co, ret_arg, NULL, &o), -ENOMEM);
    check_oom_clean(s2, m2, l);
    /* SHARED coroutines of a GUARDED loop need the shared stack mapped. */
    o.stack_mode = CORO_STACK_SHARED;
    CHECK_EQ(coro_spawn(&co, ret_arg, NULL, &o), -ENOMEM);
    check_oom_clean(s2, m2, l);
  } else {
    /* The shared stack is mapped already; a GUARDED coroutine takes the
     * one fresh mapping, the next GUARDED one fails. */
    a = spawn_opts(ret_arg, (void *)2, CORO_STACK_GUARDED, 0, NULL);
    coro_loop_stats s2 = stats_of(l);
    long m2 = maps_count();
    CHECK_EQ(coro_spawn(&co, ret_arg, NULL, &o), -ENOMEM);
    check_oom_clean(s2, m2, l);
    /* SHARED coroutines need no mapping at all now. */
    b = spawn_ok(ret_arg, (void *)3);
  }
  coro__fault_arm(0, 0);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(a), 2);
  CHECK_EQ((intptr_t)join_poll_ok(b), 3);
  loop_close_ok(l);
}

/* Every fd the engine opens is close-on-exec, and none outlives the loop. */
#define FD_MAX_TRACK 1024

static int fd_snapshot(unsigned char *set) {
  memset(set, 0, FD_MAX_TRACK);
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int self = dirfd(d), n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    int fd = atoi(e->d_name);
    if (fd == self || fd < 0 || fd >= FD_MAX_TRACK)
      continue;
    set[fd] = 1;
    n++;
  }
  closedir(d);
  return n;
}

static void *fx_thread(void *arg) {
  (void)arg;
  coro_remote *r;
  CHECK_EQ(coro_remote_spawn(g_loop, ret_arg, (void *)1, NULL, NULL, NULL, &r),
           0);
  void *res;
  CHECK_EQ(coro_remote_wait(r, -1, &res), 0);
  coro_remote_release(r);
  CHECK_EQ(coro_loop_stop(g_loop), 0);
  return NULL;
}

static void test_cloexec(int mode) {
  static unsigned char before[FD_MAX_TRACK], during[FD_MAX_TRACK],
      after[FD_MAX_TRACK];
  fd_snapshot(before);
  coro_loop *l = loop_mode(mode);
  /* Exercise everything that might open an fd lazily. */
  coro *a = spawn_opts(ret_arg, NULL, CORO_STACK_GUARDED, 0, NULL);
  coro *b = spawn_opts(ret_arg, NULL, CORO_STACK_SHARED, 0, NULL);
  pthread_t t = thread_go(fx_thread, NULL);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(t);
  run_empty(l);
  join_poll_ok(a);
  join_poll_ok(b);
  fd_snapshot(during);
  for (int fd = 0; fd < FD_MAX_TRACK; fd++) {
    if (!during[fd] || before[fd])
      continue;
    int fl = fcntl(fd, F_GETFD);
    CHECK_GE(fl, 0);
    if (!(fl & FD_CLOEXEC)) {
      char path[64], target[256];
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(path, target, sizeof target - 1);
      target[n < 0 ? 0 : n] = '\0';
      FAILF("fd %d (%s) opened by the engine lacks FD_CLOEXEC", fd, target);
    }
  }
  loop_close_ok(l);
  fd_snapshot(after);
  for (int fd = 0; fd < FD_MAX_TRACK; fd++)
    if (after[fd] != before[fd])
      FAILF("fd %d %s across the loop's life", fd,
            after[fd] ? "was leaked" : "was closed");
}

static void test_switch_backend(int mode) {
  (void)mode;
  const char *b = coro_switch_backend();
  CHECK(b != NULL);
#if defined(CORO_SWITCH_UCONTEXT)
  CHECK_STR_EQ(b, "ucontext");
#elif defined(__x86_64__)
  CHECK_STR_EQ(b, "x86_64");
#elif defined(__aarch64__)
  CHECK_STR_EQ(b, "arm64");
#else
  CHECK_STR_EQ(b, "ucontext");
#endif
}

/* ------------------------------------------------------------------ */
/* From other threads                                                  */
/* ------------------------------------------------------------------ */

typedef struct rdone {
  int calls;
  coro_remote *r;
  void *udata_seen;
  int on_loop_thread;
  int self_null;
  int poll;
  void *result;
  int err;
  int stop; /* stop the loop from on_done */
} rdone;

static void on_done_cb(coro_remote *r, void *udata) {
  rdone *d = udata;
  d->calls++;
  d->r = r;
  d->udata_seen = udata;
  d->on_loop_thread = pthread_equal(pthread_self(), g_loop_thread);
  d->self_null = coro_self() == NULL;
  d->result = (void *)(intptr_t)0x5eed;
  d->err = 12345;
  d->poll = coro_remote_poll(r, &d->result, &d->err);
  if (d->stop)
    CHECK_EQ(coro_loop_stop(g_loop), 0);
}

static void *rm_self_id(void *arg) {
  CHECK_EQ((intptr_t)arg, 5);
  CHECK(pthread_equal(pthread_self(), g_loop_thread));
  CHECK_STR_EQ(coro_name(coro_self()), "remote-1");
  CHECK_EQ(coro_yield(), 0);
  return (void *)(uintptr_t)coro_id(coro_self());
}

static rdone rb_done;
static coro_remote *rb_r;
static uint64_t rb_id;

static void *rb_thread(void *arg) {
  (void)arg;
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.name = "remote-1";
  coro_remote *r = NULL;
  CHECK_EQ(coro_remote_spawn(g_loop, rm_self_id, (void *)5, &o, on_done_cb,
                             &rb_done, &r),
           0);
  CHECK(r != NULL);
  rb_r = r;
  uint64_t id = coro_remote_id(r);
  CHECK_NE(id, 0);
  rb_id = id;
  void *res = NULL;
  CHECK_EQ(coro_remote_wait(r, -1, &res), 0);
  CHECK_U64_EQ((uint64_t)(uintptr_t)res, id);
  int err = 99;
  res = NULL;
  CHECK_EQ(coro_remote_poll(r, &res, &err), 1);
  CHECK_EQ(err, 0);
  CHECK_U64_EQ((uint64_t)(uintptr_t)res, id);
  res = NULL;
  CHECK_EQ(coro_remote_wait(r, 0, &res), 0);
  CHECK_U64_EQ((uint64_t)(uintptr_t)res, id);
  CHECK_U64_EQ(coro_remote_id(r), id);
  coro_remote_release(r);
  return NULL;
}

static void test_remote_basic(int mode) {
  coro_loop *l = loop_mode(mode);
  rb_done.stop = 1;
  pthread_t t = thread_go(rb_thread, NULL);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(t);
  CHECK_EQ(rb_done.calls, 1);
  CHECK_PTR_EQ(rb_done.r, rb_r);
  CHECK_PTR_EQ(rb_done.udata_seen, &rb_done);
  CHECK(rb_done.on_loop_thread);
  CHECK(rb_done.self_null);
  CHECK_EQ(rb_done.poll, 1);
  CHECK_EQ(rb_done.err, 0);
  CHECK_U64_EQ((uint64_t)(uintptr_t)rb_done.result, rb_id);
  CHECK_U64_EQ(stats_of(l).live, 0);
  loop_close_ok(l);
  CHECK_EQ(rb_done.calls, 1);
}

/* coro_remote_wait on the loop's own thread: -EDEADLK. */
static void body_remote_on_loop_thread(void) {
  coro_remote *r = NULL;
  CHECK_EQ(coro_remote_spawn(g_loop, ret_arg, (void *)7, NULL, NULL, NULL, &r),
           0);
  void *res;
  CHECK_EQ(coro_remote_wait(r, -1, &res), -EDEADLK);
  CHECK_EQ(coro_remote_wait(r, 0, &res), -EDEADLK);
  CHECK_EQ(coro_remote_wait(r, in_ms(10), &res), -EDEADLK);
  int err = 99, n = 0;
  res = NULL;
  while (coro_remote_poll(r, &res, &err) == 0) {
    CHECK_EQ(coro_sleep(in_ms(1)), 0);
    CHECK_LT(++n, 100000);
  }
  CHECK_EQ(err, 0);
  CHECK_EQ((intptr_t)res, 7);
  CHECK_EQ(coro_remote_wait(r, -1, &res), -EDEADLK); /* even when done */
  coro_remote_release(r);
}

/* A remote coroutine's outcome is published as it finishes, for threads
 * that poll the record (Go's Wait); the report (on_done, the wake of
 * coro_remote_wait) follows at main's next turn. A coroutine of the same
 * loop polls between the two: the record is done, on_done not yet run. */
static int early_calls;
static void early_on_done(coro_remote *r, void *udata) {
  (void)udata;
  int err = 99;
  CHECK_EQ(coro_remote_poll(r, NULL, &err), 1);
  CHECK_EQ(err, 0);
  early_calls++;
}

static void body_remote_early_publish(void) {
  early_calls = 0;
  coro_remote *r = NULL;
  coro_opts o = {.name = "early"};
  CHECK_EQ(coro_remote_spawn(g_loop, ret_arg, (void *)7, &o, early_on_done,
                             NULL, &r),
           0);
  int n = 0, err = 99;
  void *res = NULL;
  while (coro_remote_poll(r, &res, &err) == 0) {
    CHECK_EQ(coro_yield(), 0);
    CHECK_LT(++n, 1000);
  }
  CHECK_EQ(early_calls, 0);
  CHECK_EQ(err, 0);
  CHECK_EQ((intptr_t)res, 7);
  while (early_calls == 0) {
    CHECK_EQ(coro_yield(), 0);
    CHECK_LT(++n, 1000);
  }
  CHECK_EQ(early_calls, 1);
  coro_remote_release(r);
}

static void test_remote_early_publish(int mode) {
  run_body(mode, body_remote_early_publish);
}

/* The lowest CPU in all, which *one is then made of alone. */
static int first_cpu(const cpu_set_t *all, cpu_set_t *one) {
  int c = 0;
  while (!CPU_ISSET(c, all))
    c++;
  CPU_ZERO(one);
  CPU_SET(c, one);
  return c;
}

/* rqwait.c: the schedstat line read, and what is not one. */
static int64_t rq_wait_of(const char *text) {
  char path[] = "/tmp/coro_rqwait_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  int64_t w = coro__rq_wait_at(path);
  unlink(path);
  return w;
}

static void test_rq_wait_parse(int mode) {
  (void)mode;
  CHECK_EQ(rq_wait_of("12 34 5\n"), 34);
  CHECK_EQ(rq_wait_of("12 0 5\n"), 0);
  CHECK_EQ(rq_wait_of("0 34 1\n"), 34); /* no tick yet */
  CHECK_EQ(rq_wait_of("0 0 0\n"), -1);  /* not counted by this kernel */
  CHECK_EQ(rq_wait_of(""), -1);
  CHECK_EQ(rq_wait_of("abc\n"), -1);
  CHECK_EQ(rq_wait_of("12\n"), -1);
  CHECK_EQ(rq_wait_of("12 x\n"), -1);
  CHECK_EQ(rq_wait_of("12 34\n"), -1);
  CHECK_EQ(rq_wait_of("12 -3 1\n"), -1);
  CHECK_EQ(coro__rq_wait_at("/nonexistent/schedstat"), -1);
}

/* sched.c's contended: the run-queue wait grows while a thread shares
 * its one CPU with a busy one, and main's spin then finds the machine
 * oversubscribed. Driven by hand on this thread, pinned with a spinning
 * hog to one CPU: each gets about half of it, so the wait passes an
 * eighth of any window (the first look starts the first window of 20 ms;
 * the test bounds its tries, not its time). */
static atomic_int rq_hog_stop;

static void *rq_hog(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&rq_hog_stop, memory_order_relaxed))
    ;
  return NULL;
}

static void test_contended(int mode) {
  coro_loop *l = loop_mode(mode);
  int64_t w0 = coro__rq_wait();
  if (w0 < 0) {
    printf("contended: no run-queue wait from this kernel\n");
    CHECK_EQ(coro__loop_contended(l), 0);
    loop_close_ok(l);
    return;
  }
  cpu_set_t all, one;
  CHECK_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  first_cpu(&all, &one);
  CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  atomic_store(&rq_hog_stop, 0);
  pthread_attr_t a;
  pthread_attr_init(&a);
  CHECK_EQ(pthread_attr_setaffinity_np(&a, sizeof one, &one), 0);
  pthread_t hog;
  CHECK_EQ(pthread_create(&hog, &a, rq_hog, NULL), 0);
  pthread_attr_destroy(&a);
  int tries = 0;
  while (!coro__loop_contended(l)) {
    CHECK_LT(tries++, 50000000); /* each try a clock read or a look */
  }
  atomic_store(&rq_hog_stop, 1);
  CHECK_EQ(pthread_join(hog, NULL), 0);
  CHECK_EQ(sched_setaffinity(0, sizeof all, &all), 0);
  /* The wait only grows, and it grew. */
  CHECK(coro__rq_wait() > w0);
  loop_close_ok(l);
}

/* colocate.c: main moves off the CPU its posters run on after
 * COLOCATE_RUN (8) spawns in a row, each the first after a sleep, posted
 * from its own CPU; at most once per 10 ms (a run that found nowhere to
 * go counts); never when pinned to one CPU;
 * the affinity mask is left as it was. Driven by hand on this thread,
 * which coro__colocate_note moves as it would move the loop thread. */
static int mask_equal(const cpu_set_t *a, const cpu_set_t *b) {
  return CPU_EQUAL(a, b);
}

static void test_colocate(int mode) {
  coro_loop *l = loop_mode(mode);
  cpu_set_t all, one, now;
  CHECK_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  if (CPU_COUNT(&all) < 2) {
    printf("colocate: one CPU allowed, nothing to move to\n");
    loop_close_ok(l);
    return;
  }
  int c0 = first_cpu(&all, &one);
  /* Pinned to c0: never moved, the mask untouched. */
  CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  CHECK_EQ(sched_getcpu(), c0);
  for (int i = 0; i < 3 * 8; i++)
    coro__colocate_note(l, c0);
  CHECK_U64_EQ(stats_of(l).cpu_moves, 0);
  CHECK_EQ(sched_getaffinity(0, sizeof now, &now), 0);
  CHECK(mask_equal(&now, &one));
  /* A fresh loop: the pinned one's runs started its 10 ms gap (which
   * spares a pinned loop the look at its mask). */
  loop_close_ok(l);
  l = loop_mode(mode);
  /* On c0 with every CPU allowed again (the kernel leaves a running
   * thread where it is). Seven notes from c0, and one from elsewhere,
   * break the run: no move. */
  CHECK_EQ(sched_setaffinity(0, sizeof all, &all), 0);
  for (int i = 0; i < 7; i++)
    coro__colocate_note(l, c0);
  coro__colocate_note(l, -1);
  CHECK_U64_EQ(stats_of(l).cpu_moves, 0);
  /* Eight in a row: moved off the CPU of the eighth, the mask as it
   * was. The kernel may move this thread between two notes (a loaded
   * machine), which breaks the run: then it starts again. */
  CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  CHECK_EQ(sched_setaffinity(0, sizeof all, &all), 0);
  int last = -1;
  for (int tries = 0; stats_of(l).cpu_moves == 0; tries++) {
    CHECK_LT(tries, 1000);
    for (int i = 0; i < 8; i++) {
      last = sched_getcpu();
      coro__colocate_note(l, last);
    }
  }
  CHECK_U64_EQ(stats_of(l).cpu_moves, 1);
  CHECK_NE(sched_getcpu(), last);
  CHECK_EQ(sched_getaffinity(0, sizeof now, &now), 0);
  CHECK(mask_equal(&now, &all));
  /* The 10 ms gap, without timing this thread (valgrind runs a note in
   * about a millisecond): with the last move stamped a minute ahead,
   * runs of eight move nothing; stamped a minute back, the next run
   * moves. */
  l->moved_at = coro_now() + 60 * (int64_t)1000000000;
  for (int i = 0; i < 3 * 8; i++)
    coro__colocate_note(l, sched_getcpu());
  CHECK_U64_EQ(stats_of(l).cpu_moves, 1);
  l->moved_at = coro_now() - 60 * (int64_t)1000000000;
  for (int tries = 0; stats_of(l).cpu_moves == 1; tries++) {
    CHECK_LT(tries, 1000);
    for (int i = 0; i < 8; i++)
      coro__colocate_note(l, sched_getcpu());
  }
  CHECK_U64_EQ(stats_of(l).cpu_moves, 2);
  loop_close_ok(l);
}

static void test_remote_wait_deadlk(int mode) {
  run_body(mode, body_remote_on_loop_thread);
  /* From the loop stack, before and after running. */
  coro_loop *l = loop_mode(mode);
  rdone d;
  memset(&d, 0, sizeof d);
  d.stop = 1;
  coro_remote *r = NULL;
  CHECK_EQ(coro_remote_spawn(l, ret_arg, (void *)8, NULL, on_done_cb, &d, &r),
           0);
  void *res;
  CHECK_EQ(coro_remote_wait(r, -1, &res), -EDEADLK);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(d.calls, 1);
  CHECK_EQ(coro_remote_wait(r, -1, &res), -EDEADLK);
  int err = 99;
  CHECK_EQ(coro_remote_poll(r, &res, &err), 1);
  CHECK_EQ(err, 0);
  CHECK_EQ((intptr_t)res, 8);
  coro_remote_release(r);
  loop_close_ok(l);
}

/* Remote wait with a deadline, then cancel after the start. */
static atomic_int rt_started;
static rdone rt_done;

static void *rt_sleeper(void *arg) {
  (void)arg;
  atomic_store(&rt_started, 1);
  return (void *)(intptr_t)coro_sleep(-1);
}

static void *rt_thread(void *arg) {
  (void)arg;
  coro_remote *r;
  CHECK_EQ(coro_remote_spawn(g_loop, rt_sleeper, NULL, NULL, on_done_cb,
                             &rt_done, &r),
           0);
  while (!atomic_load(&rt_started))
    nap_ms(1);
  void *res = NULL;
  int64_t d = in_ms(20);
  CHECK_EQ(coro_remote_wait(r, d, &res), -ETIMEDOUT);
  CHECK_GE(coro_now(), d);
  CHECK_EQ(coro_remote_wait(r, 0, &res), -ETIMEDOUT);
  int err = 99;
  CHECK_EQ(coro_remote_poll(r, &res, &err), 0);
  CHECK_EQ(coro_remote_cancel(r), 0);
  CHECK_EQ(coro_remote_cancel(r), 0);
  /* Cancelled after it started: it finishes normally with its result. */
  CHECK_EQ(coro_remote_wait(r, -1, &res), 0);
  CHECK_EQ((intptr_t)res, -ECANCELED);
  CHECK_EQ(coro_remote_poll(r, &res, &err), 1);
  CHECK_EQ(err, 0);
  CHECK_EQ(coro_remote_cancel(r), 0); /* finished: nothing happens */
  coro_remote_release(r);
  return NULL;
}

static void test_remote_timeout_cancel(int mode) {
  coro_loop *l = loop_mode(mode);
  rt_done.stop = 1;
  pthread_t t = thread_go(rt_thread, NULL);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(t);
  CHECK_EQ(rt_done.calls, 1);
  CHECK_EQ(rt_done.err, 0);
  CHECK_EQ((intptr_t)rt_done.result, -ECANCELED);
  loop_close_ok(l);
}

/* Cancelled before it started: never runs, on_done once with -ECANCELED. */
static int cb_ran;
static rdone cb_done;
static coro_remote *cb_r;

static void *cb_fn(void *arg) {
  cb_ran = 1;
  return arg;
}

static void *cb_spawn_thread(void *arg) {
  (void)arg;
  CHECK_EQ(coro_remote_spawn(g_loop, cb_fn, NULL, NULL, on_done_cb, &cb_done,
                             &cb_r),
           0);
  CHECK_EQ(coro_remote_cancel(cb_r), 0);
  return NULL;
}

static void *cb_wait_thread(void *arg) {
  (void)arg;
  void *res = (void *)1;
  CHECK_EQ(coro_remote_wait(cb_r, -1, &res), -ECANCELED);
  CHECK_EQ(coro_remote_wait(cb_r, 0, &res), -ECANCELED);
  int err = 0;
  CHECK_EQ(coro_remote_poll(cb_r, &res, &err), 1);
  CHECK_EQ(err, -ECANCELED);
  return NULL;
}

static void test_remote_cancel_before_start(int mode) {
  coro_loop *l = loop_mode(mode);
  cb_done.stop = 1;
  thread_wait(thread_go(cb_spawn_thread, NULL)); /* the loop is not running */
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(cb_done.calls, 1);
  CHECK(cb_done.on_loop_thread);
  CHECK_EQ(cb_done.poll, 1);
  CHECK_EQ(cb_done.err, -ECANCELED);
  CHECK_PTR_EQ(cb_done.r, cb_r);
  thread_wait(thread_go(cb_wait_thread, NULL));
  /* Running further calls nothing twice. */
  CHECK_EQ(coro_spawn(NULL, stopper, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(cb_ran, 0);
  CHECK_EQ(cb_done.calls, 1);
  coro_remote_release(cb_r);
  loop_close_ok(l);
  CHECK_EQ(cb_done.calls, 1);
}

/* The caller's reference dropped at once: everything still happens, and
 * nothing leaks (ASan/valgrind). */
static rdone re_done;
static int re_ran;

static void *re_fn(void *arg) {
  CHECK_EQ(coro_sleep(in_ms(5)), 0);
  re_ran = 1;
  return arg;
}

static void *re_thread(void *arg) {
  (void)arg;
  coro_remote *r;
  CHECK_EQ(coro_remote_spawn(g_loop, re_fn, (void *)3, NULL, on_done_cb,
                             &re_done, &r),
           0);
  coro_remote_release(r);
  return NULL;
}

static void test_remote_release_early(int mode) {
  coro_loop *l = loop_mode(mode);
  re_done.stop = 1;
  thread_wait(thread_go(re_thread, NULL));
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(re_ran, 1);
  CHECK_EQ(re_done.calls, 1);
  CHECK_EQ(re_done.poll, 1);
  CHECK_EQ(re_done.err, 0);
  CHECK_EQ((intptr_t)re_done.result, 3);
  loop_close_ok(l);
}

static void *rbad_thread(void *arg) {
  (void)arg;
  coro_remote *r = NULL;
  CHECK_EQ(coro_remote_spawn(NULL, ret_arg, NULL, NULL, NULL, NULL, &r),
           -EINVAL);
  CHECK_EQ(coro_remote_spawn(g_loop, NULL, NULL, NULL, NULL, NULL, &r),
           -EINVAL);
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = 9;
  CHECK_EQ(coro_remote_spawn(g_loop, ret_arg, NULL, &o, NULL, NULL, &r),
           -EINVAL);
  memset(&o, 0, sizeof o);
  o.stack_mode = CORO_STACK_GUARDED;
  o.stack_size = 1;
  CHECK_EQ(coro_remote_spawn(g_loop, ret_arg, NULL, &o, NULL, NULL, &r),
           -EINVAL);
  o.stack_size = (size_t)CORO_STACK_SIZE_MAX + 1;
  CHECK_EQ(coro_remote_spawn(g_loop, ret_arg, NULL, &o, NULL, NULL, &r),
           -EINVAL);
  return NULL;
}

static void test_remote_bad_input(int mode) {
  coro_loop *l = loop_mode(mode);
  thread_wait(thread_go(rbad_thread, NULL));
  CHECK_U64_EQ(stats_of(l).posts, 0);
  run_empty(l);
  CHECK_U64_EQ(stats_of(l).spawned, 0);
  loop_close_ok(l);
}

/* Many threads, many remote coroutines. */
#define RM_THREADS 4
#define RM_EACH 250
static uint64_t rm_ids[RM_THREADS * RM_EACH];
static pthread_t rm_workers[RM_THREADS];

static void *rm_double(void *arg) {
  if ((intptr_t)arg % 3 == 0)
    CHECK_EQ(coro_yield(), 0);
  return (void *)((intptr_t)arg * 2);
}

static void *rm_worker(void *arg) {
  int t = (int)(intptr_t)arg;
  coro_remote **rs = calloc(RM_EACH, sizeof *rs);
  CHECK(rs != NULL);
  for (int i = 0; i < RM_EACH; i++) {
    CHECK_EQ(coro_remote_spawn(g_loop, rm_double, (void *)(intptr_t)(t * RM_EACH + i),
                               NULL, NULL, NULL, &rs[i]),
             0);
    rm_ids[t * RM_EACH + i] = coro_remote_id(rs[i]);
  }
  for (int i = 0; i < RM_EACH; i++) {
    void *res;
    CHECK_EQ(coro_remote_wait(rs[i], -1, &res), 0);
    CHECK_EQ((intptr_t)res, 2 * (t * RM_EACH + i));
    coro_remote_release(rs[i]);
  }
  free(rs);
  return NULL;
}

static void *rm_coordinator(void *arg) {
  (void)arg;
  for (int i = 0; i < RM_THREADS; i++)
    rm_workers[i] = thread_go(rm_worker, (void *)(intptr_t)i);
  for (int i = 0; i < RM_THREADS; i++)
    thread_wait(rm_workers[i]);
  CHECK_EQ(coro_loop_stop(g_loop), 0);
  return NULL;
}

static void test_remote_many_threads(int mode) {
  coro_loop *l = loop_mode(mode);
  pthread_t c = thread_go(rm_coordinator, NULL);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  thread_wait(c);
  check_ids_unique(rm_ids, RM_THREADS * RM_EACH);
  CHECK_U64_EQ(stats_of(l).spawned, RM_THREADS * RM_EACH);
  loop_close_ok(l);
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

/* Posts, spawns and remote spawns during close: -ESHUTDOWN, from the loop
 * thread and from another thread (the loop is alive: we are inside close). */
static pthread_mutex_t sd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sd_cv = PTHREAD_COND_INITIALIZER;
static int sd_request, sd_answered;
static int sd_rc_post, sd_rc_remote;
static int sd_victim_done;

static void *sd_helper(void *arg) {
  (void)arg;
  pthread_mutex_lock(&sd_mu);
  while (!sd_request)
    pthread_cond_wait(&sd_cv, &sd_mu);
  pthread_mutex_unlock(&sd_mu);
  int rp = coro_loop_post(g_loop, never_cb, NULL);
  coro_remote *r = NULL;
  int rr = coro_remote_spawn(g_loop, ret_arg, NULL, NULL, NULL, NULL, &r);
  pthread_mutex_lock(&sd_mu);
  sd_rc_post = rp;
  sd_rc_remote = rr;
  sd_answered = 1;
  pthread_cond_broadcast(&sd_cv);
  pthread_mutex_unlock(&sd_mu);
  return NULL;
}

static void *sd_victim(void *arg) {
  (void)arg;
  CHECK_EQ(coro_sleep(-1), -ECANCELED); /* woken by close */
  coro *co = NULL;
  CHECK_EQ(coro_spawn(&co, ret_arg, NULL, NULL), -ESHUTDOWN);
  CHECK_EQ(coro_spawn(NULL, ret_arg, NULL, NULL), -ESHUTDOWN);
  CHECK_EQ(coro_create(&co, ret_arg, NULL, NULL), -ESHUTDOWN);
  CHECK_EQ(coro_loop_post(coro_loop_current(), never_cb, NULL), -ESHUTDOWN);
  coro_remote *r = NULL;
  CHECK_EQ(coro_remote_spawn(coro_loop_current(), ret_arg, NULL, NULL, NULL,
                             NULL, &r),
           -ESHUTDOWN);
  /* Ask the helper thread, and wait for it here (blocking the loop thread
   * on purpose: nothing else needs to run meanwhile). */
  pthread_mutex_lock(&sd_mu);
  sd_request = 1;
  pthread_cond_broadcast(&sd_cv);
  while (!sd_answered)
    pthread_cond_wait(&sd_cv, &sd_mu);
  pthread_mutex_unlock(&sd_mu);
  CHECK_EQ(sd_rc_post, -ESHUTDOWN);
  CHECK_EQ(sd_rc_remote, -ESHUTDOWN);
  sd_victim_done = 1;
  return NULL;
}

static void test_shutdown_posts(int mode) {
  coro_loop *l = loop_mode(mode);
  pthread_t h = thread_go(sd_helper, NULL);
  spawn_detached(sd_victim, NULL);
  CHECK_EQ(coro_spawn(NULL, stopper, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  loop_close_ok(l);
  thread_wait(h);
  CHECK_EQ(sd_victim_done, 1);
}

/* Closing with live coroutines of every kind. */
static int cl_a_rc = 1, cl_a_done, cl_b_rc = 1, cl_c_done, cl_h_rc = 1;
static long cl_c_yields;
static coro *cl_a;
static coro_key cl_key;
static int cl_dtor_calls, cl_val;

static void cl_dtor(void *v) {
  CHECK_PTR_EQ(v, &cl_val);
  cl_dtor_calls++;
}

static void *cl_a_fn(void *arg) {
  (void)arg;
  cl_a_rc = coro_sleep(-1);
  cl_a_done = 1;
  return NULL;
}

static void *cl_b_fn(void *arg) {
  (void)arg;
  cl_b_rc = coro_join(cl_a, -1, NULL);
  return NULL;
}

static void *cl_c_fn(void *arg) {
  (void)arg;
  while (coro_yield() == 0)
    cl_c_yields++;
  cl_c_done = 1;
  return NULL;
}

static void *cl_d_fn(void *arg) {
  (void)arg;
  CHECK_EQ(coro_local_set(cl_key, &cl_val), 0);
  CHECK_EQ(coro_sleep(-1), -ECANCELED);
  return NULL;
}

static void *cl_h_fn(void *arg) {
  (void)arg;
  cl_h_rc = coro_sleep(in_ms(600000));
  return NULL;
}

static void *cl_gen(void *arg) {
  (void)arg;
  for (;;)
    CHECK_EQ(coro_transfer(coro_caller(), NULL, NULL), 0);
  return NULL;
}

static void test_close_live(int mode) {
  coro_loop *l = loop_mode(mode);
  CHECK_EQ(coro_key_create(&cl_key, cl_dtor), 0);
  cl_a = spawn_ok(cl_a_fn, NULL);
  spawn_ok(cl_b_fn, NULL);
  spawn_ok(cl_c_fn, NULL);
  spawn_ok(cl_d_fn, NULL);
  spawn_ok(ret_arg, (void *)1); /* finished, never joined */
  spawn_detached(cl_h_fn, NULL);
  spawn_ok(sleep_forever, NULL);
  coro *e = create_opts(cl_gen, NULL, CORO_STACK_DEFAULT);
  CHECK_EQ(coro_transfer(e, NULL, NULL), 0); /* suspended mid-way */
  create_opts(cl_gen, NULL, CORO_STACK_DEFAULT); /* never started */
  create_opts(cl_gen, NULL, mode == CORO_STACK_GUARDED ? CORO_STACK_SHARED
                                                       : CORO_STACK_GUARDED);
  CHECK_EQ(coro_spawn(NULL, stopper, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_GT(cl_c_yields, 0);
  /* Spawned after the stop, never run. */
  spawn_ok(sleep_forever, NULL);
  spawn_detached(ret_arg, NULL);
  CHECK_EQ(coro_loop_close(l, in_ms(20000)), 0);
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  CHECK_EQ(cl_a_rc, -ECANCELED);
  CHECK_EQ(cl_a_done, 1);
  CHECK(cl_b_rc == 0 || cl_b_rc == -ECANCELED);
  CHECK_EQ(cl_c_done, 1);
  CHECK_EQ(cl_h_rc, -ECANCELED);
  CHECK_EQ(cl_dtor_calls, 1);
}

/* A coroutine that ignores cancellation is abandoned at the deadline. */
static int ct_y_rc = 1, ct_y_done, ct_x_started, ct_dtor_calls, ct_val;
static coro_key ct_key;

static void ct_dtor(void *v) {
  (void)v;
  ct_dtor_calls++;
}

static void *ct_ignorer(void *arg) {
  (void)arg;
  CHECK_EQ(coro_local_set(ct_key, &ct_val), 0);
  ct_x_started++;
  for (;;)
    (void)coro_yield();
  return NULL;
}

static void *ct_busy_sleeper(void *arg) {
  (void)arg;
  ct_x_started++;
  /* A cancelled coro_sleep returns at once without switching, so yield
   * too: a coroutine that never switches would hang the whole loop. */
  for (;;) {
    (void)coro_sleep(in_ms(1));
    (void)coro_yield();
  }
  return NULL;
}

static void *ct_y(void *arg) {
  (void)arg;
  ct_y_rc = coro_sleep(-1);
  ct_y_done = 1;
  return NULL;
}

static void test_close_timeout(int mode) {
  coro_loop *l = loop_mode(mode);
  CHECK_EQ(coro_key_create(&ct_key, ct_dtor), 0);
  spawn_ok(ct_ignorer, NULL);
  spawn_detached(ct_busy_sleeper, NULL);
  spawn_ok(ct_y, NULL);
  CHECK_EQ(coro_spawn(NULL, stopper, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(ct_x_started, 2);
  CHECK_EQ(coro_loop_close(l, in_ms(50)), -ETIMEDOUT);
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  CHECK_EQ(ct_y_rc, -ECANCELED);
  CHECK_EQ(ct_y_done, 1);
  CHECK_EQ(ct_dtor_calls, 0); /* abandoned without running further */
  /* The thread can have a new loop. */
  l = loop_mode(mode);
  loop_close_ok(l);
}

/* A deadline already past when close starts (the thread was descheduled
 * on a loaded machine): the first turn still runs, so a cooperative
 * coroutine sees its cancellation and finishes; only the ignorer is
 * abandoned. */
static void test_close_past_deadline(int mode) {
  coro_loop *l = loop_mode(mode);
  CHECK_EQ(coro_key_create(&ct_key, ct_dtor), 0);
  ct_x_started = 0;
  ct_y_done = 0;
  ct_y_rc = 0;
  spawn_ok(ct_ignorer, NULL);
  spawn_ok(ct_y, NULL);
  CHECK_EQ(coro_spawn(NULL, stopper, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(ct_x_started, 1);
  CHECK_EQ(coro_loop_close(l, coro_now() - 1), -ETIMEDOUT);
  CHECK_EQ(ct_y_rc, -ECANCELED);
  CHECK_EQ(ct_y_done, 1);
}

/* Closing a loop that never ran. */
static int cu_post_calls;

static void cu_post(void *arg) {
  (void)arg;
  cu_post_calls++;
}

static void test_close_unrun(int mode) {
  coro_loop *l = loop_mode(mode);
  spawn_ok(sleep_forever, NULL);
  spawn_ok(ret_arg, NULL);
  spawn_detached(sleep_forever, NULL);
  create_opts(ret_arg, NULL, CORO_STACK_DEFAULT);
  CHECK_EQ(coro_loop_post(l, cu_post, NULL), 0);
  loop_close_ok(l);
  CHECK_LE(cu_post_calls, 1);
  /* A closed loop is unbound; an idle loop closes at once. */
  l = loop_mode(mode);
  loop_close_ok(l);
}

/* Remote handles across close. */
static rdone rc_done1, rc_done2, rc_done3;
static atomic_int rc_started;
static int rc_fn1_ran;
static coro_remote *rc_r1, *rc_r2, *rc_r3;

static void *rc_fn1(void *arg) {
  (void)arg;
  rc_fn1_ran = 1;
  return (void *)(intptr_t)coro_sleep(-1);
}

static void *rc_ignorer(void *arg) {
  (void)arg;
  atomic_store(&rc_started, 1);
  for (;;)
    (void)coro_yield();
  return NULL;
}

static void *rc_spawn_thread(void *arg) {
  (void)arg;
  CHECK_EQ(coro_remote_spawn(g_loop, rc_fn1, NULL, NULL, on_done_cb,
                             &rc_done1, &rc_r1),
           0);
  CHECK_EQ(coro_remote_spawn(g_loop, cb_fn, NULL, NULL, on_done_cb, &rc_done2,
                             &rc_r2),
           0);
  CHECK_EQ(coro_remote_cancel(rc_r2), 0);
  return NULL;
}

static void *rc_check_thread(void *arg) {
  (void)arg;
  void *res = NULL;
  int err = 0;
  /* rc_r1: queued when close began, so it never ran: -ESHUTDOWN, which
   * tells it apart from a cancelled or abandoned coroutine. */
  CHECK_EQ(coro_remote_wait(rc_r1, -1, &res), -ESHUTDOWN);
  CHECK_EQ(coro_remote_poll(rc_r1, &res, &err), 1);
  CHECK_EQ(err, -ESHUTDOWN);
  CHECK_EQ(rc_fn1_ran, 0);
  /* rc_r2: cancelled before start. */
  CHECK_EQ(coro_remote_wait(rc_r2, -1, &res), -ECANCELED);
  CHECK_EQ(coro_remote_poll(rc_r2, &res, &err), 1);
  CHECK_EQ(err, -ECANCELED);
  /* rc_r3: abandoned by close. */
  CHECK_EQ(coro_remote_wait(rc_r3, -1, &res), -ECANCELED);
  CHECK_EQ(coro_remote_wait(rc_r3, 0, &res), -ECANCELED);
  CHECK_EQ(coro_remote_poll(rc_r3, &res, &err), 1);
  CHECK_EQ(err, -ECANCELED);
  /* Cancel after close is harmless; then drop the handles. */
  CHECK_EQ(coro_remote_cancel(rc_r3), 0);
  coro_remote_release(rc_r1);
  coro_remote_release(rc_r2);
  coro_remote_release(rc_r3);
  return NULL;
}

static void test_remote_across_close(int mode) {
  coro_loop *l = loop_mode(mode);
  /* rc_r3 runs and ignores cancellation. */
  CHECK_EQ(coro_remote_spawn(l, rc_ignorer, NULL, NULL, on_done_cb, &rc_done3,
                             &rc_r3),
           0);
  CHECK_EQ(coro_spawn(NULL, stopper, (void *)20, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(atomic_load(&rc_started), 1);
  /* rc_r1 and rc_r2 arrive while the loop is not running. */
  thread_wait(thread_go(rc_spawn_thread, NULL));
  CHECK_EQ(coro_loop_close(l, in_ms(200)), -ETIMEDOUT);
  CHECK_EQ(rc_done1.calls, 1);
  CHECK_EQ(rc_done2.calls, 1);
  CHECK_EQ(rc_done3.calls, 1);
  CHECK_EQ(rc_done1.err, -ESHUTDOWN);
  CHECK_EQ(rc_done2.err, -ECANCELED);
  CHECK_EQ(rc_done3.err, -ECANCELED);
  CHECK_EQ(cb_ran, 0);
  thread_wait(thread_go(rc_check_thread, NULL));
}

/* ------------------------------------------------------------------ */
/* Regressions found in review.                                        */
/* ------------------------------------------------------------------ */

/* Joining a finished generator that another generator still names as its
 * caller: that one must return to the loop's context, not to freed memory.
 * No stack cache, so a stale pointer would fault. */
static coro *rv_a, *rv_b;

static void *rv_b_fn(void *arg) {
  (void)arg;
  CHECK_EQ(coro_transfer(rv_a, (void *)1, NULL), 0); /* back to A: a return */
  return (void *)42;
}

static void *rv_a_fn(void *arg) {
  (void)arg;
  CHECK_EQ(coro_transfer(rv_b, NULL, NULL), 0); /* B's caller is now A */
  return (void *)7;
}

static void test_freed_caller(int mode) {
  coro_loop *l = loop_make(mode, 0, (size_t)-1);
  rv_a = create_opts(rv_a_fn, NULL, CORO_STACK_DEFAULT);
  rv_b = create_opts(rv_b_fn, NULL, CORO_STACK_DEFAULT);
  void *v = NULL;
  CHECK_EQ(coro_transfer(rv_a, NULL, &v), 1); /* A finished */
  CHECK_EQ((intptr_t)v, 7);
  CHECK_EQ(coro_join(rv_a, 0, NULL), 0);      /* frees A */
  CHECK_EQ(coro_transfer(rv_b, NULL, &v), 1); /* B finishes: back here */
  CHECK_EQ((intptr_t)v, 42);
  CHECK_EQ(coro_join(rv_b, 0, NULL), 0);
  loop_close_ok(l);
}

/* Cancelling a remote coroutine in the window after it finished and
 * before the loop reported it must not touch its freed record. */
static coro_remote *rf_r;
static int rf_posts;

static void rf_cancel(void *arg) {
  (void)arg;
  CHECK_EQ(coro_remote_cancel(rf_r), 0);
  rf_posts++;
}

static void *rf_fn(void *arg) {
  (void)arg;
  CHECK_EQ(coro_loop_post(coro_loop_current(), rf_cancel, NULL), 0);
  return (void *)5;
}

static void test_remote_cancel_after_finish(int mode) {
  coro_loop *l = loop_make(mode, 0, (size_t)-1);
  CHECK_EQ(coro_remote_spawn(l, rf_fn, NULL, NULL, NULL, NULL, &rf_r), 0);
  run_empty(l);
  CHECK_EQ(rf_posts, 1);
  void *res = NULL;
  int err = 99;
  CHECK_EQ(coro_remote_poll(rf_r, &res, &err), 1);
  CHECK_EQ(err, 0);
  CHECK_EQ((intptr_t)res, 5);
  coro_remote_release(rf_r);
  loop_close_ok(l);
}

/* Polling slots (sched.c "Polling slots"): a request handed to main on
 * one line, answered there; a request taken over by a later one is not
 * answered there (the record has its outcome); a request cancelled
 * before main took it, or still in its slot at the close, is refused:
 * answered "see the record", which says -ECANCELED or -ESHUTDOWN. */
static coro__slot *slots_new(void) {
  coro__slot *s = NULL;
  CHECK_EQ(posix_memalign((void **)&s, 64, 2 * sizeof *s), 0);
  memset(s, 0, 2 * sizeof *s);
  return s;
}

static void *sl_sleep(void *arg) {
  (void)coro_sleep(-1); /* until cancelled */
  return arg;
}

static void *sl_cancel(void *r) {
  CHECK_EQ(coro_remote_cancel(r), 0); /* from another thread: it posts */
  return NULL;
}

static void check_outcome(coro_remote *r, int want_err, void *want_res) {
  void *res = NULL;
  int err = 99;
  CHECK_EQ(coro_remote_poll(r, &res, &err), 1);
  CHECK_EQ(err, want_err);
  if (want_err == 0)
    CHECK_PTR_EQ(res, want_res);
}

/* Request q of slot s was refused: answered "read the record", which
 * says err; its coroutine never started. Releases r. */
static void check_refused(coro__slot *s, uint64_t q, coro_remote *r,
                          int err) {
  CHECK_U64_EQ(atomic_load(&s->resp), q);
  CHECK_EQ(s->ok, 0);
  check_outcome(r, err, NULL);
  CHECK_EQ(coro__remote_started(r), 0);
  coro_remote_release(r);
}

static void test_remote_slots(int mode) {
  long records = coro__remote_outstanding();
  coro_loop *l = loop_mode(mode);
  coro__slot *s = slots_new();
  coro__loop_set_slots(l, s, 2);
  /* Answered in the slot. */
  coro_remote *r1 = NULL;
  CHECK_EQ(coro__remote_spawn_slot(l, &s[0], ret_arg, (void *)7, NULL, NULL,
                                   &r1, NULL, 1),
           0);
  CHECK_EQ(coro__remote_spawn_slot(l, &s[0], ret_arg, NULL, NULL, NULL, &r1,
                                   NULL, 0),
           -EINVAL); /* no request number 0 */
  run_empty(l);
  CHECK_U64_EQ(atomic_load(&s[0].resp), 1);
  CHECK_EQ(s[0].ok, 1);
  CHECK_PTR_EQ(s[0].result, (void *)7);
  check_outcome(r1, 0, (void *)7);
  CHECK_EQ(coro__remote_started(r1), 1);
  coro_remote_release(r1);
  CHECK_EQ(coro__loop_slot_starts(l), 1);
  CHECK_U64_EQ(atomic_load(&coro__loop_slot_seen(l)[0]), 1);
  /* Taken over: request 3 replaces request 2, which main has started;
   * request 2's end is not answered in the slot. */
  coro_remote *r2 = NULL, *r3 = NULL;
  CHECK_EQ(coro__remote_spawn_slot(l, &s[0], sl_sleep, (void *)8, NULL, NULL,
                                   &r2, NULL, 2),
           0);
  /* The sleeper waits for its cancel, which only another thread (or this
   * one, outside the run) can post. */
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), -EDEADLK);
  CHECK_EQ(coro__remote_started(r2), 1);
  CHECK_EQ(coro__remote_spawn_slot(l, &s[0], ret_arg, (void *)9, NULL, NULL,
                                   &r3, NULL, 3),
           0);
  CHECK_EQ(coro_remote_cancel(r2), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_U64_EQ(atomic_load(&s[0].resp), 3);
  CHECK_PTR_EQ(s[0].result, (void *)9);
  check_outcome(r3, 0, (void *)9);
  check_outcome(r2, 0, (void *)8); /* it returned: its result */
  coro_remote_release(r2);
  coro_remote_release(r3);
  /* Cancelled before main took it: never runs. */
  coro_remote *r4 = NULL;
  CHECK_EQ(coro__remote_spawn_slot(l, &s[1], sl_sleep, NULL, NULL, NULL, &r4,
                                   NULL, 1),
           0);
  CHECK_EQ(coro_remote_cancel(r4), 0);
  run_empty(l);
  check_refused(&s[1], 1, r4, -ECANCELED);
  /* The same, cancelled from another thread: the cancel's post comes
   * with the turn that takes the request. */
  coro_remote *r6 = NULL;
  CHECK_EQ(coro__remote_spawn_slot(l, &s[1], sl_sleep, NULL, NULL, NULL, &r6,
                                   NULL, 2),
           0);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, sl_cancel, r6), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  run_empty(l);
  check_refused(&s[1], 2, r6, -ECANCELED);
  /* Still in its slot at the close: refused. */
  coro_remote *r5 = NULL;
  CHECK_EQ(coro__remote_spawn_slot(l, &s[1], ret_arg, (void *)5, NULL, NULL,
                                   &r5, NULL, 3),
           0);
  loop_close_ok(l);
  check_refused(&s[1], 3, r5, -ESHUTDOWN);
  free(s);
  CHECK_EQ(coro__remote_outstanding(), records);
}

/* A slot's coroutine runs before the coroutines already ready (its
 * poster polls): the poster, a coroutine of the loop, yields after its
 * request, and main starts the request's coroutine ahead of it. */
static int slf_order[4], slf_norder;

static void *slf_mark(void *arg) {
  if (slf_norder < 4)
    slf_order[slf_norder++] = (int)(intptr_t)arg;
  return arg;
}

struct slf {
  coro_loop *l;
  coro__slot *s;
  coro_remote *r, *r2;
};

static void *slf_poster(void *p) {
  struct slf *f = p;
  CHECK_EQ(coro__remote_spawn_slot(f->l, &f->s[0], slf_mark, (void *)1, NULL,
                                   NULL, &f->r, NULL, 1),
           0);
  CHECK_EQ(coro__remote_spawn_slot(f->l, &f->s[1], slf_mark, (void *)3, NULL,
                                   NULL, &f->r2, NULL, 1),
           0);
  CHECK_EQ(coro_yield(), 0);
  slf_mark((void *)2);
  return NULL;
}

/* A chain of slot starts, each posting the next (or, with two, one in
 * each slot) and yielding: each goes ahead of the ready coroutine slf_y,
 * which still runs once it has waited sched.c's FIRST_WAIT_MAX_NS, long
 * before the chain's cap. Every link posted starts (no start failed and
 * ended the chain for another reason). */
#define SLF_CAP 2000
static struct {
  coro_loop *l;
  coro__slot *s;
  uint64_t req[2];
  int two, links, ran, y_ran;
} slf_chain;

static void slf_post(int i, coro_fn fn) {
  coro_remote *r = NULL;
  slf_chain.links++;
  CHECK_EQ(coro__remote_spawn_slot(slf_chain.l, &slf_chain.s[i], fn, NULL,
                                   NULL, NULL, &r, NULL, ++slf_chain.req[i]),
           0);
  coro_remote_release(r);
}

static void *slf_y(void *arg);

static void *slf_link(void *arg) {
  /* slf_y made ready by the first link, in a turn: stamped with that
   * turn's clock, not with one from before the run. */
  if (slf_chain.ran++ == 0)
    CHECK_EQ(coro_spawn(NULL, slf_y, NULL, NULL), 0);
  if (!slf_chain.y_ran && slf_chain.links < SLF_CAP) {
    slf_post(slf_chain.two ? 0 : slf_chain.links % 2, slf_link);
    if (slf_chain.two)
      slf_post(1, slf_link);
    CHECK_EQ(coro_yield(), 0);
  }
  return arg;
}

static void *slf_y(void *arg) {
  slf_chain.y_ran = 1;
  return arg;
}

static void test_remote_slot_first(int mode) {
  long records = coro__remote_outstanding();
  coro_loop *l = loop_mode(mode);
  coro__slot *s = slots_new();
  coro__loop_set_slots(l, s, 2);
  struct slf f = {l, s, NULL, NULL};
  slf_norder = 0;
  CHECK_EQ(coro_spawn(NULL, slf_poster, &f, NULL), 0);
  run_empty(l);
  CHECK_EQ(slf_norder, 3);
  CHECK_EQ(slf_order[0], 1); /* the requests' coroutines, in order */
  CHECK_EQ(slf_order[1], 3);
  CHECK_EQ(slf_order[2], 2); /* then the poster, ready before them */
  CHECK_U64_EQ(atomic_load(&s[0].resp), 1);
  check_outcome(f.r, 0, (void *)1);
  check_outcome(f.r2, 0, (void *)3);
  coro_remote_release(f.r);
  coro_remote_release(f.r2);
  /* The chains: slf_y, ready behind them, runs before the cap. Without
   * the bound, the chain of one start per turn runs to the cap; the one
   * of two a turn, without the inherited stamps, ends too here, but only
   * when a turn happens to last longer than the bound (one that faults a
   * fresh record's or stack's pages in). */
  uint64_t req = 1;
  for (int two = 0; two < 2; two++) {
    memset(&slf_chain, 0, sizeof slf_chain);
    slf_chain.l = l;
    slf_chain.s = s;
    slf_chain.two = two;
    slf_chain.req[0] = slf_chain.req[1] = req;
    CHECK_EQ(coro_spawn(NULL, slf_link, NULL, NULL), 0);
    run_empty(l);
    CHECK(slf_chain.y_ran);
    CHECK(slf_chain.links < SLF_CAP);
    CHECK_EQ(slf_chain.ran, slf_chain.links + 1);
    req = slf_chain.req[0] > slf_chain.req[1] ? slf_chain.req[0]
                                              : slf_chain.req[1];
  }
  loop_close_ok(l);
  free(s);
  CHECK_EQ(coro__remote_outstanding(), records);
}

/* The same across threads: a poster's round trips through a slot to a
 * loop that runs on another thread, sleeping between them now and then
 * (the wake of a slot's request). */
struct slot_poster {
  coro_loop *l;
  coro__slot *s;
  int n;     /* round trips */
  int sleep; /* every this many, the loop is let fall asleep first */
};

static void *slot_poster_main(void *arg) {
  struct slot_poster *p = arg;
  for (int i = 1; i <= p->n; i++) {
    coro_remote *r = NULL;
    CHECK_EQ(coro__remote_spawn_slot(p->l, p->s, ret_arg,
                                     (void *)(intptr_t)i, NULL, NULL, &r,
                                     NULL, (uint64_t)i),
             0);
    while (atomic_load_explicit(&p->s->resp, memory_order_acquire) !=
           (uint64_t)i)
      sched_yield();
    CHECK_EQ(p->s->ok, 1);
    CHECK_PTR_EQ(p->s->result, (void *)(intptr_t)i);
    coro_remote_release(r);
    if (i % p->sleep == 0) /* a request to a loop asleep wakes it */
      while (!coro__loop_asleep(p->l))
        sched_yield();
  }
  coro_loop_stop(p->l);
  return NULL;
}

static void test_remote_slots_threads(int mode) {
  coro_loop *l = loop_mode(mode);
  coro__slot *s = slots_new();
  coro__loop_set_slots(l, s, 2);
  /* Fewer under TSan, whose spins and yields took 10 s for 2,000. */
  struct slot_poster p = {l, &s[1], CORO__TSAN_ON ? 128 : 2000,
                          CORO__TSAN_ON ? 32 : 256};
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, slot_poster_main, &p), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_EQ(coro__loop_slot_starts(l), (unsigned)p.n);
  loop_close_ok(l);
  free(s);
}

/* A post run while the loop closes cannot run or close the loop again. */
static int cr_calls;

static void cr_post(void *arg) {
  coro_loop *l = arg;
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), -EPERM);
  CHECK_EQ(coro_loop_close(l, 0), -EPERM);
  cr_calls++;
}

static void test_close_reentry(int mode) {
  coro_loop *l = loop_mode(mode);
  CHECK_EQ(coro_loop_post(l, cr_post, l), 0);
  loop_close_ok(l);
  CHECK_EQ(cr_calls, 1);
}

/* ---- Guard sizes ------------------------------------------------------ */

/* The bytes of PROT_NONE mapping right below the mapping that holds addr
 * (its guard; at least: a neighbouring PROT_NONE region may have merged
 * with it), or 0. */
static size_t guard_below(const void *addr) {
  char line[512];
  unsigned long a = (unsigned long)(uintptr_t)addr, plo = 0, phi = 0;
  char pperm[8] = "";
  size_t got = 0;
  FILE *f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    char perm[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3)
      continue;
    if (lo <= a && a < hi) {
      if (phi == lo && strcmp(pperm, "---p") == 0)
        got = phi - plo;
      break;
    }
    plo = lo;
    phi = hi;
    snprintf(pperm, sizeof pperm, "%s", perm);
  }
  fclose(f);
  return got;
}

static size_t g_guard_seen;
static void *note_guard(void *arg) {
  volatile char here = 0;
  g_guard_seen = guard_below((const void *)&here);
  return arg;
}

/* guard_size of coro_loop_opts and coro_opts: refused above the maximum
 * (nothing made), rounded up to pages, and really below the stack (the
 * shared stack too; a SHARED coroutine's own guard_size is ignored). */
static void test_guard_size_opts(int mode) {
  size_t bad[] = {(size_t)CORO_GUARD_SIZE_MAX + 1, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    coro_loop_opts o;
    memset(&o, 0, sizeof o);
    o.stack_mode = mode;
    o.guard_size = bad[i];
    coro_loop *l = NULL;
    CHECK_EQ(coro_loop_new(&l, &o), -EINVAL);
    CHECK_PTR_EQ(coro_loop_current(), NULL);
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = mode;
  o.guard_size = 256 * 1024 + 1; /* rounds up to 256 KiB + a page */
  coro_loop *l = NULL;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  g_guard_seen = 0;
  coro *co = spawn_ok(note_guard, (void *)1);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 1);
  CHECK_GE(g_guard_seen, 256 * 1024 + page);
  /* A coroutine's own: bad sizes refused; a guarded one gets it. */
  coro_opts co_o;
  memset(&co_o, 0, sizeof co_o);
  co_o.guard_size = (size_t)CORO_GUARD_SIZE_MAX + 1;
  co = NULL;
  CHECK_EQ(coro_spawn(&co, note_guard, NULL, &co_o), -EINVAL);
  CHECK_PTR_EQ(co, NULL);
  co_o.stack_mode = CORO_STACK_GUARDED;
  co_o.guard_size = 1024 * 1024;
  g_guard_seen = 0;
  CHECK_EQ(coro_spawn(&co, note_guard, (void *)2, &co_o), 0);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 2);
  CHECK_GE(g_guard_seen, 1024 * 1024);
  co_o.stack_mode = CORO_STACK_SHARED; /* ignored: the shared stack's */
  g_guard_seen = 0;
  CHECK_EQ(coro_spawn(&co, note_guard, (void *)3, &co_o), 0);
  run_empty(l);
  CHECK_EQ((intptr_t)join_poll_ok(co), 3);
  CHECK_GE(g_guard_seen, 256 * 1024 + page);
  CHECK_LT(g_guard_seen, 1024 * 1024);
  loop_close_ok(l);
}

/* ------------------------------------------------------------------ */
/* Stack overflow: a child process must die by SIGABRT with a report.  */
/* ------------------------------------------------------------------ */

static char ov_path[PATH_MAX + 64];
static const char *ov_mode, *ov_kind;

/* Exec overflow_test, under the $CORO_TEST_RUN prefix when there is one
 * (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu" or "valgrind -q ...": the
 * command this program itself runs under). */
static void ov_exec(void *arg) {
  (void)arg;
  static char prefix[1024];
  char *argv[64];
  int n = 0;
  const char *run = getenv("CORO_TEST_RUN");
  if (run != NULL) {
    snprintf(prefix, sizeof prefix, "%s", run);
    for (char *w = strtok(prefix, " \t"); w != NULL && n < 60;
         w = strtok(NULL, " \t"))
      argv[n++] = w;
  }
  argv[n++] = ov_path;
  argv[n++] = (char *)ov_mode;
  if (ov_kind != NULL)
    argv[n++] = (char *)ov_kind;
  argv[n] = NULL;
  execvp(argv[0], argv);
  fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* Does text contain the decimal number id as a whole token? */
static int contains_number(const char *text, uint64_t id) {
  char num[32];
  snprintf(num, sizeof num, "%" PRIu64, id);
  size_t n = strlen(num);
  for (const char *p = text; (p = strstr(p, num)) != NULL; p++) {
    int before = p > text && p[-1] >= '0' && p[-1] <= '9';
    int after = p[n] >= '0' && p[n] <= '9';
    if (!before && !after)
      return 1;
  }
  return 0;
}

/* Run overflow_test in mode, with kind (NULL or "frame"), and check that it
 * died by SIGABRT with a report naming the victim's id and name. */
static void overflow_child(int mode, const char *kind, const char *name) {
  const char *env = getenv("CORO_OVERFLOW_TEST");
  if (env != NULL && env[0] != '\0') {
    snprintf(ov_path, sizeof ov_path, "%s", env);
  } else {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK_GT(n, 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    CHECK(slash != NULL);
    *slash = '\0';
    snprintf(ov_path, sizeof ov_path, "%s/overflow_test", self);
  }
  if (access(ov_path, X_OK) != 0)
    FAILF("overflow_test not found at %s: build csrc/test/overflow_test.c "
          "next to core_test or set CORO_OVERFLOW_TEST",
          ov_path);
  ov_mode = mode == CORO_STACK_GUARDED ? "guarded" : "shared";
  ov_kind = kind;
  child_result res;
  run_child(ov_exec, NULL, &res);
  uint64_t id = 0;
  const char *idp = strstr(res.out, "id=");
  if (idp == NULL || sscanf(idp, "id=%" SCNu64, &id) != 1 || id == 0) {
    fprintf(stderr, "child stdout:\n%s\nchild stderr:\n%s\n", res.out, res.err);
    FAILF("overflow_test did not print the coroutine's id");
  }
  check_killed_by(&res, SIGABRT);
  if (strstr(res.err, "stack overflow in coroutine") == NULL ||
      !contains_number(res.err, id) || strstr(res.err, name) == NULL ||
      strstr(res.err, "\")\n#0 0x") == NULL) { /* with its backtrace */
    fprintf(stderr, "child stderr:\n%s\n", res.err);
    FAILF("the report lacks \"stack overflow in coroutine\", the id %" PRIu64
          ", the name \"%s\" or the backtrace",
          id, name);
  }
}

static void test_overflow(int mode) {
  overflow_child(mode, NULL, "deep-recursion");
}

/* A 64 KiB frame jumps a one-page guard unless the compiler probes it page
 * by page (-fstack-clash-protection): it must still be reported, with the
 * coroutine's name, in both modes (the shared stack has a guard too, under
 * its canary). */
static void test_overflow_frame(int mode) {
  overflow_child(mode, "frame", "big-frame");
}

/* ------------------------------------------------------------------ */

static const testing_case tests[] = {
    {"loop_new", test_loop_new, 0},
    {"loop_new_bad_opts", test_loop_new_bad_opts, 0},
    {"loop_per_thread", test_loop_per_thread, 0},
    {"loop_run_eperm", test_loop_run_eperm, 0},
    {"run_until_empty", test_run_until_empty, 0},
    {"run_deadlock", test_run_deadlock, 0},
    {"loop_stop", test_loop_stop, 0},
    {"post_same_thread", test_post_same_thread, 0},
    {"post_cross_thread", test_post_cross_thread, 0},
    {"post_while_busy", test_post_while_busy, 0},
    {"post_wake_race", test_post_wake_race, 0},
    {"stats", test_stats, 0},
    {"stack_cache", test_stack_cache, 0},
    {"spawn_bad_input", test_spawn_bad_input, 0},
    {"no_loop", test_no_loop, 0},
    {"spawn_deferred", test_spawn_deferred, 0},
    {"yield_round_robin", test_yield_round_robin, 0},
    {"yield_no_starve", test_yield_no_starve, 0},
    {"yield_runs_timers", test_yield_runs_timers, 0},
    {"sleep", test_sleep, 0},
    {"join", test_join, 0},
    {"join_errors", test_join_errors, 0},
    {"detach", test_detach, 0},
    {"cancel", test_cancel, 0},
    {"cancel_sticky", test_cancel_sticky, 0},
    {"cancel_wakes_sleeper", test_cancel_wakes_sleeper, 0},
    {"ids", test_ids, 0},
    {"names", test_names, 0},
    {"exit", test_exit, 0},
    {"locals", test_locals, 0},
    {"keys_max", test_keys_max, 0},
    {"generator", test_generator, 0},
    {"generator_pipeline", test_generator_pipeline, 0},
    {"transfer_errors", test_transfer_errors, 0},
    {"same_fringe", test_same_fringe, 0},
    {"call_on_loop", test_call_on_loop, 0},
    {"errno", test_errno, 0},
    {"stack_integrity", test_stack_integrity, 0},
    {"many", test_many, 120},
    {"oom", test_oom, 0},
    {"cloexec", test_cloexec, 0},
    {"switch_backend", test_switch_backend, 0},
    {"remote_basic", test_remote_basic, 0},
    {"remote_beats", test_remote_beats, 0},
    {"remote_wait_deadlk", test_remote_wait_deadlk, 0},
    {"remote_early_publish", test_remote_early_publish, 0},
    {"colocate", test_colocate, 0},
    {"contended", test_contended, 0},
    {"rq_wait_parse", test_rq_wait_parse, 0},
    {"remote_timeout_cancel", test_remote_timeout_cancel, 0},
    {"remote_cancel_before_start", test_remote_cancel_before_start, 0},
    {"remote_release_early", test_remote_release_early, 0},
    {"remote_bad_input", test_remote_bad_input, 0},
    {"remote_many_threads", test_remote_many_threads, 0},
    {"shutdown_posts", test_shutdown_posts, 0},
    {"close_live", test_close_live, 0},
    {"close_timeout", test_close_timeout, 0},
    {"close_past_deadline", test_close_past_deadline, 0},
    {"close_unrun", test_close_unrun, 0},
    {"remote_across_close", test_remote_across_close, 0},
    {"freed_caller", test_freed_caller, 0},
    {"remote_cancel_after_finish", test_remote_cancel_after_finish, 0},
    {"remote_slots", test_remote_slots, 0},
    {"remote_slot_first", test_remote_slot_first, 0},
    {"remote_slots_threads", test_remote_slots_threads, 0},
    {"close_reentry", test_close_reentry, 0},
    {"overflow", test_overflow, 0},
    {"overflow_frame", test_overflow_frame, 0},
    {"guard_size_opts", test_guard_size_opts, 0},
};

static const testing_param modes[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

TESTING_MAIN(tests, modes)
