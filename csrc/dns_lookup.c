/* dns_lookup.c - from a name to addresses: numeric names, localhost, the
 * hosts file, then DNS through the search list, A and AAAA in parallel,
 * every question through the cache and its single flight.
 *
 * Contract (coro.h coro_lookup_ip; resolver_internal.h coro__dns_resolve):
 * a question is cached under (the name asked, type) with the TTL of the
 * records used (the chain's CNAMEs included) or, negative, for the SOA's
 * TTL (RFC 2308). A warm lookup makes no syscall and no allocation: the
 * clock is the vDSO's, and the addresses are copied straight from the
 * cache to the caller. The parallel family runs in a helper coroutine,
 * which owns its half of the state so that a cancelled caller can leave
 * it behind (cancelled too) without waiting.
 */
#include "resolver_internal.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* CNAME chains followed across queries (the server left the end out). */
#define MAX_REQUERY 8

void coro__dns_view_done(coro__dns_view *v) {
  free(v->owned);
  v->owned = NULL;
}

static void view_of(coro__dns_view *v, const uint8_t *blob) {
  memcpy(&v->h, blob, sizeof v->h);
  v->addrs = (const coro_ip *)(blob + sizeof v->h);
  v->cname = (const char *)(blob + sizeof v->h + v->h.naddr * sizeof(coro_ip));
  v->msg = (const uint8_t *)v->cname + v->h.cname_len;
}

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* The CNAME owned by name in m's answer section, or NULL. */
static const coro__dns_rr *cname_of(const coro__dns_msg *m, const char *name) {
  for (size_t i = 0; i < m->nrr; i++) {
    const coro__dns_rr *rr = &m->rr[i];
    if (rr->section == CORO__DNS_S_ANSWER && rr->type == CORO__DNS_T_CNAME &&
        rr->rclass == CORO__DNS_C_IN && coro__dns_name_eq(rr->name, name))
      return rr;
  }
  return NULL;
}

static int rr_matches(const coro__dns_rr *rr, const char *name, uint16_t type) {
  return rr->section == CORO__DNS_S_ANSWER && rr->type == type &&
         rr->rclass == CORO__DNS_C_IN && coro__dns_name_eq(rr->name, name);
}

/* Build the blob of a fresh answer: the records of type owned by the end
 * of the chain that starts at name (the chain not followed for CNAME
 * questions). *blob is malloc'd. Returns the count (0: none there). */
static int make_blob(const coro__dns_reply *rep, const char *name,
                     uint16_t type, uint8_t **blob, size_t *len,
                     const char **final_out) {
  const coro__dns_msg *m = &rep->m;
  const char *final = name;
  uint32_t ttl = UINT32_MAX;
  if (type != CORO__DNS_T_CNAME)
    for (int links = 0;; links++) {
      const coro__dns_rr *cn = cname_of(m, final);
      if (!cn)
        break;
      if (links == CORO__DNS_MAX_CNAMES)
        return -EBADMSG; /* a loop, or a chain past any sane length */
      ttl = min32(ttl, cn->ttl);
      final = cn->u.target;
    }
  uint32_t count = 0;
  for (size_t i = 0; i < m->nrr; i++)
    if (rr_matches(&m->rr[i], final, type)) {
      count++;
      ttl = min32(ttl, m->rr[i].ttl);
    }
  int is_addr = type == CORO__DNS_T_A || type == CORO__DNS_T_AAAA;
  coro__dns_blob_hdr h = {.count = count,
                          .naddr = is_addr ? count : 0,
                          .cname_len = (uint32_t)strlen(final) + 1,
                          .msg_len = (uint32_t)rep->len,
                          .ttl = ttl == UINT32_MAX ? 0 : ttl};
  size_t n = sizeof h + h.naddr * sizeof(coro_ip) + h.cname_len + h.msg_len;
  uint8_t *b = coro__malloc(n);
  if (!b)
    return -ENOMEM;
  memcpy(b, &h, sizeof h);
  uint8_t *p = b + sizeof h;
  for (size_t i = 0; is_addr && i < m->nrr; i++) {
    const coro__dns_rr *rr = &m->rr[i];
    if (!rr_matches(rr, final, type))
      continue;
    coro_ip ip = {.family = type == CORO__DNS_T_A ? AF_INET : AF_INET6};
    memcpy(ip.addr, rr->u.aaaa, type == CORO__DNS_T_A ? 4 : 16);
    memcpy(p, &ip, sizeof ip);
    p += sizeof ip;
  }
  memcpy(p, final, h.cname_len);
  memcpy(p + h.cname_len, rep->msg, rep->len);
  *blob = b;
  *len = n;
  *final_out = final;
  return (int)count;
}

