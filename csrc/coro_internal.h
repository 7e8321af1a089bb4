/* coro_internal.h - the engine's internal contracts: the records, and the
 * handful of functions each internal file offers the others. Internal
 * non-static names start with coro__; everything else is static.
 *
 * Files:
 *   switch.h / switch_*.S / switch_ucontext.c  the raw context switch
 *   stack.c    stacks: guarded mmap stacks with a LIFO cache, the shared
 *              (copy-on-switch) stack and its save buffers, overflow reports
 *   coro.c     coroutine records, the switch path, entry/exit, transfer
 *   sched.c    the loop: run queue, timers, waits, cancel, join, posts, close
 *   remote.c   cross-thread spawn handles
 *   sync.c     mutex, condition variable, semaphore, wait group
 *   chan.c     bounded FIFO channel
 *   poll.c     fd waits and the kernel poller (poll_epoll.inc, poll_poll.inc)
 *   socket.c   non-blocking socket calls; sendfile.c  coro_sendfile
 *   fault.c    fault injection: the wrappers of malloc and the system calls
 *   backtrace.c  call stacks of suspended coroutines (and of the running one
 *              from a signal context)
 *   watchdog.c the slow-coroutine watchdog thread and the reports' format
 *   crash.c    crash reports of fatal signals in coroutines (async-signal-
 *              safe formatting and symbols)
 *   dump.c     coro_loop_dump: what each coroutine is doing, run accounting
 *   dns_msg.c, dns_conf.c  the resolver's message codec and configuration,
 *              below the loop (their contracts: dns_internal.h)
 *   resolver.c, dns_transport.c, dns_lookup.c, ...  the resolver's query
 *              engine (its contract: resolver_internal.h)
 */
#ifndef CORO_INTERNAL_H
#define CORO_INTERNAL_H

#include "coro.h"
#include "switch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

/* SHARED records kept for reuse per loop: enough for a steady spawn rate,
 * small enough (about 1 MiB) that a burst of a million finished
 * coroutines is given back to malloc. */
#define CORO__REC_CACHE_MAX 4096

/* 1 when built with AddressSanitizer: gcc defines __SANITIZE_ADDRESS__,
 * clang answers __has_feature. The one test every engine file uses. */
#if defined(__SANITIZE_ADDRESS__)
#define CORO__ASAN_ON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO__ASAN_ON 1
#endif
#endif
#ifndef CORO__ASAN_ON
#define CORO__ASAN_ON 0
#endif

/* 1 when built with ThreadSanitizer (gcc: __SANITIZE_THREAD__, clang:
 * __has_feature). TSan keeps a shadow call stack and a clock per thread;
 * the switch path tells it about each coroutine as a fiber (coro.c). */
#if defined(__SANITIZE_THREAD__)
#define CORO__TSAN_ON 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO__TSAN_ON 1
#endif
#endif
#ifndef CORO__TSAN_ON
#define CORO__TSAN_ON 0
#endif

#define CORO__MAGIC_LIVE 0x436f526fu /* "CoRo" */
#define CORO__MAGIC_DEAD 0xdeadc0deu

/* A coroutine's lifecycle. */
enum coro__state {
  CORO__NEW = 0,     /* created or spawned, never run */
  CORO__READY,       /* on the run queue */
  CORO__RUNNING,     /* the current coroutine of its loop */
  CORO__BLOCKED,     /* parked in coro__wait */
  CORO__SUSPENDED,   /* a created coroutine (or main) that transferred away */
  CORO__DONE,        /* finished; waiting to be joined or freed */
};

enum coro__kind {
  CORO__SPAWNED = 0, /* scheduled by the loop */
  CORO__CREATED,     /* runs only when transferred to */
  CORO__MAIN,        /* the loop thread's own stack */
};

enum coro__flag {
  CORO__F_CANCELLED = 1u << 0, /* sticky cancel */
  CORO__F_DETACHED = 1u << 1,  /* free itself when done */
  CORO__F_JOINING = 1u << 2,   /* a joiner is waiting (co->link.joiner) */
  CORO__F_STARTED = 1u << 3,   /* SHARED: its first frame has been built;
                                  GUARDED: its entry has run (backtrace.c) */
  CORO__F_HOOKS_ON = 1u << 4,  /* coro_hooks_enable(co, 1) */
  CORO__F_HOOKS_OFF = 1u << 5, /* coro_hooks_enable(co, 0) */
  /* The two reasons a switch to this context needs coro__switch_slow, in
   * a byte the switch reads anyway, so the common switch tests one byte
   * for both (coro__switch_to): */
  CORO__F_AWAY = 1u << 6,      /* SHARED, and its bytes are not on the
                                  shared stack (it is not shared_owner;
                                  kept by coro__shared_own) */
  CORO__F_ACCOUNT = 1u << 7,   /* its loop's run accounting is on (dump.c) */
  CORO__F_SWITCH_SLOW = CORO__F_AWAY | CORO__F_ACCOUNT,
};

/* The coroutine record. GUARDED: it lives at the top of the coroutine's own
 * stack mapping (so an idle coroutine costs one page). SHARED: it comes from
 * the loop's record free list; the stack bytes live on the shared stack
 * while the coroutine is resident, else in `saved`.
 * Nothing in here may ever point into a suspended coroutine's stack. */
struct coro {
  /* Hot: the switch path. */
  coro__ctx ctx;           /* saved stack pointer while not running */
  coro_loop *loop;
  uint32_t magic;          /* CORO__MAGIC_LIVE until freed */
  uint8_t state;           /* enum coro__state */
  uint8_t kind;            /* enum coro__kind */
  uint8_t flags;           /* enum coro__flag */
  uint8_t stack_mode;      /* CORO_STACK_GUARDED or CORO_STACK_SHARED */
  coro *rnext;             /* run queue link (not read at rq_tail) */
  uint64_t n_switches;     /* times switched to (dump.c); the switch
                              writes this line anyway */
  int64_t since;           /* coro_now() of its last state change (see
                              coro_dump_coro.since); here, in the first
                              cache line, because a yield writes it */

  /* Waiting (coro__wait). One wait at a time, so one node suffices. */
  coro *wprev, *wnext;     /* links in *waitq */
  coro__waitq *waitq;      /* the queue it waits on, or NULL */
  int wait_status;         /* what the waker handed over (0 or -errno) */
  uint32_t heap_index;     /* 1 + index in the loop's timer heap; 0 = none */
  int64_t deadline;        /* when heap_index != 0 */

