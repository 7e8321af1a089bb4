/* frontier.c - the crawl: per-host queues with politeness, and the pool
 * of worker coroutines that drains them.
 *
 * Contract (crawl.h): crawl_config_init, crawl_new, crawl_run,
 * crawl_run_here, crawl_stop, crawl_progress, crawl_free.
 *
 * The crawl runs on cfg.loops loops (default 1), each on a thread of its
 * own (the calling thread's, or with crawl_run_here the caller's loop, and
 * cfg.loops - 1 made by crawl_run), each
 * with a shard of the frontier: the hosts whose key hashes to it, their
 * queues and the seen-set of their URLs. So a host's politeness, robots
 * and connections stay on one loop, and nothing of the hot path is
 * shared between threads: a link to another shard's host is handed to
 * that shard (a batch per page and shard, posted to its loop with
 * coro_loop_post, where enqueue runs between its coroutines). On each
 * loop: a main coroutine (the seed's zone when the scope is ZONE, its
 * seeds, the workers, the end) and its share of cfg.workers worker
 * coroutines. Those share their shard without locks, since coroutines
 * of one loop switch only where they block; the condition variable only
 * puts idle workers to sleep (each waits with a mutex of its own, always
 * uncontended).
 *
 * The end: a global count of work (URLs queued, being fetched or in a
 * hand-off not yet taken) is raised before a URL is queued or handed
 * off and lowered once it is dropped or its page done (after its links
 * were counted), so it reaches 0 only when no shard has or can get
 * anything more; whoever brings it there wakes every shard to finish.
 * Stop, an error or max_pages (counted globally) end each shard too.
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

#include "coro_internal.h" /* coro__malloc: allocations are fault points */

#include "coro.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A queued URL. A redirect's target also keeps the URL its chain of
 * redirects started from (after url's NUL, olen bytes; 0: none), which
 * its output line gives as "url" with the URL fetched as "final_url". */
typedef struct item {
  struct item *next;
  int depth;
  uint32_t len, olen;
  char url[];
} item;

static const char *origin_of(const item *it) {
  return it->olen ? it->url + it->len + 1 : it->url;
}

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

struct shard;

typedef struct worker {
  struct shard *s;
  coro *co;
  coro_mutex m;  /* for coro_cond_wait only: never contended */
  int in_io;     /* blocked in a fetch or a lookup: crawl_stop cancels it */
} worker;

/* Links of one page for another shard, posted to its loop: records of
 * {uint32 len, uint32 key_len, uint32 olen, int32 depth, url NUL,
 * origin NUL (when olen)}, 4-byte aligned. */
typedef struct handoff {
  struct shard *to;
  size_t n, bytes, cap; /* records, bytes used, allocated */
  char *p;
} handoff;

/* One loop's part of the crawl. Its fields are its loop's alone, but for
 * loop and lk (the posters') and what the comments say. */
typedef struct shard {
  struct crawl *cr;
  int idx;
  char seed_zone[600];
  int seed_zone_err;
  void *fetch_arg;      /* the fetcher's (fetch_open's, per loop) */
  host **tab;
  size_t tab_cap, nhosts;
  host **heap;
  size_t heap_n, heap_cap;
  crawl_seen seen;
  uint64_t waiting;     /* URLs in host queues */
  int busy;             /* workers between taking work and finishing it */
  coro_cond wake;
  worker *workers;
  int nworkers;
  handoff *out;         /* one per shard: what a page hands off (a
                           worker's, between a page's links and its end) */
  pthread_t thread;     /* shards 1..: the thread crawl_run made */
  int started;          /* the thread was made */
  int rc;               /* its loop's result */
  pthread_mutex_t lk;   /* loop against posters */
  coro_loop *loop;      /* non-NULL while the loop takes posts */
} shard;

struct crawl {
  crawl_config cfg;
  crawl_url *seeds;
  size_t nseeds;
  shard *shards;
  int nshards;
  int64_t work;         /* atomic: see the end, above */
  uint64_t taken;       /* atomic: pages taken for fetching (max_pages) */
  uint64_t waiting;     /* atomic: URLs queued in all shards */
  int done;             /* atomic: work reached 0 */
  /* The start: no shard runs before every shard's loop takes posts. */
  pthread_mutex_t start_mu;
  pthread_cond_t start_cv;
  int nready;           /* shards whose loop is made (or failed) */
  int start_failed;     /* a thread could not be made: nobody waits */
  crawl_stats st;       /* updated with relaxed atomics: crawl_progress */
  int stop;             /* set by crawl_stop (atomically) */
  int err;              /* atomic: the first error */
};

#define ADD(field, v) __atomic_fetch_add(&cr->st.field, (v), __ATOMIC_RELAXED)

/* How long an idle worker sleeps before it looks again for the end, a
 * stop or an error, should the wake-up of another thread have been lost
 * (a post that found no memory). */
#define IDLE_POLL_NS (50 * INT64_C(1000000))

static void set_err(struct crawl *cr, int rc) {
  int zero = 0;
  __atomic_compare_exchange_n(&cr->err, &zero, rc, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static int shard_of(const struct crawl *cr, const char *key, size_t kn) {
  if (cr->nshards == 1) return 0;
  /* The high bits: the host tables use the low ones. */
  return (int)((crawl_hash(key, kn) >> 32) % (uint64_t)cr->nshards);
}

void crawl_config_init(crawl_config *c) {
  memset(c, 0, sizeof *c);
  c->workers = 16;
  c->loops = 1;
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

static void heap_set(shard *s, size_t i, host *h) {
  s->heap[i] = h;
  h->heap_idx = i;
}

static void heap_up(shard *s, size_t i) {
  host *h = s->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(h, s->heap[p])) break;
    heap_set(s, i, s->heap[p]);
    i = p;
  }
  heap_set(s, i, h);
}

static void heap_down(shard *s, size_t i) {
  host *h = s->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->heap_n) break;
    if (c + 1 < s->heap_n && before(s->heap[c + 1], s->heap[c])) c++;
    if (!before(s->heap[c], h)) break;
    heap_set(s, i, s->heap[c]);
    i = c;
  }
  heap_set(s, i, h);
}

