/* httpc_bench.c - the coro side of `make bench-httpc`: CONNS coroutines on
 * one loop, each sending keep-alive GETs of URL through one client
 * (coro_http_do, the body handed to a callback that drops it) until
 * SECONDS have passed. Prints "requests N errors E" (the CPU time is
 * measured by the script, around the whole process).
 *
 *   httpc_bench URL CONNS SECONDS
 */
#include "coro_http.h"

#include <stdio.h>
#include <stdlib.h>

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

static int conns;
static void *main_co(void *arg) {
  (void)arg;
  coro_http_client_opts o = {.max_conns_per_host = conns, .idle_timeout = 60000000000};
  if (coro_http_client_new(&client, &o) < 0)
    abort();
  coro *cos[4096];
  for (int i = 0; i < conns; i++)
    if (coro_spawn(&cos[i], worker, NULL, NULL) < 0)
      abort();
  for (int i = 0; i < conns; i++)
    coro_join(cos[i], -1, NULL);
  coro_http_client_free(client);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: httpc_bench URL CONNS SECONDS\n");
    return 2;
  }
  url = argv[1];
  conns = atoi(argv[2]);
  if (conns < 1 || conns > 4096)
    return 2;
  coro_loop *loop;
  if (coro_loop_new(&loop, NULL) < 0)
    return 1;
  end = coro_now() + (int64_t)(atof(argv[3]) * 1e9);
  coro_spawn(NULL, main_co, NULL, NULL);
  coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY);
  coro_loop_close(loop, -1);
  printf("requests %lu errors %lu\n", requests, errors);
  return errors ? 1 : 0;
}
