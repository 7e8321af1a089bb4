/* hooks_servers_test.c - the libc hooks (hooks/) proved with unmodified
 * client libraries against the real servers they are written for: hiredis
 * and redis-server, libpq and PostgreSQL, libmariadb and MariaDB, libcurl's
 * blocking easy interface and an HTTP server in this program (on
 * hooks_testing.h, shared with hooks_test.c).
 *
 * Run it through scripts/with-servers.sh (make hooks-servers), which starts
 * the servers and exports their ports (CORO_REDIS_PORT, CORO_PG_PORT,
 * CORO_MARIADB_PORT, CORO_REDIS_SERVER). Every library's blocking call is
 * made from a coroutine of a loop with hooks on; what is asserted is a
 * count, never a time: how many calls are inside the library at once
 * (in_flight, raised before the call, lowered after) and how many the
 * server sees waiting (redis CLIENT LIST, pg_stat_activity, MariaDB's
 * processlist, the HTTP server's barrier). A call that blocked the thread
 * would keep both at 1; hooks_off checks that it does with the hooks off.
 * Long server-side waits (BLPOP 0, pg_sleep(3600), SLEEP(3600)) are ended
 * by the test once all are counted: a push, a cancel of the statement.
 *
 * A library is in the build when its headers were found (CORO_HAVE_*, set
 * by the Makefile); the static build has only those with a static archive.
 */
#include "coro.h"
#include "coro_hooks.h"
#include "hooks_testing.h"
#include "testing.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#ifdef CORO_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif
#ifdef CORO_HAVE_LIBPQ
#include <libpq-fe.h>
#endif
#ifdef CORO_HAVE_MARIADB
#include <mysql.h>
#endif
#ifdef CORO_HAVE_CURL
#include <curl/curl.h>
#endif

#define SEC 1000000000LL

static int g_mode;                 /* the run's stack mode */
static int in_flight, max_in_flight; /* calls inside a library now, most */
static int ok_count, err_count;

static void enter(void) {
  if (++in_flight > max_in_flight)
    max_in_flight = in_flight;
}

static void leave(void) { in_flight--; }

static void counts_reset(void) {
  in_flight = max_in_flight = ok_count = err_count = 0;
}

/* The loop's stress size: the full count natively, smaller under valgrind. */
static int stress(int n) { return testing_under_valgrind() ? n / 10 : n; }

static int env_port(const char *name) {
  const char *s = getenv(name);
  if (s == NULL || atoi(s) <= 0)
    FAILF("%s is not set: run this program through scripts/with-servers.sh", name);
  return atoi(s);
}

/* A tag unique to this process, so that concurrent runs (native, ASan)
 * against the same servers never count each other's clients. */
static char tag[32];

static int64_t deadline_s(int s) {
  return coro_now() + (int64_t)s * testing_timeout_scale() * SEC;
}

/* From a coroutine: poll cond until true, failing after 60 s. */
static void wait_until(int (*cond)(void *), void *arg, const char *what) {
  int64_t end = deadline_s(60);
  while (!cond(arg)) {
    if (coro_now() > end)
      FAILF("timed out waiting for %s (in flight %d)", what, in_flight);
    coro_sleep(coro_now() + 5000000);
  }
}

static long open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  long n = 0;
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

static coro_loop *loop_new(int hooks) { return hooks_loop_new(g_mode, hooks); }

static void loop_run_close(coro_loop *l) { hooks_loop_run_close(l, 10 * SEC); }

/* Spawn n workers fn(i) and one controller (NULL: none) on a loop with
 * hooks (or not), run it until all are done. */
typedef struct run_spec {
  coro_fn worker, controller;
  int n, hooks;
  coro **cos; /* when not NULL: the workers' handles (n of them) */
} run_spec;

static void run(run_spec s) {
  coro_loop *l = loop_new(s.hooks);
  for (int i = 0; i < s.n; i++)
    CHECK_EQ(coro_spawn(s.cos ? &s.cos[i] : NULL, s.worker, (void *)(intptr_t)i, NULL), 0);
  if (s.controller)
    CHECK_EQ(coro_spawn(NULL, s.controller, (void *)(intptr_t)s.n, NULL), 0);
  loop_run_close(l);
}

/* ======================= hiredis and redis-server ======================= */
#ifdef CORO_HAVE_HIREDIS

static int redis_port;

static redisContext *redis_dial(int port) {
  redisContext *c = redisConnect("127.0.0.1", port);
  CHECK(c != NULL);
  if (c->err)
    FAILF("redisConnect: %s", c->errstr);
  return c;
}

static redisReply *cmd(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  if (r == NULL)
    FAILF("redis: %s", c->errstr);
  if (r->type == REDIS_REPLY_ERROR)
    FAILF("redis: %s", r->str);
  return r;
}

