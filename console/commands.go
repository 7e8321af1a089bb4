package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ccoro/coro"
)

// An answer is what a command produces: printed for people by text, or
// marshalled as JSON.
type answer interface {
	text(w io.Writer)
}

type command struct {
	name, args, help string
	run              func(s *Server, args []string) (answer, error)
}

// commands, in the order help lists them; set in init (help refers to it).
var commands []command

func init() {
	commands = []command{
		{"help", "", "list the commands", cmdHelp},
		{"loops", "", "the loops: coroutines, ready queue, timers, fds, switches, polls", cmdLoops},
		{"ps", "[LOOP] [FILTER]", "coroutines (of LOOP: its id or name, * for all), those whose name, state or wait contains FILTER", cmdPs},
		{"bt", "ID|all", "the backtrace of coroutine ID, or of every coroutine", cmdBt},
		{"stats", "", "each loop's counters, and the process's", cmdStats},
		{"cancel", "ID", "cancel coroutine ID (its blocking calls fail with ECANCELED)", cmdCancel},
		{"slow", "[MS]", "show, or set on every loop, the slow-coroutine warning's threshold (0: off)", cmdSlow},
		{"fds", "", "the fds coroutines wait on", cmdFds},
		{"timers", "", "the coroutines waiting with a deadline, soonest first", cmdTimers},
		{"go", "", "Go's goroutines with their stacks", cmdGo},
		{"gc", "", "run Go's garbage collector", cmdGC},
		{"memstats", "", "Go's memory statistics", cmdMemstats},
		{"accounting", "on|off", "measure coroutine run times on every loop (a clock read per switch)", cmdAccounting},
		{"quit", "", "end the session", nil},
	}
}

// Commands returns the commands' names, in the order help lists them.
func Commands() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

// run answers cmd on w; true when the session should end.
func (s *Server) run(w io.Writer, cmd Command) (quit bool) {
	var cm *command
	for i := range commands {
		if commands[i].name == cmd.Name {
			cm = &commands[i]
		}
	}
	if cm == nil {
		fmt.Fprintf(w, "error: unknown command %q (\"help\" lists them)\n", cmd.Name)
		return false
	}
	if cm.run == nil { // quit
		fmt.Fprintln(w, "bye")
		return true
	}
	a, err := cm.run(s, cmd.Args)
	if err != nil {
		fmt.Fprintf(w, "error: %s: %v\n", cmd.Name, err)
		return false
	}
	if cmd.JSON {
		b, err := json.Marshal(a)
		if err != nil {
			fmt.Fprintf(w, "error: %s: %v\n", cmd.Name, err)
			return false
		}
		w.Write(b)
		fmt.Fprintln(w)
		return false
	}
	a.text(w)
	return false
}

func usage(name string) error {
	for _, c := range commands {
		if c.name == name {
			return fmt.Errorf("usage: %s %s", c.name, c.args)
		}
	}
	return errors.New("usage")
}

// ---- snapshots ------------------------------------------------------------

// loopDump is a loop's snapshot, or why there is none.
type loopDump struct {
	loop *coro.Loop
	d    *coro.LoopDump
	err  error
}

// dumps takes a snapshot of each loop, each bounded by the timeout: a
// loop that does not answer (a coroutine that never yields) is reported,
// the others are answered.
func (s *Server) dumps(ls []*coro.Loop, opts ...coro.DumpOption) []loopDump {
	out := make([]loopDump, len(ls))
	done := make(chan struct{}, len(ls))
	for i, l := range ls {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
			defer cancel()
			d, err := l.Dump(ctx, opts...)
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %v (a coroutine may be running without yielding)", s.cfg.Timeout)
			}
			out[i] = loopDump{l, d, err}
			done <- struct{}{}
		}()
	}
	for range ls {
		<-done
	}
	return out
}

