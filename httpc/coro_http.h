/* coro_http.h - the public C API of coro's HTTP/1.1 client (the Go
 * package github.com/ccoro/coro/httpc; its C files in httpc/).
 *
 * Conventions are the engine's (coro.h): 0 or a positive count on success,
 * a negative errno on failure, absolute CLOCK_MONOTONIC deadlines in ns
 * (-1 none). The calls that do I/O run in a coroutine of the loop that
 * made the client and block only that coroutine. A client belongs to its
 * loop: use it from that loop's coroutines only.
 *
 * Files: url.c (URLs, RFC 3986), resp.c (the one response parser, also
 * used by coro load), request.c (writes requests), pool.c (connections
 * per scheme/host/port), client.c (requests, redirects, retries),
 * stream.h (the transport seam: TCP, TLS), errors.c.
 */
#ifndef CORO_HTTP_H
#define CORO_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coro.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors of the client beside errno values (returned negated, above the
 * kernel's errno range and the resolver's 5001-5003). */
#define CORO_HTTP_EURL 5101       /* a URL that cannot be parsed or used */
#define CORO_HTTP_EFRAMING 5102   /* a malformed response (bad status
                                     line, conflicting lengths, bad chunk
                                     sizes, ...): the connection is dropped */
#define CORO_HTTP_EREDIRECTS 5103 /* more redirects than allowed */
#define CORO_HTTP_EHEADSIZE 5104  /* response head over the limit */
#define CORO_HTTP_EBODYSIZE 5105  /* response body over the limit */
#define CORO_HTTP_ENOTLS 5106     /* https without TLS built in */
#define CORO_HTTP_ETLS 5107       /* TLS handshake or verification failed */
#define CORO_HTTP_ETRUNCATED 5108 /* the server closed the connection
                                     before the response ended */
#define CORO_HTTP_ESCHEME 5109    /* a scheme other than http and https */

/* A message for any negative return of coro_ and coro_http_ calls (the
 * errno texts, the resolver's, these). Never NULL. */
const char *coro_http_strerror(int err);

/* ------------------------------------------------------------------ */
/* URLs (url.c)                                                       */
/* ------------------------------------------------------------------ */

/* A parsed, normalized absolute URL. Every string is NUL-terminated and
 * lives in one allocation owned by the URL (free it with coro_url_free).
 * Normalized as RFC 3986 section 6 says: scheme and host in lower case,
 * percent-encoding hex digits in upper case and unreserved characters
 * decoded, dot segments removed, a default port dropped, an empty path
 * of http(s) made "/". */
typedef struct coro_url {
  const char *href;     /* the whole normalized URL, fragment included */
  const char *scheme;   /* "http", "https", ... */
  const char *userinfo; /* "user:pass" or NULL */
  const char *host;     /* reg-name or IP; IPv6 without brackets */
  int port;             /* the port (the scheme's default if none given;
                           0 for an unknown scheme without one) */
  const char *path;     /* "/..." (may be "" for non-http schemes) */
  const char *query;    /* after '?', or NULL when there is no '?' */
  const char *fragment; /* after '#', or NULL */
  const char *target;   /* path?query: the request target */
  char *mem_;           /* private */
} coro_url;

/* Parse an absolute URL (scheme required). 0, -CORO_HTTP_EURL, -ENOMEM. */
int coro_url_parse(coro_url *u, const char *s);
/* Resolve the reference ref (absolute, scheme-relative "//h/p",
 * absolute-path, relative, query-only, fragment-only) against base as
 * RFC 3986 section 5.2 says, then normalize. 0, -CORO_HTTP_EURL, -ENOMEM. */
int coro_url_resolve(coro_url *out, const coro_url *base, const char *ref);
/* The same with a base given as a string. */
int coro_url_join(coro_url *out, const char *base, const char *ref);
void coro_url_free(coro_url *u);

/* ------------------------------------------------------------------ */
/* Responses (resp.c): an incremental parser doing no I/O             */
/* ------------------------------------------------------------------ */

enum coro_http_framing {
  CORO_HTTP_BODY_NONE = 0, /* no body (HEAD, 1xx, 204, 304, length 0) */
  CORO_HTTP_BODY_LENGTH,   /* Content-Length bytes */
  CORO_HTTP_BODY_CHUNKED,  /* chunked transfer coding */
  CORO_HTTP_BODY_CLOSE,    /* everything until the server closes */
};