static int heap_push(shard *s, host *h) {
  if (s->heap_n == s->heap_cap) {
    size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
    host **nh = coro__realloc(s->heap, cap * sizeof *nh);
    if (!nh) return -ENOMEM;
    s->heap = nh;
    s->heap_cap = cap;
  }
  s->heap[s->heap_n] = h;
  h->heap_idx = s->heap_n++;
  heap_up(s, h->heap_idx);
  return 0;
}

static void heap_remove(shard *s, host *h) {
  size_t i = h->heap_idx;
  h->heap_idx = (size_t)-1;
  if (--s->heap_n == i) return;
  host *last = s->heap[s->heap_n];
  heap_set(s, i, last);
  heap_up(s, i);
  heap_down(s, last->heap_idx);
}

/* Put h in the heap if it has work it may start, and wake a worker. */
static void reschedule(shard *s, host *h) {
  if (h->heap_idx != (size_t)-1 || h->nq == 0 ||
      h->active >= h->cap || h->robots_state == R_FETCHING ||
      h->zone_state == Z_CHECKING)
    return;
  if (heap_push(s, h) < 0) {
    set_err(s->cr, -ENOMEM);
    return;
  }
  coro_cond_broadcast(&s->wake);
}

/* ---- the end ------------------------------------------------------ */

static void wake_on_loop(void *arg) {
  shard *s = arg;
  coro_cond_broadcast(&s->wake);
}

/* Wake every shard's idle workers: here's (the caller's loop) at once,
 * the others' by a post. A post that fails (no memory) loses nothing but
 * time: idle workers look again every IDLE_POLL_NS. */
static void wake_all(struct crawl *cr, shard *here) {
  coro_cond_broadcast(&here->wake);
  for (int i = 0; i < cr->nshards; i++) {
    shard *s = &cr->shards[i];
    if (s == here) continue;
    pthread_mutex_lock(&s->lk);
    if (s->loop) coro_loop_post(s->loop, wake_on_loop, s);
    pthread_mutex_unlock(&s->lk);
  }
}

static void work_add(struct crawl *cr, int64_t n) {
  __atomic_fetch_add(&cr->work, n, __ATOMIC_SEQ_CST);
}

/* Work done (called on here's loop): at 0 the crawl is over everywhere. */
static void work_sub(shard *here, int64_t n) {
  struct crawl *cr = here->cr;
  if (n && __atomic_sub_fetch(&cr->work, n, __ATOMIC_SEQ_CST) == 0) {
    __atomic_store_n(&cr->done, 1, __ATOMIC_SEQ_CST);
    wake_all(cr, here);
  }
}

/* ---- hosts and queues --------------------------------------------- */

