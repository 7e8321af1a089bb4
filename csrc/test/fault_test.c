/* fault_test.c - every allocation and resource-bound system call of an
 * operation made to fail in turn, as SQLite's malloc tests do.
 *
 * For each operation (loop creation and close, spawn, channel, remote
 * spawn, listen, a TCP and a unix exchange through listen/connect/accept,
 * sendfile and its read/write fallback), a sweep arms the fault injection
 * of fault.c to fail the nth fault point for n = 1, 2, ... and runs the
 * operation once per n, until a run passes fewer than n points (the
 * operation succeeded untouched). After each run it checks:
 *   - the result is 0, or exactly the negative errno injected (no other
 *     error, no crash: each test runs in a child process);
 *   - nothing leaked: the number of open fds (/proc/self/fd) and, in the
 *     native build, of mappings (/proc/self/maps) is what it was before
 *     the loop was made, and the thread's signal mask too; memory is left
 *     to ASan's leak check (make V=asan) and valgrind's (make V=valgrind),
 *     which run at each test child's exit;
 *   - the loop is still usable: a spawn and a join work on it.
 * Three sweeps per operation: every point with its natural error (ENOMEM,
 * EMFILE, ENOBUFS, and EINTR for the calls that block); EINTR only at the
 * blocking calls (epoll_wait, ppoll, accept, connect, read, write,
 * sendfile), where the operation must succeed every time: an interrupted
 * call is retried, never reported; and EAGAIN at mmap and connect.
 *
 * Each sweep prints how many faults it injected. Run with params: stack
 * mode and poll backend.
 */
#include "../coro.h"
#include "../coro_internal.h" /* coro__fault_arm */
#include "testing.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEADLINE_MS 10000

static int64_t in_ms(int64_t n) { return coro_now() + n * 1000000; }

/* The parameter: stack mode | poll backend << 4. */
static int g_param;

static coro_loop_opts loop_opts(void) {
  coro_loop_opts o;
  memset(&o, 0, sizeof o);
  o.stack_mode = g_param & 0xf;
  o.poll_backend = g_param >> 4;
  o.name = "fault_test";
  return o;
}

/* ---- What must not leak ------------------------------------------------ */

static int fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

/* Mappings are counted in the native build only: ASan's and valgrind's
 * allocators map memory of their own as the heap grows. */
static int count_maps(void) {
  return !CORO__ASAN_ON && !testing_under_valgrind();
}

typedef struct snapshot {
  int fds;
  long maps;
  sigset_t mask;
} snapshot;

static snapshot snap(void) {
  snapshot s;
  s.fds = fd_count();
  s.maps = count_maps() ? testing_maps_count() : 0;
  CHECK_EQ(pthread_sigmask(SIG_SETMASK, NULL, &s.mask), 0);
  return s;
}

/* For a failure message: every open fd and what it is. */
static void print_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[300], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    fprintf(stderr, "    fd %s -> %s\n", e->d_name, target);
  }
  closedir(d);
}

static void check_same(const snapshot *a, long n) {
  snapshot b = snap();
  if (b.fds != a->fds)
    print_fds();
  if (b.fds != a->fds || b.maps != a->maps)
    FAILF("fault %ld: fds %d -> %d, maps %ld -> %ld", n, a->fds, b.fds,
          a->maps, b.maps);
  CHECK_EQ(sigismember(&b.mask, SIGPIPE), sigismember(&a->mask, SIGPIPE));
}

/* ---- The loop the operations run on ------------------------------------ */

enum fixture {
  FIX_NONE,   /* the operation makes its own loop */
  FIX_LOOP,   /* a fresh loop on this thread for each run */
  FIX_REMOTE, /* a loop on another thread, kept across runs */
};

static coro_loop *g_loop;

static void *ret_arg(void *arg) { return arg; }

/* Spawn fn(arg) on the current loop, run it to the end, and return its
 * result (an intptr_t: 0 or -errno), or the error of the spawn. */
static intptr_t run_one(coro_fn fn, void *arg) {
  coro *co;
  int rc = coro_spawn(&co, fn, arg, NULL);
  if (rc < 0)
    return rc;
  CHECK_EQ(coro_loop_run(coro_loop_current(), CORO_RUN_UNTIL_EMPTY), 0);
  void *res = NULL;
  CHECK_EQ(coro_join(co, 0, &res), 0);
  return (intptr_t)res;
}

static pthread_t g_rthread;
static coro_loop *_Atomic g_rloop;

static void *remote_thread(void *arg) {
  (void)arg;
  coro_loop_opts o = loop_opts();
  coro_loop *l;
  CHECK_EQ(coro_loop_new(&l, &o), 0);
  atomic_store(&g_rloop, l);
  CHECK_EQ(coro_loop_run(l, CORO_RUN_UNTIL_STOPPED), 0);
  CHECK_EQ(coro_loop_close(l, -1), 0);
  return NULL;
}

