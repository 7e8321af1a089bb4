package coro

// The loop's OS thread: its name and CPU (Linux), and the open-file limit
// in the errors of calls that make fds.

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// threadConfig is how NewLoop sets up the loop's thread.
type threadConfig struct {
	pin bool // WithCPU was given
	cpu int
}

// WithCPU pins the loop's thread to CPU cpu (sched_setaffinity), so that
// the loop's coroutines keep that CPU's caches and the scheduler never
// moves them. NewLoop fails with an error matching syscall.EINVAL if the
// process may not run on cpu.
//
// Given to NewGroup, it pins loop i to the i-th CPU counted from cpu among
// the CPUs the calling thread may run on (its sched_getaffinity set, which
// Go's threads inherit from the process), wrapping around: on a machine
// without restrictions NewGroup(0, WithCPU(0)) pins loop i to CPU i.
//
// Only the loop's thread is pinned: the Go runtime creates its other
// threads from a thread of its own, never from a locked one such as a
// loop's, so they do not inherit the mask.
func WithCPU(cpu int) Option {
	return func(c *loopConfig) {
		if cpu < 0 {
			c.invalidOpts = true
		}
		c.thread = threadConfig{pin: true, cpu: cpu}
	}
}

// setupThread prepares the loop's thread right after the loop goroutine
// has locked itself to it: it pins the thread (WithCPU) and names it after
// the loop. On failure it reports the error on ready and returns false.
func (l *Loop) setupThread(ready chan<- error) bool {
	if l.thread.pin {
		var set unix.CPUSet
		set.Set(l.thread.cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			ready <- fmt.Errorf("coro: WithCPU(%d): sched_setaffinity: %w", l.thread.cpu, err)
			return false
		}
	}
	// The process's main thread may happen to run a loop (see NewLoop);
	// its name is the process's name in ps and top, so it keeps it.
	if unix.Gettid() != os.Getpid() {
		nameThread(threadName(l.name, l.id))
	}
	return true
}

// maxThreadName is the longest name the kernel keeps (TASK_COMM_LEN - 1).
const maxThreadName = 15

// threadName is the name the thread of loop id, named name, gets in
// /proc/self/task/*/comm, top and perf: the loop's name, or "coro-<id>".
// A name too long loses bytes before its trailing "-<digits>", if any, so
// that the loops of a Group ("name-0", "name-1", ...) stay apart.
func threadName(name string, id uint64) string {
	if name == "" {
		name = fmt.Sprintf("coro-%d", id)
	}
	if len(name) <= maxThreadName {
		return name
	}
	tail := ""
	if i := strings.LastIndexByte(name, '-'); i > 0 && i < len(name)-1 && len(name)-i <= maxThreadName/2 &&
		strings.Trim(name[i+1:], "0123456789") == "" {
		tail = name[i:]
	}
	return name[:maxThreadName-len(tail)] + tail
}

// nameThread sets the calling thread's name (PR_SET_NAME). A name the
// kernel refuses only costs the name, so errors are ignored.
func nameThread(name string) {
	if p, err := unix.BytePtrFromString(name); err == nil {
		unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
	}
}

// groupCPUs returns the CPU for each of n loops of a Group given
// WithCPU(start): see WithCPU.
func groupCPUs(start, n int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("coro: WithCPU: sched_getaffinity: %w", err)
	}
	var allowed []int
	first := 0
	for cpu := 0; len(allowed) < set.Count(); cpu++ {
		if set.IsSet(cpu) {
			if cpu < start {
				first = len(allowed) + 1
			}
			allowed = append(allowed, cpu)
		}
	}
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = allowed[(first+i)%len(allowed)]
	}
	return cpus, nil
}

// withFDLimit adds the process's open-file limit (RLIMIT_NOFILE) to an
// error that is EMFILE, which is what reaching it looks like; the error
// still matches syscall.EMFILE.
func withFDLimit(err error) error {
	if !errors.Is(err, syscall.EMFILE) {
		return err
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return err
	}
	return fmt.Errorf("%w (RLIMIT_NOFILE: at most %d open files, hard limit %d; raise it with ulimit -n or unix.Setrlimit)", err, lim.Cur, lim.Max)
}
