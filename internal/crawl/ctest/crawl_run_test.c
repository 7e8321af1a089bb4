/* crawl_run_test.c - the crawl (frontier.c) over a fake fetcher: a site
 * generated in memory, whose "server" records every request with the
 * loop's clock. Asserts what the crawl fetched (each reachable, allowed
 * page exactly once), what it never asked for (disallowed paths), the
 * order of robots.txt before a host's pages, and politeness (request
 * starts to one host at least the delay apart, never more than per_host
 * at once), from the recorded times, never from how long the test took.
 *
 * Built by the Makefile's crawl block with the engine; run by c-native,
 * c-asan and c-valgrind.
 */
#include "../crawl.h"
#include "coro.h"
#include "testing.h"

#include <pthread.h>

/* ---- the fake site ------------------------------------------------ */

#define HOSTS 6
#define PAGES 60 /* per host: /p/0 .. /p/59 */
#define MAXREQ 4096

typedef struct req {
  int host;
  char path[64];
  int64_t start, end;
} req;

typedef struct site {
  int robots_status[HOSTS]; /* 200, 404, 503, 301 */
  int crawl_delay_s[HOSTS]; /* 0: none */
  int64_t serve_ns;         /* how long a response takes */
  req reqs[MAXREQ];
  int nreq;
  int active[HOSTS], max_active[HOSTS];
  int fail_host;            /* this host's pages fail with -ECONNREFUSED (-1 none) */
  pthread_mutex_t mu;       /* the records, for crawls on several loops */
} site;

static int host_index(const crawl_url *u) {
  /* hN.test */
  if (u->host_len != 7 || u->buf[u->host_off] != 'h') return -1;
  return u->buf[u->host_off + 1] - '0';
}

static void set_body(crawl_response *r, const char *s, size_t n) {
  r->body = malloc(n + 1);
  memcpy(r->body, s, n);
  r->body[n] = '\0';
  r->len = n;
  r->bytes = n;
}

/* Page i of host h links to (i+1)%PAGES and (i*7+3)%PAGES on its host,
 * to page i of the next host, to /private/i (disallowed by robots on the
 * hosts that serve robots.txt), and to an outside host. So every page is
 * reachable from h0's /p/0, also with some pages refused. */
static int fake_fetch(void *arg, const crawl_url *u, size_t max,
                      crawl_response *r, int64_t deadline) {
  site *s = arg;
  (void)max;
  int h = host_index(u);
  CHECK(h >= 0 && h < HOSTS);
  const char *path = u->buf + u->path_off;
  pthread_mutex_lock(&s->mu);
  CHECK_LT(s->nreq, MAXREQ);
  req *q = &s->reqs[s->nreq];
  __atomic_store_n(&s->nreq, s->nreq + 1, __ATOMIC_RELAXED);
  q->host = h;
  snprintf(q->path, sizeof q->path, "%s", path);
  q->start = coro_now();
  int64_t start = q->start;
  if (++s->active[h] > s->max_active[h]) s->max_active[h] = s->active[h];
  pthread_mutex_unlock(&s->mu);
  int rc = coro_sleep(start + s->serve_ns < deadline ? start + s->serve_ns : deadline);
  pthread_mutex_lock(&s->mu);
  s->active[h]--;
  q->end = coro_now();
  pthread_mutex_unlock(&s->mu);
  if (rc < 0) {
    r->err = rc;
    return rc;
  }
  char buf[1024];
  int n;
  if (strcmp(path, "/robots.txt") == 0) {
    r->status = s->robots_status[h];
    if (r->status == 301) {
      snprintf(r->location, sizeof r->location, "/moved/robots.txt");
      return 0;
    }
    n = snprintf(buf, sizeof buf, "User-agent: *\nDisallow: /private/\n");
    if (s->crawl_delay_s[h])
      n += snprintf(buf + n, sizeof buf - (size_t)n, "Crawl-delay: %d\n", s->crawl_delay_s[h]);
    snprintf(r->ctype, sizeof r->ctype, "text/plain");
    if (r->status == 200) set_body(r, buf, (size_t)n);
    return 0;
  }
  if (strcmp(path, "/moved/robots.txt") == 0) {
    r->status = 200;
    set_body(r, "User-agent: *\nDisallow: /p/1\n", 29);
    return 0;
  }
  if (h == s->fail_host) {
    r->err = -ECONNREFUSED;
    return -ECONNREFUSED;
  }
  int i;
  if (sscanf(path, "/p/%d", &i) != 1 || i < 0 || i >= PAGES) {
    r->status = 404;
    return 0;
  }
  r->status = 200;
  snprintf(r->ctype, sizeof r->ctype, "text/html");
  n = snprintf(buf, sizeof buf,
               "<html><a href=\"/p/%d\">a</a><a href='../p/%d#x'>b</a>"
               "<a href=\"http://h%d.test/p/%d\">c</a><a href=/private/%d>d</a>"
               "<a href=\"http://outside.example/\">e</a></html>",
               (i + 1) % PAGES, (i * 7 + 3) % PAGES, (h + 1) % HOSTS, i, i);
  set_body(r, buf, (size_t)n);
  return 0;
}

