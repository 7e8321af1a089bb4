/* dns_msg_fuzz.c - a libFuzzer harness for the resolver's parsers: the DNS
 * message decoder (csrc/dns_msg.c) and the resolv.conf and hosts parsers
 * (csrc/dns_conf.c). Built by `make fuzz-dns`, replayed over
 * fuzz/corpus/dns_msg by `make test-fuzz-corpus`.
 *
 * The first byte picks the parser (its value mod 4; 0 and 1 are both the
 * decoder, which matters most), the rest is its input:
 *   decoder      the result is a size within the arena, -EBADMSG or
 *                -EMSGSIZE; an accepted message decodes again into an
 *                arena of exactly the size reported, to the same records,
 *                and not into one byte less; every string it produced is
 *                a NUL-terminated name inside the arena, at most
 *                CORO__DNS_NAME_BUF long; the helpers (question match,
 *                CNAME chain, negative TTL) keep their contracts; a
 *                question name the encoder accepts survives a round trip
 *                through coro__dns_encode_query.
 *   resolv.conf  every field within its documented range, every search
 *                suffix a valid name, every candidate name valid.
 *   hosts        the table sorted, each name found again by lookup with
 *                its address among the results.
 * Inputs are heap copies of exactly their length, so AddressSanitizer
 * reports a read one byte past the end.
 */
#include "../csrc/dns_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include <sys/socket.h>

#define ARENA 65536

static int in_arena(const void *p, size_t n, const uint8_t *arena, size_t cap) {
  const uint8_t *b = p;
  return b >= arena && n <= cap && (size_t)(b - arena) <= cap - n;
}

/* A decoded name: inside the arena, terminated there, of a sane length. */
static void check_name(const char *s, const uint8_t *arena, size_t used) {
  FUZZ_CHECK(s != NULL && in_arena(s, 1, arena, used));
  size_t room = used - (size_t)((const uint8_t *)s - arena);
  const char *nul = memchr(s, '\0', room);
  FUZZ_CHECK(nul != NULL);
  size_t n = (size_t)(nul - s);
  FUZZ_CHECK(n >= 1 && n < CORO__DNS_NAME_BUF);
  FUZZ_CHECK(n == 1 || s[n - 1] != '.' || s[n - 2] == '\\');
}

static void check_rr(const coro__dns_rr *rr, const uint8_t *arena,
                     size_t used) {
  check_name(rr->name, arena, used);
  FUZZ_CHECK(rr->section <= CORO__DNS_S_ADDITIONAL);
  switch (rr->type) {
  case CORO__DNS_T_A:
    FUZZ_CHECK(rr->rdlen == 4);
    break;
  case CORO__DNS_T_AAAA:
    FUZZ_CHECK(rr->rdlen == 16);
    break;
  case CORO__DNS_T_CNAME:
  case CORO__DNS_T_NS:
  case CORO__DNS_T_PTR:
    check_name(rr->u.target, arena, used);
    break;
  case CORO__DNS_T_MX:
    check_name(rr->u.mx.host, arena, used);
    break;
  case CORO__DNS_T_SOA:
    check_name(rr->u.soa.mname, arena, used);
    check_name(rr->u.soa.rname, arena, used);
    break;
  case CORO__DNS_T_TXT: {
    FUZZ_CHECK(rr->u.txt.len == rr->rdlen);
    FUZZ_CHECK(in_arena(rr->u.txt.data, rr->u.txt.len, arena, used));
    size_t p = 0;
    while (p < rr->u.txt.len)
      p += (size_t)rr->u.txt.data[p] + 1;
    FUZZ_CHECK(p == rr->u.txt.len);
    break;
  }
  default:
    FUZZ_CHECK(rr->u.raw.len == rr->rdlen);
    FUZZ_CHECK(in_arena(rr->u.raw.data, rr->u.raw.len, arena, used));
  }
}

static void same_name(const char *a, const char *b) {
  FUZZ_CHECK((a == NULL) == (b == NULL));
  FUZZ_CHECK(a == NULL || strcmp(a, b) == 0);
}

