//go:build !race

package roads

const raceEnabled = false
