/* frontier.c - the crawl: per-host queues with politeness, and the pool
 * of worker coroutines that drains them.
 *
 * Contract (crawl.h): crawl_config_init, crawl_new, crawl_run,
 * crawl_run_here, crawl_stop, crawl_progress, crawl_free.
 *
 * Everything runs on one loop, which crawl_run makes on the calling thread
 * (crawl_run_here: the caller's, run by someone else, as the Go wrapper's):
 * a main coroutine (the seed's zone when the scope is ZONE, the seeds, the
 * workers, the end) and cfg.workers worker coroutines. They share the
 * frontier without locks, since coroutines of one loop switch only where
 * they block; the condition variable only puts idle workers to sleep (each
 * waits with a mutex of its own, always uncontended).
 *
 * The frontier is a table of hosts (scheme://host:port), each with a FIFO
 * of URLs waiting and a heap of the hosts that may be asked now or later,
 * keyed by the earliest time the next request may start. A host is in the
 * heap when it has URLs waiting and fewer than its cap of requests
 * running; a worker takes the top host once its time has come. The
 * delay (cfg.delay_ns, or robots.txt's Crawl-delay bounded by
 * cfg.max_crawl_delay_ns, whichever is longer) spaces requests to a host:
 * with one connection per host (cfg.per_host 1, or any host whose
 * robots.txt gives a Crawl-delay), from the end of one request to the
 * start of the next, so that the server too sees its requests at least
 * the delay apart, whatever the network's latency; with more, from one
 * request's start to the next one's. Before a host's first page: the
 * zone check (scope ZONE, DNS only) and robots.txt (a request like the
 * others for the delay).
 *
 * Memory: a waiting URL costs a node of 16 bytes plus its text (malloc's
 * rounding included, about 80-100 bytes for 60-80 byte URLs); the
 * seen-set 16.8 bytes per URL ever queued (seen.c); a host about 120
 * bytes plus its robots rules.
 */
#include "crawl.h"

#include "coro.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
  struct item *next;
  int depth;
  uint32_t len;
  char url[];
} item;

enum { R_UNKNOWN, R_FETCHING, R_READY };
enum { Z_UNKNOWN, Z_CHECKING, Z_IN, Z_OUT };

typedef struct host {
  struct host *hnext; /* hash chain */
  uint64_t hash;
  char *key;          /* "scheme://host[:port]" */
  item *head, *tail;
  size_t nq;
  int active;         /* requests (and robots/zone checks) running */
  int cap;            /* most requests at once: per_host, 1 with a
                         Crawl-delay */
  int64_t next_ns;    /* the earliest start of its next request */
  int64_t delay_ns;
  int robots_state, zone_state;
  crawl_robots *robots;
  size_t heap_idx;    /* (size_t)-1: not in the heap */
} host;

typedef struct worker {
  struct crawl *cr;
  coro *co;
  coro_mutex m;  /* for coro_cond_wait only: never contended */
  int in_io;     /* blocked in a fetch or a lookup: crawl_stop cancels it */
} worker;

struct crawl {
  crawl_config cfg;
  crawl_url *seeds;
  size_t nseeds;
  char seed_zone[600];
  int seed_zone_err;
  /* The frontier. */
  host **tab;
  size_t tab_cap, nhosts;
  host **heap;
  size_t heap_n, heap_cap;
  crawl_seen seen;
  uint64_t waiting;     /* URLs in host queues */
  uint64_t taken;       /* pages taken for fetching (max_pages) */
  int busy;             /* workers between taking work and finishing it */
  int done;
  coro_cond wake;
  worker *workers;
  int nworkers;
  crawl_stats st;       /* updated with relaxed atomics: crawl_progress */
  /* Stopping from another thread. */
  pthread_mutex_t lk;
  coro_loop *loop;      /* non-NULL while the loop runs */
  int stop;             /* set by crawl_stop (atomically) */
  int err;
};

#define ADD(field, v) __atomic_fetch_add(&cr->st.field, (v), __ATOMIC_RELAXED)

void crawl_config_init(crawl_config *c) {
  memset(c, 0, sizeof *c);
  c->workers = 16;
  c->per_host = 2;
  c->max_crawl_delay_ns = 10 * INT64_C(1000000000);
  c->timeout_ns = 30 * INT64_C(1000000000);
  c->max_depth = -1;
  c->max_bytes = 8u << 20;
  c->robots = 1;
  c->agent = "corocrawl";
}

