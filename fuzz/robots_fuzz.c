/* robots_fuzz.c - a libFuzzer harness for the robots.txt parser and
 * matcher (internal/crawl/robots.c), built by `make fuzz-robots` and
 * replayed over fuzz/corpus/robots by `make test-fuzz-corpus`.
 *
 * The input's first line is a path to ask about (at most 256 bytes), the
 * rest the robots.txt. It checks that:
 *   - parsing never fails but for memory, and answers 0 or 1 for the path,
 *     for "/" and for the path with its %-escapes spelled otherwise;
 *   - "/robots.txt" is always allowed;
 *   - Crawl-delay is -1 or between 0 and a day;
 *   - the same text parsed again answers the same (no hidden state).
 * The input is a heap copy of exactly its length, so AddressSanitizer
 * reports a read one byte past its end.
 */
#include "../internal/crawl/crawl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

/* Control bytes: the URL code drops or trims some (tabs, newlines, a
 * trailing one), so the path a crawler would ask about is another. */
static int has_control(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t pn = nl ? (size_t)(nl - data) : 0;
  if (pn > 256) pn = 256;
  char path[260];
  path[0] = '/';
  memcpy(path + 1, data, pn);
  path[pn + 1] = '\0';
  for (size_t i = 1; i <= pn; i++)
    if (path[i] == '\0') path[i] = 'x';
  size_t off = nl ? (size_t)(nl - data) + 1 : 0;
  size_t n = size - off;
  char *text = malloc(n ? n : 1);
  FUZZ_CHECK(text != NULL);
  if (n) memcpy(text, data + off, n);

  crawl_robots *r = crawl_robots_parse(text, n, "corocrawl");
  FUZZ_CHECK(r != NULL);
  int a = crawl_robots_allowed(r, path);
  FUZZ_CHECK(a == 0 || a == 1);
  int root = crawl_robots_allowed(r, "/");
  FUZZ_CHECK(root == 0 || root == 1);
  FUZZ_CHECK(crawl_robots_allowed(r, "/robots.txt") == 1);
  int64_t d = crawl_robots_delay_ms(r);
  FUZZ_CHECK(d == -1 || (d >= 0 && d <= 86400 * 1000 + 999));
  /* The path normalised as a crawler would see it answers the same. */
  crawl_url u;
  char full[300];
  snprintf(full, sizeof full, "http://h%s", path);
  if (crawl_url_parse(&u, full) == 0 && strchr(path, '%') == NULL &&
      strchr(path, '#') == NULL && strstr(path, "/.") == NULL &&
      strchr(path, '\\') == NULL && !has_control(path)) {
    int b = crawl_robots_allowed(r, u.buf + u.path_off);
    FUZZ_CHECK(b == a);
  }
  crawl_robots *r2 = crawl_robots_parse(text, n, "corocrawl");
  FUZZ_CHECK(r2 != NULL);
  FUZZ_CHECK(crawl_robots_allowed(r2, path) == a);
  FUZZ_CHECK(crawl_robots_delay_ms(r2) == d);
  crawl_robots_free(r2);
  crawl_robots_free(r);
  free(text);
  return 0;
}