static void remote_start(void) {
  CHECK_EQ(pthread_create(&g_rthread, NULL, remote_thread, NULL), 0);
  while (atomic_load(&g_rloop) == NULL)
    sched_yield();
}

static void remote_stop(void) {
  CHECK_EQ(coro_loop_stop(atomic_load(&g_rloop)), 0);
  CHECK_EQ(pthread_join(g_rthread, NULL), 0);
  atomic_store(&g_rloop, NULL);
}

/* A spawn and a join still work. */
static void check_usable(int fixture) {
  if (fixture == FIX_REMOTE) {
    coro_remote *r;
    CHECK_EQ(coro_remote_spawn(atomic_load(&g_rloop), ret_arg, (void *)42,
                               NULL, NULL, NULL, &r),
             0);
    void *res = NULL;
    CHECK_EQ(coro_remote_wait(r, -1, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    coro_remote_release(r);
    return;
  }
  coro_loop *l = g_loop;
  if (fixture == FIX_NONE) {
    coro_loop_opts o = loop_opts();
    CHECK_EQ(coro_loop_new(&l, &o), 0);
  }
  CHECK_EQ(run_one(ret_arg, (void *)42), 42);
  if (fixture == FIX_NONE)
    CHECK_EQ(coro_loop_close(l, -1), 0);
}

/* ---- The sweep ---------------------------------------------------------- */

/* The calls that block, where EINTR must be retried. */
#define BLOCKING                                                             \
  (CORO__FP_BIT(CORO__FP_EPOLL_WAIT) | CORO__FP_BIT(CORO__FP_PPOLL) |        \
   CORO__FP_BIT(CORO__FP_ACCEPT) | CORO__FP_BIT(CORO__FP_CONNECT) |          \
   CORO__FP_BIT(CORO__FP_READ) | CORO__FP_BIT(CORO__FP_WRITE) |              \
   CORO__FP_BIT(CORO__FP_SENDFILE))

/* Every point but one: a SHARED coroutine's stack that cannot be saved
 * for want of memory aborts the process (coro.c, shared_swap), since the
 * switch in progress can neither fail nor wait. */
#define SWEPT (CORO__FP_ALL & ~CORO__FP_BIT(CORO__FP_STACK_SAVE))

/* Fail point n of `points` with err for n = 1, 2, ... until op passes
 * without reaching it; returns the number of faults injected. must_pass:
 * op must succeed whatever fails (EINTR). */
static long sweep(const char *what, int (*op)(void), int fixture,
                  unsigned points, int err, int must_pass) {
  long n;
  for (n = 1;; n++) {
    if (n > 10000)
      FAILF("%s: no end after %ld faults", what, n);
    snapshot s0 = snap();
    if (fixture == FIX_LOOP) {
      coro_loop_opts o = loop_opts();
      CHECK_EQ(coro_loop_new(&g_loop, &o), 0);
    }
    coro__fault_arm_at(points, n, 1, err);
    int rc = op();
    int ferr;
    int point = coro__fault_fired(&ferr);
    coro__fault_arm(0, 0);
    /* A failed mapping is -ENOMEM whatever mmap said (coro.h). */
    int want = point == CORO__FP_MMAP || point == CORO__FP_MPROTECT ? ENOMEM
                                                                    : ferr;
    if (rc != 0 && (point < 0 || must_pass || rc != -want))
      FAILF("%s: fault %ld (point %d, errno %d): the operation returned %d",
            what, n, point, ferr, rc);
    check_usable(fixture);
    if (fixture == FIX_LOOP) {
      CHECK_EQ(coro_loop_close(g_loop, -1), 0);
      g_loop = NULL;
    }
    check_same(&s0, n);
    if (point < 0)
      break;
  }
  printf("    %s: %ld faults injected\n", what, n - 1);
  return n - 1;
}

/* Both sweeps of one operation. */
static void sweep_both(const char *name, int (*op)(void), int fixture) {
  char what[64];
  if (fixture == FIX_REMOTE)
    remote_start();
  /* One loop first: the alternate signal stack that a thread's first loop
   * maps stays mapped until the thread exits (stack.c). */
  coro_loop_opts o = loop_opts();
  CHECK_EQ(coro_loop_new(&g_loop, &o), 0);
  CHECK_EQ(coro_loop_close(g_loop, -1), 0);
  g_loop = NULL;
  if (fixture != FIX_LOOP) {
    /* One run first: the remote thread's malloc arena and caches. */
    CHECK_EQ(op(), 0);
  }
  snprintf(what, sizeof what, "%s/natural", name);
  sweep(what, op, fixture, SWEPT, CORO__FAULT_NATURAL, 0);
  snprintf(what, sizeof what, "%s/eintr", name);
  sweep(what, op, fixture, BLOCKING, EINTR, 1);
  /* EAGAIN where it means a resource ran out: locked memory for mmap, no
   * free local port for a TCP connect, a full listen queue for a unix one
   * (which connect retries). Elsewhere it means "would block", which the
   * kernel never says of a ready fd. */
  snprintf(what, sizeof what, "%s/eagain", name);
  sweep(what, op, fixture,
        CORO__FP_BIT(CORO__FP_MMAP) | CORO__FP_BIT(CORO__FP_MPROTECT) |
            CORO__FP_BIT(CORO__FP_CONNECT),
        EAGAIN, 0);
  if (fixture == FIX_REMOTE)
    remote_stop();
}

/* ---- Two coroutines that depend on each other --------------------------- */

/* Run a(arg) and b(arg) as two coroutines of the current loop. Each returns
 * 0 or -errno; one that fails cancels the other (which would otherwise
 * wait for it until the deadline). The result: the first error that is
 * not the cancellation, or the error of a spawn. Globals, not locals: a
 * SHARED coroutine's stack is not addressable while it is suspended. */
static coro *g_pair[2];

static void pair_fail(void) {
  coro *me = coro_self();
  for (int i = 0; i < 2; i++)
    if (g_pair[i] != NULL && g_pair[i] != me && !coro_done(g_pair[i]))
      coro_cancel(g_pair[i]);
}

static int pair_run(coro_fn a, coro_fn b, void *arg) {
  g_pair[0] = g_pair[1] = NULL;
  int rc = coro_spawn(&g_pair[0], a, arg, NULL);
  if (rc < 0)
    return rc;
  rc = coro_spawn(&g_pair[1], b, arg, NULL);
  if (rc < 0)
    coro_cancel(g_pair[0]);
  CHECK_EQ(coro_loop_run(coro_loop_current(), CORO_RUN_UNTIL_EMPTY), 0);
  for (int i = 0; i < 2; i++) {
    void *res = NULL;
    if (g_pair[i] == NULL)
      continue;
    CHECK_EQ(coro_join(g_pair[i], 0, &res), 0);
    int r = (int)(intptr_t)res;
    if (r < 0 && (rc == 0 || rc == -ECANCELED))
      rc = r;
  }
  return rc;
}

/* Leave a pair coroutine with rc, cancelling the other one on failure. */
static void *pair_done(long rc) {
  if (rc < 0)
    pair_fail();
  return (void *)(intptr_t)(rc < 0 ? rc : 0);
}

/* ---- The operations ------------------------------------------------------ */

/* Loop creation and close, with a coroutine run in between. */
static int op_loop(void) {
  coro_loop_opts o = loop_opts();
  coro_loop *l;
  int rc = coro_loop_new(&l, &o);
  if (rc < 0)
    return rc;
  intptr_t r = run_one(ret_arg, (void *)1);
  rc = coro_loop_close(l, -1);
  CHECK_EQ(rc, 0);
  return r == 1 ? 0 : (int)r;
}

/* The same on a new thread: a thread's first loop also maps its alternate
 * signal stack (which the thread keeps for its later loops, so op_loop on
 * this thread no longer reaches it); its exit unmaps it. */
static void *loop_thread(void *arg) {
  (void)arg;
  return (void *)(intptr_t)op_loop();
}

static int op_loop_thread(void) {
  pthread_t t;
  void *rc;
  CHECK_EQ(pthread_create(&t, NULL, loop_thread, NULL), 0);
  CHECK_EQ(pthread_join(t, &rc), 0);
  return (int)(intptr_t)rc;
}

/* A coroutine that sets a local and sleeps: locals array, timer heap. */
static coro_key g_key;

static void *sleeper(void *arg) {
  int rc = coro_local_set(g_key, arg);
  if (rc == 0)
    rc = coro_sleep(in_ms(1));
  return (void *)(intptr_t)rc;
}

/* Spawn in the loop's stack mode, with a size of its own (a fresh guarded
 * mapping), and in the other mode (the shared stack mapped on first use);
 * then create and transfer. */
static int op_spawn(void) {
  coro *co[3] = {NULL, NULL, NULL};
  coro_opts o[3];
  memset(o, 0, sizeof o);
  o[1].stack_mode = CORO_STACK_GUARDED;
  o[1].stack_size = 64 * 1024;
  o[2].stack_mode = (g_param & 0xf) == CORO_STACK_GUARDED ? CORO_STACK_SHARED
                                                          : CORO_STACK_GUARDED;
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; i++)
    rc = coro_spawn(&co[i], sleeper, (void *)1, &o[i]);
  CHECK_EQ(coro_loop_run(g_loop, CORO_RUN_UNTIL_EMPTY), 0);
  for (int i = 0; i < 3; i++) {
    void *res = NULL;
    if (co[i] == NULL)
      continue;
    CHECK_EQ(coro_join(co[i], 0, &res), 0);
    if (rc == 0)
      rc = (int)(intptr_t)res;
  }
  if (rc < 0)
    return rc;
  coro *c;
  rc = coro_create(&c, ret_arg, (void *)3, NULL);
  if (rc < 0)
    return rc;
  void *got = NULL;
  CHECK_EQ(coro_transfer(c, NULL, &got), 1); /* 1: it finished */
  CHECK_EQ((intptr_t)got, 3);
  CHECK_EQ(coro_free(c), 0);
  return 0;
}

static coro_chan *g_chan;

static void *chan_producer(void *arg) {
  (void)arg;
  int rc = 0;
  for (int i = 0; i < 5 && rc == 0; i++)
    rc = coro_chan_send(g_chan, &i, in_ms(DEADLINE_MS));
  if (rc == 0)
    rc = coro_chan_close(g_chan);
  return pair_done(rc);
}

static void *chan_consumer(void *arg) {
  (void)arg;
  int v, rc, sum = 0;
  while ((rc = coro_chan_recv(g_chan, &v, in_ms(DEADLINE_MS))) == 0)
    sum += v;
  if (rc == -EPIPE)
    rc = sum == 10 ? 0 : -EPROTO;
  return pair_done(rc);
}

static int op_chan(void) {
  int rc = coro_chan_new(&g_chan, sizeof(int), 2);
  if (rc < 0)
    return rc;
  rc = pair_run(chan_producer, chan_consumer, NULL);
  CHECK_EQ(coro_chan_free(g_chan), 0);
  return rc;
}

/* From a thread without a loop: spawn on the remote loop and wait. */
static int op_remote(void) {
  coro_remote *r;
  int rc = coro_remote_spawn(atomic_load(&g_rloop), ret_arg, (void *)5, NULL,
                             NULL, NULL, &r);
  if (rc < 0)
    return rc;
  void *res = NULL;
  rc = coro_remote_wait(r, -1, &res);
  coro_remote_release(r);
  if (rc == 0)
    CHECK_EQ((intptr_t)res, 5);
  return rc;
}

static char g_path[64];

static int op_listen(void) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int t = coro_tcp_listen((struct sockaddr *)&a, sizeof a, 16, 0);
  if (t < 0)
    return t;
  unlink(g_path);
  int u = coro_unix_listen(g_path, 16);
  CHECK_EQ(coro_fd_close(t), 0);
  if (u < 0)
    return u;
  CHECK_EQ(coro_fd_close(u), 0);
  unlink(g_path);
  return 0;
}