/* The names being resolved by one lookup, outermost first: a chain that
 * comes back to one of them is a loop (waiting for its flight would wait
 * for ourselves). */
typedef struct chain {
  const char *name[MAX_REQUERY + 1];
  int n;
} chain;

static int resolve(coro_resolver *r, const char *name, uint16_t type,
                   unsigned flags, coro__dns_view *v, int64_t deadline,
                   chain *ch);

/* The leader's work: ask, interpret, cache. */
static int ask(coro_resolver *r, const char *name, uint16_t type,
               unsigned flags, coro__dns_view *v, int64_t deadline, chain *ch) {
  coro__dns_reply rep;
  int rc = coro__dns_exchange(r, name, type, &rep, deadline);
  v->server = rep.from;
  v->server_len = rep.from_len;
  if (rc < 0)
    return rc;
  int cache = !(flags & CORO_DNS_NOCACHE);
  int64_t now = coro__resolver_now(r);
  uint32_t neg_ttl = 0;
  int has_soa = coro__dns_negative_ttl(&rep.m, &neg_ttl) == 0;
  uint8_t *blob = NULL;
  size_t len = 0;
  const char *final = name;
  if (rep.m.rcode == CORO__DNS_R_NXDOMAIN) {
    rc = -CORO_ENXDOMAIN;
  } else {
    rc = make_blob(&rep, name, type, &blob, &len, &final);
    if (rc == 0)
      rc = -ENODATA;
  }
  if (rc == -ENODATA && !coro__dns_name_eq(final, name) && !has_soa) {
    /* The server gave the chain but not its end's records, nor said
     * there are none: ask for the end ourselves. */
    coro__dns_blob_hdr h;
    memcpy(&h, blob, sizeof h);
    char end[CORO__DNS_NAME_BUF];
    memcpy(end, final, h.cname_len);
    uint32_t chain_ttl = h.ttl;
    free(blob);
    blob = NULL;
    coro__dns_reply_free(&rep);
    rc = ch->n > MAX_REQUERY ? -EBADMSG : 0;
    for (int i = 0; rc == 0 && i < ch->n; i++)
      if (coro__dns_name_eq(ch->name[i], end))
        rc = -EBADMSG;
    if (rc < 0)
      return rc;
    coro__dns_view sub;
    rc = resolve(r, end, type, flags, &sub, deadline, ch);
    if (sub.server_len > 0) {
      v->server = sub.server;
      v->server_len = sub.server_len;
    }
    if (rc == -EDEADLK)
      return -EBADMSG; /* a loop through another lookup's chain */
    if (rc <= 0)
      return rc;
    /* Ours is the end's answer under our name, for the shorter TTL. */
    len = sizeof sub.h + sub.h.naddr * sizeof(coro_ip) + sub.h.cname_len +
          sub.h.msg_len;
    blob = coro__malloc(len);
    if (!blob) {
      coro__dns_view_done(&sub);
      return -ENOMEM;
    }
    sub.h.ttl = min32(sub.h.ttl, chain_ttl);
    memcpy(blob, &sub.h, sizeof sub.h);
    memcpy(blob + sizeof sub.h, sub.addrs, len - sizeof sub.h);
    coro__dns_view_done(&sub);
    if (cache)
      coro__dns_cache_put(r->cache, name, type, blob, len, sub.h.ttl, now);
    v->owned = blob;
    v->from_cache = 0;
    view_of(v, blob);
    return (int)v->h.count;
  }
  if (rc < 0) {
    if (cache && has_soa && coro__dns_is_negative(rc))
      coro__dns_cache_put_neg(r->cache, name, type, rc, neg_ttl, now);
    free(blob);
    coro__dns_reply_free(&rep);
    return rc;
  }
  if (cache) {
    coro__dns_blob_hdr h;
    memcpy(&h, blob, sizeof h);
    coro__dns_cache_put(r->cache, name, type, blob, len, h.ttl, now);
  }
  coro__dns_reply_free(&rep);
  v->owned = blob;
  v->from_cache = 0;
  view_of(v, blob);
  return rc;
}

