//go:build race

package coro

// static void coro__go_race_sync(void) {}
import "C"

// raceSync gives the race detector the order that the engine's atomics
// give the program: a Wait that sees its coroutine finish through the
// done word or slot (atomic loads of C memory, which the detector does not
// see) then reads what the coroutine's Go callbacks wrote. Every cgo call
// orders itself after all earlier ones for the detector (the runtime's
// racecgosync), callbacks included, so an empty call is enough. Only race
// builds make it; until the poller left the record's release to the
// taker of its key, that release made it.
func raceSync() { C.coro__go_race_sync() }

// raceBuild reports a build with the race detector (tests).
const raceBuild = true