/* A request and a reply over a fresh connection: listen, then a server
 * coroutine accepts while a client connects. */
static int g_lfd, g_unix;
static struct sockaddr_in g_addr;

/* Read exactly n bytes: 0, or -errno (-EPROTO at an early end of file). */
static int read_full(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = coro_read(fd, buf + got, n - got, in_ms(DEADLINE_MS));
    if (r < 0)
      return (int)r;
    if (r == 0)
      return -EPROTO;
    got += (size_t)r;
  }
  return 0;
}

/* Send what, then expect want back. */
static int talk(int fd, const char *what, const char *want) {
  char buf[4];
  ssize_t w = coro_write_all(fd, what, 4, in_ms(DEADLINE_MS));
  int rc = w < 0 ? (int)w : read_full(fd, buf, 4);
  if (rc == 0 && memcmp(buf, want, 4) != 0)
    rc = -EPROTO;
  return rc;
}

static void *server(void *arg) {
  (void)arg;
  int fd = coro_accept(g_lfd, NULL, NULL, in_ms(DEADLINE_MS));
  if (fd < 0)
    return pair_done(fd);
  char buf[4];
  int rc = read_full(fd, buf, 4);
  if (rc == 0) {
    ssize_t w = coro_write_all(fd, "pong", 4, in_ms(DEADLINE_MS));
    rc = w < 0 ? (int)w : 0;
  }
  CHECK_EQ(coro_fd_close(fd), 0);
  return pair_done(rc);
}

