/* watchdog.c - the slow-coroutine warning.
 *
 * Contract (coro.h, coro_loop_set_slow): a coroutine that runs longer than
 * its loop's threshold without switching is reported once while it still
 * runs (CORO_REPORT_SLOW, with a backtrace of where it runs) and again
 * when that run ends (CORO_REPORT_SLOW_END, with the total); the switch
 * path pays nothing for it.
 *
 * How. One watchdog thread per process, started when the first loop turns
 * a threshold on, wakes every tick (a quarter of the smallest threshold,
 * within [1 ms, 50 ms]) and looks at each watched loop's switch counter
 * and running context, reading the loop's own fields racily (relaxed
 * atomic loads of plain words: the switch path stores them as it always
 * did). The counter standing still while a coroutine (not the loop's own
 * stack) is current means one run continues; its length is the loop
 * thread's CPU time since the tick that first saw it (the thread's CPU
 * clock, the first field of /proc/thread-self/schedstat), so time the
 * thread waited for a CPU, or slept, never counts. Precision: a tick.
 *
 * The backtrace: the watchdog never dereferences a loop's coroutine (it
 * could be freed at any moment). It sends SIGRTMIN+5 to the loop thread;
 * the handler, on that thread, knows the coroutine it interrupted is
 * alive, checks that the switch counter is still the one the watchdog saw
 * (the same run), copies id and name and walks the interrupted frame
 * chain (backtrace.c, bounds-checked against the coroutine's stack) into
 * the loop's watch record; the watchdog collects it at a later tick (it
 * never waits for a loop thread that has no CPU) and only then reports.
 * A compare-and-swap on the record's state settles a handler that comes
 * after the watchdog gave up (SAMPLE_WAIT_NS) or the run ended. Id and
 * name are also read beforehand the NOSIGNAL way (below), so a run that
 * ends before its sample is still reported by name.
 * $CORO_SLOW_NOSIGNAL=1 turns the signal off: then id and name are only read
 * through a pipe (a write from memory freed meanwhile fails with EFAULT
 * instead of faulting) and kept only if the counter did not move
 * meanwhile.
 *
 * Reports go to the loop's report_fn, on the watchdog thread, under the
 * watchdog's lock (so the loop cannot be freed during the call), or to
 * stderr. coro_loop_close unregisters, reporting the end of a run that was
 * reported and ended after the last tick.
 */
#include "coro_internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* Sample states (struct coro__watch.sample). */
enum { S_IDLE, S_WANTED, S_WRITING, S_DONE };

struct coro__watch {
  coro_loop *loop;
  struct coro__watch *next;
  unsigned gen;            /* wd_gen when registered */
  clockid_t cpu;           /* the loop thread's CPU clock */
  /* The run being watched (the watchdog thread's own). */
  uint64_t sw;             /* the switch counter it saw */
  const coro *cur;         /* the context it saw current (never read) */
  int64_t cpu0;            /* thread CPU time when the run was first seen */
  int64_t run;             /* CPU time of the run at the last tick */
  int reported;            /* SLOW sent for this run */
  int pending;             /* a sample was asked for, SLOW not sent yet */
  int64_t asked_at;        /* CLOCK_MONOTONIC ns of the request */
  coro_report rep;         /* what was reported (the END repeats it) */
  /* The sample: written by the signal handler on the loop thread. */
  atomic_int sample;       /* S_* */
  uint64_t sample_sw;      /* the counter the run must still have */
  uint64_t sample_id;
  char sample_name[sizeof ((coro_report *)0)->name];
  int sample_n;            /* frames, or -1: the run had ended */
  void *sample_frames[sizeof ((coro_report *)0)->frames / sizeof(void *)];
};

#define NFRAMES ((int)(sizeof ((coro_report *)0)->frames / sizeof(void *)))
#define TICK_MIN 1000000LL
#define TICK_MAX 50000000LL

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;
static struct coro__watch *wd_list; /* under wd_mu */
static int wd_started;              /* under wd_mu */
static int wd_nosignal;             /* $CORO_SLOW_NOSIGNAL, read at start */
static struct sigaction wd_prev;    /* the handler before ours */

