package safety

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety/classify"
)

// People is the part of the directory safety checks read.
type People interface {
	Get(ctx context.Context, id string) (residents.Resident, error)
	ByLINE(ctx context.Context, lineUserID string) (residents.Resident, error)
	Each(ctx context.Context, fn func(residents.Resident) error) error
}

// Publisher receives live changes for the console (topics "safety", "triage").
type Publisher interface {
	Publish(topic, key string, v any)
}

// Service runs safety checks.
type Service struct {
	store  Store
	alerts Alerts
	people People
	cls    Classifier
	pub    Publisher
	log    *slog.Logger
	now    func() time.Time
}

// NewService returns a Service.
func NewService(store Store, alerts Alerts, people People, cls Classifier, pub Publisher, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, alerts: alerts, people: people, cls: cls, pub: pub, log: log, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Buttons are the answers offered as LINE quick replies and on the reply page.
var Buttons = []struct{ Label, Text string }{
	{classify.LabelSafe, "無事 Safe"},
	{classify.LabelInjured, "けが Injured"},
	{classify.LabelNeedsHelp, "救助が必要 Need help"},
	{classify.LabelEvacuated, "避難所にいる Sheltered"},
	{classify.LabelStranded, "帰宅困難 Stranded"},
}

// PostbackData is the LINE postback payload of an answer button.
func PostbackData(checkID, label string) string { return "sc=" + checkID + "&a=" + label }

// ParsePostback reads PostbackData; ok is false for foreign payloads.
func ParsePostback(data string) (checkID, label string, ok bool) {
	for _, part := range strings.Split(data, "&") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "sc":
			checkID = v
		case "a":
			label = v
		}
	}
	return checkID, label, checkID != "" && classify.ValidLabel(label)
}

// CheckRequest is what a client sends to start a check.
type CheckRequest struct {
	Target    alert.Target      `json:"target"`
	Question  map[string]string `json:"question"`
	Channels  []string          `json:"channels"`
	Reminders []string          `json:"reminders,omitempty"`
	Escalate  []string          `json:"escalate,omitempty"`
	Drill     bool              `json:"drill"`
	Deadline  *time.Time        `json:"deadline,omitempty"`
}

// DefaultQuestion is asked when a request names none.
var DefaultQuestion = map[string]string{
	"ja":      "港区から安否確認です。ご無事ですか？下のボタンで答えてください。",
	"en":      "Minato City safety check: are you safe? Please answer with a button below.",
	"zh":      "港区安全确认：您平安吗？请点击下方按钮回答。",
	"ko":      "미나토구 안부 확인입니다. 무사하십니까? 아래 버튼으로 답해 주세요.",
	"ja-easy": "みなとくです。あなたは だいじょうぶですか。ボタンで こたえて ください。",
}

var checkTitle = map[string]string{"ja": "安否確認", "en": "Safety check", "zh": "安全确认", "ko": "안부 확인", "ja-easy": "あんぴ かくにん"}

