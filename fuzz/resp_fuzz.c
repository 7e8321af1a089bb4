/* resp_fuzz.c - a libFuzzer harness for the HTTP response parser
 * (httpc/resp.c, the client's and coro load's), built by `make
 * fuzz-resp` and replayed over fuzz/corpus/resp by `make
 * test-fuzz-corpus`.
 *
 * The first byte picks the settings (an answer to HEAD, a small head
 * limit, a body limit) and a cut; the rest is the byte stream. Checks:
 *   - fed whole, in two pieces at the cut, and a byte at a time (the
 *     pieces are heap copies of exactly their length, so AddressSanitizer
 *     reports a read past one), the outcome is the same: the error and its
 *     text, done, the bytes taken, the status, the framing, and the body
 *     handed to on_body byte for byte;
 *   - a result is an error or a count no larger than what was fed; done
 *     stops the feeding, and no body byte comes for a bodiless response;
 *   - the body never exceeds the body limit, nor a Content-Length.
 */
#include "coro_http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

typedef struct outcome {
  ssize_t err;
  const char *why;
  int done, status, framing, close;
  size_t used;
  char body[8192];
  size_t blen;
  uint64_t bytes;
} outcome;

static int on_body(void *arg, const char *p, size_t n) {
  outcome *o = arg;
  for (size_t i = 0; i < n && o->blen < sizeof o->body; i++)
    o->body[o->blen++] = p[i];
  return 0;
}

static void run(const uint8_t *d, size_t n, int flags, size_t cut, int bytewise,
                outcome *o) {
  memset(o, 0, sizeof *o);
  coro_http_resp r;
  coro_http_resp_init(&r);
  r.head_request = flags & 1;
  r.head_max = flags & 2 ? 256 : CORO_HTTP_HEAD_MAX_DEFAULT;
  r.body_max = flags & 4 ? 100 : 0;
  r.on_body = on_body;
  r.arg = o;
  size_t at = 0;
  while (at < n && !r.done) {
    size_t k = bytewise ? 1 : (at < cut ? cut - at : n - at);
    char *piece = malloc(k ? k : 1);
    memcpy(piece, d + at, k);
    ssize_t rc = coro_http_resp_feed(&r, piece, k);
    free(piece);
    if (rc < 0) {
      o->err = rc;
      break;
    }
    FUZZ_CHECK((size_t)rc <= k);
    o->used += (size_t)rc;
    at += (size_t)rc;
    if ((size_t)rc < k)
      FUZZ_CHECK(r.done);
  }
  if (!o->err && !r.done) {
    int rc = coro_http_resp_eof(&r);
    if (rc < 0)
      o->err = rc;
  }
  o->why = o->err ? r.why : NULL;
  o->done = r.done;
  o->status = r.status;
  o->framing = r.framing;
  o->close = r.close;
  o->bytes = r.body_bytes;
  if (r.done) {
    if (r.framing == CORO_HTTP_BODY_NONE)
      FUZZ_CHECK(o->blen == 0);
    if (r.framing == CORO_HTTP_BODY_LENGTH)
      FUZZ_CHECK(r.body_bytes == r.length);
    FUZZ_CHECK(r.status >= 200 && r.status <= 599);
  }
  if (r.body_max && o->err != -CORO_HTTP_EBODYSIZE)
    FUZZ_CHECK(r.body_bytes <= r.body_max);
  coro_http_resp_free(&r);
}

static void same(const outcome *a, const outcome *b) {
  FUZZ_CHECK(a->err == b->err);
  FUZZ_CHECK((a->why == NULL) == (b->why == NULL));
  if (a->why)
    FUZZ_CHECK(strcmp(a->why, b->why) == 0);
  FUZZ_CHECK(a->done == b->done);
  if (a->done) {
    FUZZ_CHECK(a->used == b->used);
    FUZZ_CHECK(a->status == b->status && a->framing == b->framing && a->close == b->close);
  }
  if (!a->err) {
    FUZZ_CHECK(a->blen == b->blen && memcmp(a->body, b->body, a->blen) == 0);
    FUZZ_CHECK(a->bytes == b->bytes);
  }
}

static outcome whole, split, bytes;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int flags = data[0] & 7;
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  size_t cut = n ? (size_t)(data[0] >> 3) * n / 32 : 0;
  run(d, n, flags, n, 0, &whole);
  run(d, n, flags, cut, 0, &split);
  same(&whole, &split);
  if (n <= 4096) {
    run(d, n, flags, 0, 1, &bytes);
    same(&whole, &bytes);
  }
  return 0;
}
