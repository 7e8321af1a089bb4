/* lookup.c - the C half of the Loop's lookups (resolver.go). cgo compiles
 * this file as part of package github.com/ccoro/coro.
 *
 * Each Go lookup spawns one coroutine on the loop with a coro__go_lookup
 * record (C memory, see lookup.h) as its argument, as io.c does for the fd
 * calls, so the answer never lives on a coroutine stack and Go never hands
 * C a pointer into Go memory. Nothing here calls into Go.
 */
#include "lookup.h"

void *coro__go_lookup_entry(void *arg) {
  coro__go_lookup *op = arg;
  op->started = 1;
  if (op->query == 2)
    op->rc = coro_resolver_stats_get(NULL, &op->stats);
  else if (op->query == 1)
    op->rc = coro_dns_query(NULL, op->name, op->type, op->flags, &op->answer,
                            op->deadline);
  else
    op->rc = coro_lookup_ip_server(NULL, op->name, op->family, op->ips,
                                   op->cap, op->deadline, &op->server,
                                   &op->server_len);
  op->done = 1;
  return NULL;
}
