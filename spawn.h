/* spawn.h - how Spawn (coroutine.go) starts a coroutine through callback.c:
 * one call, shared by coroutine.go's preamble and callback.c. */
#ifndef CORO_GO_SPAWN_H
#define CORO_GO_SPAWN_H

#include <stddef.h>
#include <stdint.h>

#include "coro.h"

typedef struct coro__go_cq coro__go_cq;
typedef struct coro__slot coro__slot; /* csrc/coro_internal.h */

/* The completion queue's length at which Spawn takes its keys
 * (spawnTakeAt in completion.go). */
#define CORO__GO_TAKE_AT 16

/* The polling slots of a loop (maxSpinners in coroutine.go). */
#define CORO__GO_SLOTS 2

/* What a spawn returns, by value: Spawn passes nothing by address, so
 * none of its variables escapes to Go's heap. */
typedef struct coro__go_spawned {
  coro_remote *r;  /* the record, on success */
  uint64_t id;     /* the coroutine's id */
  size_t pending;  /* records waiting in the loop's completion queue,
                      when at least CORO__GO_TAKE_AT were spawned and
                      not yet taken; else 0 (not read: the loop writes
                      that count at each completion, and reading its
                      line cost a Spawn a transfer between CPUs) */
  int rc;          /* 0 or a negative errno */
  int owe;         /* the caller owes the loop a wake (coro__go_loop_wake) */
} coro__go_spawned;

/* Spawns fn(arg) on loop with the given options (coro_opts' fields) and
 * a key (udata) that its record carries to q, the loop's completion queue,
 * once the coroutine has finished. With
 * defer_wake, a wake of the sleeping loop that the spawn has to make is
 * left to the caller (owe), unless the caller runs on a loop's thread (a
 * Go callback of a coroutine), which must not wait for other goroutines
 * to run. With beat, the spawn adds to the loop's waiter beat for its
 * goroutine, which will poll the outcome (csrc/sched.c "Liveness"). With
 * slot >= 0 (the default options only), it goes through that polling slot
 * of q as request number req (csrc/sched.c "Polling slots"; the caller
 * owns the slot: Loop.claimSlot). */
coro__go_spawned coro__go_remote_spawn(coro_loop *loop, coro__go_cq *q,
                                       uintptr_t fn, uintptr_t arg,
                                       int stack_mode, size_t stack_size,
                                       size_t guard_size, const char *name,
                                       uintptr_t udata, int defer_wake,
                                       int beat, int slot, uint64_t req);

/* Writes the wake a deferred spawn owes the loop. */
void coro__go_loop_wake(coro_loop *loop);

#endif
