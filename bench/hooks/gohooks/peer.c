/* peer.c - the clients of the hooks benchmark's Go peers (main.go): the
 * blocking hiredis client of bench/hooks/blpop.h, as hooks_bench.c's, called
 * from goroutines (one cgo call each, so each holds an OS thread while it
 * blocks) or run as coroutines of a coro.Group's loops with the hooks.
 *
 * The wait until all n clients are connected must hold across threads:
 *   cgo    a pthread barrier (each client is on an OS thread of its own);
 *   group  a gate per loop (a coro mutex and condition, which belong to
 *          one loop), opened on every loop by the last client to arrive,
 *          wherever it runs, through coro_remote_spawn (thread-safe): the
 *          gate's flag is only touched on its own loop's thread.
 * A client that failed to connect still arrives, so nobody waits for it. */
#include "peer.h"

#include "coro.h"
#include "coro_go.h"
#include "blpop.h"     /* bench/hooks: the client of every peer */
#include "procstat.h" /* bench/hooks: what the C peers measure */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_MAX_LOOPS 256

static int port, nclients, nloops;
static atomic_int ok, failed, early, arrived, reported;
static pthread_barrier_t th_barrier;

struct gate {
  coro_loop *loop;
  coro_mutex mu;
  coro_cond cv;
  int open;
};
static struct gate gates[PEER_MAX_LOOPS];

int peer_setup(int p, int n, int loops) {
  if (n <= 0 || loops < 0 || loops > PEER_MAX_LOOPS)
    return -1;
  port = p;
  nclients = n;
  nloops = loops;
  if (loops == 0 && pthread_barrier_init(&th_barrier, NULL, (unsigned)n) != 0)
    return -1;
  return 0;
}

/* The first failure is said on stderr; all are counted. */
static void fail(int i, const char *what) {
  atomic_fetch_add(&failed, 1);
  if (atomic_fetch_add(&reported, 1) == 0)
    fprintf(stderr, "gohooks: client %d: %s\n", i, what);
}

static void *gate_open(void *arg) {
  struct gate *g = arg;
  coro_mutex_lock(&g->mu, -1);
  g->open = 1;
  coro_cond_broadcast(&g->cv);
  coro_mutex_unlock(&g->mu);
  return NULL;
}

static void *gate_register(void *arg) {
  struct gate *g = &gates[(intptr_t)arg];
  g->loop = coro_loop_current();
  coro_mutex_init(&g->mu);
  coro_cond_init(&g->cv);
  return NULL;
}
CORO_GO_ENTRY(gate_register)
uintptr_t peer_register_entry(void) { return gate_register_entry(); }

/* Returns 0, or -1 if the client got through before all had arrived. */
static int all_connected(int i) {
  int last = atomic_fetch_add(&arrived, 1) + 1 == nclients;
  if (nloops == 0) {
    pthread_barrier_wait(&th_barrier);
    return atomic_load(&arrived) == nclients ? 0 : -1;
  }
  if (last)
    for (int j = 0; j < nloops; j++) {
      coro_remote *r;
      int rc = coro_remote_spawn(gates[j].loop, gate_open, &gates[j], NULL, NULL, NULL, &r);
      if (rc < 0) {
        fprintf(stderr, "gohooks: opening the gate of loop %d: %s\n", j, strerror(-rc));
        abort(); /* the clients of loop j would wait for ever */
      }
      coro_remote_release(r);
    }
  struct gate *g = &gates[i % nloops];
  coro_mutex_lock(&g->mu, -1);
  while (!g->open)
    coro_cond_wait(&g->cv, &g->mu, -1);
  coro_mutex_unlock(&g->mu);
  return atomic_load(&arrived) == nclients ? 0 : -1;
}

static void blpop(int i) {
  char why[128];
  switch (blpop_run(port, i, all_connected, why, sizeof why)) {
  case BLPOP_OK:
    atomic_fetch_add(&ok, 1);
    break;
  case BLPOP_EARLY:
    atomic_fetch_add(&early, 1);
    fail(i, why);
    break;
  case BLPOP_FAILED:
    fail(i, why);
    break;
  }
}

void peer_blpop_thread(int i) { blpop(i); }

static void *client(void *arg) {
  blpop((int)(intptr_t)arg);
  return NULL;
}
CORO_GO_ENTRY(client)
uintptr_t peer_client_entry(void) { return client_entry(); }

peer_counts peer_counts_get(void) {
  return (peer_counts){atomic_load(&ok), atomic_load(&failed), atomic_load(&early)};
}

long peer_status_field(const char *name) { return status_field(name); }

int peer_sampler_start(void) { return sampler_start(); }

int peer_sampler_stop(void) { return sampler_stop(); }
