package coro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccoro/coro/internal/ctest"
)

// inFunc reports whether pc lies in the function at fn: by its symbol
// when the binary has one, else within 256 bytes of its start (go test
// strips test binaries, and the fixtures are small).
func inFunc(pc, fn uintptr) bool { return pc >= fn && pc < fn+256 }

// hasFrame reports whether one of frames is in the function at fn.
func hasFrame(frames []Frame, fn uintptr) bool {
	for _, f := range frames {
		if inFunc(f.PC, fn) {
			return true
		}
	}
	return false
}

// reportFrame reports whether the text report's frames ("#N 0xaddr ...")
// have one in the function at fn.
func reportFrame(report string, fn uintptr) bool {
	for _, line := range strings.Split(report, "\n") {
		var i int
		var pc uintptr
		if n, _ := fmt.Sscanf(line, "#%d %v", &i, &pc); n == 2 && inFunc(pc, fn) {
			return true
		}
	}
	return false
}

// TestSlowReport: a C coroutine spinning past the threshold is reported
// while it spins, with a backtrace naming the spinning function, and
// again, with its total, once it ends. The coroutine spins until the
// first report has arrived: no sleep, no timing.
func TestSlowReport(t *testing.T) {
	for _, mode := range []StackMode{StackGuarded, StackShared} {
		t.Run(mode.String(), func(t *testing.T) {
			reports := make(chan SlowReport, 8)
			l, err := NewLoop(WithStackMode(mode), WithName("slow-loop"),
				WithSlowThreshold(20*time.Millisecond),
				WithSlowHandler(func(r SlowReport) {
					select {
					case reports <- r:
					default:
					}
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close(context.Background())
			b := ctest.NewBox()
			defer b.Free()
			co, err := l.Spawn(Entry(ctest.Spin()), b.Ptr(), WithCoroutineName("spinner"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxTimeout(t, 60*time.Second)
			var r SlowReport
			select {
			case r = <-reports:
			case <-ctx.Done():
				t.Fatal("no slow report")
			}
			b.Release()
			if r.Done || r.ID != co.ID() || r.Name != "spinner" || r.Loop != "slow-loop" ||
				r.Run < 20*time.Millisecond || r.Threshold != 20*time.Millisecond {
				t.Errorf("report %+v; want the spinner's, still running, >= 20ms", r)
			}
			if !hasFrame(r.Frames, ctest.Spin()) {
				t.Errorf("frames %v lack ctest_spin", r.Frames)
			}
			if s := r.String(); !strings.Contains(s, `"spinner" (loop "slow-loop") has run`) || !strings.Contains(s, "\n#0 0x") {
				t.Errorf("String() = %q", s)
			}
			if _, err := co.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			var end SlowReport
			select {
			case end = <-reports:
			case <-ctx.Done():
				t.Fatal("no end-of-run report")
			}
			if !end.Done || end.ID != co.ID() || end.Run < r.Run {
				t.Errorf("end report %+v; want Done, the spinner's, Run >= %v", end, r.Run)
			}
			if got := l.LongestRun(); got < 20*time.Millisecond {
				t.Errorf("LongestRun = %v, want >= 20ms", got)
			}
		})
	}
}

// TestSlowSilentWhenYielding: a busy coroutine that yields all the time,
// and the loop idling, are never reported.
func TestSlowSilentWhenYielding(t *testing.T) {
	reports := make(chan SlowReport, 8)
	l, err := NewLoop(WithSlowThreshold(20*time.Millisecond), WithSlowHandler(func(r SlowReport) {
		select {
		case reports <- r:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	b := ctest.NewBox()
	defer b.Free()
	b.SetN(200_000)
	co, err := l.Spawn(Entry(ctest.PingPong()), b.Ptr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Wait(ctxTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reports:
		t.Fatalf("unexpected report: %v", r)
	default:
	}
}

func TestSlowThreshold(t *testing.T) {
	if _, err := NewLoop(WithSlowThreshold(-1)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("NewLoop(WithSlowThreshold(-1)): %v, want EINVAL", err)
	}
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	if got := l.SlowThreshold(); got != DefaultSlowThreshold {
		t.Errorf("default threshold %v, want %v", got, DefaultSlowThreshold)
	}
	if err := l.SetSlowThreshold(5 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := l.SlowThreshold(); got != 5*time.Millisecond {
		t.Errorf("threshold %v after SetSlowThreshold(5ms)", got)
	}
	if err := l.SetSlowThreshold(-time.Second); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetSlowThreshold(-1s): %v, want EINVAL", err)
	}
	if err := l.SetSlowThreshold(0); err != nil || l.SlowThreshold() != 0 {
		t.Errorf("SetSlowThreshold(0): %v, threshold %v", err, l.SlowThreshold())
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.SetSlowThreshold(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("SetSlowThreshold after Close: %v, want ErrClosed", err)
	}
	var z Loop
	if err := z.SetSlowThreshold(time.Second); !errors.Is(err, ErrNotLoop) {
		t.Errorf("SetSlowThreshold on a zero Loop: %v, want ErrNotLoop", err)
	}
}

// TestCloseAbandonedBacktraces: Close's error names each coroutine it
// abandoned with where it was suspended.
func TestCloseAbandonedBacktraces(t *testing.T) {
	l, err := NewLoop(WithName("stuck-loop"))
	if err != nil {
		t.Fatal(err)
	}
	b := ctest.NewBox()
	defer b.Free()
	if _, err := l.Spawn(Entry(ctest.YieldForever()), b.Ptr(), WithCoroutineName("stubborn")); err != nil {
		t.Fatal(err)
	}
	for !b.Started() { // a coroutine that never ran is not abandoned
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = l.Close(ctx)
	if !errors.Is(err, ErrAbandoned) {
		t.Fatalf("Close: %v, want ErrAbandoned", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, `"stubborn" suspended at:`) || !strings.Contains(msg, "\t#0 ") {
		t.Fatalf("Close's error lacks the backtrace:\n%s", msg)
	}
}

const crashEnv = "CORO_TEST_CRASH_CHILD"

// TestCrashReportChild is the child half of TestCrashReport: it dies of
// the signal $CORO_TEST_CRASH_CHILD names ("SIGSEGV" ...; with a "c-"
// prefix, on a loop a C thread made).
func TestCrashReportChild(t *testing.T) {
	which := os.Getenv(crashEnv)
	if which == "" {
		t.Skip("runs as a child of TestCrashReport")
	}
	cLoop := strings.HasPrefix(which, "c-")
	sig := crashSignals[strings.TrimPrefix(which, "c-")]
	b := ctest.NewBox()
	b.SetN(int64(sig))
	if cLoop {
		ctest.CrashOnCLoop(b)
	} else {
		l, err := NewLoop(WithName("go-loop"))
		if err != nil {
			t.Fatal(err)
		}
		co, err := l.Spawn(Entry(ctest.Crash()), b.Ptr(), WithCoroutineName("go-crasher"))
		if err != nil {
			t.Fatal(err)
		}
		co.Wait(context.Background())
	}
	fmt.Println("child survived")
	os.Exit(0)
}

var crashSignals = map[string]syscall.Signal{
	"SIGSEGV": syscall.SIGSEGV, "SIGBUS": syscall.SIGBUS, "SIGILL": syscall.SIGILL,
	"SIGFPE": syscall.SIGFPE, "SIGABRT": syscall.SIGABRT,
}

// TestCrashReport: a coroutine dying of each fatal signal, on a loop Go
// made and on one a C thread made, prints the engine's report (signal,
// coroutine, loop, backtrace) before the process dies Go's way.
func TestCrashReport(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for _, name := range []string{"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"} {
		for _, cLoop := range []bool{false, true} {
			which, loop, co := name, "go-loop", "go-crasher"
			if cLoop {
				which, loop, co = "c-"+name, "c-loop", "c-crasher"
			}
			t.Run(which, func(t *testing.T) {
				t.Parallel()
				cmd := emulated(os.Args[0], "-test.run=^TestCrashReportChild$")
				cmd.Env = append(os.Environ(), crashEnv+"="+which, "GOTRACEBACK=single")
				var stderr, stdout bytes.Buffer
				cmd.Stderr, cmd.Stdout = &stderr, &stdout
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatalf("child: %v (want it to die)\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
				}
				msg := stderr.String()
				head := fmt.Sprintf("coro: fatal signal %s", name)
				i := strings.Index(msg, head)
				if i < 0 || !strings.Contains(msg[i:], fmt.Sprintf(`"%s" (loop "%s"):`+"\n#0 0x", co, loop)) {
					t.Fatalf("no report for %s:\n%s", name, msg)
				}
				// abort() dies in libc (no frame pointers: the walk may
				// stop there), and so does arm64's raise(SIGFPE).
				inOwnCode := name != "SIGABRT" && (name != "SIGFPE" || runtime.GOARCH == "amd64")
				if inOwnCode && !reportFrame(msg[i:], ctest.CrashHere()) {
					t.Errorf("report does not name ctest_crash_here:\n%s", msg[i:])
				}
				first, _, _ := strings.Cut(msg[i:], "\n")
				t.Logf("%v; %s", err, first)
			})
		}
	}
}
