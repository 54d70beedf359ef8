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
	"github.com/minato-city/anpi/internal/throttle"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety/classify"
)

// People is the part of the directory safety checks read.
type People interface {
	Get(ctx context.Context, id string) (residents.Resident, error)
	ByLINE(ctx context.Context, lineUserID string) (residents.Resident, error)
	// GetMany and ByLINEMany are Get and ByLINE for a page of replies in one
	// store round, lined up with their input; found[i] is false for nobody.
	GetMany(ctx context.Context, ids []string) (rs []residents.Resident, found []bool, err error)
	ByLINEMany(ctx context.Context, lineUserIDs []string) (rs []residents.Resident, found []bool, err error)
	Each(ctx context.Context, fn func(residents.Resident) error) error
}

// Publisher receives live changes for the console (topics "safety", "triage").
type Publisher interface {
	Publish(topic, key string, v any)
}

// BatchPublisher is a Publisher that can also send several changes of one
// topic at once (keys and vs line up); the reply consumer announces a page's
// triage items with it when the Publisher has it.
type BatchPublisher interface {
	PublishMany(topic string, keys []string, vs []any)
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
	// throttle spaces out the console updates that replies cause.
	throttle throttle.Keyed
}

// NewService returns a Service.
func NewService(store Store, alerts Alerts, people People, cls Classifier, pub Publisher, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, alerts: alerts, people: people, cls: cls, pub: pub, log: log, now: time.Now,
		throttle: throttle.Keyed{Every: checkPublishEvery}}
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

// checkPublishEvery is the shortest interval between two console updates
// of one check caused by replies: at thousands of replies a second, one
// update per consumed page would re-read and re-send the whole aggregate
// hundreds of times a second for a console that shows a few a second.
const checkPublishEvery = 250 * time.Millisecond

// publishCheckSoon publishes check id now, or at the end of its interval
// (checkPublishEvery) with the state it has then.
func (s *Service) publishCheckSoon(id string) {
	if s.pub == nil {
		return
	}
	s.throttle.Do(id, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := s.store.GetCheck(ctx, id); err == nil {
			s.publishCheck(ctx, c)
		}
	})
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
	return s.processBatch(ctx, []Reply{r})[0]
}

// job is one reply on its way through processBatch.
type job struct {
	r      Reply
	res    residents.Resident
	check  *Check
	result classify.Result
	at     time.Time
	// done is set once the reply needs nothing more: dropped (unknown
	// person, no active check, not classifiable) or failed (err).
	done bool
	err  error
	// old and cur are the person's status before and after this reply.
	old, cur *PersonStatus
}

func (j *job) fail(err error) { j.done, j.err = true, err }

// batchClassifier is the batch form of Classifier (classify.Ensemble): the
// LLM then sees up to its batch size of replies per request instead of one.
type batchClassifier interface {
	ClassifyBatch(ctx context.Context, items []classify.Item) ([]classify.Result, error)
}

// processBatch is Process for a page of replies, with one store round per
// step for the whole page instead of one per reply: people, checks, the
// classifier (in batches), the status updates, the counts of each check, the
// triage items and one console update per check. The result lines up with
// rs: nil when the reply is applied or deliberately dropped, else why it
// failed (it is then retried; see Run).
func (s *Service) processBatch(ctx context.Context, rs []Reply) []error {
	jobs := make([]job, len(rs))
	for i, r := range rs {
		jobs[i].r = r
	}
	s.resolvePeople(ctx, jobs)
	s.resolveChecks(ctx, jobs)
	s.classifyJobs(ctx, jobs)
	touched := s.applyStatuses(ctx, jobs)
	s.applyCounts(ctx, jobs)
	s.openTriage(ctx, jobs)
	for _, c := range touched {
		s.publishCheckSoon(c.ID)
	}
	errs := make([]error, len(jobs))
	for i := range jobs {
		errs[i] = jobs[i].err
	}
	return errs
}