static void fuzz_decode(const uint8_t *data, size_t size) {
  uint8_t *arena = malloc(ARENA);
  FUZZ_CHECK(arena != NULL);
  coro__dns_msg m;
  int rc = coro__dns_decode(data, size, &m, arena, ARENA);
  FUZZ_CHECK(rc == -EBADMSG || rc == -EMSGSIZE || (rc > 0 && rc <= ARENA) ||
             (rc == 0 && size >= CORO__DNS_HDR_LEN));
  if (rc < 0) {
    free(arena);
    return;
  }
  size_t used = (size_t)rc;
  FUZZ_CHECK(m.nrr == (size_t)m.ancount + m.nscount + m.arcount);
  FUZZ_CHECK(m.rcode <= 0xfff);
  FUZZ_CHECK(m.qdcount == 0 || m.qname != NULL);
  if (m.qname != NULL)
    check_name(m.qname, arena, used);
  for (size_t i = 0; i < m.nrr; i++) {
    FUZZ_CHECK(in_arena(&m.rr[i], sizeof m.rr[i], arena, used));
    check_rr(&m.rr[i], arena, used);
  }

  /* The reported size is exact: enough, and one byte less is not. */
  uint8_t *exact = malloc(used ? used : 1);
  FUZZ_CHECK(exact != NULL);
  coro__dns_msg m2;
  FUZZ_CHECK(coro__dns_decode(data, size, &m2, exact, used) == rc);
  FUZZ_CHECK(m2.nrr == m.nrr && m2.rcode == m.rcode && m2.id == m.id);
  same_name(m.qname, m2.qname);
  for (size_t i = 0; i < m.nrr; i++) {
    same_name(m.rr[i].name, m2.rr[i].name);
    FUZZ_CHECK(m.rr[i].type == m2.rr[i].type && m.rr[i].ttl == m2.rr[i].ttl);
  }
  if (used > 0)
    FUZZ_CHECK(coro__dns_decode(data, size, &m2, exact, used - 1) == -EMSGSIZE);
  free(exact);

  /* The helpers on whatever was decoded. */
  if (m.qname != NULL) {
    FUZZ_CHECK(coro__dns_is_answer_to(&m, m.id, m.qname, m.qtype) ==
               ((m.flags & CORO__DNS_F_QR) && m.opcode == 0 &&
                m.qdcount == 1 && m.qclass == CORO__DNS_C_IN));
    coro__dns_addr out[16];
    const char *fin = NULL;
    uint32_t ttl = 0;
    int n = coro__dns_answer_addrs(&m, m.qname, 0, out, 16, &fin, &ttl);
    FUZZ_CHECK(n == -ELOOP || n == -EMSGSIZE || (n >= 0 && n <= 16));
    if (n >= 0) {
      FUZZ_CHECK(fin != NULL);
      for (int i = 0; i < n; i++)
        FUZZ_CHECK(out[i].family == AF_INET || out[i].family == AF_INET6);
    }
    /* A question name we would send comes back from the wire intact. */
    uint8_t q[CORO__DNS_QUERY_MAX];
    int qn = coro__dns_encode_query(q, sizeof q, m.id, m.qname, m.qtype,
                                    CORO__DNS_Q_RD | CORO__DNS_Q_EDNS);
    FUZZ_CHECK(qn < 0 || qn <= (int)sizeof q);
    if (qn > 0) {
      /* m lives in arena: keep its name before decoding over it. */
      char asked[CORO__DNS_NAME_BUF];
      memcpy(asked, m.qname, strlen(m.qname) + 1);
      FUZZ_CHECK(coro__dns_decode(q, (size_t)qn, &m2, arena, ARENA) > 0);
      FUZZ_CHECK(coro__dns_name_eq(m2.qname, asked));
      FUZZ_CHECK(m2.has_opt && m2.qtype == m.qtype && m2.nrr == 1);
    }
  }
  uint32_t nttl;
  int nr = coro__dns_negative_ttl(&m, &nttl);
  FUZZ_CHECK(nr == 0 || nr == -ENOENT);
  free(arena);
}

static void check_valid_name(const char *s) {
  uint8_t w[CORO__DNS_NAME_WIRE_MAX];
  FUZZ_CHECK(strlen(s) <= CORO__DNS_NAME_TEXT_MAX);
  FUZZ_CHECK(coro__dns_encode_name(s, w, sizeof w) > 0);
}

