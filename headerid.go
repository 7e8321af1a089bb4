package coro

// headerid.c defines the symbol that the copies of coro.h and coro_go.h made
// by cmd/coroheaders refer to, so that a user's package links only with
// copies of this version's headers. Run go generate after changing either.
//go:generate go run ./cmd/coroheaders -define headerid.c
