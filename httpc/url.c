/* url.c - URLs as RFC 3986 has them: split a reference into its five
 * components (appendix B), resolve it against a base (section 5.2),
 * normalize the result (section 6.2.2: case, percent-encoding, dot
 * segments; 6.2.3: default ports, empty paths), and lay the normalized
 * pieces out as NUL-terminated strings in one allocation (coro_url).
 *
 * Leniency, as browsers and crawlers need it (the WHATWG URL standard's
 * choices, where RFC 3986 would just reject): leading and trailing spaces
 * and control characters are trimmed, tabs and newlines inside are
 * dropped, and bytes a URL may not hold (space, non-ASCII, "<>\"^`{|}",
 * a "%" not followed by two hex digits) are percent-encoded rather than
 * refused. Refused: a host with characters no host may have, a port that
 * is not a number up to 65535, an http(s) URL without a host, and any
 * NUL or control character left after trimming.
 */
#include "coro_http.h"
#include "coro_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct span {
  const char *p;
  size_t n;
  int has; /* the component is present (an empty query "?" is present) */
} span;

typedef struct parts {
  span scheme, auth, path, query, frag;
} parts;

/* A growing string. On allocation failure it sets err and stops growing. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  int err;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->err)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *q = coro__realloc(b->p, cap);
    if (!q) {
      b->err = -ENOMEM;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_c(sbuf *b, char c) { sb_put(b, &c, 1); }

static int is_alpha(int c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int hexval(int c) {
  if (is_digit(c))
    return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
static int is_unreserved(int c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}
static int is_subdelim(int c) { return c && strchr("!$&'()*+,;=", c) != NULL; }

/* Split ref (appendix B's regular expression, by hand). */
static void split(const char *s, size_t n, parts *out) {
  memset(out, 0, sizeof *out);
  size_t i = 0;
  /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
  if (n && is_alpha((unsigned char)s[0])) {
    size_t j = 1;
    while (j < n && (is_alpha((unsigned char)s[j]) || is_digit(s[j]) ||
                     s[j] == '+' || s[j] == '-' || s[j] == '.'))
      j++;
    if (j < n && s[j] == ':') {
      out->scheme = (span){s, j, 1};
      i = j + 1;
    }
  }
  if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
    size_t j = i + 2;
    while (j < n && s[j] != '/' && s[j] != '?' && s[j] != '#')
      j++;
    out->auth = (span){s + i + 2, j - i - 2, 1};
    i = j;
  }
  size_t j = i;
  while (j < n && s[j] != '?' && s[j] != '#')
    j++;
  out->path = (span){s + i, j - i, 1};
  i = j;
  if (i < n && s[i] == '?') {
    j = i + 1;
    while (j < n && s[j] != '#')
      j++;
    out->query = (span){s + i + 1, j - i - 1, 1};
    i = j;
  }
  if (i < n && s[i] == '#')
    out->frag = (span){s + i + 1, n - i - 1, 1};
}

/* RFC 3986 5.2.4, from in[0, n) into out (appended). */
static void remove_dots(sbuf *out, const char *in, size_t n) {
  size_t base = out->n;
  size_t i = 0;
  while (i < n) {
    const char *p = in + i;
    size_t r = n - i;
    if (r >= 3 && !memcmp(p, "../", 3)) {
      i += 3;
    } else if (r >= 2 && !memcmp(p, "./", 2)) {
      i += 2;
    } else if (r >= 3 && !memcmp(p, "/./", 3)) {
      i += 2; /* leaves "/" */
    } else if (r == 2 && !memcmp(p, "/.", 2)) {
      i += 1;
      /* "/." at the end becomes "/": emit it and stop. */
      sb_c(out, '/');
      return;
    } else if ((r >= 4 && !memcmp(p, "/../", 4)) || (r == 3 && !memcmp(p, "/..", 3))) {
      /* Drop the last segment of the output and its "/". */
      while (out->n > base && out->p[out->n - 1] != '/')
        out->n--;
      if (out->n > base)
        out->n--;
      if (out->p)
        out->p[out->n] = '\0';
      if (r == 3) {
        sb_c(out, '/');
        return;
      }
      i += 3; /* leaves "/" */
    } else if ((r == 1 && p[0] == '.') || (r == 2 && !memcmp(p, "..", 2))) {
      return;
    } else {
      size_t j = p[0] == '/' ? 1 : 0;
      while (j < r && p[j] != '/')
        j++;
      sb_put(out, p, j);
      i += j;
    }
  }
}