  /* Entry and result. fn/arg before the first run; result after exit. */
  coro_fn fn;
  void *arg;               /* entry argument, then the transfer value */
  void *result;
  union {
    coro *joiner;          /* SPAWNED: the coroutine waiting in coro_join */
    coro *caller;          /* CREATED/MAIN: who last transferred to it */
  } link;

  coro *aprev, *anext;     /* all records of the loop (for close) */
  uint32_t callees;        /* live created coroutines whose caller this is */
  uint64_t id;
  const char *name;
  void **locals;           /* CORO_KEYS_MAX slots, malloc'd on first set */
  coro_remote *remote;     /* set for coroutines spawned by coro_remote_spawn */
  void *dns_flight;        /* the resolver flight it waits for (dns_cache.c) */

  /* Stack. */
  union {
    struct {               /* GUARDED */
      void *map;           /* the whole mapping: guard page + stack */
      size_t map_size;
    } g;
    struct {               /* SHARED */
      void *saved;         /* heap copy of the used stack while not resident */
      uint32_t saved_len;  /* bytes in use in saved */
      uint32_t saved_cap;  /* bytes allocated for saved */
    } s;
  } stk;
  /* What it waits on and since when, for coro_loop_dump (dump.c): set by
   * coro__wait_for, read only while state is BLOCKED. */
  uint8_t why;             /* enum coro_wait_kind */
  int64_t why_arg;         /* FD: fd | events << 32; JOIN: the id joined */
  const void *why_obj;     /* the lock, queue or channel */
  int64_t run_ns;          /* accounting: time run */
  uint32_t peak;           /* SHARED: largest saved copy, bytes */
#if CORO__ASAN_ON
  void *asan_fake;         /* ASan fake-stack handle across a switch */
#endif
#if CORO__TSAN_ON
  void *tsan_fiber;        /* TSan's fiber for this context (made lazily) */
#endif
};

/* A cross-thread post (sched.c): malloc'd by coro_loop_post, or kept in
 * the record it is for (a remote spawn's start and cancel), so that a
 * remote spawn allocates nothing to post. */
typedef struct coro__post {
  struct coro__post *next;
  void (*fn)(void *arg);
  void *arg;
  int owned;               /* 1: run_posts frees it after the call */
} coro__post;

/* A cross-thread spawn handle (remote.c). Everything before `mu` but the
 * outcome's pair is reset when a cached record is reused; mu and cv stay
 * initialised.
 *
 * Laid out for the two threads that share it, each line moving between
 * their CPUs as little as it can (a line took 75 to 300 ns between the two
 * vCPUs of the test machine, 420 to 480 in its slow state), in three
 * aligned pairs of lines (records are 128-byte aligned; CPUs fetch lines
 * in aligned pairs):
 *   - what main reads to start the coroutine, which the poster writes and
 *     main's first read of the post brings in at once;
 *   - the outcome, which main writes once and the poster polls;
 *   - what main's report reads and writes after the outcome (the count of
 *     lockers, the notify flag, the reference count, the report's link,
 *     on_done and its udata), and the cancel's post. on_done lay in the
 *     first pair, which the report's read of it left shared by both
 *     CPUs: the poster's next use of the record waited for that pair
 *     before its request could go out (paired with it there, twice, in
 *     the VM's slow state: Spawn + Wait 0.95x and 0.96x, to a busy loop
 *     0.87x and 0.94x, medians of 10 and 12 rounds). On the outcome's
 *     pair, the report missed them after each publication: a poller's
 *     reads of done took the pair away from the loop's CPU, and the
 *     report's first read of its link and its add to the count each
 *     waited for it (17% of the loop thread's samples with 64 goroutines
 *     doing Spawn + Wait);
 * and, past mu and cv, main's own line, which the poster does not write
 * once the record exists (a spawn through a polling slot: sched.c). */
struct coro_remote {
  /* Written by the poster, read by main as it starts the coroutine. */
  coro__post start_post;   /* remote_start */
  coro_fn fn;
  void *arg;
  uint64_t id;
  atomic_int cancel;       /* set by coro_remote_cancel */
  int cpu;                 /* the CPU the spawn was posted from, or -1 */
  coro_opts opts;
  coro_loop *loop;
  /* The outcome: written by main, polled by the poster. */
  _Alignas(128) atomic_uint_least64_t done; /* the id once result and err
                              are final: an id, not a flag, so that a reuse
                              leaves this pair alone (the poster zeroed it
                              before, and main's publication then waited
                              for it) */
  int err;                 /* 0, or -ECANCELED / -ESHUTDOWN */
  void *result;
  /* The report's: main, after the outcome. */
  _Alignas(128) atomic_int lockers; /* callers of coro_remote_wait and
                              coro_remote_cancel at or under mu: the
                              report takes mu only if it sees one */
  atomic_int notify;       /* set by a holder's waiter that on_done must
                              wake (the Go bindings' parked goroutine):
                              a Dekker pair with done */
  atomic_int refs;         /* the caller's, the loop's, a holder's */
  coro_remote *next;       /* loop thread: completions waiting for main;
                              the record cache's list; a holder's list
                              (the Go bindings' completion queue, when its
                              ring is full) */
  void (*on_done)(coro_remote *r, void *udata);
  void *udata;             /* on_done's */
  coro__post cancel_post;  /* remote_cancel_on_loop, posted at most once */
  pthread_mutex_t mu;      /* coro_remote_wait's wake; held by a cancel
                              while it posts (remote.c) */
  pthread_cond_t cv;
  /* Main's own line, which a reuse of the record does not reset and the
   * poster does not write (only the record's first allocation zeroes it):
   * main writes it between taking a polling slot's request and answering
   * it, and a write to a line the poster had just zeroed made the answer
   * wait for that line (sched.c "Polling slots"). */
  _Alignas(64) coro *co;   /* loop thread only: the coroutine, while alive */
  atomic_uint_least64_t started; /* the id of the spawn that started (ran,
                              or runs): the Go bindings tell a coroutine
                              dropped by close from one cancelled before
                              it started, both -ECANCELED. An id, not a
                              flag, so that a reuse need not reset it */
  struct coro__slot *slot; /* the polling slot the spawn came through,
                              until main answers there; else NULL */
  uint64_t slot_req;       /* that request's number */
};

