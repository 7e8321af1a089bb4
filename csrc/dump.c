/* dump.c - what each coroutine of a loop is doing: coro_loop_dump, its
 * text form, coro_cancel_by_id, and run-time accounting.
 *
 * Contract (coro.h): coro_loop_dump runs on the loop's thread and reads
 * the loop's records as they are: nothing else runs meanwhile, so the
 * snapshot is consistent. It reads no coroutine's stack bytes except
 * through coro_backtrace (bounds-checked), and finds how deep a guarded
 * stack has been used with mincore(2), never by reading it (ASan poisons
 * the redzones of suspended frames; valgrind marks reused stacks
 * undefined).
 *
 * Cost on the switch path, always on: the resumed coroutine's switch
 * counter (one increment on a line the switch writes anyway), and a state
 * change's stamp (coro.since, from loop->tick: the clock read once per
 * turn of main, never a clock read of its own). A wait also stores what
 * it waits on (coro__wait_for). Accounting costs the switch no test: it
 * sets CORO__F_ACCOUNT in every context, which sends their switches to
 * coro__switch_slow along with the shared stack's (coro__switch_to), and
 * there coro__account reads the clock once per switch. Counted with
 * scripts/callgrind-yield.sh (README, "Cost on the switch path").
 */
#include "coro_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert((int)CORO__NEW == CORO_STATE_NEW &&
                   (int)CORO__READY == CORO_STATE_READY &&
                   (int)CORO__RUNNING == CORO_STATE_RUNNING &&
                   (int)CORO__BLOCKED == CORO_STATE_WAITING &&
                   (int)CORO__SUSPENDED == CORO_STATE_SUSPENDED &&
                   (int)CORO__DONE == CORO_STATE_DONE,
               "the public states mirror the engine's");

/* ---- Accounting ------------------------------------------------------- */

void coro__account(coro_loop *l, coro *from, coro *to) {
  int64_t now = coro_now();
  int64_t ran = now - l->switch_at;
  l->switch_at = now;
  /* Main's time is the loop's own (and its sleeps in the kernel). */
  if (from->kind != CORO__MAIN) {
    from->run_ns += ran;
    if (ran > l->acct_longest) {
      l->acct_longest = ran;
      l->acct_longest_id = from->id;
    }
  }
  from->since = now;
  to->since = now;
}

static void account_flag(coro *co, int on) {
  if (on)
    co->flags |= CORO__F_ACCOUNT;
  else
    co->flags &= (uint8_t)~CORO__F_ACCOUNT;
}

int coro_loop_set_accounting(coro_loop *l, int on) {
  if (l == NULL || (on != 0 && on != 1))
    return -EINVAL;
  if (coro__tls_loop != l)
    return -EPERM;
  if (on && !l->accounting) {
    l->switch_at = coro_now();
    l->acct_longest = 0;
    l->acct_longest_id = 0;
  }
  l->accounting = on;
  /* Each context carries the flag in the byte its switch tests, so the
   * switch pays no test of its own for accounting (coro__switch_to);
   * coro__new sets it on the coroutines made from now on. */
  account_flag(&l->main, on);
  for (coro *co = l->all; co != NULL; co = co->anext)
    account_flag(co, on);
  return 0;
}

int coro_loop_accounting(const coro_loop *l) {
  return l != NULL && l->accounting;
}

/* ---- Cancel by id ----------------------------------------------------- */

int coro_cancel_by_id(uint64_t id) {
  coro_loop *l = coro__tls_loop;
  if (l == NULL)
    return -EPERM;
  for (coro *co = l->all; co != NULL; co = co->anext)
    if (co->id == id)
      return coro_cancel(co);
  return -ESRCH;
}

/* ---- The dump --------------------------------------------------------- */

const char *coro_state_name(int state) {
  static const char *const names[] = {"new",     "ready",     "running",
                                      "waiting", "suspended", "done"};
  return state >= 0 && state < (int)(sizeof names / sizeof names[0])
             ? names[state]
             : "?";
}

const char *coro_wait_name(int wait) {
  static const char *const names[] = {
      "none",  "sleep", "fd",        "mutex",     "cond", "sem", "waitgroup",
      "chan-send", "chan-recv", "join", "call", "dns",  "other"};
  return wait >= 0 && wait < (int)(sizeof names / sizeof names[0])
             ? names[wait]
             : "?";
}

/* The lowest resident page of [lo, hi) as a depth from hi: how deep the
 * stack has been used (0 if mincore fails or nothing is resident). */
