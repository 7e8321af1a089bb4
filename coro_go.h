/* coro_go.h - calling Go functions from C coroutines.
 *
 * The Go package github.com/ccoro/coro provides this function. A Go program
 * registers a function once with coro.RegisterFunc, which returns a small
 * integer id (a coro.Func), and hands that id to its C code by any means
 * (usually inside the argument of the coroutine). C code running in a
 * coroutine then calls:
 *
 *     void *result;
 *     int rc = coro_go_call(id, arg, &result);
 *
 * The call suspends the calling coroutine and runs the Go function on the
 * loop thread's own stack (through coro_call_on_loop), never on the
 * coroutine's stack: the Go runtime must not run on a stack it did not
 * allocate (see DEVELOPERS.md). No other coroutine of the loop runs while
 * the Go function does, and every coro_ call that would switch coroutines
 * returns -EPERM until it returns.
 *
 * Using it from another cgo package: that package's C code only needs the
 * declaration below (copy it into the cgo preamble, or add this folder to
 * its include path). The definition is linked in because the Go side of
 * the program imports github.com/ccoro/coro, which it must do anyway to
 * register the function.
 *
 * Return values:
 *   0                the Go function returned a nil error; *result (if
 *                    result is not NULL) holds its first return value.
 *   -errno           the Go function returned an error that wraps a
 *                    syscall.Errno (errors.As); *result is left alone.
 *   CORO_GO_EERROR   the Go function returned any other error.
 *   CORO_GO_EPANIC   the Go function panicked. The panic was recovered on
 *                    the Go side and handed to the loop's panic handler
 *                    (coro.WithPanicHandler; by default it is logged with
 *                    its stack); the loop and the coroutine go on.
 *   -EINVAL          id is not a registered function.
 *   -EPERM           not called from inside a coroutine, or called while
 *                    another coro_call_on_loop function is running.
 */
#ifndef CORO_GO_H
#define CORO_GO_H

#include <errno.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The Go function returned a non-nil error that is not a syscall.Errno. */
#define CORO_GO_EERROR (-EIO)
/* The Go function panicked (the panic was recovered and reported). */
#define CORO_GO_EPANIC (-ENOTRECOVERABLE)

/* Call the Go function registered as fn with arg; see above. arg and the
 * result must be C memory or integers, never pointers into Go memory. The
 * Go function sees arg, and returns its result, as a uintptr. */
int coro_go_call(uintptr_t fn, void *arg, void **result);

/* CORO_GO_ENTRY(fn) defines `static inline uintptr_t fn_entry(void)`,
 * returning the address of the coroutine function fn for Go's coro.Spawn:
 *
 *     static void *count(void *arg) { ... }
 *     CORO_GO_ENTRY(count)
 *
 *     co, err := loop.Spawn(coro.Entry(C.count_entry()), 100)
 *
 * It works for static functions (the getter is compiled in the same file,
 * where Go's C.count would need an external symbol), and the compiler
 * rejects an fn whose type is not coro_fn, void *(*)(void *). */
#define CORO_GO_ENTRY(fn)                                                     \
  static inline uintptr_t fn##_entry(void) {                                  \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&(fn)),            \
                                                void *(*)(void *)),           \
                   "CORO_GO_ENTRY(" #fn "): " #fn                             \
                   " must be a function void *" #fn "(void *arg)");           \
    return (uintptr_t)(fn);                                                   \
  }

#ifdef __cplusplus
}
#endif
#endif /* CORO_GO_H */
