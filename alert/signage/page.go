package signage

import (
	"bytes"
	"embed"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minato-city/anpi/httpapi"
)

//go:embed web
var webFiles embed.FS

// ContentSecurityPolicy is sent with every signage page and asset: nothing
// from outside the server (the screens run without internet), the event
// stream from the same host, no inline script or style, no framing.
const ContentSecurityPolicy = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; " +
	"script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// CookieName is the cookie that carries a screen's token after its first
// visit with ?token=; it is scoped to the screen's path.
const CookieName = "anpi_signage"

// cookieMaxAge keeps a screen signed in for the longest time browsers allow.
const cookieMaxAge = 400 * 24 * time.Hour

// static are the page's assets, served under /signage/static/.
var static = map[string]string{
	"signage.js":  "text/javascript; charset=utf-8",
	"signage.css": "text/css; charset=utf-8",
}

func mustRead(name string) []byte {
	b, err := webFiles.ReadFile("web/" + name)
	if err != nil {
		// The files are compiled in; failing to read them is a build defect.
		panic("signage: " + err.Error())
	}
	return b
}

// Handler serves, mounted at "GET /signage/":
//
//	GET /signage/{screen}?token=T   sets the screen cookie, redirects to drop the token from the URL
//	GET /signage/{screen}           the full-screen page (token from the cookie)
//	GET /signage/{screen}/events    the live feed, Server-Sent Events (token from the cookie or ?token=)
//	GET /signage/static/{file}      the page's script and style (no screen data)
//
// A missing or wrong token, or an unknown screen, gets 401 and no screen data.
func (s *Service) Handler() http.Handler {
	page, unauthorized := mustRead("index.html"), mustRead("unauthorized.html")
	assets := map[string][]byte{}
	for name := range static {
		assets[name] = mustRead(name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "use GET"))
			return
		}
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/signage/"), "/")
		switch {
		case len(parts) == 2 && parts[0] == "static" && assets[parts[1]] != nil:
			h.Set("Content-Type", static[parts[1]])
			h.Set("Cache-Control", "no-cache")
			http.ServeContent(w, r, parts[1], time.Time{}, bytes.NewReader(assets[parts[1]]))
		case len(parts) == 1 && parts[0] != "":
			s.page(w, r, parts[0], page, unauthorized)
		case len(parts) == 2 && parts[1] == "events":
			s.events(w, r, parts[0])
		default:
			httpapi.WriteError(w, httpapi.NotFound("no such signage path"))
		}
	})
}

// token returns the token of a request: ?token= first, then the cookie.
func token(r *http.Request) (tok string, fromQuery bool) {
	if t := r.URL.Query().Get("token"); t != "" {
		return t, true
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, false
	}
	return "", false
}

func (s *Service) page(w http.ResponseWriter, r *http.Request, id string, page, unauthorized []byte) {
	w.Header().Set("Cache-Control", "no-store")
	tok, fromQuery := token(r)
	scr, ok := s.reg.Authorize(id, tok)
	if !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write(unauthorized)
		return
	}
	path := "/signage/" + url.PathEscape(scr.ID)
	if fromQuery {
		http.SetCookie(w, &http.Cookie{
			Name: CookieName, Value: tok, Path: path, MaxAge: int(cookieMaxAge.Seconds()),
			HttpOnly: true, Secure: s.opt.SecureCookie, SameSite: http.SameSiteLaxMode,
		})
		http.Redirect(w, r, path, http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}

// events streams a screen's state: the whole state first, then every
// change, "cleared" when an alert is withdrawn, and a "ping" every
// Heartbeat. It ends when the client goes, the stream falls behind, or the
// server shuts down.
func (s *Service) events(w http.ResponseWriter, r *http.Request, id string) {
	tok, _ := token(r)
	scr, ok := s.reg.Authorize(id, tok)
	if !ok {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "unknown screen or wrong token"))
		return
	}
	c, err := s.hub.join(scr.ID)
	switch {
	case errors.Is(err, errTooMany):
		httpapi.WriteError(w, httpapi.Errorf(http.StatusTooManyRequests, "too_many_streams", "this screen has %d open streams already", MaxClientsPerScreen))
		return
	case err != nil:
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down; reconnect"))
		return
	}
	defer s.hub.leave(scr.ID, c)
	st, err := s.store.GetScreen(r.Context(), scr.ID)
	if err != nil {
		s.log.Warn("signage stream", "screen", scr.ID, "err", err)
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "store_unavailable", "the screen state cannot be read; reconnect"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		// A screen that does not read within this time is gone.
		_ = rc.SetWriteDeadline(time.Now().Add(s.opt.Heartbeat + 10*time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	retry := []byte("retry: 3000\n\n")
	if !write(append(retry, s.stateFrame(scr, &st)...)) {
		return
	}
	ping := time.NewTicker(s.opt.Heartbeat)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.hub.done:
			return
		case f, ok := <-c.ch:
			if !ok || !write(f) {
				return
			}
		case <-ping.C:
			if !write(frame("ping", map[string]time.Time{"time": s.now().UTC()})) {
				return
			}
		}
	}
}