static int count_path(const site *s, int h, const char *path) {
  int n = 0;
  for (int i = 0; i < s->nreq; i++)
    if (s->reqs[i].host == h && strcmp(s->reqs[i].path, path) == 0) n++;
  return n;
}

/* One request at a time to h, each starting at least delay after the
 * previous one ended, by the server's clock. */
static void check_polite(const site *s, int h, int64_t delay) {
  int64_t last = -1;
  for (int i = 0; i < s->nreq; i++) {
    if (s->reqs[i].host != h) continue;
    if (last >= 0 && s->reqs[i].start - last < delay)
      FAILF("host %d: request %d started %" PRId64 " ns after the last ended, delay %" PRId64,
            h, i, s->reqs[i].start - last, delay);
    last = s->reqs[i].end;
  }
  CHECK_LE(s->max_active[h], 1);
}

static crawl_stats run(site *s, crawl_config *c, const char *seed) {
  const char *seeds[] = {seed};
  c->seeds = seeds;
  c->nseeds = 1;
  c->fetch = fake_fetch;
  c->fetch_arg = s;
  crawl *cr;
  CHECK_EQ(crawl_new(&cr, c), 0);
  crawl_stats st;
  CHECK_EQ(crawl_run(cr, &st), 0);
  crawl_free(cr);
  return st;
}

static site *new_site(void) {
  site *s = calloc(1, sizeof *s);
  for (int h = 0; h < HOSTS; h++) s->robots_status[h] = 200;
  s->serve_ns = 200 * 1000;
  s->fail_host = -1;
  pthread_mutex_init(&s->mu, NULL);
  return s;
}

static crawl_filter *any_scope(void) {
  crawl_filter *f;
  CHECK_EQ(crawl_filter_new(&f, CRAWL_SCOPE_DOMAIN, "test", NULL, NULL, NULL, 0), 0);
  return f;
}

/* Every page once, robots first, disallowed never, politeness kept; on
 * loops loops (the hosts shared out, links handed between them). */
static void crawl_site_on(int param, int loops) {
  site *s = new_site();
  crawl_config c;
  crawl_config_init(&c);
  c.stack_mode = param;
  c.loops = loops;
  c.workers = 8;
  c.per_host = 1;
  c.delay_ns = 1000 * 1000; /* 1 ms */
  crawl_filter *f = any_scope();
  c.filter = f;
  crawl_stats st = run(s, &c, "http://h0.test/p/0");
  for (int h = 0; h < HOSTS; h++) {
    CHECK_EQ(count_path(s, h, "/robots.txt"), 1);
    /* robots.txt is the host's first request. */
    for (int i = 0; i < s->nreq; i++)
      if (s->reqs[i].host == h) {
        CHECK_STR_EQ(s->reqs[i].path, "/robots.txt");
        break;
      }
    for (int i = 0; i < PAGES; i++) {
      char p[32];
      snprintf(p, sizeof p, "/p/%d", i);
      if (count_path(s, h, p) != 1) FAILF("h%d %s fetched %d times", h, p, count_path(s, h, p));
      snprintf(p, sizeof p, "/private/%d", i);
      CHECK_EQ(count_path(s, h, p), 0);
    }
    check_polite(s, h, c.delay_ns);
  }
  CHECK_EQ(s->nreq, HOSTS * (PAGES + 1));
  CHECK_U64_EQ(st.pages, HOSTS * PAGES);
  CHECK_U64_EQ(st.robots, HOSTS);
  CHECK_U64_EQ(st.disallowed, HOSTS * PAGES);
  CHECK_U64_EQ(st.queued, HOSTS * PAGES * 2);
  CHECK_U64_EQ(st.hosts, HOSTS);
  CHECK_GT(st.filtered, 0);
  CHECK_U64_EQ(st.errors, 0);
  crawl_filter_free(f);
  free(s);
}