static int wd_sig(void) { return SIGRTMIN + 5; }

static int64_t ts_ns(const struct timespec *t) {
  return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t cpu_now(const struct coro__watch *w) {
  struct timespec t;
  if (clock_gettime(w->cpu, &t) != 0)
    return -1;
  return ts_ns(&t);
}

static void copy_name(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  if (src != NULL)
    for (; i + 1 < cap && src[i] != '\0'; i++)
      dst[i] = src[i];
  dst[i] = '\0';
}

/* ---- The sampling signal (runs on the loop thread) -------------------- */

static void on_sample(int sig, siginfo_t *info, void *uctx) {
  int saved_errno = errno;
  coro_loop *l = coro__tls_loop;
  struct coro__watch *w = l != NULL ? l->watch : NULL;
  int want = S_WANTED;
  if (w != NULL && atomic_compare_exchange_strong(&w->sample, &want,
                                                  S_WRITING)) {
    coro *co = l->current;
    if (l->n_switches == w->sample_sw && co != &l->main && !l->in_call) {
      w->sample_id = co->id;
      copy_name(w->sample_name, sizeof w->sample_name, co->name);
      w->sample_n = coro__backtrace_uctx(co, uctx, w->sample_frames, NFRAMES);
    } else {
      w->sample_n = -1;
    }
    atomic_store(&w->sample, S_DONE);
  } else if (want != S_WANTED || w == NULL) {
    /* Not ours: whoever had the signal before us. */
    if (wd_prev.sa_flags & SA_SIGINFO) {
      if (wd_prev.sa_sigaction != NULL)
        wd_prev.sa_sigaction(sig, info, uctx);
    } else if (wd_prev.sa_handler != SIG_DFL && wd_prev.sa_handler != SIG_IGN) {
      wd_prev.sa_handler(sig);
    }
  }
  errno = saved_errno;
}

/* Ask the loop thread for a sample of the run w watches: 1 if the signal
 * went out (collect it with sample_collect at a later tick), 0 if not. */
static int sample_ask(struct coro__watch *w) {
  w->sample_sw = w->sw;
  w->sample_n = 0;
  atomic_store(&w->sample, S_WANTED);
  if (pthread_kill(w->loop->owner, wd_sig()) != 0) {
    atomic_store(&w->sample, S_IDLE);
    return 0;
  }
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  w->asked_at = ts_ns(&t);
  w->pending = 1;
  return 1;
}

/* End the request in flight: 1 if the sample came and holds frames of the
 * same run, 0 if not (a handler that comes later finds S_IDLE). */
static int sample_collect(struct coro__watch *w) {
  w->pending = 0;
  int want = S_WANTED;
  if (atomic_compare_exchange_strong(&w->sample, &want, S_IDLE))
    return 0; /* never answered */
  struct timespec nap = {0, 100000};
  while (atomic_load(&w->sample) != S_DONE)
    nanosleep(&nap, NULL); /* the handler is writing: a few us */
  atomic_store(&w->sample, S_IDLE);
  return w->sample_n > 0;
}

/* Copy n bytes from src, which may have been unmapped meanwhile, without
 * faulting: through the watchdog's pipe, whose write fails with EFAULT
 * instead (a way that also works under qemu-user, unlike
 * process_vm_readv). Returns the bytes copied. */
static int wd_pipe[2] = {-1, -1};

static size_t safe_read(void *dst, const void *src, size_t n) {
  if (wd_pipe[0] < 0)
    return 0;
  ssize_t w = write(wd_pipe[1], src, n);
  if (w <= 0)
    return 0;
  ssize_t r = read(wd_pipe[0], dst, (size_t)w);
  return r > 0 ? (size_t)r : 0;
}

/* NOSIGNAL: id and name of the context cur, read without faulting; kept
 * only if the run is still the same afterwards (then cur was alive). */
static void peek_id(struct coro__watch *w, const coro *cur) {
  uint64_t id = 0;
  const char *np = NULL;
  char name[sizeof w->rep.name] = "";
  if (safe_read(&id, &cur->id, sizeof id) != sizeof id ||
      safe_read(&np, &cur->name, sizeof np) != sizeof np)
    return;
  /* Byte by byte up to its NUL: never a byte past the string (which may
   * end just before unmapped memory, or, under ASan, a redzone). Once per
   * slow run. */
  for (size_t i = 0; np != NULL && i + 1 < sizeof name; i++)
    if (safe_read(&name[i], np + i, 1) != 1 || name[i] == '\0') {
      name[i] = '\0';
      break;
    }
  if (__atomic_load_n(&w->loop->n_switches, __ATOMIC_ACQUIRE) != w->sw)
    return;
  w->rep.id = id;
  copy_name(w->rep.name, sizeof w->rep.name, name);
}

/* ---- Reports ----------------------------------------------------------- */

void coro__report(coro_loop *l, const coro_report *r) {
  if (l->report_fn != NULL) {
    l->report_fn(r, l->report_arg);
    return;
  }
  char buf[8192];
  int n = coro_report_format(r, buf, sizeof buf);
  if (n == -ENOSPC)
    n = (int)strlen(buf);
  if (n > 0)
    coro__write_all(STDERR_FILENO, buf, (size_t)n);
}

static void ms_str(char *buf, size_t len, int64_t ns) {
  snprintf(buf, len, "%lld.%01lld ms", (long long)(ns / 1000000),
           (long long)(ns % 1000000 / 100000));
}

int coro_report_format(const coro_report *r, char *buf, size_t len) {
  if (r == NULL || buf == NULL || len == 0)
    return -EINVAL;
  char run[32], thr[32], head[256];
  ms_str(run, sizeof run, r->run_ns);
  ms_str(thr, sizeof thr, r->threshold_ns);
  const char *ln = r->loop_name != NULL ? r->loop_name : "";
  int w;
  switch (r->kind) {
  case CORO_REPORT_SLOW:
    w = snprintf(head, sizeof head,
                 "coro: coroutine %llu \"%s\" (loop \"%s\") has run %s "
                 "without switching (threshold %s)%s\n",
                 (unsigned long long)r->id, r->name, ln, run, thr,
                 r->nframes > 0 ? "; it runs at:" : "");
    break;
  case CORO_REPORT_SLOW_END:
    w = snprintf(head, sizeof head,
                 "coro: coroutine %llu \"%s\" (loop \"%s\") switched after "
                 "running %s without switching (threshold %s)\n",
                 (unsigned long long)r->id, r->name, ln, run, thr);
    break;
  case CORO_REPORT_ABANDONED:
    w = snprintf(head, sizeof head,
                 "coro: coroutine %llu \"%s\" (loop \"%s\") abandoned by "
                 "close%s\n",
                 (unsigned long long)r->id, r->name, ln,
                 r->nframes > 0 ? "; it was suspended at:" : "");
    break;
  default:
    return -EINVAL;
  }
  if (w < 0)
    return -EIO;
  size_t used = 0;
  buf[0] = '\0';
  if ((size_t)w >= len)
    return -ENOSPC;
  memcpy(buf, head, (size_t)w + 1);
  used = (size_t)w;
  int n = r->kind == CORO_REPORT_SLOW_END ? 0 : r->nframes;
  for (int i = 0; i < n && i < NFRAMES; i++) {
    char sym[256];
    coro_backtrace_symbol(r->frames[i], sym, sizeof sym);
    w = snprintf(buf + used, len - used, "#%d 0x%016lx %s\n", i,
                 (unsigned long)(uintptr_t)r->frames[i], sym);
    if (w < 0)
      return -EIO;
    if ((size_t)w >= len - used) {
      buf[used] = '\0';
      return -ENOSPC;
    }
    used += (size_t)w;
  }
  return (int)used;
}

/* ---- The watchdog thread ---------------------------------------------- */

static void run_ended(struct coro__watch *w) {
  if (w->reported) {
    w->rep.kind = CORO_REPORT_SLOW_END;
    w->rep.run_ns = w->run;
    coro__report(w->loop, &w->rep);
  }
  w->reported = 0;
}

/* Send the SLOW report of the run w watches, with the sample's frames
 * (and its id and name: the handler read them on the loop thread) when
 * one came in time. */
static void emit_slow(struct coro__watch *w) {
  coro_report *r = &w->rep;
  if (w->pending && sample_collect(w)) {
    r->id = w->sample_id;
    memcpy(r->name, w->sample_name, sizeof r->name);
    r->nframes = w->sample_n;
    memcpy(r->frames, w->sample_frames, sizeof r->frames);
  }
  r->run_ns = w->run;
  w->reported = 1;
  coro__report(w->loop, r);
}

/* How long a sample may take (wall time) before SLOW goes out without
 * frames: a loaded machine may leave the loop thread without a CPU for a
 * while, and waiting costs nothing (the watchdog goes on ticking). */
#define SAMPLE_WAIT_NS 2000000000LL

/* One look at a loop: a new run, the same run (report it when it crosses
 * the threshold: ask for a sample, report when it is in), or the end of
 * one (report the end of a reported run). */
static void look(struct coro__watch *w) {
  coro_loop *l = w->loop;
  int64_t thr = atomic_load_explicit(&l->slow_ns, memory_order_relaxed);
  uint64_t sw = __atomic_load_n(&l->n_switches, __ATOMIC_ACQUIRE);
  const coro *cur = __atomic_load_n(&l->current, __ATOMIC_RELAXED);
  int busy = __atomic_load_n(&l->running, __ATOMIC_RELAXED) &&
             cur != &l->main && !__atomic_load_n(&l->in_call, __ATOMIC_RELAXED);
  int64_t now = cpu_now(w);
  if (thr <= 0 || now < 0 || !busy || sw != w->sw || cur != w->cur) {
    if (w->pending)
      emit_slow(w); /* it was slow: said without frames, then its end */
    run_ended(w);
    w->sw = sw;
    w->cur = busy ? cur : NULL;
    w->cpu0 = now;
    w->run = 0;
    return;
  }
  w->run = now - w->cpu0;
  if (w->run > atomic_load_explicit(&l->longest_run, memory_order_relaxed))
    atomic_store_explicit(&l->longest_run, w->run, memory_order_relaxed);
  if (w->pending) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (atomic_load(&w->sample) == S_DONE ||
        ts_ns(&t) - w->asked_at > SAMPLE_WAIT_NS)
      emit_slow(w);
    return;
  }
  if (w->reported || w->run < thr)
    return;
  coro_report *r = &w->rep;
  memset(r, 0, sizeof *r);
  r->kind = CORO_REPORT_SLOW;
  r->loop = l;
  r->loop_name = coro_loop_name(l);
  r->threshold_ns = thr;
  peek_id(w, cur); /* the sample, if it comes, confirms them */
  if (!wd_nosignal && sample_ask(w))
    return; /* reported when the sample is in */
  emit_slow(w);
}

