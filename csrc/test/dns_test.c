/* dns_test.c - tests of the resolver's foundation below the loop: the DNS
 * message codec (dns_msg.c) and the configuration (dns_conf.c), through
 * their internal contracts in dns_internal.h.
 *
 * Responses are built byte by byte as a server would send them (names
 * compressed with pointers to the question), then decoded; every malformed
 * case the decoder must reject is built the same way. Configuration tests
 * parse tables of resolv.conf and hosts text; the reload test writes real
 * files in a temporary directory and drives the check with a fake clock.
 * Each test runs in a fork()ed child (testing.h); the last line is
 * `N passed, N failed`.
 *
 * Build: `make` (build/native/dns_test).
 */
#include "../dns_internal.h"
#include "testing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a message builder ------------------------------------------------ */

typedef struct mb {
  uint8_t b[65536];
  size_t n;
} mb;

static void u8(mb *m, unsigned v) {
  CHECK_LT(m->n, sizeof m->b);
  m->b[m->n++] = (uint8_t)v;
}
static void u16(mb *m, unsigned v) {
  u8(m, v >> 8);
  u8(m, v & 0xff);
}
static void u32(mb *m, uint32_t v) {
  u16(m, v >> 16);
  u16(m, v & 0xffff);
}
static void bytes(mb *m, const void *p, size_t n) {
  CHECK_LE(m->n + n, sizeof m->b);
  memcpy(m->b + m->n, p, n);
  m->n += n;
}
/* A name in full (wire form), at the current offset, which it returns. */
static size_t name(mb *m, const char *text) {
  size_t at = m->n;
  int n = coro__dns_encode_name(text, m->b + m->n, sizeof m->b - m->n);
  CHECK_GT(n, 0);
  m->n += (size_t)n;
  return at;
}
static void ptr(mb *m, size_t off) {
  u16(m, 0xc000 | (unsigned)off);
}
static void hdr(mb *m, uint16_t id, uint16_t flags, unsigned qd, unsigned an,
                unsigned ns, unsigned ar) {
  m->n = 0;
  u16(m, id);
  u16(m, flags);
  u16(m, qd);
  u16(m, an);
  u16(m, ns);
  u16(m, ar);
}
/* The question; returns the offset of its name, for pointers. */
static size_t question(mb *m, const char *qname, uint16_t type) {
  size_t at = name(m, qname);
  u16(m, type);
  u16(m, CORO__DNS_C_IN);
  return at;
}
/* A record's fixed part after its owner name. */
static void rrfix(mb *m, uint16_t type, uint32_t ttl, unsigned rdlen) {
  u16(m, type);
  u16(m, CORO__DNS_C_IN);
  u32(m, ttl);
  u16(m, rdlen);
}
static void rr_a(mb *m, size_t owner, uint32_t ttl, const char *ip) {
  ptr(m, owner);
  rrfix(m, CORO__DNS_T_A, ttl, 4);
  uint8_t a[4];
  CHECK_EQ(inet_pton(AF_INET, ip, a), 1);
  bytes(m, a, 4);
}
static void rr_aaaa(mb *m, size_t owner, uint32_t ttl, const char *ip) {
  ptr(m, owner);
  rrfix(m, CORO__DNS_T_AAAA, ttl, 16);
  uint8_t a[16];
  CHECK_EQ(inet_pton(AF_INET6, ip, a), 1);
  bytes(m, a, 16);
}
/* A CNAME owned by the name at owner, its target written in full; returns
 * the target's offset. */
static size_t rr_cname(mb *m, size_t owner, uint32_t ttl, const char *target) {
  ptr(m, owner);
  uint8_t w[CORO__DNS_NAME_WIRE_MAX];
  int wn = coro__dns_encode_name(target, w, sizeof w);
  CHECK_GT(wn, 0);
  rrfix(m, CORO__DNS_T_CNAME, ttl, (unsigned)wn);
  size_t at = m->n;
  bytes(m, w, (size_t)wn);
  return at;
}
/* An SOA in the authority section, mname/rname compressed against zone. */
static void rr_soa(mb *m, size_t zone, uint32_t ttl, uint32_t minimum) {
  ptr(m, zone);
  rrfix(m, CORO__DNS_T_SOA, ttl, 2 + 4 + 20);
  ptr(m, zone);                       /* mname: the zone */
  u8(m, 1), u8(m, 'h'), ptr(m, zone); /* rname: h.<zone> */
  u32(m, 2026120201);
  u32(m, 7200);
  u32(m, 900);
  u32(m, 1209600);
  u32(m, minimum);
}
static void opt(mb *m, uint16_t udp, uint8_t ext_rcode, uint16_t flags) {
  u8(m, 0);
  rrfix(m, CORO__DNS_T_OPT, 0, 0);
  /* class and TTL are OPT's own fields: rewrite them in place. */
  m->b[m->n - 8] = (uint8_t)(udp >> 8);
  m->b[m->n - 7] = (uint8_t)udp;
  m->b[m->n - 6] = ext_rcode;
  m->b[m->n - 5] = 0;
  m->b[m->n - 4] = (uint8_t)(flags >> 8);
  m->b[m->n - 3] = (uint8_t)flags;
}

#define RESP (CORO__DNS_F_QR | CORO__DNS_F_RD | CORO__DNS_F_RA)

static _Alignas(16) uint8_t arena[1 << 20];

static int decode(const mb *m, coro__dns_msg *out) {
  return coro__dns_decode(m->b, m->n, out, arena, sizeof arena);
}

static void check_ip(const coro__dns_addr *a, const char *want) {
  char buf[INET6_ADDRSTRLEN];
  CHECK_PTR_NE(inet_ntop(a->family, a->addr, buf, sizeof buf), NULL);
  CHECK_STR_EQ(buf, want);
}

/* ---- encoding --------------------------------------------------------- */

static void encode_query(int unused) {
  (void)unused;
  uint8_t q[CORO__DNS_QUERY_MAX];
  int n = coro__dns_encode_query(q, sizeof q, 0xbeef, "www.Example.com.",
                                 CORO__DNS_T_AAAA,
                                 CORO__DNS_Q_RD | CORO__DNS_Q_EDNS);
  static const uint8_t want[] = {
      0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,     /* header */
      3, 'w', 'w', 'w', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o',
      'm', 0, 0, 28, 0, 1,                                /* question */
      0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};           /* OPT 1232 */
  CHECK_EQ(n, (int)sizeof want);
  CHECK(memcmp(q, want, sizeof want) == 0);
  /* The query decodes as a message: question and OPT read back. */
  coro__dns_msg m;
  CHECK_GT(coro__dns_decode(q, (size_t)n, &m, arena, sizeof arena), 0);
  CHECK_EQ(m.id, 0xbeef);
  CHECK_EQ(m.flags, CORO__DNS_F_RD);
  CHECK_STR_EQ(m.qname, "www.Example.com");
  CHECK_EQ(m.qtype, CORO__DNS_T_AAAA);
  CHECK_EQ(m.qclass, CORO__DNS_C_IN);
  CHECK_EQ(m.has_opt, 1);
  CHECK_EQ(m.edns_udp, CORO__DNS_EDNS_PAYLOAD);
  CHECK_EQ(m.nrr, 1);
  /* Without options: no RD, no OPT. */
  n = coro__dns_encode_query(q, sizeof q, 7, "a", CORO__DNS_T_A, 0);
  CHECK_EQ(n, 12 + 3 + 4);
  CHECK_EQ(q[2] | q[3] | q[11], 0);
  /* The root, and a buffer one byte short. */
  CHECK_EQ(coro__dns_encode_query(q, sizeof q, 7, ".", CORO__DNS_T_NS, 0),
           12 + 1 + 4);
  CHECK_EQ(coro__dns_encode_query(q, 12 + 3 + 4 - 1, 7, "a", CORO__DNS_T_A, 0),
           -EMSGSIZE);
}

