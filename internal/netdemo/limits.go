package netdemo

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/ccoro/coro"
)

// explainLimit returns err, the error of op (a spawn or a connect of a
// load run), with the limit of the process or the system that it most
// likely ran into and the way around it, so that "cannot allocate
// memory" or "too many open files" does not leave the user guessing.
// started is how many coroutines were running when a spawn failed.
func explainLimit(op string, err error, stack coro.StackMode, started int) error {
	var hint string
	switch {
	case errors.Is(err, syscall.ENOMEM) && stack != coro.StackShared:
		// Each guarded stack is two mappings (see csrc/stack.c). Only
		// blame the limit when the coroutines could have reached it.
		if n := readSysctl("vm/max_map_count"); len(n) == 1 && 2*started >= n[0]/2 {
			hint = fmt.Sprintf("guarded stacks are limited by vm.max_map_count (%d), two mappings each: use -stack shared", n[0])
		}
	case errors.Is(err, syscall.EMFILE):
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
			hint = fmt.Sprintf("the fd limit (ulimit -n) is %d, one fd a connection: raise it with ulimit -n, or use fewer connections (-c)", lim.Cur)
		}
	case errors.Is(err, syscall.ENFILE):
		hint = "the system's fd limit (fs.file-max) is reached: use fewer connections (-c)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		// Each connection to one server address takes a local port.
		if r := readSysctl("net/ipv4/ip_local_port_range"); len(r) == 2 {
			hint = fmt.Sprintf("connections to one address are limited by the local ports, net.ipv4.ip_local_port_range (%d-%d, %d ports): use fewer connections (-c)", r[0], r[1], r[1]-r[0]+1)
		}
	}
	if hint == "" {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %s", op, err, hint)
}

// readSysctl reads the integers in /proc/sys/name (nil if it cannot).
func readSysctl(name string) []int {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return nil
	}
	var v []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}
