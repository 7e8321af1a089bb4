/* dns_internal.h - the resolver's foundation, below the loop: the DNS message
 * codec (dns_msg.c) and the system configuration (dns_conf.c). Nothing here
 * touches a socket or waits on the loop; the codec allocates nothing, and
 * only coro__dns_conf_load and coro__dns_conf_refresh read files (small
 * local ones, at most every 5 s). The query engine (the state machine, the
 * transport, the cache) is built on these calls. Internal names start with
 * coro__dns_. The public API (coro.h, "Names") is resolver.c's.
 *
 * Conventions, as everywhere in the engine: functions return 0 or a positive
 * count/length, or a negative errno. The codec's errors:
 *   -EINVAL        a name that is not a host name we will send (empty label,
 *                  a byte other than a letter, digit, '-' or '_', non-ASCII
 *                  without IDNA)
 *   -ENAMETOOLONG  a name over 253 characters or a label over 63
 *   -EBADMSG       a malformed message (see coro__dns_decode)
 *   -EMSGSIZE      the caller's buffer or arena is too small
 *
 * Names in text form (what callers pass and what the decoder produces) are
 * without the trailing dot, except the root, which is ".". A received label
 * holding a byte that is not printable ASCII, or a '.' or '\', is written as
 * dig writes it (\DDD, \., \\), so a text name maps back to one wire name and
 * plain ASCII comparison (coro__dns_name_eq, case-insensitive) is exact.
 */
#ifndef CORO_DNS_INTERNAL_H
#define CORO_DNS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* ---- the message codec (dns_msg.c) ------------------------------------ */

#define CORO__DNS_HDR_LEN 12
#define CORO__DNS_NAME_WIRE_MAX 255   /* wire bytes of a name, root included */
#define CORO__DNS_NAME_TEXT_MAX 253   /* characters of an unescaped name */
#define CORO__DNS_LABEL_MAX 63
/* A decoded name's text, every byte escaped (\DDD), plus the NUL. */
#define CORO__DNS_NAME_BUF (4 * CORO__DNS_NAME_WIRE_MAX + 1)
/* Room for any query coro__dns_encode_query writes. */
#define CORO__DNS_QUERY_MAX (CORO__DNS_HDR_LEN + CORO__DNS_NAME_WIRE_MAX + 4 + 11)
/* The EDNS0 UDP payload we announce: the DNS flag day 2020 value, which
 * fits in one unfragmented IPv6 packet on any sane path. */
#define CORO__DNS_EDNS_PAYLOAD 1232
/* Bounds of the decoder: compression jumps per name, CNAMEs followed. */
#define CORO__DNS_MAX_JUMPS 64
#define CORO__DNS_MAX_CNAMES 16

enum {
  CORO__DNS_T_A = 1,
  CORO__DNS_T_NS = 2,
  CORO__DNS_T_CNAME = 5,
  CORO__DNS_T_SOA = 6,
  CORO__DNS_T_PTR = 12,
  CORO__DNS_T_MX = 15,
  CORO__DNS_T_TXT = 16,
  CORO__DNS_T_AAAA = 28,
  CORO__DNS_T_OPT = 41,
  CORO__DNS_T_ANY = 255,
};
enum { CORO__DNS_C_IN = 1 };

/* Response codes; those above 15 need the OPT record's upper 8 bits. */
enum {
  CORO__DNS_R_NOERROR = 0,
  CORO__DNS_R_FORMERR = 1,
  CORO__DNS_R_SERVFAIL = 2,
  CORO__DNS_R_NXDOMAIN = 3,
  CORO__DNS_R_NOTIMP = 4,
  CORO__DNS_R_REFUSED = 5,
  CORO__DNS_R_BADVERS = 16,
};

/* Header flag bits of the 16-bit flags word (RFC 1035 4.1.1, RFC 4035). */
enum {
  CORO__DNS_F_QR = 0x8000,
  CORO__DNS_F_AA = 0x0400,
  CORO__DNS_F_TC = 0x0200,
  CORO__DNS_F_RD = 0x0100,
  CORO__DNS_F_RA = 0x0080,
  CORO__DNS_F_AD = 0x0020,
  CORO__DNS_F_CD = 0x0010,
};