static void encode_name_errors(int unused) {
  (void)unused;
  char l63[64], l64[65], n253[254], n254[255], n253dot[255];
  memset(l63, 'a', 63), l63[63] = '\0';
  memset(l64, 'a', 64), l64[64] = '\0';
  /* 253 = 63 + 1 + 63 + 1 + 63 + 1 + 61 */
  memset(n253, 'b', 253), n253[253] = '\0';
  n253[63] = n253[127] = n253[191] = '.';
  memcpy(n254, n253, 253), n254[253] = 'c', n254[254] = '\0';
  memcpy(n253dot, n253, 253), n253dot[253] = '.', n253dot[254] = '\0';
  static const struct {
    const char *name;
    int rc;
  } fixed[] = {
      {"", -EINVAL},          {"..", -EINVAL},      {"a..b", -EINVAL},
      {".a", -EINVAL},        {"a.b..", -EINVAL},   {"b\xc3\xbc" "cher.de", -EINVAL},
      {"a b.com", -EINVAL},   {"a\\.b", -EINVAL},   {"a/b", -EINVAL},
      {"xn--bcher-kva.de", 18}, {"_sip._udp.x", 13}, {"a-b.c", 7},
      {"localhost", 11},      {".", 1},
  };
  uint8_t w[300];
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    memset(w, 0xee, sizeof w);
    int rc = coro__dns_encode_name(fixed[i].name, w, sizeof w);
    if (rc != fixed[i].rc)
      FAILF("%s: got %d, want %d", fixed[i].name, rc, fixed[i].rc);
    if (rc < 0)
      CHECK_EQ(w[0], 0xee); /* nothing written */
  }
  CHECK_EQ(coro__dns_encode_name(l63, w, sizeof w), 65);
  CHECK_EQ(coro__dns_encode_name(l64, w, sizeof w), -ENAMETOOLONG);
  CHECK_EQ(coro__dns_encode_name(n253, w, sizeof w), 255);
  CHECK_EQ(coro__dns_encode_name(n253dot, w, sizeof w), 255);
  CHECK_EQ(coro__dns_encode_name(n254, w, sizeof w), -ENAMETOOLONG);
  CHECK_EQ(coro__dns_encode_name(n253, w, 254), -EMSGSIZE);
  /* A query with a bad name is not written at all. */
  uint8_t q[CORO__DNS_QUERY_MAX];
  memset(q, 0xee, sizeof q);
  CHECK_EQ(coro__dns_encode_query(q, sizeof q, 1, "a..b", CORO__DNS_T_A,
                                  CORO__DNS_Q_RD),
           -EINVAL);
  CHECK_EQ(coro__dns_encode_query(q, sizeof q, 1, n254, CORO__DNS_T_A, 0),
           -ENAMETOOLONG);
  for (size_t i = 0; i < sizeof q; i++)
    CHECK_EQ(q[i], 0xee);
  /* The longest name fits CORO__DNS_QUERY_MAX with EDNS. */
  CHECK_EQ(coro__dns_encode_query(q, sizeof q, 1, n253, CORO__DNS_T_A,
                                  CORO__DNS_Q_EDNS),
           (int)sizeof q);
}

/* ---- decoding answers ------------------------------------------------- */

static void decode_a(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  hdr(m, 0x1234, RESP, 1, 1, 0, 0);
  size_t q = question(m, "EXAMPLE.com", CORO__DNS_T_A);
  rr_a(m, q, 300, "93.184.216.34");
  coro__dns_msg d;
  int used = decode(m, &d);
  CHECK_GT(used, 0);
  CHECK_EQ(d.id, 0x1234);
  CHECK(d.flags & CORO__DNS_F_QR);
  CHECK(d.flags & CORO__DNS_F_RA);
  CHECK(!(d.flags & CORO__DNS_F_TC));
  CHECK_EQ(d.rcode, CORO__DNS_R_NOERROR);
  CHECK_EQ(d.nrr, 1);
  CHECK_STR_EQ(d.rr[0].name, "EXAMPLE.com");
  CHECK_EQ(d.rr[0].section, CORO__DNS_S_ANSWER);
  CHECK_EQ(d.rr[0].ttl, 300);
  /* Matching the question: case-insensitive name, id, type. */
  CHECK_EQ(coro__dns_is_answer_to(&d, 0x1234, "example.COM", CORO__DNS_T_A), 1);
  CHECK_EQ(coro__dns_is_answer_to(&d, 0x1234, "example.com.", CORO__DNS_T_A), 1);
  CHECK_EQ(coro__dns_is_answer_to(&d, 0x1235, "example.com", CORO__DNS_T_A), 0);
  CHECK_EQ(coro__dns_is_answer_to(&d, 0x1234, "example.org", CORO__DNS_T_A), 0);
  CHECK_EQ(coro__dns_is_answer_to(&d, 0x1234, "example.com", CORO__DNS_T_AAAA), 0);
  coro__dns_addr a[4];
  const char *fin = NULL;
  uint32_t ttl = 0;
  CHECK_EQ(coro__dns_answer_addrs(&d, "example.com", CORO__DNS_T_A, a, 4, &fin,
                                  &ttl),
           1);
  check_ip(&a[0], "93.184.216.34");
  CHECK_EQ(ttl, 300);
  CHECK_STR_EQ(fin, "example.com");
  CHECK_EQ(coro__dns_answer_addrs(&d, "example.com", CORO__DNS_T_AAAA, a, 4,
                                  NULL, NULL),
           0);
  /* A query (QR clear) is never an answer. */
  m->b[2] &= 0x7f;
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(coro__dns_is_answer_to(&d, 0x1234, "example.com", CORO__DNS_T_A), 0);
  /* The arena: the size returned suffices exactly, one byte less not. */
  m->b[2] |= 0x80;
  static _Alignas(16) uint8_t exact[4096];
  CHECK_LE((size_t)used, sizeof exact);
  CHECK_EQ(coro__dns_decode(m->b, m->n, &d, exact, (size_t)used), used);
  CHECK_STR_EQ(d.rr[0].name, "EXAMPLE.com");
  for (int k = 0; k < used; k++)
    CHECK_EQ(coro__dns_decode(m->b, m->n, &d, exact, (size_t)k), -EMSGSIZE);
  free(m);
}

static void decode_aaaa(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  hdr(m, 1, RESP | CORO__DNS_F_AA, 1, 2, 0, 1);
  size_t q = question(m, "v6.test", CORO__DNS_T_AAAA);
  rr_aaaa(m, q, 60, "2001:db8::1");
  rr_aaaa(m, q, 30, "2001:db8::2");
  opt(m, 1232, 0, 0);
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  CHECK(d.flags & CORO__DNS_F_AA);
  CHECK_EQ(d.has_opt, 1);
  CHECK_EQ(d.edns_udp, 1232);
  coro__dns_addr a[2];
  uint32_t ttl;
  CHECK_EQ(coro__dns_answer_addrs(&d, "v6.test", 0, a, 2, NULL, &ttl), 2);
  CHECK_EQ(a[0].family, AF_INET6);
  check_ip(&a[0], "2001:db8::1");
  check_ip(&a[1], "2001:db8::2");
  CHECK_EQ(ttl, 30);
  CHECK_EQ(coro__dns_answer_addrs(&d, "v6.test", 0, a, 1, NULL, &ttl),
           -EMSGSIZE);
  free(m);
}