static size_t resident_depth(uintptr_t lo, uintptr_t hi) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = lo & ~(uintptr_t)(pg - 1);
  unsigned char vec[256];
  while (a < hi) {
    size_t pages = (hi - a + pg - 1) / pg;
    if (pages > sizeof vec)
      pages = sizeof vec;
    if (mincore((void *)a, pages * pg, vec) != 0)
      return 0;
    for (size_t i = 0; i < pages; i++)
      if (vec[i] & 1) {
        uintptr_t p = a + i * pg;
        return p < lo ? hi - lo : hi - p;
      }
    a += pages * pg;
  }
  return 0;
}

/* Fill d's stack fields. sp_now: the running context's stack pointer. */
static void dump_stack(const coro_loop *l, const coro *co, uintptr_t sp_now,
                       coro_dump_coro *d) {
  d->stack_mode = co->stack_mode;
  int running = co == l->current;
  if (co->stack_mode == CORO_STACK_GUARDED) {
    uintptr_t lo = (uintptr_t)co->stk.g.map + coro__stack_guard(co);
    uintptr_t hi = (uintptr_t)co;
    uintptr_t sp = running ? sp_now : coro__saved_sp(co);
    d->stack_size = hi - lo;
    if (sp > lo && sp <= hi)
      d->stack_used = hi - sp;
    d->stack_peak = resident_depth(lo, hi);
  } else {
    uintptr_t shi = (uintptr_t)l->shared_hi;
    d->stack_size = (size_t)(l->shared_hi - l->shared_lo);
    if (running && sp_now <= shi)
      d->stack_used = shi - sp_now;
    else if (!(co->flags & CORO__F_STARTED) || co->state == CORO__DONE)
      d->stack_used = 0;
    else if (l->shared_owner == co)
      d->stack_used = shi - coro__saved_sp(co);
    else
      d->stack_used = co->stk.s.saved_len;
    d->stack_peak = co->peak;
  }
  if (d->stack_peak < d->stack_used)
    d->stack_peak = d->stack_used;
}

static void dump_one(coro_loop *l, coro *co, unsigned flags, uintptr_t sp_now,
                     coro_dump_coro *d) {
  memset(d, 0, offsetof(coro_dump_coro, frames));
  d->id = co->id;
  d->name = co->name ? co->name : "";
  d->state = co->state;
  d->created = co->kind == CORO__CREATED;
  d->cancelled = (co->flags & CORO__F_CANCELLED) != 0;
  d->deadline = co->heap_index ? co->deadline : -1;
  d->wait_fd = -1;
  d->since = co->since;
  d->switches = co->n_switches;
  d->run_ns = l->accounting ? co->run_ns : -1;
  if (co->state == CORO__BLOCKED) {
    d->wait = co->why;
    d->wait_obj = co->why_obj;
    if (co->why == CORO_WAIT_FD) {
      d->wait_fd = (int)(co->why_arg & 0xffffffff);
      d->wait_events = (int)(co->why_arg >> 32);
    } else if (co->why == CORO_WAIT_JOIN) {
      d->wait_id = (uint64_t)co->why_arg;
    }
  } else if (l->in_call && l->call_from == co) {
    d->wait = CORO_WAIT_CALL;
  }
  dump_stack(l, co, sp_now, d);
  if (flags & CORO_DUMP_BACKTRACE)
    d->nframes = coro_backtrace(co, d->frames, CORO_BACKTRACE_MAX);
}

