// Package soak holds the soak test of coro httpd: connections churning
// against a server in a child process for a set time, with the server's
// open fds and resident memory sampled every second and required flat once
// warmed up. It has no API.
//
// The test runs only when CORO_SOAK is set to a duration (e.g. 60s, 10m):
// `make test` runs it for 60 s, `make soak` for SOAK_TIME (default 10m);
// plain `go test ./...` and `make check` skip it.
package soak
