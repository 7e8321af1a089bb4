/* dns_msg.c - the DNS message codec (RFC 1035, 3596, 6891, 2308): queries
 * out, responses in, with the helpers a stub resolver needs on a decoded
 * answer (question matching, CNAME chains, negative TTLs, reverse names).
 *
 * Contract: pure functions over caller-provided buffers. The decoder never
 * reads outside msg[0..len) and never writes outside the arena, whatever
 * the bytes (fuzz/dns_msg_fuzz.c checks this under ASan); it allocates
 * nothing. The decoded message lives entirely in the arena: the records
 * array first, then names and rdata bump-allocated after it. See
 * dns_internal.h for each function's errors.
 */
#include "dns_internal.h"

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* ---- encoding --------------------------------------------------------- */

static int host_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int coro__dns_encode_name(const char *name, uint8_t *out, size_t cap) {
  size_t n = strlen(name);
  if (n == 1 && name[0] == '.') { /* the root */
    if (cap < 1)
      return -EMSGSIZE;
    out[0] = 0;
    return 1;
  }
  if (n > 0 && name[n - 1] == '.')
    n--;
  if (n == 0)
    return -EINVAL;
  if (n > CORO__DNS_NAME_TEXT_MAX)
    return -ENAMETOOLONG;
  /* Validate everything before writing, so a bad name leaves out alone. */
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c == '.') {
      if (label == 0)
        return -EINVAL;
      label = 0;
    } else if (!host_char(c)) {
      return -EINVAL; /* non-ASCII (no IDNA here), spaces, escapes */
    } else if (++label > CORO__DNS_LABEL_MAX) {
      return -ENAMETOOLONG;
    }
  }
  if (label == 0)
    return -EINVAL; /* "a.." */
  if (cap < n + 2)
    return -EMSGSIZE;
  /* The length byte of each label goes where its dot was, one ahead. */
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || name[i] == '.') {
      out[start] = (uint8_t)(i - start);
      memcpy(out + start + 1, name + start, i - start);
      start = i + 1;
    }
  }
  out[n + 1] = 0;
  return (int)(n + 2);
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

int coro__dns_encode_query(uint8_t *buf, size_t cap, uint16_t id,
                           const char *name, uint16_t type, unsigned opts) {
  uint8_t wire[CORO__DNS_NAME_WIRE_MAX];
  int wn = coro__dns_encode_name(name, wire, sizeof wire);
  if (wn < 0)
    return wn;
  int edns = (opts & CORO__DNS_Q_EDNS) != 0;
  size_t need = CORO__DNS_HDR_LEN + (size_t)wn + 4 + (edns ? 11 : 0);
  if (cap < need)
    return -EMSGSIZE;
  memset(buf, 0, CORO__DNS_HDR_LEN);
  put16(buf, id);
  put16(buf + 2, (opts & CORO__DNS_Q_RD) ? CORO__DNS_F_RD : 0);
  put16(buf + 4, 1);          /* qdcount */
  put16(buf + 10, edns);      /* arcount */
  uint8_t *p = buf + CORO__DNS_HDR_LEN;
  memcpy(p, wire, (size_t)wn);
  p += wn;
  put16(p, type);
  put16(p + 2, CORO__DNS_C_IN);
  p += 4;
  if (edns) {
    /* OPT: root owner, class = our payload size, TTL = extended rcode 0,
     * version 0, no DO bit; no options. */
    p[0] = 0;
    put16(p + 1, CORO__DNS_T_OPT);
    put16(p + 3, CORO__DNS_EDNS_PAYLOAD);
    memset(p + 5, 0, 6);
    p += 11;
  }
  return (int)(p - buf);
}

/* ---- decoding --------------------------------------------------------- */

/* The decoder's state: the message and the arena's bump pointer. */
typedef struct dec {
  const uint8_t *msg;
  size_t len;
  uint8_t *arena;
  size_t cap, used;
} dec;

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static void *arena_alloc(dec *d, size_t n, size_t align) {
  size_t at = (d->used + align - 1) & ~(align - 1);
  if (at > d->cap || d->cap - at < n)
    return NULL;
  d->used = at + n;
  return d->arena + at;
}

/* Read the name at *off into text (escaped, no trailing dot, "." for the
 * root) and advance *off past it in place (a pointer ends it). Returns the
 * text length or -EBADMSG. Each pointer must point strictly before the
 * lowest offset read so far for this name, so the walk always moves
 * backwards and ends; the jump count is a second, cheap bound. */