static void *watchdog_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&wd_mu);
  for (;;) {
    int64_t tick = -1;
    for (struct coro__watch *w = wd_list; w != NULL; w = w->next) {
      look(w);
      int64_t thr = atomic_load(&w->loop->slow_ns);
      if (thr > 0) {
        int64_t t = thr / 4 < TICK_MIN ? TICK_MIN
                    : thr / 4 > TICK_MAX ? TICK_MAX
                                         : thr / 4;
        if (tick < 0 || t < tick)
          tick = t;
      }
    }
    if (tick < 0) {
      pthread_cond_wait(&wd_cv, &wd_mu);
      continue;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t end = ts_ns(&until) + tick;
    until.tv_sec = end / 1000000000;
    until.tv_nsec = end % 1000000000;
    pthread_cond_timedwait(&wd_cv, &wd_mu, &until);
  }
  return NULL;
}

/* Start the thread and install the handler (under wd_mu): 0 or -errno. */
/* fork(): the child has no watchdog thread, and wd_mu must not be held
 * there. The fork waits for the lock (a tick's work, or a report_fn call:
 * which must not fork), the child starts afresh: registrations from
 * before (wd_gen) are void, a loop that sets a threshold again is watched
 * by the child's own watchdog. */
static unsigned wd_gen;
static int wd_once; /* the handler and the fork hooks are installed */