/* The host of key (kn bytes: "scheme://host[:port]"), made if new. */
static host *host_get(shard *s, const char *key, size_t kn) {
  struct crawl *cr = s->cr;
  uint64_t hv = crawl_hash(key, kn);
  size_t b = (size_t)hv & (s->tab_cap - 1);
  for (host *h = s->tab[b]; h; h = h->hnext)
    if (h->hash == hv && strlen(h->key) == kn && memcmp(h->key, key, kn) == 0)
      return h;
  if (s->nhosts + 1 > s->tab_cap) {
    size_t cap = s->tab_cap * 2;
    host **nt = coro__calloc(cap, sizeof *nt);
    if (!nt) return NULL;
    for (size_t i = 0; i < s->tab_cap; i++)
      for (host *h = s->tab[i], *n; h; h = n) {
        n = h->hnext;
        size_t nb = (size_t)h->hash & (cap - 1);
        h->hnext = nt[nb];
        nt[nb] = h;
      }
    free(s->tab);
    s->tab = nt;
    s->tab_cap = cap;
    b = (size_t)hv & (cap - 1);
  }
  host *h = coro__calloc(1, sizeof *h);
  if (!h) return NULL;
  h->key = coro__malloc(kn + 1);
  if (!h->key) {
    free(h);
    return NULL;
  }
  memcpy(h->key, key, kn);
  h->key[kn] = '\0';
  h->hash = hv;
  h->heap_idx = (size_t)-1;
  h->delay_ns = cr->cfg.delay_ns;
  h->cap = cr->cfg.per_host;
  h->robots_state = cr->cfg.robots ? R_UNKNOWN : R_READY;
  h->zone_state = cr->cfg.scope == CRAWL_SCOPE_ZONE ? Z_UNKNOWN : Z_IN;
  h->hnext = s->tab[b];
  s->tab[b] = h;
  s->nhosts++;
  ADD(hosts, 1);
  return h;
}

/* Queue url (len bytes, its host key the first kn) at depth in its shard
 * s unless it was queued before; origin (NULL: none) is where the
 * redirects that led to it started. 1 queued (and counted as work), 0
 * seen, < 0. */
static int enqueue(shard *s, const char *url, size_t len, size_t kn, int depth,
                   const char *origin) {
  struct crawl *cr = s->cr;
  int rc = crawl_seen_add(&s->seen, url, len);
  if (rc <= 0) return rc;
  host *h = host_get(s, url, kn);
  if (!h) return -ENOMEM;
  if (h->zone_state == Z_OUT) {
    ADD(filtered, 1);
    return 0;
  }
  size_t olen = origin ? strlen(origin) : 0;
  item *it = coro__malloc(sizeof *it + len + 1 + (olen ? olen + 1 : 0));
  if (!it) return -ENOMEM;
  it->next = NULL;
  it->depth = depth;
  it->len = (uint32_t)len;
  it->olen = (uint32_t)olen;
  memcpy(it->url, url, len);
  it->url[len] = '\0';
  if (olen) memcpy(it->url + len + 1, origin, olen + 1);
  if (h->tail)
    h->tail->next = it;
  else
    h->head = it;
  h->tail = it;
  h->nq++;
  s->waiting++;
  work_add(cr, 1);
  ADD(queued, 1);
  uint64_t w = __atomic_add_fetch(&cr->waiting, 1, __ATOMIC_RELAXED);
  if (w > __atomic_load_n(&cr->st.frontier_peak, __ATOMIC_RELAXED))
    __atomic_store_n(&cr->st.frontier_peak, w, __ATOMIC_RELAXED);
  reschedule(s, h);
  return 1;
}

static item *dequeue(shard *s, host *h) {
  item *it = h->head;
  h->head = it->next;
  if (!h->head) h->tail = NULL;
  h->nq--;
  s->waiting--;
  __atomic_sub_fetch(&s->cr->waiting, 1, __ATOMIC_RELAXED);
  return it;
}

static void drop_queue(shard *s, host *h, uint64_t *counter) {
  int64_t n = 0;
  while (h->head) {
    free(dequeue(s, h));
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    n++;
  }
  work_sub(s, n);
}

/* ---- hand-offs between shards ------------------------------------ */

#define REC_HEAD 16

