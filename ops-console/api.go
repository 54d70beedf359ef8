package console

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/safety/classify"
)

// Classifier labels a reply (the rules/LLM ensemble).
type Classifier interface {
	Classify(ctx context.Context, text, lang string) (classify.Result, error)
}

// API serves the staff REST API.
type API struct {
	Auth       *Auth
	Alerts     *alert.Service
	Safety     *safety.Service
	Residents  *residents.Directory
	Facilities *routing.Service
	// Commuters serves the commuter reports and planning view (routes
	// registered only when set).
	Commuters  *routing.Commuters
	Classifier Classifier
	Log        *slog.Logger
	// PublicLimit, when set, wraps the routes that anyone may call without
	// credentials (commuter self-reports) in the per-client rate limit.
	PublicLimit func(http.Handler) http.Handler
}

// handler is an authenticated handler.
type handler func(w http.ResponseWriter, r *http.Request, p Principal) error

// statusWriter records the status for the audit log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Require wraps h: the caller must be authenticated with at least role min;
// cookie sessions must send the CSRF token on writes; every write is audited
// with its outcome.
func (api *API) Require(min string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := api.Auth.Authenticate(r, false)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		if write && p.Session != "" && r.Header.Get("X-CSRF-Token") != p.CSRF {
			httpapi.WriteError(w, &httpapi.Error{Status: http.StatusForbidden, Code: "csrf", Message: "missing or wrong X-CSRF-Token header"})
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		if !RoleAtLeast(p.Role, min) {
			httpapi.WriteError(sw, &httpapi.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "this needs the " + min + " role"})
		} else if err := h(sw, r, p); err != nil {
			api.writeError(sw, r, err)
		}
		if write {
			api.Auth.Audit(r.Context(), AuditEntry{Actor: p.Name, Role: p.Role, Action: r.Method + " " + r.URL.Path, Target: r.PathValue("id"), Status: sw.status, Remote: r.RemoteAddr})
		}
	})
}

// writeError maps domain errors to API errors.
func (api *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ie *alert.InputError
	var ae *httpapi.Error
	switch {
	case errors.As(err, &ae):
		httpapi.WriteError(w, err)
	case errors.As(err, &ie):
		httpapi.WriteError(w, httpapi.BadRequest("%s", ie.Error()))
	case errors.Is(err, alert.ErrSelfApproval):
		httpapi.WriteError(w, &httpapi.Error{Status: http.StatusForbidden, Code: "self_approval", Message: err.Error()})
	case errors.Is(err, alert.ErrState):
		httpapi.WriteError(w, httpapi.Conflict("%s", err.Error()))
	case errors.Is(err, alert.ErrNotFound), errors.Is(err, safety.ErrNotFound), errors.Is(err, residents.ErrNotFound):
		httpapi.WriteError(w, httpapi.NotFound("%s", err.Error()))
	default:
		api.Log.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
		httpapi.WriteError(w, err)
	}
}