/* Default limits of the parser. */
#define CORO_HTTP_HEAD_MAX_DEFAULT (64 * 1024)
#define CORO_HTTP_FIELDS_MAX 100
#define CORO_HTTP_CHUNK_LINE_MAX 1024
#define CORO_HTTP_INTERIM_MAX 16

typedef struct coro_http_resp coro_http_resp;
/* Called with each piece of the body, in order (chunk framing removed).
 * Nonzero stops the parse: feed returns that value (make it negative). */
typedef int (*coro_http_body_fn)(void *arg, const char *p, size_t n);
/* Called once per field of the final head (not of 1xx heads). Same rule. */
typedef int (*coro_http_field_fn)(void *arg, const char *name, size_t nn,
                                  const char *value, size_t vn);

struct coro_http_resp {
  /* Settings: set after coro_http_resp_init, before feeding. */
  int head_request;     /* the request was HEAD: no body whatever it says */
  size_t head_max;      /* head limit in bytes (default 64 KiB) */
  uint64_t body_max;    /* body limit in bytes, 0 = none */
  coro_http_body_fn on_body;   /* may be NULL: the body is skipped */
  coro_http_field_fn on_field; /* may be NULL */
  void *arg;
  /* Read-only, valid once the final head is in (in_body or done). */
  int status;       /* 100 to 599 */
  int minor;        /* HTTP/1.minor */
  int close;        /* the server closes the connection after this */
  int framing;      /* enum coro_http_framing */
  uint64_t length;  /* the Content-Length, for CORO_HTTP_BODY_LENGTH */
  uint64_t body_bytes; /* body bytes seen so far */
  size_t head_bytes;   /* bytes of heads so far (1xx included) */
  int in_body;      /* the final head is in */
  int done;         /* the whole response is in */
  const char *why;  /* after an error: what was wrong (static string) */
  /* Private. */
  int interim;
  char *hb;
  size_t hcap, have;
  uint64_t left;
  int cstate;
  size_t cline;
  int cdigits;
};

/* Make r ready for a response (frees nothing: call free afterwards). */
void coro_http_resp_init(coro_http_resp *r);
/* Ready for the next response on the connection, keeping the settings
 * and the head buffer. */
void coro_http_resp_reset(coro_http_resp *r);
void coro_http_resp_free(coro_http_resp *r);
/* Feed the next n bytes. Returns how many it took: all unless the
 * response ended before (r->done), or a negative error with r->why:
 * -CORO_HTTP_EFRAMING (malformed), -CORO_HTTP_EHEADSIZE,
 * -CORO_HTTP_EBODYSIZE, -EPROTO (101 Switching Protocols), -ENOMEM, or a
 * callback's own value. After an error or done, reset before feeding. */
ssize_t coro_http_resp_feed(coro_http_resp *r, const char *p, size_t n);
/* The connection ended (read returned 0): 0 if that ends the response
 * (close-delimited body), else -CORO_HTTP_ETRUNCATED with r->why. */
int coro_http_resp_eof(coro_http_resp *r);

/* ------------------------------------------------------------------ */
/* The client (client.c, pool.c, request.c)                           */
/* ------------------------------------------------------------------ */

typedef struct coro_http_tls_opts {
  const char *ca_file; /* PEM bundle to trust; NULL: the system store */
  int insecure;        /* 1: no verification (tests only) */
} coro_http_tls_opts;

typedef struct coro_http_client_opts {
  int max_conns_per_host;  /* connections per scheme/host/port; 0: 8 */
  int64_t idle_timeout;    /* ns an idle connection is kept; 0: 4 s (below
                              the 5 s keep-alive of Apache and others) */
  int64_t connect_timeout; /* ns per connect (resolve included); 0: 10 s */
  int64_t head_timeout;    /* ns from the request's send to the end of the
                              response head; 0: 30 s */
  size_t head_max;         /* 0: CORO_HTTP_HEAD_MAX_DEFAULT */
  uint64_t body_max;       /* 0: none */
  const char *user_agent;  /* NULL: "coro-http/0.1"; "" sends none */
  coro_http_tls_opts tls;
  coro_resolver *resolver; /* NULL: the loop's default */
} coro_http_client_opts;

typedef struct coro_http_client coro_http_client;

/* A client on the calling thread's loop. opts may be NULL. 0, -EINVAL,
 * -ENOMEM, -EPERM (no loop). */
int coro_http_client_new(coro_http_client **out,
                         const coro_http_client_opts *opts);
