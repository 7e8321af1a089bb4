/* resolver.c - the resolver record: its configuration (the files, the
 * servers override), its cache, the loop's default resolver, query ids,
 * the IPv6 route check of the ordering rule, stats and error messages.
 *
 * Contract (resolver_internal.h): a resolver belongs to the loop of the
 * thread that made it; the loop's default one is made on the first lookup
 * that passes NULL, from the copy of coro_loop_opts.resolver that
 * coro_loop_new took, and freed by coro_loop_close. The files are looked
 * at (two stats) at most once per CORO__DNS_RECHECK_NS, and a re-read
 * clears the cache, whose answers may come from the old servers.
 */
#include "resolver_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#define CACHE_ENTRIES_DEFAULT 4096
#define CACHE_MAX_TTL_DEFAULT 3600
#define CACHE_NEG_TTL_DEFAULT 300

/* One server of the override: "ADDR" (port 53) or "ADDR:PORT",
 * "[V6]:PORT". */
static int parse_server(const char *s, size_t n, struct sockaddr_storage *ss,
                        socklen_t *len) {
  char buf[INET6_ADDRSTRLEN + 16];
  if (n == 0 || n >= sizeof buf)
    return -EINVAL;
  memcpy(buf, s, n);
  buf[n] = '\0';
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(53);
    *len = sizeof *in4;
    return 0;
  }
  if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(53);
    *len = sizeof *in6;
    return 0;
  }
  return coro_addr_parse(buf, ss, len);
}

static int parse_servers(coro_resolver *r, const char *list) {
  const char *p = list;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (r->nservers == CORO__RES_MAX_SERVERS)
      return -EINVAL;
    int rc = parse_server(p, n, &r->servers[r->nservers],
                          &r->server_len[r->nservers]);
    if (rc < 0)
      return rc;
    r->nservers++;
    p += n;
    if (*p == ',')
      p++;
  }
  return r->nservers > 0 ? 0 : -EINVAL;
}

int coro_resolver_new(coro_resolver **out, const coro_resolver_opts *opts) {
  if (!out)
    return -EINVAL;
  coro_loop *l = coro__tls_loop;
  if (!l)
    return -EPERM;
  coro_resolver_opts o = {0};
  if (opts)
    o = *opts;
  coro_resolver *r = coro__calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->loop = l;
  r->v6_route = -1;
  r->udp_max = coro__dns_udp_max(o.udp_max_queries);
  r->udp_busy_max = CORO__DNS_UDP_INFLIGHT;
  int rc = 0;
  if (o.servers && (rc = parse_servers(r, o.servers)) < 0) {
    free(r);
    return rc;
  }
  /* dns_conf.c allocates without fault points (it sits below the
   * engine): this point stands for its allocations. */
  if (coro__fault(CORO__FP_ALLOC) ||
      coro__dns_conf_load(&r->conf, o.resolv_conf, o.hosts,
                          coro__resolver_now(r)) < 0) {
    free(r);
    return -ENOMEM;
  }
  if (o.cache_entries != (size_t)-1) {
    size_t entries = o.cache_entries ? o.cache_entries : CACHE_ENTRIES_DEFAULT;
    uint32_t max_ttl = o.cache_max_ttl ? o.cache_max_ttl : CACHE_MAX_TTL_DEFAULT;
    uint32_t neg_ttl = o.cache_neg_ttl ? o.cache_neg_ttl : CACHE_NEG_TTL_DEFAULT;
    if (coro__fault(CORO__FP_ALLOC) ||
        coro__dns_cache_new(&r->cache, entries, max_ttl, neg_ttl) < 0) {
      coro__dns_conf_free(&r->conf);
      free(r);
      return -ENOMEM;
    }
  } else if (coro__fault(CORO__FP_ALLOC) ||
             coro__dns_cache_new(&r->cache, 0, 1, 1) < 0) {
    /* No answers kept, but identical questions in flight still share. */
    coro__dns_conf_free(&r->conf);
    free(r);
    return -ENOMEM;
  }
  *out = r;
  return 0;
}

static void resolver_destroy(coro_resolver *r) {
  coro__dns_udp_free(r);
  coro__dns_cache_destroy(r->cache);
  coro__dns_conf_free(&r->conf);
  free(r);
}

int coro_resolver_free(coro_resolver *r) {
  if (!r)
    return -EINVAL;
  if (r->busy > 0)
    return -EBUSY;
  if (r->loop->resolver == r)
    return -EINVAL; /* the loop's own: coro_loop_close frees it */
  resolver_destroy(r);
  return 0;
}

coro_resolver *coro__resolver_get(coro_resolver *r, int *err) {
  if (r)
    return r;
  coro_loop *l = coro__tls_loop;
  if (!l) {
    *err = -EPERM;
    return NULL;
  }
  if (!l->resolver) {
    int rc = coro_resolver_new(&l->resolver, l->resolver_opts);
    if (rc < 0) {
      l->resolver = NULL;
      *err = rc;
      return NULL;
    }
  }
  return l->resolver;
}

void coro__resolver_refresh(coro_resolver *r, int64_t now) {
  if (coro__dns_conf_refresh(&r->conf, now) > 0) {
    coro__dns_cache_clear(r->cache);
    r->v6_route = -1;
  }
}

