/* blpop.h - the hooks benchmark's BLPOP client, one copy for every peer:
 * hooks_bench.c's threads and coroutines, gohooks/peer.c's goroutines
 * (through cgo) and Group coroutines. A client connects, waits until all
 * are connected (the caller's arrive, which differs per peer), BLPOPs its
 * own empty key with a 0.3 s server-side timeout and disconnects. It
 * counts as ok only if the answer is nil and came no sooner than the
 * timeout: the wait was the server's. Static functions: each program
 * includes it once. */
#ifndef HOOKS_BENCH_BLPOP_H
#define HOOKS_BENCH_BLPOP_H

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <time.h>

/* Redis answers a timed-out BLPOP no sooner than its timeout; allow for
 * its millisecond clock. */
#define BLPOP_EARLIEST_S 0.29

enum blpop_outcome { BLPOP_OK, BLPOP_FAILED, BLPOP_EARLY };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Client i against 127.0.0.1:port. arrive(i) returns once all clients are
 * connected: 0, or -1 if it let this one through before. Anything but
 * BLPOP_OK says why in why[n] (BLPOP_EARLY is a failure too). */
static enum blpop_outcome blpop_run(int port, int i, int (*arrive)(int),
                                    char *why, size_t n) {
  redisContext *c = redisConnect("127.0.0.1", port);
  enum blpop_outcome o = BLPOP_FAILED;
  if (arrive(i) < 0)
    snprintf(why, n, "through the barrier before all clients had arrived");
  else if (c == NULL || c->err)
    snprintf(why, n, "%s", c ? c->errstr : "redisConnect: out of memory");
  else {
    double t0 = now_s();
    redisReply *r = redisCommand(c, "BLPOP hooksbench:empty:%d 0.3", i);
    double dt = now_s() - t0;
    if (r == NULL)
      snprintf(why, n, "%s", c->errstr);
    else if (r->type != REDIS_REPLY_NIL)
      snprintf(why, n, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "BLPOP: not nil");
    else if (dt < BLPOP_EARLIEST_S) {
      snprintf(why, n, "BLPOP answered before its timeout");
      o = BLPOP_EARLY;
    } else
      o = BLPOP_OK;
    freeReplyObject(r);
  }
  redisFree(c);
  return o;
}

#endif