int coro_loop_dump(coro_loop *l, unsigned flags, coro_dump_loop *out,
                   int (*fn)(void *udata, const coro_dump_coro *co),
                   void *udata) {
  if (l == NULL || (flags & ~(unsigned)CORO_DUMP_BACKTRACE) != 0)
    return -EINVAL;
  if (coro__tls_loop != l)
    return -EPERM;
  char here; /* the running context's stack pointer, near enough */
  uintptr_t sp_now = (uintptr_t)&here;
  if (out != NULL) {
    coro_loop_stats st;
    coro_loop_stats_get(l, &st);
    memset(out, 0, sizeof *out);
    out->name = coro_loop_name(l);
    out->now = coro_now();
    for (coro *co = l->all; co != NULL; co = co->anext) {
      out->coroutines++;
      if (co->state <= CORO__DONE)
        out->by_state[co->state]++;
    }
    out->ready = st.ready;
    out->timers = st.timers;
    out->fds = st.fds;
    out->fd_waiters = st.fd_waiters;
    out->polls = st.poll_calls;
    out->switches = st.switches;
    out->spawned = st.spawned;
    out->posts = st.posts;
    out->accounting = l->accounting;
    out->longest_run_ns = l->accounting ? l->acct_longest : -1;
    out->longest_run_id = l->accounting ? l->acct_longest_id : 0;
  }
  if (fn == NULL)
    return 0;
  coro_dump_coro d;
  for (coro *co = l->all; co != NULL; co = co->anext) {
    dump_one(l, co, flags, sp_now, &d);
    int rc = fn(udata, &d);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ---- Text ------------------------------------------------------------- */

struct text {
  char *buf;
  size_t len, used;
  int full;
  unsigned flags;
  int64_t now;
};

/* Append a whole line (or nothing, and mark the buffer full). */
__attribute__((format(printf, 2, 3))) static void text_line(struct text *t,
                                                            const char *fmt,
                                                            ...) {
  if (t->full)
    return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
  va_end(ap);
  if (w < 0 || (size_t)w >= t->len - t->used) {
    t->buf[t->used] = '\0';
    t->full = 1;
    return;
  }
  t->used += (size_t)w;
}

/* What d waits on, as words ("fd 7 read", "mutex 0x...", "join #12"). */
static void wait_words(const coro_dump_coro *d, char *buf, size_t len) {
  switch (d->wait) {
  case CORO_WAIT_FD:
    snprintf(buf, len, "fd %d %s%s%s", d->wait_fd,
             d->wait_events & CORO_POLLIN ? "read" : "",
             d->wait_events == (CORO_POLLIN | CORO_POLLOUT) ? "+" : "",
             d->wait_events & CORO_POLLOUT ? "write" : "");
    break;
  case CORO_WAIT_JOIN:
    snprintf(buf, len, "join #%llu", (unsigned long long)d->wait_id);
    break;
  case CORO_WAIT_NONE:
    buf[0] = '\0';
    break;
  default:
    if (d->wait_obj != NULL)
      snprintf(buf, len, "%s %p", coro_wait_name(d->wait), d->wait_obj);
    else
      snprintf(buf, len, "%s", coro_wait_name(d->wait));
  }
}

static int text_coro(void *udata, const coro_dump_coro *d) {
  struct text *t = udata;
  char wait[96], run[32] = "";
  wait_words(d, wait, sizeof wait);
  char dl[40] = "";
  if (d->deadline >= 0)
    snprintf(dl, sizeof dl, " deadline in %.3fs",
             (double)(d->deadline - t->now) / 1e9);
  if (d->run_ns >= 0)
    snprintf(run, sizeof run, " run %.3fms", (double)d->run_ns / 1e6);
  text_line(t,
            "#%llu %s%s%s %s%s%s%s%s for %.3fs switches %llu%s stack "
            "%zu/%zu/%zu\n",
            (unsigned long long)d->id, d->name[0] ? "\"" : "", d->name,
            d->name[0] ? "\"" : "", coro_state_name(d->state),
            d->cancelled ? " (cancelled)" : "", wait[0] ? " " : "", wait, dl,
            d->since > 0 ? (double)(t->now - d->since) / 1e9 : 0.0,
            (unsigned long long)d->switches, run, d->stack_used, d->stack_peak,
            d->stack_size);
  for (int i = 0; i < d->nframes; i++) {
    char sym[256];
    coro_backtrace_symbol(d->frames[i], sym, sizeof sym);
    text_line(t, "    #%d 0x%016lx %s\n", i,
              (unsigned long)(uintptr_t)d->frames[i], sym);
  }
  return 0;
}

int coro_loop_dump_text(coro_loop *l, unsigned flags, char *buf, size_t len) {
  if (buf == NULL || len == 0)
    return -EINVAL;
  buf[0] = '\0';
  coro_dump_loop sum;
  int rc = coro_loop_dump(l, flags, &sum, NULL, NULL);
  if (rc < 0)
    return rc;
  struct text t = {buf, len, 0, 0, flags, sum.now};
  text_line(&t,
            "loop \"%s\": %llu coroutines (new %llu, ready %llu, running %llu, "
            "waiting %llu, suspended %llu, done %llu), %llu timers, %llu fds, "
            "%llu switches, %llu polls\n",
            sum.name, (unsigned long long)sum.coroutines,
            (unsigned long long)sum.by_state[0],
            (unsigned long long)sum.by_state[1],
            (unsigned long long)sum.by_state[2],
            (unsigned long long)sum.by_state[3],
            (unsigned long long)sum.by_state[4],
            (unsigned long long)sum.by_state[5],
            (unsigned long long)sum.timers, (unsigned long long)sum.fds,
            (unsigned long long)sum.switches, (unsigned long long)sum.polls);
  rc = coro_loop_dump(l, flags, NULL, text_coro, &t);
  if (rc < 0)
    return rc;
  return t.full ? -ENOSPC : (int)t.used;
}
