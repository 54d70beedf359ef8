// Package signage is the digital-signage channel (デジタルサイネージ): a
// registry of screens from configuration (id, name, area, language
// rotation, token), the alert.Endpoints that make screens recipients of
// signage batches, the alert.Sender that puts an alert on its screens, and
// the full-screen page GET /signage/{screen} fed live over Server-Sent Events.
//
// What a screen shows is stored per screen (State) through the small Store
// interface this package declares, so a restart or another instance serves
// the same content. Putting an alert on a screen is idempotent; a cancelled
// alert is withdrawn and remembered (a tombstone), so a late or repeated
// delivery cannot bring it back; an expired alert drops off by itself.
//
// Why SSE and not the console's WebSocket hub: a screen only listens, the
// browser's EventSource reconnects by itself (with the server's "retry"
// delay), it is plain HTTP that passes proxies and needs no upgrade, and on
// every (re)connect the server sends the whole current state first, so a
// screen never depends on deltas it may have missed.
package signage

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/minato-city/anpi/alert"
)

// MaxAlerts bounds how many alerts one screen holds; beyond it the least
// important (drill before live, lower severity, older) are dropped.
const MaxAlerts = 16

// Content is one alert as a screen shows it.
type Content struct {
	AlertID   string            `json:"alert_id"`
	Kind      string            `json:"kind"`
	Severity  string            `json:"severity"`
	Drill     bool              `json:"drill"`
	Title     map[string]string `json:"title"`
	Body      map[string]string `json:"body"`
	IssuedAt  time.Time         `json:"issued_at"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// ContentOf returns what a screen shows of a.
func ContentOf(a *alert.Alert) Content {
	issued := a.CreatedAt
	if a.ApprovedAt != nil {
		issued = *a.ApprovedAt
	}
	return Content{
		AlertID: a.ID, Kind: a.Kind, Severity: a.Severity, Drill: a.Drill,
		Title: a.Title, Body: a.Body, IssuedAt: issued, ExpiresAt: a.ExpiresAt,
	}
}

// State is what one screen shows, as stored.
type State struct {
	// Version counts the changes of the state.
	Version int64 `json:"version"`
	// Alerts are the alerts on the screen, most important first.
	Alerts []Content `json:"alerts"`
	// Cleared maps withdrawn (cancelled) alert ids to their expiry; an alert
	// listed here is never put on the screen again. Entries go at expiry.
	Cleared map[string]time.Time `json:"cleared,omitempty"`
}

// Store keeps the state of each screen. Both store engines implement it
// (store/repo.Signage).
type Store interface {
	// GetScreen returns the state of screen id, a zero State if none.
	GetScreen(ctx context.Context, id string) (State, error)
	// UpdateScreen applies fn atomically to the state of screen id (a zero
	// State if none) and stores the result when fn reports a change; fn may
	// run more than once. It returns the state as it is afterwards.
	UpdateScreen(ctx context.Context, id string, fn func(s *State) bool) (State, error)
}

// Alerts is what the channel reads of the broadcast engine (alert.Store
// has it).
type Alerts interface {
	GetAlert(ctx context.Context, id string) (*alert.Alert, error)
}

// Bus carries change notices between instances (store.Bus has it).
type Bus interface {
	Publish(ctx context.Context, topic string, data []byte) error
	Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error)
}

// Active returns the alerts of s that have not expired at now.
func (s *State) Active(now time.Time) []Content {
	out := make([]Content, 0, len(s.Alerts))
	for _, c := range s.Alerts {
		if now.Before(c.ExpiresAt) {
			out = append(out, c)
		}
	}
	return out
}

// Has reports whether alert id is on the screen.
func (s *State) Has(id string) bool {
	return slices.ContainsFunc(s.Alerts, func(c Content) bool { return c.AlertID == id })
}

// prune drops expired alerts and tombstones and reports whether it dropped any.
func (s *State) prune(now time.Time) bool {
	n := len(s.Alerts)
	s.Alerts = slices.DeleteFunc(s.Alerts, func(c Content) bool { return !now.Before(c.ExpiresAt) })
	changed := len(s.Alerts) != n
	for id, exp := range s.Cleared {
		if !now.Before(exp) {
			delete(s.Cleared, id)
			changed = true
		}
	}
	return changed
}

// Add puts c on the screen unless it is there already, was withdrawn, or
// has expired. It reports whether c was added and whether s changed at all
// (expired entries are pruned on the way).
func (s *State) Add(c Content, now time.Time) (added, changed bool) {
	changed = s.prune(now)
	if _, gone := s.Cleared[c.AlertID]; gone || s.Has(c.AlertID) || !now.Before(c.ExpiresAt) {
		return false, changed
	}
	if len(s.Alerts) >= MaxAlerts && compareContent(c, s.Alerts[len(s.Alerts)-1]) >= 0 {
		// Full, and c is less important than everything shown.
		return false, changed
	}
	s.Alerts = append(s.Alerts, c)
	slices.SortStableFunc(s.Alerts, compareContent)
	if len(s.Alerts) > MaxAlerts {
		s.Alerts = s.Alerts[:MaxAlerts]
	}
	s.Version++
	return true, true
}

// Clear withdraws alert id (expiring at exp) from the screen and remembers
// that it was withdrawn. It reports whether the alert was on the screen and
// whether s changed at all.
func (s *State) Clear(id string, exp, now time.Time) (removed, changed bool) {
	changed = s.prune(now)
	if s.Has(id) {
		s.Alerts = slices.DeleteFunc(s.Alerts, func(c Content) bool { return c.AlertID == id })
		removed, changed = true, true
		s.Version++
	}
	if _, ok := s.Cleared[id]; !ok && now.Before(exp) {
		if s.Cleared == nil {
			s.Cleared = map[string]time.Time{}
		}
		s.Cleared[id] = exp
		changed = true
	}
	return removed, changed
}

// severityRank orders severities, most severe first.
func severityRank(s string) int {
	if i := slices.Index(alert.Severities, s); i >= 0 {
		return i
	}
	return len(alert.Severities)
}

// compareContent orders alerts for the screen: live before drill, then by
// severity, then newest first (issue time, then id).
func compareContent(a, b Content) int {
	if a.Drill != b.Drill {
		if a.Drill {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)); c != 0 {
		return c
	}
	if c := b.IssuedAt.Compare(a.IssuedAt); c != 0 {
		return c
	}
	// Alert ids are time-ordered: the greater is the newer.
	return cmp.Compare(b.AlertID, a.AlertID)
}
