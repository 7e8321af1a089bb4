//go:build !race

package coro

// raceSync: see race.go. Nothing to do without the race detector.
func raceSync() {}

// raceBuild reports a build with the race detector (tests).
const raceBuild = false
