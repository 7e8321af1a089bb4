/* resolver_internal.h - the query engine's internal contract: the resolver
 * record (resolver.c), the transport that asks the servers one question
 * (dns_transport.c) and the lookups above them (dns_lookup.c; on them,
 * coro_dns_query in dns_answer.c and coro_getaddrinfo in dns_gai.c). The public
 * calls are coro.h's "Names"; the codec, the configuration and the cache
 * below are dns_internal.h's.
 *
 * A resolver belongs to one loop and is used only on its thread: nothing
 * here locks. Every lookup in flight counts in busy, so coro_resolver_free
 * can refuse while a coroutine still uses the record.
 */
#ifndef CORO_RESOLVER_INTERNAL_H
#define CORO_RESOLVER_INTERNAL_H

#include "coro_internal.h"
#include "dns_internal.h"

#include <time.h>

/* Servers of the "servers" override: as many as resolv.conf allows. */
#define CORO__RES_MAX_SERVERS CORO__DNS_MAX_SERVERS

typedef struct coro__dns_udp_sock coro__dns_udp_sock;

struct coro_resolver {
  coro_loop *loop;
  coro__dns_conf conf;
  coro__dns_cache *cache; /* NULL: cache_entries was (size_t)-1 */
  /* The servers override (coro_resolver_opts.servers); n 0: resolv.conf's. */
  struct sockaddr_storage servers[CORO__RES_MAX_SERVERS];
  socklen_t server_len[CORO__RES_MAX_SERVERS];
  int nservers;
  int busy;          /* lookups and helper coroutines using the record */
  unsigned rot;      /* options rotate: the next first server */
  int64_t skew_ns;   /* test hook: added to the clock (coro__resolver_skew) */
  /* The IPv6 route check of the ordering rule, kept as long as the files. */
  int v6_route;      /* -1: not checked yet, 0, 1 */
  int64_t v6_checked_ns;
  /* Query ids: getrandom's bytes, used two at a time. */
  uint8_t rnd[256];
  size_t rnd_left;
  uint64_t lookups, queries_udp, queries_tcp, timeouts, retries, ignored;
  /* The UDP sockets (dns_udp.c): the current one per server slot, all. */
  coro__dns_udp_sock *udp_cur[CORO__RES_MAX_SERVERS];
  coro__dns_udp_sock *udp_all;
  uint8_t *udp_rx;  /* the readers' buffer, CORO__DNS_UDP_RX bytes */
  uint8_t *udp_tx;  /* the senders' buffer, CORO__DNS_QUERY_MAX bytes */
  uint32_t udp_max; /* queries per socket */
  /* UDP questions in flight (dns_udp.c: open .. close), at most
   * udp_busy_max (CORO__DNS_UDP_INFLIGHT; tests lower it); more wait in
   * udp_slotq. udp_busy_peak: the most seen at once (tests). */
  uint32_t udp_busy, udp_busy_max, udp_busy_peak;
  coro__waitq udp_slotq;
};

/* ---- resolver.c ------------------------------------------------------- */

/* r itself, or the loop's default resolver for NULL (made on first use).
 * NULL with *err set (-EPERM: no loop on this thread; -ENOMEM; -EINVAL
 * from the loop's options). */
coro_resolver *coro__resolver_get(coro_resolver *r, int *err);

/* The resolver's clock, for TTLs and the reload check: CLOCK_MONOTONIC
 * read coarsely (the last tick's value: no hardware counter read, a few
 * ns where a fine read costs 20 to 100 ns under a hypervisor; a tick
 * is at most 4 ms off, nothing against TTLs in seconds), plus the test
 * skew. Deadlines stay on coro_now. */
static inline int64_t coro__resolver_now(const coro_resolver *r) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + r->skew_ns;
}

/* Start of every lookup: the reload check (clearing the cache when a file
 * was re-read) at the time now. */
void coro__resolver_refresh(coro_resolver *r, int64_t now);

/* A fresh random query id. */
uint16_t coro__resolver_id(coro_resolver *r);

/* 1 when the machine has a route to IPv6 destinations (checked with a
 * UDP connect to a global address, which sends nothing; kept until the
 * next reload check), else 0. */
int coro__resolver_v6_route(coro_resolver *r, int64_t now);

/* Test hook: move the resolver's clock (reload checks, cache TTLs) by ns. */
void coro__resolver_skew(coro_resolver *r, int64_t ns);

/* ---- dns_transport.c -------------------------------------------------- */

