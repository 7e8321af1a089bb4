/* hooks_test.c - the libc hooks (hooks/): blocking libc calls wait in the
 * loop inside hooked coroutines, and stay libc's everywhere else.
 *
 * The program links libcoro_hooks.a whole and exported (-rdynamic, see the
 * Makefile), as a C program using the hooks must. The server
 * (hooks_testing.h, shared with hooks_servers_test.c) is an engine server
 * on a thread of its own (a loop without hooks), so that a client
 * blocking its thread (hooks off) cannot block the server: it echoes each
 * request line once `target` requests have arrived (a barrier: a client
 * can only be answered when all are in flight at once, so concurrency is
 * counted, never timed), and never answers a line starting with 'h'.
 */
#include "coro.h"
#include "coro_hooks.h"
#include "hook.h"
#include "hooks_client.h"
#include "hooks_testing.h"
#include "testing.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

static int g_mode; /* the run's stack mode */

#define SEC 1000000000LL

/* ---- the server ------------------------------------------------------- */

/* The echo (hooks_testing.h): each request line once `target` requests
 * have arrived, never a line starting with 'h'. */
static hooks_server srv;

static void *serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[64];
  size_t n = 0;
  /* A request ends with a newline, or (a binary protocol's, libpq's
   * startup packet, whose length field has one) holds a NUL. */
  while (n < sizeof buf && !memchr(buf, '\n', n) && !memchr(buf, 0, n)) {
    ssize_t r = coro_read(fd, buf + n, sizeof buf - n, -1);
    if (r <= 0)
      goto out;
    n += (size_t)r;
  }
  if (buf[0] == 'h') { /* hold: never answer (the loop's close cancels) */
    hooks_server_hold(&srv);
    goto out;
  }
  hooks_server_arrive(&srv, 20 * SEC);
  coro_write_all(fd, buf, n, coro_now() + 5 * SEC);
out:
  coro_fd_close(fd);
  return NULL;
}

static void server_start(int target) {
  hooks_server_start(&srv, g_mode, target, serve_conn);
}

static void server_stop(void) { hooks_server_stop(&srv); }

/* ---- helpers ---------------------------------------------------------- */

static coro_loop *loop_new(int hooks) { return hooks_loop_new(g_mode, hooks); }

static void loop_run_close(coro_loop *l) { hooks_loop_run_close(l, 5 * SEC); }

/* A blocking socket connected to the server (from the calling context). */
static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  CHECK_EQ(connect(fd, (struct sockaddr *)&srv.addr, sizeof srv.addr), 0);
  return fd;
}

/* A dial whose request the server holds unanswered. */
static int dial_held(void) {
  int fd = dial();
  CHECK_EQ(write(fd, "hold\n", 5), 5);
  return fd;
}

/* The loop's fd waiters: to wait until a coroutine has parked. */
static uint64_t fd_waiters(void) {
  coro_loop_stats st;
  CHECK_EQ(coro_loop_stats_get(coro_loop_current(), &st), 0);
  return st.fd_waiters;
}

static void wait_parked(uint64_t n) {
  int64_t end = coro_now() + 10 * SEC;
  while (fd_waiters() < n) {
    CHECK_LT(coro_now(), end);
    coro_sleep(coro_now() + 1000000);
  }
}

/* ---- concurrency ------------------------------------------------------ */

typedef struct client_run {
  client_stats st;
  int hooks_override; /* -2: none, else coro_hooks_enable's value */
  int next_id;
} client_run;

static void *client(void *arg) {
  client_run *cr = arg;
  if (cr->hooks_override != -2)
    CHECK_EQ(coro_hooks_enable(coro_self(), cr->hooks_override), 0);
  int rc = blocking_echo(&srv.addr, cr->next_id++, &cr->st);
  if (rc == 0)
    cr->st.ok++;
  else {
    cr->st.failed++;
    fprintf(stderr, "client: %s\n", strerror(-rc));
  }
  return NULL;
}

static void run_clients(int hooks, int override, int n, client_run *cr) {
  *cr = (client_run){.hooks_override = override};
  coro_loop *l = loop_new(hooks);
  for (int i = 0; i < n; i++)
    CHECK_EQ(coro_spawn(NULL, client, cr, NULL), 0);
  loop_run_close(l);
}

/* 1,000 blocking clients on one loop are all in flight at once: the
 * server answers none until it holds all of them. */
static void concurrent_clients(int mode) {
  g_mode = mode;
  int n = testing_under_valgrind() ? 200 : 1000;
  server_start(n);
  client_run cr;
  run_clients(1, -2, n, &cr);
  CHECK_EQ(cr.st.ok, n);
  CHECK_EQ(cr.st.max_in_flight, n);
  CHECK_EQ(srv.received, n);
  server_stop();
}

/* The same code with hooks off (the loop's, or one coroutine's override)
 * blocks the thread: one request at a time. */
static void hooks_off_sequential(int mode) {
  g_mode = mode;
  server_start(1);
  client_run cr;
  run_clients(0, -2, 20, &cr);
  CHECK_EQ(cr.st.ok, 20);
  CHECK_EQ(cr.st.max_in_flight, 1);
  run_clients(1, 0, 20, &cr); /* loop on, each coroutine off */
  CHECK_EQ(cr.st.ok, 20);
  CHECK_EQ(cr.st.max_in_flight, 1);
  server_stop();
  server_start(20); /* the barrier again: all 20 must be in flight */
  run_clients(0, 1, 20, &cr); /* loop off, each coroutine on: concurrent */
  CHECK_EQ(cr.st.ok, 20);
  CHECK_EQ(cr.st.max_in_flight, 20);
  server_stop();
  CHECK_EQ(coro_hooks_enable(NULL, 1), -EINVAL);
}

/* ---- per-fd state ----------------------------------------------------- */

static void *nonblock_kept_co(void *arg) {
  (void)arg;
  int fd = dial_held();
  /* The kernel file is non-blocking; the application is told what it set. */
  CHECK(syscall(SYS_fcntl, fd, F_GETFL) & O_NONBLOCK);
  int fl = fcntl(fd, F_GETFL);
  CHECK_EQ(fl & O_NONBLOCK, 0);
  CHECK_EQ(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
  CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
  char c;
  errno = 0;
  CHECK_EQ(read(fd, &c, 1), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_EQ(recv(fd, &c, 1, 0), -1);
  CHECK_EQ(errno, EAGAIN);
  struct pollfd pf = {fd, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 0), 0);
  /* Back to blocking: the kernel file stays non-blocking underneath. */
  CHECK_EQ(fcntl(fd, F_SETFL, fl), 0);
  CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  CHECK(syscall(SYS_fcntl, fd, F_GETFL) & O_NONBLOCK);
  CHECK_EQ(close(fd), 0);
  /* SOCK_NONBLOCK: connect gives EINPROGRESS (or succeeds at once). */
  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  CHECK_GE(fd, 0);
  CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
  int r = connect(fd, (struct sockaddr *)&srv.addr, sizeof srv.addr);
  CHECK(r == 0 || errno == EINPROGRESS);
  CHECK_EQ(poll(&(struct pollfd){fd, POLLOUT, 0}, 1, 5000), 1);
  CHECK_EQ(close(fd), 0);
  return NULL;
}


/* A call that waits in the loop is between in_read and read_done; the
 * witness, spawned after, runs while it is (one thread: the caller can
 * only be suspended inside the call). */
static int in_read, read_done, witnessed;

static void *witness(void *arg) {
  (void)arg;
  while (!in_read)
    coro_yield();
  witnessed = !read_done;
  return NULL;
}

/* Run fn in a coroutine of a hooked loop, with the witness after it when
 * watch (then it must have seen fn waiting in the loop), and the server
 * (answering at once) when serve. */
static void run_hooked(int mode, coro_fn fn, int serve, int watch) {
  g_mode = mode;
  if (serve)
    server_start(1);
  coro_loop *l = loop_new(1);
  CHECK_EQ(coro_spawn(NULL, fn, NULL, NULL), 0);
  if (watch)
    CHECK_EQ(coro_spawn(NULL, witness, NULL, NULL), 0);
  loop_run_close(l);
  if (watch)
    CHECK(witnessed);
  if (serve)
    server_stop();
}

static void *rcvtimeo_co(void *arg) {
  (void)arg;
  int fd = dial_held();
  struct timeval tv = {0, 50000}, got;
  CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  socklen_t len = sizeof got;
  CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
  CHECK_EQ(got.tv_sec, 0);
  CHECK_GE(got.tv_usec, 50000); /* the kernel rounds up to its ticks */
  char c;
  in_read = 1;
  int64_t t0 = coro_now();
  errno = 0;
  CHECK_EQ(read(fd, &c, 1), -1);
  read_done = 1;
  CHECK_EQ(errno, EAGAIN);
  CHECK_GE(coro_now() - t0, 50000000); /* not before the timeout */
  CHECK_EQ(close(fd), 0);
  return NULL;
}

/* SO_RCVTIMEO is a deadline in the loop: EAGAIN as the kernel gives. */
static void rcvtimeo_expiry(int mode) { run_hooked(mode, rcvtimeo_co, 1, 1); }

static void nonblock_kept(int mode) { run_hooked(mode, nonblock_kept_co, 1, 0); }

/* ---- connect ---------------------------------------------------------- */

/* A loopback port nobody listens on (bound, then closed). */
static struct sockaddr_in dead_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  CHECK_EQ((int)syscall(SYS_bind, fd, &a, sizeof a), 0);
  socklen_t len = sizeof a;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  syscall(SYS_close, fd);
  return a;
}

