/* dns_cache.c - the resolver's cache of answers by question, and the
 * questions in flight (single flight). The contract is in dns_internal.h
 * ("the cache").
 *
 * A hit is the hot path of every warm lookup (the target is ten
 * million lookups a second on one loop, the whole lookup included), so it
 * allocates nothing, makes no system call and never copies the name: the
 * name is hashed and compared eight bytes at a time, lowercased on the fly
 * (lower8), against a key stored lowercased. The caller's clock decides
 * expiry, so the cache never reads one.
 *
 * Entries: one malloc each, [struct entry | blob | key], the blob first so
 * that it is aligned as malloc aligns (the engine may decode into it). They
 * sit in a chained hash table of 2^k buckets that doubles when the entries
 * outnumber the buckets (a failed doubling only lengthens the chains), and
 * on a doubly linked list, most recently put first; a put beyond
 * max_entries evicts from the tail with a second chance (CLOCK): a hit
 * only marks its entry, and a marked tail is unmarked and moved to the
 * front instead of evicted. A hit thus writes only to its own entry,
 * where moving it to the front (exact LRU) touched three entries, three
 * cache misses per hit across 10,000 names. Expired entries are removed
 * when a get finds them, or evicted at the tail: they are never found
 * again either way.
 *
 * Flights: one record per question being asked, in a table of their own
 * (the cold benchmark has 10,000 at once), holding the coroutines that
 * wait for the leader in a coro__waitq. The scheduler unlinks a waiter
 * that times out or is cancelled before anyone else runs, and the leader's
 * end wakes the rest with 0 (a waker's status survives a later cancel:
 * see sched.c), so a flight needs no count of its waiters and a waiter
 * that gave up has nothing to undo.
 */
#include "coro_internal.h"
#include "dns_internal.h"

#include <string.h>

#define CORO__LIKELY(x) __builtin_expect(!!(x), 1)

/* ---- keys: case-insensitive hashing and comparison --------------------- */

/* The fields both tables key on. name points at the key bytes, lowercased,
 * NUL-terminated and zero-padded to a multiple of 8 (see key_store). */
typedef struct node {
  struct node *next; /* bucket chain */
  uint64_t hash;
  const char *name;
  uint32_t len;
  uint16_t type;
} node;

static inline uint64_t load8(const char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

/* ASCII-lowercase the eight bytes of w at once: a byte gets 0x20 added
 * when it is 'A'..'Z' (bytes >= 0x80 are left alone). The two additions
 * on the low seven bits of each byte cannot carry into the next byte. */
static inline uint64_t lower8(uint64_t w) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  uint64_t low7 = w & ~high;
  uint64_t ge_a = low7 + ones * (0x80 - 'A'); /* high bit: byte >= 'A' */
  uint64_t gt_z = low7 + ones * (0x7f - 'Z'); /* high bit: byte > 'Z' */
  return w | ((ge_a & ~gt_z & ~w & high) >> 2);
}

/* The last r = 1..7 bytes of a key of len bytes, at p[0..r), little end
 * first, zero above: what load8 of the zero-padded stored key gives for
 * the same bytes. When len >= 8 the whole words before p are the key's
 * too, so one load of the 8 bytes ending at p + r, shifted, reads them;
 * a shorter key is read byte by byte. */
static inline uint64_t load_tail(const char *p, size_t r, size_t len) {
  if (CORO__LIKELY(len >= 8))
    return load8(p + r - 8) >> (64 - 8 * r);
  uint64_t w = 0;
  for (size_t i = 0; i < r; i++)
    w |= (uint64_t)(unsigned char)p[i] << (8 * i);
  return w;
}

/* The key length of a name: a trailing dot that is not escaped ("a\.")
 * is dropped, except for the root, as coro__dns_name_eq compares. */
static inline size_t key_len(const char *name) {
  size_t n = strlen(name);
  if (n < 2 || name[n - 1] != '.')
    return n;
  size_t bs = 0;
  while (bs < n - 1 && name[n - 2 - bs] == '\\')
    bs++;
  return bs % 2 == 0 ? n - 1 : n;
}

