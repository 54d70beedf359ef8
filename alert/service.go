package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/minato-city/anpi/alert/template"
	"github.com/minato-city/anpi/internal/throttle"
)

// ErrState is wrapped by errors about an action the alert's status does not
// allow (approving a cancelled alert, cancelling twice).
var ErrState = errors.New("not allowed in this state")

// ErrSelfApproval is returned when the creator of an alert tries to approve it.
var ErrSelfApproval = errors.New("the creator of an alert cannot approve it (two-person rule)")

// Config holds the engine's knobs.
type Config struct {
	// DefaultExpiry is how long an alert stays useful when the request names
	// no expiry (default 3h).
	DefaultExpiry time.Duration
	// Vocabulary is what requests are validated against.
	Vocabulary Vocabulary
	// Templates are the alert templates (nil: requests naming a template
	// are refused; corrections use built-in texts).
	Templates *template.Set
	// TextRules are the per-channel length rules (SMS warning threshold).
	TextRules template.Rules
}

// Service creates, approves, cancels and reports alerts. The Dispatcher does
// the sending.
type Service struct {
	store Store
	pub   Publisher
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	// kick wakes the planner after an approval.
	kick func(id string)
	// rq gathers delivery receipts into shared store rounds.
	rq receiptQueue
	// endpoints are the non-person recipients per channel, for previews.
	endpoints map[string]Endpoints
	// throttle spaces out the publishes that receipts and batch progress
	// cause.
	throttle throttle.Keyed
}

