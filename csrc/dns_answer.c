/* dns_answer.c - coro_dns_query: records of any type, through the search
 * list and the cache, handed to the caller as one allocation.
 *
 * Contract (coro.h): *out is a coro_dns_answer followed by its records and
 * every string and array they point to, so coro_dns_answer_free (free) is
 * the whole cleanup. The cache keeps the answer message; each call decodes
 * it again and copies out the records of the type owned by the chain's end.
 */
#include "resolver_internal.h"

#include <stdio.h>
#include <string.h>

/* A bump allocator run twice: once to measure (base NULL), once to fill. */
typedef struct bump {
  char *base;
  size_t off;
} bump;

static void *take(bump *b, size_t n, size_t align) {
  b->off = (b->off + align - 1) & ~(align - 1);
  void *p = b->base ? b->base + b->off : NULL;
  b->off += n;
  return p;
}

static const char *str(bump *b, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = take(b, n, 1);
  if (p)
    memcpy(p, s, n);
  return p;
}

static void fill_rr(bump *b, coro_dns_rr *o, const coro__dns_rr *rr) {
  coro_dns_rr tmp;
  if (!o)
    o = &tmp; /* measuring: the values are thrown away */
  memset(o, 0, sizeof *o);
  o->name = str(b, rr->name);
  o->type = rr->type;
  o->ttl = rr->ttl;
  switch (rr->type) {
  case CORO__DNS_T_A:
  case CORO__DNS_T_AAAA:
    o->u.ip.family = rr->type == CORO__DNS_T_A ? AF_INET : AF_INET6;
    memcpy(o->u.ip.addr, rr->u.aaaa, rr->type == CORO__DNS_T_A ? 4 : 16);
    break;
  case CORO__DNS_T_CNAME:
  case CORO__DNS_T_NS:
  case CORO__DNS_T_PTR:
    o->u.target = str(b, rr->u.target);
    break;
  case CORO__DNS_T_MX:
    o->u.mx.pref = rr->u.mx.pref;
    o->u.mx.host = str(b, rr->u.mx.host);
    break;
  case CORO__DNS_T_SOA:
    o->u.soa.mname = str(b, rr->u.soa.mname);
    o->u.soa.rname = str(b, rr->u.soa.rname);
    o->u.soa.serial = rr->u.soa.serial;
    o->u.soa.refresh = rr->u.soa.refresh;
    o->u.soa.retry = rr->u.soa.retry;
    o->u.soa.expire = rr->u.soa.expire;
    o->u.soa.minimum = rr->u.soa.minimum;
    break;
  case CORO__DNS_T_TXT: {
    /* The decoder checked that the strings fill the rdata exactly. */
    const uint8_t *d = rr->u.txt.data, *end = d + rr->u.txt.len;
    size_t n = 0;
    for (const uint8_t *p = d; p < end; p += 1 + *p)
      n++;
    const char **s = take(b, n * sizeof *s, sizeof(void *));
    size_t *len = take(b, n * sizeof *len, sizeof(size_t));
    size_t i = 0;
    for (const uint8_t *p = d; p < end; p += 1 + *p, i++) {
      char *c = take(b, (size_t)*p + 1, 1);
      if (c) {
        memcpy(c, p + 1, *p);
        c[*p] = '\0';
        s[i] = c;
        len[i] = *p;
      }
    }
    o->u.txt.n = n;
    o->u.txt.s = s;
    o->u.txt.len = len;
    break;
  }
  case CORO_DNS_SRV:
    /* Not decoded by the codec: prio, weight, port, then the target,
     * uncompressed (RFC 2782). */
    if (rr->u.raw.len >= 7) {
      const uint8_t *d = rr->u.raw.data;
      o->u.srv.prio = (uint16_t)(d[0] << 8 | d[1]);
      o->u.srv.weight = (uint16_t)(d[2] << 8 | d[3]);
      o->u.srv.port = (uint16_t)(d[4] << 8 | d[5]);
      char text[CORO__DNS_NAME_BUF];
      size_t k = 0;
      for (size_t i = 6; i < rr->u.raw.len && d[i] != 0;) {
        size_t l = d[i++];
        if (i + l > rr->u.raw.len || l > 63)
          break;
        if (k)
          text[k++] = '.';
        for (size_t j = 0; j < l; j++) {
          uint8_t ch = d[i + j];
          if (ch > 32 && ch < 127 && ch != '.' && ch != '\\')
            text[k++] = (char)ch;
          else
            k += (size_t)snprintf(text + k, 5, "\\%03u", ch);
        }
        i += l;
      }
      text[k] = '\0';
      o->u.srv.target = str(b, k ? text : ".");
      break;
    }
    __attribute__((fallthrough)); /* a short SRV is handed over raw */
  default: {
    uint8_t *p = take(b, rr->u.raw.len ? rr->u.raw.len : 1, 1);
    if (p)
      memcpy(p, rr->u.raw.data, rr->u.raw.len);
    o->u.raw.data = p;
    o->u.raw.len = rr->u.raw.len;
    break;
  }
  }
}

