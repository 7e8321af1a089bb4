package coro

// This file's preamble is copied into _cgo_export.h (it holds //export
// functions), so it may only declare, never define (backtrace.c does).

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#include <stdint.h>
#include <stdlib.h>
#include "coro.h"

struct coro__go_bt;
struct coro__go_bt *coro__go_bt_new(uint64_t id, uintptr_t handle);
int coro__go_bt_post(coro_loop *loop, struct coro__go_bt *r);
void coro__go_bt_here(struct coro__go_bt *r);
int coro__go_bt_n(const struct coro__go_bt *r);
uintptr_t coro__go_bt_frame(const struct coro__go_bt *r, int i);
void coro__go_bt_free(struct coro__go_bt *r);
uintptr_t coro__go_bt_anchor(void);
int coro__go_bt_symbol(uintptr_t pc, char *buf, size_t len);
*/
import "C"

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// A Frame is one return address of a coroutine's call stack.
type Frame struct {
	PC     uintptr // the return address (frame 0: where the coroutine resumes)
	Func   string  // the function's symbol, "" if unknown
	Offset uintptr // PC - the function's address
}

// String formats the frame as "func+0xoff", or the address alone when no
// symbol covers it.
func (f Frame) String() string {
	if f.Func == "" {
		return fmt.Sprintf("%#x", f.PC)
	}
	return fmt.Sprintf("%s+%#x", f.Func, f.Offset)
}

// Backtrace returns the C call stack of the coroutine with this id (see
// Coroutine.ID) on l, innermost frame first, as coro_backtrace walks it on
// the loop's thread from the loop's own stack (Go never runs on a
// coroutine stack). Symbols come from the executable's symbol table, or
// from the dynamic linker for shared libraries; no file:line. A coroutine
// that has not started has one frame: its entry function.
//
// Errors: syscall.ESRCH if l has no coroutine with that id (finished and
// freed, or never there); syscall.EINVAL if it is the running coroutine
// (only possible when called from a Go function on l's thread: then the
// caller itself) or has finished; ErrClosed once l is closing; ctx.Err()
// if ctx ends before the loop answers.
func (l *Loop) Backtrace(ctx context.Context, id uint64) ([]Frame, error) {
	if !l.valid() {
		return nil, ErrClosed
	}
	if l.onLoopThread() {
		r := C.coro__go_bt_new(C.uint64_t(id), 0)
		if r == nil {
			return nil, syscall.ENOMEM
		}
		defer C.coro__go_bt_free(r)
		C.coro__go_bt_here(r)
		return btFrames(r)
	}
	var r *C.struct_coro__go_bt
	err := l.postWait(ctx, func(key uintptr) C.int {
		if r = C.coro__go_bt_new(C.uint64_t(id), C.uintptr_t(key)); r == nil {
			return -C.int(syscall.ENOMEM)
		}
		return C.coro__go_bt_post(l.c, r)
	}, func() { C.coro__go_bt_free(r) })
	if err != nil {
		return nil, err
	}
	defer C.coro__go_bt_free(r)
	return btFrames(r)
}

// coro__go_bt_done runs on the loop thread, on its own stack, once the
// walk of request key is in.
//
//export coro__go_bt_done
func coro__go_bt_done(key C.uintptr_t) { loopWaitDone(uintptr(key)) }

func btFrames(r *C.struct_coro__go_bt) ([]Frame, error) {
	n := int(C.coro__go_bt_n(r))
	if n < 0 {
		return nil, errnoErr(C.int(n))
	}
	frames := make([]Frame, n)
	for i := range frames {
		frames[i] = symbolize(uintptr(C.coro__go_bt_frame(r, C.int(i))))
	}
	return frames, nil
}

// The executable's function symbols, sorted by address, with the load
// bias applied; read once, on first use.
var exeSyms struct {
	once sync.Once
	syms []elf.Symbol
}

func loadExeSyms() {
	path, err := os.Executable()
	if err != nil {
		return
	}
	f, err := elf.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	all, err := f.Symbols()
	if err != nil {
		return
	}
	var funcs []elf.Symbol
	var bias uintptr
	for _, s := range all {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			funcs = append(funcs, s)
			if s.Name == "coro_backtrace" {
				bias = uintptr(C.coro__go_bt_anchor()) - uintptr(s.Value)
			}
		}
	}
	for i := range funcs {
		funcs[i].Value += uint64(bias)
	}
	sort.Slice(funcs, func(i, j int) bool { return funcs[i].Value < funcs[j].Value })
	exeSyms.syms = funcs
}

// symbolize names pc: from the executable's symbol table (which covers
// its static C functions, unlike dladdr), else from the dynamic linker.
// A return address is looked up one byte back (the call instruction), a
// function's own address (a coroutine not started) as itself.
func symbolize(pc uintptr) Frame {
	exeSyms.once.Do(loadExeSyms)
	syms := exeSyms.syms
	find := func(a uint64) (elf.Symbol, bool) {
		i := sort.Search(len(syms), func(i int) bool { return syms[i].Value > a }) - 1
		if i >= 0 && a < syms[i].Value+syms[i].Size {
			return syms[i], true
		}
		return elf.Symbol{}, false
	}
	if s, ok := find(uint64(pc)); ok && s.Value == uint64(pc) {
		return Frame{PC: pc, Func: s.Name}
	}
	if s, ok := find(uint64(pc) - 1); ok {
		return Frame{PC: pc, Func: s.Name, Offset: pc - uintptr(s.Value)}
	}
	var buf [256]C.char
	if C.coro__go_bt_symbol(C.uintptr_t(pc), &buf[0], C.size_t(len(buf))) <= 0 {
		return Frame{PC: pc}
	}
	name := C.GoString(&buf[0]) // "func+0xoff", "object+0xoff" or "0xaddr"
	if i := strings.LastIndexByte(name, '+'); i > 0 {
		if off, err := strconv.ParseUint(strings.TrimPrefix(name[i+1:], "0x"), 16, 64); err == nil {
			return Frame{PC: pc, Func: name[:i], Offset: uintptr(off)}
		}
	}
	return Frame{PC: pc}
}
