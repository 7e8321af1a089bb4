/* load.c - a load generator: one coroutine per connection.
 *
 * Each connection sends a request and reads the whole reply before it
 * sends the next (lockstep). Echo mode sends job->size bytes and reads the
 * same bytes back. HTTP mode sends job->request (a GET built once by the Go
 * side) and reads one response with the HTTP client's parser (httpc/resp.c,
 * coro's one response parser): the body is read in
 * pieces into the loop's scratch buffer and dropped, so bodies of any size
 * cost no memory; bytes after the response are a protocol error, since in
 * lockstep nothing may follow it; a response that says "Connection: close"
 * (or is framed by the close) ends the connection, and the next request
 * goes out on a new one.
 *
 * Closed loop (interval 0): the next request goes out as soon as the reply
 * is in, and latency runs from the send. Open loop (interval > 0): the
 * connection sends on a fixed schedule, start + phase + k * interval, and
 * latency runs from the scheduled time, not from the actual send, so a slow
 * reply that delays later sends shows up in their latencies instead of
 * silently lowering the load (no coordinated omission). Latencies go into
 * the loop's log-linear histogram: fixed memory, no allocation per request.
 *
 * No new request is sent at or after end_ns; one in flight then completes
 * (within a grace period), so the requests counted here are exactly the
 * requests the server has answered. (In flight includes a request that met
 * a keep-alive connection the server had just closed: it goes again on a
 * new connection, even after end_ns.) An error (I/O, or a malformed
 * response) is counted and ends the connection; the coroutine connects
 * again for its next request. With max_requests, a connection also stops
 * once it has sent that many (failed ones included), so that a run is
 * bounded in work as well as in time (the fault sweep needs that).
 *
 * Every connection is accounted for: a connect that fails is counted apart
 * from the requests' errors (a first one ends the connection: the address
 * is wrong or the server is down, and retrying only adds errors); one that
 * the end reaches before it connects (thousands of connects at once can
 * take longer than the run) is counted as late; and one whose coroutine
 * cannot be spawned (guarded stacks run into vm.max_map_count near 32,700
 * per process) as not started, with the error.
 */
#include "netdemo.h"

#include "coro_http.h"
/* The engine's fault points (coro__malloc): the allocations go through
 * them, so that the fault sweep (fault_test.go) fails each in turn. */
#include "coro_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* How long after the end a request in flight may still take. */
#define LOAD_GRACE_NS (2 * INT64_C(1000000000))
/* The pause before reconnecting after a failed connection. */
#define LOAD_RECONNECT_NS (10 * INT64_C(1000000))
/* HTTP mode: each loop's buffer for the bytes of responses. */
#define LOAD_SCRATCH (64 * 1024)
/* HTTP mode: the most bytes a response head may take. */
#define LOAD_HEAD_MAX (16 * 1024)
_Static_assert(LOAD_SCRATCH >= LOAD_HEAD_MAX, "a whole head fits the scratch buffer");

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
  /* HTTP mode: what the connections read, LOAD_SCRATCH bytes. One buffer
   * serves them all because a coroutine hands what it has read to its
   * parser before it next suspends, and the parser keeps only the
   * (rare) head that is split over reads, in its own buffer. */
  char *scratch;
} load_run;

typedef struct load_conn {
  load_run *run;
  int index;  /* among all connections of all loops */
  int ever;   /* connected at least once */
  int served; /* responses on the current connection */
  int64_t sent; /* requests sent (a stale one sent again counts once) */
  int waited; /* the current connection has waited idle for a send */
  char *sbuf; /* echo: the request */
  char *rbuf; /* echo: the reply */
  coro_http_resp resp; /* http: the response being read */
} load_conn;

static void run_release(load_run *run) {
  if (--run->refs == 0) {
    coro_wg_destroy(&run->wg);
    free(run->scratch);
    free(run);
  }
}

/* Count a request's error; why says what was wrong with a response (or
 * NULL). */
static void load_error(nd_load *job, int err, const char *why) {
  if (err == -ECANCELED)
    return;
  atomic_fetch_add_explicit(&job->errors, 1, memory_order_relaxed);
  if (job->first_err == 0) {
    job->first_err = err;
    job->first_why = why;
  }
}

/* Count a failed connect. */
static void connect_error(nd_load *job, int err) {
  if (err == -ECANCELED)
    return;
  job->connect_errors++;
  if (job->first_connect_err == 0)
    job->first_connect_err = err;
}

/* Count n connections that could not be started, for err. */
static void not_started(nd_load *job, int n, int err) {
  job->not_started += n;
  if (job->start_err == 0)
    job->start_err = err;
}

