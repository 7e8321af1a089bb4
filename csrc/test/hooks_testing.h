/* hooks_testing.h - what the hooks' C tests share, hooks_test.c and
 * hooks_servers_test.c: their first test, their loops, and their loopback
 * server (a line echo for one, HTTP for libcurl for the other). A header
 * of static functions, as testing.h, whose checks it uses.
 *
 * The server: an engine loop without hooks on a thread of its own, so
 * that a client blocking its thread (hooks off) cannot block the server.
 * It accepts on 127.0.0.1 and runs the program's handler as one
 * coroutine a connection; the handler reads its request and, before it
 * answers, calls hooks_server_arrive: a barrier that lets no request be
 * answered before `target` have arrived (a client can only be answered
 * when all are in flight at once), so that concurrency is counted, never
 * timed.
 */
#ifndef HOOKS_TESTING_H
#define HOOKS_TESTING_H

#include "coro.h"
#include "coro_hooks.h"
#include "testing.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct hooks_server {
  /* Set by hooks_server_start. */
  int mode;     /* the loop's stack mode */
  coro_fn conn; /* conn((void *)(intptr_t)fd): one connection; closes fd */
  int target;   /* requests the barrier waits for */
  /* For the tests to read. */
  struct sockaddr_in addr; /* where it listens */
  int received;            /* requests that reached the barrier */
  int timeouts;            /* barrier waits ended by their timeout */
  atomic_int accepted;     /* connections accepted */
  atomic_int held;         /* requests never answered (hooks_server_hold) */
  /* The server's own. */
  pthread_t th;
  coro_loop *loop;
  int lfd;
  atomic_int ready;
  coro_mutex mu;
  coro_cond cv;
} hooks_server;

/* The first test of both programs: the hooks are what the program's and
 * its shared libraries' calls resolve to. */
static inline void hooks_exported(int mode) {
  (void)mode;
  const char *missing = NULL;
  int rc = coro_hooks_check(&missing);
  if (rc != 0)
    FAILF("coro_hooks_check: %d, %s resolves to libc", rc, missing);
}

/* A new loop of stack mode `mode`, with the libc hooks on or off. */
static inline coro_loop *hooks_loop_new(int mode, int hooks) {
  coro_loop *l;
  coro_loop_opts o = {.stack_mode = mode, .hooks = hooks};
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  return l;
}

/* Runs l until its coroutines are done, then closes it (close_ns to
 * close cleanly). */
static inline void hooks_loop_run_close(coro_loop *l, int64_t close_ns) {
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_EMPTY), 0);
  CHECK_EQ(coro_loop_close(l, coro_now() + close_ns), 0);
}

/* From a handler: counts one request and waits until s->target have
 * arrived, or wait_ns have passed (counted in s->timeouts: -ETIMEDOUT). */
static inline int hooks_server_arrive(hooks_server *s, int64_t wait_ns) {
  int rc = 0;
  coro_mutex_lock(&s->mu, -1);
  if (++s->received >= s->target)
    coro_cond_broadcast(&s->cv);
  while (s->received < s->target)
    if (coro_cond_wait(&s->cv, &s->mu, coro_now() + wait_ns) < 0) {
      s->timeouts++;
      rc = -ETIMEDOUT;
      break;
    }
  coro_mutex_unlock(&s->mu);
  return rc;
}

/* From a handler: counts the request in s->held and never answers it
 * (the server's stop cancels the wait when its loop closes). */
static inline void hooks_server_hold(hooks_server *s) {
  atomic_fetch_add(&s->held, 1);
  coro_sleep(-1);
}

static inline void *hooks_server_accept_(void *arg) {
  hooks_server *s = arg;
  for (;;) {
    int fd = coro_accept(s->lfd, NULL, NULL, -1);
    if (fd < 0)
      return NULL;
    atomic_fetch_add(&s->accepted, 1);
    if (coro_spawn(NULL, s->conn, (void *)(intptr_t)fd, NULL) < 0)
      coro_fd_close(fd);
  }
}

static inline void *hooks_server_thread_(void *arg) {
  hooks_server *s = arg;
  coro_loop_opts o = {.stack_mode = s->mode};
  CHECK_EQ(coro_loop_new(&s->loop, &o), 0);
  CHECK_EQ(coro_mutex_init(&s->mu), 0);
  CHECK_EQ(coro_cond_init(&s->cv), 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  s->lfd = coro_tcp_listen((struct sockaddr *)&a, sizeof a, 4096, 0);
  CHECK_GE(s->lfd, 0);
  socklen_t len = sizeof s->addr;
  CHECK_EQ(getsockname(s->lfd, (struct sockaddr *)&s->addr, &len), 0);
  CHECK_EQ(coro_spawn(NULL, hooks_server_accept_, s, NULL), 0);
  atomic_store(&s->ready, 1);
  CHECK_EQ(coro_loop_run(s->loop, CORO_RUN_UNTIL_STOPPED), 0);
  coro_loop_close(s->loop, coro_now() + 5000000000LL);
  coro_fd_close(s->lfd);
  return NULL;
}

/* Starts s's thread with handler conn, a barrier of target requests and
 * loops of stack mode `mode`; returns once it listens (s->addr set). */
static inline void hooks_server_start(hooks_server *s, int mode, int target,
                                      coro_fn conn) {
  s->mode = mode;
  s->conn = conn;
  s->target = target;
  s->received = s->timeouts = 0;
  atomic_store(&s->accepted, 0);
  atomic_store(&s->held, 0);
  atomic_store(&s->ready, 0);
  CHECK_EQ(pthread_create(&s->th, NULL, hooks_server_thread_, s), 0);
  while (!atomic_load(&s->ready))
    sched_yield();
}

/* Stops s's loop (its close cancels the handlers still waiting) and joins
 * its thread. */
static inline void hooks_server_stop(hooks_server *s) {
  coro_loop_stop(s->loop);
  CHECK_EQ(pthread_join(s->th, NULL), 0);
}

#endif
