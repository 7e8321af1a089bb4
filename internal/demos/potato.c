/* potato.c - hot potato: a token passed round a ring of coroutines.
 *
 * The ring measures the cost of handing control from one coroutine to
 * another, two ways:
 *   transfer  each holder calls coro_transfer on the next one directly: one
 *             context switch per hop, no scheduler involved. The driving
 *             coroutine throws the token to the first member, and the last
 *             holder sends it back there.
 *   sched     each coroutine waits on its own coro_sem; the holder releases
 *             the next one's semaphore and parks on its own, so every hop
 *             goes through the run queue as it would in a real program.
 * A hop is one coroutine receiving the token. The token and all bookkeeping
 * live in the job and the ring (heap memory), never on a coroutine's stack,
 * so both ways also run in CORO_STACK_SHARED mode.
 */
#include "demos.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* One coroutine of the ring. */
typedef struct member {
  demo_potato_job *job;
  struct ring *ring;
  int32_t index;
} member;

typedef struct ring {
  member *members;  /* n entries */
  coro **coros;     /* n entries */
  coro_sem *sems;   /* sched: n entries */
  coro *home;       /* transfer: the driving coroutine, the way back */
  int stop;         /* set when the token has made all its hops */
  int err;          /* the first engine error a member met */
} ring;

/* Take the token: count the hop and time the first and the last one. Returns
 * 1 if that was the last hop. */
static int receive(demo_potato_job *job, int32_t index) {
  job->received[index]++;
  int64_t h = ++job->hops;
  if (h == 1)
    job->first_ns = coro_now();
  if (h >= job->target) {
    job->last_ns = coro_now();
    return 1;
  }
  return 0;
}

/* A created coroutine of the transfer ring. It starts when the token first
 * reaches it and afterwards lives in the loop of receive, pass on. */
static void *transfer_member(void *arg) {
  member *m = arg;
  demo_potato_job *job = m->job;
  ring *r = m->ring;
  int32_t next = (m->index + 1) % job->n;

  /* Only the driver ever starts member 0, so its caller is the way home:
   * the driver waits in coro_transfer, and a context suspended there may be
   * transferred to by anyone. */
  if (m->index == 0 && job->hops == 0)
    r->home = coro_caller();
  while (!r->stop) {
    coro *to = r->coros[next];
    if (receive(job, m->index))
      to = r->home;
    int rc = coro_transfer(to, NULL, NULL);
    if (rc != 0 && to != r->home) {
      /* The ring is broken: report it on the way home. */
      r->err = rc < 0 ? rc : -EPROTO;
      r->stop = 1;
      rc = coro_transfer(r->home, NULL, NULL);
    }
    if (rc < 0) {
      /* There is no other way back to the driver. */
      fprintf(stderr, "potato: coroutine %d cannot return to the driver: %d\n",
              (int)m->index, rc);
      abort();
    }
  }
  return NULL;
}

/* Transfer mode: create the ring, throw the token to member 0, and when it
 * comes back, let every member return. */
static int run_transfer(demo_potato_job *job, ring *r) {
  int rc = 0;
  int32_t made = 0;
  for (; made < job->n; made++) {
    coro_opts o = {.name = "potato"};
    rc = coro_create(&r->coros[made], transfer_member, &r->members[made], &o);
    if (rc < 0)
      break;
  }
  if (rc == 0) {
    rc = coro_transfer(r->coros[0], NULL, NULL);
    if (rc > 0)
      rc = -EPROTO; /* member 0 finished: the ring broke */
    if (rc == 0)
      rc = r->err;
  }
  /* Resume every member once more with stop set, so that each returns
   * from its entry function instead of being abandoned mid-loop (a member
   * never started, after a short run, returns at once too). Each finishes
   * back here, its last caller, and coro_join frees the finished record. */
  r->stop = 1;
  for (int32_t i = 0; i < made; i++) {
    if (!coro_done(r->coros[i])) {
      int trc = coro_transfer(r->coros[i], NULL, NULL);
      if (trc < 0 && rc == 0)
        rc = trc;
    }
  }
  for (int32_t i = 0; i < made; i++) {
    int jrc = coro_join(r->coros[i], 0, NULL);
    if (jrc < 0 && rc == 0)
      rc = jrc;
  }
  return rc;
}