static int handoff_add(handoff *o, const crawl_url *u, size_t kn, int depth,
                       const char *origin) {
  size_t olen = origin ? strlen(origin) : 0;
  size_t need = (REC_HEAD + u->len + 1 + (olen ? olen + 1 : 0) + 3) & ~(size_t)3;
  if (o->bytes + need > o->cap) {
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->bytes + need) cap *= 2;
    char *np = coro__realloc(o->p, cap);
    if (!np) return -ENOMEM;
    o->p = np;
    o->cap = cap;
  }
  char *r = o->p + o->bytes;
  uint32_t hd[4] = {(uint32_t)u->len, (uint32_t)kn, (uint32_t)olen, (uint32_t)depth};
  memcpy(r, hd, sizeof hd);
  memcpy(r + REC_HEAD, u->buf, u->len + 1);
  if (olen) memcpy(r + REC_HEAD + u->len + 1, origin, olen + 1);
  o->bytes += need;
  o->n++;
  return 0;
}

/* On the receiving shard's loop (a post): queue each URL, then count the
 * batch's work as done (what was queued counted itself again). */
static void handoff_take(void *arg) {
  handoff *o = arg;
  shard *s = o->to;
  struct crawl *cr = s->cr;
  for (size_t off = 0; off < o->bytes;) {
    uint32_t hd[4];
    memcpy(hd, o->p + off, sizeof hd);
    const char *url = o->p + off + REC_HEAD;
    const char *origin = hd[2] ? url + hd[0] + 1 : NULL;
    int rc = enqueue(s, url, hd[0], hd[1], (int)hd[3], origin);
    if (rc < 0) set_err(cr, rc);
    off += (REC_HEAD + hd[0] + 1 + (hd[2] ? hd[2] + 1 : 0) + 3) & ~(size_t)3;
  }
  work_sub(s, (int64_t)o->n);
  free(o->p);
  free(o);
}

/* Post the hand-offs a page collected (from a worker of s). A shard that
 * no longer takes posts has ended: its URLs are dropped with their work. */
static void handoff_flush(shard *s) {
  struct crawl *cr = s->cr;
  for (int i = 0; i < cr->nshards; i++) {
    handoff *o = &s->out[i];
    if (!o->n) continue;
    handoff *b = coro__malloc(sizeof *b);
    shard *to = &cr->shards[i];
    int rc = -ENOMEM;
    if (b) {
      /* Once posted, b is the other loop's: it may be gone at once. */
      *b = *o;
      b->to = to;
      pthread_mutex_lock(&to->lk);
      rc = to->loop ? coro_loop_post(to->loop, handoff_take, b) : -ESHUTDOWN;
      pthread_mutex_unlock(&to->lk);
    }
    if (rc < 0) {
      if (rc == -ENOMEM) set_err(cr, rc);
      free(o->p);
      free(b);
      work_sub(s, (int64_t)o->n);
    }
    memset(o, 0, sizeof *o);
  }
}

/* ---- a worker ----------------------------------------------------- */

static int stopping(struct crawl *cr) {
  return __atomic_load_n(&cr->stop, __ATOMIC_RELAXED) ||
         __atomic_load_n(&cr->err, __ATOMIC_RELAXED);
}

static int fetch(shard *s, worker *w, const crawl_url *u, crawl_response *r) {
  struct crawl *cr = s->cr;
  memset(r, 0, sizeof *r);
  int64_t dl = cr->cfg.timeout_ns > 0 ? coro_now() + cr->cfg.timeout_ns : -1;
  w->in_io = 1;
  int rc = cr->cfg.fetch(s->fetch_arg, u, cr->cfg.max_bytes, r, dl);
  w->in_io = 0;
  if (rc < 0 && !r->err) r->err = rc;
  return rc;
}

/* robots.txt of h, following up to 5 redirects (RFC 9309 2.3.1.2). */
static void fetch_robots(shard *s, worker *w, host *h) {
  struct crawl *cr = s->cr;
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
      fetch(s, w, &u, &r);
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
    set_err(cr, -ENOMEM);
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
  shard *s;
  int depth;
  const char *origin; /* for a redirect's target: where its chain began */
  int err;
} page_ctx;

/* A link of a fetched page: the filter, depth, then the seen-set of its
 * host's shard (here, or after a hand-off there). */
