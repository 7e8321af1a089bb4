/* rqwait.c - how long the calling thread has waited for a CPU.
 *
 * Contract: coro__rq_wait(&fd) returns the nanoseconds the calling thread
 * has spent runnable but not running since it started (the run-queue
 * wait: the second field of /proc/thread-self/schedstat), or -1 when the
 * kernel does not tell (no procfs, a kernel without CONFIG_SCHED_INFO) or
 * the read fails. `fd` caches the open file for one thread: 0 before the
 * first call (zeroed memory), the descriptor + 1 once open, -1 once the
 * open failed (never tried again). coro__rq_wait_close(&fd) closes it,
 * from any thread.
 *
 * Why: a loop spins for posts only while that helps, which is when the
 * machine has a CPU to spare for it (sched.c, contended). Being preempted
 * is not the sign of an oversubscribed machine: the Go runtime's sysmon
 * and the kernel's own threads preempt a spinning thread a thousand times
 * a second on an idle 2-CPU VM, and a spin that stopped for 100 ms at
 * each preemption stopped for most of the time, and the loop slept
 * between the round trips of one goroutine's Spawn + Wait (each then
 * paying a wake-up of 10 us or more). Waiting for a CPU for a good part
 * of the time is the sign: beside a busy process on the same CPUs the
 * wait is about half the time; those preemptions cost a few
 * microseconds per millisecond.
 *
 * One pread per look (about a microsecond): sched.c looks at most once a
 * millisecond, and only while it spins. */
#include "coro_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int64_t coro__rq_wait(int *fd) {
  if (*fd < 0)
    return -1;
  if (*fd == 0) {
    int f = coro__openat(AT_FDCWD, "/proc/thread-self/schedstat",
                         O_RDONLY | O_CLOEXEC);
    if (f < 0) {
      *fd = -1;
      return -1;
    }
    *fd = f + 1;
  }
  /* "<on-CPU ns> <run-queue wait ns> <timeslices>\n"; at offset 0 the
   * kernel formats the line afresh at each read. */
  char buf[96];
  ssize_t n = coro__pread(*fd - 1, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  char *end;
  strtoll(buf, &end, 10);
  if (end == buf || *end != ' ')
    return -1;
  char *p = end;
  long long wait = strtoll(p, &end, 10);
  if (end == p || wait < 0)
    return -1;
  return (int64_t)wait;
}

void coro__rq_wait_close(int *fd) {
  if (*fd > 0)
    close(*fd - 1);
  *fd = 0;
}
