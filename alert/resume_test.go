package alert_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/store/repo"
)

// crashingAudience is the directory until crashAt residents have been
// planned; then planning stops as if the process died.
type crashingAudience struct {
	*residents.Directory
	crashAt int
	seen    atomic.Int64
}

var errCrash = errors.New("process died")

func (c *crashingAudience) EachAfter(ctx context.Context, after string, fn func(residents.Resident) error) error {
	return c.Directory.EachAfter(ctx, after, func(r residents.Resident) error {
		if c.seen.Load() == int64(c.crashAt) {
			return errCrash
		}
		c.seen.Add(1)
		return fn(r)
	})
}

// uid is the LINE user id of resident prefix-i.
func uid(prefix string, i int) string { return fmt.Sprintf("U%08x%024x", prefix[0], i) }

func lineResidents(prefix string, from, n int) []residents.Resident {
	rs := make([]residents.Resident, n)
	for i := range rs {
		id := fmt.Sprintf("%s-%05d", prefix, from+i)
		rs[i] = residents.Resident{ID: id, Name: "x", Language: []string{"ja", "en"}[i%2], Area: "shiba",
			Contacts: residents.Contacts{LINEUserID: uid(prefix, from+i)}}
	}
	return rs
}

// Sending starts while the audience is still being planned. When the
// process dies mid-planning and the directory changes before the restart,
// planning resumes from its last checkpoint: batches that were already
// queued (some sent) are neither rewritten nor planned again, nobody is sent
// the alert twice, and everyone after the checkpoint is planned from the
// directory as it is now.
func TestPlanningResumesFromCheckpointAfterCrash(t *testing.T) {
	defer alert.SetPlanSizes(10, 3)()
	h := newHarness(t, "")
	ctx := context.Background()
	if bad, err := h.dir.Put(ctx, lineResidents("m", 0, 400)); err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	line := newFakeLINE()
	aud := &crashingAudience{Directory: h.dir, crashAt: 250}
	h.d = alert.NewDispatcher(h.svc, aud, nil, []alert.Sender{line}, alert.DispatcherConfig{Lease: 2e9})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = h.d.Run(runCtx) }()
	r := req("line")
	r.Target = alert.Target{All: true}
	id := h.send(r)
	st := repo.Alerts{B: h.db}
	var cur *alert.PlanCursor
	eventually(t, "planning to stop at the crash", func() bool { return aud.seen.Load() == int64(aud.crashAt) })
	eventually(t, "the queued batches to be sent", func() bool {
		a, err := st.GetAlert(ctx, id)
		if err != nil || a.PlanCursor == nil {
			return false
		}
		cur = a.PlanCursor
		line.mu.Lock()
		defer line.mu.Unlock()
		return len(line.order) >= cur.Seq["line"]-len(cur.Open)
	})
	stop()
	<-done
	a, _ := st.GetAlert(ctx, id)
	if a.Planned || a.Status != alert.StatusQueued || a.PlanCursor == nil {
		t.Fatalf("after the crash: planned %v status %s cursor %+v", a.Planned, a.Status, a.PlanCursor)
	}
	cur = a.PlanCursor
	if cur.After < "m-00200" || cur.After >= "m-00250" {
		t.Fatalf("cursor after %q: checkpoints were not taken as planned", cur.After)
	}
	// What was queued before the crash, as stored.
	queued := map[string][]string{}
	for seq := range cur.Seq["line"] {
		bid := alert.BatchID(id, "line", seq)
		if slices.Contains(mapsValues(cur.Open), bid) {
			continue
		}
		b, err := st.GetBatch(ctx, bid)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range b.Recipients {
			queued[bid] = append(queued[bid], rc.ResidentID)
		}
	}
	// The directory changes while the process is down: people planned
	// before the cursor move away, newcomers sort before and after it.
	for _, gone := range []string{"m-00003", "m-00100", "m-00300"} {
		if err := h.dir.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.dir.Put(ctx, append(lineResidents("a", 0, 7), lineResidents("z", 0, 9)...)); err != nil {
		t.Fatal(err)
	}
	// Restart: Recover resumes planning from the cursor.
	h.start([]alert.Sender{line}, nil)
	v := h.wait(id, alert.StatusCompleted)
	for bid, want := range queued {
		b, err := st.GetBatch(ctx, bid)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, rc := range b.Recipients {
			got = append(got, rc.ResidentID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("batch %s was rewritten after the crash: %v, was %v", bid, got, want)
		}
	}
	for i := range 400 {
		rid := fmt.Sprintf("m-%05d", i)
		n := line.delivered(uid("m", i))
		switch {
		case rid == "m-00300":
			if n != 0 {
				t.Errorf("%s left before being planned but got %d", rid, n)
			}
		case n != 1:
			t.Errorf("%s got the alert %d times, want once", rid, n)
		}
	}
	for i := range 9 {
		if n := line.delivered(uid("z", i)); n != 1 {
			t.Errorf("newcomer z-%05d (after the cursor) got %d, want 1", i, n)
		}
	}
	for i := range 7 {
		if n := line.delivered(uid("a", i)); n != 0 {
			t.Errorf("newcomer a-%05d (before the cursor, after planning passed) got %d", i, n)
		}
	}
	if c := v.Counts["line"]; c.Planned != 400-1+9 || c.Sent != c.Planned {
		t.Fatalf("counts %+v, want 408 planned and sent", c)
	}
}

func mapsValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