/* Options of coro__dns_encode_query. */
enum {
  CORO__DNS_Q_RD = 1,   /* recursion desired */
  CORO__DNS_Q_EDNS = 2, /* add an OPT record announcing 1232 bytes */
};

/* Sections of a record. */
enum { CORO__DNS_S_ANSWER = 0, CORO__DNS_S_AUTHORITY = 1, CORO__DNS_S_ADDITIONAL = 2 };

/* One resource record. Every pointer points into the decode arena. */
typedef struct coro__dns_rr {
  const char *name; /* owner, text form */
  uint16_t type;
  uint16_t rclass;  /* for OPT: the sender's UDP payload size */
  uint32_t ttl;     /* for OPT: extended rcode, version, flags */
  uint8_t section;  /* CORO__DNS_S_* */
  uint16_t rdlen;   /* rdata length on the wire */
  union {
    uint8_t a[4];
    uint8_t aaaa[16];
    const char *target; /* CNAME, NS, PTR */
    struct {
      uint16_t pref;
      const char *host;
    } mx;
    struct {
      const char *mname, *rname;
      uint32_t serial, refresh, retry, expire, minimum;
    } soa;
    /* TXT: the character-strings as on the wire (a length byte, then that
     * many bytes, repeated), checked to fill exactly len bytes. */
    struct {
      const uint8_t *data;
      uint16_t len;
    } txt;
    /* OPT and every type not listed above: the rdata bytes, copied. */
    struct {
      const uint8_t *data;
      uint16_t len;
    } raw;
  } u;
} coro__dns_rr;

/* A decoded message. The question is the first one (qdcount may be 0 in a
 * FORMERR answer; then qname is NULL). */
typedef struct coro__dns_msg {
  uint16_t id;
  uint16_t flags;   /* CORO__DNS_F_* bits, opcode, rcode as received */
  uint16_t rcode;   /* 12 bits: header rcode | OPT extended rcode << 4 */
  uint8_t opcode;
  uint16_t qdcount, ancount, nscount, arcount;
  const char *qname;
  uint16_t qtype, qclass;
  coro__dns_rr *rr; /* ancount + nscount + arcount records, in order */
  size_t nrr;
  /* EDNS0 (RFC 6891): has_opt is 1 when an OPT record was present. */
  uint8_t has_opt;
  uint8_t edns_version;
  uint16_t edns_udp;   /* the server's payload size */
  uint16_t edns_flags; /* DO bit is 0x8000 */
} coro__dns_msg;

/* An address from an answer or a hosts file. */
typedef struct coro__dns_addr {
  int family;       /* AF_INET or AF_INET6 */
  uint32_t scope;   /* IPv6 scope id (hosts, nameservers); 0 from answers */
  uint8_t addr[16]; /* 4 or 16 bytes in network order */
} coro__dns_addr;

/* Check a text name and write its wire form (labels, root byte) to
 * out[0..cap). A trailing dot is allowed; "." is the root. Returns the wire
 * length, -EINVAL, -ENAMETOOLONG or -EMSGSIZE (cap too small). */
int coro__dns_encode_name(const char *name, uint8_t *out, size_t cap);

/* Write a query for (name, type, class IN) with id and the CORO__DNS_Q_*
 * options to buf[0..cap); CORO__DNS_QUERY_MAX always suffices. Returns the
 * message length or the errors of coro__dns_encode_name; nothing is
 * written to be sent when it fails. */
int coro__dns_encode_query(uint8_t *buf, size_t cap, uint16_t id,
                           const char *name, uint16_t type, unsigned opts);

/* Decode msg[0..len) into *m, with every record, name and rdata stored in
 * arena[0..arena_len) (the arena is self-contained: reusing msg later
 * changes nothing). The arena must be aligned as malloc aligns (-EINVAL
 * if not aligned for coro__dns_rr). Returns the number of arena bytes used
 * (so a cache can decode again into an allocation of exactly that size),
 * -EMSGSIZE when the arena is too small, or -EBADMSG when the message is
 * malformed:
 * shorter than a header; counts that cannot fit in its length; a label
 * over 63 or a reserved label type; a name over 255 bytes; a compression
 * pointer that does not point strictly before every byte of the name read
 * so far (loops and forward pointers), more than CORO__DNS_MAX_JUMPS
 * jumps, anything past the end; rdata not filling its rdlength exactly for
 * A, AAAA, CNAME, NS, PTR, MX, TXT, SOA; an OPT record outside the
 * additional section, not owned by the root, or twice. Bytes after the
 * last record are ignored (as resolvers do). */
