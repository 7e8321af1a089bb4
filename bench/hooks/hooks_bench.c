/* hooks_bench.c - the libc hooks' benchmark (scripts/bench-hooks.sh, make
 * bench-hooks): unmodified hiredis, run the blocking way, on OS threads
 * (one per client, plain libc) and on coroutines of one loop with hooks.
 *
 *   hooks_bench blpop threads|coro|coro-shared N PORT   N clients each connect, wait
 *       until all N are connected (so that all N are alive at once: the
 *       threads' peak is N), BLPOP its own empty key with a 0.3 s
 *       server-side timeout, disconnect
 *   hooks_bench get threads|coro|coro-shared C TOTAL PORT
 *       C connections share TOTAL GETs of one key (set first), each
 *       waiting for its answer before the next (as redis-benchmark -P 1)
 *
 * Prints one line of key=value pairs: wall (s), cpu (s, user+sys of this
 * process), rss (peak, KiB: VmHWM), threads (the most the process had:
 * sampled every millisecond by a thread of its own, not counted), ok,
 * failed, and rps for get or early for blpop (nil answers sooner than the
 * timeout, counted as failed). One run per process, so each peak RSS is its
 * own. coro: guarded stacks (256 KiB mapped each, the pages touched
 * count); coro-shared: one shared stack, each coroutine's used part
 * copied out when it switches away. */
#include "coro.h"
#include "blpop.h"
#include "procstat.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int port, per_client, nclients, coro_mode;

/* All clients connected: a pthread barrier for threads, a condition of
 * the loop for coroutines (a pthread one would block the loop's thread). */
static pthread_barrier_t th_barrier;
static coro_mutex co_mu;
static coro_cond co_cv;
static int co_arrived;

/* blpop.h's arrive: it never lets a client through early. */
static int all_connected(int i) {
  (void)i;
  if (!coro_mode) {
    pthread_barrier_wait(&th_barrier);
    return 0;
  }
  coro_mutex_lock(&co_mu, -1);
  if (++co_arrived == nclients)
    coro_cond_broadcast(&co_cv);
  while (co_arrived < nclients)
    coro_cond_wait(&co_cv, &co_mu, -1);
  coro_mutex_unlock(&co_mu);
  return 0;
}
static atomic_int ok, failed, early;

/* One client: the same code on a thread and in a coroutine. */
static void *blpop_client(void *arg) {
  char why[128];
  switch (blpop_run(port, (int)(intptr_t)arg, all_connected, why, sizeof why)) {
  case BLPOP_OK:
    atomic_fetch_add(&ok, 1);
    break;
  case BLPOP_EARLY:
    atomic_fetch_add(&early, 1);
    atomic_fetch_add(&failed, 1);
    break;
  case BLPOP_FAILED:
    atomic_fetch_add(&failed, 1);
    break;
  }
  return NULL;
}

static void *get_client(void *arg) {
  (void)arg;
  redisContext *c = redisConnect("127.0.0.1", port);
  if (c == NULL || c->err) {
    atomic_fetch_add(&failed, 1);
    redisFree(c);
    return NULL;
  }
  int good = 0;
  for (int k = 0; k < per_client; k++) {
    redisReply *r = redisCommand(c, "GET hooksbench:key");
    if (r && r->type == REDIS_REPLY_STRING && r->len == 3)
      good++;
    freeReplyObject(r);
  }
  atomic_fetch_add(&ok, good);
  atomic_fetch_add(&failed, per_client - good);
  redisFree(c);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s blpop threads|coro N PORT | get threads|coro C TOTAL PORT\n", argv[0]);
    return 2;
  }
  int get = strcmp(argv[1], "get") == 0;
  coro_mode = strncmp(argv[2], "coro", 4) == 0;
  int shared = strcmp(argv[2], "coro-shared") == 0;
  int n = atoi(argv[3]);
  nclients = n;
  if (!coro_mode)
    pthread_barrier_init(&th_barrier, NULL, (unsigned)n);
  port = atoi(argv[get ? 5 : 4]);
  if (get)
    per_client = atoi(argv[4]) / n;
  void *(*fn)(void *) = get ? get_client : blpop_client;

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (get) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err)
      return 1;
    freeReplyObject(redisCommand(c, "SET hooksbench:key abc"));
    redisFree(c);
  }
  if (sampler_start() < 0)
    return 1;

  double t0 = now_s();
  if (coro_mode) {
    coro_loop *l;
    coro_loop_opts o = {.hooks = 1,
                        .stack_mode = shared ? CORO_STACK_SHARED : CORO_STACK_GUARDED};
    if (coro_loop_new(&l, &o) < 0)
      return 1;
    coro_mutex_init(&co_mu);
    coro_cond_init(&co_cv);
    for (int i = 0; i < n; i++)
      if (coro_spawn(NULL, fn, (void *)(intptr_t)i, NULL) < 0)
        atomic_fetch_add(&failed, 1);
    coro_loop_run(l, CORO_RUN_UNTIL_EMPTY);
    coro_loop_close(l, -1);
  } else {
    pthread_t *th = calloc((size_t)n, sizeof *th);
    int started = 0;
    for (int i = 0; i < n; i++) {
      if (pthread_create(&th[i], NULL, fn, (void *)(intptr_t)i) != 0) {
        atomic_fetch_add(&failed, 1);
        th[i] = 0;
      } else
        started++;
    }
    for (int i = 0; i < n; i++)
      if (th[i])
        pthread_join(th[i], NULL);
    free(th);
    (void)started;
  }
  double wall = now_s() - t0;
  int threads = sampler_stop();

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf("wall=%.4f cpu=%.3f rss=%ld threads=%d ok=%d failed=%d", wall, cpu,
         status_field("VmHWM:"), threads, atomic_load(&ok),
         atomic_load(&failed));
  if (get)
    printf(" rps=%.0f", atomic_load(&ok) / wall);
  else
    printf(" early=%d", atomic_load(&early));
  printf("\n");
  return atomic_load(&failed) ? 1 : 0;
}