/* Lay the answer out in b (measure or fill). */
static coro_dns_answer *lay_out(bump *b, const coro__dns_view *v,
                                const coro__dns_msg *m, const char *qname,
                                int type, size_t n) {
  coro_dns_answer *a = take(b, sizeof *a, sizeof(void *));
  coro_dns_rr *rr = take(b, n * sizeof *rr, sizeof(void *));
  if (a) {
    memset(a, 0, sizeof *a);
    a->type = type;
    a->n = n;
    a->rr = rr;
    a->from_cache = v->from_cache;
    if (!v->from_cache) {
      a->server = v->server;
      a->server_len = v->server_len;
    }
  }
  const char *q = str(b, qname), *c = str(b, v->cname);
  if (a) {
    a->qname = q;
    a->cname = c;
  }
  size_t k = 0;
  for (size_t i = 0; i < m->nrr && k < n; i++) {
    const coro__dns_rr *x = &m->rr[i];
    if (x->section != CORO__DNS_S_ANSWER || x->type != type ||
        x->rclass != CORO__DNS_C_IN || !coro__dns_name_eq(x->name, v->cname))
      continue;
    fill_rr(b, rr ? &rr[k] : NULL, x);
    k++;
  }
  return a;
}

static int build(const coro__dns_view *v, const char *qname, int type,
                 coro_dns_answer **out) {
  size_t cap = 4096 + (size_t)v->h.msg_len * 16;
  void *arena = NULL;
  coro__dns_msg m;
  int rc;
  for (;;) {
    arena = coro__malloc(cap);
    if (!arena)
      return -ENOMEM;
    rc = coro__dns_decode(v->msg, v->h.msg_len, &m, arena, cap);
    if (rc != -EMSGSIZE)
      break;
    free(arena);
    cap *= 2;
  }
  if (rc < 0) {
    free(arena);
    return rc;
  }
  bump b = {NULL, 0};
  lay_out(&b, v, &m, qname, type, v->h.count);
  size_t size = b.off;
  b = (bump){coro__malloc(size), 0};
  if (!b.base) {
    free(arena);
    return -ENOMEM;
  }
  *out = lay_out(&b, v, &m, qname, type, v->h.count);
  free(arena);
  return (int)v->h.count;
}

int coro_dns_query(coro_resolver *r, const char *name, int type,
                   unsigned flags, coro_dns_answer **out, int64_t deadline) {
  if (!name || !out || type <= 0 || type > 65535)
    return -EINVAL;
  *out = NULL;
  int err = 0;
  r = coro__resolver_get(r, &err);
  if (!r)
    return err;
  r->lookups++;
  coro__resolver_refresh(r, coro__resolver_now(r));
  char cand[CORO__DNS_MAX_CANDIDATES][CORO__DNS_NAME_TEXT_MAX + 1];
  int nc = 0;
  if (!(flags & CORO_DNS_NOSEARCH))
    nc = coro__dns_candidates(&r->conf, name, cand, CORO__DNS_MAX_CANDIDATES);
  if (nc < 0)
    return nc;
  if (nc == 0) { /* NOSEARCH, or a localhost name: as it is */
    uint8_t wire[CORO__DNS_NAME_WIRE_MAX];
    int rc = coro__dns_encode_name(name, wire, sizeof wire);
    if (rc < 0)
      return rc;
    size_t n = strlen(name);
    if (n > 1 && name[n - 1] == '.')
      n--;
    memcpy(cand[0], name, n);
    cand[0][n] = '\0';
    nc = 1;
  }
  int best = -CORO_ENXDOMAIN;
  r->busy++;
  for (int i = 0; i < nc; i++) {
    coro__dns_view v;
    int rc = coro__dns_resolve(r, cand[i], (uint16_t)type, flags, &v, deadline);
    if (rc > 0) {
      rc = build(&v, cand[i], type, out);
      coro__dns_view_done(&v);
    }
    if (coro__dns_search_step(rc, &best))
      break;
  }
  r->busy--;
  return best;
}

void coro_dns_answer_free(coro_dns_answer *a) { free(a); }