// resolvePeople finds the person of every reply: by resident id (reply
// page, voice) or by LINE user id, one lookup per kind for the page.
func (s *Service) resolvePeople(ctx context.Context, jobs []job) {
	var byID, byLINE []int
	for i := range jobs {
		if jobs[i].r.ResidentID != "" {
			byID = append(byID, i)
		} else {
			byLINE = append(byLINE, i)
		}
	}
	lookup := func(idx []int, key func(Reply) string, find func(context.Context, []string) ([]residents.Resident, []bool, error)) {
		if len(idx) == 0 {
			return
		}
		keys := make([]string, len(idx))
		for k, i := range idx {
			keys[k] = key(jobs[i].r)
		}
		found, ok, err := find(ctx, keys)
		for k, i := range idx {
			j := &jobs[i]
			switch {
			case err != nil:
				j.fail(fmt.Errorf("reply person: %w", err))
			case !ok[k]:
				s.log.Info("reply from unknown person dropped", "channel", j.r.Channel, "event", j.r.EventID)
				j.done = true
			default:
				j.res = found[k]
			}
		}
	}
	lookup(byID, func(r Reply) string { return r.ResidentID }, s.people.GetMany)
	lookup(byLINE, func(r Reply) string { return r.LINEUserID }, s.people.ByLINEMany)
}

// resolveChecks finds the check of every reply (named, or the latest active
// one), reading each check once per page.
func (s *Service) resolveChecks(ctx context.Context, jobs []job) {
	type found struct {
		c   *Check
		err error
	}
	cache := map[string]found{} // "" is the latest active check
	for i := range jobs {
		j := &jobs[i]
		if j.done {
			continue
		}
		f, ok := cache[j.r.CheckID]
		if !ok {
			if j.r.CheckID != "" {
				f.c, f.err = s.store.GetCheck(ctx, j.r.CheckID)
			} else {
				f.c, f.err = s.latestActive(ctx)
			}
			cache[j.r.CheckID] = f
		}
		switch {
		case errors.Is(f.err, ErrNotFound):
			s.log.Info("reply outside any active check dropped", "channel", j.r.Channel, "event", j.r.EventID)
			j.done = true
		case f.err != nil:
			j.fail(fmt.Errorf("reply check: %w", f.err))
		default:
			j.check = f.c
		}
	}
}

// classifyJobs labels every reply: buttons and bare locations directly, free
// text with the classifier, all texts of the page in one batch when the
// classifier takes batches.
func (s *Service) classifyJobs(ctx context.Context, jobs []job) {
	bc, batch := s.cls.(batchClassifier)
	var texts []int
	for i := range jobs {
		j := &jobs[i]
		if j.done {
			continue
		}
		if len(j.r.Text) > MaxReplyText {
			j.r.Text = truncateUTF8(j.r.Text, MaxReplyText)
		}
		j.at = j.r.At
		if j.at.IsZero() {
			j.at = s.now()
		}
		if !batch || j.r.Button != "" || strings.TrimSpace(j.r.Text) == "" {
			result, err := s.classify(ctx, j.r, j.res.Language)
			if err != nil {
				s.log.Info("reply not classifiable, dropped", "event", j.r.EventID, "err", err)
				j.done = true
				continue
			}
			j.result = result
			continue
		}
		if !utf8.ValidString(j.r.Text) {
			// Classify refuses invalid UTF-8; so does the batch path.
			s.log.Info("reply not classifiable, dropped", "event", j.r.EventID, "err", classify.ErrInvalidText)
			j.done = true
			continue
		}
		texts = append(texts, i)
	}
	if len(texts) == 0 {
		return
	}
	items := make([]classify.Item, len(texts))
	for k, i := range texts {
		lang := jobs[i].res.Language
		if jobs[i].r.Language != "" {
			lang = jobs[i].r.Language
		}
		items[k] = classify.Item{Text: jobs[i].r.Text, Lang: lang}
	}
	results, err := bc.ClassifyBatch(ctx, items)
	for k, i := range texts {
		j := &jobs[i]
		switch {
		case ctx.Err() != nil:
			j.fail(fmt.Errorf("classify: %w", ctx.Err()))
		case k >= len(results) || !classify.ValidLabel(results[k].Label):
			// Only invalid text fails an item (filtered out above).
			s.log.Info("reply not classifiable, dropped", "event", j.r.EventID, "err", err)
			j.done = true
		default:
			j.result = results[k]
		}
	}
}

