/* resp.c - the one HTTP/1.1 response parser of coro: the client's
 * (client.c) and the load generator's (internal/netdemo/load.c). It does
 * no I/O and never blocks: the caller feeds it the bytes it reads, in
 * pieces of any size, and it says when the response (head and body) has
 * ended, handing the body on in pieces (on_body) and the final head's
 * fields one by one (on_field).
 *
 * A head that arrives in one piece is parsed where it lies; only a head
 * split over reads is gathered into a buffer of head_max bytes, allocated
 * the first time that happens.
 *
 * What it accepts (RFC 9112, strictly: a client that guesses at framing is
 * how responses get smuggled):
 *   - a status line "HTTP/1.x NNN reason" with a code from 100 to 599;
 *   - lines ended by CRLF (a bare CR or LF is an error), header fields
 *     "name: value" with no space before the colon and no line folding,
 *     at most CORO_HTTP_FIELDS_MAX of them in at most head_max bytes;
 *   - interim 1xx responses, skipped (101 is an error: the client never
 *     asks to switch protocols), at most CORO_HTTP_INTERIM_MAX;
 *   - bodies framed by Content-Length, by chunked transfer coding (chunk
 *     extensions and trailer fields are checked and skipped), or by the
 *     end of the connection; none for 1xx, 204, 304 and answers to HEAD;
 *   - "Connection: close", and HTTP/1.0 without "Connection: keep-alive".
 * Both Content-Length and Transfer-Encoding, Content-Length values that
 * disagree, chunked applied twice, and bad chunk sizes are errors
 * (-CORO_HTTP_EFRAMING): the caller must drop the connection.
 */
#include "coro_http.h"
/* The engine's fault points (coro__malloc): the head buffer's allocation
 * goes through them, so that the fault sweeps fail it. */
#include "coro_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The chunked decoder's states. */
enum {
  CS_SIZE = 0,     /* the chunk size's hex digits */
  CS_EXT,          /* after the size: extensions, up to CR */
  CS_SIZE_LF,      /* the LF ending the size line */
  CS_DATA,         /* r->left bytes of chunk data */
  CS_DATA_CR,      /* the CRLF after the data */
  CS_DATA_LF,
  CS_TRAILER,      /* the start of a trailer line (or of the final CRLF) */
  CS_TRAILER_LINE, /* inside a trailer line, up to CR */
  CS_TRAILER_LF,   /* the LF ending a trailer line */
  CS_END_LF,       /* the LF of the blank line that ends the response */
};

static ssize_t fail(coro_http_resp *r, int err, const char *why) {
  r->why = why;
  return -err;
}

void coro_http_resp_init(coro_http_resp *r) {
  memset(r, 0, sizeof *r);
  r->head_max = CORO_HTTP_HEAD_MAX_DEFAULT;
}

void coro_http_resp_reset(coro_http_resp *r) {
  coro_http_resp keep = *r;
  memset(r, 0, sizeof *r);
  r->head_request = keep.head_request;
  r->head_max = keep.head_max ? keep.head_max : CORO_HTTP_HEAD_MAX_DEFAULT;
  r->body_max = keep.body_max;
  r->on_body = keep.on_body;
  r->on_field = keep.on_field;
  r->arg = keep.arg;
  r->hb = keep.hb;
  r->hcap = keep.hcap;
}

void coro_http_resp_free(coro_http_resp *r) {
  free(r->hb);
  r->hb = NULL;
  r->hcap = 0;
}

/* tchar (RFC 9110 5.6.2): the characters of a field name or a token. */
static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte allowed in a field value or reason phrase: visible ASCII, space,
 * tab, or obs-text (0x80 and up); no other control characters. */
