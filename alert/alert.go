// Package alert is the broadcast engine: the alert model, templates and text
// per language and channel, the two-person approval rule, audience planning,
// the durable dispatcher with per-channel rate limits, and the delivery ledger.
package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Alert statuses.
const (
	StatusPendingApproval = "pending_approval"
	StatusQueued          = "queued"
	StatusDispatching     = "dispatching"
	StatusCompleted       = "completed"
	StatusCancelled       = "cancelled"
	StatusFailed          = "failed"
)

// Kinds of alert.
const (
	KindManual      = "manual"
	KindSafetyCheck = "safety_check"
	KindJMA         = "jma"
	KindCAP         = "cap"
	// KindCorrection is the correction sent to the people a cancelled alert
	// reached (see Service.Cancel).
	KindCorrection = "correction"
)

// Severities (CAP vocabulary, lower case). Extreme and severe alerts go
// through the high-priority lane.
var Severities = []string{"extreme", "severe", "moderate", "minor"}

// ErrNotFound is returned when an alert does not exist.
var ErrNotFound = errors.New("alert not found")

// Target selects the audience. All or Areas must be set; Tags and Languages
// narrow it further.
type Target struct {
	All       bool     `json:"all,omitempty"`
	Areas     []string `json:"areas,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Languages []string `json:"languages,omitempty"`
	// ResidentIDs, when set, narrows the audience to these people (sorted;
	// used for safety-check reminders to non-responders).
	ResidentIDs []string `json:"resident_ids,omitempty"`
}

// MaxResidentIDs bounds an explicit audience list.
const MaxResidentIDs = 1_000_000

// Alert is one message to many people.
type Alert struct {
	ID       string            `json:"id"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Title    map[string]string `json:"title"`
	Body     map[string]string `json:"body"`
	Target   Target            `json:"target"`
	Channels []string          `json:"channels"`
	// Mode is ModeAllChannels or ModeFirstReachable ("" means all channels).
	Mode string `json:"mode,omitempty"`
	// FailoverOf is the alert whose failed recipients this one retries on
	// their next channels (ModeFirstReachable).
	FailoverOf string `json:"failover_of,omitempty"`
	Drill      bool   `json:"drill"`
	Status     string `json:"status"`
	// SafetyCheckID links a safety-check dispatch to its campaign.
	SafetyCheckID string `json:"safety_check_id,omitempty"`
	// QuickReplies are LINE answer buttons (safety checks).
	QuickReplies []QuickReply `json:"quick_replies,omitempty"`
	CreatedBy    string       `json:"created_by"`
	ApprovedBy   string       `json:"approved_by,omitempty"`
	CreatedAt    time.Time    `json:"created_at"`
	ApprovedAt   *time.Time   `json:"approved_at,omitempty"`
	CompletedAt  *time.Time   `json:"completed_at,omitempty"`
	ExpiresAt    time.Time    `json:"expires_at"`
	CancelReason string       `json:"cancel_reason,omitempty"`
	// Salt seeds the derived LINE retry keys; fixed at creation.
	Salt string `json:"salt"`
	// PlanStarted and Planned record the planning steps for crash recovery.
	PlanStarted bool `json:"plan_started,omitempty"`
	Planned     bool `json:"planned,omitempty"`
	// PlanCursor is how far planning got while batches were already being
	// sent (see PlanCursor); nil once planned.
	PlanCursor *PlanCursor `json:"plan_cursor,omitempty"`
	// Audience is the number of distinct people targeted.
	Audience int `json:"audience"`
	// PlannedByChannel is the number of recipients per channel.
	PlannedByChannel map[string]int `json:"planned_by_channel,omitempty"`
	// Batches is the number of batches planned.
	Batches int `json:"batches"`
	// BatchesPerChannel is the number of batches per channel; batch ids are
	// BatchID(ID, channel, 0..n-1), so ledgers are found without reading
	// the batches.
	BatchesPerChannel map[string]int `json:"batches_per_channel,omitempty"`
	// Problem is an operator-facing note (e.g. LINE monthly quota exhausted).
	Problem string `json:"problem,omitempty"`
	// Template is the id of the template the texts came from, if any.
	Template string `json:"template,omitempty"`
	// ChannelBody holds shorter bodies per channel and language from the
	// template (channel → language → text); Compose prefers them.
	ChannelBody map[string]map[string]string `json:"channel_body,omitempty"`
	// Corrects is the id of the cancelled alert this correction is about.
	Corrects string `json:"corrects,omitempty"`
	// Correction records the correction of this alert once it is cancelled.
	Correction *Correction `json:"correction,omitempty"`
}

// Counts are the delivery counts of one channel. Sent counts messages the
// provider accepted (including those later confirmed delivered); Delivered
// is the confirmed subset; Queued is what is neither sent nor failed yet.
type Counts struct {
	Planned   int64 `json:"planned"`
	Queued    int64 `json:"queued"`
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
}

