/* coro.h - the whole public C API of the coro coroutine engine.
 *
 * coro runs C coroutines on a scheduler ("loop"), one loop per OS thread.
 * Conventions, as in libuv and libdill:
 *   - Public names start with coro_, internal ones with coro__.
 *   - Calls return 0 (or a positive count) on success and a negative errno on
 *     failure, so callers never read the thread's errno afterwards.
 *   - Every blocking call takes an absolute deadline in nanoseconds on the
 *     CLOCK_MONOTONIC clock (see coro_now): -1 means no deadline, 0 means
 *     "try once and do not block". Blocking calls report -ETIMEDOUT when the
 *     deadline passes and -ECANCELED when the coroutine has been cancelled.
 *   - Misuse that cannot be reported as an error (a corrupted coroutine, a
 *     stack overflow) aborts the process with a message naming the coroutine.
 *
 * Threads. A loop belongs to the thread that created it; coroutines never
 * move between threads (compilers cache the addresses of thread-local
 * variables across calls, so a coroutine resumed on another thread would use
 * the first thread's errno and TLS). Only the calls marked "thread-safe" may
 * be made from other threads; coroutine objects, locks and channels belong to
 * their loop.
 *
 * C++. Exceptions must not propagate out of a coroutine's entry function:
 * there is no frame above it to catch them (the unwinder stops there and
 * calls std::terminate). Catch everything in the entry function.
 *
 * errno. Every call that can switch coroutines saves the caller's errno and
 * restores it when the caller resumes, so errno behaves as if per coroutine.
 *
 * Floating point. MXCSR and the x87 control word (x86-64) and FPCR (arm64)
 * are per-thread state shared by all coroutines of a loop: a switch does not
 * save or restore them (as with State Threads), and a new coroutine starts
 * with whatever the thread has. A coroutine that changes the rounding mode
 * should restore it before it next switches.
 */
#ifndef CORO_H
#define CORO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORO_VERSION_MAJOR 0
#define CORO_VERSION_MINOR 1

typedef struct coro_loop coro_loop;
typedef struct coro coro;
typedef struct coro_remote coro_remote;

/* A coroutine's entry function. Its return value is the coroutine's result. */
typedef void *(*coro_fn)(void *arg);

/* ------------------------------------------------------------------ */
/* Stacks                                                             */
/* ------------------------------------------------------------------ */

enum coro_stack_mode {
  /* Inherit: for a coroutine, its loop's mode; for a loop, CORO_STACK_GUARDED. */
  CORO_STACK_DEFAULT = 0,
  /* An mmap'd stack of its own with a guard page below it. The coroutine's
   * record lives in the stack's top page, so an idle coroutine costs about
   * one page. Limited to about 32,700 per process by vm.max_map_count
   * (65530 here): each guarded stack costs two mappings. Overflow into the
   * guard page aborts with the coroutine's id and name. */
  CORO_STACK_GUARDED = 1,
  /* Copy-on-switch: all such coroutines of a loop run on one shared stack;
   * a suspended coroutine's used stack bytes are copied to a heap buffer of
   * exactly that size. An idle coroutine costs its record plus the bytes its
   * frames really use, so a process holds millions. A switch copies the
   * stack, so switches cost more; and no pointer into a suspended
   * coroutine's stack may be used by anyone else while it is suspended
   * (the engine keeps wait nodes, results and transfer values in the
   * coroutine's record, never on its stack). Overflow is caught by a canary
   * below the shared stack, checked at every switch, and aborts. */
  CORO_STACK_SHARED = 2,
};

/* Defaults and limits for stack_size, in bytes. */
#define CORO_STACK_SIZE_DEFAULT (256u * 1024u)
#define CORO_STACK_SIZE_MIN (16u * 1024u)
#define CORO_STACK_SIZE_MAX (1024u * 1024u * 1024u)
/* The guard below a stack (guard_size in coro_loop_opts and coro_opts),
 * in bytes, rounded up to whole pages. Default (0): one page; 64 KiB on
 * aarch64, where GCC's -fstack-clash-protection probes a new frame once
 * per 64 KiB. A fault in the guard aborts with the coroutine's id and
 * name; a frame larger than the guard can step over it unless the code
 * was compiled with -fstack-clash-protection (the engine is; see the
 * README for your own cgo code), which touches every page of a big frame
 * in order, so the first touch past the stack is in the guard. A guard
 * costs address space only, never memory or an extra mapping. */
#define CORO_GUARD_SIZE_MAX (64u * 1024u * 1024u)
/* Stacks a loop keeps for reuse after coroutines exit (per loop). */
#define CORO_STACK_CACHE_DEFAULT 64

/* ------------------------------------------------------------------ */
/* Loops                                                              */
/* ------------------------------------------------------------------ */

/* A report about a coroutine (watchdog.c, crash.c, coro_loop_close). */
enum coro_report_kind {
  CORO_REPORT_SLOW = 1,      /* still running past the threshold: run_ns is
                                its CPU time so far; once per run */
  CORO_REPORT_SLOW_END = 2,  /* a reported run ended (the coroutine
                                switched): run_ns is its total */
  CORO_REPORT_ABANDONED = 3, /* coro_loop_close abandoned it (deadline) */
};

typedef struct coro_report {
  int kind;                  /* enum coro_report_kind */
  uint64_t id;               /* the coroutine's id (0: unknown) */
  char name[64];             /* its name, truncated; "" when unnamed */
  const char *loop_name;     /* the loop's name, "" when unnamed */
  coro_loop *loop;           /* valid during the callback only */
  int64_t run_ns;            /* CPU time run without a switch (SLOW,
                                SLOW_END); time waiting for a CPU is not
                                counted */
  int64_t threshold_ns;      /* the threshold it crossed (SLOW, SLOW_END) */
  int nframes;               /* frames held (0: none: sampling is off, the
                                sample came too late, or not walkable) */
  void *frames[64];          /* return addresses, innermost first (SLOW: where
                                it ran when sampled; ABANDONED: where it was
                                suspended) */
} coro_report;

/* Called with each report: on the watchdog thread for SLOW and SLOW_END
 * (it must not block for long, and must not call into the loop), on the
 * loop thread inside coro_loop_close for ABANDONED. r is valid during the
 * call only. */
typedef void (*coro_report_fn)(const coro_report *r, void *arg);

