//go:build race

package main

// raceEnabled: the test builds the child with -race too, so that every
// package but main comes from the build cache the test's own build filled.
const raceEnabled = true