static int read_name(const dec *d, size_t *off, char *text) {
  size_t pos = *off, low = *off, end = 0;
  int jumped = 0, jumps = 0;
  size_t wire = 0, tn = 0;
  for (;;) {
    if (pos >= d->len)
      return -EBADMSG;
    uint8_t c = d->msg[pos];
    if ((c & 0xc0) == 0xc0) {
      if (pos + 1 >= d->len)
        return -EBADMSG;
      size_t target = ((size_t)(c & 0x3f) << 8) | d->msg[pos + 1];
      if (target >= low || ++jumps > CORO__DNS_MAX_JUMPS)
        return -EBADMSG;
      if (!jumped)
        end = pos + 2;
      jumped = 1;
      low = pos = target;
      continue;
    }
    if (c & 0xc0)
      return -EBADMSG; /* 0x40, 0x80: extended/reserved label types */
    wire += (size_t)c + 1;
    if (wire > CORO__DNS_NAME_WIRE_MAX)
      return -EBADMSG;
    if (c == 0) {
      if (!jumped)
        end = pos + 1;
      break;
    }
    if (pos + 1 + c > d->len)
      return -EBADMSG;
    if (tn > 0)
      text[tn++] = '.';
    for (size_t i = 0; i < c; i++) {
      unsigned char b = d->msg[pos + 1 + i];
      if (b == '.' || b == '\\') {
        text[tn++] = '\\';
        text[tn++] = (char)b;
      } else if (b > 0x20 && b < 0x7f) {
        text[tn++] = (char)b;
      } else {
        text[tn++] = '\\';
        text[tn++] = (char)('0' + b / 100);
        text[tn++] = (char)('0' + b / 10 % 10);
        text[tn++] = (char)('0' + b % 10);
      }
    }
    pos += (size_t)c + 1;
  }
  if (tn == 0)
    text[tn++] = '.';
  text[tn] = '\0';
  *off = end;
  return (int)tn;
}

/* Read a name at *off and store its text in the arena. */
static int take_name(dec *d, size_t *off, const char **out) {
  char text[CORO__DNS_NAME_BUF];
  int n = read_name(d, off, text);
  if (n < 0)
    return n;
  char *s = arena_alloc(d, (size_t)n + 1, 1);
  if (s == NULL)
    return -EMSGSIZE;
  memcpy(s, text, (size_t)n + 1);
  *out = s;
  return 0;
}

static int take_bytes(dec *d, size_t off, size_t n, const uint8_t **out) {
  uint8_t *p = arena_alloc(d, n ? n : 1, 1);
  if (p == NULL)
    return -EMSGSIZE;
  if (n)
    memcpy(p, d->msg + off, n);
  *out = p;
  return 0;
}

/* Decode the rdata of rr at msg[off..off+rr->rdlen) by type. */
static int read_rdata(dec *d, coro__dns_rr *rr, size_t off) {
  size_t end = off + rr->rdlen;
  size_t p = off;
  int rc = 0;
  switch (rr->type) {
  case CORO__DNS_T_A:
    if (rr->rdlen != 4)
      return -EBADMSG;
    memcpy(rr->u.a, d->msg + off, 4);
    return 0;
  case CORO__DNS_T_AAAA:
    if (rr->rdlen != 16)
      return -EBADMSG;
    memcpy(rr->u.aaaa, d->msg + off, 16);
    return 0;
  case CORO__DNS_T_CNAME:
  case CORO__DNS_T_NS:
  case CORO__DNS_T_PTR:
    rc = take_name(d, &p, &rr->u.target);
    break;
  case CORO__DNS_T_MX:
    if (rr->rdlen < 3)
      return -EBADMSG;
    rr->u.mx.pref = get16(d->msg + off);
    p += 2;
    rc = take_name(d, &p, &rr->u.mx.host);
    break;
  case CORO__DNS_T_SOA:
    rc = take_name(d, &p, &rr->u.soa.mname);
    if (rc == 0 && p < end)
      rc = take_name(d, &p, &rr->u.soa.rname);
    if (rc < 0)
      return rc;
    if (p > end || end - p != 20)
      return -EBADMSG;
    rr->u.soa.serial = get32(d->msg + p);
    rr->u.soa.refresh = get32(d->msg + p + 4);
    rr->u.soa.retry = get32(d->msg + p + 8);
    rr->u.soa.expire = get32(d->msg + p + 12);
    rr->u.soa.minimum = get32(d->msg + p + 16);
    return 0;
  case CORO__DNS_T_TXT:
    /* Check that the strings tile the rdata, then keep them as is. */
    while (p < end)
      p += (size_t)d->msg[p] + 1;
    if (p != end)
      return -EBADMSG;
    rr->u.txt.len = rr->rdlen;
    return take_bytes(d, off, rr->rdlen, &rr->u.txt.data);
  default:
    rr->u.raw.len = rr->rdlen;
    return take_bytes(d, off, rr->rdlen, &rr->u.raw.data);
  }
  if (rc < 0)
    return rc;
  /* A name running past rdlength, or rdata left over, is malformed. */
  return p == end ? 0 : -EBADMSG;
}