static int on_link(void *arg, const crawl_url *u) {
  page_ctx *pc = arg;
  shard *s = pc->s;
  struct crawl *cr = s->cr;
  ADD(links, 1);
  if (cr->cfg.max_depth >= 0 && pc->depth > cr->cfg.max_depth) return 0;
  int pass = 0;
  for (size_t i = 0; i < cr->nseeds && !pass; i++)
    pass = crawl_filter_pass(cr->cfg.filter, &cr->seeds[i], u);
  if (!pass) {
    if (!crawl_seen_has(&s->seen, u->buf, u->len)) ADD(filtered, 1);
    return 0;
  }
  int to = shard_of(cr, u->buf, u->path_off);
  int rc;
  if (to == s->idx) {
    rc = enqueue(s, u->buf, u->len, u->path_off, pc->depth, pc->origin);
  } else {
    rc = handoff_add(&s->out[to], u, u->path_off, pc->depth, pc->origin);
    if (rc == 0) work_add(cr, 1);
  }
  if (rc < 0) {
    pc->err = rc;
    return rc;
  }
  return 0;
}

static void do_page(shard *s, worker *w, item *it) {
  struct crawl *cr = s->cr;
  crawl_url u;
  if (crawl_url_parse(&u, it->url) < 0) return; /* cannot happen: queued normalised */
  crawl_response r;
  int64_t t0 = coro_now();
  fetch(s, w, &u, &r);
  int64_t t1 = coro_now();
  if (stopping(cr) && r.err == -ECANCELED) {
    crawl_response_clear(&r);
    return;
  }
  page_ctx pc = {s, it->depth + 1, NULL, 0};
  int links = 0;
  if (r.status >= 200 && r.status < 300 && r.body &&
      strcmp(r.ctype, "text/html") == 0)
    links = crawl_links(r.body, r.len, &u, on_link, &pc);
  else if (r.status >= 300 && r.status < 400 && r.location[0]) {
    /* A redirect's target is queued like a link, at the same depth. */
    crawl_url t;
    pc.depth = it->depth;
    pc.origin = origin_of(it);
    if (crawl_url_resolve(&t, &u, r.location, strlen(r.location)) == 0) {
      links = 1;
      on_link(&pc, &t);
    }
  }
  if (cr->nshards > 1) handoff_flush(s);
  if (links < 0) links = 0;
  if (r.status > 0)
    ADD(pages, 1);
  else
    ADD(errors, 1);
  ADD(bytes, r.bytes);
  if (cr->cfg.out) {
    /* url: the link followed (a redirect chain's start); final_url: the
     * URL the response came from, as the fetcher reports it. */
    crawl_page p = {origin_of(it), r.final_url ? r.final_url : u.buf,
                    r.status, it->depth, r.bytes, r.ctype,
                    links, t1 - t0, r.status > 0 ? 0 : r.err, r.truncated,
                    cr->cfg.strerror};
    flockfile(cr->cfg.out); /* a line at a time: loops share the file */
    if (crawl_output_page(cr->cfg.out, &p) < 0) set_err(cr, -EIO);
    funlockfile(cr->cfg.out);
  }
  if (pc.err) set_err(cr, pc.err);
  crawl_response_clear(&r);
}

/* Whether max_pages has been reached (by all loops together). */
static int max_reached(struct crawl *cr) {
  return cr->cfg.max_pages > 0 &&
         __atomic_load_n(&cr->taken, __ATOMIC_RELAXED) >= (uint64_t)cr->cfg.max_pages;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  shard *s = w->s;
  struct crawl *cr = s->cr;
  coro_mutex_lock(&w->m, -1);
  for (;;) {
    if (stopping(cr) || __atomic_load_n(&cr->done, __ATOMIC_SEQ_CST)) break;
    if (max_reached(cr)) {
      if (s->busy == 0) break;
      coro_cond_wait(&s->wake, &w->m, coro_now() + IDLE_POLL_NS);
      continue;
    }
    host *h = s->heap_n ? s->heap[0] : NULL;
    if (!h) {
      /* Nothing here now: the end (work 0) or a hand-off wakes it. */
      coro_cond_wait(&s->wake, &w->m, coro_now() + IDLE_POLL_NS);
      continue;
    }
    int64_t now = coro_now();
    if (h->next_ns > now) {
      if (coro_cond_wait(&s->wake, &w->m, h->next_ns) == -ECANCELED) break;
      continue;
    }
    heap_remove(s, h);
    s->busy++;
    h->active++;
    if (h->zone_state == Z_UNKNOWN) {
      char z[sizeof s->seed_zone];
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
        in = rc == 0 && s->seed_zone_err == 0 && strcmp(z, s->seed_zone) == 0;
      }
      h->zone_state = in ? Z_IN : Z_OUT;
      if (!in) drop_queue(s, h, &cr->st.filtered);
    } else if (h->robots_state == R_UNKNOWN) {
      h->robots_state = R_FETCHING;
      h->next_ns = now + h->delay_ns;
      fetch_robots(s, w, h);
      h->robots_state = R_READY;
    } else {
      const char *path = h->head->url + strlen(h->key); /* "/..." */
      item *it = NULL;
      if (h->robots && !crawl_robots_allowed(h->robots, path)) {
        it = dequeue(s, h);
        ADD(disallowed, 1);
      } else if (__atomic_fetch_add(&cr->taken, 1, __ATOMIC_RELAXED) <
                     (uint64_t)cr->cfg.max_pages ||
                 cr->cfg.max_pages <= 0) {
        it = dequeue(s, h);
        h->next_ns = now + h->delay_ns;
        reschedule(s, h); /* another request may start after the delay */
        do_page(s, w, it);
      } /* else another loop took the last page: this one stays queued */
      if (it) {
        free(it);
        work_sub(s, 1);
      }
    }
    h->active--;
    s->busy--;
    if (h->cap == 1) {
      /* One at a time: the delay counts from this request's end. */
      int64_t next = coro_now() + h->delay_ns;
      if (next > h->next_ns) h->next_ns = next;
    }
    reschedule(s, h);
    coro_cond_broadcast(&s->wake);
    if (stopping(cr)) break;
  }
  coro_cond_broadcast(&s->wake);
  coro_mutex_unlock(&w->m);
  return NULL;
}