/* How records are allocated (remote.c), for the layout above. */
#define CORO__REMOTE_ALIGN 128
_Static_assert(offsetof(struct coro_remote, loop) + sizeof(coro_loop *) <=
                   CORO__REMOTE_ALIGN,
               "what main reads to start a remote spawn fits its first pair of lines");
_Static_assert(offsetof(struct coro_remote, start_post) == 0 &&
                   offsetof(struct coro_remote, done) == 128,
               "sched.c's posts_pending prefetches a record's outcome at its "
               "post node + 128");
_Static_assert(offsetof(struct coro_remote, lockers) -
                       offsetof(struct coro_remote, done) >=
                   CORO__REMOTE_ALIGN,
               "the report's fields are off the outcome's pair of lines");
_Static_assert(offsetof(struct coro_remote, on_done) >=
                       offsetof(struct coro_remote, lockers) &&
                   offsetof(struct coro_remote, udata) + sizeof(void *) <=
                       offsetof(struct coro_remote, lockers) +
                           CORO__REMOTE_ALIGN,
               "on_done and udata lie on the report's pair of lines");
_Static_assert(offsetof(struct coro_remote, co) >=
                   offsetof(struct coro_remote, mu) + sizeof(pthread_mutex_t),
               "main's own line lies past what a reuse resets");

/* A polling slot (sched.c "Polling slots"): one cache line through which
 * a poster that polls for the outcome hands main a remote spawn, and main
 * hands the outcome back. One poster at a time owns it (the Go bindings
 * hand slots out), from its request until it has read the answer, or
 * until another takes it over once main has taken the request (then main
 * may not answer there, and the first poster reads the record). */
typedef struct coro__slot {
  _Alignas(64) atomic_uint_least64_t req; /* poster: its request's number,
                                             stored after the fields */
  coro_remote *r;                         /* the request: the record, */
  coro_fn fn;                             /* the function, */
  void *arg;                              /* its argument */
  uint64_t id;                            /* and r's id */
  atomic_uint_least64_t resp; /* main: the request answered: 0 while it
                                 writes result and ok, then the number */
  _Atomic(void *) result;
  atomic_int ok; /* 1: result is the outcome; 0: the record has it
                    (cancelled, refused or failed), published right after
                    the answer */
  int cpu; /* request: the poster's CPU when the loop looked asleep, or
              -1 (colocate.c, as coro_remote's cpu) */
} coro__slot;
_Static_assert(sizeof(coro__slot) == 64, "a polling slot is one cache line");

/* A slot's request as main took it (sched.c run_slots). */
typedef struct coro__slot_request {
  coro_remote *r;
  coro_fn fn;
  void *arg;
  uint64_t id;
  int cpu;
} coro__slot_request;

/* The most polling slots a loop watches. */
#define CORO__SLOTS_MAX 4

/* The loop's I/O poller (poll.c). */
typedef struct coro__poller coro__poller;

struct coro_loop {
  /* Hot: what every switch touches, kept in the first cache lines. */
  coro *current;           /* the running coroutine, or &main */
  int *errno_ptr;          /* &errno of the owning thread */
  coro *rq_head, *rq_tail; /* run queue (FIFO but for a polling slot's
                              starts: sched.c ready_first; linked by rnext,
                              ends at rq_tail: sched.c rq_pop) */
  coro *zombie;            /* finished coroutine whose stack is freed once off it */
  coro *shared_owner;      /* whose bytes are on the shared stack now */
  void *xfer;              /* the value of the transfer in flight */
  uint64_t n_switches;
  unsigned budget;         /* switches left before main gets a turn */
  int xfer_done;           /* 1 if xfer is a finished coroutine's result */
  int in_call;             /* a coro_call_on_loop function is running */
  int64_t tick;            /* the clock read of main's last turn, which
                              stamps state changes (coro.since) without a
                              clock read of their own (dump.c) */
  coro main;               /* the context of the loop thread's own stack */

  /* Configuration. */
  int stack_mode;
  size_t stack_size;
  size_t guard_size;       /* guard below its stacks, whole pages */
  size_t cache_max;
  const char *name;
  pthread_t owner;
  int hooks;               /* coro_loop_opts.hooks (hooks/hook.h reads it) */

  /* Timers: a binary min-heap of coroutines ordered by deadline. */
  coro **heap;
  size_t heap_len, heap_cap;

  /* Stacks (stack.c). */
  coro *cache;             /* GUARDED stacks of stack_size, LIFO by rnext */
  size_t cache_len;
  coro *rec_free;          /* SHARED records, LIFO by rnext */
  size_t rec_free_len;     /* at most CORO__REC_CACHE_MAX */
  void *shared_map;        /* the shared stack mapping (guard + stack) */
  size_t shared_map_size;
  char *shared_lo, *shared_hi; /* usable shared stack [lo, hi) */
  coro *pending;           /* SHARED swap in progress: main installs it, then resumes it */
  uint8_t main_state;      /* main's state while it is borrowed for a swap or a call */

  /* coro_call_on_loop. */
  void (*call_fn)(void *arg);
  void *call_arg;
  coro *call_from;

  /* State. */
  coro *all;               /* every record of the loop, linked by anext */
  coro_remote *rdone;      /* finished remote coroutines for main to report */
  uint64_t n_active;       /* spawned coroutines not yet finished */
#if CORO__ASAN_ON
  void *asan_main_lo;      /* the loop thread's own stack, for ASan */
  size_t asan_main_size;
#endif
  int running;             /* inside coro_loop_run */
  int closing;
  int spin_off;            /* tests: idle() never spins for posts */
  uint64_t n_sleeps;       /* sleeps idle() announced (tests) */
  int slept;               /* main: this turn follows a sleep in the kernel */
  int colocated;           /* main: remote spawns in a row, each the first
                              after a sleep, posted from its CPU (colocate.c) */
  int64_t moved_at;        /* main: coro_now() of its last move, or 0 */
  uint64_t n_moves;        /* main: moves off its posters' CPU */
  int64_t spin_ns;         /* idle(): how long to wait for posts before sleeping */
  int wake_fd;             /* eventfd, close-on-exec */
  coro__poller *poller;    /* fd waits (poll.c); owns no wake_fd */

