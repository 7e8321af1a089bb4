/* fixtures.c - coroutine bodies and helpers used by package coro's tests. */
#include "ctest.h"

#include "coro.h"
#include "coro_go.h"

#include <errno.h>
#include <stdlib.h>

struct ctest_box *ctest_box_new(void) {
  return calloc(1, sizeof(struct ctest_box));
}

void ctest_box_free(struct ctest_box *b) { free(b); }

void *ctest_add_one(void *arg) {
  int64_t *p = arg;
  *p += 1;
  return arg;
}

void *ctest_nop(void *arg) { return arg; }

int64_t ctest_box_out(struct ctest_box *b) {
  return __atomic_load_n(&b->out, __ATOMIC_ACQUIRE);
}

void *ctest_sleep_forever(void *arg) {
  struct ctest_box *b = arg;
  __atomic_store_n(&b->out, 1, __ATOMIC_RELEASE); /* started */
  b->rc = coro_sleep(-1);
  return arg;
}

void *ctest_sleep_ms(void *arg) {
  struct ctest_box *b = arg;
  b->rc = coro_sleep(coro_now() + b->n * 1000000);
  return arg;
}

void *ctest_yield_forever(void *arg) {
  struct ctest_box *b = arg;
  __atomic_store_n(&b->out, 1, __ATOMIC_RELEASE); /* started */
  /* Cancellation makes coro_yield return -ECANCELED, but it still yields,
   * so the loop keeps control while this coroutine refuses to finish. */
  for (;;)
    b->rc = coro_yield();
  return NULL;
}

void *ctest_call_go(void *arg) {
  struct ctest_box *b = arg;
  void *res = NULL;
  b->rc = coro_go_call(b->fn, (void *)b->arg, &res);
  b->result = (uintptr_t)res;
  return res;
}

void *ctest_call_go_n(void *arg) {
  struct ctest_box *b = arg;
  int64_t i;
  int rc = 0;
  for (i = 0; i < b->n; i++) {
    rc = coro_go_call(b->fn, (void *)b->arg, NULL);
    if (rc < 0)
      break;
  }
  b->rc = rc;
  b->out = i;
  return arg;
}

/* Each frame holds a volatile buffer and uses the callee's result, so the
 * compiler can turn the recursion neither into a loop nor into a tail call.
 * limit <= 0 means no limit. */
static __attribute__((noinline)) int64_t deep(volatile char *prev,
                                              int64_t depth, int64_t limit) {
  volatile char pad[512];
  if (limit > 0 && depth >= limit)
    return 0;
  pad[0] = (char)depth;
  pad[511] = prev != NULL ? prev[0] : 0;
  return deep(pad, depth + 1, limit) + pad[0] + pad[511];
}

void *ctest_recurse(void *arg) {
  struct ctest_box *b = arg;
  b->out = deep(NULL, 0, b->n);
  return arg;
}

/* Yields n times, or until cancelled. n travels by value: the peer must not
 * read the box, which its spawner's caller may free once the spawner is
 * done. */
static void *yielder(void *arg) {
  int64_t n = (int64_t)(intptr_t)arg;
  for (int64_t i = 0; i < n; i++)
    if (coro_yield() == -ECANCELED)
      break;
  return NULL;
}

void *ctest_pingpong(void *arg) {
  struct ctest_box *b = arg;
  coro *peer;
  int rc = coro_spawn(&peer, yielder, (void *)(intptr_t)b->n, NULL);
  if (rc < 0) {
    b->rc = rc;
    return arg;
  }
  yielder((void *)(intptr_t)b->n);
  rc = coro_join(peer, -1, NULL);
  if (rc == -ECANCELED) {
    /* We were cancelled and may no longer block: stop the peer and let it
     * free itself. */
    coro_cancel(peer);
    coro_detach(peer);
  }
  b->rc = rc;
  b->out = b->n * 2;
  return arg;
}

int ctest_try_yield(void) { return coro_yield(); }

int ctest_try_sleep(void) { return coro_sleep(coro_now() + 1000000); }

void *ctest_accept_greet(void *arg) {
  struct ctest_box *b = arg;
  int lfd = (int)b->n;
  for (;;) {
    int fd = coro_accept(lfd, NULL, NULL, -1);
    if (fd < 0) {
      b->rc = fd;
      break;
    }
    (void)coro_write_all(fd, "hi", 2, coro_now() + 5 * INT64_C(1000000000));
    /* Counted before the close the client waits for, so that a test that
     * has read every greeting reads the full count. */
    __atomic_add_fetch(&b->out, 1, __ATOMIC_RELEASE);
    coro_fd_close(fd);
  }
  coro_fd_close(lfd);
  return arg;
}

static _Atomic uintptr_t call_go_arg_fn;

void ctest_set_call_go_arg_fn(uintptr_t fn) { call_go_arg_fn = fn; }

void *ctest_call_go_arg(void *arg) {
  void *res = NULL;
  int rc = coro_go_call(call_go_arg_fn, arg, &res);
  return rc < 0 ? (void *)(intptr_t)rc : res;
}

void ctest_box_release(struct ctest_box *b) {
  __atomic_store_n(&b->release, 1, __ATOMIC_RELEASE);
}

static int released(struct ctest_box *b) {
  return __atomic_load_n(&b->release, __ATOMIC_ACQUIRE);
}

void *ctest_spin(void *arg) {
  struct ctest_box *b = arg;
  __atomic_store_n(&b->out, 1, __ATOMIC_RELEASE);
  while (!released(b))
    ; /* a coroutine that never yields: nothing can preempt it */
  return arg;
}

void *ctest_yield_then_spin(void *arg) {
  struct ctest_box *b = arg;
  __atomic_store_n(&b->out, 1, __ATOMIC_RELEASE);
  while (!__atomic_load_n(&b->n, __ATOMIC_ACQUIRE))
    (void)coro_yield(); /* yields even when cancelled */
  __atomic_store_n(&b->out, 2, __ATOMIC_RELEASE);
  while (!released(b))
    ;
  return arg;
}

void ctest_box_advance(struct ctest_box *b) {
  __atomic_store_n(&b->n, 1, __ATOMIC_RELEASE);
}

void *ctest_sleep_ignoring(void *arg) {
  struct ctest_box *b = arg;
  __atomic_store_n(&b->out, 1, __ATOMIC_RELEASE);
  while (!released(b))
    (void)coro_sleep(coro_now() + 1000000); /* -ECANCELED at once, once cancelled */
  return arg;
}

void *ctest_stopper(void *arg) {
  struct ctest_box *b = arg;
  __atomic_store_n(&b->out, 1, __ATOMIC_RELEASE);
  coro_loop *l = coro_loop_current();
  while (coro_yield() != -ECANCELED)
    (void)coro_loop_stop(l);
  return arg;
}

int64_t *ctest_int64_new(int64_t v) {
  int64_t *p = malloc(sizeof *p);
  if (p)
    *p = v;
  return p;
}

int64_t ctest_int64_get(uintptr_t p) { return *(int64_t *)p; }

void ctest_int64_free(uintptr_t p) { free((void *)p); }