/* The byte order of load8 must match load_tail's, so the stored key and a
 * caller's name hash alike; the host is little-endian (x86-64, arm64). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "dns_cache.c assumes a little-endian host");

static inline uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9e3779b97f4a7c15u;
  return h ^ (h >> 29);
}

/* Hash len bytes of name lowercased, with the type. */
static inline uint64_t key_hash(const char *name, size_t len, uint16_t type) {
  uint64_t h = 0x243f6a8885a308d3u ^ ((uint64_t)type << 48) ^ len;
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    h = mix(h, lower8(load8(name + i)));
  if (i < len)
    h = mix(h, lower8(load_tail(name + i, len - i, len)));
  /* The bucket index takes the low bits: fold the high ones down. */
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93u;
  return h ^ (h >> 32);
}

/* 1 when name[0..len) equals n's key ignoring ASCII case. */
static inline int key_eq(const node *n, const char *name, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    if (lower8(load8(name + i)) != load8(n->name + i))
      return 0;
  return i == len ||
         lower8(load_tail(name + i, len - i, len)) == load8(n->name + i);
}

/* Room for a stored key of len bytes: the bytes, NUL, zero padding to 8. */
static inline size_t key_room(size_t len) {
  return (len + 8) & ~(size_t)7;
}

/* Store name[0..len) lowercased at dst (key_room(len) bytes). */
static void key_store(char *dst, const char *name, size_t len) {
  memset(dst, 0, key_room(len));
  for (size_t i = 0; i < len; i++) {
    char ch = name[i];
    dst[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
  }
}

/* ---- a chained hash table of nodes -------------------------------------- */

#define TABLE_MIN 64

typedef struct table {
  node **b;
  size_t mask; /* buckets - 1; 0 until the first insert */
  size_t count;
} table;

/* Inlined into coro__dns_cache_get, the hot path. */
static inline __attribute__((always_inline)) node *
table_find(const table *t, uint64_t hash, const char *name, size_t len,
           uint16_t type) {
  if (t->b == NULL)
    return NULL;
  for (node *n = t->b[hash & t->mask]; n != NULL; n = n->next)
    if (n->hash == hash && n->type == type && n->len == len &&
        key_eq(n, name, len))
      return n;
  return NULL;
}

/* Double the buckets (or make the first ones). -ENOMEM leaves t as it was. */
static int table_grow(table *t) {
  size_t nb = t->b == NULL ? TABLE_MIN : (t->mask + 1) * 2;
  node **b = coro__calloc(nb, sizeof *b);
  if (b == NULL)
    return -ENOMEM;
  if (t->b != NULL) {
    for (size_t i = 0; i <= t->mask; i++) {
      for (node *n = t->b[i], *next; n != NULL; n = next) {
        next = n->next;
        n->next = b[n->hash & (nb - 1)];
        b[n->hash & (nb - 1)] = n;
      }
    }
    free(t->b);
  }
  t->b = b;
  t->mask = nb - 1;
  return 0;
}

/* Link n in. Only the first table needs memory: when doubling fails the
 * chains just grow longer. Returns 0 or -ENOMEM (n not linked). */
static int table_insert(table *t, node *n) {
  if (t->b == NULL || t->count > t->mask) {
    int rc = table_grow(t);
    if (rc < 0 && t->b == NULL)
      return rc;
  }
  node **head = &t->b[n->hash & t->mask];
  n->next = *head;
  *head = n;
  t->count++;
  return 0;
}

static void table_remove(table *t, node *n) {
  node **p = &t->b[n->hash & t->mask];
  while (*p != n)
    p = &(*p)->next;
  *p = n->next;
  t->count--;
}

/* ---- the cache ------------------------------------------------------- */

typedef struct entry {
  node key;                   /* first: a node * is an entry * */
  struct entry *prev, *next;  /* LRU list, most recent first */
  int64_t expires;            /* now_ns from which it is gone */
  size_t blob_len;
  int err;                    /* 0: positive; < 0: the negative answer */
  int ref;                    /* hit since it was last at the tail */
} entry;

/* The blob's offset in an entry: aligned as malloc aligns. */
#define BLOB_OFF                                                             \
  ((sizeof(entry) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))

typedef struct flight {
  node key;
  coro *leader;
  coro__waitq waiters;
} flight;

struct coro__dns_cache {
  table entries;
  table flights;
  entry lru; /* sentinel: lru.next is the most recent, lru.prev the least */
  size_t max_entries;
  uint32_t max_ttl_s, neg_ttl_s;
  coro__dns_cache_stats stats;
};

static inline void lru_unlink(entry *e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
}

static inline void lru_push_front(coro__dns_cache *c, entry *e) {
  e->prev = &c->lru;
  e->next = c->lru.next;
  c->lru.next->prev = e;
  c->lru.next = e;
}

static void entry_drop(coro__dns_cache *c, entry *e) {
  table_remove(&c->entries, &e->key);
  lru_unlink(e);
  free(e);
}

int coro__dns_cache_new(coro__dns_cache **out, size_t max_entries,
                        uint32_t max_ttl_s, uint32_t neg_ttl_s) {
  if (out == NULL)
    return -EINVAL;
  coro__dns_cache *c = coro__calloc(1, sizeof *c);
  if (c == NULL)
    return -ENOMEM;
  c->lru.prev = c->lru.next = &c->lru;
  c->max_entries = max_entries;
  c->max_ttl_s = max_ttl_s;
  c->neg_ttl_s = neg_ttl_s;
  *out = c;
  return 0;
}

void coro__dns_cache_clear(coro__dns_cache *c) {
  if (c == NULL)
    return;
  for (entry *e = c->lru.next, *next; e != &c->lru; e = next) {
    next = e->next;
    free(e);
  }
  c->lru.prev = c->lru.next = &c->lru;
  if (c->entries.b != NULL)
    memset(c->entries.b, 0, (c->entries.mask + 1) * sizeof *c->entries.b);
  c->entries.count = 0;
}

int coro__dns_cache_free(coro__dns_cache *c) {
  if (c == NULL)
    return 0;
  if (c->flights.count != 0)
    return -EBUSY;
  coro__dns_cache_clear(c);
  free(c->entries.b);
  free(c->flights.b);
  free(c);
  return 0;
}

void coro__dns_cache_destroy(coro__dns_cache *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; c->flights.b != NULL && i <= c->flights.mask; i++)
    for (node *n = c->flights.b[i], *next; n != NULL; n = next) {
      next = n->next;
      free(n); /* a node * is a flight * */
    }
  c->flights.count = 0;
  (void)coro__dns_cache_free(c);
}