  /* Cross-thread posts (sched.c): a lock-free LIFO that posters push on
   * and main takes whole, then runs oldest first. Non-NULL is "posts
   * pending"; with `sleeping` it is the Dekker pair that decides who
   * writes wake_fd. Each group below is on cache lines of its own: what
   * posters write every post (post_head and waiter_beat, posters) away
   * from what main writes every turn (the fields above), and from
   * `sleeping` and `stop`, which main writes only to sleep or stop:
   * with them all on one or two lines, each of a post's three atomic
   * operations waited for the line that main had just written. */
  char pad_post[64];
  _Atomic(coro__post *) post_head;
  /* Beside post_head, whose line a Go spawn takes for its beat and keeps
   * for its push: see "Liveness" below. */
  atomic_uint waiter_beat;
  char pad_posters[64];
  atomic_int posters;      /* threads inside coro_loop_post or _stop */
  atomic_int shutdown;     /* posts refused from now on */
  atomic_uint_fast64_t n_wakes; /* wake_fd writes by posters (tests) */
  _Atomic int64_t post_woke; /* coro_now() of the last post that woke the loop */
  char pad_sleeping[64];
  atomic_int sleeping;     /* 1 while main may sleep in the kernel; the
                              poster that swaps it to 0 writes wake_fd */
  atomic_int stop;

  /* Liveness (sched.c "Liveness"): `beat`, on a cache line of its own,
   * moves while main is on a CPU (its turns and its spin for posts), so a
   * thread polling for this loop's work sees whether the loop thread
   * runs; `waiter_beat` (beside post_head, above) moves as such a poller
   * posts and while it polls, so main sees whether it needs to yield its
   * CPU to it. */
  char pad_beat[64];
  atomic_uint beat;
  unsigned waiter_seen;    /* main: the waiter beats its reports used up */
  uint64_t n_report_yields; /* main: reports that yielded its CPU (tests) */
  unsigned waiter_idle;    /* main: waiter_beat as a spin for posts last saw it */
  int64_t waiter_idle_at;  /* main: when a spin last saw it move */
  int alive_missed;        /* main: the last long spin for a live waiter caught
                              nothing (sched.c spin_for_posts) */
  int64_t busy_at;         /* main: when its window of CPU waits began */
  int64_t busy_wait;       /* main: its run-queue wait then (rqwait.c) */
  int busy;                /* main: it waited much in the last window */
  /* Polling slots (sched.c): main reads their lines; the bindings own
   * the memory. */
  coro__slot *slots;
  unsigned nslots;
  atomic_uint_least64_t slot_seen[CORO__SLOTS_MAX]; /* main: the last request
                              it took from each slot (read by posters
                              that would take a slot over) */
  atomic_uint slot_beats;  /* main: requests taken from slots, each a beat
                              of the waiter's (Liveness); atomic for tests */
  int cancelled_here;      /* loop thread: a remote spawn was cancelled on
                              it since main last looked at the slots */
  int first_ok;            /* main, this turn: slot starts may go ahead of
                              the ready coroutines (sched.c ready_first) */
  coro *first_at;          /* main, this turn: the last of them, after
                              which the next one goes; NULL outside
                              run_slots */
  char pad_end[64];

  /* dump.c. Cold: the switch reads CORO__F_ACCOUNT in the coroutine. */
  int accounting;          /* time runs (dump.c: coro__account) */
  int64_t switch_at;       /* accounting: when the running context began */
  int64_t acct_longest;    /* accounting: the longest run, ns, and whose */
  uint64_t acct_longest_id;

  /* Counters (read racily by coro_loop_stats_get). */
  uint64_t n_live, n_spawned, n_posts, n_mapped, n_saved_bytes;

  /* The default resolver (resolver.c), made on first use from the copy
   * of coro_loop_opts.resolver. */
  coro_resolver *resolver;
  coro_resolver_opts *resolver_opts;

  /* The slow-coroutine watchdog (watchdog.c): only its thread and the
   * sampling signal's handler read these, never the switch path. */
  _Atomic int64_t slow_ns;      /* threshold; 0: off */
  _Atomic int64_t longest_run;  /* ns, as the watchdog saw it */
  struct coro__watch *watch;    /* registration with the watchdog, or NULL */
  coro_report_fn report_fn;     /* NULL: stderr */
  void *report_arg;
};

/* The calling thread's loop (sched.c). */
extern _Thread_local coro_loop *coro__tls_loop;

/* ---- stack.c ---------------------------------------------------------- */

/* Make a zeroed record with a stack for mode/size (size already validated;
 * GUARDED sizes are rounded up to pages). GUARDED: from the LIFO cache when
 * size == loop->stack_size, else a fresh mapping; the record sits at the
 * top of the mapping. SHARED: a record from loop->rec_free or malloc. On
 * return co->ctx is NOT initialised; lo and hi give the usable stack
 * (for SHARED: the shared stack). guard: GUARDED only, the requested
 * guard_size (0: the loop's). -ENOMEM when mmap/mprotect/malloc fail
 * (nothing leaked), -EINVAL for a guard above CORO_GUARD_SIZE_MAX.
 * Registers the stack with valgrind. */
int coro__stack_alloc(coro_loop *loop, int mode, size_t size, size_t guard,
                      coro **out, char **lo, char **hi);

/* The guard for a requested guard_size of n bytes (0: the default, one
 * page, 64 KiB on aarch64) rounded up to whole pages, in *out: 0, or
 * -EINVAL above CORO_GUARD_SIZE_MAX. */
int coro__guard_size(size_t n, size_t *out);

/* Give co's stack and record back: cache or unmap (GUARDED), free list
 * (SHARED, keeping `saved` for reuse up to a bound). Never called while
 * running on that stack. Marks the record CORO__MAGIC_DEAD. */
void coro__stack_release(coro_loop *loop, coro *co);

/* GUARDED: the bytes of guard at the bottom of co's mapping (the usable
 * stack is [map + guard, co)). */
size_t coro__stack_guard(const coro *co);

/* Unmap/free every cached stack and record and the shared stack. */
void coro__stack_drain(coro_loop *loop);

/* Map the loop's shared stack (called lazily on first SHARED coroutine). */
int coro__shared_init(coro_loop *loop);