// NewService returns a Service.
func NewService(store Store, pub Publisher, cfg Config, log *slog.Logger) *Service {
	if cfg.DefaultExpiry <= 0 {
		cfg.DefaultExpiry = 3 * time.Hour
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, pub: pub, cfg: cfg, log: log, now: time.Now, kick: func(string) {},
		throttle: throttle.Keyed{Every: progressEvery}}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Vocabulary returns what requests are validated against.
func (s *Service) Vocabulary() Vocabulary { return s.cfg.Vocabulary }

// NewID returns a new time-ordered id with prefix.
func NewID(prefix string) string {
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return prefix + strings.ReplaceAll(id.String(), "-", "")
}

// Create stores a new manual alert waiting for approval by another staff member.
func (s *Service) Create(ctx context.Context, req Request, actor string) (*Alert, error) {
	a, err := s.newAlert(&req, actor)
	if err != nil {
		return nil, err
	}
	if err := s.store.PutAlert(ctx, a); err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	s.log.Info("alert created", "alert", a.ID, "drill", a.Drill, "by", actor)
	s.publish(ctx, a)
	return a, nil
}

// CreateApproved stores an alert that needs no second approval (safety-check
// dispatches and pre-approved trigger templates) and starts it at once.
func (s *Service) CreateApproved(ctx context.Context, a *Alert) (*Alert, error) {
	now := s.now()
	if a.ID == "" {
		a.ID = NewID("al_")
	}
	a.Target.ResidentIDs = slices.Compact(slices.Sorted(slices.Values(a.Target.ResidentIDs)))
	if err := ValidateTarget(a.Target, s.cfg.Vocabulary); err != nil {
		return nil, err
	}
	if len(a.Channels) == 0 {
		return nil, &InputError{"channels", "name at least one channel"}
	}
	for _, c := range a.Channels {
		if !slices.Contains(s.cfg.Vocabulary.Channels, c) {
			return nil, &InputError{"channels", fmt.Sprintf("unknown or disabled channel %q", c)}
		}
	}
	a.Channels = dedupe(a.Channels)
	a.Status = StatusQueued
	a.CreatedAt = now
	a.ApprovedAt = &now
	if a.ApprovedBy == "" {
		a.ApprovedBy = "system"
	}
	if a.ExpiresAt.IsZero() {
		a.ExpiresAt = now.Add(s.cfg.DefaultExpiry)
	}
	if a.Salt == "" {
		a.Salt = uuid.NewString()
	}
	if err := s.store.PutAlert(ctx, a); err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	s.publish(ctx, a)
	s.kick(a.ID)
	return a, nil
}

// Approve approves a pending alert on behalf of actor, who must not be its
// creator, and hands it to the planner.
func (s *Service) Approve(ctx context.Context, id, actor string) (*Alert, error) {
	now := s.now()
	a, err := s.store.UpdateAlert(ctx, id, func(a *Alert) error {
		if a.Status != StatusPendingApproval {
			return fmt.Errorf("approve alert in status %s: %w", a.Status, ErrState)
		}
		if a.CreatedBy == actor {
			return ErrSelfApproval
		}
		if !now.Before(a.ExpiresAt) {
			return fmt.Errorf("approve alert that expired at %s: %w", a.ExpiresAt.Format(time.RFC3339), ErrState)
		}
		a.Status = StatusQueued
		a.ApprovedBy = actor
		a.ApprovedAt = &now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("alert approved", "alert", id, "by", actor)
	s.publish(ctx, a)
	s.kick(id)
	return a, nil
}

// Get returns the view of one alert.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	a, err := s.store.GetAlert(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, a)
}

// List returns the views of up to limit alerts, newest first.
func (s *Service) List(ctx context.Context, limit int) ([]View, error) {
	var all []*Alert
	after := ""
	for {
		page, err := s.store.ListAlerts(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	slices.Reverse(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	out := make([]View, 0, len(all))
	for _, a := range all {
		v, err := s.view(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) view(ctx context.Context, a *Alert) (View, error) {
	c, err := s.store.Counts(ctx, a.ID)
	if err != nil {
		return View{}, fmt.Errorf("alert counts: %w", err)
	}
	v := View{
		ID: a.ID, Kind: a.Kind, Severity: a.Severity, Status: a.Status, Drill: a.Drill,
		Title: a.Title, Body: a.Body, Target: a.Target, Channels: a.Channels, Audience: a.Audience,
		Counts: map[string]Counts{}, CreatedBy: a.CreatedBy, ApprovedBy: a.ApprovedBy,
		CreatedAt: a.CreatedAt, CompletedAt: a.CompletedAt, ExpiresAt: a.ExpiresAt,
		CancelReason: a.CancelReason, Problem: a.Problem, SafetyCheck: a.SafetyCheckID,
		Template: a.Template, Corrects: a.Corrects,
	}
	if c := a.Correction; c != nil {
		v.CorrectionID, v.CorrectionNote = c.ID, c.Note
	}
	for _, ch := range a.Channels {
		undelivered := c[ch+countReceiptUndelivered]
		k := Counts{
			Planned: int64(a.PlannedByChannel[ch]), Sent: c[ch+countSent] - undelivered,
			Delivered: c[ch+countReceiptDelivered], Failed: c[ch+countFailed] + undelivered,
		}
		if a.Status != StatusCancelled {
			k.Queued = max(0, k.Planned-k.Sent-k.Failed)
		}
		v.Counts[ch] = k
	}
	return v, nil
}

func (s *Service) publish(ctx context.Context, a *Alert) {
	if s.pub == nil {
		return
	}
	if !Terminal(a.Status) {
		// Progress updates race with the update that finishes the alert
		// (many workers publish): a stale copy must not be the last word.
		if fresh, err := s.store.GetAlert(ctx, a.ID); err == nil {
			a = fresh
		}
	}
	s.publishView(ctx, a)
}

// publishView publishes the view of a as it is.
func (s *Service) publishView(ctx context.Context, a *Alert) {
	v, err := s.view(ctx, a)
	if err != nil {
		s.log.Warn("alert view", "alert", a.ID, "err", err)
		return
	}
	s.pub.Publish("alerts", a.ID, v)
}

// Delivery is one recipient's delivery record.
type Delivery struct {
	ResidentID string `json:"resident_id"`
	Channel    string `json:"channel"`
	Language   string `json:"language"`
	State      string `json:"state"`
	ProviderID string `json:"provider_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Batch      string `json:"batch"`
}

// Deliveries returns up to limit delivery records of an alert after cursor,
// optionally only those in state, and the cursor of the next page ("" at the end).
func (s *Service) Deliveries(ctx context.Context, id, state, cursor string, limit int) ([]Delivery, string, error) {
	if _, err := s.store.GetAlert(ctx, id); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	afterBatch, afterIdx := "", -1
	if cursor != "" {
		b, i, ok := strings.Cut(cursor, "#")
		n, err := strconv.Atoi(i)
		if !ok || err != nil || !strings.HasPrefix(b, id+"/") {
			return nil, "", &InputError{"cursor", "is not a cursor of this alert"}
		}
		afterBatch, afterIdx = b, n
	}
	var out []Delivery
	scanAfter := ""
	if afterBatch != "" {
		// Revisit the cursor's own batch for the recipients after afterIdx.
		scanAfter = prevKey(afterBatch)
	}
	for {
		bs, err := s.store.ScanBatches(ctx, id, scanAfter, 50)
		if err != nil {
			return nil, "", err
		}
		if len(bs) == 0 {
			return out, "", nil
		}
		for _, b := range bs {
			l, err := s.store.GetLedger(ctx, b.ID)
			if err != nil {
				return nil, "", err
			}
			start := 0
			if b.ID == afterBatch {
				start = afterIdx + 1
			}
			for i := start; i < len(b.Recipients); i++ {
				d := Delivery{ResidentID: b.Recipients[i].ResidentID, Channel: b.Channel, Language: b.Language, State: "queued", Batch: b.ID}
				if i < len(l.R) {
					d.State = StateName(l.R[i])
				}
				if len(l.P) == 1 {
					d.ProviderID = l.P[0]
				} else if i < len(l.P) {
					d.ProviderID = l.P[i]
				}
				d.Reason = l.Reasons[i]
				if state != "" && d.State != state {
					continue
				}
				out = append(out, d)
				if len(out) == limit {
					return out, b.ID + "#" + strconv.Itoa(i), nil
				}
			}
			scanAfter = b.ID
		}
	}
}

// prevKey returns a key that sorts just before k, so a scan "after" it
// includes k.
func prevKey(k string) string {
	if k == "" {
		return ""
	}
	b := []byte(k)
	last := b[len(b)-1]
	if last == 0 {
		return string(b[:len(b)-1])
	}
	b[len(b)-1] = last - 1
	return string(b) + "\xff"
}

func dedupe(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// publishSoon publishes alert id now, or at the end of its interval
// (progressEvery) with the state it has then.
func (s *Service) publishSoon(id string) {
	if s.pub == nil {
		return
	}
	s.throttle.Do(id, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if a, err := s.store.GetAlert(ctx, id); err == nil {
			s.publishView(ctx, a)
		}
	})
}
