/* go_glue.h - the coroutine entries the Go package spawns (go_glue.c):
 * each takes a job record in C memory that Go filled, runs one client
 * call in a coroutine of the client's loop, and leaves the result in the
 * record for Go to read after the coroutine has finished. */
#ifndef CORO_HTTP_GO_GLUE_H
#define CORO_HTTP_GO_GLUE_H

#include "coro_http.h"

typedef struct coro__http_go_job {
  coro_http_client *c;          /* in (out for new) */
  coro_http_client_opts opts;   /* new */
  coro_http_request req;        /* do */
  coro_http_response resp;      /* do: out */
  coro_http_stats stats;        /* stats: out */
  int rc;                       /* out */
} coro__http_go_job;

void *coro__http_go_new(void *job);
void *coro__http_go_do(void *job);
void *coro__http_go_free(void *job);
void *coro__http_go_stats(void *job);

#endif
