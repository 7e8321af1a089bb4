// Package demos holds the C demo programs of the coro command (same fringe
// and hot potato) and the Go code that feeds them and reads their results.
//
// Each demo is one C coroutine entry function that is spawned on a fresh
// coro.Loop with a job in C memory as its argument: the whole demo, hot loop
// included, runs on the loop's thread inside that coroutine and the ones it
// makes, so no Go code runs on a coroutine stack and no hop pays for a cgo
// crossing. Go reads the job once the coroutine has finished.
package demos

// #cgo CFLAGS: -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I${SRCDIR}/../../csrc
// #include <stdlib.h>
// #include "demos.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/ccoro/coro"
)

// MaxDepth is the deepest nesting of parentheses a tree may have. Each
// level is one frame of the recursive walk on a generator's stack, so the
// bound keeps the walk well inside the default 256 KiB stack.
const MaxDepth = 1000

// ParseStack parses the flag spelling of a stack mode: "guarded"
// (coro.StackGuarded) or "shared" (coro.StackShared).
func ParseStack(s string) (coro.StackMode, error) {
	switch s {
	case "guarded":
		return coro.StackGuarded, nil
	case "shared":
		return coro.StackShared, nil
	}
	return 0, fmt.Errorf("unknown stack kind %q (want guarded or shared)", s)
}

// errno turns a negative errno returned by the C side into an error.
func errno(rc C.int) error {
	return syscall.Errno(-rc)
}

// run spawns the C coroutine entry fn with job (C memory) as its argument
// on a new loop whose coroutines use stack, waits for it to finish and
// closes the loop.
func run(name string, fn C.coro_fn, job unsafe.Pointer, stack coro.StackMode) error {
	l, err := coro.NewLoop(coro.WithStackMode(stack), coro.WithName(name))
	if err != nil {
		return err
	}
	co, err := l.Spawn(coro.Entry(uintptr(unsafe.Pointer(fn))), uintptr(job), coro.WithCoroutineName(name))
	if err == nil {
		_, err = co.Wait(context.Background())
	}
	if cerr := l.Close(context.Background()); err == nil {
		err = cerr
	}
	return err
}

// ---- same fringe -----------------------------------------------------

// node is one parsed tree node: a leaf (children == nil) or an inner node.
type node struct {
	value    int64
	children []*node
}

// ParseTree parses a tree written as an integer leaf or as a parenthesised
// list of one or more trees separated by spaces, e.g. "((1 2) (3 (4 5)))",
// and returns its fringe (the leaves, left to right) as a check of what was
// read. Nesting deeper than MaxDepth is refused.
func ParseTree(s string) ([]int64, error) {
	t, err := parseTree(s)
	if err != nil {
		return nil, err
	}
	var out []int64
	var walk func(n *node)
	walk = func(n *node) {
		if n.children == nil {
			out = append(out, n.value)
			return
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(t)
	return out, nil
}

type parser struct {
	s   string
	pos int
}

func parseTree(s string) (*node, error) {
	p := &parser{s: s}
	p.space()
	if p.pos == len(p.s) {
		return nil, errors.New("empty tree")
	}
	n, err := p.tree(1)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.errorf("unexpected %q after the tree", p.s[p.pos])
	}
	return n, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *parser) tree(depth int) (*node, error) {
	if p.pos == len(p.s) {
		return nil, p.errorf("unexpected end, want a leaf or (")
	}
	if p.s[p.pos] != '(' {
		return p.leaf()
	}
	if depth > MaxDepth {
		return nil, p.errorf("nested deeper than %d levels", MaxDepth)
	}
	p.pos++
	n := &node{children: []*node{}}
	for {
		p.space()
		if p.pos == len(p.s) {
			return nil, p.errorf("unexpected end, want )")
		}
		if p.s[p.pos] == ')' {
			if len(n.children) == 0 {
				return nil, p.errorf("empty list: a list holds one or more trees")
			}
			p.pos++
			return n, nil
		}
		c, err := p.tree(depth + 1)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, c)
	}
}

func (p *parser) leaf() (*node, error) {
	start := p.pos
	for p.pos < len(p.s) && strings.IndexByte("() \t\r\n", p.s[p.pos]) < 0 {
		p.pos++
	}
	text := p.s[start:p.pos]
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		p.pos = start
		if text == "" {
			return nil, p.errorf("unexpected %q, want a leaf or (", p.s[p.pos])
		}
		return nil, p.errorf("leaf %q is not a 64-bit integer", text)
	}
	return &node{value: v}, nil
}

// cTree is a tree copied into C memory as a demo_sf_node array.
type cTree struct {
	nodes  *C.demo_sf_node
	root   C.int32_t
	leaves int
}

