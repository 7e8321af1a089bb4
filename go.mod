module github.com/ccoro/coro

go 1.26.0

require (
	github.com/ianlancetaylor/cgosymbolizer v0.0.0-20241129212102-9c50ad6b591e
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)
