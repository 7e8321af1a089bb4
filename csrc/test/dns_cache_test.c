/* dns_cache_test.c - tests of the resolver's cache and its single flight
 * (dns_cache.c) through the contract in dns_internal.h ("the cache").
 *
 * The cache takes the caller's clock, so expiry is driven by a fake now_ns
 * and no test sleeps. The flight tests run coroutines on a loop, once per
 * stack mode; every object several coroutines touch is a global (the
 * SHARED rule of sync_test.c). The fault sweep fails the nth allocation
 * for n = 1, 2, ... until a run passes without reaching it, checking after
 * each that the cache holds exactly what the successful calls stored;
 * leaks are ASan's and valgrind's to find at each test child's exit.
 *
 * Each test runs in a fork()ed child (testing.h); the last line is
 * `N passed, N failed`. Build: `make` (build/native/dns_cache_test).
 */
#include "../coro.h"
#include "../coro_internal.h" /* coro__fault_arm_at */
#include "../dns_internal.h"
#include "testing_loop.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC ((int64_t)1000000000)
#define T_A CORO__DNS_T_A
#define T_AAAA CORO__DNS_T_AAAA

static coro__dns_cache *mk(size_t max, uint32_t max_ttl, uint32_t neg_ttl) {
  coro__dns_cache *c = NULL;
  CHECK_EQ(coro__dns_cache_new(&c, max, max_ttl, neg_ttl), 0);
  CHECK(c != NULL);
  return c;
}

static void put(coro__dns_cache *c, const char *name, uint16_t type,
                const char *val, uint32_t ttl, int64_t now) {
  CHECK_EQ(coro__dns_cache_put(c, name, type, val, strlen(val) + 1, ttl, now),
           0);
}

/* The string stored for (name, type), or NULL on a miss; fails on a
 * negative hit. */
static const char *get(coro__dns_cache *c, const char *name, uint16_t type,
                       int64_t now) {
  const void *blob = NULL;
  size_t len = 0;
  int rc = coro__dns_cache_get(c, name, type, now, &blob, &len, NULL);
  CHECK_GE(rc, 0);
  if (rc == 0)
    return NULL;
  CHECK_EQ(rc, 1);
  CHECK_EQ(len, strlen(blob) + 1);
  return blob;
}

static coro__dns_cache_stats stats(const coro__dns_cache *c) {
  coro__dns_cache_stats s;
  coro__dns_cache_stats_get(c, &s);
  return s;
}

/* ---- entries ---------------------------------------------------------- */

static void hit_miss(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(16, 3600, 300);
  CHECK(get(c, "example.test", T_A, 0) == NULL);
  put(c, "example.test", T_A, "192.0.2.1", 60, 0);
  put(c, "example.test", T_AAAA, "2001:db8::1", 60, 0);
  CHECK_STR_EQ(get(c, "example.test", T_A, 1), "192.0.2.1");
  CHECK_STR_EQ(get(c, "example.test", T_AAAA, 1), "2001:db8::1");
  CHECK(get(c, "example.test", CORO__DNS_T_MX, 1) == NULL);
  CHECK(get(c, "example.tes", T_A, 1) == NULL);
  CHECK(get(c, "example.test2", T_A, 1) == NULL);
  CHECK(get(c, "xexample.test", T_A, 1) == NULL);
  /* Optional outputs, and the TTL left rounded up. */
  uint32_t left = 0;
  CHECK_EQ(coro__dns_cache_get(c, "example.test", T_A, 1, NULL, NULL, NULL), 1);
  CHECK_EQ(coro__dns_cache_get(c, "example.test", T_A, 0, NULL, NULL, &left), 1);
  CHECK_EQ(left, 60);
  CHECK_EQ(coro__dns_cache_get(c, "example.test", T_A, 30 * SEC + 1, NULL,
                               NULL, &left), 1);
  CHECK_EQ(left, 30);
  /* A put replaces the question's entry. */
  put(c, "example.test", T_A, "192.0.2.2", 60, 2);
  CHECK_STR_EQ(get(c, "example.test", T_A, 3), "192.0.2.2");
  coro__dns_cache_stats s = stats(c);
  CHECK_EQ(s.hits, 6);
  CHECK_EQ(s.misses, 5);
  CHECK_EQ(s.entries, 2);
  CHECK_EQ(s.evictions, 0);
  CHECK_EQ(coro__dns_cache_free(c), 0);
  CHECK_EQ(coro__dns_cache_free(NULL), 0);
}

/* Blobs come back aligned as malloc aligns, intact whatever their size,
 * including empty ones. */