static void *refused_co(void *arg) {
  (void)arg;
  struct sockaddr_in a = dead_port();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  errno = 0;
  CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), -1);
  CHECK_EQ(errno, ECONNREFUSED);
  int err = -1;
  socklen_t len = sizeof err;
  CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  CHECK_EQ(err, 0); /* read by connect, as the kernel's blocking connect does */
  CHECK_EQ(close(fd), 0);
  /* The application's own non-blocking connect and SO_ERROR. */
  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  CHECK_GE(fd, 0);
  int r = connect(fd, (struct sockaddr *)&a, sizeof a);
  if (r < 0 && errno == EINPROGRESS) {
    struct pollfd pf = {fd, POLLOUT, 0};
    CHECK_EQ(poll(&pf, 1, 5000), 1);
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    CHECK_EQ(err, ECONNREFUSED);
  } else {
    CHECK_EQ(r, -1);
    CHECK_EQ(errno, ECONNREFUSED);
  }
  CHECK_EQ(close(fd), 0);
  return NULL;
}

static void connect_refused(int mode) { run_hooked(mode, refused_co, 0, 0); }

/* ---- close, cancel ---------------------------------------------------- */

static int shared_fd = -1, reader_errno;

static void *blocked_reader(void *arg) {
  (void)arg;
  char c;
  errno = 0;
  ssize_t r = read(shared_fd, &c, 1);
  CHECK_EQ(r, -1);
  reader_errno = errno;
  return NULL;
}

/* A coroutine parked in a read of a held connection (shared_fd). */
static coro *parked_reader(void) {
  shared_fd = dial_held();
  coro *rd;
  CHECK_EQ(coro_spawn(&rd, blocked_reader, NULL, NULL), 0);
  wait_parked(1);
  return rd;
}

static void *closer(void *arg) {
  (void)arg;
  coro *rd = parked_reader();
  int old = shared_fd;
  /* The server thread makes fds too: let it take its number first. */
  int64_t end = coro_now() + 10 * SEC;
  while (atomic_load(&srv.accepted) < 1) {
    CHECK_LT(coro_now(), end);
    coro_sleep(coro_now() + 1000000);
  }
  CHECK_EQ(close(shared_fd), 0);
  CHECK_EQ(coro_join(rd, coro_now() + 10 * SEC, NULL), 0);
  CHECK_EQ(reader_errno, EBADF);
  /* The number again, for a new connection: no stale registration. */
  client_stats st = {0};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_EQ(fd, old);
  CHECK_EQ(close(fd), 0);
  CHECK_EQ(blocking_echo(&srv.addr, 7, &st), 0);
  return NULL;
}

/* close wakes a coroutine waiting on the fd with EBADF. */
static void close_wakes_waiter(int mode) { run_hooked(mode, closer, 1, 0); }

static void *canceller(void *arg) {
  (void)arg;
  coro *rd = parked_reader();
  CHECK_EQ(coro_cancel(rd), 0);
  CHECK_EQ(coro_join(rd, coro_now() + 10 * SEC, NULL), 0);
  CHECK_EQ(reader_errno, ECANCELED);
  CHECK_EQ(close(shared_fd), 0);
  return NULL;
}

/* A coroutine cancelled inside a hooked read: -1 ECANCELED (hook.h). */
static void cancel_in_read(int mode) { run_hooked(mode, canceller, 1, 0); }

/* ---- poll, sleep ------------------------------------------------------ */

static void *poll_co(void *arg) {
  (void)arg;
  int h1 = dial_held(), h2 = dial_held(), e = dial();
  struct pollfd pf[3] = {{h1, POLLIN, 0}, {h2, POLLIN, 0}, {e, POLLIN, 0}};
  /* Nothing ready: the timeout, spent in the loop (the witness runs). */
  in_read = 1;
  int64_t t0 = coro_now();
  CHECK_EQ(poll(pf, 2, 50), 0);
  read_done = 1;
  CHECK_GE(coro_now() - t0, 50000000);
  /* One of three becomes ready. */
  CHECK_EQ(write(e, "x\n", 2), 2);
  CHECK_EQ(poll(pf, 3, 10000), 1);
  CHECK_EQ(pf[0].revents, 0);
  CHECK_EQ(pf[1].revents, 0);
  CHECK_EQ(pf[2].revents, POLLIN);
  struct timespec ts = {0, 20000000};
  CHECK_EQ(ppoll(pf, 2, &ts, NULL), 0);
  /* A negative fd is ignored, as by poll(2): the timeout, not EBADF. */
  struct pollfd neg = {-1, POLLIN, 0};
  CHECK_EQ(poll(&neg, 1, 20), 0);
  CHECK_EQ(neg.revents, 0);
  /* A failed dup2 leaves its target as it was: still tracked, so the
   * application still sees the blocking socket it made (an untracked one
   * would show the kernel's O_NONBLOCK and give EAGAIN). */
  CHECK_EQ(fcntl(e, F_GETFL) & O_NONBLOCK, 0);
  CHECK_EQ(dup2(1 << 20, e), -1);
  CHECK_EQ(errno, EBADF);
  CHECK_EQ(fcntl(e, F_GETFL) & O_NONBLOCK, 0);
  close(h1);
  close(h2);
  close(e);
  return NULL;
}

static void poll_many(int mode) { run_hooked(mode, poll_co, 1, 1); }

/* Two held connections and one the server answers, for select and
 * pselect: *n is select's count, rs holds the held two. */
static void select_fds(int *h1, int *h2, int *e, int *n, fd_set *rs) {
  *h1 = dial_held();
  *h2 = dial_held();
  *e = dial();
  *n = (*h1 > *h2 ? *h1 : *h2) > *e ? (*h1 > *h2 ? *h1 : *h2) + 1 : *e + 1;
  FD_ZERO(rs);
  FD_SET(*h1, rs);
  FD_SET(*h2, rs);
}

static void *select_co(void *arg) {
  (void)arg;
  int h1, h2, e, n;
  fd_set rs;
  select_fds(&h1, &h2, &e, &n, &rs);
  struct timeval tv = {0, 30000};
  in_read = 1; /* the timeout is spent in the loop: the witness runs */
  CHECK_EQ(select(n, &rs, NULL, NULL, &tv), 0);
  read_done = 1;
  CHECK(!FD_ISSET(h1, &rs) && !FD_ISSET(h2, &rs));
  CHECK_EQ(tv.tv_sec, 0);
  CHECK_EQ(tv.tv_usec, 0); /* the time left, as Linux writes it */
  CHECK_EQ(write(e, "x\n", 2), 2);
  FD_SET(h1, &rs);
  FD_SET(h2, &rs);
  FD_SET(e, &rs);
  CHECK_EQ(select(n, &rs, NULL, NULL, NULL), 1); /* e's answer */
  CHECK(FD_ISSET(e, &rs) && !FD_ISSET(h1, &rs) && !FD_ISSET(h2, &rs));
  fd_set ws;
  FD_ZERO(&ws);
  FD_SET(h1, &ws);
  FD_SET(e, &rs);
  CHECK_EQ(select(n, &rs, &ws, NULL, NULL), 2); /* e readable, h1 writable */
  CHECK(FD_ISSET(e, &rs) && FD_ISSET(h1, &ws));
  /* A closed fd in a set: EBADF, as the kernel's. */
  CHECK_EQ(close(h2), 0);
  FD_ZERO(&rs);
  FD_SET(h2, &rs);
  tv = (struct timeval){1, 0};
  CHECK_EQ(select(h2 + 1, &rs, NULL, NULL, &tv), -1);
  CHECK_EQ(errno, EBADF);
  close(h1);
  close(e);
  return NULL;
}

