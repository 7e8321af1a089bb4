/* hooks_client.h - a client in plain blocking libc style (hooks_client.c),
 * for hooks_test.c: the code the libc hooks make concurrent unchanged. */
#ifndef HOOKS_CLIENT_H
#define HOOKS_CLIENT_H

#include <netinet/in.h>

/* Counters the clients keep (one thread runs them all). */
typedef struct client_stats {
  int in_flight;     /* requests sent and not yet answered */
  int max_in_flight; /* the most at once: 1 when the calls block the thread */
  int ok, failed;
} client_stats;

/* Sleep 1 ms, connect to addr, send "req <id>\n", poll for the answer
 * (10 s), read it until its newline and check it is the request echoed;
 * close. 0, or -errno of the call that failed (-EBADMSG: a wrong answer,
 * -ETIMEDOUT: the poll timed out). */
int blocking_echo(const struct sockaddr_in *addr, int id, client_stats *st);

#endif
