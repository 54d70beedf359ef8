package routing

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(t testing.TB, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestPublicHandlerOK(t *testing.T) {
	s, _, _ := newSeeded(t, minatoBoundary(t))
	h := s.PublicHandler()

	t.Run("list", func(t *testing.T) {
		w := do(t, h, "GET", "/api/v1/facilities", "")
		var fs []Facility
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &fs) != nil || len(fs) != 144 {
			t.Fatalf("%d %s", w.Code, w.Body.String()[:min(200, w.Body.Len())])
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("list filtered", func(t *testing.T) {
		tests := []struct {
			query string
			n     int
		}{
			{"?kind=welfare_shelter", 24},
			{"?kind=evacuation_site&status=open", 61},
			{"?status=closed", 0},
			{"?kind=temporary_stay", 0},
		}
		for _, tt := range tests {
			w := do(t, h, "GET", "/api/v1/facilities"+tt.query, "")
			var fs []Facility
			if err := json.Unmarshal(w.Body.Bytes(), &fs); w.Code != 200 || err != nil || fs == nil || len(fs) != tt.n {
				t.Errorf("%s: %d, %d facilities (%s), want %d", tt.query, w.Code, len(fs), w.Body.String()[:min(80, w.Body.Len())], tt.n)
			}
		}
	})
	t.Run("get", func(t *testing.T) {
		w := do(t, h, "GET", "/api/v1/facilities/E1310300001111", "")
		var raw map[string]any
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &raw) != nil {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		for _, k := range []string{"id", "name", "kind", "address", "lat", "lng", "capacity", "occupancy", "held", "status", "accessible", "pets", "updated_at"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("field %q missing in %s", k, w.Body)
			}
		}
		if raw["name"] != "南山小学校" || raw["updated_at"] != "2026-12-01T14:46:00Z" {
			t.Errorf("body %s", w.Body)
		}
	})
	t.Run("nearest", func(t *testing.T) {
		// Tokyo Tower.
		w := do(t, h, "GET", "/api/v1/facilities/nearest?lat=35.658581&lng=139.745433&limit=4&party=2", "")
		var raw []map[string]any
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &raw) != nil || len(raw) != 4 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		for _, k := range []string{"facility", "distance_m", "walk_minutes", "free"} {
			if _, ok := raw[0][k]; !ok {
				t.Errorf("field %q missing in %v", k, raw[0])
			}
		}
		var ms []Match
		if err := json.Unmarshal(w.Body.Bytes(), &ms); err != nil {
			t.Fatal(err)
		}
		want := bruteNearest(s.List(), 35.658581, 139.745433, 4, 2)
		if fmt.Sprint(ids(ms)) != fmt.Sprint(ids(want)) {
			t.Errorf("nearest %v, want %v", ids(ms), ids(want))
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].DistanceM < ms[i-1].DistanceM { // all have room: plain distance order
				t.Errorf("not sorted by distance: %v", ms)
			}
		}
	})
	t.Run("nearest defaults", func(t *testing.T) {
		w := do(t, h, "GET", "/api/v1/facilities/nearest?lat=35.658581&lng=139.745433", "")
		var ms []Match
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &ms) != nil || len(ms) != DefaultLimit {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("nearest nothing fits", func(t *testing.T) {
		w := do(t, h, "GET", "/api/v1/facilities/nearest?lat=35.65&lng=139.75&party=999", "")
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "[]" {
			t.Fatalf("%d %q, want 200 []", w.Code, w.Body)
		}
	})
}

func TestPublicHandlerErrors(t *testing.T) {
	s, _, _ := newSeeded(t, minatoBoundary(t))
	h := s.PublicHandler()
	tests := []struct {
		name, target string
		status       int
		code         string
	}{
		{"unknown id", "/api/v1/facilities/E999", 404, "not_found"},
		{"bad status filter", "/api/v1/facilities?status=maybe", 400, "bad_request"},
		{"bad kind filter", "/api/v1/facilities?kind=hotel", 400, "bad_request"},
		{"missing lat", "/api/v1/facilities/nearest?lng=139.75", 400, "bad_request"},
		{"missing lng", "/api/v1/facilities/nearest?lat=35.65", 400, "bad_request"},
		{"non-numeric lat", "/api/v1/facilities/nearest?lat=abc&lng=139.75", 400, "bad_request"},
		{"NaN lng", "/api/v1/facilities/nearest?lat=35.65&lng=NaN", 400, "bad_request"},
		{"Inf lat", "/api/v1/facilities/nearest?lat=Inf&lng=139.75", 400, "bad_request"},
		{"lat out of range", "/api/v1/facilities/nearest?lat=95&lng=139.75", 400, "bad_request"},
		{"limit not a number", "/api/v1/facilities/nearest?lat=35.65&lng=139.75&limit=three", 400, "bad_request"},
		{"limit 0", "/api/v1/facilities/nearest?lat=35.65&lng=139.75&limit=0", 400, "bad_request"},
		{"limit 21", "/api/v1/facilities/nearest?lat=35.65&lng=139.75&limit=21", 400, "bad_request"},
		{"party 0", "/api/v1/facilities/nearest?lat=35.65&lng=139.75&party=0", 400, "bad_request"},
		{"party 1.5", "/api/v1/facilities/nearest?lat=35.65&lng=139.75&party=1.5", 400, "bad_request"},
		{"outside the area", "/api/v1/facilities/nearest?lat=34.70&lng=135.49", 400, "outside_area"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(t, h, "GET", tt.target, "")
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
				t.Errorf("%d %s, want %d %s", w.Code, w.Body, tt.status, tt.code)
			}
		})
	}
	if w := do(t, h, "POST", "/api/v1/facilities/nearest?lat=35.65&lng=139.75", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", w.Code)
	}
	if w := do(t, h, "PATCH", "/api/v1/facilities/E1310300001111", `{"status":"closed"}`); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PATCH on the public handler: %d, want 405", w.Code)
	}
}