/* Append the percent-normalized text of s: %xx of an unreserved byte
 * decoded, other %xx in upper case, bytes outside keep (and outside
 * unreserved, sub-delims, ":@/?" for URLs) encoded. Returns 0 or
 * -CORO_HTTP_EURL for a control character. */
static int put_pct(sbuf *b, const char *s, size_t n, const char *keep) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
        hexval((unsigned char)s[i + 2]) >= 0) {
      int v = hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]);
      if (is_unreserved(v)) {
        sb_c(b, (char)v);
      } else {
        char e[3] = {'%', hex[v >> 4], hex[v & 15]};
        sb_put(b, e, 3);
      }
      i += 2;
    } else if (c < 0x20 || c == 0x7f) {
      return -CORO_HTTP_EURL;
    } else if (c >= 0x80 || c == ' ' || c == '%' ||
               !(is_unreserved(c) || is_subdelim(c) || strchr(keep, c))) {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_put(b, e, 3);
    } else {
      sb_c(b, (char)c);
    }
  }
  return 0;
}

static int default_port(const char *scheme) {
  if (!strcmp(scheme, "http") || !strcmp(scheme, "ws"))
    return 80;
  if (!strcmp(scheme, "https") || !strcmp(scheme, "wss"))
    return 443;
  if (!strcmp(scheme, "ftp"))
    return 21;
  return 0;
}

/* Clean the input: trim C0 controls and spaces at both ends, drop tabs
 * and newlines inside (as browsers do). Returns a new string or NULL. */
static char *clean(const char *s) {
  size_t n = strlen(s);
  while (n && (unsigned char)s[n - 1] <= ' ')
    n--;
  while (n && (unsigned char)*s <= ' ')
    s++, n--;
  char *o = coro__malloc(n + 1);
  if (!o)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
      o[k++] = s[i];
  o[k] = '\0';
  return o;
}

/* The offsets of the strings in coro_url.mem_. */
enum { S_HREF, S_SCHEME, S_USER, S_HOST, S_PATH, S_QUERY, S_FRAG, S_TARGET, S_N };

