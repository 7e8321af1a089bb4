/* http_parse.h - an HTTP/1.x request-head parser over a byte buffer: it
 * allocates nothing and does no I/O, so it can be fuzzed on its own. It
 * parses a head as its bytes arrive, keeping its place in a record the
 * caller holds, so that no byte is parsed twice. The strings it returns
 * point into the caller's buffer.
 */
#ifndef HTTPD_HTTP_PARSE_H
#define HTTPD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
  /* The header section: every field line, each with its line end, without
   * the blank line. The list fields below may come in several lines, which
   * together make one list (RFC 9110 5.3): http_etag_list_match reads them
   * all from here. */
  http_str fields;
  /* The first If-Match and If-None-Match lines' values: present when p is
   * set. */
  http_str if_match;
  http_str if_none_match;
  /* Fields that hold one value. When one comes in several lines their
   * combined value is invalid (two dates, two ranges), so the parser
   * reports it present and empty (p at the last line's value, n = 0),
   * which no date, range or validator matches. */
  http_str if_modified_since;
  http_str if_unmodified_since;
  http_str if_range;
  http_str range;
} http_request;

/* Where the parse of a head being received stands: the lines before pos
 * are parsed, and the search for the end of the next one resumes at scan.
 * Read-only for the caller. */
typedef struct http_parser {
  size_t pos;      /* where the first line not yet parsed starts */
  size_t scan;     /* where the search for that line's end resumes */
  size_t hstart;   /* where the header section starts; 0 before it */
  int close, keep; /* the Connection tokens seen */
  /* Bytes examined (searched for a line's end, or parsed as a line): at
   * most twice the head's length, however it was split. For tests. */
  size_t work;
} http_parser;

/* Start parsing a new head: clears p and req. */
void http_parser_init(http_parser *p, http_request *req);

/* Parse what has arrived of a head: buf[0..len) is every byte of it
 * received so far, the bytes of the last call at the same address and
 * unchanged, followed by any new ones. Returns what http_parse_request
 * does for buf[0..len); once the result is not 0, call http_parser_init
 * before the next head. */
int http_parser_feed(http_parser *p, const char *buf, size_t len,
                     http_request *req);

/* Parse one request head at the start of buf[0..len), all at once.
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

/* One byte range of a resource, its first and last byte: inclusive. */
typedef struct http_range {
  uint64_t first, last;
} http_range;

/* The most ranges a server may accept in one Range header. */
#define HTTP_RANGES_MAX 100

/* Parses a Range header value (RFC 9110 14.1 and 14.2) against a resource
 * of size bytes into out[0..cap), in the order requested. Returns the
 * number of satisfiable ranges (1 or more; unsatisfiable ones among them
 * are dropped), 0 when the header is to be ignored and the whole resource
 * sent, or -1 when no range is satisfiable (416). Ignored: bad syntax,
 * another unit, an invalid range-spec, more than cap range-specs, ranges
 * that add up to more bytes than the resource (overlaps), and a
 * satisfiable suffix-range on an empty resource, which has no byte to
 * send in a 206. Ranges are not coalesced. */
int http_parse_ranges(http_str value, uint64_t size, http_range *out, int cap);

/* 1 if a member of the entity-tag list value matches etag, or is "*".
 * With strong set, the strong comparison of RFC 9110 8.8.3.2 (If-Match): a
 * weak member ("W/...") never matches; else the weak one (If-None-Match):
 * "W/" is ignored. etag is the server's own, a strong quoted tag. */
int http_etag_match(http_str value, const char *etag, int strong);

/* http_etag_match over the combined value of every field line named name
 * (lower case, e.g. "if-match") in fields, the header section of a parsed
 * request: 1 if a member of one of them matches. */
int http_etag_list_match(http_str fields, const char *name, const char *etag,
                         int strong);

/* How much the Accept-Encoding field lines of fields, the header section
 * of a parsed request, accept the content coding coding (lower case, e.g.
 * "gzip"; "x-gzip" counts as "gzip"): its qvalue in thousandths (0 means
 * not acceptable), from the member naming it, else from "*"; -1 when
 * neither is there (also when there is no Accept-Encoding: a server then
 * sends no coding). A member that does not parse counts for nothing. */
int http_accept_coding(http_str fields, const char *coding);

/* Parses an HTTP-date in any of the three formats a recipient must accept
 * (RFC 9110 5.6.7: IMF-fixdate, RFC 850, asctime). Returns the time, or
 * -1 when the value is not one (a condition on it is then ignored, as RFC
 * 9110 13.1.3 and 13.1.4 require). The one helper here that reads the
 * clock: RFC 850's two-digit year is placed relative to the current one. */
time_t http_parse_date(http_str value);

/* Evaluates an If-Range value (RFC 9110 13.1.5) against a representation
 * with the strong entity-tag etag and the modification time mtime: 1 when
 * the Range is to be honoured, 0 when it is to be ignored. An entity-tag
 * matches only by the strong comparison (a weak one never does); a date
 * only when it equals mtime to the second, the resolution of
 * Last-Modified. */
int http_if_range_match(http_str value, const char *etag, time_t mtime);

/* The query of a request-target: the bytes after its first '?' up to a
 * '#' or the end. p is NULL when there is no '?' (and points at the end
 * of "...?" for an empty query). */
http_str http_target_query(http_str target);

/* The longest host name http_host_name writes, without its NUL (RFC 1035
 * 2.3.4: 253 in text form, without a final dot). */
#define HTTP_HOST_MAX 253

/* The host a request names, for choosing a virtual host (RFC 9112 3.2.2):
 * the authority of an absolute-form target, which wins over Host, else the
 * Host field. Its port and one final dot are dropped and its letters
 * lower-cased into out[0..cap) (cap > HTTP_HOST_MAX), with a NUL. Returns
 * its length; 0 when the request names none (no Host in HTTP/1.0, an empty
 * Host) or names an IP literal in brackets ("[::1]:8080"), which no site is
 * named after; -400 when it cannot be a host name (RFC 952/1123 letters,
 * digits and '-', and '_' as other servers accept it, in labels of 1 to 63
 * bytes between dots, 253 in all), or the port is not digits: such a name
 * could not name a directory inside the sites' one ("..", "/", NUL). */
int http_host_name(const http_request *req, char *out, size_t cap);

/* Percent-encodes s[0..n) for use in a URI reference, such as a Location
 * header: a path when query is 0, a query when it is 1. Every byte outside
 * RFC 3986's pchar set and "/" (and "?" in a query) becomes %XX, so the
 * result holds no control byte, space, quote or non-ASCII byte and cannot
 * end a header line. A query's '%' stays as it is (a request's query is
 * already encoded: it is made safe here, not encoded twice); a path's is
 * encoded (it has been decoded). Writes at most cap - 1 bytes and a NUL
 * when cap > 0, and returns the length of the whole encoding, as snprintf
 * does. */
size_t http_uri_encode(const char *s, size_t n, int query, char *out,
                       size_t cap);

#endif /* HTTPD_HTTP_PARSE_H */
