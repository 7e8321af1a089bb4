/* client.c - requests: one attempt on a pooled connection (write the
 * request, feed what comes back to the response parser), the retry of an
 * idempotent request that met a stale connection, and redirects.
 *
 * Deadlines: connect_timeout bounds each connect (resolution included),
 * head_timeout the time from taking a connection to the end of the
 * response head, req->deadline the whole request (redirects and the retry
 * included); every wait uses the earliest that applies.
 *
 * Which failures are retried (RFC 9110 9.2.2, and what browsers do): the
 * request went out on a reused connection and not one byte of a response
 * came back before the connection failed (reset, closed, a broken pipe on
 * the write): the server most likely closed it idle as the request left.
 * Only idempotent methods, once, on a fresh connection. Timeouts, a
 * cancel, and anything after a response byte are never retried.
 */
#include "http_internal.h"

#include "coro_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NBUCKETS 1024

int coro_http_client_new(coro_http_client **out,
                         const coro_http_client_opts *opts) {
  *out = NULL;
  coro_loop *loop = coro_loop_current();
  if (!loop)
    return -EPERM;
  coro_http_client_opts o = {0};
  if (opts)
    o = *opts;
  if (o.max_conns_per_host < 0 || o.idle_timeout < 0 || o.connect_timeout < 0 ||
      o.head_timeout < 0)
    return -EINVAL;
  if (!o.max_conns_per_host)
    o.max_conns_per_host = 8;
  if (!o.idle_timeout)
    o.idle_timeout = 4000000000;
  if (!o.connect_timeout)
    o.connect_timeout = 10000000000;
  if (!o.head_timeout)
    o.head_timeout = 30000000000;
  if (!o.head_max)
    o.head_max = CORO_HTTP_HEAD_MAX_DEFAULT;
  if (o.head_max < 64)
    return -EINVAL;
  coro_http_client *c = coro__calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->hosts = coro__calloc(NBUCKETS, sizeof *c->hosts);
  if (!c->hosts) {
    free(c);
    return -ENOMEM;
  }
  c->nbuckets = NBUCKETS;
  c->o = o;
  c->loop = loop;
  *out = c;
  return 0;
}

int coro_http_client_free(coro_http_client *c) {
  if (!c)
    return 0;
  if (c->inflight)
    return -EBUSY;
  coro__http_pool_free(c);
  coro__http_tls_free(c->tls);
  free(c);
  return 0;
}

int coro_http_client_stats(const coro_http_client *c, coro_http_stats *out) {
  *out = c->st;
  return 0;
}

static int64_t dmin(int64_t a, int64_t b) {
  if (a < 0)
    return b;
  if (b < 0)
    return a;
  return a < b ? a : b;
}

static int idempotent(const char *m) {
  return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") ||
         !strcmp(m, "DELETE") || !strcmp(m, "OPTIONS") || !strcmp(m, "TRACE");
}

static int is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