/* ---- the heap of hosts, by next_ns -------------------------------- */

static int before(const host *a, const host *b) { return a->next_ns < b->next_ns; }

static void heap_set(struct crawl *cr, size_t i, host *h) {
  cr->heap[i] = h;
  h->heap_idx = i;
}

static void heap_up(struct crawl *cr, size_t i) {
  host *h = cr->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(h, cr->heap[p])) break;
    heap_set(cr, i, cr->heap[p]);
    i = p;
  }
  heap_set(cr, i, h);
}

static void heap_down(struct crawl *cr, size_t i) {
  host *h = cr->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= cr->heap_n) break;
    if (c + 1 < cr->heap_n && before(cr->heap[c + 1], cr->heap[c])) c++;
    if (!before(cr->heap[c], h)) break;
    heap_set(cr, i, cr->heap[c]);
    i = c;
  }
  heap_set(cr, i, h);
}

static int heap_push(struct crawl *cr, host *h) {
  if (cr->heap_n == cr->heap_cap) {
    size_t cap = cr->heap_cap ? cr->heap_cap * 2 : 64;
    host **nh = realloc(cr->heap, cap * sizeof *nh);
    if (!nh) return -ENOMEM;
    cr->heap = nh;
    cr->heap_cap = cap;
  }
  cr->heap[cr->heap_n] = h;
  h->heap_idx = cr->heap_n++;
  heap_up(cr, h->heap_idx);
  return 0;
}

static void heap_remove(struct crawl *cr, host *h) {
  size_t i = h->heap_idx;
  h->heap_idx = (size_t)-1;
  if (--cr->heap_n == i) return;
  host *last = cr->heap[cr->heap_n];
  heap_set(cr, i, last);
  heap_up(cr, i);
  heap_down(cr, last->heap_idx);
}

/* Put h in the heap if it has work it may start, and wake a worker. */
static void reschedule(struct crawl *cr, host *h) {
  if (h->heap_idx != (size_t)-1 || h->nq == 0 ||
      h->active >= h->cap || h->robots_state == R_FETCHING ||
      h->zone_state == Z_CHECKING)
    return;
  if (heap_push(cr, h) < 0) {
    cr->err = -ENOMEM;
    return;
  }
  coro_cond_broadcast(&cr->wake);
}

/* ---- hosts and queues --------------------------------------------- */

static host *host_get(struct crawl *cr, const crawl_url *u) {
  const char *key = u->buf;
  size_t kn = u->path_off;
  uint64_t hv = crawl_hash(key, kn);
  size_t b = (size_t)hv & (cr->tab_cap - 1);
  for (host *h = cr->tab[b]; h; h = h->hnext)
    if (h->hash == hv && strlen(h->key) == kn && memcmp(h->key, key, kn) == 0)
      return h;
  if (cr->nhosts + 1 > cr->tab_cap) {
    size_t cap = cr->tab_cap * 2;
    host **nt = calloc(cap, sizeof *nt);
    if (!nt) return NULL;
    for (size_t i = 0; i < cr->tab_cap; i++)
      for (host *h = cr->tab[i], *n; h; h = n) {
        n = h->hnext;
        size_t nb = (size_t)h->hash & (cap - 1);
        h->hnext = nt[nb];
        nt[nb] = h;
      }
    free(cr->tab);
    cr->tab = nt;
    cr->tab_cap = cap;
    b = (size_t)hv & (cap - 1);
  }
  host *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->key = strndup(key, kn);
  if (!h->key) {
    free(h);
    return NULL;
  }
  h->hash = hv;
  h->heap_idx = (size_t)-1;
  h->delay_ns = cr->cfg.delay_ns;
  h->cap = cr->cfg.per_host;
  h->robots_state = cr->cfg.robots ? R_UNKNOWN : R_READY;
  h->zone_state = cr->cfg.scope == CRAWL_SCOPE_ZONE ? Z_UNKNOWN : Z_IN;
  h->hnext = cr->tab[b];
  cr->tab[b] = h;
  cr->nhosts++;
  ADD(hosts, 1);
  return h;
}