// applyStatuses updates the status of every person of the page in one store
// round; several replies of one person apply in page order. It returns the
// checks touched.
func (s *Service) applyStatuses(ctx context.Context, jobs []job) []*Check {
	var ids []StatusID
	var groups [][]int // job indexes per id, in page order
	at := map[StatusID]int{}
	var touched []*Check
	seen := map[string]bool{}
	for i := range jobs {
		j := &jobs[i]
		if j.done {
			continue
		}
		id := StatusID{CheckID: j.check.ID, ResidentID: j.res.ID}
		k, ok := at[id]
		if !ok {
			k = len(ids)
			at[id] = k
			ids = append(ids, id)
			groups = append(groups, nil)
		}
		groups[k] = append(groups[k], i)
		if !seen[j.check.ID] {
			seen[j.check.ID] = true
			touched = append(touched, j.check)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	errs, err := s.store.UpdateStatuses(ctx, ids, func(k int, o *PersonStatus) (*PersonStatus, error) {
		cur := o
		for _, i := range groups[k] {
			j := &jobs[i]
			j.old = cur
			cur = nextStatus(cur, j)
			j.cur = cur
		}
		return cur, nil
	})
	for k, g := range groups {
		for _, i := range g {
			switch {
			case err != nil:
				jobs[i].fail(fmt.Errorf("reply status: %w", err))
			case errs[k] != nil:
				jobs[i].fail(fmt.Errorf("reply status: %w", errs[k]))
			}
		}
	}
	return touched
}

// nextStatus is a person's status after reply j, from their status o (nil
// if none yet).
func nextStatus(o *PersonStatus, j *job) *PersonStatus {
	res, result := j.res, j.result
	n := &PersonStatus{
		ResidentID: res.ID, Area: res.Area, Label: result.Label, Confidence: result.Confidence,
		Needs: result.Needs, People: result.People, Location: result.Location, Text: j.r.Text,
		Source: result.Source, Channel: j.r.Channel, At: j.at, Replies: 1,
	}
	if n.Location == "" {
		n.Location = j.r.Location
	}
	if o != nil {
		n.Replies = o.Replies + 1
		if j.at.Before(o.At) && n.Label != classify.LabelNeedsHelp {
			// An older reply processed late (parallel consumers,
			// redelivery) does not override a newer one, unless it
			// asks for help.
			k := *o
			k.Replies = n.Replies
			return &k
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
	return n
}

// applyCounts adds the page's changes to each check's counts in one write
// per check.
func (s *Service) applyCounts(ctx context.Context, jobs []job) {
	deltas := map[string]map[string]int64{}
	for i := range jobs {
		j := &jobs[i]
		if j.done {
			continue
		}
		d := deltas[j.check.ID]
		if d == nil {
			d = map[string]int64{}
			deltas[j.check.ID] = d
		}
		area := j.res.Area
		if j.old == nil {
			d["responded"]++
			d["a:"+area+":responded"]++
			d["t:"+strconv.FormatInt(j.at.Unix()/60, 10)]++
			d["s:"+j.cur.Label]++
			d["a:"+area+":"+j.cur.Label]++
		} else if j.old.Label != j.cur.Label {
			d["s:"+j.old.Label]--
			d["a:"+area+":"+j.old.Label]--
			d["s:"+j.cur.Label]++
			d["a:"+area+":"+j.cur.Label]++
		}
	}
	for checkID, d := range deltas {
		for k, v := range d {
			if v == 0 {
				delete(d, k)
			}
		}
		if len(d) == 0 {
			continue
		}
		if err := s.store.AddCounts(ctx, checkID, d); err != nil {
			for i := range jobs {
				if !jobs[i].done && jobs[i].check.ID == checkID {
					jobs[i].fail(fmt.Errorf("reply counts: %w", err))
				}
			}
		}
	}
}

// openTriage stores a triage item for every urgent or uncertain reply of the
// page in one write and announces them.
func (s *Service) openTriage(ctx context.Context, jobs []job) {
	var items []*TriageItem
	var owners []int
	ids := map[string]bool{}
	for i := range jobs {
		j := &jobs[i]
		if j.done || !classify.NeedsTriage(j.result) {
			continue
		}
		c, res, result := j.check, j.res, j.result
		sum := sha256.Sum256([]byte(c.ID + "|" + j.r.EventID))
		id := "tr_" + hex.EncodeToString(sum[:10])
		if ids[id] {
			continue
		}
		ids[id] = true
		items = append(items, &TriageItem{
			ID: id, CheckID: c.ID, ResidentID: res.ID, ResidentName: res.Name,
			Area: res.Area, Label: result.Label, Confidence: result.Confidence, Needs: result.Needs,
			People: result.People, Location: j.cur.Location, Text: j.r.Text, Channel: j.r.Channel, Drill: c.Drill,
			State: TriageOpen, CreatedAt: j.at, UpdatedAt: j.at,
		})
		owners = append(owners, i)
	}
	if len(items) == 0 {
		return
	}
	if err := s.store.PutTriages(ctx, items); err != nil {
		for _, i := range owners {
			jobs[i].fail(fmt.Errorf("triage: %w", err))
		}
		return
	}
	if bp, ok := s.pub.(BatchPublisher); ok {
		keys, vs := make([]string, len(items)), make([]any, len(items))
		for i, t := range items {
			keys[i], vs[i] = t.ID, t
		}
		bp.PublishMany("triage", keys, vs)
	} else if s.pub != nil {
		for _, t := range items {
			s.pub.Publish("triage", t.ID, t)
		}
	}
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
// let the store group their writes into shared commits. Each works a page
// (up to claimPage replies) at a time with one store round per step, so a
// few suffice: 4 took 5-7k replies/s on 2 cores where 8 made smaller pages
// and more, smaller writes.
const Consumers = 4

// Run consumes the durable reply queue with Consumers goroutines until ctx
// is done. Event ids seen in the last SeenTTL (provider redeliveries,
// replays) are dropped here rather than at the webhook, so a webhook costs
// one durable write. A consumer takes the events of a page under a lease
// (ClaimEvents), processes them together (processBatch) and then marks them
// seen; processing is idempotent, so a crash in between at worst processes
// them twice. Replies that fail are retried after minIdle.
func (s *Service) Run(ctx context.Context, consumer string) {
	var wg sync.WaitGroup
	for i := range Consumers {
		wg.Add(1)
		go func() { defer wg.Done(); s.runConsumer(ctx, fmt.Sprintf("%s-%d", consumer, i)) }()
	}
	wg.Wait()
}

// claimPage is the most replies a consumer takes at once.
const claimPage = 64

// pageLinger is how long a consumer pauses after a page that was not full,
// so that the next page is fuller: under load the costs per page (store
// round trips, an LLM request per 20 texts, a console update) are shared by
// more replies, while a lone reply waits at most this much longer.
const pageLinger = 10 * time.Millisecond

func (s *Service) runConsumer(ctx context.Context, consumer string) {
	const minIdle = time.Minute
	linger := time.NewTimer(0)
	defer linger.Stop()
	for ctx.Err() == nil {
		qs, err := s.store.ClaimReplies(ctx, consumer, claimPage, minIdle, 500*time.Millisecond)
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
		if len(qs) < claimPage {
			linger.Reset(pageLinger)
			select {
			case <-linger.C:
			case <-ctx.Done():
			}
		}
	}
}

func seenKey(r Reply) string { return r.Channel + "|" + r.EventID }

// claimLease is how long a consumer may take to process one reply before
// another may take the same event over. It is a little shorter than the
// consumers' minIdle (one minute), since it starts a round trip after the
// entry is handed out: an entry that comes back finds its lease ended.
const claimLease = 55 * time.Second

// consume processes one claimed page of replies: one ClaimEvents for the
// page, processBatch, then MarkSeen and AckReplies for what was done.
func (s *Service) consume(ctx context.Context, qs []QueuedReply) error {
	keys := make([]string, 0, len(qs))
	first := make(map[string]int, len(qs)) // key -> index in qs of its first entry
	for i, q := range qs {
		k := seenKey(q.Reply)
		if _, dup := first[k]; !dup {
			first[k] = i
			keys = append(keys, k)
		}
	}
	claims, err := s.store.ClaimEvents(ctx, keys, claimLease)
	if err != nil {
		return fmt.Errorf("claim event: %w", err)
	}
	got := make(map[string]EventClaim, len(keys))
	for i, k := range keys {
		got[k] = claims[i]
	}
	var done, fresh []string
	var work []Reply
	var workQ []int
	for i, q := range qs {
		k := seenKey(q.Reply)
		switch {
		case first[k] != i, got[k] == EventSeen:
			// The same event again in this page (its first entry stays
			// unacknowledged until it is done), or processed already.
			done = append(done, q.ID)
		case got[k] == EventLeased:
			// Being processed through another queue entry — or this very
			// entry was, by a consumer that died mid-page. Either way it
			// is left unacknowledged: it comes back after minIdle and is
			// then seen (and acknowledged), taken (and processed), or, if
			// still leased, left again. Acknowledging it here lost the
			// reply of a dead consumer.
		default:
			work = append(work, q.Reply)
			workQ = append(workQ, i)
		}
	}
	if len(work) > 0 {
		for n, err := range s.processBatch(ctx, work) {
			q := qs[workQ[n]]
			if err != nil {
				s.log.Error("process reply", "event", q.Reply.EventID, "err", err)
				continue
			}
			fresh = append(fresh, seenKey(q.Reply))
			done = append(done, q.ID)
		}
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