/* Clients named name that redis shows blocked in BLPOP (CLIENT LIST). */
static int redis_blocked(redisContext *c, const char *name) {
  redisReply *r = cmd(c, "CLIENT LIST");
  CHECK_EQ(r->type, REDIS_REPLY_STRING);
  char want[64];
  snprintf(want, sizeof want, " name=%s ", name);
  int n = 0;
  for (char *line = r->str; line && *line;) {
    char *end = strchr(line, '\n');
    if (end)
      *end = 0;
    if (strstr(line, want) && strstr(line, " cmd=blpop") && strstr(line, " flags=b "))
      n++;
    line = end ? end + 1 : NULL;
  }
  freeReplyObject(r);
  return n;
}

typedef struct blocked_wait {
  redisContext *c;
  int n;
} blocked_wait;

static int all_blocked(void *arg) {
  blocked_wait *w = arg;
  return in_flight == w->n && redis_blocked(w->c, tag) == w->n;
}

static char *redis_errors[1000]; /* first error message of each worker */

/* BLPOP on its own key; the value pushed must come back. A failure is
 * counted (err_count) with its message kept, for the fault tests. */
static void *blpop_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  redisContext *c = redis_dial(redis_port);
  freeReplyObject(cmd(c, "CLIENT SETNAME %s", tag));
  enter();
  redisReply *r = redisCommand(c, "BLPOP %s:%d 0", tag, i);
  leave();
  if (r == NULL) {
    err_count++;
    if (i < 1000)
      redis_errors[i] = strdup(c->errstr);
  } else {
    CHECK_EQ(r->type, REDIS_REPLY_ARRAY);
    CHECK_EQ(r->elements, 2u);
    char want[64];
    snprintf(want, sizeof want, "v%d", i * 7);
    CHECK_STR_EQ(r->element[1]->str, want);
    ok_count++;
    freeReplyObject(r);
  }
  redisFree(c);
  return NULL;
}

/* Waits until all n are parked in BLPOP (counted twice: by the clients
 * and by redis), then pushes every key's value in one pipeline. */
