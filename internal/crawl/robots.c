/* robots.c - robots.txt as RFC 9309 specifies it.
 *
 * Contract (crawl.h): crawl_robots_parse, _allow_all, _disallow_all,
 * _allowed, _delay_ms, _free. Pure: malloc only, no I/O; fuzzed by
 * fuzz/robots_fuzz.c.
 *
 * Parsing (2.2): lines "key: value" with '#' comments; keys in any case.
 * A run of user-agent lines opens a group, the allow/disallow lines after
 * it are its rules, and the next user-agent line after a rule opens the
 * next group. A user-agent value names a product token (its leading
 * [A-Za-z_-] characters), compared with ours without regard to case; all
 * groups that name us are merged, else all "*" groups, else nothing
 * applies. Rules before any user-agent line belong to no group. An empty
 * disallow is no rule. Crawl-delay is not in the RFC; most crawlers read it
 * per group, and so do we (the largest of the merged groups').
 *
 * Matching (2.2.2): the rule whose pattern matches the path with the most
 * octets wins, Allow on a tie; '*' matches any run of characters, a final
 * '$' anchors the end, and a pattern is otherwise a prefix. Patterns and
 * paths are compared with %-escapes normalised the way urlnorm.c writes
 * paths (unreserved characters decoded, other escapes in upper case,
 * non-ASCII bytes escaped), so "/%7Efoo" and "/~foo" are one path.
 * "/robots.txt" itself is always allowed (2.2.2).
 *
 * Limits (2.5): the first CRAWL_ROBOTS_MAX (512 KiB) bytes are parsed, the
 * RFC's minimum being 500 KiB; a line cut by the limit is dropped.
 */
#include "crawl.h"

#include "coro_internal.h" /* coro__malloc: allocations are fault points */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct rule {
  char *pat;   /* normalised; without the final '$' */
  size_t len;  /* octets of the pattern as written after normalising,
                  '$' included: the measure of specificity */
  size_t plen; /* strlen(pat) */
  int allow;
  int anchored;
} rule;

typedef struct rules {
  rule *v;
  size_t n, cap;
  int64_t delay_ms;
} rules;

struct crawl_robots {
  rules r;
  int all; /* 1 allow all, -1 disallow all, 0 use the rules */
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }
static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
static int unreserved(int c) {
  return (lower(c) >= 'a' && lower(c) <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

/* Normalise the escapes of s[0..n) into a new string. */
static char *norm(const char *s, size_t n, size_t *outlen) {
  char *o = coro__malloc(3 * n + 1);
  if (!o) return NULL;
  static const char hx[] = "0123456789ABCDEF";
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
        hexval((unsigned char)s[i + 2]) >= 0) {
      int v = hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]);
      if (unreserved(v)) {
        o[k++] = (char)v;
      } else {
        o[k++] = '%';
        o[k++] = hx[v >> 4];
        o[k++] = hx[v & 15];
      }
      i += 2;
    } else if (c <= 0x20 || c >= 0x7f) {
      o[k++] = '%';
      o[k++] = hx[c >> 4];
      o[k++] = hx[c & 15];
    } else {
      o[k++] = (char)c;
    }
  }
  o[k] = '\0';
  *outlen = k;
  return o;
}

static int add_rule(rules *rs, int allow, const char *v, size_t n) {
  if (rs->n == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 8;
    rule *nv = coro__realloc(rs->v, cap * sizeof *nv);
    if (!nv) return -ENOMEM;
    rs->v = nv;
    rs->cap = cap;
  }
  rule *r = &rs->v[rs->n];
  size_t len;
  r->pat = norm(v, n, &len);
  if (!r->pat) return -ENOMEM;
  r->len = len;
  r->anchored = len > 0 && r->pat[len - 1] == '$';
  if (r->anchored) r->pat[--len] = '\0';
  r->plen = len;
  r->allow = allow;
  rs->n++;
  return 0;
}

static void free_rules(rules *rs) {
  for (size_t i = 0; i < rs->n; i++) free(rs->v[i].pat);
  free(rs->v);
}

/* Does the user-agent value v name agent? */
static int names_agent(const char *v, size_t n, const char *agent) {
  size_t k = 0;
  while (k < n && ((lower(v[k]) >= 'a' && lower(v[k]) <= 'z') ||
                   v[k] == '_' || v[k] == '-'))
    k++;
  if (k == 0 || k != strlen(agent)) return 0;
  for (size_t i = 0; i < k; i++)
    if (lower(v[i]) != lower(agent[i])) return 0;
  return 1;
}

static int key_is(const char *k, size_t n, const char *name) {
  if (n != strlen(name)) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower(k[i]) != name[i]) return 0;
  return 1;
}

/* Crawl-delay "N" or "N.M" seconds, as milliseconds; -1 if not a number. */
static int64_t parse_delay(const char *v, size_t n) {
  int64_t ms = 0;
  size_t i = 0;
  if (n == 0) return -1;
  for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
    ms = ms * 10 + (v[i] - '0');
    if (ms > 86400) ms = 86400; /* a day: more means never */
  }
  ms *= 1000;
  if (i < n && v[i] == '.') {
    int64_t scale = 100;
    for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, scale /= 10)
      ms += (v[i] - '0') * scale;
  }
  return i == n ? ms : -1;
}