/* SHARED: copy the resident owner's used bytes [owner->ctx.sp, shared_hi)
 * to its heap buffer (grows it if needed; -ENOMEM leaves it resident), and
 * check the canary (abort naming the owner if it is damaged). Must run on a
 * stack other than the shared one. */
int coro__shared_save(coro_loop *loop, coro *owner);

/* SHARED: check the canary for owner, which finished on the shared stack
 * and needs no copy (abort naming it if the canary is damaged). */
void coro__shared_check(coro_loop *loop, coro *owner);

/* SHARED: copy co's saved bytes back onto the shared stack; co becomes
 * the resident owner. Must run on a stack other than the shared one. */
void coro__shared_restore(coro_loop *loop, coro *co);

/* SHARED: make co (NULL: nobody) loop->shared_owner, and keep
 * CORO__F_AWAY true of every SHARED coroutine but the owner. Every change
 * of owner while coroutines live goes through here. */
void coro__shared_own(coro_loop *loop, coro *co);

/* Install the process-wide SIGSEGV/SIGBUS overflow reporter (idempotent,
 * chains to the previous handler for every fault it does not own), and an
 * alternate signal stack on the calling thread if it has none (disabled by
 * coro__altstack_release when the loop that installed it is freed, kept
 * mapped for the thread's next loop and unmapped when the thread exits). */
int coro__overflow_init(coro_loop *loop);
void coro__altstack_release(coro_loop *loop);

/* Hand a signal our handler does not keep to prev (the action installed
 * before ours) the way the kernel would have: its mask and flags, or the
 * default action (re-raised when the signal was sent, not a fault). */
void coro__signal_chain(int sig, siginfo_t *info, void *uctx,
                        const struct sigaction *prev);

/* ---- watchdog.c, crash.c, backtrace.c: reports ------------------------ */

/* coro_loop_new: take opts' threshold and report function (registering
 * with the watchdog when the threshold is on). 0, -ENOMEM, -EAGAIN (no
 * thread). coro_loop_close: unregister, reporting the end of a slow run
 * that was reported and has ended since the last tick. */
int coro__watch_init(coro_loop *loop, const coro_loop_opts *opts);
void coro__watch_close(coro_loop *loop);

/* Deliver r to the loop's report_fn, or write it to stderr. */
void coro__report(coro_loop *loop, const coro_report *r);

/* The call stack of the running coroutine co as the signal context uctx
 * (a ucontext_t of this thread) shows it: its pc, then the frame-pointer
 * chain, bounds-checked against co's stack as coro_backtrace does. 0 (no
 * frame) when the context's stack pointer is not on co's stack (the
 * signal interrupted the loop's own code or an alternate stack).
 * Async-signal-safe. */
int coro__backtrace_uctx(const coro *co, const void *uctx, void **frames,
                         int max);

/* 1 if the stack pointer of uctx lies on co's stack (crash.c: only a fault
 * in a coroutine's own code is reported). Async-signal-safe. */
int coro__uctx_on_stack(const coro *co, const void *uctx);

/* Install the crash reporter's handlers for SIGILL, SIGFPE and SIGABRT
 * (once per process; SIGSEGV and SIGBUS go through stack.c's handler,
 * which calls coro__crash_report for a fault that is not an overflow). */
int coro__crash_init(void);

/* Write the crash report for sig to stderr if this thread runs a
 * coroutine whose stack the signal context is on. Async-signal-safe;
 * reports once per process. */
void coro__crash_report(int sig, const void *info, const void *uctx);

/* Async-signal-safe writing (crash.c): append s, v in decimal, v in hex,
 * a frame line ("#N 0xaddr symbol\n", symbolized from a table made at
 * install time); each returns the new end, never past end. */
char *coro__put_str(char *p, char *end, const char *s);
char *coro__put_u64(char *p, char *end, uint64_t v);
char *coro__put_hex(char *p, char *end, uint64_t v);
char *coro__put_frame(char *p, char *end, int i, const void *pc);
/* The frames of the running coroutine co from the signal context uctx,
 * one coro__put_frame line each. */
char *coro__put_backtrace(char *p, char *end, const coro *co,
                          const void *uctx);
void coro__write_all(int fd, const char *p, size_t n);

/* ---- coro.c ----------------------------------------------------------- */

/* Switch from the current coroutine to `to` (which must not be running),
 * doing everything around the raw switch: ASan fiber annotations, SHARED
 * stack residency (routing through main when the shared stack must be
 * swapped), errno, counters, and freeing the zombie. Returns when someone
 * switches back to the caller. The common case (no stack copy, no ASan) is
 * inline below; the rest is coro__switch_slow. */
static inline void coro__switch_to(coro_loop *loop, coro *to);

/* The out-of-line parts of coro__switch_to (coro.c). */
void coro__switch_slow(coro_loop *loop, coro *from, coro *to);
void coro__after_switch(coro_loop *loop);

/* Build a new record (state NEW) with its context ready to run fn(arg). */
int coro__new(coro_loop *loop, int kind, coro_fn fn, void *arg,
              const coro_opts *opts, coro **out);

/* Free a record that is not running and not on any queue. */
void coro__free(coro_loop *loop, coro *co);

/* A fresh process-wide coroutine id (never 0). */
uint64_t coro__next_id(void);

/* Spawn: coro__new + make ready (at the head of the run queue if first,
 * else at its tail) + count as active (sched.c, remote.c). */
int coro__spawn(coro_loop *loop, coro_fn fn, void *arg, const coro_opts *opts,
                int first, coro **out);

/* Check opts against the limits: 0 or -EINVAL. */
int coro__check_opts(const coro_opts *opts);

/* Abort the process with a message naming co (may be NULL). */
_Noreturn void coro__panic(const coro *co, const char *what);

/* ---- sched.c ---------------------------------------------------------- */

/* Park the current (spawned) coroutine. If q is non-NULL it is appended to
 * q; if deadline >= 0 it is put in the timer heap. Returns the status given
 * to coro__wake, or -ETIMEDOUT (deadline passed; removed from q), or
 * -ECANCELED (cancelled before or during the wait; removed from q).
 * deadline 0 is a try that would block: it returns at once without
 * switching and without needing a coroutine (so polling works on the loop
 * stack): -ECANCELED for a cancelled coroutine, else -ETIMEDOUT. Otherwise
 * -EPERM outside a spawned coroutine or inside coro_call_on_loop. */
