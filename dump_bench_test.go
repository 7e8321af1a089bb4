package coro_test

import (
	"testing"

	"github.com/ccoro/coro/internal/cbench"
)

// BenchmarkYieldAccounting is BenchmarkYield with run-time accounting on
// (coro_loop_set_accounting: a clock read per switch). Its cost is the
// difference between the two, measured in the same run.
func BenchmarkYieldAccounting(b *testing.B) {
	y, err := cbench.NewYield()
	if err == nil {
		err = y.SetAccounting(true)
	}
	runC(b, y, err, 1)
}
