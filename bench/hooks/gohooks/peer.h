/* peer.h - the C side of the hooks benchmark's Go peers (peer.c). */
#ifndef GOHOOKS_PEER_H
#define GOHOOKS_PEER_H

#include <stdint.h>

/* Counters of the clients: ok (BLPOP answered nil after the server-side
 * timeout), failed (connect error, error reply, a value, or an answer
 * sooner than the timeout: BLPOP did not wait in the server). */
typedef struct peer_counts {
  int ok, failed, early;
} peer_counts;

/* Set up n clients of 127.0.0.1:port, their gate for loops loops (group)
 * or the pthread barrier (loops == 0: cgo). Call once, before any client. */
int peer_setup(int port, int n, int loops);

/* The cgo peer's client i: connect, wait for all n (pthread barrier),
 * BLPOP its own empty key with a 0.3 s timeout, disconnect. Blocks the
 * calling thread throughout, as a blocking C library does. */
void peer_blpop_thread(int i);

/* Coroutine entries (coro.Entry) of the group peer: gate_register(j) on
 * loop j, once per loop before any client; client(i) on loop i % loops. */
uintptr_t peer_register_entry(void);
uintptr_t peer_client_entry(void);

peer_counts peer_counts_get(void);

/* A thread that samples /proc/self/status's Threads every millisecond
 * (not counting itself) until peer_sampler_stop, which returns the most. */
int peer_sampler_start(void);
int peer_sampler_stop(void);

/* A field of /proc/self/status (kB for VmHWM), -1 if absent. */
long peer_status_field(const char *name);

#endif