// pickLoops: the loop named by arg (id or name), or all for "" or "*".
func (s *Server) pickLoops(arg string) ([]*coro.Loop, error) {
	all := s.cfg.Loops()
	if arg == "" || arg == "*" {
		return all, nil
	}
	var ls []*coro.Loop
	for _, l := range all {
		if strconv.FormatUint(l.ID(), 10) == arg || l.Name() == arg {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("no loop %q (\"loops\" lists them)", arg)
	}
	return ls, nil
}

// ---- rows -----------------------------------------------------------------

type loopRow struct {
	ID           uint64  `json:"id"`
	Name         string  `json:"name"`
	Error        string  `json:"error,omitempty"`
	Coroutines   int     `json:"coroutines"`
	ByState      [6]int  `json:"by_state"` // new ready running waiting suspended done
	Ready        int     `json:"ready"`
	Timers       int     `json:"timers"`
	FDs          int     `json:"fds"`
	FDWaiters    int     `json:"fd_waiters"`
	Switches     uint64  `json:"switches"`
	Polls        uint64  `json:"polls"`
	Spawned      uint64  `json:"spawned"`
	Posts        uint64  `json:"posts"`
	Accounting   bool    `json:"accounting"`
	LongestRunMS float64 `json:"longest_run_ms"` // -1 without accounting
	LongestRunID uint64  `json:"longest_run_id"`
}

func rowOfLoop(ld loopDump) loopRow {
	r := loopRow{ID: ld.loop.ID(), Name: ld.loop.Name()}
	if ld.err != nil {
		r.Error = ld.err.Error()
		return r
	}
	d := ld.d
	r.Coroutines, r.ByState, r.Ready, r.Timers = d.Coroutines, d.ByState, d.ReadyQueue, d.Timers
	r.FDs, r.FDWaiters, r.Switches, r.Polls = d.FDs, d.FDWaiters, d.Switches, d.Polls
	r.Spawned, r.Posts, r.Accounting = d.Spawned, d.Posts, d.Accounting
	r.LongestRunMS, r.LongestRunID = ms(d.LongestRun), d.LongestRunID
	if d.LongestRun < 0 {
		r.LongestRunMS = -1
	}
	return r
}

type coroRow struct {
	Loop       uint64   `json:"loop"`
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	State      string   `json:"state"`
	Wait       string   `json:"wait,omitempty"`     // "fd", "mutex", ...
	WaitObj    string   `json:"wait_obj,omitempty"` // 0x... for locks and channels
	FD         int      `json:"fd,omitempty"`
	Events     string   `json:"events,omitempty"` // read, write, read+write
	JoinID     uint64   `json:"join_id,omitempty"`
	DeadlineMS *float64 `json:"deadline_ms,omitempty"` // time left
	InStateMS  float64  `json:"in_state_ms"`
	Switches   uint64   `json:"switches"`
	RunMS      float64  `json:"run_ms"` // -1 without accounting
	Cancelled  bool     `json:"cancelled,omitempty"`
	Created    bool     `json:"created,omitempty"`
	StackMode  string   `json:"stack_mode"`
	StackUsed  int      `json:"stack_used"`
	StackPeak  int      `json:"stack_peak"`
	StackSize  int      `json:"stack_size"`
	Frames     []string `json:"frames,omitempty"`
	FramesErr  string   `json:"frames_error,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func rowOfCoro(loop uint64, c *coro.CoroutineInfo) coroRow {
	r := coroRow{Loop: loop, ID: c.ID, Name: c.Name, State: c.State.String(),
		InStateMS: ms(c.InState), Switches: c.Switches, RunMS: ms(c.RunTime),
		Cancelled: c.Cancelled, Created: c.Created, StackMode: c.StackMode.String(),
		StackUsed: c.StackUsed, StackPeak: c.StackPeak, StackSize: c.StackSize}
	if c.RunTime < 0 {
		r.RunMS = -1
	}
	if c.Wait != coro.WaitNone {
		r.Wait = c.Wait.String()
	}
	if c.WaitObj != 0 {
		r.WaitObj = fmt.Sprintf("%#x", c.WaitObj)
	}
	if c.Wait == coro.WaitFD {
		r.FD = c.WaitFD
		switch {
		case c.WaitRead && c.WaitWrite:
			r.Events = "read+write"
		case c.WaitRead:
			r.Events = "read"
		case c.WaitWrite:
			r.Events = "write"
		}
	}
	if c.Wait == coro.WaitJoin {
		r.JoinID = c.WaitID
	}
	if c.HasDeadline {
		v := ms(c.Deadline)
		r.DeadlineMS = &v
	}
	for _, f := range c.Frames {
		r.Frames = append(r.Frames, f.String())
	}
	if c.BacktraceErr != nil {
		r.FramesErr = c.BacktraceErr.Error()
	}
	return r
}

// waitText says what the row waits on, for people.
func (r *coroRow) waitText() string {
	var b strings.Builder
	switch {
	case r.Wait == "":
	case r.Wait == "fd":
		fmt.Fprintf(&b, "fd %d %s", r.FD, r.Events)
	case r.Wait == "join":
		fmt.Fprintf(&b, "join #%d", r.JoinID)
	case r.WaitObj != "":
		fmt.Fprintf(&b, "%s %s", r.Wait, r.WaitObj)
	default:
		b.WriteString(r.Wait)
	}
	if r.DeadlineMS != nil {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "(deadline in %s)", human(*r.DeadlineMS))
	}
	if r.Cancelled {
		b.WriteString(" cancelled")
	}
	return b.String()
}

// human formats milliseconds for people: 850us, 12.5ms, 3.2s, 2h5m.
func human(msv float64) string {
	d := time.Duration(msv * 1e6)
	switch {
	case d < 0:
		return "-" + human(-msv)
	case d < time.Millisecond:
		return fmt.Sprintf("%dus", d/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", msv)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return strconv.Itoa(n)
}

// ---- help, quit -----------------------------------------------------------

type helpAnswer struct {
	Commands []helpRow `json:"commands"`
}
type helpRow struct {
	Name string `json:"name"`
	Args string `json:"args,omitempty"`
	Help string `json:"help"`
}

func (a helpAnswer) text(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range a.Commands {
		fmt.Fprintf(tw, "%s %s\t%s\n", c.Name, c.Args, c.Help)
	}
	tw.Flush()
	fmt.Fprintln(w, `"json COMMAND ..." answers in JSON, on one line.`)
}

func cmdHelp(_ *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("help")
	}
	var a helpAnswer
	for _, c := range commands {
		a.Commands = append(a.Commands, helpRow{c.name, c.args, c.help})
	}
	return a, nil
}

// ---- loops, stats ---------------------------------------------------------

type loopsAnswer struct {
	Loops []loopRow `json:"loops"`
}

func (a loopsAnswer) text(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LOOP\tNAME\tCOROS\tREADY\tWAITING\tTIMERS\tFDS\tSWITCHES\tPOLLS\tLONGEST RUN")
	for _, r := range a.Loops {
		if r.Error != "" {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", r.ID, r.Name, r.Error)
			continue
		}
		longest := "-"
		if r.Accounting {
			longest = fmt.Sprintf("%s (#%d)", human(r.LongestRunMS), r.LongestRunID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Name, r.Coroutines, r.Ready,
			r.ByState[coro.StateWaiting], r.Timers, r.FDs, r.Switches, r.Polls, longest)
	}
	tw.Flush()
}

func cmdLoops(s *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("loops")
	}
	var a loopsAnswer
	a.Loops = []loopRow{}
	for _, ld := range s.dumps(s.cfg.Loops()) {
		a.Loops = append(a.Loops, rowOfLoop(ld))
	}
	return a, nil
}

type statsAnswer struct {
	Loops []statsRow `json:"loops"`
	Go    goInfo     `json:"go"`
}
type statsRow struct {
	loopRow
	Stats coro.Stats `json:"stats"`
}
type goInfo struct {
	PID        int    `json:"pid"`
	Goroutines int    `json:"goroutines"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Version    string `json:"version"`
}

func (a statsAnswer) text(w io.Writer) {
	for _, r := range a.Loops {
		fmt.Fprintf(w, "loop %d %q:", r.ID, r.Name)
		if r.Error != "" {
			fmt.Fprintf(w, " %s\n", r.Error)
			continue
		}
		fmt.Fprintf(w, " %d coroutines (new %d, ready %d, running %d, waiting %d, suspended %d, done %d)\n",
			r.Coroutines, r.ByState[0], r.ByState[1], r.ByState[2], r.ByState[3], r.ByState[4], r.ByState[5])
		st := r.Stats
		fmt.Fprintf(w, "  spawned %d, switches %d, posts %d, ready queue %d, timers %d\n",
			st.Spawned, st.Switches, st.Posts, r.Ready, r.Timers)
		fmt.Fprintf(w, "  stacks mapped %d, cached %d, shared bytes saved %d\n",
			st.StacksMapped, st.StacksCached, st.StackBytesSaved)
		fmt.Fprintf(w, "  fds %d (waiters %d), polls %d, events %d, fd arms %d, poll syscalls %d\n",
			r.FDs, r.FDWaiters, st.PollCalls, st.Events, st.FDArms, st.PollSyscalls)
		if r.Accounting {
			fmt.Fprintf(w, "  accounting on: longest run %s by #%d\n", human(r.LongestRunMS), r.LongestRunID)
		} else {
			fmt.Fprintln(w, "  accounting off")
		}
	}
	fmt.Fprintf(w, "process %d: %d goroutines, GOMAXPROCS %d, %s\n", a.Go.PID, a.Go.Goroutines, a.Go.GOMAXPROCS, a.Go.Version)
}

func cmdStats(s *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("stats")
	}
	a := statsAnswer{Loops: []statsRow{}, Go: goInfo{os.Getpid(), runtime.NumGoroutine(), runtime.GOMAXPROCS(0), runtime.Version()}}
	for _, ld := range s.dumps(s.cfg.Loops()) {
		a.Loops = append(a.Loops, statsRow{rowOfLoop(ld), ld.loop.Stats()})
	}
	return a, nil
}