static void *blpop_pusher(void *arg) {
  int n = (int)(intptr_t)arg;
  redisContext *c = redis_dial(redis_port);
  blocked_wait w = {c, n};
  wait_until(all_blocked, &w, "every client blocked in BLPOP");
  CHECK_EQ(max_in_flight, n);
  for (int i = 0; i < n; i++)
    CHECK_EQ(redisAppendCommand(c, "RPUSH %s:%d v%d", tag, i, i * 7), REDIS_OK);
  for (int i = 0; i < n; i++) {
    redisReply *r;
    CHECK_EQ(redisGetReply(c, (void **)&r), REDIS_OK);
    CHECK_EQ(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
  }
  redisFree(c);
  return NULL;
}

/* 1,000 coroutines each in BLPOP on its own key, all parked at once on one
 * thread, each woken by its push with its own value. */
static void redis_blpop_parked(int mode) {
  g_mode = mode;
  redis_port = env_port("CORO_REDIS_PORT");
  counts_reset();
  int n = stress(1000);
  long fds = open_fds();
  run((run_spec){blpop_worker, blpop_pusher, n, 1, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(err_count, 0);
  CHECK_EQ(max_in_flight, n);
  CHECK_EQ(open_fds(), fds);
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static uint64_t checksum_got, checksum_want;

/* SET then GET of 50 keys one at a time, then 50 SETs and 50 GETs in one
 * pipeline; each value checked, and summed into a checksum. */
static void *setget_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  redisContext *c = redis_dial(redis_port);
  enter();
  for (int k = 0; k < 50; k++) {
    uint64_t v = mix((uint64_t)i << 20 | (uint64_t)k);
    checksum_want += v;
    freeReplyObject(cmd(c, "SET %s:s:%d:%d %llu", tag, i, k, (unsigned long long)v));
    coro_yield(); /* interleave the coroutines' round trips */
    redisReply *r = cmd(c, "GET %s:s:%d:%d", tag, i, k);
    CHECK_EQ(r->type, REDIS_REPLY_STRING);
    CHECK_EQ(strtoull(r->str, NULL, 10), v);
    checksum_got += strtoull(r->str, NULL, 10);
    freeReplyObject(r);
  }
  for (int k = 0; k < 50; k++)
    CHECK_EQ(redisAppendCommand(c, "SET %s:p:%d:%d %llu", tag, i, k,
                                (unsigned long long)mix((uint64_t)k << 20 | (uint64_t)i)),
             REDIS_OK);
  for (int k = 0; k < 50; k++)
    CHECK_EQ(redisAppendCommand(c, "GET %s:p:%d:%d", tag, i, k), REDIS_OK);
  for (int k = 0; k < 100; k++) {
    redisReply *r;
    CHECK_EQ(redisGetReply(c, (void **)&r), REDIS_OK);
    if (k < 50) {
      CHECK_EQ(r->type, REDIS_REPLY_STATUS);
    } else {
      uint64_t v = mix((uint64_t)(k - 50) << 20 | (uint64_t)i);
      CHECK_EQ(r->type, REDIS_REPLY_STRING);
      CHECK_EQ(strtoull(r->str, NULL, 10), v);
    }
    freeReplyObject(r);
  }
  leave();
  freeReplyObject(cmd(c, "EVAL %s 0 %s:[sp]:%d:*",
                      "for _,k in ipairs(redis.call('KEYS', ARGV[1])) do "
                      "redis.call('DEL', k) end return 0", tag, i));
  ok_count++;
  redisFree(c);
  return NULL;
}

/* 100 clients' SET/GET round trips and pipelines interleaved on one
 * thread: every value right, the checksums equal, all 100 in flight. */
static void redis_setget_pipelined(int mode) {
  g_mode = mode;
  redis_port = env_port("CORO_REDIS_PORT");
  counts_reset();
  checksum_got = checksum_want = 0;
  int n = stress(100);
  run((run_spec){setget_worker, NULL, n, 1, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, n);
  CHECK_U64_EQ(checksum_got, checksum_want);
}

/* A redis-server of this test's own, to kill. */
static pid_t own_redis(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  *port = ntohs(a.sin_port);
  char ps[16];
  snprintf(ps, sizeof ps, "%d", *port);
  const char *bin = getenv("CORO_REDIS_SERVER");
  pid_t pid = fork();
  CHECK_GE(pid, 0);
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    execlp(bin ? bin : "redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--protected-mode", "no", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static pid_t victim;
static int victim_port;

static int victim_up(void *arg) {
  (void)arg;
  redisContext *c = redisConnect("127.0.0.1", victim_port);
  int up = c != NULL && !c->err;
  if (up) {
    redisReply *r = redisCommand(c, "PING");
    up = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
  }
  redisFree(c);
  return up;
}

static void *killer(void *arg) {
  int n = (int)(intptr_t)arg;
  redisContext *c = redis_dial(victim_port);
  blocked_wait w = {c, n};
  wait_until(all_blocked, &w, "every client blocked in BLPOP");
  CHECK_EQ(kill(victim, SIGKILL), 0);
  /* Its death is seen by the clients, not waited for here. */
  redisReply *r = redisCommand(c, "PING");
  CHECK(r == NULL);
  redisFree(c);
  return NULL;
}

static void *starter(void *arg) {
  (void)arg;
  wait_until(victim_up, NULL, "the test's own redis-server");
  return NULL;
}

/* redis-server SIGKILLed while 200 clients are parked in BLPOP: every one
 * gets an error from hiredis (EOF or connection reset), none hangs, and
 * no fd is left open. */
static void redis_killed_mid_blpop(int mode) {
  g_mode = mode;
  counts_reset();
  long fds = open_fds();
  victim = own_redis(&victim_port);
  run((run_spec){starter, NULL, 1, 1, NULL});
  redis_port = victim_port;
  int n = stress(200);
  memset(redis_errors, 0, sizeof redis_errors);
  run((run_spec){blpop_worker, killer, n, 1, NULL});
  int st;
  CHECK_EQ(waitpid(victim, &st, 0), victim);
  CHECK(WIFSIGNALED(st));
  CHECK_EQ(err_count, n);
  CHECK_EQ(ok_count, 0);
  CHECK_EQ(max_in_flight, n);
  for (int i = 0; i < n; i++) {
    CHECK(redis_errors[i] != NULL);
    CHECK(strstr(redis_errors[i], "closed") || strstr(redis_errors[i], "reset"));
    free(redis_errors[i]);
  }
  CHECK_EQ(open_fds(), fds);
}

static coro *cancel_cos[200];

static void *canceller(void *arg) {
  int n = (int)(intptr_t)arg;
  redisContext *c = redis_dial(redis_port);
  blocked_wait w = {c, n};
  wait_until(all_blocked, &w, "every client blocked in BLPOP");
  for (int i = 0; i < n; i++)
    CHECK_EQ(coro_cancel(cancel_cos[i]), 0);
  redisFree(c);
  return NULL;
}

/* Coroutines cancelled inside hiredis's BLPOP: the hooked read returns
 * ECANCELED, hiredis marks the context failed (REDIS_ERR_IO, strerror's
 * text) and redisCommand returns NULL; redisFree then closes the fd. */
static void redis_cancel_blpop(int mode) {
  g_mode = mode;
  redis_port = env_port("CORO_REDIS_PORT");
  counts_reset();
  long fds = open_fds();
  int n = 50;
  memset(redis_errors, 0, sizeof redis_errors);
  run((run_spec){blpop_worker, canceller, n, 1, cancel_cos});
  CHECK_EQ(err_count, n);
  for (int i = 0; i < n; i++) {
    CHECK(redis_errors[i] != NULL);
    CHECK(strstr(redis_errors[i], "canceled") != NULL);
    free(redis_errors[i]);
  }
  CHECK_EQ(open_fds(), fds);
}

static void *redis_off_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  redisContext *c = redis_dial(redis_port);
  enter();
  redisReply *r = cmd(c, "BLPOP %s:off:%d 0.05", tag, i); /* times out: nil */
  leave();
  CHECK_EQ(r->type, REDIS_REPLY_NIL);
  freeReplyObject(r);
  redisFree(c);
  ok_count++;
  return NULL;
}
#endif /* CORO_HAVE_HIREDIS */

/* ========================= libpq and PostgreSQL ========================= */
#ifdef CORO_HAVE_LIBPQ

static char pg_conninfo[256];

/* At most 8 connection attempts at once: 200 backends forked and started
 * at once by a postmaster on a loaded 2-CPU machine cost it several times
 * the CPU (its start-up locks spin); the queries, not the connects, are
 * what must all be in flight (hooks_test's libpq_concurrent has 200
 * PQconnectdb in flight at once). */
static coro_sem pg_connecting;

static PGconn *pg_dial(const char *app) {
  char ci[320];
  snprintf(ci, sizeof ci, "%s application_name=%s", pg_conninfo, app);
  CHECK_EQ(coro_sem_acquire(&pg_connecting, -1), 0);
  PGconn *c = PQconnectdb(ci);
  CHECK_EQ(coro_sem_release(&pg_connecting), 0);
  if (PQstatus(c) != CONNECTION_OK)
    FAILF("PQconnectdb: %s", PQerrorMessage(c));
  return c;
}

static void pg_setup(void) {
  CHECK_EQ(coro_sem_init(&pg_connecting, 8), 0);
  snprintf(pg_conninfo, sizeof pg_conninfo,
           "hostaddr=127.0.0.1 port=%d user=postgres dbname=postgres "
           "sslmode=disable gssencmode=disable connect_timeout=30",
           env_port("CORO_PG_PORT"));
}

static long pg_int(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    FAILF("%s: %s", sql, PQresultErrorMessage(r));
  long v = atol(PQgetvalue(r, 0, 0));
  PQclear(r);
  return v;
}

static char pg_app[40];
static char *pg_errors[200];

typedef struct pg_wait {
  PGconn *c;
  int n;
} pg_wait;

static int pg_all_sleeping(void *arg) {
  pg_wait *w = arg;
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' "
           "AND state = 'active' AND query = 'SELECT pg_sleep(3600)'", pg_app);
  return in_flight == w->n && pg_int(w->c, sql) == w->n;
}

/* pg_sleep(3600), ended by the controller's cancel of the statement:
 * query_canceled (57014), then the same connection answers normally and
 * reports a bad statement as libpq does. */
static void *pg_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  PGconn *c = pg_dial(pg_app);
  enter();
  PGresult *r = PQexec(c, "SELECT pg_sleep(3600)");
  leave();
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (PQresultStatus(r) == PGRES_FATAL_ERROR && PQstatus(c) == CONNECTION_OK &&
      state != NULL && strcmp(state, "57014") == 0) {
    PQclear(r);
    char sql[40];
    snprintf(sql, sizeof sql, "SELECT %d * 3", i);
    CHECK_EQ(pg_int(c, sql), i * 3);
    r = PQexec(c, "SELECT no_such_column");
    CHECK_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
    CHECK_STR_EQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42703");
    ok_count++;
  } else {
    err_count++;
    pg_errors[i] = strdup(PQresultErrorMessage(r));
  }
  PQclear(r);
  PQfinish(c);
  return NULL;
}

static void *pg_controller(void *arg) {
  int n = (int)(intptr_t)arg;
  PGconn *c = pg_dial("ctl");
  pg_wait w = {c, n};
  wait_until(pg_all_sleeping, &w, "every backend in pg_sleep");
  CHECK_EQ(max_in_flight, n);
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
           "WHERE application_name = '%s'", pg_app);
  CHECK_EQ(pg_int(c, sql), n);
  PQfinish(c);
  return NULL;
}

/* 200 connections each in SELECT pg_sleep(3600) at once from one thread:
 * counted by the clients and by pg_stat_activity, then cancelled. A
 * PostgreSQL backend costs the server about 45 ms of CPU to start and end
 * on the loaded 2-CPU CI machine (9 s for 200), so only the native
 * guarded run has 200; the shared-stack and ASan runs, which add nothing
 * that depends on the count, have 50 (make test's CPU budget). */
static void pg_sleep_concurrent(int mode) {
  g_mode = mode;
  pg_setup();
  counts_reset();
  snprintf(pg_app, sizeof pg_app, "%s_pg", tag);
#ifdef __SANITIZE_ADDRESS__
  int n = 50;
#else
  int n = mode == CORO_STACK_GUARDED ? stress(200) : 50;
#endif
  long fds = open_fds();
  run((run_spec){pg_worker, pg_controller, n, 1, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, n);
  CHECK_EQ(open_fds(), fds);
}

static coro *pg_cos[20];

static void *pg_cancel_controller(void *arg) {
  int n = (int)(intptr_t)arg;
  PGconn *c = pg_dial("ctl");
  pg_wait w = {c, n};
  wait_until(pg_all_sleeping, &w, "every backend in pg_sleep");
  for (int i = 0; i < n; i++)
    CHECK_EQ(coro_cancel(pg_cos[i]), 0);
  /* The backends sleep on until told: their clients are gone. */
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
           "WHERE application_name = '%s'", pg_app);
  CHECK_EQ(pg_int(c, sql), n);
  PQfinish(c);
  return NULL;
}

/* Coroutines cancelled inside PQexec: libpq's poll returns ECANCELED, and
 * PQexec gives PGRES_FATAL_ERROR with "select() failed: Operation
 * canceled"; PQfinish then closes the connection. */
static void pg_cancel_in_query(int mode) {
  g_mode = mode;
  pg_setup();
  counts_reset();
  snprintf(pg_app, sizeof pg_app, "%s_pgc", tag);
  int n = 20;
  long fds = open_fds();
  memset(pg_errors, 0, sizeof pg_errors);
  run((run_spec){pg_worker, pg_cancel_controller, n, 1, pg_cos});
  CHECK_EQ(err_count, n);
  for (int i = 0; i < n; i++) {
    CHECK(pg_errors[i] != NULL);
    if (!strstr(pg_errors[i], "canceled"))
      FAILF("libpq's error: %s", pg_errors[i]);
    free(pg_errors[i]);
  }
  CHECK_EQ(open_fds(), fds);
}

/* A listener that never accepts: connects complete in its backlog, and
 * nothing is ever answered. */
static int mute_listener(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(listen(fd, 64), 0);
  socklen_t len = sizeof a;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

static int mute_port;
static char *pg_timeout_errors[20];

static void *pg_timeout_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  char ci[200];
  snprintf(ci, sizeof ci,
           "hostaddr=127.0.0.1 port=%d user=postgres dbname=postgres "
           "sslmode=disable gssencmode=disable connect_timeout=2", mute_port);
  enter();
  PGconn *c = PQconnectdb(ci);
  leave();
  if (PQstatus(c) == CONNECTION_BAD)
    err_count++;
  pg_timeout_errors[i] = strdup(PQerrorMessage(c));
  PQfinish(c);
  return NULL;
}

/* libpq's connect_timeout is kept by its poll in the loop: 20 attempts at
 * a server that never answers wait at once (max in flight 20) and each
 * fails with libpq's "timeout expired". */
static void pg_connect_timeout(int mode) {
  g_mode = mode;
  counts_reset();
  int lfd = mute_listener(&mute_port);
  run((run_spec){pg_timeout_worker, NULL, 20, 1, NULL});
  CHECK_EQ(err_count, 20);
  CHECK_EQ(max_in_flight, 20);
  for (int i = 0; i < 20; i++) {
    if (!strstr(pg_timeout_errors[i], "timeout expired"))
      FAILF("libpq's error: %s", pg_timeout_errors[i]);
    free(pg_timeout_errors[i]);
  }
  close(lfd);
}

static void *pg_off_worker(void *arg) {
  (void)arg;
  PGconn *c = pg_dial("off");
  enter();
  CHECK_EQ(pg_int(c, "SELECT count(*) FROM pg_sleep(0.01)"), 1);
  leave();
  PQfinish(c);
  ok_count++;
  return NULL;
}
#endif /* CORO_HAVE_LIBPQ */

/* ======================== libmariadb and MariaDB ======================== */
#ifdef CORO_HAVE_MARIADB

static int my_port;
static char my_tag[48];
static char *my_errors[200];

static MYSQL *my_dial(void) {
  MYSQL *m = mysql_init(NULL);
  CHECK(m != NULL);
  unsigned int proto = MYSQL_PROTOCOL_TCP;
  mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
  if (!mysql_real_connect(m, "127.0.0.1", "root", NULL, NULL, (unsigned)my_port, NULL, 0))
    FAILF("mysql_real_connect: %s", mysql_error(m));
  return m;
}

static long my_int(MYSQL *m, const char *sql) {
  if (mysql_query(m, sql))
    FAILF("%s: %s", sql, mysql_error(m));
  MYSQL_RES *res = mysql_store_result(m);
  CHECK(res != NULL);
  MYSQL_ROW row = mysql_fetch_row(res);
  CHECK(row != NULL && row[0] != NULL);
  long v = atol(row[0]);
  mysql_free_result(res);
  return v;
}

static const char *my_sleep_sql(void) {
  static char sql[96];
  snprintf(sql, sizeof sql, "SELECT SLEEP(3600), '%s'", my_tag);
  return sql;
}

typedef struct my_wait {
  MYSQL *m;
  int n;
} my_wait;

static int my_all_sleeping(void *arg) {
  my_wait *w = arg;
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = \"%s\"",
           my_sleep_sql());
  return in_flight == w->n && my_int(w->m, sql) == w->n;
}

/* SLEEP(3600), ended by the controller's KILL QUERY: SLEEP returns 1 (or
 * the query reports ER_QUERY_INTERRUPTED); the connection then answers. */
static void *my_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  MYSQL *m = my_dial();
  enter();
  int rc = mysql_query(m, my_sleep_sql());
  leave();
  MYSQL_RES *res = rc ? NULL : mysql_store_result(m);
  if (rc == 0 && res != NULL) {
    MYSQL_ROW row = mysql_fetch_row(res);
    CHECK(row != NULL);
    CHECK_STR_EQ(row[0], "1");
    mysql_free_result(res);
    char sql[40];
    snprintf(sql, sizeof sql, "SELECT %d * 5", i);
    CHECK_EQ(my_int(m, sql), i * 5);
    ok_count++;
  } else if (mysql_errno(m) == 1317) { /* ER_QUERY_INTERRUPTED */
    char sql[40];
    snprintf(sql, sizeof sql, "SELECT %d * 5", i);
    CHECK_EQ(my_int(m, sql), i * 5);
    ok_count++;
  } else {
    err_count++;
    char e[160];
    snprintf(e, sizeof e, "%u %s", mysql_errno(m), mysql_error(m));
    my_errors[i] = strdup(e);
  }
  mysql_close(m);
  return NULL;
}

