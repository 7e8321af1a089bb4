/* dnsbench.c - the C sides of the resolver benchmark (scripts/bench-dns.sh):
 * N lookups of distinct names h00000.bench.test. ... against a local DNS
 * server, cache cold and then warm, by
 *   coro       coro_lookup_ip from N coroutines on one loop (a fresh
 *              resolver: its cache is empty; the coroutines' stacks mapped
 *              and touched before), then again from N coroutines
 *              (warm), then from one coroutine asking every name ROUNDS
 *              times (warm1: the lookup alone, no spawn)
 *   cares      c-ares ares_getaddrinfo driven by its own event loop (its
 *              sockets through ARES_OPT_SOCK_STATE_CB into epoll, its
 *              timeouts from ares_timeout), defaults otherwise: the hosts
 *              file is read for every lookup ("fb")
 *   cares-dns  the same with lookups "b": DNS only
 *   gai        glibc getaddrinfo on a pool of THREADS threads
 * c-ares and glibc have no cache: their warm run asks the server again.
 * Every lookup asks for IPv4 only (one A query), the name fully qualified
 * (a trailing dot: no search list), and its answer is checked (h<i> is
 * 10.<i/65536>.<i/256%256>.<i%256>).
 *
 * Each phase prints one line:
 *   dns impl=coro phase=cold lookups=10000 errors=0 wall_ns=... cpu_ns=...
 * cpu_ns is the process's user + system time (getrusage, every thread).
 *
 * Usage: dnsbench MODE SERVER N [THREADS|ROUNDS] [RESOLV_CONF]
 *   MODE probe: one coro lookup of h00000 with a 300 ms deadline; exit 0
 *   when it answers (the script waits for the server with it).
 *   SERVER is the server's IPv4 address (port 53); RESOLV_CONF (coro)
 *   a resolv.conf naming it.
 *
 * Build: scripts/bench-dns.sh (with -DHAVE_CARES and -lcares when c-ares
 * is installed).
 */
#include "coro.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_CARES
#include <ares.h>
#endif

static long g_n;
static char (*g_names)[40];
static const char *g_server;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static _Noreturn void die(const char *what, const char *why) {
  fprintf(stderr, "dnsbench: %s: %s\n", what, why);
  exit(2);
}

/* The expected address of name i, in network order. */
static uint32_t want_addr(long i) {
  return htonl((10u << 24) | ((uint32_t)i & 0xffffff));
}

typedef struct clock_pair {
  int64_t wall, cpu;
} clock_pair;

static clock_pair start(void) {
  return (clock_pair){mono_ns(), cpu_ns()};
}

static void report(const char *impl, const char *phase, clock_pair t0,
                   long lookups, long errors) {
  int64_t wall = mono_ns() - t0.wall, cpu = cpu_ns() - t0.cpu;
  printf("dns impl=%s phase=%s lookups=%ld errors=%ld wall_ns=%lld cpu_ns=%lld\n",
         impl, phase, lookups, errors, (long long)wall, (long long)cpu);
  fflush(stdout);
}

/* ---- coro ---------------------------------------------------------- */

static coro_resolver *g_res;
static long g_errors, g_first_err;
static long g_rounds;

static void check_coro(long i, int rc, const coro_ip *ip) {
  uint32_t a;
  if (rc > 0)
    memcpy(&a, ip->addr, 4);
  if (rc != 1 || ip->family != AF_INET || a != want_addr(i)) {
    if (g_errors++ == 0)
      g_first_err = rc;
  }
}

static void *coro_one(void *arg) {
  long i = (long)(intptr_t)arg;
  coro_ip ip[4];
  int rc = coro_lookup_ip(g_res, g_names[i], AF_INET, ip, 4,
                          coro_now() + 30 * (int64_t)1000000000);
  check_coro(i, rc, ip);
  return NULL;
}

/* One coroutine asking every name g_rounds times. */
static void *coro_seq(void *arg) {
  (void)arg;
  int64_t deadline = coro_now() + 60 * (int64_t)1000000000;
  for (long r = 0; r < g_rounds; r++) {
    for (long i = 0; i < g_n; i++) {
      coro_ip ip[4];
      int rc = coro_lookup_ip(g_res, g_names[i], AF_INET, ip, 4, deadline);
      check_coro(i, rc, ip);
    }
  }
  return NULL;
}

/* The warm-up: write a byte of each page of the stack's top 64 KiB, as
 * any coroutine of a running server has (a lookup's frames, with their
 * name buffers and decode arena, reach tens of KiB). */
static void *touch_stack(void *arg) {
  volatile char buf[64 * 1024];
  for (size_t i = 0; i < sizeof buf; i += 4096)
    buf[i] = 1;
  return arg;
}

static void coro_spawn_all(coro_loop *loop, coro_fn fn, long n) {
  for (long i = 0; i < n; i++) {
    int rc = coro_spawn(NULL, fn, (void *)(intptr_t)i, NULL);
    if (rc < 0)
      die("coro_spawn", coro_strerror(rc));
  }
  int rc = coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY);
  if (rc < 0)
    die("coro_loop_run", coro_strerror(rc));
}