static int is_text(unsigned char c) {
  return c == '\t' || (c >= ' ' && c != 0x7f);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Whether the first bytes so far can start a status line, "HTTP/1.x NNN",
 * so that a server that sends no HTTP at all is caught at once rather than
 * when its output reaches a blank line or the head limit. */
static int prefix_ok(const char *p, size_t n) {
  static const char pat[] = "HTTP/1.d ddd";
  for (size_t i = 0; i < n && i < sizeof pat - 1; i++) {
    if (pat[i] == 'd' ? !is_digit(p[i]) : p[i] != pat[i])
      return 0;
  }
  return 1;
}

/* Scan p[from, n) for the blank line ending the head, checking that every
 * CR is followed by LF and every LF preceded by CR (p[from - 1], when
 * from > 0, was scanned before). Returns the head's length (through the
 * blank line), 0 when it has not ended yet, or -EBADMSG. */
static ssize_t head_end(coro_http_resp *r, const char *p, size_t from, size_t n) {
  for (size_t i = from; i < n; i++) {
    char c = p[i];
    if (i > 0 && p[i - 1] == '\r' && c != '\n')
      return fail(r, CORO_HTTP_EFRAMING, "CR without LF in the response head");
    if (c == '\n') {
      if (i == 0 || p[i - 1] != '\r')
        return fail(r, CORO_HTTP_EFRAMING, "LF without CR in the response head");
      /* p[i - 2] == '\n' was checked to follow a CR: this is CRLF CRLF. */
      if (i >= 3 && p[i - 2] == '\n')
        return (ssize_t)(i + 1);
    } else if (c == '\0') {
      return fail(r, CORO_HTTP_EFRAMING, "NUL byte in the response head");
    }
  }
  return 0;
}

/* Whether the field name [name, name + n) is want (case-insensitive). */
static int name_is(const char *name, size_t n, const char *want) {
  return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

/* Calls fn on each element of the comma-separated list v[0, n), with its
 * surrounding whitespace stripped and empty elements skipped (RFC 9110
 * 5.6.1). Stops at and returns fn's first nonzero result. */
typedef int (*list_fn)(const char *e, size_t n, void *arg);
static int each_element(const char *v, size_t n, list_fn fn, void *arg) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    size_t a = i, b = j;
    while (a < b && is_ows(v[a]))
      a++;
    while (b > a && is_ows(v[b - 1]))
      b--;
    if (b > a) {
      int rc = fn(v + a, b - a, arg);
      if (rc)
        return rc;
    }
    i = j + 1;
  }
  return 0;
}

/* What the head says about framing and the connection. */
typedef struct head_info {
  int has_length;
  uint64_t length;
  int has_te;
  int chunked;      /* "chunked" appears among the codings */
  int chunked_last; /* and is the last one */
  int conn_close;
  int conn_keep_alive;
} head_info;

/* A transfer coding: its name is the token before any parameters. */
static int te_element(const char *e, size_t n, void *arg) {
  head_info *hi = arg;
  size_t k = 0;
  while (k < n && is_tchar((unsigned char)e[k]))
    k++;
  if (k == 0 || (k < n && e[k] != ';' && !is_ows(e[k])))
    return -1;
  int is_chunked = name_is(e, k, "chunked");
  if (is_chunked && hi->chunked)
    return -2; /* chunked applied twice */
  hi->chunked |= is_chunked;
  hi->chunked_last = is_chunked;
  return 0;
}

static int conn_element(const char *e, size_t n, void *arg) {
  head_info *hi = arg;
  if (name_is(e, n, "close"))
    hi->conn_close = 1;
  else if (name_is(e, n, "keep-alive"))
    hi->conn_keep_alive = 1;
  return 0;
}

/* The head is interim (1xx): skip it and read the next one. */
#define HEAD_INTERIM 1

/* Parse the complete head h[0, len) (its line endings already checked):
 * 0 for a final response, HEAD_INTERIM, or a negative errno. */
