/* watchdog_test.c - the slow-coroutine watchdog (watchdog.c), the
 * abandoned coroutines' reports of coro_loop_close, and the crash reports
 * (crash.c), in both stack modes.
 *
 * No test waits for time to pass: a spinning coroutine spins until the
 * report it provokes has arrived (each test has the harness's timeout),
 * and "no report" is checked after a run that lasted, in the loop thread's
 * own CPU time, several times the watchdog's tick. Crashes run in a forked
 * child whose stderr is read and whose death by the signal is checked. The
 * frames are named with dladdr, so the program is linked with -rdynamic
 * and the functions to find are not static.
 */
#include "../coro.h"
#include "testing.h"

#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <time.h>

#define MS 1000000LL

static int g_mode;

/* ---- What the report function received -------------------------------- */

static pthread_mutex_t rep_mu = PTHREAD_MUTEX_INITIALIZER;
static coro_report reps[16];
static int nreps;
static atomic_int got_slow, got_end;

static void on_report(const coro_report *r, void *arg) {
  CHECK_PTR_EQ(arg, &reps);
  pthread_mutex_lock(&rep_mu);
  if (nreps < 16)
    reps[nreps++] = *r;
  pthread_mutex_unlock(&rep_mu);
  if (r->kind == CORO_REPORT_SLOW)
    atomic_store(&got_slow, 1);
  if (r->kind == CORO_REPORT_SLOW_END)
    atomic_store(&got_end, 1);
}

static coro_loop *new_loop(int64_t slow_ns) {
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = g_mode;
  o.name = "wd";
  o.slow_ns = slow_ns;
  o.report_fn = on_report;
  o.report_arg = &reps;
  coro_loop *l = NULL;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  return l;
}

static coro *spawn(coro_fn fn, void *arg, const char *name) {
  coro_opts o;
  memset(&o, 0, sizeof o);
  o.name = name;
  coro *co = NULL;
  CHECK_EQ(coro_spawn(&co, fn, arg, &o), 0);
  return co;
}

static int64_t thread_cpu(void) {
  struct timespec t;
  CHECK_EQ(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t), 0);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* True if frames[0..n) has a frame in a function whose name holds want. */
static int names(void *const *frames, int n, const char *want) {
  for (int i = 0; i < n; i++) {
    char sym[256];
    coro_backtrace_symbol(frames[i], sym, sizeof sym);
    if (strstr(sym, want) != NULL)
      return 1;
  }
  return 0;
}

/* ---- Spinning --------------------------------------------------------- */

/* Spins, never switching, until the watchdog's first report is in. */
__attribute__((noinline)) void watchdog_spin_here(void) {
  while (!atomic_load_explicit(&got_slow, memory_order_relaxed))
    __asm__ __volatile__("" ::: "memory");
}

static void *spinner(void *arg) {
  (void)arg;
  watchdog_spin_here();
  return NULL;
}

static void spin_check(int nosignal) {
  coro_loop *l = new_loop(20 * MS);
  coro *co = spawn(spinner, NULL, "spinner");
  uint64_t id = coro_id(co);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_join(co, 0, NULL), 0);
  CHECK_GE(coro_loop_longest_run(l), 20 * MS);
  /* The end of the run is reported by the watchdog's next tick, or at the
   * latest by the close. */
  CHECK_EQ(coro_loop_close(l, -1), 0);
  CHECK_EQ(atomic_load(&got_end), 1);
  CHECK_EQ(nreps, 2);
  const coro_report *s = &reps[0], *e = &reps[1];
  CHECK_EQ(s->kind, CORO_REPORT_SLOW);
  CHECK_U64_EQ(s->id, id);
  CHECK_STR_EQ(s->name, "spinner");
  CHECK_STR_EQ(s->loop_name, "wd");
  CHECK_GE(s->run_ns, 20 * MS);
  CHECK_EQ(s->threshold_ns, 20 * MS);
  if (nosignal) {
    CHECK_EQ(s->nframes, 0);
  } else {
    CHECK_GT(s->nframes, 0);
    CHECK(names(s->frames, s->nframes, "watchdog_spin_here"));
  }
  CHECK_EQ(e->kind, CORO_REPORT_SLOW_END);
  CHECK_U64_EQ(e->id, id);
  CHECK_STR_EQ(e->name, "spinner");
  CHECK_GE(e->run_ns, s->run_ns);
  char buf[8192];
  int n = coro_report_format(s, buf, sizeof buf);
  CHECK_GT(n, 0);
  CHECK_EQ((size_t)n, strlen(buf));
  CHECK(strstr(buf, "coroutine ") != NULL);
  CHECK(strstr(buf, "\"spinner\" (loop \"wd\") has run ") != NULL);
  if (!nosignal)
    CHECK(strstr(buf, "watchdog_spin_here") != NULL);
  n = coro_report_format(e, buf, sizeof buf);
  CHECK_GT(n, 0);
  CHECK(strstr(buf, "switched after running") != NULL);
}