int coro__dns_decode(const uint8_t *msg, size_t len, coro__dns_msg *m,
                     void *arena, size_t arena_len) {
  memset(m, 0, sizeof *m);
  if ((uintptr_t)arena % alignof(coro__dns_rr) != 0)
    return -EINVAL;
  if (len < CORO__DNS_HDR_LEN)
    return -EBADMSG;
  dec d = {msg, len, arena, arena_len, 0};
  m->id = get16(msg);
  m->flags = get16(msg + 2);
  m->opcode = (uint8_t)((m->flags >> 11) & 0xf);
  m->rcode = m->flags & 0xf;
  m->qdcount = get16(msg + 4);
  m->ancount = get16(msg + 6);
  m->nscount = get16(msg + 8);
  m->arcount = get16(msg + 10);
  /* A question takes at least 5 bytes, a record 11: reject counts that
   * cannot fit before touching the arena (a 12-byte message can claim
   * 196,605 records). */
  size_t body = len - CORO__DNS_HDR_LEN;
  size_t nrr = (size_t)m->ancount + m->nscount + m->arcount;
  if ((size_t)m->qdcount * 5 + nrr * 11 > body)
    return -EBADMSG;
  if (nrr > 0) {
    m->rr = arena_alloc(&d, nrr * sizeof *m->rr, alignof(coro__dns_rr));
    if (m->rr == NULL)
      return -EMSGSIZE;
  }
  size_t off = CORO__DNS_HDR_LEN;
  for (unsigned i = 0; i < m->qdcount; i++) {
    const char *qn = NULL;
    int rc;
    /* Only the first question is kept; the others are read past. */
    if (i == 0) {
      rc = take_name(&d, &off, &qn);
    } else {
      char skip[CORO__DNS_NAME_BUF];
      rc = read_name(&d, &off, skip);
    }
    if (rc < 0)
      return rc;
    if (len - off < 4)
      return -EBADMSG;
    if (i == 0) {
      m->qname = qn;
      m->qtype = get16(msg + off);
      m->qclass = get16(msg + off + 2);
    }
    off += 4;
  }
  for (size_t i = 0; i < nrr; i++) {
    coro__dns_rr *rr = &m->rr[i];
    memset(rr, 0, sizeof *rr);
    rr->section = i < m->ancount                 ? CORO__DNS_S_ANSWER
                  : i < (size_t)m->ancount + m->nscount ? CORO__DNS_S_AUTHORITY
                                                 : CORO__DNS_S_ADDITIONAL;
    int rc = take_name(&d, &off, &rr->name);
    if (rc < 0)
      return rc;
    if (len - off < 10)
      return -EBADMSG;
    rr->type = get16(msg + off);
    rr->rclass = get16(msg + off + 2);
    rr->ttl = get32(msg + off + 4);
    rr->rdlen = get16(msg + off + 8);
    off += 10;
    if (len - off < rr->rdlen)
      return -EBADMSG;
    rc = read_rdata(&d, rr, off);
    if (rc < 0)
      return rc;
    off += rr->rdlen;
    if (rr->type == CORO__DNS_T_OPT) {
      if (rr->section != CORO__DNS_S_ADDITIONAL || m->has_opt ||
          strcmp(rr->name, ".") != 0)
        return -EBADMSG;
      m->has_opt = 1;
      m->edns_udp = rr->rclass;
      m->rcode = (uint16_t)(m->rcode | ((rr->ttl >> 24) << 4));
      m->edns_version = (uint8_t)(rr->ttl >> 16);
      m->edns_flags = (uint16_t)rr->ttl;
    }
  }
  m->nrr = nrr;
  return (int)d.used;
}

/* ---- using a decoded answer ------------------------------------------- */

static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* The length of a text name without its trailing dot: one not escaped
 * (preceded by an even number of backslashes), and not the root's. */
static size_t name_len(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || s[n - 1] != '.')
    return n;
  size_t bs = 0;
  while (bs < n - 1 && s[n - 2 - bs] == '\\')
    bs++;
  return bs % 2 == 0 ? n - 1 : n;
}