static void *client(void *arg) {
  (void)arg;
  int fd = g_unix ? coro_unix_connect(g_path, in_ms(DEADLINE_MS))
                  : coro_connect((struct sockaddr *)&g_addr, sizeof g_addr,
                                 in_ms(DEADLINE_MS));
  if (fd < 0)
    return pair_done(fd);
  int rc = talk(fd, "ping", "pong");
  CHECK_EQ(coro_fd_close(fd), 0);
  return pair_done(rc);
}

static int op_exchange(void) {
  if (g_unix) {
    unlink(g_path);
    g_lfd = coro_unix_listen(g_path, 16);
  } else {
    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_lfd = coro_tcp_listen((struct sockaddr *)&g_addr, sizeof g_addr, 16, 0);
  }
  if (g_lfd < 0)
    return g_lfd;
  socklen_t len = sizeof g_addr;
  if (!g_unix)
    CHECK_EQ(getsockname(g_lfd, (struct sockaddr *)&g_addr, &len), 0);
  int rc = pair_run(server, client, NULL);
  CHECK_EQ(coro_fd_close(g_lfd), 0);
  if (g_unix)
    unlink(g_path);
  return rc;
}

/* sendfile of a file larger than a socket's buffer, so that the sender
 * waits for the reader at least once. */
