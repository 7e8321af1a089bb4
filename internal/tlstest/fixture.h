/* fixture.h - C fixtures of the TLS tests (fixture.c): each runs a loop of
 * its own on the calling thread until its coroutines are done. */
#ifndef TLSTEST_FIXTURE_H
#define TLSTEST_FIXTURE_H

#include <stdint.h>

typedef struct tlstest_client_args {
  const char *addr; /* numeric "127.0.0.1:port" */
  const char *host; /* for SNI and verification */
  const char *ca_file;
  int min_version, max_version, insecure;
  const char *msg;    /* written after the handshake, or NULL */
  int64_t timeout_ns; /* each connection's deadline, from its start */
  int conns;          /* connections made one after the other, one config */
  int stack_shared;   /* run the client in CORO_STACK_SHARED mode */
} tlstest_client_args;

typedef struct tlstest_conn_result {
  int rc;     /* 0, or the negative error of the step that failed */
  int step;   /* 1 connect, 2 handshake, 3 write, 4 read (to the end) */
  int reused; /* the session was resumed */
  char version[16], alpn[16], err[256];
  int64_t nread; /* application bytes read */
  char data[128]; /* the first of them, NUL-terminated */
} tlstest_conn_result;

/* Makes a.conns connections, results in res[0..conns). 0, or a negative
 * error of the setup (configuration: err in res[0].err). */
int tlstest_client(const tlstest_client_args *a, tlstest_conn_result *res);

typedef struct tlstest_many_result {
  int ok;         /* clients that got their message back */
  int served;     /* server handlers that echoed and shut down */
  int failed;     /* clients that did not */
  int first_err;  /* a failed client's error */
  char err[256];
} tlstest_many_result;

/* n clients and their server on one loop, all at once: each client
 * connects, handshakes (verifying against ca), writes a line, reads it
 * back to the server's close_notify. */
int tlstest_many(const char *cert, const char *key, const char *ca, int n,
                 tlstest_many_result *r);

#endif