// Routes registers the staff API on mux.
func (api *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/auth/login", api.login)
	mux.Handle("POST /api/v1/auth/logout", api.Require("viewer", api.logout))
	mux.Handle("GET /api/v1/auth/me", api.Require("viewer", func(w http.ResponseWriter, r *http.Request, p Principal) error {
		httpapi.WriteJSON(w, http.StatusOK, p)
		return nil
	}))
	mux.Handle("POST /api/v1/staff", api.Require("admin", api.createStaff))
	mux.Handle("GET /api/v1/audit", api.Require("admin", api.audit))

	mux.Handle("POST /api/v1/residents", api.Require("operator", api.putResidents))
	mux.Handle("GET /api/v1/residents/{id}", api.Require("viewer", api.getResident))
	mux.Handle("DELETE /api/v1/residents/{id}", api.Require("operator", api.deleteResident))

	mux.Handle("POST /api/v1/alerts", api.Require("operator", api.createAlert))
	mux.Handle("GET /api/v1/alerts", api.Require("viewer", api.listAlerts))
	mux.Handle("GET /api/v1/alerts/{id}", api.Require("viewer", api.getAlert))
	mux.Handle("POST /api/v1/alerts/{id}/approve", api.Require("approver", api.approveAlert))
	mux.Handle("POST /api/v1/alerts/{id}/cancel", api.Require("operator", api.cancelAlert))
	mux.Handle("GET /api/v1/alerts/{id}/deliveries", api.Require("viewer", api.deliveries))
	// Previews change nothing, but POST goes through Require's audit like
	// every write: who looked at what before sending is worth keeping.
	mux.Handle("POST /api/v1/alerts/preview", api.Require("operator", api.previewAlert))
	mux.Handle("GET /api/v1/alerts/{id}/preview", api.Require("viewer", api.previewPending))

	mux.Handle("POST /api/v1/safety-checks", api.Require("operator", api.startCheck))
	mux.Handle("GET /api/v1/safety-checks", api.Require("viewer", api.listChecks))
	mux.Handle("GET /api/v1/safety-checks/{id}", api.Require("viewer", api.getCheck))
	mux.Handle("GET /api/v1/safety-checks/{id}/replies", api.Require("viewer", api.replies))
	mux.Handle("GET /api/v1/safety-checks/{id}/non-responders.csv", api.Require("viewer", api.exportNonResponders))
	mux.Handle("GET /api/v1/triage", api.Require("viewer", api.triage))
	mux.Handle("POST /api/v1/triage/{id}/ack", api.Require("operator", api.ackTriage))
	mux.Handle("POST /api/v1/triage/{id}/resolve", api.Require("operator", api.resolveTriage))
	mux.Handle("POST /api/v1/classify", api.Require("viewer", api.classify))

	mux.Handle("PATCH /api/v1/facilities/{id}", api.Require("operator", api.patchFacility))
	mux.Handle("POST /api/v1/facilities/{id}/checkins", api.Require("operator", func(w http.ResponseWriter, r *http.Request, _ Principal) error {
		return api.Facilities.HandleCheckIn(w, r)
	}))
	mux.Handle("POST /api/v1/facilities/{id}/checkouts", api.Require("operator", func(w http.ResponseWriter, r *http.Request, _ Principal) error {
		return api.Facilities.HandleCheckOut(w, r)
	}))

	if api.Commuters != nil { // commuter reports and HQ planning view (commuters.go)
		mux.Handle("POST /api/v1/commuters/reports", api.commuterReports())
		mux.Handle("GET /api/v1/commuters", api.Require("viewer", api.commuters))
	}
}

func (api *API) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := httpapi.Decode(w, r, &in, 4096); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	sid, p, err := api.Auth.Login(r.Context(), in.Name, in.Password)
	if err != nil {
		api.Auth.Audit(r.Context(), AuditEntry{Actor: in.Name, Action: "login failed", Status: http.StatusUnauthorized, Remote: r.RemoteAddr})
		httpapi.WriteError(w, err)
		return
	}
	api.Auth.SetSessionCookie(w, sid)
	api.Auth.Audit(r.Context(), AuditEntry{Actor: p.Name, Role: p.Role, Action: "login", Status: http.StatusOK, Remote: r.RemoteAddr})
	httpapi.WriteJSON(w, http.StatusOK, p)
}

func (api *API) logout(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := api.Auth.Logout(r.Context(), p); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (api *API) createStaff(w http.ResponseWriter, r *http.Request, p Principal) error {
	var in struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := httpapi.Decode(w, r, &in, 4096); err != nil {
		return err
	}
	s, token, err := api.Auth.CreateStaff(r.Context(), in.Name, in.Role, in.Password, p.Name)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]string{"id": s.ID, "name": s.Name, "role": s.Role, "token": token})
	return nil
}

func (api *API) audit(w http.ResponseWriter, r *http.Request, p Principal) error {
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		return err
	}
	es, err := api.Auth.AuditLog(r.Context(), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	next := ""
	if len(es) == limit {
		next = es[len(es)-1].ID
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"entries": es, "next_cursor": next})
	return nil
}

func limitParam(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, httpapi.BadRequest("limit must be 1 to %d", max)
	}
	return n, nil
}

// MaxResidentsBody bounds a residents upload (about 20,000 residents).
const MaxResidentsBody = 8 << 20

