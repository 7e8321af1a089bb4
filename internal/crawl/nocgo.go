//go:build !cgo

package crawl

// This package is C compiled by cgo: without cgo, fail with the same
// message as package coro (see its nocgo.go) rather than with "build
// constraints exclude all Go files", which names no cause.
type cgoRequired coro_requires_cgo_set_CGO_ENABLED_1