/* Stop the scheduled ring: set stop and wake every member but the caller,
 * so that each sees stop and returns. err (0 or a negative errno) is kept
 * if it is the first. */
static void stop_ring(demo_potato_job *job, ring *r, int32_t self, int err) {
  if (err < 0 && r->err == 0)
    r->err = err;
  r->stop = 1;
  for (int32_t i = 0; i < job->n; i++)
    if (i != self)
      (void)coro_sem_release(&r->sems[i]);
}

/* A spawned coroutine of the scheduled ring: wait for the token on its own
 * semaphore, then release the next member's and wait again. */
static void *sched_member(void *arg) {
  member *m = arg;
  demo_potato_job *job = m->job;
  ring *r = m->ring;
  int32_t next = (m->index + 1) % job->n;

  for (;;) {
    int rc = coro_sem_acquire(&r->sems[m->index], -1);
    if (r->stop)
      break;
    if (rc == 0 && receive(job, m->index)) {
      stop_ring(job, r, m->index, 0); /* that was the last hop */
      break;
    }
    if (rc == 0)
      rc = coro_sem_release(&r->sems[next]);
    if (rc < 0) {
      stop_ring(job, r, m->index, rc);
      break;
    }
  }
  return NULL;
}

/* Sched mode: spawn the ring, put the token in member 0's semaphore and
 * join every member. */
static int run_sched(demo_potato_job *job, ring *r) {
  int rc = 0;
  int32_t inited = 0, spawned = 0;
  for (; inited < job->n; inited++) {
    rc = coro_sem_init(&r->sems[inited], 0);
    if (rc < 0)
      break;
  }
  for (; rc == 0 && spawned < job->n; spawned++) {
    coro_opts o = {.name = "potato"};
    rc = coro_spawn(&r->coros[spawned], sched_member, &r->members[spawned], &o);
    if (rc < 0)
      break;
  }
  if (rc < 0) {
    /* Members already spawned must not wait for a token that never
     * comes: stop them, and let them run to their end below. */
    if (inited == job->n)
      stop_ring(job, r, -1, 0);
  } else {
    rc = coro_sem_release(&r->sems[0]);
  }
  for (int32_t i = 0; i < spawned; i++) {
    int jrc = coro_join(r->coros[i], -1, NULL);
    if (jrc < 0 && rc == 0)
      rc = jrc;
  }
  if (rc == 0)
    rc = r->err;
  for (int32_t i = 0; i < inited; i++)
    (void)coro_sem_destroy(&r->sems[i]);
  return rc;
}

void *demo_potato_main(void *arg) {
  demo_potato_job *job = arg;
  job->hops = 0;
  job->first_ns = job->last_ns = 0;
  job->switches = 0;
  if (job->n < 2 || job->target < 1 || job->received == NULL) {
    job->err = -EINVAL;
    return NULL;
  }

  /* The ring is shared by all members, so it must not live on this
   * coroutine's stack (SHARED mode copies that away while others run). */
  ring *r = calloc(1, sizeof *r);
  int rc = r == NULL ? -ENOMEM : 0;
  if (rc == 0) {
    r->members = calloc((size_t)job->n, sizeof *r->members);
    r->coros = calloc((size_t)job->n, sizeof *r->coros);
    if (job->mode == DEMO_POTATO_SCHED)
      r->sems = calloc((size_t)job->n, sizeof *r->sems);
    if (r->members == NULL || r->coros == NULL ||
        (job->mode == DEMO_POTATO_SCHED && r->sems == NULL))
      rc = -ENOMEM;
  }
  for (int32_t i = 0; rc == 0 && i < job->n; i++)
    r->members[i] = (member){.job = job, .ring = r, .index = i};

  coro_loop_stats before = {0}, after = {0};
  coro_loop *loop = coro_loop_current();
  if (rc == 0) {
    (void)coro_loop_stats_get(loop, &before);
    rc = job->mode == DEMO_POTATO_SCHED ? run_sched(job, r)
                                        : run_transfer(job, r);
    if (coro_loop_stats_get(loop, &after) == 0)
      job->switches = after.switches - before.switches;
  }
  if (r != NULL) {
    free(r->sems);
    free(r->coros);
    free(r->members);
    free(r);
  }
  job->err = rc;
  return NULL;
}
