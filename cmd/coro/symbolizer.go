//go:build cgo

package main

// Symbolizes C frames (the engine's and the demos') in the traceback of a
// crash; its place is the main package. The package is cgo only: imported
// unconditionally, a CGO_ENABLED=0 build would fail naming it instead of
// coro's own message (coro_requires_cgo_set_CGO_ENABLED_1).
import _ "github.com/ianlancetaylor/cgosymbolizer"
