// Package coro runs C coroutines, from the bundled C engine (csrc/coro.h),
// on scheduler loops driven from Go.
//
// The coroutines themselves are C functions of type void *(*)(void *)
// (coro_fn): they run C code, switch cheaply among themselves with the
// engine's calls (coro_yield, coro_sleep, locks, channels) and never run Go
// code on their own stacks. Go starts loops, spawns coroutines on them,
// waits for and cancels them, and offers Go functions that the C code can
// call (RegisterFunc and coro_go_call).
//
//	l, err := coro.NewLoop(coro.WithStackMode(coro.StackShared))
//	co, err := l.Spawn(coro.Entry(C.my_entry_entry()), arg) // CORO_GO_ENTRY(my_entry) in C
//	res, err := co.Wait(ctx)
//	err = l.Close(ctx)
//
// # Loops and threads
//
// NewLoop starts a goroutine that calls runtime.LockOSThread and never
// unlocks it, creates the C loop on that thread and then runs it in one
// long cgo call, coro_loop_run(loop, CORO_RUN_UNTIL_STOPPED), until Close.
// The thread is therefore one the Go runtime manages, owned by that
// goroutine alone, and it ends when the goroutine does (a goroutine that
// exits while locked takes its thread with it). This matters because:
//
//   - The engine keeps the current loop and coroutine in C thread-locals,
//     and a coroutine must never resume on another thread (compilers cache
//     the addresses of thread-locals such as errno across calls). An
//     unlocked goroutine may move between threads at any cgo call.
//   - Signals. The Go runtime installs its own alternate signal stack
//     (sigaltstack) on every thread it manages, and its handlers use
//     SA_ONSTACK. So a signal that arrives while a coroutine runs (SIGPROF
//     for profiling, SIGURG, a fault) is handled on that signal stack,
//     never on the coroutine's stack, which may be small, or shared and
//     about to be copied away. coro_loop_new installs an alternate signal
//     stack itself only on threads that have none (threads created by C).
//   - Callbacks. The engine calls back into Go (for RegisterFunc
//     functions; never when a coroutine finishes, which the Go side
//     learns from the loop's completion queue) on the loop thread's own
//     stack: the stack the long cgo call runs on, which the Go runtime
//     knows as that thread's system stack. See "The Go-runtime rule"
//     below.
//
// Any goroutine may call Spawn, Wait, Cancel, Stats and Close; the
// cross-thread requests reach the loop through coro_remote_spawn and
// coro_loop_post, which wake it. A loop must be closed: an open loop keeps
// its thread.
//
// One loop uses one core. NewGroup starts several (one per CPU by
// default) and spawns on them round-robin; a server gives each loop its
// own accept coroutine on its own listener (Group.ListenEach: the loops'
// listeners share the port through SO_REUSEPORT, but another server gets
// EADDRINUSE there unless it asks to share), so that the kernel spreads
// connections over the loops and no loop is woken for another's
// connection.
//
// A loop's thread runs outside Go's scheduler: while it runs, Go counts the
// P of its goroutine, which is in a cgo call, as free, and runs other
// goroutines and the garbage collector's idle workers there, on threads
// that then share CPUs with the loop threads. On a machine with few CPUs
// whose loops are busy, a GOMAXPROCS of the CPU count minus the busy loops
// keeps each loop thread on a CPU of its own (on the 2-CPU test machine,
// with GOMAXPROCS 1, a Spawn + Wait to a busy loop took 1.31 us against
// 1.57 us with 2; README, Benchmarks). The package never changes
// GOMAXPROCS: it is the program's to set.
//
// # I/O
//
// Each loop is also an I/O loop in C (epoll, or poll(2) with
// coro_loop_opts.poll_backend or CORO_POLL=poll): C coroutines wait on fds
// with coro_fd_wait and the socket calls of csrc/coro.h, all with
// deadlines. Go code can wait on an fd through a loop too (WaitFD) and send
// a file range to a socket with sendfile (SendFile); the wait happens in
// the C loop, not in Go's netpoller. The caller keeps owning the fd: the
// loop holds a registration only while such a call is in progress, and
// ForgetFD ends the calls in progress before an fd is closed under them
// (see WaitFD).
//
// # Stack modes
//
// StackGuarded (the default) gives each coroutine an mmap'd stack (256 KiB
// by default, WithStackSize) with a guard page below it; overflowing into
// the guard page aborts the process with a message naming the coroutine.
// Each guarded stack costs two memory mappings, which limits a process to
// about 32,000 of them (vm.max_map_count). Finished coroutines' stacks are
// cached for reuse (WithStackCache).
//
// StackShared runs all of a loop's shared-mode coroutines on one stack and,
// when one is suspended, copies the bytes its frames use to a heap buffer
// of exactly that size: an idle coroutine costs its record plus what it
// really uses, so a loop holds millions. Switches cost more (they copy),
// and a pointer into a suspended coroutine's stack must not be used by
// anyone else while it is suspended. Overflow is caught by a canary checked
// at every switch.
//
// The mode is set per loop (WithStackMode) and may be overridden per
// coroutine (WithCoroutineStackMode).
//
// # Arguments and results
//
// The C entry point is an Entry, made in C by the CORO_GO_ENTRY macro of
// coro_go.h (which works for static functions and has the C compiler check
// the function's type). Spawn's arg and a coroutine's result, and a
// registered function's argument and result, are void * in C and uintptr
// in Go: integers, or addresses of C memory (C.malloc, static data), never
// addresses of Go memory, which the C code would keep beyond any cgo call
// (the cgo pointer rules forbid it, and the garbage collector could free
// or move what they point to). They never travel in an unsafe.Pointer:
// the Go runtime aborts when it finds a small integer in a pointer-typed
// value while copying a goroutine's stack. CPtr turns a value that is a C
// address back into a pointer. To hand a Go value to a coroutine, use
// SpawnValue: the coroutine gets a runtime/cgo.Handle, passes it to the
// registered Go functions it calls (HandleValue looks the value up), and
// the handle is deleted exactly once, when the coroutine is done.
//
// # Your own C code, and the examples
//
// The C coroutines are the program's own: C code in the cgo preamble of a
// package of yours, which includes coro.h (the engine) and coro_go.h
// (CORO_GO_ENTRY, coro_go_call). cgo cannot put another module's folder
// on the include path, so cmd/coroheaders copies the two headers into the
// package, once: add
//
//	//go:generate go run github.com/ccoro/coro/cmd/coroheaders
//
// to a file of the package and run go generate (again after upgrading this
// module: a stale copy fails to link, naming a symbol that ends in
// _stale_run_go_generate). The folder examples/ of the module holds
// complete programs to read and copy: a pipeline of C coroutines joined by
// channels (examples/pipeline), a C TCP server on a Group
// (examples/tcpserver) and C code calling Go (examples/callback).
//
// # Calling Go from a coroutine
//
// RegisterFunc registers a Go function once and returns a small integer id
// (a Func). C code in a coroutine calls it with coro_go_call(id, arg,
// &result), declared and documented in coro_go.h. The call runs the Go
// function on the loop thread's own stack through coro_call_on_loop: the
// calling coroutine is suspended, no other coroutine of the loop runs, and
// every engine call that would switch coroutines returns -EPERM until the
// Go function returns. A Go function running there must not wait for its
// own loop: Close of the loop returns syscall.EDEADLK at once, and Wait on
// one of the loop's coroutines returns it before it blocks or gives its
// thread up (the outcome, for a coroutine that had finished before).
//
// Errors from the Go function reach C as negative errno values (a wrapped
// syscall.Errno as itself, anything else as CORO_GO_EERROR); a panic is
// recovered, handed to the loop's panic handler (WithPanicHandler; by
// default it is logged) and reported as CORO_GO_EPANIC.
//
// # The Go-runtime rule: no Go frames on coroutine stacks
//
// Go code never runs on a coroutine stack. The Go runtime records the
// bounds of each thread's system stack (g0) and checks them whenever it
// switches to that stack; C code that calls into Go from a stack it
// switched to is outside those bounds. For threads created by C, Go 1.22
// and later re-derive the bounds at each callback (golang/go#62440; the
// regression test is runtime/testdata/testprogcgo/stackswitch.go, whose
// comment notes "This is only OK for threads created in C. Threads with Go
// frames up the stack must not change the stack out from under us"). For
// threads Go manages, such as a Loop's, the bounds are never updated and
// the callback dies with "fatal: morestack on g0" (golang/go#62130, still
// open). So the one path from C into Go, coro_go_call, goes through the
// loop thread's own stack (coro_call_on_loop); a finished coroutine is
// not reported by a call into Go at all (the loop queues it in C, and Go
// collects it). The same
// holds for C code that is not ours: never call an //export Go function
// directly from a coroutine; go through coro_go_call. DEVELOPERS.md
// explains the details for contributors.
//
// # Signals and crashes
//
// On its first loop the engine installs a SIGSEGV/SIGBUS handler (with
// SA_ONSTACK) that reports stack overflows into a guard page and chains
// every other fault to the handler installed before it, normally Go's: a
// nil dereference in Go code still becomes a recoverable panic while loops
// run. An overflow aborts the process with "stack overflow in coroutine"
// and the coroutine's id and name.
//
// # Tracebacks and profiles of C code
//
// The package does not import github.com/ianlancetaylor/cgosymbolizer:
// runtime.SetCgoTraceback may be called only once per program, so the
// choice belongs to the main package. To get C frames, symbolized, in
// crash tracebacks and CPU profiles, add to the main package:
//
//	import _ "github.com/ianlancetaylor/cgosymbolizer"
//
// Its unwinder starts on the signal stack and stops where the interrupted
// stack no longer looks contiguous, so SIGPROF samples taken while a
// coroutine runs are safe (the tests profile a switch-heavy loop).
//
// # Build tags
//
//	Tag             Effect
//	coro_ucontext   Use the portable getcontext/swapcontext context switch
//	                instead of the hand-written assembly (much slower; for
//	                portability tests and unsupported CPUs).
//
// The package needs cgo: with CGO_ENABLED=0 the build fails on purpose with
// an error naming coro_requires_cgo_set_CGO_ENABLED_1.
package coro
