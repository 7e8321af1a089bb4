/* links_fuzz.c - a libFuzzer harness for link extraction and URL
 * resolution (internal/crawl/links.c, urlnorm.c), built by `make
 * fuzz-links` and replayed over fuzz/corpus/links by `make
 * test-fuzz-corpus`.
 *
 * The input is an HTML page of http://host.test/dir/page.html. It checks
 * that every link reported:
 *   - is an absolute http(s) URL of at most CRAWL_URL_MAX - 1 bytes, its
 *     length in len, with no fragment, no byte that must be escaped, a
 *     host that is lower case and a path that starts with '/' and has no
 *     dot segment;
 *   - is a fixed point: parsing it again gives the same string (so one
 *     resource has one spelling in the seen-set);
 * and that the count returned is the number of calls.
 * The input is a heap copy of exactly its length, so AddressSanitizer
 * reports a read one byte past its end.
 */
#include "../internal/crawl/crawl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

static int check_link(void *arg, const crawl_url *u) {
  int *calls = arg;
  ++*calls;
  FUZZ_CHECK(u->len == strlen(u->buf) && u->len < CRAWL_URL_MAX);
  FUZZ_CHECK(strncmp(u->buf, "http://", 7) == 0 || strncmp(u->buf, "https://", 8) == 0);
  FUZZ_CHECK(strchr(u->buf, '#') == NULL);
  for (const unsigned char *p = (const unsigned char *)u->buf; *p; p++)
    FUZZ_CHECK(*p > 0x20 && *p < 0x7f && !strchr("\"<>\\^`{|}", *p));
  for (size_t i = 0; i < u->host_len; i++) {
    char c = u->buf[u->host_off + i];
    FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  }
  const char *path = u->buf + u->path_off;
  FUZZ_CHECK(path[0] == '/');
  size_t pl = strcspn(path, "?");
  for (size_t i = 0; i + 1 < pl; i++)
    if (path[i] == '/' && path[i + 1] == '.') {
      size_t k = i + 2;
      if (k < pl && path[k] == '.') k++;
      FUZZ_CHECK(k < pl && path[k] != '/');
    }
  crawl_url again;
  FUZZ_CHECK(crawl_url_parse(&again, u->buf) == 0);
  FUZZ_CHECK(strcmp(again.buf, u->buf) == 0);
  FUZZ_CHECK(again.port == u->port && again.https == u->https);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *html = malloc(size ? size : 1);
  FUZZ_CHECK(html != NULL);
  if (size) memcpy(html, data, size);
  crawl_url page;
  FUZZ_CHECK(crawl_url_parse(&page, "http://host.test/dir/page.html") == 0);
  int calls = 0;
  int n = crawl_links(html, size, &page, check_link, &calls);
  FUZZ_CHECK(n == calls);
  free(html);
  return 0;
}