/* Queue u at depth unless it was queued before. 1 queued, 0 seen, < 0. */
static int enqueue(struct crawl *cr, const crawl_url *u, int depth) {
  int rc = crawl_seen_add(&cr->seen, u->buf, u->len);
  if (rc <= 0) return rc;
  host *h = host_get(cr, u);
  if (!h) return -ENOMEM;
  if (h->zone_state == Z_OUT) {
    ADD(filtered, 1);
    return 0;
  }
  item *it = malloc(sizeof *it + u->len + 1);
  if (!it) return -ENOMEM;
  it->next = NULL;
  it->depth = depth;
  it->len = (uint32_t)u->len;
  memcpy(it->url, u->buf, u->len + 1);
  if (h->tail)
    h->tail->next = it;
  else
    h->head = it;
  h->tail = it;
  h->nq++;
  cr->waiting++;
  ADD(queued, 1);
  if (cr->waiting > cr->st.frontier_peak)
    __atomic_store_n(&cr->st.frontier_peak, cr->waiting, __ATOMIC_RELAXED);
  reschedule(cr, h);
  return 1;
}

static item *dequeue(struct crawl *cr, host *h) {
  item *it = h->head;
  h->head = it->next;
  if (!h->head) h->tail = NULL;
  h->nq--;
  cr->waiting--;
  return it;
}

static void drop_queue(struct crawl *cr, host *h, uint64_t *counter) {
  while (h->head) {
    free(dequeue(cr, h));
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
  }
}

/* ---- a worker ----------------------------------------------------- */

static int stopping(struct crawl *cr) {
  return __atomic_load_n(&cr->stop, __ATOMIC_RELAXED) || cr->err;
}

static int fetch(struct crawl *cr, worker *w, const crawl_url *u,
                 crawl_response *r) {
  memset(r, 0, sizeof *r);
  int64_t dl = cr->cfg.timeout_ns > 0 ? coro_now() + cr->cfg.timeout_ns : -1;
  w->in_io = 1;
  int rc = cr->cfg.fetch(cr->cfg.fetch_arg, u, cr->cfg.max_bytes, r, dl);
  w->in_io = 0;
  if (rc < 0 && !r->err) r->err = rc;
  return rc;
}

/* robots.txt of h, following up to 5 redirects (RFC 9309 2.3.1.2). */
static void fetch_robots(struct crawl *cr, worker *w, host *h) {
  crawl_url u;
  char first[CRAWL_URL_MAX];
  snprintf(first, sizeof first, "%s/robots.txt", h->key);
  crawl_robots *rb = NULL;
  if (crawl_url_parse(&u, first) < 0) {
    rb = crawl_robots_allow_all();
  } else {
    for (int hops = 0; !rb; hops++) {
      crawl_response r;
      ADD(robots, 1);
      fetch(cr, w, &u, &r);
      if (stopping(cr)) {
        crawl_response_clear(&r);
        rb = crawl_robots_disallow_all();
        break;
      }
      if (r.status >= 200 && r.status < 300) {
        rb = crawl_robots_parse(r.body ? r.body : "", r.len, cr->cfg.agent);
      } else if (r.status >= 300 && r.status < 400 && r.location[0] && hops < 5) {
        crawl_url next;
        if (crawl_url_resolve(&next, &u, r.location, strlen(r.location)) < 0)
          rb = crawl_robots_allow_all(); /* unusable redirect: as 404 */
        else
          u = next;
      } else if (r.status >= 300 && r.status < 500) {
        rb = crawl_robots_allow_all(); /* 4xx, too many redirects */
      } else {
        rb = crawl_robots_disallow_all(); /* 5xx, unreachable */
      }
      crawl_response_clear(&r);
    }
  }
  if (!rb) {
    cr->err = -ENOMEM;
    return;
  }
  h->robots = rb;
  int64_t d = crawl_robots_delay_ms(rb);
  if (d >= 0) {
    int64_t ns = d * 1000000;
    if (ns > cr->cfg.max_crawl_delay_ns) ns = cr->cfg.max_crawl_delay_ns;
    if (ns > h->delay_ns) h->delay_ns = ns;
    h->cap = 1;
  }
}

typedef struct page_ctx {
  struct crawl *cr;
  int depth;
  int err;
} page_ctx;

/* A link of a fetched page: the filter, the zone (at the host's first
 * turn), depth, then the seen-set. */
static int on_link(void *arg, const crawl_url *u) {
  page_ctx *pc = arg;
  struct crawl *cr = pc->cr;
  ADD(links, 1);
  if (cr->cfg.max_depth >= 0 && pc->depth > cr->cfg.max_depth) return 0;
  int pass = 0;
  for (size_t i = 0; i < cr->nseeds && !pass; i++)
    pass = crawl_filter_pass(cr->cfg.filter, &cr->seeds[i], u);
  if (!pass) {
    if (!crawl_seen_has(&cr->seen, u->buf, u->len)) ADD(filtered, 1);
    return 0;
  }
  int rc = enqueue(cr, u, pc->depth);
  if (rc < 0) {
    pc->err = rc;
    return rc;
  }
  return 0;
}

