/* urlnorm.c - resolution of a link against its page and normalisation of
 * the result (RFC 3986 sections 5.2 and 6.2.2), for http and https only,
 * so that one resource has one spelling in the seen-set.
 *
 * Contract (crawl.h): crawl_url_resolve, crawl_url_parse. Pure: no I/O, no
 * allocation; the output lives in the caller's crawl_url.
 *
 * Choices where browsers and RFC 3986 differ: tabs and newlines inside a
 * link are removed (WHATWG), a backslash is escaped rather than read as a
 * slash, user information is dropped (a crawler never sends it), a bad
 * %-escape is kept as the literal "%25..." instead of failing the link.
 */
#include "crawl.h"

#include <errno.h>
#include <string.h>

/* A slice of the reference being resolved. */
typedef struct span {
  const char *p;
  size_t n;
  int present; /* for authority and query: "//" or "?" was there */
} span;

static int is_alpha(int c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int hexval(int c) {
  if (is_digit(c)) return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
static int is_unreserved(int c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}
/* Bytes RFC 3986 never allows unescaped in a path or query. */
static int must_escape(unsigned char c) {
  return c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL;
}

/* An output buffer that remembers overflowing instead of checking each
 * append. */
typedef struct obuf {
  char *p;
  size_t n, cap;
  int over;
} obuf;

static void put(obuf *b, char c) {
  if (b->n + 1 >= b->cap) {
    b->over = 1;
    return;
  }
  b->p[b->n++] = c;
}
static void puts_n(obuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) put(b, s[i]);
}
static void put_pct(obuf *b, unsigned char c) {
  static const char hx[] = "0123456789ABCDEF";
  put(b, '%');
  put(b, hx[c >> 4]);
  put(b, hx[c & 15]);
}

/* Append s with its %-escapes normalised (6.2.2.2). */
static void put_norm(obuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
          hexval((unsigned char)s[i + 2]) >= 0) {
        unsigned char v = (unsigned char)(hexval((unsigned char)s[i + 1]) * 16 +
                                          hexval((unsigned char)s[i + 2]));
        if (is_unreserved(v))
          put(b, (char)v);
        else
          put_pct(b, v);
        i += 2;
      } else {
        puts_n(b, "%25", 3);
      }
    } else if (must_escape(c)) {
      put_pct(b, c);
    } else {
      put(b, (char)c);
    }
  }
}

/* remove_dot_segments (5.2.4) in place on a path that starts with '/':
 * each segment is copied, "." dropped, ".." drops the last one copied; a
 * path ending in "." or ".." keeps its trailing slash. */
static size_t remove_dots(char *p, size_t n) {
  size_t in = 0, out = 0;
  while (in < n) {
    size_t end = in + 1; /* p[in] == '/' */
    while (end < n && p[end] != '/') end++;
    size_t sl = end - in - 1;
    const char *seg = p + in + 1;
    int last = end == n;
    if (sl == 1 && seg[0] == '.') {
      if (last) p[out++] = '/';
    } else if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
      while (out > 0 && p[out - 1] != '/') out--;
      if (out > 0) out--;
      if (last) p[out++] = '/';
    } else {
      memmove(p + out, p + in, end - in);
      out += end - in;
    }
    in = end;
  }
  if (out == 0) p[out++] = '/';
  return out;
}

/* Split a reference into its five parts (RFC 3986 appendix B). */
static void split(const char *s, size_t n, span *scheme, span *auth,
                  span *path, span *query) {
  size_t i = 0;
  memset(scheme, 0, sizeof *scheme);
  memset(auth, 0, sizeof *auth);
  memset(query, 0, sizeof *query);
  if (n > 0 && is_alpha((unsigned char)s[0])) {
    size_t j = 1;
    while (j < n && (is_alpha((unsigned char)s[j]) ||
                     is_digit((unsigned char)s[j]) || s[j] == '+' ||
                     s[j] == '-' || s[j] == '.'))
      j++;
    if (j < n && s[j] == ':') {
      scheme->p = s;
      scheme->n = j;
      scheme->present = 1;
      i = j + 1;
    }
  }
  if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
    size_t j = i + 2;
    while (j < n && s[j] != '/' && s[j] != '?' && s[j] != '#') j++;
    auth->p = s + i + 2;
    auth->n = j - i - 2;
    auth->present = 1;
    i = j;
  }
  size_t j = i;
  while (j < n && s[j] != '?' && s[j] != '#') j++;
  path->p = s + i;
  path->n = j - i;
  path->present = 1;
  i = j;
  if (i < n && s[i] == '?') {
    j = i + 1;
    while (j < n && s[j] != '#') j++;
    query->p = s + i + 1;
    query->n = j - i - 1;
    query->present = 1;
  }
}

static int scheme_is(span sc, const char *name) {
  size_t k = strlen(name);
  if (sc.n != k) return 0;
  for (size_t i = 0; i < k; i++)
    if ((sc.p[i] | 0x20) != name[i]) return 0;
  return 1;
}

/* Write "host[:port]" of authority a, normalised, to b; sets u's host and
 * port fields. */
