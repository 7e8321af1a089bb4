/* rqwait.c - how long the calling thread has waited for a CPU.
 *
 * Contract: coro__rq_wait() returns the nanoseconds the calling thread has
 * spent runnable but not running since it started (the run-queue wait:
 * the second field of /proc/thread-self/schedstat), or -1 when the kernel
 * does not tell (no procfs; a kernel without CONFIG_SCHED_INFO, or one
 * that keeps the counts at 0) or the file cannot be read.
 * coro__rq_wait_at(path) reads another file of that format (tests).
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
 * wait is about half the time; those preemptions cost a few microseconds
 * per millisecond.
 *
 * An open, a read and a close per look (a few microseconds), with the
 * plain system calls: sched.c looks at most once per 20 ms window, and
 * only while it spins. No descriptor is kept between looks (a loop would
 * hold one more fd, and tests that count a process's fds would see it
 * appear in the middle of their run), and none of it goes through the
 * fault points (fault.c), whose sweeps count the points an operation
 * passes: a look at a moment that depends on timing would shift them. */
#include "coro_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int64_t coro__rq_wait_at(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  /* "<on-CPU ns> <run-queue wait ns> <timeslices>\n" */
  char buf[96];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  char *end;
  long long on_cpu = strtoll(buf, &end, 10);
  if (end == buf || *end != ' ' || on_cpu < 0)
    return -1;
  char *p = end;
  long long wait = strtoll(p, &end, 10);
  if (end == p || *end != ' ' || wait < 0)
    return -1;
  p = end;
  long long slices = strtoll(p, &end, 10);
  /* A thread that runs has had a time slice (its on-CPU time may still
   * read 0 before its first tick): all zeros mean "not counted". */
  if (end == p || slices <= 0)
    return -1;
  return (int64_t)wait;
}

int64_t coro__rq_wait(void) {
  return coro__rq_wait_at("/proc/thread-self/schedstat");
}
