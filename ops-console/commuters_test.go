package console

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

// commuterServer is the staff API with the commuter routes over a real bolt
// store, the real stations and two open facilities near 品川.
func commuterServer(t *testing.T) (*httptest.Server, *Auth) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	fac, err := routing.New(repo.Facilities{B: db}, nil, routing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fac.Seed(ctx, []routing.Facility{
		{ID: "A", Name: "避難所A", Kind: routing.KindShelter, Status: routing.StatusOpen, Lat: 35.6308, Lng: 139.739, Capacity: 60},
		{ID: "B", Name: "避難所B", Kind: routing.KindShelter, Status: routing.StatusOpen, Lat: 35.6350, Lng: 139.739, Capacity: 30},
	}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../configs/facilities/minato_stations.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stations, err := routing.LoadStations(f)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := routing.NewCommuters(repo.Commuters{B: db}, fac, routing.CommuterOptions{Stations: stations})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	auth := NewAuth(db, "", false, log)
	api := &API{Auth: auth, Facilities: fac, Commuters: cm, Log: log}
	mux := http.NewServeMux()
	api.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, auth
}

func staffToken(t *testing.T, auth *Auth, name, role string) string {
	t.Helper()
	_, tok, err := auth.CreateStaff(context.Background(), name, role, "correct-horse-battery", "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func do(t *testing.T, method, url, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(data, &out)
	return res.StatusCode, out
}

func TestCommuterReportRoutes(t *testing.T) {
	srv, auth := commuterServer(t)
	op := staffToken(t, auth, "op1", "operator")
	viewer := staffToken(t, auth, "view1", "viewer")
	reports := srv.URL + "/api/v1/commuters/reports"
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	// No credentials: a public self-report.
	if st, body := do(t, "POST", reports, `{"station":"品川","count":2}`, nil); st != 200 || body["kind"] != "self" {
		t.Errorf("self-report: %d %v", st, body)
	}
	if st, _ := do(t, "POST", reports, `{"station":"品川","count":50}`, nil); st != 400 {
		t.Errorf("self-report of 50: %d, want 400", st)
	}
	// An operator's token: a staff report, audited.
	if st, body := do(t, "POST", reports, `{"station":"100202","count":120}`, bearer(op)); st != 200 || body["kind"] != "staff" {
		t.Errorf("staff report: %d %v", st, body)
	}
	// Credentials that do not allow a staff report are refused, never
	// taken as a self-report.
	for name, hdr := range map[string]map[string]string{
		"viewer":      bearer(viewer),
		"bad token":   bearer("anpi_nope"),
		"not bearer":  {"Authorization": "Basic eDp5"},
		"bad session": {"Cookie": SessionCookie + "=expired"},
	} {
		if st, _ := do(t, "POST", reports, `{"station":"品川","count":3}`, hdr); st != 401 && st != 403 {
			t.Errorf("%s: %d, want 401 or 403", name, st)
		}
	}
	// A session must send its CSRF token.
	sid, p, err := auth.Login(context.Background(), "op1", "correct-horse-battery")
	if err != nil {
		t.Fatal(err)
	}
	cookie := map[string]string{"Cookie": SessionCookie + "=" + sid}
	if st, body := do(t, "POST", reports, `{"station":"品川","count":7}`, cookie); st != 403 {
		t.Errorf("session without CSRF: %d %v", st, body)
	}
	cookie["X-CSRF-Token"] = p.CSRF
	if st, body := do(t, "POST", reports, `{"station":"品川","count":130}`, cookie); st != 200 || body["kind"] != "staff" {
		t.Errorf("session with CSRF: %d %v", st, body)
	}

	// The view needs a viewer. The self-report came in the same 5-minute
	// bucket as the staff reports, so it still counts (see routing.Commuters).
	if st, _ := do(t, "GET", srv.URL+"/api/v1/commuters", "", nil); st != 401 {
		t.Errorf("anonymous view: %d", st)
	}
	st, v := do(t, "GET", srv.URL+"/api/v1/commuters", "", bearer(viewer))
	if st != 200 {
		t.Fatalf("view: %d %v", st, v)
	}
	first := v["stations"].([]any)[0].(map[string]any)
	totals := v["totals"].(map[string]any)
	if first["code"] != "100202" || first["staff_count"] != 130.0 || first["self_count"] != 2.0 || first["stranded"] != 130.0 ||
		first["overflow"] != 40.0 || totals["assigned"] != 90.0 || first["staff_by"] != "op1" {
		t.Errorf("view: first %v totals %v", first, totals)
	}

	// Every authenticated staff attempt is in the audit log with its
	// outcome (Require logs neither failed authentication nor a missing
	// CSRF token); the public self-reports are not.
	es, err := auth.AuditLog(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		if e.Action == "POST /api/v1/commuters/reports" {
			got = append(got, e.Actor+":"+http.StatusText(e.Status))
		}
	}
	want := []string{"op1:OK", "view1:Forbidden", "op1:OK"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit %v, want %v", got, want)
	}
}