static void crawl_site(int param) { crawl_site_on(param, 1); }
static void crawl_site_loops(int param) { crawl_site_on(param, 3); }

/* Same host by default; depth and page limits. */
static void crawl_limits(int param) {
  site *s = new_site();
  crawl_config c;
  crawl_config_init(&c);
  c.stack_mode = param;
  c.max_depth = 1;
  crawl_stats st = run(s, &c, "http://h0.test/p/0");
  /* depth 0: /p/0; depth 1: /p/1, /p/3 (and /private/0, refused). */
  CHECK_U64_EQ(st.pages, 3);
  CHECK_U64_EQ(st.hosts, 1);
  for (int i = 0; i < s->nreq; i++) CHECK_EQ(s->reqs[i].host, 0);
  free(s);

  s = new_site();
  crawl_config_init(&c);
  c.stack_mode = param;
  c.max_pages = 10;
  c.workers = 4;
  st = run(s, &c, "http://h0.test/p/0");
  CHECK_U64_EQ(st.pages, 10);
  CHECK_EQ(s->nreq, 11); /* and robots.txt */
  free(s);

  /* max_pages counts the pages of all loops. */
  s = new_site();
  crawl_config_init(&c);
  c.stack_mode = param;
  c.max_pages = 25;
  c.workers = 4;
  c.loops = 2;
  crawl_filter *f = any_scope();
  c.filter = f;
  st = run(s, &c, "http://h0.test/p/0");
  CHECK_U64_EQ(st.pages, 25);
  crawl_filter_free(f);
  free(s);
}

/* robots.txt statuses: 404 allows all, 503 disallows all, a redirect is
 * followed; Crawl-delay raises the delay up to the bound. */
static void crawl_robots_status(int param) {
  site *s = new_site();
  s->robots_status[0] = 404;
  s->robots_status[2] = 301;
  s->robots_status[5] = 503;
  s->crawl_delay_s[3] = 3600; /* bounded to 20 ms below */
  crawl_config c;
  crawl_config_init(&c);
  c.stack_mode = param;
  c.max_crawl_delay_ns = 20 * 1000 * 1000;
  c.per_host = 4;
  crawl_filter *f = any_scope();
  c.filter = f;
  c.max_pages = 0;
  crawl_stats st = run(s, &c, "http://h0.test/p/0");
  CHECK(count_path(s, 0, "/private/0") == 1);         /* 404: all allowed */
  CHECK_EQ(count_path(s, 5, "/robots.txt"), 1);       /* 503: nothing */
  for (int i = 0; i < s->nreq; i++)
    if (s->reqs[i].host == 5) CHECK_STR_EQ(s->reqs[i].path, "/robots.txt");
  CHECK_EQ(count_path(s, 2, "/moved/robots.txt"), 1); /* followed */
  CHECK_EQ(count_path(s, 2, "/p/1"), 0);              /* ... and obeyed */
  CHECK_EQ(count_path(s, 2, "/private/2"), 1);
  CHECK_EQ(count_path(s, 3, "/p/59"), 1);
  check_polite(s, 3, 20 * 1000 * 1000); /* Crawl-delay: one at a time */
  for (int h = 0; h < HOSTS; h++) CHECK_LE(s->max_active[h], c.per_host);
  CHECK_EQ(count_path(s, 2, "/p/10"), 0);             /* a prefix rule */
  CHECK_GE(st.disallowed, PAGES * 2 /* h5's */ + 11 /* h2's */);
  crawl_filter_free(f);
  free(s);
}

