//go:build coro_openssl

/* tls.c - TLS connections on the engine's sockets with OpenSSL (contract in
 * coro_tls.h).
 *
 * The socket is OpenSSL's through a BIO of our own whose read and write
 * are coro_read and coro_write with the deadline of the TLS call in
 * progress (t->deadline): to OpenSSL it is a blocking BIO, so SSL_read and
 * SSL_do_handshake run to their end in one call, while the coroutine under
 * them is parked in the loop whenever the socket is not ready. An error of
 * the socket is kept in t->err for the TLS call to return; a timeout or a
 * cancel is reported to OpenSSL as "retry" (WANT_READ/WANT_WRITE), which
 * leaves the connection's state as it was, so that the call can be made
 * again. read_ahead lets one coro_read take several records (a record's
 * header and body otherwise cost a read each).
 *
 * A client configuration keeps the last session of each of 64 hosts (the
 * least recently used goes) under a mutex: configurations are shared by
 * the loops of several threads. The mutex is never held across a switch.
 *
 * OpenSSL's error queue is per thread and every coroutine of a loop shares
 * it: each call clears it before it starts OpenSSL work, and a failure
 * turns it into the thread's last-error string at once, before any
 * switch, then clears it.
 */
#include "coro_tls.h"
#include "coro.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define CACHE_MAX 64

/* The ALPN protocol list, in wire format. */
static const unsigned char alpn_h1[] = "\x08http/1.1";

typedef struct cache_entry {
  char *host;         /* malloc'd; NULL for a free slot */
  SSL_SESSION *sess;  /* one reference, ours */
  uint64_t used;      /* the cache clock when last stored or taken */
} cache_entry;

struct coro_tls_config {
  SSL_CTX *ctx;
  int server;
  int refs; /* the user's and one per connection; atomic */
  pthread_mutex_t mu; /* guards the cache */
  uint64_t clock;
  cache_entry cache[CACHE_MAX];
};

struct coro_tls {
  SSL *ssl;
  coro_tls_config *cfg;
  int fd;
  int64_t deadline; /* of the TLS call in progress, for the BIO */
  int err;          /* errno the BIO met in this call, or 0 */
  int eof;          /* the BIO read end of file */
  int failed;       /* a fatal error happened: no close_notify */
  char *host;       /* client: the session cache's key, else NULL */
  /* A write of several records gathers them here and sends them with one
   * system call (see coro_tls_write); NULL otherwise. */
  char *wbuf;
  size_t wlen;
};

/* The records of one coro_tls_write of up to 64 KiB fit (each adds a
 * header, a tag and a type byte to its 16 KiB). */
#define WBUF_CAP (64u * 1024u + 4u * 64u)

static _Thread_local char last_error[256];

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
}

/* Appends OpenSSL's queued reasons to the last error and clears the queue. */
static void add_ssl_errors(void) {
  size_t n = strlen(last_error);
  unsigned long e;
  while ((e = ERR_get_error()) != 0 && n + 3 < sizeof last_error) {
    const char *r = ERR_reason_error_string(e);
    char buf[128];
    if (!r) {
      ERR_error_string_n(e, buf, sizeof buf);
      r = buf;
    }
    n += (size_t)snprintf(last_error + n, sizeof last_error - n, "%s%s",
                          n ? ": " : "", r);
    if (n >= sizeof last_error)
      n = sizeof last_error - 1;
  }
  ERR_clear_error();
}

const char *coro_tls_last_error(void) { return last_error; }

const char *coro_tls_strerror(int err) {
  switch (-err) {
  case CORO_ETLS: return "TLS error";
  case CORO_ECERT: return "certificate verification failed";
  case CORO_ETLSEOF: return "TLS connection closed without close_notify";
  }
  return coro_strerror(err);
}

/* ---- The BIO ---------------------------------------------------------- */

static int bio_read(BIO *b, char *buf, size_t n, size_t *got) {
  coro_tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  *got = 0;
  ssize_t r = coro_read(t->fd, buf, n, t->deadline);
  if (r > 0) {
    *got = (size_t)r;
    return 1;
  }
  if (r == 0) {
    t->eof = 1;
    return 0;
  }
  t->err = (int)-r;
  if (r == -ETIMEDOUT || r == -ECANCELED)
    BIO_set_retry_read(b);
  return 0;
}