/* A coroutine that runs past the threshold is reported while it runs, with
 * a backtrace naming the function it spins in, and again when it ends. */
static void spin_reported(int mode) {
  g_mode = mode;
  spin_check(0);
}

/* $CORO_SLOW_NOSIGNAL=1: the same reports, id and name included, without
 * frames (no signal is sent). */
static void nosignal(int mode) {
  g_mode = mode;
  CHECK_EQ(setenv("CORO_SLOW_NOSIGNAL", "1", 1), 0);
  spin_check(1);
}

/* After fork(), the child closes the loop it inherited (no deadlock on
 * the watchdog's lock, no report of the parent's runs) and a new loop of
 * its own is watched by the child's own watchdog. */
static void after_fork(int mode) {
  g_mode = mode;
  /* qemu-user cannot fork a process with threads (it asserts in its own
   * cpu loop); make tells us through $CORO_TEST_RUN. */
  const char *run = getenv("CORO_TEST_RUN");
  if (run != NULL && strstr(run, "qemu") != NULL)
    return;
  coro_loop *l = new_loop(20 * MS);
  coro *co = spawn(spinner, NULL, "spinner");
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_join(co, 0, NULL), 0);
  CHECK_EQ(atomic_load(&got_slow), 1);
  fflush(NULL);
  pid_t pid = fork();
  CHECK_GE(pid, 0);
  if (pid == 0) {
    nreps = 0;
    atomic_store(&got_slow, 0);
    atomic_store(&got_end, 0);
    if (coro_loop_close(l, -1) != 0 || nreps != 0)
      _exit(2);
    spin_check(0);
    _exit(0);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    CHECK_EQ(errno, EINTR);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  CHECK_EQ(coro_loop_close(l, -1), 0);
}

/* ---- Silence ---------------------------------------------------------- */

static void *busy_yielder(void *arg) {
  int64_t until = thread_cpu() + *(int64_t *)arg;
  while (thread_cpu() < until)
    CHECK_EQ(coro_yield(), 0);
  return NULL;
}

__attribute__((noinline)) void watchdog_short_spin(int64_t ns) {
  int64_t until = thread_cpu() + ns;
  while (thread_cpu() < until)
    __asm__ __volatile__("" ::: "memory");
}

static void *short_spinner(void *arg) {
  watchdog_short_spin(*(int64_t *)arg);
  return NULL;
}

/* Busy coroutines that switch often, and a run shorter than the
 * threshold: no report. The busy phase lasts 20 ticks of CPU time. */
static void silent_under_threshold(int mode) {
  g_mode = mode;
  coro_loop *l = new_loop(40 * MS); /* tick: 10 ms */
  int64_t busy = 200 * MS, shorter = 15 * MS;
  coro *a = spawn(busy_yielder, &busy, "yielder a");
  coro *b = spawn(busy_yielder, &busy, "yielder b");
  coro *c = spawn(short_spinner, &shorter, "short");
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_join(a, 0, NULL), 0);
  CHECK_EQ(coro_join(b, 0, NULL), 0);
  CHECK_EQ(coro_join(c, 0, NULL), 0);
  CHECK_LT(coro_loop_longest_run(l), 40 * MS);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  CHECK_EQ(nreps, 0);
}

/* Off (0) by default: no watchdog, no report, whatever runs. */
static void off_by_default(int mode) {
  g_mode = mode;
  coro_loop *l = new_loop(0);
  int64_t spin = 30 * MS;
  coro *c = spawn(short_spinner, &spin, "short");
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_join(c, 0, NULL), 0);
  CHECK_EQ(coro_loop_longest_run(l), 0);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  CHECK_EQ(nreps, 0);
}

/* ---- The calls -------------------------------------------------------- */

