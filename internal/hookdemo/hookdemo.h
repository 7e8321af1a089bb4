/* hookdemo.h - the blocking client of coro hookdemo (client.c). */
#ifndef HOOKDEMO_H
#define HOOKDEMO_H

#include <stdint.h>

/* The clients' counters (one loop thread runs them all). */
typedef struct hookdemo_stats {
  int in_flight, max_in_flight, ok, failed;
} hookdemo_stats;

/* Zero the counters; the clients will ask 127.0.0.1:port. */
void hookdemo_reset(int port);
hookdemo_stats hookdemo_get(void);
/* A coroutine's entry: one request (arg: its id), counted. */
void *hookdemo_client(void *arg);

#endif