int coro__dns_decode(const uint8_t *msg, size_t len, coro__dns_msg *m,
                     void *arena, size_t arena_len);

/* 1 when the two text names are equal ignoring ASCII case and one
 * trailing dot each, else 0. */
int coro__dns_name_eq(const char *a, const char *b);

/* 1 when m answers the question we sent: a response (QR) with our id, one
 * question with qname (case-insensitively), qtype and class IN. */
int coro__dns_is_answer_to(const coro__dns_msg *m, uint16_t id,
                           const char *qname, uint16_t qtype);

/* Follow the CNAME chain from qname through m's answer section (at most
 * CORO__DNS_MAX_CNAMES links) and store the addresses of the final name
 * of type qtype (CORO__DNS_T_A, _AAAA, or 0 for both) into out[0..cap),
 * in answer order. *final (optional) gets the final name, *ttl (optional)
 * the minimum TTL over the CNAMEs followed and the addresses. Returns the
 * number of addresses (0: the chain's end has none here, e.g. NODATA or a
 * server that left the rest of the chain to us), -ELOOP for a CNAME loop
 * or a chain over the bound, or -EMSGSIZE when they exceed cap. */
int coro__dns_answer_addrs(const coro__dns_msg *m, const char *qname,
                           uint16_t qtype, coro__dns_addr *out, size_t cap,
                           const char **final, uint32_t *ttl);

/* RFC 2308 section 5: the TTL for caching a negative answer (NXDOMAIN or
 * NODATA), min(SOA record TTL, SOA minimum) of the first SOA of the
 * authority section, into *ttl. Returns 0, or -ENOENT when there is no
 * SOA (such answers are not cached). */
int coro__dns_negative_ttl(const coro__dns_msg *m, uint32_t *ttl);

/* Write the PTR query name of an address ("4.3.2.1.in-addr.arpa", the
 * nibble form under ip6.arpa) to out[0..cap). Returns its length,
 * -EAFNOSUPPORT or -EMSGSIZE. */
int coro__dns_reverse_name(const coro__dns_addr *a, char *out, size_t cap);

/* ---- the configuration (dns_conf.c) ----------------------------------- */

#define CORO__DNS_MAX_SERVERS 3  /* MAXNS of glibc */
#define CORO__DNS_MAX_SEARCH 8   /* glibc 2.26+ has no limit; Go neither */
#define CORO__DNS_MAX_NDOTS 15
#define CORO__DNS_MAX_TIMEOUT 30
#define CORO__DNS_MAX_ATTEMPTS 5
/* Candidates of coro__dns_candidates: the name alone plus each suffix. */
#define CORO__DNS_MAX_CANDIDATES (CORO__DNS_MAX_SEARCH + 1)
/* Seconds between two looks at the files' metadata. */
#define CORO__DNS_RECHECK_NS (5 * (int64_t)1000000000)

/* resolv.conf options (bits of coro__dns_conf.opts). */
enum {
  CORO__DNS_O_ROTATE = 1,
  CORO__DNS_O_SINGLE_REQUEST = 2,
  CORO__DNS_O_SINGLE_REQUEST_REOPEN = 4,
  CORO__DNS_O_EDNS0 = 8,
  CORO__DNS_O_USE_VC = 16,
};

/* The identity of a file as last seen: exists, inode, size, mtime. */
typedef struct coro__dns_stamp {
  int exists;
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns;
} coro__dns_stamp;

/* /etc/hosts, parsed: one entry per (name, address), sorted by name (then
 * by file order) for binary search. */
typedef struct coro__dns_host {
  const char *name;  /* lowercase, no trailing dot; in text */
  const char *canon; /* the first name of its line */
  uint32_t seq;      /* file order */
  coro__dns_addr addr;
} coro__dns_host;

/* Bits of the hosts names' Bloom filter (a power of two). */
#define CORO__DNS_HOSTS_BLOOM_BITS 4096