// ---- ps, bt, fds, timers --------------------------------------------------

type psAnswer struct {
	Loops []loopRow `json:"loops"`
	Coros []coroRow `json:"coroutines"`
	bt    bool
}

func (a psAnswer) text(w io.Writer) {
	for _, r := range a.Loops {
		if r.Error != "" {
			fmt.Fprintf(w, "loop %d %q: %s\n", r.ID, r.Name, r.Error)
		}
	}
	if a.bt {
		for i := range a.Coros {
			r := &a.Coros[i]
			fmt.Fprintf(w, "loop %d #%d %q %s", r.Loop, r.ID, r.Name, r.State)
			if wt := r.waitText(); wt != "" {
				fmt.Fprintf(w, " %s", wt)
			}
			fmt.Fprintln(w)
			if r.FramesErr != "" {
				fmt.Fprintf(w, "    (no backtrace: %s)\n", r.FramesErr)
			}
			for k, f := range r.Frames {
				fmt.Fprintf(w, "    #%d %s\n", k, f)
			}
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LOOP\tID\tNAME\tSTATE\tFOR\tSWITCHES\tRUN\tSTACK used/peak/size\tWAIT")
	for i := range a.Coros {
		r := &a.Coros[i]
		run := "-"
		if r.RunMS >= 0 {
			run = human(r.RunMS)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s/%s/%s\t%s\n", r.Loop, r.ID, r.Name, r.State,
			human(r.InStateMS), r.Switches, run, size(r.StackUsed), size(r.StackPeak), size(r.StackSize), r.waitText())
	}
	tw.Flush()
	fmt.Fprintf(w, "%d coroutines\n", len(a.Coros))
}

// collect snapshots ls and keeps the coroutines keep accepts.
func (s *Server) collect(ls []*coro.Loop, keep func(r *coroRow) bool, opts ...coro.DumpOption) psAnswer {
	a := psAnswer{Loops: []loopRow{}, Coros: []coroRow{}}
	for _, ld := range s.dumps(ls, opts...) {
		a.Loops = append(a.Loops, rowOfLoop(ld))
		if ld.err != nil {
			continue
		}
		for i := range ld.d.Coros {
			r := rowOfCoro(ld.d.LoopID, &ld.d.Coros[i])
			if keep(&r) {
				a.Coros = append(a.Coros, r)
			}
		}
	}
	return a
}

func cmdPs(s *Server, args []string) (answer, error) {
	if len(args) > 2 {
		return nil, usage("ps")
	}
	var loopArg, filter string
	switch len(args) {
	case 1:
		// One word: a loop if one has that id or name, else a filter.
		if _, err := s.pickLoops(args[0]); err == nil {
			loopArg = args[0]
		} else {
			filter = args[0]
		}
	case 2:
		loopArg, filter = args[0], args[1]
	}
	ls, err := s.pickLoops(loopArg)
	if err != nil {
		return nil, err
	}
	return s.collect(ls, func(r *coroRow) bool {
		return filter == "" || strings.Contains(r.Name, filter) || strings.Contains(r.State, filter) ||
			strings.Contains(r.waitText(), filter)
	}), nil
}

func cmdBt(s *Server, args []string) (answer, error) {
	if len(args) != 1 {
		return nil, usage("bt")
	}
	if args[0] == "all" {
		a := s.collect(s.cfg.Loops(), func(*coroRow) bool { return true }, coro.WithBacktraces())
		a.bt = true
		return a, nil
	}
	id, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		return nil, usage("bt")
	}
	a := s.collect(s.cfg.Loops(), func(r *coroRow) bool { return r.ID == id }, coro.WithBacktraces())
	a.bt = true
	if len(a.Coros) == 0 {
		return nil, noCoroutine(id, a.Loops)
	}
	return a, nil
}

// noCoroutine says that no loop has id, and which loops did not answer.
func noCoroutine(id uint64, loops []loopRow) error {
	for _, r := range loops {
		if r.Error != "" {
			return fmt.Errorf("no coroutine #%d in the loops that answered (loop %d: %s)", id, r.ID, r.Error)
		}
	}
	return fmt.Errorf("no coroutine #%d", id)
}

func cmdFds(s *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("fds")
	}
	a := s.collect(s.cfg.Loops(), func(r *coroRow) bool { return r.Wait == "fd" })
	sort.SliceStable(a.Coros, func(i, j int) bool { return a.Coros[i].FD < a.Coros[j].FD })
	return fdsAnswer{a, openFDs()}, nil
}