func (api *API) putResidents(w http.ResponseWriter, r *http.Request, p Principal) error {
	var raw json.RawMessage
	if err := httpapi.Decode(w, r, &raw, MaxResidentsBody); err != nil {
		return err
	}
	var rs []residents.Resident
	single := false
	if t := strings.TrimLeft(string(raw), " \t\r\n"); strings.HasPrefix(t, "[") {
		if err := strictUnmarshal(raw, &rs); err != nil {
			return err
		}
	} else {
		var one residents.Resident
		if err := strictUnmarshal(raw, &one); err != nil {
			return err
		}
		rs, single = []residents.Resident{one}, true
	}
	if len(rs) == 0 {
		return httpapi.BadRequest("no residents given")
	}
	bad, err := api.Residents.Put(r.Context(), rs)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		msg := bad[0].Error()
		if single {
			msg = bad[0].Field + ": " + bad[0].Reason
		}
		httpapi.WriteJSON(w, http.StatusBadRequest, map[string]any{
			"error": map[string]string{"code": "invalid_residents", "message": msg}, "rows": bad,
		})
		return nil
	}
	if single {
		httpapi.WriteJSON(w, http.StatusCreated, rs[0])
	} else {
		httpapi.WriteJSON(w, http.StatusCreated, map[string]int{"stored": len(rs)})
	}
	return nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return httpapi.BadRequest("field %q must be %s", te.Field, te.Type.String())
		}
		return httpapi.BadRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func (api *API) getResident(w http.ResponseWriter, r *http.Request, p Principal) error {
	res, err := api.Residents.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (api *API) deleteResident(w http.ResponseWriter, r *http.Request, p Principal) error {
	id := r.PathValue("id")
	if _, err := api.Residents.Get(r.Context(), id); err != nil {
		return err
	}
	if err := api.Residents.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// MaxAlertBody bounds an alert request.
const MaxAlertBody = 64 << 10

func (api *API) createAlert(w http.ResponseWriter, r *http.Request, p Principal) error {
	var req alert.Request
	if err := httpapi.Decode(w, r, &req, MaxAlertBody); err != nil {
		return err
	}
	a, err := api.Alerts.Create(r.Context(), req, p.Name)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"id": a.ID, "status": a.Status, "drill": a.Drill})
	return nil
}

func (api *API) listAlerts(w http.ResponseWriter, r *http.Request, p Principal) error {
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		return err
	}
	vs, err := api.Alerts.List(r.Context(), limit)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"alerts": vs})
	return nil
}

func (api *API) getAlert(w http.ResponseWriter, r *http.Request, p Principal) error {
	v, err := api.Alerts.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
	return nil
}

// emptyOK decodes an optional JSON body: an empty body leaves v as it is.
func emptyOK(w http.ResponseWriter, r *http.Request, v any, max int64) error {
	if r.ContentLength == 0 {
		return nil
	}
	return httpapi.Decode(w, r, v, max)
}

func (api *API) approveAlert(w http.ResponseWriter, r *http.Request, p Principal) error {
	var in struct{}
	if err := emptyOK(w, r, &in, 1024); err != nil {
		return err
	}
	a, err := api.Alerts.Approve(r.Context(), r.PathValue("id"), p.Name)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"id": a.ID, "status": a.Status, "approved_by": a.ApprovedBy})
	return nil
}

