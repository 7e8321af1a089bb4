/* crawl.h - the crawler behind `coro crawl`: the contracts of its parts.
 *
 * The pure parts (urlnorm.c, robots.c, links.c, seen.c, filter.c) do no
 * I/O and know nothing of the loop, so the C tests and the fuzzers link
 * them alone (with httpc/url.c, which urlnorm.c calls, and the engine's
 * fault.c, through which url.c allocates). The crawl itself (frontier.c, fetch.c,
 * zone.c, output.c) runs in coroutines on cfg.loops loops, each with the
 * hosts (and their URLs) that hash to it: the first on a loop crawl_run
 * makes on the calling thread, or on the caller's own loop
 * (crawl_run_here), the others on threads of their own.
 *
 * Errors are negative errno values, as everywhere in coro.
 */
#ifndef CORO_CRAWL_H
#define CORO_CRAWL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ */
/* urlnorm.c: URLs as RFC 3986 says                                    */
/* ------------------------------------------------------------------ */

#define CRAWL_URL_MAX 4096 /* longer URLs are refused (-ENAMETOOLONG) */

/* A parsed absolute http(s) URL, normalised. The parts point into buf. */
typedef struct crawl_url {
  char buf[CRAWL_URL_MAX];     /* "scheme://host[:port]/path[?query]" */
  size_t len;                  /* strlen(buf) */
  size_t host_off, host_len;   /* the host, lower case, no brackets */
  size_t path_off;             /* path (and query) starts with '/' */
  int port;                    /* explicit or the scheme's default */
  int https;
} crawl_url;

/* Resolve ref (a link as written, entities already decoded) against base
 * (a normalised URL, or NULL when ref must be absolute) and normalise the
 * result with httpc's URL code (coro_url_resolve: scheme and host to lower
 * case, the default port dropped, dot segments removed, %-escapes of
 * unreserved characters decoded and the others' hex in upper case, bytes
 * that must be escaped escaped, surrounding white space trimmed, tabs and
 * newlines dropped), then keep what a crawl needs: http and https only,
 * no user information, no fragment, an empty path made "/", a host name
 * with no empty label. Returns 0, -EINVAL (another scheme, no host, a bad
 * port or host, a NUL), -ENAMETOOLONG or -ENOMEM. */
int crawl_url_resolve(crawl_url *out, const crawl_url *base, const char *ref,
                      size_t len);
/* The same against a base already parsed by coro_url_parse (links.c
 * parses a page's base once for all its links). */
struct coro_url;
int crawl_url_resolve_in(crawl_url *out, const struct coro_url *base,
                         const char *ref, size_t len);
/* crawl_url_resolve with no base. */
int crawl_url_parse(crawl_url *out, const char *s);

/* ------------------------------------------------------------------ */
/* robots.c: robots.txt per RFC 9309                                   */
/* ------------------------------------------------------------------ */

#define CRAWL_ROBOTS_MAX (512u * 1024u) /* bytes parsed; the rest ignored */

typedef struct crawl_robots crawl_robots;

/* Parse a robots.txt body for the crawler whose product token is agent
 * ("corocrawl"): the groups whose user-agent line matches the token (case-
 * insensitively, as a prefix of the token is not enough: the line's value
 * must equal it) are merged; without one, the "*" groups are merged;
 * without those, everything is allowed. At most CRAWL_ROBOTS_MAX bytes are
 * read. Returns NULL only when out of memory. */
crawl_robots *crawl_robots_parse(const char *body, size_t len,
                                 const char *agent);
/* What a fetch of robots.txt means when it gave no body to parse (RFC 9309
 * 2.3.1.3-4): allow all (status 4xx) or disallow all (5xx, unreachable). */
crawl_robots *crawl_robots_allow_all(void);
crawl_robots *crawl_robots_disallow_all(void);
/* 1 if path ("/a/b?q", as it appears in a normalised URL) may be fetched:
 * the matching rule with the longest pattern wins, Allow on a tie; no
 * match allows. Patterns and path are compared with %-escapes
 * normalised (unreserved ones decoded, the rest upper case). */
int crawl_robots_allowed(const crawl_robots *r, const char *path);
/* The group's Crawl-delay in milliseconds, -1 when none was given. */
int64_t crawl_robots_delay_ms(const crawl_robots *r);
void crawl_robots_free(crawl_robots *r);

/* ------------------------------------------------------------------ */
/* links.c: links of an HTML page                                      */
/* ------------------------------------------------------------------ */

/* Called for each link found, the URL resolved against the page's base
 * (its <base href> if any, else page). Returns 0 to go on, < 0 to stop
 * (that value is then returned by crawl_links). */
typedef int (*crawl_link_fn)(void *arg, const crawl_url *u);

