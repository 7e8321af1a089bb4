/* http_resp.h - an incremental HTTP/1.1 response reader for the load
 * generator (load.c): the caller feeds it the bytes it reads, in pieces of
 * any size, and it says when a whole response (head and body) has arrived.
 *
 * It does no I/O and never blocks, so a coroutine may read into a buffer
 * that other coroutines share and feed it before it next suspends. It keeps
 * nothing of a body: bodies of any size pass through in the caller's
 * pieces. A head that arrives in one piece is parsed where it lies; only a
 * head split over several reads is gathered into a buffer of
 * ND_HTTP_HEAD_MAX bytes, allocated the first time that happens.
 *
 * What it accepts (RFC 9112, strictly, since a load generator should point
 * out a broken server rather than guess):
 *   - a status line "HTTP/1.x NNN reason" with a code from 100 to 599;
 *   - lines ended by CRLF (a bare CR or LF is an error), header fields
 *     "name: value" with no space before the colon and no line folding,
 *     at most ND_HTTP_FIELDS_MAX of them in at most ND_HTTP_HEAD_MAX bytes;
 *   - interim 1xx responses, skipped (101 is an error: a GET never asks to
 *     switch protocols);
 *   - bodies framed by Content-Length, by chunked transfer coding (chunk
 *     extensions and trailer fields are skipped), or by the end of the
 *     connection; none for 1xx, 204 and 304;
 *   - "Connection: close", and HTTP/1.0 without "Connection: keep-alive".
 * Both Content-Length and Transfer-Encoding, Content-Length values that
 * disagree, or chunked applied twice are errors (RFC 9112 6.3: they are how
 * responses get smuggled).
 */
#ifndef NETDEMO_HTTP_RESP_H
#define NETDEMO_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The most bytes a response head (status line and fields, with the blank
 * line) may take, and the most header fields it may have. */
#define ND_HTTP_HEAD_MAX (16 * 1024)
#define ND_HTTP_FIELDS_MAX 100
/* The most bytes a chunk-size line (with its extensions) and the trailer
 * section may take. */
#define ND_HTTP_CHUNK_LINE_MAX 1024
#define ND_HTTP_TRAILER_MAX ND_HTTP_HEAD_MAX
/* At most this many interim (1xx) responses before the final one. */
#define ND_HTTP_INTERIM_MAX 16

enum nd_http_framing {
  ND_BODY_NONE = 0, /* no body (1xx, 204, 304, or Content-Length: 0) */
  ND_BODY_LENGTH,   /* Content-Length bytes */
  ND_BODY_CHUNKED,  /* chunked transfer coding */
  ND_BODY_CLOSE,    /* everything until the server closes */
};

typedef struct nd_http_resp {
  /* Read-only, valid once the head of the final response is in. */
  int status;    /* 100 to 599 */
  int minor;     /* HTTP/1.minor */
  int close;     /* the server closes the connection after this response */
  int framing;   /* enum nd_http_framing */
  uint64_t length; /* the Content-Length, for ND_BODY_LENGTH */
  int done;      /* the whole response is in */
  const char *why; /* after an error: what was wrong (a static string) */
  /* Private. */
  int in_body;     /* 0: reading a head; 1: reading the body */
  int interim;     /* interim responses skipped so far */
  char *hb;        /* ND_HTTP_HEAD_MAX bytes for a head split over reads */
  size_t have;     /* bytes gathered in hb */
  uint64_t left;   /* body bytes still due (of the length or the chunk) */
  int cstate;      /* the chunked decoder's state */
  size_t cline;    /* bytes of the current chunk-size line or trailers */
  int cdigits;     /* hex digits of the current chunk size */
} nd_http_resp;

/* Get r ready for the next response. hb is kept for reuse. */
void nd_http_resp_reset(nd_http_resp *r);

/* Free what r holds (hb). */
void nd_http_resp_free(nd_http_resp *r);

/* Feed the next n bytes of the connection. Returns how many it took: all
 * of them unless the response ended before (r->done is set; the rest is
 * not part of it), or a negative errno with r->why saying what was wrong:
 * -EBADMSG a malformed response, -EMSGSIZE a head or chunk line over its
 * limit, -EPROTO a response this client does not take (101), -ENOMEM no
 * memory to gather a split head. Once it has
 * failed, or once r->done is set, r must be reset before it is fed again.
 */
ssize_t nd_http_feed(nd_http_resp *r, const char *p, size_t n);

/* The server closed the connection (a read returned 0). Returns 0 when that
 * ends the response (a body framed by the close: r->done is set), else
 * -ECONNRESET with r->why set. */
int nd_http_eof(nd_http_resp *r);

#endif /* NETDEMO_HTTP_RESP_H */
