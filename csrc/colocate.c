/* colocate.c - a loop thread moves off the CPU of the thread that posts to
 * it, when the two keep meeting there.
 *
 * Contract: main calls coro__colocate_note(l, cpu) for the first remote
 * spawn it starts after a sleep in the kernel, with the CPU the spawn was
 * posted from (coro_remote.cpu: stamped when the poster found the loop
 * asleep, else -1). After COLOCATE_RUN such spawns in a row posted from
 * main's own CPU, main moves to another CPU its affinity allows, at most
 * once per COLOCATE_GAP_NS; the affinity mask is set back as it was.
 *
 * Why: the kernel wakes a sleeping thread near its waker, so a loop that
 * sleeps between the spawns of one goroutine (Go's Spawn + Wait) is often
 * woken onto the very CPU that goroutine runs on, and stays there: each
 * then waits for the other to give the CPU up (a poller that yields, a
 * loop that spins for posts and sleeps), which made 3 to 9% of round
 * trips cost 9 to 57 us instead of 2 on the 2-CPU machine (perf sched;
 * the poster's CPU stamped into each record), while the other CPU idled.
 * Load balancing never parts them: the two are rarely runnable at once.
 * A move costs two sched_setaffinity calls and a migration; the run and
 * the gap keep it rare where posts come from many CPUs (a busy program
 * posting from every core meets the loop's CPU now and then, not 8 times
 * in a row after each sleep). A mask of one CPU (a pinned loop) is never
 * touched.
 *
 * What the move can lose: a change of the loop thread's mask by another
 * thread between its two system calls (taskset -p, a cpuset update) is
 * overwritten by the mask read before; and the mask set back is the one
 * sched_getaffinity reports, the CPUs allowed and online then, which on
 * Linux 6.2 and later also becomes the thread's requested mask (a cpuset
 * widened later does not widen it). */
#include "coro_internal.h"

#include <sched.h>

/* Spawns in a row, each the first after a sleep, posted from main's CPU. */
#define COLOCATE_RUN 8
/* The least time between two moves. */
#define COLOCATE_GAP_NS 10000000

/* Moves the calling thread off `cpu` to another CPU of its affinity mask,
 * then restores the mask (the kernel does not move a thread back to a CPU
 * just because the mask allows it again). 1 if it moved. */
static int move_off(int cpu) {
  cpu_set_t all, others;
  if (sched_getaffinity(0, sizeof all, &all) < 0 || !CPU_ISSET(cpu, &all) ||
      CPU_COUNT(&all) < 2)
    return 0;
  others = all;
  CPU_CLR(cpu, &others);
  if (sched_setaffinity(0, sizeof others, &others) < 0)
    return 0;
  /* Set back. A failure (the cpuset shrank between the calls, memory)
   * leaves the thread allowed only the others: a loop off one CPU. */
  (void)sched_setaffinity(0, sizeof all, &all);
  return 1;
}

void coro__colocate_note(coro_loop *l, int poster_cpu) {
  int cpu = sched_getcpu();
  if (poster_cpu < 0 || cpu != poster_cpu) {
    l->colocated = 0;
    return;
  }
  if (++l->colocated < COLOCATE_RUN)
    return;
  l->colocated = 0;
  int64_t now = coro_now();
  if (l->moved_at != 0 && now - l->moved_at < COLOCATE_GAP_NS)
    return;
  l->moved_at = now;
  if (move_off(cpu))
    l->n_moves++;
}