/* ---- the run ------------------------------------------------------ */

/* A shard's crawl, in its main coroutine: its fetcher, the seed's zone,
 * its seeds, its workers; then it stops taking posts. */
static void shard_body(shard *s) {
  struct crawl *cr = s->cr;
  int n = 0;
  if (cr->cfg.fetch_open) {
    int rc = cr->cfg.fetch_open(&s->fetch_arg, &cr->cfg);
    if (rc < 0) set_err(cr, rc);
  } else {
    s->fetch_arg = cr->cfg.fetch_arg;
  }
  if (!stopping(cr) && cr->cfg.scope == CRAWL_SCOPE_ZONE) {
    char name[256];
    crawl_url *sd = &cr->seeds[0];
    snprintf(name, sizeof name, "%.*s", (int)sd->host_len, sd->buf + sd->host_off);
    s->seed_zone_err = crawl_zone_of(name, s->seed_zone, sizeof s->seed_zone,
                                     coro_now() + cr->cfg.timeout_ns);
    if (s->seed_zone_err < 0) set_err(cr, s->seed_zone_err);
  }
  /* Its seeds (crawl_run counted every seed as work beforehand, so no
   * shard sees 0 before the others have queued theirs). */
  int64_t mine = 0;
  for (size_t i = 0; i < cr->nseeds; i++) {
    crawl_url *sd = &cr->seeds[i];
    if (shard_of(cr, sd->buf, sd->path_off) != s->idx) continue;
    mine++;
    if (stopping(cr)) continue;
    int rc = enqueue(s, sd->buf, sd->len, sd->path_off, 0, NULL);
    if (rc < 0) set_err(cr, rc);
  }
  work_sub(s, mine);
  for (; n < s->nworkers && !stopping(cr); n++) {
    worker *w = &s->workers[n];
    w->s = s;
    coro_mutex_init(&w->m);
    coro_opts o = {0};
    o.name = "crawl worker";
    int rc = coro_spawn(&w->co, worker_main, w, &o);
    if (rc < 0) {
      set_err(cr, rc);
      break;
    }
  }
  for (int i = 0; i < n; i++)
    if (coro_join(s->workers[i].co, -1, NULL) == 0) s->workers[i].co = NULL;
  /* Ended here: the others' hand-offs from now on are dropped. */
  pthread_mutex_lock(&s->lk);
  s->loop = NULL;
  pthread_mutex_unlock(&s->lk);
  if (cr->cfg.fetch_close && s->fetch_arg) cr->cfg.fetch_close(s->fetch_arg);
}

/* A shard's main coroutine on a loop of the crawl's own: the crawl, then
 * the loop stops. */
static void *shard_main(void *arg) {
  shard_body(arg);
  coro_loop_stop(coro_loop_current());
  return NULL;
}

static void stop_on_loop(void *arg) {
  shard *s = arg;
  for (int i = 0; i < s->nworkers; i++)
    if (s->workers[i].co && s->workers[i].in_io) coro_cancel(s->workers[i].co);
  coro_cond_broadcast(&s->wake);
}

