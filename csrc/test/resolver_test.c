/* resolver_test.c - tests of the resolver's query engine (resolver.c,
 * dns_transport.c, dns_lookup.c, dns_answer.c, dns_gai.c) against an
 * in-process fake DNS server.
 *
 * The fake is a pair of coroutines on the test's own loop: one serving UDP,
 * one accepting TCP, both on 127.0.0.1 at an ephemeral port, answering from
 * a small zone table (CNAME chains followed as a recursive server does,
 * NXDOMAIN and NODATA with a SOA) and misbehaving on request: a forced
 * rcode, silence, answers held until several questions are in, a spoofed
 * id or source port before the real answer, FORMERR to EDNS, truncation
 * over UDP. It counts the questions it gets, so a test asserts how many
 * queries reached it. The resolver is pointed at it with
 * coro_resolver_opts.servers and temporary resolv.conf and hosts files.
 * Tests wait for conditions (joins, counters), never for a sleep.
 *
 * Build: `make` (build/native/resolver_test).
 */
#include "../resolver_internal.h"
#include "testing_loop.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- a message builder ------------------------------------------------- */

typedef struct mb {
  uint8_t b[65536];
  size_t n;
  unsigned an, ns, ar;
} mb;

static void put8(mb *m, unsigned v) {
  CHECK_LT(m->n, sizeof m->b);
  m->b[m->n++] = (uint8_t)v;
}
static void put16(mb *m, unsigned v) {
  put8(m, v >> 8);
  put8(m, v & 0xff);
}
static void put32(mb *m, uint32_t v) {
  put16(m, v >> 16);
  put16(m, v & 0xffff);
}
static void putname(mb *m, const char *name) {
  int n = coro__dns_encode_name(name, m->b + m->n, sizeof m->b - m->n);
  CHECK_GT(n, 0);
  m->n += (size_t)n;
}
/* A record's header; returns where its rdlength goes. */
static size_t rr_head(mb *m, const char *name, int type, uint32_t ttl) {
  putname(m, name);
  put16(m, (unsigned)type);
  put16(m, 1);
  put32(m, ttl);
  size_t at = m->n;
  put16(m, 0);
  return at;
}
static void rr_end(mb *m, size_t at) {
  size_t len = m->n - at - 2;
  m->b[at] = (uint8_t)(len >> 8);
  m->b[at + 1] = (uint8_t)len;
}

/* ---- the zone ------------------------------------------------------------ */

typedef struct zrr {
  const char *name;
  int type;
  uint32_t ttl;
  const char *data;
} zrr;

static const zrr zone[] = {
    {"a.test", CORO_DNS_A, 300, "192.0.2.1"},
    {"a.test", CORO_DNS_A, 300, "192.0.2.2"},
    {"a.test", CORO_DNS_AAAA, 300, "2001:db8::1"},
    {"v4only.test", CORO_DNS_A, 300, "192.0.2.4"},
    {"www.test", CORO_DNS_CNAME, 300, "web.test"},
    {"web.test", CORO_DNS_CNAME, 200, "a.test"},
    {"part.test", CORO_DNS_CNAME, 300, "v4only.test"},
    {"loop1.test", CORO_DNS_CNAME, 300, "loop2.test"},
    {"loop2.test", CORO_DNS_CNAME, 300, "loop1.test"},
    {"host.sub.test", CORO_DNS_A, 300, "192.0.2.10"},
    {"host.other.test", CORO_DNS_A, 300, "192.0.2.11"},
    {"k8s.svc.test", CORO_DNS_A, 300, "192.0.2.12"},
    {"mx.test", CORO_DNS_MX, 300, "10 mail.test"},
    {"mx.test", CORO_DNS_MX, 300, "20 mail2.test"},
    {"txt.test", CORO_DNS_TXT, 300, "hello world"},
    {"test", CORO_DNS_SOA, 300, "soa"},
    {"test", CORO_DNS_NS, 300, "ns1.test"},
    {"_sip._tcp.test", CORO_DNS_SRV, 300, "1 2 5060 sip.test"},
    {"1.2.0.192.in-addr.arpa", CORO_DNS_PTR, 300, "a.test"},
    {"changed.test", CORO_DNS_A, 300, "192.0.2.20"},
    {"v6only.test", CORO_DNS_AAAA, 300, "2001:db8::6"},
    {"p6.test", CORO_DNS_CNAME, 300, "v6only.test"},
};
#define ZONE_N (sizeof zone / sizeof zone[0])

static void put_rdata(mb *m, const zrr *z) {
  size_t at = rr_head(m, z->name, z->type, z->ttl);
  switch (z->type) {
  case CORO_DNS_A: {
    uint8_t a[4];
    CHECK_EQ(inet_pton(AF_INET, z->data, a), 1);
    for (int i = 0; i < 4; i++)
      put8(m, a[i]);
    break;
  }
  case CORO_DNS_AAAA: {
    uint8_t a[16];
    CHECK_EQ(inet_pton(AF_INET6, z->data, a), 1);
    for (int i = 0; i < 16; i++)
      put8(m, a[i]);
    break;
  }
  case CORO_DNS_CNAME:
  case CORO_DNS_NS:
  case CORO_DNS_PTR:
    putname(m, z->data);
    break;
  case CORO_DNS_MX: {
    unsigned pref;
    char host[64];
    CHECK_EQ(sscanf(z->data, "%u %63s", &pref, host), 2);
    put16(m, pref);
    putname(m, host);
    break;
  }
  case CORO_DNS_TXT: {
    /* Two character-strings: the words. */
    const char *sp = strchr(z->data, ' ');
    size_t l1 = (size_t)(sp - z->data);
    put8(m, (unsigned)l1);
    for (size_t i = 0; i < l1; i++)
      put8(m, (uint8_t)z->data[i]);
    put8(m, (unsigned)strlen(sp + 1));
    for (const char *p = sp + 1; *p; p++)
      put8(m, (uint8_t)*p);
    break;
  }
  case CORO_DNS_SRV: {
    unsigned a, b, c;
    char t[64];
    CHECK_EQ(sscanf(z->data, "%u %u %u %63s", &a, &b, &c, t), 4);
    put16(m, a);
    put16(m, b);
    put16(m, c);
    putname(m, t);
    break;
  }
  case CORO_DNS_SOA:
    putname(m, "ns1.test");
    putname(m, "admin.test");
    put32(m, 2026120201);
    put32(m, 3600);
    put32(m, 600);
    put32(m, 86400);
    put32(m, 60); /* minimum: the negative TTL */
    break;
  }
  rr_end(m, at);
}

static void put_soa(mb *m) {
  for (size_t i = 0; i < ZONE_N; i++)
    if (zone[i].type == CORO_DNS_SOA)
      put_rdata(m, &zone[i]);
  m->ns++;
}

/* ---- the fake server ------------------------------------------------------ */

typedef struct fq {
  uint16_t id;
  char name[CORO__DNS_NAME_BUF];
  uint16_t type;
  int edns;
  int tcp;
  struct sockaddr_storage from;
  socklen_t from_len;
} fq;

typedef struct fake {
  int udp, tcp, spoof_fd;
  uint16_t port;
  char addr[64];              /* "127.0.0.1:PORT" */
  int queries, udp_queries, tcp_queries, edns_queries;
  int rcode;                  /* >= 0: answer every question with it */
  int silent;                 /* answer nothing */
  int hold;                   /* answer once this many questions are in */
  fq held[8];
  int nheld;
  int spoof_id, spoof_port;   /* a bad answer before the real one */
  int formerr_edns;           /* FORMERR (no OPT) to EDNS questions */
  int partial;                /* give only the first CNAME of a chain */
  int udp_max;                /* over UDP, more records than this: TC */
  int tcp_rcode;              /* > 0: answer every TCP question with it */
  int wild;                   /* h<N>.wild.test: A 10.N */
  int wild_records;           /* many.test: this many A records */
  const char *refuse_suffix;  /* names ending so: REFUSED */
  int hold_once;              /* after the first held batch, hold no more */
  uint16_t ports[64];         /* distinct UDP source ports seen */
  int nports;
  mb out;
  coro *udp_co, *tcp_co;
} fake;

static int zone_has_name(const char *name) {
  for (size_t i = 0; i < ZONE_N; i++)
    if (coro__dns_name_eq(zone[i].name, name))
      return 1;
  return 0;
}

