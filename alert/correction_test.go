package alert_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/template"
	templates "github.com/minato-city/anpi/configs/templates"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/store/repo"
)

// recorder is a fake provider that records, per alert, how many messages
// each address got and the texts sent. LINE-style senders (batch) fail or
// succeed as a whole; others per recipient.
type recorder struct {
	ch       string
	batch    bool
	mu       sync.Mutex
	got      map[string]map[string]int // alert → address → messages
	texts    map[string][]string       // alert → texts
	attempts map[string]int            // address → attempts
	fail     func(b *alert.Batch, addr string) error
	gate     func(b *alert.Batch) <-chan struct{}
}

func newRecorder(ch string, batch bool) *recorder {
	return &recorder{ch: ch, batch: batch, got: map[string]map[string]int{}, texts: map[string][]string{}, attempts: map[string]int{}}
}

func (r *recorder) Channel() string       { return r.ch }
func (r *recorder) Cost(*alert.Batch) int { return 1 }
func (r *recorder) tries(addr string) int { r.mu.Lock(); defer r.mu.Unlock(); return r.attempts[addr] }
func (r *recorder) sent(id string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.got[id] {
		out[k] = v
	}
	return out
}

func (r *recorder) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	if r.gate != nil {
		if g := r.gate(b); g != nil {
			select {
			case <-g:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]alert.Outcome, len(b.Recipients))
	if r.batch && r.fail != nil {
		if err := r.fail(b, ""); err != nil {
			return nil, err
		}
	}
	for i, rc := range b.Recipients {
		r.attempts[rc.Address]++
		if !r.batch && r.fail != nil {
			if err := r.fail(b, rc.Address); err != nil {
				out[i].Err = err
				continue
			}
		}
		if r.got[b.AlertID] == nil {
			r.got[b.AlertID] = map[string]int{}
		}
		r.got[b.AlertID][rc.Address]++
		out[i].ProviderID = "id-" + rc.Address
	}
	r.texts[b.AlertID] = append(r.texts[b.AlertID], b.Text)
	return out, nil
}