static void set_get(int mode) {
  g_mode = mode;
  coro_loop *l = new_loop(0);
  CHECK_EQ(coro_loop_get_slow(l), 0);
  CHECK_EQ(coro_loop_set_slow(l, 5 * MS), 0);
  CHECK_EQ(coro_loop_get_slow(l), 5 * MS);
  CHECK_EQ(coro_loop_set_slow(l, -1), -EINVAL);
  CHECK_EQ(coro_loop_get_slow(l), 5 * MS);
  CHECK_EQ(coro_loop_set_slow(l, 0), 0);
  CHECK_EQ(coro_loop_get_slow(l), 0);
  CHECK_EQ(coro_loop_set_slow(NULL, 1), -EINVAL);
  CHECK_EQ(coro_loop_get_slow(NULL), -EINVAL);
  CHECK_EQ(coro_loop_longest_run(NULL), -EINVAL);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  /* A negative threshold in the options is refused, leaking nothing. */
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = mode;
  o.slow_ns = -1;
  CHECK_EQ(coro_loop_new(&l, &o), -EINVAL);
  CHECK_PTR_EQ(coro_loop_current(), NULL);
  /* coro_report_format's bad input. */
  coro_report r;
  memset(&r, 0, sizeof r);
  char buf[64];
  CHECK_EQ(coro_report_format(NULL, buf, sizeof buf), -EINVAL);
  CHECK_EQ(coro_report_format(&r, NULL, 1), -EINVAL);
  CHECK_EQ(coro_report_format(&r, buf, sizeof buf), -EINVAL); /* kind 0 */
  r.kind = CORO_REPORT_SLOW;
  CHECK_EQ(coro_report_format(&r, buf, 8), -ENOSPC);
  r.nframes = 2;
  r.frames[0] = (void *)(uintptr_t)watchdog_spin_here;
  r.frames[1] = (void *)(uintptr_t)watchdog_short_spin;
  char big[1024];
  int n = coro_report_format(&r, big, sizeof big);
  CHECK_GT(n, 0);
  CHECK(strstr(big, "#1 ") != NULL);
  /* Too short for the frames: whole lines only. */
  size_t head = (size_t)(strchr(big, '\n') - big) + 1;
  CHECK_EQ(coro_report_format(&r, big, head + 4), -ENOSPC);
  CHECK_EQ(strlen(big), head);
}

/* ---- Close -------------------------------------------------------------- */

__attribute__((noinline)) void watchdog_stubborn_here(void) {
  for (;;)
    coro_yield(); /* ignores -ECANCELED */
}

static void *stubborn(void *arg) {
  (void)arg;
  watchdog_stubborn_here();
  return NULL;
}

static void *quitter(void *arg) {
  (void)arg;
  coro_sleep(-1);
  return NULL;
}

/* coro_loop_close reports the coroutines it abandons, with where they
 * were suspended; not the ones that finished. */
static void close_reports_abandoned(int mode) {
  g_mode = mode;
  coro_loop *l = new_loop(0);
  coro *s = spawn(stubborn, NULL, "stubborn");
  uint64_t id = coro_id(s);
  CHECK_EQ(coro_detach(s), 0);
  CHECK_EQ(coro_detach(spawn(quitter, NULL, "quitter")), 0);
  /* close runs them: the quitter sees the cancel and ends, the stubborn
   * one yields on until the deadline. */
  CHECK_EQ(coro_loop_close(l, coro_now() + 20 * MS), -ETIMEDOUT);
  CHECK_EQ(nreps, 1);
  CHECK_EQ(reps[0].kind, CORO_REPORT_ABANDONED);
  CHECK_U64_EQ(reps[0].id, id);
  CHECK_STR_EQ(reps[0].name, "stubborn");
  CHECK_GT(reps[0].nframes, 0);
  CHECK(names(reps[0].frames, reps[0].nframes, "watchdog_stubborn_here"));
  char buf[8192];
  CHECK_GT(coro_report_format(&reps[0], buf, sizeof buf), 0);
  CHECK(strstr(buf, "abandoned by close") != NULL);
}

/* ---- Crashes ------------------------------------------------------------ */

static int crash_sig;
static volatile int *volatile bad_address = (volatile int *)(uintptr_t)16;

static volatile int zero, seven = 7;

/* Dies of crash_sig in this very function where the CPU can raise it
 * (then the report must name it); abort() and raise() die inside libc,
 * which has no frame pointers, so the walk from there may skip or stop. */
