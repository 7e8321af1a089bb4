/* urlnorm.c - the crawl's URLs: a link resolved against its page and
 * normalised by httpc's URL code (httpc/url.c: RFC 3986 sections 5.2 and
 * 6.2, with the browsers' leniency), then laid out in the crawl's own
 * fixed record, so that one resource has one spelling in the seen-set.
 *
 * Contract (crawl.h): crawl_url_resolve, crawl_url_parse,
 * crawl_url_resolve_in. What the crawl adds to url.c's normal form: only
 * http and https; no user information (a crawler never sends it) and no
 * fragment; a host name of letters, digits, '-', '_' and '.' with no
 * empty label ("a..b", ".a", "." and "a%41" are refused, "example.com."
 * is example.com); at most CRAWL_URL_MAX - 1
 * bytes. No allocation survives a call: url.c's one allocation per URL is
 * freed before returning.
 */
#include "crawl.h"

#include "coro_http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Lay u out in out. */
static int from_url(crawl_url *out, const coro_url *u) {
  int https;
  if (strcmp(u->scheme, "https") == 0)
    https = 1;
  else if (strcmp(u->scheme, "http") == 0)
    https = 0;
  else
    return -EINVAL;
  size_t hn = strlen(u->host);
  if (hn > 0 && u->host[hn - 1] == '.') hn--;
  if (hn == 0) return -EINVAL;
  int v6 = memchr(u->host, ':', hn) != NULL;
  if (!v6)
    for (size_t i = 0; i < hn; i++) {
      char c = u->host[i];
      if (c == '.' && (i == 0 || u->host[i - 1] == '.' || i + 1 == hn))
        return -EINVAL;
      /* url.c keeps %-escaped bytes in a reg-name; no resolver takes them. */
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_'))
        return -EINVAL;
    }
  int defport = https ? 443 : 80;
  char port[8] = "";
  if (u->port != defport) snprintf(port, sizeof port, ":%d", u->port);
  const char *path = u->path[0] ? u->path : "/";
  int n = snprintf(out->buf, sizeof out->buf, "%s://%s%.*s%s%s%s%s%s",
                   https ? "https" : "http", v6 ? "[" : "", (int)hn, u->host,
                   v6 ? "]" : "", port, path, u->query ? "?" : "",
                   u->query ? u->query : "");
  if (n < 0 || (size_t)n >= sizeof out->buf) return -ENAMETOOLONG;
  out->len = (size_t)n;
  out->https = https;
  out->port = u->port;
  out->host_off = (size_t)(https ? 8 : 7) + (v6 ? 1 : 0);
  out->host_len = hn;
  out->path_off = (size_t)(https ? 8 : 7) + (v6 ? 2 : 0) + hn + strlen(port);
  return 0;
}

/* url.c's errors as the crawl's: a URL it refuses is -EINVAL. */
static int err_of(int rc) { return rc == -CORO_HTTP_EURL ? -EINVAL : rc; }

/* ref[0..len) as a C string in tmp; a NUL inside is no URL. */
static int cstr(char *tmp, const char *ref, size_t len) {
  if (len >= CRAWL_URL_MAX) return -ENAMETOOLONG;
  if (memchr(ref, '\0', len)) return -EINVAL;
  memcpy(tmp, ref, len);
  tmp[len] = '\0';
  return 0;
}

int crawl_url_resolve_in(crawl_url *out, const coro_url *base, const char *ref,
                         size_t len) {
  char tmp[CRAWL_URL_MAX];
  int rc = cstr(tmp, ref, len);
  if (rc < 0) return rc;
  coro_url u;
  rc = base ? coro_url_resolve(&u, base, tmp) : coro_url_parse(&u, tmp);
  if (rc < 0) return err_of(rc);
  rc = from_url(out, &u);
  coro_url_free(&u);
  return rc;
}

int crawl_url_resolve(crawl_url *out, const crawl_url *base, const char *ref,
                      size_t len) {
  if (!base) return crawl_url_resolve_in(out, NULL, ref, len);
  coro_url b;
  int rc = coro_url_parse(&b, base->buf);
  if (rc < 0) return err_of(rc);
  rc = crawl_url_resolve_in(out, &b, ref, len);
  coro_url_free(&b);
  return rc;
}

int crawl_url_parse(crawl_url *out, const char *s) {
  return crawl_url_resolve_in(out, NULL, s, strlen(s));
}
