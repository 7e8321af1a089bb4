/* dns.c - the resolver's fixture: many lookups at once, from C coroutines
 * of one loop (resolver_test.go's 10,000-lookup test). */
#include "ctest.h"

#include "coro.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

struct one_lookup {
  struct ctest_box *b;
  size_t i;
};

static void *one_lookup(void *arg) {
  struct one_lookup *one = arg;
  struct ctest_box *b = one->b;
  char name[256];
  snprintf(name, sizeof name, "%zu.%s", one->i, (const char *)b->arg);
  coro_ip ips[4];
  int rc = coro_lookup_ip(NULL, name, AF_UNSPEC, ips, 4, -1);
  if (rc == 1)
    b->out++;
  else
    b->rc = rc;
  return NULL;
}

void *ctest_lookup_many(void *arg) {
  struct ctest_box *b = arg;
  size_t n = (size_t)b->n, spawned = 0;
  struct one_lookup *ones = calloc(n, sizeof *ones);
  coro **cos = calloc(n, sizeof *cos);
  if (ones == NULL || cos == NULL) {
    b->rc2 = -ENOMEM;
    goto out;
  }
  /* Shared stacks: the resolver must work when a waiting coroutine's
   * stack is copied away (no other coroutine may write into it), and
   * 10,000 guarded stacks would cost 10,000 mmap and munmap calls, the
   * larger part of this test's time on a gVisor kernel. */
  coro_opts opts = {.stack_mode = CORO_STACK_SHARED};
  for (; spawned < n; spawned++) {
    ones[spawned] = (struct one_lookup){b, spawned};
    int rc = coro_spawn(&cos[spawned], one_lookup, &ones[spawned], &opts);
    if (rc < 0) {
      b->rc2 = rc;
      break;
    }
  }
  for (size_t i = 0; i < spawned; i++) {
    int rc = coro_join(cos[i], -1, NULL);
    if (rc < 0 && b->rc2 == 0)
      b->rc2 = rc;
  }
out:
  free(ones);
  free(cos);
  return NULL;
}