static void cname_chain(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  /* www.example.com -> a.example.net -> b.example.org (A x2), the links
   * out of order, and an A of an unrelated name in between. */
  hdr(m, 9, RESP, 1, 5, 0, 0);
  size_t q = question(m, "www.example.com", CORO__DNS_T_A);
  size_t a = rr_cname(m, q, 600, "a.example.net");
  size_t other = m->n;
  name(m, "other.test");
  rrfix(m, CORO__DNS_T_A, 5, 4);
  u32(m, 0x0a000001);
  size_t b_at = m->n;
  name(m, "B.example.org");
  rrfix(m, CORO__DNS_T_A, 120, 4);
  u32(m, 0x0a000002);
  ptr(m, a);
  rrfix(m, CORO__DNS_T_CNAME, 240, 2);
  ptr(m, b_at);
  rr_a(m, b_at, 90, "10.0.0.3");
  (void)other;
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  CHECK_STR_EQ(d.rr[0].u.target, "a.example.net");
  CHECK_STR_EQ(d.rr[3].u.target, "B.example.org");
  coro__dns_addr out[4];
  const char *fin;
  uint32_t ttl;
  CHECK_EQ(coro__dns_answer_addrs(&d, "WWW.example.com", CORO__DNS_T_A, out, 4,
                                  &fin, &ttl),
           2);
  CHECK_STR_EQ(fin, "B.example.org");
  check_ip(&out[0], "10.0.0.2");
  check_ip(&out[1], "10.0.0.3");
  CHECK_EQ(ttl, 90);
  /* Asking from the middle of the chain. */
  CHECK_EQ(coro__dns_answer_addrs(&d, "a.example.net", CORO__DNS_T_A, out, 4,
                                  &fin, &ttl),
           2);

  /* A chain whose end the server left out: 0 addresses, the end named. */
  hdr(m, 9, RESP, 1, 1, 0, 0);
  q = question(m, "www.example.com", CORO__DNS_T_A);
  rr_cname(m, q, 50, "elsewhere.test");
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(coro__dns_answer_addrs(&d, "www.example.com", CORO__DNS_T_A, out, 4,
                                  &fin, &ttl),
           0);
  CHECK_STR_EQ(fin, "elsewhere.test");
  CHECK_EQ(ttl, 50);

  /* A loop: x -> y -> x. */
  hdr(m, 9, RESP, 1, 2, 0, 0);
  q = question(m, "x.test", CORO__DNS_T_A);
  size_t y = rr_cname(m, q, 50, "y.test");
  ptr(m, y);
  rrfix(m, CORO__DNS_T_CNAME, 50, 2);
  ptr(m, q);
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(coro__dns_answer_addrs(&d, "x.test", CORO__DNS_T_A, out, 4, &fin,
                                  &ttl),
           -ELOOP);

  /* A chain of exactly CORO__DNS_MAX_CNAMES links is followed; one more
   * is refused. */
  for (int links = CORO__DNS_MAX_CNAMES; links <= CORO__DNS_MAX_CNAMES + 1;
       links++) {
    hdr(m, 9, RESP, 1, (unsigned)links + 1, 0, 0);
    size_t at = question(m, "c0.test", CORO__DNS_T_A);
    for (int i = 1; i <= links; i++) {
      char t[32];
      snprintf(t, sizeof t, "c%d.test", i);
      at = rr_cname(m, at, 100, t);
    }
    rr_a(m, at, 100, "192.0.2.1");
    CHECK_GT(decode(m, &d), 0);
    int rc = coro__dns_answer_addrs(&d, "c0.test", CORO__DNS_T_A, out, 4,
                                    &fin, &ttl);
    CHECK_EQ(rc, links == CORO__DNS_MAX_CNAMES ? 1 : -ELOOP);
  }
  free(m);
}

