/* ctest.h - C fixtures for the Go tests of package coro (cgo is not
 * allowed in _test.go files, so they live in this internal package). */
#ifndef CTEST_H
#define CTEST_H

#include <stdint.h>

/* One argument record for every fixture; each uses the fields it needs.
 * Always C memory (ctest_box_new), never Go memory. */
struct ctest_box {
  int64_t n;        /* input: a count or a value */
  int64_t out;      /* output: a count or a value */
  int rc;           /* output: the last engine return code */
  int rc2;          /* output: a second return code */
  uintptr_t fn;     /* input: a coro.Func id */
  uintptr_t arg;    /* input: the Func's argument */
  uintptr_t result; /* output: the Func's result */
  int release;      /* input, atomic: ends ctest_spin and ctest_sleep_ignoring */
};

struct ctest_box *ctest_box_new(void);
void ctest_box_free(struct ctest_box *b);
int64_t ctest_box_out(struct ctest_box *b); /* atomic read of out */

void *ctest_add_one(void *arg);        /* *(int64_t *)arg += 1; returns arg */
void *ctest_nop(void *arg);            /* returns arg */
void *ctest_sleep_forever(void *arg);  /* box: out = 1 (started), rc = coro_sleep(-1) */
void *ctest_sleep_ms(void *arg);       /* box: rc = coro_sleep(now + n ms) */
void *ctest_yield_forever(void *arg);  /* box: out = 1 (started); ignores cancel, never returns */
void *ctest_call_go(void *arg);        /* box: rc = coro_go_call(fn, arg, &result) */
void *ctest_call_go_n(void *arg);      /* box: n calls of fn; out = calls made */
void *ctest_recurse(void *arg);        /* box: recurses n frames of 512+ bytes (n <= 0: without bound) */
void *ctest_pingpong(void *arg);       /* box: two coroutines yield n times each (until cancelled) */
void *ctest_accept_greet(void *arg);   /* box: accept on listener fd n until cancelled; write "hi" to each
                                          connection and close it; out = connections (atomic); rc = the
                                          error that ended it; closes the listener */

void *ctest_spin(void *arg);           /* box: out = 1 (started); spins, never yielding, until release */
void *ctest_yield_then_spin(void *arg); /* box: out = 1; coro_yield in a loop (cancelled or not) until
                                          ctest_box_advance, then out = 2 and spins until release */
void ctest_box_advance(struct ctest_box *b); /* atomic n = 1 */
void *ctest_sleep_ignoring(void *arg); /* box: out = 1; coro_sleep(now + 1 ms) in a loop ignoring -ECANCELED, until release */
void *ctest_stopper(void *arg);        /* box: out = 1; coro_loop_stop(own loop) + coro_yield until cancelled */
void ctest_box_release(struct ctest_box *b);
void *ctest_call_go_arg(void *arg);    /* returns the result of coro_go_call(fn, arg) (fn: ctest_set_call_go_arg_fn), or its negative rc */
void ctest_set_call_go_arg_fn(uintptr_t fn);

/* crash.c: die of signal n (SIGSEGV at address 16, SIGBUS, SIGILL,
 * SIGFPE, SIGABRT) in ctest_crash_here; on a loop a C thread makes. */
void *ctest_crash(void *arg);
int ctest_crash_on_c_loop(struct ctest_box *b);
uintptr_t ctest_crash_here_addr(void);

int64_t *ctest_int64_new(int64_t v);   /* malloc'd; NULL on failure */
int64_t ctest_int64_get(uintptr_t p);
void ctest_int64_free(uintptr_t p);

/* box: spawns n coroutines (shared stack) that each look up
 * "<i>.<arg as a C string>" with coro_lookup_ip(AF_UNSPEC), joins them;
 * out = lookups that returned exactly 1 address, rc = the last other
 * result, rc2 = the first spawn or join failure (dns.c). */
void *ctest_lookup_many(void *arg);

int ctest_try_yield(void);             /* coro_yield() from the caller's context */
int ctest_try_sleep(void);             /* coro_sleep(now + 1 ms) */

#endif