func (api *API) cancelAlert(w http.ResponseWriter, r *http.Request, p Principal) error {
	var in struct {
		Reason     string            `json:"reason"`
		Correction map[string]string `json:"correction,omitempty"`
	}
	if err := emptyOK(w, r, &in, 16<<10); err != nil {
		return err
	}
	a, err := api.Alerts.Cancel(r.Context(), r.PathValue("id"), p.Name, in.Reason, in.Correction)
	if err != nil {
		return err
	}
	out := map[string]any{"id": a.ID, "status": a.Status, "correction": nil}
	if c := a.Correction; c != nil {
		if c.ID != "" {
			out["correction"] = c.ID
		}
		if c.Note != "" {
			out["note"] = c.Note
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (api *API) previewAlert(w http.ResponseWriter, r *http.Request, p Principal) error {
	var req alert.Request
	if err := httpapi.Decode(w, r, &req, MaxAlertBody); err != nil {
		return err
	}
	pv, err := api.Alerts.Preview(r.Context(), req, p.Name, alert.PreviewSource{Audience: api.Residents})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, pv)
	return nil
}

func (api *API) previewPending(w http.ResponseWriter, r *http.Request, p Principal) error {
	pv, err := api.Alerts.PreviewAlert(r.Context(), r.PathValue("id"), alert.PreviewSource{Audience: api.Residents})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, pv)
	return nil
}

func (api *API) deliveries(w http.ResponseWriter, r *http.Request, p Principal) error {
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "", "queued", "sending", "sent", "delivered", "failed", "undelivered", "cancelled":
	default:
		return httpapi.BadRequest("state must be queued, sending, sent, delivered, failed, undelivered or cancelled")
	}
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		return err
	}
	ds, next, err := api.Alerts.Deliveries(r.Context(), r.PathValue("id"), state, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []alert.Delivery{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": ds, "next_cursor": next})
	return nil
}

func (api *API) startCheck(w http.ResponseWriter, r *http.Request, p Principal) error {
	var req safety.CheckRequest
	if err := httpapi.Decode(w, r, &req, MaxAlertBody); err != nil {
		return err
	}
	c, err := api.Safety.Start(r.Context(), req, p.Name)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"id": c.ID, "alert_id": c.AlertID, "status": c.Status, "drill": c.Drill})
	return nil
}

func (api *API) listChecks(w http.ResponseWriter, r *http.Request, p Principal) error {
	vs, err := api.Safety.List(r.Context())
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"safety_checks": vs})
	return nil
}

func (api *API) getCheck(w http.ResponseWriter, r *http.Request, p Principal) error {
	v, err := api.Safety.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (api *API) replies(w http.ResponseWriter, r *http.Request, p Principal) error {
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ps, next, err := api.Safety.Replies(r.Context(), r.PathValue("id"), q.Get("status"), q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []safety.PersonStatus{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"replies": ps, "next_cursor": next})
	return nil
}

func (api *API) triage(w http.ResponseWriter, r *http.Request, p Principal) error {
	ts, err := api.Safety.Triage(r.Context(), r.URL.Query().Get("state"))
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []*safety.TriageItem{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"items": ts})
	return nil
}

func (api *API) ackTriage(w http.ResponseWriter, r *http.Request, p Principal) error {
	var in struct{}
	if err := emptyOK(w, r, &in, 1024); err != nil {
		return err
	}
	t, err := api.Safety.Ack(r.Context(), r.PathValue("id"), p.Name)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, t)
	return nil
}

func (api *API) resolveTriage(w http.ResponseWriter, r *http.Request, p Principal) error {
	var in struct {
		Note  string `json:"note"`
		Label string `json:"label,omitempty"`
	}
	if err := emptyOK(w, r, &in, 16<<10); err != nil {
		return err
	}
	t, err := api.Safety.Resolve(r.Context(), r.PathValue("id"), p.Name, in.Note, in.Label)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, t)
	return nil
}

// MaxClassifyText bounds the text of one classify request.
const MaxClassifyText = 4000

func (api *API) classify(w http.ResponseWriter, r *http.Request, p Principal) error {
	var in struct {
		Text     string `json:"text"`
		Language string `json:"language"`
	}
	if err := httpapi.Decode(w, r, &in, 64<<10); err != nil {
		return err
	}
	if !utf8.ValidString(in.Text) {
		return httpapi.BadRequest("text must be valid UTF-8")
	}
	if strings.TrimSpace(in.Text) == "" {
		return httpapi.BadRequest("text must not be empty")
	}
	if len(in.Text) > MaxClassifyText {
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "text is %d bytes; at most %d", len(in.Text), MaxClassifyText)
	}
	switch in.Language {
	case "", "ja", "en", "zh", "ko", "ja-easy":
	default:
		return httpapi.BadRequest("language must be ja, en, zh, ko, ja-easy or empty (detect)")
	}
	res, err := api.Classifier.Classify(r.Context(), in.Text, in.Language)
	if err != nil {
		return httpapi.BadRequest("%s", err.Error())
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (api *API) patchFacility(w http.ResponseWriter, r *http.Request, p Principal) error {
	var in routing.Patch
	if err := httpapi.Decode(w, r, &in, 4096); err != nil {
		return err
	}
	f, err := api.Facilities.Patch(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, f)
	return nil
}
