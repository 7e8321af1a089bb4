/* http_parse_fuzz.c - a libFuzzer harness for the HTTP request parser
 * (internal/httpd/http_parse.c), built by `make fuzz-http` and replayed over
 * fuzz/corpus/http_parse by `make test-fuzz-corpus`.
 *
 * It checks what the Go fuzz target (FuzzParseRequest in
 * internal/httpd/parse_test.go) checks, and a little more:
 *   - the result is a head length no longer than the input, 0, or one of
 *     the statuses http_parse.h lists;
 *   - a head it accepts parses alone, and followed by junk, to the same
 *     length, and every proper prefix of it asks for more bytes (0): the
 *     result never depends on how the bytes were split into reads;
 *   - fed to the incremental parser (http_parser_feed) in pieces, a byte
 *     at a time and in sizes drawn from the input, the first result that
 *     is not 0 is the whole input's, with the very same strings, and the
 *     parser examined each byte at most twice; the bytes not yet fed are
 *     poisoned, so that AddressSanitizer reports a read of one of them;
 *   - every string of an accepted head points inside the head;
 *   - the helpers a server runs on an accepted head (http_decode_path,
 *     http_parse_ranges, http_accept_coding, http_etag_match, http_etag_list_match,
 *     http_parse_date, http_if_range_match, http_target_query,
 *     http_host_name,
 *     http_uri_encode) stay in their buffers and keep their contracts; in
 *     particular what http_uri_encode makes of a decoded path is safe in a
 *     header and decodes back to that path.
 * The input is also parsed as a Range value alone.
 * Each buffer handed to the parser is a heap copy of exactly its length,
 * placed at the end of its allocation, so that AddressSanitizer reports a
 * read one byte past the end.
 */
#include "../internal/httpd/http_parse.h"

#include <stdint.h>
#include <stdio.h>
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

/* Prefixes of an accepted head checked one by one up to this length; past
 * it a spread of them, so that a long head costs no more than a short one
 * (every prefix would make each run quadratic). */
#define PREFIX_ALL 1024
#define PREFIX_SAMPLES 256

/* Parse a private heap copy of data[0..n) that ends where its allocation
 * does. */
static int parse_copy(const uint8_t *data, size_t n, const char *extra,
                      size_t extra_n, http_request *req) {
  char *buf = malloc(n + extra_n + 1); /* +1: malloc(0) may return NULL */
  FUZZ_CHECK(buf != NULL);
  char *p = buf + 1;
  if (n)
    memcpy(p, data, n);
  if (extra_n)
    memcpy(p + n, extra, extra_n);
  int rc = http_parse_request(p, n + extra_n, req);
  free(buf);
  return rc;
}

static int in_head(http_str s, const char *head, size_t n) {
  if (s.p == NULL)
    return s.n == 0;
  return s.p >= head && s.n <= n && (size_t)(s.p - head) <= n - s.n;
}

/* http_parse_ranges over value, against resources of several sizes and
 * with several caps: a result in [-1, cap]; ranges inside the resource,
 * in order, adding up to no more than it; the same ranges, as far as they
 * go, with a smaller cap. */
static void check_ranges(http_str value) {
  static const uint64_t sizes[] = {0, 1, 10, 1000, UINT64_MAX};
  static const int caps[] = {1, 2, 16, HTTP_RANGES_MAX};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    http_range all[HTTP_RANGES_MAX];
    int prev = 0;
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
      /* Exactly cap slots, at the end of an allocation. */
      http_range *rs = malloc((size_t)caps[k] * sizeof *rs);
      FUZZ_CHECK(rs != NULL);
      int n = http_parse_ranges(value, sizes[i], rs, caps[k]);
      FUZZ_CHECK(n >= -1 && n <= caps[k]);
      /* Unsatisfiable does not depend on the cap, unless ignored. */
      FUZZ_CHECK(k == 0 || prev != -1 || n == -1 || n == 0);
      uint64_t total = 0;
      for (int j = 0; j < n; j++) {
        FUZZ_CHECK(rs[j].first <= rs[j].last && rs[j].last < sizes[i]);
        FUZZ_CHECK(rs[j].last - rs[j].first < sizes[i] - total);
        total += rs[j].last - rs[j].first + 1;
        if (k > 0 && prev > 0 && j < prev)
          FUZZ_CHECK(rs[j].first == all[j].first && rs[j].last == all[j].last);
      }
      if (n > 0)
        memcpy(all, rs, (size_t)n * sizeof *rs);
      prev = n;
      free(rs);
    }
  }
}