// toC lays t out in C memory, children before their parent's next sibling.
func toC(t *node) (*cTree, error) {
	count := 0
	var countNodes func(n *node)
	countNodes = func(n *node) {
		count++
		for _, c := range n.children {
			countNodes(c)
		}
	}
	countNodes(t)
	if count > 1<<30 {
		return nil, errors.New("tree too large")
	}
	mem := C.calloc(C.size_t(count), C.size_t(unsafe.Sizeof(C.demo_sf_node{})))
	if mem == nil {
		return nil, syscall.ENOMEM
	}
	nodes := unsafe.Slice((*C.demo_sf_node)(mem), count)
	ct := &cTree{nodes: (*C.demo_sf_node)(mem)}
	next := 0
	var lay func(n *node) int
	lay = func(n *node) int {
		i := next
		next++
		nodes[i] = C.demo_sf_node{first_child: -1, next_sibling: -1}
		if n.children == nil {
			nodes[i].value = C.int64_t(n.value)
			ct.leaves++
			return i
		}
		prev := -1
		for _, c := range n.children {
			ci := lay(c)
			if prev < 0 {
				nodes[i].first_child = C.int32_t(ci)
			} else {
				nodes[prev].next_sibling = C.int32_t(ci)
			}
			prev = ci
		}
		return i
	}
	ct.root = C.int32_t(lay(t))
	return ct, nil
}

func (ct *cTree) free() { C.free(unsafe.Pointer(ct.nodes)) }

// Pair is one pair of leaves compared by the same-fringe demo. A side
// whose fringe has run out is Ended and its value is meaningless.
type Pair struct {
	A, B           int64
	AEnded, BEnded bool
}

// sides formats the pair's two sides: each a value or "end".
func (p Pair) sides() (string, string) {
	a, b := "end", "end"
	if !p.AEnded {
		a = strconv.FormatInt(p.A, 10)
	}
	if !p.BEnded {
		b = strconv.FormatInt(p.B, 10)
	}
	return a, b
}

// FringeResult is the outcome of a same-fringe comparison.
type FringeResult struct {
	// Pairs are the leaves compared, in order, up to and including the
	// first pair that differs.
	Pairs []Pair
	// Same reports whether the fringes are equal.
	Same bool
}

// Report renders the result: one line per compared pair, then the verdict
// ("same fringe", or "different fringe at leaf N: x vs y" where a side
// that has run out of leaves reads "end").
func (r *FringeResult) Report() string {
	var b strings.Builder
	for i, p := range r.Pairs {
		a, bb := p.sides()
		op := "=="
		if p.AEnded || p.BEnded || p.A != p.B {
			op = "!="
		}
		fmt.Fprintf(&b, "leaf %d: %s %s %s\n", i+1, a, op, bb)
	}
	if r.Same {
		b.WriteString("same fringe\n")
	} else if n := len(r.Pairs); n > 0 {
		a, bb := r.Pairs[n-1].sides()
		fmt.Fprintf(&b, "different fringe at leaf %d: %s vs %s\n", n, a, bb)
	}
	return b.String()
}

// CompareFringes parses trees a and b (see ParseTree), builds them in C
// memory and compares their fringes with two generator coroutines on a
// fresh loop whose coroutines use stack. Errors start with "samefringe: ",
// and with "samefringe: tree a: " (or b) when a tree cannot be read.
func CompareFringes(a, b string, stack coro.StackMode) (*FringeResult, error) {
	ta, err := parseTree(a)
	if err != nil {
		return nil, fmt.Errorf("samefringe: tree a: %w", err)
	}
	tb, err := parseTree(b)
	if err != nil {
		return nil, fmt.Errorf("samefringe: tree b: %w", err)
	}
	ca, err := toC(ta)
	if err != nil {
		return nil, fmt.Errorf("samefringe: tree a: %w", err)
	}
	defer ca.free()
	cb, err := toC(tb)
	if err != nil {
		return nil, fmt.Errorf("samefringe: tree b: %w", err)
	}
	defer cb.free()

	room := 1 + min(ca.leaves, cb.leaves)
	pairs := C.calloc(C.size_t(room), C.size_t(unsafe.Sizeof(C.demo_sf_pair{})))
	job := (*C.demo_sf_job)(C.calloc(1, C.size_t(unsafe.Sizeof(C.demo_sf_job{}))))
	defer C.free(pairs)
	defer C.free(unsafe.Pointer(job))
	if pairs == nil || job == nil {
		return nil, fmt.Errorf("samefringe: %w", syscall.ENOMEM)
	}
	job.a_nodes, job.a_root = ca.nodes, ca.root
	job.b_nodes, job.b_root = cb.nodes, cb.root
	job.pairs = (*C.demo_sf_pair)(pairs)

	if err := run("samefringe", C.coro_fn(C.demo_samefringe_main), unsafe.Pointer(job), stack); err != nil {
		return nil, fmt.Errorf("samefringe: %w", err)
	}
	if job.err < 0 {
		return nil, fmt.Errorf("samefringe: %w", errno(job.err))
	}
	res := &FringeResult{Same: job.same != 0}
	for _, p := range unsafe.Slice(job.pairs, int(job.npairs)) {
		res.Pairs = append(res.Pairs, Pair{
			A: int64(p.a), B: int64(p.b),
			AEnded: p.a_ended != 0, BEnded: p.b_ended != 0,
		})
	}
	return res, nil
}