#define SF_SIZE (300 * 1024)
static int g_file, g_sock[2];

static void *sf_writer(void *arg) {
  (void)arg;
  int64_t off = 0;
  ssize_t n = coro_sendfile(g_sock[0], g_file, &off, SF_SIZE,
                            in_ms(DEADLINE_MS));
  int rc = n < 0 ? (int)n : n == SF_SIZE && off == SF_SIZE ? 0 : -EPROTO;
  shutdown(g_sock[0], SHUT_WR);
  return pair_done(rc);
}

static void *sf_reader(void *arg) {
  (void)arg;
  static char buf[16384];
  long got = 0;
  for (;;) {
    ssize_t r = coro_read(g_sock[1], buf, sizeof buf, in_ms(DEADLINE_MS));
    if (r < 0)
      return pair_done(r);
    if (r == 0)
      break;
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] != (char)((got + i) % 251))
        return pair_done(-EPROTO);
    got += r;
  }
  return pair_done(got == SF_SIZE ? 0 : -EPROTO);
}

static int op_sendfile(void) {
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                      g_sock),
           0);
  int rc = pair_run(sf_writer, sf_reader, NULL);
  CHECK_EQ(coro_fd_close(g_sock[0]), 0);
  CHECK_EQ(coro_fd_close(g_sock[1]), 0);
  return rc;
}

/* A temporary file of SF_SIZE bytes (unlinked at once), open in g_file. */
static void make_file(void) {
  char path[] = "/tmp/coro_fault_XXXXXX";
  g_file = mkstemp(path);
  CHECK_GE(g_file, 0);
  CHECK_EQ(unlink(path), 0);
  static char buf[SF_SIZE];
  for (long i = 0; i < SF_SIZE; i++)
    buf[i] = (char)(i % 251);
  CHECK_EQ(write(g_file, buf, SF_SIZE), SF_SIZE);
}

/* A try-once wait (deadline 0) on a readable pipe asks the kernel once:
 * it reports the readiness whatever interrupts it. */
static int op_fd_poll(void) {
  int p[2];
  CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  int rc = coro_fd_wait(p[0], CORO_POLLIN, 0);
  CHECK_EQ(close(p[0]), 0);
  CHECK_EQ(close(p[1]), 0);
  return rc == CORO_POLLIN ? 0 : rc < 0 ? rc : -EPROTO;
}

/* A wait on a high fd number: the poller grows its fd table (poll.c) and
 * the poll backend its slot table, both on the way. */
static int g_high;

static void *high_waiter(void *arg) {
  (void)arg;
  int rc = coro_fd_wait(g_high, CORO_POLLIN, in_ms(DEADLINE_MS));
  return (void *)(intptr_t)(rc == CORO_POLLIN ? 0 : rc < 0 ? rc : -EPROTO);
}

static int op_fd_high(void) {
  int p[2];
  CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  g_high = fcntl(p[0], F_DUPFD_CLOEXEC, 5000);
  CHECK_GE(g_high, 5000);
  CHECK_EQ(write(p[1], "x", 1), 1);
  int rc = (int)run_one(high_waiter, NULL);
  CHECK_EQ(coro_fd_close(g_high), 0);
  CHECK_EQ(close(p[0]), 0);
  CHECK_EQ(close(p[1]), 0);
  return rc;
}

/* The transfer calls of socket.c other than read and write, each once
 * over a stream socket pair: writev there, readv back, send and recv the
 * reply, then sendto and recvfrom one datagram on a datagram pair. */
static int g_dgram[2];

static const char g_msg[] = "abcd";