/* The helpers a server runs on an accepted head. */
static void check_helpers(const http_request *req) {
  char path[256];
  int pn = http_decode_path(req->target, path, sizeof path);
  FUZZ_CHECK(pn >= -1 && pn < (int)sizeof path);
  if (pn >= 0) {
    FUZZ_CHECK(path[pn] == '\0');
    FUZZ_CHECK(strlen(path) == (size_t)pn);
    FUZZ_CHECK(path[0] == '/');
    for (int i = 0; i < pn; i++)
      FUZZ_CHECK((unsigned char)path[i] >= 0x20 && path[i] != 0x7f &&
                 path[i] != '\\');
  }
  char tiny[1];
  FUZZ_CHECK(http_decode_path(req->target, tiny, 0) == -1);

  check_ranges(req->range);
  static const char *const codings[] = {"gzip", "br", "identity"};
  for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
    int q = http_accept_coding(req->fields, codings[i]);
    FUZZ_CHECK(q >= -1 && q <= 1000);
  }

  for (int strong = 0; strong <= 1; strong++) {
    int m = http_etag_match(req->if_none_match, "\"abc\"", strong);
    FUZZ_CHECK(m == 0 || m == 1);
    /* A strong match is also a weak one. */
    int sm = http_etag_list_match(req->fields, "if-match", "\"abc\"", 1);
    int wm = http_etag_list_match(req->fields, "if-match", "\"abc\"", 0);
    FUZZ_CHECK((sm == 0 || sm == 1) && (wm == 0 || wm == 1) && sm <= wm);
    m = http_etag_list_match(req->fields, "if-none-match", "\"abc\"", strong);
    FUZZ_CHECK(m == 0 || m == 1);
    /* The first line alone matching means the list does. */
    if (http_etag_match(req->if_match, "\"abc\"", strong))
      FUZZ_CHECK(http_etag_list_match(req->fields, "if-match", "\"abc\"",
                                      strong));
  }
  /* A list field with a value means a line of that name in the fields. */
  FUZZ_CHECK(req->if_match.p == NULL ||
             in_head(req->if_match, req->fields.p, req->fields.n));
  const http_str dates[] = {req->if_modified_since, req->if_unmodified_since,
                            req->if_range};
  for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++)
    (void)http_parse_date(dates[i]);
  int ir = http_if_range_match(req->if_range, "\"abc\"", 784111777);
  FUZZ_CHECK(ir == 0 || ir == 1);

  /* The virtual host's name: a lower-case host name (labels of 1 to 63
   * letters, digits, '-' and '_'), NUL-terminated, or nothing, or 400. */
  char host[HTTP_HOST_MAX + 1];
  int hn = http_host_name(req, host, sizeof host);
  FUZZ_CHECK(hn == -400 || (hn >= 0 && hn <= HTTP_HOST_MAX));
  FUZZ_CHECK(http_host_name(req, host, HTTP_HOST_MAX) == -400);
  hn = http_host_name(req, host, sizeof host);
  if (hn >= 0) {
    FUZZ_CHECK(strlen(host) == (size_t)hn);
    int label = 0;
    for (int i = 0; i < hn; i++) {
      char c = host[i];
      if (c == '.') {
        FUZZ_CHECK(label > 0);
        label = 0;
      } else {
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_');
        FUZZ_CHECK(++label <= 63);
      }
    }
    FUZZ_CHECK(hn == 0 || label > 0);
  }

  http_str q = http_target_query(req->target);
  FUZZ_CHECK(q.p == NULL || (in_head(q, req->target.p, req->target.n) &&
                             q.p > req->target.p && q.p[-1] == '?' &&
                             memchr(q.p, '#', q.n) == NULL));
  /* The encodings: header-safe, as long as announced, and a path's
   * decodes back to the path. */
  char enc[3 * sizeof path + 2];
  struct {
    const char *s;
    size_t n;
    int query;
  } in[] = {{path, pn > 0 ? (size_t)pn : 0, 0}, {q.p, q.n, 1}};
  for (size_t k = 0; k < 2; k++) {
    if (in[k].s == NULL || in[k].n * 3 + 2 > sizeof enc)
      continue;
    size_t en = http_uri_encode(in[k].s, in[k].n, in[k].query, enc, sizeof enc);
    FUZZ_CHECK(en < sizeof enc && strlen(enc) == en && en >= in[k].n);
    FUZZ_CHECK(http_uri_encode(in[k].s, in[k].n, in[k].query, NULL, 0) == en);
    char small[4];
    FUZZ_CHECK(http_uri_encode(in[k].s, in[k].n, in[k].query, small,
                               sizeof small) == en);
    FUZZ_CHECK(strlen(small) == (en < sizeof small ? en : sizeof small - 1));
    for (size_t i = 0; i < en; i++) {
      unsigned char c = (unsigned char)enc[i];
      FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '#' &&
                 c != '<' && c != '>');
      FUZZ_CHECK(in[k].query || c != '?');
    }
    if (k == 0 && en > 0 && enc[0] == '/') {
      char back[sizeof path];
      int bn = http_decode_path((http_str){enc, en}, back, sizeof back);
      FUZZ_CHECK(bn == pn && memcmp(back, path, (size_t)pn) == 0);
    }
  }
}

