package alert_test

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
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

// fakeLINE emulates LINE's retry-key semantics: a repeated key that was
// accepted is answered like a 409 (success, nobody reached again). fail
// lets a test script failures per attempt.
type fakeLINE struct {
	mu       sync.Mutex
	accepted map[string]bool
	got      map[string]int // user → messages delivered
	order    []string       // alert ids in send order
	keys     map[string][]string
	fail     func(b *alert.Batch, attempt int) error
	attempts map[string]int
	gate     chan struct{}
}

func newFakeLINE() *fakeLINE {
	return &fakeLINE{accepted: map[string]bool{}, got: map[string]int{}, keys: map[string][]string{}, attempts: map[string]int{}}
}

func (f *fakeLINE) Channel() string        { return alert.ChannelLINE }
func (f *fakeLINE) Cost(*alert.Batch) int  { return 1 }
func (f *fakeLINE) delivered(u string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.got[u] }

func (f *fakeLINE) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[b.ID]++
	f.keys[b.ID] = append(f.keys[b.ID], b.RetryKey)
	if f.fail != nil {
		if err := f.fail(b, f.attempts[b.ID]); err != nil {
			return nil, err
		}
	}
	f.order = append(f.order, b.AlertID)
	if !f.accepted[b.RetryKey] {
		f.accepted[b.RetryKey] = true
		for _, r := range b.Recipients {
			f.got[r.Address]++
		}
	}
	out := make([]alert.Outcome, len(b.Recipients))
	for i := range out {
		out[i].ProviderID = "req-" + b.RetryKey[:8]
	}
	return out, nil
}

// fakeSMS sends per recipient; fail decides per (address, attempt).
type fakeSMS struct {
	mu       sync.Mutex
	got      map[string]int
	attempts map[string]int
	fail     func(addr string, attempt int) error
}

func (f *fakeSMS) Channel() string         { return alert.ChannelSMS }
func (f *fakeSMS) Cost(b *alert.Batch) int { return len(b.Recipients) }
func (f *fakeSMS) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]alert.Outcome, len(b.Recipients))
	for i, r := range b.Recipients {
		f.attempts[r.Address]++
		if f.fail != nil {
			if err := f.fail(r.Address, f.attempts[r.Address]); err != nil {
				out[i].Err = err
				continue
			}
		}
		f.got[r.Address]++
		out[i].ProviderID = fmt.Sprintf("SM%030d", len(f.got))
	}
	return out, nil
}

type harness struct {
	t    *testing.T
	path string
	db   *bolt.DB
	svc  *alert.Service
	dir  *residents.Directory
	d    *alert.Dispatcher
	stop context.CancelFunc
	done chan struct{}
}

var vocab = alert.Vocabulary{Areas: residents.Areas, Languages: residents.Languages, Channels: []string{"line", "sms"}}

func newHarness(t *testing.T, path string) *harness {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "anpi.db")
	}
	db, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, path: path, db: db}
	h.svc = alert.NewService(repo.Alerts{B: db}, nil, alert.Config{Vocabulary: vocab}, slog.New(slog.DiscardHandler))
	h.dir = residents.NewDirectory(repo.Residents{B: db})
	t.Cleanup(func() { h.close() })
	return h
}

func (h *harness) start(senders []alert.Sender, limits map[string]alert.Limits) {
	h.d = alert.NewDispatcher(h.svc, h.dir, nil, senders, alert.DispatcherConfig{
		Limits: limits, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Lease: 2 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); _ = h.d.Run(ctx) }()
}

func (h *harness) halt() {
	if h.stop != nil {
		h.stop()
		<-h.done
		h.stop = nil
	}
}

func (h *harness) close() {
	h.halt()
	if h.db != nil {
		h.db.Close()
		h.db = nil
	}
}

func (h *harness) people(n int, withLINE, withPhone bool, area string) {
	h.t.Helper()
	rs := make([]residents.Resident, n)
	for i := range rs {
		rs[i] = residents.Resident{ID: fmt.Sprintf("%s-%05d", area, i), Name: "x", Language: []string{"ja", "en"}[i%2], Area: area}
		if withLINE {
			rs[i].Contacts.LINEUserID = fmt.Sprintf("U%032x", i+1)
		}
		if withPhone {
			rs[i].Contacts.Phone = fmt.Sprintf("+8190%08d", i)
		}
	}
	if bad, err := h.dir.Put(context.Background(), rs); err != nil || len(bad) > 0 {
		h.t.Fatalf("put residents: %v %v", err, bad)
	}
}