static int parse_head(coro_http_resp *r, const char *h, size_t len) {
  const char *end = h + len - 2; /* the blank line's CRLF */
  const char *e = memchr(h, '\r', len);
  size_t ln = (size_t)(e - h);
  if (ln < 12 || !prefix_ok(h, 12) || (ln > 12 && h[12] != ' '))
    return (int)fail(r, CORO_HTTP_EFRAMING, "bad status line");
  for (size_t i = 13; i < ln; i++)
    if (!is_text((unsigned char)h[i]))
      return (int)fail(r, CORO_HTTP_EFRAMING, "bad status line");
  r->minor = h[7] - '0';
  r->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
  if (r->status < 100 || r->status > 599)
    return (int)fail(r, CORO_HTTP_EFRAMING, "bad status code");

  head_info hi = {0};
  int fields = 0;
  for (const char *p = e + 2; p < end;) {
    const char *le = memchr(p, '\r', (size_t)(end + 2 - p)); /* found: end is a CR */
    if (++fields > CORO_HTTP_FIELDS_MAX)
      return (int)fail(r, CORO_HTTP_EHEADSIZE, "too many header fields");
    if (is_ows(*p))
      return (int)fail(r, CORO_HTTP_EFRAMING, "folded header line");
    const char *q = p;
    while (q < le && is_tchar((unsigned char)*q))
      q++;
    if (q == p || q == le || *q != ':')
      return (int)fail(r, CORO_HTTP_EFRAMING, "bad header field name");
    const char *name = p;
    size_t nn = (size_t)(q - p);
    const char *v = q + 1, *ve = le;
    while (v < ve && is_ows(*v))
      v++;
    while (ve > v && is_ows(ve[-1]))
      ve--;
    for (const char *s = v; s < ve; s++)
      if (!is_text((unsigned char)*s))
        return (int)fail(r, CORO_HTTP_EFRAMING, "control character in a header field");
    size_t vn = (size_t)(ve - v);
    if (name_is(name, nn, "content-length")) {
      uint64_t x = 0;
      /* 18 digits keep well inside uint64_t. */
      if (vn == 0 || vn > 18)
        return (int)fail(r, CORO_HTTP_EFRAMING, "bad Content-Length");
      for (size_t i = 0; i < vn; i++) {
        if (!is_digit(v[i]))
          return (int)fail(r, CORO_HTTP_EFRAMING, "bad Content-Length");
        x = x * 10 + (uint64_t)(v[i] - '0');
      }
      if (hi.has_length && x != hi.length)
        return (int)fail(r, CORO_HTTP_EFRAMING, "Content-Length values disagree");
      hi.has_length = 1;
      hi.length = x;
    } else if (name_is(name, nn, "transfer-encoding")) {
      hi.has_te = 1;
      int rc = each_element(v, vn, te_element, &hi);
      if (rc == -2)
        return (int)fail(r, CORO_HTTP_EFRAMING, "chunked applied twice");
      if (rc)
        return (int)fail(r, CORO_HTTP_EFRAMING, "bad Transfer-Encoding");
    } else if (name_is(name, nn, "connection")) {
      each_element(v, vn, conn_element, &hi);
    }
    if (r->status >= 200 && r->on_field) {
      int rc = r->on_field(r->arg, name, nn, v, vn);
      if (rc)
        return (int)fail(r, rc < 0 ? -rc : ECANCELED,
                         "the header's consumer stopped");
    }
    p = le + 2;
  }

  if (r->status < 200) {
    if (r->status == 101)
      return (int)fail(r, EPROTO, "101 Switching Protocols (never asked for)");
    return HEAD_INTERIM;
  }
  r->close = r->minor == 0 ? !hi.conn_keep_alive : hi.conn_close;
  if (r->status == 204 || r->status == 304 || r->head_request) {
    /* No body whatever the fields say (RFC 9110 6.4.1); a HEAD answer's
     * Content-Length is the size a GET would get. */
    r->framing = CORO_HTTP_BODY_NONE;
    r->length = hi.has_length ? hi.length : 0;
  } else if (hi.has_te) {
    if (hi.has_length)
      return (int)fail(r, CORO_HTTP_EFRAMING, "both Content-Length and Transfer-Encoding");
    /* A coding after chunked (or none) leaves the close to end the body
     * (RFC 9112 6.3). In HTTP/1.0, Transfer-Encoding is suspect framing:
     * read this response, then close. */
    r->framing = hi.chunked_last ? CORO_HTTP_BODY_CHUNKED : CORO_HTTP_BODY_CLOSE;
    if (r->minor == 0)
      r->close = 1;
  } else if (hi.has_length) {
    r->framing = hi.length ? CORO_HTTP_BODY_LENGTH : CORO_HTTP_BODY_NONE;
    r->length = hi.length;
  } else {
    r->framing = CORO_HTTP_BODY_CLOSE;
  }
  if (r->framing == CORO_HTTP_BODY_CLOSE)
    r->close = 1;
  return 0;
}

