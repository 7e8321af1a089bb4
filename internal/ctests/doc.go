// Package ctests runs the C test programs of csrc/test from `go test`, so
// that `go test ./...` also runs the engine's C tests.
//
// The package has no API. Its test compiles each program with the system C
// compiler ($CC, else cc, gcc or clang) together with the engine sources the
// program needs, runs it, and fails if any of its C tests fails. It is
// skipped, with a message saying why, when no C compiler is found or the
// system is not Linux, and when CORO_SKIP_CTESTS is set: the Makefile sets it
// for the Go tests of make check and make test, which run the same programs
// themselves (make test-c, and once per variant).
package ctests
