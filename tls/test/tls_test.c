/* tls_test.c - the tls package's C (tls/tls.c) in the C test variants
 * (native, ASan+UBSan, valgrind): configuration errors, and many
 * handshakes, client and server, on one loop (internal/tlstest's fixture).
 * The Go tests (tls/tls_test.go) cover the rest against Go's TLS. The
 * certificates are made by the openssl command in a temporary directory. */
#include "coro.h"
#include "coro_tls.h"
#include "fixture.h"
#include "testing.h"

static char dir[64];

/* Makes a CA, a server certificate it signed (for localhost) and its key,
 * and an unrelated key, in dir. */
static void pki(void) {
  snprintf(dir, sizeof dir, "/tmp/coro-tls-test-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "exec >/dev/null 2>&1; cd %s && "
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
           "-keyout ca.key -out ca.pem -days 2 -subj /CN=ca && "
           "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
           "-keyout s.key -out s.csr -subj /CN=localhost && "
           "printf 'subjectAltName=DNS:localhost\\n' >ext && "
           "openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out s.pem -days 2 -extfile ext && "
           "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out o.key",
           dir);
  int rc = system(cmd);
  CHECK_EQ(rc, 0);
}

static void cleanup(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

static const char *path(const char *name) {
  static char buf[4][128];
  static int i;
  char *p = buf[i++ % 4];
  snprintf(p, 128, "%s/%s", dir, name);
  return p;
}

static void many_handshakes(int mode) {
  (void)mode;
  pki();
  tlstest_many_result r = {0};
  int rc = tlstest_many(path("s.pem"), path("s.key"), path("ca.pem"), 20, &r);
  if (rc != 0 || r.ok != 20 || r.served != 20)
    FAILF("rc %d ok %d served %d failed %d: %d %s", rc, r.ok, r.served,
          r.failed, r.first_err, r.err);
  cleanup();
}

static void config_errors(int mode) {
  (void)mode;
  pki();
  coro_tls_config *cfg = (coro_tls_config *)1;
  coro_tls_opts o = {.ca_file = path("missing.pem")};
  CHECK_EQ(coro_tls_client_new(&cfg, &o), -CORO_ETLS);
  CHECK(cfg == NULL);
  CHECK(strstr(coro_tls_last_error(), "missing.pem") != NULL);
  o = (coro_tls_opts){.cert_file = path("s.pem"), .key_file = path("o.key")};
  CHECK_EQ(coro_tls_server_new(&cfg, &o), -CORO_ETLS);
  CHECK(strstr(coro_tls_last_error(), "mismatch") != NULL);
  o = (coro_tls_opts){.min_version = 0x0301};
  CHECK_EQ(coro_tls_client_new(&cfg, &o), -EINVAL);
  CHECK_EQ(coro_tls_server_new(&cfg, NULL), -EINVAL);
  o = (coro_tls_opts){.ca_file = path("ca.pem")};
  CHECK_EQ(coro_tls_client_new(&cfg, &o), 0);
  coro_tls *t = (coro_tls *)1;
  CHECK_EQ(coro_tls_connect(&t, 0, "", cfg, 0), -EINVAL); /* no host */
  CHECK(t == NULL);
  CHECK_EQ(coro_tls_accept(&t, 0, cfg, 0), -EINVAL); /* a client config */
  CHECK_EQ(coro_tls_cached_sessions(cfg), 0);
  CHECK_EQ(coro_tls_read(NULL, NULL, 0, 0), -EINVAL);
  CHECK_STR_EQ(coro_tls_strerror(-CORO_ECERT), "certificate verification failed");
  coro_tls_config_free(cfg);
  coro_tls_config_free(NULL);
  coro_tls_free(NULL);
  cleanup();
}

static const testing_case tests[] = {
    {"many_handshakes", many_handshakes, 0},
    {"config_errors", config_errors, 0},
};
/* One run each: the fixture's loop has the default stacks (the Go tests
 * run the client in both modes). */
static const testing_param params[] = {{"guarded", CORO_STACK_GUARDED}};

TESTING_MAIN(tests, params)