int coro__dns_cache_get(coro__dns_cache *c, const char *name, uint16_t type,
                        int64_t now_ns, const void **blob, size_t *len,
                        uint32_t *ttl_left) {
  if (CORO__UNLIKELY(name == NULL))
    return 0;
  size_t n = key_len(name);
  entry *e = (entry *)table_find(&c->entries, key_hash(name, n, type), name,
                                 n, type);
  if (e == NULL) {
    c->stats.misses++;
    return 0;
  }
  if (now_ns >= e->expires) {
    entry_drop(c, e);
    c->stats.misses++;
    return 0;
  }
  c->stats.hits++;
  e->ref = 1;
  if (ttl_left != NULL) {
    /* Rounded up: an entry still here has at least a second to give. */
    *ttl_left = (uint32_t)((e->expires - now_ns + 999999999) / 1000000000);
  }
  if (e->err < 0)
    return e->err;
  if (blob != NULL)
    *blob = (const char *)e + BLOB_OFF;
  if (len != NULL)
    *len = e->blob_len;
  return 1;
}

/* Store (name, type) -> blob or err for ttl_s seconds, replacing what was
 * there; the caller has applied the cap. */
static int cache_put(coro__dns_cache *c, const char *name, uint16_t type,
                     const void *blob, size_t blob_len, int err,
                     uint32_t ttl_s, int64_t now_ns) {
  if (name == NULL || (blob == NULL && blob_len != 0))
    return -EINVAL;
  size_t n = key_len(name);
  if (n > CORO__DNS_NAME_BUF - 1)
    return -ENAMETOOLONG;
  if (c->max_entries == 0)
    return 0;
  uint64_t hash = key_hash(name, n, type);
  entry *old = (entry *)table_find(&c->entries, hash, name, n, type);
  if (ttl_s == 0) {
    /* Use once (RFC 1035): nor may an older answer outlive this one. */
    if (old != NULL)
      entry_drop(c, old);
    return 0;
  }
  if (blob_len > SIZE_MAX / 2)
    return -ENOMEM;
  size_t blob_room = (blob_len + 7) & ~(size_t)7;
  entry *e = coro__malloc(BLOB_OFF + blob_room + key_room(n));
  if (e == NULL)
    return -ENOMEM; /* the old answer, if any, stays */
  char *key = (char *)e + BLOB_OFF + blob_room;
  key_store(key, name, n);
  e->key.hash = hash;
  e->key.name = key;
  e->key.len = (uint32_t)n;
  e->key.type = type;
  e->blob_len = blob_len;
  e->err = err;
  e->ref = 0;
  /* Saturate: now_ns + 2^32 s cannot overflow unless now_ns is absurd. */
  int64_t ttl_ns = (int64_t)ttl_s * 1000000000;
  e->expires = now_ns > INT64_MAX - ttl_ns ? INT64_MAX : now_ns + ttl_ns;
  if (blob_len != 0)
    memcpy((char *)e + BLOB_OFF, blob, blob_len);
  if (old != NULL)
    entry_drop(c, old);
  if (table_insert(&c->entries, &e->key) < 0) {
    free(e);
    return -ENOMEM;
  }
  lru_push_front(c, e);
  while (c->entries.count > c->max_entries) {
    entry *t = c->lru.prev;
    if (t->ref || t == e) { /* a second chance; never the new entry */
      t->ref = 0;
      lru_unlink(t);
      lru_push_front(c, t);
      continue;
    }
    entry_drop(c, t);
    c->stats.evictions++;
  }
  return 0;
}