static int resolve(coro_resolver *r, const char *name, uint16_t type,
                   unsigned flags, coro__dns_view *v, int64_t deadline,
                   chain *ch) {
  v->owned = NULL;
  v->from_cache = 0;
  v->server_len = 0;
  int lead = !(flags & CORO_DNS_NOCACHE);
  for (; lead;) {
    const void *blob;
    int rc = coro__dns_cache_get(r->cache, name, type, coro__resolver_now(r),
                                 &blob, NULL, NULL);
    if (rc < 0)
      return rc;
    if (rc > 0) {
      view_of(v, blob);
      v->from_cache = 1;
      return (int)v->h.count;
    }
    rc = coro__dns_flight_begin(r->cache, name, type, deadline);
    if (rc < 0)
      return rc;
    if (rc == 1)
      break;
    /* The leader ended: look again (its answer may be uncacheable; then
     * the loop makes us a leader). */
  }
  ch->name[ch->n++] = name;
  int rc = ask(r, name, type, flags, v, deadline, ch);
  ch->n--;
  if (lead)
    coro__dns_flight_end(r->cache, name, type);
  return rc;
}

int coro__dns_resolve(coro_resolver *r, const char *name, uint16_t type,
                      unsigned flags, coro__dns_view *v, int64_t deadline) {
  chain ch = {.n = 0};
  return resolve(r, name, type, flags, v, deadline, &ch);
}

/* ---- addresses of one family ------------------------------------------ */

/* The server a lookup asked last (len 0: none yet). */
typedef struct where {
  struct sockaddr_storage server;
  socklen_t len;
} where;

static void where_take(where *w, const struct sockaddr_storage *ss,
                       socklen_t len) {
  if (w && len > 0) {
    w->server = *ss;
    w->len = len;
  }
}

/* Resolve (name, type) and copy its addresses to out[0..cap): returns
 * their total number (may exceed cap) or an error; canon (optional) gets
 * the chain's end, *w (optional) the server asked. */
static int family_addrs(coro_resolver *r, const char *name, uint16_t type,
                        coro_ip *out, size_t cap, int64_t deadline,
                        char *canon, where *w) {
  coro__dns_view v;
  int rc = coro__dns_resolve(r, name, type, 0, &v, deadline);
  where_take(w, &v.server, v.server_len);
  if (rc <= 0)
    return rc;
  size_t k = v.h.naddr < cap ? v.h.naddr : cap;
  memcpy(out, v.addrs, k * sizeof *out);
  if (canon)
    memcpy(canon, v.cname, v.h.cname_len);
  rc = (int)v.h.naddr;
  coro__dns_view_done(&v);
  return rc;
}

/* The helper coroutine asking for the second family. Both sides hold a
 * reference; the last one frees. */
typedef struct helper {
  coro_resolver *r;
  uint16_t type;
  int64_t deadline;
  int rc;
  int refs;
  size_t cap;
  where w;
  char name[CORO__DNS_NAME_TEXT_MAX + 1];
  char canon[CORO__DNS_NAME_BUF];
  coro_ip out[];
} helper;

static void helper_unref(helper *h) {
  if (--h->refs == 0)
    free(h);
}

static void *helper_main(void *arg) {
  helper *h = arg;
  h->rc = family_addrs(h->r, h->name, h->type, h->out, h->cap, h->deadline,
                       h->canon, &h->w);
  h->r->busy--;
  helper_unref(h);
  return NULL;
}

/* Both families of one name, the preferred one first in out. Returns the
 * addresses written, or the error that stops the search (a negative one
 * when both are negative: -ENODATA if either is). canon gets the chain's
 * end of the family that has addresses (the first one if both do). */
