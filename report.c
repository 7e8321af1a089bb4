/* report.c - the C half of the Go bindings' reports (slow.go): the
 * report_fn the engine calls, forwarding to the //export function of
 * slow.go with the loop's id. Go runs here only on the watchdog thread
 * (slow runs) or on the loop thread's own stack inside coro_loop_close
 * (abandoned coroutines), never on a coroutine stack. */
#include "coro.h"

#include "_cgo_export.h"

#include <stdint.h>

static void coro__go_report(const coro_report *r, void *arg) {
  coroGoReport((coro_report *)r, (uint64_t)(uintptr_t)arg);
}

/* Point o's report_fn at Go, for the loop with this id (an integer kept in
 * C's void *, never in a Go pointer). */
void coro__go_report_opts(coro_loop_opts *o, uint64_t id) {
  o->report_fn = coro__go_report;
  o->report_arg = (void *)(uintptr_t)id;
}
