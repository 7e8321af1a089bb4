//go:build coro_openssl

package main

const tlsTagBuilt = true
