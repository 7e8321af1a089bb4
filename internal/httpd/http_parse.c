/* http_parse.c - the request-head parser declared in http_parse.h and the
 * helpers that read the fields it finds: functions over the caller's
 * bytes, no allocation, no I/O. */
#include "http_parse.h"

#include <string.h>
#include <time.h>

/* RFC 9110 tchar: the bytes allowed in a method or a header name. */
static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int str_eq(http_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int str_ieq(http_str s, const char *lit) {
  size_t n = strlen(lit);
  if (s.n != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s.p[i]) != lit[i])
      return 0;
  return 1;
}

/* Finds the end of the line starting at off: the index of its '\n', or -1.
 * A line ends in CRLF or a bare LF (RFC 9112 lets a server accept both). */
static long find_lf(const char *buf, size_t len, size_t off) {
  const char *lf = memchr(buf + off, '\n', len - off);
  return lf ? (long)(lf - buf) : -1;
}

/* The line [start, lf) without its optional trailing CR. */
static http_str line_at(const char *buf, size_t start, size_t lf) {
  size_t end = lf;
  if (end > start && buf[end - 1] == '\r')
    end--;
  return (http_str){buf + start, end - start};
}

static int classify_method(http_str m) {
  static const char *const other[] = {"POST", "PUT", "DELETE", "OPTIONS",
                                      "PATCH", "TRACE", "CONNECT"};
  if (str_eq(m, "GET"))
    return HTTP_M_GET;
  if (str_eq(m, "HEAD"))
    return HTTP_M_HEAD;
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
    if (str_eq(m, other[i]))
      return HTTP_M_OTHER;
  return HTTP_M_UNKNOWN;
}

static int parse_request_line(http_str line, http_request *req) {
  size_t i = 0;
  while (i < line.n && is_tchar((unsigned char)line.p[i]))
    i++;
  if (i == 0 || i >= line.n || line.p[i] != ' ')
    return -400;
  req->method_name = (http_str){line.p, i};
  req->method = classify_method(req->method_name);
  size_t t = ++i;
  while (i < line.n && line.p[i] != ' ') {
    unsigned char c = (unsigned char)line.p[i];
    if (c <= 0x20 || c == 0x7f)
      return -400;
    i++;
  }
  if (i == t || i >= line.n)
    return -400;
  req->target = (http_str){line.p + t, i - t};
  http_str ver = {line.p + i + 1, line.n - i - 1};
  if (ver.n != 8 || memcmp(ver.p, "HTTP/", 5) != 0 || ver.p[6] != '.' ||
      ver.p[5] < '0' || ver.p[5] > '9' || ver.p[7] < '0' || ver.p[7] > '9')
    return -400;
  if (ver.p[5] != '1')
    return -505;
  req->minor = ver.p[7] == '0' ? 0 : 1;
  return 0;
}