static void blobs(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(64, 3600, 300);
  static unsigned char big[5000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (unsigned char)(i * 7);
  for (size_t n = 0; n <= 40; n++) {
    char name[32];
    snprintf(name, sizeof name, "b%zu.test", n);
    CHECK_EQ(coro__dns_cache_put(c, name, T_A, big, n, 10, 0), 0);
  }
  CHECK_EQ(coro__dns_cache_put(c, "big.test", T_A, big, sizeof big, 10, 0), 0);
  for (size_t n = 0; n <= 41; n++) {
    char name[32];
    size_t want = n <= 40 ? n : sizeof big;
    snprintf(name, sizeof name, n <= 40 ? "b%zu.test" : "big.test", n);
    const void *blob = NULL;
    size_t len = 99;
    CHECK_EQ(coro__dns_cache_get(c, name, T_A, 1, &blob, &len, NULL), 1);
    CHECK_EQ(len, want);
    CHECK_EQ((uintptr_t)blob % _Alignof(max_align_t), 0);
    CHECK_EQ(memcmp(blob, big, want), 0);
  }
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

/* Names differing only in ASCII case (at every length, so every position
 * of the eight-byte words and tails) are one question; bytes outside A-Z
 * are not folded; one unescaped trailing dot is ignored. */
static void case_insensitive(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(1024, 3600, 300);
  char lower[80], upper[80], dotted[82];
  for (size_t n = 1; n < 70; n++) {
    for (size_t i = 0; i < n; i++)
      lower[i] = (char)("abcdefghijklmnopqrstuvwxyz0123456789-_."[(i * 5 + n) % 39]);
    lower[n] = '\0';
    if (lower[n - 1] == '.')
      lower[n - 1] = 'z';
    for (size_t i = 0; i <= n; i++)
      upper[i] = (char)(lower[i] >= 'a' && lower[i] <= 'z' && (i + n) % 3 != 0
                            ? lower[i] - 32
                            : lower[i]);
    snprintf(dotted, sizeof dotted, "%s.", upper);
    CHECK_EQ(coro__dns_cache_put(c, upper, T_A, &n, sizeof n, 60, 0), 0);
    const void *blob;
    size_t len;
    CHECK_EQ(coro__dns_cache_get(c, lower, T_A, 0, &blob, &len, NULL), 1);
    CHECK_EQ(*(const size_t *)blob, n);
    CHECK_EQ(coro__dns_cache_get(c, dotted, T_A, 0, &blob, &len, NULL), 1);
    CHECK_EQ(*(const size_t *)blob, n);
    /* One letter changed (not only its case) misses. */
    lower[n / 2] = lower[n / 2] == 'q' ? 'r' : 'q';
    CHECK_EQ(coro__dns_cache_get(c, lower, T_A, 0, NULL, NULL, NULL), 0);
  }
  CHECK_EQ(stats(c).entries, 69);
  /* Only A-Z fold: '@' (0x40) and '[' (0x5b) border them, 0xc4/0xe4 are
   * 0x20 apart but not ASCII, '\\' escapes are bytes like any. */
  put(c, "x@[.test", T_A, "border", 60, 0);
  CHECK(get(c, "x`{.test", T_A, 0) == NULL);
  CHECK_STR_EQ(get(c, "X@[.TEST", T_A, 0), "border");
  put(c, "\xc4.test", T_A, "latin", 60, 0);
  CHECK(get(c, "\xe4.test", T_A, 0) == NULL);
  put(c, "\xe4\xe4\xe4\xe4\xe4\xe4\xe4\xe4.test", T_A, "latin", 60, 0);
  CHECK(get(c, "\xc4\xe4\xc4\xe4\xc4\xe4\xc4\xe4.test", T_A, 0) == NULL);
  CHECK(get(c, "\xe4\xe4\xe4\xe4\xe4\xe4\xe4\xc4.test", T_A, 0) == NULL);
  put(c, "a\\.", T_A, "escaped dot", 60, 0);
  CHECK(get(c, "a", T_A, 0) == NULL);
  CHECK(get(c, "a\\", T_A, 0) == NULL);
  CHECK_STR_EQ(get(c, "A\\.", T_A, 0), "escaped dot");
  put(c, "a\\\\.", T_A, "escaped backslash", 60, 0);
  CHECK_STR_EQ(get(c, "a\\\\", T_A, 0), "escaped backslash");
  /* The root keeps its dot. */
  put(c, ".", CORO__DNS_T_NS, "root", 60, 0);
  CHECK_STR_EQ(get(c, ".", CORO__DNS_T_NS, 0), "root");
  CHECK(get(c, "", CORO__DNS_T_NS, 0) == NULL);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

static void ttl_expiry(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(16, 3600, 300);
  int64_t t0 = 1000 * SEC;
  put(c, "e.test", T_A, "x", 10, t0);
  CHECK_STR_EQ(get(c, "e.test", T_A, t0 + 10 * SEC - 1), "x");
  uint32_t left = 0;
  CHECK_EQ(coro__dns_cache_get(c, "e.test", T_A, t0 + 10 * SEC - 1, NULL, NULL,
                               &left), 1);
  CHECK_EQ(left, 1);
  CHECK_EQ(stats(c).entries, 1);
  /* Gone at exactly t0 + ttl, and removed then. */
  CHECK(get(c, "e.test", T_A, t0 + 10 * SEC) == NULL);
  CHECK_EQ(stats(c).entries, 0);
  /* A clock far in the future saturates instead of wrapping. */
  put(c, "far.test", T_A, "x", 3600, INT64_MAX - SEC);
  CHECK_STR_EQ(get(c, "far.test", T_A, INT64_MAX - 1), "x");
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

static void ttl_caps(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(16, 60, 5);
  uint32_t left = 0;
  put(c, "long.test", T_A, "x", 86400, 0);
  CHECK_EQ(coro__dns_cache_get(c, "long.test", T_A, 0, NULL, NULL, &left), 1);
  CHECK_EQ(left, 60);
  CHECK_STR_EQ(get(c, "long.test", T_A, 60 * SEC - 1), "x");
  CHECK(get(c, "long.test", T_A, 60 * SEC) == NULL);
  /* Below the cap the TTL is the answer's. */
  put(c, "short.test", T_A, "x", 30, 0);
  CHECK(get(c, "short.test", T_A, 30 * SEC) == NULL);
  /* Negative answers have their own cap. */
  CHECK_EQ(coro__dns_cache_put_neg(c, "nx.test", T_A, -CORO_ENXDOMAIN, 3600, 0),
           0);
  CHECK_EQ(coro__dns_cache_get(c, "nx.test", T_A, 0, NULL, NULL, &left),
           -CORO_ENXDOMAIN);
  CHECK_EQ(left, 5);
  CHECK_EQ(coro__dns_cache_get(c, "nx.test", T_A, 5 * SEC, NULL, NULL, NULL), 0);
  /* The positive cap does not apply to negatives, nor the other way. */
  CHECK_EQ(coro__dns_cache_put_neg(c, "nd.test", T_A, -ENODATA, 3, 0), 0);
  CHECK_EQ(coro__dns_cache_get(c, "nd.test", T_A, 3 * SEC - 1, NULL, NULL,
                               NULL), -ENODATA);
  CHECK_EQ(coro__dns_cache_free(c), 0);
  /* Caps of 0 cache nothing of that kind. */
  c = mk(16, 0, 0);
  put(c, "p.test", T_A, "x", 60, 0);
  CHECK_EQ(coro__dns_cache_put_neg(c, "n.test", T_A, -CORO_ENXDOMAIN, 60, 0), 0);
  CHECK_EQ(stats(c).entries, 0);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

static void negative(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(16, 3600, 300);
  const void *blob = (const void *)1;
  size_t len = 7;
  CHECK_EQ(coro__dns_cache_put_neg(c, "nx.test", T_A, -CORO_ENXDOMAIN, 60, 0),
           0);
  CHECK_EQ(coro__dns_cache_put_neg(c, "nd.test", T_AAAA, -ENODATA, 60, 0), 0);
  CHECK_EQ(coro__dns_cache_get(c, "NX.test", T_A, 1, &blob, &len, NULL),
           -CORO_ENXDOMAIN);
  CHECK(blob == (const void *)1 && len == 7); /* untouched */
  CHECK_EQ(coro__dns_cache_get(c, "nd.test", T_AAAA, 1, NULL, NULL, NULL),
           -ENODATA);
  CHECK_EQ(coro__dns_cache_get(c, "nd.test", T_A, 1, NULL, NULL, NULL), 0);
  /* A positive answer replaces a negative one and back. */
  put(c, "nx.test", T_A, "now exists", 60, 2);
  CHECK_STR_EQ(get(c, "nx.test", T_A, 3), "now exists");
  CHECK_EQ(coro__dns_cache_put_neg(c, "nx.test", T_A, -CORO_ENXDOMAIN, 60, 4),
           0);
  CHECK_EQ(coro__dns_cache_get(c, "nx.test", T_A, 5, NULL, NULL, NULL),
           -CORO_ENXDOMAIN);
  CHECK_EQ(stats(c).entries, 2);
  /* err must be negative. */
  CHECK_EQ(coro__dns_cache_put_neg(c, "z.test", T_A, 0, 60, 0), -EINVAL);
  CHECK_EQ(coro__dns_cache_put_neg(c, "z.test", T_A, 1, 60, 0), -EINVAL);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

static void ttl_zero(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(16, 3600, 300);
  put(c, "z.test", T_A, "x", 0, 0);
  CHECK(get(c, "z.test", T_A, 0) == NULL);
  CHECK_EQ(coro__dns_cache_put_neg(c, "zn.test", T_A, -CORO_ENXDOMAIN, 0, 0),
           0);
  CHECK_EQ(coro__dns_cache_get(c, "zn.test", T_A, 0, NULL, NULL, NULL), 0);
  CHECK_EQ(stats(c).entries, 0);
  /* A TTL-0 answer removes the older entry of its question only. */
  put(c, "z.test", T_A, "old", 60, 0);
  put(c, "z.test", T_AAAA, "other type", 60, 0);
  put(c, "Z.TEST", T_A, "new", 0, 1);
  CHECK(get(c, "z.test", T_A, 2) == NULL);
  CHECK_STR_EQ(get(c, "z.test", T_AAAA, 2), "other type");
  CHECK_EQ(stats(c).entries, 1);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

/* Eviction is CLOCK (second chance): the oldest put goes first unless a
 * get hit it since; a hit entry is moved to the front, unmarked, instead
 * (exact LRU before; a hit now writes only to its own entry). */
static void lru_eviction(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(3, 3600, 300);
  put(c, "a.test", T_A, "a", 60, 0);
  put(c, "b.test", T_A, "b", 60, 0);
  put(c, "c.test", T_A, "c", 60, 0);
  CHECK_STR_EQ(get(c, "a.test", T_A, 1), "a"); /* a gets a second chance */
  put(c, "d.test", T_A, "d", 60, 2);          /* evicts b; order: a d c */
  CHECK_EQ(stats(c).evictions, 1);
  CHECK(get(c, "b.test", T_A, 3) == NULL);
  CHECK_STR_EQ(get(c, "c.test", T_A, 3), "c");  /* c marked */
  put(c, "e.test", T_A, "e", 60, 4);            /* c moves up; evicts d */
  CHECK(get(c, "d.test", T_A, 5) == NULL);
  CHECK_EQ(stats(c).evictions, 2);
  /* A put that replaces makes the entry the most recent, evicting
   * nothing. */
  put(c, "a.test", T_A, "a2", 60, 6);           /* order: a c e */
  CHECK_EQ(stats(c).evictions, 2);
  put(c, "f.test", T_A, "f", 60, 7);            /* evicts e */
  CHECK(get(c, "e.test", T_A, 8) == NULL);
  CHECK_STR_EQ(get(c, "a.test", T_A, 8), "a2");
  CHECK_STR_EQ(get(c, "c.test", T_A, 8), "c");
  CHECK_STR_EQ(get(c, "f.test", T_A, 8), "f");
  /* All three marked: the put goes round once (unmarking them, keeping
   * their order, never evicting the new entry) and evicts the oldest
   * put, c. */
  put(c, "g.test", T_A, "g", 60, 9);
  coro__dns_cache_stats s = stats(c);
  CHECK_EQ(s.entries, 3);
  CHECK_EQ(s.evictions, 4);
  CHECK(get(c, "c.test", T_A, 10) == NULL);
  CHECK(get(c, "g.test", T_A, 10) != NULL);
  CHECK(get(c, "a.test", T_A, 10) != NULL);
  CHECK(get(c, "f.test", T_A, 10) != NULL);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

/* Many entries: the table grows, every one is found, and the LRU keeps
 * exactly the newest max_entries. */
static void many(int unused) {
  (void)unused;
  enum { MAX = 5000, N = 12000 };
  coro__dns_cache *c = mk(MAX, 3600, 300);
  char name[32];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "h%05d.bench.test", i);
    CHECK_EQ(coro__dns_cache_put(c, name, T_A, &i, sizeof i, 60, 0), 0);
  }
  coro__dns_cache_stats s = stats(c);
  CHECK_EQ(s.entries, MAX);
  CHECK_EQ(s.evictions, N - MAX);
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "H%05d.BENCH.test", i);
    const void *blob;
    int rc = coro__dns_cache_get(c, name, T_A, 1, &blob, NULL, NULL);
    CHECK_EQ(rc, i >= N - MAX ? 1 : 0);
    if (rc == 1)
      CHECK_EQ(*(const int *)blob, i);
  }
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

static void clear(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(16, 3600, 300);
  put(c, "a.test", T_A, "a", 60, 0);
  CHECK_EQ(coro__dns_cache_put_neg(c, "n.test", T_A, -CORO_ENXDOMAIN, 60, 0),
           0);
  coro__dns_cache_clear(c);
  CHECK_EQ(stats(c).entries, 0);
  CHECK(get(c, "a.test", T_A, 1) == NULL);
  CHECK_EQ(coro__dns_cache_get(c, "n.test", T_A, 1, NULL, NULL, NULL), 0);
  put(c, "a.test", T_A, "again", 60, 2);
  CHECK_STR_EQ(get(c, "a.test", T_A, 3), "again");
  coro__dns_cache_clear(c);
  coro__dns_cache_clear(c);
  coro__dns_cache_clear(NULL);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

/* max_entries 0 stores nothing and says so with 0. */
static void no_cache(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(0, 3600, 300);
  put(c, "a.test", T_A, "a", 60, 0);
  CHECK_EQ(coro__dns_cache_put_neg(c, "n.test", T_A, -CORO_ENXDOMAIN, 60, 0),
           0);
  CHECK(get(c, "a.test", T_A, 1) == NULL);
  CHECK_EQ(stats(c).entries, 0);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

static void bad_input(int unused) {
  (void)unused;
  CHECK_EQ(coro__dns_cache_new(NULL, 16, 60, 60), -EINVAL);
  coro__dns_cache *c = mk(16, 3600, 300);
  CHECK_EQ(coro__dns_cache_put(c, NULL, T_A, "x", 1, 60, 0), -EINVAL);
  CHECK_EQ(coro__dns_cache_put(c, "a.test", T_A, NULL, 1, 60, 0), -EINVAL);
  CHECK_EQ(coro__dns_cache_put_neg(c, NULL, T_A, -ENODATA, 60, 0), -EINVAL);
  CHECK_EQ(coro__dns_cache_get(c, NULL, T_A, 0, NULL, NULL, NULL), 0);
  CHECK_EQ(coro__dns_flight_begin(c, NULL, T_A, -1), -EINVAL);
  CHECK_EQ(coro__dns_flight_begin(NULL, "a.test", T_A, -1), -EINVAL);
  coro__dns_flight_end(c, NULL, T_A);
  coro__dns_flight_end(NULL, "a.test", T_A);
  coro__dns_flight_end(c, "never.begun", T_A); /* nothing to end */
  /* The longest escaped name fits; one byte more does not. */
  static char name[CORO__DNS_NAME_BUF + 1];
  memset(name, 'a', CORO__DNS_NAME_BUF - 1);
  CHECK_EQ(coro__dns_cache_put(c, name, T_A, "x", 1, 60, 0), 0);
  CHECK_EQ(coro__dns_cache_get(c, name, T_A, 0, NULL, NULL, NULL), 1);
  name[CORO__DNS_NAME_BUF - 1] = 'a';
  CHECK_EQ(coro__dns_cache_put(c, name, T_A, "x", 1, 60, 0), -ENAMETOOLONG);
  CHECK_EQ(coro__dns_cache_put_neg(c, name, T_A, -ENODATA, 60, 0),
           -ENAMETOOLONG);
  CHECK_EQ(coro__dns_cache_get(c, name, T_A, 0, NULL, NULL, NULL), 0);
  CHECK_EQ(stats(c).entries, 1);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

/* ---- single flight ---------------------------------------------------- */

/* Each flight test is the first coroutine of a fresh loop of the stack
 * mode under test, run until every coroutine has finished
 * (testing_loop.h). */
static void dns_cache_opts(int mode, coro_loop_opts *o) {
  o->stack_mode = mode;
  o->name = "dns_cache_test";
}
#define TEST(name) TESTING_LOOP_TEST(name, dns_cache_opts)

#define go testing_go

static intptr_t join(coro *co) {
  void *r = NULL;
  CHECK_EQ(coro_join(co, -1, &r), 0);
  return (intptr_t)r;
}

/* Yield until *n reaches want (bounded: a bug fails instead of hanging). */
static void yield_until(const volatile int *n, int want) {
  for (int i = 0; i < 100000 && *n < want; i++)
    CHECK_EQ(coro_yield(), 0);
  CHECK_GE(*n, want);
}

static coro__dns_cache *g_c;
static volatile int g_arrived, g_leaders, g_after;
static int64_t g_deadline;

/* Ask for the flight of "Flight.test" A (with g_deadline); the leader
 * waits until `want` have arrived (all others parked, since each parks as
 * soon as it arrives), stores the answer and ends. Returns begin's
 * result; a waiter that got 0 checks that the answer is there. */
static void *asker(void *want) {
  g_arrived++;
  int rc = coro__dns_flight_begin(g_c, "Flight.test", T_A, g_deadline);
  if (rc == 1) {
    g_leaders++;
    yield_until(&g_arrived, (int)(intptr_t)want);
    put(g_c, "flight.test", T_A, "answer", 60, 0);
    coro__dns_flight_end(g_c, "FLIGHT.test.", T_A);
  } else if (rc == 0) {
    CHECK_STR_EQ(get(g_c, "flight.test", T_A, 1), "answer");
  }
  g_after++;
  return (void *)(intptr_t)rc;
}

static void flight_reset(void) {
  g_c = mk(16, 3600, 300);
  g_arrived = g_leaders = g_after = 0;
  g_deadline = -1;
}

/* 1000 coroutines ask one question at once: one leads, 999 share. */
TEST(flight_thousand) {
  (void)unused_;
  enum { N = 1000 };
  static coro *co[N];
  flight_reset();
  for (int i = 0; i < N; i++)
    co[i] = go(asker, N);
  int ones = 0, zeros = 0;
  for (int i = 0; i < N; i++) {
    intptr_t rc = join(co[i]);
    CHECK(rc == 0 || rc == 1);
    ones += rc == 1;
    zeros += rc == 0;
  }
  CHECK_EQ(ones, 1);
  CHECK_EQ(zeros, N - 1);
  CHECK_EQ(g_leaders, 1);
  coro__dns_cache_stats s = stats(g_c);
  CHECK_EQ(s.shared, N - 1);
  CHECK_EQ(s.hits, N - 1);
  /* Ended: the next asker leads a new flight at once. */
  CHECK_EQ(coro__dns_flight_begin(g_c, "flight.test", T_A, 0), 1);
  CHECK_EQ(coro__dns_cache_free(g_c), -EBUSY);
  coro__dns_flight_end(g_c, "flight.test", T_A);
  CHECK_EQ(coro__dns_cache_free(g_c), 0);
  return NULL;
}

static void *try_a(void *unused) {
  (void)unused;
  return (void *)(intptr_t)coro__dns_flight_begin(g_c, "a.test", T_A, 0);
}

/* Different questions (name or type) have flights of their own. */
TEST(flight_distinct) {
  (void)unused_;
  flight_reset();
  CHECK_EQ(coro__dns_flight_begin(g_c, "a.test", T_A, -1), 1);
  CHECK_EQ(coro__dns_flight_begin(g_c, "a.test", T_AAAA, -1), 1);
  CHECK_EQ(coro__dns_flight_begin(g_c, "b.test", T_A, -1), 1);
  /* The leader asking again would wait for itself. */
  CHECK_EQ(coro__dns_flight_begin(g_c, "A.TEST", T_A, -1), -EDEADLK);
  /* Another coroutine with deadline 0 tries and does not wait. */
  coro *other = go(try_a, 0);
  CHECK_EQ(join(other), -ETIMEDOUT);
  CHECK_EQ(coro__dns_cache_free(g_c), -EBUSY);
  coro__dns_flight_end(g_c, "a.test", T_A);
  coro__dns_flight_end(g_c, "a.test", T_AAAA);
  coro__dns_flight_end(g_c, "b.test", T_A);
  coro__dns_flight_end(g_c, "b.test", T_A); /* twice: nothing */
  CHECK_EQ(coro__dns_cache_free(g_c), 0);
  return NULL;
}

static coro *g_leader;
static volatile int g_go;

/* A leader that holds its flight until g_go is set. */
static void *holder(void *unused) {
  (void)unused;
  CHECK_EQ(coro__dns_flight_begin(g_c, "held.test", T_A, -1), 1);
  g_leaders++;
  yield_until(&g_go, 1);
  coro__dns_flight_end(g_c, "held.test", T_A);
  return NULL;
}

/* Join held.test's flight with the deadline passed as the argument. */
static void *waiter(void *deadline) {
  g_arrived++;
  int rc = coro__dns_flight_begin(g_c, "held.test", T_A,
                                  (int64_t)(intptr_t)deadline);
  g_after++;
  return (void *)(intptr_t)rc;
}

/* A cancelled waiter leaves at once with -ECANCELED and leaves no trace:
 * the others are still woken by the end, and the shared count is theirs. */
TEST(flight_cancel) {
  (void)unused_;
  flight_reset();
  g_go = 0;
  g_leader = go(holder, 0);
  coro *w1 = go(waiter, -1), *w2 = go(waiter, -1), *w3 = go(waiter, -1);
  yield_until(&g_arrived, 3);
  CHECK_EQ(g_after, 0);
  CHECK_EQ(coro_cancel(w2), 0);
  CHECK_EQ(join(w2), -ECANCELED);
  CHECK_EQ(g_after, 1);
  /* A cancelled coroutine does not wait at all. */
  coro *w4 = go(waiter, -1);
  CHECK_EQ(coro_cancel(w4), 0);
  CHECK_EQ(join(w4), -ECANCELED);
  g_go = 1;
  CHECK_EQ(join(w1), 0);
  CHECK_EQ(join(w3), 0);
  join(g_leader);
  CHECK_EQ(stats(g_c).shared, 2);
  CHECK_EQ(coro__dns_cache_free(g_c), 0);
  return NULL;
}

/* A cancel that comes after the leader's end woke the waiter, before it
 * ran, does not undo the wake-up: it reports 0 (the answer is there). */
TEST(flight_cancel_after_end) {
  (void)unused_;
  flight_reset();
  CHECK_EQ(coro__dns_flight_begin(g_c, "held.test", T_A, -1), 1);
  coro *w = go(waiter, -1);
  yield_until(&g_arrived, 1);
  coro__dns_flight_end(g_c, "held.test", T_A);
  CHECK_EQ(coro_cancel(w), 0);
  CHECK_EQ(join(w), 0);
  CHECK_EQ(stats(g_c).shared, 1);
  CHECK_EQ(coro__dns_cache_free(g_c), 0);
  return NULL;
}

/* A waiter's deadline passes: -ETIMEDOUT, and the flight goes on. */
TEST(flight_deadline) {
  (void)unused_;
  flight_reset();
  g_go = 0;
  g_leader = go(holder, 0);
  yield_until(&g_leaders, 1);
  coro *w1 = go(waiter, (intptr_t)(coro_now() + 2000000)); /* 2 ms */
  coro *w2 = go(waiter, -1);
  CHECK_EQ(join(w1), -ETIMEDOUT);
  /* deadline 0: a try, at once, and without a coroutine too. */
  CHECK_EQ(coro__dns_flight_begin(g_c, "held.test", T_A, 0), -ETIMEDOUT);
  CHECK_EQ(g_after, 1);
  g_go = 1;
  CHECK_EQ(join(w2), 0);
  join(g_leader);
  CHECK_EQ(stats(g_c).shared, 1);
  CHECK_EQ(coro__dns_cache_free(g_c), 0);
  return NULL;
}

/* A waiter whose deadline passes in the loop turn where the leader ends
 * and frees the flight: whichever runs first, the waiter touches nothing
 * of the flight after its wait (ASan and valgrind watch), and reports
 * either the timeout or the wake-up. */
static void *ender_at_deadline(void *unused) {
  (void)unused;
  CHECK_EQ(coro__dns_flight_begin(g_c, "race.test", T_A, -1), 1);
  CHECK_EQ(coro_sleep(g_deadline), 0);
  coro__dns_flight_end(g_c, "race.test", T_A);
  return NULL;
}

/* Returns begin's result; on a machine so slow that the leader has ended
 * before the waiter asks, it leads (and ends) a flight of its own. */
static void *race_waiter(void *unused) {
  (void)unused;
  int rc = coro__dns_flight_begin(g_c, "race.test", T_A, g_deadline);
  if (rc == 1)
    coro__dns_flight_end(g_c, "race.test", T_A);
  return (void *)(intptr_t)rc;
}

TEST(flight_deadline_meets_end) {
  (void)unused_;
  int met = 0;
  for (int round = 0; round < 20; round++) {
    flight_reset();
    g_deadline = coro_now() + 5000000; /* 5 ms */
    coro *l = go(ender_at_deadline, 0);
    CHECK_EQ(coro_yield(), 0); /* the leader begins and sleeps */
    coro *w = go(race_waiter, 0);
    intptr_t rc = join(w);
    CHECK(rc == 0 || rc == -ETIMEDOUT || rc == 1);
    met += rc != 1;
    join(l);
    CHECK_EQ(coro__dns_cache_free(g_c), 0);
  }
  CHECK_GT(met, 0);
  return NULL;
}

/* The leader ends without an answer (a timeout is not cached): the
 * woken waiters find nothing, and the first of them to ask again leads a
 * new flight that the others join. */
static void *retrier(void *unused) {
  (void)unused;
  g_arrived++;
  int rc = coro__dns_flight_begin(g_c, "retry.test", T_A, -1);
  CHECK_EQ(rc, 0);
  CHECK_EQ(coro__dns_cache_get(g_c, "retry.test", T_A, 0, NULL, NULL, NULL), 0);
  rc = coro__dns_flight_begin(g_c, "retry.test", T_A, -1);
  if (rc == 1) {
    g_leaders++;
    CHECK_EQ(coro_yield(), 0);
    coro__dns_flight_end(g_c, "retry.test", T_A);
  }
  return (void *)(intptr_t)rc;
}

TEST(flight_uncacheable) {
  (void)unused_;
  enum { N = 5 };
  flight_reset();
  CHECK_EQ(coro__dns_flight_begin(g_c, "retry.test", T_A, -1), 1);
  coro *co[N];
  for (int i = 0; i < N; i++)
    co[i] = go(retrier, 0);
  yield_until(&g_arrived, N);
  coro__dns_flight_end(g_c, "retry.test", T_A);
  int leads = 0;
  for (int i = 0; i < N; i++)
    leads += join(co[i]) == 1;
  CHECK_EQ(leads, 1);
  CHECK_EQ(g_leaders, 1);
  CHECK_EQ(stats(g_c).shared, 2 * N - 1);
  CHECK_EQ(coro__dns_cache_free(g_c), 0);
  return NULL;
}

/* Waiting needs a coroutine: on the loop's own stack (or with no loop) a
 * begin that would wait is -EPERM; leading works anywhere. */
static void flight_no_coroutine(int unused) {
  (void)unused;
  coro__dns_cache *c = mk(16, 3600, 300);
  CHECK_EQ(coro__dns_flight_begin(c, "a.test", T_A, -1), 1);
  CHECK_EQ(coro__dns_flight_begin(c, "a.test", T_A, -1), -EPERM);
  CHECK_EQ(coro__dns_flight_begin(c, "a.test", T_A, 0), -ETIMEDOUT);
  coro__dns_flight_end(c, "a.test", T_A);
  CHECK_EQ(coro__dns_cache_free(c), 0);
}

/* ---- the fault sweep ----------------------------------------------------- */

/* One run of everything that allocates: make a cache, fill it past its
 * first tables and its bound (growth, eviction), replace, store negatives,
 * lead flights, clear, free. Every call that fails must fail with -ENOMEM
 * and change nothing: the cache is checked against a model of the calls
 * that succeeded. Returns 0 when nothing failed. */
enum { FAULT_MAX = 100, FAULT_N = 150 };
static int f_have[FAULT_N]; /* the model: 0 absent, else the value + 1 */
static int f_stored;

/* The model of a put of value v under f<i> that succeeded, with only puts
 * in between (so the least recent entry is the oldest put). */
static void model_put(int i, int v) {
  if (f_have[i] == 0 && ++f_stored > FAULT_MAX) {
    for (int j = 0; j < FAULT_N; j++) {
      if (f_have[j] != 0 && j != i) {
        f_have[j] = 0;
        break;
      }
    }
    f_stored = FAULT_MAX;
  }
  f_have[i] = v + 1;
}

static int fault_run(void) {
  enum { MAX = FAULT_MAX, N = FAULT_N };
  int failed = 0;
  coro__dns_cache *c = NULL;
  int rc = coro__dns_cache_new(&c, MAX, 3600, 300);
  if (rc < 0) {
    CHECK_EQ(rc, -ENOMEM);
    CHECK(c == NULL);
    return 1;
  }
  memset(f_have, 0, sizeof f_have);
  f_stored = 0;
  char name[32];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "f%03d.test", i);
    rc = coro__dns_cache_put(c, name, T_A, &i, sizeof i, 60, 0);
    if (rc < 0) {
      CHECK_EQ(rc, -ENOMEM);
      failed = 1;
      continue;
    }
    model_put(i, i);
  }
  /* Replace the newest: a failure keeps the old value (or nothing, when
   * its first put failed). */
  int v = 1000;
  rc = coro__dns_cache_put(c, "f149.test", T_A, &v, sizeof v, 60, 0);
  if (rc == 0) {
    model_put(N - 1, v);
  } else {
    CHECK_EQ(rc, -ENOMEM);
    failed = 1;
  }
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "F%03d.TEST", i);
    const void *blob;
    int g = coro__dns_cache_get(c, name, T_A, 1, &blob, NULL, NULL);
    if (g != (f_have[i] != 0))
      FAILF("f%03d: get %d, model %d", i, g, f_have[i]);
    if (g == 1)
      CHECK_EQ(*(const int *)blob, f_have[i] - 1);
  }
  CHECK_EQ(stats(c).entries, (uint64_t)f_stored);
  rc = coro__dns_cache_put_neg(c, "f149.test", T_AAAA, -ENODATA, 60, 0);
  if (rc < 0) {
    CHECK_EQ(rc, -ENOMEM);
    failed = 1;
  } else {
    CHECK_EQ(coro__dns_cache_get(c, "f149.test", T_AAAA, 1, NULL, NULL, NULL),
             -ENODATA);
  }
  /* Flights: enough to grow their table; a failed begin leaves none. */
  for (int i = 0; i < 80; i++) {
    snprintf(name, sizeof name, "q%03d.test", i);
    rc = coro__dns_flight_begin(c, name, T_A, 0);
    if (rc < 0) {
      CHECK_EQ(rc, -ENOMEM);
      failed = 1;
      /* No flight was left behind: asking again leads or fails alike. */
      continue;
    }
    CHECK_EQ(rc, 1);
    CHECK_EQ(coro__dns_flight_begin(c, name, T_A, 0), -ETIMEDOUT);
  }
  CHECK_EQ(coro__dns_cache_free(c), -EBUSY);
  for (int i = 0; i < 80; i++) {
    snprintf(name, sizeof name, "q%03d.test", i);
    coro__dns_flight_end(c, name, T_A);
  }
  coro__dns_cache_clear(c);
  CHECK_EQ(stats(c).entries, 0);
  CHECK_EQ(coro__dns_cache_free(c), 0);
  return failed;
}

static void fault_sweep(int unused) {
  (void)unused;
  long n;
  for (n = 1;; n++) {
    coro__fault_arm_at(CORO__FP_BIT(CORO__FP_ALLOC), n, 1, CORO__FAULT_NATURAL);
    int failed = fault_run();
    long calls = coro__fault_calls();
    int fired = coro__fault_fired(NULL);
    coro__fault_arm(0, 0);
    if (calls < n) {
      CHECK_EQ(fired, -1);
      CHECK_EQ(failed, 0);
      break;
    }
    /* A failed call reported it; a failed table doubling only makes
     * longer chains, which fault_run's checks cover. */
    CHECK_EQ(fired, CORO__FP_ALLOC);
  }
  /* Allocations: the cache, 150 entries and one replacement, one
   * negative, 80 flights, and the tables' growth. */
  CHECK_GT(n, 150 + 1 + 1 + 80);
  fprintf(stderr, "    fault sweep: %ld runs\n", n);
}

static const testing_case tests[] = {
    {"hit_miss", hit_miss, 0},
    {"blobs", blobs, 0},
    {"case_insensitive", case_insensitive, 0},
    {"ttl_expiry", ttl_expiry, 0},
    {"ttl_caps", ttl_caps, 0},
    {"negative", negative, 0},
    {"ttl_zero", ttl_zero, 0},
    {"lru_eviction", lru_eviction, 0},
    {"many", many, 0},
    {"clear", clear, 0},
    {"no_cache", no_cache, 0},
    {"bad_input", bad_input, 0},
    {"flight_thousand", flight_thousand, 0},
    {"flight_distinct", flight_distinct, 0},
    {"flight_cancel", flight_cancel, 0},
    {"flight_cancel_after_end", flight_cancel_after_end, 0},
    {"flight_deadline", flight_deadline, 0},
    {"flight_deadline_meets_end", flight_deadline_meets_end, 0},
    {"flight_uncacheable", flight_uncacheable, 0},
    {"flight_no_coroutine", flight_no_coroutine, 0},
    {"fault_sweep", fault_sweep, 0},
};
static const testing_param params[] = {{"guarded", CORO_STACK_GUARDED},
                                       {"shared", CORO_STACK_SHARED}};

TESTING_MAIN(tests, params)