int coro__wait_for(coro__waitq *q, int64_t deadline, int why,
                   const void *obj, int64_t arg);

/* coro__wait_for that says what it waits on: why is an enum
 * coro_wait_kind, obj and arg as coro_dump_coro shows them (dump.c). */
static inline int coro__wait(coro__waitq *q, int64_t deadline) {
  return coro__wait_for(q, deadline, CORO_WAIT_OTHER, NULL, 0);
}

/* Wake co (parked in coro__wait) with status: unlink from its queue and the
 * timer heap, make it ready. */
void coro__wake(coro *co, int status);

/* Wake the longest waiter of q with status; returns it, or NULL if empty. */
coro *coro__wake_one(coro__waitq *q, int status);

/* Wake every waiter of q with status; returns how many. */
int coro__wake_all(coro__waitq *q, int status);

/* Make co ready (append to the run queue). */
void coro__ready(coro_loop *loop, coro *co);

/* coro_loop_post of a node the caller provides (p->fn and p->arg set; it
 * must stay valid until p->fn runs; owned nodes are freed after): 0, or
 * -ESHUTDOWN when the loop refuses posts. Allocates nothing. */
int coro__loop_post_node(coro_loop *loop, coro__post *p);
/* coro__loop_post_node that leaves the wake of a sleeping loop, if this
 * post has to make it, to the caller (*owe set to 1): the caller must
 * then call coro__loop_wake soon, while it knows the loop to be alive
 * (the Go bindings hold the loop open; see coroutine.go), and every post
 * made meanwhile waits for that wake. */
int coro__loop_post_node_owe(coro_loop *loop, coro__post *p, int *owe);
/* Polling slots (sched.c "Polling slots"). On the loop's thread before it
 * runs: main watches the n slots (n <= CORO__SLOTS_MAX) until the loop is
 * closed, and the caller keeps them until then. */
void coro__loop_set_slots(coro_loop *loop, coro__slot *slots, unsigned n);
/* After the poster stored a request in one of loop's slots: wakes a
 * sleeping loop, or with owe leaves that wake to the caller as
 * coro__loop_post_node_owe does. The caller keeps the loop from closing
 * until this returns. */
void coro__loop_post_slot(coro_loop *loop, int *owe);
/* 1 while a stop of the loop is pending (tests). */
int coro__loop_stopping(coro_loop *loop);
/* Requests main has taken from slots (tests). */
unsigned coro__loop_slot_starts(coro_loop *loop);
/* The number of the last request main took from each slot (an array of
 * CORO__SLOTS_MAX), which a poster reads before it takes a slot over. */
const atomic_uint_least64_t *coro__loop_slot_seen(coro_loop *loop);
/* Write the wake owed by coro__loop_post_node_owe. */
void coro__loop_wake(coro_loop *loop);
/* The loop's liveness words (sched.c "Liveness"), valid while the loop
 * lives: read `beat`, and add to `waiter_beat` with a post (just before
 * its push) and while polling. */
const atomic_uint *coro__loop_beat(const coro_loop *loop);
/* 1 while main has announced a sleep in the kernel and no post has
 * claimed its wake (tests of the Go bindings, which must not read the
 * loop's fields themselves: see callback.c). */
int coro__loop_asleep(coro_loop *loop);
atomic_uint *coro__loop_waiter_beat(coro_loop *loop);

/* Pick the next context to run after the current one parked or finished
 * (the run queue's head, or main when it is empty or main's turn is due). */
coro *coro__next(coro_loop *loop);

/* Called by coro.c when a spawned coroutine finishes (on its own stack,
 * before switching away for good): hand the result to the joiner or remote,
 * or mark the record for freeing when detached. */
void coro__finished(coro_loop *loop, coro *co);

/* The running context (&loop->main on the loop's own stack), or NULL when
 * the thread has no loop: the identity locks record as their owner. */
static inline coro *coro__running(void) {
  return coro__tls_loop ? coro__tls_loop->current : NULL;
}

/* 1 if the libc hooks act on the calling thread now: it runs a spawned
 * coroutine (not the loop's own stack, not inside coro_call_on_loop) whose
 * flags or loop turn them on. A TLS read and a few loads: the hooks call it
 * first in every hooked call (hooks/hook.h). */
static inline int coro__hooks_on(void) {
  coro_loop *l = coro__tls_loop;
  if (!l || l->in_call)
    return 0;
  coro *c = l->current;
  if (c->kind != CORO__SPAWNED || (c->flags & CORO__F_HOOKS_OFF))
    return 0;
  return (c->flags & CORO__F_HOOKS_ON) || l->hooks;
}

/* Checks shared by the blocking calls: the current coroutine if the caller
 * may block (a spawned coroutine, not in coro_call_on_loop), else NULL and
 * *err set to -EPERM. */
coro *coro__blocker(int *err);

/* ---- backtrace.c ------------------------------------------------------ */

/* The stack pointer a suspended co saved (its lowest byte in use). */
uintptr_t coro__saved_sp(const coro *co);

/* ---- dump.c ----------------------------------------------------------- */

/* Accounting is on: charge the time since the last switch to from, and
 * stamp both contexts' state change. Called by coro__switch_slow, where
 * every switch goes while accounting is on (CORO__F_ACCOUNT). */
void coro__account(coro_loop *loop, coro *from, coro *to);

/* ---- remote.c --------------------------------------------------------- */

/* Loop thread: the remote coroutine finished (or was dropped, err < 0):
 * publish, run on_done on the loop stack, drop the loop's reference.
 * complete = publish + report; a coroutine that returns publishes as it
 * finishes and main reports it soon after (coro__finished). */
void coro__remote_complete(coro_loop *loop, coro_remote *r, void *result,
                           int err);
void coro__remote_publish(coro_remote *r, uint64_t id, void *result,
                          int err);
void coro__remote_report(coro_remote *r);
/* Records in use, process-wide: allocated, not freed, not in the reuse
 * cache (tests: a leak makes it grow, a double release shrink). */
long coro__remote_outstanding(void);

/* ---- rqwait.c --------------------------------------------------------- */

/* The calling thread's run-queue wait in ns (time runnable but not
 * running), or -1 if the kernel does not tell; _at reads a file of
 * /proc/thread-self/schedstat's format (tests). */