static void wd_fork_prepare(void) { pthread_mutex_lock(&wd_mu); }
static void wd_fork_parent(void) { pthread_mutex_unlock(&wd_mu); }
static void wd_fork_child(void) {
  pthread_mutex_init(&wd_mu, NULL);
  wd_started = 0;
  wd_list = NULL;
  wd_gen++;
}

static int start_locked(void) {
  if (wd_started)
    return 0;
  const char *e = getenv("CORO_SLOW_NOSIGNAL");
  wd_nosignal = e != NULL && strcmp(e, "1") == 0;
  if (wd_pipe[0] < 0 && pipe2(wd_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    wd_pipe[0] = wd_pipe[1] = -1; /* reports without id then */
  if (!wd_once) {
    int rc = pthread_atfork(wd_fork_prepare, wd_fork_parent, wd_fork_child);
    if (rc != 0)
      return -rc;
  }
  if (!wd_nosignal && !wd_once) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sample;
    /* SA_ONSTACK: a coroutine's stack may be nearly used up; the loop
     * thread has an alternate stack (coro__overflow_init). */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(wd_sig(), &sa, &wd_prev) != 0)
      return -errno;
  }
  wd_once = 1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&wd_cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  /* Block every signal on the watchdog: they belong to the program's
   * other threads (the new thread inherits this mask). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int rc = pthread_create(&t, &attr, watchdog_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    pthread_cond_destroy(&wd_cv);
    return -rc;
  }
  wd_started = 1;
  return 0;
}

/* Register l with the watchdog (starting it on first use). */
static int watch_locked(coro_loop *l) {
  if (l->watch != NULL && l->watch->gen == wd_gen)
    return 0;
  free(l->watch); /* made before a fork: the parent's watchdog's */
  l->watch = NULL;
  int rc = start_locked();
  if (rc < 0)
    return rc;
  struct coro__watch *w = coro__calloc(1, sizeof *w);
  if (w == NULL)
    return -ENOMEM;
  rc = pthread_getcpuclockid(l->owner, &w->cpu);
  if (rc != 0) {
    free(w);
    return -rc;
  }
  w->loop = l;
  w->gen = wd_gen;
  w->next = wd_list;
  wd_list = w;
  l->watch = w;
  return 0;
}

int coro_loop_set_slow(coro_loop *l, int64_t ns) {
  if (l == NULL || ns < 0)
    return -EINVAL;
  pthread_mutex_lock(&wd_mu);
  int rc = ns > 0 ? watch_locked(l) : 0;
  if (rc == 0) {
    atomic_store(&l->slow_ns, ns);
    if (wd_started)
      pthread_cond_signal(&wd_cv);
  }
  pthread_mutex_unlock(&wd_mu);
  return rc;
}

int64_t coro_loop_get_slow(const coro_loop *l) {
  return l == NULL ? -EINVAL : atomic_load(&l->slow_ns);
}

int64_t coro_loop_longest_run(const coro_loop *l) {
  return l == NULL ? -EINVAL : atomic_load(&l->longest_run);
}

int coro__watch_init(coro_loop *l, const coro_loop_opts *o) {
  l->report_fn = o->report_fn;
  l->report_arg = o->report_arg;
  if (o->slow_ns < 0)
    return -EINVAL;
  return o->slow_ns > 0 ? coro_loop_set_slow(l, o->slow_ns) : 0;
}

void coro__watch_close(coro_loop *l) {
  if (l->watch == NULL)
    return;
  pthread_mutex_lock(&wd_mu);
  struct coro__watch *w = l->watch;
  for (struct coro__watch **p = &wd_list; *p != NULL; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  l->watch = NULL;
  /* The close runs on the loop's stack: no run goes on, and no handler
   * can be writing a sample (it would run on this very thread). */
  if (w->gen == wd_gen) {
    if (w->pending)
      emit_slow(w);
    run_ended(w);
  }
  pthread_mutex_unlock(&wd_mu);
  /* A handler cannot be writing: it runs on this very thread. */
  free(w);
}