static int both_families(coro_resolver *r, const char *name, int v6_first,
                         coro_ip *out, size_t cap, int64_t deadline,
                         char *canon, where *w) {
  uint16_t t1 = v6_first ? CORO__DNS_T_AAAA : CORO__DNS_T_A;
  uint16_t t2 = v6_first ? CORO__DNS_T_A : CORO__DNS_T_AAAA;
  int rc1, rc2;
  int parallel = !(r->conf.opts & (CORO__DNS_O_SINGLE_REQUEST |
                                   CORO__DNS_O_SINGLE_REQUEST_REOPEN));
  if (parallel) {
    /* Only when the second would need a query: a warm cache answers both
     * without a coroutine. */
    const void *b;
    int hit = coro__dns_cache_get(r->cache, name, t2, coro__resolver_now(r),
                                  &b, NULL, NULL);
    parallel = hit == 0;
  }
  helper *h = NULL;
  coro *co = NULL;
  if (parallel) {
    size_t hcap = cap < 1024 ? cap : 1024;
    h = coro__malloc(sizeof *h + hcap * sizeof(coro_ip));
    if (h) {
      *h = (helper){.r = r, .type = t2, .deadline = deadline, .refs = 2,
                    .cap = hcap};
      h->canon[0] = '\0';
      memcpy(h->name, name, strlen(name) + 1);
      r->busy++;
      if (coro_spawn(&co, helper_main, h, NULL) < 0) {
        r->busy--;
        free(h);
        h = NULL;
      }
    }
    /* Without memory for the helper, ask one after the other. */
  }
  rc1 = family_addrs(r, name, t1, out, cap, deadline, canon, w);
  size_t n1 = rc1 > 0 ? ((size_t)rc1 < cap ? (size_t)rc1 : cap) : 0;
  if (h) {
    int jr = coro_join(co, -1, NULL);
    if (jr < 0) {
      /* We were cancelled: the helper goes on alone, cancelled too. */
      coro_cancel(co);
      coro_detach(co);
      helper_unref(h);
      return jr;
    }
    rc2 = h->rc;
    /* The first family failed, the second has addresses: its chain's end
     * is the canonical name, and its server the one that counted. */
    if (rc1 <= 0 && rc2 > 0 && canon)
      memcpy(canon, h->canon, strlen(h->canon) + 1);
    if (w && (w->len == 0 || (rc1 <= 0 && rc2 > 0)))
      where_take(w, &h->w.server, h->w.len);
    if (rc2 > 0) {
      size_t k = (size_t)rc2 < h->cap ? (size_t)rc2 : h->cap;
      if (k > cap - n1)
        k = cap - n1;
      memcpy(out + n1, h->out, k * sizeof *out);
    }
    helper_unref(h);
  } else {
    if (rc1 == -ECANCELED || rc1 == -ETIMEDOUT)
      return rc1;
    char canon2[CORO__DNS_NAME_BUF];
    where w2 = {.len = 0};
    rc2 = family_addrs(r, name, t2, out + n1, cap - n1, deadline,
                       rc1 > 0 ? NULL : canon2, &w2);
    if (w && (w->len == 0 || (rc1 <= 0 && rc2 > 0)))
      where_take(w, &w2.server, w2.len);
    if (rc1 <= 0 && rc2 > 0 && canon)
      memcpy(canon, canon2, strlen(canon2) + 1);
  }
  if (rc1 > 0 || rc2 > 0) {
    size_t n2 = rc2 > 0 ? (size_t)rc2 : 0;
    size_t n = n1 + n2;
    return (int)(n < cap ? n : cap);
  }
  if (!coro__dns_is_negative(rc1))
    return rc1;
  if (!coro__dns_is_negative(rc2))
    return rc2;
  return rc1 == -ENODATA || rc2 == -ENODATA ? -ENODATA : -CORO_ENXDOMAIN;
}

/* ---- local answers ------------------------------------------------------ */

/* A numeric address (IPv6 with an optional %zone): 1 when name is one
 * (written to *ip), else 0. */
static int numeric(const char *name, coro_ip *ip) {
  memset(ip, 0, sizeof *ip);
  if (inet_pton(AF_INET, name, ip->addr) == 1) {
    ip->family = AF_INET;
    return 1;
  }
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t n = strlen(name);
  if (n >= sizeof buf || !strchr(name, ':'))
    return 0;
  memcpy(buf, name, n + 1);
  char *zone = strchr(buf, '%');
  if (zone)
    *zone++ = '\0';
  if (inet_pton(AF_INET6, buf, ip->addr) != 1)
    return 0;
  ip->family = AF_INET6;
  if (zone) {
    char *end;
    unsigned long z = strtoul(zone, &end, 10);
    if (*zone == '\0' || *end != '\0')
      z = if_nametoindex(zone);
    if (z == 0)
      return 0;
    ip->scope_id = (uint32_t)z;
  }
  return 1;
}

