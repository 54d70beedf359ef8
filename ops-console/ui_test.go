package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestUIServesFiles(t *testing.T) {
	tests := []struct {
		method   string
		path     string
		wantCode int
		wantType string
		wantBody string
	}{
		{"GET", "/console", 200, "text/html; charset=utf-8", `id="login-form"`},
		{"GET", "/console/", 200, "text/html; charset=utf-8", `id="alerts"`},
		{"GET", "/console/index.html", 200, "text/html; charset=utf-8", `訓練`},
		{"GET", "/console/app.js", 200, "text/javascript; charset=utf-8", `'use strict'`},
		{"GET", "/console/app.css", 200, "text/css; charset=utf-8", `.banner-drill`},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", `'use strict'`}, // behind http.StripPrefix
		{"HEAD", "/console/app.css", 200, "text/css; charset=utf-8", ``},
		{"GET", "/console/missing.js", 404, "", ``},
		{"GET", "/console/../ui.go", 404, "", ``},
		{"GET", "/console/web/app.js", 404, "", ``},
		{"POST", "/console", 405, "", ``},
	}
	h := UI()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://anpi.test"+tt.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "connect-src 'self' ws: wss:", "script-src 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP %q allows inline code", csp)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if tt.wantType != "" {
				if got := rec.Header().Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body lacks %q", tt.wantBody)
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered %d body bytes", rec.Body.Len())
			}
		})
	}
}

func TestUIRevalidatesByETag(t *testing.T) {
	h := UI()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/app.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req := httptest.NewRequest("GET", "/console/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("status with matching ETag = %d, want 304", rec.Code)
	}
}

// uiTestFiles returns the embedded files by name.
func uiTestFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(uiFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		files[strings.TrimPrefix(p, "web/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestUIEmbeddedSmallAndSelfContained(t *testing.T) {
	files := uiTestFiles(t)
	total := 0
	for _, b := range files {
		total += len(b)
	}
	if total >= 100<<10 {
		t.Errorf("embedded UI is %d bytes, want < 100 KB", total)
	}
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		if _, ok := files[name]; !ok {
			t.Errorf("%s not embedded", name)
		}
	}
	// Nothing is loaded from another host at run time (no CDN, no fonts).
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|fonts\.googleapis`)
	for name, body := range files {
		if m := external.FindString(body); m != "" {
			t.Errorf("%s refers to an external resource: %q", name, m)
		}
	}
	// Data is never written as HTML.
	if js := files["app.js"]; strings.Contains(js, "innerHTML") || strings.Contains(js, "insertAdjacentHTML") ||
		strings.Contains(js, "document.write") || strings.Contains(js, "eval(") {
		t.Error("app.js writes HTML from strings")
	}
	// No inline script or style that the CSP would block.
	if html := files["index.html"]; regexp.MustCompile(`<script>|<style|\sstyle=|\son[a-z]+=`).MatchString(html) {
		t.Error("index.html has inline script, style or event handlers")
	}
}

func TestUIPageHasTestHooks(t *testing.T) {
	files := uiTestFiles(t)
	html, js := files["index.html"], files["app.js"]
	// The ids the browser test and app.js rely on.
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		ids[m[1]] = true
	}
	for _, id := range []string{"login-form", "token-form", "alerts", "alert-form", "safety", "safety-form",
		"triage", "facilities", "conn-status", "alert-drill", "safety-drill", "logout"} {
		if !ids[id] {
			t.Errorf("index.html lacks #%s", id)
		}
	}
	for _, m := range regexp.MustCompile(`\$\('#([a-z0-9-]+)`).FindAllStringSubmatch(js, -1) {
		if !ids[m[1]] {
			t.Errorf("app.js uses #%s, which index.html lacks", m[1])
		}
	}
	// Drills are the default; both drill checkboxes start checked.
	for _, id := range []string{"alert-drill", "safety-drill"} {
		if !regexp.MustCompile(`id="` + id + `"[^>]*\schecked`).MatchString(html) {
			t.Errorf("#%s is not checked by default", id)
		}
	}
	for _, action := range []string{"approve", "cancel", "confirm-cancel", "ack", "resolve", "status", "occupancy", "save-occupancy"} {
		if !strings.Contains(js, `'data-action': '`+action+`'`) {
			t.Errorf("app.js builds no element with data-action=%q", action)
		}
	}
	if !strings.Contains(js, "訓練 DRILL") || !strings.Contains(files["app.css"], "repeating-linear-gradient") {
		t.Error("drill items lack the striped 訓練 DRILL banner")
	}
}

func TestUIJavaScriptParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH: cannot syntax-check app.js")
	}
	// Check the embedded bytes, i.e. what is shipped.
	p := filepath.Join(t.TempDir(), "app.js")
	if err := os.WriteFile(p, []byte(uiTestFiles(t)["app.js"]), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, "--check", p).CombinedOutput()
	if err != nil {
		t.Fatalf("node --check app.js: %v\n%s", err, out)
	}
}