static void do_page(struct crawl *cr, worker *w, host *h, item *it) {
  crawl_url u;
  if (crawl_url_parse(&u, it->url) < 0) return; /* cannot happen: queued normalised */
  crawl_response r;
  int64_t t0 = coro_now();
  fetch(cr, w, &u, &r);
  int64_t t1 = coro_now();
  if (stopping(cr) && r.err == -ECANCELED) {
    crawl_response_clear(&r);
    return;
  }
  (void)h;
  page_ctx pc = {cr, it->depth + 1, 0};
  int links = 0;
  if (r.status >= 200 && r.status < 300 && r.body &&
      strcmp(r.ctype, "text/html") == 0)
    links = crawl_links(r.body, r.len, &u, on_link, &pc);
  else if (r.status >= 300 && r.status < 400 && r.location[0]) {
    /* A redirect's target is queued like a link, at the same depth. */
    crawl_url t;
    pc.depth = it->depth;
    if (crawl_url_resolve(&t, &u, r.location, strlen(r.location)) == 0) {
      links = 1;
      on_link(&pc, &t);
    }
  }
  if (links < 0) links = 0;
  if (r.status > 0)
    ADD(pages, 1);
  else
    ADD(errors, 1);
  ADD(bytes, r.bytes);
  if (cr->cfg.out) {
    crawl_page p = {u.buf, u.buf, r.status, it->depth, r.bytes, r.ctype,
                    links, t1 - t0, r.status > 0 ? 0 : r.err, r.truncated,
                    cr->cfg.strerror};
    if (crawl_output_page(cr->cfg.out, &p) < 0) cr->err = -EIO;
  }
  if (pc.err) cr->err = pc.err;
  crawl_response_clear(&r);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  struct crawl *cr = w->cr;
  coro_mutex_lock(&w->m, -1);
  for (;;) {
    if (stopping(cr) || cr->done) break;
    if (cr->cfg.max_pages > 0 && cr->taken >= (uint64_t)cr->cfg.max_pages) {
      if (cr->busy == 0) break;
      coro_cond_wait(&cr->wake, &w->m, -1);
      continue;
    }
    host *h = cr->heap_n ? cr->heap[0] : NULL;
    if (!h) {
      if (cr->busy == 0) {
        cr->done = 1; /* nothing waits, nothing runs that could add */
        coro_cond_broadcast(&cr->wake);
        break;
      }
      coro_cond_wait(&cr->wake, &w->m, -1);
      continue;
    }
    int64_t now = coro_now();
    if (h->next_ns > now) {
      if (coro_cond_wait(&cr->wake, &w->m, h->next_ns) == -ECANCELED) break;
      continue;
    }
    heap_remove(cr, h);
    cr->busy++;
    h->active++;
    if (h->zone_state == Z_UNKNOWN) {
      char z[sizeof cr->seed_zone];
      h->zone_state = Z_CHECKING;
      /* The host name alone: key is scheme://host[:port]. */
      crawl_url hu;
      int in = 0;
      if (crawl_url_parse(&hu, h->key) == 0) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)hu.host_len, hu.buf + hu.host_off);
        int64_t dl = coro_now() + cr->cfg.timeout_ns;
        w->in_io = 1;
        int rc = crawl_zone_of(name, z, sizeof z, dl);
        w->in_io = 0;
        in = rc == 0 && cr->seed_zone_err == 0 && strcmp(z, cr->seed_zone) == 0;
      }
      h->zone_state = in ? Z_IN : Z_OUT;
      if (!in) drop_queue(cr, h, &cr->st.filtered);
    } else if (h->robots_state == R_UNKNOWN) {
      h->robots_state = R_FETCHING;
      h->next_ns = now + h->delay_ns;
      fetch_robots(cr, w, h);
      h->robots_state = R_READY;
    } else {
      item *it = dequeue(cr, h);
      const char *path = it->url + strlen(h->key); /* "/..." */
      if (h->robots && !crawl_robots_allowed(h->robots, path)) {
        ADD(disallowed, 1);
      } else {
        cr->taken++;
        h->next_ns = now + h->delay_ns;
        reschedule(cr, h); /* another request may start after the delay */
        do_page(cr, w, h, it);
      }
      free(it);
    }
    h->active--;
    cr->busy--;
    if (h->cap == 1) {
      /* One at a time: the delay counts from this request's end. */
      int64_t next = coro_now() + h->delay_ns;
      if (next > h->next_ns) h->next_ns = next;
    }
    reschedule(cr, h);
    coro_cond_broadcast(&cr->wake);
    if (stopping(cr)) break;
  }
  coro_cond_broadcast(&cr->wake);
  coro_mutex_unlock(&w->m);
  return NULL;
}