typedef struct coro_loop_opts {
  int stack_mode;      /* enum coro_stack_mode; default CORO_STACK_GUARDED */
  size_t stack_size;   /* default CORO_STACK_SIZE_DEFAULT; for SHARED, the
                          size of the shared stack */
  size_t stack_cache;  /* stacks kept for reuse; 0 = CORO_STACK_CACHE_DEFAULT,
                          (size_t)-1 = keep none */
  const char *name;    /* for messages; must outlive the loop; may be NULL */
  int poll_backend;    /* enum coro_poll_backend; default: $CORO_POLL
                          ("epoll" or "poll"), else epoll on Linux */
  size_t guard_size;   /* guard below each GUARDED stack and below the
                          shared stack; 0 = the default (see
                          CORO_GUARD_SIZE_MAX), at most that */
  const struct coro_resolver_opts *resolver; /* the loop's default resolver
                          (coro_resolver_opts, copied); NULL: the system's */
  int hooks;           /* 1: the libc hooks (the Go package hooks, or
                          libcoro_hooks.a, when linked in) act in this
                          loop's coroutines; 0 (default): off. See
                          coro_hooks_enable */
  int accounting;      /* 1: time each coroutine's runs from the start
                          (coro_loop_set_accounting); 0 (default): off */
  int64_t slow_ns;     /* the slow-coroutine threshold (watchdog.c): a
                          coroutine that runs this long (CPU time) without
                          switching is reported; 0 (default): off. See
                          coro_loop_set_slow */
  coro_report_fn report_fn; /* receives the loop's reports (slow runs,
                          coroutines abandoned by coro_loop_close); NULL:
                          they go to stderr (coro_report_format) */
  void *report_arg;    /* handed to report_fn */
} coro_loop_opts;

/* Create a loop bound to the calling thread. One loop per thread: -EBUSY if
 * the thread already has one. opts may be NULL for the defaults. -EINVAL for
 * a bad mode, stack size or guard size, -ENOMEM. Also installs (once per process) the handler
 * that reports stack overflows, and an alternate signal stack on this thread
 * if it has none, so that no signal handler runs on a small coroutine stack. */
int coro_loop_new(coro_loop **out, const coro_loop_opts *opts);

/* The calling thread's loop, or NULL. */
coro_loop *coro_loop_current(void);

enum coro_run_mode {
  CORO_RUN_UNTIL_EMPTY = 0,   /* return when no coroutine is alive */
  CORO_RUN_UNTIL_STOPPED = 1, /* sleep when idle; return on coro_loop_stop */
};

/* Run the scheduler on the calling (owning) thread's stack until the mode
 * says to stop. Returns 0; -EPERM from another thread, from inside a
 * coroutine or callback, or when already running; -EINVAL for a bad mode.
 * CORO_RUN_UNTIL_EMPTY returns -EDEADLK when coroutines are alive but all
 * are blocked with no deadline and no post is queued: only another thread
 * could wake them, so use CORO_RUN_UNTIL_STOPPED when one will. */
int coro_loop_run(coro_loop *loop, int mode);

/* Make coro_loop_run return soon. Thread-safe. */
int coro_loop_stop(coro_loop *loop);

/* Shut the loop down and free it: cancel every live coroutine, run the loop
 * until they have all finished or the deadline passes (the first turn runs
 * even when it has passed: every coroutine the cancel woke sees it once),
 * then free every
 * coroutine that is left (abandoned without running further: their own
 * resources leak, the engine's do not), every stack, and the loop. Returns 0
 * if all finished in time, -ETIMEDOUT if some had to be abandoned, -EPERM if
 * not called on the owning thread outside any coroutine. Results of
 * unjoined coroutines are discarded. Remote handles stay valid until
 * released: they report -ECANCELED for a coroutine cancelled or abandoned
 * by the close, -ESHUTDOWN for one still queued when the close began. Posts that race with close get -ESHUTDOWN;
 * once close has returned the loop is freed, and posting to it (or stopping
 * it) is a use of freed memory, as with any freed object.
 * Abandoned coroutines are unlinked from the wait queues of locks and
 * channels, but what they held stays held: a mutex they owned stays locked,
 * a channel they were inside reports -EBUSY to coro_chan_free. Objects an
 * abandoned coroutine used should be treated as lost. */
int coro_loop_close(coro_loop *loop, int64_t deadline);

const char *coro_loop_name(const coro_loop *loop);

typedef struct coro_loop_stats {
  uint64_t live;          /* coroutines alive (spawned or created, not freed) */
  uint64_t spawned;       /* coroutines ever created or spawned */
  uint64_t switches;      /* context switches performed */
  uint64_t stacks_cached; /* stacks in the reuse cache now */
  uint64_t stacks_mapped; /* stacks mapped now (in use + cached) */
  uint64_t ready;         /* run-queue length */
  uint64_t timers;        /* pending deadlines */
  uint64_t posts;         /* cross-thread posts handled */
  uint64_t stack_bytes_saved; /* SHARED mode: bytes held by suspended copies */
  uint64_t fds;           /* fds registered with the poller now (one closed
                             with plain close() may still count: see the
                             rule at coro_fd_wait) */
  /* The I/O counters below say which syscalls the loop's poller makes;
   * poll_syscalls is their total. The reads, writes and accepts of the
   * socket calls are the caller's and are not counted anywhere. */
  uint64_t poll_calls;    /* times the loop asked the kernel for ready fds:
                             one epoll_wait or ppoll; with epoll, a finite
                             sleep is two syscalls (ppoll on the epoll fd,
                             then epoll_wait) */
  uint64_t events;        /* fd events delivered (not counting the loop's
                             own wakeups or stale events) */
  uint64_t fd_arms;       /* fd registrations made or changed, one syscall
                             each: epoll_ctl ADD or MOD with epoll; with
                             poll, the fcntl(F_GETFD) that checks the fd.
                             A wait re-arms unless the engine knows it need
                             not (poll.c): a coro_read that waits on an fd of
                             the socket calls makes none in a steady state;
                             a coro_fd_wait on it makes one (MOD) unless an
                             unclaimed edge is pending */
  uint64_t poll_probes;   /* poll(2) calls of coro_fd_wait with deadline 0
                             on the loop thread (a wait with a deadline
                             never probes) */
  uint64_t poll_syscalls; /* every syscall the poller made: the above, plus
                             epoll_ctl DEL (coro_fd_close, coro_fd_forget, a
                             number the socket calls hand out again) and
                             reads of the loop's wake eventfd */
  uint64_t fd_waiters;    /* coroutines parked in coro_fd_wait now (lets a
                             test wait until a wait has parked) */
  uint64_t cpu_moves;     /* times the loop thread moved to another CPU
                             because the thread posting to it kept waking
                             it on its own (the affinity mask is left as
                             it was; a loop pinned to one CPU never moves) */
} coro_loop_stats;

/* Read a loop's counters. Thread-safe (the values are read without locking
 * and may be slightly stale). */
int coro_loop_stats_get(const coro_loop *loop, coro_loop_stats *out);

/* Run fn(arg) on the loop thread, between coroutines, on the loop's own
 * stack (never on a coroutine stack). Thread-safe; wakes a sleeping loop.
 * fn may spawn coroutines and use non-blocking calls (deadline 0) but must
 * not block. -ESHUTDOWN while the loop closes (once coro_loop_close has returned the
 * loop no longer exists), -ENOMEM. */
int coro_loop_post(coro_loop *loop, void (*fn)(void *arg), void *arg);

