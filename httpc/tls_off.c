//go:build !coro_openssl

/* tls_off.c - the TLS seam (stream.h) when the client is built without
 * OpenSSL (no build tag coro_openssl): https requests fail with
 * -CORO_HTTP_ENOTLS, whose message says how to build with TLS. */
#include "stream.h"

#include <stddef.h>

int coro__http_tls_new(coro__http_tls **out, const coro_http_tls_opts *opts) {
  (void)opts;
  *out = NULL;
  return -CORO_HTTP_ENOTLS;
}

void coro__http_tls_free(coro__http_tls *t) { (void)t; }

int coro__http_tls_connect(coro__http_tls *t, int fd, const char *host,
                           int64_t deadline, coro__http_stream **out) {
  (void)t, (void)fd, (void)host, (void)deadline;
  *out = NULL;
  return -CORO_HTTP_ENOTLS;
}

const char *coro__http_tls_why(void) { return ""; }