static void nxdomain_soa(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  static const struct {
    uint32_t ttl, minimum, want;
  } cases[] = {{3600, 300, 300}, {60, 300, 60}, {0, 0, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hdr(m, 5, RESP | CORO__DNS_R_NXDOMAIN, 1, 0, 1, 0);
    size_t q = question(m, "nope.example.com", CORO__DNS_T_A);
    rr_soa(m, q + 5, cases[i].ttl, cases[i].minimum); /* zone example.com */
    coro__dns_msg d;
    CHECK_GT(decode(m, &d), 0);
    CHECK_EQ(d.rcode, CORO__DNS_R_NXDOMAIN);
    CHECK_EQ(d.nrr, 1);
    const coro__dns_rr *soa = &d.rr[0];
    CHECK_EQ(soa->section, CORO__DNS_S_AUTHORITY);
    CHECK_STR_EQ(soa->name, "example.com");
    CHECK_STR_EQ(soa->u.soa.mname, "example.com");
    CHECK_STR_EQ(soa->u.soa.rname, "h.example.com");
    CHECK_EQ(soa->u.soa.serial, 2026120201u);
    CHECK_EQ(soa->u.soa.refresh, 7200);
    CHECK_EQ(soa->u.soa.retry, 900);
    CHECK_EQ(soa->u.soa.expire, 1209600);
    CHECK_EQ(soa->u.soa.minimum, cases[i].minimum);
    uint32_t ttl = 12345;
    CHECK_EQ(coro__dns_negative_ttl(&d, &ttl), 0);
    CHECK_EQ(ttl, cases[i].want);
  }
  /* NXDOMAIN without SOA: not cacheable. */
  hdr(m, 5, RESP | CORO__DNS_R_NXDOMAIN, 1, 0, 0, 0);
  question(m, "nope.example.com", CORO__DNS_T_A);
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  uint32_t ttl;
  CHECK_EQ(coro__dns_negative_ttl(&d, &ttl), -ENOENT);
  free(m);
}

static void truncated_tc(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  hdr(m, 77, RESP | CORO__DNS_F_TC, 1, 0, 0, 1);
  question(m, "many.test", CORO__DNS_T_A);
  opt(m, 1232, 0, 0);
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  CHECK(d.flags & CORO__DNS_F_TC);
  CHECK_EQ(coro__dns_is_answer_to(&d, 77, "many.test", CORO__DNS_T_A), 1);
  free(m);
}

static void edns_extended_rcode(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  /* BADVERS (16): header rcode 0, extended rcode 1; DO set; 4096 bytes. */
  hdr(m, 3, RESP, 1, 0, 0, 1);
  question(m, "e.test", CORO__DNS_T_A);
  opt(m, 4096, 1, 0x8000);
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(d.rcode, CORO__DNS_R_BADVERS);
  CHECK_EQ(d.has_opt, 1);
  CHECK_EQ(d.edns_udp, 4096);
  CHECK_EQ(d.edns_flags, 0x8000);
  CHECK_EQ(d.edns_version, 0);
  /* The upper bits combine with the header's: 0xff0 | 5. */
  hdr(m, 3, RESP | CORO__DNS_R_REFUSED, 1, 0, 0, 1);
  question(m, "e.test", CORO__DNS_T_A);
  opt(m, 512, 0xff, 0);
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(d.rcode, 0xff5);
  free(m);
}

static void hundred_a(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  hdr(m, 100, RESP, 1, 100, 0, 0);
  size_t q = question(m, "big.test", CORO__DNS_T_A);
  for (int i = 0; i < 100; i++) {
    char ip[32];
    snprintf(ip, sizeof ip, "10.1.%d.%d", i / 10, i);
    rr_a(m, q, 1000 - (uint32_t)i, ip);
  }
  CHECK_GT(m->n, CORO__DNS_EDNS_PAYLOAD); /* only TCP carries it */
  coro__dns_msg d;
  int used = decode(m, &d);
  CHECK_GT(used, 0);
  CHECK_EQ(d.nrr, 100);
  coro__dns_addr a[128];
  uint32_t ttl;
  CHECK_EQ(coro__dns_answer_addrs(&d, "big.test", CORO__DNS_T_A, a, 128, NULL,
                                  &ttl),
           100);
  check_ip(&a[0], "10.1.0.0");
  check_ip(&a[99], "10.1.9.99");
  CHECK_EQ(ttl, 901);
  CHECK_EQ(coro__dns_answer_addrs(&d, "big.test", CORO__DNS_T_A, a, 50, NULL,
                                  &ttl),
           -EMSGSIZE);
  free(m);
}

static void typed_rdata(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  hdr(m, 4, RESP, 1, 6, 0, 0);
  size_t q = question(m, "t.test", CORO__DNS_T_ANY);
  ptr(m, q); /* MX 10 mail.t.test */
  rrfix(m, CORO__DNS_T_MX, 1, 2 + 1 + 4 + 2);
  u16(m, 10);
  u8(m, 4), bytes(m, "mail", 4), ptr(m, q);
  ptr(m, q); /* NS ns1.t.test */
  rrfix(m, CORO__DNS_T_NS, 2, 1 + 3 + 2);
  u8(m, 3), bytes(m, "ns1", 3), ptr(m, q);
  ptr(m, q); /* PTR host.test */
  rrfix(m, CORO__DNS_T_PTR, 3, 11);
  name(m, "host.test");
  ptr(m, q); /* TXT "v=spf1" "" "x" */
  rrfix(m, CORO__DNS_T_TXT, 4, 7 + 1 + 2);
  u8(m, 6), bytes(m, "v=spf1", 6), u8(m, 0), u8(m, 1), u8(m, 'x');
  ptr(m, q); /* type 99, kept raw */
  rrfix(m, 99, 5, 3);
  bytes(m, "\x01\x02\x03", 3);
  ptr(m, q); /* empty TXT: no strings at all, kept as empty */
  rrfix(m, CORO__DNS_T_TXT, 6, 0);
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(d.nrr, 6);
  CHECK_EQ(d.rr[0].u.mx.pref, 10);
  CHECK_STR_EQ(d.rr[0].u.mx.host, "mail.t.test");
  CHECK_STR_EQ(d.rr[1].u.target, "ns1.t.test");
  CHECK_STR_EQ(d.rr[2].u.target, "host.test");
  CHECK_EQ(d.rr[3].u.txt.len, 10);
  CHECK(memcmp(d.rr[3].u.txt.data, "\x06v=spf1\x00\x01x", 10) == 0);
  CHECK_EQ(d.rr[4].type, 99);
  CHECK_EQ(d.rr[4].u.raw.len, 3);
  CHECK(memcmp(d.rr[4].u.raw.data, "\x01\x02\x03", 3) == 0);
  CHECK_EQ(d.rr[5].u.txt.len, 0);
  /* The arena holds everything: wipe the message, the records stay. */
  memset(m->b, 0, m->n);
  CHECK_STR_EQ(d.rr[0].u.mx.host, "mail.t.test");
  CHECK(memcmp(d.rr[4].u.raw.data, "\x01\x02\x03", 3) == 0);
  free(m);
}

static void escaped_names(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  hdr(m, 4, RESP, 1, 0, 0, 0);
  /* Labels "a.b", "c\", "\0 x", "Z": bytes a name may hold on the wire. */
  u8(m, 3), bytes(m, "a.b", 3);
  u8(m, 2), bytes(m, "c\\", 2);
  u8(m, 3), bytes(m, "\0 x", 3);
  u8(m, 1), u8(m, 'Z'), u8(m, 0);
  u16(m, CORO__DNS_T_A), u16(m, 1);
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  CHECK_STR_EQ(d.qname, "a\\.b.c\\\\.\\000\\032x.Z");
  CHECK_EQ(coro__dns_name_eq(d.qname, "A\\.B.C\\\\.\\000\\032X.z."), 1);
  CHECK_EQ(coro__dns_name_eq(d.qname, "a.b.c\\\\.\\000\\032x.Z"), 0);
  /* The escaped dot is not a trailing dot. */
  CHECK_EQ(coro__dns_name_eq("a\\.", "a"), 0);
  CHECK_EQ(coro__dns_name_eq("a\\\\.", "a\\\\"), 1);
  CHECK_EQ(coro__dns_name_eq(".", "."), 1);
  /* The root as an owner. */
  hdr(m, 4, RESP, 1, 0, 0, 0);
  question(m, ".", CORO__DNS_T_NS);
  CHECK_GT(decode(m, &d), 0);
  CHECK_STR_EQ(d.qname, ".");
  /* The longest wire name: 255 bytes, every byte escaped. */
  hdr(m, 4, RESP, 1, 0, 0, 0);
  for (int l = 0; l < 4; l++) {
    int n = l < 3 ? 63 : 61;
    u8(m, (unsigned)n);
    for (int i = 0; i < n; i++)
      u8(m, 0xff);
  }
  u8(m, 0), u16(m, 1), u16(m, 1);
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(strlen(d.qname), 4 * 250 + 3);
  free(m);
}

static void reverse_names(int unused) {
  (void)unused;
  coro__dns_addr a = {AF_INET, 0, {127, 0, 0, 1}};
  char buf[80];
  CHECK_EQ(coro__dns_reverse_name(&a, buf, sizeof buf), 22);
  CHECK_STR_EQ(buf, "1.0.0.127.in-addr.arpa");
  CHECK_EQ(coro__dns_reverse_name(&a, buf, 22), -EMSGSIZE);
  a.family = AF_INET6;
  CHECK_EQ(inet_pton(AF_INET6, "2001:db8::abcd", a.addr), 1);
  CHECK_EQ(coro__dns_reverse_name(&a, buf, sizeof buf), 72);
  CHECK_STR_EQ(buf, "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
                    "ip6.arpa");
  uint8_t w[CORO__DNS_NAME_WIRE_MAX];
  CHECK_GT(coro__dns_encode_name(buf, w, sizeof w), 0);
  a.family = AF_UNIX;
  CHECK_EQ(coro__dns_reverse_name(&a, buf, sizeof buf), -EAFNOSUPPORT);
}

/* ---- malformed messages ----------------------------------------------- */

/* Each case is a whole message that must be refused with -EBADMSG. */
static void malformed(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  coro__dns_msg d;
  int cases = 0;
#define BAD(what)                                                            \
  do {                                                                       \
    int rc_ = decode(m, &d);                                                 \
    if (rc_ != -EBADMSG)                                                     \
      FAILF("%s: got %d, want -EBADMSG", what, rc_);                         \
    cases++;                                                                 \
  } while (0)

  m->n = 11;
  memset(m->b, 0, 11);
  BAD("short header");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  ptr(m, 12), u16(m, 1), u16(m, 1);
  BAD("pointer to itself");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  u8(m, 1), u8(m, 'a'), ptr(m, 12), u16(m, 1), u16(m, 1);
  BAD("pointer back to the start of its own name");

  /* A loop reached through a jump: the second owner points into the raw
   * rdata of the first record, "\1c" and a pointer back to that "\1c". */
  hdr(m, 1, RESP, 1, 2, 0, 0);
  size_t q = question(m, "a.test", CORO__DNS_T_A);
  ptr(m, q), rrfix(m, 99, 1, 4);
  size_t at = m->n;
  u8(m, 1), u8(m, 'c'), ptr(m, at);
  ptr(m, at), rrfix(m, CORO__DNS_T_A, 1, 4), u32(m, 1);
  BAD("loop behind a pointer");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  ptr(m, 14), u8(m, 0), u16(m, 1), u16(m, 1);
  BAD("forward pointer");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  ptr(m, 0x3fff), u16(m, 1), u16(m, 1);
  BAD("pointer past the end");

  hdr(m, 1, RESP, 1, 1, 0, 0);
  q = question(m, "a.test", CORO__DNS_T_A);
  ptr(m, q + 2); /* a suffix of the question, "test": fine */
  rrfix(m, CORO__DNS_T_A, 1, 4), u32(m, 1);
  CHECK_GT(decode(m, &d), 0);
  CHECK_STR_EQ(d.rr[0].name, "test");
  m->b[m->n - 16] = 0xc0, m->b[m->n - 15] = (uint8_t)(m->n - 16);
  BAD("pointer to its own position");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  u8(m, 64);
  for (int i = 0; i < 64; i++)
    u8(m, 'a');
  u8(m, 0), u16(m, 1), u16(m, 1);
  BAD("label of 64 (type bits 01)");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  u8(m, 0x80), u8(m, 0), u16(m, 1), u16(m, 1);
  BAD("label type 10");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  for (int l = 0; l < 5; l++) {
    u8(m, 63);
    for (int i = 0; i < 63; i++)
      u8(m, 'a');
  }
  u8(m, 0), u16(m, 1), u16(m, 1);
  BAD("name over 255 bytes");

  /* A name over 255 bytes made of pointers: each label compressed onto
   * the previous name. */
  hdr(m, 1, RESP, 1, 4, 0, 0);
  at = m->n;
  u8(m, 63);
  for (int i = 0; i < 63; i++)
    u8(m, 'a');
  u8(m, 0), u16(m, 1), u16(m, 1);
  for (int k = 0; k < 4; k++) {
    size_t here = m->n;
    u8(m, 63);
    for (int i = 0; i < 63; i++)
      u8(m, 'b');
    ptr(m, at);
    at = here;
    rrfix(m, CORO__DNS_T_A, 1, 4), u32(m, 1);
  }
  BAD("name over 255 bytes through pointers");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  u8(m, 10), bytes(m, "abc", 3);
  BAD("label past the end");

  hdr(m, 1, RESP, 1, 1, 0, 0);
  q = question(m, "a.test", CORO__DNS_T_A);
  ptr(m, q), rrfix(m, CORO__DNS_T_A, 1, 40), u32(m, 1);
  BAD("rdlength past the end");

  hdr(m, 1, RESP, 1, 1, 0, 0);
  q = question(m, "a.test", CORO__DNS_T_A);
  ptr(m, q), u16(m, 1), u16(m, 1), u16(m, 0);
  BAD("record cut in its fixed part");

  hdr(m, 1, RESP, 1, 0, 0, 0);
  name(m, "a.test"), u16(m, 1);
  BAD("question cut");

  hdr(m, 1, RESP, 0, 0xffff, 0xffff, 0xffff);
  BAD("counts of 196605 records in 12 bytes");
  hdr(m, 1, RESP, 0xffff, 0, 0, 0);
  u32(m, 0);
  BAD("65535 questions in 16 bytes");

  hdr(m, 1, RESP, 1, 2, 0, 0);
  q = question(m, "a.test", CORO__DNS_T_A);
  rr_a(m, q, 1, "1.2.3.4");
  BAD("a second answer counted but absent");

  static const struct {
    uint16_t type;
    const char *rdata;
    unsigned n;
    const char *what;
  } rd[] = {
      {CORO__DNS_T_A, "\1\2\3\4\5", 5, "A of 5 bytes"},
      {CORO__DNS_T_AAAA, "\1\2\3\4", 4, "AAAA of 4 bytes"},
      {CORO__DNS_T_CNAME, "\1a\0junk", 7, "CNAME with bytes after the name"},
      {CORO__DNS_T_CNAME, "\5abcde\0", 3, "CNAME name past rdlength"},
      {CORO__DNS_T_CNAME, "", 0, "empty CNAME"},
      {CORO__DNS_T_MX, "\0\1", 2, "MX without a name"},
      {CORO__DNS_T_SOA, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20,
       "SOA without names"},
      {CORO__DNS_T_SOA, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 21,
       "SOA one field byte short"},
      {CORO__DNS_T_SOA, "\0", 1, "SOA with one name only"},
      {CORO__DNS_T_TXT, "\5abc", 4, "TXT string past rdlength"},
  };
  for (size_t i = 0; i < sizeof rd / sizeof rd[0]; i++) {
    hdr(m, 1, RESP, 1, 1, 0, 0);
    q = question(m, "a.test", CORO__DNS_T_A);
    ptr(m, q), rrfix(m, rd[i].type, 1, rd[i].n);
    bytes(m, rd[i].rdata, rd[i].n);
    BAD(rd[i].what);
  }

  hdr(m, 1, RESP, 1, 1, 0, 0);
  question(m, "a.test", CORO__DNS_T_A);
  opt(m, 1232, 0, 0);
  BAD("OPT in the answer section");

  hdr(m, 1, RESP, 1, 0, 0, 2);
  question(m, "a.test", CORO__DNS_T_A);
  opt(m, 1232, 0, 0);
  opt(m, 1232, 0, 0);
  BAD("two OPT records");

  hdr(m, 1, RESP, 1, 0, 0, 1);
  q = question(m, "a.test", CORO__DNS_T_A);
  ptr(m, q), rrfix(m, CORO__DNS_T_OPT, 0, 0);
  BAD("OPT not owned by the root");
#undef BAD
  CHECK_EQ(cases, 31);
  free(m);
}

/* Every proper prefix of a valid answer is refused, and bytes after the
 * last record are ignored. */
static void truncations(int unused) {
  (void)unused;
  mb *m = calloc(1, sizeof *m);
  hdr(m, 2, RESP, 1, 3, 1, 1);
  size_t q = question(m, "www.example.com", CORO__DNS_T_A);
  size_t t = rr_cname(m, q, 10, "x.example.com");
  rr_a(m, t, 10, "192.0.2.7");
  rr_a(m, t, 10, "192.0.2.8");
  rr_soa(m, q + 4, 10, 10);
  opt(m, 1232, 0, 0);
  coro__dns_msg d;
  CHECK_GT(decode(m, &d), 0);
  size_t full = m->n;
  for (size_t n = 0; n < full; n++) {
    int rc = coro__dns_decode(m->b, n, &d, arena, sizeof arena);
    if (rc != -EBADMSG)
      FAILF("prefix of %zu bytes: got %d", n, rc);
  }
  u32(m, 0xdeadbeef);
  CHECK_GT(decode(m, &d), 0);
  CHECK_EQ(d.nrr, 5);
  free(m);
}

/* ---- resolv.conf ------------------------------------------------------ */

static void check_server(const coro__dns_conf *c, int i, const char *ip,
                         uint32_t scope) {
  CHECK_LT(i, c->nservers);
  const struct sockaddr_storage *ss = &c->servers[i];
  char buf[INET6_ADDRSTRLEN];
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s = (const void *)ss;
    CHECK_EQ(ntohs(s->sin_port), 53);
    CHECK_EQ(c->server_len[i], sizeof *s);
    inet_ntop(AF_INET, &s->sin_addr, buf, sizeof buf);
  } else {
    const struct sockaddr_in6 *s = (const void *)ss;
    CHECK_EQ(ss->ss_family, AF_INET6);
    CHECK_EQ(ntohs(s->sin6_port), 53);
    CHECK_EQ(c->server_len[i], sizeof *s);
    CHECK_EQ(s->sin6_scope_id, scope);
    inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof buf);
  }
  CHECK_STR_EQ(buf, ip);
}

