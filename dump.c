/* dump.c - the C half of Loop.Dump, Loop.CancelID and Loop.SetAccounting
 * (dump.go): a request posted to the loop thread, run there from the
 * loop's own stack, and a callback into Go that says the answer is in.
 * The request and the snapshot are C memory, so the loop never writes Go
 * memory; Go frees the request once both sides are done with it (the
 * callback frees it instead when the Go caller has given up waiting).
 *
 * The snapshot copies each coroutine's record (coro_dump_coro without its
 * frames) and, with CORO_DUMP_BACKTRACE, its frames into arrays of their
 * own, and the names into one string arena: the pointers of a dump are
 * valid only during its callback. */
#include "coro.h"

#include "_cgo_export.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { GO_REQ_DUMP = 1, GO_REQ_CANCEL = 2, GO_REQ_ACCOUNTING = 3 };

struct coro__go_dump_req {
  uintptr_t handle; /* the Go side's key; 0: run in place, no callback */
  int op;           /* GO_REQ_* */
  unsigned flags;   /* GO_REQ_DUMP: coro_loop_dump's flags */
  uint64_t id;      /* GO_REQ_CANCEL */
  int on;           /* GO_REQ_ACCOUNTING */
  int rc;           /* the outcome: 0 or -errno */
  coro_dump_loop sum;
  coro_dump_coro *cos; /* frames unused: they go to frames below */
  size_t n, cap;
  uintptr_t *frames;   /* CORO_BACKTRACE_MAX per coroutine, with the flag */
  char *names;         /* each name NUL-terminated; cos[i].name is unused */
  size_t *name_off;
  size_t names_len, names_cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *q = realloc(*p, c * elem);
  if (q == NULL)
    return -ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

static int collect(void *udata, const coro_dump_coro *d) {
  struct coro__go_dump_req *r = udata;
  size_t cap = r->cap;
  if (r->n == cap) {
    size_t c1 = cap, c2 = cap, c3 = cap;
    if (grow((void **)&r->cos, &c1, r->n + 1, offsetof(coro_dump_coro, frames)) <
            0 ||
        grow((void **)&r->name_off, &c2, r->n + 1, sizeof(size_t)) < 0 ||
        ((r->flags & CORO_DUMP_BACKTRACE) &&
         grow((void **)&r->frames, &c3, r->n + 1,
              CORO_BACKTRACE_MAX * sizeof(uintptr_t)) < 0))
      return -ENOMEM;
    r->cap = c1;
  }
  /* cos is an array of records cut before frames: index by hand. */
  size_t stride = offsetof(coro_dump_coro, frames);
  memcpy((char *)r->cos + r->n * stride, d, stride);
  if (r->flags & CORO_DUMP_BACKTRACE) {
    uintptr_t *f = r->frames + r->n * CORO_BACKTRACE_MAX;
    for (int i = 0; i < d->nframes && i < CORO_BACKTRACE_MAX; i++)
      f[i] = (uintptr_t)d->frames[i];
  }
  size_t len = strlen(d->name) + 1;
  if (grow((void **)&r->names, &r->names_cap, r->names_len + len, 1) < 0)
    return -ENOMEM;
  memcpy(r->names + r->names_len, d->name, len);
  r->name_off[r->n] = r->names_len;
  r->names_len += len;
  r->n++;
  return 0;
}

/* Run r on the calling thread, which must be its loop's. */
static void run_req(struct coro__go_dump_req *r) {
  coro_loop *l = coro_loop_current();
  switch (r->op) {
  case GO_REQ_DUMP:
    r->rc = coro_loop_dump(l, r->flags, &r->sum, collect, r);
    break;
  case GO_REQ_CANCEL:
    r->rc = coro_cancel_by_id(r->id);
    break;
  case GO_REQ_ACCOUNTING:
    r->rc = coro_loop_set_accounting(l, r->on);
    break;
  default:
    r->rc = -EINVAL;
  }
}

/* Runs on the loop thread's own stack (a post), where Go may be called. */
static void post_fn(void *p) {
  struct coro__go_dump_req *r = p;
  run_req(r);
  coro__go_dump_done(r->handle);
}

struct coro__go_dump_req *coro__go_dump_new(int op, unsigned flags,
                                            uint64_t id, int on,
                                            uintptr_t handle) {
  struct coro__go_dump_req *r = calloc(1, sizeof *r);
  if (r != NULL) {
    r->op = op;
    r->flags = flags;
    r->id = id;
    r->on = on;
    r->handle = handle;
  }
  return r;
}

int coro__go_dump_post(coro_loop *loop, struct coro__go_dump_req *r) {
  return coro_loop_post(loop, post_fn, r);
}

/* On the loop thread itself (a Go call from a coroutine): run at once. */
void coro__go_dump_here(struct coro__go_dump_req *r) { run_req(r); }

void coro__go_dump_free(struct coro__go_dump_req *r) {
  if (r == NULL)
    return;
  free(r->cos);
  free(r->frames);
  free(r->names);
  free(r->name_off);
  free(r);
}

int coro__go_dump_rc(const struct coro__go_dump_req *r) { return r->rc; }
const coro_dump_loop *coro__go_dump_sum(const struct coro__go_dump_req *r) {
  return &r->sum;
}
size_t coro__go_dump_n(const struct coro__go_dump_req *r) { return r->n; }
const coro_dump_coro *coro__go_dump_coro(const struct coro__go_dump_req *r,
                                         size_t i) {
  return (const coro_dump_coro *)((const char *)r->cos +
                                  i * offsetof(coro_dump_coro, frames));
}
const char *coro__go_dump_name(const struct coro__go_dump_req *r, size_t i) {
  return r->names + r->name_off[i];
}
uintptr_t coro__go_dump_frame(const struct coro__go_dump_req *r, size_t i,
                              int k) {
  return r->frames[i * CORO_BACKTRACE_MAX + (size_t)k];
}