static int from_hosts(coro_resolver *r, const char *name, int family,
                      coro_ip *out, size_t cap, int first_family,
                      char *canon) {
  coro__dns_addr local[16];
  coro__dns_addr *a = local;
  size_t acap = sizeof local / sizeof local[0];
  int n = coro__dns_hosts_lookup(&r->conf.hosts, name, family, a, acap);
  while (n == -EMSGSIZE) {
    if (a != local)
      free(a);
    acap *= 4;
    a = coro__malloc(acap * sizeof *a);
    if (!a)
      return -ENOMEM;
    n = coro__dns_hosts_lookup(&r->conf.hosts, name, family, a, acap);
  }
  if (n > 0 && canon) {
    const char *c = coro__dns_hosts_name(&r->conf.hosts, &a[0]);
    snprintf(canon, CORO__DNS_NAME_BUF, "%s", c ? c : name);
  }
  /* The preferred family first, each in file order, cut at cap. */
  size_t k = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n && k < cap; i++) {
      if ((a[i].family == first_family) != (pass == 0))
        continue;
      coro_ip ip = {.family = a[i].family, .scope_id = a[i].scope};
      memcpy(ip.addr, a[i].addr, 16);
      out[k++] = ip;
    }
  if (a != local)
    free(a);
  return (int)k;
}

/* ---- the warm path ------------------------------------------------------ */

/* 1 when name may be a localhost name (ends in "localhost", any case, a
 * dot allowed after): such names never take the warm path. */
static int maybe_localhost(const char *name) {
  size_t n = strlen(name);
  if (n > 0 && name[n - 1] == '.')
    n--;
  /* The first letter as a cheap filter before the compare (the warm
   * path runs this for every name). */
  return n >= 9 && (name[n - 9] | 0x20) == 'l' &&
         strncasecmp(name + n - 9, "localhost", 9) == 0;
}

/* The cached positive answer of (name, type) copied to out[0..cap):
 * the count copied, 0 on a miss, or the negative error cached. */
static int cached(coro_resolver *r, const char *name, uint16_t type,
                  coro_ip *out, size_t cap, int64_t now, char *canon) {
  const void *blob;
  int rc = coro__dns_cache_get(r->cache, name, type, now, &blob, NULL, NULL);
  if (rc <= 0)
    return rc;
  coro__dns_blob_hdr h;
  memcpy(&h, blob, sizeof h);
  size_t k = h.naddr < cap ? h.naddr : cap;
  memcpy(out, (const uint8_t *)blob + sizeof h, k * sizeof *out);
  if (canon)
    memcpy(canon, (const uint8_t *)blob + sizeof h + h.naddr * sizeof *out,
           h.cname_len);
  return (int)k;
}

/* The warm path: the first name the search would ask, answered from the
 * cache with no copy of the candidates and no check of the name (a
 * cached name was checked when it was asked). Returns the addresses
 * written, or 0: take the whole path. */
static int warm(coro_resolver *r, const char *name, int family, int v6_first,
                coro_ip *out, size_t cap, int64_t now, char *canon) {
  size_t len = 0;
  int dots = 0;
  for (; name[len]; len++)
    dots += name[len] == '.';
  if (len == 0 || (len >= 2 && name[len - 2] == '\\'))
    return 0; /* an escaped last byte: the whole path decides */
  const char *q = name;
  char buf[CORO__DNS_NAME_TEXT_MAX + 1];
  /* A trailing dot: the name alone is asked (the cache ignores the dot).
   * Else the first search suffix comes first when the name has fewer
   * than ndots dots. */
  if (name[len - 1] != '.' && dots < r->conf.ndots && r->conf.nsearch > 0) {
    size_t sl = strlen(r->conf.search[0]);
    if (len + 1 + sl > CORO__DNS_NAME_TEXT_MAX)
      return 0;
    memcpy(buf, name, len);
    buf[len] = '.';
    memcpy(buf + len + 1, r->conf.search[0], sl + 1);
    q = buf;
  }
  if (family != AF_UNSPEC) {
    int n = cached(r, q, family == AF_INET ? CORO__DNS_T_A : CORO__DNS_T_AAAA,
                   out, cap, now, canon);
    return n > 0 ? n : 0;
  }
  uint16_t t1 = v6_first ? CORO__DNS_T_AAAA : CORO__DNS_T_A;
  uint16_t t2 = v6_first ? CORO__DNS_T_A : CORO__DNS_T_AAAA;
  int n1 = cached(r, q, t1, out, cap, now, canon);
  if (n1 == 0)
    return 0;
  size_t k1 = n1 > 0 ? (size_t)n1 : 0;
  int n2 = k1 < cap ? cached(r, q, t2, out + k1, cap - k1, now,
                             n1 > 0 ? NULL : canon)
                    : 0;
  if (n2 == 0 && k1 < cap)
    return 0; /* the second family is not cached: ask */
  if (n1 < 0 && n2 < 0)
    return 0; /* both negative: the search goes on */
  return (int)(k1 + (n2 > 0 ? (size_t)n2 : 0));
}

