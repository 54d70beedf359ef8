package safety

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
)

// Reminder and escalation rules.
//
// A check's Reminders are delays after its start ("15m", "60m"). At each
// reminder step i the question is sent again, through the broadcast engine,
// only to non-responders: people in the check's target who are reachable on
// one of the check's channels (the audience counted as "sent" at start) and
// have no status in the check. Nobody who has answered is ever reminded.
//
// Escalation: at step i an ordinary non-responder is also reached on
// Escalate[i] (if i < len(Escalate) and they have an address there).
// Residents tagged needs_support go first: their reminder is a separate
// alert created before the others', and from the first reminder on they are
// reached on every escalation channel (the whole chain, e.g. SMS and voice
// at 15m and again at 60m while they stay silent).
//
// Each step is sent at most once per check: a process claims it on the
// check (UpdateCheck) under a lease, with the ids of the alerts it will
// create fixed in the claim; a process that takes over an expired claim
// reuses those ids and skips alerts that already exist. When several steps
// are overdue (the server was down) only the latest is sent and the earlier
// ones are recorded as skipped, so people do not get reminders back to back.
// At the deadline the check is closed and no reminder goes out after it.

// TagNeedsSupport marks residents who need help to evacuate (elderly,
// disabled); they are escalated first.
const TagNeedsSupport = "needs_support"

// Limits on a reminder schedule.
const (
	MaxReminders     = 10
	MaxReminderDelay = 48 * time.Hour
)

// ReminderLease is how long a claimed reminder step is reserved for the
// process that claimed it before another may take it over.
const ReminderLease = 5 * time.Minute

// ErrNoCheckUpdater is returned by DueReminders when the store cannot
// update checks atomically.
var ErrNoCheckUpdater = errors.New("store has no UpdateCheck: reminders disabled")

// CheckUpdater is the storage method reminders need on top of Store.
type CheckUpdater interface {
	// UpdateCheck atomically applies fn to the stored check and returns the
	// check as stored. fn may run more than once and must not have side
	// effects; if it returns an error nothing is written and UpdateCheck
	// returns that error. An unknown id is ErrNotFound.
	UpdateCheck(ctx context.Context, id string, fn func(c *Check) error) (*Check, error)
}

// ReminderClaim is a reminder step being sent.
type ReminderClaim struct {
	Step int `json:"step"`
	// Until is the end of the lease; after it another process may take over.
	Until time.Time `json:"until"`
	// AlertIDs are the ids of the step's alerts: [0] needs_support
	// non-responders, [1] everyone else.
	AlertIDs []string `json:"alert_ids"`
}

// ReminderRecord is one handled reminder step.
type ReminderRecord struct {
	Step int       `json:"step"`
	Due  time.Time `json:"due"`
	At   time.Time `json:"at"`
	// Skipped is set for a step that was overdue when a later one fell due
	// (or whose sender was interrupted); nothing more is sent for it.
	Skipped  bool     `json:"skipped,omitempty"`
	AlertIDs []string `json:"alert_ids,omitempty"`
	// Reminded is the number of non-responders the step went to.
	Reminded int `json:"reminded"`
	// ByChannel is how many of them have an address on each channel.
	ByChannel map[string]int `json:"by_channel,omitempty"`
}

var reminderTitle = map[string]string{
	"ja": "安否確認（再通知）", "en": "Safety check (reminder)", "zh": "安全确认（提醒）",
	"ko": "안부 확인 (재알림)", "ja-easy": "あんぴ かくにん（もう いちど）",
}

// validateReminders checks a reminder schedule and escalation chain; window
// is the time from start to the deadline.
func validateReminders(reminders, escalate, channels []string, window time.Duration) error {
	if len(reminders) > MaxReminders {
		return &alert.InputError{Field: "reminders", Reason: fmt.Sprintf("at most %d reminders", MaxReminders)}
	}
	var prev time.Duration
	for _, s := range reminders {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			return &alert.InputError{Field: "reminders", Reason: fmt.Sprintf("%q is not a duration like 15m", s)}
		case d <= 0 || d > MaxReminderDelay:
			return &alert.InputError{Field: "reminders", Reason: fmt.Sprintf("%q must be after the start and at most %s", s, MaxReminderDelay)}
		case d <= prev:
			return &alert.InputError{Field: "reminders", Reason: "must be in increasing order"}
		case d >= window:
			return &alert.InputError{Field: "reminders", Reason: fmt.Sprintf("%q is not before the deadline", s)}
		}
		prev = d
	}
	if len(escalate) > len(reminders) {
		return &alert.InputError{Field: "escalate", Reason: "at most one escalation channel per reminder"}
	}
	for _, c := range escalate {
		if !slices.Contains(channels, c) {
			return &alert.InputError{Field: "escalate", Reason: fmt.Sprintf("unknown or disabled channel %q", c)}
		}
	}
	return nil
}

