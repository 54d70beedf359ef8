package routing

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const dataDir = "../configs/facilities"

func open(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func loadGSI(t testing.TB, name, kind string) []Facility {
	t.Helper()
	fs, err := LoadGSI(open(t, filepath.Join(dataDir, name)), kind, 300, StatusOpen)
	if err != nil {
		t.Fatalf("LoadGSI(%s): %v", name, err)
	}
	return fs
}

// minatoFacilities returns the 144 real GSI facilities of Minato.
func minatoFacilities(t testing.TB) []Facility {
	t.Helper()
	return append(loadGSI(t, "minato_shelters_gsi.geojson", KindShelter),
		loadGSI(t, "minato_evacuation_sites_gsi.geojson", KindEvacuationSite)...)
}

func minatoBoundary(t testing.TB) *Boundary {
	t.Helper()
	b, err := LoadBoundary(open(t, filepath.Join(dataDir, "minato_boundary.geojson")))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadGSIRealData(t *testing.T) {
	shelters := loadGSI(t, "minato_shelters_gsi.geojson", KindShelter)
	sites := loadGSI(t, "minato_evacuation_sites_gsi.geojson", KindEvacuationSite)
	kinds := map[string]int{}
	for _, f := range shelters {
		kinds[f.Kind]++
	}
	for _, f := range sites {
		kinds[f.Kind]++
	}
	want := map[string]int{KindShelter: 59, KindWelfareShelter: 24, KindEvacuationSite: 61}
	if len(shelters) != 83 || len(sites) != 61 {
		t.Errorf("got %d shelters, %d sites; want 83, 61", len(shelters), len(sites))
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("kind %s: %d, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
	ids := map[string]bool{}
	for _, f := range append(shelters, sites...) {
		if err := f.Validate(); err != nil {
			t.Errorf("invalid facility: %v", err)
		}
		if ids[f.ID] {
			t.Errorf("ID %s repeats across files", f.ID)
		}
		ids[f.ID] = true
		if !strings.HasPrefix(f.ID, "E13103") {
			t.Errorf("ID %s is not a Minato 共通ID", f.ID)
		}
		if !strings.HasPrefix(f.Address, "東京都港区") {
			t.Errorf("%s: address %q", f.ID, f.Address)
		}
		if f.Capacity != 300 || f.Status != StatusOpen || f.Occupancy != 0 {
			t.Errorf("%s: defaults not applied: %+v", f.ID, f)
		}
	}
	// First feature, checked by hand against the file.
	f := shelters[0]
	if f.ID != "E1310300001111" || f.Name != "南山小学校" || f.Address != "東京都港区元麻布3-8-15" ||
		f.Lat != 35.657226 || f.Lng != 139.731113 || f.Kind != KindShelter {
		t.Errorf("first shelter = %+v", f)
	}
}

func TestLoadGSIErrors(t *testing.T) {
	tests := []struct {
		file, kind, status string
		capacity           int
		want               string // substring of the error
	}{
		{"gsi_unavailable.json", KindEvacuationSite, StatusOpen, 0, "no data published"},
		{"gsi_bad_coordinates.json", KindShelter, StatusOpen, 0, "feature 1: point has 1 coordinates"},
		{"gsi_missing_id.json", KindShelter, StatusOpen, 0, "feature 2: empty 共通ID"},
		{"gsi_polygon.json", KindShelter, StatusOpen, 0, "feature 0: geometry is not a Point"},
		{"gsi_duplicate_id.json", KindShelter, StatusOpen, 0, "feature 1: 共通ID T1 repeats feature 0"},
		{"gsi_out_of_range.json", KindShelter, StatusOpen, 0, "feature 0: coordinates"},
		{"gsi_name_not_string.json", KindShelter, StatusOpen, 0, "feature 0: property 施設・場所名 is float64"},
		{"gsi_missing_id.json", "hotel", StatusOpen, 0, `unknown kind "hotel"`},
		{"gsi_missing_id.json", KindShelter, "maybe", 0, `unknown status "maybe"`},
		{"gsi_missing_id.json", KindShelter, StatusOpen, -1, "default capacity -1"},
		{"boundary_square_hole.geojson", KindShelter, StatusOpen, 0, `type "Feature", want FeatureCollection`},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.want, func(t *testing.T) {
			fs, err := LoadGSI(open(t, filepath.Join("testdata", tt.file)), tt.kind, tt.capacity, tt.status)
			if err == nil {
				t.Fatalf("no error, got %d facilities", len(fs))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
	_, err := LoadGSI(open(t, "testdata/gsi_unavailable.json"), KindEvacuationSite, 0, StatusOpen)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("stub error %v does not wrap ErrUnavailable", err)
	}
	if _, err := LoadGSI(strings.NewReader("{"), KindShelter, 0, StatusOpen); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestLoadStations(t *testing.T) {
	st, err := LoadStations(open(t, filepath.Join(dataDir, "minato_stations.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 33 {
		t.Fatalf("%d stations, want 33", len(st))
	}
	byName := map[string]Station{}
	for _, s := range st {
		byName[s.Name] = s
	}
	sh, ok := byName["品川"]
	if !ok || sh.Code != "100202" || sh.Kana != "しながわ" || sh.Lat != 35.628760 || sh.Lng != 139.738999 ||
		len(sh.Lines) != 7 || sh.Lines[2] != "JR山手線" {
		t.Errorf("品川 = %+v", sh)
	}

	bad := []struct{ name, csv, want string }{
		{"empty", "", "empty file"},
		{"no lat column", "code,name,lng\n1,a,139\n", `lacks column "lat"`},
		{"bad lat", "code,name,lat,lng\n1,a,35.6,139.7\n2,b,north,139.7\n", "line 3: lat"},
		{"out of range", "code,name,lat,lng\n1,a,139.7,35.6\n", "line 2: position"},
		{"no name", "code,name,lat,lng\n1,,35.6,139.7\n", "line 2: empty code or name"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadStations(strings.NewReader(tt.csv))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestBoundaryRealData(t *testing.T) {
	b := minatoBoundary(t)
	for _, f := range minatoFacilities(t) {
		if !b.Contains(f.Lat, f.Lng) || !b.Serves(f.Lat, f.Lng) {
			t.Errorf("%s %s (%v,%v) not inside Minato", f.ID, f.Name, f.Lat, f.Lng)
		}
	}
	st, err := LoadStations(open(t, filepath.Join(dataDir, "minato_stations.csv")))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !b.Serves(s.Lat, s.Lng) {
			t.Errorf("station %s not served", s.Name)
		}
	}

	tests := []struct {
		name          string
		lat, lng      float64
		contains, srv bool
	}{
		{"Tokyo Tower", 35.658581, 139.745433, true, true},
		{"Odaiba (separate part)", 35.6267, 139.7745, true, true},
		{"Shimbashi station (just outside the simplified polygon)", 35.666195, 139.758587, false, true},
		{"Shibuya station (~0.9 km out)", 35.658034, 139.701636, false, true},
		{"Tokyo station (~1.6 km out)", 35.681236, 139.767125, false, true},
		{"Shinjuku station (~2.2 km out)", 35.690921, 139.700258, false, true},
		{"Ikebukuro station (~5.4 km out)", 35.7295, 139.7109, false, false},
		{"Haneda airport (~8 km out)", 35.5494, 139.7798, false, false},
		{"Osaka", 34.702485, 135.495951, false, false},
		{"NaN", nanF(), 139.75, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.Contains(tt.lat, tt.lng); got != tt.contains {
				t.Errorf("Contains = %v, want %v (distance %.0f m)", got, tt.contains, b.DistanceM(tt.lat, tt.lng))
			}
			if got := b.Serves(tt.lat, tt.lng); got != tt.srv {
				t.Errorf("Serves = %v, want %v (distance %.0f m)", got, tt.srv, b.DistanceM(tt.lat, tt.lng))
			}
		})
	}
	// Distance to the border, computed independently (Python, same flat
	// projection): Shibuya station is 913 m from Minato's simplified border.
	if d := b.DistanceM(35.658034, 139.701636); math.Abs(d-913) > 5 {
		t.Errorf("Shibuya DistanceM = %.0f, want 913 ± 5", d)
	}
}

func TestBoundaryHoleAndMargin(t *testing.T) {
	b, err := LoadBoundary(open(t, "testdata/boundary_square_hole.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	b.MarginM = 500
	tests := []struct {
		name          string
		lat, lng      float64
		contains, srv bool
		dist          float64 // expected DistanceM, ±1 m
	}{
		{"inside ring", 35.62, 139.72, true, true, 0},
		// The hole's centre is 0.01° of longitude (≈ 905 m) from its
		// nearest edge: outside the polygon and beyond a 500 m margin.
		{"in the hole centre", 35.65, 139.75, false, false, 0.01 * EarthRadiusM * degToRad * cosDeg(35.65)},
		{"just west of the square", 35.65, 139.70 - 0.004, false, true, 0.004 * EarthRadiusM * degToRad * cosDeg(35.65)},
		{"far west", 35.65, 139.69, false, false, 0.01 * EarthRadiusM * degToRad * cosDeg(35.65)},
		{"north of the square", 35.71, 139.75, false, false, 0.01 * EarthRadiusM * degToRad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.Contains(tt.lat, tt.lng); got != tt.contains {
				t.Errorf("Contains = %v, want %v", got, tt.contains)
			}
			if got := b.Serves(tt.lat, tt.lng); got != tt.srv {
				t.Errorf("Serves = %v, want %v", got, tt.srv)
			}
			if got := b.DistanceM(tt.lat, tt.lng); got < tt.dist-1 || got > tt.dist+1 {
				t.Errorf("DistanceM = %.1f, want %.1f", got, tt.dist)
			}
		})
	}
	bad := []struct{ name, doc string }{
		{"not json", "{"},
		{"point", `{"type":"Point","coordinates":[139,35]}`},
		{"empty collection", `{"type":"FeatureCollection","features":[]}`},
		{"short ring", `{"type":"Polygon","coordinates":[[[139,35],[140,35]]]}`},
		{"bad vertex", `{"type":"Polygon","coordinates":[[[139,35],[140,35],[540,36]]]}`},
		{"feature without geometry", `{"type":"Feature"}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadBoundary(strings.NewReader(tt.doc)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestServesGridAgreesWithExactRule: the grid shortcut in Serves gives the
// exact rule's answer (distance to the area ≤ MarginM) for random positions
// all over and around the served area, most of them decided by the grid,
// and the grid is not used after MarginM changes.
func TestServesGridAgreesWithExactRule(t *testing.T) {
	b := minatoBoundary(t)
	rng := rand.New(rand.NewPCG(21, 22))
	const pad = 0.025 // degrees beyond the polygon's box: ≈ 2.5 km, inside the grid
	decided := 0
	for i := range 200_000 {
		lat := b.minLat - pad + rng.Float64()*(b.maxLat-b.minLat+2*pad)
		lng := b.minLng - pad + rng.Float64()*(b.maxLng-b.minLng+2*pad)
		want := b.DistanceM(lat, lng) <= b.MarginM
		if got := b.Serves(lat, lng); got != want {
			t.Fatalf("#%d (%v,%v): Serves %v, exact rule %v (distance %.1f m)", i, lat, lng, got, want, b.DistanceM(lat, lng))
		}
		if b.grid != nil && b.grid.at(lat, lng) != cellCheck {
			decided++
		}
	}
	if decided < 150_000 {
		t.Errorf("the grid decided only %d of 200000 positions", decided)
	}
	b.MarginM = 500
	for range 20_000 {
		lat := b.minLat - pad + rng.Float64()*(b.maxLat-b.minLat+2*pad)
		lng := b.minLng - pad + rng.Float64()*(b.maxLng-b.minLng+2*pad)
		if got, want := b.Serves(lat, lng), b.DistanceM(lat, lng) <= 500; got != want {
			t.Fatalf("after a margin change (%v,%v): Serves %v, exact %v", lat, lng, got, want)
		}
	}
}