/* ---- the lookup --------------------------------------------------------- */

int coro__lookup_ip_numeric(const char *name, int family, coro_ip *out) {
  coro_ip ip;
  if (!numeric(name, &ip))
    return -CORO_ENXDOMAIN;
  if (family != AF_UNSPEC && ip.family != family)
    return -ENODATA;
  *out = ip;
  return 1;
}

int coro__lookup_ip(coro_resolver *r, const char *name, int family,
                    coro_ip *out, size_t cap, int64_t deadline, char *canon,
                    struct sockaddr_storage *server, socklen_t *server_len) {
  if (server_len)
    *server_len = 0;
  if (!name || !out || cap == 0)
    return -EINVAL;
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
    return -EAFNOSUPPORT;
  int err = 0;
  r = coro__resolver_get(r, &err);
  if (!r)
    return err;
  r->lookups++;
  if (canon)
    snprintf(canon, CORO__DNS_NAME_BUF, "%s", name);
  int n = coro__lookup_ip_numeric(name, family, out);
  if (n != -CORO_ENXDOMAIN)
    return n;
  int64_t now = coro__resolver_now(r);
  coro__resolver_refresh(r, now);
  int v6_first = family == AF_UNSPEC && coro__resolver_v6_route(r, now);
  int first = v6_first ? AF_INET6 : AF_INET;
  int local = maybe_localhost(name);
  if (!local) {
    /* hosts comes before DNS; a name its Bloom filter rules out costs
     * no copy or search of it, here or later. */
    if (coro__dns_hosts_maybe(&r->conf.hosts, name)) {
      n = from_hosts(r, name, family, out, cap, first, canon);
      if (n != 0)
        return n;
    }
    n = warm(r, name, family, v6_first, out, cap, now, canon);
    if (n > 0)
      return n;
  }
  char cand[CORO__DNS_MAX_CANDIDATES][CORO__DNS_NAME_TEXT_MAX + 1];
  int nc = coro__dns_candidates(&r->conf, name, cand, CORO__DNS_MAX_CANDIDATES);
  if (nc < 0)
    return nc;
  if (nc == 0) { /* localhost */
    size_t k = 0;
    static const coro_ip lo4 = {.family = AF_INET, .addr = {127, 0, 0, 1}};
    static const coro_ip lo6 = {.family = AF_INET6, .addr = {[15] = 1}};
    if (family != AF_INET6 && (family == AF_INET || !v6_first))
      out[k++] = lo4;
    if (family != AF_INET && k < cap)
      out[k++] = lo6;
    if (family == AF_UNSPEC && v6_first && k < cap)
      out[k++] = lo4;
    return (int)k;
  }
  if (local) {
    /* "localhost" in a name that is not a localhost name. */
    n = from_hosts(r, name, family, out, cap, first, canon);
    if (n != 0)
      return n;
  }
  int best = -CORO_ENXDOMAIN;
  where w = {.len = 0};
  r->busy++;
  for (int i = 0; i < nc; i++) {
    int rc;
    if (family == AF_UNSPEC)
      rc = both_families(r, cand[i], v6_first, out, cap, deadline, canon, &w);
    else
      rc = family_addrs(r, cand[i],
                        family == AF_INET ? CORO__DNS_T_A : CORO__DNS_T_AAAA,
                        out, cap, deadline, canon, &w);
    if (coro__dns_search_step(rc > (int)cap ? (int)cap : rc, &best))
      break;
  }
  r->busy--;
  if (server && server_len && w.len > 0) {
    *server = w.server;
    *server_len = w.len;
  }
  return best;
}

int coro_lookup_ip(coro_resolver *r, const char *name, int family,
                   coro_ip *out, size_t cap, int64_t deadline) {
  return coro__lookup_ip(r, name, family, out, cap, deadline, NULL, NULL,
                         NULL);
}

int coro_lookup_ip_server(coro_resolver *r, const char *name, int family,
                          coro_ip *out, size_t cap, int64_t deadline,
                          struct sockaddr_storage *server,
                          socklen_t *server_len) {
  return coro__lookup_ip(r, name, family, out, cap, deadline, NULL, server,
                         server_len);
}