/* KILL (QUERY or CONNECTION) every thread in our SLEEP; how many. */
static int my_kill_sleepers(MYSQL *m, const char *how) {
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = \"%s\"",
           my_sleep_sql());
  if (mysql_query(m, sql))
    FAILF("%s: %s", sql, mysql_error(m));
  MYSQL_RES *res = mysql_store_result(m);
  CHECK(res != NULL);
  int n = 0;
  long ids[400];
  MYSQL_ROW row;
  while ((row = mysql_fetch_row(res)) != NULL && n < 400)
    ids[n++] = atol(row[0]);
  mysql_free_result(res);
  for (int i = 0; i < n; i++) {
    snprintf(sql, sizeof sql, "KILL %s %ld", how, ids[i]);
    /* 1094 ER_NO_SUCH_THREAD: the thread ended between the list and the
     * KILL (the server saw its client close), which is what KILL wants. */
    if (mysql_query(m, sql) && mysql_errno(m) != 1094)
      FAILF("%s: %u %s", sql, mysql_errno(m), mysql_error(m));
  }
  return n;
}

static void *my_controller(void *arg) {
  int n = (int)(intptr_t)arg;
  MYSQL *m = my_dial();
  my_wait w = {m, n};
  wait_until(my_all_sleeping, &w, "every MariaDB thread in SLEEP");
  CHECK_EQ(max_in_flight, n);
  CHECK_EQ(my_kill_sleepers(m, "QUERY"), n);
  mysql_close(m);
  return NULL;
}

