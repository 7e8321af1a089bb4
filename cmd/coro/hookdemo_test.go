package main

import (
	"strings"
	"testing"
)

// TestHookdemo: both runs print their line, every client succeeds, and
// with the hooks off the clients ran one at a time. (The hooks-on count
// depends on the server's timing here; internal/hookdemo's test asserts it
// with a barrier.)
func TestHookdemo(t *testing.T) {
	stdout, stderr, code := coro(t, "hookdemo", "-n", "50", "-delay", "1ms")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "hooks on ") || !strings.HasPrefix(lines[2], "hooks off ") {
		t.Fatalf("stdout:\n%s", stdout)
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, "ok   50  failed 0") {
			t.Errorf("not every client succeeded: %s", l)
		}
	}
	if !strings.Contains(lines[2], "max in flight    1 ") {
		t.Errorf("hooks off, yet clients overlapped: %s", lines[2])
	}
	for _, args := range [][]string{{"hookdemo", "-n", "0"}, {"hookdemo", "-delay", "-1s"}} {
		if _, stderr, code := coro(t, args...); code != 2 || !strings.Contains(stderr, "want") {
			t.Errorf("coro %q: exit %d, stderr %q", args, code, stderr)
		}
	}
}
