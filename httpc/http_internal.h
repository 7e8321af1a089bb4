/* http_internal.h - the contracts between the client's files (internal
 * names coro__http_). One line per function; the details at each
 * definition. */
#ifndef CORO_HTTP_INTERNAL_H
#define CORO_HTTP_INTERNAL_H

#include "coro_http.h"
#include "stream.h"

#include <stdint.h>

/* Bytes read from a connection at a time (one buffer per connection,
 * kept while it is pooled). */
#define CORO__HTTP_RBUF 16384

typedef struct coro__http_host coro__http_host;

/* A connection: a stream plus what the pool knows of it. */
typedef struct coro__http_conn {
  coro__http_stream *s;
  coro__http_host *host;
  struct coro__http_conn *next; /* in its host's idle list */
  int64_t idle_since;           /* when it went idle (coro_now) */
  uint64_t uses;                /* requests it has carried */
  char *rbuf;                   /* CORO__HTTP_RBUF bytes */
} coro__http_conn;

/* One scheme/host/port: a semaphore of max_conns_per_host slots, the idle
 * connections (most recently used first). */
struct coro__http_host {
  char *key;     /* "scheme://host:port" */
  char *name;    /* host, for the resolver and TLS */
  int port, tls;
  coro_sem slots;
  coro__http_conn *idle;
  size_t nidle;
  struct coro__http_host *next; /* hash chain */
};

struct coro_http_client {
  coro_http_client_opts o;
  coro_loop *loop;
  coro__http_host **hosts; /* hash table, nbuckets chains */
  size_t nbuckets, nhosts;
  coro__http_tls *tls;     /* made on the first https request */
  int tls_err;             /* its error, once it failed (kept) */
  char tls_why[CORO_HTTP_WHY_MAX]; /* and the reason, for each request */
  int64_t next_sweep;      /* when idle connections are next swept */
  uint64_t inflight;       /* coro_http_do calls running */
  coro_http_stats st;
};

/* pool.c: take a connection to u's scheme/host/port: an idle one (unless
 * fresh; checked for the peer's close if check, or if it idled long) or a
 * new one; waits for a slot until deadline, connects by connect_deadline.
 * *reused says which. 0 or a negative error, with the TLS layer's reason
 * in why (CORO_HTTP_WHY_MAX bytes) when it has one. */
int coro__http_pool_get(coro_http_client *c, const coro_url *u, int fresh,
                        int check, int64_t deadline, int64_t connect_deadline,
                        coro__http_conn **out, int *reused, char *why);
/* pool.c: give it back: kept idle when reusable, else closed. */
void coro__http_pool_put(coro_http_client *c, coro__http_conn *k, int reusable);
/* pool.c: close idle connections past the idle timeout or closed by the
 * peer (all hosts; at most once a second unless force). */
void coro__http_pool_sweep(coro_http_client *c, int force);
/* pool.c: close every idle connection and free the hosts. */
void coro__http_pool_free(coro_http_client *c);

/* request.c: whether a header field name is one the caller may not set. */
int coro__http_reserved_field(const char *name);
/* request.c: validate the caller's fields: 0 or -EINVAL. */
int coro__http_check_fields(const coro_http_header *h, size_t n);
/* request.c: the request head for method and u, with the caller's fields
 * (those named in drop skipped, when drop_creds), in a malloc'd buffer:
 * its length, or -ENOMEM. */
ssize_t coro__http_request_head(const coro_http_client *c, const char *method,
                                const coro_url *u, const coro_http_header *h,
                                size_t nh, int drop_creds, int has_body,
                                size_t body_len, char **out);
/* request.c: whether name is a credential field (Authorization, ...). */
int coro__http_cred_field(const char *name);

#endif /* CORO_HTTP_INTERNAL_H */