static void my_setup(void) {
  my_port = env_port("CORO_MARIADB_PORT");
  CHECK_EQ(mysql_library_init(0, NULL, NULL), 0);
}

/* 200 connections each in SELECT SLEEP(3600) at once from one thread:
 * counted by the clients and by the server's processlist, then killed. */
static void mariadb_sleep_concurrent(int mode) {
  g_mode = mode;
  my_setup();
  counts_reset();
  snprintf(my_tag, sizeof my_tag, "%s_my", tag);
  int n = stress(200);
  long fds = open_fds();
  run((run_spec){my_worker, my_controller, n, 1, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, n);
  CHECK_EQ(open_fds(), fds);
  mysql_library_end();
}

static coro *my_cos[20];

static void *my_cancel_controller(void *arg) {
  int n = (int)(intptr_t)arg;
  MYSQL *m = my_dial();
  my_wait w = {m, n};
  wait_until(my_all_sleeping, &w, "every MariaDB thread in SLEEP");
  for (int i = 0; i < n; i++)
    CHECK_EQ(coro_cancel(my_cos[i]), 0);
  CHECK_EQ(my_kill_sleepers(m, "CONNECTION"), n); /* their clients are gone */
  mysql_close(m);
  return NULL;
}

/* Coroutines cancelled inside mysql_query: libmariadb's poll returns
 * ECANCELED, and the query fails with CR_SERVER_LOST (2013, "Lost
 * connection to server during query"); mysql_close closes the fd. */
static void mariadb_cancel_in_query(int mode) {
  g_mode = mode;
  my_setup();
  counts_reset();
  snprintf(my_tag, sizeof my_tag, "%s_myc", tag);
  int n = 20;
  long fds = open_fds();
  memset(my_errors, 0, sizeof my_errors);
  run((run_spec){my_worker, my_cancel_controller, n, 1, my_cos});
  CHECK_EQ(err_count, n);
  for (int i = 0; i < n; i++) {
    CHECK(my_errors[i] != NULL);
    if (strncmp(my_errors[i], "2013 ", 5) != 0)
      FAILF("libmariadb's error: %s", my_errors[i]);
    free(my_errors[i]);
  }
  CHECK_EQ(open_fds(), fds);
  mysql_library_end();
}

static void *my_off_worker(void *arg) {
  (void)arg;
  MYSQL *m = my_dial();
  enter();
  CHECK_EQ(my_int(m, "SELECT SLEEP(0.01) + 7"), 7);
  leave();
  mysql_close(m);
  ok_count++;
  return NULL;
}
#endif /* CORO_HAVE_MARIADB */

/* ===================== libcurl and an HTTP server ======================= */
#ifdef CORO_HAVE_CURL

/* The server (hooks_testing.h): GET /ID gets a body of body_len(ID) bytes,
 * byte j = body_byte(ID, j), once `target` requests have arrived (a
 * barrier: with target n, no answer comes until all n requests are in at
 * once); GET /hold/ID never. */
static hooks_server hs;

static size_t body_len(int id) { return 1000 + (size_t)(id * 37 % 15000); }
static unsigned char body_byte(int id, size_t j) { return (unsigned char)(id * 31 + j * 7); }

static void *http_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char req[1024];
  size_t n = 0;
  while (n < sizeof req - 1) {
    ssize_t r = coro_read(fd, req + n, sizeof req - 1 - n, -1);
    if (r <= 0)
      goto out;
    n += (size_t)r;
    req[n] = 0;
    if (strstr(req, "\r\n\r\n"))
      break;
  }
  if (strncmp(req, "GET /hold/", 10) == 0) {
    hooks_server_hold(&hs); /* until the loop closes */
    goto out;
  }
  int id = atoi(req + 5);
  hooks_server_arrive(&hs, 60 * SEC);
  size_t len = body_len(id);
  char *resp = malloc(len + 128);
  CHECK(resp != NULL);
  int h = snprintf(resp, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", len);
  for (size_t j = 0; j < len; j++)
    resp[h + j] = (char)body_byte(id, j);
  coro_write_all(fd, resp, (size_t)h + len, coro_now() + 60 * SEC);
  free(resp);
out:
  coro_fd_close(fd);
  return NULL;
}

static void http_start(int target) { hooks_server_start(&hs, g_mode, target, http_conn); }

static void http_stop(void) { hooks_server_stop(&hs); }

typedef struct download {
  int id;
  size_t got;
  int bad; /* bytes that differ from the server's */
  uint64_t sum;
} download;

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg) {
  download *d = arg;
  for (size_t k = 0; k < size * nmemb; k++) {
    if ((unsigned char)p[k] != body_byte(d->id, d->got + k))
      d->bad++;
    d->sum += (unsigned char)p[k];
  }
  d->got += size * nmemb;
  return size * nmemb;
}

