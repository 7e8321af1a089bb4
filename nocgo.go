//go:build !cgo

package coro

// Package coro is a binding to a C engine and cannot work without cgo. The
// reference to an undefined name makes a CGO_ENABLED=0 build stop with an
// error that says what to do, instead of a puzzling list of missing names.
// It is a type declaration because the type checker reports those first:
// the message leads even when the package's pure-Go files (options.go)
// add errors of their own about the names the cgo files would declare.
type cgoRequired coro_requires_cgo_set_CGO_ENABLED_1