uint16_t coro__resolver_id(coro_resolver *r) {
  if (r->rnd_left < 2) {
    ssize_t n = getrandom(r->rnd, sizeof r->rnd, 0);
    if (n < 2) {
      /* No entropy source (seccomp, old kernel): mix the clock in, which
       * is still unpredictable enough to tell our answers apart. */
      uint64_t t = (uint64_t)coro_now() * 0x9e3779b97f4a7c15ull;
      memcpy(r->rnd, &t, sizeof t);
      n = sizeof t;
    }
    r->rnd_left = (size_t)n;
  }
  r->rnd_left -= 2;
  return (uint16_t)(r->rnd[r->rnd_left] << 8 | r->rnd[r->rnd_left + 1]);
}

int coro__resolver_v6_route(coro_resolver *r, int64_t now) {
  if (r->v6_route >= 0 && now - r->v6_checked_ns < CORO__DNS_RECHECK_NS)
    return r->v6_route;
  /* A global unicast address (2001:4860::8888 is only a destination to
   * route to: connecting a UDP socket sends nothing). */
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
  static const uint8_t dst[16] = {0x20, 0x01, 0x48, 0x60, [14] = 0x88,
                                  [15] = 0x88};
  memcpy(&a.sin6_addr, dst, 16);
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  r->v6_route = ok;
  r->v6_checked_ns = now;
  return ok;
}

void coro__resolver_skew(coro_resolver *r, int64_t ns) { r->skew_ns += ns; }

int coro__resolver_opts_dup(const coro_resolver_opts *in,
                            coro_resolver_opts **out) {
  *out = NULL;
  if (!in)
    return 0;
  const char *s[3] = {in->resolv_conf, in->hosts, in->servers};
  size_t n[3], total = sizeof **out;
  for (int i = 0; i < 3; i++) {
    n[i] = s[i] ? strlen(s[i]) + 1 : 0;
    total += n[i];
  }
  coro_resolver_opts *o = coro__malloc(total);
  if (!o)
    return -ENOMEM;
  *o = *in;
  char *p = (char *)(o + 1);
  const char **dst[3] = {&o->resolv_conf, &o->hosts, &o->servers};
  for (int i = 0; i < 3; i++) {
    if (!s[i])
      continue;
    memcpy(p, s[i], n[i]);
    *dst[i] = p;
    p += n[i];
  }
  *out = o;
  return 0;
}

void coro__resolver_loop_free(coro_loop *l) {
  if (l->resolver) {
    /* Abandoned lookups may still count as busy; they never run again. */
    coro_resolver *r = l->resolver;
    l->resolver = NULL;
    resolver_destroy(r);
  }
  free(l->resolver_opts);
  l->resolver_opts = NULL;
}

int coro_resolver_stats_get(coro_resolver *r, coro_resolver_stats *out) {
  if (!out)
    return -EINVAL;
  int err = 0;
  r = coro__resolver_get(r, &err);
  if (!r)
    return err;
  coro__dns_cache_stats cs;
  coro__dns_cache_stats_get(r->cache, &cs);
  memset(out, 0, sizeof *out);
  out->lookups = r->lookups;
  out->cache_hits = cs.hits;
  out->cache_misses = cs.misses;
  out->cache_entries = cs.entries;
  out->shared = cs.shared;
  out->queries_udp = r->queries_udp;
  out->queries_tcp = r->queries_tcp;
  out->timeouts = r->timeouts;
  out->retries = r->retries;
  out->ignored = r->ignored;
  return 0;
}

/* ---- names and messages ------------------------------------------------ */

const char *coro_strerror(int err) {
  switch (err < 0 ? -err : err) {
  case CORO_ENXDOMAIN:
    return "no such host";
  case CORO_ESERVFAIL:
    return "server failure";
  case CORO_EREFUSED:
    return "query refused";
  case ENODATA:
    return "no address of the requested family";
  }
  /* strerror's buffer is per thread and its text for known errno values
   * static in glibc; an unknown one gets glibc's "Unknown error N". */
  return strerror(err < 0 ? -err : err);
}

static const struct {
  int type;
  const char *name;
} type_names[] = {
    {CORO_DNS_A, "A"},     {CORO_DNS_NS, "NS"},   {CORO_DNS_CNAME, "CNAME"},
    {CORO_DNS_SOA, "SOA"}, {CORO_DNS_PTR, "PTR"}, {CORO_DNS_MX, "MX"},
    {CORO_DNS_TXT, "TXT"}, {CORO_DNS_AAAA, "AAAA"}, {CORO_DNS_SRV, "SRV"},
    {CORO__DNS_T_OPT, "OPT"}, {CORO__DNS_T_ANY, "ANY"},
};

const char *coro_dns_type_name(int type) {
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (type_names[i].type == type)
      return type_names[i].name;
  if (type < 0 || type > 65535)
    return "TYPE?";
  /* RFC 3597's form for the rest, in a buffer per thread: valid until
   * the thread's next call for an unlisted type. */
  static _Thread_local char buf[16];
  snprintf(buf, sizeof buf, "TYPE%d", type);
  return buf;
}

int coro_dns_type_parse(const char *name) {
  if (!name)
    return 0;
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (strcasecmp(type_names[i].name, name) == 0)
      return type_names[i].type;
  if (strncasecmp(name, "TYPE", 4) == 0 && name[4]) {
    long v = 0;
    for (const char *p = name + 4; *p; p++) {
      if (*p < '0' || *p > '9')
        return 0;
      v = v * 10 + (*p - '0');
      if (v > 65535)
        return 0;
    }
    return (int)v;
  }
  return 0;
}
