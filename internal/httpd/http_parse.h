/* http_parse.h - an HTTP/1.x request-head parser that is a pure function
 * over a byte buffer: it allocates nothing, does no I/O and keeps no state
 * between calls, so it can be fuzzed on its own and re-run on a buffer that
 * has grown since the last call. The strings it returns point into the
 * caller's buffer.
 */
#ifndef HTTPD_HTTP_PARSE_H
#define HTTPD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* The request-line limit (414 beyond it) and the limit on the header
 * section that follows it (431 beyond it). */
#define HTTP_LINE_MAX (8u * 1024u)
#define HTTP_HEADERS_MAX (16u * 1024u)
/* The most bytes a complete request head can take. */
#define HTTP_HEAD_MAX (HTTP_LINE_MAX + HTTP_HEADERS_MAX)

enum http_method {
  HTTP_M_UNKNOWN = 0, /* a well-formed token that is no method we know: 501 */
  HTTP_M_GET,
  HTTP_M_HEAD,
  HTTP_M_OTHER, /* a standard method this server does not allow: 405 */
};

typedef struct http_str {
  const char *p;
  size_t n;
} http_str;

typedef struct http_request {
  int method;       /* enum http_method */
  int minor;        /* HTTP/1.minor: 0 or 1 */
  int keep_alive;   /* the connection may stay open after the response */
  int has_body;     /* Content-Length > 0 or Transfer-Encoding present */
  http_str method_name;
  http_str target;  /* the request-target as sent */
  http_str host;
  http_str if_modified_since;
  http_str if_none_match;
  http_str range;
  int has_if_range;
} http_request;

/* Parse one request head at the start of buf[0..len).
 * Returns the length of the head (through its blank line) when it is
 * complete, 0 when more bytes are needed, or the negated HTTP status to
 * answer with: -400 malformed, -414 request line over HTTP_LINE_MAX,
 * -431 header section over HTTP_HEADERS_MAX, -505 not HTTP/1.x. A complete
 * head longer than the limits is refused the same way, so the result never
 * depends on how the bytes were split into reads. */
int http_parse_request(const char *buf, size_t len, http_request *req);

/* Decode the path part of a request-target (up to '?' or '#') into out
 * (capacity cap, NUL-terminated). The target is in origin-form ("/path")
 * or absolute-form ("http://host/path", whose scheme and authority are
 * skipped; "http://host" names "/"). Returns the decoded length (the path
 * always starts with '/'), or -1 when it is malformed (neither form, an
 * empty authority or one with userinfo, a bad %-escape, a NUL, a
 * backslash, a control byte) or does not fit. */
int http_decode_path(http_str target, char *out, size_t cap);

/* Parse a Range header value against a resource of size bytes. Returns 1
 * with [*first, *last] set for one satisfiable byte range, 0 when the
 * header is to be ignored (bad syntax, several ranges, another unit), or
 * -1 when the range cannot be satisfied (416). */
int http_parse_range(http_str value, uint64_t size, uint64_t *first,
                     uint64_t *last);

/* 1 if the If-None-Match value matches etag (weak comparison, or "*"). */
int http_etag_match(http_str value, const char *etag);

#endif /* HTTPD_HTTP_PARSE_H */