func (h *harness) send(req alert.Request) string {
	h.t.Helper()
	ctx := context.Background()
	a, err := h.svc.Create(ctx, req, "alice")
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, a.ID, "bob"); err != nil {
		h.t.Fatal(err)
	}
	return a.ID
}

func (h *harness) wait(id string, want string) alert.View {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := h.svc.Get(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if v.Status == want {
			return v
		}
		if time.Now().After(deadline) {
			st := repo.Alerts{B: h.db}
			bs, _ := st.ScanBatches(context.Background(), id, "", 1000)
			for _, b := range bs {
				l, _ := st.GetLedger(context.Background(), b.ID)
				h.t.Logf("batch %s: state %s owner %q since %s attempts %d next %s", b.ID, l.State, l.Owner, l.Since.Format("15:04:05.000"), l.Attempts, l.NextAt.Format("15:04:05.000"))
			}
			h.t.Fatalf("alert %s: status %s, want %s; counts %+v", id, v.Status, want, v.Counts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func req(channels ...string) alert.Request {
	return alert.Request{Severity: "severe", Title: map[string]string{"ja": "地震", "en": "Earthquake"},
		Body: map[string]string{"ja": "揺れに注意", "en": "Take cover"}, Target: alert.Target{All: true}, Channels: channels, Drill: true}
}

func TestTwoPersonRule(t *testing.T) {
	h := newHarness(t, "")
	ctx := context.Background()
	a, err := h.svc.Create(ctx, req("line"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != alert.StatusPendingApproval {
		t.Fatalf("status %s", a.Status)
	}
	if _, err := h.svc.Approve(ctx, a.ID, "alice"); !errors.Is(err, alert.ErrSelfApproval) {
		t.Fatalf("self approval: %v", err)
	}
	if _, err := h.svc.Approve(ctx, a.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, a.ID, "carol"); !errors.Is(err, alert.ErrState) {
		t.Fatalf("second approval: %v", err)
	}
	if _, err := h.svc.Cancel(ctx, a.ID, "bob", "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Cancel(ctx, a.ID, "bob", "again", nil); !errors.Is(err, alert.ErrState) {
		t.Fatalf("second cancel: %v", err)
	}
	b, _ := h.svc.Create(ctx, req("line"), "alice")
	h.svc.Cancel(ctx, b.ID, "alice", "", nil)
	if _, err := h.svc.Approve(ctx, b.ID, "bob"); !errors.Is(err, alert.ErrState) {
		t.Fatalf("approve cancelled: %v", err)
	}
}

func TestRequestValidation(t *testing.T) {
	h := newHarness(t, "")
	long := make([]rune, alert.MaxBody+1)
	for i := range long {
		long[i] = 'あ'
	}
	past := time.Now().Add(-time.Minute)
	cases := map[string]func(r *alert.Request){
		"unknown area":    func(r *alert.Request) { r.Target = alert.Target{Areas: []string{"shinjuku"}} },
		"no target":       func(r *alert.Request) { r.Target = alert.Target{} },
		"unknown channel": func(r *alert.Request) { r.Channels = []string{"fax"} },
		"no channel":      func(r *alert.Request) { r.Channels = nil },
		"empty title":     func(r *alert.Request) { r.Title = map[string]string{"ja": "  "} },
		"no title":        func(r *alert.Request) { r.Title = nil },
		"long body":       func(r *alert.Request) { r.Body = map[string]string{"ja": string(long)} },
		"bad language":    func(r *alert.Request) { r.Title = map[string]string{"xx": "t"} },
		"bad severity":    func(r *alert.Request) { r.Severity = "apocalyptic" },
		"expired":         func(r *alert.Request) { r.ExpiresAt = &past },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			r := req("line")
			mut(&r)
			_, err := h.svc.Create(context.Background(), r, "alice")
			var ie *alert.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("want InputError, got %v", err)
			}
		})
	}
	vs, _ := h.svc.List(context.Background(), 0)
	if len(vs) != 0 {
		t.Fatalf("invalid requests stored %d alerts", len(vs))
	}
}

func TestLINEChunksOfAtMost500AndCounts(t *testing.T) {
	h := newHarness(t, "")
	h.people(1234, true, false, "shiba")
	line := newFakeLINE()
	h.start([]alert.Sender{line}, nil)
	id := h.send(req("line"))
	v := h.wait(id, alert.StatusCompleted)
	if c := v.Counts["line"]; c.Planned != 1234 || c.Sent != 1234 || c.Failed != 0 || c.Queued != 0 {
		t.Fatalf("counts %+v", c)
	}
	if v.Audience != 1234 {
		t.Fatalf("audience %d", v.Audience)
	}
	for i := range 1234 {
		if n := line.delivered(fmt.Sprintf("U%032x", i+1)); n != 1 {
			t.Fatalf("user %d got %d messages", i, n)
		}
	}
	// ja and en residents alternate: 617 each → 500+117 per language.
	if len(line.keys) != 4 {
		t.Fatalf("batches %d, want 4", len(line.keys))
	}
	ds, next, err := h.svc.Deliveries(context.Background(), id, "", "", 1000)
	if err != nil || len(ds) != 1000 || next == "" {
		t.Fatalf("deliveries page 1: %d %q %v", len(ds), next, err)
	}
	ds2, next2, err := h.svc.Deliveries(context.Background(), id, "", next, 1000)
	if err != nil || len(ds2) != 234 || next2 != "" {
		t.Fatalf("deliveries page 2: %d %q %v", len(ds2), next2, err)
	}
	seen := map[string]bool{}
	for _, d := range append(ds, ds2...) {
		if d.State != "sent" || seen[d.ResidentID] {
			t.Fatalf("delivery %+v (dup %v)", d, seen[d.ResidentID])
		}
		seen[d.ResidentID] = true
	}
}

func TestLINERetriesReuseTheRetryKey(t *testing.T) {
	h := newHarness(t, "")
	h.people(10, true, false, "azabu")
	line := newFakeLINE()
	line.fail = func(b *alert.Batch, attempt int) error {
		switch attempt {
		case 1:
			return &alert.SendError{Status: 500, Retryable: true, Msg: "server error"}
		case 2:
			return &alert.SendError{Status: 429, Retryable: true, RetryAfter: 10 * time.Millisecond, Msg: "too many"}
		}
		return nil
	}
	h.start([]alert.Sender{line}, nil)
	id := h.send(req("line"))
	h.wait(id, alert.StatusCompleted)
	for b, keys := range line.keys {
		if len(keys) != 3 {
			t.Fatalf("batch %s attempts %d, want 3", b, len(keys))
		}
		if keys[0] != keys[1] || keys[1] != keys[2] {
			t.Fatalf("batch %s retry keys differ: %v", b, keys)
		}
	}
}

func TestPermanentAndQuotaFailuresAreRecorded(t *testing.T) {
	h := newHarness(t, "")
	h.people(3, true, false, "akasaka")
	line := newFakeLINE()
	line.fail = func(*alert.Batch, int) error {
		return &alert.SendError{Status: 429, QuotaExhausted: true, Msg: "You have reached your monthly limit."}
	}
	h.start([]alert.Sender{line}, nil)
	id := h.send(req("line"))
	v := h.wait(id, alert.StatusCompleted)
	if c := v.Counts["line"]; c.Failed != 3 || c.Sent != 0 {
		t.Fatalf("counts %+v", c)
	}
	if v.Problem == "" {
		t.Fatal("quota exhaustion not surfaced to operators")
	}
	ds, _, _ := h.svc.Deliveries(context.Background(), id, "failed", "", 10)
	if len(ds) != 3 || ds[0].Reason == "" {
		t.Fatalf("failed deliveries %+v", ds)
	}
	if line.attempts[ds[0].Batch] != 1 {
		t.Fatalf("quota failure was retried %d times", line.attempts[ds[0].Batch])
	}
}

func TestSMSRetriesOnlyFailedRecipients(t *testing.T) {
	h := newHarness(t, "")
	h.people(5, false, true, "takanawa")
	sms := &fakeSMS{got: map[string]int{}, attempts: map[string]int{}}
	sms.fail = func(addr string, attempt int) error {
		if addr == "+819000000002" && attempt == 1 {
			return &alert.SendError{Status: 429, Code: "20429", Retryable: true}
		}
		if addr == "+819000000004" {
			return &alert.SendError{Status: 400, Code: "21211", Msg: "invalid number"}
		}
		return nil
	}
	h.start([]alert.Sender{sms}, nil)
	id := h.send(req("sms"))
	v := h.wait(id, alert.StatusCompleted)
	if c := v.Counts["sms"]; c.Sent != 4 || c.Failed != 1 {
		t.Fatalf("counts %+v", c)
	}
	for addr, n := range sms.got {
		if n != 1 {
			t.Fatalf("%s got %d messages", addr, n)
		}
	}
	if sms.attempts["+819000000001"] != 1 || sms.attempts["+819000000002"] != 2 {
		t.Fatalf("attempts %v", sms.attempts)
	}
}

func TestApprovingAnExpiredAlertIsRefused(t *testing.T) {
	h := newHarness(t, "")
	h.people(3, true, false, "shiba")
	now := time.Now()
	h.svc.SetClock(func() time.Time { return now })
	r := req("line")
	exp := now.Add(time.Minute)
	r.ExpiresAt = &exp
	a, _ := h.svc.Create(context.Background(), r, "alice")
	h.svc.SetClock(func() time.Time { return now.Add(2 * time.Minute) })
	if _, err := h.svc.Approve(context.Background(), a.ID, "bob"); !errors.Is(err, alert.ErrState) {
		t.Fatalf("approving an expired alert: %v", err)
	}
}

func TestCancelStopsQueuedBatches(t *testing.T) {
	h := newHarness(t, "")
	h.people(3000, true, false, "shiba")
	line := newFakeLINE()
	line.gate = make(chan struct{})
	h.start([]alert.Sender{line}, map[string]alert.Limits{"line": {Workers: 1}})
	id := h.send(req("line"))
	h.wait(id, alert.StatusDispatching)
	line.gate <- struct{}{} // let exactly one batch through
	if _, err := h.svc.Cancel(context.Background(), id, "bob", "wrong area", nil); err != nil {
		t.Fatal(err)
	}
	close(line.gate)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, cur := 0, ""
		for {
			ds, next, _ := h.svc.Deliveries(context.Background(), id, "cancelled", cur, 1000)
			n += len(ds)
			if cur = next; cur == "" {
				break
			}
		}
		if n >= 2000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancelled deliveries %d", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	line.mu.Lock()
	defer line.mu.Unlock()
	if n := len(line.order); n > 2 {
		// One batch may have been in flight when the cancel landed.
		t.Fatalf("%d batches sent after cancel", n)
	}
	v, _ := h.svc.Get(context.Background(), id)
	if v.Status != alert.StatusCancelled {
		t.Fatalf("status %s", v.Status)
	}
}

func TestSevereAlertOvertakesRoutineSend(t *testing.T) {
	h := newHarness(t, "")
	h.people(4000, true, false, "shiba")
	h.people(600, true, false, "azabu")
	line := newFakeLINE()
	// 4 batches/s: the routine send of 8 batches takes about 2 s.
	h.start([]alert.Sender{line}, map[string]alert.Limits{"line": {RPS: 4, Burst: 1, Workers: 2}})
	routine := req("line")
	routine.Severity = "moderate"
	routine.Target = alert.Target{Areas: []string{"shiba"}}
	rid := h.send(routine)
	h.wait(rid, alert.StatusDispatching)
	time.Sleep(300 * time.Millisecond)
	urgent := req("line")
	urgent.Severity = "extreme"
	urgent.Target = alert.Target{Areas: []string{"azabu"}}
	uid := h.send(urgent)
	h.wait(uid, alert.StatusCompleted)
	v, _ := h.svc.Get(context.Background(), rid)
	if v.Status == alert.StatusCompleted {
		t.Fatal("routine send finished before the urgent one: the test did not exercise priority")
	}
	line.mu.Lock()
	order := slices.Clone(line.order)
	line.mu.Unlock()
	// Between the urgent alert's first and last batch no routine batch ran,
	// except one each worker may already have held.
	first, last := slices.Index(order, uid), 0
	for i, a := range order {
		if a == uid {
			last = i
		}
	}
	routineBetween := 0
	for _, a := range order[first : last+1] {
		if a == rid {
			routineBetween++
		}
	}
	if routineBetween > 2 {
		t.Fatalf("%d routine batches interleaved with the urgent alert: %v", routineBetween, order)
	}
}

func TestCrashResumeSendsEveryoneExactlyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anpi.db")
	h := newHarness(t, path)
	h.people(5000, true, false, "shiba")
	line := newFakeLINE()
	h.start([]alert.Sender{line}, map[string]alert.Limits{"line": {RPS: 20, Burst: 1, Workers: 2}})
	id := h.send(req("line"))
	h.wait(id, alert.StatusDispatching)
	time.Sleep(150 * time.Millisecond)
	// "kill": stop the workers mid-send and close the store.
	h.close()
	line.mu.Lock()
	before := len(line.accepted)
	line.mu.Unlock()
	if before >= 10 {
		t.Fatalf("all %d batches were sent before the crash; the test did not crash mid-send", before)
	}
	h2 := newHarness(t, path)
	h2.start([]alert.Sender{line}, nil)
	v := h2.wait(id, alert.StatusCompleted)
	if c := v.Counts["line"]; c.Sent != 5000 || c.Failed != 0 {
		t.Fatalf("counts after resume %+v", c)
	}
	for i := range 5000 {
		if n := line.delivered(fmt.Sprintf("U%032x", i+1)); n != 1 {
			t.Fatalf("user %d got %d messages", i, n)
		}
	}
}

func TestExplicitResidentList(t *testing.T) {
	h := newHarness(t, "")
	h.people(50, true, false, "shiba")
	line := newFakeLINE()
	h.start([]alert.Sender{line}, nil)
	a, err := h.svc.CreateApproved(context.Background(), &alert.Alert{Severity: "severe", Title: map[string]string{"ja": "再送"},
		Body: map[string]string{"ja": "まだ回答がありません"}, Channels: []string{"line"},
		Target: alert.Target{All: true, ResidentIDs: []string{"shiba-00007", "shiba-00003", "shiba-00003", "nobody"}}})
	if err != nil {
		t.Fatal(err)
	}
	v := h.wait(a.ID, alert.StatusCompleted)
	if v.Audience != 2 || line.delivered(fmt.Sprintf("U%032x", 4)) != 1 || line.delivered(fmt.Sprintf("U%032x", 8)) != 1 || line.delivered(fmt.Sprintf("U%032x", 1)) != 0 {
		t.Fatalf("audience %d", v.Audience)
	}
}

func TestBatchesPastTheirExpiryFailInsteadOfArrivingLate(t *testing.T) {
	h := newHarness(t, "")
	h.people(600, true, false, "shiba")
	now := time.Now()
	h.svc.SetClock(func() time.Time { return now })
	r := req("line")
	exp := now.Add(time.Hour)
	r.ExpiresAt = &exp
	id := h.send(r) // approved while still valid, not yet dispatched
	// The dispatcher comes up two hours later (an outage): nothing may go out.
	h.svc.SetClock(func() time.Time { return now.Add(2 * time.Hour) })
	line := newFakeLINE()
	h.start([]alert.Sender{line}, nil)
	v := h.wait(id, alert.StatusCompleted)
	if c := v.Counts["line"]; c.Failed != 600 || c.Sent != 0 {
		t.Fatalf("counts %+v", c)
	}
	if len(line.keys) != 0 {
		t.Fatalf("%d batches sent after expiry", len(line.keys))
	}
	ds, _, _ := h.svc.Deliveries(context.Background(), id, "failed", "", 1)
	if len(ds) != 1 || !strings.Contains(ds[0].Reason, "expired") {
		t.Fatalf("deliveries %+v", ds)
	}
}

// TestEarlierRunIsTakenOverOnlyOnceConfirmed: with ConfirmInstance, a batch
// leased by a killed earlier run of the same instance is not taken over
// (its lease, a minute here, is waited out) until InstanceConfirmed; then
// it is, at once.
func TestEarlierRunIsTakenOverOnlyOnceConfirmed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anpi.db")
	h := newHarness(t, path)
	h.people(10, true, false, "shiba")
	line := newFakeLINE()
	line.gate = make(chan struct{}) // the first run's request never returns
	run := func(h *harness, confirm bool) *alert.Dispatcher {
		h.d = alert.NewDispatcher(h.svc, h.dir, nil, []alert.Sender{line}, alert.DispatcherConfig{
			Instance: "i1", ConfirmInstance: confirm, Lease: time.Minute,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		})
		ctx, cancel := context.WithCancel(context.Background())
		h.stop, h.done = cancel, make(chan struct{})
		go func() { defer close(h.done); _ = h.d.Run(ctx) }()
		return h.d
	}
	run(h, false)
	id := h.send(req("line"))
	batch := alert.BatchID(id, "line", 0)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l, err := repo.Alerts{B: h.db}.GetLedger(context.Background(), batch)
		if err == nil && l.State == alert.LedgerSending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run never took the batch")
		}
	}
	h.close() // killed mid-request: the ledger stays leased to the first run

	h2 := newHarness(t, path)
	line.gate = nil
	d := run(h2, true)
	time.Sleep(300 * time.Millisecond)
	if v, _ := h2.svc.Get(context.Background(), id); v.Status == alert.StatusCompleted || line.delivered(fmt.Sprintf("U%032x", 1)) != 0 {
		t.Fatalf("taken over before confirmation: %s, delivered %d", v.Status, line.delivered(fmt.Sprintf("U%032x", 1)))
	}
	d.InstanceConfirmed(context.Background())
	// The entries this run claimed while it had to wait stay claimed until
	// the lease; on Redis, InstanceConfirmed hands the earlier run's own
	// entries out again (store.Backend.Release, tested in storetest). Here
	// the batches are queued afresh, as that release does.
	if err := (repo.Alerts{B: h2.db}).Enqueue(context.Background(), "dispatch:line:hi",
		alert.BatchID(id, "line", 0), alert.BatchID(id, "line", 1)); err != nil {
		t.Fatal(err)
	}
	h2.wait(id, alert.StatusCompleted)
	for i := range 10 {
		if n := line.delivered(fmt.Sprintf("U%032x", i+1)); n != 1 {
			t.Fatalf("user %d got %d messages", i, n)
		}
	}
}