int64_t coro__rq_wait(void);
int64_t coro__rq_wait_at(const char *path);
/* For tests: 1 if main's spin for posts would now find the machine
 * oversubscribed (sched.c, contended); on the loop's thread. */
int coro__loop_contended(coro_loop *l);

/* ---- colocate.c ------------------------------------------------------- */

/* Main, for the first remote spawn it starts after a sleep: moves off
 * poster_cpu when the two keep meeting there (colocate.c). */
void coro__colocate_note(coro_loop *loop, int poster_cpu);

/* For the Go bindings: whether the coroutine was spawned
 * (coroutine.go). */
int coro__remote_started(const coro_remote *r);
/* coro_remote_release of each of rs[0..n) (NULLs skipped). */
void coro__remote_release_n(coro_remote **rs, size_t n);
/* Takes one more reference to r, for a holder the caller names (the Go
 * bindings' completion queue: callback.c), dropped by a release. */
void coro__remote_ref(coro_remote *r);
/* coro_remote_spawn that may leave the wake of a sleeping loop to the
 * caller (see coro__loop_post_node_owe; owe NULL: it wakes the loop), and
 * with beat adds to the loop's waiter beat just before its push (the
 * caller will poll the outcome: sched.c "Liveness"). */
int coro__remote_spawn_owe(coro_loop *loop, coro_fn fn, void *arg,
                           const coro_opts *opts,
                           void (*on_done)(coro_remote *r, void *udata),
                           void *udata, coro_remote **out, int *owe,
                           int beat);
/* A remote spawn with the default options through the polling slot s,
 * which the caller owns (sched.c "Polling slots"), as request number req
 * (the slot's last one + 1): once main has answered, s->resp holds req
 * (then s->ok says whether s->result is the outcome or the record has
 * it). owe as for coro__remote_spawn_owe. The caller keeps the loop from
 * closing until this returns. */
int coro__remote_spawn_slot(coro_loop *loop, coro__slot *s, coro_fn fn,
                            void *arg,
                            void (*on_done)(coro_remote *r, void *udata),
                            void *udata, coro_remote **out, int *owe,
                            uint64_t req);
/* Main: starts request q, just taken from s (its fields in rq); posts
 * says that main took posts in this turn, before it looked at the slots
 * (a cancel of this request may be among them). */
void coro__remote_start_slot(coro_loop *loop, coro__slot *s, uint64_t q,
                             const coro__slot_request *rq, int posts);
/* Main: answers request q of s, unless another request has taken the
 * slot over: result is the outcome if ok, else the record holds it.
 * Before main writes any line the poster may have written. */
void coro__slot_answer(coro__slot *s, uint64_t q, void *result, int ok);

/* ---- poll.c ----------------------------------------------------------- */

/* Create the loop's poller (backend from opts, else $CORO_POLL, else
 * epoll), register loop->wake_fd with it, and block SIGPIPE on the calling
 * thread (restored by coro__poll_free). 0, -EINVAL, -ENOMEM, -errno. */
int coro__poll_new(coro_loop *loop, int backend);

/* Fill the I/O fields of coro_loop_stats (fds to poll_syscalls); read
 * racily, like the other counters. */
void coro__poll_stats(const coro_loop *loop, coro_loop_stats *out);

/* Free the poller (no coroutine may still wait on an fd). */
void coro__poll_free(coro_loop *loop);

/* Coroutines parked in coro_fd_wait (the loop must not report deadlock
 * and must poll while any exist). */
uint64_t coro__poll_waiters(const coro_loop *loop);

/* 1 if a look at the kernel without sleeping could find something: fds are
 * waited on and a coroutine has run since the poller last asked (the wake
 * that made coroutines ready came from that very call otherwise). */
int coro__poll_due(const coro_loop *loop);

/* Ask the kernel for ready fds, sleeping at most until `until` (absolute
 * ns on CORO's clock; -1: no limit; 0 or past: do not sleep), and wake the
 * matching waiters. A readable wake_fd is drained. */
void coro__poll_run(coro_loop *loop, int64_t until);

/* socket.c calls this with every fd it makes (socket, accept): the number
 * is new, so the calling loop's record for it is reset (waiters left from
 * a file closed with plain close() fail with -EBADF) and marked owned,
 * which lets a read-only wait keep its registration (poll.c, rec_arm). */
void coro__fd_adopt(int fd);

/* socket.c's reads: 1 if the calling loop's record says the engine made
 * fd (a stream socket), so that the read can go through recvmsg, whose
 * ENOTSOCK says the number names another file now; coro__fd_disown then
 * drops what the record kept for the old file (poll.c). */
int coro__fd_owned(int fd);
void coro__fd_disown(int fd);

/* coro_fd_wait for a caller that just had EAGAIN from fd for these events
 * (socket.c): an edge-triggered registration then needs no readiness check
 * first (poll.c). */
int coro__fd_wait_drained(int fd, int events, int64_t deadline);

/* Discard a SIGPIPE left pending on this thread by a write that failed
 * with EPIPE (SIGPIPE is blocked on loop threads, so it stays pending). */
void coro__sigpipe_drain(void);

#define CORO__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- resolver.c (the rest: resolver_internal.h) ----------------------- */

/* coro_loop_new: the loop's copy of coro_loop_opts.resolver, strings
 * included, in one allocation. 0, or -ENOMEM. in NULL: *out NULL. */
int coro__resolver_opts_dup(const coro_resolver_opts *in,
                            coro_resolver_opts **out);

/* coro_loop_close: free the loop's default resolver (lookups still in
 * flight were abandoned with their coroutines) and the options copy. */
void coro__resolver_loop_free(coro_loop *loop);

/* ---- fault.c ---------------------------------------------------------- */

/* The fault points: one per kind of call that can fail for want of a
 * resource or be interrupted. Every call site of these goes through the
 * wrapper below (coro__malloc, coro__socket, ...), never the call itself. */
