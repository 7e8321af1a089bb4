/* crash.c - fixtures of package coro's crash-report and watchdog tests
 * (slow_test.go): coroutines that die of a signal in a function of their
 * own, on a loop Go made or on one a C thread made. */
#define _GNU_SOURCE
#include "ctest.h"

#include "coro.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int *volatile ctest_bad = (volatile int *)(uintptr_t)16;
static volatile int ctest_zero, ctest_seven = 7;

/* Dies of sig here where the CPU raises it (the report names this
 * function); abort() and raise() die inside libc. */
__attribute__((noinline, no_sanitize("undefined"))) void
ctest_crash_here(int sig) {
  if (sig == SIGSEGV) {
    *ctest_bad = 1;
  } else if (sig == SIGBUS) {
    int fd = memfd_create("ctest_crash", 0);
    if (fd < 0 || ftruncate(fd, 4096) != 0)
      _exit(6);
    volatile char *p =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || ftruncate(fd, 0) != 0)
      _exit(7);
    p[0] = 1;
  } else if (sig == SIGILL) {
#if defined(__aarch64__)
    __asm__ __volatile__(".inst 0x00000000");
#else
    __asm__ __volatile__("ud2");
#endif
  } else if (sig == SIGFPE) {
#if defined(__x86_64__)
    ctest_zero = ctest_seven / ctest_zero;
#else
    raise(SIGFPE);
#endif
  } else {
    abort();
  }
  __asm__ __volatile__("" ::: "memory");
}

uintptr_t ctest_crash_here_addr(void) { return (uintptr_t)ctest_crash_here; }

void *ctest_crash(void *arg) {
  struct ctest_box *b = arg;
  ctest_crash_here((int)b->n);
  return arg;
}

static void *c_loop_thread(void *arg) {
  coro_loop_opts o = {0};
  o.name = "c-loop";
  coro_loop *l;
  if (coro_loop_new(&l, &o) != 0)
    _exit(8);
  coro_opts co = {0};
  co.name = "c-crasher";
  if (coro_spawn(NULL, ctest_crash, arg, &co) != 0)
    _exit(9);
  coro_loop_run(l, CORO_RUN_UNTIL_EMPTY);
  return NULL;
}

int ctest_crash_on_c_loop(struct ctest_box *b) {
  pthread_t t;
  int rc = pthread_create(&t, NULL, c_loop_thread, b);
  if (rc != 0)
    return -rc;
  pthread_join(t, NULL); /* the process dies first */
  return 0;
}
