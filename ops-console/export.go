package console

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/safety"
)

// NonResponderColumns is the header of the non-responder CSV export.
var NonResponderColumns = []string{
	"resident_id", "name", "area", "language", "tags", "household_id", "voice_phone", "channels", "last_contacted",
}

// exportNonResponders serves GET /api/v1/safety-checks/{id}/non-responders.csv
// (viewer): the people of the check's audience without an answer, as CSV
// (RFC 4180, UTF-8; ?bom=1 prefixes a byte-order mark for spreadsheet
// programs that otherwise guess Shift_JIS), streamed: rows leave in 4 KiB
// chunks as they are read, nothing is collected in memory. Tags and
// channels are ";"-separated; voice_phone is the number a call would use
// (the voice number, else the mobile one); last_contacted is RFC 3339. A cell starting
// with = + - @ (or a tab or carriage return) is prefixed with ' so that a
// spreadsheet does not run it as a formula — phone numbers included,
// which a spreadsheet shows as text. It is a read, but an export of
// personal data: every attempt is audited with its outcome and row count.
// An error after the first row aborts the response (the client sees a
// broken transfer, never a short file that looks complete).
func (api *API) exportNonResponders(w http.ResponseWriter, r *http.Request, p Principal) error {
	id := r.PathValue("id")
	rows := 0
	started := false
	audit := func(status int) {
		api.Auth.Audit(r.Context(), AuditEntry{
			Actor: p.Name, Role: p.Role, Target: id, Status: status, Remote: r.RemoteAddr,
			Action: fmt.Sprintf("%s %s (personal data export, %d rows)", r.Method, r.URL.Path, rows),
		})
	}
	bom := r.URL.Query().Get("bom") == "1"
	cw := csv.NewWriter(w)
	start := func() {
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="non-responders-`+safeFilename(id)+`.csv"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if bom {
			_, _ = w.Write([]byte("\uFEFF"))
		}
		_ = cw.Write(NonResponderColumns)
	}
	record := make([]string, len(NonResponderColumns))
	err := api.Safety.NonResponders(r.Context(), id, func(n safety.NonResponder) error {
		if !started {
			start()
		}
		res := n.Resident
		record[0], record[1], record[2], record[3] = res.ID, res.Name, res.Area, res.Language
		record[4], record[5], record[6] = strings.Join(res.Tags, ";"), res.HouseholdID, alert.Address(&res, alert.ChannelVoice)
		record[7] = strings.Join(n.Channels, ";")
		record[8] = ""
		if !n.LastContacted.IsZero() {
			record[8] = n.LastContacted.UTC().Format(time.RFC3339)
		}
		for i := range record {
			record[i] = defuseCell(record[i])
		}
		if err := cw.Write(record); err != nil {
			return err
		}
		rows++
		return nil
	})
	if err != nil {
		if !started {
			api.writeError(w, r, err)
			audit(statusOf(w))
			return nil
		}
		api.Log.Error("non-responder export aborted", "check", id, "rows", rows, "err", err)
		audit(http.StatusInternalServerError)
		panic(http.ErrAbortHandler)
	}
	if !started {
		start()
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		api.Log.Warn("non-responder export not completed", "check", id, "rows", rows, "err", err)
		audit(http.StatusInternalServerError)
		panic(http.ErrAbortHandler)
	}
	audit(http.StatusOK)
	return nil
}

// statusOf returns the status a statusWriter recorded (500 if unknown).
func statusOf(w http.ResponseWriter) int {
	if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
		return sw.status
	}
	return http.StatusInternalServerError
}

// defuseCell prefixes a cell that a spreadsheet would read as a formula
// (starting with =, +, -, @, tab or carriage return) with a single quote.
func defuseCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// safeFilename keeps the characters of an id that are safe in a
// Content-Disposition filename.
func safeFilename(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			return r
		}
		return '_'
	}, id)
}