static uint64_t curl_sum_got, curl_sum_want;
static int curl_codes[200]; /* the cancel test's CURLcodes */
static int curl_hold;       /* GET /hold/ID: never answered */

static void *curl_worker(void *arg) {
  int i = (int)(intptr_t)arg;
  CURL *e = curl_easy_init();
  CHECK(e != NULL);
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/%s%d", ntohs(hs.addr.sin_port),
           curl_hold ? "hold/" : "", i);
  download d = {.id = i};
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &d);
  enter();
  CURLcode rc = curl_easy_perform(e);
  leave();
  if (rc == CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    CHECK_EQ(code, 200);
    CHECK_EQ(d.got, body_len(i));
    CHECK_EQ(d.bad, 0);
    curl_sum_got += d.sum;
    for (size_t j = 0; j < body_len(i); j++)
      curl_sum_want += body_byte(i, j);
    ok_count++;
  } else {
    err_count++;
    if (i < 200)
      curl_codes[i] = (int)rc;
  }
  curl_easy_cleanup(e);
  return NULL;
}

/* 1,000 curl_easy_perform downloads at once on one thread (the server
 * answers none until all 1,000 requests are in), every byte right. */
static void curl_downloads(int mode) {
  g_mode = mode;
  counts_reset();
  curl_hold = 0;
  curl_sum_got = curl_sum_want = 0;
  int n = stress(1000);
  CHECK_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
  http_start(n);
  long fds = open_fds();
  run((run_spec){curl_worker, NULL, n, 1, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, n);
  CHECK_EQ(hs.received, n);
  CHECK_U64_EQ(curl_sum_got, curl_sum_want);
  CHECK_EQ(open_fds(), fds);
  http_stop();
  curl_global_cleanup();
}

static coro *curl_cos[20];

static int held(void *n) {
  (void)n;
  return in_flight == 20 && atomic_load(&hs.held) == 20;
}

static void *curl_canceller(void *arg) {
  int n = (int)(intptr_t)arg;
  wait_until(held, NULL, "every request held by the server");
  for (int i = 0; i < n; i++)
    CHECK_EQ(coro_cancel(curl_cos[i]), 0);
  return NULL;
}

/* Coroutines cancelled inside curl_easy_perform: curl's poll returns
 * ECANCELED, curl_multi_wait fails (CURLM_UNRECOVERABLE_POLL) and
 * curl_easy_perform turns that into CURLE_BAD_FUNCTION_ARGUMENT (43, "A
 * libcurl function was given a bad argument": curl's generic code for a
 * multi error it thinks cannot happen); curl_easy_cleanup closes the
 * socket. */
static void curl_cancel_in_perform(int mode) {
  g_mode = mode;
  counts_reset();
  curl_hold = 1;
  CHECK_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
  long fds = open_fds();
  http_start(1);
  memset(curl_codes, 0, sizeof curl_codes);
  run((run_spec){curl_worker, curl_canceller, 20, 1, curl_cos});
  CHECK_EQ(err_count, 20);
  for (int i = 0; i < 20; i++)
    if (curl_codes[i] != CURLE_BAD_FUNCTION_ARGUMENT)
      FAILF("transfer %d: %d %s", i, curl_codes[i],
            curl_easy_strerror((CURLcode)curl_codes[i]));
  if (getenv("HOOKS_SERVERS_VERBOSE")) {
    fprintf(stderr, "curl after a cancel: %d %s\n", curl_codes[0],
            curl_easy_strerror((CURLcode)curl_codes[0]));
  }
  http_stop(); /* the server's ends of the held requests */
  CHECK_EQ(open_fds(), fds);
  curl_global_cleanup();
}
#endif /* CORO_HAVE_CURL */

/* ============================== hooks off ================================ */

/* The same library calls on a loop without hooks block the thread: one at
 * a time (max in flight 1), and all still succeed. */
static void hooks_off_sequential(int mode) {
  g_mode = mode;
  int n = 5;
  (void)n;
#ifdef CORO_HAVE_HIREDIS
  redis_port = env_port("CORO_REDIS_PORT");
  counts_reset();
  run((run_spec){redis_off_worker, NULL, n, 0, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, 1);
  counts_reset(); /* and with hooks on: all at once */
  run((run_spec){redis_off_worker, NULL, n, 1, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, n);
#endif
#ifdef CORO_HAVE_LIBPQ
  pg_setup();
  counts_reset();
  run((run_spec){pg_off_worker, NULL, n, 0, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, 1);
#endif
#ifdef CORO_HAVE_MARIADB
  my_setup();
  counts_reset();
  run((run_spec){my_off_worker, NULL, n, 0, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, 1);
  mysql_library_end();
#endif
#ifdef CORO_HAVE_CURL
  counts_reset();
  curl_hold = 0;
  curl_sum_got = curl_sum_want = 0;
  CHECK_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
  http_start(1);
  run((run_spec){curl_worker, NULL, n, 0, NULL});
  CHECK_EQ(ok_count, n);
  CHECK_EQ(max_in_flight, 1);
  http_stop();
  curl_global_cleanup();
#endif
}

static const testing_case tests[] = {
    {"hooks_exported", hooks_exported, 0},
#ifdef CORO_HAVE_HIREDIS
    {"redis_blpop_parked", redis_blpop_parked, 120},
    {"redis_setget_pipelined", redis_setget_pipelined, 60},
    {"redis_killed_mid_blpop", redis_killed_mid_blpop, 60},
    {"redis_cancel_blpop", redis_cancel_blpop, 60},
#endif
#ifdef CORO_HAVE_LIBPQ
    {"pg_sleep_concurrent", pg_sleep_concurrent, 120},
    {"pg_cancel_in_query", pg_cancel_in_query, 60},
    {"pg_connect_timeout", pg_connect_timeout, 60},
#endif
#ifdef CORO_HAVE_MARIADB
    {"mariadb_sleep_concurrent", mariadb_sleep_concurrent, 120},
    {"mariadb_cancel_in_query", mariadb_cancel_in_query, 60},
#endif
#ifdef CORO_HAVE_CURL
    {"curl_downloads", curl_downloads, 120},
    {"curl_cancel_in_perform", curl_cancel_in_perform, 60},
#endif
    {"hooks_off_sequential", hooks_off_sequential, 60},
};

static const testing_param params[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

/* 1,000 clients and their servers' ends need more fds than the usual soft
 * limit of 1,024; the tag keeps concurrent runs apart. */
__attribute__((constructor)) static void setup(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  snprintf(tag, sizeof tag, "hp%ld", (long)getpid());
}

TESTING_MAIN(tests, params)
