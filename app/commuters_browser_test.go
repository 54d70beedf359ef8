package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCommutersPanelInBrowser drives the "Stranded commuters" panel in
// headless Chromium: the plan is shown, a public self-report arrives
// through the API, and a staff count sent from the panel's form replaces
// it; the row shows the new count and the audit log has the staff report.
func TestCommutersPanelInBrowser(t *testing.T) {
	bin := chromium(t)
	s := start(t, baseConfig(t, "embedded"))
	s.staff("tanaka", "operator")
	if code := s.call("POST", "/api/v1/commuters/reports", "", `{"station":"品川","count":4}`, nil); code != 200 {
		t.Fatalf("self-report: %d", code)
	}

	ctx := browserContext(t, bin, 1280, 2400)

	row := `#commuters tr.commuter-row[data-id="100202"]`
	steps := []struct {
		name string
		act  chromedp.Action[chromedp.Void]
	}{
		{"open console", chromedp.Navigate(s.url + "/console")},
		{"login form", chromedp.WaitVisible(chromedp.CSS("#login-form"))},
		{"name", chromedp.SendKeys(chromedp.CSS("#login-name"), "tanaka")},
		{"password", chromedp.SendKeys(chromedp.CSS("#login-password"), "correct-horse-battery")},
		{"sign in", chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`))},
		{"plan shown", chromedp.WaitVisible(chromedp.CSS(row + `[data-stranded="true"]`))},
		{"open form", chromedp.Click(chromedp.CSS("#commuter-form-box summary"))},
		{"station", chromedp.SetValue(chromedp.CSS("#commuter-station"), "100202")},
		{"count", chromedp.SendKeys(chromedp.CSS("#commuter-count"), "250")},
		{"report", chromedp.Click(chromedp.CSS("#commuter-submit"))},
		{"reported", chromedp.WaitVisible(chromedp.CSS("#commuter-form-result"))},
	}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	for _, st := range steps {
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		err := chromedp.Do(sctx, st.act)
		scancel()
		if err != nil {
			msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Logf("page text: %.800s", msg)
			shot, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			os.WriteFile(filepath.Join(artifactDir(t), "commuters-failed.png"), shot, 0o644)
			t.Fatalf("commuters step %q: %v", st.name, err)
		}
	}
	// The self-report falls in the staff report's 5-minute bucket, so it
	// still shows (routing.SelfReportResolution); stranded is the larger.
	for cell, want := range map[string]string{"stranded": "250", "staff": "250", "self": "4", "name": "品川"} {
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row+` td[data-field="`+cell+`"]`)))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("品川 %s: %q, want %q", cell, got, want)
		}
	}
	var audit struct {
		Entries []struct{ Actor, Action string }
	}
	if code := s.call("GET", "/api/v1/audit", testAdmin, nil, &audit); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	found := false
	for _, e := range audit.Entries {
		found = found || (e.Actor == "tanaka" && e.Action == "POST /api/v1/commuters/reports")
	}
	if !found {
		t.Errorf("staff report from the console not audited: %+v", audit.Entries)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		p := filepath.Join(artifactDir(t), "commuters.png")
		if os.WriteFile(p, shot, 0o644) == nil {
			t.Logf("screenshot: %s", p)
		}
	}
}
