/* backtrace.c - the C half of Loop.Backtrace (backtrace.go): a request
 * posted to the loop thread, where coro_backtrace_by_id walks the
 * coroutine from the loop's own stack, and a callback into Go that says
 * the answer is in. The request is C memory, so the loop never writes Go
 * memory; Go frees it once both sides are done with it. */
#include "coro.h"

#include "_cgo_export.h"

#include <stdint.h>
#include <stdlib.h>

struct coro__go_bt {
  uint64_t id;
  uintptr_t handle; /* the Go side's cgo.Handle */
  int n;            /* frames stored, or -errno */
  void *frames[CORO_BACKTRACE_MAX];
};

/* Runs on the loop thread's own stack (a post), where Go may be called. */
static void coro__go_bt_run(void *p) {
  struct coro__go_bt *r = p;
  r->n = coro_backtrace_by_id(r->id, r->frames, CORO_BACKTRACE_MAX);
  coro__go_bt_done(r->handle);
}

struct coro__go_bt *coro__go_bt_new(uint64_t id, uintptr_t handle) {
  struct coro__go_bt *r = calloc(1, sizeof *r);
  if (r != NULL) {
    r->id = id;
    r->handle = handle;
  }
  return r;
}

int coro__go_bt_post(coro_loop *loop, struct coro__go_bt *r) {
  return coro_loop_post(loop, coro__go_bt_run, r);
}

/* On the loop thread itself (a Go call from a coroutine): walk at once. */
void coro__go_bt_here(struct coro__go_bt *r) {
  r->n = coro_backtrace_by_id(r->id, r->frames, CORO_BACKTRACE_MAX);
}

int coro__go_bt_n(const struct coro__go_bt *r) { return r->n; }
uintptr_t coro__go_bt_frame(const struct coro__go_bt *r, int i) {
  return (uintptr_t)r->frames[i];
}
void coro__go_bt_free(struct coro__go_bt *r) { free(r); }

/* An address in the executable with a known symbol: the load bias. */
uintptr_t coro__go_bt_anchor(void) { return (uintptr_t)&coro_backtrace; }

/* coro_backtrace_symbol for an address Go holds as an integer. */
int coro__go_bt_symbol(uintptr_t pc, char *buf, size_t len) {
  return coro_backtrace_symbol((const void *)pc, buf, len);
}