/* Normalize the resolved components into u. */
static int build(coro_url *u, const parts *t) {
  sbuf f[S_N];
  memset(f, 0, sizeof f);
  int rc = 0, port = 0, has_user = 0;
  for (size_t i = 0; i < t->scheme.n; i++)
    sb_c(&f[S_SCHEME], (char)(t->scheme.p[i] | 0x20));
  sb_put(&f[S_SCHEME], "", 0);
  if (f[S_SCHEME].err) {
    rc = f[S_SCHEME].err;
    goto out;
  }
  int dport = default_port(f[S_SCHEME].p);
  int web = !strcmp(f[S_SCHEME].p, "http") || !strcmp(f[S_SCHEME].p, "https");
  sb_put(&f[S_HOST], "", 0);
  if (t->auth.has) {
    const char *a = t->auth.p, *ae = a + t->auth.n;
    const char *at = NULL;
    for (const char *q = a; q < ae; q++)
      if (*q == '@')
        at = q; /* the last '@': a user name may hold one, encoded or not */
    if (at) {
      has_user = 1;
      if ((rc = put_pct(&f[S_USER], a, (size_t)(at - a), ":")) < 0)
        goto out;
      sb_put(&f[S_USER], "", 0);
      a = at + 1;
    }
    const char *he, *pe = ae;
    if (a < ae && *a == '[') {
      he = memchr(a, ']', (size_t)(ae - a));
      if (!he)
        goto bad;
      for (const char *q = a + 1; q < he; q++) {
        int c = (unsigned char)*q;
        if (!(hexval(c) >= 0 || c == ':' || c == '.'))
          goto bad;
        sb_c(&f[S_HOST], (char)(c | (is_alpha(c) ? 0x20 : 0)));
      }
      if (he == a + 1)
        goto bad;
      he++;
    } else {
      he = a;
      while (he < ae && *he != ':')
        he++;
      for (const char *q = a; q < he; q++) {
        int c = (unsigned char)*q;
        if (!(is_unreserved(c) || is_subdelim(c) || c == '%' || c >= 0x80))
          goto bad;
      }
      sbuf raw = {0};
      if ((rc = put_pct(&raw, a, (size_t)(he - a), "")) < 0 || raw.err) {
        rc = rc ? rc : raw.err;
        free(raw.p);
        goto out;
      }
      for (size_t i = 0; i < raw.n; i++) {
        int c = (unsigned char)raw.p[i];
        if (c == '%') { /* put_pct made it %XX, hex in upper case: keep */
          sb_put(&f[S_HOST], raw.p + i, 3);
          i += 2;
          continue;
        }
        if (!(is_unreserved(c) || is_subdelim(c))) {
          free(raw.p);
          goto bad;
        }
        sb_c(&f[S_HOST], (char)(is_alpha(c) ? c | 0x20 : c));
      }
      free(raw.p);
    }
    if (he < pe) {
      if (*he != ':')
        goto bad;
      const char *d = he + 1;
      if (d < pe) {
        long v = 0;
        for (; d < pe; d++) {
          if (!is_digit(*d) || (v = v * 10 + (*d - '0')) > 65535)
            goto bad;
        }
        port = (int)v;
      }
    }
  }
  if (web && (!f[S_HOST].p || !f[S_HOST].p[0]))
    goto bad;
  if (!port)
    port = dport;
  /* The path: dot segments go for any URL with a scheme (5.2.4 is applied
   * by resolution; a parsed URL gets the same, as 6.2.2.3 says). */
  {
    sbuf pp = {0};
    if ((rc = put_pct(&pp, t->path.p, t->path.n, ":@/")) < 0 || pp.err) {
      rc = rc ? rc : pp.err;
      free(pp.p);
      goto out;
    }
    if (pp.n && (t->auth.has || pp.p[0] == '/'))
      remove_dots(&f[S_PATH], pp.p, pp.n);
    else if (pp.n)
      sb_put(&f[S_PATH], pp.p, pp.n);
    free(pp.p);
    if (web && f[S_PATH].n == 0)
      sb_c(&f[S_PATH], '/');
    sb_put(&f[S_PATH], "", 0);
  }
  if (t->query.has) {
    if ((rc = put_pct(&f[S_QUERY], t->query.p, t->query.n, ":@/?")) < 0)
      goto out;
    sb_put(&f[S_QUERY], "", 0);
  }
  if (t->frag.has) {
    if ((rc = put_pct(&f[S_FRAG], t->frag.p, t->frag.n, ":@/?#")) < 0)
      goto out;
    sb_put(&f[S_FRAG], "", 0);
  }
  sb_put(&f[S_TARGET], f[S_PATH].p, f[S_PATH].n);
  if (t->query.has) {
    sb_c(&f[S_TARGET], '?');
    sb_put(&f[S_TARGET], f[S_QUERY].p, f[S_QUERY].n);
  }
  sb_put(&f[S_TARGET], "", 0);
  /* href */
  sbuf *h = &f[S_HREF];
  sb_put(h, f[S_SCHEME].p, f[S_SCHEME].n);
  sb_c(h, ':');
  if (t->auth.has) {
    sb_put(h, "//", 2);
    if (has_user) {
      sb_put(h, f[S_USER].p, f[S_USER].n);
      sb_c(h, '@');
    }
    int v6 = f[S_HOST].p && strchr(f[S_HOST].p, ':');
    if (v6)
      sb_c(h, '[');
    sb_put(h, f[S_HOST].p, f[S_HOST].n);
    if (v6)
      sb_c(h, ']');
    if (port && port != dport) {
      char pb[8];
      int k = 0;
      char tmp[8];
      int v = port;
      do
        tmp[k++] = (char)('0' + v % 10);
      while ((v /= 10));
      pb[0] = ':';
      for (int i = 0; i < k; i++)
        pb[1 + i] = tmp[k - 1 - i];
      sb_put(h, pb, (size_t)k + 1);
    }
  }
  sb_put(h, f[S_TARGET].p, f[S_TARGET].n);
  if (t->frag.has) {
    sb_c(h, '#');
    sb_put(h, f[S_FRAG].p, f[S_FRAG].n);
  }
  for (int i = 0; i < S_N; i++)
    if (f[i].err) {
      rc = f[i].err;
      goto out;
    }
  {
    size_t total = 0;
    for (int i = 0; i < S_N; i++)
      total += f[i].n + 1;
    char *mem = coro__malloc(total);
    if (!mem) {
      rc = -ENOMEM;
      goto out;
    }
    const char *at[S_N];
    char *w = mem;
    for (int i = 0; i < S_N; i++) {
      if (f[i].n)
        memcpy(w, f[i].p, f[i].n);
      w[f[i].n] = '\0';
      at[i] = w;
      w += f[i].n + 1;
    }
    memset(u, 0, sizeof *u);
    u->mem_ = mem;
    u->href = at[S_HREF];
    u->scheme = at[S_SCHEME];
    u->userinfo = has_user ? at[S_USER] : NULL;
    u->host = at[S_HOST];
    u->port = port;
    u->path = at[S_PATH];
    u->query = t->query.has ? at[S_QUERY] : NULL;
    u->fragment = t->frag.has ? at[S_FRAG] : NULL;
    u->target = at[S_TARGET];
  }
  goto out;
bad:
  rc = -CORO_HTTP_EURL;
out:
  for (int i = 0; i < S_N; i++)
    free(f[i].p);
  return rc;
}