/* A growing byte buffer (fields, collected bodies). */
typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static int buf_put(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *q = coro__realloc(b->p, cap);
    if (!q)
      return -ENOMEM;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

/* One attempt's state, shared with the parser's callbacks. */
typedef struct attempt {
  const coro_http_request *req;
  coro_http_resp r;
  buf fields;      /* name\0value\0 pairs of the final head */
  size_t nfields;
  size_t loc;      /* offset of Location's value in fields + 1, or 0 */
  int follow;      /* a redirect will be followed: discard the body */
  int decided;     /* follow has been decided (at the first body byte) */
  buf body;        /* collected body (no sink given) */
} attempt;

static int on_field(void *arg, const char *name, size_t nn, const char *value,
                    size_t vn) {
  attempt *a = arg;
  size_t at = a->fields.n;
  if (buf_put(&a->fields, name, nn) || buf_put(&a->fields, "", 1) ||
      buf_put(&a->fields, value, vn) || buf_put(&a->fields, "", 1))
    return -ENOMEM;
  if (nn == 8 && !strncasecmp(name, "location", 8) && !a->loc)
    a->loc = at + nn + 1 + 1;
  a->nfields++;
  return 0;
}

/* Whether this response is a redirect to follow (decided once the head
 * is in: at its first body byte, or after it for a bodiless one). Past
 * the redirect limit it is still "followed" here (its body dropped), and
 * do_request reports -CORO_HTTP_EREDIRECTS. */
static void decide(attempt *a) {
  if (a->decided)
    return;
  a->decided = 1;
  a->follow = a->req->max_redirects > 0 && is_redirect(a->r.status) && a->loc;
}

static int on_body(void *arg, const char *p, size_t n) {
  attempt *a = arg;
  decide(a);
  if (a->follow)
    return 0; /* a redirect's body is read and dropped */
  const coro_http_request *q = a->req;
  if (q->on_body)
    return q->on_body(q->arg, p, n);
  if (q->body_fd > 0) {
    ssize_t w = coro_write_all(q->body_fd, p, n, q->deadline);
    return w < 0 ? (int)w : 0;
  }
  return buf_put(&a->body, p, n);
}

static void attempt_free(attempt *a) {
  coro_http_resp_free(&a->r);
  free(a->fields.p);
  free(a->body.p);
  memset(a, 0, sizeof *a);
}

/* Send the request on k and read the response into a. Returns 0 (the
 * response is in: a->r.done) or a negative error; *any_byte says whether
 * a byte of a response came. *reusable whether k may carry another. */
static int exchange(coro_http_client *c, coro__http_conn *k, attempt *a,
                    const char *head, size_t hlen, const void *body,
                    size_t blen, int64_t head_dl, int *any_byte,
                    int *reusable) {
  int64_t whole = a->req->deadline;
  coro__http_stream *s = k->s;
  *any_byte = 0;
  *reusable = 0;
  ssize_t w = s->ops->write(s, head, hlen, dmin(head_dl, whole));
  if (w >= 0 && blen)
    w = s->ops->write(s, body, blen, dmin(head_dl, whole));
  if (w < 0)
    return (int)w;
  c->st.bytes_out += hlen + blen;
  for (;;) {
    int64_t dl = a->r.in_body ? whole : dmin(head_dl, whole);
    ssize_t n = s->ops->read(s, k->rbuf, CORO__HTTP_RBUF, dl);
    if (n < 0)
      return (int)n;
    if (n == 0) {
      int rc = coro_http_resp_eof(&a->r);
      return rc;
    }
    *any_byte = 1;
    c->st.bytes_in += (uint64_t)n;
    ssize_t used = coro_http_resp_feed(&a->r, k->rbuf, (size_t)n);
    if (used < 0)
      return (int)used;
    if (a->r.done) {
      /* Bytes past the response: the server sent what no request asked
       * for; the connection cannot be trusted with another. */
      *reusable = used == n && !a->r.close;
      return 0;
    }
  }
}

/* One request on a pooled connection, with the one retry. */
static int attempt_run(coro_http_client *c, const coro_url *u, const char *method,
                       const char *head, size_t hlen, const void *body,
                       size_t blen, attempt *a, coro_http_response *resp) {
  const coro_http_request *q = a->req;
  int fresh = 0;
  for (;;) {
    coro__http_conn *k;
    int reused;
    int64_t now = coro_now();
    int rc = coro__http_pool_get(c, u, fresh, !idempotent(method), q->deadline,
                                 now + c->o.connect_timeout, &k, &reused,
                                 resp->why);
    if (rc < 0)
      return rc;
    c->st.requests++;
    c->st.reuses += (uint64_t)reused;
    coro_http_resp_init(&a->r);
    a->r.head_request = !strcmp(method, "HEAD");
    a->r.head_max = c->o.head_max;
    a->r.body_max = c->o.body_max;
    a->r.on_body = on_body;
    a->r.on_field = on_field;
    a->r.arg = a;
    int any, reusable;
    rc = exchange(c, k, a, head, hlen, body, blen,
                  coro_now() + c->o.head_timeout, &any, &reusable);
    if (rc == -CORO_HTTP_ETLS) /* the thread's reason, before a yield */
      snprintf(resp->why, sizeof resp->why, "%s", coro__http_tls_why());
    coro__http_pool_put(c, k, rc == 0 && reusable);
    if (rc == 0) {
      resp->reused = reused;
      return 0;
    }
    int stale = reused && !any && !fresh && idempotent(method) &&
                (rc == -ECONNRESET || rc == -EPIPE || rc == -CORO_HTTP_ETRUNCATED);
    if (!stale)
      return rc;
    /* Nothing of the attempt reached the caller: no byte came. */
    attempt_free(a);
    a->req = q;
    c->st.retries++;
    resp->retried = 1;
    fresh = 1;
  }
}

/* Move the final attempt's head and body into resp. */
static int finish(attempt *a, const coro_url *u, coro_http_response *resp) {
  size_t ul = strlen(u->href) + 1;
  size_t total = ul + a->fields.n + (a->nfields + 1) * sizeof(coro_http_header);
  char *mem = coro__malloc(total);
  if (!mem)
    return -ENOMEM;
  coro_http_header *h = (coro_http_header *)mem;
  char *s = mem + (a->nfields + 1) * sizeof *h;
  if (a->fields.n)
    memcpy(s, a->fields.p, a->fields.n);
  const char *p = s;
  for (size_t i = 0; i < a->nfields; i++) {
    h[i].name = p;
    p += strlen(p) + 1;
    h[i].value = p;
    p += strlen(p) + 1;
  }
  h[a->nfields].name = h[a->nfields].value = NULL;
  char *url = s + a->fields.n;
  memcpy(url, u->href, ul);
  resp->mem_ = mem;
  resp->headers = h;
  resp->nheaders = a->nfields;
  resp->url = url;
  resp->status = a->r.status;
  resp->minor = a->r.minor;
  resp->body_bytes = a->r.body_bytes;
  if (!a->req->on_body && a->req->body_fd <= 0) {
    resp->body = a->body.p ? a->body.p : NULL;
    resp->body_len = a->body.n;
    if (!resp->body) {
      resp->body = coro__malloc(1);
      if (!resp->body) {
        free(mem);
        memset(resp, 0, sizeof *resp);
        return -ENOMEM;
      }
      resp->body[0] = '\0';
    }
    a->body.p = NULL;
  }
  return 0;
}

static int web_scheme(const coro_url *u) {
  return !strcmp(u->scheme, "http") || !strcmp(u->scheme, "https");
}

static int do_request(coro_http_client *c, const coro_http_request *req,
                      coro_http_response *resp) {
  int rc = coro__http_check_fields(req->headers, req->nheaders);
  if (rc < 0 || !req->url || req->max_redirects < 0)
    return -EINVAL;
  coro_url u;
  if ((rc = coro_url_parse(&u, req->url)) < 0)
    return rc;
  const char *method = req->method ? req->method : "GET";
  const void *body = req->body;
  size_t blen = req->body ? req->body_len : 0;
  int has_body = req->body != NULL || !strcmp(method, "POST") || !strcmp(method, "PUT");
  int drop_creds = 0;
  attempt a;
  memset(&a, 0, sizeof a);
  for (int hops = 0;; hops++) {
    if (!web_scheme(&u)) {
      rc = -CORO_HTTP_ESCHEME;
      break;
    }
    char *head;
    ssize_t hl = coro__http_request_head(c, method, &u, req->headers,
                                         req->nheaders, drop_creds, has_body,
                                         blen, &head);
    if (hl < 0) {
      rc = (int)hl;
      break;
    }
    a.req = req;
    rc = attempt_run(c, &u, method, head, (size_t)hl, body, blen, &a, resp);
    free(head);
    if (rc < 0)
      break;
    decide(&a);
    if (!a.follow) {
      resp->redirects = hops;
      rc = finish(&a, &u, resp);
      if (rc == 0)
        rc = a.r.status;
      break;
    }
    if (hops >= req->max_redirects) {
      rc = -CORO_HTTP_EREDIRECTS;
      break;
    }
    coro_url next;
    rc = coro_url_resolve(&next, &u, a.fields.p + a.loc - 1);
    if (rc < 0)
      break;
    c->st.redirects++;
    int status = a.r.status;
    /* RFC 9110 15.4: 303 makes anything but HEAD a GET; 301 and 302 turn
     * POST into GET as every browser does; 307 and 308 keep all. */
    if ((status == 303 && strcmp(method, "HEAD")) ||
        ((status == 301 || status == 302) && !strcmp(method, "POST"))) {
      method = "GET";
      body = NULL;
      blen = 0;
      has_body = 0;
    }
    if (strcmp(next.scheme, u.scheme) || strcmp(next.host, u.host) ||
        next.port != u.port)
      drop_creds = 1; /* for good: a later hop back is still tainted */
    coro_url_free(&u);
    u = next;
    attempt_free(&a);
  }
  attempt_free(&a);
  coro_url_free(&u);
  return rc;
}

int coro_http_do(coro_http_client *c, const coro_http_request *req,
                 coro_http_response *resp) {
  memset(resp, 0, sizeof *resp);
  if (!c || !req)
    return -EINVAL;
  if (coro_loop_current() != c->loop || !coro_self())
    return -EPERM;
  coro__http_pool_sweep(c, 0);
  c->inflight++;
  int rc = do_request(c, req, resp);
  c->inflight--;
  if (rc < 0) {
    char why[sizeof resp->why];
    memcpy(why, resp->why, sizeof why);
    coro_http_response_free(resp);
    memcpy(resp->why, why, sizeof why);
  } else {
    resp->why[0] = '\0';
  }
  return rc;
}

void coro_http_response_free(coro_http_response *resp) {
  if (!resp)
    return;
  free(resp->mem_);
  free(resp->body);
  memset(resp, 0, sizeof *resp);
}

const char *coro_http_response_header(const coro_http_response *resp,
                                      const char *name) {
  for (size_t i = 0; i < resp->nheaders; i++)
    if (!strcasecmp(resp->headers[i].name, name))
      return resp->headers[i].value;
  return NULL;
}