static void parse(coro__dns_conf *c, const char *text, const char *host) {
  memset(c, 0, sizeof *c);
  coro__dns_conf_parse(c, text, strlen(text), host);
}

static void resolv_conf_parse(int unused) {
  (void)unused;
  coro__dns_conf c;
  parse(&c,
        "# generated by hand\n"
        "; another comment\n"
        "nameserver 10.0.0.1   # trailing words are ignored\n"
        "garbage line here\n"
        "nameserver\n"
        "nameserver not-an-address\n"
        "nameserver 10.0.0.256\n"
        "nameserver2 10.9.9.9\n"
        "   \t  \n"
        "\n"
        "nameserver fe80::1%2\n"
        "nameserver ::1\n"
        "nameserver 10.0.0.4\n"
        "options ndots:2 timeout:3 attempts:4 rotate edns0 bogus inet6\n"
        "options single-request use-vc\n"
        "search a.example b.example.\n"
        "sortlist 130.155.160.0/255.255.240.0\n",
        "host.ignored.example");
  CHECK_EQ(c.nservers, 3);
  CHECK_EQ(c.default_servers, 0);
  check_server(&c, 0, "10.0.0.1", 0);
  check_server(&c, 1, "fe80::1", 2);
  check_server(&c, 2, "::1", 0);
  CHECK_EQ(c.ndots, 2);
  CHECK_EQ(c.timeout_s, 3);
  CHECK_EQ(c.attempts, 4);
  CHECK_EQ(c.opts, CORO__DNS_O_ROTATE | CORO__DNS_O_EDNS0 |
                       CORO__DNS_O_SINGLE_REQUEST | CORO__DNS_O_USE_VC);
  CHECK_EQ(c.nsearch, 2);
  CHECK_STR_EQ(c.search[0], "a.example");
  CHECK_STR_EQ(c.search[1], "b.example");

  /* A link-local server named by interface: lo exists everywhere. */
  parse(&c, "nameserver fe80::53%lo\nnameserver fe80::54%nosuchif0\n", "");
  CHECK_EQ(c.nservers, 1);
  check_server(&c, 0, "fe80::53", if_nametoindex("lo"));

  /* Nothing at all: Go's defaults, glibc's numbers. */
  parse(&c, "", "");
  CHECK_EQ(c.nservers, 2);
  CHECK_EQ(c.default_servers, 1);
  check_server(&c, 0, "127.0.0.1", 0);
  check_server(&c, 1, "::1", 0);
  CHECK_EQ(c.ndots, 1);
  CHECK_EQ(c.timeout_s, 5);
  CHECK_EQ(c.attempts, 2);
  CHECK_EQ(c.opts, 0);
  CHECK_EQ(c.nsearch, 0);

  /* The search list from the host name when no line sets it. */
  parse(&c, "nameserver 1.1.1.1\n", "box.corp.example");
  CHECK_EQ(c.nsearch, 1);
  CHECK_STR_EQ(c.search[0], "corp.example");
  parse(&c, "nameserver 1.1.1.1\n", "box");
  CHECK_EQ(c.nsearch, 0);
  /* An empty search line still sets (clears) it. */
  parse(&c, "search\n", "box.corp.example");
  CHECK_EQ(c.nsearch, 0);

  /* domain and search: the last line wins, whichever it is. */
  parse(&c, "domain d.example\nsearch s1.example s2.example\n", "");
  CHECK_EQ(c.nsearch, 2);
  CHECK_STR_EQ(c.search[0], "s1.example");
  parse(&c, "search s1.example s2.example\ndomain d.example extra\n", "");
  CHECK_EQ(c.nsearch, 1);
  CHECK_STR_EQ(c.search[0], "d.example");

  /* Search entries: "." and invalid names dropped, at most 8 kept. */
  parse(&c, "search . bad..name ok.example x\xc3\xa9.example "
            "s3 s4 s5 s6 s7 s8 s9 s10\n", "");
  CHECK_EQ(c.nsearch, CORO__DNS_MAX_SEARCH);
  CHECK_STR_EQ(c.search[0], "ok.example");
  CHECK_STR_EQ(c.search[1], "s3");
  CHECK_STR_EQ(c.search[7], "s9");

  /* CRLF line ends, tabs, a NUL in the middle of a line. */
  static const char crlf[] = "nameserver\t192.0.2.1\r\nsearch x.example\r\n"
                             "nameserver 192.0.2.2\0garbage\n";
  memset(&c, 0, sizeof c);
  coro__dns_conf_parse(&c, crlf, sizeof crlf - 1, "");
  CHECK_EQ(c.nservers, 2);
  check_server(&c, 0, "192.0.2.1", 0);
  check_server(&c, 1, "192.0.2.2", 0);
  CHECK_STR_EQ(c.search[0], "x.example");
}