/* Sends the gathered records: 0, or -errno (kept in t->err). */
static int wflush(coro_tls *t) {
  ssize_t w = t->wlen ? coro_write_all(t->fd, t->wbuf, t->wlen, t->deadline)
                      : 0;
  t->wlen = 0;
  if (w < 0)
    t->err = (int)-w;
  return w < 0 ? (int)w : 0;
}

static int bio_write(BIO *b, const char *buf, size_t n, size_t *put) {
  coro_tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  *put = 0;
  if (t->wbuf) {
    /* Gathering: a failure is final (no retry: OpenSSL counts what was
     * gathered as sent). */
    if (t->wlen + n > WBUF_CAP && wflush(t) < 0)
      return 0;
    if (n <= WBUF_CAP) {
      memcpy(t->wbuf + t->wlen, buf, n);
      t->wlen += n;
      *put = n;
      return 1;
    }
  }
  ssize_t w = coro_write(t->fd, buf, n, t->deadline);
  if (w >= 0) {
    *put = (size_t)w;
    return 1;
  }
  t->err = (int)-w;
  if (w == -ETIMEDOUT || w == -ECANCELED)
    BIO_set_retry_write(b);
  return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  coro_tls *t = BIO_get_data(b);
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1; /* writes are never buffered here */
  case BIO_CTRL_EOF:
    return t && t->eof;
  }
  return 0;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                               "coro socket");
  if (m && BIO_meth_set_read_ex(m, bio_read) &&
      BIO_meth_set_write_ex(m, bio_write) && BIO_meth_set_ctrl(m, bio_ctrl))
    bio_method = m;
  else
    BIO_meth_free(m);
}

/* ---- Configurations --------------------------------------------------- */

static int versions(SSL_CTX *ctx, const coro_tls_opts *o) {
  int lo = o && o->min_version ? o->min_version : CORO_TLS_1_2;
  int hi = o && o->max_version ? o->max_version : CORO_TLS_1_3;
  if (lo < CORO_TLS_1_2 || hi > CORO_TLS_1_3 || lo > hi)
    return -EINVAL;
  if (!SSL_CTX_set_min_proto_version(ctx, lo) ||
      !SSL_CTX_set_max_proto_version(ctx, hi))
    return -EINVAL;
  return 0;
}

static int config_new(coro_tls_config **out, const coro_tls_opts *o,
                      int server) {
  *out = NULL;
  ERR_clear_error();
  last_error[0] = '\0';
  pthread_once(&bio_once, bio_init);
  if (!bio_method)
    return -ENOMEM;
  coro_tls_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg)
    return -ENOMEM;
  cfg->server = server;
  cfg->refs = 1;
  cfg->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!cfg->ctx || pthread_mutex_init(&cfg->mu, NULL) != 0) {
    SSL_CTX_free(cfg->ctx);
    free(cfg);
    ERR_clear_error();
    return -ENOMEM;
  }
  SSL_CTX *ctx = cfg->ctx;
  int rc = versions(ctx, o);
  /* Idle connections (keep-alive) hold no record buffers. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  *out = cfg;
  return rc;
}

static int file_error(const char *what, const char *path) {
  set_error("%s %s", what, path);
  add_ssl_errors();
  return -CORO_ETLS;
}

static int new_session(SSL *ssl, SSL_SESSION *sess);

int coro_tls_client_new(coro_tls_config **out, const coro_tls_opts *opts) {
  if (!out)
    return -EINVAL;
  int rc = config_new(out, opts, 0);
  if (rc < 0)
    goto fail;
  SSL_CTX *ctx = (*out)->ctx;
  if (opts && opts->ca_file) {
    if (!SSL_CTX_load_verify_locations(ctx, opts->ca_file, NULL)) {
      rc = file_error("reading the CA file", opts->ca_file);
      goto fail;
    }
  } else if (!SSL_CTX_set_default_verify_paths(ctx)) {
    rc = file_error("loading the system's CA store", "");
    goto fail;
  }
  SSL_CTX_set_verify(ctx, opts && opts->insecure ? SSL_VERIFY_NONE
                                                  : SSL_VERIFY_PEER,
                     NULL);
  if (SSL_CTX_set_alpn_protos(ctx, alpn_h1, sizeof alpn_h1 - 1) != 0) {
    rc = -ENOMEM;
    goto fail;
  }
  /* Sessions go to our cache by host (new_session), not OpenSSL's. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                          SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, new_session);
  return 0;
fail:
  coro_tls_config_free(*out);
  *out = NULL;
  return rc;
}

static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, alpn_h1, sizeof alpn_h1 - 1, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* h2 only, say: no ALPN, as nginx does */
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

