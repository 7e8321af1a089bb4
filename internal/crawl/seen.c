/* seen.c - the set of URLs the crawl has already queued, as 64-bit
 * fingerprints in one open-addressing table (linear probing, at most 3/4
 * full, doubled when it would be fuller).
 *
 * Contract (crawl.h): crawl_hash, crawl_seen_init/_add/_has/_bytes/_free.
 * Pure: malloc only.
 *
 * Why fingerprints and not the URLs: a crawl of a million URLs would keep
 * 60-100 MB of strings (URLs average 60-80 bytes) plus per-entry overhead
 * only to answer "queued before?"; 8 bytes a slot answer it with a
 * collision chance of n^2/2^65 (see crawl.h). The URLs themselves live
 * only while they wait in the frontier.
 */
#include "crawl.h"

#include "coro_internal.h" /* coro__malloc: allocations are fault points */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A 64-bit hash: 8 bytes at a time through a multiply and a rotate, then
 * the splitmix64 finaliser, so every input bit reaches every output bit.
 * Not cryptographic: the crawl's inputs are links of pages it does not
 * control, and a page that forced collisions could at worst hide some of
 * its own URLs from the crawl. */
uint64_t crawl_hash(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h ^= w * 0x87C37B91114253D5ull;
    h = (h << 31 | h >> 33) * 0x4CF5AD432745937Full;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, n);
  h ^= w * 0x87C37B91114253D5ull;
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 31;
  return h;
}

int crawl_seen_init(crawl_seen *s) {
  s->cap = 1024;
  s->n = 0;
  s->slot = coro__calloc(s->cap, sizeof *s->slot);
  return s->slot ? 0 : -ENOMEM;
}

static void insert(uint64_t *slot, size_t cap, uint64_t f) {
  size_t i = (size_t)f & (cap - 1);
  while (slot[i]) i = (i + 1) & (cap - 1);
  slot[i] = f;
}

static int grow(crawl_seen *s) {
  size_t cap = s->cap * 2;
  uint64_t *ns = coro__calloc(cap, sizeof *ns);
  if (!ns) return -ENOMEM;
  for (size_t i = 0; i < s->cap; i++)
    if (s->slot[i]) insert(ns, cap, s->slot[i]);
  free(s->slot);
  s->slot = ns;
  s->cap = cap;
  return 0;
}

static uint64_t fingerprint(const char *url, size_t len) {
  uint64_t f = crawl_hash(url, len);
  return f ? f : 1;
}

int crawl_seen_has(const crawl_seen *s, const char *url, size_t len) {
  uint64_t f = fingerprint(url, len);
  for (size_t i = (size_t)f & (s->cap - 1); s->slot[i];
       i = (i + 1) & (s->cap - 1))
    if (s->slot[i] == f) return 1;
  return 0;
}

int crawl_seen_add(crawl_seen *s, const char *url, size_t len) {
  if (crawl_seen_has(s, url, len)) return 0;
  if ((s->n + 1) * 4 > s->cap * 3) {
    int rc = grow(s);
    if (rc < 0) return rc;
  }
  insert(s->slot, s->cap, fingerprint(url, len));
  s->n++;
  return 1;
}

size_t crawl_seen_bytes(const crawl_seen *s) {
  return s->cap * sizeof *s->slot + sizeof *s;
}

void crawl_seen_free(crawl_seen *s) {
  free(s->slot);
  s->slot = NULL;
  s->cap = s->n = 0;
}
