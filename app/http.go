package app

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/minato-city/anpi/alert/line"
	"github.com/minato-city/anpi/alert/sms"
	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/httpapi/ratelimit"
	console "github.com/minato-city/anpi/ops-console"
	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/safety"
)

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	// Public endpoints get one token bucket per client (public_rate_limit).
	limited := a.publicLimiter()
	api := &console.API{
		Auth: a.Auth, Alerts: a.Alerts, Safety: a.Safety, Residents: a.Residents,
		Facilities: a.Facilities, Classifier: a.Classifier, Log: a.Log,
		PublicLimit: limited.Wrap,
	}
	api.Commuters = a.Commuters // nil when there is no station data
	api.Routes(mux)
	public := limited.Wrap(a.Facilities.PublicHandler())
	mux.Handle("GET /api/v1/facilities", public)
	mux.Handle("GET /api/v1/facilities/nearest", public)
	mux.Handle("GET /api/v1/facilities/{id}", public)
	mux.Handle("POST /api/v1/holds", public)
	mux.Handle("POST /api/v1/holds/{id}/checkin", public)
	pages := limited.Wrap(a.sheltersPages())
	mux.Handle("GET /shelters", pages)
	mux.Handle("GET /shelters/", pages)

	mux.HandleFunc("POST /webhooks/line", a.lineWebhook)
	mux.HandleFunc("POST /webhooks/twilio/status", a.twilioStatus)
	mux.HandleFunc("POST "+voicePath, a.voiceTwiML)
	mux.HandleFunc("POST "+voiceAnswerPath, a.voiceAnswer)
	reply := limited.Wrap(a.Safety.ReplyPage(a.Links))
	mux.Handle("GET /r/{token}", reply)
	mux.Handle("POST /r/{token}", reply)

	mux.Handle("GET /console/ws", a.Hub)
	ui := console.UI()
	mux.Handle("GET /console", ui)
	mux.Handle("GET /console/", ui)
	// Signage screens: the page, its live feed (SSE) and assets; screen token.
	mux.Handle("GET /signage/", a.Signage.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console", http.StatusFound)
	})

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.Backend.Ping(ctx); err != nil {
			httpapi.WriteError(w, &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "store_unreachable", Message: "the store does not answer"})
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready", "store": a.Cfg.Store})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, httpapi.NotFound("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return a.metrics.middleware(recoverer(a, mux))
}

// recoverer turns a panic in a handler into a 500 without a stack trace in
// the response.
func recoverer(a *App, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.Log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				httpapi.WriteError(w, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// lineWebhook verifies the LINE signature, enqueues the events durably and
// answers at once; the reply consumer does the rest.
func (a *App) lineWebhook(w http.ResponseWriter, r *http.Request) {
	events, err := line.ParseWebhook(a.Cfg.Secrets.LINEChannelSecret, r)
	if err != nil {
		a.metrics.webhooks.WithLabelValues("line", "rejected").Inc()
		if errors.Is(err, line.ErrBadSignature) {
			httpapi.WriteError(w, &httpapi.Error{Status: http.StatusUnauthorized, Code: "bad_signature", Message: "X-Line-Signature does not match the body"})
			return
		}
		httpapi.WriteError(w, httpapi.BadRequest("webhook body: %s", err.Error()))
		return
	}
	replies := make([]safety.Reply, 0, len(events))
	var answer []line.Event // location messages and hold buttons anpi answers itself (linelocation.go)
	for _, e := range events {
		if lineNeedsReply(e) {
			answer = append(answer, e)
		}
		rp := safety.Reply{EventID: e.ID, LINEUserID: e.UserID, Channel: "line", At: e.Time}
		switch e.Type {
		case "postback":
			check, label, ok := safety.ParsePostback(e.Data)
			if !ok {
				continue
			}
			rp.CheckID, rp.Button = check, label
		case "text":
			rp.Text = e.Text
		case "location":
			rp.Lat, rp.Lng = e.Lat, e.Lng
		default:
			continue
		}
		if rp.EventID == "" || rp.LINEUserID == "" {
			continue
		}
		replies = append(replies, rp)
	}
	n, err := a.Safety.Accept(r.Context(), "line", replies...)
	if err != nil {
		a.Log.Error("line webhook enqueue", "err", err)
		httpapi.WriteError(w, &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "busy", Message: "could not store the events; redeliver"})
		return
	}
	a.metrics.webhooks.WithLabelValues("line", "accepted").Add(float64(n))
	// What httpapi.WriteJSON writes for {"accepted": n}, without an encoder
	// and a map on the busiest endpoint.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(strconv.AppendInt([]byte(`{"accepted":`), int64(n), 10), "}\n"...))
	a.replyLater(answer)
}

// twilioStatus applies SMS status callbacks, signature-checked against the
// configured public URL.
func (a *App) twilioStatus(w http.ResponseWriter, r *http.Request) {
	url := strings.TrimRight(a.Cfg.PublicURL, "/") + "/webhooks/twilio/status"
	st, err := sms.ParseStatus(r, a.Cfg.Secrets.TwilioAuthToken, url)
	if err != nil {
		a.metrics.webhooks.WithLabelValues("twilio_status", "rejected").Inc()
		if errors.Is(err, sms.ErrBadSignature) {
			httpapi.WriteError(w, &httpapi.Error{Status: http.StatusUnauthorized, Code: "bad_signature", Message: "X-Twilio-Signature does not match"})
			return
		}
		httpapi.WriteError(w, httpapi.BadRequest("status callback: %s", err.Error()))
		return
	}
	if err := a.Alerts.RecordStatus(r.Context(), st.MessageSid, st.MessageStatus, st.ErrorCode); err != nil {
		a.Log.Error("twilio status", "err", err)
		httpapi.WriteError(w, err)
		return
	}
	a.metrics.webhooks.WithLabelValues("twilio_status", "accepted").Inc()
	w.WriteHeader(http.StatusNoContent)
}

// publicLimiter is the per-client rate limiter of the public endpoints. The
// config was validated at load; a bad one built in code turns limiting off
// with an error in the log rather than failing every public request.
func (a *App) publicLimiter() *ratelimit.Limiter {
	c := a.Cfg.PublicRateLimit
	l, err := ratelimit.New(ratelimit.Config{RPS: c.RPS, Burst: c.Burst, TrustedProxies: c.TrustedProxies, MaxClients: c.MaxClients})
	if err != nil {
		a.Log.Error("public rate limit off", "err", err)
	}
	return l
}

// sheltersPages serves the public commuter pages (/shelters), with the
// stations file next to the shelters file (as buildCommuters reads it) for
// the station picker; without it the page offers geolocation only.
func (a *App) sheltersPages() http.Handler {
	var stations []routing.Station
	if p := a.Cfg.Facilities.Shelters; p != "" {
		if f, err := os.Open(filepath.Join(filepath.Dir(p), "minato_stations.csv")); err == nil {
			if stations, err = routing.LoadStations(f); err != nil {
				a.Log.Warn("commuter page without stations", "err", err)
			}
			f.Close()
		}
	}
	h, err := a.Facilities.PageHandler(routing.PageOptions{Stations: stations, PublicURL: a.Cfg.PublicURL})
	if err != nil {
		a.Log.Error("commuter pages off", "err", err)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteError(w, &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the commuter page is not available"})
		})
	}
	return h
}