static void coro_phase(coro_loop *loop, const char *phase, coro_fn fn,
                       long n, long lookups) {
  g_errors = 0;
  clock_pair t0 = start();
  coro_spawn_all(loop, fn, n);
  report("coro", phase, t0, lookups, g_errors);
  if (g_errors)
    fprintf(stderr, "dnsbench: coro %s: first error %ld (%s)\n", phase,
            g_first_err, coro_strerror((int)g_first_err));
}

static int run_coro(const char *conf, int probe) {
  coro_loop *loop;
  /* Keep a stack per coroutine for reuse, mapped and touched before the
   * cold run (unless DNSBENCH_FRESH_STACKS is set): it measures the
   * lookups in an engine that has been running, not the first touch of N
   * fresh stacks (page faults), which the spawn benchmarks measure. */
  coro_loop_opts lo = {.stack_cache = (size_t)g_n + 16, .name = "dnsbench"};
  int rc = coro_loop_new(&loop, &lo);
  if (rc < 0)
    die("coro_loop_new", coro_strerror(rc));
  /* The default cache (4096) would not hold N names. */
  coro_resolver_opts ro = {.resolv_conf = conf, .servers = g_server,
                           .cache_entries = (size_t)g_n * 2};
  rc = coro_resolver_new(&g_res, &ro);
  if (rc < 0)
    die("coro_resolver_new", coro_strerror(rc));
  if (probe) {
    coro_phase(loop, "probe", coro_one, 1, 1);
    return g_errors ? 1 : 0;
  }
  if (getenv("DNSBENCH_FRESH_STACKS") == NULL)
    coro_spawn_all(loop, touch_stack, g_n);
  coro_phase(loop, "cold", coro_one, g_n, g_n);
  coro_phase(loop, "warm", coro_one, g_n, g_n);
  coro_phase(loop, "warm1", coro_seq, 1, g_n * g_rounds);
  coro_resolver_stats st;
  coro_resolver_stats_get(g_res, &st);
  fprintf(stderr,
          "dnsbench: coro: lookups %llu, cache hits %llu, misses %llu, udp %llu, "
          "tcp %llu, timeouts %llu, retries %llu\n",
          (unsigned long long)st.lookups, (unsigned long long)st.cache_hits,
          (unsigned long long)st.cache_misses, (unsigned long long)st.queries_udp,
          (unsigned long long)st.queries_tcp, (unsigned long long)st.timeouts,
          (unsigned long long)st.retries);
  rc = coro_resolver_free(g_res);
  if (rc < 0)
    die("coro_resolver_free", coro_strerror(rc));
  rc = coro_loop_close(loop, -1);
  return rc < 0 ? 1 : 0;
}

/* ---- glibc getaddrinfo on a pool of threads --------------------------- */

static atomic_long g_next;
static atomic_long g_gai_errors;

/* Aim this thread's resolver state (_res is per thread) at the server: a
 * program may change _res after res_init, and glibc then uses it instead
 * of /etc/resolv.conf. */
static void aim_res(void) {
  if (res_init() != 0)
    die("res_init", "failed");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
  if (inet_pton(AF_INET, g_server, &sa.sin_addr) != 1)
    die("server", "not an IPv4 address");
  _res.nsaddr_list[0] = sa;
  _res.nscount = 1;
}

static void *gai_worker(void *arg) {
  (void)arg;
  aim_res();
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  for (;;) {
    long i = atomic_fetch_add(&g_next, 1);
    if (i >= g_n)
      break;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(g_names[i], NULL, &hints, &res);
    if (rc != 0 || res == NULL ||
        ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr != want_addr(i)) {
      if (atomic_fetch_add(&g_gai_errors, 1) == 0)
        fprintf(stderr, "dnsbench: gai %s: %s\n", g_names[i],
                rc ? gai_strerror(rc) : "wrong address");
    }
    if (res)
      freeaddrinfo(res);
  }
  return NULL;
}

static int run_gai(long threads) {
  pthread_t *t = calloc((size_t)threads, sizeof *t);
  if (t == NULL)
    die("calloc", "no memory");
  for (int pass = 0; pass < 2; pass++) {
    atomic_store(&g_next, 0);
    atomic_store(&g_gai_errors, 0);
    clock_pair t0 = start();
    for (long k = 0; k < threads; k++)
      if (pthread_create(&t[k], NULL, gai_worker, NULL) != 0)
        die("pthread_create", strerror(errno));
    for (long k = 0; k < threads; k++)
      pthread_join(t[k], NULL);
    report("gai", pass ? "warm" : "cold", t0, g_n, atomic_load(&g_gai_errors));
  }
  free(t);
  return 0;
}

/* ---- c-ares ------------------------------------------------------------ */

#ifdef HAVE_CARES
static int g_ep;
static long g_cares_done, g_cares_next, g_cares_errors;
static ares_channel g_ch;