int coro_tls_server_new(coro_tls_config **out, const coro_tls_opts *opts) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (!opts || !opts->cert_file || !opts->key_file)
    return -EINVAL;
  int rc = config_new(out, opts, 1);
  if (rc < 0)
    goto fail;
  SSL_CTX *ctx = (*out)->ctx;
  if (SSL_CTX_use_certificate_chain_file(ctx, opts->cert_file) != 1) {
    rc = file_error("reading the certificate chain", opts->cert_file);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, opts->key_file, SSL_FILETYPE_PEM) != 1) {
    rc = file_error("reading the private key", opts->key_file);
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    rc = file_error("the key does not match the certificate", opts->key_file);
    goto fail;
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  /* Resumption: tickets (stateless, keys made per configuration), and
   * TLS 1.2 session ids in OpenSSL's server cache. */
  static const unsigned char sid_ctx[] = "coro-httpd";
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  return 0;
fail:
  coro_tls_config_free(*out);
  *out = NULL;
  return rc;
}

static void config_release(coro_tls_config *cfg) {
  if (__atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  for (int i = 0; i < CACHE_MAX; i++) {
    free(cfg->cache[i].host);
    SSL_SESSION_free(cfg->cache[i].sess);
  }
  pthread_mutex_destroy(&cfg->mu);
  SSL_CTX_free(cfg->ctx);
  free(cfg);
}

void coro_tls_config_free(coro_tls_config *cfg) {
  if (cfg)
    config_release(cfg);
}

/* ---- The client's session cache --------------------------------------- */

/* OpenSSL's callback for a new session (at the end of a TLS 1.2
 * handshake, at each ticket of TLS 1.3): kept as the host's. Returns 1:
 * the reference is ours. */
static int new_session(SSL *ssl, SSL_SESSION *sess) {
  coro_tls *t = SSL_get_app_data(ssl);
  if (!t || !t->host || !SSL_SESSION_is_resumable(sess))
    return 0;

  coro_tls_config *cfg = t->cfg;
  char *host = strdup(t->host);
  if (!host)
    return 0;
  pthread_mutex_lock(&cfg->mu);
  cache_entry *slot = NULL, *oldest = &cfg->cache[0];
  for (int i = 0; i < CACHE_MAX; i++) {
    cache_entry *e = &cfg->cache[i];
    if (e->host && strcmp(e->host, host) == 0) {
      slot = e;
      break;
    }
    if (!e->host || (oldest->host && e->used < oldest->used))
      oldest = e;
  }
  if (!slot)
    slot = oldest;
  free(slot->host);
  SSL_SESSION *old = slot->sess;
  slot->host = host;
  slot->sess = sess;
  slot->used = ++cfg->clock;
  pthread_mutex_unlock(&cfg->mu);
  SSL_SESSION_free(old);
  return 1;
}

/* The host's session, with a reference for the caller, or NULL. */
static SSL_SESSION *cached_session(coro_tls_config *cfg, const char *host) {
  SSL_SESSION *s = NULL;
  pthread_mutex_lock(&cfg->mu);
  for (int i = 0; i < CACHE_MAX; i++) {
    cache_entry *e = &cfg->cache[i];
    if (e->host && strcmp(e->host, host) == 0) {
      /* A copy: a TLS 1.2 handshake that resumes a session and gets a
       * new ticket writes it into the session it resumed, so a shared one
       * would change under other connections (with the cached one shared,
       * every second connection to Go's server made a full handshake). */
      s = SSL_SESSION_dup(e->sess);
      e->used = ++cfg->clock;
      break;
    }
  }
  pthread_mutex_unlock(&cfg->mu);
  return s;
}

int coro_tls_cached_sessions(coro_tls_config *cfg) {
  int n = 0;
  pthread_mutex_lock(&cfg->mu);
  for (int i = 0; i < CACHE_MAX; i++)
    n += cfg->cache[i].host != NULL;
  pthread_mutex_unlock(&cfg->mu);
  return n;
}

/* ---- Connections ------------------------------------------------------ */

/* Turns the failure of an SSL call (ret <= 0) into our error, with the
 * reason in the thread's last error. */
static int failure(coro_tls *t, int ret, const char *what) {
  int e = SSL_get_error(t->ssl, ret);
  int rc;
  if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && t->err) {
    /* A timeout or a cancel in the BIO: the state is kept. */
    set_error("%s: %s", what, strerror(t->err));
    ERR_clear_error();
    return -t->err;
  }
  t->failed = 1;
  unsigned long le = ERR_peek_last_error();
  long vr = SSL_get_verify_result(t->ssl);
  if (t->err) {
    rc = -t->err;
    set_error("%s: %s", what, strerror(t->err));
  } else if (e == SSL_ERROR_SSL && ERR_GET_LIB(le) == ERR_LIB_SSL &&
             ERR_GET_REASON(le) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    rc = -CORO_ECERT;
    set_error("%s: certificate verify failed: %s", what,
              X509_verify_cert_error_string(vr));
  } else if ((e == SSL_ERROR_SSL && ERR_GET_LIB(le) == ERR_LIB_SSL &&
              ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
             (e == SSL_ERROR_SYSCALL && le == 0) || e == SSL_ERROR_ZERO_RETURN) {
    rc = -CORO_ETLSEOF;
    set_error("%s: the peer closed the connection%s", what,
              e == SSL_ERROR_ZERO_RETURN ? "" : " without close_notify");
  } else {
    rc = -CORO_ETLS;
    set_error("%s", what);
    add_ssl_errors();
  }
  ERR_clear_error();
  return rc;
}

static int is_ip(const char *host) {
  unsigned char a[16];
  return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

static int conn_new(coro_tls **out, int fd, coro_tls_config *cfg) {
  *out = NULL;
  ERR_clear_error();
  last_error[0] = '\0';
  coro_tls *t = calloc(1, sizeof *t);
  if (!t)
    return -ENOMEM;
  t->fd = fd;
  t->cfg = cfg;
  t->ssl = SSL_new(cfg->ctx);
  BIO *bio = t->ssl ? BIO_new(bio_method) : NULL;
  if (!bio) {
    SSL_free(t->ssl);
    free(t);
    ERR_clear_error();
    return -ENOMEM;
  }
  __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
  BIO_set_data(bio, t);
  BIO_set_init(bio, 1);
  SSL_set_bio(t->ssl, bio, bio);
  SSL_set_app_data(t->ssl, t);
  SSL_set_read_ahead(t->ssl, 1);
  *out = t;
  return 0;
}

/* Runs the handshake to its end: 0 or a negative error. */
static int handshake(coro_tls *t, int64_t deadline, const char *what) {
  t->deadline = deadline;
  t->err = 0;
  int r = SSL_do_handshake(t->ssl);
  if (r == 1)
    return 0;
  int rc = failure(t, r, what);
  /* A handshake interrupted by a timeout is not resumed: its peer would
   * not wait either. */
  t->failed = 1;
  return rc;
}

int coro_tls_connect(coro_tls **out, int fd, const char *host,
                     coro_tls_config *cfg, int64_t deadline) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (fd < 0 || !host || !*host || !cfg || cfg->server)
    return -EINVAL;
  coro_tls *t;
  int rc = conn_new(&t, fd, cfg);
  if (rc < 0)
    return rc;
  if (!(t->host = strdup(host))) {
    coro_tls_free(t);
    return -ENOMEM;
  }
  SSL_set_connect_state(t->ssl);
  SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int ok;
  if (is_ip(host)) {
    /* No SNI for an address (RFC 6066 3); match the certificate's IPs. */
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host);
  } else {
    ok = SSL_set_tlsext_host_name(t->ssl, host) &&
         X509_VERIFY_PARAM_set1_host(SSL_get0_param(t->ssl), host, 0);
  }
  if (!ok) {
    set_error("bad host name %s", host);
    ERR_clear_error();
    coro_tls_free(t);
    return -EINVAL;
  }
  SSL_SESSION *s = cached_session(cfg, host);
  if (s) {
    SSL_set_session(t->ssl, s);
    SSL_SESSION_free(s);
  }
  if ((rc = handshake(t, deadline, "TLS handshake")) < 0) {
    coro_tls_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int coro_tls_accept(coro_tls **out, int fd, coro_tls_config *cfg,
                    int64_t deadline) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (fd < 0 || !cfg || !cfg->server)
    return -EINVAL;
  coro_tls *t;
  int rc = conn_new(&t, fd, cfg);
  if (rc < 0)
    return rc;
  SSL_set_accept_state(t->ssl);
  if ((rc = handshake(t, deadline, "TLS handshake")) < 0) {
    coro_tls_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

/* The start of a read, write or shutdown: 1 to go on, else what the call
 * returns (an error; 0 for nothing to move). */
static int begin(coro_tls *t, const void *buf, size_t n, int64_t deadline) {
  if (!t || (!buf && n))
    return -EINVAL;
  if (t->failed)
    return -EPIPE;
  ERR_clear_error();
  t->deadline = deadline;
  t->err = 0;
  return 1;
}

ssize_t coro_tls_read(coro_tls *t, void *buf, size_t n, int64_t deadline) {
  int rc = begin(t, buf, n, deadline);
  if (rc <= 0 || n == 0)
    return rc <= 0 ? rc : 0;
  size_t got;
  int r = SSL_read_ex(t->ssl, buf, n, &got);
  if (r == 1)
    return (ssize_t)got;
  if (SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN)
    return 0; /* close_notify: a clean end */
  return failure(t, r, "TLS read");
}

ssize_t coro_tls_write(coro_tls *t, const void *buf, size_t n,
                       int64_t deadline) {
  int rc = begin(t, buf, n, deadline);
  if (rc <= 0 || n == 0)
    return rc <= 0 ? rc : 0;
  /* More than a record: the records are gathered and leave in one
   * system call (a 64 KiB write is 4 records), not one each; the buffer
   * lives for this call only, so idle connections hold none. */
  if (n > 16384 && !(t->wbuf = malloc(WBUF_CAP)))
    return -ENOMEM;
  size_t put;
  /* The BIO blocks (in the loop), so SSL_write_ex takes all n bytes. */
  int r = SSL_write_ex(t->ssl, buf, n, &put);
  if (r == 1 && t->wbuf && wflush(t) < 0)
    r = 0;
  free(t->wbuf);
  t->wbuf = NULL;
  t->wlen = 0;
  if (r == 1)
    return (ssize_t)put;
  rc = failure(t, r, "TLS write");
  /* A write cut short (also by a timeout) left a record partly sent, or
   * gathered ones unsent: the stream cannot go on. */
  t->failed = 1;
  return rc;
}

int coro_tls_pending(const coro_tls *t) {
  return t && SSL_has_pending(t->ssl);
}

int coro_tls_shutdown(coro_tls *t, int64_t deadline) {
  int rc = begin(t, "", 0, deadline);
  if (rc <= 0)
    return rc;
  int r = SSL_shutdown(t->ssl);
  if (r >= 0)
    return 0; /* sent; the peer's close_notify is not awaited */
  return failure(t, r, "TLS shutdown");
}

void coro_tls_free(coro_tls *t) {
  if (!t)
    return;
  SSL_free(t->ssl); /* and the BIO */
  config_release(t->cfg);
  free(t->host);
  free(t);
}

int coro_tls_fd(const coro_tls *t) { return t->fd; }

int coro_tls_session_reused(const coro_tls *t) {
  return SSL_session_reused(t->ssl) == 1;
}

const char *coro_tls_version(const coro_tls *t) {
  return SSL_get_version(t->ssl);
}

const char *coro_tls_alpn(const coro_tls *t) {
  const unsigned char *p;
  unsigned int n;
  SSL_get0_alpn_selected(t->ssl, &p, &n);
  if (n == 8 && memcmp(p, "http/1.1", 8) == 0)
    return "http/1.1";
  return "";
}
