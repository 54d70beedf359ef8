// Package safety runs safety-check campaigns ("are you safe?"): it sends the
// question through the broadcast engine, takes replies from every path
// (LINE buttons and text, the one-tap reply page, voice), classifies them,
// keeps one status per person and campaign, aggregates by status and area,
// and puts urgent or unclear replies in front of a human (the triage queue).
package safety

import (
	"context"
	"errors"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/safety/classify"
)

// ErrNotFound is returned for an unknown check, triage item or person status.
var ErrNotFound = errors.New("not found")

// Check statuses.
const (
	CheckActive = "active"
	CheckClosed = "closed"
)

// Triage states.
const (
	TriageOpen     = "open"
	TriageAcked    = "acked"
	TriageResolved = "resolved"
)

// NoReply is the by_status key of people who have not answered.
const NoReply = "no_reply"

// Check is one safety-check campaign.
type Check struct {
	ID        string            `json:"id"`
	Status    string            `json:"status"`
	Question  map[string]string `json:"question"`
	Target    alert.Target      `json:"target"`
	Channels  []string          `json:"channels"`
	Reminders []string          `json:"reminders,omitempty"`
	Escalate  []string          `json:"escalate,omitempty"`
	Drill     bool              `json:"drill"`
	AlertID   string            `json:"alert_id"`
	CreatedBy string            `json:"created_by"`
	CreatedAt time.Time         `json:"created_at"`
	Deadline  time.Time         `json:"deadline"`
	// ClosedAt is when the check was closed at its deadline.
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	// RemindersDone is the number of reminder steps handled (sent or
	// skipped); the next one is Reminders[RemindersDone].
	RemindersDone int `json:"reminders_done,omitempty"`
	// Reminding is the step being sent, under a lease, or nil.
	Reminding *ReminderClaim `json:"reminding,omitempty"`
	// ReminderLog records each handled step.
	ReminderLog []ReminderRecord `json:"reminder_log,omitempty"`
}

// PersonStatus is the latest state of one person in one check.
type PersonStatus struct {
	ResidentID string    `json:"resident_id"`
	Area       string    `json:"area"`
	Label      string    `json:"status"`
	Confidence float64   `json:"confidence"`
	Needs      []string  `json:"needs"`
	People     int       `json:"people"`
	Location   string    `json:"location,omitempty"`
	Text       string    `json:"text,omitempty"`
	Source     string    `json:"source"`
	Channel    string    `json:"channel"`
	At         time.Time `json:"at"`
	Replies    int       `json:"replies"`
	// Pinned keeps needs_help until staff clear it, whatever the person
	// replies later.
	Pinned bool `json:"pinned,omitempty"`
}

// Reply is one answer as it arrives from any path.
type Reply struct {
	// EventID is the provider's event id or a generated one; replies are
	// idempotent on it.
	EventID string `json:"event_id"`
	// CheckID names the campaign; empty means the person's latest active one.
	CheckID string `json:"check_id,omitempty"`
	// ResidentID is the person, when the path knows it (reply page, voice).
	ResidentID string `json:"resident_id,omitempty"`
	// LINEUserID is the LINE sender, resolved to a resident by the consumer.
	LINEUserID string `json:"line_user_id,omitempty"`
	// Channel is line, web or voice.
	Channel string `json:"channel"`
	// Button is a label chosen with a button (postback, reply page, DTMF).
	Button string `json:"button,omitempty"`
	// Text is free text or a speech transcript.
	Text     string    `json:"text,omitempty"`
	Language string    `json:"language,omitempty"`
	Lat      float64   `json:"lat,omitempty"`
	Lng      float64   `json:"lng,omitempty"`
	Location string    `json:"location,omitempty"`
	At       time.Time `json:"at"`
}

