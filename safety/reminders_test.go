package safety_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/safety/classify"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

// plainStore hides any UpdateCheck of the store it wraps.
type plainStore struct{ safety.Store }

// recAlerts records the alerts created through the real engine; fail can
// refuse a creation.
type recAlerts struct {
	*alert.Service
	mu      sync.Mutex
	created []alert.Alert
	fail    func(a *alert.Alert) error
}

func (r *recAlerts) CreateApproved(ctx context.Context, a *alert.Alert) (*alert.Alert, error) {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(a); err != nil {
			return nil, err
		}
	}
	out, err := r.Service.CreateApproved(ctx, a)
	if err == nil {
		r.mu.Lock()
		r.created = append(r.created, *out)
		r.mu.Unlock()
	}
	return out, err
}

// take returns and forgets the alerts created so far.
func (r *recAlerts) take() []alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.created
	r.created = nil
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 3, 11, 14, 46, 0, 0, time.UTC)

type remEnv struct {
	svc    *safety.Service
	alerts *recAlerts
	st     safety.Store
	people []residents.Resident
	clk    *clock
	dir    *residents.Directory
	db     *bolt.DB
	log    *slog.Logger
}

func line(n string) string { return "U" + strings.Repeat(n, 32) }

// The test population. The check targets shiba and azabu on LINE and
// escalates to sms, then voice.
var remPeople = []residents.Resident{
	{ID: "r01", Language: "ja", Area: "shiba", Contacts: residents.Contacts{LINEUserID: line("1")}},
	{ID: "r02", Language: "en", Area: "shiba", Contacts: residents.Contacts{LINEUserID: line("2"), Phone: "+819000000002"}},
	{ID: "r03", Language: "ja", Area: "azabu", Contacts: residents.Contacts{LINEUserID: line("3")}, Tags: []string{safety.TagNeedsSupport}},
	{ID: "r04", Language: "ja", Area: "azabu", Contacts: residents.Contacts{LINEUserID: line("4"), Phone: "+819000000004"}},
	{ID: "r05", Language: "ko", Area: "azabu", Contacts: residents.Contacts{LINEUserID: line("5"), Phone: "+819000000005"}},
	{ID: "r06", Language: "ja", Area: "shiba", Contacts: residents.Contacts{LINEUserID: line("6"), VoicePhone: "+81300000006"}, Tags: []string{safety.TagNeedsSupport}},
	{ID: "r07", Language: "ja", Area: "shiba", Contacts: residents.Contacts{LINEUserID: line("7"), Phone: "+819000000007"}, Tags: []string{safety.TagNeedsSupport}},
	// Not in the target area.
	{ID: "r08", Language: "ja", Area: "akasaka", Contacts: residents.Contacts{LINEUserID: line("8"), Phone: "+819000000008"}},
	// Never asked (no LINE): not reminded either.
	{ID: "r09", Language: "ja", Area: "shiba", Contacts: residents.Contacts{Phone: "+819000000009"}},
	{ID: "r10", Language: "zh", Area: "azabu", Contacts: residents.Contacts{LINEUserID: line("a")}},
}

func newRemEnv(t *testing.T) *remEnv {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &remEnv{clk: &clock{t: t0}, people: remPeople, db: db, log: slog.New(slog.DiscardHandler)}
	svc := alert.NewService(repo.Alerts{B: db}, nil, alert.Config{Vocabulary: alert.Vocabulary{
		Areas: residents.Areas, Languages: residents.Languages, Channels: []string{"line", "sms", "voice"}}}, e.log)
	svc.SetClock(e.clk.now)
	e.alerts = &recAlerts{Service: svc}
	e.dir = residents.NewDirectory(repo.Residents{B: db})
	if bad, err := e.dir.Put(context.Background(), remPeople); err != nil || bad != nil {
		t.Fatal(err, bad)
	}
	e.st = repo.Safety{B: db}
	e.svc = e.service(e.st)
	return e
}

// service returns a Service over the env's store, engine and directory (a
// second process shares all three).
func (e *remEnv) service(st safety.Store) *safety.Service {
	s := safety.NewService(st, e.alerts, e.dir, classify.NewEnsemble(classify.Rules{}, nil, e.log), nil, e.log)
	s.SetClock(e.clk.now)
	return s
}

