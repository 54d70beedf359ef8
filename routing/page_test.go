package routing

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

const testPublicURL = "https://anpi.example.city"

// newPages returns the page handler over the real Minato facilities,
// boundary and stations (fake store, as the other tests of this package).
func newPages(t testing.TB) (*Service, http.Handler) {
	t.Helper()
	s, _, _ := newSeeded(t, minatoBoundary(t))
	st, err := LoadStations(open(t, filepath.Join(dataDir, "minato_stations.csv")))
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.PageHandler(PageOptions{Stations: st, PublicURL: testPublicURL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

func get(h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPageLanguages(t *testing.T) {
	_, h := newPages(t)
	cases := []struct {
		target, accept, want, title string
	}{
		{"/shelters", "", "ja", "帰宅困難者の方へ"},
		{"/shelters", "en-US,en;q=0.9", "en", "Stranded? Find a place to stay nearby"},
		{"/shelters", "zh-TW,zh;q=0.8", "zh", "无法回家的旅客"},
		{"/shelters", "ko-KR", "ko", "귀가 곤란자 안내"},
		{"/shelters", "fr-FR,de;q=0.5", "ja", "帰宅困難者の方へ"},
		{"/shelters", "fr-FR,en;q=0.5", "en", "Stranded?"},
		{"/shelters?lang=ko", "en", "ko", "귀가 곤란자 안내"},
		{"/shelters?lang=xx", "zh", "zh", "无法回家的旅客"},
		{"/shelters?lang=en", "ja", "en", "Stranded?"},
	}
	for _, tc := range cases {
		w := get(h, tc.target, "Accept-Language", tc.accept)
		body := w.Body.String()
		if w.Code != 200 {
			t.Fatalf("%s (%s): %d", tc.target, tc.accept, w.Code)
		}
		if !strings.Contains(body, `<html lang="`+tc.want+`">`) || w.Header().Get("Content-Language") != tc.want {
			t.Errorf("%s with Accept-Language %q: lang %q, want %s", tc.target, tc.accept, w.Header().Get("Content-Language"), tc.want)
		}
		if !strings.Contains(body, tc.title) {
			t.Errorf("%s (%s): title %q missing", tc.target, tc.accept, tc.title)
		}
		// Every language is one tap away, the current one marked.
		for _, l := range []string{"ja", "en", "zh", "ko"} {
			if !strings.Contains(body, `hreflang="`+l+`"`) {
				t.Errorf("%s: no link to %s", tc.target, l)
			}
		}
		if !strings.Contains(body, `hreflang="`+tc.want+`" lang="`+tc.want+`" aria-current="page"`) {
			t.Errorf("%s: current language %s not marked", tc.target, tc.want)
		}
		if !strings.Contains(w.Header().Get("Vary"), "Accept-Language") {
			t.Errorf("no Vary: Accept-Language")
		}
	}
	// The page's script gets the messages of its language only.
	body := get(h, "/shelters?lang=en").Body.String()
	if !strings.Contains(body, "Your position is outside the area") || strings.Contains(body, "案内範囲外") {
		t.Error("English page does not carry (only) the English messages")
	}
	// The 33 stations are offered, with their positions.
	if n := strings.Count(body, `<option value="`) - 1; n != 33 {
		t.Errorf("%d stations offered, want 33", n)
	}
	if !strings.Contains(body, `data-lat="35.64818" data-lng="139.748775">三田(東京)（みた）</option>`) {
		t.Error("stations lack names or positions")
	}
}

func TestPageMessagesComplete(t *testing.T) {
	var dicts map[string]map[string]string
	raw, _ := webFS.ReadFile("web/i18n.json")
	if err := json.Unmarshal(raw, &dicts); err != nil {
		t.Fatal(err)
	}
	for l, d := range dicts {
		for k := range dicts["ja"] {
			if d[k] == "" {
				t.Errorf("%s lacks %q", l, k)
			}
		}
		if len(d) != len(dicts["ja"]) {
			t.Errorf("%s has %d messages, ja %d", l, len(d), len(dicts["ja"]))
		}
	}
	// Every error code the API gives the page has a message (else users
	// see the generic one).
	for _, code := range []string{"bad_request", "outside_area", "no_room", "facility_full", "facility_closed",
		"facility_checking", "facility_unsafe", "hold_expired", "hold_not_found", "not_found", "client_rate_limited"} {
		if dicts["en"]["err_"+code] == "" {
			t.Errorf("no message for error code %s", code)
		}
	}
}

var assetRe = regexp.MustCompile(`(?:src|href)="(/shelters/static/[^"]+)"`)

func TestPageSizeBudget(t *testing.T) {
	_, h := newPages(t)
	for _, page := range []string{"/shelters", "/shelters/checkin/E1310300001111?lang=en"} {
		w := get(h, page)
		if w.Code != 200 {
			t.Fatalf("%s: %d", page, w.Code)
		}
		total := w.Body.Len()
		assets := assetRe.FindAllStringSubmatch(w.Body.String(), -1)
		if len(assets) < 2 {
			t.Fatalf("%s references %d assets, want CSS and JS", page, len(assets))
		}
		for _, m := range assets {
			target := strings.ReplaceAll(m[1], "&amp;", "&")
			a := get(h, target)
			if a.Code != 200 {
				t.Fatalf("%s: asset %s: %d", page, target, a.Code)
			}
			total += a.Body.Len()
		}
		t.Logf("%s: %d bytes with its assets", page, total)
		if total >= 100_000 {
			t.Errorf("%s: %d bytes with its assets, budget 100 KB", page, total)
		}
	}
}

// externalRe finds absolute and protocol-relative URLs.
var externalRe = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*`)

func TestPageNoExternalURLs(t *testing.T) {
	_, h := newPages(t)
	bodies := map[string]string{}
	for _, p := range []string{"/shelters", "/shelters/checkin/E1310300001111"} {
		w := get(h, p)
		bodies[p] = w.Body.String()
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "http") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	entries, err := webFS.ReadDir("web")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := webFS.ReadFile("web/" + e.Name())
		bodies["web/"+e.Name()] = string(b)
	}
	for name, body := range bodies {
		for _, m := range externalRe.FindAllString(body, -1) {
			// The SVG namespace name is an identifier, never fetched.
			if m == "http://www.w3.org/2000/svg" {
				continue
			}
			t.Errorf("%s references %q", name, m)
		}
	}
}

func TestPageNearestETag(t *testing.T) {
	s, h := newPages(t)
	const q = "/shelters/nearest?lat=35.6581&lng=139.7414&party=2"
	w := get(h, q)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var ms []PageMatch
	if err := json.Unmarshal(w.Body.Bytes(), &ms); err != nil || len(ms) != DefaultPageLimit {
		t.Fatalf("%v: %d matches, want %d", err, len(ms), DefaultPageLimit)
	}
	etag := w.Header().Get("ETag")
	if etag == "" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, w.Header().Get("Cache-Control"))
	}
	// The same as Service.Nearest, trimmed.
	want, _ := s.Nearest(35.6581, 139.7414, DefaultPageLimit, 2)
	for i := range want {
		if ms[i].ID != want[i].Facility.ID || ms[i].Free != want[i].Free || ms[i].WalkMinutes != want[i].WalkMinutes {
			t.Errorf("match %d: %+v, want %+v", i, ms[i], want[i])
		}
	}
	// Nothing changed: 304 without a body.
	w2 := get(h, q, "If-None-Match", etag)
	if w2.Code != http.StatusNotModified || w2.Body.Len() != 0 {
		t.Fatalf("revalidation: %d with %d bytes, want 304 empty", w2.Code, w2.Body.Len())
	}
	// A hold changes the free places: a new body and ETag.
	if _, err := s.Hold(context.Background(), ms[0].ID, 2); err != nil {
		t.Fatal(err)
	}
	w3 := get(h, q, "If-None-Match", etag)
	if w3.Code != 200 || w3.Header().Get("ETag") == etag {
		t.Fatalf("after a hold: %d, ETag %q (was %q)", w3.Code, w3.Header().Get("ETag"), etag)
	}
	var ms3 []PageMatch
	json.Unmarshal(w3.Body.Bytes(), &ms3)
	for _, m := range ms3 {
		if m.ID == ms[0].ID && m.Free != ms[0].Free-2 {
			t.Errorf("free %d after hold of 2, was %d", m.Free, ms[0].Free)
		}
	}

	for _, tc := range []struct{ query, code string }{
		{"?lng=139.74&party=1", "bad_request"},
		{"?lat=35.65&lng=139.74&party=0", "bad_request"},
		{"?lat=35.65&lng=139.74&party=21", "bad_request"},
		{"?lat=35.65&lng=139.74&party=x", "bad_request"},
		{"?lat=91&lng=139.74", "bad_request"},
		{"?lat=NaN&lng=139.74", "bad_request"},
		{"?lat=35.65&lng=139.74&limit=21", "bad_request"},
		{"?lat=34.6937&lng=135.5023", "outside_area"}, // Osaka
	} {
		w := get(h, "/shelters/nearest"+tc.query)
		var e apiError
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != 400 || e.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want 400 %s", tc.query, w.Code, e.Error.Code, tc.code)
		}
	}
}

func TestPageStatic(t *testing.T) {
	_, h := newPages(t)
	w := get(h, "/shelters/static/shelters.js")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if !strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
	}
	if w2 := get(h, "/shelters/static/shelters.js", "If-None-Match", w.Header().Get("ETag")); w2.Code != 304 {
		t.Errorf("revalidation: %d", w2.Code)
	}
	for _, p := range []string{"/shelters/static/i18n.json", "/shelters/static/shelters.html", "/shelters/static/..%2fpage.go"} {
		if w := get(h, p); w.Code != 404 {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}
}

// qrGrid reads the dark modules back from an SVG drawn by qrSVG.
func qrGrid(t *testing.T, svg string) [][]bool {
	t.Helper()
	m := regexp.MustCompile(`viewBox="0 0 (\d+) \d+"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no viewBox in %.100s", svg)
	}
	n, _ := strconv.Atoi(m[1])
	g := make([][]bool, n)
	for i := range g {
		g[i] = make([]bool, n)
	}
	for _, r := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		w, _ := strconv.Atoi(r[3])
		for i := range w {
			g[y][x+i] = true
		}
	}
	return g
}

func TestPageQR(t *testing.T) {
	_, h := newPages(t)
	const id = "E1310300001111"
	hold := "h_" + strconv.FormatInt(time.Now().Unix(), 36) + "_abcdefghijklmnopqrstuvwxyz"
	for _, tc := range []struct {
		target, link, cache string
	}{
		{"/shelters/qr/" + id + ".svg", testPublicURL + "/shelters/checkin/" + id, "public, max-age=86400"},
		{"/shelters/qr/" + id + ".svg?hold=" + hold, testPublicURL + "/shelters/checkin/" + id + "?hold=" + hold, "private, no-store"},
	} {
		w := get(h, tc.target)
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("%s: %d %q", tc.target, w.Code, w.Header().Get("Content-Type"))
		}
		if got := w.Header().Get("Cache-Control"); got != tc.cache {
			t.Errorf("%s: Cache-Control %q, want %q", tc.target, got, tc.cache)
		}
		q, err := qrcode.New(tc.link, qrcode.Medium)
		if err != nil {
			t.Fatal(err)
		}
		want, got := q.Bitmap(), qrGrid(t, w.Body.String())
		if len(got) != len(want) {
			t.Fatalf("%s: %d modules, want %d", tc.target, len(got), len(want))
		}
		for y := range want {
			for x := range want[y] {
				if got[y][x] != want[y][x] {
					t.Fatalf("%s: module %d,%d differs from the QR code of %s", tc.target, x, y, tc.link)
				}
			}
		}
		if !strings.Contains(w.Body.String(), "<title>南山小学校</title>") {
			t.Errorf("%s: no accessible name", tc.target)
		}
	}
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/shelters/qr/nope.svg", 404},
		{"/shelters/qr/" + id, 404},
		{"/shelters/qr/" + id + ".svg?hold=javascript:alert(1)", 400},
		{"/shelters/qr/" + id + ".svg?hold=" + strings.Repeat("a", 300), 400},
	} {
		if w := get(h, tc.target); w.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.target, w.Code, tc.status)
		}
	}
	if _, err := qrSVG(strings.Repeat("x", maxQRContent+1), ""); err == nil {
		t.Error("qrSVG took an oversized content")
	}
}

