//go:build coro_openssl

/* tls_on.c - the HTTP client's TLS streams (the seam of stream.h) on the
 * tls package (tls/coro_tls.h: OpenSSL through a BIO of the engine's
 * socket calls, so a handshake or a read waits only in its coroutine).
 * Built with the tag coro_openssl; tls_off.c stands in without it.
 *
 * Errors: the tls package's CORO_ETLS and CORO_ECERT become
 * -CORO_HTTP_ETLS (the client's one TLS code); which of them, and
 * OpenSSL's reason, stay in coro__http_tls_why (coro_tls_last_error). A
 * bare TCP close (CORO_ETLSEOF) reads as the end of the stream, as the
 * seam asks: the response's framing tells a truncation. */
#include "stream.h"

#include "coro.h"
#include "coro_internal.h"
#include "coro_tls.h"

#include <errno.h>
#include <stdlib.h>

struct coro__http_tls {
  coro_tls_config *cfg;
};

typedef struct tls_stream {
  coro__http_stream base; /* first: the client sees only this */
  coro_tls *t;
} tls_stream;

static ssize_t map(ssize_t rc) {
  if (rc == -CORO_ETLS || rc == -CORO_ECERT || rc == -CORO_ETLSEOF)
    return -CORO_HTTP_ETLS;
  return rc;
}

static ssize_t tls_read(coro__http_stream *s, void *buf, size_t n,
                        int64_t deadline) {
  ssize_t r = coro_tls_read(((tls_stream *)s)->t, buf, n, deadline);
  return r == -CORO_ETLSEOF ? 0 : map(r);
}

static ssize_t tls_write(coro__http_stream *s, const void *buf, size_t n,
                         int64_t deadline) {
  return map(coro_tls_write(((tls_stream *)s)->t, buf, n, deadline));
}

/* An idle TLS connection may have records waiting that are not data: TLS
 * 1.3 session tickets (sent after the handshake; a server may send more
 * later) and key updates. A read that never waits consumes them: it ends
 * in -ETIMEDOUT ("would block") when nothing else came. Data, the
 * peer's close_notify, a close or an error mean the connection is not
 * idle and open (the byte a read took is lost with it: it is dropped). */
static int tls_idle_ok(coro__http_stream *s) {
  tls_stream *ts = (tls_stream *)s;
  if (coro_tls_pending(ts->t))
    return 0;
  if (coro__http_fd_idle_ok(s->fd))
    return 1;
  char c;
  return coro_tls_read(ts->t, &c, 1, 0) == -ETIMEDOUT;
}

static void tls_close(coro__http_stream *s) {
  tls_stream *ts = (tls_stream *)s;
  coro_tls_shutdown(ts->t, 0); /* close_notify if it fits, never waiting */
  coro_tls_free(ts->t);
  coro_fd_close(s->fd);
  free(ts);
}

static const coro__http_stream_ops tls_ops = {tls_read, tls_write,
                                              tls_idle_ok, tls_close};

int coro__http_tls_new(coro__http_tls **out, const coro_http_tls_opts *opts) {
  *out = NULL;
  coro__http_tls *h = coro__malloc(sizeof *h);
  if (!h)
    return -ENOMEM;
  coro_tls_opts o = {.ca_file = opts ? opts->ca_file : NULL,
                     .insecure = opts ? opts->insecure : 0};
  int rc = coro_tls_client_new(&h->cfg, &o);
  if (rc < 0) {
    free(h);
    return (int)map(rc);
  }
  *out = h;
  return 0;
}

void coro__http_tls_free(coro__http_tls *t) {
  if (t) {
    coro_tls_config_free(t->cfg);
    free(t);
  }
}

int coro__http_tls_connect(coro__http_tls *h, int fd, const char *host,
                           int64_t deadline, coro__http_stream **out) {
  *out = NULL;
  coro_tls *t;
  int rc = coro_tls_connect(&t, fd, host, h->cfg, deadline);
  if (rc < 0)
    return (int)map(rc);
  tls_stream *s = coro__malloc(sizeof *s);
  if (!s) {
    coro_tls_free(t);
    return -ENOMEM;
  }
  s->base.ops = &tls_ops;
  s->base.fd = fd;
  s->t = t;
  *out = &s->base;
  return 0;
}

const char *coro__http_tls_why(void) { return coro_tls_last_error(); }