/* ------------------------------------------------------------------ */
/* Coroutines: the scheduler (the pthreads of coroutines)             */
/* ------------------------------------------------------------------ */

typedef struct coro_opts {
  int stack_mode;     /* enum coro_stack_mode; default: the loop's */
  size_t stack_size;  /* GUARDED only; default: the loop's */
  const char *name;   /* must outlive the coroutine (e.g. a literal); may be NULL */
  size_t guard_size;  /* GUARDED only; 0 = the loop's; at most
                         CORO_GUARD_SIZE_MAX (see there) */
} coro_opts;

/* Spawn a coroutine on the calling thread's loop and make it ready; it first
 * runs when the caller next switches (yields, blocks, or returns to the
 * loop). If out is NULL the coroutine is detached, else the caller must
 * coro_join or coro_detach it. Errors: -EINVAL (NULL fn, bad opts, stack size
 * outside [CORO_STACK_SIZE_MIN, CORO_STACK_SIZE_MAX], guard size above
 * CORO_GUARD_SIZE_MAX), -EPERM (no loop on
 * this thread), -ENOMEM (no memory or no mapping), -ESHUTDOWN (loop closing). */
int coro_spawn(coro **out, coro_fn fn, void *arg, const coro_opts *opts);

/* Let every other ready coroutine run, then continue. The loop's own work
 * (timers, posts, I/O) gets a turn at least every 64 switches, and at once
 * when no other coroutine is ready, so a coroutine yielding in a loop
 * starves nobody. Returns 0, -ECANCELED if the coroutine
 * has been cancelled (it still yields), -EPERM outside a spawned coroutine. */
int coro_yield(void);

/* Sleep until the deadline. 0, -ECANCELED, -EPERM. */
int coro_sleep(int64_t deadline);

/* The current time, in nanoseconds on CLOCK_MONOTONIC. */
int64_t coro_now(void);

/* Wait for co to finish and collect its result (result may be NULL); frees
 * co. Errors: -EDEADLK (co is the caller), -EINVAL (co detached, already
 * being joined, already joined, a created coroutine that is not finished,
 * or not of this loop), -ETIMEDOUT, -ECANCELED (the caller was cancelled:
 * co stays joinable). Called on the loop stack (outside any coroutine) it
 * may only poll (deadline 0) or the call returns -EPERM. */
int coro_join(coro *co, int64_t deadline, void **result);

/* Let co free itself when it finishes; its result is discarded. -EINVAL if
 * already detached or being joined. */
int coro_detach(coro *co);

/* Cancel co. Cancellation is sticky: from now on every blocking call that
 * co makes returns -ECANCELED at once (coro_yield still yields), and if co
 * is blocked now it wakes with -ECANCELED. Cancelling a finished coroutine,
 * or one already cancelled, does nothing and returns 0. -EINVAL for NULL. */
int coro_cancel(coro *co);

/* 1 if the current coroutine has been cancelled, 0 if not, -EPERM outside
 * a coroutine. */
int coro_cancelled(void);

/* The running coroutine, or NULL on the loop's own stack. */
coro *coro_self(void);

/* Identity: ids are unique per process and never 0. */
uint64_t coro_id(const coro *co);
const char *coro_name(const coro *co); /* "" when unnamed */
int coro_set_name(coro *co, const char *name); /* name must outlive co */

/* 1 if co has finished (returned or exited), else 0. */
int coro_done(const coro *co);

/* Override coro_loop_opts.hooks for one coroutine: on 1 turns the libc
 * hooks on for co, 0 off, -1 back to its loop's setting. The hooks
 * (blocking libc calls that wait in the loop) exist only in a program that
 * links them (the Go package hooks, or libcoro_hooks.a; contract in
 * hooks/hook.h); without them this only sets a flag. 0, or -EINVAL (NULL
 * co, another value of on). */
int coro_hooks_enable(coro *co, int on);

/* Finish the current coroutine with result; never returns. Spawned
 * coroutines hand result to their joiner; created ones to the coroutine that
 * last transferred to them (see coro_transfer). Aborts outside a coroutine. */
_Noreturn void coro_exit(void *result);

/* Coroutine-local storage, like pthread keys. Keys are process-wide, at
 * most CORO_KEYS_MAX. The destructor (may be NULL) runs for a non-NULL value
 * when the coroutine finishes, on the coroutine's stack. */
#define CORO_KEYS_MAX 64
typedef unsigned coro_key;
int coro_key_create(coro_key *key, void (*destructor)(void *value));
/* -EPERM outside a coroutine, -EINVAL bad key, -ENOMEM. */
int coro_local_set(coro_key key, void *value);
void *coro_local_get(coro_key key); /* NULL if unset or outside a coroutine */

/* Run fn(arg) on the loop thread's own stack, strictly nested: the calling
 * coroutine is suspended, no other coroutine runs, fn runs on the stack
 * coro_loop_run was called on, and the call returns when fn does. This is
 * the one path by which a coroutine may call into a runtime that must not
 * run on a foreign stack (Go: see DEVELOPERS.md), or run a deep call. While
 * fn runs, every call that would switch coroutines returns -EPERM. Pointers
 * into the caller's stack stay valid during the call, in every stack mode.
 * Returns 0, -EPERM outside a coroutine or when nested. */
int coro_call_on_loop(void (*fn)(void *arg), void *arg);

/* 1 while a coro_call_on_loop function runs on this thread, else 0. */
int coro_in_loop_call(void);

/* Backtraces of suspended coroutines (backtrace.c). co must belong to the
 * calling thread's loop and must not be running: sleeping, waiting (fd,
 * lock, channel, join), yielded, transferred away, or not started (then
 * the one frame is its entry function). Returns the number of return
 * addresses stored in frames, innermost first (frames[0] is where co
 * resumes); -EINVAL for the running coroutine, a finished one, one of
 * another loop, the loop's main context, or max < 0. Walks the frame
 * pointer chain (the engine is built with -fno-omit-frame-pointer),
 * bounds-checked against co's stack or its saved copy (shared mode): a
 * corrupt chain ends the walk early, it never faults. Thread: the loop's. */
#define CORO_BACKTRACE_MAX 64
int coro_backtrace(coro *co, void **frames, int max);
/* The same for the coroutine with this id on the calling thread's loop;
 * -ESRCH if the loop has none. */
int coro_backtrace_by_id(uint64_t id, void **frames, int max);
/* "function+0xoff" for a code address (dladdr: only symbols the dynamic
 * linker sees, so a static executable's own functions need -rdynamic),
 * else "object+0xoff", else "0xaddr"; no file:line. Returns the length
 * snprintf would write (truncated to len), -EINVAL for no buffer. */
int coro_backtrace_symbol(const void *pc, char *buf, size_t len);
/* coro_backtrace (up to CORO_BACKTRACE_MAX frames) as text, one line per
 * frame: "#N 0xaddr symbol". Returns its length; -ENOSPC if buf is too
 * short (it holds the whole lines that fit), or coro_backtrace's error. */
