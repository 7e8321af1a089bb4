/* url_test.c - url.c: parsing, normalization and RFC 3986's resolution
 * examples (section 5.4), and the references a crawler meets. */
#include "coro_http.h"
#include "testing.h"

static void parse_ok(const char *in, const char *href, const char *host,
                     int port, const char *target) {
  coro_url u;
  int rc = coro_url_parse(&u, in);
  if (rc != 0)
    FAILF("parse %s: %d", in, rc);
  CHECK_STR_EQ(u.href, href);
  CHECK_STR_EQ(u.host, host);
  CHECK_EQ(u.port, port);
  CHECK_STR_EQ(u.target, target);
  coro_url_free(&u);
}

static void parse_normalize(int unused) {
  (void)unused;
  parse_ok("http://example.com", "http://example.com/", "example.com", 80, "/");
  parse_ok("HTTP://EXample.COM:80/a/./b/../c?q=1#f", "http://example.com/a/c?q=1#f",
           "example.com", 80, "/a/c?q=1");
  parse_ok("https://h:443/", "https://h/", "h", 443, "/");
  parse_ok("https://h:8443", "https://h:8443/", "h", 8443, "/");
  parse_ok("http://h:/x", "http://h/x", "h", 80, "/x");
  parse_ok("http://[::1]:8080/p", "http://[::1]:8080/p", "::1", 8080, "/p");
  parse_ok("http://[FE80::A]/", "http://[fe80::a]/", "fe80::a", 80, "/");
  parse_ok("http://h/%7euser/%2fx%zz", "http://h/~user/%2Fx%25zz", "h", 80, "/~user/%2Fx%25zz");
  parse_ok("http://h/a b\xc3\xa9", "http://h/a%20b%C3%A9", "h", 80, "/a%20b%C3%A9");
  parse_ok("  http://h/a\tb\n  ", "http://h/ab", "h", 80, "/ab");
  parse_ok("http://u:p@h/", "http://u:p@h/", "h", 80, "/");
  parse_ok("http://h?", "http://h/?", "h", 80, "/?");
  parse_ok("http://h/a/%2E%2E/b", "http://h/b", "h", 80, "/b");
  parse_ok("http://H%41st/", "http://hast/", "hast", 80, "/");
  parse_ok("http://h%2fx/", "http://h%2Fx/", "h%2Fx", 80, "/");
  coro_url u;
  CHECK_EQ(coro_url_parse(&u, "http://h/x"), 0);
  CHECK(u.userinfo == NULL && u.query == NULL && u.fragment == NULL);
  CHECK_STR_EQ(u.scheme, "http");
  coro_url_free(&u);
  CHECK_EQ(coro_url_parse(&u, "http://u@h/?#"), 0);
  CHECK_STR_EQ(u.userinfo, "u");
  CHECK_STR_EQ(u.query, "");
  CHECK_STR_EQ(u.fragment, "");
  coro_url_free(&u);
  CHECK_EQ(coro_url_parse(&u, "mailto:a@b"), 0);
  CHECK_STR_EQ(u.path, "a@b");
  CHECK_EQ(u.port, 0);
  coro_url_free(&u);
}

static void parse_bad(int unused) {
  (void)unused;
  const char *bad[] = {"", "/relative", "//h/x", "http://", "http:///x",
                       "http://h:99999/", "http://h:8a/", "http://[::1/",
                       "http://[]/", "http://h<>/", "http://h/\x01x",
                       "http://a b/", "1http://h/", "http://h:-1/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    coro_url u;
    int rc = coro_url_parse(&u, bad[i]);
    if (rc != -CORO_HTTP_EURL)
      FAILF("parse \"%s\": %d, want -CORO_HTTP_EURL", bad[i], rc);
    CHECK(u.mem_ == NULL);
    coro_url_free(&u); /* harmless on a failed parse */
  }
}

/* RFC 3986 5.4.1 and 5.4.2, base http://a/b/c/d;p?q (normalized output:
 * so "http://a" gets its "/"). */