// claimCounter counts how often each batch is handed to a worker.
type claimCounter struct {
	alert.Store
	mu     sync.Mutex
	claims map[string]int
}

func (c *claimCounter) Claim(ctx context.Context, queue, consumer string, max int, minIdle, block time.Duration) ([]alert.Job, error) {
	jobs, err := c.Store.Claim(ctx, queue, consumer, max, minIdle, block)
	c.mu.Lock()
	for _, j := range jobs {
		c.claims[j.BatchID]++
	}
	c.mu.Unlock()
	return jobs, err
}

// TestLongWaitDoesNotSpin: a batch told to come back in 50 s (Retry-After
// longer than half the one-minute lease) is left claimed, not queued again
// at once, which made the next claim take it straight back (a busy loop).
func TestLongWaitDoesNotSpin(t *testing.T) {
	h := newHarness(t, "")
	h.people(5, true, false, "shiba")
	cs := &claimCounter{Store: repo.Alerts{B: h.db}, claims: map[string]int{}}
	h.svc = alert.NewService(cs, nil, alert.Config{Vocabulary: vocab}, slog.New(slog.DiscardHandler))
	line := newFakeLINE()
	line.fail = func(*alert.Batch, int) error {
		return &alert.SendError{Status: 429, Retryable: true, RetryAfter: 50 * time.Second, Msg: "slow down"}
	}
	h.d = alert.NewDispatcher(h.svc, h.dir, nil, []alert.Sender{line}, alert.DispatcherConfig{Lease: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); _ = h.d.Run(ctx) }()
	id := h.send(req("line"))
	h.wait(id, alert.StatusDispatching)
	time.Sleep(500 * time.Millisecond)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for b, n := range cs.claims {
		if n > 1 {
			t.Fatalf("batch %s claimed %d times in half a second while waiting 50 s", b, n)
		}
	}
	if len(cs.claims) == 0 {
		t.Fatal("no batch was claimed")
	}
}
