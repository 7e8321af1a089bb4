// Package hookstest runs the blocking libc-style client of the C tests
// (csrc/test/hooks_client.c) as coroutines, for the tests of package hooks
// (cgo cannot be used in a _test.go file).
package hookstest

/*
#cgo CFLAGS: -std=c11 -D_GNU_SOURCE -I${SRCDIR}/../../../csrc -I${SRCDIR}/../../.. -I${SRCDIR}/../../../csrc/test
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include "coro_go.h"
#include "hooks_client.h"

static client_stats stats;
static struct sockaddr_in addr;
static int next_id;

static void *echo(void *arg) {
  (void)arg;
  if (blocking_echo(&addr, next_id++, &stats) == 0)
    stats.ok++;
  else
    stats.failed++;
  return NULL;
}
CORO_GO_ENTRY(echo)

// hook_dns.c's counters (hooks/hook.h).
void coro__hooks_dns_counts(uint64_t out[3]);

static int resolved; // 1: localhost resolved to 127.0.0.1

// getaddrinfo in a coroutine, as a blocking C library calls it.
static void *resolve(void *arg) {
  (void)arg;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
  resolved = getaddrinfo("localhost", "80", &hints, &res) == 0 &&
             ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
  if (resolved)
    freeaddrinfo(res);
  return NULL;
}
CORO_GO_ENTRY(resolve)

static int get_resolved(void) { return resolved; }

static client_stats get(void) { return stats; }

static void reset(int port) {
  stats = (client_stats){0};
  addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}
*/
import "C"

import "github.com/ccoro/coro"

// Stats are the clients' counters since Reset.
type Stats struct {
	MaxInFlight, OK, Failed int
}

// Reset zeroes the counters and points the clients at 127.0.0.1:port.
// Call it only while no client runs.
func Reset(port int) { C.reset(C.int(port)) }

// Get reads the counters. Call it only while no client runs.
func Get() Stats {
	s := C.get()
	return Stats{int(s.max_in_flight), int(s.ok), int(s.failed)}
}

// Echo is the client's coroutine entry: one request, echoed (see
// blocking_echo in hooks_client.h).
func Echo() coro.Entry { return coro.Entry(C.echo_entry()) }

// DNSCounts are the hooks' name lookups so far: in hooked coroutines (the
// engine's resolver), through libc's functions, on the private thread.
func DNSCounts() (inLoop, libc, thread uint64) {
	var c [3]C.uint64_t
	C.coro__hooks_dns_counts(&c[0])
	return uint64(c[0]), uint64(c[1]), uint64(c[2])
}

// Resolve is a coroutine entry calling getaddrinfo("localhost") as a
// blocking C library does; Resolved reports whether the last one got
// 127.0.0.1.
func Resolve() coro.Entry { return coro.Entry(C.resolve_entry()) }

// Resolved: see Resolve. Call it only while no Resolve runs.
func Resolved() bool { return C.get_resolved() != 0 }