static int put_authority(obuf *b, crawl_url *u, span a, int https) {
  const char *p = a.p, *end = a.p + a.n;
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  if (at) p = at + 1; /* userinfo dropped */
  const char *hs = p, *he;
  const char *port = NULL;
  if (p < end && *p == '[') {
    const char *rb = memchr(p, ']', (size_t)(end - p));
    if (!rb) return -EINVAL;
    hs = p + 1;
    he = rb;
    if (rb + 1 < end) {
      if (rb[1] != ':') return -EINVAL;
      port = rb + 2;
    }
    for (const char *q = hs; q < he; q++)
      if (!(hexval((unsigned char)*q) >= 0 || *q == ':' || *q == '.'))
        return -EINVAL;
  } else {
    const char *colon = memchr(p, ':', (size_t)(end - p));
    he = colon ? colon : end;
    if (colon) port = colon + 1;
    if (he > hs && he[-1] == '.') he--; /* "example.com." is example.com */
    for (const char *q = hs; q < he; q++) {
      unsigned char c = (unsigned char)*q;
      if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_'))
        return -EINVAL;
      /* No empty label: ".a", "a..b", "." are no host names. */
      if (c == '.' && (q == hs || q[-1] == '.' || q + 1 == he)) return -EINVAL;
    }
  }
  if (he == hs) return -EINVAL;
  int defport = https ? 443 : 80;
  int pn = defport;
  if (port && port < end) {
    pn = 0;
    for (const char *q = port; q < end; q++) {
      if (!is_digit((unsigned char)*q)) return -EINVAL;
      pn = pn * 10 + (*q - '0');
      if (pn > 65535) return -EINVAL;
    }
    if (pn == 0) return -EINVAL;
  }
  int v6 = a.p < end && *a.p == '[';
  if (at) v6 = at + 1 < end && at[1] == '[';
  if (v6) put(b, '[');
  u->host_off = b->n;
  for (const char *q = hs; q < he; q++) {
    char c = *q;
    if (c >= 'A' && c <= 'Z') c = (char)(c | 0x20);
    put(b, c);
  }
  u->host_len = (size_t)(he - hs);
  if (v6) put(b, ']');
  u->port = pn;
  if (pn != defport) {
    char tmp[8];
    int k = 0;
    for (int v = pn; v > 0; v /= 10) tmp[k++] = (char)('0' + v % 10);
    put(b, ':');
    while (k > 0) put(b, tmp[--k]);
  }
  return 0;
}

int crawl_url_resolve(crawl_url *out, const crawl_url *base, const char *ref,
                      size_t len) {
  /* Tabs and newlines inside a link are dropped; a copy is made only when
   * there are some. */
  char clean[CRAWL_URL_MAX];
  if (memchr(ref, '\t', len) || memchr(ref, '\n', len) ||
      memchr(ref, '\r', len)) {
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
      if (ref[i] == '\t' || ref[i] == '\n' || ref[i] == '\r') continue;
      if (k == sizeof clean) return -ENAMETOOLONG;
      clean[k++] = ref[i];
    }
    ref = clean;
    len = k;
  }
  if (len >= CRAWL_URL_MAX) return -ENAMETOOLONG;
  span sc, au, pa, qu;
  split(ref, len, &sc, &au, &pa, &qu);
  int https;
  if (sc.present) {
    if (scheme_is(sc, "https"))
      https = 1;
    else if (scheme_is(sc, "http"))
      https = 0;
    else
      return -EINVAL;
    if (!au.present) return -EINVAL;
  } else {
    if (!base) return -EINVAL;
    https = base->https;
  }

  crawl_url u;
  obuf b = {u.buf, 0, sizeof u.buf, 0};
  puts_n(&b, https ? "https://" : "http://", https ? 8 : 7);
  const char *bpath = NULL;
  size_t bpath_n = 0, bquery_at = 0;
  if (au.present) {
    int rc = put_authority(&b, &u, au, https);
    if (rc < 0) return rc;
  } else {
    /* The base's authority, already normalised. */
    size_t astart = base->https ? 8 : 7;
    puts_n(&b, base->buf + astart, base->path_off - astart);
    u.host_off = base->host_off;
    u.host_len = base->host_len;
    u.port = base->port;
    bpath = base->buf + base->path_off;
    bpath_n = base->len - base->path_off;
    const char *q = memchr(bpath, '?', bpath_n);
    bquery_at = q ? (size_t)(q - bpath) : bpath_n;
  }
  u.path_off = b.n;
  u.https = https;

  /* The path, then the query. */
  if (au.present || (pa.n > 0 && pa.p[0] == '/')) {
    if (pa.n == 0) put(&b, '/');
    put_norm(&b, pa.p, pa.n);
  } else if (pa.n == 0) {
    puts_n(&b, bpath, bquery_at);
    if (!qu.present && bquery_at < bpath_n)
      puts_n(&b, bpath + bquery_at, bpath_n - bquery_at);
  } else {
    /* Merge (5.2.3): the base path up to its last slash, then ref's. */
    size_t k = bquery_at;
    while (k > 0 && bpath[k - 1] != '/') k--;
    puts_n(&b, bpath, k);
    put_norm(&b, pa.p, pa.n);
  }
  if (b.over) return -ENAMETOOLONG;
  /* Dot segments, within the path only (the query is untouched; a query
   * copied from the base has none to remove anyway). */
  size_t pend = b.n;
  char *qm = memchr(u.buf + u.path_off, '?', b.n - u.path_off);
  if (qm) pend = (size_t)(qm - u.buf);
  size_t tail = b.n - pend;
  char tailbuf[CRAWL_URL_MAX];
  memcpy(tailbuf, u.buf + pend, tail);
  size_t pn = remove_dots(u.buf + u.path_off, pend - u.path_off);
  b.n = u.path_off + pn;
  puts_n(&b, tailbuf, tail);
  if (qu.present) {
    put(&b, '?');
    put_norm(&b, qu.p, qu.n);
  }
  if (b.over) return -ENAMETOOLONG;
  u.buf[b.n] = '\0';
  u.len = b.n;
  memcpy(out, &u, sizeof u);
  return 0;
}

int crawl_url_parse(crawl_url *out, const char *s) {
  return crawl_url_resolve(out, NULL, s, strlen(s));
}