func TestStaffHandlerPatch(t *testing.T) {
	s, _, _ := newSeeded(t, nil)
	h := s.StaffHandler()
	const path = "/api/v1/facilities/E1310300001111"
	w := do(t, h, "PATCH", path, `{"capacity":120,"occupancy":120}`)
	var f Facility
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &f) != nil || f.Status != StatusFull || f.Capacity != 120 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"unknown field", path, `{"capacty":1}`, 400},
		{"bad status", path, `{"status":"shut"}`, 400},
		{"capacity below occupancy", path, `{"capacity":100}`, 400},
		{"not json", path, `status=open`, 400},
		{"unknown id", "/api/v1/facilities/E0", `{"status":"open"}`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(t, h, "PATCH", tt.path, tt.body)
			var e apiError
			if w.Code != tt.status || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Message == "" {
				t.Errorf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
			if got, _ := s.Get("E1310300001111"); got != f {
				t.Errorf("facility changed to %+v", got)
			}
		})
	}
}

// BenchmarkNearestHTTP measures the nearest endpoint through the handler
// (httptest, no network): parsing, validation incl. the boundary, the index
// and JSON encoding.
func BenchmarkNearestHTTP(b *testing.B) {
	s, _, _ := newSeeded(b, minatoBoundary(b))
	h := s.PublicHandler()
	ps := benchPoints(1024)
	targets := make([]string, len(ps))
	for i, p := range ps {
		targets[i] = fmt.Sprintf("/api/v1/facilities/nearest?lat=%.6f&lng=%.6f&limit=3&party=1", p[0], p[1])
	}
	b.ReportAllocs()
	cpu0, _ := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := httptest.NewRequest("GET", targets[i%len(targets)], nil)
			i++
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				panic(w.Body.String())
			}
		}
	})
	reportThroughput(b, cpu0)
}
