/* lookup.h - the record of one lookup from Go (resolver.go), shared by
 * resolver.go's preamble and lookup.c. */
#ifndef CORO_GO_LOOKUP_H
#define CORO_GO_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "coro.h"

/* One lookup request from Go, in C memory (a single calloc with room for
 * cap addresses after it). The Go side fills the inputs before the spawn,
 * reads the outputs once the coroutine has finished, and frees the
 * record, its name and its answer. */
typedef struct coro__go_lookup {
  const char *name;         /* input: the name (C string) */
  int query;                /* input: 0 coro_lookup_ip, 1 coro_dns_query,
                               2 coro_resolver_stats_get */
  int family;               /* input, lookup_ip: AF_UNSPEC, AF_INET, AF_INET6 */
  int type;                 /* input, dns_query: the record type */
  unsigned flags;           /* input, dns_query: CORO_DNS_* */
  int64_t deadline;         /* input: absolute CLOCK_MONOTONIC ns, -1 none */
  int started;              /* output: 1 once the coroutine has begun */
  int done;                 /* output: 1 once the outputs below are final */
  int rc;                   /* output: the call's result */
  coro_dns_answer *answer;  /* output, dns_query: coro_dns_answer_free it */
  coro_resolver_stats stats; /* output, stats */
  struct sockaddr_storage server; /* output, lookup_ip: the server asked */
  socklen_t server_len;     /* output, lookup_ip: 0 when none was */
  size_t cap;               /* input, lookup_ip: room in ips */
  coro_ip ips[];            /* output, lookup_ip: rc addresses */
} coro__go_lookup;

void *coro__go_lookup_entry(void *arg);

#endif