// Start validates a request, records the campaign and sends the question.
func (s *Service) Start(ctx context.Context, req CheckRequest, actor string) (*Check, error) {
	v := s.alerts.Vocabulary()
	if len(req.Question) == 0 {
		req.Question = DefaultQuestion
	}
	for lang, q := range req.Question {
		if !slices.Contains(v.Languages, lang) {
			return nil, &alert.InputError{Field: "question." + lang, Reason: "unknown language"}
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(q)); n == 0 || n > 500 || !utf8.ValidString(q) {
			return nil, &alert.InputError{Field: "question." + lang, Reason: "must be 1-500 characters of valid UTF-8"}
		}
	}
	now := s.now()
	c := &Check{
		ID: alert.NewID("sc_"), Status: CheckActive, Question: req.Question, Target: req.Target,
		Channels: req.Channels, Reminders: req.Reminders, Escalate: req.Escalate, Drill: req.Drill,
		CreatedBy: actor, CreatedAt: now, Deadline: now.Add(24 * time.Hour),
	}
	if req.Deadline != nil {
		if !req.Deadline.After(now) {
			return nil, &alert.InputError{Field: "deadline", Reason: "is in the past"}
		}
		c.Deadline = *req.Deadline
	}
	if err := validateReminders(req.Reminders, req.Escalate, v.Channels, c.Deadline.Sub(now)); err != nil {
		return nil, err
	}
	// Target.Matches expects a sorted list (reminders match against it).
	c.Target.ResidentIDs = slices.Compact(slices.Sorted(slices.Values(c.Target.ResidentIDs)))
	qr := make([]alert.QuickReply, len(Buttons))
	for i, b := range Buttons {
		qr[i] = alert.QuickReply{Label: b.Text, Data: PostbackData(c.ID, b.Label)}
	}
	title := map[string]string{}
	for lang := range req.Question {
		title[lang] = checkTitle[lang]
	}
	a := &alert.Alert{
		Kind: alert.KindSafetyCheck, Severity: "severe", Title: title, Body: req.Question,
		Target: req.Target, Channels: req.Channels, Drill: req.Drill, SafetyCheckID: c.ID,
		QuickReplies: qr, CreatedBy: actor, ExpiresAt: c.Deadline,
	}
	// Record the audience per area before sending, for the no-reply counts.
	sent := map[string]int64{}
	err := s.people.Each(ctx, func(r residents.Resident) error {
		if !req.Target.Matches(&r) {
			return nil
		}
		for _, ch := range req.Channels {
			if alert.Address(&r, ch) != "" {
				sent["sent"]++
				sent["a:"+r.Area+":sent"]++
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("safety check audience: %w", err)
	}
	c.AlertID = alert.NewID("al_")
	a.ID = c.AlertID
	// The check is stored before its alert so that an early reply finds it.
	if err := s.store.PutCheck(ctx, c); err != nil {
		return nil, fmt.Errorf("safety check: %w", err)
	}
	if _, err := s.alerts.CreateApproved(ctx, a); err != nil {
		_ = s.store.PutCheck(ctx, &Check{ID: c.ID, Status: CheckClosed, CreatedAt: now, Question: c.Question, Target: c.Target, Channels: c.Channels})
		return nil, err
	}
	if err := s.store.AddCounts(ctx, c.ID, sent); err != nil {
		return nil, fmt.Errorf("safety check: %w", err)
	}
	s.log.Info("safety check started", "check", c.ID, "drill", c.Drill, "by", actor, "audience", sent["sent"])
	s.publishCheck(ctx, c)
	return c, nil
}

// View is the API and console representation of a check.
type View struct {
	ID        string                      `json:"id"`
	Status    string                      `json:"status"`
	Drill     bool                        `json:"drill"`
	Question  map[string]string           `json:"question"`
	AlertID   string                      `json:"alert_id"`
	Sent      int64                       `json:"sent"`
	Responded int64                       `json:"responded"`
	ByStatus  map[string]int64            `json:"by_status"`
	ByArea    map[string]map[string]int64 `json:"by_area"`
	Timeline  []TimelinePoint             `json:"timeline"`
	CreatedAt time.Time                   `json:"created_at"`
	CreatedBy string                      `json:"created_by"`
}

// TimelinePoint is the cumulative number of people who answered by At.
type TimelinePoint struct {
	At        time.Time `json:"at"`
	Responded int64     `json:"responded"`
}

// Get returns the view of a check.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	c, err := s.store.GetCheck(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, c)
}

// List returns the views of all checks, newest first.
func (s *Service) List(ctx context.Context) ([]View, error) {
	cs, err := s.store.ListChecks(ctx)
	if err != nil {
		return nil, err
	}
	slices.Reverse(cs)
	out := make([]View, 0, len(cs))
	for _, c := range cs {
		v, err := s.view(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func emptyStatus() map[string]int64 {
	m := map[string]int64{NoReply: 0}
	for _, l := range classify.Labels {
		m[l] = 0
	}
	return m
}

func (s *Service) view(ctx context.Context, c *Check) (View, error) {
	cn, err := s.store.Counts(ctx, c.ID)
	if err != nil {
		return View{}, fmt.Errorf("safety counts: %w", err)
	}
	v := View{
		ID: c.ID, Status: c.Status, Drill: c.Drill, Question: c.Question, AlertID: c.AlertID,
		Sent: cn["sent"], Responded: cn["responded"], ByStatus: emptyStatus(),
		ByArea: map[string]map[string]int64{}, Timeline: []TimelinePoint{},
		CreatedAt: c.CreatedAt, CreatedBy: c.CreatedBy,
	}
	for _, a := range residents.Areas {
		v.ByArea[a] = emptyStatus()
	}
	var minutes []int64
	for k, n := range cn {
		switch {
		case strings.HasPrefix(k, "s:"):
			v.ByStatus[k[2:]] = n
		case strings.HasPrefix(k, "a:"):
			area, label, _ := strings.Cut(k[2:], ":")
			if m := v.ByArea[area]; m != nil {
				m[label] = n
			}
		case strings.HasPrefix(k, "t:"):
			if m, err := strconv.ParseInt(k[2:], 10, 64); err == nil && n > 0 {
				minutes = append(minutes, m)
			}
		}
	}
	v.ByStatus[NoReply] = max(0, v.Sent-v.Responded)
	for _, m := range v.ByArea {
		m[NoReply] = max(0, m["sent"]-m["responded"])
		delete(m, "sent")
		delete(m, "responded")
	}
	slices.Sort(minutes)
	var cum int64
	for _, m := range minutes {
		cum += cn["t:"+strconv.FormatInt(m, 10)]
		v.Timeline = append(v.Timeline, TimelinePoint{At: time.Unix(m*60, 0).UTC(), Responded: cum})
	}
	return v, nil
}

func (s *Service) publishCheck(ctx context.Context, c *Check) {
	if s.pub == nil {
		return
	}
	v, err := s.view(ctx, c)
	if err != nil {
		s.log.Warn("safety view", "check", c.ID, "err", err)
		return
	}
	s.pub.Publish("safety", c.ID, v)
}

// Replies returns up to limit person statuses of a check after cursor (a
// resident id), optionally only those with label status (or "no_reply" is
// not listed: people without a reply have no status yet).
func (s *Service) Replies(ctx context.Context, id, status, cursor string, limit int) ([]PersonStatus, string, error) {
	if _, err := s.store.GetCheck(ctx, id); err != nil {
		return nil, "", err
	}
	if status != "" && !classify.ValidLabel(status) {
		return nil, "", &alert.InputError{Field: "status", Reason: "unknown status"}
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []PersonStatus
	after := cursor
	for {
		page, err := s.store.ScanStatuses(ctx, id, after, 500)
		if err != nil {
			return nil, "", err
		}
		if len(page) == 0 {
			return out, "", nil
		}
		for _, p := range page {
			after = p.ResidentID
			if status != "" && p.Label != status {
				continue
			}
			out = append(out, p)
			if len(out) == limit {
				return out, p.ResidentID, nil
			}
		}
	}
}

// latestActive returns the newest active check.
func (s *Service) latestActive(ctx context.Context) (*Check, error) {
	cs, err := s.store.ListChecks(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].Status == CheckActive && s.now().Before(cs[i].Deadline) {
			return cs[i], nil
		}
	}
	return nil, ErrNotFound
}

// MaxReplyText is the longest free text kept and classified; longer replies
// are cut (the beginning of a message says what matters).
const MaxReplyText = 2000

// Process applies one reply: resolve the person and the check, classify,
// update the person's status and the counts, and open a triage item for
// urgent or uncertain replies. It is idempotent on the reply's EventID.
func (s *Service) Process(ctx context.Context, r Reply) error {
	var res residents.Resident
	var err error
	if r.ResidentID != "" {
		res, err = s.people.Get(ctx, r.ResidentID)
	} else {
		res, err = s.people.ByLINE(ctx, r.LINEUserID)
	}
	if errors.Is(err, residents.ErrNotFound) {
		s.log.Info("reply from unknown person dropped", "channel", r.Channel, "event", r.EventID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reply person: %w", err)
	}
	var c *Check
	if r.CheckID != "" {
		c, err = s.store.GetCheck(ctx, r.CheckID)
	} else {
		c, err = s.latestActive(ctx)
	}
	if errors.Is(err, ErrNotFound) {
		s.log.Info("reply outside any active check dropped", "channel", r.Channel, "event", r.EventID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reply check: %w", err)
	}
	if len(r.Text) > MaxReplyText {
		r.Text = truncateUTF8(r.Text, MaxReplyText)
	}
	result, err := s.classify(ctx, r, res.Language)
	if err != nil {
		s.log.Info("reply not classifiable, dropped", "event", r.EventID, "err", err)
		return nil
	}
	at := r.At
	if at.IsZero() {
		at = s.now()
	}
	text := r.Text
	var old, cur *PersonStatus
	err = s.store.UpdateStatus(ctx, c.ID, res.ID, func(o *PersonStatus) (*PersonStatus, error) {
		old = o
		n := &PersonStatus{
			ResidentID: res.ID, Area: res.Area, Label: result.Label, Confidence: result.Confidence,
			Needs: result.Needs, People: result.People, Location: result.Location, Text: text,
			Source: result.Source, Channel: r.Channel, At: at, Replies: 1,
		}
		if n.Location == "" {
			n.Location = r.Location
		}
		if o != nil {
			n.Replies = o.Replies + 1
			if at.Before(o.At) && n.Label != classify.LabelNeedsHelp {
				// An older reply processed late (parallel consumers,
				// redelivery) does not override a newer one, unless it
				// asks for help.
				k := *o
				k.Replies = n.Replies
				cur = &k
				return &k, nil
			}
			if o.Pinned && n.Label != classify.LabelNeedsHelp {
				// needs_help is cleared only by staff.
				n.Label = classify.LabelNeedsHelp
				n.Pinned = true
			}
		}
		if n.Label == classify.LabelNeedsHelp {
			n.Pinned = true
		}
		cur = n
		return n, nil
	})
	if err != nil {
		return fmt.Errorf("reply status: %w", err)
	}
	deltas := map[string]int64{}
	if old == nil {
		deltas["responded"]++
		deltas["a:"+res.Area+":responded"]++
		deltas["t:"+strconv.FormatInt(at.Unix()/60, 10)]++
		deltas["s:"+cur.Label]++
		deltas["a:"+res.Area+":"+cur.Label]++
	} else if old.Label != cur.Label {
		deltas["s:"+old.Label]--
		deltas["a:"+res.Area+":"+old.Label]--
		deltas["s:"+cur.Label]++
		deltas["a:"+res.Area+":"+cur.Label]++
	}
	if len(deltas) > 0 {
		if err := s.store.AddCounts(ctx, c.ID, deltas); err != nil {
			return fmt.Errorf("reply counts: %w", err)
		}
	}
	if classify.NeedsTriage(result) {
		sum := sha256.Sum256([]byte(c.ID + "|" + r.EventID))
		t := &TriageItem{
			ID: "tr_" + hex.EncodeToString(sum[:10]), CheckID: c.ID, ResidentID: res.ID, ResidentName: res.Name,
			Area: res.Area, Label: result.Label, Confidence: result.Confidence, Needs: result.Needs,
			People: result.People, Location: cur.Location, Text: text, Channel: r.Channel, Drill: c.Drill,
			State: TriageOpen, CreatedAt: at, UpdatedAt: at,
		}
		if err := s.store.PutTriage(ctx, t); err != nil {
			return fmt.Errorf("triage: %w", err)
		}
		if s.pub != nil {
			s.pub.Publish("triage", t.ID, t)
		}
	}
	s.publishCheck(ctx, c)
	return nil
}

func (s *Service) classify(ctx context.Context, r Reply, lang string) (classify.Result, error) {
	if r.Button != "" {
		if !classify.ValidLabel(r.Button) {
			return classify.Result{}, fmt.Errorf("unknown button %q", r.Button)
		}
		return classify.Result{Label: r.Button, Confidence: 1, Needs: []string{}, People: 1, Source: "button"}, nil
	}
	if strings.TrimSpace(r.Text) == "" {
		if r.Lat != 0 || r.Lng != 0 {
			return classify.Result{Label: classify.LabelUnclear, Confidence: 0.5, Needs: []string{}, People: 1,
				Location: fmt.Sprintf("%.5f,%.5f", r.Lat, r.Lng), Source: classify.SourceRules}, nil
		}
		return classify.Result{}, errors.New("empty reply")
	}
	if r.Language != "" {
		lang = r.Language
	}
	return s.cls.Classify(ctx, r.Text, lang)
}

func truncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Triage returns triage items in state (all if ""), most urgent first, then oldest first.
func (s *Service) Triage(ctx context.Context, state string) ([]*TriageItem, error) {
	if state != "" && state != TriageOpen && state != TriageAcked && state != TriageResolved {
		return nil, &alert.InputError{Field: "state", Reason: "must be open, acked or resolved"}
	}
	all, err := s.store.ListTriage(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, t := range all {
		if state == "" || t.State == state {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b *TriageItem) int {
		if c := cmp.Compare(classify.Urgency(b.Label), classify.Urgency(a.Label)); c != 0 {
			return c
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	return out, nil
}

// Ack marks a triage item as being handled by actor.
func (s *Service) Ack(ctx context.Context, id, actor string) (*TriageItem, error) {
	now := s.now()
	t, err := s.store.UpdateTriage(ctx, id, func(t *TriageItem) error {
		if t.State != TriageOpen {
			return fmt.Errorf("ack triage item in state %s: %w", t.State, alert.ErrState)
		}
		t.State, t.AckedBy, t.UpdatedAt = TriageAcked, actor, now
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.pub != nil {
		s.pub.Publish("triage", t.ID, t)
	}
	return t, nil
}

// Resolve closes a triage item with a note. If label is set, staff set the
// person's status to it (the only way to clear needs_help).
func (s *Service) Resolve(ctx context.Context, id, actor, note, label string) (*TriageItem, error) {
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > 2000 || !utf8.ValidString(note) {
		return nil, &alert.InputError{Field: "note", Reason: "at most 2000 characters of valid UTF-8"}
	}
	if label != "" && !classify.ValidLabel(label) {
		return nil, &alert.InputError{Field: "label", Reason: "unknown status"}
	}
	now := s.now()
	t, err := s.store.UpdateTriage(ctx, id, func(t *TriageItem) error {
		if t.State == TriageResolved {
			return fmt.Errorf("resolve triage item in state %s: %w", t.State, alert.ErrState)
		}
		t.State, t.ResolvedBy, t.Note, t.UpdatedAt = TriageResolved, actor, note, now
		return nil
	})
	if err != nil {
		return nil, err
	}
	if label != "" {
		if err := s.setLabel(ctx, t.CheckID, t.ResidentID, label); err != nil {
			return nil, err
		}
	}
	if s.pub != nil {
		s.pub.Publish("triage", t.ID, t)
	}
	return t, nil
}

func (s *Service) setLabel(ctx context.Context, checkID, residentID, label string) error {
	var old *PersonStatus
	var area string
	err := s.store.UpdateStatus(ctx, checkID, residentID, func(o *PersonStatus) (*PersonStatus, error) {
		old = o
		if o == nil {
			return nil, nil
		}
		n := *o
		n.Label, n.Pinned, n.Source = label, false, "staff"
		area = o.Area
		return &n, nil
	})
	if err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	if old != nil && old.Label != label {
		if err := s.store.AddCounts(ctx, checkID, map[string]int64{
			"s:" + old.Label: -1, "s:" + label: 1, "a:" + area + ":" + old.Label: -1, "a:" + area + ":" + label: 1,
		}); err != nil {
			return fmt.Errorf("set status: %w", err)
		}
	}
	if c, err := s.store.GetCheck(ctx, checkID); err == nil {
		s.publishCheck(ctx, c)
	}
	return nil
}

// SeenTTL is how long a reply's event id is remembered to drop provider
// redeliveries and replays.
const SeenTTL = 48 * time.Hour

// Consumers is how many goroutines consume replies in one process; several
// let the store group their writes into shared commits.
const Consumers = 8

// Run consumes the durable reply queue with Consumers goroutines until ctx
// is done. Event ids seen in
// the last SeenTTL (provider redeliveries, replays) are dropped here rather
// than at the webhook, so a webhook costs one durable write. A consumer
// takes an event under a lease, processes it and then marks it seen;
// processing is idempotent, so a crash in between at worst processes it
// twice. Replies that fail are retried after minIdle.
func (s *Service) Run(ctx context.Context, consumer string) {
	var wg sync.WaitGroup
	for i := range Consumers {
		wg.Add(1)
		go func() { defer wg.Done(); s.runConsumer(ctx, fmt.Sprintf("%s-%d", consumer, i)) }()
	}
	wg.Wait()
}

func (s *Service) runConsumer(ctx context.Context, consumer string) {
	const minIdle = time.Minute
	for ctx.Err() == nil {
		qs, err := s.store.ClaimReplies(ctx, consumer, 64, minIdle, 500*time.Millisecond)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("claim replies", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		if len(qs) == 0 {
			continue
		}
		if err := s.consume(ctx, qs); err != nil && ctx.Err() == nil {
			s.log.Error("consume replies", "err", err)
			time.Sleep(time.Second)
		}
	}
}

func seenKey(r Reply) string { return r.Channel + "|" + r.EventID }

// claimLease is how long a consumer may take to process one reply before
// another may take the same event over.
const claimLease = time.Minute

// consume processes one claimed page of replies.
func (s *Service) consume(ctx context.Context, qs []QueuedReply) error {
	var done, fresh []string
	for _, q := range qs {
		key := seenKey(q.Reply)
		mine, err := s.store.ClaimEvent(ctx, key, claimLease)
		if err != nil {
			return fmt.Errorf("claim event: %w", err)
		}
		if !mine {
			// Processed already, or being processed through another
			// queue entry (which stays unacknowledged until it is done).
			done = append(done, q.ID)
			continue
		}
		if err := s.Process(ctx, q.Reply); err != nil {
			s.log.Error("process reply", "event", q.Reply.EventID, "err", err)
			continue
		}
		fresh = append(fresh, key)
		done = append(done, q.ID)
	}
	if len(fresh) > 0 {
		if err := s.store.MarkSeen(ctx, fresh, SeenTTL); err != nil {
			return fmt.Errorf("mark seen: %w", err)
		}
	}
	if len(done) > 0 {
		if err := s.store.AckReplies(ctx, done...); err != nil {
			return fmt.Errorf("ack replies: %w", err)
		}
	}
	return nil
}

// Accept durably enqueues replies from a webhook and returns how many it
// took. Replays are dropped by the consumer (see Run).
func (s *Service) Accept(ctx context.Context, source string, rs ...Reply) (int, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	for i := range rs {
		if rs[i].Channel == "" {
			rs[i].Channel = source
		}
	}
	if err := s.store.EnqueueReplies(ctx, rs...); err != nil {
		return 0, fmt.Errorf("enqueue replies: %w", err)
	}
	return len(rs), nil
}