/* ---- the run ------------------------------------------------------ */

/* The crawl, in its main coroutine: until the workers have ended. */
static void crawl_body(struct crawl *cr) {
  if (cr->cfg.fetch_open) {
    int rc = cr->cfg.fetch_open(&cr->cfg.fetch_arg, &cr->cfg);
    if (rc < 0) {
      cr->err = rc;
      return;
    }
  }
  if (cr->cfg.scope == CRAWL_SCOPE_ZONE) {
    char name[256];
    crawl_url *s = &cr->seeds[0];
    snprintf(name, sizeof name, "%.*s", (int)s->host_len, s->buf + s->host_off);
    cr->seed_zone_err = crawl_zone_of(name, cr->seed_zone, sizeof cr->seed_zone,
                                      coro_now() + cr->cfg.timeout_ns);
    if (cr->seed_zone_err < 0) cr->err = cr->seed_zone_err;
  }
  for (size_t i = 0; i < cr->nseeds && !cr->err; i++) {
    int rc = enqueue(cr, &cr->seeds[i], 0);
    if (rc < 0) cr->err = rc;
  }
  int n = 0;
  for (; n < cr->nworkers && !cr->err; n++) {
    worker *w = &cr->workers[n];
    w->cr = cr;
    coro_mutex_init(&w->m);
    coro_opts o = {0};
    o.name = "crawl worker";
    int rc = coro_spawn(&w->co, worker_main, w, &o);
    if (rc < 0) {
      cr->err = rc;
      break;
    }
  }
  for (int i = 0; i < n; i++)
    if (coro_join(cr->workers[i].co, -1, NULL) == 0) cr->workers[i].co = NULL;
  if (cr->cfg.fetch_close) cr->cfg.fetch_close(cr->cfg.fetch_arg);
}

/* crawl_run's main coroutine: the crawl, then the loop stops. */
static void *crawl_main(void *arg) {
  crawl_body(arg);
  coro_loop_stop(coro_loop_current());
  return NULL;
}

int crawl_new(crawl **out, const crawl_config *c) {
  if (!c->seeds || c->nseeds == 0 || !c->fetch) return -EINVAL;
  struct crawl *cr = calloc(1, sizeof *cr);
  if (!cr) return -ENOMEM;
  cr->cfg = *c;
  if (cr->cfg.workers <= 0) cr->cfg.workers = 16;
  if (cr->cfg.per_host <= 0) cr->cfg.per_host = 2;
  if (cr->cfg.timeout_ns <= 0) cr->cfg.timeout_ns = 30 * INT64_C(1000000000);
  if (cr->cfg.max_bytes == 0) cr->cfg.max_bytes = 8u << 20;
  if (!cr->cfg.agent) cr->cfg.agent = "corocrawl";
  if (cr->cfg.max_crawl_delay_ns < 0) cr->cfg.max_crawl_delay_ns = 0;
  pthread_mutex_init(&cr->lk, NULL);
  cr->nworkers = cr->cfg.workers;
  cr->nseeds = c->nseeds;
  cr->seeds = calloc(c->nseeds, sizeof *cr->seeds);
  cr->workers = calloc((size_t)cr->nworkers, sizeof *cr->workers);
  cr->tab_cap = 64;
  cr->tab = calloc(cr->tab_cap, sizeof *cr->tab);
  if (!cr->seeds || !cr->workers || !cr->tab || crawl_seen_init(&cr->seen) < 0) {
    crawl_free(cr);
    return -ENOMEM;
  }
  for (size_t i = 0; i < c->nseeds; i++)
    if (crawl_url_parse(&cr->seeds[i], c->seeds[i]) < 0) {
      crawl_free(cr);
      return -EINVAL;
    }
  coro_cond_init(&cr->wake);
  *out = cr;
  return 0;
}