func TestCheckinPage(t *testing.T) {
	s, h := newPages(t)
	const id = "E1310300001111"
	f, _ := s.Get(id)
	hold := "h_" + strconv.FormatInt(time.Now().Unix(), 36) + "_abcdefghijklmnopqrstuvwxyz"
	w := get(h, "/shelters/checkin/"+id+"?lang=en&hold="+hold)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, f.Name) || !strings.Contains(body, `data-facility="`+id+`"`) {
		t.Fatalf("%d %.300s", w.Code, body)
	}
	if !strings.Contains(body, `<dd id="fac-free">`+strconv.Itoa(f.Free())+`</dd>`) {
		t.Error("free places not shown")
	}
	if !strings.Contains(body, `value="`+hold+`"`) {
		t.Error("hold not prefilled")
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q for a page with a hold", w.Header().Get("Cache-Control"))
	}
	// Only a well-formed hold is echoed.
	w = get(h, "/shelters/checkin/"+id+`?hold=%22%3E%3Cscript%3Ealert(1)%3C/script%3E`)
	if strings.Contains(w.Body.String(), "<script>alert") || strings.Contains(w.Body.String(), "alert(1)") {
		t.Error("hold parameter reflected")
	}
	w = get(h, "/shelters/checkin/nope", "Accept-Language", "ko")
	if w.Code != 404 || !strings.Contains(w.Body.String(), "시설을 찾을 수 없습니다") {
		t.Errorf("unknown facility: %d %.200s", w.Code, w.Body.String())
	}
}