static void count_bytes(nd_load *job, size_t n) {
  atomic_fetch_add_explicit(&job->bytes, n, memory_order_relaxed);
}

/* Whether a failed exchange failed before a byte of the reply came, in a
 * way that says the server had closed the connection: it closes idle
 * connections (coro echo at its -idle), and may do so just as a request
 * goes out. rc is the failed write's or read's result, 0 for end of file. */
static int is_stale(ssize_t rc, size_t got) {
  return got == 0 && (rc == 0 || rc == -EPIPE || rc == -ECONNRESET);
}

/* Echo: send the request and read the whole reply; 1 (the connection
 * stays open) or -errno. *stale as for http_exchange. */
static int echo_exchange(load_conn *c, int fd, int64_t deadline, int *stale) {
  nd_load *job = c->run->job;
  size_t size = job->size;
  ssize_t rc = coro_write_all(fd, c->sbuf, size, deadline);
  *stale = rc < 0 && is_stale(rc, 0);
  if (rc < 0)
    return (int)rc;
  size_t got = 0;
  while (got < size) {
    rc = coro_read(fd, c->rbuf + got, size - got, deadline);
    if (rc <= 0) {
      *stale = is_stale(rc, got);
      return rc < 0 ? (int)rc : -ECONNRESET; /* hung up mid-reply */
    }
    got += (size_t)rc;
  }
  count_bytes(job, size);
  return memcmp(c->sbuf, c->rbuf, size) == 0 ? 1 : -EBADMSG;
}

/* The parser's errors as the errno values the load report has always
 * shown (the Go side reads them as syscall.Errno). */
static int errno_of(ssize_t k) {
  switch (-k) {
  case CORO_HTTP_EFRAMING:
    return -EBADMSG;
  case CORO_HTTP_EHEADSIZE:
  case CORO_HTTP_EBODYSIZE:
    return -EMSGSIZE;
  case CORO_HTTP_ETRUNCATED:
    return -ECONNRESET;
  }
  return (int)k;
}

/* HTTP: send the request and read the whole response into c->resp.
 * Returns 1 when the connection stays open, 0 when the server closes it
 * after this response, or -errno (c->resp.why may say more). *stale is set
 * when the connection failed before a byte of the response came: a server
 * may close an idle keep-alive connection just as a request goes out. */
static int http_exchange(load_conn *c, int fd, int64_t deadline, int *stale) {
  load_run *run = c->run;
  nd_load *job = run->job;
  coro_http_resp *r = &c->resp;
  coro_http_resp_reset(r);
  r->head_max = LOAD_HEAD_MAX;
  *stale = 0;
  ssize_t rc = coro_write_all(fd, job->request, job->request_len, deadline);
  if (rc < 0) {
    *stale = is_stale(rc, 0);
    return (int)rc;
  }
  size_t got = 0;
  for (;;) {
    rc = coro_read(fd, run->scratch, LOAD_SCRATCH, deadline);
    if (rc <= 0) {
      *stale = is_stale(rc, got);
      if (rc < 0)
        return (int)rc;
      return coro_http_resp_eof(r) < 0 ? -ECONNRESET : 0;
    }
    got += (size_t)rc;
    count_bytes(job, (size_t)rc);
    ssize_t k = coro_http_resp_feed(r, run->scratch, (size_t)rc);
    if (k < 0)
      return errno_of(k);
    if (r->done) {
      if (k < rc) {
        r->why = "bytes after the end of the response";
        return -EPROTO;
      }
      return !r->close;
    }
  }
}

