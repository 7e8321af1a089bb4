/* crawl_go.h - the C side of the Go wrapper: crawl_go.c. */
#ifndef CORO_CRAWL_GO_H
#define CORO_CRAWL_GO_H

#include "crawl.h"

typedef struct crawl_go crawl_go;

typedef struct crawl_go_filter {
  int scope;           /* enum crawl_scope */
  const char *domain;  /* CRAWL_SCOPE_DOMAIN */
  const char *include; /* POSIX ERE or NULL */
  const char *exclude;
} crawl_go_filter;

/* Make a crawl of c (its strings must outlive it; filter, out and fetch
 * are set here) fetching with coro's HTTP client, writing JSON lines to a
 * dup of fd (-1: none). A bad expression: -EINVAL with err. */
int crawl_go_new(crawl_go **out, crawl_config *c, const crawl_go_filter *f,
                 int fd, char *err, size_t errlen);
/* The coroutine entry (arg: g) that runs the crawl on the caller's loop
 * (crawl_run_here), flushes the output and returns 0 or -errno. */
void *crawl_go_entry(void *g);
void crawl_go_stop(crawl_go *g);                /* thread-safe */
void crawl_go_progress(crawl_go *g, crawl_stats *st);
void crawl_go_free(crawl_go *g);
const char *crawl_go_strerror(int err);

#endif