func TestMapSVG(t *testing.T) {
	s, _, _ := newSeeded(t, minatoBoundary(t))
	svg := string(mapSVG(s.opts.Boundary, s.List(), "Map <&>"))
	if n := strings.Count(svg, `class="fac"`); n != len(s.List()) {
		t.Errorf("%d facility dots, want %d", n, len(s.List()))
	}
	if !strings.Contains(svg, `<path class="ward"`) || strings.Count(svg, "Z") != 3 {
		t.Error("ward boundary (3 rings) not drawn")
	}
	if !strings.Contains(svg, "<title id=\"map-title\">Map &lt;&amp;&gt;</title>") {
		t.Error("title not escaped")
	}
	// The projection on the data attributes puts a facility where its dot is.
	attr := func(name string) float64 {
		m := regexp.MustCompile(`data-` + name + `="([-0-9.]+)"`).FindStringSubmatch(svg)
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	f := s.List()[0]
	x := (f.Lng - attr("lng0")) * attr("sx")
	y := (attr("lat0") - f.Lat) * attr("sy")
	want := fmt.Sprintf(`cx="%d" cy="%d"`, int(x+0.5), int(y+0.5))
	near := fmt.Sprintf(`cx="%d" cy="%d"`, int(x), int(y))
	if !strings.Contains(svg, want) && !strings.Contains(svg, near) {
		t.Errorf("no dot at %s for %s", want, f.ID)
	}
	if len(svg) > 12000 {
		t.Errorf("map is %d bytes", len(svg))
	}
}

func TestSelfCheckIn(t *testing.T) {
	clk := newClock(testNow)
	s, _, _ := newHoldService(t, clk.opts(), holdFacility("A", 10), holdFacility("B", 10))
	h := s.PublicHandler()
	ctx := context.Background()
	hold, err := s.Hold(ctx, "A", 3)
	if err != nil {
		t.Fatal(err)
	}
	post := func(holdID, body string) (int, apiError, SelfCheckInResult) {
		w := do(t, h, "POST", "/api/v1/holds/"+holdID+"/checkin", body)
		var e apiError
		var res SelfCheckInResult
		json.Unmarshal(w.Body.Bytes(), &e)
		json.Unmarshal(w.Body.Bytes(), &res)
		return w.Code, e, res
	}
	unchanged := func(step string) {
		t.Helper()
		if f, _ := s.Get("A"); f.Occupancy != 0 || f.Held != 3 {
			t.Fatalf("%s changed A: %+v", step, f)
		}
	}
	for _, tc := range []struct {
		name, hold, body string
		status           int
		code             string
	}{
		{"more than held", hold.ID, `{"facility_id":"A","count":4}`, 400, "bad_request"},
		{"negative", hold.ID, `{"facility_id":"A","count":-1}`, 400, "bad_request"},
		{"no facility", hold.ID, `{"count":1}`, 400, "bad_request"},
		{"unknown field", hold.ID, `{"facility_id":"A","party":1}`, 400, "bad_request"},
		{"other facility", hold.ID, `{"facility_id":"B"}`, 404, "hold_not_found"},
		{"unknown facility", hold.ID, `{"facility_id":"Z"}`, 404, "not_found"},
		{"guessed hold", "h_zzzzzz_abcdefghijklmnopqrstuvwxyz", `{"facility_id":"A"}`, 404, "hold_not_found"},
	} {
		code, e, _ := post(tc.hold, tc.body)
		if code != tc.status || e.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, e.Error.Code, tc.status, tc.code)
		}
		unchanged(tc.name)
	}
	// Two of the three arrive: two checked in, the third place freed.
	code, _, res := post(hold.ID, `{"facility_id":"A","count":2}`)
	if code != 200 || res.Count != 2 || res.Facility.Occupancy != 2 || res.Facility.Held != 0 || res.Facility.Free() != 8 {
		t.Fatalf("check-in: %d %+v", code, res)
	}
	// A hold is used once.
	if code, e, _ := post(hold.ID, `{"facility_id":"A"}`); code != 404 || e.Error.Code != "hold_not_found" {
		t.Errorf("second use: %d %s", code, e.Error.Code)
	}
	// No count: the whole party.
	h2, _ := s.Hold(ctx, "B", 4)
	if code, _, res := post(h2.ID, `{"facility_id":"B"}`); code != 200 || res.Count != 4 || res.Facility.Occupancy != 4 {
		t.Errorf("whole party: %d %+v", code, res)
	}
	// Expired.
	h3, _ := s.Hold(ctx, "B", 1)
	clk.Advance(DefaultHoldTTL)
	if code, e, _ := post(h3.ID, `{"facility_id":"B"}`); code != 410 || e.Error.Code != "hold_expired" {
		t.Errorf("expired: %d %s", code, e.Error.Code)
	}
	// The facility closed meanwhile.
	h4, _ := s.Hold(ctx, "B", 1)
	if _, err := s.Patch(ctx, "B", Patch{Status: ptr(StatusClosed)}); err != nil {
		t.Fatal(err)
	}
	if code, e, _ := post(h4.ID, `{"facility_id":"B"}`); code != 409 || e.Error.Code != "facility_closed" {
		t.Errorf("closed: %d %s", code, e.Error.Code)
	}
}

// BenchmarkPageNearest measures the commuter page's 15 s poll: a full answer
// and a revalidation that nothing changed (304), reporting bytes sent.
func BenchmarkPageNearest(b *testing.B) {
	_, h := newPages(b)
	const q = "/shelters/nearest?lat=35.6581&lng=139.7414&party=2"
	etag := get(h, q).Header().Get("ETag")
	for _, bc := range []struct {
		name string
		hdr  []string
		want int
	}{{"full", nil, 200}, {"not_modified", []string{"If-None-Match", etag}, 304}} {
		b.Run(bc.name, func(b *testing.B) {
			bytes := 0
			for b.Loop() {
				w := get(h, q, bc.hdr...)
				if w.Code != bc.want {
					b.Fatalf("%d, want %d", w.Code, bc.want)
				}
				bytes = w.Body.Len()
			}
			b.ReportMetric(float64(bytes), "body-bytes")
		})
	}
}
