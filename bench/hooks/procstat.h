/* procstat.h - what the hooks benchmark's programs (hooks_bench.c and the
 * Go peers' gohooks/peer.c) measure of themselves, the same way: fields of
 * /proc/self/status, and the most threads the process had, sampled every
 * millisecond by a thread of its own (not counted). Static functions: each
 * program includes it once. */
#ifndef HOOKS_BENCH_PROCSTAT_H
#define HOOKS_BENCH_PROCSTAT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A field of /proc/self/status (kB for VmHWM), -1 if absent. */
static long status_field(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long v = -1;
  size_t n = strlen(name);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, name, n) == 0) {
      v = atol(line + n);
      break;
    }
  fclose(f);
  return v;
}

static atomic_int stop_sampler, max_threads;
static pthread_t sampler_th;

static void *sampler(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_sampler)) {
    int t = (int)status_field("Threads:") - 1; /* less the sampler */
    if (t > atomic_load(&max_threads))
      atomic_store(&max_threads, t);
    usleep(1000);
  }
  return NULL;
}

/* 0, or -1 if the thread cannot be started. */
static int sampler_start(void) { return pthread_create(&sampler_th, NULL, sampler, NULL) == 0 ? 0 : -1; }

/* Stops the sampler; the most threads seen. */
static int sampler_stop(void) {
  atomic_store(&stop_sampler, 1);
  pthread_join(sampler_th, NULL);
  return atomic_load(&max_threads);
}

#endif