/* Build the answer to q into f->out; 0 to stay silent. */
static int build_answer(fake *f, const fq *q) {
  mb *m = &f->out;
  memset(m, 0, offsetof(mb, b));
  m->n = 0;
  m->an = m->ns = m->ar = 0;
  m->n = CORO__DNS_HDR_LEN;
  putname(m, q->name);
  put16(m, q->type);
  put16(m, 1);
  int rcode = 0;
  size_t qn = strlen(q->name),
         rn = f->refuse_suffix ? strlen(f->refuse_suffix) : 0;
  if (f->rcode >= 0) {
    rcode = f->rcode;
  } else if (f->tcp_rcode > 0 && q->tcp) {
    rcode = f->tcp_rcode;
  } else if (rn && qn >= rn && strcmp(q->name + qn - rn, f->refuse_suffix) == 0) {
    rcode = CORO__DNS_R_REFUSED;
  } else if (f->formerr_edns && q->edns) {
    m->n = CORO__DNS_HDR_LEN; /* no question, as some old servers do */
    rcode = CORO__DNS_R_FORMERR;
    m->b[0] = (uint8_t)(q->id >> 8);
    m->b[1] = (uint8_t)q->id;
    m->b[2] = 0x81;
    m->b[3] = (uint8_t)rcode;
    m->b[4] = 0;
    m->b[5] = 0;
    memset(m->b + 6, 0, 6);
    return 1;
  } else {
    char cur[CORO__DNS_NAME_BUF];
    snprintf(cur, sizeof cur, "%s", q->name);
    int found = 0;
    unsigned hnum;
    if (f->wild && sscanf(cur, "h%u.wild.test", &hnum) == 1) {
      size_t at = rr_head(m, cur, CORO_DNS_A, 300);
      put8(m, 10);
      put8(m, (hnum >> 16) & 0xff);
      put8(m, (hnum >> 8) & 0xff);
      put8(m, hnum & 0xff);
      rr_end(m, at);
      m->an++;
      found = 1;
    } else if (f->wild_records && strcmp(cur, "many.test") == 0) {
      if (q->type == CORO_DNS_A && !q->tcp && f->wild_records > f->udp_max) {
        m->b[2] |= 0x02; /* TC */
      } else if (q->type == CORO_DNS_A) {
        for (int i = 0; i < f->wild_records; i++) {
          size_t at = rr_head(m, cur, CORO_DNS_A, 300);
          put8(m, 10);
          put8(m, 1);
          put8(m, (unsigned)i >> 8);
          put8(m, (unsigned)i & 0xff);
          rr_end(m, at);
          m->an++;
        }
      }
      found = 1;
    } else {
      for (int links = 0; q->type != CORO_DNS_CNAME && links < 20; links++) {
        const zrr *cn = NULL;
        for (size_t i = 0; i < ZONE_N; i++)
          if (zone[i].type == CORO_DNS_CNAME &&
              coro__dns_name_eq(zone[i].name, cur))
            cn = &zone[i];
        if (!cn)
          break;
        put_rdata(m, cn);
        m->an++;
        found = 1;
        snprintf(cur, sizeof cur, "%s", cn->data);
        if (f->partial)
          break;
      }
      if (!(f->partial && found))
        for (size_t i = 0; i < ZONE_N; i++)
          if (zone[i].type == q->type && coro__dns_name_eq(zone[i].name, cur)) {
            put_rdata(m, &zone[i]);
            m->an++;
          }
      if (m->an == 0 || !(f->partial && found)) {
        if (!zone_has_name(cur))
          rcode = CORO__DNS_R_NXDOMAIN;
        if (m->an == 0 || rcode)
          put_soa(m);
      }
      (void)found;
    }
  }
  if (q->edns) {
    putname(m, ".");
    put16(m, 41);
    put16(m, 1232);
    put32(m, 0);
    put16(m, 0);
    m->ar++;
  }
  m->b[0] = (uint8_t)(q->id >> 8);
  m->b[1] = (uint8_t)q->id;
  m->b[2] |= 0x81; /* QR, RD */
  m->b[3] = (uint8_t)(0x80 | rcode);
  m->b[4] = 0;
  m->b[5] = 1;
  m->b[6] = (uint8_t)(m->an >> 8);
  m->b[7] = (uint8_t)m->an;
  m->b[8] = (uint8_t)(m->ns >> 8);
  m->b[9] = (uint8_t)m->ns;
  m->b[10] = (uint8_t)(m->ar >> 8);
  m->b[11] = (uint8_t)m->ar;
  return !f->silent;
}

static _Alignas(16) uint8_t parse_arena[1 << 16];

static int parse_query(const uint8_t *b, size_t n, fq *q) {
  coro__dns_msg m;
  if (coro__dns_decode(b, n, &m, parse_arena, sizeof parse_arena) < 0 ||
      !m.qname)
    return -1;
  q->id = m.id;
  snprintf(q->name, sizeof q->name, "%s", m.qname);
  q->type = m.qtype;
  q->edns = m.has_opt;
  return 0;
}

static void udp_answer(fake *f, const fq *q) {
  if (!build_answer(f, q))
    return;
  if (f->spoof_port) {
    /* The right id, from another port. */
    CHECK_GE(coro_sendto(f->spoof_fd, f->out.b, f->out.n, 0,
                         (const struct sockaddr *)&q->from, q->from_len, -1),
             0);
  }
  if (f->spoof_id) {
    f->out.b[1] ^= 0x5a;
    CHECK_GE(coro_sendto(f->udp, f->out.b, f->out.n, 0,
                         (const struct sockaddr *)&q->from, q->from_len, -1),
             0);
    f->out.b[1] ^= 0x5a;
  }
  coro_sendto(f->udp, f->out.b, f->out.n, 0, (const struct sockaddr *)&q->from,
              q->from_len, -1);
}

static void *udp_server(void *arg) {
  fake *f = arg;
  uint8_t buf[4096];
  for (;;) {
    fq q = {0};
    q.from_len = sizeof q.from;
    ssize_t n = coro_recvfrom(f->udp, buf, sizeof buf, 0,
                              (struct sockaddr *)&q.from, &q.from_len, -1);
    if (n < 0)
      break;
    if (parse_query(buf, (size_t)n, &q) < 0)
      continue;
    f->queries++;
    f->udp_queries++;
    f->edns_queries += q.edns;
    uint16_t port = ntohs(((struct sockaddr_in *)&q.from)->sin_port);
    int seen = 0;
    for (int i = 0; i < f->nports; i++)
      seen |= f->ports[i] == port;
    if (!seen && f->nports < 64)
      f->ports[f->nports++] = port;
    if (f->hold > 1) {
      f->held[f->nheld++] = q;
      if (f->nheld < f->hold)
        continue;
      for (int i = 0; i < f->nheld; i++)
        udp_answer(f, &f->held[i]);
      f->nheld = 0;
      if (f->hold_once)
        f->hold = 0;
      continue;
    }
    udp_answer(f, &q);
  }
  return NULL;
}

typedef struct conn {
  fake *f;
  int fd;
} conn;

static void *tcp_conn(void *arg) {
  conn *c = arg;
  fake *f = c->f;
  uint8_t lb[2];
  uint8_t *buf = malloc(65538);
  for (;;) {
    if (coro_read(c->fd, lb, 2, -1) != 2)
      break;
    size_t len = (size_t)lb[0] << 8 | lb[1];
    size_t got = 0;
    while (got < len) {
      ssize_t k = coro_read(c->fd, buf, len - got, -1);
      if (k <= 0)
        goto done;
      got += (size_t)k;
    }
    fq q = {.tcp = 1};
    if (parse_query(buf, len, &q) < 0)
      break;
    f->queries++;
    f->tcp_queries++;
    if (!build_answer(f, &q))
      continue;
    buf[0] = (uint8_t)(f->out.n >> 8);
    buf[1] = (uint8_t)f->out.n;
    memcpy(buf + 2, f->out.b, f->out.n);
    if (coro_write_all(c->fd, buf, f->out.n + 2, -1) < 0)
      break;
  }
done:
  free(buf);
  coro_fd_close(c->fd);
  free(c);
  return NULL;
}

static void *tcp_server(void *arg) {
  fake *f = arg;
  for (;;) {
    int fd = coro_accept(f->tcp, NULL, NULL, -1);
    if (fd < 0)
      break;
    conn *c = malloc(sizeof *c);
    *c = (conn){f, fd};
    CHECK_EQ(coro_spawn(NULL, tcp_conn, c, NULL), 0);
  }
  return NULL;
}

static int udp_socket(struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK_GE(fd, 0);
  CHECK_EQ(bind(fd, (struct sockaddr *)a, sizeof *a), 0);
  return fd;
}