static void *calls_a(void *arg) {
  (void)arg;
  struct iovec v[2] = {{(void *)g_msg, 2}, {(void *)(g_msg + 2), 2}};
  ssize_t n = coro_writev(g_sock[0], v, 2, in_ms(DEADLINE_MS));
  char buf[4];
  if (n == 4)
    n = coro_recv(g_sock[0], buf, 4, MSG_WAITALL, in_ms(DEADLINE_MS));
  if (n == 4 && memcmp(buf, g_msg, 4) != 0)
    n = -EPROTO;
  if (n == 4)
    n = coro_sendto(g_dgram[0], g_msg, 4, 0, NULL, 0, in_ms(DEADLINE_MS));
  return pair_done(n < 0 ? n : n == 4 ? 0 : -EPROTO);
}

static void *calls_b(void *arg) {
  (void)arg;
  char buf[4];
  size_t got = 0;
  ssize_t n = 0;
  while (got < 4 && n >= 0) {
    struct iovec v = {buf + got, 4 - got};
    n = coro_readv(g_sock[1], &v, 1, in_ms(DEADLINE_MS));
    if (n == 0)
      n = -EPROTO;
    if (n > 0)
      got += (size_t)n;
  }
  if (n >= 0)
    n = memcmp(buf, g_msg, 4) == 0 ? coro_send(g_sock[1], buf, 4, 0,
                                                in_ms(DEADLINE_MS))
                                   : -EPROTO;
  if (n == 4) {
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    n = coro_recvfrom(g_dgram[1], buf, 4, 0, (struct sockaddr *)&from, &fl,
                      in_ms(DEADLINE_MS));
    if (n == 4 && memcmp(buf, g_msg, 4) != 0)
      n = -EPROTO;
  }
  return pair_done(n < 0 ? n : n == 4 ? 0 : -EPROTO);
}

static int op_calls(void) {
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                      g_sock),
           0);
  CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                      g_dgram),
           0);
  int rc = pair_run(calls_a, calls_b, NULL);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(coro_fd_close(g_sock[i]), 0);
    CHECK_EQ(coro_fd_close(g_dgram[i]), 0);
  }
  return rc;
}

/* ---- EINTR and EAGAIN at each transfer call ----------------------------- */

/* The transfer calls of socket.c, by the direction of their fault point. */
enum { CALL_READ, CALL_READV, CALL_RECV, CALL_RECVFROM, CALL_WRITE,
       CALL_WRITEV, CALL_SEND, CALL_SENDTO, CALL_COUNT };
static const char *const call_names[CALL_COUNT] = {
    "read", "readv", "recv", "recvfrom", "write", "writev", "send", "sendto"};

static int call_reads(int call) { return call < CALL_WRITE; }

/* Call `call` for 4 bytes on fd (into or from buf). */
static ssize_t do_call(int call, int fd, char *buf, int64_t deadline) {
  struct iovec v[2] = {{buf, 1}, {buf + 1, 3}};
  switch (call) {
  case CALL_READ: return coro_read(fd, buf, 4, deadline);
  case CALL_READV: return coro_readv(fd, v, 2, deadline);
  case CALL_RECV: return coro_recv(fd, buf, 4, 0, deadline);
  case CALL_RECVFROM: return coro_recvfrom(fd, buf, 4, 0, NULL, NULL, deadline);
  case CALL_WRITE: return coro_write(fd, buf, 4, deadline);
  case CALL_WRITEV: return coro_writev(fd, v, 2, deadline);
  case CALL_SEND: return coro_send(fd, buf, 4, 0, deadline);
  default: return coro_sendto(fd, buf, 4, 0, NULL, 0, deadline);
  }
}

/* The fault point of a call, and what it is tried on: a read call on
 * g_sock[0] with "abcd" sent to it, a write call on g_sock[1]. */
static int call_point(int call) {
  return call_reads(call) ? CORO__FP_READ : CORO__FP_WRITE;
}

static int call_fd(int call) { return g_sock[call_reads(call) ? 0 : 1]; }

/* After a call that moved 4 bytes: what arrived is "abcd". */
static void check_moved(int call, const char *buf) {
  char got[4];
  if (!call_reads(call)) {
    CHECK_EQ(read(g_sock[0], got, 4), 4);
    buf = got;
  }
  CHECK_EQ(memcmp(buf, g_msg, 4), 0);
}

/* The call failed at its own point, with err. */
static void check_fired(int call, int err) {
  int ferr;
  int point = coro__fault_fired(&ferr);
  if (point != call_point(call) || ferr != err)
    FAILF("%s: fault at %s, errno %d; want %s, errno %d", call_names[call],
          coro__fault_name(point), ferr, coro__fault_name(call_point(call)),
          err);
}

static int g_call;

/* EINTR is retried at once, never reported and never waited on: three in
 * a row, and even a call that may only try once (deadline 0) moves its
 * bytes. */