/* c-ares says which sockets to watch; epoll watches them. */
static void sock_state(void *data, ares_socket_t fd, int readable,
                       int writable) {
  (void)data;
  struct epoll_event ev = {.events = (readable ? EPOLLIN : 0) |
                                     (writable ? EPOLLOUT : 0),
                           .data.fd = fd};
  if (!readable && !writable) {
    epoll_ctl(g_ep, EPOLL_CTL_DEL, fd, NULL);
    return;
  }
  if (epoll_ctl(g_ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
    epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
}

static void cares_ask(long i);

static void cares_done(void *arg, int status, int timeouts,
                       struct ares_addrinfo *res) {
  (void)timeouts;
  long i = (long)(intptr_t)arg;
  int ok = status == ARES_SUCCESS && res != NULL && res->nodes != NULL &&
           res->nodes->ai_family == AF_INET &&
           ((struct sockaddr_in *)res->nodes->ai_addr)->sin_addr.s_addr ==
               want_addr(i);
  if (!ok && g_cares_errors++ == 0)
    fprintf(stderr, "dnsbench: cares %s: %s\n", g_names[i],
            ares_strerror(status));
  if (res)
    ares_freeaddrinfo(res);
  g_cares_done++;
  if (g_cares_next < g_n)
    cares_ask(g_cares_next++);
}

static void cares_ask(long i) {
  struct ares_addrinfo_hints hints = {.ai_family = AF_INET,
                                      .ai_socktype = SOCK_STREAM};
  ares_getaddrinfo(g_ch, g_names[i], NULL, &hints, cares_done,
                   (void *)(intptr_t)i);
}

static int run_cares(const char *impl, const char *lookups, long window) {
  if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
    die("ares_library_init", "failed");
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  struct ares_options o = {.sock_state_cb = sock_state,
                           .socket_receive_buffer_size = 4 << 20};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_SOCK_RCVBUF;
  if (lookups != NULL) {
    o.lookups = (char *)lookups;
    mask |= ARES_OPT_LOOKUPS;
  }
  int rc = ares_init_options(&g_ch, &o, mask);
  if (rc != ARES_SUCCESS)
    die("ares_init_options", ares_strerror(rc));
  rc = ares_set_servers_csv(g_ch, g_server);
  if (rc != ARES_SUCCESS)
    die("ares_set_servers_csv", ares_strerror(rc));
  for (int pass = 0; pass < 2; pass++) {
    g_cares_done = g_cares_errors = 0;
    g_cares_next = window < g_n ? window : g_n;
    clock_pair t0 = start();
    for (long i = 0; i < g_cares_next; i++)
      cares_ask(i);
    while (g_cares_done < g_n) {
      struct timeval tv, *tvp = ares_timeout(g_ch, NULL, &tv);
      int ms = tvp ? (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000) : -1;
      struct epoll_event evs[256];
      int k = epoll_wait(g_ep, evs, 256, ms);
      if (k < 0 && errno != EINTR)
        die("epoll_wait", strerror(errno));
      if (k <= 0)
        ares_process_fd(g_ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      for (int j = 0; j < k; j++) {
        int fd = evs[j].data.fd;
        ares_process_fd(g_ch, evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
                        evs[j].events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
      }
    }
    report(impl, pass ? "warm" : "cold", t0, g_n, g_cares_errors);
  }
  ares_destroy(g_ch);
  ares_library_cleanup();
  close(g_ep);
  return 0;
}
#endif

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: dnsbench probe|coro|cares|cares-dns|gai SERVER N "
                    "[THREADS|ROUNDS|WINDOW] [RESOLV_CONF]\n");
    return 2;
  }
  const char *mode = argv[1];
  g_server = argv[2];
  g_n = atol(argv[3]);
  long arg = argc > 4 ? atol(argv[4]) : 0;
  const char *conf = argc > 5 ? argv[5] : NULL;
  if (g_n <= 0 || g_n > 1000000)
    die("N", "must be 1..1000000");
  g_names = calloc((size_t)g_n, sizeof *g_names);
  if (g_names == NULL)
    die("calloc", "no memory");
  for (long i = 0; i < g_n; i++)
    snprintf(g_names[i], sizeof g_names[i], "h%05ld.bench.test.", i);
  if (strcmp(mode, "probe") == 0)
    return run_coro(conf, 1);
  if (strcmp(mode, "coro") == 0) {
    g_rounds = arg > 0 ? arg : 100;
    return run_coro(conf, 0);
  }
  if (strcmp(mode, "gai") == 0)
    return run_gai(arg > 0 ? arg : 64);
#ifdef HAVE_CARES
  if (strcmp(mode, "cares") == 0)
    return run_cares("cares", NULL, arg > 0 ? arg : g_n);
  if (strcmp(mode, "cares-dns") == 0)
    return run_cares("cares-dns", "b", arg > 0 ? arg : g_n);
#else
  if (strncmp(mode, "cares", 5) == 0)
    die(mode, "built without c-ares (bash .ci/install-deps dns)");
#endif
  die(mode, "unknown mode");
}