/* select waits in the loop, with poll(2)'s results mapped back. */
static void select_waits(int mode) { run_hooked(mode, select_co, 1, 1); }

static int sleeping, max_sleeping;

static void *sleeper(void *arg) {
  int kind = (int)(intptr_t)arg % 5;
  /* Long enough that all are asleep before the first wakes, even on a
   * loaded machine. */
  struct timespec ts = {0, 200000000};
  if (kind == 3) { /* absolute: ends after its time (not counted) */
    struct timespec end, now;
    CHECK_EQ(clock_gettime(CLOCK_REALTIME, &end), 0);
    end.tv_nsec += 30000000;
    if (end.tv_nsec >= 1000000000)
      end.tv_sec++, end.tv_nsec -= 1000000000;
    CHECK_EQ(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &end, NULL), 0);
    CHECK_EQ(clock_gettime(CLOCK_REALTIME, &now), 0);
    CHECK(now.tv_sec > end.tv_sec ||
          (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec));
    return NULL;
  }
  if (kind == 4) { /* returns at once (not counted) */
    CHECK_EQ(sleep(0), 0u);
    return NULL;
  }
  if (++sleeping > max_sleeping)
    max_sleeping = sleeping;
  if (kind == 0)
    CHECK_EQ(usleep(200000), 0);
  else if (kind == 1)
    CHECK_EQ(nanosleep(&ts, NULL), 0);
  else
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL), 0);
  sleeping--;
  return NULL;
}

/* usleep, nanosleep and clock_nanosleep sleep in the loop: the 60 that
 * sleep 200 ms are all asleep at once (and the absolute sleeps end after
 * their time). */
static void sleep_concurrent(int mode) {
  g_mode = mode;
  coro_loop *l = loop_new(1);
  for (int i = 0; i < 100; i++)
    CHECK_EQ(coro_spawn(NULL, sleeper, (void *)(intptr_t)i, NULL), 0);
  loop_run_close(l);
  CHECK_EQ(max_sleeping, 60);
}

/* ---- _FORTIFY_SOURCE variants ------------------------------------------ */