/* UBSan would report the division itself instead of letting it trap. */
__attribute__((noinline, no_sanitize("undefined"))) void
watchdog_crash_here(void) {
  if (crash_sig == SIGSEGV) {
    *bad_address = 1; /* a real fault at address 16 */
  } else if (crash_sig == SIGBUS) {
    /* A real SIGBUS: a mapped page of a file cut short. */
    int fd = memfd_create("watchdog_test", 0);
    if (fd < 0 || ftruncate(fd, 4096) != 0)
      _exit(6);
    volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || ftruncate(fd, 0) != 0)
      _exit(7);
    p[0] = 1;
  } else if (crash_sig == SIGILL) {
#if defined(__aarch64__)
    __asm__ __volatile__(".inst 0x00000000"); /* udf #0 */
#else
    __asm__ __volatile__("ud2"); /* in place: __builtin_trap may go to .cold */
#endif
  } else if (crash_sig == SIGFPE) {
#if defined(__x86_64__)
    zero = seven / zero; /* the integer division traps */
#else
    raise(SIGFPE); /* arm64's does not */
#endif
  } else {
    abort();
  }
  __asm__ __volatile__("" ::: "memory"); /* not a tail call */
}

/* 1 if the report must name watchdog_crash_here (see there). */
static int names_crash_fn(int sig) {
#if defined(__x86_64__)
  return sig != SIGABRT;
#else
  return sig != SIGABRT && sig != SIGFPE;
#endif
}

static void *crasher(void *arg) {
  (void)arg;
  watchdog_crash_here();
  return NULL;
}

/* In the child: a loop named "crashy" whose coroutine "crasher" dies. */
static void crash_child(void) {
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = g_mode;
  o.name = "crashy";
  coro_loop *l = NULL;
  if (coro_loop_new(&l, &o) != 0)
    _exit(3);
  coro_opts co;
  memset(&co, 0, sizeof co);
  co.name = "crasher";
  if (coro_spawn(NULL, crasher, NULL, &co) != 0)
    _exit(4);
  coro_loop_run(l, CORO_RUN_UNTIL_EMPTY);
  _exit(5); /* not reached */
}

static void crash_with(int sig, const char *name) {
  crash_sig = sig;
  int pe[2];
  CHECK_EQ(pipe(pe), 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK_GE(pid, 0);
  if (pid == 0) {
    close(pe[0]);
    if (dup2(pe[1], 2) < 0)
      _exit(126);
    struct rlimit no_core = {0, 0}; /* no core files from the test */
    setrlimit(RLIMIT_CORE, &no_core);
    crash_child();
  }
  close(pe[1]);
  static char err[65536];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(pe[0], err + len, sizeof err - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  err[len] = '\0';
  close(pe[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    CHECK_EQ(errno, EINTR);
  char want[128];
  snprintf(want, sizeof want, "coro: fatal signal %s", name);
  if (strstr(err, want) == NULL ||
      strstr(err, "\"crasher\" (loop \"crashy\"):\n#0 0x") == NULL ||
      (names_crash_fn(sig) && strstr(err, "watchdog_crash_here+0x") == NULL) ||
      /* crasher is static: named from .symtab. (The SIGSEGV store comes
       * before watchdog_crash_here's prologue: its caller is skipped.) */
      (names_crash_fn(sig) && sig != SIGSEGV &&
       strstr(err, " crasher+0x") == NULL))
    FAILF("report missing or incomplete; child stderr:\n%s", err);
  if (sig == SIGSEGV && strstr(err, "(fault address 0x10) in") == NULL)
    FAILF("no fault address; child stderr:\n%s", err);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan's own handlers take SEGV, BUS and FPE over, and exit. */
  CHECK(WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
#else
  if (!WIFSIGNALED(status) || WTERMSIG(status) != sig)
    FAILF("child status 0x%x, want death by signal %d; stderr:\n%s", status,
          sig, err);
#endif
}

static void crash_segv(int mode) { g_mode = mode; crash_with(SIGSEGV, "SIGSEGV"); }
static void crash_bus(int mode) { g_mode = mode; crash_with(SIGBUS, "SIGBUS"); }
static void crash_ill(int mode) { g_mode = mode; crash_with(SIGILL, "SIGILL"); }
static void crash_fpe(int mode) { g_mode = mode; crash_with(SIGFPE, "SIGFPE"); }
static void crash_abrt(int mode) { g_mode = mode; crash_with(SIGABRT, "SIGABRT"); }

static const testing_case tests[] = {
    {"spin_reported", spin_reported, 0},
    {"nosignal", nosignal, 0},
    {"after_fork", after_fork, 0},
    {"silent_under_threshold", silent_under_threshold, 0},
    {"off_by_default", off_by_default, 0},
    {"set_get", set_get, 0},
    {"close_reports_abandoned", close_reports_abandoned, 0},
    {"crash_segv", crash_segv, 0},
    {"crash_bus", crash_bus, 0},
    {"crash_ill", crash_ill, 0},
    {"crash_fpe", crash_fpe, 0},
    {"crash_abrt", crash_abrt, 0},
};

static const testing_param modes[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

TESTING_MAIN(tests, modes)