int coro__dns_name_eq(const char *a, const char *b) {
  size_t an = name_len(a), bn = name_len(b);
  if (an != bn)
    return 0;
  for (size_t i = 0; i < an; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
      return 0;
  return 1;
}

int coro__dns_is_answer_to(const coro__dns_msg *m, uint16_t id,
                           const char *qname, uint16_t qtype) {
  return (m->flags & CORO__DNS_F_QR) && m->id == id && m->opcode == 0 &&
         m->qdcount == 1 && m->qname != NULL && m->qtype == qtype &&
         m->qclass == CORO__DNS_C_IN && coro__dns_name_eq(m->qname, qname);
}

static uint32_t min32(uint32_t a, uint32_t b) {
  return a < b ? a : b;
}

int coro__dns_answer_addrs(const coro__dns_msg *m, const char *qname,
                           uint16_t qtype, coro__dns_addr *out, size_t cap,
                           const char **final, uint32_t *ttl) {
  const char *name = qname;
  uint32_t t = UINT32_MAX;
  /* Follow the chain: each round finds the CNAME owned by name, if any.
   * Servers send the chain in order, but nothing requires it, so each
   * link is searched in the whole answer section. */
  for (int links = 0;; links++) {
    const coro__dns_rr *cn = NULL;
    for (size_t i = 0; i < m->nrr; i++) {
      const coro__dns_rr *rr = &m->rr[i];
      if (rr->section == CORO__DNS_S_ANSWER && rr->type == CORO__DNS_T_CNAME &&
          rr->rclass == CORO__DNS_C_IN && coro__dns_name_eq(rr->name, name)) {
        cn = rr;
        break;
      }
    }
    if (cn == NULL)
      break;
    if (links == CORO__DNS_MAX_CNAMES)
      return -ELOOP;
    t = min32(t, cn->ttl);
    name = cn->u.target;
  }
  size_t n = 0;
  for (size_t i = 0; i < m->nrr; i++) {
    const coro__dns_rr *rr = &m->rr[i];
    if (rr->section != CORO__DNS_S_ANSWER || rr->rclass != CORO__DNS_C_IN ||
        (rr->type != CORO__DNS_T_A && rr->type != CORO__DNS_T_AAAA) ||
        (qtype != 0 && rr->type != qtype) || !coro__dns_name_eq(rr->name, name))
      continue;
    if (n == cap)
      return -EMSGSIZE;
    memset(&out[n], 0, sizeof out[n]);
    if (rr->type == CORO__DNS_T_A) {
      out[n].family = AF_INET;
      memcpy(out[n].addr, rr->u.a, 4);
    } else {
      out[n].family = AF_INET6;
      memcpy(out[n].addr, rr->u.aaaa, 16);
    }
    t = min32(t, rr->ttl);
    n++;
  }
  if (final != NULL)
    *final = name;
  if (ttl != NULL)
    *ttl = n > 0 || name != qname ? t : 0;
  return (int)n;
}

int coro__dns_negative_ttl(const coro__dns_msg *m, uint32_t *ttl) {
  for (size_t i = 0; i < m->nrr; i++) {
    const coro__dns_rr *rr = &m->rr[i];
    if (rr->section == CORO__DNS_S_AUTHORITY && rr->type == CORO__DNS_T_SOA) {
      *ttl = min32(rr->ttl, rr->u.soa.minimum);
      return 0;
    }
  }
  return -ENOENT;
}

int coro__dns_reverse_name(const coro__dns_addr *a, char *out, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  char buf[80]; /* 32 nibbles "x." + "ip6.arpa" */
  size_t n = 0;
  if (a->family == AF_INET) {
    n = (size_t)snprintf(buf, sizeof buf, "%u.%u.%u.%u.in-addr.arpa",
                         a->addr[3], a->addr[2], a->addr[1], a->addr[0]);
  } else if (a->family == AF_INET6) {
    for (int i = 15; i >= 0; i--) {
      buf[n++] = hex[a->addr[i] & 0xf];
      buf[n++] = '.';
      buf[n++] = hex[a->addr[i] >> 4];
      buf[n++] = '.';
    }
    memcpy(buf + n, "ip6.arpa", sizeof "ip6.arpa");
    n += sizeof "ip6.arpa" - 1;
  } else {
    return -EAFNOSUPPORT;
  }
  if (cap < n + 1)
    return -EMSGSIZE;
  memcpy(out, buf, n + 1);
  return (int)n;
}