static void *conn_main(void *arg) {
  load_conn *c = arg;
  load_run *run = c->run;
  nd_load *job = run->job;
  int http = job->mode == ND_LOAD_HTTP;
  int64_t interval = job->interval_ns;
  int64_t deadline = job->end_ns + LOAD_GRACE_NS;
  /* Stagger the connections' schedules evenly over one interval. */
  int64_t next = job->start_ns;
  if (interval > 0)
    next += interval / job->total_conns * c->index;
  int fd = -1;
  int64_t retry_t0 = -1; /* a request to send again, on a new connection */
  for (;;) {
    if (retry_t0 < 0 && job->max_requests > 0 && c->sent >= job->max_requests)
      break;
    if (fd < 0) {
      /* A request to send again was issued before the end: it is still in
       * flight, and completes like any other (within the grace period). */
      if (retry_t0 < 0 && coro_now() >= job->end_ns) {
        job->late += !c->ever;
        break;
      }
      fd = coro_connect((struct sockaddr *)&run->addr, run->addrlen, deadline);
      if (fd < 0) {
        connect_error(job, fd);
        /* A connection that never got through gives up (see the top). */
        if (fd == -ECANCELED || !c->ever)
          break;
        fd = -1;
        retry_t0 = -1; /* lost with the connect error just counted */
        if (coro_sleep(coro_now() + LOAD_RECONNECT_NS) < 0)
          break;
        continue;
      }
      if (!c->ever)
        job->connected++;
      c->ever = 1;
      c->served = c->waited = 0;
    }
    int64_t t0;
    if (retry_t0 >= 0) {
      t0 = retry_t0; /* latency still runs from the first attempt */
      retry_t0 = -1;
    } else if (interval > 0) {
      if (next >= job->end_ns)
        break;
      if (coro_now() < next) {
        if (coro_sleep(next) < 0)
          break;
        c->waited = 1;
      }
      t0 = next;
      next += interval;
      c->sent++;
    } else {
      t0 = coro_now();
      if (t0 >= job->end_ns)
        break;
      c->sent++;
    }
    int stale = 0;
    int rc = http ? http_exchange(c, fd, deadline, &stale)
                  : echo_exchange(c, fd, deadline, &stale);
    if (rc < 0) {
      coro_fd_close(fd);
      fd = -1;
      if (rc == -ECANCELED)
        break;
      if (stale && (c->served > 0 || c->waited)) {
        /* The server closed this connection while it was idle (after a
         * response, or before the first request when the schedule kept
         * it waiting): the request never reached it. Send it once more
         * on a fresh connection, as browsers do; a fresh one, used at
         * once, gets no second try. */
        retry_t0 = t0;
        continue;
      }
      load_error(job, rc, http ? c->resp.why : NULL);
      continue;
    }
    int64_t lat = coro_now() - t0;
    hist_add(&job->hist, lat > 0 ? (uint64_t)lat : 0);
    atomic_fetch_add_explicit(&job->requests, 1, memory_order_relaxed);
    c->served++;
    if (http) {
      int cls = c->resp.status / 100 - 2;
      if (cls >= 0 && cls < ND_STATUS_CLASSES)
        job->status[cls]++;
    }
    if (rc == 0) { /* the server closes the connection */
      coro_fd_close(fd);
      fd = -1;
    }
  }
  if (fd >= 0)
    coro_fd_close(fd);
  coro_http_resp_free(&c->resp);
  coro_wg_done(&run->wg);
  run_release(run);
  free(c);
  return NULL;
}

void *nd_load_main(void *arg) {
  nd_load *job = arg;
  job->hist.min = UINT64_MAX;
  load_run *run = coro__calloc(1, sizeof *run);
  if (!run) {
    not_started(job, job->conns, -ENOMEM);
    job->finish_ns = coro_now();
    return NULL;
  }
  run->job = job;
  run->refs = 1;
  run->addrlen = sizeof run->addr;
  coro_wg_init(&run->wg);
  int rc = coro_addr_parse(job->addr, &run->addr, &run->addrlen);
  if (rc < 0) {
    not_started(job, job->conns, rc);
    goto out;
  }
  int http = job->mode == ND_LOAD_HTTP;
  if (http && !(run->scratch = coro__malloc(LOAD_SCRATCH))) {
    not_started(job, job->conns, -ENOMEM);
    goto out;
  }
  size_t bufs = http ? 0 : 2 * job->size;
  static const coro_opts conn_opts = {.name = "load-conn"};
  for (int i = 0; i < job->conns; i++) {
    load_conn *c = coro__calloc(1, sizeof *c + bufs);
    if (!c) {
      not_started(job, 1, -ENOMEM);
      continue;
    }
    c->run = run;
    c->index = job->first_conn + i;
    if (!http) {
      c->sbuf = (char *)(c + 1);
      c->rbuf = c->sbuf + job->size;
      for (size_t j = 0; j < job->size; j++)
        c->sbuf[j] = (char)('a' + (c->index + j) % 26);
    }
    coro_wg_add(&run->wg, 1);
    run->refs++;
    rc = coro_spawn(NULL, conn_main, c, &conn_opts);
    if (rc < 0) {
      /* The next spawns would fail the same way (at the mapping limit,
       * each after an mmap and an mprotect of its own). */
      not_started(job, job->conns - i, rc);
      coro_wg_done(&run->wg);
      run->refs--;
      free(c);
      break;
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

uint64_t nd_load_bytes(const nd_load *job) {
  return atomic_load_explicit(&job->bytes, memory_order_relaxed);
}
