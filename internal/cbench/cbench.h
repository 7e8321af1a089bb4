/* cbench.h - the C benchmark loops behind package cbench.
 *
 * Each benchmark is a state object with new/run/free calls, so that the Go
 * side can exclude setup from the timed region and pass the iteration count
 * b.N down into C: a timed run is one cgo call, whatever the count, so cgo's
 * own cost never shows in a figure. Every state object owns the loop of the
 * thread that made it; its calls must all come from that thread.
 */
#ifndef CBENCH_H
#define CBENCH_H

#include <stdint.h>

/* A ring of coroutines passing a token. Direct mode (sched == 0): created
 * coroutines that coro_transfer to the next one (a ring of 2 is the
 * symmetric switch ping-pong). Scheduled mode (sched != 0): spawned
 * coroutines that each park on their own coro_sem and wake the next. */
typedef struct cb_ring cb_ring;
int cb_ring_new(cb_ring **out, long size, int sched);
/* Move the token `hops` times (one hop is one one-way switch). */
int cb_ring_run(cb_ring *r, long hops);
int cb_ring_free(cb_ring *r);

/* Two spawned coroutines that call coro_yield in turn. */
typedef struct cb_yield cb_yield;
int cb_yield_new(cb_yield **out);
/* Yield `n` times in total (counted over both coroutines). */
int cb_yield_run(cb_yield *y, long n);
int cb_yield_free(cb_yield *y);
/* coro_loop_set_accounting on the benchmark's loop (dump.c's cost). */
int cb_yield_accounting(cb_yield *y, int on);
int cb_yield_set_slow(cb_yield *y, int64_t ns); /* coro_loop_set_slow */

/* A driver coroutine that spawns a trivial coroutine and joins it, again
 * and again, on a loop whose stack mode is `mode`. */
typedef struct cb_spawn cb_spawn;
int cb_spawn_new(cb_spawn **out, int mode);
int cb_spawn_run(cb_spawn *s, long n);
int cb_spawn_free(cb_spawn *s);

/* Timers: `pending` coroutines asleep with deadlines an hour or more away,
 * and a driver that waits on a semaphore, with a deadline in the same range
 * (use_deadline != 0) or none, which a partner releases before it expires:
 * one op is one timer add + cancel (plus two switches, which the
 * use_deadline == 0 variant measures alone). */
typedef struct cb_timer cb_timer;
int cb_timer_new(cb_timer **out, long pending, int use_deadline);
int cb_timer_run(cb_timer *t, long n);
int cb_timer_free(cb_timer *t);

/* The memory an idle coroutine costs. */
typedef struct cb_idle_result {
  long count;            /* coroutines that were parked at once */
  long spawn_err;        /* 0, or the error that stopped spawning early */
  int64_t rss_bytes;     /* process RSS growth with all of them parked */
  int64_t pte_bytes;     /* page-table (VmPTE) growth, not part of RSS */
  int64_t saved_bytes;   /* SHARED: stack bytes held by suspended copies */
  int64_t park_ns;       /* spawning them and running them until all park */
  int64_t total_ns;      /* the whole measurement, teardown included */
} cb_idle_result;

/* On a fresh loop of stack mode `mode`, spawn up to `want` coroutines (for
 * GUARDED, no more than the process's mapping limit leaves room for), each
 * parked on a semaphore from a frame holding a 200-byte buffer; measure,
 * then cancel and free them all with the loop. */
int cb_idle(int mode, long want, cb_idle_result *res);

/* The resolver's cache (csrc/dns_cache.c) holding `names` A answers for
 * h00000.bench.test and on: one op is one hit, the names asked in turn.
 * No loop is needed: a hit never waits. */
typedef struct cb_dnscache cb_dnscache;
int cb_dnscache_new(cb_dnscache **out, long names);
int cb_dnscache_run(cb_dnscache *d, long n);
int cb_dnscache_free(cb_dnscache *d);

#endif /* CBENCH_H */
