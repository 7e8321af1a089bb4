/* coro.c - coroutine records, the switch path, entry and exit, and direct
 * transfer (the seed's low-level coroutine module).
 *
 * Every switch goes through coro__switch_to, which wraps the raw assembly
 * switch with what the engine needs around it: ASan fiber annotations, the
 * SHARED stack's copy-on-switch, errno, counters and freeing a finished
 * coroutine once nobody runs on its stack any more.
 *
 * The loop thread's own stack is the context `main`. Main is always
 * suspended inside coro__switch_to, so the work that must run on a stack
 * other than a coroutine's (swapping the shared stack, coro_call_on_loop)
 * is done by main in after_switch() when it is resumed for that purpose.
 */
#include "coro_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if CORO__ASAN_ON
#include <sanitizer/common_interface_defs.h>
#endif
#if CORO__TSAN_ON
#include <sanitizer/tsan_interface.h>
#endif

/* Ids are unique per process. Each thread takes them from the global
 * counter in blocks, so that spawning costs no atomic read-modify-write. */
#define ID_BLOCK 1024
static _Atomic uint64_t next_id_block = 1;
static _Thread_local uint64_t id_next, id_end;

uint64_t coro__next_id(void) {
  if (CORO__UNLIKELY(id_next == id_end)) {
    id_next = atomic_fetch_add(&next_id_block, ID_BLOCK);
    id_end = id_next + ID_BLOCK;
  }
  return id_next++;
}

_Noreturn void coro__panic(const coro *co, const char *what) {
  char buf[512];
  int n;
  if (co)
    n = snprintf(buf, sizeof buf, "coro: %s in coroutine %llu \"%s\"\n", what,
                 (unsigned long long)co->id, co->name ? co->name : "");
  else
    n = snprintf(buf, sizeof buf, "coro: %s\n", what);
  if (n > 0) {
    ssize_t w = write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf);
    (void)w;
  }
  abort();
}

/* ---- ASan: tell it which stack we are about to run on ----------------- */

#if CORO__ASAN_ON
static void stack_bounds(coro_loop *l, coro *co, const void **lo, size_t *sz) {
  if (co->kind == CORO__MAIN) {
    *lo = l->asan_main_lo;
    *sz = l->asan_main_size;
  } else if (co->stack_mode == CORO_STACK_SHARED) {
    *lo = l->shared_lo;
    *sz = (size_t)(l->shared_hi - l->shared_lo);
  } else {
    long page = sysconf(_SC_PAGESIZE);
    *lo = (char *)co->stk.g.map + page;
    *sz = (size_t)((char *)co - (char *)*lo);
  }
}

static void asan_start(coro_loop *l, coro *from, coro *to) {
  const void *lo;
  size_t sz;
  stack_bounds(l, to, &lo, &sz);
  /* A finished coroutine never comes back: NULL lets ASan drop its fake
   * stack. */
  __sanitizer_start_switch_fiber(
      from->state == CORO__DONE ? NULL : &from->asan_fake, lo, sz);
}

static void asan_finish(coro *self) {
  __sanitizer_finish_switch_fiber(self->asan_fake, NULL, NULL);
}
#else
static inline void asan_start(coro_loop *l, coro *from, coro *to) {
  (void)l, (void)from, (void)to;
}
static inline void asan_finish(coro *self) { (void)self; }
#endif

/* ---- TSan: every context is a fiber ------------------------------------ */

#if CORO__TSAN_ON
/* TSan keeps one shadow call stack per thread: a stack switch it is not
 * told about leaves the frames of a suspended coroutine under the next
 * one's (its reports then show both, and a long run of spawns overflows
 * the shadow stack). So each coroutine gets a fiber when it is made
 * (coro__new), main the thread's own (taken on its first switch away), and
 * every switch goes through __tsan_switch_to_fiber right before the raw
 * switch. Flag 0 keeps the happens-before edge from the coroutine switched
 * from to the one switched to, which one thread has anyway. A fiber costs
 * TSan about as much as a thread (milliseconds), hence the short list of
 * tests make V=tsan runs. */
static void tsan_switch(coro *from, coro *to) {
  if (!from->tsan_fiber)
    from->tsan_fiber = __tsan_get_current_fiber();
  /* to's is set: made with it, or main, which switched away before */
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
}

/* A freed record's fiber goes with it (never main's: the thread's own). */
static void tsan_free(coro *co) {
  if (co->tsan_fiber && co->kind != CORO__MAIN)
    __tsan_destroy_fiber(co->tsan_fiber);
  co->tsan_fiber = NULL;
}
#else
static inline void tsan_switch(coro *from, coro *to) { (void)from, (void)to; }
static inline void tsan_free(coro *co) { (void)co; }
#endif

/* ---- The switch path -------------------------------------------------- */