// View is the API and console representation of an alert.
type View struct {
	ID           string            `json:"id"`
	Kind         string            `json:"kind"`
	Severity     string            `json:"severity"`
	Status       string            `json:"status"`
	Drill        bool              `json:"drill"`
	Title        map[string]string `json:"title"`
	Body         map[string]string `json:"body"`
	Target       Target            `json:"target"`
	Channels     []string          `json:"channels"`
	Audience     int               `json:"audience"`
	Counts       map[string]Counts `json:"counts"`
	CreatedBy    string            `json:"created_by"`
	ApprovedBy   string            `json:"approved_by,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	CompletedAt  *time.Time        `json:"completed_at,omitempty"`
	ExpiresAt    time.Time         `json:"expires_at"`
	CancelReason string            `json:"cancel_reason,omitempty"`
	Problem      string            `json:"problem,omitempty"`
	SafetyCheck  string            `json:"safety_check_id,omitempty"`
	// Template is the template the texts came from.
	Template string `json:"template,omitempty"`
	// Corrects is, for a correction, the id of the cancelled alert.
	Corrects string `json:"corrects,omitempty"`
	// CorrectionID is the correction sent after this alert was cancelled.
	CorrectionID string `json:"correction_id,omitempty"`
	// CorrectionNote says why no correction was sent, or that one is due.
	CorrectionNote string `json:"correction_note,omitempty"`
}

// Terminal reports whether the status can no longer change.
func Terminal(status string) bool {
	return status == StatusCompleted || status == StatusCancelled || status == StatusFailed
}

// Request is what a client sends to create an alert.
type Request struct {
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Title    map[string]string `json:"title"`
	Body     map[string]string `json:"body"`
	Template string            `json:"template,omitempty"`
	Vars     map[string]string `json:"vars,omitempty"`
	Target   Target            `json:"target"`
	Channels []string          `json:"channels"`
	// Mode is ModeAllChannels (default) or ModeFirstReachable.
	Mode      string     `json:"mode,omitempty"`
	Drill     bool       `json:"drill"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// InputError is a problem with a request, naming the field.
type InputError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Limits on alert text, chosen so every channel can carry it: LINE allows
// 5,000 characters, Twilio 1,600; a title is shown on signage.
const (
	MaxTitle = 100
	MaxBody  = 1000
)

// Directory facts a request is validated against.
type Vocabulary struct {
	Areas     []string
	Languages []string
	Channels  []string
}

func validateText(field string, m map[string]string, max int, langs []string) error {
	if len(m) == 0 {
		return &InputError{field, "must have at least one language (ja or en)"}
	}
	for lang, s := range m {
		if !slices.Contains(langs, lang) {
			return &InputError{field + "." + lang, "unknown language; use one of " + strings.Join(langs, ", ")}
		}
		if !utf8.ValidString(s) {
			return &InputError{field + "." + lang, "must be valid UTF-8"}
		}
		n := utf8.RuneCountInString(strings.TrimSpace(s))
		if n == 0 {
			return &InputError{field + "." + lang, "must not be empty"}
		}
		if n > max {
			return &InputError{field + "." + lang, fmt.Sprintf("is %d characters; at most %d", n, max)}
		}
	}
	return nil
}

// Validate checks a request against the vocabulary and now.
func (r *Request) Validate(v Vocabulary, now time.Time) error {
	if r.Kind == "" {
		r.Kind = KindManual
	}
	if r.Kind != KindManual {
		return &InputError{"kind", "only manual alerts can be created through the API"}
	}
	return r.validateContent(v, now)
}

// validateContent checks everything but the kind.
func (r *Request) validateContent(v Vocabulary, now time.Time) error {
	if r.Severity == "" {
		r.Severity = "severe"
	}
	if !slices.Contains(Severities, r.Severity) {
		return &InputError{"severity", "must be one of " + strings.Join(Severities, ", ")}
	}
	if err := validateText("title", r.Title, MaxTitle, v.Languages); err != nil {
		return err
	}
	if err := validateText("body", r.Body, MaxBody, v.Languages); err != nil {
		return err
	}
	if err := ValidateTarget(r.Target, v); err != nil {
		return err
	}
	if len(r.Channels) == 0 {
		return &InputError{"channels", "name at least one channel"}
	}
	for _, c := range r.Channels {
		if !slices.Contains(v.Channels, c) {
			return &InputError{"channels", fmt.Sprintf("unknown or disabled channel %q; enabled: %s", c, strings.Join(v.Channels, ", "))}
		}
	}
	if r.Mode != "" && r.Mode != ModeAllChannels && r.Mode != ModeFirstReachable {
		return &InputError{"mode", "must be all_channels or first_reachable"}
	}
	if r.ExpiresAt != nil && !r.ExpiresAt.After(now) {
		return &InputError{"expires_at", "is in the past"}
	}
	return nil
}

// ValidateTarget checks a target against the vocabulary.
func ValidateTarget(t Target, v Vocabulary) error {
	if !t.All && len(t.Areas) == 0 {
		return &InputError{"target", "set all:true or name areas"}
	}
	if t.All && len(t.Areas) > 0 {
		return &InputError{"target", "all and areas exclude each other"}
	}
	for _, a := range t.Areas {
		if !slices.Contains(v.Areas, a) {
			return &InputError{"target.areas", fmt.Sprintf("unknown area %q; use one of %s", a, strings.Join(v.Areas, ", "))}
		}
	}
	for _, tag := range t.Tags {
		if tag == "" || len(tag) > 32 {
			return &InputError{"target.tags", "tags are 1-32 characters"}
		}
	}
	for _, l := range t.Languages {
		if !slices.Contains(v.Languages, l) {
			return &InputError{"target.languages", fmt.Sprintf("unknown language %q", l)}
		}
	}
	if len(t.ResidentIDs) > MaxResidentIDs {
		return &InputError{"target.resident_ids", fmt.Sprintf("at most %d", MaxResidentIDs)}
	}
	if !slices.IsSorted(t.ResidentIDs) {
		return &InputError{"target.resident_ids", "must be sorted"}
	}
	return nil
}

// Store is what the broadcast engine needs from storage.
type Store interface {
	PutAlert(ctx context.Context, a *Alert) error
	GetAlert(ctx context.Context, id string) (*Alert, error)
	// UpdateAlert applies fn atomically; fn may run more than once.
	UpdateAlert(ctx context.Context, id string, fn func(a *Alert) error) (*Alert, error)
	// ListAlerts returns up to limit alerts with ids after after, oldest first.
	ListAlerts(ctx context.Context, after string, limit int) ([]*Alert, error)

	PutBatches(ctx context.Context, bs []*Batch) error
	GetBatch(ctx context.Context, id string) (*Batch, error)
	// ScanBatches returns batches of one alert in id order after after.
	ScanBatches(ctx context.Context, alertID, after string, limit int) ([]*Batch, error)

	GetLedger(ctx context.Context, batchID string) (*Ledger, error)
	// GetLedgers reads several ledgers in one store round, lined up with
	// batchIDs (a zero Ledger for a batch without one).
	GetLedgers(ctx context.Context, batchIDs []string) ([]*Ledger, error)
	// UpdateLedgers applies fn to the ledgers of distinct batches (a fresh
	// zero Ledger for a batch without one) in one store round; fn may run
	// more than once. Each ledger is updated atomically on its own, together
	// with the count changes fn returns for it (added to the counts of
	// alertIDs[i] in the same write, and only if the ledger is written).
	// errs[i] is what fn returned for batchIDs[i]; err is a failure of the
	// store.
	UpdateLedgers(ctx context.Context, batchIDs, alertIDs []string, fn func(i int, l *Ledger) (map[string]int64, error)) (errs []error, err error)

	Counts(ctx context.Context, alertID string) (map[string]int64, error)
	// SetCounts sets the named counts to the given values and leaves the
	// others (delivery receipts) alone.
	SetCounts(ctx context.Context, alertID string, counts map[string]int64) error

	// PutRefs records which batch and recipient a provider message id belongs to.
	PutRefs(ctx context.Context, refs map[string]Ref) error
	// GetRefs returns the refs of those provider ids that have one.
	GetRefs(ctx context.Context, providerIDs []string) (map[string]Ref, error)
	// StashStatuses keeps delivery receipts that arrived before their
	// message ids were recorded; TakeStatuses removes and returns those of
	// the given ids that are kept (each to one caller only).
	StashStatuses(ctx context.Context, rs []Receipt) error
	TakeStatuses(ctx context.Context, providerIDs []string) ([]Receipt, error)

	Enqueue(ctx context.Context, queue string, batchIDs ...string) error
	Claim(ctx context.Context, queue, consumer string, max int, minIdle, block time.Duration) ([]Job, error)
	Ack(ctx context.Context, queue string, jobIDs ...string) error
	// Release makes the jobs claimed by consumers for which dead reports
	// true claimable at once (see Dispatcher.Recover).
	Release(ctx context.Context, queue string, dead func(consumer string) bool) (int, error)
}

// Job is a claimed queue entry naming a batch.
type Job struct {
	ID         string
	BatchID    string
	Deliveries int
}

// Ref points from a provider message id to a recipient of a batch.
type Ref struct {
	AlertID string `json:"alert_id"`
	BatchID string `json:"batch_id"`
	Index   int    `json:"index"`
}

// Publisher receives live changes for the console (topic "alerts", key = alert id).
type Publisher interface {
	Publish(topic, key string, v any)
}
