/* st.c - peer benchmark: State Threads condition-variable ping-pong.
 *
 * Two st threads hand a turn back and forth with st_cond_signal and
 * st_cond_wait; each handoff is one switch through st's scheduler (Debian's
 * libst has no st_yield, so this is its cheapest scheduled handoff). One op
 * is one handoff. Prints Go benchmark lines so benchstat reads them.
 *
 *   st [iterations [repeats]]
 */
#define _GNU_SOURCE
#include <st.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static st_cond_t g_cond[2];
static int g_turn;   /* whose turn it is: 0 or 1 */
static long g_left;  /* handoffs still to make */

static void *player(void *arg) {
  int me = (int)(long)arg;
  for (;;) {
    while (g_turn != me && g_left >= 0) st_cond_wait(g_cond[me]);
    if (g_left < 0) break;
    if (g_left-- == 0) {
      /* Done: wake the other side so that it sees the end, too. */
      g_left = -1;
      st_cond_signal(g_cond[1 - me]);
      break;
    }
    g_turn = 1 - me;
    st_cond_signal(g_cond[1 - me]);
  }
  return NULL;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double run(long n) {
  g_left = n;
  g_turn = 0;
  st_thread_t t[2];
  double t0 = now_ns();
  for (long i = 0; i < 2; i++) t[i] = st_thread_create(player, (void *)i, 1, 64 * 1024);
  for (int i = 0; i < 2; i++) st_thread_join(t[i], NULL);
  return now_ns() - t0;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 10000000L;
  int repeats = argc > 2 ? atoi(argv[2]) : 1;
  if (st_init() < 0) {
    perror("st_init");
    return 1;
  }
  for (int i = 0; i < 2; i++) g_cond[i] = st_cond_new();
  run(100000); /* warm up */
  for (int r = 0; r < repeats; r++) {
    double ns = run(iters) / (double)iters;
    printf("BenchmarkPeerSTCond \t%ld\t%.3f ns/op\t%.3f ns/switch\n", iters, ns, ns);
    fflush(stdout);
  }
  return 0;
}