void coro__entry(void *unused, void *user);

/* Make the shared stack hold `to`'s frames. Runs on a stack other than the
 * shared one (main's or a guarded coroutine's). */
static void shared_swap(coro_loop *l, coro *to) {
  coro *owner = l->shared_owner;
  if (owner && owner->state != CORO__DONE) {
    if (coro__shared_save(l, owner) < 0)
      coro__panic(owner, "out of memory saving a shared stack");
  } else if (owner) {
    coro__shared_check(l, owner); /* finished: nothing to keep but the verdict */
  }
  coro__shared_own(l, NULL);
  if (!(to->flags & CORO__F_STARTED)) {
    to->flags |= CORO__F_STARTED;
    /* First run: install an empty stack (this also clears ASan's poison
     * left by earlier owners), then build the initial frame on it. */
    coro__shared_restore(l, to);
    coro__ctx_init(&to->ctx, l->shared_lo, l->shared_hi, coro__entry, to);
  } else {
    coro__shared_restore(l, to);
  }
}

static void raw_switch(coro_loop *l, coro *from, coro *to) {
  to->state = CORO__RUNNING;
  l->current = to;
  l->n_switches++;
  asan_start(l, from, to);
  tsan_switch(from, to);
  coro__switch(&from->ctx, &to->ctx, NULL);
  asan_finish(from);
}

/* Runs in whichever context was just resumed. Main does the work that must
 * not run on a coroutine stack; anyone frees the coroutine that finished
 * on the stack we just left. */
void coro__after_switch(coro_loop *l) {
  coro *z = l->zombie;
  if (z) {
    l->zombie = NULL;
    coro__free(l, z);
  }
  while (l->current == &l->main) {
    if (l->call_fn) {
      void (*fn)(void *) = l->call_fn;
      coro *from = l->call_from;
      l->call_fn = NULL;
      l->in_call = 1;
      fn(l->call_arg);
      l->in_call = 0;
      l->main.state = l->main_state;
      raw_switch(l, &l->main, from);
    } else if (l->pending) {
      coro *to = l->pending;
      l->pending = NULL;
      shared_swap(l, to);
      l->main.state = l->main_state;
      raw_switch(l, &l->main, to);
    } else {
      break;
    }
    z = l->zombie;
    if (z) {
      l->zombie = NULL;
      coro__free(l, z);
    }
  }
}

/* The switch when the shared stack must change hands, or under ASan. */
void coro__switch_slow(coro_loop *l, coro *from, coro *to) {
  coro *target = to;
  if (l->accounting)
    coro__account(l, from, to);
  if (to->stack_mode == CORO_STACK_SHARED && l->shared_owner != to) {
    if (from->stack_mode == CORO_STACK_SHARED && from->kind != CORO__MAIN) {
      /* We run on the shared stack: main must do the copying. */
      l->pending = to;
      l->main_state = l->main.state;
      target = &l->main;
    } else {
      shared_swap(l, to);
    }
  }
  raw_switch(l, from, target);
  coro__after_switch(l);
}

/* ---- Entry and exit --------------------------------------------------- */

static void run_local_destructors(coro *co);

/* A created coroutine returns to its caller when it finishes, so a caller
 * must not be freed while it is one: callees counts the references. */
static void set_caller(coro *co, coro *caller) {
  if (co->link.caller == caller)
    return; /* the steady state of a ring or ping-pong: touch nothing */
  if (co->link.caller)
    co->link.caller->callees--;
  co->link.caller = caller;
  if (caller)
    caller->callees++;
}
static void finish(coro_loop *l, coro *co, void *result);

/* The first frame of every coroutine (called by the switch's trampoline). */
void coro__entry(void *unused, void *user) {
  coro *co = user;
  coro_loop *l = co->loop;
  (void)unused;
#if CORO__ASAN_ON
  __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
  coro__after_switch(l);
  co->flags |= CORO__F_STARTED; /* coro_backtrace walks its stack from now on */
  finish(l, co, co->fn(co->arg));
}

_Noreturn void coro_exit(void *result) {
  coro_loop *l = coro__tls_loop;
  if (!l || l->current == &l->main)
    coro__panic(NULL, "coro_exit called outside a coroutine");
  if (l->in_call)
    coro__panic(l->current, "coro_exit called inside coro_call_on_loop");
  finish(l, l->current, result);
  __builtin_unreachable();
}

static void finish(coro_loop *l, coro *co, void *result) {
  run_local_destructors(co);
  co->result = result;
  co->state = CORO__DONE;
  if (co->kind == CORO__CREATED) {
    /* Back to whoever transferred here last; if that one was freed, to
     * the loop's own context. */
    coro *to = co->link.caller ? co->link.caller : &l->main;
    set_caller(co, NULL);
    l->xfer = result;
    l->xfer_done = 1;
    coro__switch_to(l, to);
  } else {
    coro__finished(l, co);
    coro__switch_to(l, coro__next(l));
  }
  coro__panic(co, "finished coroutine was resumed");
}

