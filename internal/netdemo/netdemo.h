/* netdemo.h - the C side of coro's network demos (echo.c, load.c with
 * http_resp.c) and the records they share with their Go wrapper
 * (netdemo.go).
 *
 * The echo server and the load generator each run as coroutines on one or
 * more loops, one loop per thread. The Go side allocates every record here
 * in C memory, fills in its inputs, spawns the entry functions with
 * coro.Loop.Spawn and reads the outputs once the coroutines have finished
 * (or, for the counters marked atomic, at any time through the accessors
 * below). No record points into a coroutine's stack, so both demos run
 * unchanged in CORO_STACK_SHARED mode.
 */
#ifndef CORO_NETDEMO_H
#define CORO_NETDEMO_H

#include <stdatomic.h>
#include <stdint.h>

#include "coro.h"

/* ---- echo server ------------------------------------------------------ */

/* One echo server's settings and counters, shared by all its loops. */
typedef struct nd_echo {
  /* In, set before the loops start. */
  int64_t idle_ns; /* a read may wait, and a reply take, this long */
  /* Out. */
  _Atomic uint64_t conns;    /* connections accepted */
  _Atomic uint64_t active;   /* connections open now */
  _Atomic uint64_t bytes;    /* bytes echoed (written back in full) */
  _Atomic uint64_t reads;    /* reads that returned data */
  _Atomic uint64_t errors;   /* connections that ended in an error */
  _Atomic uint64_t timeouts; /* connections closed at the idle timeout */
} nd_echo;

/* The counters nd_echo_read copies, in the order of the fields above. */
#define ND_ECHO_STATS 6

/* One loop's accept coroutine: its own listener (one of the server's
 * SO_REUSEPORT group on the address) and the server. */
typedef struct nd_echo_acceptor {
  nd_echo *srv;
  int lfd; /* owned: the accept coroutine closes it when it ends */
  int err; /* out: 0, or the error that ended the accept loop */
} nd_echo_acceptor;


/* The accept coroutine's entry (arg: an nd_echo_acceptor). It accepts
 * until cancelled and spawns a detached coroutine per connection that
 * echoes what it reads until end of file or the idle timeout. */
void *nd_echo_accept_main(void *arg);

/* Snapshot the counters, conns to timeouts (any thread). */
void nd_echo_read(const nd_echo *srv, uint64_t out[ND_ECHO_STATS]);

/* ---- load generator --------------------------------------------------- */

/* The latency histogram: log-linear, values in nanoseconds. Values below
 * 2 * ND_HIST_SUB have a bucket each; above, each power of two is split into
 * ND_HIST_SUB buckets, so a bucket is within 1/ND_HIST_SUB of its values. */
#define ND_HIST_SUB_BITS 6
#define ND_HIST_SUB (1 << ND_HIST_SUB_BITS)
#define ND_HIST_BUCKETS ((64 - ND_HIST_SUB_BITS + 1) * ND_HIST_SUB)

typedef struct nd_hist {
  uint64_t count;
  uint64_t max;
  uint64_t min;
  uint64_t counts[ND_HIST_BUCKETS];
} nd_hist;

/* The bucket of value v, and the lowest and highest values of bucket i. */
int nd_hist_bucket(uint64_t v);
uint64_t nd_hist_low(int i);
uint64_t nd_hist_high(int i);

enum nd_load_mode {
  ND_LOAD_ECHO = 0, /* send size bytes, read the same size back */
  ND_LOAD_HTTP,     /* send request, read one HTTP/1.1 response */
};

/* The classes of final HTTP status codes counted: 2xx to 5xx. */
#define ND_STATUS_CLASSES 4

/* One loop's share of a load run. */
typedef struct nd_load {
  /* In. */
  char addr[128];       /* numeric host:port */
  int mode;             /* enum nd_load_mode */
  int conns;            /* connections (coroutines) on this loop */
  int first_conn;       /* index of the first one among all loops */
  int total_conns;      /* connections across all loops */
  int64_t start_ns;     /* coro_now() time the run starts */
  int64_t end_ns;       /* no new request is sent at or after this */
  int64_t interval_ns;  /* rate mode: per-connection send interval; 0 = closed loop */
  int64_t max_requests; /* requests per connection at most; 0 = no limit */
  size_t size;          /* echo: request size in bytes */
  const char *request;  /* http: the request, sent as is on every connection */
  size_t request_len;
  /* Out. The atomic counters are readable while the run goes on, the rest
   * once it has finished. Each connection ends up connected (at least
   * once), failed (its first connect did: it gives up), late (the run
   * ended before it got to connect) or not started. */
  _Atomic uint64_t requests; /* requests completed */
  _Atomic uint64_t errors;   /* requests that failed: I/O and protocol errors */
  _Atomic uint64_t bytes;    /* bytes received */
  int first_err;             /* the first of those errors, a negative errno */
  const char *first_why;     /* http: what was wrong with that response, or NULL */
  uint64_t connect_errors;   /* failed connects, reconnects included */
  int first_connect_err;     /* the first, a negative errno */
  uint64_t status[ND_STATUS_CLASSES]; /* http: responses by class, 2xx to 5xx */
  int connected;             /* connections that were established */
  int late;                  /* connections the end came to before they connected */
  int not_started;           /* connections whose coroutine could not start */
  int start_err;             /* why the first could not, a negative errno */
  int64_t finish_ns;         /* coro_now() when the last connection ended */
  nd_hist hist;              /* latencies of completed requests */
} nd_load;

/* The driving coroutine's entry (arg: an nd_load): spawn job->conns
 * connection coroutines, wait for them all, set finish_ns. */
void *nd_load_main(void *arg);

uint64_t nd_load_requests(const nd_load *job);
uint64_t nd_load_errors(const nd_load *job);
uint64_t nd_load_bytes(const nd_load *job);

#endif /* CORO_NETDEMO_H */
