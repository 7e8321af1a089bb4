package coro_test

import (
	"context"
	"fmt"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
)

// Spawn a C function as a coroutine and wait for its result. In a real
// program the function comes from the program's own cgo code, as
// coro.Entry(C.my_entry_entry()) with CORO_GO_ENTRY(my_entry) in C (the
// module's examples/ folder holds complete programs); here ctest.AddOne
// returns the C function ctest_add_one, which adds one to the int64_t its
// argument points to and returns the argument.
func Example() {
	l, err := coro.NewLoop(coro.WithName("example"), coro.WithStackMode(coro.StackShared))
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	p := ctest.NewInt64(41) // C memory: never pass Go pointers to C
	defer ctest.Free(p)
	co, err := l.Spawn(coro.Entry(ctest.AddOne()), p, coro.WithCoroutineName("add-one"))
	if err != nil {
		panic(err)
	}
	res, err := co.Wait(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(co.Name(), ctest.Int64(res), res == p)
	// Output: add-one 42 true
}

// Cancel a coroutine blocked in coro_sleep(-1): its sleep returns
// -ECANCELED, the function returns, and Wait reports ECANCELED.
func ExampleCoroutine_Cancel() {
	l, err := coro.NewLoop()
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	b := ctest.NewBox()
	defer b.Free()
	co, err := l.Spawn(coro.Entry(ctest.SleepForever()), b.Ptr())
	if err != nil {
		panic(err)
	}
	co.Cancel()
	_, err = co.Wait(context.Background())
	fmt.Println(err)
	// Output: operation canceled
}

// Register a Go function and call it from C code running in a coroutine.
// ctest_call_go does, in C:
//
//	b->rc = coro_go_call(b->fn, b->arg, &b->result);
//	return b->result;
func ExampleRegisterFunc() {
	double, err := coro.RegisterFunc(func(arg uintptr) (uintptr, error) {
		// Runs on the loop thread's own stack while the coroutine waits.
		return arg * 2, nil
	})
	if err != nil {
		panic(err)
	}

	l, err := coro.NewLoop()
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	b := ctest.NewBox()
	defer b.Free()
	b.SetFn(uintptr(double), 21)
	co, err := l.Spawn(coro.Entry(ctest.CallGo()), b.Ptr())
	if err != nil {
		panic(err)
	}
	res, err := co.Wait(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("rc", b.RC(), "result", uintptr(res))
	// Output: rc 0 result 42
}

// Read a loop's counters.
func ExampleLoop_Stats() {
	l, err := coro.NewLoop()
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	for i := 0; i < 3; i++ {
		co, err := l.Spawn(coro.Entry(ctest.Nop()), 0)
		if err != nil {
			panic(err)
		}
		co.Wait(context.Background())
	}
	st := l.Stats()
	fmt.Println("spawned:", st.Spawned, "switched:", st.Switches > 0)
	// Output: spawned: 3 switched: true
}
