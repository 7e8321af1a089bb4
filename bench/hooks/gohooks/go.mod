module github.com/ccoro/coro/bench/hooks/gohooks

go 1.26.0

require github.com/ccoro/coro v0.0.0

require golang.org/x/sys v0.50.0 // indirect

replace github.com/ccoro/coro => ../../..