/* Applies the tokens of a Connection header: close and keep-alive. */
static void connection_tokens(http_str v, int *close, int *keep) {
  size_t i = 0;
  while (i < v.n) {
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
      i++;
    size_t s = i;
    while (i < v.n && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t')
      i++;
    http_str tok = {v.p + s, i - s};
    if (str_ieq(tok, "close"))
      *close = 1;
    else if (str_ieq(tok, "keep-alive"))
      *keep = 1;
  }
}

/* Records a list field's line: the first one marks it present, and
 * http_etag_list_match reads them all again from the header section. */
static void list_field(http_str *f, http_str v) {
  if (!f->p)
    *f = v;
}

/* Records a one-value field's line. A second line makes the combined value
 * a list, which is no valid value: present and empty says so. */
static void single_field(http_str *f, http_str v) {
  if (f->p)
    v.n = 0;
  *f = v;
}

static int parse_header(http_str line, http_request *req, int *close,
                        int *keep) {
  if (line.n > 0 && (line.p[0] == ' ' || line.p[0] == '\t'))
    return -400; /* obsolete line folding */
  size_t i = 0;
  while (i < line.n && is_tchar((unsigned char)line.p[i]))
    i++;
  if (i == 0 || i >= line.n || line.p[i] != ':')
    return -400; /* includes whitespace before the colon (RFC 9112 5.1) */
  http_str name = {line.p, i};
  size_t s = i + 1, e = line.n;
  while (s < e && (line.p[s] == ' ' || line.p[s] == '\t'))
    s++;
  while (e > s && (line.p[e - 1] == ' ' || line.p[e - 1] == '\t'))
    e--;
  for (size_t k = s; k < e; k++) {
    unsigned char c = (unsigned char)line.p[k];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return -400;
  }
  http_str v = {line.p + s, e - s};
  if (str_ieq(name, "host")) {
    if (req->host.p)
      return -400; /* RFC 9112 3.2: more than one Host */
    req->host = v;
    if (v.n == 0)
      req->host.p = line.p + s; /* present but empty is still present */
  } else if (str_ieq(name, "connection")) {
    connection_tokens(v, close, keep);
  } else if (str_ieq(name, "if-match")) {
    list_field(&req->if_match, v);
  } else if (str_ieq(name, "if-none-match")) {
    list_field(&req->if_none_match, v);
  } else if (str_ieq(name, "if-modified-since")) {
    single_field(&req->if_modified_since, v);
  } else if (str_ieq(name, "if-unmodified-since")) {
    single_field(&req->if_unmodified_since, v);
  } else if (str_ieq(name, "if-range")) {
    single_field(&req->if_range, v);
  } else if (str_ieq(name, "range")) {
    single_field(&req->range, v);
  } else if (str_ieq(name, "transfer-encoding")) {
    req->has_body = 1;
  } else if (str_ieq(name, "content-length")) {
    if (v.n == 0)
      return -400;
    int nonzero = 0;
    for (size_t k = 0; k < v.n; k++) {
      if (v.p[k] < '0' || v.p[k] > '9')
        return -400;
      nonzero |= v.p[k] != '0';
    }
    if (nonzero)
      req->has_body = 1;
  }
  return 0;
}

void http_parser_init(http_parser *p, http_request *req) {
  memset(p, 0, sizeof *p);
  memset(req, 0, sizeof *req);
}

/* Each line is parsed once, when its end arrives, and the search for a
 * line's end resumes where the last call stopped: every byte is searched
 * once and parsed once, however the head was split (re-parsing from the
 * start at every read made a 16 KiB head sent a byte at a time cost 0.57 s
 * of CPU). The checks are those of a whole-buffer parse, in the same
 * order, so the result never depends on the split. */
int http_parser_feed(http_parser *p, const char *buf, size_t len,
                     http_request *req) {
  if (!p->hstart) {
    /* RFC 9112 2.2: ignore empty lines before a request line. */
    while (p->pos < len && (buf[p->pos] == '\r' || buf[p->pos] == '\n')) {
      if (p->pos >= 16)
        return -400;
      p->pos++;
      p->work++;
    }
    if (p->scan < p->pos)
      p->scan = p->pos;
  }
  int rc;
  for (;;) {
    long lf = find_lf(buf, len, p->scan);
    size_t end = lf < 0 ? len : (size_t)lf;
    p->work += end - p->scan;
    p->scan = end;
    if (lf < 0) {
      if (!p->hstart)
        return len - p->pos > HTTP_LINE_MAX ? -414 : 0;
      return len - p->hstart > HTTP_HEADERS_MAX ? -431 : 0;
    }
    size_t start = p->pos;
    p->pos = p->scan = end + 1;
    http_str line = line_at(buf, start, end);
    p->work += line.n;
    if (!p->hstart) {
      if (end - start > HTTP_LINE_MAX)
        return -414;
      if ((rc = parse_request_line(line, req)) < 0)
        return rc;
      p->hstart = end + 1;
      continue;
    }
    if (end + 1 - p->hstart > HTTP_HEADERS_MAX)
      return -431;
    if (line.n == 0) {
      req->fields = (http_str){buf + p->hstart, start - p->hstart};
      break;
    }
    if ((rc = parse_header(line, req, &p->close, &p->keep)) < 0)
      return rc;
  }
  if (req->minor == 1 && !req->host.p)
    return -400; /* RFC 9112 3.2: HTTP/1.1 requires Host */
  req->keep_alive = req->minor == 1 ? !p->close : (p->keep && !p->close);
  return (int)p->pos;
}

int http_parse_request(const char *buf, size_t len, http_request *req) {
  http_parser p;
  http_parser_init(&p, req);
  return http_parser_feed(&p, buf, len, req);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Where the path of a request-target starts: 0 for the origin-form
 * ("/path?query"); past the scheme and authority for the absolute-form
 * ("http://host:port/path?query"), which RFC 9112 3.2.2 requires a server
 * to accept although clients send it mostly to proxies (curl -x does).
 * This server has one site, so the authority is not compared with
 * anything. -1 for anything else, for an empty authority, and for one with
 * userinfo ("user@host"), which RFC 9110 4.2.4 says to treat as an error. */
static long path_start(http_str t) {
  if (t.n > 0 && t.p[0] == '/')
    return 0;
  size_t i;
  if (t.n >= 7 && str_ieq((http_str){t.p, 7}, "http://"))
    i = 7;
  else if (t.n >= 8 && str_ieq((http_str){t.p, 8}, "https://"))
    i = 8;
  else
    return -1;
  size_t a = i;
  while (i < t.n && t.p[i] != '/' && t.p[i] != '?' && t.p[i] != '#') {
    if (t.p[i] == '@')
      return -1;
    i++;
  }
  return i > a ? (long)i : -1;
}

int http_decode_path(http_str target, char *out, size_t cap) {
  long start = path_start(target);
  if (start < 0 || cap < 2)
    return -1;
  size_t o = 0;
  if ((size_t)start == target.n || target.p[start] != '/')
    out[o++] = '/'; /* "http://host" and "http://host?q" name "/" */
  for (size_t i = (size_t)start; i < target.n; i++) {
    int c = (unsigned char)target.p[i];
    if (c == '?' || c == '#')
      break;
    if (c == '%') {
      int h, l;
      if (i + 2 >= target.n)
        return -1;
      if ((h = hexval((unsigned char)target.p[i + 1])) < 0 ||
          (l = hexval((unsigned char)target.p[i + 2])) < 0)
        return -1;
      c = h * 16 + l;
      i += 2;
    }
    if (c == 0 || c == '\\' || c < 0x20 || c == 0x7f)
      return -1;
    if (o + 1 >= cap)
      return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return (int)o;
}

/* Reads a decimal number from s[*i..]; 0 if there is none or it overflows. */
static int read_u64(http_str s, size_t *i, uint64_t *out) {
  size_t start = *i;
  uint64_t v = 0;
  while (*i < s.n && s.p[*i] >= '0' && s.p[*i] <= '9') {
    unsigned d = (unsigned)(s.p[*i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return 0;
    v = v * 10 + d;
    (*i)++;
  }
  *out = v;
  return *i > start;
}

int http_parse_ranges(http_str v, uint64_t size, http_range *out, int cap) {
  if (v.n < 6 || lower((unsigned char)v.p[0]) != 'b' ||
      !str_ieq((http_str){v.p, 6}, "bytes="))
    return 0;
  size_t i = 6;
  int specs = 0, n = 0, empty_ok = 0;
  uint64_t total = 0;
  for (;;) {
    /* 1#range-spec (RFC 9110 5.6.1): empty members and OWS around the
     * commas are allowed. */
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
      i++;
    if (i == v.n)
      break;
    uint64_t a = 0, b = 0;
    int has_a = read_u64(v, &i, &a);
    if (i >= v.n || v.p[i] != '-')
      return 0;
    i++;
    int has_b = read_u64(v, &i, &b);
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
      i++;
    if (i < v.n && v.p[i] != ',')
      return 0; /* junk, or a number too large */
    /* RFC 9110 14.1.1: "-" alone, or a last-pos below the first-pos, is
     * invalid, and 14.2 lets a server ignore the whole header then. */
    if ((!has_a && !has_b) || (has_a && has_b && b < a))
      return 0;
    if (++specs > cap)
      return 0; /* too many ranges: the whole file (nginx's max_ranges) */
    uint64_t first, last;
    if (!has_a) {
      /* A suffix-range is satisfiable when its suffix-length is not 0
       * (RFC 9110 14.1.1), also on an empty representation: "When a
       * selected representation has zero length, the only satisfiable
       * form of range-spec in a GET request is a suffix-range with a
       * non-zero suffix-length" (14.1.2). */
      if (b == 0)
        continue;
      if (size == 0) {
        empty_ok = 1;
        continue;
      }
      first = b >= size ? 0 : size - b;
      last = size - 1;
    } else {
      if (a >= size)
        continue; /* unsatisfiable: the others may be */
      first = a;
      last = (!has_b || b >= size) ? size - 1 : b;
    }
    /* Ranges that add up to more than the file (overlapping ones, the
     * same one again and again) get the whole file, as in nginx: one
     * request must not make the server send a file many times over. */
    if (last - first + 1 > size - total)
      return 0;
    total += last - first + 1;
    out[n].first = first;
    out[n].last = last;
    n++;
  }
  if (specs == 0)
    return 0; /* "bytes=": no range-spec, invalid */
  if (n == 0)
    /* A satisfiable suffix-range on an empty file: no 416, but no 206
     * either, whose Content-Range cannot say "no bytes" (RFC 9110 14.4);
     * 14.2: "A server that supports range requests MAY ignore a Range
     * header field when the selected representation has no content". */
    return empty_ok ? 0 : -1;
  return n;
}

int http_etag_match(http_str v, const char *etag, int strong) {
  size_t en = strlen(etag);
  size_t i = 0;
  while (i < v.n) {
    while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
      i++;
    if (i < v.n && v.p[i] == '*') {
      size_t k = i + 1;
      while (k < v.n && (v.p[k] == ' ' || v.p[k] == '\t'))
        k++;
      if (k == v.n || v.p[k] == ',')
        return 1;
    }
    int weak = 0;
    if (i + 1 < v.n && v.p[i] == 'W' && v.p[i + 1] == '/') {
      weak = 1;
      i += 2;
    }
    /* The member's tag is v.p[s..e); only a quoted one followed by the
     * end of the member can match. */
    size_t s = i, e = i;
    int ok = 0;
    if (i < v.n && v.p[i] == '"') {
      i++;
      while (i < v.n && v.p[i] != '"')
        i++;
      if (i < v.n)
        i++;
      e = i;
      while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
        i++;
      ok = i == v.n || v.p[i] == ',';
    }
    while (i < v.n && v.p[i] != ',')
      i++;
    if (ok && !(strong && weak) && e - s == en &&
        memcmp(v.p + s, etag, en) == 0)
      return 1;
  }
  return 0;
}

/* The value of the next field line named name (lower case) in f, the
 * header section, from *i on: 1 with *v set (OWS trimmed) and *i past the
 * line, or 0 when there is none. */
static int next_field(http_str f, size_t *i, const char *name, http_str *v) {
  while (*i < f.n) {
    const char *lf = memchr(f.p + *i, '\n', f.n - *i);
    size_t end = lf ? (size_t)(lf - f.p) : f.n;
    http_str line = line_at(f.p, *i, end);
    *i = end + 1;
    const char *colon = memchr(line.p, ':', line.n);
    if (!colon || !str_ieq((http_str){line.p, (size_t)(colon - line.p)}, name))
      continue;
    size_t s = (size_t)(colon - line.p) + 1, e = line.n;
    while (s < e && (line.p[s] == ' ' || line.p[s] == '\t'))
      s++;
    while (e > s && (line.p[e - 1] == ' ' || line.p[e - 1] == '\t'))
      e--;
    *v = (http_str){line.p + s, e - s};
    return 1;
  }
  return 0;
}

int http_etag_list_match(http_str f, const char *name, const char *etag,
                         int strong) {
  size_t i = 0;
  http_str v;
  while (next_field(f, &i, name, &v))
    if (http_etag_match(v, etag, strong))
      return 1;
  return 0;
}

/* A qvalue (RFC 9110 12.4.2) at v.p[*i..): "0", "0.5", "1.000"; in
 * thousandths, or -1 when malformed. */
static int read_qvalue(http_str v, size_t *i) {
  if (*i >= v.n || (v.p[*i] != '0' && v.p[*i] != '1'))
    return -1;
  int q = (v.p[(*i)++] - '0') * 1000;
  if (*i < v.n && v.p[*i] == '.') {
    (*i)++;
    for (int scale = 100, k = 0; k < 3 && *i < v.n && v.p[*i] >= '0' && v.p[*i] <= '9';
         k++, scale /= 10)
      q += (v.p[(*i)++] - '0') * scale;
  }
  return q > 1000 ? -1 : q;
}

int http_accept_coding(http_str f, const char *coding) {
  /* gzip's old name counts as gzip (RFC 9110 8.4.1.3). */
  int gzip = strcmp(coding, "gzip") == 0;
  int named = -1, star = -1;
  size_t fi = 0;
  http_str v;
  while (next_field(f, &fi, "accept-encoding", &v)) {
    size_t i = 0;
    while (i < v.n) {
      /* One member: a token, then parameters of which q counts. */
      while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
        i++;
      size_t s = i;
      while (i < v.n && is_tchar((unsigned char)v.p[i]))
        i++;
      http_str tok = {v.p + s, i - s};
      int q = 1000;
      while (i < v.n && v.p[i] != ',') {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
          i++;
        if (i < v.n && v.p[i] == ';') {
          i++;
          while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
            i++;
          if (i + 1 < v.n && lower((unsigned char)v.p[i]) == 'q' && v.p[i + 1] == '=') {
            i += 2;
            q = read_qvalue(v, &i);
            continue;
          }
        }
        if (i < v.n && v.p[i] != ',') {
          q = -1; /* junk: the member does not count */
          i++;
        }
      }
      if (tok.n == 0 || q < 0)
        continue;
      if (str_ieq(tok, coding) || (gzip && str_ieq(tok, "x-gzip")))
        named = named > q ? named : q;
      else if (tok.n == 1 && tok.p[0] == '*')
        star = star > q ? star : q;
    }
  }
  return named >= 0 ? named : star;
}

time_t http_parse_date(http_str v) {
  /* IMF-fixdate, then the two obsolete forms. strptime accepts a little
   * more than each form (full day names, one-digit days), which does no
   * harm: what it reads is still a date. */
  static const char *const formats[] = {
      "%a, %d %b %Y %H:%M:%S GMT", /* Sun, 06 Nov 1994 08:49:37 GMT */
      "%A, %d-%b-%y %H:%M:%S GMT", /* Sunday, 06-Nov-94 08:49:37 GMT */
      "%a %b %e %H:%M:%S %Y",      /* Sun Nov  6 08:49:37 1994 */
  };
  char tmp[64];
  if (v.n == 0 || v.n >= sizeof tmp || memchr(v.p, '\0', v.n))
    return -1;
  memcpy(tmp, v.p, v.n);
  tmp[v.n] = '\0';
  for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(tmp, formats[f], &tm);
    if (!end || *end)
      continue;
    if (f == 1) {
      /* RFC 9110 5.6.7: a two-digit year is the year with those digits
       * that is at most 50 years ahead, or else the most recent past one
       * (strptime's fixed 1969-2068 window is not that). */
      time_t now = time(NULL);
      struct tm nt;
      gmtime_r(&now, &nt);
      int year = nt.tm_year - nt.tm_year % 100 + tm.tm_year % 100;
      if (year > nt.tm_year + 50)
        year -= 100;
      else if (year <= nt.tm_year - 50)
        year += 100;
      tm.tm_year = year;
    }
    return timegm(&tm);
  }
  return -1;
}

int http_if_range_match(http_str v, const char *etag, time_t mtime) {
  /* RFC 9110 13.1.5: an entity-tag starts with a DQUOTE or "W/". */
  if (v.n > 0 && v.p[0] == '"')
    return v.n == strlen(etag) && memcmp(v.p, etag, v.n) == 0;
  if (v.n >= 2 && v.p[0] == 'W' && v.p[1] == '/')
    return 0;
  time_t t = http_parse_date(v);
  return t != (time_t)-1 && t == mtime;
}

http_str http_target_query(http_str t) {
  for (size_t i = 0; i < t.n && t.p[i] != '#'; i++) {
    if (t.p[i] == '?') {
      size_t e = i + 1;
      while (e < t.n && t.p[e] != '#')
        e++;
      return (http_str){t.p + i + 1, e - i - 1};
    }
  }
  return (http_str){NULL, 0};
}

/* The authority of an absolute-form target ("http://host:port/p"), or
 * {NULL, 0} for the origin-form; see path_start. */
static http_str target_authority(http_str t) {
  long start = path_start(t);
  if (start <= 0)
    return (http_str){NULL, 0};
  size_t a = t.p[4] == ':' ? 7 : 8; /* "http://" or "https://" */
  return (http_str){t.p + a, (size_t)start - a};
}

int http_host_name(const http_request *req, char *out, size_t cap) {
  http_str h = target_authority(req->target);
  if (!h.p)
    h = req->host;
  if (cap <= HTTP_HOST_MAX)
    return -400;
  out[0] = '\0';
  if (!h.p || h.n == 0 || h.p[0] == '[')
    return 0;
  size_t n = h.n;
  for (size_t i = n; i-- > 0;) { /* the port: digits after the last ':' */
    if (h.p[i] == ':') {
      for (size_t k = i + 1; k < n; k++)
        if (h.p[k] < '0' || h.p[k] > '9')
          return -400;
      n = i;
      break;
    }
  }
  if (n > 0 && h.p[n - 1] == '.')
    n--; /* "example.com." is "example.com" */
  if (n == 0 || n > HTTP_HOST_MAX)
    return -400;
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)lower((unsigned char)h.p[i]);
    if (c == '.') {
      if (label == 0)
        return -400; /* ".x", "a..b": an empty label */
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_') {
      if (++label > 63)
        return -400;
    } else {
      return -400;
    }
    out[i] = (char)c;
  }
  out[n] = '\0';
  return (int)n;
}

/* The bytes http_uri_encode leaves as they are: RFC 3986 pchar (unreserved,
 * sub-delims, ':' and '@') and '/'; in a query also '?', and '%' of the
 * escapes that the query already has. */
static int uri_keep(unsigned char c, int query) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  if (c != 0 && strchr("-._~!$&'()*+,;=:@/", c))
    return 1;
  return query && (c == '?' || c == '%');
}

size_t http_uri_encode(const char *s, size_t n, int query, char *out,
                       size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
#define PUT(ch)                                                              \
  do {                                                                       \
    if (o + 1 < cap)                                                         \
      out[o] = (ch);                                                         \
    o++;                                                                     \
  } while (0)
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (uri_keep(c, query)) {
      PUT((char)c);
    } else {
      PUT('%');
      PUT(hex[c >> 4]);
      PUT(hex[c & 15]);
    }
  }
#undef PUT
  if (cap > 0)
    out[o < cap ? o : cap - 1] = '\0';
  return o;
}