type fdsAnswer struct {
	psAnswer
	OpenFDs int `json:"open_fds"` // in the process (/proc/self/fd), -1 if unknown
}

func (a fdsAnswer) text(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FD\tEVENTS\tLOOP\tID\tNAME\tFOR\tDEADLINE")
	for i := range a.Coros {
		r := &a.Coros[i]
		dl := "-"
		if r.DeadlineMS != nil {
			dl = human(*r.DeadlineMS)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\n", r.FD, r.Events, r.Loop, r.ID, r.Name, human(r.InStateMS), dl)
	}
	tw.Flush()
	for _, r := range a.Loops {
		if r.Error != "" {
			fmt.Fprintf(w, "loop %d %q: %s\n", r.ID, r.Name, r.Error)
		} else {
			fmt.Fprintf(w, "loop %d %q: %d fds registered, %d waiters\n", r.ID, r.Name, r.FDs, r.FDWaiters)
		}
	}
	fmt.Fprintf(w, "process: %d open fds\n", a.OpenFDs)
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own fd
}

type timersAnswer struct{ psAnswer }

func (a timersAnswer) text(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "DUE IN\tLOOP\tID\tNAME\tWAIT")
	for i := range a.Coros {
		r := &a.Coros[i]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", human(*r.DeadlineMS), r.Loop, r.ID, r.Name, r.waitText())
	}
	tw.Flush()
	for _, r := range a.Loops {
		if r.Error != "" {
			fmt.Fprintf(w, "loop %d %q: %s\n", r.ID, r.Name, r.Error)
		}
	}
	fmt.Fprintf(w, "%d timers\n", len(a.Coros))
}