static void *chk_co(void *arg) {
  (void)arg;
  int fd = dial_held();
  struct timeval tv = {0, 20000};
  CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  char b[4];
  struct pollfd pf = {fd, POLLIN, 0};
  in_read = 1;
  errno = 0;
  CHECK_EQ(__read_chk(fd, b, 1, sizeof b), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_EQ(__recv_chk(fd, b, 1, sizeof b, 0), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_EQ(__recvfrom_chk(fd, b, 1, sizeof b, 0, NULL, NULL), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_EQ(__poll_chk(&pf, 1, 20, sizeof pf), 0);
  CHECK_EQ(__ppoll_chk(&pf, 1, &(struct timespec){0, 20000000}, NULL, sizeof pf), 0);
  read_done = 1;
  CHECK_EQ(close(fd), 0);
  return NULL;
}

/* The __*_chk names wait in the loop as the calls they check. */
static void fortify_variants(int mode) { run_hooked(mode, chk_co, 1, 1); }

/* ---- both ends in blocking style -------------------------------------- */

#define BIG (4 << 20) /* far above the socket buffers: writes must wait */

static int listen_port;

static void *blocking_acceptor(void *arg) {
  (void)arg;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(lfd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(listen(lfd, 8), 0);
  socklen_t len = sizeof a;
  CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
  listen_port = ntohs(a.sin_port);
  in_read = 1;
  int c = accept(lfd, NULL, NULL); /* waits in the loop */
  read_done = 1;
  CHECK_GE(c, 0);
  CHECK_EQ(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
  /* Read the big message through a dup, then a dup2 of it. */
  int d = dup(c);
  CHECK_GE(d, 0);
  CHECK_EQ(fcntl(d, F_GETFL) & O_NONBLOCK, 0);
  CHECK_EQ(close(c), 0);
  int e = dup2(d, c); /* the old number again */
  CHECK_EQ(e, c);
  char *buf = malloc(BIG);
  CHECK(buf != NULL);
  size_t got = 0;
  while (got < BIG) {
    struct iovec iov[2] = {{buf + got, (BIG - got) / 2},
                           {buf + got + (BIG - got) / 2, BIG - got - (BIG - got) / 2}};
    ssize_t r = (got & 1) ? recv(e, buf + got, BIG - got, 0) : readv(d, iov, 2);
    CHECK_GT(r, 0);
    got += (size_t)r;
  }
  for (size_t i = 0; i < BIG; i++)
    if (buf[i] != (char)(i * 7))
      FAILF("byte %zu: %d", i, buf[i]);
  free(buf);
  struct iovec out[2] = {{"o", 1}, {"k", 1}};
  CHECK_EQ(writev(e, out, 2), 2);
  CHECK_EQ(close(d), 0);
  CHECK_EQ(close(e), 0);
  CHECK_EQ(close(lfd), 0);
  return NULL;
}

static void *blocking_sender(void *arg) {
  (void)arg;
  while (!listen_port)
    coro_yield();
  char *buf = malloc(BIG);
  CHECK(buf != NULL);
  for (size_t i = 0; i < BIG; i++)
    buf[i] = (char)(i * 7);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  /* One write of it all: returns when all is written, as a blocking
   * socket's does (the reader is a coroutine of this same thread). */
  CHECK_EQ(write(fd, buf, BIG), BIG);
  free(buf);
  char ok[2];
  struct iovec iov = {ok, 2};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  CHECK_EQ(recvmsg(fd, &m, MSG_WAITALL), 2);
  CHECK_EQ(memcmp(ok, "ok", 2), 0);
  CHECK_EQ(close(fd), 0);
  return NULL;
}

/* A server and a client, both written for blocking libc, on one thread:
 * accept waits in the loop, a 4 MiB write waits for the reader, reads
 * through dup and dup2 copies (readv, recv), writev and recvmsg. */
static void both_ends_blocking(int mode) {
  g_mode = mode;
  coro_loop *l = loop_new(1);
  CHECK_EQ(coro_spawn(NULL, blocking_acceptor, NULL, NULL), 0);
  CHECK_EQ(coro_spawn(NULL, witness, NULL, NULL), 0);
  CHECK_EQ(coro_spawn(NULL, blocking_sender, NULL, NULL), 0);
  loop_run_close(l);
  CHECK(witnessed);
}

/* ---- a real shared library: libpq --------------------------------------- */

#ifdef CORO_HAVE_LIBPQ
#include <libpq-fe.h>

static int pq_failed_right;

static void *pq_client(void *arg) {
  (void)arg;
  char conninfo[160];
  snprintf(conninfo, sizeof conninfo,
           "hostaddr=127.0.0.1 port=%d user=u dbname=d connect_timeout=30 "
           "sslmode=disable gssencmode=disable",
           ntohs(srv.addr.sin_port));
  PGconn *c = PQconnectdb(conninfo);
  /* The server answers garbage once all are in: a protocol error. */
  if (PQstatus(c) == CONNECTION_BAD && PQerrorMessage(c)[0])
    pq_failed_right++;
  PQfinish(c);
  return NULL;
}

/* libpq.so's own connect, poll, send and recv (a shared library's calls,
 * resolved through the dynamic linker to the hooks): n connection
 * attempts are all in flight at once on one thread (the server counts
 * them before it answers any). */
static void libpq_concurrent(int mode) {
  g_mode = mode;
  int n = testing_under_valgrind() ? 20 : 200;
  server_start(n);
  coro_loop *l = loop_new(1);
  for (int i = 0; i < n; i++)
    CHECK_EQ(coro_spawn(NULL, pq_client, NULL, NULL), 0);
  loop_run_close(l);
  CHECK_EQ(srv.received, n);
  CHECK_EQ(srv.timeouts, 0);
  CHECK_EQ(pq_failed_right, n);
  server_stop();
}
#endif

/* ---- review fixes: poll's edge cases, timeouts without end ------------ */

/* A pipe whose write end is full (the kernel file non-blocking: the pipe
 * is untracked, made outside the hooks). */
static int pipe_full[2];

static void fill_pipe(void) {
  CHECK_EQ(pipe(pipe_full), 0);
  CHECK_EQ(fcntl(pipe_full[0], F_SETFL, O_NONBLOCK), 0);
  CHECK_EQ(fcntl(pipe_full[1], F_SETFL, O_NONBLOCK), 0);
  static char junk[4096];
  while (write(pipe_full[1], junk, sizeof junk) > 0)
    ;
  CHECK_EQ(errno, EAGAIN);
}

/* Empties the pipe once a coroutine is parked on it. */
static void *drainer(void *arg) {
  (void)arg;
  wait_parked(1);
  char buf[4096];
  while (read(pipe_full[0], buf, sizeof buf) > 0)
    ;
  return NULL;
}

static void *same_fd_twice_co(void *arg) {
  (void)arg;
  fill_pipe();
  int w = pipe_full[1];
  /* The same fd twice: readable never (a write end), writable once the
   * drainer empties the pipe. One registration must wait for both. */
  struct pollfd pf[2] = {{w, POLLIN, 0}, {w, POLLOUT, 0}};
  CHECK_EQ(coro_spawn(NULL, drainer, NULL, NULL), 0);
  CHECK_EQ(poll(pf, 2, 10000), 1);
  CHECK_EQ(pf[0].revents, 0);
  CHECK_EQ(pf[1].revents, POLLOUT);
  /* And in the other order, both entries ready with their own revents. */
  struct pollfd pf2[3] = {{w, POLLOUT, 0}, {-1, POLLIN, 0}, {w, POLLOUT | POLLIN, 0}};
  CHECK_EQ(poll(pf2, 3, 10000), 2);
  CHECK_EQ(pf2[0].revents, POLLOUT);
  CHECK_EQ(pf2[1].revents, 0);
  CHECK_EQ(pf2[2].revents, POLLOUT);
  close(pipe_full[0]);
  close(pipe_full[1]);
  return NULL;
}

/* The same fd twice in one poll waits for the union of the entries'
 * events (it waited for the first entry's alone: a 10 s timeout). */
static void poll_same_fd_twice(int mode) { run_hooked(mode, same_fd_twice_co, 0, 0); }

static void *epoll_refuses_co(void *arg) {
  (void)arg;
  int file = open("/etc/hosts", O_RDONLY | O_CLOEXEC), null = open("/dev/null", O_RDWR);
  CHECK_GE(file, 0);
  CHECK_GE(null, 0);
  int h = dial_held(), e = dial();
  /* A regular file is always readable for poll(2); it is reported at once
   * beside a socket that is not. */
  struct pollfd pf[3] = {{h, POLLIN, 0}, {file, POLLIN, 0}, {null, POLLOUT, 0}};
  CHECK_EQ(poll(pf, 3, 10000), 2);
  CHECK_EQ(pf[0].revents, 0);
  CHECK_EQ(pf[1].revents, POLLIN);
  CHECK_EQ(pf[2].revents, POLLOUT);
  /* Never ready for priority data: the timeout, spent in the loop (it was
   * a busy loop until the deadline: the witness could not run). */
  in_read = 1;
  struct pollfd one = {file, POLLPRI, 0};
  CHECK_EQ(poll(&one, 1, 30), 0);
  read_done = 1;
  /* With a socket beside it: the timeout (it was -1 EPERM). */
  struct pollfd two[2] = {{file, POLLPRI, 0}, {h, POLLIN, 0}};
  CHECK_EQ(poll(two, 2, 30), 0);
  CHECK_EQ(ppoll(two, 2, &(struct timespec){0, 30000000}, NULL), 0);
  fd_set rs, xs;
  FD_ZERO(&rs);
  FD_ZERO(&xs);
  FD_SET(h, &rs);
  FD_SET(file, &xs);
  struct timeval tv = {0, 30000};
  CHECK_EQ(select((h > file ? h : file) + 1, &rs, NULL, &xs, &tv), 0);
  /* A socket with data asked for priority data only: the timeout, in the
   * loop (coro_fd_wait would report it readable again and again). */
  CHECK_EQ(write(e, "x\n", 2), 2);
  struct pollfd in = {e, POLLIN, 0};
  CHECK_EQ(poll(&in, 1, 10000), 1);
  struct pollfd pri = {e, POLLPRI, 0};
  CHECK_EQ(poll(&pri, 1, 30), 0);
  close(file);
  close(null);
  close(h);
  close(e);
  return NULL;
}

/* Files epoll refuses (EPERM: regular files, /dev/null) in a poll: ready
 * as the kernel's poll says, and left out of the wait. */
static void poll_epoll_refuses(int mode) { run_hooked(mode, epoll_refuses_co, 1, 1); }

static void *negative_fds_co(void *arg) {
  (void)arg;
  int h = dial_held();
  struct pollfd pf[3] = {{-1, POLLIN, 0}, {h, POLLIN, 0}, {-5, POLLOUT, 0}};
  in_read = 1;
  CHECK_EQ(poll(pf, 3, 30), 0);
  struct pollfd neg[2] = {{-1, POLLIN, 0}, {-2, POLLOUT, 0}};
  CHECK_EQ(poll(neg, 2, 20), 0);
  CHECK_EQ(poll(neg, 1, 20), 0);
  read_done = 1;
  CHECK_EQ(pf[0].revents | pf[1].revents | pf[2].revents, 0);
  close(h);
  return NULL;
}

/* Negative fds are ignored, alone or among others (one alone gave EBADF). */
static void poll_negative_fds(int mode) { run_hooked(mode, negative_fds_co, 1, 1); }

/* Waits with a timeout past HOOK_FOREVER, each cancelled; kinds below. */
enum { FV_NANOSLEEP, FV_CLOCK_REL, FV_CLOCK_ABS, FV_SELECT, FV_PPOLL,
       FV_RCVTIMEO, FV_KINDS };
static int fv_err[FV_KINDS], fv_started;
static struct timespec fv_rem;

static void *forever_co(void *arg) {
  int kind = (int)(intptr_t)arg;
  const struct timespec far = {LONG_MAX, 999999999};
  int fd = kind >= FV_SELECT ? dial_held() : -1;
  fv_started++;
  errno = 0;
  switch (kind) {
  case FV_NANOSLEEP:
    CHECK_EQ(nanosleep(&far, &fv_rem), -1);
    fv_err[kind] = errno;
    break;
  case FV_CLOCK_REL:
    fv_err[kind] = clock_nanosleep(CLOCK_MONOTONIC, 0, &(struct timespec){LONG_MAX, 0}, NULL);
    break;
  case FV_CLOCK_ABS:
    fv_err[kind] = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &far, NULL);
    break;
  case FV_SELECT: {
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(fd, &rs);
    struct timeval tv = {LONG_MAX, 999999};
    CHECK_EQ(select(fd + 1, &rs, NULL, NULL, &tv), -1);
    fv_err[kind] = errno;
    break;
  }
  case FV_PPOLL:
    CHECK_EQ(ppoll(&(struct pollfd){fd, POLLIN, 0}, 1, &far, NULL), -1);
    fv_err[kind] = errno;
    break;
  case FV_RCVTIMEO: {
    /* 2^55 s: in ns, 2^64 * 1953125 / 2^9... wraps to 1 ms. */
    struct timeval tv = {(time_t)1 << 55, 1000};
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char c;
    CHECK_EQ(read(fd, &c, 1), -1);
    fv_err[kind] = errno;
    break;
  }
  }
  if (fd >= 0)
    close(fd);
  return NULL;
}

static void *forever_main(void *arg) {
  (void)arg;
  coro *co[FV_KINDS];
  for (int k = 0; k < FV_KINDS; k++)
    CHECK_EQ(coro_spawn(&co[k], forever_co, (void *)(intptr_t)k, NULL), 0);
  while (fv_started < FV_KINDS)
    coro_yield();
  /* Time for a wrapped deadline (in the past, or 1 ms away) to end them. */
  CHECK_EQ(coro_sleep(coro_now() + 20000000), 0);
  for (int k = 0; k < FV_KINDS; k++) {
    CHECK_EQ(coro_cancel(co[k]), 0);
    CHECK_EQ(coro_join(co[k], coro_now() + 10 * SEC, NULL), 0);
    if (fv_err[k] != ECANCELED)
      FAILF("kind %d: %s, want ECANCELED", k, strerror(fv_err[k]));
  }
  CHECK_GE(fv_rem.tv_sec, LONG_MAX - 100); /* the time left */
  return NULL;
}

/* Timeouts of 2^62 ns or more are forever (the deadline sums overflowed
 * to the past: each call returned at once). */
static void timeouts_forever(int mode) { run_hooked(mode, forever_main, 1, 0); }

/* ---- socketpair, ioctl(FIONBIO), accept4 and socket flags, pselect ----- */

static int sp[2];

static void *sp_writer(void *arg) {
  (void)arg;
  wait_parked(1);
  CHECK_EQ(write(sp[1], "hi", 2), 2);
  return NULL;
}

static void *socketpair_co(void *arg) {
  (void)arg;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  for (int i = 0; i < 2; i++) { /* tracked: non-blocking underneath */
    CHECK(syscall(SYS_fcntl, sp[i], F_GETFL) & O_NONBLOCK);
    CHECK_EQ(fcntl(sp[i], F_GETFL) & O_NONBLOCK, 0);
    CHECK(fcntl(sp[i], F_GETFD) & FD_CLOEXEC);
  }
  /* A blocking read waits in the loop. */
  CHECK_EQ(coro_spawn(NULL, sp_writer, NULL, NULL), 0);
  char b[2];
  in_read = 1;
  CHECK_EQ(read(sp[0], b, 2), 2);
  read_done = 1;
  CHECK_EQ(memcmp(b, "hi", 2), 0);
  /* FIONBIO is O_NONBLOCK as the application sees it. */
  int one = 1, zero = 0;
  CHECK_EQ(ioctl(sp[0], FIONBIO, &one), 0);
  CHECK(fcntl(sp[0], F_GETFL) & O_NONBLOCK);
  CHECK_EQ(read(sp[0], b, 1), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_EQ(ioctl(sp[0], FIONBIO, &zero), 0);
  CHECK_EQ(fcntl(sp[0], F_GETFL) & O_NONBLOCK, 0);
  CHECK(syscall(SYS_fcntl, sp[0], F_GETFL) & O_NONBLOCK);
  struct timeval tv = {0, 20000};
  CHECK_EQ(setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  CHECK_EQ(read(sp[0], b, 1), -1); /* blocking again: the timeout */
  CHECK_EQ(errno, EAGAIN);
  int n;
  CHECK_EQ(ioctl(sp[0], FIONREAD, &n), 0); /* other requests: the kernel's */
  CHECK_EQ(n, 0);
  close(sp[0]);
  close(sp[1]);
  /* SOCK_NONBLOCK asked: EAGAIN. */
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
  CHECK(fcntl(sp[0], F_GETFL) & O_NONBLOCK);
  CHECK_EQ(fcntl(sp[0], F_GETFD) & FD_CLOEXEC, 0);
  CHECK_EQ(recv(sp[0], b, 1, 0), -1);
  CHECK_EQ(errno, EAGAIN);
  close(sp[0]);
  close(sp[1]);
  return NULL;
}

/* socketpair's fds are tracked; FIONBIO is remembered as F_SETFL's
 * O_NONBLOCK. Outside a hooked coroutine both are the kernel's. */
static void socketpair_fionbio(int mode) {
  run_hooked(mode, socketpair_co, 0, 1);
  int p[2], one = 1;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
  CHECK_EQ(syscall(SYS_fcntl, p[0], F_GETFL) & O_NONBLOCK, 0);
  CHECK_EQ(ioctl(p[0], FIONBIO, &one), 0);
  CHECK(syscall(SYS_fcntl, p[0], F_GETFL) & O_NONBLOCK);
  close(p[0]);
  close(p[1]);
}

static struct sockaddr_in acc_addr;
static int acc_ready;

static void *acc_dialer(void *arg) {
  (void)arg;
  while (!acc_ready)
    coro_yield();
  int fds[3];
  for (int i = 0; i < 3; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_GE(fds[i], 0);
    CHECK_EQ(connect(fds[i], (struct sockaddr *)&acc_addr, sizeof acc_addr), 0);
  }
  char c;
  for (int i = 0; i < 3; i++) { /* the acceptor's close: EOF */
    CHECK_EQ(read(fds[i], &c, 1), 0);
    close(fds[i]);
  }
  return NULL;
}

static void *accept4_co(void *arg) {
  (void)arg;
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_GE(l, 0);
  CHECK(fcntl(l, F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(fcntl(l, F_GETFL) & O_NONBLOCK, 0);
  acc_addr = (struct sockaddr_in){.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(l, (struct sockaddr *)&acc_addr, sizeof acc_addr), 0);
  CHECK_EQ(listen(l, 8), 0);
  socklen_t len = sizeof acc_addr;
  CHECK_EQ(getsockname(l, (struct sockaddr *)&acc_addr, &len), 0);
  CHECK_EQ(coro_spawn(NULL, acc_dialer, NULL, NULL), 0);
  acc_ready = 1;
  in_read = 1;
  int a = accept4(l, NULL, NULL, SOCK_CLOEXEC); /* waits in the loop */
  read_done = 1;
  CHECK_GE(a, 0);
  CHECK(fcntl(a, F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(fcntl(a, F_GETFL) & O_NONBLOCK, 0);
  CHECK(syscall(SYS_fcntl, a, F_GETFL) & O_NONBLOCK);
  int b = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  CHECK_GE(b, 0);
  CHECK(fcntl(b, F_GETFD) & FD_CLOEXEC);
  CHECK(fcntl(b, F_GETFL) & O_NONBLOCK);
  char c;
  CHECK_EQ(read(b, &c, 1), -1);
  CHECK_EQ(errno, EAGAIN);
  int d = accept4(l, NULL, NULL, SOCK_NONBLOCK);
  CHECK_GE(d, 0);
  CHECK_EQ(fcntl(d, F_GETFD) & FD_CLOEXEC, 0);
  CHECK(fcntl(d, F_GETFL) & O_NONBLOCK);
  close(a);
  close(b);
  close(d);
  /* The application's own non-blocking listener: EAGAIN, no wait. */
  CHECK_EQ(fcntl(l, F_SETFL, O_NONBLOCK), 0);
  CHECK_EQ(accept4(l, NULL, NULL, SOCK_CLOEXEC), -1);
  CHECK_EQ(errno, EAGAIN);
  close(l);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(fcntl(s, F_GETFD) & FD_CLOEXEC);
  CHECK(fcntl(s, F_GETFL) & O_NONBLOCK);
  close(s);
  return NULL;
}

/* SOCK_NONBLOCK and SOCK_CLOEXEC on socket and accept4 are what the
 * application sees (the kernel file non-blocking underneath). */
static void accept4_flags(int mode) { run_hooked(mode, accept4_co, 0, 1); }

static void *pselect_co(void *arg) {
  (void)arg;
  int h1, h2, e, n;
  fd_set rs;
  select_fds(&h1, &h2, &e, &n, &rs);
  const struct timespec ts = {0, 30000000};
  in_read = 1; /* the timeout is spent in the loop: the witness runs */
  CHECK_EQ(pselect(n, &rs, NULL, NULL, &ts, NULL), 0);
  read_done = 1;
  CHECK(!FD_ISSET(h1, &rs) && !FD_ISSET(h2, &rs));
  CHECK_EQ(write(e, "x\n", 2), 2);
  FD_SET(h1, &rs);
  FD_SET(e, &rs);
  CHECK_EQ(pselect(n, &rs, NULL, NULL, NULL, NULL), 1); /* e's answer */
  CHECK(FD_ISSET(e, &rs) && !FD_ISSET(h1, &rs));
  /* With a signal mask: the kernel's (e is ready, so it returns). */
  sigset_t mask;
  sigemptyset(&mask);
  FD_SET(h1, &rs);
  CHECK_EQ(pselect(n, &rs, NULL, NULL, &ts, &mask), 1);
  CHECK(FD_ISSET(e, &rs) && !FD_ISSET(h1, &rs));
  /* Bad input, as the kernel's: EINVAL. */
  CHECK_EQ(pselect(n, &rs, NULL, NULL, &(struct timespec){0, -1}, NULL), -1);
  CHECK_EQ(errno, EINVAL);
  CHECK_EQ(pselect(-1, NULL, NULL, NULL, &ts, NULL), -1);
  CHECK_EQ(errno, EINVAL);
  close(h1);
  close(h2);
  close(e);
  return NULL;
}

/* pselect without a mask waits in the loop. */
static void pselect_waits(int mode) { run_hooked(mode, pselect_co, 1, 1); }

/* ---- name lookups (hook_dns.c) ------------------------------------------ */

/* A scripted DNS server on a thread of its own (plain blocking calls,
 * outside any loop): answers A questions for any name with 127.1.x.y (y
 * the name's first number), AAAA with no data. It holds every answer
 * until questions for `target` distinct names have come (a barrier, as
 * the echo server's: the lookups can only end if all are in flight at
 * once); a target above the names asked holds them forever. */
typedef struct dns_srv {
  pthread_t th;
  int fd, target, names;
  char seen[256]; /* names seen, by number */
  struct sockaddr_in addr;
  atomic_int stop, questions;
} dns_srv;

static dns_srv dsrv;
static char dns_dir[64], dns_conf[96], dns_hosts[96];

typedef struct held {
  uint8_t b[512];
  size_t n;
  struct sockaddr_in from;
} held;

/* The answer to the question in h (in place); 0, or -1 to drop it. */
static int dns_answer(held *h, int *num) {
  uint8_t *b = h->b;
  size_t i = 12;
  *num = -1;
  if (h->n < 17)
    return -1;
  while (i < h->n && b[i]) { /* the name: its first number counts */
    for (size_t k = 1; k <= b[i] && i + k < h->n && *num < 0; k++)
      if (b[i + k] >= '0' && b[i + k] <= '9')
        *num = atoi((char *)&b[i + k]) & 255;
    i += (size_t)b[i] + 1;
  }
  if (i + 5 > h->n)
    return -1;
  int type = b[i + 1] << 8 | b[i + 2];
  size_t end = i + 5; /* the question ends; drop anything after (EDNS) */
  b[2] = 0x81, b[3] = 0x80; /* a response, recursion available, NOERROR */
  b[6] = 0, b[7] = type == 1; /* one answer for A */
  b[8] = b[9] = b[10] = b[11] = 0;
  h->n = end;
  if (type == 1) {
    const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
                          127, 1, 0, (uint8_t)(*num < 0 ? 0 : *num)};
    memcpy(b + end, rr, sizeof rr);
    h->n += sizeof rr;
  }
  return 0;
}

static void *dns_serve(void *arg) {
  (void)arg;
  static held q[512];
  int nq = 0;
  while (!atomic_load(&dsrv.stop)) {
    struct pollfd pf = {dsrv.fd, POLLIN, 0};
    if (poll(&pf, 1, 50) <= 0)
      continue;
    held *h = &q[nq < 511 ? nq : 511];
    socklen_t fl = sizeof h->from;
    ssize_t n = recvfrom(dsrv.fd, h->b, sizeof h->b - 32, 0,
                         (struct sockaddr *)&h->from, &fl);
    if (n <= 0)
      continue;
    h->n = (size_t)n;
    int num;
    if (dns_answer(h, &num) < 0)
      continue;
    atomic_fetch_add(&dsrv.questions, 1);
    if (num >= 0 && !dsrv.seen[num]) {
      dsrv.seen[num] = 1;
      dsrv.names++;
    }
    if (dsrv.names < dsrv.target) {
      if (nq < 511)
        nq++;
      continue;
    }
    for (int k = 0; k <= nq && k < 512; k++) /* the held ones, and h */
      sendto(dsrv.fd, q[k].b, q[k].n, 0, (struct sockaddr *)&q[k].from,
             sizeof q[k].from);
    nq = 0;
  }
  return NULL;
}

/* Start the server and write the files: resolv.conf (one try of up to
 * 30 s: the barrier, not a timeout, decides) and a hosts file with a
 * name only the engine's resolver knows. */
static void dns_start(int target) {
  memset(&dsrv, 0, sizeof dsrv);
  dsrv.target = target;
  dsrv.fd = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK_GE(dsrv.fd, 0);
  dsrv.addr = (struct sockaddr_in){.sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(dsrv.fd, (struct sockaddr *)&dsrv.addr, sizeof dsrv.addr), 0);
  socklen_t len = sizeof dsrv.addr;
  CHECK_EQ(getsockname(dsrv.fd, (struct sockaddr *)&dsrv.addr, &len), 0);
  CHECK_EQ(pthread_create(&dsrv.th, NULL, dns_serve, NULL), 0);
  snprintf(dns_dir, sizeof dns_dir, "/tmp/coro-hooks-dns-XXXXXX");
  CHECK(mkdtemp(dns_dir) != NULL);
  snprintf(dns_conf, sizeof dns_conf, "%s/resolv.conf", dns_dir);
  snprintf(dns_hosts, sizeof dns_hosts, "%s/hosts", dns_dir);
  FILE *f = fopen(dns_conf, "w");
  CHECK(f != NULL);
  fprintf(f, "nameserver 127.0.0.1\nsearch invalid\noptions timeout:30 attempts:1 ndots:1\n");
  fclose(f);
  f = fopen(dns_hosts, "w");
  CHECK(f != NULL);
  fprintf(f, "127.0.0.77 coro-hooks-only.test hooks-alias\n");
  fclose(f);
}

static void dns_stop(void) {
  atomic_store(&dsrv.stop, 1);
  CHECK_EQ(pthread_join(dsrv.th, NULL), 0);
  syscall(SYS_close, dsrv.fd);
  unlink(dns_conf);
  unlink(dns_hosts);
  rmdir(dns_dir);
}

/* A hooked loop whose resolver asks dsrv. */
static coro_loop *dns_loop(void) {
  static char servers[64];
  snprintf(servers, sizeof servers, "127.0.0.1:%d", ntohs(dsrv.addr.sin_port));
  static coro_resolver_opts ro;
  ro = (coro_resolver_opts){.resolv_conf = dns_conf, .hosts = dns_hosts,
                            .servers = servers};
  coro__hooks_dns_resolver = &ro; /* the private thread's too */
  coro_loop *l;
  coro_loop_opts o = {.stack_mode = g_mode, .hooks = 1, .resolver = &ro};
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  return l;
}

static uint64_t dns_count(int which) {
  uint64_t c[3];
  coro__hooks_dns_counts(c);
  return c[which];
}

/* The first address of a getaddrinfo answer, as text. */
static const char *ai_text(const struct addrinfo *ai, char *buf, size_t len) {
  const void *a = ai->ai_family == AF_INET
                      ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                      : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
  CHECK(inet_ntop(ai->ai_family, a, buf, (socklen_t)len) != NULL);
  return buf;
}

/* getaddrinfo(host, "80", family/flags, stream) gives want first. */
static void gai_check(const char *host, int family, int flags, const char *want) {
  struct addrinfo hints = {.ai_family = family, .ai_flags = flags,
                           .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(host, "80", &hints, &res);
  if (rc != 0)
    FAILF("getaddrinfo(%s, %d, %#x): %s", host, family, flags, gai_strerror(rc));
  char buf[64];
  CHECK_STR_EQ(ai_text(res, buf, sizeof buf), want);
  CHECK_EQ(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
  freeaddrinfo(res);
}

/* The lookups an engine's resolver answers (in a hooked coroutine, or on
 * the private thread). */
static void engine_answers(void) {
  gai_check("coro-hooks-only.test", AF_INET, 0, "127.0.0.77");
  gai_check("coro-hooks-only.test", AF_UNSPEC, AI_V4MAPPED | AI_ALL, "127.0.0.77");
  gai_check("coro-hooks-only.test", AF_INET6, AI_V4MAPPED, "::ffff:127.0.0.77");
  gai_check("h9.test", AF_INET, 0, "127.1.0.9");
  gai_check("h9.test", AF_INET6, AI_V4MAPPED | AI_ALL, "::ffff:127.1.0.9");
  gai_check("127.0.0.5", AF_INET6, AI_V4MAPPED | AI_NUMERICHOST, "::ffff:127.0.0.5");
  struct addrinfo hints = {.ai_family = AF_INET6, .ai_socktype = SOCK_STREAM}, *res;
  CHECK_EQ(getaddrinfo("h9.test", NULL, &hints, &res), EAI_NODATA);
  hints.ai_flags = AI_CANONNAME;
  CHECK_EQ(getaddrinfo(NULL, "80", &hints, &res), EAI_BADFLAGS);
  hints.ai_flags = 0x10000;
  CHECK_EQ(getaddrinfo("h9.test", NULL, &hints, &res), EAI_BADFLAGS);
  CHECK_EQ(getaddrinfo(NULL, NULL, NULL, &res), EAI_NONAME);
  hints = (struct addrinfo){.ai_family = AF_UNIX};
  CHECK_EQ(getaddrinfo("h9.test", NULL, &hints, &res), EAI_FAMILY);
  hints = (struct addrinfo){.ai_socktype = 99};
  CHECK_EQ(getaddrinfo("h9.test", NULL, &hints, &res), EAI_SOCKTYPE);
  CHECK_EQ(getaddrinfo("h9.test", "no-such-service-x", NULL, &res), EAI_SERVICE);
  CHECK_EQ(getaddrinfo("bad..name", NULL, NULL, &res), EAI_NONAME);
  /* The hostent calls. */
  struct hostent *he = gethostbyname("coro-hooks-only.test");
  CHECK(he != NULL);
  CHECK_STR_EQ(he->h_name, "coro-hooks-only.test");
  CHECK_EQ(he->h_length, 4);
  CHECK_EQ(memcmp(he->h_addr_list[0], "\x7f\0\0\x4d", 4), 0);
  CHECK(he->h_addr_list[1] == NULL);
  he = gethostbyname("hooks-alias"); /* the hosts line's first name */
  CHECK(he != NULL);
  CHECK_STR_EQ(he->h_name, "coro-hooks-only.test");
  CHECK_STR_EQ(he->h_aliases[0], "hooks-alias");
  CHECK(gethostbyname2("h9.test", AF_INET6) == NULL);
  CHECK_EQ(h_errno, NO_DATA);
  struct hostent hb, *r = NULL;
  char buf[512], tiny[8];
  int herr = 0;
  CHECK_EQ(gethostbyname_r("h7.test", &hb, buf, sizeof buf, &r, &herr), 0);
  CHECK(r == &hb);
  CHECK_EQ(memcmp(hb.h_addr_list[0], "\x7f\x01\0\x07", 4), 0);
  CHECK_EQ(gethostbyname2_r("h7.test", AF_INET, &hb, tiny, sizeof tiny, &r, &herr), ERANGE);
  CHECK(r == NULL);
  CHECK_EQ(gethostbyname2_r("h7.test", AF_UNIX, &hb, buf, sizeof buf, &r, &herr),
           EAFNOSUPPORT);
  CHECK_EQ(herr, NETDB_INTERNAL);
  CHECK_EQ(gethostbyname2_r("h7.test", AF_INET6, &hb, buf, sizeof buf, &r, &herr), ENOENT);
  CHECK_EQ(herr, NO_DATA);
}

static void *dns_scope_co(void *arg) {
  (void)arg;
  uint64_t in0 = dns_count(CORO__DNS_IN_LOOP);
  engine_answers();
  CHECK_GT(dns_count(CORO__DNS_IN_LOOP), in0);
  return NULL;
}

/* What libc answers outside (dynamic programs), the engine's resolver in
 * the private thread (static programs, or forced). */
static void *dns_outside(void *arg) {
  (void)arg;
  uint64_t libc0 = dns_count(CORO__DNS_LIBC), th0 = dns_count(CORO__DNS_THREAD);
  if (dlsym(RTLD_NEXT, "getaddrinfo") && !atomic_load(&coro__hooks_dns_force_thread)) {
    /* libc's: numeric and localhost (/etc/hosts) only, so nothing leaves
     * the machine. */
    gai_check("127.0.0.1", AF_INET, AI_NUMERICHOST, "127.0.0.1");
    gai_check("127.0.0.5", AF_INET6, AI_V4MAPPED | AI_NUMERICHOST, "::ffff:127.0.0.5");
    gai_check("localhost", AF_INET, 0, "127.0.0.1");
    struct hostent *he = gethostbyname("localhost");
    CHECK(he != NULL);
    CHECK_EQ(memcmp(he->h_addr_list[0], "\x7f\0\0\x01", 4), 0);
    CHECK_EQ(dns_count(CORO__DNS_LIBC), libc0 + 4);
    CHECK_EQ(dns_count(CORO__DNS_THREAD), th0);
  } else {
    engine_answers();
    CHECK_GT(dns_count(CORO__DNS_THREAD), th0);
    CHECK_EQ(dns_count(CORO__DNS_LIBC), libc0);
  }
  return NULL;
}

static void dns_scope_run(void) {
  coro_loop *l = dns_loop();
  CHECK_EQ(coro_spawn(NULL, dns_scope_co, NULL, NULL), 0);
  /* The loop's own stack is outside too. */
  dns_outside(NULL);
  loop_run_close(l);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, dns_outside, NULL), 0);
  CHECK_EQ(pthread_join(th, NULL), 0);
}

/* In a hooked coroutine the engine's resolver answers (a name only its
 * hosts file has, names only the scripted server knows); outside, libc's
 * (dynamic) or the engine's on the private thread (static; then forced in
 * the dynamic program too). */
static void dns_scope(int mode) {
  g_mode = mode;
  dns_start(0);
  dns_scope_run();
  atomic_store(&coro__hooks_dns_force_thread, 1);
  dns_scope_run();
  dns_stop();
}

/* The private thread does not survive a fork: the child makes its own
 * (the lookup hung). */
static void dns_fork(int mode) {
  g_mode = mode;
  /* qemu-user cannot fork a process with threads (it asserts in its own
   * cpu loop); make tells us through $CORO_TEST_RUN. */
  const char *run = getenv("CORO_TEST_RUN");
  if (run != NULL && strstr(run, "qemu") != NULL) {
    printf("skip dns_fork under qemu-user\n");
    return;
  }
  dns_start(0);
  dns_loop(); /* (for the private thread's options) */
  coro_loop_close(coro_loop_current(), coro_now());
  atomic_store(&coro__hooks_dns_force_thread, 1);
  gai_check("coro-hooks-only.test", AF_INET, 0, "127.0.0.77");
  pid_t pid = fork();
  CHECK_GE(pid, 0);
  if (pid == 0) {
    gai_check("h3.test", AF_INET, 0, "127.1.0.3");
    /* Leave by exec, which no leak check follows: the parent's threads
     * did not survive the fork, and what only their stacks pointed to
     * (the private loop's last remote record) would read as lost. */
    execl("/bin/true", "true", (char *)NULL);
    _exit(0);
  }
  int st;
  int64_t end = coro_now() + 20 * SEC; /* a hung child must not outlive us */
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (coro_now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      FAILF("the child's lookup hung");
    }
    usleep(10000);
  }
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK_EQ(dns_count(CORO__DNS_THREAD), 1u); /* the parent's */
  dns_stop();
}

/* Lists from both sources freed by the one freeaddrinfo (the sanitizers
 * and valgrind check the frees). */
static void *dns_free_co(void *arg) {
  struct addrinfo **lists = arg, hints = {.ai_family = AF_INET};
  CHECK_EQ(getaddrinfo("coro-hooks-only.test", "80", &hints, &lists[0]), 0);
  return NULL;
}

static void dns_free_mixed(int mode) {
  g_mode = mode;
  dns_start(0);
  struct addrinfo *lists[2] = {NULL, NULL}, hints = {.ai_family = AF_INET,
                                                     .ai_flags = AI_CANONNAME};
  coro_loop *l = dns_loop();
  CHECK_EQ(coro_spawn(NULL, dns_free_co, lists, NULL), 0);
  loop_run_close(l);
  CHECK_EQ(getaddrinfo("localhost", "80", &hints, &lists[1]), 0); /* outside */
  CHECK(lists[0] != NULL && lists[1] != NULL);
  freeaddrinfo(lists[1]);
  freeaddrinfo(lists[0]);
  freeaddrinfo(NULL);
  dns_stop();
}

static int dns_in_flight, dns_max_in_flight, dns_ok, dns_n, ticker_saw;

static void *dns_client(void *arg) {
  int i = (int)(intptr_t)arg;
  char name[32], want[32], buf[64];
  snprintf(name, sizeof name, "h%d.test", i);
  snprintf(want, sizeof want, "127.1.0.%d", i);
  if (++dns_in_flight > dns_max_in_flight)
    dns_max_in_flight = dns_in_flight;
  if (i % 3 == 0) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(name, "80", &hints, &res);
    if (rc != 0)
      FAILF("%s: %s", name, gai_strerror(rc));
    CHECK_STR_EQ(ai_text(res, buf, sizeof buf), want);
    freeaddrinfo(res);
  } else if (i % 3 == 1) {
    struct hostent hb, *r;
    char b[512];
    int herr;
    CHECK_EQ(gethostbyname_r(name, &hb, b, sizeof b, &r, &herr), 0);
    CHECK(inet_ntop(AF_INET, hb.h_addr_list[0], buf, sizeof buf) != NULL);
    CHECK_STR_EQ(buf, want);
  } else {
    struct hostent *he = gethostbyname(name);
    CHECK(he != NULL); /* read before this coroutine next waits */
    CHECK(inet_ntop(AF_INET, he->h_addr_list[0], buf, sizeof buf) != NULL);
    CHECK_STR_EQ(buf, want);
  }
  dns_in_flight--;
  dns_ok++;
  return NULL;
}

/* Runs beside the lookups until they end: the most it saw in flight. */
static void *dns_ticker(void *arg) {
  (void)arg;
  while (dns_ok < dns_n) {
    if (dns_in_flight > ticker_saw)
      ticker_saw = dns_in_flight;
    CHECK_EQ(coro_sleep(coro_now() + 1000000), 0);
  }
  return NULL;
}

/* Many coroutines resolve through the hooks at once: the server answers
 * none until every name has been asked (so all are in flight together),
 * and the loop keeps running another coroutine meanwhile. */
static void dns_concurrent(int mode) {
  g_mode = mode;
  dns_n = testing_under_valgrind() ? 30 : 150;
  dns_start(dns_n);
  coro_loop *l = dns_loop();
  for (int i = 0; i < dns_n; i++)
    CHECK_EQ(coro_spawn(NULL, dns_client, (void *)(intptr_t)i, NULL), 0);
  CHECK_EQ(coro_spawn(NULL, dns_ticker, NULL, NULL), 0);
  loop_run_close(l);
  CHECK_EQ(dns_ok, dns_n);
  CHECK_EQ(dns_max_in_flight, dns_n);
  if (ticker_saw < 2) /* (its first turn comes after every lookup began) */
    FAILF("the ticker saw %d lookups in flight", ticker_saw);
  CHECK_EQ(atomic_load(&dsrv.questions), dns_n);
  dns_stop();
}

static int cancel_rc[2], cancel_errno;

static void *dns_cancelled(void *arg) {
  int kind = (int)(intptr_t)arg;
  if (kind == 0) {
    struct addrinfo *res = (struct addrinfo *)1;
    errno = 0;
    cancel_rc[0] = getaddrinfo("h1.test", "80", NULL, &res);
    cancel_errno = errno;
    CHECK(res == (struct addrinfo *)1); /* untouched */
  } else {
    struct hostent hb, *r = &hb;
    char b[512];
    int herr = 0;
    cancel_rc[1] = gethostbyname_r("h2.test", &hb, b, sizeof b, &r, &herr);
    CHECK(r == NULL);
    CHECK_EQ(herr, NETDB_INTERNAL);
  }
  return NULL;
}

static void *dns_canceller(void *arg) {
  (void)arg;
  coro *a, *b;
  CHECK_EQ(coro_spawn(&a, dns_cancelled, (void *)0, NULL), 0);
  CHECK_EQ(coro_spawn(&b, dns_cancelled, (void *)1, NULL), 0);
  /* Both lookups have asked (the resolver's UDP pool parks one of them
   * on the socket and the other on its query: fd_waiters counts one). A
   * cancel before either parks is as good: cancellation is sticky. */
  int64_t end = coro_now() + 10 * SEC;
  while (atomic_load(&dsrv.questions) < 2) {
    CHECK_LT(coro_now(), end);
    coro_sleep(coro_now() + 1000000);
  }
  CHECK_EQ(coro_cancel(a), 0);
  CHECK_EQ(coro_cancel(b), 0);
  CHECK_EQ(coro_join(a, coro_now() + 10 * SEC, NULL), 0);
  CHECK_EQ(coro_join(b, coro_now() + 10 * SEC, NULL), 0);
  return NULL;
}

/* A coroutine cancelled inside a lookup the server never answers: the
 * call returns at once with ECANCELED (EAI_SYSTEM), nothing leaks. */
static void dns_cancel(int mode) {
  g_mode = mode;
  dns_start(1000); /* never answers */
  coro_loop *l = dns_loop();
  CHECK_EQ(coro_spawn(NULL, dns_canceller, NULL, NULL), 0);
  loop_run_close(l);
  CHECK_EQ(cancel_rc[0], EAI_SYSTEM);
  CHECK_EQ(cancel_errno, ECANCELED);
  CHECK_EQ(cancel_rc[1], ECANCELED);
  dns_stop();
}

/* ---- outside the scope ------------------------------------------------ */

/* Calls that must answer exactly as the kernel does. */
static void same_as_kernel(void) {
  char c;
  errno = 0;
  CHECK_EQ(read(-1, &c, 1), -1);
  CHECK_EQ(errno, EBADF);
  CHECK_EQ(close(-1), -1);
  CHECK_EQ(errno, EBADF);
  CHECK_EQ(fcntl(-1, F_GETFL), -1);
  CHECK_EQ(errno, EBADF);
  CHECK_EQ(poll(NULL, 0, 10), 0);
  struct timeval tv = {0, 10000};
  CHECK_EQ(select(0, NULL, NULL, NULL, &tv), 0);
  CHECK_EQ(tv.tv_usec, 0);
  tv.tv_usec = -1;
  CHECK_EQ(select(0, NULL, NULL, NULL, &tv), -1);
  CHECK_EQ(errno, EINVAL);
  struct sockaddr_in a = dead_port();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  CHECK_EQ(syscall(SYS_fcntl, fd, F_GETFL) & O_NONBLOCK, 0); /* not tracked */
  CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), -1);
  CHECK_EQ(errno, ECONNREFUSED);
  CHECK_EQ(close(fd), 0);
  int p[2];
  CHECK_EQ(pipe(p), 0);
  CHECK_EQ(write(p[1], "ab", 2), 2);
  CHECK_EQ(read(p[0], &c, 1), 1);
  CHECK_EQ(close(p[0]), 0);
  CHECK_EQ(close(p[1]), 0);
}

static void *same_as_kernel_thread(void *arg) {
  (void)arg;
  same_as_kernel();
  return NULL;
}

static int tracked_fd = -1;

static void *make_tracked(void *arg) {
  (void)arg;
  tracked_fd = dial();
  return NULL;
}

/* A tracked fd used by a thread without a loop still blocks there. */
static void *blocking_thread(void *arg) {
  (void)arg;
  CHECK_EQ(write(tracked_fd, "t\n", 2), 2);
  char buf[2];
  CHECK_EQ(read(tracked_fd, buf, 2), 2); /* waits in poll(2), not EAGAIN */
  CHECK_EQ(memcmp(buf, "t\n", 2), 0);
  return NULL;
}

static void outside_untouched(int mode) {
  g_mode = mode;
  server_start(1);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, same_as_kernel_thread, NULL), 0);
  CHECK_EQ(pthread_join(th, NULL), 0);
  coro_loop *l = loop_new(1);
  same_as_kernel(); /* on the loop's own stack */
  CHECK_EQ(coro_spawn(NULL, make_tracked, NULL, NULL), 0);
  loop_run_close(l);
  CHECK(syscall(SYS_fcntl, tracked_fd, F_GETFL) & O_NONBLOCK);
  CHECK_EQ(pthread_create(&th, NULL, blocking_thread, NULL), 0);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(close(tracked_fd), 0);
  server_stop();
}

static const testing_case tests[] = {
    {"hooks_exported", hooks_exported, 0},
    {"concurrent_clients", concurrent_clients, 60},
    {"hooks_off_sequential", hooks_off_sequential, 0},
    {"nonblock_kept", nonblock_kept, 0},
    {"rcvtimeo_expiry", rcvtimeo_expiry, 0},
    {"connect_refused", connect_refused, 0},
    {"close_wakes_waiter", close_wakes_waiter, 0},
    {"cancel_in_read", cancel_in_read, 0},
    {"poll_many", poll_many, 0},
    {"select_waits", select_waits, 0},
    {"sleep_concurrent", sleep_concurrent, 0},
    {"both_ends_blocking", both_ends_blocking, 0},
    {"fortify_variants", fortify_variants, 0},
    {"outside_untouched", outside_untouched, 0},
    {"poll_same_fd_twice", poll_same_fd_twice, 0},
    {"poll_epoll_refuses", poll_epoll_refuses, 0},
    {"poll_negative_fds", poll_negative_fds, 0},
    {"timeouts_forever", timeouts_forever, 0},
    {"socketpair_fionbio", socketpair_fionbio, 0},
    {"accept4_flags", accept4_flags, 0},
    {"pselect", pselect_waits, 0},
    {"dns_scope", dns_scope, 0},
    {"dns_free_mixed", dns_free_mixed, 0},
    {"dns_concurrent", dns_concurrent, 60},
    {"dns_cancel", dns_cancel, 0},
    {"dns_fork", dns_fork, 0},
#ifdef CORO_HAVE_LIBPQ
    {"libpq_concurrent", libpq_concurrent, 60},
#endif
};

static const testing_param params[] = {
    {"guarded", CORO_STACK_GUARDED},
    {"shared", CORO_STACK_SHARED},
};

TESTING_MAIN(tests, params)
