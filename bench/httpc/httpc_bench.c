/* httpc_bench.c - the coro side of `make bench-httpc`: CONNS coroutines on
 * one loop, each sending keep-alive GETs of URL through one client
 * (coro_http_do, the body handed to a callback that drops it) until
 * SECONDS have passed. Prints "requests N errors E" over the whole run
 * (the script measures the CPU time around the whole process), then
 * "setup S setup_cpu C steady N steady_s W steady_cpu C" from the
 * process's own clock and getrusage.
 *
 *   httpc_bench URL CONNS SECONDS [CAFILE]
 *
 * The setup is one GET per coroutine, all at once, so the pool opens
 * CONNS connections (over TLS: CONNS handshakes); the steady state is
 * what follows, on those connections kept alive. Over TLS the two cost
 * differently, so they are reported apart. CAFILE: the PEM the server's
 * certificate is verified against (https; built as httpc_bench_tls,
 * with tls_on.c).
 */
#include "coro_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static coro_http_client *client;
static const char *url;
static int64_t end;
static unsigned long requests, errors;

static int drop(void *arg, const char *p, size_t n) {
  (void)arg, (void)p, (void)n;
  return 0;
}

static void *worker(void *arg) {
  (void)arg;
  coro_http_request q = {.url = url, .deadline = -1, .body_fd = -1, .on_body = drop};
  while (coro_now() < end) {
    coro_http_response r;
    int rc = coro_http_do(client, &q, &r);
    if (rc == 200)
      requests++;
    else
      errors++;
    coro_http_response_free(&r);
  }
  return NULL;
}

/* One GET: the setup phase's, which opens a connection of the pool. */
static void *warm(void *arg) {
  (void)arg;
  coro_http_request q = {.url = url, .deadline = -1, .body_fd = -1, .on_body = drop};
  coro_http_response r;
  int rc = coro_http_do(client, &q, &r);
  if (rc == 200)
    requests++;
  else {
    errors++;
    fprintf(stderr, "httpc_bench: setup GET: %d %s %s\n", rc,
            rc < 0 ? coro_http_strerror(rc) : "", r.why);
  }
  coro_http_response_free(&r);
  return NULL;
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
         ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) / 1e6;
}

static int conns;
static const char *ca_file;
static double seconds;
static double t_setup, cpu_setup, t_steady, cpu_steady;
static unsigned long steady;

static void *spawn_join(coro_fn fn) {
  coro *cos[4096];
  for (int i = 0; i < conns; i++)
    if (coro_spawn(&cos[i], fn, NULL, NULL) < 0)
      abort();
  for (int i = 0; i < conns; i++)
    coro_join(cos[i], -1, NULL);
  return NULL;
}

static void *main_co(void *arg) {
  (void)arg;
  coro_http_client_opts o = {.max_conns_per_host = conns, .idle_timeout = 60000000000,
                             .tls = {.ca_file = ca_file}};
  if (coro_http_client_new(&client, &o) < 0)
    abort();
  int64_t t0 = coro_now();
  double c0 = cpu_s();
  spawn_join(warm);
  int64_t t1 = coro_now();
  double c1 = cpu_s();
  unsigned long n1 = requests;
  end = t1 + (int64_t)(seconds * 1e9);
  spawn_join(worker);
  t_setup = (double)(t1 - t0) / 1e9, cpu_setup = c1 - c0;
  t_steady = (double)(coro_now() - t1) / 1e9, cpu_steady = cpu_s() - c1;
  steady = requests - n1;
  coro_http_client_free(client);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: httpc_bench URL CONNS SECONDS [CAFILE]\n");
    return 2;
  }
  url = argv[1];
  conns = atoi(argv[2]);
  if (conns < 1 || conns > 4096)
    return 2;
  coro_loop *loop;
  if (coro_loop_new(&loop, NULL) < 0)
    return 1;
  seconds = atof(argv[3]);
  ca_file = argc == 5 ? argv[4] : NULL;
  coro_spawn(NULL, main_co, NULL, NULL);
  coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY);
  coro_loop_close(loop, -1);
  printf("requests %lu errors %lu\n", requests, errors);
  printf("setup %.6f setup_cpu %.6f steady %lu steady_s %.6f steady_cpu %.6f\n", t_setup,
         cpu_setup, steady, t_steady, cpu_steady);
  return errors ? 1 : 0;
}
