//go:build coro_openssl

/* tls_on.c - coro httpd's HTTPS (built with the tag coro_openssl): the
 * httpd_tls_* calls of httpd.h on the tls package (tls/coro_tls.h): TLS
 * 1.2 and 1.3, ALPN http/1.1, session resumption by tickets (and TLS 1.2
 * session ids), the handshake in the connection's own coroutine. */
#include "httpd.h"

#include "coro_tls.h"

int httpd_tls_new(struct coro_tls_config **out, const char *cert,
                  const char *key, const char **why) {
  coro_tls_opts o = {.cert_file = cert, .key_file = key};
  int rc = coro_tls_server_new(out, &o);
  *why = rc < 0 ? coro_tls_last_error() : "";
  if (rc < 0 && !**why)
    *why = coro_tls_strerror(rc);
  return rc;
}

void httpd_tls_free(struct coro_tls_config *cfg) { coro_tls_config_free(cfg); }

int httpd_tls_accept(struct coro_tls **out, int fd, httpd_conf *conf,
                     int64_t deadline) {
  int rc = coro_tls_accept(out, fd, conf->tls, deadline);
  if (rc == 0) {
    __atomic_fetch_add(&conf->tls_handshakes, 1, __ATOMIC_RELAXED);
    if (coro_tls_session_reused(*out))
      __atomic_fetch_add(&conf->tls_resumed, 1, __ATOMIC_RELAXED);
  }
  return rc;
}

ssize_t httpd_tls_read(struct coro_tls *t, void *buf, size_t n,
                       int64_t deadline) {
  return coro_tls_read(t, buf, n, deadline);
}

ssize_t httpd_tls_write(struct coro_tls *t, const void *buf, size_t n,
                        int64_t deadline) {
  return coro_tls_write(t, buf, n, deadline);
}

int httpd_tls_pending(struct coro_tls *t) { return coro_tls_pending(t); }

int httpd_tls_shutdown(struct coro_tls *t, int64_t deadline) {
  return coro_tls_shutdown(t, deadline);
}

void httpd_tls_close(struct coro_tls *t) { coro_tls_free(t); }