func schedule(c *Check) ([]time.Duration, error) {
	out := make([]time.Duration, len(c.Reminders))
	for i, s := range c.Reminders {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("reminder %q: bad duration", s)
		}
		out[i] = d
	}
	return out, nil
}

// dueStep returns the latest step not yet handled whose time has come
// before the deadline, or -1.
func dueStep(c *Check, sched []time.Duration, now time.Time) int {
	k := -1
	for i := c.RemindersDone; i < len(sched); i++ {
		at := c.CreatedAt.Add(sched[i])
		if at.After(now) || !at.Before(c.Deadline) {
			break
		}
		k = i
	}
	return k
}

// errSkip aborts an UpdateCheck without writing: nothing to do.
var errSkip = errors.New("skip")

// RunReminders sends due reminders and closes checks past their deadline
// every tick until ctx is done. It returns at once if the store cannot
// update checks atomically.
func (s *Service) RunReminders(ctx context.Context, tick time.Duration) {
	if _, ok := s.store.(CheckUpdater); !ok {
		s.log.Warn("safety reminders disabled", "err", ErrNoCheckUpdater)
		return
	}
	if tick <= 0 {
		tick = 15 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if err := s.DueReminders(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Error("safety reminders", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DueReminders handles every active check at now: a check past its deadline
// is closed; otherwise its latest due reminder step, if any, is claimed,
// sent to the non-responders and recorded on the check. It is safe to call
// repeatedly and from several processes: a step is sent once.
func (s *Service) DueReminders(ctx context.Context, now time.Time) error {
	up, ok := s.store.(CheckUpdater)
	if !ok {
		return fmt.Errorf("reminders: %w", ErrNoCheckUpdater)
	}
	cs, err := s.store.ListChecks(ctx)
	if err != nil {
		return fmt.Errorf("reminders: %w", err)
	}
	var errs []error
	for _, c := range cs {
		if c.Status != CheckActive {
			continue
		}
		if err := s.remindCheck(ctx, up, c, now); err != nil {
			errs = append(errs, fmt.Errorf("reminders of %s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) remindCheck(ctx context.Context, up CheckUpdater, c *Check, now time.Time) error {
	if !now.Before(c.Deadline) {
		return s.closeCheck(ctx, up, c.ID, now)
	}
	sched, err := schedule(c)
	if err != nil {
		return err
	}
	if dueStep(c, sched, now) < 0 {
		return nil
	}
	ids := []string{alert.NewID("al_"), alert.NewID("al_")}
	claimed, err := up.UpdateCheck(ctx, c.ID, func(c *Check) error {
		if c.Status != CheckActive || !now.Before(c.Deadline) {
			return errSkip
		}
		k := dueStep(c, sched, now)
		if k < 0 {
			return errSkip
		}
		if r := c.Reminding; r != nil {
			if now.Before(r.Until) {
				return errSkip // another process is sending
			}
			if r.Step == k {
				// Take over an interrupted send of this step with its ids.
				r.Until = now.Add(ReminderLease)
				return nil
			}
		}
		for j := c.RemindersDone; j < k; j++ {
			c.ReminderLog = append(c.ReminderLog, ReminderRecord{Step: j, Due: c.CreatedAt.Add(sched[j]), At: now, Skipped: true})
		}
		c.RemindersDone = k
		c.Reminding = &ReminderClaim{Step: k, Until: now.Add(ReminderLease), AlertIDs: ids}
		return nil
	})
	if errors.Is(err, errSkip) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim reminder: %w", err)
	}
	claim := *claimed.Reminding
	rec, err := s.sendReminder(ctx, claimed, claim)
	if err != nil {
		// The claim stays; after its lease this or another process retries
		// the step with the same alert ids.
		return err
	}
	rec.Due, rec.At = claimed.CreatedAt.Add(sched[claim.Step]), now
	done, err := up.UpdateCheck(ctx, c.ID, func(c *Check) error {
		if c.RemindersDone != claim.Step || c.Reminding == nil || c.Reminding.Step != claim.Step {
			return errSkip // finished by a process that took over
		}
		c.RemindersDone = claim.Step + 1
		c.Reminding = nil
		c.ReminderLog = append(c.ReminderLog, rec)
		return nil
	})
	if errors.Is(err, errSkip) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record reminder: %w", err)
	}
	s.log.Info("safety check reminder sent", "check", c.ID, "step", claim.Step, "reminded", rec.Reminded)
	s.publishCheck(ctx, done)
	return nil
}

type reminderGroup struct {
	channels []string
	ids      []string
}

// sendReminder creates the step's alerts that do not exist yet: needs_support
// non-responders first, then the others.
func (s *Service) sendReminder(ctx context.Context, c *Check, claim ReminderClaim) (ReminderRecord, error) {
	rec := ReminderRecord{Step: claim.Step, ByChannel: map[string]int{}}
	groups, err := s.nonResponders(ctx, c, claim.Step, rec.ByChannel)
	if err != nil {
		return ReminderRecord{}, err
	}
	for gi, g := range groups {
		// An empty list would mean "no restriction" to the engine: never
		// create an alert without recipients.
		if len(g.ids) == 0 {
			continue
		}
		id := claim.AlertIDs[gi]
		rec.AlertIDs = append(rec.AlertIDs, id)
		rec.Reminded += len(g.ids)
		if _, err := s.alerts.Get(ctx, id); err == nil {
			continue // created before an interruption
		} else if !errors.Is(err, alert.ErrNotFound) {
			return rec, fmt.Errorf("reminder alert: %w", err)
		}
		if _, err := s.alerts.CreateApproved(ctx, reminderAlert(c, id, g)); err != nil {
			return rec, fmt.Errorf("reminder alert: %w", err)
		}
	}
	return rec, nil
}

// nonResponders returns the step's two groups, [0] needs_support and [1]
// the others, each with its channels and sorted resident ids, and adds to
// byChannel how many of them have an address on each of their channels.
func (s *Service) nonResponders(ctx context.Context, c *Check, step int, byChannel map[string]int) ([2]reminderGroup, error) {
	var g [2]reminderGroup
	g[0].channels = union(c.Channels, c.Escalate)
	if step < len(c.Escalate) {
		g[1].channels = union(c.Channels, c.Escalate[step:step+1])
	} else {
		g[1].channels = union(c.Channels, nil)
	}
	answered := map[string]bool{}
	after := ""
	for {
		page, err := s.store.ScanStatuses(ctx, c.ID, after, 1000)
		if err != nil {
			return g, fmt.Errorf("reminder statuses: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			answered[p.ResidentID] = true
		}
		after = page[len(page)-1].ResidentID
	}
	err := s.people.Each(ctx, func(r residents.Resident) error {
		if answered[r.ID] || !c.Target.Matches(&r) || !reachable(&r, c.Channels) {
			return nil
		}
		i := 1
		if r.HasTag(TagNeedsSupport) {
			i = 0
		}
		g[i].ids = append(g[i].ids, r.ID)
		for _, ch := range g[i].channels {
			if alert.Address(&r, ch) != "" {
				byChannel[ch]++
			}
		}
		return nil
	})
	if err != nil {
		return g, fmt.Errorf("reminder audience: %w", err)
	}
	for i := range g {
		slices.Sort(g[i].ids)
	}
	return g, nil
}

func reachable(r *residents.Resident, channels []string) bool {
	for _, ch := range channels {
		if alert.Address(r, ch) != "" {
			return true
		}
	}
	return false
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func reminderAlert(c *Check, id string, g reminderGroup) *alert.Alert {
	title := map[string]string{}
	for lang := range c.Question {
		title[lang] = cmp.Or(reminderTitle[lang], checkTitle[lang])
	}
	qr := make([]alert.QuickReply, len(Buttons))
	for i, b := range Buttons {
		qr[i] = alert.QuickReply{Label: b.Text, Data: PostbackData(c.ID, b.Label)}
	}
	t := c.Target
	t.ResidentIDs = slices.Clone(g.ids)
	return &alert.Alert{
		ID: id, Kind: alert.KindSafetyCheck, Severity: "severe", Title: title, Body: c.Question,
		Target: t, Channels: slices.Clone(g.channels), Drill: c.Drill, SafetyCheckID: c.ID,
		QuickReplies: qr, CreatedBy: c.CreatedBy, ExpiresAt: c.Deadline,
	}
}

func (s *Service) closeCheck(ctx context.Context, up CheckUpdater, id string, now time.Time) error {
	c, err := up.UpdateCheck(ctx, id, func(c *Check) error {
		if c.Status != CheckActive {
			return errSkip
		}
		c.Status = CheckClosed
		c.ClosedAt = &now
		return nil
	})
	if errors.Is(err, errSkip) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("close check: %w", err)
	}
	s.log.Info("safety check closed at deadline", "check", id)
	s.publishCheck(ctx, c)
	return nil
}
