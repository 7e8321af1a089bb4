/* go_glue.c - see go_glue.h. */
#include "go_glue.h"

void *coro__http_go_new(void *arg) {
  coro__http_go_job *j = arg;
  j->rc = coro_http_client_new(&j->c, &j->opts);
  return NULL;
}

void *coro__http_go_do(void *arg) {
  coro__http_go_job *j = arg;
  j->rc = coro_http_do(j->c, &j->req, &j->resp);
  return NULL;
}

void *coro__http_go_free(void *arg) {
  coro__http_go_job *j = arg;
  j->rc = coro_http_client_free(j->c);
  return NULL;
}

void *coro__http_go_stats(void *arg) {
  coro__http_go_job *j = arg;
  j->rc = coro_http_client_stats(j->c, &j->stats);
  return NULL;
}
