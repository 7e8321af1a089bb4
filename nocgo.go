//go:build !cgo

package coro

// Package coro is a binding to a C engine and cannot work without cgo. This
// reference to an undefined name makes a CGO_ENABLED=0 build stop with an
// error that says what to do, instead of a puzzling list of missing names.
var _ = coro_requires_cgo_set_CGO_ENABLED_1