func cmdTimers(s *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("timers")
	}
	a := s.collect(s.cfg.Loops(), func(r *coroRow) bool { return r.DeadlineMS != nil })
	sort.SliceStable(a.Coros, func(i, j int) bool { return *a.Coros[i].DeadlineMS < *a.Coros[j].DeadlineMS })
	return timersAnswer{a}, nil
}

// ---- cancel, slow, accounting ---------------------------------------------

type doneAnswer struct {
	Done  string     `json:"done"`
	Loops []loopDone `json:"loops,omitempty"`
}
type loopDone struct {
	ID    uint64 `json:"id"`
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

func (a doneAnswer) text(w io.Writer) {
	fmt.Fprintln(w, a.Done)
	for _, l := range a.Loops {
		if l.Error != "" {
			fmt.Fprintf(w, "loop %d %q: %s\n", l.ID, l.Name, l.Error)
		} else if l.Value != "" {
			fmt.Fprintf(w, "loop %d %q: %s\n", l.ID, l.Name, l.Value)
		}
	}
}

func (s *Server) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.Timeout)
}

func cmdCancel(s *Server, args []string) (answer, error) {
	if len(args) != 1 {
		return nil, usage("cancel")
	}
	id, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		return nil, usage("cancel")
	}
	var failed []loopRow
	for _, l := range s.cfg.Loops() {
		ctx, cancel := s.ctx()
		err := l.CancelID(ctx, id)
		cancel()
		if err == nil {
			return doneAnswer{Done: fmt.Sprintf("cancelled #%d on loop %d", id, l.ID())}, nil
		}
		if !errors.Is(err, syscall.ESRCH) {
			failed = append(failed, loopRow{ID: l.ID(), Name: l.Name(), Error: err.Error()})
		}
	}
	return nil, noCoroutine(id, failed)
}