crawl_robots *crawl_robots_parse(const char *body, size_t len,
                                 const char *agent) {
  crawl_robots *r = coro__calloc(1, sizeof *r);
  if (!r) return NULL;
  rules spec = {0}, star = {0};
  spec.delay_ms = star.delay_ms = -1;
  int have_spec = 0, have_star = 0;
  /* The group being read: does it name us, or '*'; have its rules begun
   * (then a user-agent line opens a new group)? */
  int g_spec = 0, g_star = 0, in_group = 0, g_rules = 0;
  int cut = len > CRAWL_ROBOTS_MAX;
  if (cut) len = CRAWL_ROBOTS_MAX;
  size_t i = 0;
  if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) i = 3;
  while (i < len) {
    size_t e = i;
    while (e < len && body[e] != '\n' && body[e] != '\r') e++;
    if (e == len && cut) break; /* the limit cut this line */
    size_t ls = i, le = e;
    i = e < len ? e + 1 : e;
    const char *hash = memchr(body + ls, '#', le - ls);
    if (hash) le = (size_t)(hash - body);
    const char *colon = memchr(body + ls, ':', le - ls);
    if (!colon) continue;
    size_t ks = ls, ke = (size_t)(colon - body);
    while (ks < ke && (body[ks] == ' ' || body[ks] == '\t')) ks++;
    while (ke > ks && (body[ke - 1] == ' ' || body[ke - 1] == '\t')) ke--;
    size_t vs = (size_t)(colon - body) + 1, ve = le;
    while (vs < ve && (body[vs] == ' ' || body[vs] == '\t')) vs++;
    while (ve > vs && (body[ve - 1] == ' ' || body[ve - 1] == '\t')) ve--;
    const char *k = body + ks, *v = body + vs;
    size_t kn = ke - ks, vn = ve - vs;
    if (key_is(k, kn, "user-agent")) {
      if (!in_group || g_rules) {
        g_spec = g_star = 0;
        g_rules = 0;
      }
      in_group = 1;
      if (vn == 1 && v[0] == '*') {
        g_star = 1;
        have_star = 1;
      } else if (names_agent(v, vn, agent)) {
        g_spec = 1;
        have_spec = 1;
      }
    } else if (key_is(k, kn, "allow") || key_is(k, kn, "disallow")) {
      if (!in_group) continue;
      g_rules = 1;
      if (vn == 0) continue; /* "Disallow:" with nothing: no rule */
      int allow = lower(k[0]) == 'a';
      if (g_spec && add_rule(&spec, allow, v, vn) < 0) goto oom;
      if (g_star && add_rule(&star, allow, v, vn) < 0) goto oom;
    } else if (key_is(k, kn, "crawl-delay")) {
      if (!in_group) continue;
      g_rules = 1;
      int64_t d = parse_delay(v, vn);
      if (d < 0) continue;
      if (g_spec && d > spec.delay_ms) spec.delay_ms = d;
      if (g_star && d > star.delay_ms) star.delay_ms = d;
    } else if (in_group) {
      /* sitemap and unknown keys neither end a group nor belong to it. */
    }
  }
  if (have_spec) {
    r->r = spec;
    free_rules(&star);
  } else {
    r->r = star;
    free_rules(&spec);
    if (!have_star) r->r.delay_ms = -1;
  }
  return r;
oom:
  free_rules(&spec);
  free_rules(&star);
  free(r);
  return NULL;
}

crawl_robots *crawl_robots_allow_all(void) {
  crawl_robots *r = coro__calloc(1, sizeof *r);
  if (r) {
    r->all = 1;
    r->r.delay_ms = -1;
  }
  return r;
}

crawl_robots *crawl_robots_disallow_all(void) {
  crawl_robots *r = coro__calloc(1, sizeof *r);
  if (r) {
    r->all = -1;
    r->r.delay_ms = -1;
  }
  return r;
}

/* Does pattern p (with '*') match path s, as a prefix unless anchored?
 * Greedy with one backtrack point: O(len(p) * len(s)) at worst. */
static int match(const char *p, size_t pn, int anchored, const char *s,
                 size_t sn) {
  size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
  while (si < sn) {
    if (pi < pn && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < pn && p[pi] == s[si]) {
      pi++;
      si++;
    } else if (pi == pn && !anchored) {
      return 1;
    } else if (star != (size_t)-1) {
      pi = star + 1;
      si = ++mark;
    } else {
      return 0;
    }
  }
  while (pi < pn && p[pi] == '*') pi++;
  return pi == pn;
}

int crawl_robots_allowed(const crawl_robots *r, const char *path) {
  if (strcmp(path, "/robots.txt") == 0) return 1;
  if (r->all) return r->all > 0;
  size_t n;
  char *np = norm(path, strlen(path), &n);
  if (!np) return 0; /* out of memory: err on the polite side */
  size_t best = 0;
  int found = 0, allow = 1;
  for (size_t i = 0; i < r->r.n; i++) {
    const rule *ru = &r->r.v[i];
    if (found && ru->len < best) continue;
    if (found && ru->len == best && allow) continue;
    if (!match(ru->pat, ru->plen, ru->anchored, np, n)) continue;
    if (!found || ru->len > best || ru->allow) allow = ru->allow;
    found = 1;
    best = ru->len;
  }
  free(np);
  return allow;
}

int64_t crawl_robots_delay_ms(const crawl_robots *r) { return r->r.delay_ms; }

void crawl_robots_free(crawl_robots *r) {
  if (!r) return;
  free_rules(&r->r);
  free(r);
}