/* Take head bytes from p[0, n): up to the end of the head if it is there,
 * else all of them (gathered into r->hb). */
static ssize_t head_feed(coro_http_resp *r, const char *p, size_t n) {
  size_t old = r->have, total, from, max = r->head_max;
  const char *h;
  if (old == 0) {
    /* The common case: the whole head in one read, parsed in place. */
    h = p;
    from = 0;
    total = n < max ? n : max;
  } else {
    size_t k = n < max - old ? n : max - old;
    memcpy(r->hb + old, p, k);
    h = r->hb;
    from = old;
    total = old + k;
  }
  if (!prefix_ok(h, total))
    return fail(r, CORO_HTTP_EFRAMING, "not an HTTP/1.x response");
  ssize_t e = head_end(r, h, from, total);
  if (e < 0)
    return e;
  if (e == 0) {
    if (total >= max)
      return fail(r, CORO_HTTP_EHEADSIZE, "response head over the limit");
    if (old == 0) {
      if (r->hb && r->hcap < max) {
        free(r->hb);
        r->hb = NULL;
      }
      if (!r->hb) {
        if (!(r->hb = coro__malloc(max)))
          return fail(r, ENOMEM, "no memory for a split response head");
        r->hcap = max;
      }
      memcpy(r->hb, p, n);
    }
    r->have = total;
    return (ssize_t)(total - old); /* n: total < max */
  }
  r->have = 0;
  r->head_bytes += (size_t)e;
  if (r->head_bytes > max)
    return fail(r, CORO_HTTP_EHEADSIZE, "response heads over the limit");
  int rc = parse_head(r, h, (size_t)e);
  if (rc < 0)
    return rc;
  if (rc == HEAD_INTERIM) {
    if (++r->interim > CORO_HTTP_INTERIM_MAX)
      return fail(r, CORO_HTTP_EFRAMING, "too many interim (1xx) responses");
    r->status = 0;
  } else {
    if (r->body_max && r->framing == CORO_HTTP_BODY_LENGTH &&
        r->length > r->body_max)
      return fail(r, CORO_HTTP_EBODYSIZE, "Content-Length over the body limit");
    r->in_body = 1;
    r->left = r->length;
    r->cstate = CS_SIZE;
    r->done = r->framing == CORO_HTTP_BODY_NONE;
  }
  return e - (ssize_t)old; /* > 0: the head did not end within the old bytes */
}

