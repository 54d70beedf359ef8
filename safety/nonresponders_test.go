package safety_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/safety/classify"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

// smallPages serves statuses 7 at a time, so that a few answers span many
// pages.
type smallPages struct{ repo.Safety }

func (s smallPages) ScanStatuses(ctx context.Context, checkID, after string, limit int) ([]safety.PersonStatus, error) {
	return s.Safety.ScanStatuses(ctx, checkID, after, min(limit, 7))
}

// TestNonResponders: over more than one page of residents and of statuses,
// the list is exactly the audience (target area, reachable on a check
// channel) minus those who answered, in id order, with their channels.
func TestNonResponders(t *testing.T) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.DiscardHandler)
	alerts := alert.NewService(repo.Alerts{B: db}, nil, alert.Config{Vocabulary: alert.Vocabulary{
		Areas: residents.Areas, Languages: residents.Languages, Channels: []string{"line", "sms", "voice"}}}, log)
	dir := residents.NewDirectory(repo.Residents{B: db})
	const n = 2600
	var rs []residents.Resident
	for i := range n {
		r := residents.Resident{ID: fmt.Sprintf("r%05d", i), Name: fmt.Sprintf("住民%d", i), Language: "ja", Area: "azabu"}
		switch i % 4 {
		case 0:
			r.Contacts.Phone = fmt.Sprintf("+8190%08d", i)
		case 1:
			r.Contacts.VoicePhone = fmt.Sprintf("+8135%08d", i)
			r.Tags = []string{"needs_support"}
		case 2:
			r.Contacts.Phone, r.Contacts.VoicePhone = fmt.Sprintf("+8190%08d", i), fmt.Sprintf("+8135%08d", i)
		case 3:
			// no phone: outside an sms/voice check's audience
		}
		if i%10 == 9 {
			r.Area = "shiba" // outside the target
		}
		rs = append(rs, r)
	}
	if bad, err := dir.Put(ctx, rs); err != nil || bad != nil {
		t.Fatal(err, bad)
	}
	svc := safety.NewService(smallPages{repo.Safety{B: db}}, alerts, dir, classify.NewEnsemble(classify.Rules{}, nil, log), nil, log)
	c, err := svc.Start(ctx, safety.CheckRequest{Target: alert.Target{Areas: []string{"azabu"}}, Channels: []string{"sms"},
		Reminders: []string{"15m"}, Escalate: []string{"voice"}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, r := range rs {
		if r.Area != "azabu" || r.Contacts.Phone == "" {
			continue
		}
		if i%7 == 0 || (i > 1990 && i < 2010) {
			err := svc.Process(ctx, safety.Reply{EventID: "e" + r.ID, CheckID: c.ID, ResidentID: r.ID, Channel: "web", Button: classify.LabelSafe})
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		want = append(want, r.ID)
	}
	var got []string
	err = svc.NonResponders(ctx, c.ID, func(nr safety.NonResponder) error {
		got = append(got, nr.Resident.ID)
		// Every sms audience member can also be called (voice falls back
		// to the mobile number).
		wantCh := []string{"sms", "voice"}
		if !slices.Equal(nr.Channels, wantCh) {
			return fmt.Errorf("%s channels %v, want %v", nr.Resident.ID, nr.Channels, wantCh)
		}
		if !nr.LastContacted.Equal(c.CreatedAt) {
			return fmt.Errorf("%s last contacted %v, want the start %v", nr.Resident.ID, nr.LastContacted, c.CreatedAt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 1000 || !slices.Equal(got, want) {
		t.Logf("want %v", want[:min(5, len(want))])
		t.Fatalf("got %d non-responders, want %d (first got %v)", len(got), len(want), got[:min(5, len(got))])
	}

	// fn's error stops the scan and comes back.
	stop := errors.New("enough")
	calls := 0
	if err := svc.NonResponders(ctx, c.ID, func(safety.NonResponder) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("stop: %v after %d calls", err, calls)
	}
	if err := svc.NonResponders(ctx, "sc_missing", func(safety.NonResponder) error { return nil }); !errors.Is(err, safety.ErrNotFound) {
		t.Fatalf("unknown check: %v", err)
	}
}

// TestNonRespondersLastContacted: a sent reminder step moves
// last_contacted; a skipped one does not.
func TestNonRespondersLastContacted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sent, skipped := e.check.CreatedAt.Add(15*time.Minute), e.check.CreatedAt.Add(60*time.Minute)
	if _, err := e.st.UpdateCheck(ctx, e.check.ID, func(c *safety.Check) error {
		c.ReminderLog = []safety.ReminderRecord{{Step: 0, At: sent, Reminded: 2}, {Step: 1, At: skipped, Skipped: true}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	err := e.svc.NonResponders(ctx, e.check.ID, func(nr safety.NonResponder) error {
		ids = append(ids, nr.Resident.ID)
		if !nr.LastContacted.Equal(sent) {
			return fmt.Errorf("last contacted %v, want %v", nr.LastContacted, sent)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// r4 has no contact on the check's channels.
	if !slices.Equal(ids, []string{"r1", "r2", "r3"}) {
		t.Fatalf("non-responders %v", ids)
	}
}