func cmdSlow(s *Server, args []string) (answer, error) {
	if len(args) > 1 {
		return nil, usage("slow")
	}
	ls := s.cfg.Loops()
	a := doneAnswer{Done: "slow-coroutine threshold", Loops: []loopDone{}}
	if len(args) == 1 {
		n, err := strconv.ParseUint(args[0], 10, 31)
		if err != nil {
			return nil, fmt.Errorf("%q: want milliseconds, 0 to turn the warning off", args[0])
		}
		for _, l := range ls {
			if err := s.cfg.SetSlowThreshold(l, time.Duration(n)*time.Millisecond); err != nil {
				a.Loops = append(a.Loops, loopDone{ID: l.ID(), Name: l.Name(), Error: err.Error()})
			}
		}
		a.Done = fmt.Sprintf("slow-coroutine threshold set to %d ms on %d loops", n, len(ls))
	}
	for _, l := range ls {
		d, err := s.cfg.SlowThreshold(l)
		r := loopDone{ID: l.ID(), Name: l.Name()}
		switch {
		case err != nil:
			r.Error = err.Error()
		case d == 0:
			r.Value = "off"
		default:
			r.Value = d.String()
		}
		a.Loops = append(a.Loops, r)
	}
	return a, nil
}

func cmdAccounting(s *Server, args []string) (answer, error) {
	if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
		return nil, usage("accounting")
	}
	on := args[0] == "on"
	ls := s.cfg.Loops()
	a := doneAnswer{Done: fmt.Sprintf("accounting %s on %d loops", args[0], len(ls)), Loops: []loopDone{}}
	for _, l := range ls {
		ctx, cancel := s.ctx()
		if err := l.SetAccounting(ctx, on); err != nil {
			a.Loops = append(a.Loops, loopDone{ID: l.ID(), Name: l.Name(), Error: err.Error()})
		}
		cancel()
	}
	return a, nil
}

