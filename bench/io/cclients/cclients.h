/* cclients.h - the C side of bench/io/cclients: one client, written twice.
 *
 * A client connects to the peer, sends CC_REQ_LEN bytes, blocks until it
 * reads CC_REPLY_LEN bytes back, and closes. cc_blocking_client does it
 * with plain blocking POSIX calls (what C code called from a goroutine
 * through cgo looks like); cc_coro_main spawns run->n coroutines that do
 * it with coro_connect, coro_write_all and coro_read on one loop.
 */
#ifndef CCLIENTS_H
#define CCLIENTS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "coro.h"

#define CC_REQ "request\n"
#define CC_REQ_LEN 8
#define CC_REPLY "answer!\n"
#define CC_REPLY_LEN 8

/* One run, in C memory: Go fills in the inputs, the clients update the
 * outputs (atomically: in cgo mode they run on many threads at once). */
typedef struct cc_run {
  /* In. */
  struct sockaddr_storage addr; /* the peer */
  socklen_t addrlen;
  int n;              /* clients (cc_coro_main spawns this many) */
  int64_t timeout_ns; /* bounds each client's connect, write and read */
  int stack_mode;     /* cc_coro_main: the clients' enum coro_stack_mode */
  /* Out. */
  atomic_int answered;  /* clients that read the whole reply */
  atomic_int failed;    /* clients that did not */
  atomic_int first_err; /* the first failure's -errno (-EPROTO: wrong reply) */
  atomic_int next;      /* the next client's index into tids */
  int *tids;            /* n thread ids: the thread each client ran on */
} cc_run;

/* Parse a numeric "127.0.0.1:PORT" into run->addr: 0 or -EINVAL. */
int cc_set_addr(cc_run *run, const char *hostport);

/* One blocking client on the calling thread: 0 or -errno. Counts itself in
 * run's outputs. */
int cc_blocking_client(cc_run *run);

/* Reads the outputs: answered, failed, first_err. */
void cc_read(cc_run *run, int out[3]);

/* A coroutine's entry (arg: a cc_run): spawns run->n client coroutines and
 * joins them all. Returns NULL. */
void *cc_coro_main(void *run);

#endif /* CCLIENTS_H */
