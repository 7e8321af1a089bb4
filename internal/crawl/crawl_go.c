/* crawl_go.c - what the Go wrapper (crawl.go) needs in C: a crawl made
 * from a config record that Go fills in C memory, over coro's HTTP client
 * (fetch.c), writing its JSON lines to a file descriptor of Go's.
 *
 * Contract (crawl_go.h).
 */
#include "crawl_go.h"

#include "coro_internal.h" /* coro__malloc: allocations are fault points */

#include "coro_http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

struct crawl_go {
  crawl *cr;
  crawl_filter *filter;
  FILE *out;
};

int crawl_go_new(crawl_go **out, crawl_config *c, const crawl_go_filter *fo,
                 int fd, char *err, size_t errlen) {
  crawl_go *g = coro__calloc(1, sizeof *g);
  if (!g) return -ENOMEM;
  int rc = crawl_filter_new(&g->filter, fo->scope, fo->domain, fo->include,
                            fo->exclude, err, errlen);
  if (rc < 0) {
    free(g);
    return rc;
  }
  if (fd >= 0) {
    int d = dup(fd);
    if (d < 0 || !(g->out = fdopen(d, "w"))) {
      rc = -errno;
      if (d >= 0) close(d);
      crawl_filter_free(g->filter);
      free(g);
      return rc;
    }
    setvbuf(g->out, NULL, _IOFBF, 1 << 16);
  }
  c->filter = g->filter;
  c->scope = fo->scope;
  c->out = g->out;
  c->fetch = crawl_fetch_http;
  c->fetch_open = crawl_fetch_http_open;
  c->fetch_close = crawl_fetch_http_close;
  c->strerror = coro_http_strerror;
  rc = crawl_new(&g->cr, c);
  if (rc < 0) {
    if (g->out) fclose(g->out);
    crawl_filter_free(g->filter);
    free(g);
    return rc;
  }
  *out = g;
  return 0;
}

void *crawl_go_entry(void *arg) {
  crawl_go *g = arg;
  int rc = crawl_run_here(g->cr);
  if (g->out && fflush(g->out) != 0 && rc == 0) rc = -EIO;
  return (void *)(intptr_t)rc;
}

void crawl_go_stop(crawl_go *g) { crawl_stop(g->cr); }

void crawl_go_progress(crawl_go *g, crawl_stats *st) { crawl_progress(g->cr, st); }

void crawl_go_free(crawl_go *g) {
  crawl_free(g->cr);
  if (g->out) fclose(g->out);
  crawl_filter_free(g->filter);
  free(g);
}

const char *crawl_go_strerror(int err) { return coro_http_strerror(err); }
