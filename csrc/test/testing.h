/* testing.h - a tiny test harness shared by coro's C test programs.
 *
 * A program lists its tests in a table and hands it to testing_main, which
 * runs every test once per parameter (for coro: once per stack mode), each in
 * a fork()ed child with a timeout (alarm), as libuv's runner does: a crash, a
 * hang or a failed check ends only that test, and leak checkers (ASan,
 * valgrind) report each test's leaks at the child's exit. It prints one line
 * per run, `ok name/param` or `FAIL name/param (why)`, and then the final
 * line exactly `N passed, N failed`; the exit status is 0 when nothing failed.
 *
 * Checks stop the test at the first failure (the child prints the file, the
 * line, the expression and the values, then exits with status 1), so a test
 * never runs on after a broken invariant.
 *
 * Usage: prog [-l] [substring...]
 *   -l            list the runs and exit
 *   substring     run only the runs whose `name/param` contains one of them
 * Environment:
 *   TESTING_NOFORK=1        run in the parent process (for gdb; stops at the
 *                           first failure)
 *   TESTING_TIMEOUT_SCALE=k multiply every timeout by k (automatic x20 when
 *                           running under valgrind)
 *
 * The header is self-contained (static functions only) and knows nothing of
 * coro, so any test program of the repository can use it.
 */
#ifndef CORO_TESTING_H
#define CORO_TESTING_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* One test: fn(param) runs in a child process; returning means success. */
typedef struct testing_case {
  const char *name;
  void (*fn)(int param);
  unsigned timeout_s; /* 0 = TESTING_DEFAULT_TIMEOUT */
} testing_case;

/* One parameter every test is run with (e.g. {"guarded", CORO_STACK_GUARDED}). */
typedef struct testing_param {
  const char *name;
  int value;
} testing_param;

#define TESTING_DEFAULT_TIMEOUT 30u

/* The name of the run in progress, for messages. */
static char testing_current[256];

/* Flush, then leave the test with status 1. _exit, not exit: a failure may
 * happen on a coroutine stack or with other threads running, where atexit
 * handlers and leak reports would only add noise. */
static inline void testing_fail_exit(void) {
  fflush(NULL);
  _exit(1);
}

/* A short symbolic name for the common errno values the tests compare. */
static inline const char *testing_errname(intmax_t v) {
  switch (v < 0 ? -v : v) {
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EINTR: return "EINTR";
  case EAGAIN: return "EAGAIN";
  case ENOMEM: return "ENOMEM";
  case EBUSY: return "EBUSY";
  case EINVAL: return "EINVAL";
  case EPIPE: return "EPIPE";
  case EDEADLK: return "EDEADLK";
  case EOVERFLOW: return "EOVERFLOW";
  case ESHUTDOWN: return "ESHUTDOWN";
  case ETIMEDOUT: return "ETIMEDOUT";
  case ECANCELED: return "ECANCELED";
  default: return NULL;
  }
}

static inline void testing_print_int(const char *label, intmax_t v) {
  const char *n = v < 0 ? testing_errname(v) : NULL;
  if (n != NULL)
    fprintf(stderr, "    %s: %jd (-%s)\n", label, v, n);
  else
    fprintf(stderr, "    %s: %jd (0x%jx)\n", label, v, (uintmax_t)v);
}

static inline void testing_check_fail(const char *file, int line,
                                      const char *expr) {
  fprintf(stderr, "%s:%d: [%s] CHECK(%s) failed\n", file, line,
          testing_current, expr);
  testing_fail_exit();
}

static inline void testing_check_int(const char *file, int line,
                                     const char *ea, const char *op,
                                     const char *eb, intmax_t a, intmax_t b,
                                     int ok) {
  if (ok)
    return;
  fprintf(stderr, "%s:%d: [%s] CHECK(%s %s %s) failed\n", file, line,
          testing_current, ea, op, eb);
  testing_print_int(ea, a);
  testing_print_int(eb, b);
  testing_fail_exit();
}

static inline void testing_check_ptr(const char *file, int line,
                                     const char *ea, const char *op,
                                     const char *eb, const void *a,
                                     const void *b, int ok) {
  if (ok)
    return;
  fprintf(stderr, "%s:%d: [%s] CHECK(%s %s %s) failed\n    %s: %p\n    %s: %p\n",
          file, line, testing_current, ea, op, eb, ea, a, eb, b);
  testing_fail_exit();
}

