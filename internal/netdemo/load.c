/* load.c - a load generator: one coroutine per connection.
 *
 * Each connection sends a request of job->size bytes and reads the same
 * number of bytes back before it sends the next (lockstep, echo mode).
 * Closed loop (interval 0): the next request goes out as soon as the reply
 * is in, and latency runs from the send. Open loop (interval > 0): the
 * connection sends on a fixed schedule, start + phase + k * interval, and
 * latency runs from the scheduled time, not from the actual send, so a slow
 * reply that delays later sends shows up in their latencies instead of
 * silently lowering the load (no coordinated omission). Latencies go into
 * the loop's log-linear histogram: fixed memory, no allocation per request.
 *
 * No request is sent at or after end_ns; one in flight then completes
 * (within a grace period), so the requests counted here are exactly the
 * requests the server has answered.
 */
#include "netdemo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* How long after the end a request in flight may still take. */
#define LOAD_GRACE_NS (2 * INT64_C(1000000000))
/* The pause before reconnecting after a failed connection. */
#define LOAD_RECONNECT_NS (10 * INT64_C(1000000))

/* ---- histogram ---------------------------------------------------------- */

int nd_hist_bucket(uint64_t v) {
  if (v < 2 * ND_HIST_SUB)
    return (int)v;
  int shift = 63 - __builtin_clzll(v) - ND_HIST_SUB_BITS;
  return shift * ND_HIST_SUB + (int)(v >> shift);
}

uint64_t nd_hist_low(int i) {
  if (i < 2 * ND_HIST_SUB)
    return (uint64_t)i;
  int shift = i / ND_HIST_SUB - 1;
  uint64_t mant = (uint64_t)(i % ND_HIST_SUB + ND_HIST_SUB);
  return mant << shift;
}

uint64_t nd_hist_high(int i) {
  if (i < 2 * ND_HIST_SUB)
    return (uint64_t)i;
  int shift = i / ND_HIST_SUB - 1;
  return nd_hist_low(i) + ((UINT64_C(1) << shift) - 1);
}

static void hist_add(nd_hist *h, uint64_t v) {
  h->counts[nd_hist_bucket(v)]++;
  h->count++;
  if (v > h->max)
    h->max = v;
  if (v < h->min)
    h->min = v;
}

/* ---- the run ------------------------------------------------------------ */

/* State shared by a loop's connections, freed by whoever leaves last (the
 * driver may be cancelled before its connections finish). */
typedef struct load_run {
  nd_load *job;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  coro_waitgroup wg;
  int refs;
} load_run;

typedef struct load_conn {
  load_run *run;
  int index;  /* among all connections of all loops */
  int ever;   /* connected at least once */
  char *sbuf; /* the request */
  char *rbuf; /* the reply */
} load_conn;

static void run_release(load_run *run) {
  if (--run->refs == 0) {
    coro_wg_destroy(&run->wg);
    free(run);
  }
}

static void load_error(nd_load *job, int err) {
  if (err == -ECANCELED)
    return;
  atomic_fetch_add_explicit(&job->errors, 1, memory_order_relaxed);
  if (job->first_err == 0)
    job->first_err = err;
}

/* Send the request and read the whole reply; 0 or -errno. */
static int exchange(load_conn *c, int fd, size_t size, int64_t deadline) {
  ssize_t rc = coro_write_all(fd, c->sbuf, size, deadline);
  if (rc < 0)
    return (int)rc;
  size_t got = 0;
  while (got < size) {
    rc = coro_read(fd, c->rbuf + got, size - got, deadline);
    if (rc < 0)
      return (int)rc;
    if (rc == 0)
      return -ECONNRESET; /* the server hung up mid-reply */
    got += (size_t)rc;
  }
  return memcmp(c->sbuf, c->rbuf, size) == 0 ? 0 : -EBADMSG;
}

static void *conn_main(void *arg) {
  load_conn *c = arg;
  load_run *run = c->run;
  nd_load *job = run->job;
  int64_t interval = job->interval_ns;
  /* Stagger the connections' schedules evenly over one interval. */
  int64_t next = job->start_ns;
  if (interval > 0)
    next += interval / job->total_conns * c->index;
  int fd = -1;
  for (;;) {
    if (fd < 0) {
      if (coro_now() >= job->end_ns)
        break;
      fd = coro_connect((struct sockaddr *)&run->addr, run->addrlen,
                        job->end_ns + LOAD_GRACE_NS);
      if (fd < 0) {
        load_error(job, fd);
        /* A connection that never got through gives up: the address is
         * wrong or the server is down, and retrying only adds errors. */
        if (fd == -ECANCELED || !c->ever)
          break;
        fd = -1;
        if (coro_sleep(coro_now() + LOAD_RECONNECT_NS) < 0)
          break;
        continue;
      }
      if (!c->ever)
        job->connected++;
      c->ever = 1;
    }
    int64_t t0;
    if (interval > 0) {
      if (next >= job->end_ns)
        break;
      if (coro_now() < next && coro_sleep(next) < 0)
        break;
      t0 = next;
      next += interval;
    } else {
      t0 = coro_now();
      if (t0 >= job->end_ns)
        break;
    }
    int rc = exchange(c, fd, job->size, job->end_ns + LOAD_GRACE_NS);
    if (rc < 0) {
      load_error(job, rc);
      coro_fd_close(fd);
      fd = -1;
      if (rc == -ECANCELED)
        break;
      continue;
    }
    int64_t lat = coro_now() - t0;
    hist_add(&job->hist, lat > 0 ? (uint64_t)lat : 0);
    atomic_fetch_add_explicit(&job->requests, 1, memory_order_relaxed);
  }
  if (fd >= 0)
    coro_fd_close(fd);
  coro_wg_done(&run->wg);
  run_release(run);
  free(c);
  return NULL;
}

void *nd_load_main(void *arg) {
  nd_load *job = arg;
  job->hist.min = UINT64_MAX;
  load_run *run = calloc(1, sizeof *run);
  if (!run) {
    job->first_err = -ENOMEM;
    job->finish_ns = coro_now();
    return NULL;
  }
  run->job = job;
  run->refs = 1;
  run->addrlen = sizeof run->addr;
  coro_wg_init(&run->wg);
  int rc = coro_addr_parse(job->addr, &run->addr, &run->addrlen);
  if (rc < 0) {
    job->first_err = rc;
    goto out;
  }
  static const coro_opts conn_opts = {.name = "load-conn"};
  for (int i = 0; i < job->conns; i++) {
    load_conn *c = malloc(sizeof *c + 2 * job->size);
    if (!c) {
      load_error(job, -ENOMEM);
      continue;
    }
    c->run = run;
    c->index = job->first_conn + i;
    c->ever = 0;
    c->sbuf = (char *)(c + 1);
    c->rbuf = c->sbuf + job->size;
    for (size_t j = 0; j < job->size; j++)
      c->sbuf[j] = (char)('a' + (c->index + j) % 26);
    coro_wg_add(&run->wg, 1);
    run->refs++;
    rc = coro_spawn(NULL, conn_main, c, &conn_opts);
    if (rc < 0) {
      load_error(job, rc);
      coro_wg_done(&run->wg);
      run->refs--;
      free(c);
    }
  }
  coro_wg_wait(&run->wg, -1);
out:
  job->finish_ns = coro_now();
  run_release(run);
  return NULL;
}

uint64_t nd_load_requests(const nd_load *job) {
  return atomic_load_explicit(&job->requests, memory_order_relaxed);
}

uint64_t nd_load_errors(const nd_load *job) {
  return atomic_load_explicit(&job->errors, memory_order_relaxed);
}
