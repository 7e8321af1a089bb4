package coro_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
)

// Take a snapshot of a loop: a coroutine parked in coro_sleep(-1) shows
// as waiting in a sleep; CancelID then cancels it by its id.
func ExampleLoop_Dump() {
	l, err := coro.NewLoop(coro.WithName("dumped"))
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	b := ctest.NewBox()
	defer b.Free()
	co, err := l.Spawn(coro.Entry(ctest.SleepForever()), b.Ptr(), coro.WithCoroutineName("sleeper"))
	if err != nil {
		panic(err)
	}
	for !b.Started() { // until it has parked
		time.Sleep(time.Millisecond)
	}
	d, err := l.Dump(context.Background())
	if err != nil {
		panic(err)
	}
	c := d.Coros[0]
	fmt.Println(d.Name, d.Coroutines, c.Name, c.State, c.Wait, c.HasDeadline)
	if err := l.CancelID(context.Background(), co.ID()); err != nil {
		panic(err)
	}
	co.Wait(context.Background())
	fmt.Println(b.RC() < 0) // coro_sleep returned -ECANCELED
	// Output:
	// dumped 1 sleeper waiting sleep false
	// true
}