static inline void testing_check_str(const char *file, int line,
                                     const char *ea, const char *eb,
                                     const char *a, const char *b) {
  if (a != NULL && b != NULL && strcmp(a, b) == 0)
    return;
  fprintf(stderr,
          "%s:%d: [%s] CHECK_STR_EQ(%s, %s) failed\n    %s: %s%s%s\n    %s: %s%s%s\n",
          file, line, testing_current, ea, eb, ea, a ? "\"" : "",
          a ? a : "(null)", a ? "\"" : "", eb, b ? "\"" : "",
          b ? b : "(null)", b ? "\"" : "");
  testing_fail_exit();
}

/* CHECK(cond): cond must be true. */
#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond))                                                             \
      testing_check_fail(__FILE__, __LINE__, #cond);                         \
  } while (0)

/* Integer comparisons; both sides are evaluated once and printed on failure
 * (negative errno values with their names). */
#define TESTING_CMP(a, op, b)                                                \
  do {                                                                       \
    intmax_t testing_a_ = (intmax_t)(a), testing_b_ = (intmax_t)(b);         \
    testing_check_int(__FILE__, __LINE__, #a, #op, #b, testing_a_,           \
                      testing_b_, testing_a_ op testing_b_);                 \
  } while (0)
#define CHECK_EQ(a, b) TESTING_CMP(a, ==, b)
#define CHECK_NE(a, b) TESTING_CMP(a, !=, b)
#define CHECK_LT(a, b) TESTING_CMP(a, <, b)
#define CHECK_LE(a, b) TESTING_CMP(a, <=, b)
#define CHECK_GT(a, b) TESTING_CMP(a, >, b)
#define CHECK_GE(a, b) TESTING_CMP(a, >=, b)

/* Unsigned 64-bit comparison (counters, ids) without sign surprises. */
#define CHECK_U64_EQ(a, b)                                                   \
  do {                                                                       \
    uint64_t testing_a_ = (uint64_t)(a), testing_b_ = (uint64_t)(b);         \
    if (testing_a_ != testing_b_) {                                          \
      fprintf(stderr,                                                        \
              "%s:%d: [%s] CHECK_U64_EQ(%s, %s) failed\n    %s: %" PRIu64    \
              "\n    %s: %" PRIu64 "\n",                                     \
              __FILE__, __LINE__, testing_current, #a, #b, #a, testing_a_,   \
              #b, testing_b_);                                               \
      testing_fail_exit();                                                   \
    }                                                                        \
  } while (0)

#define CHECK_PTR_EQ(a, b)                                                   \
  do {                                                                       \
    const void *testing_a_ = (const void *)(a), *testing_b_ = (const void *)(b); \
    testing_check_ptr(__FILE__, __LINE__, #a, "==", #b, testing_a_,          \
                      testing_b_, testing_a_ == testing_b_);                 \
  } while (0)
#define CHECK_PTR_NE(a, b)                                                   \
  do {                                                                       \
    const void *testing_a_ = (const void *)(a), *testing_b_ = (const void *)(b); \
    testing_check_ptr(__FILE__, __LINE__, #a, "!=", #b, testing_a_,          \
                      testing_b_, testing_a_ != testing_b_);                 \
  } while (0)

#define CHECK_STR_EQ(a, b)                                                   \
  testing_check_str(__FILE__, __LINE__, #a, #b, (a), (b))

/* Fail unconditionally with a printf-style message. */
#define FAILF(...)                                                           \
  do {                                                                       \
    fprintf(stderr, "%s:%d: [%s] ", __FILE__, __LINE__, testing_current);    \
    fprintf(stderr, __VA_ARGS__);                                            \
    fputc('\n', stderr);                                                     \
    testing_fail_exit();                                                     \
  } while (0)

/* The timeout multiplier: TESTING_TIMEOUT_SCALE, or 20 under valgrind (its
 * preload library is in LD_PRELOAD), else 1. */
static inline unsigned testing_timeout_scale(void) {
  const char *s = getenv("TESTING_TIMEOUT_SCALE");
  if (s != NULL && atoi(s) > 0)
    return (unsigned)atoi(s);
  s = getenv("LD_PRELOAD");
  if (s != NULL && strstr(s, "vgpreload") != NULL)
    return 20;
  return 1;
}

/* 1 when running under valgrind (tests may shrink their stress sizes). */
static inline int testing_under_valgrind(void) {
  const char *s = getenv("LD_PRELOAD");
  return s != NULL && strstr(s, "vgpreload") != NULL;
}

/* The number of lines of /proc/self/maps (the process's mappings), read
 * with plain read(2) into static storage so that counting does not itself
 * allocate (stdio would malloc a buffer). */
static inline long testing_maps_count(void) {
  static char buf[1 << 16];
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror("open /proc/self/maps");
    testing_fail_exit();
  }
  long lines = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < n; i++)
      lines += buf[i] == '\n';
  close(fd);
  return lines;
}