/* ---- Records ---------------------------------------------------------- */

int coro__check_opts(const coro_opts *o) {
  if (!o)
    return 0;
  if (o->stack_mode < CORO_STACK_DEFAULT || o->stack_mode > CORO_STACK_SHARED)
    return -EINVAL;
  if (o->stack_size != 0 && (o->stack_size < CORO_STACK_SIZE_MIN ||
                             o->stack_size > CORO_STACK_SIZE_MAX))
    return -EINVAL;
  if (o->guard_size > CORO_GUARD_SIZE_MAX)
    return -EINVAL;
  return 0;
}

int coro__new(coro_loop *l, int kind, coro_fn fn, void *arg,
              const coro_opts *opts, coro **out) {
  int rc = coro__check_opts(opts);
  if (rc < 0)
    return rc;
  if (!fn)
    return -EINVAL;
  if (l->closing)
    return -ESHUTDOWN;
  int mode = opts && opts->stack_mode ? opts->stack_mode : l->stack_mode;
  size_t size = opts && opts->stack_size ? opts->stack_size : l->stack_size;
  if (mode == CORO_STACK_SHARED && !l->shared_map) {
    rc = coro__shared_init(l);
    if (rc < 0)
      return rc;
  }
  coro *co;
  char *lo, *hi;
  rc = coro__stack_alloc(l, mode, size, opts ? opts->guard_size : 0, &co, &lo,
                         &hi);
  if (rc < 0)
    return rc;
  co->magic = CORO__MAGIC_LIVE;
  co->loop = l;
  co->state = CORO__NEW;
  co->kind = (uint8_t)kind;
  co->stack_mode = (uint8_t)mode;
  if (mode == CORO_STACK_SHARED)
    co->flags |= CORO__F_AWAY; /* not on the shared stack yet */
  if (l->accounting)
    co->flags |= CORO__F_ACCOUNT;
  co->fn = fn;
  co->arg = arg;
  co->id = coro__next_id();
  co->name = opts ? opts->name : NULL;
#if CORO__TSAN_ON
  /* Made here, so that TSan's reports name the spawn as the fiber's
   * creation. */
  co->tsan_fiber = __tsan_create_fiber(0);
#endif
  /* SHARED coroutines get their first frame when they first go on the
   * shared stack (shared_swap); guarded ones get it now. */
  if (mode == CORO_STACK_GUARDED)
    coro__ctx_init(&co->ctx, lo, hi, coro__entry, co);
  co->anext = l->all;
  co->aprev = NULL;
  if (l->all)
    l->all->aprev = co;
  l->all = co;
  l->n_live++;
  l->n_spawned++;
  *out = co;
  return 0;
}

void coro__free(coro_loop *l, coro *co) {
  if (co->aprev)
    co->aprev->anext = co->anext;
  else
    l->all = co->anext;
  if (co->anext)
    co->anext->aprev = co->aprev;
  /* Coroutines that would return here when they finish return to the
   * loop's own context instead. Finding them costs a scan, but only when
   * there are any. */
  for (coro *c = l->all; c && co->callees; c = c->anext)
    if (c->kind == CORO__CREATED && c->link.caller == co)
      set_caller(c, NULL);
  if (co->kind == CORO__CREATED)
    set_caller(co, NULL);
  free(co->locals);
  co->locals = NULL;
  l->n_live--;
  tsan_free(co);
  coro__stack_release(l, co); /* marks it dead; checks a shared owner's canary */
}

/* ---- Identity --------------------------------------------------------- */

coro *coro_self(void) {
  coro_loop *l = coro__tls_loop;
  if (!l || l->current == &l->main)
    return NULL;
  return l->current;
}

uint64_t coro_id(const coro *co) { return co ? co->id : 0; }

const char *coro_name(const coro *co) {
  return co && co->name ? co->name : "";
}

int coro_set_name(coro *co, const char *name) {
  if (!co || co->magic != CORO__MAGIC_LIVE)
    return -EINVAL;
  co->name = name;
  return 0;
}

int coro_done(const coro *co) {
  return co && co->magic == CORO__MAGIC_LIVE && co->state == CORO__DONE;
}

int coro_hooks_enable(coro *co, int on) {
  if (!co || co->magic != CORO__MAGIC_LIVE || on < -1 || on > 1)
    return -EINVAL;
  co->flags &= (uint8_t)~(CORO__F_HOOKS_ON | CORO__F_HOOKS_OFF);
  if (on >= 0)
    co->flags |= on ? CORO__F_HOOKS_ON : CORO__F_HOOKS_OFF;
  return 0;
}