func loadTemplates(t *testing.T) *template.Set {
	t.Helper()
	s, err := template.Load(templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withTemplates replaces the harness's service by one with the shipped
// templates (before start).
func withTemplates(h *harness, v alert.Vocabulary) {
	h.svc = alert.NewService(repo.Alerts{B: h.db}, nil, alert.Config{Vocabulary: v, Templates: loadTemplates(h.t)}, slog.New(slog.DiscardHandler))
}

func putResidents(t *testing.T, h *harness, rs ...residents.Resident) {
	t.Helper()
	if bad, err := h.dir.Put(context.Background(), rs); err != nil || len(bad) > 0 {
		t.Fatalf("put residents: %v %v", err, bad)
	}
}

func person(id, lang, area, lineID, phone string) residents.Resident {
	return residents.Resident{ID: id, Name: "x", Language: lang, Area: area, Contacts: residents.Contacts{LINEUserID: lineID, Phone: phone}}
}

func lineID(n int) string { return "U" + strings.Repeat("0", 31) + string(rune('0'+n)) }

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func states(t *testing.T, h *harness, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ds, _, err := h.svc.Deliveries(context.Background(), id, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		out[d.Channel+":"+d.ResidentID] = d.State
	}
	return out
}

// The correction reaches exactly the people the cancelled alert reached
// (sent or delivered on some channel), on the alert's channels, once each;
// nobody whose delivery failed, is still waiting to be retried, or was not
// targeted.
func TestCorrectionReachesExactlyThoseReached(t *testing.T) {
	h := newHarness(t, "")
	withTemplates(h, vocab)
	putResidents(t, h,
		person("r-a", "ja", "shiba", lineID(1), "+819011110001"), // LINE and SMS sent
		person("r-b", "ja", "shiba", lineID(2), ""),              // LINE sent
		person("r-c", "en", "shiba", lineID(3), ""),              // LINE failed for good
		person("r-d", "en", "shiba", "", "+819011110004"),        // SMS sent
		person("r-e", "ko", "shiba", "", "+819011110005"),        // SMS waiting for a retry an hour away
		person("r-f", "ja", "shiba", "", "+819011110006"),        // SMS failed for good
		person("r-g", "ja", "azabu", lineID(7), "+819011110007"), // not targeted
		person("r-h", "en", "shiba", lineID(8), "+819011110008"), // LINE failed, SMS sent
	)
	var origID string
	var mu sync.Mutex
	isOrig := func(b *alert.Batch) bool { mu.Lock(); defer mu.Unlock(); return b.AlertID == origID }
	line := newRecorder(alert.ChannelLINE, true)
	line.fail = func(b *alert.Batch, _ string) error {
		if isOrig(b) && b.Language == "en" {
			return &alert.SendError{Status: 400, Msg: "invalid request"}
		}
		return nil
	}
	sms := newRecorder(alert.ChannelSMS, false)
	sms.fail = func(b *alert.Batch, addr string) error {
		if !isOrig(b) {
			return nil
		}
		switch addr {
		case "+819011110005":
			return &alert.SendError{Status: 429, Code: "20429", Retryable: true, RetryAfter: time.Hour}
		case "+819011110006":
			return &alert.SendError{Status: 400, Code: "21211", Msg: "invalid number"}
		}
		return nil
	}
	// Hold the original until its id is known to the fakes.
	mu.Lock()
	h.start([]alert.Sender{line, sms}, nil)
	r := req("line", "sms")
	r.Drill = false
	r.Target = alert.Target{Areas: []string{"shiba"}}
	ctx := context.Background()
	a, err := h.svc.Create(ctx, r, "alice")
	if err != nil {
		t.Fatal(err)
	}
	origID = a.ID
	mu.Unlock()
	if _, err := h.svc.Approve(ctx, a.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"line:r-a": "sent", "line:r-b": "sent", "line:r-c": "failed", "line:r-h": "failed",
		"sms:r-a": "sent", "sms:r-d": "sent", "sms:r-e": "queued", "sms:r-f": "failed", "sms:r-h": "sent",
	}
	// r-e's first attempt must be over (a retry an hour away), not in flight.
	eventually(t, "the original's deliveries to settle", func() bool {
		return sms.tries("+819011110005") > 0 && maps(states(t, h, a.ID), want)
	})
	got, err := h.svc.Cancel(ctx, a.ID, "bob", "wrong text", map[string]string{"ja": "誤って送信しました。", "en": "This was sent in error."})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != alert.StatusCancelled || got.Correction == nil || got.Correction.ID != alert.CorrectionID(a.ID) {
		t.Fatalf("cancel result %+v correction %+v", got, got.Correction)
	}
	v := h.wait(got.Correction.ID, alert.StatusCompleted)
	if v.Kind != alert.KindCorrection || v.Corrects != a.ID || v.Drill || v.ApprovedBy != "bob" || v.Severity != "severe" {
		t.Fatalf("correction view %+v", v)
	}
	if !slices.Equal(v.Target.ResidentIDs, []string{"r-a", "r-b", "r-d", "r-h"}) {
		t.Fatalf("correction targets %v", v.Target.ResidentIDs)
	}
	wantLINE := map[string]int{lineID(1): 1, lineID(2): 1, lineID(8): 1}
	wantSMS := map[string]int{"+819011110001": 1, "+819011110004": 1, "+819011110008": 1}
	if g := line.sent(v.ID); !equalCounts(g, wantLINE) {
		t.Fatalf("correction on LINE reached %v, want %v", g, wantLINE)
	}
	if g := sms.sent(v.ID); !equalCounts(g, wantSMS) {
		t.Fatalf("correction by SMS reached %v, want %v", g, wantSMS)
	}
	line.mu.Lock()
	texts := slices.Clone(line.texts[v.ID])
	line.mu.Unlock()
	for _, txt := range texts {
		if strings.HasPrefix(txt, "【訓練】") || strings.HasPrefix(txt, "[DRILL]") {
			t.Fatalf("live correction carries a drill marker: %q", txt)
		}
		if !strings.Contains(txt, "地震") && !strings.Contains(txt, "Earthquake") {
			t.Fatalf("correction does not quote the original: %q", txt)
		}
		if !strings.Contains(txt, "誤って送信しました。") && !strings.Contains(txt, "This was sent in error.") {
			t.Fatalf("correction lacks the operator's text: %q", txt)
		}
	}
	ov, _ := h.svc.Get(ctx, a.ID)
	if ov.CorrectionID != v.ID || ov.Status != alert.StatusCancelled {
		t.Fatalf("original view %+v", ov)
	}
	// The retry that was waiting was stopped, and a second cancel changes nothing.
	eventually(t, "the waiting SMS to be cancelled", func() bool { return states(t, h, a.ID)["sms:r-e"] == "cancelled" })
	if n := sms.sent(a.ID)["+819011110005"]; n != 0 {
		t.Fatalf("cancelled recipient got %d messages", n)
	}
	if _, err := h.svc.Cancel(ctx, a.ID, "bob", "again", map[string]string{"ja": "再度"}); !errors.Is(err, alert.ErrState) {
		t.Fatalf("second cancel: %v", err)
	}
	// Restarting the correction (a crash) creates nothing new.
	if err := h.svc.ResumeCorrections(ctx); err != nil {
		t.Fatal(err)
	}
	vs, _ := h.svc.List(ctx, 0)
	if len(vs) != 2 {
		t.Fatalf("%d alerts, want the original and one correction", len(vs))
	}
}

func maps(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return len(got) == len(want)
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// A drill is corrected only when the operator writes a correction, and
// the correction is itself a drill. Recipients whose request was in flight
// when the cancel landed are corrected too (they may have been reached).
func TestDrillCorrection(t *testing.T) {
	h := newHarness(t, "")
	withTemplates(h, vocab)
	putResidents(t, h,
		person("r-1", "ja", "shiba", lineID(1), ""),
		person("r-2", "en", "shiba", lineID(2), ""),
		person("r-3", "ja", "shiba", lineID(3), ""),
	)
	gate := make(chan struct{})
	var mu sync.Mutex
	var held []string
	line := newRecorder(alert.ChannelLINE, true)
	line.gate = func(b *alert.Batch) <-chan struct{} {
		if b.Language == "en" && b.AlertID != "" && !strings.HasSuffix(b.AlertID, ".corr") {
			mu.Lock()
			held = append(held, b.AlertID)
			mu.Unlock()
			return gate
		}
		return nil
	}
	h.start([]alert.Sender{line}, nil)
	ctx := context.Background()

	// Without correction text: no correction.
	id := h.send(req("line"))
	eventually(t, "ja sent, en in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return line.sent(id)[lineID(1)] == 1 && slices.Contains(held, id)
	})
	got, err := h.svc.Cancel(ctx, id, "bob", "stop the drill", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Correction == nil || got.Correction.ID != "" || got.Correction.Note != alert.NoteDrillNoText {
		t.Fatalf("drill without text: %+v", got.Correction)
	}
	if _, err := h.svc.Get(ctx, alert.CorrectionID(id)); !errors.Is(err, alert.ErrNotFound) {
		t.Fatalf("a correction was made: %v", err)
	}

	// With text: a drill-marked correction to the reached and the in-flight.
	id2 := h.send(req("line"))
	eventually(t, "ja sent, en in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return line.sent(id2)[lineID(3)] == 1 && slices.Contains(held, id2)
	})
	got, err = h.svc.Cancel(ctx, id2, "bob", "wrong area", map[string]string{"ja": "訓練を中止します。"})
	if err != nil {
		t.Fatal(err)
	}
	close(gate)
	v := h.wait(got.Correction.ID, alert.StatusCompleted)
	if !v.Drill || !slices.Equal(v.Target.ResidentIDs, []string{"r-1", "r-2", "r-3"}) {
		t.Fatalf("drill correction %+v", v)
	}
	line.mu.Lock()
	texts := slices.Clone(line.texts[v.ID])
	line.mu.Unlock()
	if len(texts) != 2 {
		t.Fatalf("correction texts %q", texts)
	}
	for _, txt := range texts {
		if !strings.HasPrefix(txt, "【訓練】【訂正】") && !strings.HasPrefix(txt, "[DRILL] Correction") {
			t.Fatalf("drill correction text %q", txt)
		}
	}
	if g := line.sent(v.ID); !equalCounts(g, map[string]int{lineID(1): 1, lineID(2): 1, lineID(3): 1}) {
		t.Fatalf("correction reached %v", g)
	}
}

func TestCancelRules(t *testing.T) {
	h := newHarness(t, "")
	withTemplates(h, vocab)
	ctx := context.Background()
	live := req("line")
	live.Drill = false
	a, err := h.svc.Create(ctx, live, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Bad correction: refused, nothing changed.
	for _, c := range []map[string]string{{"fr": "non"}, {"ja": strings.Repeat("あ", alert.MaxCorrection+1)}, {"ja": "a\u202eb"}} {
		var ie *alert.InputError
		if _, err := h.svc.Cancel(ctx, a.ID, "bob", "x", c); !errors.As(err, &ie) {
			t.Fatalf("correction %q: %v", c, err)
		}
	}
	if v, _ := h.svc.Get(ctx, a.ID); v.Status != alert.StatusPendingApproval {
		t.Fatalf("a refused cancel changed the alert: %s", v.Status)
	}
	// A live alert that reached nobody: cancelled, no correction, a note.
	got, err := h.svc.Cancel(ctx, a.ID, "bob", "typo", map[string]string{"ja": "取り消し"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Correction == nil || got.Correction.ID != "" || got.Correction.Note != alert.NoteReachedNobody {
		t.Fatalf("correction %+v", got.Correction)
	}
	if v, _ := h.svc.Get(ctx, a.ID); v.CorrectionNote != alert.NoteReachedNobody || v.CorrectionID != "" {
		t.Fatalf("view %+v", v)
	}
	if _, err := h.svc.Cancel(ctx, a.ID, "bob", "again", nil); !errors.Is(err, alert.ErrState) {
		t.Fatalf("cancel twice: %v", err)
	}
	if _, err := h.svc.Approve(ctx, a.ID, "bob"); !errors.Is(err, alert.ErrState) {
		t.Fatalf("approve cancelled: %v", err)
	}
}