/* Around a child that crashes on purpose: under valgrind, whose notes on
 * the child ("Process terminating with default action of signal 11") go to
 * valgrind's own copy of stderr and so escape any capture, frame them as
 * expected, so that a reader of a failing run's log skips them. Elsewhere
 * the callers capture the child's stderr, and these print nothing. */
static inline void testing_expected_crash_begin(const char *child) {
  if (testing_under_valgrind())
    fprintf(stderr, "== [%s] expected crash output of child %s follows ==\n",
            testing_current, child);
}

static inline void testing_expected_crash_end(const char *child) {
  if (testing_under_valgrind())
    fprintf(stderr, "== [%s] end of expected crash output of child %s ==\n",
            testing_current, child);
}

/* Run fn(arg) in a child process with its stderr captured into out (NUL-
 * terminated, cut at outsz - 1 bytes); returns the child's wait status.
 * The child exits 0 if fn returns. For children that must crash or report
 * (a sanitizer's report, an overflow message), whose output the test
 * checks and shows only when it fails. */
static inline int testing_child_captured(void (*fn)(void *), void *arg,
                                         char *out, size_t outsz) {
  int fds[2];
  if (pipe(fds) != 0) {
    FAILF("pipe: %s", strerror(errno));
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    FAILF("fork: %s", strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fn(arg);
    _exit(0);
  }
  close(fds[1]);
  size_t len = 0;
  ssize_t n;
  while (len + 1 < outsz &&
         (n = read(fds[0], out + len, outsz - 1 - len)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      break;
    len += (size_t)n;
  }
  out[len] = '\0';
  close(fds[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      FAILF("waitpid: %s", strerror(errno));
  return st;
}

static inline int testing_selected(const char *run, int argc, char **argv) {
  int any = 0;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-')
      continue;
    any = 1;
    if (strstr(run, argv[i]) != NULL)
      return 1;
  }
  return !any;
}

/* Run one test with one parameter in a child; 1 if it passed. */
static inline int testing_run_one(const testing_case *t, const testing_param *p,
                                  int nofork) {
  unsigned timeout = (t->timeout_s ? t->timeout_s : TESTING_DEFAULT_TIMEOUT) *
                     testing_timeout_scale();
  fflush(NULL);
  if (nofork) {
    t->fn(p->value);
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 0;
  }
  if (pid == 0) {
    /* The child: a default SIGALRM disposition kills it at the timeout. */
    signal(SIGALRM, SIG_DFL);
    alarm(timeout);
    t->fn(p->value);
    fflush(NULL);
    exit(0); /* exit, not _exit: leak checkers report at exit */
  }
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) {
      perror("waitpid");
      return 0;
    }
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return 1;
  if (WIFEXITED(st))
    printf("FAIL %s (exit status %d)\n", testing_current, WEXITSTATUS(st));
  else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
    printf("FAIL %s (timeout after %us)\n", testing_current, timeout);
  else if (WIFSIGNALED(st))
    printf("FAIL %s (killed by signal %d, %s)\n", testing_current,
           WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    printf("FAIL %s (status 0x%x)\n", testing_current, st);
  return -1; /* already reported */
}

/* Run every selected test with every parameter; print the results and the
 * final `N passed, N failed` line. Returns the process exit status. */
static inline int testing_main(int argc, char **argv, const testing_case *tests,
                               size_t ntests, const testing_param *params,
                               size_t nparams) {
  int list = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-l") == 0)
      list = 1;
  const char *nf = getenv("TESTING_NOFORK");
  int nofork = nf != NULL && nf[0] != '\0' && nf[0] != '0';
  unsigned passed = 0, failed = 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t i = 0; i < ntests; i++) {
    for (size_t j = 0; j < nparams; j++) {
      snprintf(testing_current, sizeof testing_current, "%s/%s",
               tests[i].name, params[j].name);
      if (!testing_selected(testing_current, argc, argv))
        continue;
      if (list) {
        printf("%s\n", testing_current);
        continue;
      }
      int r = testing_run_one(&tests[i], &params[j], nofork);
      if (r == 1) {
        printf("ok %s\n", testing_current);
        passed++;
      } else {
        if (r == 0)
          printf("FAIL %s\n", testing_current);
        failed++;
      }
    }
  }
  if (list)
    return 0;
  printf("%u passed, %u failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

/* The main of a test program: every case of the array tests with every
 * parameter of the array params. */
#define TESTING_MAIN(tests, params)                                          \
  int main(int argc, char **argv) {                                          \
    return testing_main(argc, argv, tests, sizeof tests / sizeof tests[0],   \
                        params, sizeof params / sizeof params[0]);           \
  }

#endif /* CORO_TESTING_H */
