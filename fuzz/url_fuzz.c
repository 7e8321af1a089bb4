/* url_fuzz.c - a libFuzzer harness for the URL code (httpc/url.c), built
 * by `make fuzz-url` and replayed over fuzz/corpus/url by `make
 * test-fuzz-corpus`.
 *
 * The input is a base and a reference separated by the first newline (a
 * byte url.c drops from URLs, so no URL needs one). Checks:
 *   - parse and resolve return 0, -CORO_HTTP_EURL or -ENOMEM, and on
 *     failure leave nothing to free;
 *   - an http(s) result is normalized: parsing its href again gives the
 *     very same href and parts (normalization is idempotent), the host is
 *     in lower case, the path starts with "/" and has no dot segment, and
 *     no part holds a space, a control character or a byte above 0x7e;
 *   - target is path, then "?" and query when there is one.
 */
#include "coro_http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

static void clean_part(const char *s) {
  if (!s)
    return;
  for (; *s; s++)
    FUZZ_CHECK((unsigned char)*s > ' ' && (unsigned char)*s < 0x7f);
}

static void check(const coro_url *u) {
  clean_part(u->href);
  clean_part(u->scheme);
  clean_part(u->userinfo);
  clean_part(u->host);
  clean_part(u->path);
  clean_part(u->query);
  clean_part(u->fragment);
  int web = !strcmp(u->scheme, "http") || !strcmp(u->scheme, "https");
  size_t pl = strlen(u->path);
  FUZZ_CHECK(strncmp(u->target, u->path, pl) == 0);
  if (u->query)
    FUZZ_CHECK(u->target[pl] == '?' && strcmp(u->target + pl + 1, u->query) == 0);
  else
    FUZZ_CHECK(u->target[pl] == '\0');
  if (!web)
    return;
  FUZZ_CHECK(u->path[0] == '/');
  FUZZ_CHECK(strstr(u->path, "/./") == NULL && strstr(u->path, "/../") == NULL);
  for (const char *h = u->host; *h; h++)
    FUZZ_CHECK(!(*h >= 'A' && *h <= 'Z') || (h - u->host >= 1 && (h[-1] == '%' || (h - u->host >= 2 && h[-2] == '%'))));
  FUZZ_CHECK(u->port > 0 && u->port <= 65535);
  coro_url again;
  int rc = coro_url_parse(&again, u->href);
  FUZZ_CHECK(rc == 0);
  FUZZ_CHECK(strcmp(again.href, u->href) == 0);
  FUZZ_CHECK(strcmp(again.host, u->host) == 0 && again.port == u->port);
  FUZZ_CHECK(strcmp(again.target, u->target) == 0);
  coro_url_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  if (strlen(s) != size) { /* a NUL inside: C strings cannot hold it */
    free(s);
    return 0;
  }
  char *nl = strchr(s, '\n');
  char *ref = NULL;
  if (nl) {
    *nl = '\0';
    ref = nl + 1;
  }
  coro_url base;
  int rc = coro_url_parse(&base, s);
  FUZZ_CHECK(rc == 0 || rc == -CORO_HTTP_EURL || rc == -ENOMEM);
  if (rc == 0) {
    check(&base);
    if (ref) {
      coro_url u;
      rc = coro_url_resolve(&u, &base, ref);
      FUZZ_CHECK(rc == 0 || rc == -CORO_HTTP_EURL || rc == -ENOMEM);
      if (rc == 0)
        check(&u);
      else
        FUZZ_CHECK(u.mem_ == NULL);
      coro_url_free(&u);
    }
    coro_url_free(&base);
  } else {
    FUZZ_CHECK(base.mem_ == NULL);
  }
  free(s);
  return 0;
}
