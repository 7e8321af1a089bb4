/* resp_test.c - resp.c in C (under ASan and valgrind in make test's C
 * variants; go test ./httpc runs the big table): every response below is
 * fed whole, in two pieces at every offset and a byte at a time, each
 * piece a heap copy of exactly its length, and must give the same
 * outcome: status, body, framing, or the error and its reason. */
#include "coro_http.h"
#include "testing.h"

typedef struct out {
  int rc, status, done, close;
  char body[256];
  size_t blen;
  char fields[512];
  const char *why;
} out;

static int on_body(void *arg, const char *p, size_t n) {
  out *o = arg;
  CHECK_LE(o->blen + n, sizeof o->body - 1);
  memcpy(o->body + o->blen, p, n);
  o->blen += n;
  return 0;
}

static int on_field(void *arg, const char *name, size_t nn, const char *v, size_t vn) {
  out *o = arg;
  size_t l = strlen(o->fields);
  snprintf(o->fields + l, sizeof o->fields - l, "%.*s=%.*s;", (int)nn, name, (int)vn, v);
  return 0;
}

/* Feed s cut at cut (0: whole; (size_t)-1: byte at a time). */
static void feed(const char *s, size_t cut, int head, size_t body_max, out *o) {
  memset(o, 0, sizeof *o);
  coro_http_resp r;
  coro_http_resp_init(&r);
  r.head_request = head;
  r.body_max = body_max;
  r.on_body = on_body;
  r.on_field = on_field;
  r.arg = o;
  size_t n = strlen(s), at = 0;
  while (at < n && !r.done) {
    size_t k = cut == (size_t)-1 ? 1 : cut > at ? cut - at : n - at;
    char *piece = malloc(k);
    memcpy(piece, s + at, k);
    ssize_t rc = coro_http_resp_feed(&r, piece, k);
    free(piece);
    if (rc < 0) {
      o->rc = (int)rc;
      break;
    }
    at += (size_t)rc;
    if ((size_t)rc < k)
      break;
  }
  if (!o->rc && !r.done)
    o->rc = coro_http_resp_eof(&r);
  o->status = r.status;
  o->done = r.done;
  o->close = r.close;
  o->why = o->rc ? r.why : NULL;
  coro_http_resp_free(&r);
}

static void expect(const char *s, int head, size_t body_max, int rc, int status,
                   const char *body, const char *why) {
  size_t n = strlen(s);
  for (size_t cut = 0; cut <= n + 1; cut++) {
    out o;
    feed(s, cut == n + 1 ? (size_t)-1 : cut, head, body_max, &o);
    if (o.rc != rc)
      FAILF("%.40s... cut %zu: rc %d, want %d (%s)", s, cut, o.rc, rc, o.why ? o.why : "");
    if (rc == 0) {
      CHECK_EQ(o.status, status);
      CHECK(o.done);
      CHECK_EQ(o.blen, strlen(body));
      CHECK(memcmp(o.body, body, o.blen) == 0);
    } else {
      CHECK(o.why != NULL && strstr(o.why, why) != NULL);
    }
  }
}

static void good(int unused) {
  (void)unused;
  expect("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 0, 0, 200, "hello", NULL);
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
         0, 0, 0, 200, "hello!", NULL);
  expect("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 0, 0, 0, 201, "ok", NULL);
  expect("HTTP/1.0 200 OK\r\n\r\nto the end", 0, 0, 0, 200, "to the end", NULL);
  expect("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 0, 0, 0, 204, "", NULL);
  expect("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 1, 0, 0, 200, "", NULL);
  expect("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 5, 0, 200, "hello", NULL);
  out o;
  feed("HTTP/1.1 200 OK\r\nA: 1\r\nB:  two words \r\n\r\n", 0, 1, 0, &o);
  CHECK_STR_EQ(o.fields, "A=1;B=two words;");
}

static void bad(int unused) {
  (void)unused;
  const char *ok = "HTTP/1.1 200 OK\r\n";
  char b[512];
  snprintf(b, sizeof b, "%sContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", ok);
  expect(b, 0, 0, -CORO_HTTP_EFRAMING, 0, NULL, "disagree");
  snprintf(b, sizeof b, "%sContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ok);
  expect(b, 0, 0, -CORO_HTTP_EFRAMING, 0, NULL, "both");
  snprintf(b, sizeof b, "%sTransfer-Encoding: chunked\r\n\r\nzz\r\n", ok);
  expect(b, 0, 0, -CORO_HTTP_EFRAMING, 0, NULL, "bad chunk size");
  snprintf(b, sizeof b, "%sTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", ok);
  expect(b, 0, 0, -CORO_HTTP_EFRAMING, 0, NULL, "chunk data longer");
  snprintf(b, sizeof b, "%sContent-Length: 10\r\n\r\nshort", ok);
  expect(b, 0, 0, -CORO_HTTP_ETRUNCATED, 0, NULL, "in the middle");
  snprintf(b, sizeof b, "%sContent-Length: 50\r\n\r\n", ok);
  expect(b, 0, 10, -CORO_HTTP_EBODYSIZE, 0, NULL, "over the body limit");
  snprintf(b, sizeof b, "%s\r\n0123456789abc", ok);
  expect(b, 0, 10, -CORO_HTTP_EBODYSIZE, 0, NULL, "body over the limit");
  expect("HTTP/1.1 101 Switching\r\n\r\n", 0, 0, -EPROTO, 0, NULL, "101");
  expect("SSH-2.0-x\r\n", 0, 0, -CORO_HTTP_EFRAMING, 0, NULL, "not an HTTP");
  expect("", 0, 0, -CORO_HTTP_ETRUNCATED, 0, NULL, "before the response");
}

/* A small head limit; a split head is gathered into a buffer of it. */
static void head_limit(int unused) {
  (void)unused;
  coro_http_resp r;
  coro_http_resp_init(&r);
  r.head_max = 64;
  const char *s = "HTTP/1.1 200 OK\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n";
  CHECK_EQ(coro_http_resp_feed(&r, s, 10), 10);
  CHECK_EQ(coro_http_resp_feed(&r, s + 10, strlen(s) - 10), -CORO_HTTP_EHEADSIZE);
  coro_http_resp_reset(&r);
  CHECK_EQ((int)r.head_max, 64);
  CHECK_EQ(coro_http_resp_feed(&r, "HTTP/1.1 200 OK\r\n", 17), 17);
  CHECK_EQ(coro_http_resp_feed(&r, "\r\n", 2), 2);
  CHECK(r.in_body);
  coro_http_resp_free(&r);
}

static const testing_case tests[] = {
    {"good", good, 0},
    {"bad", bad, 0},
    {"head_limit", head_limit, 0},
};
static const testing_param params[] = {{"-", 0}};

TESTING_MAIN(tests, params)
