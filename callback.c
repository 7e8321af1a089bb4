/* callback.c - the C half of the Go bindings: the trampolines through which
 * the engine calls back into Go. cgo compiles this file as part of package
 * github.com/ccoro/coro; the Go functions it calls are the //export ones of
 * callback.go, declared in the cgo-generated _cgo_export.h.
 *
 * The one rule every function here serves: Go code runs only on stacks the
 * Go runtime knows (a goroutine stack or the thread's system stack), never
 * on a coroutine stack. See DEVELOPERS.md.
 */
#include "coro.h"
#include "coro_go.h"

#include "_cgo_export.h"

#include <errno.h>
#include <stdint.h>

/* A call from a coroutine into Go. It lives on the calling coroutine's
 * stack, which coro_call_on_loop keeps valid (in every stack mode) until
 * the call returns. */
struct coro__go_req {
  uintptr_t fn;
  uintptr_t arg;
  uintptr_t result;
  int rc;
};

/* Runs on the loop thread's own stack, where cgo may call into Go. */
static void coro__go_tramp(void *p) {
  struct coro__go_req *req = p;
  req->rc = coro__go_dispatch(req->fn, req->arg, &req->result);
}

int coro_go_call(uintptr_t fn, void *arg, void **result) {
  /* Go sees arguments and results as integers (uintptr), never as
   * pointers: see coro.go. */
  struct coro__go_req req = {fn, (uintptr_t)arg, 0, 0};
  int rc = coro_call_on_loop(coro__go_tramp, &req);
  if (rc < 0)
    return rc;
  if (req.rc == 0 && result != NULL)
    *result = (void *)req.result;
  return req.rc;
}

/* The engine runs on_done on the loop's own stack; the Go side identifies
 * the coroutine by udata, an index into its slab (never a Go pointer). */
static void coro__go_on_done(coro_remote *r, void *udata) {
  coro__go_done(r, (uintptr_t)udata);
}

int coro__go_remote_spawn(coro_loop *loop, uintptr_t fn, uintptr_t arg,
                          const coro_opts *opts, uintptr_t udata,
                          coro_remote **out) {
  /* fn is a C function's address, carried by Go as a coro.Entry
   * (an integer: see CORO_GO_ENTRY in coro_go.h). */
  return coro_remote_spawn(loop, (coro_fn)fn, (void *)arg, opts,
                           coro__go_on_done, (void *)udata, out);
}

/* coro_remote_poll with the result as an integer, the only way Go sees it. */
int coro__go_remote_poll(coro_remote *r, uintptr_t *result, int *err) {
  void *res = NULL;
  int rc = coro_remote_poll(r, &res, err);
  *result = (uintptr_t)res;
  return rc;
}

/* The id of the Go Loop whose goroutine owns this thread, or 0. Go cannot
 * ask "which locked goroutine am I", but C thread-locals answer exactly the
 * question "is this caller running on loop L's thread". */
static _Thread_local uint64_t coro__go_tls_loop_id;

void coro__go_set_loop_id(uint64_t id) { coro__go_tls_loop_id = id; }

uint64_t coro__go_loop_id(void) { return coro__go_tls_loop_id; }

/* The address of C memory, carried by Go as a uintptr, as a pointer again
 * (coro.CPtr). Done in C because go vet flags the Go conversion
 * uintptr -> unsafe.Pointer. */
void *coro__go_uintptr_to_ptr(uintptr_t v) { return (void *)v; }
