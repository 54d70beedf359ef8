package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed web
var uiFiles embed.FS

// UIContentSecurityPolicy is the Content-Security-Policy sent with every
// console page and asset: everything from the server itself, WebSocket to the
// same host, no inline script or style, no framing.
const UIContentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
	"style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// uiAsset is one embedded file, ready to serve.
type uiAsset struct {
	body        []byte
	contentType string
	etag        string
}

// uiTypes are set explicitly so the answer does not depend on the host's
// MIME tables.
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

// UI returns the handler of the staff console's static files, embedded in
// the binary: GET /console (and /console/) serve index.html, GET
// /console/app.js and the other files under web/ serve themselves. Paths are
// taken with or without the /console prefix, so the handler may be mounted
// at "/console" and "/console/" or behind http.StripPrefix. Every answer
// carries UIContentSecurityPolicy; assets are revalidated by ETag.
func UI() http.Handler {
	assets := make(map[string]uiAsset)
	err := fs.WalkDir(uiFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		ct := uiTypes[path.Ext(p)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		assets[strings.TrimPrefix(p, "web/")] = uiAsset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		// The files are compiled in; failing to read them is a build defect.
		panic("console ui: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", UIContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := uiAssetName(r.URL.Path)
		a, ok := assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}

// uiAssetName maps a request path to an embedded file name.
func uiAssetName(p string) string {
	p = strings.TrimPrefix(p, "/console")
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "index.html"
	}
	return path.Clean(p)
}
