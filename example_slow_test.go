package coro_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/internal/ctest"
)

// A coroutine that runs past the loop's slow threshold without switching
// is reported while it runs (with where it runs: SlowReport.Frames) and
// again when it switches. Here ctest.Spin returns a C function that spins
// until its box is released, which the example does once the first report
// is in.
func ExampleWithSlowHandler() {
	reports := make(chan coro.SlowReport, 4)
	l, err := coro.NewLoop(coro.WithName("example"),
		coro.WithSlowThreshold(20*time.Millisecond),
		coro.WithSlowHandler(func(r coro.SlowReport) {
			select { // runs on the watchdog's thread: never block it
			case reports <- r:
			default:
			}
		}))
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())

	b := ctest.NewBox()
	defer b.Free()
	co, err := l.Spawn(coro.Entry(ctest.Spin()), b.Ptr(), coro.WithCoroutineName("spinner"))
	if err != nil {
		panic(err)
	}
	r := <-reports
	fmt.Println(r.Name, "still running:", !r.Done, "over the threshold:", r.Run >= r.Threshold)
	b.Release()
	if _, err := co.Wait(context.Background()); err != nil {
		panic(err)
	}
	r = <-reports
	fmt.Println(r.Name, "done:", r.Done)
	// Output:
	// spinner still running: true over the threshold: true
	// spinner done: true
}