func (e *remEnv) start(t *testing.T, reminders, escalate []string, deadline time.Duration) *safety.Check {
	t.Helper()
	dl := t0.Add(deadline)
	c, err := e.svc.Start(context.Background(), safety.CheckRequest{
		Target: alert.Target{Areas: []string{"shiba", "azabu"}}, Channels: []string{"line"},
		Reminders: reminders, Escalate: escalate, Drill: true, Deadline: &dl,
	}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.alerts.take(); len(got) != 1 || got[0].ID != c.AlertID {
		t.Fatalf("start created %d alerts", len(got))
	}
	return c
}

func (e *remEnv) answer(t *testing.T, c *safety.Check, at time.Duration, ids ...string) {
	t.Helper()
	for _, id := range ids {
		r := safety.Reply{EventID: "ev-" + id + at.String(), ResidentID: id, CheckID: c.ID, Channel: "web", Button: "safe", At: t0.Add(at)}
		if err := e.svc.Process(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *remEnv) due(t *testing.T, at time.Duration) {
	t.Helper()
	e.clk.set(t0.Add(at))
	if err := e.svc.DueReminders(context.Background(), t0.Add(at)); err != nil {
		t.Fatal(err)
	}
}

// sent is who an alert reaches on each of its channels, by the engine's
// own planning rule (Target.Matches and an address on the channel).
type sent struct {
	ids       []string
	byChannel map[string][]string
}

func (e *remEnv) reach(a alert.Alert) sent {
	s := sent{ids: a.Target.ResidentIDs, byChannel: map[string][]string{}}
	for _, r := range e.people {
		if !a.Target.Matches(&r) {
			continue
		}
		for _, ch := range a.Channels {
			if alert.Address(&r, ch) != "" {
				s.byChannel[ch] = append(s.byChannel[ch], r.ID)
			}
		}
	}
	return s
}

func (e *remEnv) check(t *testing.T, id string) *safety.Check {
	t.Helper()
	c, err := e.st.GetCheck(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReminderTimeline(t *testing.T) {
	e := newRemEnv(t)
	c := e.start(t, []string{"15m", "60m"}, []string{"sms", "voice"}, 90*time.Minute)

	type want struct {
		ids       []string
		byChannel map[string][]string
	}
	steps := []struct {
		name   string
		at     time.Duration
		answer []string // answer at this time, before reminders run
		want   []want   // alerts created, in order
		done   int
		status string
	}{
		{name: "t=5m three answer, nothing due", at: 5 * time.Minute, answer: []string{"r01", "r02", "r03"}, status: safety.CheckActive},
		{name: "t=14m59s not yet", at: 15*time.Minute - time.Second, status: safety.CheckActive},
		{name: "t=15m first reminder, needs_support first with the whole chain", at: 15 * time.Minute, done: 1, status: safety.CheckActive,
			want: []want{
				{ids: []string{"r06", "r07"}, byChannel: map[string][]string{"line": {"r06", "r07"}, "sms": {"r07"}, "voice": {"r06", "r07"}}},
				{ids: []string{"r04", "r05", "r10"}, byChannel: map[string][]string{"line": {"r04", "r05", "r10"}, "sms": {"r04", "r05"}}},
			}},
		{name: "t=15m again: nothing twice", at: 15 * time.Minute, done: 1, status: safety.CheckActive},
		{name: "t=20m another answers", at: 20 * time.Minute, answer: []string{"r04"}, done: 1, status: safety.CheckActive},
		{name: "t=60m second reminder excludes responders, voice escalation", at: 60 * time.Minute, done: 2, status: safety.CheckActive,
			want: []want{
				{ids: []string{"r06", "r07"}, byChannel: map[string][]string{"line": {"r06", "r07"}, "sms": {"r07"}, "voice": {"r06", "r07"}}},
				{ids: []string{"r05", "r10"}, byChannel: map[string][]string{"line": {"r05", "r10"}, "voice": {"r05"}}},
			}},
		{name: "t=61m nothing more before the deadline", at: 61 * time.Minute, done: 2, status: safety.CheckActive},
		{name: "t=deadline+1s closed, nothing sent", at: 90*time.Minute + time.Second, done: 2, status: safety.CheckClosed},
		{name: "t=+24h still nothing", at: 24 * time.Hour, done: 2, status: safety.CheckClosed},
	}
	for _, st := range steps {
		e.answer(t, c, st.at, st.answer...)
		e.due(t, st.at)
		got := e.alerts.take()
		if len(got) != len(st.want) {
			t.Fatalf("%s: %d alerts created, want %d: %+v", st.name, len(got), len(st.want), got)
		}
		for i, w := range st.want {
			a := got[i]
			r := e.reach(a)
			if !slices.Equal(r.ids, w.ids) || fmt.Sprint(r.byChannel) != fmt.Sprint(w.byChannel) {
				t.Errorf("%s: alert %d reaches %v %v, want %v %v", st.name, i, r.ids, r.byChannel, w.ids, w.byChannel)
			}
			if a.SafetyCheckID != c.ID || a.Kind != alert.KindSafetyCheck || !a.Drill || !a.ExpiresAt.Equal(c.Deadline) ||
				a.Title["ja"] != "安否確認（再通知）" || len(a.QuickReplies) != len(safety.Buttons) {
				t.Errorf("%s: alert %d fields %+v", st.name, i, a)
			}
		}
		cur := e.check(t, c.ID)
		if cur.RemindersDone != st.done || cur.Status != st.status || cur.Reminding != nil {
			t.Fatalf("%s: check done=%d status=%s reminding=%+v", st.name, cur.RemindersDone, cur.Status, cur.Reminding)
		}
	}
	cur := e.check(t, c.ID)
	if len(cur.ReminderLog) != 2 || cur.ReminderLog[0].Reminded != 5 || cur.ReminderLog[1].Reminded != 4 ||
		cur.ReminderLog[0].ByChannel["sms"] != 3 || cur.ReminderLog[1].ByChannel["voice"] != 3 ||
		!cur.ReminderLog[1].Due.Equal(t0.Add(time.Hour)) || cur.ClosedAt == nil || !cur.ClosedAt.Equal(t0.Add(90*time.Minute+time.Second)) {
		t.Fatalf("log %+v closed %v", cur.ReminderLog, cur.ClosedAt)
	}
}

func TestReminderNotSentWhenEveryoneAnswered(t *testing.T) {
	e := newRemEnv(t)
	c := e.start(t, []string{"15m"}, []string{"sms"}, 2*time.Hour)
	e.answer(t, c, time.Minute, "r01", "r02", "r03", "r04", "r05", "r06", "r07", "r10")
	e.due(t, 15*time.Minute)
	// An alert with an empty resident list would reach everyone.
	if got := e.alerts.take(); len(got) != 0 {
		t.Fatalf("created %d alerts with nobody to remind", len(got))
	}
	if cur := e.check(t, c.ID); cur.RemindersDone != 1 || cur.ReminderLog[0].Reminded != 0 {
		t.Fatalf("check %+v", cur)
	}
}

func TestOverdueRemindersSendOnlyTheLatest(t *testing.T) {
	e := newRemEnv(t)
	c := e.start(t, []string{"15m", "60m"}, []string{"sms", "voice"}, 3*time.Hour)
	e.due(t, 70*time.Minute) // the server was down from 10m to 70m
	got := e.alerts.take()
	if len(got) != 2 || !slices.Equal(got[1].Channels, []string{"line", "voice"}) {
		t.Fatalf("created %+v", got)
	}
	cur := e.check(t, c.ID)
	if cur.RemindersDone != 2 || len(cur.ReminderLog) != 2 || !cur.ReminderLog[0].Skipped || cur.ReminderLog[1].Skipped {
		t.Fatalf("log %+v", cur.ReminderLog)
	}
}

func TestInterruptedReminderIsResumedWithoutDuplicates(t *testing.T) {
	e := newRemEnv(t)
	c := e.start(t, []string{"15m", "60m"}, []string{"sms", "voice"}, 3*time.Hour)
	// The second alert of the step (ordinary non-responders) fails once.
	failed := false
	e.alerts.fail = func(a *alert.Alert) error {
		if !failed && !slices.Contains(a.Target.ResidentIDs, "r06") {
			failed = true
			return errors.New("store down")
		}
		return nil
	}
	e.clk.set(t0.Add(15 * time.Minute))
	if err := e.svc.DueReminders(context.Background(), t0.Add(15*time.Minute)); err == nil {
		t.Fatal("failed send reported no error")
	}
	first := e.alerts.take()
	if len(first) != 1 || !slices.Contains(first[0].Target.ResidentIDs, "r06") {
		t.Fatalf("before the failure: %+v", first)
	}
	cur := e.check(t, c.ID)
	if cur.Reminding == nil || cur.Reminding.Step != 0 || cur.RemindersDone != 0 {
		t.Fatalf("claim %+v done %d", cur.Reminding, cur.RemindersDone)
	}
	// Within the lease another process (or the same one) leaves it alone.
	e.due(t, 16*time.Minute)
	if got := e.alerts.take(); len(got) != 0 {
		t.Fatalf("sent under someone else's lease: %d", len(got))
	}
	// After the lease the step is finished with the same alert ids: the
	// needs_support alert is not created again.
	e.due(t, 15*time.Minute+safety.ReminderLease)
	got := e.alerts.take()
	if len(got) != 1 || slices.Contains(got[0].Target.ResidentIDs, "r06") || got[0].ID != cur.Reminding.AlertIDs[1] {
		t.Fatalf("resumed: %+v", got)
	}
	if cur = e.check(t, c.ID); cur.RemindersDone != 1 || cur.Reminding != nil || len(cur.ReminderLog[0].AlertIDs) != 2 {
		t.Fatalf("after resume %+v", cur)
	}
}

func TestTwoProcessesSendAStepOnce(t *testing.T) {
	e := newRemEnv(t)
	e.start(t, []string{"15m"}, []string{"sms"}, 3*time.Hour)
	other := e.service(repo.Safety{B: e.db})
	now := t0.Add(15 * time.Minute)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = svc.DueReminders(context.Background(), now) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := e.alerts.take(); len(got) != 2 {
		t.Fatalf("%d alerts for one step", len(got))
	}
}

func TestRunReminders(t *testing.T) {
	e := newRemEnv(t)
	c := e.start(t, []string{"15m"}, nil, time.Hour)
	e.clk.set(t0.Add(20 * time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.svc.RunReminders(ctx, time.Millisecond); close(stopped) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.check(t, c.ID).RemindersDone == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no reminder within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-stopped
	got := e.alerts.take()
	if len(got) != 2 || !slices.Equal(got[0].Channels, []string{"line"}) || !slices.Equal(got[1].Channels, []string{"line"}) {
		t.Fatalf("created %+v", got)
	}

	// Without UpdateCheck, reminders are off, and say so.
	plain := e.service(plainStore{repo.Safety{B: e.db}})
	if err := plain.DueReminders(context.Background(), t0); !errors.Is(err, safety.ErrNoCheckUpdater) {
		t.Fatalf("plain store: %v", err)
	}
	plain.RunReminders(context.Background(), time.Millisecond) // returns at once
}

func TestStartValidatesReminders(t *testing.T) {
	e := newRemEnv(t)
	cases := []struct {
		name      string
		reminders []string
		escalate  []string
		deadline  time.Duration
		field     string
	}{
		{"zero", []string{"0s"}, nil, 0, "reminders"},
		{"negative", []string{"-5m"}, nil, 0, "reminders"},
		{"over 48h", []string{"49h"}, nil, 72 * time.Hour, "reminders"},
		{"not a duration", []string{"soon"}, nil, 0, "reminders"},
		{"not increasing", []string{"60m", "15m"}, nil, 0, "reminders"},
		{"duplicate", []string{"15m", "15m"}, nil, 0, "reminders"},
		{"after the deadline", []string{"2h"}, nil, time.Hour, "reminders"},
		{"too many", strings.Split("1m,2m,3m,4m,5m,6m,7m,8m,9m,10m,11m", ","), nil, 0, "reminders"},
		{"more escalation steps than reminders", []string{"15m"}, []string{"sms", "voice"}, 0, "escalate"},
		{"escalation without reminders", nil, []string{"sms"}, 0, "escalate"},
		{"unknown channel", []string{"15m"}, []string{"pigeon"}, 0, "escalate"},
		{"disabled channel", []string{"15m"}, []string{"signage"}, 0, "escalate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := safety.CheckRequest{Target: alert.Target{All: true}, Channels: []string{"line"}, Reminders: tc.reminders, Escalate: tc.escalate}
			if tc.deadline > 0 {
				dl := t0.Add(tc.deadline)
				req.Deadline = &dl
			}
			_, err := e.svc.Start(context.Background(), req, "alice")
			var ie *alert.InputError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("err %v, want InputError on %s", err, tc.field)
			}
		})
	}
	if got := e.alerts.take(); len(got) != 0 {
		t.Fatalf("rejected requests created %d alerts", len(got))
	}
	cs, err := e.st.ListChecks(context.Background())
	if err != nil || len(cs) != 0 {
		t.Fatalf("rejected requests stored %d checks (%v)", len(cs), err)
	}
	dl := t0.Add(72 * time.Hour)
	c, err := e.svc.Start(context.Background(), safety.CheckRequest{Target: alert.Target{All: true}, Channels: []string{"line"},
		Reminders: []string{"15m", "1h", "48h"}, Escalate: []string{"sms", "voice"}, Deadline: &dl}, "alice")
	if err != nil || !slices.Equal(c.Reminders, []string{"15m", "1h", "48h"}) {
		t.Fatalf("good request: %v %+v", err, c)
	}
}
