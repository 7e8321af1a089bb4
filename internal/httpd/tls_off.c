//go:build !coro_openssl

/* tls_off.c - coro httpd without HTTPS (built without the tag
 * coro_openssl): httpd_tls_new says so, and nothing else is reached (no
 * configuration, no TLS connection). tls_on.c is the real one. */
#include "httpd.h"

#include <errno.h>

int httpd_tls_new(struct coro_tls_config **out, const char *cert,
                  const char *key, const char **why) {
  (void)cert, (void)key;
  *out = NULL;
  *why = "HTTPS not built in: build with -tags coro_openssl";
  return -ENOSYS;
}

void httpd_tls_free(struct coro_tls_config *cfg) { (void)cfg; }

int httpd_tls_accept(struct coro_tls **out, int fd, httpd_conf *conf,
                     int64_t deadline) {
  (void)fd, (void)conf, (void)deadline;
  *out = NULL;
  return -ENOSYS;
}

ssize_t httpd_tls_read(struct coro_tls *t, void *buf, size_t n,
                       int64_t deadline) {
  (void)t, (void)buf, (void)n, (void)deadline;
  return -ENOSYS;
}

ssize_t httpd_tls_write(struct coro_tls *t, const void *buf, size_t n,
                        int64_t deadline) {
  (void)t, (void)buf, (void)n, (void)deadline;
  return -ENOSYS;
}

int httpd_tls_pending(struct coro_tls *t) {
  (void)t;
  return 0;
}

int httpd_tls_shutdown(struct coro_tls *t, int64_t deadline) {
  (void)t, (void)deadline;
  return -ENOSYS;
}

void httpd_tls_close(struct coro_tls *t) { (void)t; }