static void resolv_conf_caps(int unused) {
  (void)unused;
  static const struct {
    const char *opts;
    int ndots, timeout, attempts;
  } t[] = {
      {"options ndots:20 timeout:99 attempts:9", 15, 30, 5},
      {"options ndots:15 timeout:30 attempts:5", 15, 30, 5},
      {"options ndots:0 timeout:0 attempts:0", 0, 1, 1},
      {"options ndots:-3 timeout:-1 attempts:-7", 0, 1, 1},
      {"options ndots:abc timeout: attempts:x", 0, 1, 1},
      {"options ndots:5", 5, 5, 2},
      {"options ndots:3x timeout:7s", 3, 7, 2},
      {"options ndots:99999999999999999999", 15, 5, 2},
      {"options ndots:2\noptions ndots:4", 4, 5, 2},
      {"options ndots 4 timeout=3", 1, 5, 2},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    coro__dns_conf c;
    parse(&c, t[i].opts, "");
    if (c.ndots != t[i].ndots || c.timeout_s != t[i].timeout ||
        c.attempts != t[i].attempts)
      FAILF("\"%s\": ndots %d timeout %d attempts %d", t[i].opts, c.ndots,
            c.timeout_s, c.attempts);
  }
  coro__dns_conf c;
  parse(&c, "options single-request-reopen rotate:1 use-vcx", "");
  CHECK_EQ(c.opts, CORO__DNS_O_SINGLE_REQUEST_REOPEN);
}

/* ---- names to try ----------------------------------------------------- */

/* The candidates for name, joined with spaces, into buf. */
static int cands(const coro__dns_conf *c, const char *name, char *buf,
                 size_t cap) {
  char out[CORO__DNS_MAX_CANDIDATES][CORO__DNS_NAME_TEXT_MAX + 1];
  int n = coro__dns_candidates(c, name, out, CORO__DNS_MAX_CANDIDATES);
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s%s", i ? " " : "", out[i]);
  }
  return n;
}

static void candidates(int unused) {
  (void)unused;
  coro__dns_conf c;
  char got[4096];
  parse(&c, "search a.example b.example\n", "");
  static const struct {
    const char *name, *want;
  } t1[] = {
      {"www", "www.a.example www.b.example www"},
      {"www.x", "www.x www.x.a.example www.x.b.example"},
      {"www.", "www"},
      {"WWW.Y.", "WWW.Y"},
      {".", "."},
  };
  for (size_t i = 0; i < sizeof t1 / sizeof t1[0]; i++) {
    cands(&c, t1[i].name, got, sizeof got);
    CHECK_STR_EQ(got, t1[i].want);
  }
  /* Kubernetes: ndots:5 and the cluster's search list. */
  parse(&c,
        "nameserver 10.96.0.10\n"
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "options ndots:5\n",
        "");
  static const struct {
    const char *name, *want;
  } t2[] = {
      {"kubernetes.default",
       "kubernetes.default.default.svc.cluster.local "
       "kubernetes.default.svc.cluster.local "
       "kubernetes.default.cluster.local kubernetes.default"},
      {"www.google.com",
       "www.google.com.default.svc.cluster.local "
       "www.google.com.svc.cluster.local www.google.com.cluster.local "
       "www.google.com"},
      {"a.b.c.d.e.f",
       "a.b.c.d.e.f a.b.c.d.e.f.default.svc.cluster.local "
       "a.b.c.d.e.f.svc.cluster.local a.b.c.d.e.f.cluster.local"},
      {"www.google.com.", "www.google.com"},
  };
  for (size_t i = 0; i < sizeof t2 / sizeof t2[0]; i++) {
    cands(&c, t2[i].name, got, sizeof got);
    CHECK_STR_EQ(got, t2[i].want);
  }
  /* ndots:0: as is first even without a dot. */
  parse(&c, "search s.example\noptions ndots:0\n", "");
  cands(&c, "host", got, sizeof got);
  CHECK_STR_EQ(got, "host host.s.example");
  /* Localhost names are answered locally: nothing to query. */
  static const char *const local[] = {"localhost", "LocalHost.", "a.localhost",
                                      "x.y.LOCALHOST."};
  for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
    CHECK_EQ(coro__dns_is_localhost(local[i]), 1);
    CHECK_EQ(cands(&c, local[i], got, sizeof got), 0);
  }
  static const char *const notlocal[] = {"localhostx", "xlocalhost", "localhost.x",
                                         "", "."};
  for (size_t i = 0; i < sizeof notlocal / sizeof notlocal[0]; i++)
    CHECK_EQ(coro__dns_is_localhost(notlocal[i]), 0);
  /* Invalid names: the encoder's errors, nothing to query. */
  CHECK_EQ(cands(&c, "a..b", got, sizeof got), -EINVAL);
  CHECK_EQ(cands(&c, "", got, sizeof got), -EINVAL);
  CHECK_EQ(cands(&c, "b\xc3\xbc" "cher", got, sizeof got), -EINVAL);
  /* Combinations over 253 characters are skipped. */
  char longname[252];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  for (int i = 60; i < 250; i += 61)
    longname[i] = '.';
  parse(&c, "search b c.d\n", "");
  CHECK_EQ(cands(&c, longname, got, sizeof got), 2); /* itself and ".b" */
  CHECK_EQ(strlen(got), 251 + 1 + 253);
  /* Too small an output. */
  char one[1][CORO__DNS_NAME_TEXT_MAX + 1];
  CHECK_EQ(coro__dns_candidates(&c, "x", one, 1), -EMSGSIZE);
}

