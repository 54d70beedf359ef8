package routing

import (
	"net/http"
	"strconv"

	"github.com/minato-city/anpi/httpapi"
)

// PublicHandler serves the public, read-only facility endpoints:
//
//	GET /api/v1/facilities[?status=open&kind=shelter]  → [Facility]
//	GET /api/v1/facilities/nearest?lat=..&lng=..[&limit=3][&party=1] → [Match]
//	GET /api/v1/facilities/{id}                         → Facility
//	POST /api/v1/holds {facility_id, party}              → 201 Hold
//	POST /api/v1/holds/{id}/checkin {facility_id[, count]} → SelfCheckInResult
//
// Errors use the httpapi shape (400 with a reason, 404, 409 for holds the
// facility cannot take, see Service.Hold). Responses are marked no-store:
// capacities change by the minute.
func (s *Service) PublicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/facilities", s.handleList)
	mux.HandleFunc("POST /api/v1/holds", s.handleHold)
	mux.HandleFunc("POST /api/v1/holds/{id}/checkin", s.handleSelfCheckIn)
	// The literal segment is more specific than {id}, so ServeMux routes
	// "nearest" here and never to handleGet.
	mux.HandleFunc("GET /api/v1/facilities/nearest", s.handleNearest)
	mux.HandleFunc("GET /api/v1/facilities/{id}", s.handleGet)
	return mux
}

// StaffHandler serves PATCH /api/v1/facilities/{id} with a Patch body and
// POST /api/v1/facilities/{id}/checkins and .../checkouts (HandleCheckIn,
// HandleCheckOut). It does no authentication: mount it behind the staff auth
// middleware (operator role or above).
func (s *Service) StaffHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /api/v1/facilities/{id}", s.handlePatch)
	mux.HandleFunc("POST /api/v1/facilities/{id}/checkins", writeErr(s.HandleCheckIn))
	mux.HandleFunc("POST /api/v1/facilities/{id}/checkouts", writeErr(s.HandleCheckOut))
	return mux
}

// HandleCheckIn serves POST /api/v1/facilities/{id}/checkins with a
// CheckInRequest body and answers 200 with the facility. It does no
// authentication and returns errors for the caller to write (see
// Service.CheckIn for them).
func (s *Service) HandleCheckIn(w http.ResponseWriter, r *http.Request) error {
	var in CheckInRequest
	if err := httpapi.Decode(w, r, &in, 1<<10); err != nil {
		return err
	}
	f, err := s.CheckIn(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, f)
	return nil
}

// HandleCheckOut serves POST /api/v1/facilities/{id}/checkouts with a
// CheckOutRequest body and answers 200 with the facility. It does no
// authentication and returns errors for the caller to write.
func (s *Service) HandleCheckOut(w http.ResponseWriter, r *http.Request) error {
	var in CheckOutRequest
	if err := httpapi.Decode(w, r, &in, 1<<10); err != nil {
		return err
	}
	f, err := s.CheckOut(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, f)
	return nil
}

func (s *Service) handleHold(w http.ResponseWriter, r *http.Request) {
	var in HoldRequest
	if err := httpapi.Decode(w, r, &in, 1<<10); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	h, err := s.Hold(r.Context(), in.FacilityID, in.Party)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusCreated, h)
}

func writeErr(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			httpapi.WriteError(w, err)
		}
	}
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status, kind := q.Get("status"), q.Get("kind")
	if status != "" && !ValidStatus(status) {
		httpapi.WriteError(w, httpapi.BadRequest("status %q is not one of closed, checking, open, full, unsafe", status))
		return
	}
	if kind != "" && !ValidKind(kind) {
		httpapi.WriteError(w, httpapi.BadRequest("kind %q is not one of shelter, welfare_shelter, evacuation_site, temporary_stay", kind))
		return
	}
	all := s.List()
	out := make([]Facility, 0, len(all))
	for _, f := range all {
		if (status == "" || f.Status == status) && (kind == "" || f.Kind == kind) {
			out = append(out, f)
		}
	}
	writeJSON(w, out)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f, ok := s.Get(id)
	if !ok {
		httpapi.WriteError(w, httpapi.NotFound("no facility %q", id))
		return
	}
	writeJSON(w, f)
}

func (s *Service) handleNearest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lat, err := floatParam(q.Get("lat"), "lat")
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	lng, err := floatParam(q.Get("lng"), "lng")
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", DefaultLimit)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	party, err := intParam(q.Get("party"), "party", 1)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ms, err := s.Nearest(lat, lng, limit, party)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeJSON(w, ms)
}

func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request) {
	var p Patch
	if err := httpapi.Decode(w, r, &p, 4<<10); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	f, err := s.Patch(r.Context(), r.PathValue("id"), p)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeJSON(w, f)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, v)
}

func floatParam(v, name string) (float64, error) {
	if v == "" {
		return 0, httpapi.BadRequest("%s is required", name)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, httpapi.BadRequest("%s must be a decimal number of degrees", name)
	}
	return f, nil // NaN and ±Inf are refused by the range checks of Nearest
}

func intParam(v, name string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, httpapi.BadRequest("%s must be an integer", name)
	}
	return n, nil
}