static fake *fake_start(void) {
  fake *f = calloc(1, sizeof *f);
  f->rcode = -1;
  f->udp_max = 1 << 30;
  struct sockaddr_in a;
again:
  a = (struct sockaddr_in){.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  f->udp = udp_socket(&a);
  /* Room for thousands of questions at once (the concurrency test). */
  int big = 16 << 20;
  if (setsockopt(f->udp, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
    setsockopt(f->udp, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  socklen_t al = sizeof a;
  CHECK_EQ(getsockname(f->udp, (struct sockaddr *)&a, &al), 0);
  f->port = ntohs(a.sin_port);
  f->tcp = coro_tcp_listen((struct sockaddr *)&a, sizeof a, 1024, 0);
  if (f->tcp == -EADDRINUSE) { /* the UDP port's TCP twin is taken */
    close(f->udp);
    goto again;
  }
  CHECK_GE(f->tcp, 0);
  a.sin_port = 0;
  f->spoof_fd = udp_socket(&a);
  snprintf(f->addr, sizeof f->addr, "127.0.0.1:%u", f->port);
  CHECK_EQ(coro_spawn(&f->udp_co, udp_server, f, NULL), 0);
  CHECK_EQ(coro_spawn(&f->tcp_co, tcp_server, f, NULL), 0);
  return f;
}

static void fake_stop(fake *f) {
  coro_cancel(f->udp_co);
  coro_cancel(f->tcp_co);
  CHECK_EQ(coro_join(f->udp_co, -1, NULL), 0);
  CHECK_EQ(coro_join(f->tcp_co, -1, NULL), 0);
  coro_fd_close(f->udp);
  coro_fd_close(f->tcp);
  coro_fd_close(f->spoof_fd);
  free(f);
}

/* ---- files and loops ---------------------------------------------------- */

static char tmpdir[128];
static char conf_path[192], hosts_path[192];

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  CHECK(fp != NULL);
  fputs(text, fp);
  fclose(fp);
}

static void files(const char *resolv, const char *hosts) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/coro_resolver_test.XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
  }
  snprintf(conf_path, sizeof conf_path, "%s/resolv.conf", tmpdir);
  snprintf(hosts_path, sizeof hosts_path, "%s/hosts", tmpdir);
  write_file(conf_path, resolv);
  write_file(hosts_path, hosts ? hosts : "");
}

static void files_cleanup(void) {
  if (!tmpdir[0])
    return;
  unlink(conf_path);
  unlink(hosts_path);
  rmdir(tmpdir);
  tmpdir[0] = 0;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

/* A resolver on the fake with these files (resolv may be NULL: a default
 * one with short timeouts). servers NULL: the fake. */
static coro_resolver *resolver_on(fake *f, const char *resolv,
                                  const char *hosts, const char *servers) {
  /* Valgrind is slow enough to miss a 1 s timeout now and then. */
  files(resolv ? resolv
               : testing_under_valgrind() ? "options timeout:10 attempts:2\n"
                                          : "options timeout:1 attempts:2\n",
        hosts);
  coro_resolver_opts o = {.resolv_conf = conf_path,
                          .hosts = hosts_path,
                          .servers = servers ? servers : f->addr};
  coro_resolver *r;
  CHECK_EQ(coro_resolver_new(&r, &o), 0);
  return r;
}

static void resolver_done(coro_resolver *r) {
  CHECK_EQ(coro_resolver_free(r), 0);
  files_cleanup();
}

/* Each TEST(name) is the body of the first coroutine of a fresh loop of
 * the stack mode under test (testing_loop.h); once the loop has closed,
 * the temporary files go and no fd may have leaked. */
static int g_fds; /* open before the loop */

static void resolver_opts(int mode, coro_loop_opts *o) {
  g_fds = count_fds();
  o->stack_mode = mode;
}

static void resolver_after(int mode) {
  (void)mode;
  files_cleanup();
  CHECK_EQ(count_fds(), g_fds);
}
#define TEST(name) TESTING_LOOP_TEST_AFTER(name, resolver_opts, resolver_after)

static int64_t in_s(double s) { return coro_now() + (int64_t)(s * 1e9); }

static void check_ip(const coro_ip *ip, const char *text) {
  char buf[INET6_ADDRSTRLEN];
  CHECK(inet_ntop(ip->family, ip->addr, buf, sizeof buf) != NULL);
  CHECK_STR_EQ(buf, text);
}

static coro_resolver_stats stats_of(coro_resolver *r) {
  coro_resolver_stats s;
  CHECK_EQ(coro_resolver_stats_get(r, &s), 0);
  return s;
}

/* ---- tests: addresses ----------------------------------------------------- */

TEST(a_only) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  check_ip(&ip[0], "192.0.2.1");
  check_ip(&ip[1], "192.0.2.2");
  CHECK_EQ(f->queries, 1);
  CHECK_EQ(f->edns_queries, 1);
  /* Again: from the cache, no query. */
  CHECK_EQ(coro_lookup_ip(r, "A.Test.", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(f->queries, 1);
  coro_resolver_stats s = stats_of(r);
  CHECK_U64_EQ(s.lookups, 2);
  CHECK_U64_EQ(s.queries_udp, 1);
  CHECK_U64_EQ(s.cache_hits, 1);
  /* cap 1: the first only. */
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 1, in_s(10)), 1);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(aaaa_only) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET6, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "2001:db8::1");
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET6, ip, 8, in_s(10)),
           -ENODATA);
  /* NODATA is cached too (the SOA's minimum, 60 s). */
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET6, ip, 8, in_s(10)),
           -ENODATA);
  CHECK_EQ(f->queries, 2);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(both) {
  (void)unused_;
  fake *f = fake_start();
  f->hold = 2; /* no answer until both questions are in */
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_UNSPEC, ip, 8, in_s(10)), 3);
  CHECK_EQ(f->queries, 2);
  CHECK_U64_EQ(stats_of(r).timeouts, 0);
  int v6 = coro__resolver_v6_route(r, coro_now());
  check_ip(&ip[v6 ? 0 : 2], "2001:db8::1");
  check_ip(&ip[v6 ? 1 : 0], "192.0.2.1");
  check_ip(&ip[v6 ? 2 : 1], "192.0.2.2");
  /* A name with no AAAA: the A records. */
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_UNSPEC, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.4");
  /* Warm: both from the cache, with no allocation or socket (the fault
   * points count them) and no syscall of the poller. */
  int q = f->queries;
  coro_loop_stats ls0, ls1;
  CHECK_EQ(coro_loop_stats_get(coro_loop_current(), &ls0), 0);
  coro__fault_arm(1L << 40, 0);
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_UNSPEC, ip, 8, in_s(10)), 3);
  CHECK_EQ(coro__fault_calls(), 0);
  coro__fault_arm(0, 0);
  CHECK_EQ(coro_loop_stats_get(coro_loop_current(), &ls1), 0);
  CHECK_U64_EQ(ls1.poll_syscalls, ls0.poll_syscalls);
  CHECK_EQ(f->queries, q);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(single_request) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r =
      resolver_on(f, "options single-request timeout:1\n", NULL, NULL);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_UNSPEC, ip, 8, in_s(10)), 3);
  CHECK_EQ(f->queries, 2);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(cname) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[8];
  /* www -> web -> a, all in one answer. */
  CHECK_EQ(coro_lookup_ip(r, "www.test", AF_INET, ip, 8, in_s(10)), 2);
  check_ip(&ip[0], "192.0.2.1");
  CHECK_EQ(f->queries, 1);
  /* A server that leaves the chain's end out: asked again for it. */
  f->partial = 1;
  CHECK_EQ(coro_lookup_ip(r, "part.test", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.4");
  CHECK_EQ(f->queries, 3);
  /* A loop is an error, not a hang. */
  f->partial = 0;
  CHECK_EQ(coro_lookup_ip(r, "loop1.test", AF_INET, ip, 8, in_s(10)),
           -EBADMSG);
  f->partial = 1;
  CHECK_EQ(coro_lookup_ip(r, "loop2.test", AF_INET, ip, 8, in_s(10)),
           -EBADMSG);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(local) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(
      f, NULL, "# hosts\n10.0.0.1 a.test alias\n::2 a.test\n10.0.0.3 other\n",
      NULL);
  coro_ip ip[8];
  /* hosts overrides DNS. */
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "10.0.0.1");
  CHECK_EQ(coro_lookup_ip(r, "ALIAS", AF_INET, ip, 8, in_s(10)), 1);
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_UNSPEC, ip, 8, in_s(10)), 2);
  /* localhost, numeric. */
  CHECK_EQ(coro_lookup_ip(r, "localhost", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "127.0.0.1");
  CHECK_EQ(coro_lookup_ip(r, "x.localhost.", AF_INET6, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "::1");
  CHECK_EQ(coro_lookup_ip(r, "localhost", AF_UNSPEC, ip, 8, in_s(10)), 2);
  CHECK_EQ(coro_lookup_ip(r, "192.0.2.99", AF_UNSPEC, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.99");
  CHECK_EQ(coro_lookup_ip(r, "fe80::1%1", AF_INET6, ip, 8, in_s(10)), 1);
  CHECK_EQ(ip[0].scope_id, 1);
  CHECK_EQ(coro_lookup_ip(r, "192.0.2.99", AF_INET6, ip, 8, in_s(10)),
           -ENODATA);
  CHECK_EQ(f->queries, 0);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(search) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r =
      resolver_on(f, "search sub.test other.test\noptions ndots:1 timeout:1\n",
                  NULL, NULL);
  coro_ip ip[8];
  /* No dot: the search list first (sub.test has it). */
  CHECK_EQ(coro_lookup_ip(r, "host", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.10");
  CHECK_EQ(f->queries, 1);
  /* A dot: as is first (a.test), no search. */
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(f->queries, 2);
  /* Not anywhere: every candidate asked, NXDOMAIN. */
  CHECK_EQ(coro_lookup_ip(r, "nothere", AF_INET, ip, 8, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(f->queries, 5);
  /* Again, both: from the cache (positive and negative), no query. */
  CHECK_EQ(coro_lookup_ip(r, "host", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.10");
  CHECK_EQ(coro_lookup_ip(r, "nothere", AF_INET, ip, 8, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(f->queries, 5);
  /* NODATA beats NXDOMAIN: v4only.test exists without AAAA. */
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET6, ip, 8, in_s(10)),
           -ENODATA);
  resolver_done(r);
  /* A search domain the server refuses (an authoritative server asked
   * for another zone): the search goes on past it. */
  r = resolver_on(f, "search elsewhere.example sub.test\n", NULL, NULL);
  f->refuse_suffix = "elsewhere.example";
  CHECK_EQ(coro_lookup_ip(r, "host", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.10");
  coro_dns_answer *ans;
  CHECK_EQ(coro_dns_query(r, "host", CORO_DNS_A, CORO_DNS_NOCACHE, &ans,
                          in_s(10)),
           1);
  CHECK_STR_EQ(ans->qname, "host.sub.test");
  coro_dns_answer_free(ans);
  /* Refused and not found: the failure is the more telling error. */
  CHECK_EQ(coro_lookup_ip(r, "nothere", AF_INET, ip, 8, in_s(10)),
           -CORO_EREFUSED);
  f->refuse_suffix = NULL;
  resolver_done(r);
  /* ndots:5 (Kubernetes): "k8s.svc.test" has 2 dots, so the search list
   * comes first and misses, then the name as is. */
  r = resolver_on(f, "search sub.test other.test\noptions ndots:5\n", NULL,
                  NULL);
  f->queries = 0;
  CHECK_EQ(coro_lookup_ip(r, "k8s.svc.test", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.12");
  CHECK_EQ(f->queries, 3);
  /* A trailing dot: only as is. */
  CHECK_EQ(coro_lookup_ip(r, "nothere.", AF_INET, ip, 8, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(f->queries, 4);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(rcodes) {
  (void)unused_;
  fake *f = fake_start(), *g = fake_start();
  char both[160];
  snprintf(both, sizeof both, "%s,%s", f->addr, g->addr);
  coro_resolver *r = resolver_on(f, NULL, NULL, both);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "nx.test", AF_INET, ip, 8, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(f->queries, 1);
  CHECK_EQ(g->queries, 0);
  /* SERVFAIL from the first: the second answers. */
  f->rcode = CORO__DNS_R_SERVFAIL;
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(g->queries, 1);
  /* Both fail: SERVFAIL, asked once each. */
  g->rcode = CORO__DNS_R_SERVFAIL;
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET, ip, 8, in_s(10)),
           -CORO_ESERVFAIL);
  CHECK_EQ(f->queries, 3);
  CHECK_EQ(g->queries, 2);
  /* Both refuse. */
  f->rcode = g->rcode = CORO__DNS_R_REFUSED;
  CHECK_EQ(coro_lookup_ip(r, "host.sub.test", AF_INET, ip, 8, in_s(10)),
           -CORO_EREFUSED);
  /* REFUSED then an answer. */
  g->rcode = -1;
  CHECK_EQ(coro_lookup_ip(r, "host.other.test", AF_INET, ip, 8, in_s(10)), 1);
  /* Failures are not cached: asked again. */
  f->rcode = -1;
  int q = f->queries;
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET, ip, 8, in_s(10)), 1);
  CHECK_EQ(f->queries, q + 1);
  resolver_done(r);
  fake_stop(f);
  fake_stop(g);
  return NULL;
}

TEST(failover) {
  (void)unused_;
  fake *f = fake_start(), *g = fake_start();
  f->silent = 1;
  char both[160];
  snprintf(both, sizeof both, "%s,%s", f->addr, g->addr);
  coro_resolver *r = resolver_on(f, "options timeout:1 attempts:1\n", NULL, both);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(f->queries, 1);
  CHECK_EQ(g->queries, 1);
  coro_resolver_stats s = stats_of(r);
  CHECK_U64_EQ(s.timeouts, 1);
  CHECK_U64_EQ(s.retries, 1);
  /* All silent: -ETIMEDOUT after timeout x servers. */
  g->silent = 1;
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET, ip, 8, in_s(10)),
           -ETIMEDOUT);
  /* The caller's deadline bounds everything. */
  int64_t t0 = coro_now();
  CHECK_EQ(coro_lookup_ip(r, "www.test", AF_INET, ip, 8, t0 + 50000000),
           -ETIMEDOUT);
  CHECK_LT(coro_now() - t0, 900000000);
  resolver_done(r);
  fake_stop(f);
  fake_stop(g);
  return NULL;
}

TEST(spoof) {
  (void)unused_;
  fake *f = fake_start();
  f->spoof_id = 1;
  f->spoof_port = 1;
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(f->queries, 1);
  coro_resolver_stats s = stats_of(r);
  /* The wrong id is read and ignored; the datagram from the wrong port
   * never reaches us: the pooled socket is connected to the server, so
   * the kernel drops it (it was counted here too before the pool). */
  CHECK_U64_EQ(s.ignored, 1);
  CHECK_U64_EQ(s.timeouts, 0);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(tcp) {
  (void)unused_;
  fake *f = fake_start();
  f->wild_records = 100;
  f->udp_max = 20;
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[128];
  CHECK_EQ(coro_lookup_ip(r, "many.test", AF_INET, ip, 128, in_s(10)), 100);
  check_ip(&ip[99], "10.1.0.99");
  CHECK_EQ(f->udp_queries, 1);
  CHECK_EQ(f->tcp_queries, 1);
  resolver_done(r);
  /* use-vc: TCP always. */
  r = resolver_on(f, "options use-vc\n", NULL, NULL);
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(f->udp_queries, 1);
  CHECK_EQ(f->tcp_queries, 2);
  CHECK_U64_EQ(stats_of(r).queries_tcp, 1);
  resolver_done(r);
  /* A truncated UDP answer, then SERVFAIL over TCP: the next server's UDP
   * answer (30 records, ~500 bytes) lands in the buffer the TCP try left,
   * which must still hold a whole UDP answer (it once had the TCP
   * answer's size: ASan saw recvfrom write past it). */
  fake *g = fake_start();
  g->wild_records = 30;
  f->tcp_rcode = CORO__DNS_R_SERVFAIL;
  char both[160];
  snprintf(both, sizeof both, "%s,%s", f->addr, g->addr);
  r = resolver_on(f, NULL, NULL, both);
  CHECK_EQ(coro_lookup_ip(r, "many.test", AF_INET, ip, 128, in_s(10)), 30);
  check_ip(&ip[29], "10.1.0.29");
  CHECK_EQ(f->tcp_queries, 3);
  CHECK_EQ(g->udp_queries, 1);
  resolver_done(r);
  fake_stop(g);
  fake_stop(f);
  return NULL;
}

TEST(edns) {
  (void)unused_;
  fake *f = fake_start();
  f->formerr_edns = 1;
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(f->queries, 2);
  CHECK_EQ(f->edns_queries, 1);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(reload) {
  (void)unused_;
  fake *f = fake_start(), *g = fake_start();
  /* The files name the server (no override): rewrite them to move. */
  char text[256];
  snprintf(text, sizeof text, "nameserver 127.0.0.1\noptions timeout:1\n");
  files(text, "10.9.9.9 pinned.test\n");
  coro_resolver_opts o = {.resolv_conf = conf_path, .hosts = hosts_path,
                          .servers = f->addr};
  coro_resolver *r;
  CHECK_EQ(coro_resolver_new(&r, &o), 0);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "pinned.test", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "10.9.9.9");
  CHECK_EQ(coro_lookup_ip(r, "changed.test", AF_INET, ip, 8, in_s(10)), 1);
  CHECK_EQ(f->queries, 1);
  /* Rewrite hosts: not seen before the recheck interval... */
  write_file(hosts_path, "10.8.8.8 pinned.test\n10.7.7.7 changed.test\n");
  CHECK_EQ(coro_lookup_ip(r, "pinned.test", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "10.9.9.9");
  /* ...and seen after it, with the cache cleared. */
  coro__resolver_skew(r, CORO__DNS_RECHECK_NS + 1);
  CHECK_EQ(coro_lookup_ip(r, "pinned.test", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "10.8.8.8");
  CHECK_EQ(coro_lookup_ip(r, "changed.test", AF_INET, ip, 8, in_s(10)), 1);
  check_ip(&ip[0], "10.7.7.7");
  CHECK_EQ(coro_resolver_stats_get(r, &(coro_resolver_stats){0}), 0);
  CHECK_EQ(g->queries, 0);
  CHECK_EQ(coro_resolver_free(r), 0);
  files_cleanup();
  fake_stop(f);
  fake_stop(g);
  return NULL;
}

TEST(ttl) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "www.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(coro_lookup_ip(r, "nx.test", AF_INET, ip, 8, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(f->queries, 2);
  /* 100 s: the negative entry (60 s) expired, the chain (200 s) not. */
  coro__resolver_skew(r, 100 * (int64_t)1000000000);
  CHECK_EQ(coro_lookup_ip(r, "www.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(coro_lookup_ip(r, "nx.test", AF_INET, ip, 8, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(f->queries, 3);
  /* 250 s: the chain's shortest TTL (web.test, 200 s) has passed. */
  coro__resolver_skew(r, 150 * (int64_t)1000000000);
  CHECK_EQ(coro_lookup_ip(r, "www.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(f->queries, 4);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

/* ---- concurrency, cancellation, bad input ----------------------------------- */

#define MANY 10000
typedef struct many_arg {
  coro_resolver *r;
  int i;
  int distinct;
  int rc;
  coro_ip ip;
} many_arg;

static void *many_one(void *arg) {
  many_arg *a = arg;
  char name[64];
  if (a->distinct)
    snprintf(name, sizeof name, "h%d.wild.test", a->i);
  else
    snprintf(name, sizeof name, "a.test");
  a->rc = coro_lookup_ip(a->r, name, AF_INET, &a->ip, 1,
                         in_s(60.0 * testing_timeout_scale()));
  return NULL;
}

TEST(many) {
  (void)unused_;
  fake *f = fake_start();
  f->wild = 1;
  /* Valgrind runs about 50 times slower: fewer lookups, longer waits. */
  int nmany = testing_under_valgrind() ? MANY / 10 : MANY;
  char conf[64];
  /* A loaded machine (load 100+ with other test runs) can leave the
   * in-process server seconds behind 10,000 questions: a timeout of a
   * few seconds only bounds a failure here. */
  snprintf(conf, sizeof conf, "options timeout:%d attempts:5\n",
           testing_under_valgrind() ? 30 : 10);
  coro_resolver *r = resolver_on(f, conf, NULL, NULL);
  many_arg *a = calloc(MANY, sizeof *a);
  coro **co = calloc(MANY, sizeof *co);
  for (int pass = 0; pass < 2; pass++) {
    f->queries = 0;
    for (int i = 0; i < nmany; i++) {
      a[i] = (many_arg){.r = r, .i = i, .distinct = pass};
      CHECK_EQ(coro_spawn(&co[i], many_one, &a[i], NULL), 0);
    }
    for (int i = 0; i < nmany; i++)
      CHECK_EQ(coro_join(co[i], -1, NULL), 0);
    for (int i = 0; i < nmany; i++) {
      CHECK_EQ(a[i].rc, 1);
      if (pass) {
        uint8_t want[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                           (uint8_t)i};
        CHECK_EQ(memcmp(a[i].ip.addr, want, 4), 0);
      }
    }
    /* Single flight: one question for 10,000 lookups of one name (asked
     * again only when it timed out: valgrind is slow). */
    if (pass == 0)
      CHECK_EQ(f->queries, 1 + (int)stats_of(r).retries);
    else
      CHECK_GE(f->queries, nmany);
  }
  CHECK_GE(stats_of(r).shared, (uint64_t)nmany - 1);
  /* The distinct names went out CORO__DNS_UDP_INFLIGHT at a time. */
  CHECK_EQ(r->udp_busy_peak, CORO__DNS_UDP_INFLIGHT);
  CHECK_EQ(r->udp_busy, 0);
  free(a);
  free(co);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

typedef struct cancel_arg {
  coro_resolver *r;
  int family;
  int rc;
} cancel_arg;

static void *cancel_one(void *arg) {
  cancel_arg *a = arg;
  coro_ip ip[4];
  a->rc = coro_lookup_ip(a->r, "a.test", a->family, ip, 4, in_s(30));
  return NULL;
}

TEST(cancel) {
  (void)unused_;
  fake *f = fake_start();
  f->silent = 1;
  coro_resolver *r = resolver_on(f, "options timeout:5\n", NULL, NULL);
  int fams[2] = {AF_INET, AF_UNSPEC};
  for (int k = 0; k < 2; k++) {
    int want = f->queries + (fams[k] == AF_UNSPEC ? 2 : 1);
    /* On the heap: a SHARED stack's bytes move while it is suspended. */
    cancel_arg *a = malloc(sizeof *a);
    *a = (cancel_arg){.r = r, .family = fams[k]};
    coro *co;
    CHECK_EQ(coro_spawn(&co, cancel_one, a, NULL), 0);
    /* Wait until the question(s) reached the server: mid-lookup. */
    int64_t until = in_s(20);
    while (f->queries < want && coro_now() < until)
      coro_yield();
    CHECK_EQ(f->queries, want);
    CHECK_EQ(coro_cancel(co), 0);
    CHECK_EQ(coro_join(co, -1, NULL), 0);
    CHECK_EQ(a->rc, -ECANCELED);
    free(a);
    /* The helper coroutine (AF_UNSPEC) finishes on its own. */
    while (r->busy > 0 && coro_now() < until)
      coro_yield();
    CHECK_EQ(r->busy, 0);
  }
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

TEST(bad_names) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[4];
  char longname[300];
  memset(longname, 'a', sizeof longname);
  for (int i = 50; i < 299; i += 50)
    longname[i] = '.';
  longname[299] = 0;
  char longlabel[80];
  memset(longlabel, 'b', 70);
  strcpy(longlabel + 70, ".test");
  CHECK_EQ(coro_lookup_ip(r, longname, AF_INET, ip, 4, in_s(5)), -ENAMETOOLONG);
  CHECK_EQ(coro_lookup_ip(r, longlabel, AF_INET, ip, 4, in_s(5)),
           -ENAMETOOLONG);
  CHECK_EQ(coro_lookup_ip(r, "a..test", AF_INET, ip, 4, in_s(5)), -EINVAL);
  CHECK_EQ(coro_lookup_ip(r, "", AF_INET, ip, 4, in_s(5)), -EINVAL);
  CHECK_EQ(coro_lookup_ip(r, "caf\xc3\xa9.test", AF_INET, ip, 4, in_s(5)),
           -EINVAL);
  CHECK_EQ(coro_lookup_ip(r, "sp ace.test", AF_INET, ip, 4, in_s(5)), -EINVAL);
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 0, in_s(5)), -EINVAL);
  CHECK_EQ(coro_lookup_ip(r, "a.test", 99, ip, 4, in_s(5)), -EAFNOSUPPORT);
  coro_dns_answer *ans;
  CHECK_EQ(coro_dns_query(r, "a..test", CORO_DNS_MX, 0, &ans, in_s(5)),
           -EINVAL);
  CHECK_EQ(f->queries, 0);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}


/* ---- coro_dns_query, coro_getaddrinfo --------------------------------------- */

TEST(query_types) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, "search test\noptions timeout:1\n", NULL,
                                 NULL);
  coro_dns_answer *a;
  CHECK_EQ(coro_dns_query(r, "mx.test", CORO_DNS_MX, 0, &a, in_s(10)), 2);
  CHECK_EQ(a->n, 2);
  CHECK_EQ(a->rr[0].u.mx.pref, 10);
  CHECK_STR_EQ(a->rr[0].u.mx.host, "mail.test");
  CHECK_STR_EQ(a->rr[1].u.mx.host, "mail2.test");
  CHECK_STR_EQ(a->qname, "mx.test");
  CHECK_EQ(a->from_cache, 0);
  CHECK_GT(a->server_len, 0);
  coro_dns_answer_free(a);
  /* Again: the cache, no query. */
  int q = f->queries;
  CHECK_EQ(coro_dns_query(r, "mx.test", CORO_DNS_MX, 0, &a, in_s(10)), 2);
  CHECK_EQ(a->from_cache, 1);
  CHECK_EQ(a->server_len, 0);
  CHECK_EQ(f->queries, q);
  coro_dns_answer_free(a);
  CHECK_EQ(coro_dns_query(r, "txt.test", CORO_DNS_TXT, 0, &a, in_s(10)), 1);
  CHECK_EQ(a->rr[0].u.txt.n, 2);
  CHECK_STR_EQ(a->rr[0].u.txt.s[0], "hello");
  CHECK_EQ(a->rr[0].u.txt.len[1], 5);
  CHECK_STR_EQ(a->rr[0].u.txt.s[1], "world");
  coro_dns_answer_free(a);
  CHECK_EQ(coro_dns_query(r, "test", CORO_DNS_SOA, CORO_DNS_NOSEARCH, &a,
                          in_s(10)),
           1);
  CHECK_STR_EQ(a->rr[0].u.soa.mname, "ns1.test");
  CHECK_STR_EQ(a->rr[0].u.soa.rname, "admin.test");
  CHECK_EQ(a->rr[0].u.soa.serial, 2026120201u);
  CHECK_EQ(a->rr[0].u.soa.minimum, 60);
  coro_dns_answer_free(a);
  CHECK_EQ(coro_dns_query(r, "test.", CORO_DNS_NS, 0, &a, in_s(10)), 1);
  CHECK_STR_EQ(a->rr[0].u.target, "ns1.test");
  coro_dns_answer_free(a);
  CHECK_EQ(coro_dns_query(r, "_sip._tcp.test", CORO_DNS_SRV, 0, &a, in_s(10)),
           1);
  CHECK_EQ(a->rr[0].u.srv.prio, 1);
  CHECK_EQ(a->rr[0].u.srv.weight, 2);
  CHECK_EQ(a->rr[0].u.srv.port, 5060);
  CHECK_STR_EQ(a->rr[0].u.srv.target, "sip.test");
  coro_dns_answer_free(a);
  CHECK_EQ(coro_dns_query(r, "1.2.0.192.in-addr.arpa", CORO_DNS_PTR,
                          CORO_DNS_NOSEARCH | CORO_DNS_NOCACHE, &a, in_s(10)),
           1);
  CHECK_STR_EQ(a->rr[0].u.target, "a.test");
  coro_dns_answer_free(a);
  /* A chain: the records of its end; the search list ("www" + "test"). */
  CHECK_EQ(coro_dns_query(r, "www", CORO_DNS_A, 0, &a, in_s(10)), 2);
  CHECK_STR_EQ(a->qname, "www.test");
  CHECK_STR_EQ(a->cname, "a.test");
  CHECK_STR_EQ(a->rr[0].name, "a.test");
  CHECK_EQ(a->rr[0].u.ip.family, AF_INET);
  coro_dns_answer_free(a);
  /* A CNAME question is not followed. */
  CHECK_EQ(coro_dns_query(r, "www.test", CORO_DNS_CNAME, 0, &a, in_s(10)), 1);
  CHECK_STR_EQ(a->rr[0].u.target, "web.test");
  coro_dns_answer_free(a);
  CHECK_EQ(coro_dns_query(r, "nx.test", CORO_DNS_MX, CORO_DNS_NOSEARCH, &a,
                          in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK(a == NULL);
  CHECK_EQ(coro_dns_query(r, "a.test", CORO_DNS_MX, 0, &a, in_s(10)),
           -ENODATA);
  CHECK_EQ(coro_dns_query(r, "a.test", 0, 0, &a, in_s(10)), -EINVAL);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

static int count_ai(const struct addrinfo *ai) {
  int n = 0;
  for (; ai; ai = ai->ai_next)
    n++;
  return n;
}

TEST(gai) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res;
  CHECK_EQ(coro_getaddrinfo(r, "a.test", "80", &hints, &res, in_s(10)), 0);
  CHECK_EQ(count_ai(res), 2);
  const struct sockaddr_in *sin = (const struct sockaddr_in *)res->ai_addr;
  CHECK_EQ(ntohs(sin->sin_port), 80);
  CHECK_EQ(res->ai_protocol, IPPROTO_TCP);
  CHECK_EQ(res->ai_addrlen, sizeof *sin);
  freeaddrinfo(res); /* glibc's free */
  /* socktype 0, a numeric service: stream, dgram, raw per address. */
  hints = (struct addrinfo){.ai_flags = AI_CANONNAME};
  CHECK_EQ(coro_getaddrinfo(r, "www.test", "53", &hints, &res, in_s(10)), 0);
  CHECK_EQ(count_ai(res), 9);
  CHECK_STR_EQ(res->ai_canonname, "a.test");
  freeaddrinfo(res);
  /* A named service: its port, only the protocols it has. */
  hints = (struct addrinfo){.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  CHECK_EQ(coro_getaddrinfo(r, "a.test", "domain", &hints, &res, in_s(10)), 0);
  CHECK_EQ(ntohs(((const struct sockaddr_in *)res->ai_addr)->sin_port), 53);
  coro_freeaddrinfo(res);
  CHECK_EQ(coro_getaddrinfo(r, "a.test", "no-such-service", &hints, &res,
                            in_s(10)),
           -ESRCH);
  CHECK(res == NULL);
  hints.ai_flags = AI_NUMERICSERV;
  CHECK_EQ(coro_getaddrinfo(r, "a.test", "domain", &hints, &res, in_s(10)),
           -EINVAL);
  /* Our own services(5) reader: comments, aliases, a bad port, the
   * protocol column; $CORO_SERVICES names the file. */
  char svc[] = "/tmp/coro-services-XXXXXX";
  int sfd = mkstemp(svc);
  CHECK(sfd >= 0);
  const char *text = "# comment\nbroken 99999/tcp brk\n"
                     "myproto 4321/udp\nmyweb\t8123/tcp  web2 # alias\n";
  CHECK_EQ(write(sfd, text, strlen(text)), (ssize_t)strlen(text));
  close(sfd);
  setenv("CORO_SERVICES", svc, 1);
  /* The table is read on a resolver's first named service: a new one. */
  coro_resolver *r2;
  coro_resolver_opts o2 = {.resolv_conf = conf_path, .hosts = hosts_path,
                           .servers = f->addr};
  CHECK_EQ(coro_resolver_new(&r2, &o2), 0);
  hints = (struct addrinfo){.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  CHECK_EQ(coro_getaddrinfo(r2, "a.test", "web2", &hints, &res, in_s(10)), 0);
  CHECK_EQ(ntohs(((const struct sockaddr_in *)res->ai_addr)->sin_port), 8123);
  coro_freeaddrinfo(res);
  CHECK_EQ(coro_getaddrinfo(r2, "a.test", "myproto", &hints, &res, in_s(10)),
           -ESRCH); /* udp only */
  CHECK_EQ(coro_getaddrinfo(r2, "a.test", "brk", &hints, &res, in_s(10)),
           -ESRCH); /* a port over 65535 is no entry */
  /* Parsed once, kept: a changed file is not read again before the
   * resolver's 5 s check, then it is. */
  const char *text2 = "# comment\nbroken 99999/tcp brk\n"
                      "myproto 4321/udp\nmyweb\t8124/tcp  web2 # alias\n";
  FILE *sf = fopen(svc, "w");
  CHECK(sf != NULL);
  fputs(text2, sf);
  fclose(sf);
  struct timespec later = {.tv_sec = time(NULL) + 10};
  struct timespec times[2] = {later, later};
  CHECK_EQ(utimensat(AT_FDCWD, svc, times, 0), 0); /* surely another mtime */
  CHECK_EQ(coro_getaddrinfo(r2, "a.test", "myweb", &hints, &res, in_s(10)), 0);
  CHECK_EQ(ntohs(((const struct sockaddr_in *)res->ai_addr)->sin_port), 8123);
  coro_freeaddrinfo(res);
  coro__resolver_skew(r2, CORO__DNS_RECHECK_NS + 1000000000);
  CHECK_EQ(coro_getaddrinfo(r2, "a.test", "myweb", &hints, &res, in_s(10)), 0);
  CHECK_EQ(ntohs(((const struct sockaddr_in *)res->ai_addr)->sin_port), 8124);
  coro_freeaddrinfo(res);
  CHECK_EQ(coro_resolver_free(r2), 0);
  unsetenv("CORO_SERVICES");
  unlink(svc);
  /* No host: the wildcard, or loopback. */
  hints = (struct addrinfo){.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM};
  CHECK_EQ(coro_getaddrinfo(r, NULL, "8080", &hints, &res, in_s(10)), 0);
  CHECK_EQ(count_ai(res), 2);
  CHECK_EQ(res->ai_family, AF_INET6);
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)res->ai_addr;
  CHECK(IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr));
  freeaddrinfo(res);
  hints.ai_flags = 0;
  hints.ai_family = AF_INET;
  CHECK_EQ(coro_getaddrinfo(r, NULL, "8080", &hints, &res, in_s(10)), 0);
  CHECK_EQ(((const struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr,
           htonl(INADDR_LOOPBACK));
  freeaddrinfo(res);
  /* AI_NUMERICHOST: no query for a name. */
  int q = f->queries;
  hints = (struct addrinfo){.ai_flags = AI_NUMERICHOST | AI_CANONNAME};
  CHECK_EQ(coro_getaddrinfo(r, "a.test", "80", &hints, &res, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(coro_getaddrinfo(r, "::1", "80", &hints, &res, in_s(10)), 0);
  CHECK_EQ(res->ai_family, AF_INET6);
  CHECK_STR_EQ(res->ai_canonname, "::1");
  freeaddrinfo(res);
  CHECK_EQ(f->queries, q);
  CHECK_EQ(coro_getaddrinfo(r, "nx.test", "80", NULL, &res, in_s(10)),
           -CORO_ENXDOMAIN);
  CHECK_EQ(coro_getaddrinfo(r, NULL, NULL, NULL, &res, in_s(10)), -EINVAL);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

/* Fail the nth allocation or socket of a cold lookup, for n = 1, 2, ...
 * until one passes untouched: each failure must be a clean error, with no
 * leak (ASan, valgrind), no fd left open and the loop still usable. */
TEST(fault_sweep) {
  (void)unused_;
  int fds = count_fds();
  long n;
  for (n = 1; n < 1000; n++) {
    fake *f = fake_start();
    files("options timeout:1 attempts:1\n", "");
    coro_resolver_opts o = {.resolv_conf = conf_path, .hosts = hosts_path,
                            .servers = f->addr};
    unsigned points = CORO__FP_BIT(CORO__FP_ALLOC) |
                      CORO__FP_BIT(CORO__FP_SOCKET) |
                      CORO__FP_BIT(CORO__FP_BIND) |
                      CORO__FP_BIT(CORO__FP_CONNECT);
    coro__fault_arm_at(points, n, 1, CORO__FAULT_NATURAL);
    coro_resolver *r = NULL;
    int rc = coro_resolver_new(&r, &o);
    coro_ip ip[8];
    struct addrinfo *res = NULL;
    int rc2 = 0;
    if (rc == 0) {
      rc = coro_lookup_ip(r, "www.test", AF_UNSPEC, ip, 8, in_s(10));
      rc2 = coro_getaddrinfo(r, "a.test", "80", NULL, &res, in_s(10));
    } else {
      r = NULL;
    }
    int fired = coro__fault_fired(NULL);
    coro__fault_arm(0, 0);
    /* Partial answers are fine (one family failed, the other did not). */
    CHECK(rc > 0 || rc == -ENOMEM || rc == -EMFILE || rc == -ETIMEDOUT ||
          rc == -ENOBUFS);
    CHECK(rc2 == 0 || rc2 == -ENOMEM || rc2 == -EMFILE || rc2 == -ETIMEDOUT ||
          rc2 == -ENOBUFS);
    if (res)
      freeaddrinfo(res);
    if (r) {
      /* The resolver still works. */
      CHECK_EQ(coro_lookup_ip(r, "www.test", AF_UNSPEC, ip, 8, in_s(10)), 3);
      CHECK_EQ(coro_resolver_free(r), 0);
    }
    fake_stop(f);
    files_cleanup();
    if (fired < 0)
      break;
  }
  CHECK_LT(n, 1000);
  CHECK_GT(n, 5);
  CHECK_EQ(count_fds(), fds);
  return NULL;
}


TEST(rotate) {
  (void)unused_;
  fake *f = fake_start(), *g = fake_start();
  char both[160];
  snprintf(both, sizeof both, "%s,%s", f->addr, g->addr);
  coro_resolver *r = resolver_on(f, "options rotate timeout:1\n", NULL, both);
  coro_ip ip[8];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 8, in_s(10)), 2);
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET, ip, 8, in_s(10)), 1);
  /* One question each: the first server turns. */
  CHECK_EQ(f->queries, 1);
  CHECK_EQ(g->queries, 1);
  resolver_done(r);
  fake_stop(f);
  fake_stop(g);
  return NULL;
}

/* CORO_RESOLV_CONF and CORO_HOSTS name the files when the options do not. */
static void env_files(int p) {
  (void)p;
  files("options ndots:3\n", "10.4.4.4 envhost.test\n");
  CHECK_EQ(setenv("CORO_RESOLV_CONF", conf_path, 1), 0);
  CHECK_EQ(setenv("CORO_HOSTS", hosts_path, 1), 0);
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, NULL), 0);
  coro_resolver *r;
  CHECK_EQ(coro_resolver_new(&r, NULL), 0);
  CHECK_EQ(r->conf.ndots, 3);
  coro_ip ip[2];
  CHECK_EQ(coro_lookup_ip(r, "envhost.test", AF_INET, ip, 2, 0), 1);
  check_ip(&ip[0], "10.4.4.4");
  CHECK_EQ(coro_resolver_free(r), 0);
  /* The default resolver reads them too. */
  CHECK_EQ(coro_lookup_ip(NULL, "envhost.test", AF_INET, ip, 2, 0), 1);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  files_cleanup();
}

/* The loop's default resolver, from coro_loop_opts.resolver. */
static void default_resolver(int p) {
  (void)p;
  int fds = count_fds();
  files("options timeout:1\n", "10.1.2.3 dflt.test\n");
  coro_resolver_opts ro = {.resolv_conf = conf_path, .hosts = hosts_path,
                           .servers = "127.0.0.1:1"};
  coro_loop_opts lo = {.resolver = &ro};
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, &lo), 0);
  /* The loop copied the options: these go away. */
  memset(&ro, 0, sizeof ro);
  coro_ip ip[2];
  CHECK_EQ(coro_lookup_ip(NULL, "dflt.test", AF_INET, ip, 2, 0), 1);
  check_ip(&ip[0], "10.1.2.3");
  coro_resolver_stats s;
  CHECK_EQ(coro_resolver_stats_get(NULL, &s), 0);
  CHECK_U64_EQ(s.lookups, 1);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  files_cleanup();
  CHECK_EQ(count_fds(), fds);
}

static void misc(int p) {
  (void)p;
  CHECK_STR_EQ(coro_dns_type_name(CORO_DNS_MX), "MX");
  CHECK_STR_EQ(coro_dns_type_name(99), "TYPE99");
  CHECK_EQ(coro_dns_type_parse("aaaa"), CORO_DNS_AAAA);
  CHECK_EQ(coro_dns_type_parse("TYPE99"), 99);
  CHECK_EQ(coro_dns_type_parse("TYPE70000"), 0);
  CHECK_EQ(coro_dns_type_parse("bogus"), 0);
  CHECK_STR_EQ(coro_strerror(-CORO_ENXDOMAIN), "no such host");
  CHECK_STR_EQ(coro_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
  coro_resolver *r;
  CHECK_EQ(coro_resolver_new(&r, NULL), -EPERM); /* no loop */
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, NULL), 0);
  coro_resolver_opts o = {.servers = "not-an-address"};
  CHECK_EQ(coro_resolver_new(&r, &o), -EINVAL);
  o.servers = "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4";
  CHECK_EQ(coro_resolver_new(&r, &o), -EINVAL);
  o.servers = "127.0.0.1:5300,[::1]:53,127.0.0.2";
  CHECK_EQ(coro_resolver_new(&r, &o), 0);
  CHECK_EQ(r->nservers, 3);
  CHECK_EQ(coro_resolver_free(r), 0);
  CHECK_EQ(coro_loop_close(l, -1), 0);
}

/* ---- tests of this stop's fixes ------------------------------------------ */

typedef struct race_arg {
  coro_resolver *r;
  const char *name;
  int rc;
} race_arg;

static void *race_lookup(void *arg) {
  race_arg *a = arg;
  coro_ip ip[4];
  a->rc = coro_lookup_ip(a->r, a->name, AF_INET, ip, 4, in_s(10));
  return NULL;
}

/* A CNAME loop served one link at a time to two concurrent lookups:
 * loop1 -> loop2 to one, loop2 -> loop1 to the other (the server holds
 * both answers until both questions are in). Each leads one name and
 * then wants the other's: before the fix each waited for the other's
 * flight until the deadline (-ETIMEDOUT after 10 s here, forever with
 * deadline -1). Now the second to wait sees the chain of waits come back
 * to itself and both fail at once as a loop. */
TEST(cname_race) {
  (void)unused_;
  fake *f = fake_start();
  f->partial = 1;
  f->hold = 2;
  f->hold_once = 1;
  coro_resolver *r = resolver_on(f, "options timeout:5 attempts:1\n", NULL,
                                 NULL);
  /* Not on this stack: a shared stack moves while others run. */
  static race_arg a, b;
  a = (race_arg){r, "loop1.test", 0};
  b = (race_arg){r, "loop2.test", 0};
  coro *ca, *cb;
  CHECK_EQ(coro_spawn(&ca, race_lookup, &a, NULL), 0);
  CHECK_EQ(coro_spawn(&cb, race_lookup, &b, NULL), 0);
  CHECK_EQ(coro_join(ca, -1, NULL), 0);
  CHECK_EQ(coro_join(cb, -1, NULL), 0);
  CHECK_EQ(a.rc, -EBADMSG);
  CHECK_EQ(b.rc, -EBADMSG);
  CHECK_U64_EQ(stats_of(r).timeouts, 0);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

static int leader_state; /* 1: leads, 2: the waiter is parked */

static void *stubborn_leader(void *arg) {
  coro_resolver *r = arg;
  CHECK_EQ(coro__dns_flight_begin(r->cache, "held.test", CORO__DNS_T_A, -1), 1);
  /* And a question registered on a pooled UDP socket, as a lookup
   * waiting for its answer has (freed by coro__dns_udp_free). */
  coro__dns_udp_q *q = malloc(sizeof *q);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(coro__dns_udp_open(r, 0, (struct sockaddr *)&sa, sizeof sa, q, -1),
           0);
  leader_state = 1;
  /* A coroutine that ignores its cancel: coro_loop_close abandons it
   * with its flight in progress. */
  for (;;) {
    if (leader_state == 2) {
      leader_state = 3;
      coro_loop_stop(coro_loop_current());
    }
    coro_yield();
  }
  return NULL;
}

static void *flight_waiter(void *arg) {
  (void)arg;
  coro_ip ip[2];
  leader_state = 2;
  CHECK_EQ(coro_lookup_ip(NULL, "held.test", AF_INET, ip, 2, -1), -ECANCELED);
  return NULL;
}

/* A loop closed while a lookup's leader is abandoned: the resolver's
 * cache still has the flight, and coro__dns_cache_free refused (-EBUSY)
 * and leaked everything. ASan (detect_leaks) and valgrind (definite
 * leaks) fail the test without the fix; natively it checks the fds. */
static void abandoned_leader(int p) {
  int fds = count_fds();
  files("options timeout:1\n", "");
  coro_resolver_opts ro = {.resolv_conf = conf_path, .hosts = hosts_path,
                           .servers = "127.0.0.1:1"};
  coro_loop_opts lo = {.stack_mode = p, .resolver = &ro};
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, &lo), 0);
  int err = 0;
  coro_resolver *r = coro__resolver_get(NULL, &err);
  CHECK(r != NULL);
  coro_ip ip[2];
  /* A cached answer and a pooled socket go with it too. */
  CHECK_EQ(coro__dns_cache_put_neg(r->cache, "neg.test", CORO__DNS_T_A,
                                   -CORO_ENXDOMAIN, 60, coro__resolver_now(r)),
           0);
  leader_state = 0;
  CHECK_EQ(coro_spawn(NULL, stubborn_leader, r, NULL), 0);
  CHECK_EQ(coro_spawn(NULL, flight_waiter, NULL, NULL), 0);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(leader_state, 3);
  (void)ip;
  CHECK_EQ(coro_loop_close(l, coro_now() + 20000000), -ETIMEDOUT);
  files_cleanup();
  CHECK_EQ(count_fds(), fds);
}

/* AI_CANONNAME when the preferred family has no address and the other
 * one has, through a CNAME: the chain's end of the family that answered
 * (before the fix, with both families asked in parallel, the name as
 * typed). */
TEST(canonname) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  int v6 = coro__resolver_v6_route(r, coro_now());
  /* IPv6 first: part.test -> v4only.test has only A. IPv4 first:
   * p6.test -> v6only.test has only AAAA. */
  const char *name = v6 ? "part.test" : "p6.test";
  const char *end = v6 ? "v4only.test" : "v6only.test";
  struct addrinfo hints = {.ai_flags = AI_CANONNAME,
                           .ai_socktype = SOCK_STREAM};
  struct addrinfo *res;
  CHECK_EQ(coro_getaddrinfo(r, name, "80", &hints, &res, in_s(10)), 0);
  CHECK_EQ(count_ai(res), 1);
  CHECK_STR_EQ(res->ai_canonname, end);
  freeaddrinfo(res);
  /* And again from the cache. */
  CHECK_EQ(coro_getaddrinfo(r, name, "80", &hints, &res, in_s(10)), 0);
  CHECK_STR_EQ(res->ai_canonname, end);
  freeaddrinfo(res);
  /* One family asked: the same. */
  hints.ai_family = v6 ? AF_INET : AF_INET6;
  CHECK_EQ(coro_getaddrinfo(r, name, "80", &hints, &res, in_s(10)), 0);
  CHECK_STR_EQ(res->ai_canonname, end);
  freeaddrinfo(res);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

static uint16_t port_of(const struct sockaddr_storage *ss) {
  return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* coro_lookup_ip_server: which server was asked (as Go's
 * net.DNSError.Server says), also on errors; none for the cache, the
 * hosts file and numeric names. */
TEST(lookup_server) {
  (void)unused_;
  fake *f = fake_start(), *g = fake_start();
  char both[160];
  snprintf(both, sizeof both, "%s,%s", f->addr, g->addr);
  coro_resolver *r = resolver_on(f, "options timeout:1 attempts:1\n",
                                 "10.9.9.9 inhosts.test\n", both);
  coro_ip ip[8];
  struct sockaddr_storage ss;
  socklen_t sl = 99;
  CHECK_EQ(coro_lookup_ip_server(r, "a.test", AF_UNSPEC, ip, 8, in_s(10), &ss,
                                 &sl),
           3);
  CHECK_EQ(sl, sizeof(struct sockaddr_in));
  CHECK_EQ(port_of(&ss), f->port);
  CHECK_EQ(coro_lookup_ip_server(r, "a.test", AF_INET, ip, 8, in_s(10), &ss,
                                 &sl),
           2);
  CHECK_EQ(sl, 0); /* the cache */
  CHECK_EQ(coro_lookup_ip_server(r, "inhosts.test", AF_INET, ip, 8, in_s(10),
                                 &ss, &sl),
           1);
  CHECK_EQ(sl, 0);
  CHECK_EQ(coro_lookup_ip_server(r, "10.1.1.1", AF_INET, ip, 8, in_s(10), &ss,
                                 &sl),
           1);
  CHECK_EQ(sl, 0);
  /* An error: the server that said so. */
  CHECK_EQ(coro_lookup_ip_server(r, "nx.test", AF_INET, ip, 8, in_s(10), &ss,
                                 &sl),
           -CORO_ENXDOMAIN);
  CHECK_EQ(sl, sizeof(struct sockaddr_in));
  CHECK_EQ(port_of(&ss), f->port);
  /* The first silent: the second answered. */
  f->silent = 1;
  CHECK_EQ(coro_lookup_ip_server(r, "v4only.test", AF_INET, ip, 8, in_s(10),
                                 &ss, &sl),
           1);
  CHECK_EQ(port_of(&ss), g->port);
  /* Both silent: a timeout names the last one asked. */
  g->silent = 1;
  CHECK_EQ(coro_lookup_ip_server(r, "www.test", AF_INET, ip, 8, in_s(10), &ss,
                                 &sl),
           -ETIMEDOUT);
  CHECK_EQ(sl, sizeof(struct sockaddr_in));
  CHECK_EQ(port_of(&ss), g->port);
  /* NULL out fields are fine. */
  f->silent = g->silent = 0;
  CHECK_EQ(coro_lookup_ip_server(r, "a.test", AF_INET6, ip, 8, in_s(10), NULL,
                                 NULL),
           1);
  resolver_done(r);
  fake_stop(f);
  fake_stop(g);
  return NULL;
}

/* The UDP pool: one socket (one source port) for many questions, a fresh
 * one after udp_max_queries, questions of concurrent lookups sharing a
 * socket and each getting its own answer, ECONNREFUSED moving on to the
 * next server at once. */
TEST(udp_pool) {
  (void)unused_;
  fake *f = fake_start();
  f->wild = 1;
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[4];
  char name[64];
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof name, "h%d.wild.test", i);
    CHECK_EQ(coro_lookup_ip(r, name, AF_INET, ip, 4, in_s(10)), 1);
    CHECK_EQ(ip[0].addr[3], i);
  }
  CHECK_EQ(f->udp_queries, 10);
  CHECK_EQ(f->nports, 1);
  CHECK_EQ(coro__dns_udp_count(r), 1);
  resolver_done(r);
  CHECK_EQ(f->nports, 1);

  /* At most 3 questions per socket: 10 questions, 4 ports. */
  f->nports = 0;
  files("options timeout:1 attempts:2\n", "");
  coro_resolver_opts o = {.resolv_conf = conf_path, .hosts = hosts_path,
                          .servers = f->addr, .udp_max_queries = 3};
  CHECK_EQ(coro_resolver_new(&r, &o), 0);
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof name, "h%d.wild.test", 100 + i);
    CHECK_EQ(coro_lookup_ip(r, name, AF_INET, ip, 4, in_s(10)), 1);
  }
  CHECK_EQ(f->nports, 4);
  CHECK_LE(coro__dns_udp_count(r), 1);
  /* Concurrent lookups: the server holds 6 questions, so they are all
   * on the sockets at once (up to 3 on one), then answers them; each
   * gets its own answer through whichever query reads its socket. */
  f->hold = 6;
  f->hold_once = 1;
  static race_arg ra[6];
  static char names[6][32];
  coro *co[6];
  for (int i = 0; i < 6; i++) {
    snprintf(names[i], sizeof names[i], "h%d.wild.test", 200 + i);
    ra[i] = (race_arg){r, names[i], 0};
    CHECK_EQ(coro_spawn(&co[i], race_lookup, &ra[i], NULL), 0);
  }
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(coro_join(co[i], -1, NULL), 0);
    CHECK_EQ(ra[i].rc, 1);
    CHECK_EQ(coro_lookup_ip(r, names[i], AF_INET, ip, 4, 0), 1);
    CHECK_EQ(ip[0].addr[3], 200 + i);
  }
  CHECK_U64_EQ(stats_of(r).timeouts, 0);
  CHECK_EQ(coro_resolver_free(r), 0);

  /* A server that refuses the datagram (nothing on that port): the next
   * one is asked at once, not after the 5 s timeout. */
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int closed = udp_socket(&a);
  socklen_t al = sizeof a;
  CHECK_EQ(getsockname(closed, (struct sockaddr *)&a, &al), 0);
  close(closed);
  char servers[128];
  snprintf(servers, sizeof servers, "127.0.0.1:%u,%s", ntohs(a.sin_port),
           f->addr);
  r = resolver_on(f, "options timeout:5 attempts:1\n", NULL, servers);
  int q = f->queries;
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET, ip, 4, in_s(30)), 1);
  CHECK_EQ(f->queries, q + 1);
  coro_resolver_stats s = stats_of(r);
  CHECK_U64_EQ(s.timeouts, 0);
  CHECK_U64_EQ(s.retries, 1);
  resolver_done(r);
  /* Only that server: its error. */
  snprintf(servers, sizeof servers, "127.0.0.1:%u", ntohs(a.sin_port));
  r = resolver_on(f, "options timeout:5 attempts:1\n", NULL, servers);
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET, ip, 4, in_s(30)),
           -ECONNREFUSED);
  CHECK_U64_EQ(stats_of(r).timeouts, 0);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

/* A query is sent from the resolver's own buffer (dns_udp.c send_hot);
 * when that send cannot go at once (EAGAIN, EINTR: injected here) the
 * query waits and goes from its own copy. Two lookups at once, the first
 * one's send refused twice (the buffer's try and coro_send's first): it
 * waits for POLLOUT while the second lookup fills the shared buffer with
 * its own question, and must still send its own, or no answer would come. */
static void *send_wait_one(void *arg) {
  coro_resolver *r = arg;
  coro_ip ip[4];
  CHECK_EQ(coro_lookup_ip(r, "a.test", AF_INET, ip, 4, in_s(10)), 2);
  check_ip(&ip[0], "192.0.2.1");
  return NULL;
}
static void *send_wait_two(void *arg) {
  coro_resolver *r = arg;
  coro_ip ip[4];
  CHECK_EQ(coro_lookup_ip(r, "v4only.test", AF_INET, ip, 4, in_s(10)), 1);
  check_ip(&ip[0], "192.0.2.4");
  return NULL;
}
TEST(send_wait) {
  (void)unused_;
  fake *f = fake_start();
  coro_resolver *r = resolver_on(f, NULL, NULL, NULL);
  coro_ip ip[4];
  /* One refused send: sent again at once from the query's copy. */
  int errs[] = {EAGAIN, EINTR};
  const char *names[] = {"host.sub.test", "host.other.test"};
  for (int k = 0; k < 2; k++) {
    int q = f->queries;
    coro__fault_arm_at(CORO__FP_BIT(CORO__FP_WRITE), 1, 1, errs[k]);
    CHECK_EQ(coro_lookup_ip(r, names[k], AF_INET, ip, 4, in_s(10)), 1);
    CHECK_EQ(coro__fault_fired(NULL), CORO__FP_WRITE);
    coro__fault_arm(0, 0);
    CHECK_EQ(f->queries, q + 1);
  }
  /* Two refused: a wait, and another query's send in between. */
  int q = f->queries;
  coro__fault_arm_at(CORO__FP_BIT(CORO__FP_WRITE), 1, 2, EAGAIN);
  coro *a, *b;
  CHECK_EQ(coro_spawn(&a, send_wait_one, r, NULL), 0);
  CHECK_EQ(coro_spawn(&b, send_wait_two, r, NULL), 0);
  CHECK_EQ(coro_join(a, -1, NULL), 0);
  CHECK_EQ(coro_join(b, -1, NULL), 0);
  CHECK_EQ(coro__fault_fired(NULL), CORO__FP_WRITE);
  coro__fault_arm(0, 0);
  CHECK_EQ(f->queries, q + 2);
  CHECK_U64_EQ(stats_of(r).timeouts, 0);
  CHECK_U64_EQ(stats_of(r).retries, 0);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

/* At most udp_busy_max UDP questions in flight (dns_udp.c slot_take):
 * more wait for a slot in order, until their deadline or cancellation,
 * and send nothing meanwhile. */
typedef struct slot_arg {
  coro_resolver *r;
  int i;
  double secs; /* the lookup's deadline, from now */
  int rc;
  coro_ip ip;
} slot_arg;

static void *slot_one(void *arg) {
  slot_arg *a = arg;
  char name[32];
  snprintf(name, sizeof name, "h%d.wild.test", a->i);
  a->rc = coro_lookup_ip(a->r, name, AF_INET, &a->ip, 1, in_s(a->secs));
  return NULL;
}

TEST(inflight) {
  (void)unused_;
  fake *f = fake_start();
  f->wild = 1;
  coro_resolver *r = resolver_on(f, "options timeout:30 attempts:1\n", NULL,
                                 NULL);
  CHECK_EQ(r->udp_busy_max, CORO__DNS_UDP_INFLIGHT);
  r->udp_busy_max = 2;
  /* Six at once: two in flight at a time, all answered. On the heap: a
   * SHARED stack's bytes move while it is suspended. */
  slot_arg *a = calloc(6, sizeof *a);
  coro *co[6];
  for (int i = 0; i < 6; i++) {
    a[i] = (slot_arg){.r = r, .i = i + 1, .secs = 30};
    CHECK_EQ(coro_spawn(&co[i], slot_one, &a[i], NULL), 0);
  }
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(coro_join(co[i], -1, NULL), 0);
    CHECK_EQ(a[i].rc, 1);
    uint8_t want[4] = {10, 0, 0, (uint8_t)(i + 1)};
    CHECK_EQ(memcmp(a[i].ip.addr, want, 4), 0);
  }
  CHECK_EQ(f->queries, 6);
  CHECK_EQ(r->udp_busy_peak, 2);
  CHECK_EQ(r->udp_busy, 0);
  CHECK_U64_EQ(stats_of(r).timeouts, 0);

  /* One slot, held by a question the server does not answer: a lookup
   * waiting for the slot times out at its deadline, another is cancelled,
   * neither sends anything. */
  r->udp_busy_max = 1;
  f->silent = 1;
  a[0] = (slot_arg){.r = r, .i = 11, .secs = 60};
  CHECK_EQ(coro_spawn(&co[0], slot_one, &a[0], NULL), 0);
  int64_t until = in_s(20);
  while (f->queries < 7 && coro_now() < until)
    coro_yield();
  CHECK_EQ(f->queries, 7);
  a[1] = (slot_arg){.r = r, .i = 12, .secs = 0.05};
  a[2] = (slot_arg){.r = r, .i = 13, .secs = 60};
  CHECK_EQ(coro_spawn(&co[1], slot_one, &a[1], NULL), 0);
  CHECK_EQ(coro_spawn(&co[2], slot_one, &a[2], NULL), 0);
  CHECK_EQ(coro_join(co[1], -1, NULL), 0);
  CHECK_EQ(a[1].rc, -ETIMEDOUT);
  CHECK(!coro__waitq_empty(&r->udp_slotq)); /* the third waits */
  CHECK_EQ(coro_cancel(co[2]), 0);
  CHECK_EQ(coro_join(co[2], -1, NULL), 0);
  CHECK_EQ(a[2].rc, -ECANCELED);
  CHECK_EQ(f->queries, 7);
  CHECK_EQ(r->udp_busy, 1);
  CHECK_EQ(coro_cancel(co[0]), 0);
  CHECK_EQ(coro_join(co[0], -1, NULL), 0);
  CHECK_EQ(a[0].rc, -ECANCELED);
  CHECK_EQ(r->udp_busy, 0);
  CHECK(coro__waitq_empty(&r->udp_slotq));
  /* The slot is free again. */
  f->silent = 0;
  a[3] = (slot_arg){.r = r, .i = 14, .secs = 30};
  CHECK_EQ(coro_spawn(&co[3], slot_one, &a[3], NULL), 0);
  CHECK_EQ(coro_join(co[3], -1, NULL), 0);
  CHECK_EQ(a[3].rc, 1);
  free(a);
  resolver_done(r);
  fake_stop(f);
  return NULL;
}

static const testing_case tests[] = {
    {"a_only", a_only, 0},
    {"aaaa_only", aaaa_only, 0},
    {"both", both, 0},
    {"single_request", single_request, 0},
    {"cname", cname, 0},
    {"local", local, 0},
    {"search", search, 0},
    {"rcodes", rcodes, 0},
    {"failover", failover, 0},
    {"spoof", spoof, 0},
    {"tcp", tcp, 0},
    {"edns", edns, 0},
    {"reload", reload, 0},
    {"ttl", ttl, 0},
    {"many", many, 120},
    {"cancel", cancel, 0},
    {"bad_names", bad_names, 0},
    {"query_types", query_types, 0},
    {"gai", gai, 0},
    {"fault_sweep", fault_sweep, 120},
    {"rotate", rotate, 0},
    {"env_files", env_files, 0},
    {"default_resolver", default_resolver, 0},
    {"misc", misc, 0},
    {"cname_race", cname_race, 0},
    {"abandoned_leader", abandoned_leader, 0},
    {"canonname", canonname, 0},
    {"lookup_server", lookup_server, 0},
    {"udp_pool", udp_pool, 0},
    {"send_wait", send_wait, 0},
    {"inflight", inflight, 0},
};
static const testing_param params[] = {{"guarded", CORO_STACK_GUARDED},
                                       {"shared", CORO_STACK_SHARED}};

TESTING_MAIN(tests, params)