/* ---- hosts ------------------------------------------------------------ */

static const char hosts_text[] =
    "# /etc/hosts\n"
    "127.0.0.1\tlocalhost\n"
    "::1     localhost ip6-localhost ip6-loopback\n"
    "192.0.2.10  Web.Example.  web  www   # the web server\n"
    "192.0.2.11  db.example db\n"
    "2001:db8::10 web.example\n"
    "fe80::1%3   router.lan\n"
    "not-an-ip   bogus.example\n"
    "#192.0.2.99 commented.example\n"
    "192.0.2.12 web.example\n"
    "192.0.2.13\n"
    "   \n"
    "192.0.2.15 a.. . ok.example\n" /* only the valid one is kept */
    "192.0.2.14 last.example"; /* no newline at the end */

static void hosts_lookup(int unused) {
  (void)unused;
  coro__dns_hosts h;
  CHECK_EQ(coro__dns_hosts_parse(&h, hosts_text, sizeof hosts_text - 1), 0);
  coro__dns_addr a[8];
  CHECK_EQ(coro__dns_hosts_lookup(&h, "WEB.example", AF_UNSPEC, a, 8), 3);
  check_ip(&a[0], "192.0.2.10");
  check_ip(&a[1], "2001:db8::10");
  check_ip(&a[2], "192.0.2.12");
  CHECK_EQ(coro__dns_hosts_lookup(&h, "web.example.", AF_INET, a, 8), 2);
  check_ip(&a[1], "192.0.2.12");
  CHECK_EQ(coro__dns_hosts_lookup(&h, "web.example", AF_INET6, a, 8), 1);
  CHECK_EQ(coro__dns_hosts_lookup(&h, "web.example", AF_UNSPEC, a, 2), -EMSGSIZE);
  CHECK_EQ(coro__dns_hosts_lookup(&h, "www", AF_UNSPEC, a, 8), 1);
  check_ip(&a[0], "192.0.2.10");
  CHECK_EQ(coro__dns_hosts_lookup(&h, "localhost", AF_UNSPEC, a, 8), 2);
  check_ip(&a[0], "127.0.0.1");
  check_ip(&a[1], "::1");
  CHECK_EQ(coro__dns_hosts_lookup(&h, "router.lan", AF_INET6, a, 8), 1);
  CHECK_EQ(a[0].scope, 3);
  CHECK_EQ(coro__dns_hosts_lookup(&h, "last.example", AF_INET, a, 8), 1);
  check_ip(&a[0], "192.0.2.14");
  CHECK_EQ(coro__dns_hosts_lookup(&h, "ok.example", AF_INET, a, 8), 1);
  check_ip(&a[0], "192.0.2.15");
  static const char *const absent[] = {"bogus.example", "commented.example",
                                       "the", "web.server", "", ".", "w",
                                       "a.", "a..", "a"};
  for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
    CHECK_EQ(coro__dns_hosts_lookup(&h, absent[i], AF_UNSPEC, a, 8), 0);
  /* Reverse: the first name of the first line with the address. */
  coro__dns_addr q = {AF_INET, 0, {192, 0, 2, 10}};
  CHECK_STR_EQ(coro__dns_hosts_name(&h, &q), "web.example");
  q.addr[3] = 11;
  CHECK_STR_EQ(coro__dns_hosts_name(&h, &q), "db.example");
  q.addr[3] = 13;
  CHECK_PTR_EQ(coro__dns_hosts_name(&h, &q), NULL);
  coro__dns_hosts_free(&h);
  coro__dns_hosts_free(&h); /* freeing twice is harmless */
  CHECK_EQ(coro__dns_hosts_parse(&h, "", 0), 0);
  CHECK_EQ(coro__dns_hosts_lookup(&h, "localhost", AF_UNSPEC, a, 8), 0);
  coro__dns_hosts_free(&h);
}

/* Thousands of entries: the binary search finds each, in file order. */
static void hosts_many(int unused) {
  (void)unused;
  size_t cap = 1 << 20, n = 0;
  char *t = malloc(cap);
  CHECK_PTR_NE(t, NULL);
  for (int i = 0; i < 5000; i++)
    n += (size_t)snprintf(t + n, cap - n, "10.%d.%d.1 h%d.test H%d.alias\n",
                          i / 256, i % 256, i, i % 100);
  coro__dns_hosts h;
  CHECK_EQ(coro__dns_hosts_parse(&h, t, n), 0);
  free(t);
  CHECK_EQ(h.n, 10000);
  coro__dns_addr a[64];
  for (int i = 0; i < 5000; i += 7) {
    char name[32];
    snprintf(name, sizeof name, "H%d.TEST", i);
    CHECK_EQ(coro__dns_hosts_lookup(&h, name, AF_INET, a, 64), 1);
    CHECK_EQ(a[0].addr[1], i / 256);
    CHECK_EQ(a[0].addr[2], i % 256);
  }
  CHECK_EQ(coro__dns_hosts_lookup(&h, "h42.alias", AF_INET, a, 64), 50);
  for (int k = 0; k < 50; k++) /* file order: 42, 142, 242, ... */
    CHECK_EQ(a[k].addr[1] * 256 + a[k].addr[2], 42 + 100 * k);
  coro__dns_hosts_free(&h);
}

/* The Bloom filter of hosts names: never a false "not there" (every name
 * and alias, any case, with a trailing dot), and few false "maybe" for a
 * small file (the lookup's warm path then skips the hosts search). */
static void hosts_bloom(int unused) {
  (void)unused;
  coro__dns_hosts h;
  CHECK_EQ(coro__dns_hosts_parse(&h, hosts_text, sizeof hosts_text - 1), 0);
  for (size_t i = 0; i < h.n; i++) {
    char up[CORO__DNS_NAME_TEXT_MAX + 2];
    size_t n = strlen(h.ent[i].name);
    for (size_t k = 0; k < n; k++)
      up[k] = (char)toupper((unsigned char)h.ent[i].name[k]);
    up[n] = '.';
    up[n + 1] = '\0';
    CHECK_EQ(coro__dns_hosts_maybe(&h, h.ent[i].name), 1);
    CHECK_EQ(coro__dns_hosts_maybe(&h, up), 1);
  }
  int maybe = 0;
  for (int i = 0; i < 10000; i++) {
    char name[32];
    snprintf(name, sizeof name, "h%05d.bench.test", i);
    maybe += coro__dns_hosts_maybe(&h, name);
  }
  CHECK_LT(maybe, 100); /* ~2 bits of 4096 per name: (n/2048)^2 */
  coro__dns_hosts_free(&h);
  CHECK_EQ(coro__dns_hosts_parse(&h, "", 0), 0);
  CHECK_EQ(coro__dns_hosts_maybe(&h, "localhost"), 0);
  coro__dns_hosts_free(&h);
}

/* services(5): names and aliases per protocol, the first line wins, bad
 * lines skipped; an empty text is an empty table (it passed NULL to qsort
 * before: UBSan, found by the fuzzer). */