static void fuzz_resolv_conf(const uint8_t *data, size_t size) {
  coro__dns_conf c;
  memset(&c, 0, sizeof c);
  coro__dns_conf_parse(&c, (const char *)data, size, "host.fuzz.example");
  FUZZ_CHECK(c.nservers >= 1 && c.nservers <= CORO__DNS_MAX_SERVERS);
  for (int i = 0; i < c.nservers; i++)
    FUZZ_CHECK(c.servers[i].ss_family == AF_INET ||
               c.servers[i].ss_family == AF_INET6);
  FUZZ_CHECK(c.ndots >= 0 && c.ndots <= CORO__DNS_MAX_NDOTS);
  FUZZ_CHECK(c.timeout_s >= 1 && c.timeout_s <= CORO__DNS_MAX_TIMEOUT);
  FUZZ_CHECK(c.attempts >= 1 && c.attempts <= CORO__DNS_MAX_ATTEMPTS);
  FUZZ_CHECK(c.nsearch >= 0 && c.nsearch <= CORO__DNS_MAX_SEARCH);
  for (int i = 0; i < c.nsearch; i++)
    check_valid_name(c.search[i]);
  static const char *const names[] = {"a", "a.b", "a.b.c.d.e.f", "x.", "."};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    char out[CORO__DNS_MAX_CANDIDATES][CORO__DNS_NAME_TEXT_MAX + 1];
    int n = coro__dns_candidates(&c, names[k], out, CORO__DNS_MAX_CANDIDATES);
    FUZZ_CHECK(n >= 1 && n <= CORO__DNS_MAX_CANDIDATES);
    for (int i = 0; i < n; i++)
      check_valid_name(out[i]);
  }
}

static void fuzz_hosts(const uint8_t *data, size_t size) {
  coro__dns_hosts h;
  int rc = coro__dns_hosts_parse(&h, (const char *)data, size);
  FUZZ_CHECK(rc == 0);
  for (size_t i = 0; i < h.n; i++) {
    const coro__dns_host *e = &h.ent[i];
    size_t n = strlen(e->name);
    FUZZ_CHECK(n >= 1 && n <= CORO__DNS_NAME_TEXT_MAX);
    for (size_t j = 0; j < n; j++)
      FUZZ_CHECK(e->name[j] < 'A' || e->name[j] > 'Z');
    if (i > 0)
      FUZZ_CHECK(strcmp(h.ent[i - 1].name, e->name) <= 0);
    /* Looked up by its own name, its address is among the results. */
    coro__dns_addr out[64];
    int k = coro__dns_hosts_lookup(&h, e->name, AF_UNSPEC, out, 64);
    FUZZ_CHECK(k == -EMSGSIZE || (k >= 1 && k <= 64));
    FUZZ_CHECK(coro__dns_hosts_name(&h, &e->addr) != NULL);
    /* The Bloom filter never rules out a name of the file. */
    FUZZ_CHECK(coro__dns_hosts_maybe(&h, e->name) == 1);
  }
  coro__dns_hosts_free(&h);
}

/* The same text as a services(5) file: every entry is found again by its
 * name and protocol (the first line listing them wins), in order. */
static void fuzz_services(const uint8_t *data, size_t size) {
  coro__dns_services sv;
  int rc = coro__dns_services_parse(&sv, (const char *)data, size);
  FUZZ_CHECK(rc == 0);
  for (size_t i = 0; i < sv.n; i++) {
    const coro__dns_service *e = &sv.ent[i];
    FUZZ_CHECK(e->name[0] != '\0' && e->proto[0] != '\0');
    if (i > 0) {
      int c = strcmp(sv.ent[i - 1].name, e->name);
      FUZZ_CHECK(c < 0 || (c == 0 && strcmp(sv.ent[i - 1].proto, e->proto) <= 0));
    }
    FUZZ_CHECK(coro__dns_services_lookup(&sv, e->name, e->proto) >= 0);
  }
  coro__dns_services_free(&sv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  size_t n = size - 1;
  uint8_t *in = malloc(n ? n : 1);
  FUZZ_CHECK(in != NULL);
  if (n)
    memcpy(in, data + 1, n);
  switch (data[0] % 4) {
  case 2:
    fuzz_resolv_conf(in, n);
    break;
  case 3: /* one text, two parsers (the corpus keeps its mapping) */
    fuzz_hosts(in, n);
    fuzz_services(in, n);
    break;
  default:
    fuzz_decode(in, n);
  }
  free(in);
  return 0;
}