int coro__dns_cache_put(coro__dns_cache *c, const char *name, uint16_t type,
                        const void *blob, size_t len, uint32_t ttl_s,
                        int64_t now_ns) {
  uint32_t ttl = ttl_s < c->max_ttl_s ? ttl_s : c->max_ttl_s;
  return cache_put(c, name, type, blob, len, 0, ttl, now_ns);
}

int coro__dns_cache_put_neg(coro__dns_cache *c, const char *name,
                            uint16_t type, int err, uint32_t ttl_s,
                            int64_t now_ns) {
  if (err >= 0)
    return -EINVAL;
  uint32_t ttl = ttl_s < c->neg_ttl_s ? ttl_s : c->neg_ttl_s;
  return cache_put(c, name, type, NULL, 0, err, ttl, now_ns);
}

void coro__dns_cache_stats_get(const coro__dns_cache *c,
                               coro__dns_cache_stats *out) {
  *out = c->stats;
  out->entries = c->entries.count;
}

/* ---- single flight ---------------------------------------------------- */

int coro__dns_flight_begin(coro__dns_cache *c, const char *name,
                           uint16_t type, int64_t deadline) {
  if (c == NULL || name == NULL)
    return -EINVAL;
  size_t n = key_len(name);
  uint64_t hash = key_hash(name, n, type);
  flight *f = (flight *)table_find(&c->flights, hash, name, n, type);
  if (f != NULL) {
    coro *self = coro__running();
    /* Would we wait for ourselves? The leader may be waiting for another
     * flight, whose leader for another...: a CNAME loop served one link
     * at a time to two lookups (a -> b to one, b -> a to the other) makes
     * each lead one name and wait for the other's. Follow the chain. */
    const flight *g = f;
    for (int hops = 0; self != NULL && g != NULL && hops < 1024; hops++) {
      if (g->leader == self)
        return -EDEADLK;
      /* dns_flight is set while parked in the wait below; a waiter the
       * flight's end (or its deadline) woke is off every queue (waitq
       * NULL) and its flight may be freed already: the chain ends. */
      const coro *l = g->leader;
      g = l && l->waitq ? l->dns_flight : NULL;
    }
    if (self != NULL)
      self->dns_flight = f;
    int rc = coro__wait_for(&f->waiters, deadline, CORO_WAIT_DNS, f, 0);
    if (self != NULL)
      self->dns_flight = NULL;
    /* On an error f may be gone already: the leader may have ended it
     * between our wake-up and now. Touch nothing. */
    if (rc < 0)
      return rc;
    c->stats.shared++;
    return 0;
  }
  f = coro__malloc(sizeof *f + key_room(n));
  if (f == NULL)
    return -ENOMEM;
  char *key = (char *)(f + 1);
  key_store(key, name, n);
  f->key.hash = hash;
  f->key.name = key;
  f->key.len = (uint32_t)n;
  f->key.type = type;
  f->leader = coro__running();
  f->waiters.head = f->waiters.tail = NULL;
  if (table_insert(&c->flights, &f->key) < 0) {
    free(f);
    return -ENOMEM;
  }
  return 1;
}

void coro__dns_flight_end(coro__dns_cache *c, const char *name,
                          uint16_t type) {
  if (c == NULL || name == NULL)
    return;
  size_t n = key_len(name);
  flight *f = (flight *)table_find(&c->flights, key_hash(name, n, type), name,
                                   n, type);
  if (f == NULL)
    return;
  table_remove(&c->flights, &f->key);
  (void)coro__wake_all(&f->waiters, 0);
  free(f);
}
