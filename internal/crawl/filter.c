/* filter.c - which links the crawl follows: scope (the seed's host, a
 * domain and the hosts below it, or any host) and include/exclude regular
 * expressions over the whole normalised URL. Depth, page count and the
 * DNS zone (zone.c) are the crawl's to check, since they need its state.
 *
 * Contract (crawl.h): crawl_filter_new/_pass/_free. POSIX <regex.h>
 * (extended syntax, unanchored: anchor with ^ and $ as needed).
 */
#include "crawl.h"

#include "coro_internal.h" /* coro__malloc: allocations are fault points */

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

struct crawl_filter {
  int scope;
  char *domain; /* lower case, no leading or trailing dot */
  regex_t inc, exc;
  int has_inc, has_exc;
};

static int compile(regex_t *re, const char *src, const char *what, char *err,
                   size_t errlen) {
  int rc = regcomp(re, src, REG_EXTENDED | REG_NOSUB);
  if (rc == 0) return 0;
  char msg[128];
  regerror(rc, re, msg, sizeof msg);
  if (err && errlen) snprintf(err, errlen, "%s %s: %s", what, src, msg);
  return -EINVAL;
}

int crawl_filter_new(crawl_filter **out, int scope, const char *domain,
                     const char *include, const char *exclude, char *err,
                     size_t errlen) {
  crawl_filter *f = coro__calloc(1, sizeof *f);
  if (!f) return -ENOMEM;
  f->scope = scope;
  if (domain) {
    while (*domain == '.') domain++;
    size_t dn = strlen(domain) + 1;
    f->domain = coro__malloc(dn);
    if (f->domain) memcpy(f->domain, domain, dn);
    if (!f->domain) {
      free(f);
      return -ENOMEM;
    }
    size_t n = strlen(f->domain);
    while (n > 0 && f->domain[n - 1] == '.') f->domain[--n] = '\0';
    for (char *p = f->domain; *p; p++)
      if (*p >= 'A' && *p <= 'Z') *p |= 0x20;
  }
  if (scope == CRAWL_SCOPE_DOMAIN && (!f->domain || !f->domain[0])) {
    if (err && errlen) snprintf(err, errlen, "domain scope without a domain");
    crawl_filter_free(f);
    return -EINVAL;
  }
  if (include && *include) {
    if (compile(&f->inc, include, "include", err, errlen) < 0) {
      crawl_filter_free(f);
      return -EINVAL;
    }
    f->has_inc = 1;
  }
  if (exclude && *exclude) {
    if (compile(&f->exc, exclude, "exclude", err, errlen) < 0) {
      crawl_filter_free(f);
      return -EINVAL;
    }
    f->has_exc = 1;
  }
  *out = f;
  return 0;
}

static int host_eq(const crawl_url *a, const crawl_url *b) {
  return a->host_len == b->host_len && a->port == b->port &&
         a->https == b->https &&
         memcmp(a->buf + a->host_off, b->buf + b->host_off, a->host_len) == 0;
}

int crawl_filter_pass(const crawl_filter *f, const crawl_url *seed,
                      const crawl_url *u) {
  int scope = f ? f->scope : CRAWL_SCOPE_HOST;
  if (scope == CRAWL_SCOPE_HOST && !host_eq(seed, u)) return 0;
  if (scope == CRAWL_SCOPE_DOMAIN) {
    size_t dn = strlen(f->domain), hn = u->host_len;
    const char *h = u->buf + u->host_off;
    if (hn < dn || memcmp(h + hn - dn, f->domain, dn) != 0) return 0;
    if (hn > dn && h[hn - dn - 1] != '.') return 0;
  }
  if (!f) return 1;
  if (f->has_inc && regexec(&f->inc, u->buf, 0, NULL, 0) != 0) return 0;
  if (f->has_exc && regexec(&f->exc, u->buf, 0, NULL, 0) == 0) return 0;
  return 1;
}

void crawl_filter_free(crawl_filter *f) {
  if (!f) return;
  if (f->has_inc) regfree(&f->inc);
  if (f->has_exc) regfree(&f->exc);
  free(f->domain);
  free(f);
}