int coro_url_parse(coro_url *u, const char *s) {
  memset(u, 0, sizeof *u);
  char *c = clean(s);
  if (!c)
    return -ENOMEM;
  parts t;
  split(c, strlen(c), &t);
  int rc = t.scheme.has ? build(u, &t) : -CORO_HTTP_EURL;
  free(c);
  return rc;
}

/* RFC 3986 5.2.3: merge a relative path with the base's. */
static void merge(sbuf *out, const coro_url *b, int base_has_auth, const span *rel) {
  if (base_has_auth && !b->path[0]) {
    sb_c(out, '/');
  } else {
    const char *slash = strrchr(b->path, '/');
    if (slash)
      sb_put(out, b->path, (size_t)(slash - b->path) + 1);
  }
  sb_put(out, rel->p, rel->n);
}

int coro_url_resolve(coro_url *out, const coro_url *base, const char *ref) {
  memset(out, 0, sizeof *out);
  if (!base || !base->mem_)
    return -EINVAL;
  char *c = clean(ref);
  if (!c)
    return -ENOMEM;
  parts r, bp, t;
  split(c, strlen(c), &r);
  split(base->href, strlen(base->href), &bp);
  memset(&t, 0, sizeof t);
  sbuf path = {0};
  if (r.scheme.has) {
    t = r;
  } else {
    t.scheme = bp.scheme;
    if (r.auth.has) {
      t.auth = r.auth;
      t.path = r.path;
      t.query = r.query;
    } else {
      t.auth = bp.auth;
      if (r.path.n == 0) {
        t.path = bp.path;
        t.query = r.query.has ? r.query : bp.query;
      } else {
        if (r.path.p[0] == '/') {
          t.path = r.path;
        } else {
          merge(&path, base, bp.auth.has, &r.path);
          t.path = (span){path.p ? path.p : "", path.n, 1};
        }
        t.query = r.query;
      }
    }
    t.frag = r.frag;
  }
  int rc = path.err ? path.err : build(out, &t);
  free(path.p);
  free(c);
  return rc;
}

int coro_url_join(coro_url *out, const char *base, const char *ref) {
  coro_url b;
  int rc = coro_url_parse(&b, base);
  if (rc < 0) {
    memset(out, 0, sizeof *out);
    return rc;
  }
  rc = coro_url_resolve(out, &b, ref);
  coro_url_free(&b);
  return rc;
}

void coro_url_free(coro_url *u) {
  if (!u)
    return;
  free(u->mem_);
  memset(u, 0, sizeof *u);
}