typedef struct coro__dns_hosts {
  char *text;           /* the file's bytes, cut into names */
  coro__dns_host *ent;
  size_t n;
  /* A Bloom filter of the names (two bits each): a name that misses it is
   * surely not in the file, so the lookup's warm path asks the cache
   * first and makes no copy or search of the hosts table. */
  uint64_t bloom[CORO__DNS_HOSTS_BLOOM_BITS / 64];
} coro__dns_hosts;

/* /etc/services (services(5)), parsed: one entry per (name or alias,
 * protocol), sorted by name then protocol for binary search. */
typedef struct coro__dns_service {
  const char *name;  /* in text */
  const char *proto; /* "tcp", "udp", ... in text */
  uint16_t port;
} coro__dns_service;

typedef struct coro__dns_services {
  char *text;
  coro__dns_service *ent;
  size_t n;
} coro__dns_services;

/* The whole resolver configuration. Fields are public to the resolver
 * files; set them only through the functions below. */
typedef struct coro__dns_conf {
  /* resolv.conf */
  struct sockaddr_storage servers[CORO__DNS_MAX_SERVERS]; /* port 53 */
  socklen_t server_len[CORO__DNS_MAX_SERVERS];
  int nservers;
  int default_servers; /* 1: no nameserver line, 127.0.0.1 and ::1 */
  char search[CORO__DNS_MAX_SEARCH][CORO__DNS_NAME_TEXT_MAX + 1];
  int nsearch;
  int ndots;     /* default 1, at most 15 */
  int timeout_s; /* default 5, 1..30 */
  int attempts;  /* default 2, 1..5 */
  unsigned opts; /* CORO__DNS_O_* */
  /* /etc/hosts */
  coro__dns_hosts hosts;
  /* the files and the reload check */
  char *resolv_path, *hosts_path; /* owned copies */
  coro__dns_stamp resolv_stamp, hosts_stamp;
  int64_t checked_ns; /* when the stamps were last taken */
  int loaded;         /* 0 until coro__dns_conf_load succeeded */
  /* /etc/services, read on first use (coro__dns_conf_services), then
   * re-read by the same check as the others. */
  coro__dns_services services;
  char *services_path;
  coro__dns_stamp services_stamp;
  int services_loaded;
} coro__dns_conf;

/* Parse resolv.conf text as glibc's res_init does (resolv.conf(5)) into
 * the resolv.conf fields of *c, which it resets first: comments (';' or
 * '#' first on a line), unknown keywords, unparsable addresses and options
 * are ignored; up to 3 nameservers (IPv4, IPv6, IPv6%scope with an
 * interface name or number); "domain" and "search" each replace the list,
 * the last line wins; options ndots:n (0..15), timeout:n (1..30),
 * attempts:n (1..5), rotate, single-request, single-request-reopen, edns0,
 * use-vc. With no nameserver, 127.0.0.1 and ::1 (as Go). With no search
 * or domain line, the search list is the domain part of hostname (the
 * caller's, or gethostname's when hostname is NULL), as glibc and Go. */
void coro__dns_conf_parse(coro__dns_conf *c, const char *text, size_t len,
                          const char *hostname);

/* Parse hosts text (hosts(5)) into *h, replacing nothing: h must be empty
 * or freed. Lines are "address name [alias...]", '#' to the end of the
 * line is a comment, lines whose address does not parse are skipped.
 * Returns 0 or -ENOMEM (then *h is empty). */
int coro__dns_hosts_parse(coro__dns_hosts *h, const char *text, size_t len);
void coro__dns_hosts_free(coro__dns_hosts *h);

/* The addresses of name (case-insensitive, trailing dot ignored) of family
 * (AF_INET, AF_INET6, or AF_UNSPEC for both) in file order, into
 * out[0..cap). Returns their number (0: not in the file) or -EMSGSIZE. */
int coro__dns_hosts_lookup(const coro__dns_hosts *h, const char *name,
                           int family, coro__dns_addr *out, size_t cap);

/* 0 when name (case-insensitive, trailing dot ignored) is surely not in
 * the file, 1 when it may be (a Bloom filter: no copy, no search). */
int coro__dns_hosts_maybe(const coro__dns_hosts *h, const char *name);

/* The canonical name (first name of the first line) of an address, or
 * NULL. */
const char *coro__dns_hosts_name(const coro__dns_hosts *h,
                                 const coro__dns_addr *a);

