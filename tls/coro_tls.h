/* coro_tls.h - TLS on the engine's sockets (tls/tls.c, OpenSSL): the public
 * header of package github.com/ccoro/coro/tls, built only with the build
 * tag coro_openssl (it links -lssl -lcrypto).
 *
 * A connection wraps a connected, non-blocking socket made by the engine's
 * socket calls (coro_connect, coro_accept). OpenSSL reads and writes it
 * through a BIO whose reads and writes are coro_read and coro_write with
 * the deadline of the call in progress, so a TLS call that waits for the
 * network parks only its coroutine. Loop thread only, inside a coroutine
 * (deadline 0 works outside one: it never waits). A connection is used by
 * one coroutine at a time. OpenSSL's handshake needs stack: give
 * coroutines that use TLS at least 64 KiB (the default is 256 KiB).
 *
 * Deadlines are absolute, in coro_now()'s clock: -1 none, 0 try once.
 * Errors are negative: an errno (-ETIMEDOUT, -ECANCELED, -ECONNRESET,
 * -EPIPE, -ENOMEM, -EINVAL) or one of the CORO_E* below, which sit above
 * the kernel's errno range and the resolver's (5001..5003). After a
 * failure a connection can only be freed, except that a read ended by
 * -ETIMEDOUT or -ECANCELED may be made again (a read with deadline 0 polls
 * for data). */
#ifndef CORO_TLS_H
#define CORO_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORO_ETLS 5201    /* the TLS protocol failed (alert, bad record, no
                             common version or cipher, bad key file) */
#define CORO_ECERT 5202   /* the peer's certificate failed verification
                             (unknown CA, wrong host name, expired) */
#define CORO_ETLSEOF 5203 /* the peer closed the connection without a
                             close_notify, in a handshake or a record */

/* The protocol versions (their wire values, as OpenSSL's). */
#define CORO_TLS_1_2 0x0303
#define CORO_TLS_1_3 0x0304

typedef struct coro_tls_config coro_tls_config;
typedef struct coro_tls coro_tls;

/* What a configuration is made of. Every field may be 0/NULL. */
typedef struct coro_tls_opts {
  /* Client: the CAs to trust, a PEM file; NULL: the system's store
   * (OpenSSL's default paths). Server: unused. */
  const char *ca_file;
  /* Server (required): its certificate chain (PEM, leaf first) and its
   * private key (PEM). Client: unused. */
  const char *cert_file;
  const char *key_file;
  /* The versions allowed: 0 for TLS 1.2 and 1.3 (nothing older is ever
   * allowed: -EINVAL), or CORO_TLS_1_2 / CORO_TLS_1_3. */
  int min_version;
  int max_version;
  /* Client: skip verification of the peer's certificate (curl's -k). */
  int insecure;
} coro_tls_opts;

/* A client configuration: peers are verified (chain against the CAs, and
 * the host name given to coro_tls_connect against the certificate's
 * names), SNI is sent, ALPN offers http/1.1, and each host's last session
 * is kept (the 64 hosts most recently used) for resumption. 0, or
 * -CORO_ETLS when a file cannot be read (coro_tls_last_error says why),
 * -EINVAL, -ENOMEM. Shareable by the loops of several threads. */
int coro_tls_client_new(coro_tls_config **out, const coro_tls_opts *opts);

/* A server configuration: the certificate chain and key (checked to
 * match), ALPN http/1.1 chosen when the client offers it, session
 * resumption by tickets (TLS 1.3 and 1.2) and session ids (1.2). 0, or
 * -CORO_ETLS (a file that cannot be read, a key that does not match),
 * -EINVAL, -ENOMEM. Shareable by the loops of several threads. */
int coro_tls_server_new(coro_tls_config **out, const coro_tls_opts *opts);

/* Drops the caller's reference: the configuration goes when its last
 * connection is freed. NULL is ignored. */
void coro_tls_config_free(coro_tls_config *cfg);

/* The handshake as a client on the connected socket fd, for host (a name,
 * or a numeric IPv4/IPv6 address, then matched against the certificate's
 * IP addresses and sent without SNI). 0 with *out set, or: -CORO_ECERT,
 * -CORO_ETLS, -CORO_ETLSEOF, -ETIMEDOUT, -ECANCELED, -ECONNRESET, -EINVAL,
 * -ENOMEM; *out is then NULL. fd stays the caller's (close it with
 * coro_fd_close after coro_tls_free). */
int coro_tls_connect(coro_tls **out, int fd, const char *host,
                     coro_tls_config *cfg, int64_t deadline);

/* The handshake as a server on the accepted socket fd. As connect. */
int coro_tls_accept(coro_tls **out, int fd, coro_tls_config *cfg,
                    int64_t deadline);

/* Up to n bytes of application data: > 0, 0 at the peer's close_notify
 * (a clean end), or a negative error (-CORO_ETLSEOF: the connection
 * ended without one, a truncation). */
ssize_t coro_tls_read(coro_tls *t, void *buf, size_t n,
                      int64_t deadline);

/* Writes all n bytes: n, or a negative error. */
ssize_t coro_tls_write(coro_tls *t, const void *buf, size_t n,
                       int64_t deadline);

/* Whether bytes are buffered that a read would return without waiting
 * for the socket: check it before waiting for the fd to be readable. */
int coro_tls_pending(const coro_tls *t);

/* Sends close_notify (without waiting for the peer's). 0, or a negative
 * error; nothing is sent after a failure of the connection. */
int coro_tls_shutdown(coro_tls *t, int64_t deadline);

/* Frees the connection (not its fd). NULL is ignored. */
void coro_tls_free(coro_tls *t);

/* About an established connection. */
int coro_tls_fd(const coro_tls *t);
int coro_tls_session_reused(const coro_tls *t); /* 1 if resumed, else 0 */
const char *coro_tls_version(const coro_tls *t); /* "TLSv1.3" */
const char *coro_tls_alpn(const coro_tls *t); /* "http/1.1", or "" */

/* Sessions a client configuration holds now (at most 64). */
int coro_tls_cached_sessions(coro_tls_config *cfg);

/* Why the last failure of a coro_tls call on this thread happened, with
 * OpenSSL's reason ("certificate verify failed: unable to get local
 * issuer certificate"): read it before the coroutine switches. "" when
 * none. */
const char *coro_tls_last_error(void);

/* A message for any negative return (the CORO_E* above, then
 * coro_strerror's). Never NULL. */
const char *coro_tls_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* CORO_TLS_H */
