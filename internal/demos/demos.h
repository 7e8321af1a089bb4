/* demos.h - the C side of coro's demo programs (samefringe.c, potato.c) and
 * the records they share with their Go wrapper (demos.go).
 *
 * Each demo is one coroutine entry function, demo_samefringe_main or
 * demo_potato_main, that the Go side spawns on a loop (coro.Loop.Spawn) with
 * a job as its argument: the whole demo, hot loop included, then runs inside
 * that one coroutine and the coroutines it makes, on the loop's thread, and
 * never crosses into Go. The job is C memory allocated by the caller, and no
 * record points into a coroutine's stack, so the demos run unchanged in
 * CORO_STACK_SHARED mode, where a suspended coroutine's stack bytes are moved
 * away. The loop's stack mode applies to every coroutine of a demo.
 *
 * Errors are reported in the job as a negative errno from the engine.
 */
#ifndef CORO_DEMOS_H
#define CORO_DEMOS_H

#include <stdint.h>

#include "coro.h"

/* ---- same fringe ------------------------------------------------------ */

/* A tree node, stored in an array and linked by index (-1 = none). A leaf
 * carries a value; an inner node has one or more children: first_child,
 * then each child's next_sibling. The fringe of a tree is its leaves' values
 * from left to right, whatever the shape. */
typedef struct demo_sf_node {
  int64_t value;        /* leaves only */
  int32_t first_child;  /* inner nodes only; -1 for a leaf */
  int32_t next_sibling; /* -1 for the last child */
} demo_sf_node;

/* One compared pair of leaves. A side whose fringe has run out is "ended". */
typedef struct demo_sf_pair {
  int64_t a, b;
  uint8_t a_ended, b_ended;
} demo_sf_pair;

typedef struct demo_sf_job {
  /* In: the two trees (node arrays and root indexes). */
  const demo_sf_node *a_nodes;
  int32_t a_root;
  const demo_sf_node *b_nodes;
  int32_t b_root;
  /* Out: the pairs compared, in order, up to and including the first pair
   * that differs. pairs must have room for 1 + min(leaves of a, leaves of
   * b) entries. */
  demo_sf_pair *pairs;
  int64_t npairs;
  int same;             /* 1 if the fringes are equal */
  int err;              /* 0, or the negative errno that stopped the demo */
} demo_sf_job;

/* The comparing coroutine's entry (a coro_fn; arg is a demo_sf_job): compare
 * the fringes of two trees with two generator coroutines that it makes with
 * coro_create and drives with coro_transfer. Spawn it; it returns NULL with
 * the job's out fields set. */
void *demo_samefringe_main(void *job);

/* ---- hot potato ------------------------------------------------------- */

enum demo_potato_mode {
  DEMO_POTATO_TRANSFER = 0, /* each holder coro_transfers to the next */
  DEMO_POTATO_SCHED = 1,    /* each waits on its own coro_sem and releases
                               the next one's */
};

typedef struct demo_potato_job {
  /* In. */
  int32_t n;            /* coroutines in the ring, >= 2 */
  int64_t target;       /* hops to make, >= 1 */
  int mode;             /* enum demo_potato_mode */
  int64_t *received;    /* n counters: how often each coroutine got the token */
  /* Out. */
  int64_t hops;         /* hops made: equals target on success */
  int64_t first_ns;     /* coro_now() when the token arrived the first time */
  int64_t last_ns;      /* coro_now() when it arrived the last time */
  uint64_t switches;    /* context switches the loop made during the run */
  int err;              /* 0, or the negative errno that stopped the demo
                           (-ENOMEM when the stacks cannot be mapped) */
} demo_potato_job;

/* The driving coroutine's entry (a coro_fn; arg is a demo_potato_job): pass
 * a token round a ring of job->n coroutines until it has made job->target
 * hops. A hop is one coroutine receiving the token: the first one from the
 * driver, every other from its predecessor in the ring. Spawn it; it
 * returns NULL with the job's out fields set. */
void *demo_potato_main(void *job);

#endif /* CORO_DEMOS_H */