/* Close its idle connections and free it: -EBUSY while requests run. */
int coro_http_client_free(coro_http_client *c);

typedef struct coro_http_header {
  const char *name, *value;
} coro_http_header;

typedef struct coro_http_request {
  const char *method;     /* NULL: GET */
  const char *url;        /* absolute http or https URL */
  const coro_http_header *headers; /* extra fields (Host, Content-Length,
                              Transfer-Encoding, Connection are the
                              client's own and are refused: -EINVAL) */
  size_t nheaders;
  const void *body;       /* POST/PUT body (NULL: none) */
  size_t body_len;
  int max_redirects;      /* follow up to this many; 0: do not follow */
  int64_t deadline;       /* the whole request, absolute; -1: none */
  /* Where the final response's body goes: on_body if set; else to
   * body_fd if > 0 (written with coro_write_all; 0, standard input, is
   * never an output, so a zeroed request collects); else into the
   * response (resp->body). */
  coro_http_body_fn on_body;
  void *arg;
  int body_fd;
} coro_http_request;

/* The size of coro_http_response's why. */
#define CORO_HTTP_WHY_MAX 256

typedef struct coro_http_response {
  int status;
  int minor;
  char *url;                /* the final URL (after redirects) */
  coro_http_header *headers; /* the final head's fields, in order */
  size_t nheaders;
  char *body;               /* when collected (NUL-terminated) */
  size_t body_len;
  uint64_t body_bytes;      /* body bytes delivered */
  int redirects;            /* redirects followed */
  int reused;               /* the final request went on a reused
                               connection */
  int retried;              /* it was retried once */
  char why[CORO_HTTP_WHY_MAX]; /* after a failure, what more the client
                               knows of its cause, else "": for
                               -CORO_HTTP_ETLS, OpenSSL's reason ("TLS
                               handshake: certificate verify failed:
                               unable to get local issuer certificate") */
  char *mem_;               /* private */
  size_t memlen_, memcap_;
} coro_http_response;

/* Run a request. Returns the final status (> 0, any status is a
 * success here: 404 too) with *resp filled, or a negative error
 * (*resp then holds nothing to free but resp->why, which may say more;
 * coro_http_response_free is safe): -CORO_HTTP_EURL, -CORO_HTTP_ESCHEME, -CORO_HTTP_ENOTLS,
 * -CORO_HTTP_ETLS, -CORO_HTTP_EFRAMING, -CORO_HTTP_ETRUNCATED,
 * -CORO_HTTP_EHEADSIZE, -CORO_HTTP_EBODYSIZE, -CORO_HTTP_EREDIRECTS,
 * -ETIMEDOUT (a deadline: connect, head or whole), -ECANCELED, -EINVAL,
 * the resolver's errors, the socket's (-ECONNREFUSED, -ECONNRESET, ...),
 * -ENOMEM, -EPERM (outside a coroutine of the client's loop).
 * Redirects (301, 302, 303, 307, 308 with Location, when max_redirects >
 * 0): 303, and 301/302 after POST, become GET without a body (RFC 9110
 * 15.4); 307/308 repeat the method and body. Authorization, Cookie and
 * Proxy-Authorization and URL credentials are dropped when the host
 * (or scheme or port) changes. A request on a reused connection that
 * fails before any byte of the response is retried once on a new
 * connection if the method is idempotent (GET, HEAD, PUT, DELETE,
 * OPTIONS, TRACE), never otherwise. */
int coro_http_do(coro_http_client *c, const coro_http_request *req,
                 coro_http_response *resp);
void coro_http_response_free(coro_http_response *resp);
/* The first field named name (case-insensitive), or NULL. */
const char *coro_http_response_header(const coro_http_response *resp,
                                      const char *name);

typedef struct coro_http_stats {
  uint64_t requests;    /* requests sent (retries and redirects count) */
  uint64_t connects;    /* connections opened */
  uint64_t reuses;      /* requests on a reused connection */
  uint64_t retries;     /* idempotent requests retried */
  uint64_t redirects;   /* redirects followed */
  uint64_t evicted;     /* idle connections closed (timeout or closed by
                           the server) */
  uint64_t dropped;     /* connections dropped after an error or a
                           response not read to its end */
  uint64_t idle;        /* idle connections now */
  uint64_t active;      /* connections carrying a request now */
  uint64_t bytes_in, bytes_out;
} coro_http_stats;

int coro_http_client_stats(const coro_http_client *c, coro_http_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CORO_HTTP_H */