/* Find the links of html: a/area href, link href (rel other than
 * preconnect/dns-prefetch), frame/iframe src; the first base href sets the
 * base. Attribute values may be quoted either way or not at all, names in
 * any case; character references in values are decoded (named ones of the
 * common set, decimal and hex). Comments, script and style contents are
 * skipped; javascript:, mailto: and other non-http(s) links, and links
 * that fail to resolve, are dropped. Returns the number of links reported,
 * fn's negative value, or -ENOMEM. */
int crawl_links(const char *html, size_t len, const crawl_url *page,
                crawl_link_fn fn, void *arg);

/* ------------------------------------------------------------------ */
/* seen.c: the set of URLs already queued                              */
/* ------------------------------------------------------------------ */

/* A set of 64-bit fingerprints of normalised URLs in one open-addressing
 * table kept at most 3/4 full: 8 bytes a slot, about 11-21 bytes per URL
 * depending on where between two doublings the count lies. Two URLs with
 * the same fingerprint count as one: with n URLs the chance that any pair
 * collides is about n^2 / 2^65 (3e-8 for a million). */
typedef struct crawl_seen {
  uint64_t *slot; /* 0 = empty (a fingerprint of 0 is stored as 1) */
  size_t cap;     /* a power of two */
  size_t n;
} crawl_seen;

uint64_t crawl_hash(const void *p, size_t n);
int crawl_seen_init(crawl_seen *s);
/* 1 if added, 0 if it was there, -ENOMEM. */
int crawl_seen_add(crawl_seen *s, const char *url, size_t len);
int crawl_seen_has(const crawl_seen *s, const char *url, size_t len);
size_t crawl_seen_bytes(const crawl_seen *s);
void crawl_seen_free(crawl_seen *s);

/* ------------------------------------------------------------------ */
/* filter.c: which links to follow                                    */
/* ------------------------------------------------------------------ */

enum crawl_scope {
  CRAWL_SCOPE_HOST = 0, /* the seed's host only (default) */
  CRAWL_SCOPE_DOMAIN,   /* hosts equal to or below domain */
  CRAWL_SCOPE_ANY,      /* any host (bounded by the other rules) */
  CRAWL_SCOPE_ZONE,     /* hosts whose DNS zone has the seed's SOA (zone.c) */
};

typedef struct crawl_filter crawl_filter;

/* include/exclude: POSIX extended regular expressions matched against
 * the whole normalised URL, NULL for none. -EINVAL (with a message in
 * err) for a bad expression. */
int crawl_filter_new(crawl_filter **out, int scope, const char *domain,
                     const char *include, const char *exclude, char *err,
                     size_t errlen);
/* 1 if u passes scope (for HOST and DOMAIN; ANY and ZONE pass here, the
 * zone is checked by the crawl) and the expressions; seed is the start. */
int crawl_filter_pass(const crawl_filter *f, const crawl_url *seed,
                      const crawl_url *u);
void crawl_filter_free(crawl_filter *f);

/* ------------------------------------------------------------------ */
/* The crawl: frontier.c (with the fetch of fetch.c, zone.c, output.c) */
/* ------------------------------------------------------------------ */

/* A fetched response as the crawl needs it. */
typedef struct crawl_response {
  int status;         /* 0 when no response came (err says why) */
  int err;            /* negative errno of a failed fetch, 0 */
  char *body;         /* malloc'd, NUL-terminated (NULL if none) */
  size_t len;         /* body bytes kept */
  uint64_t bytes;     /* body bytes received (more than len if truncated) */
  int truncated;      /* the body went beyond the size limit */
  char ctype[64];     /* Content-Type without parameters, lower case */
  char location[CRAWL_URL_MAX]; /* Location of a 3xx, "" */
  char *final_url;    /* malloc'd: the URL the response came from when the
                         fetcher reports one other than the URL asked
                         (its client followed redirects); NULL: that URL */
} crawl_response;

/* How the crawl fetches: fn GETs u within deadline, keeping at most max
 * body bytes, and fills *out (also on failure: status 0, err). fn runs in
 * a worker coroutine and may block it; it does not follow redirects (the
 * crawl queues their targets, and follows robots.txt's itself). fetch.c
 * has the one over coro's HTTP client (crawl_fetch_http, with its
 * open/close, run in the crawl's main coroutine on the crawl's loop);
 * the tests give fakes. */
typedef int (*crawl_fetch_fn)(void *arg, const crawl_url *u, size_t max,
                              crawl_response *out, int64_t deadline);
struct crawl_config;
typedef int (*crawl_fetch_open_fn)(void **arg, const struct crawl_config *c);
typedef void (*crawl_fetch_close_fn)(void *arg);
int crawl_fetch_http(void *arg, const crawl_url *u, size_t max,
                     crawl_response *out, int64_t deadline);
int crawl_fetch_http_open(void **arg, const struct crawl_config *c);
void crawl_fetch_http_close(void *arg);
/* Free what a fetch left in r (body) and zero it. */
void crawl_response_clear(crawl_response *r);

