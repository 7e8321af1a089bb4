/* fetch.c - the crawl's fetcher over coro's HTTP client (httpc/,
 * coro_http.h): one client per crawl, made on the crawl's loop by
 * crawl_fetch_http_open, its pool holding up to per_host connections to
 * each host, kept alive between a host's pages.
 *
 * Contract (crawl.h): crawl_fetch_http_open, crawl_fetch_http,
 * crawl_fetch_http_close. A GET without following redirects (the crawl
 * queues a redirect's target as a link, and follows robots.txt's itself),
 * Accept preferring HTML. The body is kept up to max bytes; the rest is
 * read and dropped (so the connection stays usable) and the response
 * marked truncated. Content-Type is reduced to its lower-case media type.
 * The client's final URL is passed on (final_url) when it differs from
 * the URL asked.
 */
#include "crawl.h"

#include "coro_internal.h" /* coro__malloc: allocations are fault points */

#include "coro_http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
  crawl_response *r;
  size_t max, cap;
} sink;

static int on_body(void *arg, const char *p, size_t n) {
  sink *s = arg;
  crawl_response *r = s->r;
  r->bytes += n;
  size_t keep = r->len < s->max ? s->max - r->len : 0;
  if (keep > n) keep = n;
  if (keep < n) r->truncated = 1;
  if (keep == 0) return 0;
  if (r->len + keep + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 16384;
    while (cap < r->len + keep + 1) cap *= 2;
    char *nb = coro__realloc(r->body, cap);
    if (!nb) return -ENOMEM;
    r->body = nb;
    s->cap = cap;
  }
  memcpy(r->body + r->len, p, keep);
  r->len += keep;
  r->body[r->len] = '\0';
  return 0;
}

int crawl_fetch_http_open(void **arg, const crawl_config *c) {
  coro_http_client_opts o;
  memset(&o, 0, sizeof o);
  o.max_conns_per_host = c->per_host > 0 ? c->per_host : 2;
  o.user_agent = "corocrawl/0.1";
  coro_http_client *cl;
  int rc = coro_http_client_new(&cl, &o);
  if (rc < 0) return rc;
  *arg = cl;
  return 0;
}

void crawl_fetch_http_close(void *arg) {
  if (arg) coro_http_client_free(arg);
}

int crawl_fetch_http(void *arg, const crawl_url *u, size_t max,
                     crawl_response *out, int64_t deadline) {
  static const coro_http_header accept[] = {
      {"Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}};
  memset(out, 0, sizeof *out);
  sink s = {out, max, 0};
  coro_http_request req;
  memset(&req, 0, sizeof req);
  req.url = u->buf;
  req.headers = accept;
  req.nheaders = 1;
  req.deadline = deadline;
  req.on_body = on_body;
  req.arg = &s;
  req.body_fd = -1;
  coro_http_response resp;
  memset(&resp, 0, sizeof resp);
  int rc = coro_http_do(arg, &req, &resp);
  if (rc < 0) {
    coro_http_response_free(&resp);
    free(out->body);
    out->body = NULL;
    out->len = 0;
    out->err = rc;
    return rc;
  }
  out->status = resp.status;
  const char *ct = coro_http_response_header(&resp, "Content-Type");
  if (ct) {
    size_t k = 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    for (; ct[k] && ct[k] != ';' && ct[k] != ' ' && k + 1 < sizeof out->ctype; k++)
      out->ctype[k] = (char)(ct[k] >= 'A' && ct[k] <= 'Z' ? ct[k] | 0x20 : ct[k]);
    out->ctype[k] = '\0';
  }
  if (resp.url && strcmp(resp.url, u->buf) != 0) {
    size_t n = strlen(resp.url) + 1;
    if ((out->final_url = coro__malloc(n))) memcpy(out->final_url, resp.url, n);
  }
  if (resp.url && strcmp(resp.url, u->buf) != 0 && !out->final_url) {
    coro_http_response_free(&resp);
    crawl_response_clear(out);
    out->err = -ENOMEM;
    return -ENOMEM;
  }
  const char *loc = coro_http_response_header(&resp, "Location");
  if (loc && strlen(loc) < sizeof out->location) strcpy(out->location, loc);
  coro_http_response_free(&resp);
  return 0;
}
