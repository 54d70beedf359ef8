package app

import (
	"testing"
	"time"
)

func TestHoldsEmbedded(t *testing.T) { runHolds(t, "embedded") }
func TestHoldsRedis(t *testing.T)    { runHolds(t, "redis") }

// runHolds: a commuter holds places at the nearest facility over the public
// API, staff check the party in with the hold, and the free places every
// client sees follow each step.
func runHolds(t *testing.T, backend string) {
	s := start(t, baseConfig(t, backend))
	op := s.staff("tanaka", "operator")
	type facility struct {
		ID                        string
		Capacity, Occupancy, Held int
		Status                    string
	}
	get := func(id string) facility {
		t.Helper()
		var f facility
		if code := s.call("GET", "/api/v1/facilities/"+id, "", nil, &f); code != 200 {
			t.Fatalf("get facility: %d", code)
		}
		return f
	}
	var near []struct {
		Facility facility
		Free     int
	}
	if code := s.call("GET", "/api/v1/facilities/nearest?lat=35.6581&lng=139.7414&limit=1&party=3", "", nil, &near); code != 200 || len(near) != 1 {
		t.Fatalf("nearest: %d %+v", code, near)
	}
	id, free0 := near[0].Facility.ID, near[0].Free

	var raw map[string]any
	if code := s.call("POST", "/api/v1/holds", "", map[string]any{"facility_id": id, "party": 3}, &raw); code != 201 {
		t.Fatalf("hold: %d %v", code, raw)
	}
	holdID, _ := raw["id"].(string)
	if raw["facility_id"] != id || raw["party"] != 3.0 || holdID == "" {
		t.Fatalf("hold body %v", raw)
	}
	exp, err := time.Parse(time.RFC3339, raw["expires_at"].(string))
	if err != nil || time.Until(exp) < 19*time.Minute || time.Until(exp) > 21*time.Minute {
		t.Errorf("expires_at %v (%v), want about 20 minutes from now", raw["expires_at"], err)
	}
	if f := get(id); f.Held != 3 || f.Capacity-f.Occupancy-f.Held != free0-3 {
		t.Fatalf("after hold: %+v, free before %d", f, free0)
	}
	s.call("GET", "/api/v1/facilities/nearest?lat=35.6581&lng=139.7414&limit=20&party=1", "", nil, &near)
	for _, m := range near {
		if m.Facility.ID == id && m.Free != free0-3 {
			t.Errorf("nearest shows %d free, want %d", m.Free, free0-3)
		}
	}

	// Bad input changes nothing.
	var e apiError
	for _, tc := range []struct {
		path, token string
		body        any
		status      int
		code        string
	}{
		{"/api/v1/holds", "", map[string]any{"facility_id": id, "party": 0}, 400, "bad_request"},
		{"/api/v1/holds", "", map[string]any{"facility_id": id, "party": 1001}, 400, "bad_request"},
		{"/api/v1/holds", "", map[string]any{"facility_id": "nope", "party": 1}, 404, "not_found"},
		{"/api/v1/holds", "", map[string]any{"facility_id": id, "party": free0}, 409, "no_room"},
		{"/api/v1/facilities/" + id + "/checkins", "", map[string]any{"count": 3, "hold_id": holdID}, 401, ""},
		{"/api/v1/facilities/" + id + "/checkins", op, map[string]any{"count": 3, "hold_id": "h_zzzzzz_x"}, 404, "hold_not_found"},
		{"/api/v1/facilities/" + id + "/checkouts", op, map[string]any{"count": 1}, 409, "below_zero"},
	} {
		e = apiError{}
		if code := s.call("POST", tc.path, tc.token, tc.body, &e); code != tc.status || (tc.code != "" && e.Error.Code != tc.code) {
			t.Errorf("POST %s %v: %d %s, want %d %s", tc.path, tc.body, code, e.Error.Code, tc.status, tc.code)
		}
	}
	if f := get(id); f.Held != 3 || f.Occupancy != 0 {
		t.Fatalf("refused requests changed the facility: %+v", f)
	}

	// Check-in with the hold: occupancy up, hold gone, free places the same.
	var f facility
	if code := s.call("POST", "/api/v1/facilities/"+id+"/checkins", op, map[string]any{"count": 3, "hold_id": holdID}, &f); code != 200 {
		t.Fatalf("check-in: %d", code)
	}
	if f.Occupancy != 3 || f.Held != 0 {
		t.Fatalf("after check-in: %+v", f)
	}
	if g := get(id); g != f || g.Capacity-g.Occupancy-g.Held != free0-3 {
		t.Errorf("public view %+v, want %+v", g, f)
	}
	e = apiError{}
	if code := s.call("POST", "/api/v1/facilities/"+id+"/checkins", op, map[string]any{"count": 3, "hold_id": holdID}, &e); code != 404 {
		t.Errorf("hold used twice: %d %s", code, e.Error.Code)
	}
	if code := s.call("POST", "/api/v1/facilities/"+id+"/checkouts", op, map[string]any{"count": 2}, &f); code != 200 || f.Occupancy != 1 {
		t.Errorf("check-out: %d %+v", code, f)
	}
	if g := get(id); g.Capacity-g.Occupancy-g.Held != free0-1 {
		t.Errorf("after check-out: %+v", g)
	}
}
