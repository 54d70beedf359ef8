package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// screenshotDir is where the commuter page screenshots go:
// app/testdata/screenshots/ when ANPI_SCREENSHOTS is set (git-ignored),
// else the artifact dir of the console test.
func screenshotDir(t *testing.T) string {
	if os.Getenv("ANPI_SCREENSHOTS") != "" {
		d := filepath.Join("testdata", "screenshots")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return artifactDir(t)
}

// TestSheltersInBrowser drives the public commuter page in headless
// Chromium with a granted, emulated position near 東京タワー: the nearby
// facilities are listed, a party of 2 holds places, the hold shows its QR
// code, the check-in page opened from the hold shows the free places down
// by 2, and the self check-in with the hold turns it into occupancy; then a
// staff member signed in to the console checks one more person in there.
func TestSheltersInBrowser(t *testing.T) {
	bin := chromium(t)
	s := start(t, baseConfig(t, "embedded"))

	ctx := browserContext(t, bin, 412, 915)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted, Origin: s.url,
	}); err != nil {
		t.Fatalf("grant geolocation: %v", err)
	}
	lat, lng, acc := 35.6581, 139.7454, 10.0 // 東京タワー
	if _, err := chromedp.Call(ctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{
		Latitude: &lat, Longitude: &lng, Accuracy: &acc,
	}); err != nil {
		t.Fatalf("geolocation override: %v", err)
	}
	dir := screenshotDir(t)
	shot := func(name string) {
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	step := func(name string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, acts...); err != nil {
			msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Logf("page text: %.800s", msg)
			shot("shelters-failed.png")
			t.Fatalf("step %q: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}

	step("open page", chromedp.Navigate(s.url+"/shelters?lang=en"), chromedp.WaitVisible(chromedp.CSS("#locate")))
	// Bad input is refused kindly, in the page's language, before any call.
	step("party too large", chromedp.SetValue(chromedp.CSS("#party"), "25"), chromedp.Click(chromedp.CSS("#locate")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text("#error"); got != "Enter a group size from 1 to 20." {
		t.Errorf("error for party 25: %q", got)
	}
	step("locate", chromedp.SetValue(chromedp.CSS("#party"), "2"), chromedp.Click(chromedp.CSS("#locate")),
		chromedp.WaitVisible(chromedp.CSS("#list li[data-id] .hold-btn")))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#list li[data-id]').length`))
	if err != nil || n != 5 {
		t.Fatalf("%d facilities listed (%v), want 5", n, err)
	}
	marks, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#marks circle').length`))
	if marks != 6 {
		t.Errorf("map shows %d marks, want 5 facilities and you-are-here", marks)
	}
	first, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#list li[data-id]"), "data-id"))
	if err != nil || first.Value == "" {
		t.Fatalf("first facility id: %v", err)
	}
	fid := first.Value
	free0, err := strconv.Atoi(strings.Fields(text("#list li[data-id] .free"))[0])
	if err != nil {
		t.Fatalf("free places of the first facility: %v", err)
	}
	shot("shelters-list.png")

	step("hold", chromedp.Click(chromedp.CSS("#list li[data-id] .hold-btn")), chromedp.WaitVisible(chromedp.CSS("#hold")))
	holdID := text("#hold-id")
	if !strings.HasPrefix(holdID, "h_") {
		t.Fatalf("hold id %q", holdID)
	}
	if got := text("#hold-expires"); !strings.HasPrefix(got, "Released in 19:") && !strings.HasPrefix(got, "Released in 20:") {
		t.Errorf("countdown %q", got)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('hold-qr').naturalWidth > 0`)); err != nil || !ok {
		t.Errorf("hold QR code not shown: %v", err)
	}
	shot("shelters-hold.png")
	var f struct{ Occupancy, Held int }
	if code := s.call("GET", "/api/v1/facilities/"+fid, "", nil, &f); code != 200 || f.Held != 2 {
		t.Fatalf("after hold: %d %+v", code, f)
	}

	step("open check-in", chromedp.Click(chromedp.CSS("#hold-link")), chromedp.WaitVisible(chromedp.CSS("#self-form")))
	if got, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#self-hold"))); got != holdID {
		t.Errorf("hold prefilled %q, want %q", got, holdID)
	}
	if free, _ := strconv.Atoi(text("#fac-free")); free != free0-2 {
		t.Errorf("check-in page shows %d free, want %d (was %d before the hold of 2)", free, free0-2, free0)
	}
	step("self check-in", chromedp.Click(chromedp.CSS("#self-submit")), chromedp.WaitVisible(chromedp.CSS("#result")))
	if got := text("#result"); got != "2 checked in. Welcome." {
		t.Errorf("result %q", got)
	}
	shot("shelters-checkin.png")
	f = struct{ Occupancy, Held int }{}
	if code := s.call("GET", "/api/v1/facilities/"+fid, "", nil, &f); code != 200 || f.Held != 0 || f.Occupancy != 2 {
		t.Fatalf("after check-in: %d %+v, want 2 checked in and nothing held", code, f)
	}
	// The hold is used: a second try is refused kindly.
	step("reuse", chromedp.SetValue(chromedp.CSS("#self-hold"), holdID), chromedp.Click(chromedp.CSS("#self-submit")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text("#error"); got != "This hold number was not found or has already been used." {
		t.Errorf("reuse error %q", got)
	}

	// Staff signed in to the console use the staff check-in on the same page.
	s.staff("tanaka", "operator")
	step("staff login", chromedp.Navigate(s.url+"/console"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-name"), "tanaka"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "correct-horse-battery"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#conn-status[data-state="live"]`)))
	step("staff check-in", chromedp.Navigate(s.url+"/shelters/checkin/"+fid+"?lang=en"), chromedp.WaitVisible(chromedp.CSS("#staff-form")),
		chromedp.SendKeys(chromedp.CSS("#staff-count"), "1"), chromedp.Click(chromedp.CSS("#staff-submit")),
		chromedp.WaitVisible(chromedp.CSS("#result")))
	if got := text("#result"); got != "1 checked in. Welcome." {
		t.Errorf("staff result %q", got)
	}
	if free, _ := strconv.Atoi(text("#fac-free")); free != free0-3 {
		t.Errorf("after the staff check-in the page shows %d free, want %d", free, free0-3)
	}
	shot("shelters-staff.png")
	if code := s.call("GET", "/api/v1/facilities/"+fid, "", nil, &f); code != 200 || f.Occupancy != 3 {
		t.Fatalf("after staff check-in: %d %+v", code, f)
	}
	t.Logf("screenshots in %s", dir)
}

// TestSheltersRateLimit: the public endpoints share one bucket per client
// and answer 429 client_rate_limited with Retry-After once it is empty;
// webhooks are not limited.
func TestSheltersRateLimit(t *testing.T) {
	cfg := baseConfig(t, "embedded")
	cfg.PublicRateLimit.RPS, cfg.PublicRateLimit.Burst = 0.01, 4
	s := start(t, cfg)
	for i, p := range []string{"/shelters", "/api/v1/facilities/nearest?lat=35.6581&lng=139.7414", "/r/nope", "/shelters/static/app.css"} {
		resp, err := http.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d (%s) limited inside the burst", i+1, p)
		}
	}
	for _, p := range []string{"/api/v1/facilities", "/shelters/checkin/E1310300001111", "/r/nope"} {
		resp, err := http.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e apiError
		json.Unmarshal(body, &e)
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != 429 || e.Error.Code != "client_rate_limited" || ra < 1 {
			t.Errorf("%s over the limit: %d %q Retry-After %q", p, resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After"))
		}
	}
	if code := s.call("POST", "/api/v1/holds", "", map[string]any{"facility_id": "E1310300001111", "party": 1}, nil); code != 429 {
		t.Errorf("hold over the limit: %d", code)
	}
	if code := s.call("POST", "/api/v1/commuters/reports", "", map[string]any{"station": "shinagawa", "count": 1}, nil); code != 429 {
		t.Errorf("commuter self-report over the limit: %d", code)
	}
	// Webhooks are signature-checked, not rate-limited: a bad signature is
	// still a 401, not a 429.
	resp, err := http.Post(s.url+"/webhooks/line", "application/json", strings.NewReader(`{"events":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("webhook: %d, want 401", resp.StatusCode)
	}
	// Staff endpoints are not behind the public limiter either.
	if code := s.call("GET", "/api/v1/auth/me", testAdmin, nil, nil); code != 200 {
		t.Errorf("staff call: %d", code)
	}
}

// TestSheltersSelfCheckInStores runs the public hold → self check-in flow
// over HTTP on both storage engines.
func TestSheltersSelfCheckInEmbedded(t *testing.T) { runSelfCheckIn(t, "embedded") }
func TestSheltersSelfCheckInRedis(t *testing.T)    { runSelfCheckIn(t, "redis") }

func runSelfCheckIn(t *testing.T, backend string) {
	s := start(t, baseConfig(t, backend))
	const id = "E1310300001111"
	var h struct{ ID string }
	if code := s.call("POST", "/api/v1/holds", "", map[string]any{"facility_id": id, "party": 3}, &h); code != 201 {
		t.Fatalf("hold: %d", code)
	}
	var e apiError
	if code := s.call("POST", "/api/v1/holds/"+h.ID+"/checkin", "", map[string]any{"facility_id": id, "count": 4}, &e); code != 400 {
		t.Errorf("count above the party: %d %s", code, e.Error.Code)
	}
	var res struct {
		Facility struct{ Occupancy, Held int }
		Count    int
	}
	if code := s.call("POST", "/api/v1/holds/"+h.ID+"/checkin", "", map[string]any{"facility_id": id, "count": 2}, &res); code != 200 {
		t.Fatalf("self check-in: %d", code)
	}
	if res.Count != 2 || res.Facility.Occupancy != 2 || res.Facility.Held != 0 {
		t.Errorf("self check-in: %+v", res)
	}
	e = apiError{}
	if code := s.call("POST", "/api/v1/holds/"+h.ID+"/checkin", "", map[string]any{"facility_id": id}, &e); code != 404 || e.Error.Code != "hold_not_found" {
		t.Errorf("second use: %d %s", code, e.Error.Code)
	}
}

func TestPublicRateLimitConfig(t *testing.T) {
	cfg, err := LoadConfig("../configs/anpi.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.PublicRateLimit; got.RPS != Defaults().PublicRateLimit.RPS || got.Burst != Defaults().PublicRateLimit.Burst || len(got.TrustedProxies) != 0 {
		t.Errorf("configs/anpi.yaml public_rate_limit %+v differs from Defaults() %+v, or trusts a proxy", got, Defaults().PublicRateLimit)
	}
	cfg, err = LoadConfig(writeConfig(t, "public_rate_limit:\n  rps: 0\n  burst: 0\n  trusted_proxies: [10.0.0.0/8, \"::1\"]\n"), env(nil))
	if err != nil || cfg.PublicRateLimit.RPS != 0 || len(cfg.PublicRateLimit.TrustedProxies) != 2 {
		t.Fatalf("rps 0 (off) with proxies: %+v %v", cfg.PublicRateLimit, err)
	}
	for _, c := range []struct{ file, want string }{
		{"public_rate_limit:\n  rps: -1\n", "config: public_rate_limit.rps:"},
		{"public_rate_limit:\n  rps: 5\n  burst: 0\n", "config: public_rate_limit.burst:"},
		{"public_rate_limit:\n  max_clients: -5\n", "config: public_rate_limit.max_clients:"},
		{"public_rate_limit:\n  trusted_proxies: [proxy.local]\n", "config: public_rate_limit.trusted_proxies:"},
		{"public_rate_limit:\n  trusted: [10.0.0.1]\n", `unknown key "trusted"`},
	} {
		if _, err := LoadConfig(writeConfig(t, c.file), env(nil)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.file, err, c.want)
		}
	}
}