const char *coro_switch_backend(void) { return coro__switch_backend; }

/* ---- Coroutine-local storage ------------------------------------------ */

static atomic_uint nkeys;
static void (*destructors[CORO_KEYS_MAX])(void *);

int coro_key_create(coro_key *key, void (*destructor)(void *)) {
  if (!key)
    return -EINVAL;
  unsigned k = atomic_fetch_add(&nkeys, 1);
  if (k >= CORO_KEYS_MAX) {
    atomic_fetch_sub(&nkeys, 1);
    return -EAGAIN;
  }
  destructors[k] = destructor;
  *key = k;
  return 0;
}

int coro_local_set(coro_key key, void *value) {
  coro *co = coro_self();
  if (!co)
    return -EPERM;
  if (key >= atomic_load(&nkeys))
    return -EINVAL;
  if (!co->locals) {
    if (!value)
      return 0;
    co->locals = coro__calloc(CORO_KEYS_MAX, sizeof(void *));
    if (!co->locals)
      return -ENOMEM;
  }
  co->locals[key] = value;
  return 0;
}

void *coro_local_get(coro_key key) {
  coro *co = coro_self();
  if (!co || !co->locals || key >= CORO_KEYS_MAX)
    return NULL;
  return co->locals[key];
}

/* As pthreads: a destructor may set values again, so make a few passes. */
static void run_local_destructors(coro *co) {
  for (int pass = 0; pass < 4 && co->locals; pass++) {
    int any = 0;
    for (unsigned k = 0; k < CORO_KEYS_MAX; k++) {
      void *v = co->locals[k];
      if (v && destructors[k]) {
        co->locals[k] = NULL;
        destructors[k](v);
        any = 1;
      }
    }
    if (!any)
      break;
  }
}

/* ---- Direct transfer -------------------------------------------------- */

int coro_create(coro **out, coro_fn fn, void *arg, const coro_opts *opts) {
  coro_loop *l = coro__tls_loop;
  if (!out)
    return -EINVAL;
  if (!l)
    return -EPERM;
  return coro__new(l, CORO__CREATED, fn, arg, opts, out);
}

int coro_transfer(coro *to, void *value, void **received) {
  coro_loop *l = coro__tls_loop;
  if (!l)
    return -EPERM;
  if (l->in_call)
    return -EPERM;
  if (!to || to->magic != CORO__MAGIC_LIVE || to->loop != l)
    return -EINVAL;
  coro *self = l->current;
  if (to == self)
    return -EINVAL;
  /* A created coroutine that is new or suspended, or any context that is
   * suspended in a transfer (a generator's way back). */
  if (to->kind == CORO__CREATED) {
    if (to->state != CORO__NEW && to->state != CORO__SUSPENDED)
      return -EINVAL;
    /* Going back to one's own caller is a return, not a call: it must not
     * make `to` return here (a generator of generators would cycle). */
    if (!(self->kind == CORO__CREATED && self->link.caller == to))
      set_caller(to, self);
  } else if (to->state != CORO__SUSPENDED) {
    return -EINVAL;
  }
  self->state = CORO__SUSPENDED;
  self->since = l->tick;
  l->xfer = value;
  l->xfer_done = 0;
  coro__switch_to(l, to);
  if (received)
    *received = l->xfer;
  return l->xfer_done;
}

coro *coro_caller(void) {
  coro_loop *l = coro__tls_loop;
  if (!l || l->current->kind != CORO__CREATED)
    return NULL;
  return l->current->link.caller;
}

int coro_free(coro *co) {
  coro_loop *l = coro__tls_loop;
  if (!l || !co || co->magic != CORO__MAGIC_LIVE || co->loop != l)
    return -EINVAL;
  if (co->kind != CORO__CREATED)
    return -EINVAL;
  if (co->state == CORO__RUNNING)
    return -EBUSY;
  if (co == l->call_from && l->in_call)
    return -EBUSY; /* it waits for the coro_call_on_loop function to return */
  coro__free(l, co);
  return 0;
}

/* ---- Calling out on the loop stack ------------------------------------ */

int coro_call_on_loop(void (*fn)(void *arg), void *arg) {
  coro_loop *l = coro__tls_loop;
  if (!fn)
    return -EINVAL;
  if (!l || l->current == &l->main || l->in_call)
    return -EPERM;
  coro *self = l->current;
  uint8_t state = self->state;
  l->call_fn = fn;
  l->call_arg = arg;
  l->call_from = self;
  self->state = CORO__SUSPENDED;
  l->main_state = l->main.state;
  coro__switch_to(l, &l->main);
  self->state = state;
  return 0;
}

int coro_in_loop_call(void) {
  coro_loop *l = coro__tls_loop;
  return l && l->in_call;
}