static void services_parse(int unused) {
  (void)unused;
  static const char text[] = "# c\nhttp 80/tcp www # web\nhttp 80/udp\n"
                             "broken 99999/tcp brk\nnoproto 12\nx 1/\n"
                             "http 8080/tcp\ndomain\t53/tcp\r\n";
  coro__dns_services sv;
  CHECK_EQ(coro__dns_services_parse(&sv, text, sizeof text - 1), 0);
  CHECK_EQ(coro__dns_services_lookup(&sv, "http", "tcp"), 80);
  CHECK_EQ(coro__dns_services_lookup(&sv, "www", "tcp"), 80);
  CHECK_EQ(coro__dns_services_lookup(&sv, "http", "udp"), 80);
  CHECK_EQ(coro__dns_services_lookup(&sv, "www", "udp"), -1);
  CHECK_EQ(coro__dns_services_lookup(&sv, "domain", "tcp"), 53);
  CHECK_EQ(coro__dns_services_lookup(&sv, "brk", "tcp"), -1);
  CHECK_EQ(coro__dns_services_lookup(&sv, "noproto", "tcp"), -1);
  CHECK_EQ(coro__dns_services_lookup(&sv, "x", ""), -1);
  coro__dns_services_free(&sv);
  CHECK_EQ(coro__dns_services_parse(&sv, "", 0), 0);
  CHECK_EQ(sv.n, 0);
  CHECK_EQ(coro__dns_services_lookup(&sv, "http", "tcp"), -1);
  coro__dns_services_free(&sv);
}

/* ---- loading and reloading -------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *name, const char *text) {
  char path[128], tmp[140];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  snprintf(tmp, sizeof tmp, "%s.new", path);
  /* Written beside and renamed, as editors and resolvconf do: a new
   * inode every time. */
  FILE *f = fopen(tmp, "w");
  CHECK_PTR_NE(f, NULL);
  CHECK_EQ(fputs(text, f) >= 0, 1);
  CHECK_EQ(fclose(f), 0);
  CHECK_EQ(rename(tmp, path), 0);
}

static void path_of(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void rm_tmpdir(void) {
  char p[128];
  path_of("resolv.conf", p, sizeof p);
  unlink(p);
  path_of("hosts", p, sizeof p);
  unlink(p);
  rmdir(tmpdir);
}

#define SEC ((int64_t)1000000000)

static void reload(int unused) {
  (void)unused;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/coro_dns_test.XXXXXX");
  CHECK_PTR_NE(mkdtemp(tmpdir), NULL);
  atexit(rm_tmpdir);
  char rp[128], hp[128];
  path_of("resolv.conf", rp, sizeof rp);
  path_of("hosts", hp, sizeof hp);
  write_file("resolv.conf", "nameserver 192.0.2.1\nsearch one.example\n");
  write_file("hosts", "192.0.2.50 box\n");

  coro__dns_conf c;
  int64_t now = 1000 * SEC; /* the fake clock */
  CHECK_EQ(coro__dns_conf_load(&c, rp, hp, now), 0);
  CHECK_EQ(c.nservers, 1);
  check_server(&c, 0, "192.0.2.1", 0);
  coro__dns_addr a[4];
  CHECK_EQ(coro__dns_hosts_lookup(&c.hosts, "box", AF_INET, a, 4), 1);

  /* Changed at once; seen only when 5 s have passed since the last look. */
  write_file("resolv.conf",
             "nameserver 192.0.2.2\nnameserver 192.0.2.3\nsearch\n");
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 1 * SEC), 0);
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 5 * SEC - 1), 0);
  check_server(&c, 0, "192.0.2.1", 0);
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 5 * SEC), 1);
  CHECK_EQ(c.nservers, 2);
  check_server(&c, 0, "192.0.2.2", 0);
  CHECK_EQ(c.nsearch, 0);
  /* Nothing changed: the next check (5 s later) reads nothing. */
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 10 * SEC), 0);

  /* Same size, same inode, new mtime: rewritten in place. */
  {
    int fd = open(rp, O_WRONLY);
    CHECK_GE(fd, 0);
    CHECK_EQ(pwrite(fd, "9", 1, 19), 1); /* 192.0.2.2 -> 192.0.2.9 */
    struct timespec ts[2] = {{0, UTIME_OMIT}, {12345, 678}};
    CHECK_EQ(futimens(fd, ts), 0);
    CHECK_EQ(close(fd), 0);
  }
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 15 * SEC), 1);
  check_server(&c, 0, "192.0.2.9", 0);

  /* hosts replaced (a new inode); resolv.conf untouched. */
  write_file("hosts", "192.0.2.51 box\n192.0.2.52 other\n");
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 20 * SEC), 1);
  CHECK_EQ(coro__dns_hosts_lookup(&c.hosts, "box", AF_INET, a, 4), 1);
  CHECK_EQ(a[0].addr[3], 51);
  CHECK_EQ(coro__dns_hosts_lookup(&c.hosts, "other", AF_INET, a, 4), 1);
  check_server(&c, 0, "192.0.2.9", 0);

  /* resolv.conf removed: the defaults; put back: read again. */
  CHECK_EQ(unlink(rp), 0);
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 25 * SEC), 1);
  CHECK_EQ(c.default_servers, 1);
  check_server(&c, 0, "127.0.0.1", 0);
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 30 * SEC), 0);
  write_file("resolv.conf", "nameserver 192.0.2.4\n");
  CHECK_EQ(coro__dns_conf_refresh(&c, now + 35 * SEC), 1);
  check_server(&c, 0, "192.0.2.4", 0);
  coro__dns_conf_free(&c);

  /* The environment names the files when the caller does not. */
  CHECK_EQ(setenv("CORO_RESOLV_CONF", rp, 1), 0);
  CHECK_EQ(setenv("CORO_HOSTS", hp, 1), 0);
  CHECK_EQ(coro__dns_conf_load(&c, NULL, NULL, 0), 0);
  check_server(&c, 0, "192.0.2.4", 0);
  CHECK_STR_EQ(c.hosts_path, hp);
  CHECK_EQ(coro__dns_hosts_lookup(&c.hosts, "other", AF_INET, a, 4), 1);
  coro__dns_conf_free(&c);

  /* Missing files: defaults and an empty hosts table, not an error. */
  char missing[160];
  snprintf(missing, sizeof missing, "%s/none", tmpdir);
  CHECK_EQ(coro__dns_conf_load(&c, missing, missing, 0), 0);
  CHECK_EQ(c.default_servers, 1);
  CHECK_EQ(c.hosts.n, 0);
  coro__dns_conf_free(&c);
}

static const testing_case tests[] = {
    {"encode_query", encode_query, 0},
    {"encode_name_errors", encode_name_errors, 0},
    {"decode_a", decode_a, 0},
    {"decode_aaaa", decode_aaaa, 0},
    {"cname_chain", cname_chain, 0},
    {"nxdomain_soa", nxdomain_soa, 0},
    {"truncated_tc", truncated_tc, 0},
    {"edns_extended_rcode", edns_extended_rcode, 0},
    {"hundred_a", hundred_a, 0},
    {"typed_rdata", typed_rdata, 0},
    {"escaped_names", escaped_names, 0},
    {"reverse_names", reverse_names, 0},
    {"malformed", malformed, 0},
    {"truncations", truncations, 0},
    {"resolv_conf_parse", resolv_conf_parse, 0},
    {"resolv_conf_caps", resolv_conf_caps, 0},
    {"candidates", candidates, 0},
    {"hosts_lookup", hosts_lookup, 0},
    {"hosts_many", hosts_many, 0},
    {"hosts_bloom", hosts_bloom, 0},
    {"services_parse", services_parse, 0},
    {"reload", reload, 0},
};
static const testing_param params[] = {{"dns", 0}};

TESTING_MAIN(tests, params)