/* An answer as received: the message, its decoding, the server. */
typedef struct coro__dns_reply {
  uint8_t *msg;   /* malloc'd, len bytes */
  size_t len;
  void *arena;    /* malloc'd decode arena of m */
  coro__dns_msg m;
  struct sockaddr_storage from;
  socklen_t from_len;
} coro__dns_reply;

/* Ask the servers (the override, else resolv.conf's; in order, or rotated
 * with options rotate) the question (name, type) by UDP, with EDNS0 unless
 * a server answered FORMERR to it, or by TCP with options use-vc or when
 * the UDP answer is truncated; timeout and attempts of resolv.conf, all
 * bounded by deadline. Only an answer from the server's address and port,
 * with the id and question sent, counts; others are ignored (stats) and
 * the wait goes on. Returns 0 with *out holding a NOERROR or NXDOMAIN
 * answer (free it with coro__dns_reply_free), or -CORO_ESERVFAIL (some
 * server failed, none answered), -CORO_EREFUSED (all refused),
 * -ETIMEDOUT, -ECANCELED, -EBADMSG (only malformed answers), -ENOMEM,
 * -errno of the socket calls; then out->from is the last server asked
 * (from_len 0: none was). */
int coro__dns_exchange(coro_resolver *r, const char *name, uint16_t type,
                       coro__dns_reply *out, int64_t deadline);
void coro__dns_reply_free(coro__dns_reply *rep);

/* ---- dns_udp.c ------------------------------------------------------- */

/* One question waiting on a pooled socket, from coro__dns_udp_open to
 * coro__dns_udp_close. Other queries' readers write to it: it must not
 * live on a coroutine stack (a shared stack moves while parked); it is
 * malloc'd (coro__dns_udp_free frees those left by abandoned lookups). */
typedef struct coro__dns_udp_q {
  coro__dns_udp_sock *s;
  struct coro__dns_udp_q *prev, *next;
  coro__waitq wq;   /* where it parks while another query reads */
  uint16_t id;
  uint8_t *msg;     /* the last datagram with our id (malloc'd, len
                       bytes): take it (set NULL) or _close frees it */
  size_t len;
  int got;          /* 1: msg is new, not yet returned by _recv */
  int err;          /* < 0: the socket failed (ECONNREFUSED, ...) */
} coro__dns_udp_q;

/* The largest datagram read (we announce 1232; a larger one is cut and
 * then fails to decode, which ignores it). */
#define CORO__DNS_UDP_RX 4096

/* The most UDP questions a resolver has in flight at once; more wait for
 * a slot, in order. Why: a burst (10,000 coroutines asking at once) sent
 * all at once overflows the server's receive buffer (NSD's is 1 MiB,
 * about 1,000 datagrams), and every question lost costs a timeout (5 s by
 * default) and a retry burst that overflows it again. 512 keeps a local
 * server's queue short and still fills a path of 20 ms at 25,000
 * questions a second. */
#define CORO__DNS_UDP_INFLIGHT 512

/* The queries per socket for the option's value (0: the default, 100). */
uint32_t coro__dns_udp_max(uint32_t opt);
/* Register q on the current socket of server slot si (address sa), made
 * and connected when there is none, it is full or its server changed,
 * after waiting until deadline for one of the resolver's in-flight slots
 * (CORO__DNS_UDP_INFLIGHT). 0, or -ETIMEDOUT, -ECANCELED, -ENOMEM, -errno
 * of socket/connect (q not registered, no slot held). */
int coro__dns_udp_open(coro_resolver *r, int si, const struct sockaddr *sa,
                       socklen_t salen, coro__dns_udp_q *q, int64_t deadline);
/* 1 when another query on q's socket waits for an answer with id. */
int coro__dns_udp_id_taken(const coro__dns_udp_q *q, uint16_t id);
/* Send the query msg with id. 0 or -errno. */
int coro__dns_udp_send(coro_resolver *r, coro__dns_udp_q *q, const uint8_t *msg,
                       size_t len, uint16_t id, int64_t deadline);
/* Wait for the next datagram from the server with q's id: its length
 * (the bytes in q->msg), or -ETIMEDOUT, -ECANCELED, -ECONNREFUSED,
 * -ENOMEM, -errno. */
ssize_t coro__dns_udp_recv(coro_resolver *r, coro__dns_udp_q *q,
                           int64_t deadline);
