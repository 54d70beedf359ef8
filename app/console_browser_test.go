package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser for the console tests, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("ANPI_TEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Skip("no Chromium (set ANPI_TEST_CHROMIUM): skipping the console browser test")
	return ""
}

// browserContext starts headless Chromium at bin with a window of w × h
// pixels and returns its context, cancelled when the test ends.
func browserContext(t *testing.T, bin string, w, h int) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(w, h),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	return ctx
}

// artifactDir is where screenshots are kept: $ANPI_TEST_ARTIFACTS, or the
// test's temp dir.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("ANPI_TEST_ARTIFACTS"); d != "" {
		os.MkdirAll(d, 0o755)
		return d
	}
	return t.TempDir()
}

// TestConsoleInBrowser drives the real console in headless Chromium: log in,
// send a drill, see it wait for approval, see it complete live once another
// staff member approves it.
func TestConsoleInBrowser(t *testing.T) {
	bin := chromium(t)
	s := start(t, baseConfig(t, "embedded"))
	s.staff("sato", "approver")
	suzuki := s.staff("suzuki", "approver")

	ctx := browserContext(t, bin, 1280, 1600)

	steps := []struct {
		name string
		act  chromedp.Action[chromedp.Void]
	}{
		{"open console", chromedp.Navigate(s.url + "/console")},
		{"login form", chromedp.WaitVisible(chromedp.CSS("#login-form"))},
		{"name", chromedp.SendKeys(chromedp.CSS("#login-name"), "sato")},
		{"password", chromedp.SendKeys(chromedp.CSS("#login-password"), "correct-horse-battery")},
		{"sign in", chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`))},
		{"live", chromedp.WaitVisible(chromedp.CSS(`#conn-status[data-state="live"]`))},
		{"facilities shown", chromedp.WaitVisible(chromedp.CSS(`#facilities tr.facility-row`))},
		{"open form", chromedp.Click(chromedp.CSS("#alert-form-box summary"))},
		{"title", chromedp.SendKeys(chromedp.CSS(`#alert-form input[name="title_ja"]`), "震度6弱 港区")},
		{"body", chromedp.SendKeys(chromedp.CSS(`#alert-form textarea[name="body_ja"]`), "強い揺れに警戒してください")},
		{"send", chromedp.Click(chromedp.CSS("#alert-submit"))},
		{"pending row", chromedp.WaitVisible(chromedp.CSS(`#alerts article.alert-row[data-status="pending_approval"][data-drill="true"]`))},
	}
	// The first action starts the browser, bound to the context it runs in.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	for _, st := range steps {
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		err := chromedp.Do(sctx, st.act)
		scancel()
		if err != nil {
			status, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#conn-status"), "data-state"))
			msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Logf("conn-status %q; page text: %.600s", status.Value, msg)
			shot, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			os.WriteFile(filepath.Join(artifactDir(t), "console-failed.png"), shot, 0o644)
			t.Fatalf("console step %q: %v", st.name, err)
		}
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#alerts article.alert-row`), "data-id"))
	if err != nil {
		t.Fatal(err)
	}
	alertID := attr.Value
	if alertID == "" {
		t.Fatal("alert row has no id")
	}
	// The second person approves (here through the API); the page updates live.
	if code := s.call("POST", "/api/v1/alerts/"+alertID+"/approve", suzuki, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	err = chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`#alerts article.alert-row[data-status="completed"]`)))
	wcancel()
	if err != nil {
		var v struct {
			Status string
			Counts map[string]any
		}
		s.call("GET", "/api/v1/alerts/"+alertID, suzuki, nil, &v)
		row, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#alerts article.alert-row`), "data-status"))
		t.Fatalf("live update: %v (the alert is %s %v; the page shows %q)", err, v.Status, v.Counts, row.Value)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("live update: %v", err)
	}
	p := filepath.Join(artifactDir(t), "console.png")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