typedef struct crawl_config {
  const char *const *seeds; /* start URLs */
  size_t nseeds;
  int workers;              /* coroutines fetching (shared out among the
                               loops); default 16 */
  int loops;                /* loops, each on a thread with a shard of
                               the hosts; default 1 (at most workers) */
  int per_host;             /* connections to one host at a time; default 2 */
  int64_t delay_ns;         /* between request starts to one host; 0 */
  int64_t max_crawl_delay_ns; /* bound on robots' Crawl-delay; default 10 s */
  int64_t timeout_ns;       /* per request; default 30 s */
  int max_depth;            /* links followed from a seed; -1: no limit */
  int64_t max_pages;        /* pages fetched; 0: no limit */
  size_t max_bytes;         /* body bytes kept per page; default 8 MiB */
  int robots;               /* 1 (default via crawl_config_init): obey */
  const char *agent;        /* robots product token; default "corocrawl" */
  const crawl_filter *filter; /* NULL: same host */
  int scope;                /* enum crawl_scope, for the zone check */
  const char *resolv_conf;  /* the engine resolver's files (NULL: the */
  const char *hosts;        /*   environment's, then the system's) */
  FILE *out;                /* JSON lines; NULL: none */
  crawl_fetch_fn fetch;     /* required */
  void *fetch_arg;          /* its arg; set by fetch_open when given */
  crawl_fetch_open_fn fetch_open;   /* NULL: none */
  crawl_fetch_close_fn fetch_close; /* NULL: none */
  int stack_mode;           /* the loop's; 0: guarded */
  const char *(*strerror)(int err); /* error texts; NULL: coro_strerror */
} crawl_config;

typedef struct crawl_stats {
  uint64_t pages;      /* responses received (any status) */
  uint64_t errors;     /* fetches that failed with no response */
  uint64_t bytes;      /* body bytes received */
  uint64_t links;      /* links found on pages */
  uint64_t queued;     /* URLs queued (distinct, passed the filter) */
  uint64_t disallowed; /* queued URLs robots.txt refused */
  uint64_t robots;     /* robots.txt fetches */
  uint64_t filtered;   /* links the filter or the zone refused */
  uint64_t hosts;      /* hosts seen */
  uint64_t seen_bytes; /* the seen-set's memory */
  uint64_t frontier_peak; /* most URLs waiting at once */
  int stopped;         /* crawl_stop ended it early */
} crawl_stats;

void crawl_config_init(crawl_config *c);
typedef struct crawl crawl;
/* Make a crawl; crawl_run then runs it on new loops (the first on the
 * calling thread, the others on threads it makes and joins) until the
 * frontier is empty, max_pages is reached or crawl_stop is called (from
 * any thread), and fills *st (also on error). With more than one loop,
 * cfg.fetch and a fetch_arg given without fetch_open are used from all
 * the loops' threads at once; fetch_open is called on each loop. */
int crawl_new(crawl **out, const crawl_config *c);
int crawl_run(crawl *cr, crawl_stats *st);
/* The same crawl with its first loop's share run in the calling coroutine,
 * on a loop that someone else makes, runs and closes (the Go wrapper's
 * coro.Loop, which the console sees); the other loops as crawl_run makes
 * them. Blocks that loop's thread twice: until the other loops are made
 * (briefly), and at the end until their threads have ended. They end with
 * the crawl, but a fetch under way on another loop when max_pages is
 * reached runs to its end or its timeout (timeout_ns), and meanwhile
 * posts to this loop (a console's ps) wait. Returns the crawl's error (0
 * or -errno); the counters are crawl_progress's. Free cr only after the
 * loop is closed (a crawl_stop may have posted to it). */
int crawl_run_here(crawl *cr);
int crawl_stop(crawl *cr); /* thread-safe; idempotent */
/* A snapshot of the counters, thread-safe (relaxed reads). */
void crawl_progress(const crawl *cr, crawl_stats *st);
void crawl_free(crawl *cr);

/* zone.c: the SOA of the zone a host is in (walking up the labels until a
 * name has one), as "zone mname rname serial" in buf. Runs in a
 * coroutine; returns 0 or the resolver's negative errors. */
int crawl_zone_of(const char *host, char *buf, size_t len, int64_t deadline);

/* output.c: one JSON line for a page. */
typedef struct crawl_page {
  const char *url;       /* the link followed: for a redirect's target,
                            the URL its chain of redirects started from */
  const char *final_url; /* the URL fetched (NULL: url) */
  int status;
  int depth;
  uint64_t bytes;
  const char *ctype;
  int links;
  int64_t ns;     /* time of the fetch */
  int err;        /* negative errno or 0 */
  int truncated;
  const char *(*strerror)(int err); /* NULL: coro_strerror */
} crawl_page;
int crawl_output_page(FILE *f, const crawl_page *p);
/* Writes s as a JSON string (quotes included). */
void crawl_json_str(FILE *f, const char *s);

#endif
