//go:build !race

package tenancy_test

// raceEnabled: the race detector slows hashing down some twentyfold.
const raceEnabled = false
