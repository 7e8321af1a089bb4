/* pool.c - the client's connections, pooled per scheme/host/port.
 *
 * Each host has a semaphore of max_conns_per_host slots: a request holds a
 * slot from taking a connection until it gives it back, so at most that
 * many connections to a host exist at once (idle ones hold no slot but
 * count: a slot is only ever taken to use an idle one or to open one, and
 * opening happens only when none is idle). Idle connections are reused
 * most recent first (the likeliest to be still open), and only after the
 * response before was read to its end (the caller says so at put).
 * Eviction: an idle connection older than idle_timeout is closed before it
 * could be used, so that the client gives up before the server's
 * keep-alive timeout does (a server closing a connection just as a request
 * goes out is the race that the retry in client.c covers); so is one whose
 * peer has closed it (stream idle_ok, a recv with MSG_PEEK: a syscall).
 * That check is made on the connection taken when the request may not be
 * retried (not idempotent) or when it idled for CHECK_AFTER or more, and
 * on every idle connection by the sweep over all hosts (at most once a
 * second, client.c calls it); an idempotent request on a connection that
 * idled less than that skips it: should the server have closed it
 * meanwhile, the retry covers that, and the busy path saves a syscall
 * per request (a quarter of the client's CPU time per request here).
 * Eviction by age runs at each get for that host.
 * A host with no connection and no user is freed, so a crawler's
 * thousands of hosts do not pile up.
 */
#include "http_internal.h"

#include "coro_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void conn_close(coro_http_client *c, coro__http_conn *k) {
  (void)c;
  k->s->ops->close(k->s);
  free(k->rbuf);
  free(k);
}

/* See the top: an idle connection younger than this is not checked for
 * the peer's close before an idempotent request. */
#define CHECK_AFTER 100000000 /* 100 ms */

/* Close the host's idle connections that are too old, or (peek) dead. */
static void host_sweep(coro_http_client *c, coro__http_host *h, int64_t now,
                       int peek) {
  coro__http_conn **pp = &h->idle;
  while (*pp) {
    coro__http_conn *k = *pp;
    if (now - k->idle_since >= c->o.idle_timeout ||
        (peek && !k->s->ops->idle_ok(k->s))) {
      *pp = k->next;
      h->nidle--;
      c->st.idle--;
      c->st.evicted++;
      conn_close(c, k);
    } else {
      pp = &k->next;
    }
  }
}

/* Free h if nothing uses it: no idle connection, every slot free. */
static void host_maybe_free(coro_http_client *c, coro__http_host *h) {
  if (h->nidle || coro_sem_value(&h->slots) != c->o.max_conns_per_host)
    return;
  if (coro_sem_destroy(&h->slots) != 0)
    return;
  coro__http_host **pp = &c->hosts[hash(h->key) % c->nbuckets];
  while (*pp != h)
    pp = &(*pp)->next;
  *pp = h->next;
  c->nhosts--;
  free(h->key);
  free(h);
}

static int host_get(coro_http_client *c, const coro_url *u, coro__http_host **out) {
  size_t kl = strlen(u->scheme) + strlen(u->host) + 16;
  char kb[320], *key = kl <= sizeof kb ? kb : coro__malloc(kl);
  if (!key)
    return -ENOMEM;
  snprintf(key, kl, "%s://%s:%d", u->scheme, u->host, u->port);
  size_t b = hash(key) % c->nbuckets;
  for (coro__http_host *h = c->hosts[b]; h; h = h->next)
    if (!strcmp(h->key, key)) {
      if (key != kb)
        free(key);
      *out = h;
      return 0;
    }
  if (key == kb) {
    /* A new host: its record keeps the key. */
    if (!(key = coro__malloc(kl)))
      return -ENOMEM;
    memcpy(key, kb, kl);
  }
  /* The key and the name share one allocation with the record. */
  size_t nl = strlen(u->host) + 1;
  coro__http_host *h = coro__calloc(1, sizeof *h + nl);
  if (!h) {
    free(key);
    return -ENOMEM;
  }
  h->key = key;
  h->name = (char *)(h + 1);
  memcpy(h->name, u->host, nl);
  h->port = u->port;
  h->tls = !strcmp(u->scheme, "https");
  coro_sem_init(&h->slots, c->o.max_conns_per_host);
  h->next = c->hosts[b];
  c->hosts[b] = h;
  c->nhosts++;
  *out = h;
  return 0;
}

/* Open a connection to h: resolve, connect to each address in turn until
 * one answers, then TLS for https. */
