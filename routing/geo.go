package routing

import "math"

// EarthRadiusM is the mean Earth radius used for great-circle distances.
const EarthRadiusM = 6371000.0

// WalkFactor turns a great-circle distance into a walking-distance estimate:
// the straight line × 1.2 (a common detour factor for a dense street grid
// such as Minato's). It applies when no road graph is loaded
// (Options.Roads), and with one, to positions off the graph or with no path
// between them.
const WalkFactor = 1.2

// WalkSpeedMPerMin is the walking pace assumed for crowded streets after a
// quake: 4 km/h.
const WalkSpeedMPerMin = walkSpeedMPerHour / 60.0

const walkSpeedMPerHour = 4000.0

const degToRad = math.Pi / 180

// Haversine returns the great-circle distance in meters between two WGS84
// positions given in degrees.
func Haversine(lat1, lng1, lat2, lng2 float64) float64 {
	p1, l1 := lat1*degToRad, lng1*degToRad
	p2, l2 := lat2*degToRad, lng2*degToRad
	return haversineRad(p1, l1, math.Cos(p1), p2, l2, math.Cos(p2))
}

// haversineRad is Haversine on radians with the cosines of both latitudes
// precomputed. The index and Haversine share it so that both give bit-equal
// results for the same positions (the brute-force test relies on that).
func haversineRad(p1, l1, cos1, p2, l2, cos2 float64) float64 {
	sp := math.Sin((p2 - p1) / 2)
	sl := math.Sin((l2 - l1) / 2)
	a := sp*sp + cos1*cos2*sl*sl
	return 2 * EarthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// WalkDistanceM returns the estimated walking distance in meters between two
// positions: the great-circle distance × WalkFactor.
func WalkDistanceM(lat1, lng1, lat2, lng2 float64) float64 {
	return Haversine(lat1, lng1, lat2, lng2) * WalkFactor
}

// WalkMinutes returns the minutes needed to walk meters at WalkSpeedMPerMin,
// rounded up (0 for 0 m or less).
func WalkMinutes(meters float64) int {
	if !(meters > 0) {
		return 0
	}
	return int(math.Ceil(meters * 60 / walkSpeedMPerHour))
}