// SameFringe compares the fringes of trees a and b (guarded stacks) and
// returns the printed report, whether the fringes are equal, and any error
// parsing the trees or running the engine.
func SameFringe(a, b string) (report string, same bool, err error) {
	r, err := CompareFringes(a, b, coro.StackGuarded)
	if err != nil {
		return "", false, err
	}
	return r.Report(), r.Same, nil
}

// ---- hot potato ------------------------------------------------------

// PotatoConfig describes one hot-potato run.
type PotatoConfig struct {
	N     int            // coroutines in the ring, at least 2
	Hops  int64          // hops to make, at least 1
	Sched bool           // pass through semaphores and the scheduler, not coro_transfer
	Stack coro.StackMode // the coroutines' stacks
}

// PotatoResult is what a hot-potato run measured.
type PotatoResult struct {
	Hops     int64   // hops made (equals the configured Hops)
	Received []int64 // per coroutine: how many times it got the token
	NsPerHop float64 // between the first and the last hop
	Switches uint64  // context switches the loop made during the run
}

// RunPotato passes a token round a ring of cfg.N coroutines until it has
// made cfg.Hops hops, all inside one coroutine (and its ring) on a fresh
// loop, and reports what the C side counted and timed. Errors start with
// "potato: ".
func RunPotato(cfg PotatoConfig) (*PotatoResult, error) {
	if cfg.N < 2 || cfg.N > 1<<30 {
		return nil, fmt.Errorf("potato: -n %d: a ring needs 2 to %d coroutines", cfg.N, 1<<30)
	}
	if cfg.Hops < 1 {
		return nil, fmt.Errorf("potato: -hops %d: need at least 1 hop", cfg.Hops)
	}
	received := C.calloc(C.size_t(cfg.N), C.size_t(unsafe.Sizeof(C.int64_t(0))))
	job := (*C.demo_potato_job)(C.calloc(1, C.size_t(unsafe.Sizeof(C.demo_potato_job{}))))
	defer C.free(received)
	defer C.free(unsafe.Pointer(job))
	if received == nil || job == nil {
		return nil, fmt.Errorf("potato: %w", syscall.ENOMEM)
	}
	job.n = C.int32_t(cfg.N)
	job.target = C.int64_t(cfg.Hops)
	job.mode = C.DEMO_POTATO_TRANSFER
	if cfg.Sched {
		job.mode = C.DEMO_POTATO_SCHED
	}
	job.received = (*C.int64_t)(received)

	if err := run("potato", C.coro_fn(C.demo_potato_main), unsafe.Pointer(job), cfg.Stack); err != nil {
		return nil, fmt.Errorf("potato: %w", err)
	}
	if job.err < 0 {
		err := fmt.Errorf("potato: %w", errno(job.err))
		if errno(job.err) == syscall.ENOMEM && cfg.Stack != coro.StackShared {
			err = fmt.Errorf("%w (each guarded stack costs two of the "+
				"vm.max_map_count mappings; try -stack shared)", err)
		}
		return nil, err
	}
	res := &PotatoResult{
		Hops:     int64(job.hops),
		Switches: uint64(job.switches),
	}
	for _, v := range unsafe.Slice((*C.int64_t)(received), cfg.N) {
		res.Received = append(res.Received, int64(v))
	}
	if job.hops > 1 {
		res.NsPerHop = float64(job.last_ns-job.first_ns) / float64(job.hops-1)
	}
	return res, nil
}

// Potato runs the hot potato with n coroutines for hops hops, through the
// scheduler if sched, on shared stacks if shared, and returns the time per
// hop in nanoseconds.
func Potato(n int, hops int64, sched bool, shared bool) (nsPerHop float64, err error) {
	st := coro.StackGuarded
	if shared {
		st = coro.StackShared
	}
	r, err := RunPotato(PotatoConfig{N: n, Hops: hops, Sched: sched, Stack: st})
	if err != nil {
		return 0, err
	}
	return r.NsPerHop, nil
}