static int dial(coro_http_client *c, coro__http_host *h, int64_t deadline,
                coro__http_stream **out, char *why) {
  if (h->tls && !c->tls && !c->tls_err) {
    /* Before connecting: without TLS built in, say so at once. */
    int rc = coro__http_tls_new(&c->tls, &c->o.tls);
    if (rc < 0) {
      c->tls_err = rc;
      snprintf(c->tls_why, sizeof c->tls_why, "%s", coro__http_tls_why());
    }
  }
  if (h->tls && c->tls_err) {
    snprintf(why, CORO_HTTP_WHY_MAX, "%s", c->tls_why);
    return c->tls_err;
  }
  coro_ip ips[8];
  int n = coro_lookup_ip(c->o.resolver, h->name, AF_UNSPEC, ips, 8, deadline);
  if (n < 0)
    return n;
  int fd = -ECONNREFUSED;
  for (int i = 0; i < n; i++) {
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (ips[i].family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      a->sin_family = AF_INET;
      a->sin_port = htons((uint16_t)h->port);
      memcpy(&a->sin_addr, ips[i].addr, 4);
      len = sizeof *a;
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons((uint16_t)h->port);
      a->sin6_scope_id = ips[i].scope_id;
      memcpy(&a->sin6_addr, ips[i].addr, 16);
      len = sizeof *a;
    }
    fd = coro_connect((struct sockaddr *)&ss, len, deadline);
    if (fd >= 0 || fd == -ECANCELED || fd == -ETIMEDOUT)
      break;
  }
  if (fd < 0)
    return fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->st.connects++;
  if (!h->tls)
    return coro__http_tcp_stream(fd, out);
  int rc = coro__http_tls_connect(c->tls, fd, h->name, deadline, out);
  if (rc < 0) {
    /* The reason is the thread's: read it before anything can yield. */
    if (rc == -CORO_HTTP_ETLS)
      snprintf(why, CORO_HTTP_WHY_MAX, "%s", coro__http_tls_why());
    coro_fd_close(fd);
  }
  return rc;
}

int coro__http_pool_get(coro_http_client *c, const coro_url *u, int fresh,
                        int check, int64_t deadline, int64_t connect_deadline,
                        coro__http_conn **out, int *reused, char *why) {
  *out = NULL;
  *reused = 0;
  coro__http_host *h;
  int rc = host_get(c, u, &h);
  if (rc < 0)
    return rc;
  rc = coro_sem_acquire(&h->slots, deadline);
  if (rc < 0) {
    host_maybe_free(c, h);
    return rc;
  }
  int64_t now = coro_now();
  host_sweep(c, h, now, 0);
  if (fresh) {
    /* A retry after a stale connection: the others that idled as long
     * are suspect too, and a retry must not meet the same fate. */
    while (h->idle) {
      coro__http_conn *k = h->idle;
      h->idle = k->next;
      h->nidle--;
      c->st.idle--;
      c->st.evicted++;
      conn_close(c, k);
    }
  }
  while (h->idle) {
    coro__http_conn *k = h->idle;
    h->idle = k->next;
    h->nidle--;
    c->st.idle--;
    k->next = NULL;
    if ((check || now - k->idle_since >= CHECK_AFTER) && !k->s->ops->idle_ok(k->s)) {
      c->st.evicted++;
      conn_close(c, k);
      continue;
    }
    c->st.active++;
    *out = k;
    *reused = 1;
    return 0;
  }
  coro__http_conn *k = coro__calloc(1, sizeof *k);
  char *rb = coro__malloc(CORO__HTTP_RBUF);
  if (!k || !rb) {
    free(k);
    free(rb);
    rc = -ENOMEM;
  } else {
    int64_t dl = connect_deadline;
    if (deadline >= 0 && (dl < 0 || deadline < dl))
      dl = deadline;
    rc = dial(c, h, dl, &k->s, why);
    if (rc < 0) {
      free(k);
      free(rb);
    }
  }
  if (rc < 0) {
    coro_sem_release(&h->slots);
    host_maybe_free(c, h);
    return rc;
  }
  k->host = h;
  k->rbuf = rb;
  c->st.active++;
  *out = k;
  return 0;
}

void coro__http_pool_put(coro_http_client *c, coro__http_conn *k, int reusable) {
  coro__http_host *h = k->host;
  c->st.active--;
  k->uses++;
  if (reusable) {
    k->idle_since = coro_now();
    k->next = h->idle;
    h->idle = k;
    h->nidle++;
    c->st.idle++;
  } else {
    c->st.dropped++;
    conn_close(c, k);
  }
  coro_sem_release(&h->slots);
  host_maybe_free(c, h);
}

void coro__http_pool_sweep(coro_http_client *c, int force) {
  int64_t now = coro_now();
  if (!force && now < c->next_sweep)
    return;
  c->next_sweep = now + 1000000000;
  for (size_t b = 0; b < c->nbuckets; b++) {
    coro__http_host *h = c->hosts[b];
    while (h) {
      coro__http_host *next = h->next;
      host_sweep(c, h, now, 1);
      host_maybe_free(c, h);
      h = next;
    }
  }
}

void coro__http_pool_free(coro_http_client *c) {
  for (size_t b = 0; b < c->nbuckets; b++) {
    coro__http_host *h = c->hosts[b];
    while (h) {
      coro__http_host *next = h->next;
      while (h->idle) {
        coro__http_conn *k = h->idle;
        h->idle = k->next;
        conn_close(c, k);
      }
      coro_sem_destroy(&h->slots);
      free(h->key);
      free(h);
      h = next;
    }
  }
  c->st.idle = 0;
  free(c->hosts);
  c->hosts = NULL;
}