int coro_backtrace_format(coro *co, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Looking inside a loop: what each coroutine is doing (dump.c)       */
/* ------------------------------------------------------------------ */

/* A coroutine's state in a dump. */
enum coro_state {
  CORO_STATE_NEW = 0,   /* created or spawned, never run */
  CORO_STATE_READY,     /* on the run queue */
  CORO_STATE_RUNNING,   /* the running coroutine (the one that dumps) */
  CORO_STATE_WAITING,   /* parked: see coro_dump_coro.wait */
  CORO_STATE_SUSPENDED, /* created and transferred away, or in a
                           coro_call_on_loop (wait CORO_WAIT_CALL) */
  CORO_STATE_DONE,      /* finished, not yet joined or freed */
};

/* What a waiting coroutine waits for. */
enum coro_wait_kind {
  CORO_WAIT_NONE = 0,  /* not waiting */
  CORO_WAIT_SLEEP,     /* coro_sleep until the deadline */
  CORO_WAIT_FD,        /* coro_fd_wait (and the socket calls): wait_fd,
                          wait_events */
  CORO_WAIT_MUTEX,     /* wait_obj: the coro_mutex */
  CORO_WAIT_COND,      /* wait_obj: the coro_cond */
  CORO_WAIT_SEM,       /* wait_obj: the coro_sem */
  CORO_WAIT_WG,        /* wait_obj: the coro_waitgroup */
  CORO_WAIT_CHAN_SEND, /* wait_obj: the coro_chan */
  CORO_WAIT_CHAN_RECV, /* wait_obj: the coro_chan */
  CORO_WAIT_JOIN,      /* coro_join of the coroutine wait_id */
  CORO_WAIT_CALL,      /* inside coro_call_on_loop (a Go call) */
  CORO_WAIT_DNS,       /* a lookup another coroutine is asking a server */
  CORO_WAIT_OTHER,     /* anything else parked */
};

/* One coroutine in a dump. Pointers are valid during the callback only. */
typedef struct coro_dump_coro {
  uint64_t id;
  const char *name;       /* "" when unnamed */
  int state;              /* enum coro_state */
  int created;            /* 1: coro_create (transfers), 0: spawned */
  int cancelled;          /* 1 once coro_cancel was called on it */
  int wait;               /* enum coro_wait_kind (WAITING, or SUSPENDED
                             in a call); CORO_WAIT_NONE otherwise */
  const void *wait_obj;   /* the lock, queue or channel waited on */
  int wait_fd;            /* CORO_WAIT_FD: the fd ... */
  int wait_events;        /* ... and CORO_POLLIN | CORO_POLLOUT */
  uint64_t wait_id;       /* CORO_WAIT_JOIN: the coroutine joined */
  int64_t deadline;       /* when its wait times out; -1: none */
  int64_t since;          /* coro_now() time it entered the state: exact
                             with accounting, else the loop's clock read
                             of its turn (late by at most one turn); for
                             one the loop made ready ahead of others (a
                             Go Spawn's polling slot), the older stamp of
                             the one it went ahead of */
  uint64_t switches;      /* times it was switched to (resumed) */
  int64_t run_ns;         /* time it ran; -1 without accounting */
  int stack_mode;         /* CORO_STACK_GUARDED or CORO_STACK_SHARED */
  size_t stack_size;      /* usable bytes (SHARED: the shared stack's) */
  size_t stack_used;      /* bytes in use now (at its suspension) */
  size_t stack_peak;      /* GUARDED: the stack's pages that are resident
                             (page granularity; a cached stack keeps the
                             pages of the coroutines that used it before);
                             SHARED: the largest copy saved so far */
  int nframes;            /* with CORO_DUMP_BACKTRACE: frames stored, or
                             coro_backtrace's -errno (-EINVAL when running
                             or done); else 0 */
  void *frames[CORO_BACKTRACE_MAX];
} coro_dump_coro;

/* A loop's counters in a dump. */
typedef struct coro_dump_loop {
  const char *name;       /* coro_loop_name */
  int64_t now;            /* coro_now() when the dump was taken */
  uint64_t coroutines;    /* records alive (all states) */
  uint64_t by_state[6];   /* indexed by enum coro_state */
  uint64_t ready;         /* run-queue length */
  uint64_t timers;        /* pending deadlines */
  uint64_t fds;           /* fds registered with the poller */
  uint64_t fd_waiters;    /* coroutines parked on fds */
  uint64_t polls;         /* times the loop asked the kernel for events */
  uint64_t switches;      /* context switches */
  uint64_t spawned;       /* coroutines ever created */
  uint64_t posts;         /* cross-thread posts handled */
  int accounting;         /* 1 while run times are measured */
  int64_t longest_run_ns; /* the longest run of a coroutine without a
                             switch since accounting began; -1 without */
  uint64_t longest_run_id;/* whose run that was (0: none) */
} coro_dump_loop;

#define CORO_DUMP_BACKTRACE 0x1 /* fill coro_dump_coro.frames */

/* Describe loop and each of its coroutines: fill *out (may be NULL) with
 * the counters, then call fn (may be NULL) once per coroutine, newest
 * first; a non-zero return of fn stops the walk and is returned. fn runs
 * on the loop thread and must not spawn, cancel, join or free coroutines
 * (the walk is in progress). Call it on the loop's thread (from the loop
 * stack, e.g. in a coro_loop_post function, or from a coroutine, which
 * then appears as running). 0, -EINVAL (NULL loop, unknown flags), -EPERM
 * (another thread). */
int coro_loop_dump(coro_loop *loop, unsigned flags, coro_dump_loop *out,
                   int (*fn)(void *udata, const coro_dump_coro *co),
                   void *udata);

/* coro_loop_dump as text for people: a line of counters, a line per
 * coroutine ("id name state wait ..."), and with CORO_DUMP_BACKTRACE its
 * frames below it, indented. Returns the length; -ENOSPC when buf is too
 * short (it then holds the whole lines that fit), or coro_loop_dump's
 * error. */
int coro_loop_dump_text(coro_loop *loop, unsigned flags, char *buf,
                        size_t len);

/* Names for dumps: "waiting", "fd", ... ("?" for an unknown value). */
const char *coro_state_name(int state);
const char *coro_wait_name(int wait);

/* Cancel (coro_cancel) the coroutine with this id on the calling thread's
 * loop: 0, -ESRCH if there is none, -EPERM without a loop. */
int coro_cancel_by_id(uint64_t id);

/* Measure run times (coro_dump_coro.run_ns, longest_run_ns): a clock
 * read per switch while on (its cost: README), none while off.
 * Turning it on resets the longest run. Loop thread only: 0, -EINVAL,
 * -EPERM. */
int coro_loop_set_accounting(coro_loop *loop, int on);
int coro_loop_accounting(const coro_loop *loop); /* 1 on, 0 off */

/* ------------------------------------------------------------------ */
/* The slow-coroutine watchdog (watchdog.c) and crash reports (crash.c) */
/* ------------------------------------------------------------------ */

/* Set the loop's slow-coroutine threshold in ns (0: off; -EINVAL if
 * negative). While it is on, one watchdog thread per process (started on
 * first use) looks at the loop's switch counter every threshold/4 (at
 * least 1 ms, at most 50 ms): a coroutine that has run longer than the
 * threshold without switching is reported once while it still runs
 * (CORO_REPORT_SLOW, with a backtrace of where it runs), and again when it
 * finally switches (CORO_REPORT_SLOW_END, with the total). Run time is the
 * loop thread's CPU time (the kernel's schedstat): a loaded machine, where
 * the thread waits for a CPU, raises no false reports. Measured to the
 * watchdog's tick. The switch path pays nothing for it.
 * The backtrace comes from a signal (SIGRTMIN+5, SA_RESTART, run on the
 * thread's alternate stack) sent to the loop thread once per slow run: a
 * system call of user code made without SA_RESTART semantics (a poll, a
 * nanosleep, a read with a timeout) may see EINTR. $CORO_SLOW_NOSIGNAL=1
 * (read when the watchdog starts) turns the signal off: reports then come
 * without backtrace. Thread-safe. */
int coro_loop_set_slow(coro_loop *loop, int64_t ns);
/* The threshold (0: off), or -EINVAL for NULL. Thread-safe. */
int64_t coro_loop_get_slow(const coro_loop *loop);
/* The longest run without a switch the watchdog has seen on this loop, in
 * ns of CPU time (to its tick; runs are only seen while a threshold is
 * set, and a run shorter than a tick may be missed): 0 if none. -EINVAL
 * for NULL. Thread-safe. */
int64_t coro_loop_longest_run(const coro_loop *loop);

/* Format r for people: one line ("coro: coroutine 7 \"name\" (loop
 * \"l\") has run 250 ms without switching (threshold 200 ms)"), then
 * its frames as coro_backtrace_format writes them. Returns the length;
 * -ENOSPC if buf is too short (it holds the whole lines that fit), -EINVAL
 * for a NULL r or buf. */
int coro_report_format(const coro_report *r, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Low-level coroutines (the seed's coroutine module): direct transfer */
/* ------------------------------------------------------------------ */

/* Create a suspended coroutine on the calling thread's loop that runs only
 * when transferred to; the scheduler never runs it. Same errors as
 * coro_spawn. Inside a created coroutine, scheduler calls that would block
 * or yield return -EPERM: it runs within whichever context transfers to it,
 * like a generator. Free it with coro_join once finished, or coro_free. */
int coro_create(coro **out, coro_fn fn, void *arg, const coro_opts *opts);

/* Suspend the caller and resume `to`, handing it `value`; returns when some
 * coroutine transfers back, storing the value it passed in *received (may be
 * NULL). Returns 0, or 1 if the value is the result of a coroutine that has
 * just finished (its entry returned or it called coro_exit): when a created
 * coroutine finishes, control goes to the coroutine that last transferred to
 * it. `to` must be a created coroutine that is new or suspended, or a
 * context suspended in coro_transfer (such as coro_caller()). The value
 * passed to a created coroutine's first transfer is not delivered: its entry
 * function receives the argument given to coro_create. Errors: -EINVAL (to is NULL,
 * finished, the caller itself, or a scheduled coroutine), -EPERM (inside
 * coro_call_on_loop, or no loop). Works from the loop's own stack too. */
int coro_transfer(coro *to, void *value, void **received);

/* The coroutine (or the loop stack's context) that last transferred to the
 * current one, not counting coroutines it transferred to that handed values
 * back to it; the way back for a generator. NULL if none. */
coro *coro_caller(void);

/* Free a created coroutine that is finished or suspended (a suspended one is
 * abandoned without unwinding). Coroutines that would have returned to it
 * when they finish return to the loop's own context instead. -EBUSY if it
 * is running, -EINVAL for a spawned coroutine (use join/detach). */
int coro_free(coro *co);

/* ------------------------------------------------------------------ */
/* From other threads                                                  */
/* ------------------------------------------------------------------ */

/* Spawn fn(arg) on loop from any thread. The returned remote handle is
 * reference-counted and stays valid until coro_remote_release, whatever the
 * loop does. on_done (may be NULL) runs on the loop thread, on the loop's own
 * stack, once the coroutine has finished or was never started (then the
 * error is -ECANCELED if it was cancelled first, -ESHUTDOWN if the loop
 * began closing before it started, or the spawn's own error, such as
 * -ENOMEM), with udata. A coroutine that started and was still alive when
 * the loop closed reports -ECANCELED. opts->name must stay valid until
 * the outcome is published (coro_remote_poll reports it). Errors:
 * -EINVAL, -ESHUTDOWN, -ENOMEM. Thread-safe. */
int coro_remote_spawn(coro_loop *loop, coro_fn fn, void *arg,
                      const coro_opts *opts,
                      void (*on_done)(coro_remote *r, void *udata),
                      void *udata, coro_remote **out);

/* Block the calling thread (not a coroutine of the loop) until the remote
 * coroutine finishes or the deadline passes. Returns 0 with *result set,
 * -ETIMEDOUT, -ECANCELED (cancelled before it started, or abandoned by the
 * loop's close), -ESHUTDOWN (the loop closed before it started), -EDEADLK if called on the loop's own thread (even when the
 * coroutine has finished: use coro_remote_poll there). Thread-safe. */
int coro_remote_wait(coro_remote *r, int64_t deadline, void **result);

/* Non-blocking: 1 if finished (with *result and *err set), else 0. */
int coro_remote_poll(coro_remote *r, void **result, int *err);

/* Cancel the remote coroutine (sticky, as coro_cancel). Thread-safe. */
int coro_remote_cancel(coro_remote *r);

/* The remote coroutine's id (assigned at spawn time, so known at once). */
uint64_t coro_remote_id(const coro_remote *r);

/* Drop the caller's reference. Thread-safe. */
void coro_remote_release(coro_remote *r);

/* ------------------------------------------------------------------ */
/* Locks and queues (the seed's coutil and fifo). All belong to one    */
/* loop; none may be used from another thread.                        */
/* ------------------------------------------------------------------ */

/* Private: an intrusive FIFO of waiting coroutines. */
typedef struct coro__waitq {
  coro *head, *tail;
} coro__waitq;

typedef struct coro_mutex {
  /* private */
  coro *owner;
  coro__waitq waiters;
} coro_mutex;

/* Mutexes hand ownership to the longest waiter on unlock (FIFO, no barging).
 * Not recursive: locking a mutex the caller owns returns -EDEADLK. */
int coro_mutex_init(coro_mutex *m);
int coro_mutex_lock(coro_mutex *m, int64_t deadline); /* -ETIMEDOUT, -ECANCELED, -EDEADLK, -EPERM */
int coro_mutex_unlock(coro_mutex *m);                 /* -EPERM if not the owner */
int coro_mutex_destroy(coro_mutex *m);                /* -EBUSY if locked or waited on */

typedef struct coro_cond {
  /* private */
  coro__waitq waiters;
} coro_cond;

int coro_cond_init(coro_cond *c);
/* Atomically unlock m and wait for a signal; re-lock m before returning,
 * whatever the outcome (as pthreads). -EPERM if m is not owned by the caller. */
int coro_cond_wait(coro_cond *c, coro_mutex *m, int64_t deadline);
int coro_cond_signal(coro_cond *c);    /* wake the longest waiter */
int coro_cond_broadcast(coro_cond *c); /* wake all */
int coro_cond_destroy(coro_cond *c);   /* -EBUSY if waited on */

typedef struct coro_sem {
  /* private */
  int64_t value;
  coro__waitq waiters;
} coro_sem;

int coro_sem_init(coro_sem *s, int64_t value);       /* -EINVAL if value < 0 */
int coro_sem_acquire(coro_sem *s, int64_t deadline); /* FIFO */
int coro_sem_release(coro_sem *s);                   /* -EOVERFLOW at INT64_MAX */
int64_t coro_sem_value(const coro_sem *s);
int coro_sem_destroy(coro_sem *s);                   /* -EBUSY if waited on */

typedef struct coro_waitgroup {
  /* private */
  int64_t count;
  coro__waitq waiters;
} coro_waitgroup;

int coro_wg_init(coro_waitgroup *wg);
int coro_wg_add(coro_waitgroup *wg, int64_t delta); /* -EINVAL if it would go negative */
int coro_wg_done(coro_waitgroup *wg);               /* coro_wg_add(wg, -1) */
int coro_wg_wait(coro_waitgroup *wg, int64_t deadline);
int coro_wg_destroy(coro_waitgroup *wg);            /* -EBUSY if waited on */

/* A bounded FIFO channel of fixed-size elements. capacity 0 makes an
 * unbuffered (rendezvous) channel: a send returns once a receiver has taken
 * the element. Elements are copied into channel memory, never read from a
 * blocked coroutine's stack. After coro_chan_close, sends fail with -EPIPE
 * and receives drain what is buffered, then fail with -EPIPE; blocked
 * senders and receivers wake with -EPIPE. */
typedef struct coro_chan coro_chan;
int coro_chan_new(coro_chan **out, size_t elem_size, size_t capacity); /* -EINVAL, -ENOMEM */
int coro_chan_send(coro_chan *ch, const void *elem, int64_t deadline);
int coro_chan_recv(coro_chan *ch, void *elem, int64_t deadline);
int coro_chan_close(coro_chan *ch);    /* -EPIPE if already closed */
size_t coro_chan_len(const coro_chan *ch);
int coro_chan_free(coro_chan *ch);     /* -EBUSY if coroutines wait on it */

/* ------------------------------------------------------------------ */
/* Misc                                                               */
/* ------------------------------------------------------------------ */

/* The context-switch backend compiled in: "x86_64", "arm64" or "ucontext". */
const char *coro_switch_backend(void);

/* ------------------------------------------------------------------ */
/* I/O: waiting for file descriptors, sockets, sendfile (poll.c,       */
/* socket.c, sendfile.c). Loop thread only.                           */
/* ------------------------------------------------------------------ */

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The kernel interface a loop sleeps in (coro_loop_opts.poll_backend).
 * CORO_POLL_DEFAULT takes $CORO_POLL ("epoll" or "poll") when set, so a
 * whole test suite can run on either, else epoll where it exists. */
enum coro_poll_backend {
  CORO_POLL_DEFAULT = 0,
  CORO_POLL_EPOLL = 1, /* Linux epoll: one-shot registrations, kept
                          edge-triggered ones for the socket calls' reads */
  CORO_POLL_POLL = 2,  /* portable poll(2) over an array of pollfd */
};

/* The backend a loop uses: "epoll" or "poll". */
const char *coro_loop_poll_backend(const coro_loop *loop);

/* Readiness bits (the engine's own values, not the kernel's). */
#define CORO_POLLIN 0x1  /* readable, or a listening socket has a connection */
#define CORO_POLLOUT 0x2 /* writable */
#define CORO_POLLERR 0x4 /* an error is pending (reported, never requested) */
#define CORO_POLLHUP 0x8 /* hung up (reported, never requested) */

/* Park the current coroutine until fd is ready for one of events
 * (CORO_POLLIN | CORO_POLLOUT). Returns the ready mask (> 0; it may include
 * CORO_POLLERR or CORO_POLLHUP, and, as with poll(2), readiness is a hint:
 * the next read or write may still find EAGAIN), or -ETIMEDOUT,
 * -ECANCELED, -EBADF (fd is not open, or was closed or forgotten through
 * coro_fd_close/coro_fd_forget while waiting), -EINVAL (no event
 * requested), -ENOMEM, -EPERM (outside a coroutine, unless deadline is 0).
 * Deadline 0 polls once without a loop. Several coroutines may wait on the
 * same fd: all whose events are ready wake. A regular file is always ready.
 * Rule: an fd that coroutines have waited on must be closed with
 * coro_fd_close (or coro_fd_forget before it is closed elsewhere): the
 * kernel keeps a registration alive while a dup of the fd lives. */
int coro_fd_wait(int fd, int events, int64_t deadline);

/* Wake fd's waiters with -EBADF, drop its registration, then close(fd).
 * 0 or -errno from close. Works with no loop too (then it only closes). */
int coro_fd_close(int fd);

/* Like coro_fd_close without closing: for fds owned elsewhere (Go). 0. */
int coro_fd_forget(int fd);

/* Sockets, libdill style. Every fd they make is non-blocking and
 * close-on-exec; writes never raise SIGPIPE (coro_loop_new blocks SIGPIPE
 * on the loop thread, and a SIGPIPE raised anyway is discarded), a broken
 * connection is -EPIPE or -ECONNRESET. Calls that wait take an absolute
 * deadline (0: try once, -ETIMEDOUT if it would block) and also return
 * -ECANCELED; all return a negative errno on failure. Close the fds they
 * return with coro_fd_close, never with plain close(): the loop keeps their
 * read registration between waits (no epoll_ctl per read). A plain close()
 * and a new file under the same number are survived all the same: a
 * coro_fd_wait checks the registration with the kernel, and coro_read and
 * coro_readv read those sockets with recvmsg, whose ENOTSOCK reveals a
 * pipe, regular file or eventfd under the number. One case is not: a new
 * socket made elsewhere (not by these calls) that takes the number and is
 * read first with coro_read, coro_readv or coro_recv: the wait after its
 * EAGAIN trusts the dead registration and can sleep through its data until
 * the deadline. */
#define CORO_REUSEPORT 0x1 /* coro_tcp_listen: set SO_REUSEPORT */

/* A listening TCP socket bound to addr (SO_REUSEADDR always). */
int coro_tcp_listen(const struct sockaddr *addr, socklen_t len, int backlog,
                    int flags);
/* A listening unix stream socket at path (-EADDRINUSE if it exists). */
int coro_unix_listen(const char *path, int backlog);
/* Accept a connection (addr/len may be NULL). When the process or system
 * is out of fds (EMFILE, ENFILE) it backs off with coro_sleep, 10 ms
 * doubling to 500 ms, and retries, never spinning; if the deadline passes
 * meanwhile it returns that error (-EMFILE or -ENFILE). */
int coro_accept(int lfd, struct sockaddr *addr, socklen_t *len,
                int64_t deadline);
/* A connected stream socket: -ECONNREFUSED, -ETIMEDOUT, ... */
int coro_connect(const struct sockaddr *addr, socklen_t len, int64_t deadline);
int coro_unix_connect(const char *path, int64_t deadline);

/* Each tries the call and, on EAGAIN, waits with coro_fd_wait and retries.
 * 0 from a read means end of file. send and sendto add MSG_NOSIGNAL. */
ssize_t coro_read(int fd, void *buf, size_t n, int64_t deadline);
ssize_t coro_write(int fd, const void *buf, size_t n, int64_t deadline);
ssize_t coro_readv(int fd, const struct iovec *iov, int iovcnt,
                   int64_t deadline);
ssize_t coro_writev(int fd, const struct iovec *iov, int iovcnt,
                    int64_t deadline);
ssize_t coro_recv(int fd, void *buf, size_t n, int flags, int64_t deadline);
ssize_t coro_send(int fd, const void *buf, size_t n, int flags,
                  int64_t deadline);
ssize_t coro_recvfrom(int fd, void *buf, size_t n, int flags,
                      struct sockaddr *addr, socklen_t *len, int64_t deadline);
ssize_t coro_sendto(int fd, const void *buf, size_t n, int flags,
                    const struct sockaddr *addr, socklen_t len,
                    int64_t deadline);
/* Write all n bytes: n, or -errno (some bytes may have been sent). */
ssize_t coro_write_all(int fd, const void *buf, size_t n, int64_t deadline);
int coro_shutdown(int fd, int how);
/* Parse a numeric "127.0.0.1:80" or "[::1]:80" into out: 0 or -EINVAL. */
int coro_addr_parse(const char *hostport, struct sockaddr_storage *out,
                    socklen_t *len);

/* Send count bytes of in_fd (a regular file) from *offset (NULL: from and
 * advancing in_fd's file position) to out_fd, waiting whenever out_fd is
 * full. Returns the bytes sent (fewer than count only at end of file), or
 * -errno (-EPIPE, -ECONNRESET when the peer hangs up; -ETIMEDOUT;
 * -ECANCELED): then *offset (or the file position) tells how far it got.
 * Uses sendfile(2), or read and write when that is unavailable or when
 * $CORO_SENDFILE is "rw". */
ssize_t coro_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count,
                      int64_t deadline);

/* ------------------------------------------------------------------ */
/* Names: an asynchronous DNS resolver with a synchronous face        */
/* (resolver.c, dns_cache.c; codec and config in dns_msg.c,           */
/* dns_conf.c). Loop thread only; the lookups wait in coroutines.     */
/* ------------------------------------------------------------------ */

#include <netdb.h>
struct addrinfo; /* declared even where netdb.h hides it (strict -std=c11) */

/* Errors of the lookups beside the errno values they also return
 * (-ETIMEDOUT: no server answered in time or the deadline passed;
 * -ECANCELED; -EBADMSG: a malformed answer; -EINVAL, -ENAMETOOLONG: a name
 * that is not a valid host name, and then no query is sent; -ENODATA: the
 * name exists but has no record of the type or family asked; -ENOMEM).
 * Returned negated, like errno values; above the kernel's errno range. */
#define CORO_ENXDOMAIN 5001 /* no such name (NXDOMAIN, or not in hosts) */
#define CORO_ESERVFAIL 5002 /* the servers failed (SERVFAIL, FORMERR, NOTIMP) */
#define CORO_EREFUSED 5003  /* every server refused (REFUSED) */

/* A message for a negative return of any coro_ call: strerror for errno
 * values, the resolver's own for the CORO_E* ones. Never NULL. */
const char *coro_strerror(int err);

/* Where a resolver gets its configuration. Every field may be 0/NULL. */
typedef struct coro_resolver_opts {
  const char *resolv_conf; /* NULL: $CORO_RESOLV_CONF, else /etc/resolv.conf */
  const char *hosts;       /* NULL: $CORO_HOSTS, else /etc/hosts */
  const char *servers;     /* "ADDR[,ADDR...]" (127.0.0.2, [::1]:5353,
                              127.0.0.1:5300): replace resolv.conf's
                              nameservers; ports allowed here only */
  size_t cache_entries;    /* 0: 4096; (size_t)-1: no cache */
  uint32_t cache_max_ttl;  /* seconds; 0: 3600. TTLs above are capped */
  uint32_t cache_neg_ttl;  /* cap for negative answers; 0: 300 */
  uint32_t udp_max_queries; /* queries sent on one UDP socket (one random
                              source port) before a fresh one; 0: 100;
                              1: a socket per query */
} coro_resolver_opts;

/* A resolver: configuration, cache, queries in flight. Each loop has a
 * default one, made on first use from coro_loop_opts.resolver and freed by
 * coro_loop_close; pass NULL to the calls below to use it. Make others
 * with coro_resolver_new (bound to the calling thread's loop). The files
 * are re-read when they change (at most one stat per 5 s). */
typedef struct coro_resolver coro_resolver;
int coro_resolver_new(coro_resolver **out, const coro_resolver_opts *opts);
/* -EBUSY while lookups are in flight on it; -EINVAL for the loop's
 * default resolver (coro_loop_close frees that one). */
int coro_resolver_free(coro_resolver *r);

/* Addresses of a host name: family AF_INET, AF_INET6 or AF_UNSPEC. */
typedef struct coro_ip {
  int family;        /* AF_INET or AF_INET6 */
  uint32_t scope_id; /* IPv6 zone (from hosts files); 0 otherwise */
  uint8_t addr[16];  /* 4 or 16 bytes, network order */
} coro_ip;

/* Resolve name as glibc would with "hosts: files dns": a numeric address
 * is returned as is (no query); localhost names are 127.0.0.1 and ::1;
 * then the hosts file; then DNS, with the search list and ndots of
 * resolv.conf, A and AAAA asked in parallel (one after the other with
 * options single-request), CNAME chains followed, through the cache.
 * Search: the names are tried in resolv.conf(5)'s order until one has
 * addresses; NXDOMAIN, no data and a server's failure (SERVFAIL,
 * REFUSED) move on to the next name, any other error ends the search;
 * when no name answers, the error is -ENODATA if some name exists, else
 * a server failure if there was one, else -CORO_ENXDOMAIN.
 * Order: when the machine has a route to IPv6 destinations (a UDP connect
 * to a global IPv6 address, which sends nothing, tells; checked at most
 * once per 5 s per resolver), IPv6 addresses come first, else IPv4 first;
 * within a family, the server's (or the hosts file's) order.
 * A lookup the cache answers makes no syscall and no allocation and needs
 * no coroutine; one that must ask a server needs a coroutine (-EPERM
 * outside one) and a deadline other than 0 (-ETIMEDOUT).
 * Writes up to cap addresses to out and returns their number (> 0), or
 * -CORO_ENXDOMAIN, -ENODATA (also: a numeric address of the other
 * family), -CORO_ESERVFAIL, -CORO_EREFUSED, -ETIMEDOUT, -ECANCELED,
 * -EBADMSG (also: a CNAME loop), -EINVAL (also: cap 0), -ENAMETOOLONG,
 * -EAFNOSUPPORT (another family), -ENOMEM, -EPERM, or the socket errors
 * of a server that could not be asked (-EMFILE, -ENETUNREACH,
 * -ECONNREFUSED: nothing listens there, known at once, so the next server
 * is asked without waiting for the timeout, ...). */
int coro_lookup_ip(coro_resolver *r, const char *name, int family,
                   coro_ip *out, size_t cap, int64_t deadline);

/* coro_lookup_ip, telling which server was asked: *server_len (with
 * *server) is that of the server whose answer the result is (on an error:
 * the server asked last, as net.DNSError.Server), 0 when none was asked
 * (a numeric address, localhost, the hosts file, the cache). server and
 * server_len may be NULL. */
int coro_lookup_ip_server(coro_resolver *r, const char *name, int family,
                          coro_ip *out, size_t cap, int64_t deadline,
                          struct sockaddr_storage *server,
                          socklen_t *server_len);

/* getaddrinfo(3)'s shape over coro_lookup_ip: host (NULL with AI_PASSIVE:
 * the wildcard), service (a port number or a name from /etc/services),
 * hints (family, socktype, protocol; flags AI_PASSIVE, AI_CANONNAME,
 * AI_NUMERICHOST, AI_NUMERICSERV, AI_ADDRCONFIG; NULL: any). *res gets a
 * list allocated as glibc allocates it (each node with its sockaddr in one
 * malloc, ai_canonname apart), so glibc's freeaddrinfo can free it too;
 * coro_freeaddrinfo does. As glibc: socktype 0 gives a node per address
 * for each of SOCK_STREAM, SOCK_DGRAM and SOCK_RAW (for a named service,
 * those of the protocols /etc/services lists it for); AI_CANONNAME puts
 * the end of the CNAME chain (or the hosts line's first name) on the
 * first node; AI_ADDRCONFIG asks for IPv6 only with a route to IPv6; at
 * most 256 addresses. Returns 0 or the negative errors of coro_lookup_ip
 * (never EAI_* codes): -ESRCH for an unknown service, -EINVAL for no host
 * and no service, an unknown flag, or a service name with
 * AI_NUMERICSERV, -CORO_ENXDOMAIN for a name with AI_NUMERICHOST. */
int coro_getaddrinfo(coro_resolver *r, const char *host, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res,
                     int64_t deadline);
void coro_freeaddrinfo(struct addrinfo *res);

/* Record types of coro_dns_query. */
enum coro_dns_type {
  CORO_DNS_A = 1,
  CORO_DNS_NS = 2,
  CORO_DNS_CNAME = 5,
  CORO_DNS_SOA = 6,
  CORO_DNS_PTR = 12,
  CORO_DNS_MX = 15,
  CORO_DNS_TXT = 16,
  CORO_DNS_AAAA = 28,
  CORO_DNS_SRV = 33,
};
/* Names of types ("A", "MX", "TYPE99") and back (0: unknown name). A
 * "TYPEn" name lives in a buffer per thread until the thread's next call
 * for an unlisted type; the others are static. */
const char *coro_dns_type_name(int type);
int coro_dns_type_parse(const char *name);

/* One record of an answer; every pointer points into its coro_dns_answer. */
typedef struct coro_dns_rr {
  const char *name; /* owner, text form without the trailing dot */
  int type;
  uint32_t ttl;     /* as received (the cache counts it down) */
  union {
    coro_ip ip;          /* A, AAAA */
    const char *target;  /* CNAME, NS, PTR */
    struct {
      uint16_t pref;
      const char *host;
    } mx;
    struct {
      const char *mname, *rname;
      uint32_t serial, refresh, retry, expire, minimum;
    } soa;
    struct {
      uint16_t prio, weight, port;
      const char *target;
    } srv;
    struct {
      size_t n;                 /* character-strings */
      const char *const *s;     /* each NUL-terminated ... */
      const size_t *len;        /* ... and with its length (may hold NUL) */
    } txt;
    struct {
      const uint8_t *data;      /* any other type: the rdata */
      size_t len;
    } raw;
  } u;
} coro_dns_rr;

typedef struct coro_dns_answer {
  const char *qname;  /* the name asked, after the search list */
  const char *cname;  /* the end of the CNAME chain (== qname if none) */
  int type;
  size_t n;           /* records of type owned by cname, server's order */
  coro_dns_rr *rr;
  int from_cache;     /* 1: from the cache (server_len is 0) */
  struct sockaddr_storage server; /* the server that answered */
  socklen_t server_len;
} coro_dns_answer;

#define CORO_DNS_NOSEARCH 0x1 /* coro_dns_query: ask name as it is */
#define CORO_DNS_NOCACHE 0x2  /* neither read nor fill the cache */

/* Ask for records of any type (search list applied unless
 * CORO_DNS_NOSEARCH; the hosts file is not consulted). *out is one
 * allocation: free it with coro_dns_answer_free. Returns the record count
 * (> 0) or the errors of coro_lookup_ip. */
int coro_dns_query(coro_resolver *r, const char *name, int type,
                   unsigned flags, coro_dns_answer **out, int64_t deadline);
void coro_dns_answer_free(coro_dns_answer *a);

/* Counters of a resolver (r NULL: the loop's default). */
typedef struct coro_resolver_stats {
  uint64_t lookups;       /* calls of the three lookups */
  uint64_t cache_hits, cache_misses, cache_entries;
  uint64_t shared;        /* lookups that joined a query in flight */
  uint64_t queries_udp, queries_tcp; /* messages sent */
  uint64_t timeouts, retries, ignored; /* timeouts: tries that got no
                          answer in time; retries: tries after a question's
                          first (another server, another attempt); ignored:
                          spoofed, mismatched or malformed answers */
} coro_resolver_stats;
int coro_resolver_stats_get(coro_resolver *r, coro_resolver_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CORO_H */