// TriageItem is a reply a human must look at.
type TriageItem struct {
	ID           string    `json:"id"`
	CheckID      string    `json:"check_id"`
	ResidentID   string    `json:"resident_id"`
	ResidentName string    `json:"resident_name"`
	Area         string    `json:"area"`
	Label        string    `json:"label"`
	Confidence   float64   `json:"confidence"`
	Needs        []string  `json:"needs"`
	People       int       `json:"people"`
	Location     string    `json:"location,omitempty"`
	Text         string    `json:"text"`
	Channel      string    `json:"channel"`
	Drill        bool      `json:"drill"`
	State        string    `json:"state"`
	Note         string    `json:"note,omitempty"`
	AckedBy      string    `json:"acked_by,omitempty"`
	ResolvedBy   string    `json:"resolved_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Store is what safety checks need from storage.
type Store interface {
	PutCheck(ctx context.Context, c *Check) error
	GetCheck(ctx context.Context, id string) (*Check, error)
	ListChecks(ctx context.Context) ([]*Check, error)
	// UpdateStatus atomically replaces one person's status; fn gets nil if
	// there is none and returns the new status (nil: no change).
	UpdateStatus(ctx context.Context, checkID, residentID string, fn func(old *PersonStatus) (*PersonStatus, error)) error
	// UpdateStatuses is UpdateStatus for several distinct people in one
	// store round; each is updated atomically on its own. fn(i, old) is
	// called for ids[i]; its error leaves that status unchanged and comes
	// back as errs[i]. err is a store failure.
	UpdateStatuses(ctx context.Context, ids []StatusID, fn func(i int, old *PersonStatus) (*PersonStatus, error)) (errs []error, err error)
	ScanStatuses(ctx context.Context, checkID, after string, limit int) ([]PersonStatus, error)
	AddCounts(ctx context.Context, checkID string, deltas map[string]int64) error
	Counts(ctx context.Context, checkID string) (map[string]int64, error)
	// PutTriage stores an item unless one with its id exists.
	PutTriage(ctx context.Context, t *TriageItem) error
	// PutTriages is PutTriage for several items with distinct ids in one
	// store round.
	PutTriages(ctx context.Context, ts []*TriageItem) error
	GetTriage(ctx context.Context, id string) (*TriageItem, error)
	UpdateTriage(ctx context.Context, id string, fn func(t *TriageItem) error) (*TriageItem, error)
	ListTriage(ctx context.Context) ([]*TriageItem, error)
	// ClaimEvents atomically takes distinct event keys for processing for
	// lease, in one store round, saying for each key whether the caller got
	// it, the event was processed already (marked seen, not expired), or
	// another consumer holds an unexpired lease on it.
	ClaimEvents(ctx context.Context, keys []string, lease time.Duration) ([]EventClaim, error)
	// MarkSeen remembers keys as processed for ttl.
	MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error
	EnqueueReplies(ctx context.Context, rs ...Reply) error
	ClaimReplies(ctx context.Context, consumer string, max int, minIdle, block time.Duration) ([]QueuedReply, error)
	AckReplies(ctx context.Context, ids ...string) error
}

// EventClaim is what ClaimEvents found for one event key.
type EventClaim uint8

const (
	// EventMine: the caller took the event for processing.
	EventMine EventClaim = iota
	// EventSeen: the event was processed already (within SeenTTL).
	EventSeen
	// EventLeased: another consumer holds an unexpired lease on the event:
	// it is being processed, or its consumer died mid-page and it is not.
	EventLeased
)

// StatusID names one person's status in one check.
type StatusID struct{ CheckID, ResidentID string }

// QueuedReply is a reply taken from the durable queue.
type QueuedReply struct {
	ID    string
	Reply Reply
}

// Classifier labels free text.
type Classifier interface {
	Classify(ctx context.Context, text, lang string) (classify.Result, error)
}

// Alerts is the part of the broadcast engine a check uses to send.
type Alerts interface {
	CreateApproved(ctx context.Context, a *alert.Alert) (*alert.Alert, error)
	Get(ctx context.Context, id string) (alert.View, error)
	Vocabulary() alert.Vocabulary
}
