package routing

import (
	"math"
	"testing"
)

func nanF() float64 { return math.NaN() }

func negInf() float64 { return math.Inf(-1) }

func cosDeg(d float64) float64 { return math.Cos(d * degToRad) }

func TestHaversine(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lng1, lat2, lng2 float64
		want, tol              float64 // meters
	}{
		// Station coordinates from minato_stations.csv. The brief said
		// "about 1.8 km"; the stations are 2.04 km apart as the crow flies
		// (1.89 km north–south, 0.78 km east–west); Vincenty's formula on
		// the WGS84 ellipsoid, computed separately, gives 2,037 m.
		{"品川↔田町", 35.628760, 139.738999, 35.645736, 139.747575, 2036, 0.01 * 2036},
		{"same point", 35.65, 139.75, 35.65, 139.75, 0, 1e-9},
		{"one degree of latitude", 35, 139, 36, 139, EarthRadiusM * degToRad, 1e-6},
		{"equator quarter", 0, 0, 0, 90, EarthRadiusM * math.Pi / 2, 1e-6},
		{"antipodes", 0, 0, 0, 180, EarthRadiusM * math.Pi, 1e-6},
		{"across the antimeridian", 0, 179.5, 0, -179.5, EarthRadiusM * degToRad, 1e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Haversine(tt.lat1, tt.lng1, tt.lat2, tt.lng2)
			if math.Abs(got-tt.want) > tt.tol {
				t.Errorf("Haversine = %.3f m, want %.3f ± %.3f", got, tt.want, tt.tol)
			}
			if back := Haversine(tt.lat2, tt.lng2, tt.lat1, tt.lng1); math.Abs(back-got) > 1e-6 {
				t.Errorf("not symmetric: %v vs %v", got, back)
			}
		})
	}
	if got, want := WalkDistanceM(35.628760, 139.738999, 35.645736, 139.747575), 2036*1.2; math.Abs(got-want) > 0.01*want {
		t.Errorf("WalkDistanceM = %.0f, want %.0f", got, want)
	}
}

func TestWalkMinutes(t *testing.T) {
	tests := []struct {
		m    float64
		want int
	}{
		{0, 0}, {-5, 0}, {math.NaN(), 0}, {1, 1}, {66.6, 1}, {66.7, 2},
		{1000, 15}, {1001, 16}, {4000, 60}, {2036 * 1.2, 37},
	}
	for _, tt := range tests {
		if got := WalkMinutes(tt.m); got != tt.want {
			t.Errorf("WalkMinutes(%v) = %d, want %d", tt.m, got, tt.want)
		}
	}
}

func TestLoadPenalty(t *testing.T) {
	tests := []struct {
		free, capacity int
		want           float64
	}{
		{100, 100, 0}, {20, 100, 0}, {21, 100, 0},
		{10, 100, 0.5}, {1, 100, 0.95}, {0, 100, 1},
		{0, 0, 1}, {-3, 100, 1},
	}
	for _, tt := range tests {
		if got := LoadPenalty(tt.free, tt.capacity); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("LoadPenalty(%d, %d) = %v, want %v", tt.free, tt.capacity, got, tt.want)
		}
	}
}

func TestFree(t *testing.T) {
	tests := []struct {
		f    Facility
		want int
	}{
		{Facility{Capacity: 100}, 100},
		{Facility{Capacity: 100, Occupancy: 60, Held: 30}, 10},
		{Facility{Capacity: 100, Occupancy: 80, Held: 30}, 0},
		{Facility{}, 0},
	}
	for _, tt := range tests {
		if got := tt.f.Free(); got != tt.want {
			t.Errorf("%+v.Free() = %d, want %d", tt.f, got, tt.want)
		}
	}
}
