package coro

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// threadInfo is what a Go function called from a coroutine of a loop sees
// of the loop's thread.
type threadInfo struct {
	tid  int
	comm string
	cpus unix.CPUSet
}

// loopThread calls a Go function from a coroutine of l, which runs on l's
// thread, and reads the thread's id, name and CPU mask there.
func loopThread(t *testing.T, l *Loop) threadInfo {
	t.Helper()
	var ti threadInfo
	var err error
	fn := registered(t, func(uintptr) (uintptr, error) {
		ti.tid = unix.Gettid()
		err = unix.SchedGetaffinity(0, &ti.cpus)
		return 0, nil
	})
	if b, _ := callGo(t, l, fn, 0); b.RC() != 0 {
		t.Fatalf("coro_go_call: %d", b.RC())
	}
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/comm", ti.tid))
	if err != nil {
		t.Fatal(err)
	}
	ti.comm = strings.TrimSuffix(string(comm), "\n")
	return ti
}

// A loop's thread carries the loop's name, as top, perf and /proc show it,
// except on the process's main thread, whose name is the process's.
func TestLoopThreadName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"tname", "tname"},
		{"a-very-long-group-name-12", "a-very-long--12"},
	} {
		ti := loopThread(t, newLoop(t, WithName(tc.name)))
		if ti.tid == os.Getpid() {
			// The first loop holds the main thread until it closes (and
			// the runtime parks the main thread for good then), so a
			// second loop runs elsewhere.
			if ti.comm == tc.want {
				t.Errorf("the main thread was renamed %q", ti.comm)
			}
			ti = loopThread(t, newLoop(t, WithName(tc.name)))
		}
		if ti.comm != tc.want {
			t.Errorf("loop %q: thread %d is named %q, want %q", tc.name, ti.tid, ti.comm, tc.want)
		}
	}
}

func TestThreadName(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   uint64
		want string
	}{
		{"", 7, "coro-7"},
		{"exactly15bytes!", 1, "exactly15bytes!"},
		{"sixteen-bytes-ab", 1, "sixteen-bytes-a"},
		{"httpd-frontend-10", 1, "httpd-fronte-10"},
		{"name-with-no-number-", 1, "name-with-no-nu"},
	} {
		if got := threadName(tc.name, tc.id); got != tc.want || len(got) > maxThreadName {
			t.Errorf("threadName(%q, %d) = %q, want %q", tc.name, tc.id, got, tc.want)
		}
	}
}

// WithCPU pins the loop's thread, and only that thread.
func TestWithCPU(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	cpu := 0
	for !all.IsSet(cpu) {
		cpu++
	}
	ti := loopThread(t, newLoop(t, WithCPU(cpu)))
	if ti.cpus.Count() != 1 || !ti.cpus.IsSet(cpu) {
		t.Errorf("loop thread's CPUs: %v, want just %d", ti.cpus, cpu)
	}
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil || mine != all {
		t.Errorf("the calling thread's CPUs changed: %v, was %v (%v)", mine, all, err)
	}

	if _, err := NewLoop(WithCPU(-1)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("WithCPU(-1): %v, want EINVAL", err)
	}
	// A CPU the process may not use.
	if _, err := NewLoop(WithCPU(1023)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("WithCPU(1023): %v, want EINVAL", err)
	}
}

// In a Group, WithCPU(c) pins loop i to the i-th allowed CPU from c.
func TestGroupWithCPU(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	var allowed []int
	for cpu := 0; len(allowed) < all.Count(); cpu++ {
		if all.IsSet(cpu) {
			allowed = append(allowed, cpu)
		}
	}
	n := len(allowed) + 1 // one more than the CPUs: the last wraps round
	g, err := NewGroup(n, WithCPU(0), WithName("pin"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(ctxTimeout(t, 10e9))
	for i := range n {
		ti := loopThread(t, g.Loop(i))
		want := allowed[i%len(allowed)]
		if ti.cpus.Count() != 1 || !ti.cpus.IsSet(want) {
			t.Errorf("loop %d: CPUs %v, want just %d", i, ti.cpus, want)
		}
	}
	cpus, err := groupCPUs(allowed[len(allowed)-1], 2)
	if err != nil || cpus[0] != allowed[len(allowed)-1] || cpus[1] != allowed[0] {
		t.Errorf("groupCPUs(last allowed, 2) = %v, %v; want [%d %d]", cpus, err, allowed[len(allowed)-1], allowed[0])
	}
}

// A loop that cannot get its fds names the open-file limit.
func TestEMFILENamesLimit(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	// Fill every free fd below the limit, then ask for a loop.
	low := lim
	low.Cur = 64
	for {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(ents))+16 < low.Cur {
			break
		}
		low.Cur *= 2
	}
	if low.Cur > lim.Cur {
		t.Skipf("too many fds open for the soft limit %d", lim.Cur)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if err != unix.EMFILE {
				t.Fatal(err)
			}
			break
		}
		fds = append(fds, fd)
	}
	_, err := NewGroup(1)
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	want := fmt.Sprintf("RLIMIT_NOFILE: at most %d open files", low.Cur)
	if !errors.Is(err, syscall.EMFILE) || !strings.Contains(fmt.Sprint(err), want) {
		t.Fatalf("NewGroup with no fd left: %v, want EMFILE naming %q", err, want)
	}
}