enum coro__fault_point {
  CORO__FP_ALLOC,        /* malloc, calloc, realloc: ENOMEM */
  CORO__FP_MMAP,         /* ENOMEM */
  CORO__FP_MPROTECT,     /* ENOMEM (the map count limit shows here) */
  CORO__FP_EVENTFD,      /* EMFILE */
  CORO__FP_EPOLL_CREATE, /* EMFILE */
  CORO__FP_EPOLL_CTL,    /* ENOMEM (ADD and MOD; DEL cannot fail so) */
  CORO__FP_EPOLL_WAIT,   /* EINTR */
  CORO__FP_PPOLL,        /* EINTR */
  CORO__FP_SOCKET,       /* EMFILE */
  CORO__FP_SETSOCKOPT,   /* ENOMEM */
  CORO__FP_BIND,         /* ENOMEM */
  CORO__FP_LISTEN,       /* ENOBUFS */
  CORO__FP_ACCEPT,       /* EMFILE */
  CORO__FP_CONNECT,      /* ENOBUFS */
  CORO__FP_READ,         /* read, pread, readv, recv, recvfrom: EINTR */
  CORO__FP_WRITE,        /* write, writev, send, sendto: EINTR */
  CORO__FP_SENDFILE,     /* EINTR */
  CORO__FP_STACK_SAVE,   /* realloc of a SHARED save buffer: ENOMEM, which
                            aborts the switch (coro.c shared_swap) */
  CORO__FP_OPEN,         /* openat, openat2: EMFILE */
  CORO__FP_FSTAT,        /* ENOMEM */
  CORO__FP_COUNT
};
#define CORO__FP_BIT(p) (1u << (p))
#define CORO__FP_ALL ((1u << CORO__FP_COUNT) - 1)

/* For err: each point fails with its own error (the comments above). */
#define CORO__FAULT_NATURAL (-1)

/* Test hook: the nth fault point passed from now on (n >= 1) fails with
 * err (an errno value, or CORO__FAULT_NATURAL), then injection disarms;
 * n <= 0 disarms. err 0 counts the points without failing any. Resets the
 * count of coro__fault_calls. Global: points on every thread count. */
void coro__fault_arm(long n, int err);

/* coro__fault_arm for only the points in the mask `points` (CORO__FP_BIT),
 * failing `times` of them in a row from the nth on (times < 0: all). */
void coro__fault_arm_at(unsigned points, long n, long times, int err);

/* Points counted since the last arm (stops at the last failure). */
long coro__fault_calls(void);

/* The point that failed last since the last arm, or -1 if none did; *err
 * (if err is not NULL) gets the errno it failed with. */
int coro__fault_fired(int *err);

/* The point's name, for messages ("alloc", "read", ...; "none" for -1). */
const char *coro__fault_name(int point);

/* 1 while armed. */
extern atomic_int coro__fault_on;

/* Armed only: count the point; the errno it must fail with, or 0. */
int coro__fault_hit(int point);

/* The cost of a point when disarmed: one load and a branch never taken. */
static inline int coro__fault(int point) {
  if (CORO__UNLIKELY(
          atomic_load_explicit(&coro__fault_on, memory_order_relaxed)))
    return coro__fault_hit(point);
  return 0;
}

static inline void *coro__malloc(size_t n) {
  if (CORO__UNLIKELY(coro__fault(CORO__FP_ALLOC))) {
    errno = ENOMEM;
    return NULL;
  }
  return malloc(n);
}

static inline void *coro__calloc(size_t n, size_t size) {
  if (CORO__UNLIKELY(coro__fault(CORO__FP_ALLOC))) {
    errno = ENOMEM;
    return NULL;
  }
  return calloc(n, size);
}

/* realloc at a point of its own (CORO__FP_STACK_SAVE). */
static inline void *coro__realloc_at(int point, void *p, size_t n) {
  if (CORO__UNLIKELY(coro__fault(point))) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, n);
}

static inline void *coro__realloc(void *p, size_t n) {
  return coro__realloc_at(CORO__FP_ALLOC, p, n);
}

/* The system calls, each failing as the real one would (fault.c). mmap
 * always maps anonymous memory anywhere; recv and send are recvfrom and
 * sendto without an address. */
void *coro__mmap(size_t len, int prot, int flags);
int coro__mprotect(void *addr, size_t len, int prot);
int coro__eventfd(unsigned initval, int flags);
int coro__epoll_create1(int flags);
struct epoll_event;
int coro__epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int coro__epoll_wait(int epfd, struct epoll_event *evs, int n, int ms);
int coro__ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts);
int coro__socket(int domain, int type, int protocol);
int coro__setsockopt(int fd, int level, int name, const void *val,
                     socklen_t len);
int coro__bind(int fd, const struct sockaddr *addr, socklen_t len);
int coro__listen(int fd, int backlog);
int coro__accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int coro__connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t coro__read(int fd, void *buf, size_t n);
ssize_t coro__recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t coro__pread(int fd, void *buf, size_t n, off_t off);
ssize_t coro__write(int fd, const void *buf, size_t n);
struct iovec;
ssize_t coro__readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t coro__writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t coro__recvfrom(int fd, void *buf, size_t n, int flags,
                       struct sockaddr *addr, socklen_t *len);
ssize_t coro__sendto(int fd, const void *buf, size_t n, int flags,
                     const struct sockaddr *addr, socklen_t len);
int coro__openat(int dir, const char *path, int flags);
struct open_how;
int coro__openat2(int dir, const char *path, const struct open_how *how);
struct stat;
int coro__fstat(int fd, struct stat *st);
ssize_t coro__sendfile(int out_fd, int in_fd, off_t *off, size_t n);

static inline void coro__switch_to(coro_loop *l, coro *to) {
  coro *from = l->current;
  /* errno is per thread; saving it here makes it behave as per coroutine.
   * Its address is fixed per thread, so the loop caches it. */
  int *ep = l->errno_ptr;
  int saved_errno = *ep;
  to->n_switches++;
  if (CORO__ASAN_ON || CORO__TSAN_ON ||
      CORO__UNLIKELY(to->flags & CORO__F_SWITCH_SLOW)) {
    coro__switch_slow(l, from, to);
  } else {
    to->state = CORO__RUNNING;
    l->current = to;
    l->n_switches++;
    coro__switch(&from->ctx, &to->ctx, 0);
    if (CORO__UNLIKELY(l->zombie != NULL || l->current == &l->main))
      coro__after_switch(l);
  }
  *ep = saved_errno;
}

/* Static helpers for waitq manipulation shared by sched.c and sync.c. */
static inline int coro__waitq_empty(const coro__waitq *q) {
  return q->head == NULL;
}

#endif /* CORO_INTERNAL_H */