static void resolve_rfc(int unused) {
  (void)unused;
  static const char *const cases[][2] = {
      {"g:h", "g:h"},
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g/"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q#s"},
      {"g#s", "http://a/b/c/g#s"},
      {"g?y#s", "http://a/b/c/g?y#s"},
      {";x", "http://a/b/c/;x"},
      {"g;x", "http://a/b/c/g;x"},
      {"g;x?y#s", "http://a/b/c/g;x?y#s"},
      {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../", "http://a/"},
      {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},
      {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {".g", "http://a/b/c/.g"},
      {"g..", "http://a/b/c/g.."},
      {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},
      {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"g;x=1/../y", "http://a/b/c/y"},
      {"g?y/./x", "http://a/b/c/g?y/./x"},
      {"g?y/../x", "http://a/b/c/g?y/../x"},
      {"g#s/./x", "http://a/b/c/g#s/./x"},
      {"g#s/../x", "http://a/b/c/g#s/../x"},
      /* Beyond the RFC: what pages hold. */
      {"//other.example:8080/x/../y", "http://other.example:8080/y"},
      {"HTTPS://A/", "https://a/"},
      {"  g  ", "http://a/b/c/g"},
  };
  coro_url base;
  CHECK_EQ(coro_url_parse(&base, "http://a/b/c/d;p?q"), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    coro_url u;
    int rc = coro_url_resolve(&u, &base, cases[i][0]);
    if (rc != 0)
      FAILF("resolve \"%s\": %d", cases[i][0], rc);
    if (strcmp(u.href, cases[i][1]) != 0)
      FAILF("resolve \"%s\": \"%s\", want \"%s\"", cases[i][0], u.href, cases[i][1]);
    coro_url_free(&u);
  }
  coro_url u;
  CHECK_EQ(coro_url_resolve(&u, &base, "//h:x/"), -CORO_HTTP_EURL);
  /* RFC 3986 gives "http:g"; an http URL without a host is refused. */
  CHECK_EQ(coro_url_resolve(&u, &base, "http:g"), -CORO_HTTP_EURL);
  coro_url_free(&base);
  CHECK_EQ(coro_url_join(&u, "https://h/a/b", "../c?x#y"), 0);
  CHECK_STR_EQ(u.href, "https://h/c?x#y");
  CHECK_STR_EQ(u.target, "/c?x");
  coro_url_free(&u);
  CHECK_EQ(coro_url_join(&u, "nope", "x"), -CORO_HTTP_EURL);
}

/* Normalizing a normalized URL changes nothing. */
static void idempotent(int unused) {
  (void)unused;
  const char *in[] = {"HTTP://X.Y:80/a/../b/%7e/%41%2f?Q#F", "http://h/a%20b%C3%A9",
                      "http://[::1]:1/?", "https://u:p@H:444/x/./y/"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    coro_url a, b;
    CHECK_EQ(coro_url_parse(&a, in[i]), 0);
    CHECK_EQ(coro_url_parse(&b, a.href), 0);
    CHECK_STR_EQ(a.href, b.href);
    coro_url_free(&a);
    coro_url_free(&b);
  }
}

static void strerror_codes(int unused) {
  (void)unused;
  CHECK_STR_EQ(coro_http_strerror(-CORO_HTTP_ENOTLS),
               "TLS not built in: build with -tags coro_openssl");
  CHECK_STR_EQ(coro_http_strerror(-CORO_HTTP_EURL), "bad URL");
  CHECK(strstr(coro_http_strerror(-ETIMEDOUT), "timed out") != NULL);
}

static const testing_case tests[] = {
    {"parse_normalize", parse_normalize, 0},
    {"parse_bad", parse_bad, 0},
    {"resolve_rfc", resolve_rfc, 0},
    {"idempotent", idempotent, 0},
    {"strerror", strerror_codes, 0},
};
static const testing_param params[] = {{"-", 0}};

TESTING_MAIN(tests, params)