/* Parse services text ("name port/proto [alias...]", '#' starts a
 * comment; lines with a port over 65535 or no protocol are skipped) into
 * *s (empty or freed before). 0 or -ENOMEM (then *s is empty). */
int coro__dns_services_parse(coro__dns_services *s, const char *text,
                             size_t len);
void coro__dns_services_free(coro__dns_services *s);
/* The port of service name for proto ("tcp", "udp"), or -1. */
int coro__dns_services_lookup(const coro__dns_services *s, const char *name,
                              const char *proto);
/* The services table, read on the first call from $CORO_SERVICES, else
 * /etc/services (a missing file is empty), then kept and re-read only by
 * coro__dns_conf_refresh when the file changes. NULL: no memory. */
const coro__dns_services *coro__dns_conf_services(coro__dns_conf *c);

/* Load the configuration: the resolv.conf at resolv_path (NULL: the
 * environment variable CORO_RESOLV_CONF, else /etc/resolv.conf) and the
 * hosts file at hosts_path (NULL: CORO_HOSTS, else /etc/hosts). A missing
 * or unreadable file counts as empty (defaults). now_ns is the caller's
 * clock, used for the reload check. Returns 0 or -ENOMEM; *c must be
 * zeroed or freed before. */
int coro__dns_conf_load(coro__dns_conf *c, const char *resolv_path,
                        const char *hosts_path, int64_t now_ns);

/* The reload check: when CORO__DNS_RECHECK_NS have passed since the last
 * check, stat both files (and the services file once it was read) and
 * re-read those whose existence, inode, size or mtime changed. Returns 1
 * when resolv.conf or hosts was re-read (answers cached may be stale), 0
 * when not (or too soon), -ENOMEM (the old configuration stays). */
int coro__dns_conf_refresh(coro__dns_conf *c, int64_t now_ns);

void coro__dns_conf_free(coro__dns_conf *c);

/* 1 when name is "localhost" or ends in ".localhost" (RFC 6761 6.3,
 * case-insensitive, trailing dot allowed): answered 127.0.0.1 and ::1
 * without a query. */
int coro__dns_is_localhost(const char *name);

/* The names to query for name, in order, as resolv.conf(5) says: a name
 * with a trailing dot is tried as is only; one with at least ndots dots is
 * tried as is first, then with each search suffix; another one with each
 * suffix first, then as is. Combinations over 253 characters are skipped.
 * Writes them to out[0..cap) (text form, no trailing dot) and returns
 * their number: 0 for a localhost name (answer it locally), or the errors
 * of coro__dns_encode_name for a name that is not valid. */
int coro__dns_candidates(const coro__dns_conf *c, const char *name,
                         char (*out)[CORO__DNS_NAME_TEXT_MAX + 1], size_t cap);

/* ---- the cache (dns_cache.c) ------------------------------------------ */

/* A loop's answers by question (name case-insensitive, type), and the
 * questions in flight. The cache stores opaque blobs the query engine
 * makes (a decoded answer, an address list): it never parses DNS. Time is
 * the caller's (now_ns, CLOCK_MONOTONIC), so tests control expiry. One
 * cache belongs to one loop: no locks. c and name must not be NULL (a
 * NULL name is a miss for get, -EINVAL elsewhere).
 *
 * Names are compared as coro__dns_name_eq compares them: ASCII case and
 * one unescaped trailing dot ignored ("Example.COM." is "example.com").
 * A hit costs no allocation, no system call and no copy of the name.
 *
 * Entries live until min(ttl, max_ttl) (negative ones until
 * min(ttl, neg_ttl)): the caps are taken as given, the resolver applies
 * its defaults (coro_resolver_opts) before. An entry is gone from
 * now_ns >= stored now_ns + ttl. Beyond max_entries the least recently
 * put entry is evicted unless a get hit it since it was last considered
 * (a second chance, CLOCK: about LRU, with a hit that writes only to its
 * entry). A TTL of 0 is not cached (RFC 1035: use
 * once), and it removes the question's older entry, which must not
 * outlive the newer answer.
 *
 * Single flight: the first coroutine to miss a question becomes its
 * leader (coro__dns_flight_begin returns 1) and must end it with
 * coro__dns_flight_end whatever happens; the others asking the same
 * question meanwhile wait in coro__dns_flight_begin (returns 0 when the
 * leader ended: look again, the answer or its error is cached unless it
 * was uncacheable, e.g. a timeout, and then they query themselves, the
 * first of them leading a new flight). A waiter that times out or is
 * cancelled leaves the flight as if it had never joined.
 */
