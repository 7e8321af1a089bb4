/* stream.h - the HTTP client's transport seam: a byte stream over a
 * connected socket, plain (stream_tcp.c) or TLS (tls_on.c with the build
 * tag coro_openssl, tls_off.c without it).
 *
 * The client (client.c, pool.c, request.c) never touches a socket: it
 * reads and writes through a stream's ops, so TLS is one more
 * implementation of this small table and nothing else changes.
 *
 * The ops, for every implementation (all run in a coroutine of the loop
 * that made the stream; deadlines are absolute CLOCK_MONOTONIC ns as in
 * coro.h: -1 none, 0 try once):
 *   read(s, buf, n, deadline)   -> bytes read (> 0), 0 at the peer's end
 *                                  of stream (for TLS: close_notify, or
 *                                  a bare TCP close, which the client
 *                                  treats the same), or a negative errno
 *                                  (-ETIMEDOUT, -ECANCELED, -ECONNRESET,
 *                                  ... ; TLS: -CORO_HTTP_ETLS). It may
 *                                  return fewer bytes than n.
 *   write(s, buf, n, deadline)  -> n (all of it was written) or a negative
 *                                  errno; some bytes may have gone out.
 *   idle_ok(s)                  -> 1 if an idle stream (no request in
 *                                  flight) may carry another request: the
 *                                  peer has not closed it and sent nothing
 *                                  unasked; 0 if not. Never blocks. TLS
 *                                  must not count post-handshake records
 *                                  (session tickets) as "sent unasked".
 *   close(s)                    -> closes the socket (coro_fd_close) and
 *                                  frees s. Never fails; for TLS it may
 *                                  send close_notify without waiting.
 *
 * The TLS contract (tls_off.c and tls_on.c define the same three
 * functions; the client calls them only for https URLs):
 *   coro__http_tls_new(&t, opts): the client's TLS context, made on its
 *       first https request: trust (opts->ca_file, else the system store),
 *       opts->insecure (no verification: tests only), and a cache of one
 *       session per host for resumption. tls_off.c returns
 *       -CORO_HTTP_ENOTLS ("TLS not built in: build with -tags
 *       coro_openssl"); tls_on.c returns 0, -ENOMEM, or -CORO_HTTP_ETLS
 *       (a CA file that cannot be loaded).
 *   coro__http_tls_free(t): frees it (t may be NULL).
 *   coro__http_tls_connect(t, fd, host, deadline, &s): runs the
 *       handshake on the connected, non-blocking socket fd (one the
 *       engine's socket calls made), waiting in the loop (a BIO over
 *       coro_read/coro_write, so only the coroutine blocks), with SNI =
 *       host (unless host is a numeric address), ALPN "http/1.1", TLS 1.2
 *       or 1.3, the chain verified and the name (or IP) checked against
 *       host. On success *s owns fd. On failure fd is NOT closed (the
 *       caller closes it) and the result is -CORO_HTTP_ETLS (handshake or
 *       verification failed; the reason goes to coro__http_tls_why),
 *       -ETIMEDOUT, -ECANCELED, -ECONNRESET, -ENOMEM.
 *   coro__http_tls_why(): the last TLS failure's text on this thread
 *       (a static or thread-local string, "" if none); tls_off.c: "".
 */
#ifndef CORO_HTTP_STREAM_H
#define CORO_HTTP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coro_http.h"

typedef struct coro__http_stream coro__http_stream;

typedef struct coro__http_stream_ops {
  ssize_t (*read)(coro__http_stream *s, void *buf, size_t n, int64_t deadline);
  ssize_t (*write)(coro__http_stream *s, const void *buf, size_t n,
                   int64_t deadline);
  int (*idle_ok)(coro__http_stream *s);
  void (*close)(coro__http_stream *s);
} coro__http_stream_ops;

/* Implementations embed this first (TLS adds its SSL behind it). */
struct coro__http_stream {
  const coro__http_stream_ops *ops;
  int fd; /* the socket, for the pool's bookkeeping and tests */
};

/* A plain TCP stream over fd (owned from now on, also on failure):
 * 0 or -ENOMEM. */
int coro__http_tcp_stream(int fd, coro__http_stream **out);

/* Whether the idle socket fd may carry another request: nothing to read
 * and not closed (a non-blocking MSG_PEEK). Shared by the implementations. */
int coro__http_fd_idle_ok(int fd);

/* The TLS seam (see above). */
typedef struct coro__http_tls coro__http_tls;
int coro__http_tls_new(coro__http_tls **out, const coro_http_tls_opts *opts);
void coro__http_tls_free(coro__http_tls *t);
int coro__http_tls_connect(coro__http_tls *t, int fd, const char *host,
                           int64_t deadline, coro__http_stream **out);
const char *coro__http_tls_why(void);

#endif /* CORO_HTTP_STREAM_H */