static void *eintr_main(void *arg) {
  (void)arg;
  for (g_call = 0; g_call < CALL_COUNT; g_call++) {
    char buf[4];
    memcpy(buf, g_msg, 4);
    if (call_reads(g_call))
      CHECK_EQ(write(g_sock[1], g_msg, 4), 4);
    coro__fault_arm_at(CORO__FP_BIT(call_point(g_call)), 1, 3, EINTR);
    CHECK_EQ(do_call(g_call, call_fd(g_call), buf, 0), 4);
    check_fired(g_call, EINTR);
    CHECK_EQ(coro__fault_calls(), 3); /* all three failed (then disarmed) */
    CHECK_EQ(coro__fault_on, 0);
    coro__fault_arm(0, 0);
    check_moved(g_call, buf);
  }
  return NULL;
}

/* EAGAIN waits: a call that may only try once reports it as -ETIMEDOUT
 * (coro.h), although the kernel had the bytes or the room; one with a
 * deadline waits for the fd (an fd event delivered) and then moves its
 * bytes. A read waits until bytes come: the peer sends them only once the
 * reader has parked. */
static coro *g_caller;

static void *eagain_call(void *arg) {
  char *buf = arg;
  return (void *)(intptr_t)do_call(g_call, call_fd(g_call), buf,
                                   in_ms(DEADLINE_MS));
}

static void *eagain_main(void *arg) {
  (void)arg;
  coro_loop *l = coro_loop_current();
  for (g_call = 0; g_call < CALL_COUNT; g_call++) {
    static char buf[4];
    char drop[4];
    memcpy(buf, g_msg, 4);
    /* Try once. */
    if (call_reads(g_call))
      CHECK_EQ(write(g_sock[1], g_msg, 4), 4);
    coro__fault_arm_at(CORO__FP_BIT(call_point(g_call)), 1, 1, EAGAIN);
    CHECK_EQ(do_call(g_call, call_fd(g_call), buf, 0), -ETIMEDOUT);
    check_fired(g_call, EAGAIN);
    coro__fault_arm(0, 0);
    if (call_reads(g_call))
      CHECK_EQ(read(g_sock[0], drop, 4), 4); /* still there: not taken */
    /* With a deadline: the call parks, then moves its bytes. */
    coro_loop_stats st0, st;
    CHECK_EQ(coro_loop_stats_get(l, &st0), 0);
    coro__fault_arm_at(CORO__FP_BIT(call_point(g_call)), 1, 1, EAGAIN);
    CHECK_EQ(coro_spawn(&g_caller, eagain_call, buf, NULL), 0);
    if (call_reads(g_call)) {
      do {
        CHECK_EQ(coro_yield(), 0);
        CHECK_EQ(coro_loop_stats_get(l, &st), 0);
      } while (st.fd_waiters == 0);
      CHECK(!coro_done(g_caller));
      CHECK_EQ(write(g_sock[1], g_msg, 4), 4);
    }
    void *res = NULL;
    CHECK_EQ(coro_join(g_caller, in_ms(DEADLINE_MS), &res), 0);
    CHECK_EQ((intptr_t)res, 4);
    check_fired(g_call, EAGAIN);
    coro__fault_arm(0, 0);
    CHECK_EQ(coro_loop_stats_get(l, &st), 0);
    CHECK_GE(st.events, st0.events + 1);
    check_moved(g_call, buf);
  }
  return NULL;
}

/* Run fn on a fresh loop with a fresh stream socket pair. */
static void on_pair(coro_fn fn) {
  coro_loop_opts o = loop_opts();
  CHECK_EQ(coro_loop_new(&g_loop, &o), 0);
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                      g_sock),
           0);
  CHECK_EQ(run_one(fn, NULL), 0);
  CHECK_EQ(coro_fd_close(g_sock[0]), 0);
  CHECK_EQ(coro_fd_close(g_sock[1]), 0);
  CHECK_EQ(coro_loop_close(g_loop, -1), 0);
}

/* ---- Tests --------------------------------------------------------------- */

static void test_fd_high(int param) {
  g_param = param;
  sweep_both("fd_high", op_fd_high, FIX_LOOP);
}

static void test_fd_poll(int param) {
  g_param = param;
  sweep_both("fd_poll", op_fd_poll, FIX_LOOP);
}

static void test_loop(int param) {
  g_param = param;
  sweep_both("loop", op_loop, FIX_NONE);
}

static void test_loop_thread(int param) {
  g_param = param;
  sweep_both("loop_thread", op_loop_thread, FIX_NONE);
}

static void test_spawn(int param) {
  g_param = param;
  CHECK_EQ(coro_key_create(&g_key, NULL), 0);
  sweep_both("spawn", op_spawn, FIX_LOOP);
}