/* Hand body bytes to on_body, counting them against the limit. */
static ssize_t deliver(coro_http_resp *r, const char *p, size_t n) {
  r->body_bytes += n;
  if (r->body_max && r->body_bytes > r->body_max)
    return fail(r, CORO_HTTP_EBODYSIZE, "response body over the limit");
  if (r->on_body && n) {
    int rc = r->on_body(r->arg, p, n);
    if (rc)
      return fail(r, rc < 0 ? -rc : ECANCELED, "the body's consumer stopped");
  }
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static ssize_t chunked_feed(coro_http_resp *r, const char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (r->cstate == CS_DATA) {
      size_t k = r->left < n - i ? (size_t)r->left : n - i;
      ssize_t rc = deliver(r, p + i, k);
      if (rc < 0)
        return rc;
      i += k;
      r->left -= k;
      if (r->left == 0)
        r->cstate = CS_DATA_CR;
      continue;
    }
    char c = p[i++];
    if (r->cstate <= CS_SIZE_LF) {
      if (++r->cline > CORO_HTTP_CHUNK_LINE_MAX)
        return fail(r, CORO_HTTP_EFRAMING, "chunk-size line over 1 KiB");
    } else if (r->cstate >= CS_TRAILER) {
      if (++r->cline > r->head_max)
        return fail(r, CORO_HTTP_EHEADSIZE, "trailer section over the head limit");
    }
    switch (r->cstate) {
    case CS_SIZE: {
      int v = hex_value(c);
      if (v >= 0) {
        if (r->left >> 59)
          return fail(r, CORO_HTTP_EFRAMING, "chunk size too large");
        r->left = r->left * 16 + (uint64_t)v;
        r->cdigits++;
      } else if (r->cdigits == 0) {
        return fail(r, CORO_HTTP_EFRAMING, "bad chunk size");
      } else if (c == ';' || is_ows(c)) {
        r->cstate = CS_EXT;
      } else if (c == '\r') {
        r->cstate = CS_SIZE_LF;
      } else {
        return fail(r, CORO_HTTP_EFRAMING, "bad chunk size");
      }
      break;
    }
    case CS_EXT:
      if (c == '\r')
        r->cstate = CS_SIZE_LF;
      else if (!is_text((unsigned char)c))
        return fail(r, CORO_HTTP_EFRAMING, "bad chunk extension");
      break;
    case CS_SIZE_LF:
      if (c != '\n')
        return fail(r, CORO_HTTP_EFRAMING, "CR without LF after a chunk size");
      r->cline = 0;
      r->cdigits = 0;
      r->cstate = r->left ? CS_DATA : CS_TRAILER;
      break;
    case CS_DATA_CR:
      if (c != '\r')
        return fail(r, CORO_HTTP_EFRAMING, "chunk data longer than its size");
      r->cstate = CS_DATA_LF;
      break;
    case CS_DATA_LF:
      if (c != '\n')
        return fail(r, CORO_HTTP_EFRAMING, "CR without LF after chunk data");
      r->cstate = CS_SIZE;
      break;
    case CS_TRAILER:
      if (c == '\r')
        r->cstate = CS_END_LF;
      else if (c == '\n' || !is_text((unsigned char)c))
        return fail(r, CORO_HTTP_EFRAMING, "bad trailer field");
      else
        r->cstate = CS_TRAILER_LINE;
      break;
    case CS_TRAILER_LINE:
      if (c == '\r')
        r->cstate = CS_TRAILER_LF;
      else if (!is_text((unsigned char)c))
        return fail(r, CORO_HTTP_EFRAMING, "bad trailer field");
      break;
    case CS_TRAILER_LF:
      if (c != '\n')
        return fail(r, CORO_HTTP_EFRAMING, "CR without LF in the trailers");
      r->cstate = CS_TRAILER;
      break;
    case CS_END_LF:
      if (c != '\n')
        return fail(r, CORO_HTTP_EFRAMING, "CR without LF at the end of the trailers");
      r->done = 1;
      return (ssize_t)i;
    }
  }
  return (ssize_t)i;
}

static ssize_t body_feed(coro_http_resp *r, const char *p, size_t n) {
  switch (r->framing) {
  case CORO_HTTP_BODY_LENGTH: {
    size_t k = r->left < n ? (size_t)r->left : n;
    ssize_t rc = deliver(r, p, k);
    if (rc < 0)
      return rc;
    r->left -= k;
    r->done = r->left == 0;
    return (ssize_t)k;
  }
  case CORO_HTTP_BODY_CHUNKED:
    return chunked_feed(r, p, n);
  case CORO_HTTP_BODY_CLOSE: {
    ssize_t rc = deliver(r, p, n);
    return rc < 0 ? rc : (ssize_t)n;
  }
  }
  r->done = 1; /* CORO_HTTP_BODY_NONE: never fed, done with the head */
  return 0;
}

ssize_t coro_http_resp_feed(coro_http_resp *r, const char *p, size_t n) {
  size_t used = 0;
  /* Every step takes at least one byte: a head step takes all it is given
   * or up to the head's end (after its first byte), a body step at least
   * one byte of a body that is not done. */
  while (used < n && !r->done) {
    ssize_t k = r->in_body ? body_feed(r, p + used, n - used)
                           : head_feed(r, p + used, n - used);
    if (k < 0)
      return k;
    used += (size_t)k;
  }
  return (ssize_t)used;
}

int coro_http_resp_eof(coro_http_resp *r) {
  if (r->done)
    return 0;
  if (r->in_body && r->framing == CORO_HTTP_BODY_CLOSE) {
    r->done = 1;
    return 0;
  }
  r->why = r->in_body || r->have || r->interim
               ? "connection closed in the middle of the response"
               : "connection closed before the response";
  return -CORO_HTTP_ETRUNCATED;
}