// ---- Go: goroutines, gc, memstats -----------------------------------------

// maxGoDump bounds the goroutine dump's size.
const maxGoDump = 4 << 20

type goAnswer struct {
	Goroutines int    `json:"goroutines"`
	Dump       string `json:"dump"`
	Truncated  bool   `json:"truncated,omitempty"`
}

func (a goAnswer) text(w io.Writer) {
	io.WriteString(w, a.Dump)
	if a.Truncated {
		fmt.Fprintf(w, "\n(truncated at %d bytes)\n", maxGoDump)
	}
	fmt.Fprintf(w, "%d goroutines\n", a.Goroutines)
}

func cmdGo(_ *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("go")
	}
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		return nil, err
	}
	a := goAnswer{Goroutines: runtime.NumGoroutine(), Dump: b.String()}
	if len(a.Dump) > maxGoDump {
		a.Dump, a.Truncated = a.Dump[:maxGoDump], true
	}
	return a, nil
}

type gcAnswer struct {
	HeapBefore uint64  `json:"heap_before"`
	HeapAfter  uint64  `json:"heap_after"`
	TookMS     float64 `json:"took_ms"`
	NumGC      uint32  `json:"num_gc"`
}

func (a gcAnswer) text(w io.Writer) {
	fmt.Fprintf(w, "gc: heap %s -> %s in %s (%d collections so far)\n",
		size(int(a.HeapBefore)), size(int(a.HeapAfter)), human(a.TookMS), a.NumGC)
}

func cmdGC(_ *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("gc")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	runtime.GC()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return gcAnswer{before.HeapAlloc, after.HeapAlloc, ms(took), after.NumGC}, nil
}

type memAnswer struct {
	Alloc, TotalAlloc, Sys, Mallocs, Frees        uint64
	HeapAlloc, HeapSys, HeapIdle, HeapInuse       uint64
	HeapReleased, HeapObjects, StackInuse, NextGC uint64
	NumGC                                         uint32
	PauseTotalNs                                  uint64
	GCCPUFraction                                 float64
}

func (a memAnswer) text(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, r := range []struct {
		k string
		v uint64
	}{{"Alloc", a.Alloc}, {"TotalAlloc", a.TotalAlloc}, {"Sys", a.Sys}, {"HeapAlloc", a.HeapAlloc},
		{"HeapSys", a.HeapSys}, {"HeapIdle", a.HeapIdle}, {"HeapInuse", a.HeapInuse},
		{"HeapReleased", a.HeapReleased}, {"StackInuse", a.StackInuse}, {"NextGC", a.NextGC}} {
		fmt.Fprintf(tw, "%s\t%d\t(%s)\n", r.k, r.v, size(int(r.v)))
	}
	fmt.Fprintf(tw, "HeapObjects\t%d\n", a.HeapObjects)
	fmt.Fprintf(tw, "Mallocs / Frees\t%d / %d\n", a.Mallocs, a.Frees)
	fmt.Fprintf(tw, "NumGC\t%d\n", a.NumGC)
	fmt.Fprintf(tw, "PauseTotal\t%v\n", time.Duration(a.PauseTotalNs))
	fmt.Fprintf(tw, "GCCPUFraction\t%.4f\n", a.GCCPUFraction)
	tw.Flush()
}

func cmdMemstats(_ *Server, args []string) (answer, error) {
	if len(args) > 0 {
		return nil, usage("memstats")
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memAnswer{m.Alloc, m.TotalAlloc, m.Sys, m.Mallocs, m.Frees, m.HeapAlloc, m.HeapSys, m.HeapIdle,
		m.HeapInuse, m.HeapReleased, m.HeapObjects, m.StackInuse, m.NextGC, m.NumGC, m.PauseTotalNs,
		m.GCCPUFraction}, nil
}