static int same_str(http_str a, http_str b) { return a.p == b.p && a.n == b.n; }

static int same_request(const http_request *a, const http_request *b) {
  return a->method == b->method && a->minor == b->minor &&
         a->keep_alive == b->keep_alive && a->has_body == b->has_body &&
         same_str(a->method_name, b->method_name) &&
         same_str(a->target, b->target) && same_str(a->host, b->host) &&
         same_str(a->fields, b->fields) && same_str(a->if_match, b->if_match) &&
         same_str(a->if_none_match, b->if_none_match) &&
         same_str(a->if_modified_since, b->if_modified_since) &&
         same_str(a->if_unmodified_since, b->if_unmodified_since) &&
         same_str(a->if_range, b->if_range) && same_str(a->range, b->range);
}

/* Feeds in[0..size) to the incremental parser in pieces, as reads would
 * bring it: a byte at a time when step is 0, else in sizes 1 to 64 drawn
 * from step. Checks the first result that is not 0 against n and *whole,
 * the whole input's parse, which points into the same buffer. */
static void check_fed(char *in, size_t size, uint32_t step, int n,
                      const http_request *whole) {
  http_parser p;
  http_request req;
  http_parser_init(&p, &req);
  size_t fed = 0;
  int r = 0;
  while (r == 0 && fed < size) {
    size_t piece = 1;
    if (step) {
      step ^= step << 13, step ^= step >> 17, step ^= step << 5; /* xorshift */
      piece += step % 64;
    }
    fed = fed + piece < size ? fed + piece : size;
    POISON(in + fed, size - fed);
    r = http_parser_feed(&p, in, fed, &req);
    UNPOISON(in + fed, size - fed);
  }
  FUZZ_CHECK(r == n);
  FUZZ_CHECK(p.work <= 2 * fed);
  if (n > 0)
    FUZZ_CHECK(same_request(&req, whole));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy, so the strings in req point into memory we own. */
  char *head = malloc(size + 1);
  FUZZ_CHECK(head != NULL);
  char *in = head + 1;
  if (size)
    memcpy(in, data, size);
  http_request req;
  int n = http_parse_request(in, size, &req);
  FUZZ_CHECK(n == 0 || n == -400 || n == -414 || n == -431 || n == -505 ||
             (n > 0 && (size_t)n <= size));
  uint32_t seed = 2166136261u; /* FNV-1a of the input: its own piece sizes */
  for (size_t i = 0; i < size; i++)
    seed = (seed ^ data[i]) * 16777619u;
  /* The input as a Range value too, so that the range parser is fuzzed
   * without a whole head around it. */
  check_ranges((http_str){in, size});
  check_fed(in, size, 0, n, &req);
  check_fed(in, size, seed | 1, n, &req);
  if (n > 0) {
    size_t hn = (size_t)n;
    FUZZ_CHECK(hn <= HTTP_HEAD_MAX + 16 + 2); /* + leading empty lines */
    FUZZ_CHECK(req.method >= HTTP_M_UNKNOWN && req.method <= HTTP_M_OTHER);
    FUZZ_CHECK(req.minor == 0 || req.minor == 1);
    FUZZ_CHECK(req.keep_alive == 0 || req.keep_alive == 1);
    FUZZ_CHECK(req.method_name.n > 0 && req.target.n > 0);
    FUZZ_CHECK(req.minor == 0 || req.host.p != NULL);
    FUZZ_CHECK(in_head(req.method_name, in, hn));
    FUZZ_CHECK(in_head(req.target, in, hn));
    FUZZ_CHECK(in_head(req.host, in, hn));
    FUZZ_CHECK(in_head(req.fields, in, hn));
    FUZZ_CHECK(in_head(req.if_match, in, hn));
    FUZZ_CHECK(in_head(req.if_none_match, in, hn));
    FUZZ_CHECK(in_head(req.if_modified_since, in, hn));
    FUZZ_CHECK(in_head(req.if_unmodified_since, in, hn));
    FUZZ_CHECK(in_head(req.if_range, in, hn));
    FUZZ_CHECK(in_head(req.range, in, hn));
    check_helpers(&req);

    http_request r2;
    FUZZ_CHECK(parse_copy(data, hn, NULL, 0, &r2) == n);
    FUZZ_CHECK(parse_copy(data, hn, "junk", 4, &r2) == n);
    if (hn <= PREFIX_ALL) {
      for (size_t i = 0; i < hn; i++)
        FUZZ_CHECK(parse_copy(data, i, NULL, 0, &r2) == 0);
    } else {
      for (size_t k = 0; k < PREFIX_SAMPLES; k++)
        FUZZ_CHECK(parse_copy(data, k * hn / PREFIX_SAMPLES, NULL, 0, &r2) ==
                   0);
      FUZZ_CHECK(parse_copy(data, hn - 1, NULL, 0, &r2) == 0);
    }
  }
  free(head);
  return 0;
}