static void stop_on_loop(void *arg) {
  struct crawl *cr = arg;
  for (int i = 0; i < cr->nworkers; i++)
    if (cr->workers[i].co && cr->workers[i].in_io) coro_cancel(cr->workers[i].co);
  coro_cond_broadcast(&cr->wake);
}

int crawl_stop(crawl *cr) {
  __atomic_store_n(&cr->stop, 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&cr->lk);
  if (cr->loop) coro_loop_post(cr->loop, stop_on_loop, cr);
  pthread_mutex_unlock(&cr->lk);
  return 0;
}

void crawl_progress(const crawl *cr, crawl_stats *st) {
#define LOAD(f) st->f = __atomic_load_n(&cr->st.f, __ATOMIC_RELAXED)
  LOAD(pages);
  LOAD(errors);
  LOAD(bytes);
  LOAD(links);
  LOAD(queued);
  LOAD(disallowed);
  LOAD(robots);
  LOAD(filtered);
  LOAD(hosts);
  LOAD(seen_bytes);
  LOAD(frontier_peak);
#undef LOAD
  st->stopped = __atomic_load_n(&cr->stop, __ATOMIC_RELAXED);
}

int crawl_run(crawl *cr, crawl_stats *st) {
  coro_resolver_opts ro;
  memset(&ro, 0, sizeof ro);
  ro.resolv_conf = cr->cfg.resolv_conf;
  ro.hosts = cr->cfg.hosts;
  coro_loop_opts lo;
  memset(&lo, 0, sizeof lo);
  lo.stack_mode = cr->cfg.stack_mode;
  lo.name = "crawl";
  lo.resolver = &ro;
  coro_loop *loop;
  int rc = coro_loop_new(&loop, &lo);
  if (rc < 0) return rc;
  coro *main;
  coro_opts o = {0};
  o.name = "crawl main";
  rc = coro_spawn(&main, crawl_main, cr, &o);
  if (rc == 0) {
    pthread_mutex_lock(&cr->lk);
    cr->loop = loop;
    pthread_mutex_unlock(&cr->lk);
    if (__atomic_load_n(&cr->stop, __ATOMIC_RELAXED)) stop_on_loop(cr);
    rc = coro_loop_run(loop, CORO_RUN_UNTIL_STOPPED);
    pthread_mutex_lock(&cr->lk);
    cr->loop = NULL;
    pthread_mutex_unlock(&cr->lk);
    if (rc == 0) rc = coro_join(main, 0, NULL);
  }
  int crc = coro_loop_close(loop, coro_now() + 5 * INT64_C(1000000000));
  if (rc == 0) rc = cr->err;
  if (rc == 0 && crc < 0) rc = crc;
  __atomic_store_n(&cr->st.seen_bytes, crawl_seen_bytes(&cr->seen), __ATOMIC_RELAXED);
  crawl_progress(cr, st);
  return rc;
}

/* crawl_stop reaches the loop through cr->loop while it is set: here for
 * the whole crawl. A stop that came before it was set is seen here; a
 * post of stop_on_loop still queued when this returns runs on the loop
 * later, so the caller frees cr only once the loop has been closed. */
int crawl_run_here(crawl *cr) {
  pthread_mutex_lock(&cr->lk);
  cr->loop = coro_loop_current();
  pthread_mutex_unlock(&cr->lk);
  if (__atomic_load_n(&cr->stop, __ATOMIC_RELAXED)) stop_on_loop(cr);
  crawl_body(cr);
  pthread_mutex_lock(&cr->lk);
  cr->loop = NULL;
  pthread_mutex_unlock(&cr->lk);
  __atomic_store_n(&cr->st.seen_bytes, crawl_seen_bytes(&cr->seen), __ATOMIC_RELAXED);
  return cr->err;
}

void crawl_free(crawl *cr) {
  if (!cr) return;
  for (size_t i = 0; cr->tab && i < cr->tab_cap; i++)
    for (host *h = cr->tab[i], *n; h; h = n) {
      n = h->hnext;
      while (h->head) {
        item *it = h->head;
        h->head = it->next;
        free(it);
      }
      crawl_robots_free(h->robots);
      free(h->key);
      free(h);
    }
  free(cr->tab);
  free(cr->heap);
  free(cr->seeds);
  free(cr->workers);
  crawl_seen_free(&cr->seen);
  pthread_mutex_destroy(&cr->lk);
  free(cr);
}

void crawl_response_clear(crawl_response *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}
