//go:build coro_openssl && !cgo

package tls

// This package is C compiled by cgo: without cgo, fail with the same
// message as package coro (see its nocgo.go).
type cgoRequired coro_requires_cgo_set_CGO_ENABLED_1