/* Failed fetches are reported and counted, and the crawl goes on. */
static void crawl_errors(int param) {
  site *s = new_site();
  s->fail_host = 1;
  crawl_config c;
  crawl_config_init(&c);
  c.stack_mode = param;
  crawl_filter *f = any_scope();
  c.filter = f;
  char *out = NULL;
  size_t outn = 0;
  c.out = open_memstream(&out, &outn);
  crawl_stats st = run(s, &c, "http://h0.test/p/0");
  fclose(c.out);
  CHECK_U64_EQ(st.errors, PAGES);
  CHECK_U64_EQ(st.pages, PAGES);
  CHECK(strstr(out, "\"url\":\"http://h1.test/p/0\",\"final_url\":\"http://h1.test/p/0\",\"status\":0") != NULL);
  CHECK(strstr(out, "\"error\":\"Connection refused\"") != NULL);
  CHECK(strstr(out, "{\"url\":\"http://h0.test/p/0\",\"final_url\":\"http://h0.test/p/0\",\"status\":200,\"depth\":0,") != NULL);
  int lines = 0;
  for (char *p = out; *p; p++) lines += *p == '\n';
  CHECK_EQ(lines, 2 * PAGES);
  free(out);
  crawl_filter_free(f);
  free(s);
}

/* crawl_stop from another thread ends a slow crawl with what it has. */
typedef struct stopper {
  crawl *cr;
  site *s;
} stopper;

static void *stop_thread(void *arg) {
  stopper *sp = arg;
  /* Wait for some requests, then stop; the count is read racily but
   * only as a trigger. */
  while (__atomic_load_n(&sp->s->nreq, __ATOMIC_RELAXED) < 5) usleep(1000);
  crawl_stop(sp->cr);
  return NULL;
}

static void crawl_stop_thread(int param) {
  site *s = new_site();
  s->serve_ns = 50 * 1000 * 1000; /* 50 ms a page */
  crawl_config c;
  crawl_config_init(&c);
  c.stack_mode = param;
  c.loops = 2; /* the stop reaches every loop */
  crawl_filter *f = any_scope();
  c.filter = f;
  const char *seeds[] = {"http://h0.test/p/0"};
  c.seeds = seeds;
  c.nseeds = 1;
  c.fetch = fake_fetch;
  c.fetch_arg = s;
  crawl *cr;
  CHECK_EQ(crawl_new(&cr, &c), 0);
  stopper sp = {cr, s};
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, stop_thread, &sp), 0);
  crawl_stats st;
  CHECK_EQ(crawl_run(cr, &st), 0);
  pthread_join(t, NULL);
  CHECK_EQ(st.stopped, 1);
  CHECK_LT(st.pages, HOSTS * PAGES);
  crawl_stop(cr); /* after the run: harmless */
  crawl_free(cr);
  crawl_filter_free(f);
  free(s);
}

static void crawl_bad_config(int param) {
  (void)param;
  crawl_config c;
  crawl_config_init(&c);
  crawl *cr;
  CHECK_EQ(crawl_new(&cr, &c), -EINVAL);
  const char *seeds[] = {"ftp://x/"};
  c.seeds = seeds;
  c.nseeds = 1;
  c.fetch = fake_fetch;
  CHECK_EQ(crawl_new(&cr, &c), -EINVAL);
}

static const testing_case tests[] = {
    {"crawl_site", crawl_site, 0},
    {"crawl_site_loops", crawl_site_loops, 0},
    {"crawl_limits", crawl_limits, 0},
    {"crawl_robots_status", crawl_robots_status, 0},
    {"crawl_errors", crawl_errors, 0},
    {"crawl_stop_thread", crawl_stop_thread, 0},
    {"crawl_bad_config", crawl_bad_config, 0},
};
static const testing_param params[] = {{"guarded", CORO_STACK_GUARDED},
                                       {"shared", CORO_STACK_SHARED}};

TESTING_MAIN(tests, params)