static void test_chan(int param) {
  g_param = param;
  sweep_both("chan", op_chan, FIX_LOOP);
}

static void test_remote(int param) {
  g_param = param;
  sweep_both("remote", op_remote, FIX_REMOTE);
}

static void set_path(void) {
  snprintf(g_path, sizeof g_path, "/tmp/coro_fault_%d.sock", (int)getpid());
}

static void test_listen(int param) {
  g_param = param;
  set_path();
  sweep_both("listen", op_listen, FIX_LOOP);
}

static void test_tcp(int param) {
  g_param = param;
  g_unix = 0;
  sweep_both("tcp", op_exchange, FIX_LOOP);
}

static void test_unix(int param) {
  g_param = param;
  g_unix = 1;
  set_path();
  sweep_both("unix", op_exchange, FIX_LOOP);
}

static void test_calls(int param) {
  g_param = param;
  sweep_both("calls", op_calls, FIX_LOOP);
}

static void test_eintr(int param) {
  g_param = param;
  on_pair(eintr_main);
}

static void test_eagain(int param) {
  g_param = param;
  on_pair(eagain_main);
}

static void test_sendfile(int param) {
  g_param = param;
  make_file();
  sweep_both("sendfile", op_sendfile, FIX_LOOP);
  close(g_file);
}

static void test_sendfile_rw(int param) {
  g_param = param;
  CHECK_EQ(setenv("CORO_SENDFILE", "rw", 1), 0);
  make_file();
  sweep_both("sendfile_rw", op_sendfile, FIX_LOOP);
  close(g_file);
}

/* The mechanism itself: the nth point fails once, then it disarms. */
static void test_arm(int param) {
  (void)param;
  coro__fault_arm(2, ENOMEM);
  CHECK_EQ(coro__fault(CORO__FP_ALLOC), 0);
  CHECK_EQ(coro__fault(CORO__FP_SOCKET), ENOMEM);
  CHECK_EQ(coro__fault(CORO__FP_SOCKET), 0);
  CHECK_EQ(coro__fault_calls(), 2);
  int err;
  CHECK_EQ(coro__fault_fired(&err), CORO__FP_SOCKET);
  CHECK_EQ(err, ENOMEM);
  /* Only the points of the mask count; times in a row. */
  coro__fault_arm_at(CORO__FP_BIT(CORO__FP_ACCEPT), 2, 2, CORO__FAULT_NATURAL);
  CHECK_EQ(coro__fault(CORO__FP_ALLOC), 0);
  CHECK_EQ(coro__fault(CORO__FP_ACCEPT), 0);
  CHECK_EQ(coro__fault(CORO__FP_ACCEPT), EMFILE);
  CHECK_EQ(coro__fault(CORO__FP_ACCEPT), EMFILE);
  CHECK_EQ(coro__fault(CORO__FP_ACCEPT), 0);
  CHECK_EQ(coro__fault_calls(), 3);
  /* err 0: count only. */
  coro__fault_arm(1000, 0);
  void *p = coro__malloc(8);
  CHECK_PTR_NE(p, NULL);
  free(p);
  CHECK_EQ(coro__fault_calls(), 1);
  CHECK_EQ(coro__fault_fired(NULL), -1);
  coro__fault_arm(0, 0);
  CHECK_EQ(coro__fault_on, 0);
  /* Every point has a name (for the sweeps' messages). */
  for (int i = 0; i < CORO__FP_COUNT; i++)
    CHECK(strcmp(coro__fault_name(i), "none") != 0);
  CHECK_STR_EQ(coro__fault_name(-1), "none");
}

static const testing_case tests[] = {
    {"arm", test_arm, 0},
    {"loop", test_loop, 120},
    {"loop_thread", test_loop_thread, 120},
    {"spawn", test_spawn, 120},
    {"chan", test_chan, 120},
    {"remote", test_remote, 120},
    {"listen", test_listen, 120},
    {"tcp", test_tcp, 120},
    {"unix", test_unix, 120},
    {"calls", test_calls, 120},
    {"eintr", test_eintr, 0},
    {"eagain", test_eagain, 0},
    {"sendfile", test_sendfile, 120},
    {"sendfile_rw", test_sendfile_rw, 120},
    {"fd_poll", test_fd_poll, 120},
    {"fd_high", test_fd_high, 120},
};

static const testing_param params[] = {
    {"guarded/epoll", CORO_STACK_GUARDED | CORO_POLL_EPOLL << 4},
    {"shared/epoll", CORO_STACK_SHARED | CORO_POLL_EPOLL << 4},
    {"guarded/poll", CORO_STACK_GUARDED | CORO_POLL_POLL << 4},
};

TESTING_MAIN(tests, params)