/* Counts a shard's loop as made (or failed), and waits until every
 * shard's is: a hand-off to another shard finds its loop set. */
static void shards_ready(struct crawl *cr) {
  pthread_mutex_lock(&cr->start_mu);
  cr->nready++;
  pthread_cond_broadcast(&cr->start_cv);
  while (cr->nready < cr->nshards && !cr->start_failed)
    pthread_cond_wait(&cr->start_cv, &cr->start_mu);
  pthread_mutex_unlock(&cr->start_mu);
}

/* Runs shard s on a new loop on the calling thread: made, then (once
 * every shard's loop is made) run until its main stops it, then closed. */
static int shard_run(shard *s) {
  struct crawl *cr = s->cr;
  coro_resolver_opts ro;
  memset(&ro, 0, sizeof ro);
  ro.resolv_conf = cr->cfg.resolv_conf;
  ro.hosts = cr->cfg.hosts;
  coro_loop_opts lo;
  memset(&lo, 0, sizeof lo);
  lo.stack_mode = cr->cfg.stack_mode;
  lo.name = "crawl";
  lo.resolver = &ro;
  coro_loop *loop = NULL;
  coro *main = NULL;
  int rc = coro_loop_new(&loop, &lo);
  if (rc == 0) {
    coro_opts o = {0};
    o.name = "crawl main";
    rc = coro_spawn(&main, shard_main, s, &o);
  }
  if (rc < 0) set_err(cr, rc);
  if (rc == 0) {
    pthread_mutex_lock(&s->lk);
    s->loop = loop;
    pthread_mutex_unlock(&s->lk);
  }
  shards_ready(cr);
  if (rc == 0) {
    if (stopping(cr)) stop_on_loop(s);
    rc = coro_loop_run(loop, CORO_RUN_UNTIL_STOPPED);
    pthread_mutex_lock(&s->lk);
    s->loop = NULL;
    pthread_mutex_unlock(&s->lk);
    if (rc == 0) rc = coro_join(main, 0, NULL);
  }
  if (loop) {
    int crc = coro_loop_close(loop, coro_now() + 5 * INT64_C(1000000000));
    if (rc == 0 && crc < 0) rc = crc;
  }
  return rc;
}

static void *shard_thread(void *arg) {
  shard *s = arg;
  s->rc = shard_run(s);
  return NULL;
}

int crawl_new(crawl **out, const crawl_config *c) {
  if (!c->seeds || c->nseeds == 0 || !c->fetch || c->loops < 0) return -EINVAL;
  struct crawl *cr = coro__calloc(1, sizeof *cr);
  if (!cr) return -ENOMEM;
  cr->cfg = *c;
  if (cr->cfg.workers <= 0) cr->cfg.workers = 16;
  if (cr->cfg.loops <= 0) cr->cfg.loops = 1;
  if (cr->cfg.loops > cr->cfg.workers) cr->cfg.loops = cr->cfg.workers;
  if (cr->cfg.per_host <= 0) cr->cfg.per_host = 2;
  if (cr->cfg.timeout_ns <= 0) cr->cfg.timeout_ns = 30 * INT64_C(1000000000);
  if (cr->cfg.max_bytes == 0) cr->cfg.max_bytes = 8u << 20;
  if (!cr->cfg.agent) cr->cfg.agent = "corocrawl";
  if (cr->cfg.max_crawl_delay_ns < 0) cr->cfg.max_crawl_delay_ns = 0;
  cr->nshards = cr->cfg.loops;
  pthread_mutex_init(&cr->start_mu, NULL);
  pthread_cond_init(&cr->start_cv, NULL);
  cr->nseeds = c->nseeds;
  cr->seeds = coro__calloc(c->nseeds, sizeof *cr->seeds);
  cr->shards = coro__calloc((size_t)cr->nshards, sizeof *cr->shards);
  if (!cr->seeds || !cr->shards) {
    crawl_free(cr);
    return -ENOMEM;
  }
  int rc = 0;
  for (int i = 0; i < cr->nshards; i++) {
    shard *s = &cr->shards[i];
    s->cr = cr;
    s->idx = i;
    pthread_mutex_init(&s->lk, NULL);
    coro_cond_init(&s->wake);
    /* The workers shared out, the first shards taking the rest. */
    s->nworkers = cr->cfg.workers / cr->nshards + (i < cr->cfg.workers % cr->nshards);
    s->workers = coro__calloc((size_t)s->nworkers, sizeof *s->workers);
    s->out = coro__calloc((size_t)cr->nshards, sizeof *s->out);
    s->tab_cap = 64;
    s->tab = coro__calloc(s->tab_cap, sizeof *s->tab);
    if (!s->workers || !s->out || !s->tab || crawl_seen_init(&s->seen) < 0) rc = -ENOMEM;
  }
  for (size_t i = 0; rc == 0 && i < c->nseeds; i++)
    if (crawl_url_parse(&cr->seeds[i], c->seeds[i]) < 0) rc = -EINVAL;
  if (rc < 0) {
    crawl_free(cr);
    return rc;
  }
  *out = cr;
  return 0;
}

