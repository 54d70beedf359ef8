//go:build race

package roads

// raceEnabled: the race detector makes sync.Pool drop entries at random, so
// allocation counts mean nothing under it.
const raceEnabled = true