typedef struct coro__dns_cache coro__dns_cache;

/* max_entries 0: no caching (flights still shared). Returns 0, -EINVAL
 * (out NULL) or -ENOMEM. */
int coro__dns_cache_new(coro__dns_cache **out, size_t max_entries,
                        uint32_t max_ttl_s, uint32_t neg_ttl_s);
/* Frees everything; no flight may be in progress (-EBUSY, nothing freed).
 * NULL is a no-op. */
int coro__dns_cache_free(coro__dns_cache *c);
/* Frees everything, flights in progress included: for a loop closing
 * with lookups abandoned (their coroutines never run again, so nobody
 * ends or waits on those flights). NULL is a no-op. */
void coro__dns_cache_destroy(coro__dns_cache *c);

/* Look up (name, type). On a positive hit: returns 1, *blob and *len (may
 * be NULL) point to the stored bytes, valid until the next call on the
 * cache, *ttl_left (may be NULL) the seconds left, rounded up (>= 1). A
 * negative hit returns the stored error (< 0, e.g. -CORO_ENXDOMAIN,
 * -ENODATA) and sets *ttl_left alone. A miss or an expired entry (removed
 * then): 0. Hits count both kinds; misses count expired entries too. */
int coro__dns_cache_get(coro__dns_cache *c, const char *name, uint16_t type,
                        int64_t now_ns, const void **blob, size_t *len,
                        uint32_t *ttl_left);
/* Store a positive answer (a copy of blob[0..len)) for ttl seconds,
 * replacing the question's entry. The copy is aligned as malloc aligns
 * (it may hold a decode arena: coro__dns_decode) but lives at another
 * address than blob: it must hold no pointer into itself. Returns 0 (also
 * when nothing is stored: TTL 0, max_entries 0), -EINVAL, -ENAMETOOLONG
 * (a name over CORO__DNS_NAME_BUF - 1 bytes), -ENOMEM (the cache is as it
 * was, the older entry kept). */
int coro__dns_cache_put(coro__dns_cache *c, const char *name, uint16_t type,
                        const void *blob, size_t len, uint32_t ttl_s,
                        int64_t now_ns);
/* Store a negative answer: err < 0 (else -EINVAL), for ttl seconds (RFC
 * 2308). Returns as coro__dns_cache_put. */
int coro__dns_cache_put_neg(coro__dns_cache *c, const char *name,
                            uint16_t type, int err, uint32_t ttl_s,
                            int64_t now_ns);
/* Forget every entry (the configuration changed); flights go on. */
void coro__dns_cache_clear(coro__dns_cache *c);

/* Flights: 1 = caller leads; 0 = another led and has ended (counted in
 * stats.shared); or -ETIMEDOUT, -ECANCELED (deadline, cancel while
 * waiting; deadline 0 never waits), -EDEADLK (the caller leads this very
 * question, or the flight's leader waits, directly or through other
 * leaders, for a flight the caller leads: waiting would never end),
 * -EPERM (it would wait outside a spawned coroutine), -ENOMEM.
 * Leading needs no coroutine, waiting does; a cancelled caller still gets
 * to lead (its query's first wait reports the cancel). Must be called on
 * the cache's loop thread. */
int coro__dns_flight_begin(coro__dns_cache *c, const char *name,
                           uint16_t type, int64_t deadline);
/* End the question's flight and wake all its waiters; nothing when no
 * flight is in progress for it. Never blocks. */
void coro__dns_flight_end(coro__dns_cache *c, const char *name, uint16_t type);

/* hits, misses, evictions (LRU only, not expiry) and shared (waiters a
 * flight's end woke) count from cache_new; entries is the count now. */
typedef struct coro__dns_cache_stats {
  uint64_t hits, misses, entries, evictions, shared;
} coro__dns_cache_stats;
void coro__dns_cache_stats_get(const coro__dns_cache *c,
                               coro__dns_cache_stats *out);

#endif /* CORO_DNS_INTERNAL_H */