int crawl_stop(crawl *cr) {
  __atomic_store_n(&cr->stop, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < cr->nshards; i++) {
    shard *s = &cr->shards[i];
    pthread_mutex_lock(&s->lk);
    if (s->loop) coro_loop_post(s->loop, stop_on_loop, s);
    pthread_mutex_unlock(&s->lk);
  }
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

/* Starts the threads of shards 1 and up. */
static void start_others(struct crawl *cr) {
  /* Every seed is work until its shard has queued it (shard_body). */
  cr->work = (int64_t)cr->nseeds;
  for (int i = 1; i < cr->nshards; i++) {
    shard *s = &cr->shards[i];
    int e = pthread_create(&s->thread, NULL, shard_thread, s);
    if (e) {
      /* The shards made wait for this one: release them, to end at
       * once (the error stops them). */
      set_err(cr, -e);
      pthread_mutex_lock(&cr->start_mu);
      cr->start_failed = 1;
      pthread_cond_broadcast(&cr->start_cv);
      pthread_mutex_unlock(&cr->start_mu);
      break;
    }
    s->started = 1;
  }
}

/* Joins the threads of shards 1 and up; returns rc, else the first of
 * their errors, else the crawl's. Sums the seen-sets' sizes. */
static int join_others(struct crawl *cr, int rc) {
  for (int i = 1; i < cr->nshards; i++)
    if (cr->shards[i].started) {
      pthread_join(cr->shards[i].thread, NULL);
      if (rc == 0) rc = cr->shards[i].rc;
    }
  int err = __atomic_load_n(&cr->err, __ATOMIC_RELAXED);
  if (err) rc = err;
  uint64_t sb = 0;
  for (int i = 0; i < cr->nshards; i++) sb += crawl_seen_bytes(&cr->shards[i].seen);
  __atomic_store_n(&cr->st.seen_bytes, sb, __ATOMIC_RELAXED);
  return rc;
}

int crawl_run(crawl *cr, crawl_stats *st) {
  start_others(cr);
  int rc = join_others(cr, shard_run(&cr->shards[0]));
  crawl_progress(cr, st);
  return rc;
}

/* Shard 0 in the calling coroutine: its loop is the caller's, set in
 * s->loop for crawl_stop and the hand-offs for the whole of its crawl. A
 * stop that came before it was set is seen here; a post of stop_on_loop
 * still queued when this returns runs on the loop later, so the caller
 * frees cr only once the loop has been closed. */
int crawl_run_here(crawl *cr) {
  shard *s = &cr->shards[0];
  start_others(cr);
  pthread_mutex_lock(&s->lk);
  s->loop = coro_loop_current();
  pthread_mutex_unlock(&s->lk);
  shards_ready(cr);
  if (stopping(cr)) stop_on_loop(s);
  shard_body(s);
  return join_others(cr, 0);
}

void crawl_free(crawl *cr) {
  if (!cr) return;
  for (int k = 0; cr->shards && k < cr->nshards; k++) {
    shard *s = &cr->shards[k];
    for (size_t i = 0; s->tab && i < s->tab_cap; i++)
      for (host *h = s->tab[i], *n; h; h = n) {
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
    for (int i = 0; s->out && i < cr->nshards; i++) free(s->out[i].p);
    free(s->out);
    free(s->tab);
    free(s->heap);
    free(s->workers);
    crawl_seen_free(&s->seen);
    pthread_mutex_destroy(&s->lk);
  }
  free(cr->shards);
  free(cr->seeds);
  pthread_mutex_destroy(&cr->start_mu);
  pthread_cond_destroy(&cr->start_cv);
  free(cr);
}

void crawl_response_clear(crawl_response *r) {
  free(r->body);
  free(r->final_url);
  memset(r, 0, sizeof *r);
}
