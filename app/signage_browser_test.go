package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/minato-city/anpi/alert/signage"
)

// TestSignageInBrowser loads a screen's page in headless Chromium, sees a
// drill alert arrive live (drill bands shown), stops the server, and sees
// the page keep the alert with the "connection lost" indicator.
// Screenshots go to $ANPI_TEST_ARTIFACTS (signage-live.png, signage-lost.png).
func TestSignageInBrowser(t *testing.T) {
	bin := chromium(t)
	cfg := baseConfig(t, "embedded")
	cfg.Signage.Heartbeat = Duration(time.Second)
	s := start(t, cfg)
	sato, suzuki := s.staff("sato", "approver"), s.staff("suzuki", "approver")

	ctx := browserContext(t, bin, 1920, 1080)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	shoot := func(name string) {
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		p := filepath.Join(artifactDir(t), name)
		if err := os.WriteFile(p, shot, 0o644); err == nil {
			t.Logf("screenshot: %s", p)
		}
	}
	step := func(name string, act chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, act); err != nil {
			msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Logf("page text: %.600s", msg)
			shoot("signage-failed.png")
			t.Fatalf("signage step %q: %v", name, err)
		}
	}

	step("open with token", chromedp.Navigate(s.url+"/signage/akasaka?token="+signage.DemoTokenPrefix+"akasaka"))
	step("idle", chromedp.WaitVisible(chromedp.CSS(`body[data-mode="idle"] #idle-msg`)))
	step("live", chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || strings.Contains(url, "token=") {
		t.Fatalf("token left in the address bar: %q %v", url, err)
	}

	var created struct{ ID string }
	req := map[string]any{"severity": "severe", "title": map[string]string{"ja": "震度6弱 港区", "en": "Strong earthquake in Minato"},
		"body":   map[string]string{"ja": "強い揺れに警戒してください。落下物に注意。", "en": "Expect strong shaking. Beware of falling objects."},
		"target": map[string]any{"areas": []string{"akasaka"}}, "channels": []string{"signage"}, "drill": true}
	if code := s.call("POST", "/api/v1/alerts", sato, req, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/approve", suzuki, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	shown := `body[data-mode="alert"][data-drill="true"] #alert[data-id="` + created.ID + `"]`
	step("alert shown live", chromedp.WaitVisible(chromedp.CSS(shown)))
	step("drill band", chromedp.WaitVisible(chromedp.CSS(`#drill-top .drill-label`)))
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#alert-title")))
	if err != nil || (title != "震度6弱 港区" && title != "Strong earthquake in Minato") {
		t.Fatalf("title %q %v", title, err)
	}
	shoot("signage-live.png")

	// The link drops: the server stops.
	s.close()
	step("connection lost", chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="lost"]`)))
	step("alert still shown", chromedp.WaitVisible(chromedp.CSS(shown)))
	conn, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#conn")))
	if err != nil || !strings.Contains(conn, "Connection lost since") {
		t.Fatalf("indicator %q %v", conn, err)
	}
	saved, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("anpi-signage:akasaka") || ""`))
	if err != nil || !strings.Contains(saved, created.ID) {
		t.Fatalf("last state not kept in localStorage: %v", err)
	}
	shoot("signage-lost.png")
}