/* Unregister q and free its slot (always, after a successful open). */
void coro__dns_udp_close(coro_resolver *r, coro__dns_udp_q *q);
/* Close every socket and free the records of queries still registered,
 * which only lookups abandoned by coro_loop_close leave (the resolver
 * goes away). */
void coro__dns_udp_free(coro_resolver *r);
/* Open sockets (tests). */
int coro__dns_udp_count(const coro_resolver *r);

/* ---- dns_lookup.c ----------------------------------------------------- */

/* An answer as the cache keeps it (a blob): a header, the addresses (A
 * and AAAA only), the end of the CNAME chain, the final answer message. */
typedef struct coro__dns_blob_hdr {
  uint32_t count;    /* records of the type owned by the chain's end */
  uint32_t naddr;    /* coro_ip entries after the header (A, AAAA) */
  uint32_t cname_len; /* bytes of the chain's end, NUL included */
  uint32_t msg_len;  /* bytes of the message, after the name */
  uint32_t ttl;      /* min TTL of the records used */
  uint32_t pad;
} coro__dns_blob_hdr;

/* One question's answer, from the cache (pointing into it: use it before
 * the next call on the cache, so before any wait) or fresh (owned). */
typedef struct coro__dns_view {
  coro__dns_blob_hdr h;
  const coro_ip *addrs;  /* h.naddr, maybe unaligned: read with memcpy */
  const char *cname;
  const uint8_t *msg;
  void *owned;           /* the blob when fresh: coro__dns_view_done frees */
  int from_cache;
  struct sockaddr_storage server; /* the server asked last (also on */
  socklen_t server_len;           /* an error); 0: none (the cache) */
} coro__dns_view;

/* Answer the question (name, type) through the cache and the single
 * flight (CORO_DNS_NOCACHE: neither), following CNAME chains and asking
 * again for the chain's end when the server left it out. Returns the
 * record count (> 0) with *v set, or -CORO_ENXDOMAIN, -ENODATA and the
 * errors of coro__dns_exchange. */
int coro__dns_resolve(coro_resolver *r, const char *name, uint16_t type,
                      unsigned flags, coro__dns_view *v, int64_t deadline);
void coro__dns_view_done(coro__dns_view *v);

/* coro_lookup_ip with the canonical name (the chain's end, or the hosts
 * line's first name) into canon[0..CORO__DNS_NAME_BUF) when not NULL, and
 * the server asked last into *server, *server_len (0: none) when not
 * NULL. */
int coro__lookup_ip(coro_resolver *r, const char *name, int family,
                    coro_ip *out, size_t cap, int64_t deadline, char *canon,
                    struct sockaddr_storage *server, socklen_t *server_len);

/* A numeric address (IPv4 dotted quad, IPv6 with an optional %zone) of
 * family (or AF_UNSPEC) into *out: 1; -ENODATA for the other family;
 * -CORO_ENXDOMAIN when name is not numeric. */
int coro__lookup_ip_numeric(const char *name, int family, coro_ip *out);

/* 1 when the error is "this name has nothing". */
static inline int coro__dns_is_negative(int rc) {
  return rc == -CORO_ENXDOMAIN || rc == -ENODATA;
}

/* How telling a failed name's error is, for the search list's result. */
static inline int coro__dns_search_rank(int rc) {
  return rc == -ENODATA                                   ? 3
         : rc == -CORO_ESERVFAIL || rc == -CORO_EREFUSED ? 2
                                                          : 1;
}

/* The search list's rule after one name's result rc: 1 to stop with *best
 * = rc (an answer, or an error that ends the search: a timeout, a cancel,
 * no memory, a socket error), 0 to try the next name. When no name
 * answers, *best (start it at -CORO_ENXDOMAIN) is -ENODATA (some name
 * exists) over a server's failure over -CORO_ENXDOMAIN, as glibc's
 * res_search ranks them; a SERVFAIL or REFUSED of one name does not stop
 * the search, as with Go's resolver (an authoritative server refuses the
 * names of a search domain it does not serve). */
static inline int coro__dns_search_step(int rc, int *best) {
  int failed = rc == -CORO_ESERVFAIL || rc == -CORO_EREFUSED;
  if (rc > 0 || !(coro__dns_is_negative(rc) || failed)) {
    *best = rc;
    return 1;
  }
  if (coro__dns_search_rank(rc) > coro__dns_search_rank(*best))
    *best = rc;
  return 0;
}

#endif /* CORO_RESOLVER_INTERNAL_H */
