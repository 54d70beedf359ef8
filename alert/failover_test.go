package alert_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/minato-city/anpi/alert"
)

// In first_reachable mode a person with LINE and a phone gets the LINE
// message only; when LINE fails for good, they get an SMS instead; people
// with a phone only get an SMS at once. Nobody gets both.
func TestFirstReachableFailsOverToTheNextChannel(t *testing.T) {
	h := newHarness(t, "")
	h.people(10, true, true, "shiba") // LINE and phone
	h.people(4, false, true, "azabu") // phone only
	line := newFakeLINE()
	blocked := fmt.Sprintf("U%032x", 3) // shiba-00002 blocked the account
	line.fail = func(b *alert.Batch, _ int) error {
		for _, r := range b.Recipients {
			if r.Address == blocked {
				return &alert.SendError{Status: 400, Msg: "The user hasn't added the account as a friend"}
			}
		}
		return nil
	}
	sms := &fakeSMS{got: map[string]int{}, attempts: map[string]int{}}
	h.start([]alert.Sender{line, sms}, nil)
	r := req("line", "sms")
	r.Mode = alert.ModeFirstReachable
	id := h.send(r)
	v := h.wait(id, alert.StatusCompleted)
	if c := v.Counts["sms"]; c.Planned != 4 || c.Sent != 4 {
		t.Fatalf("first pass: SMS counts %+v, want only the 4 phone-only people", c)
	}
	// The LINE batch that held the blocked user failed as a whole (LINE
	// multicast is all-or-nothing): its people fail over to SMS.
	fo := h.wait(alert.FailoverID(id, "line"), alert.StatusCompleted)
	if c := fo.Counts["sms"]; c.Planned == 0 || c.Sent != c.Planned {
		t.Fatalf("failover SMS counts %+v", c)
	}
	if len(fo.Channels) != 1 || fo.Channels[0] != "sms" {
		t.Fatalf("failover channels %v", fo.Channels)
	}
	// Each person was sent exactly one message across the alert and its
	// failover (phone numbers of the two areas overlap in this harness, so
	// count by person from the delivery records).
	sent := map[string]int{}
	for _, aid := range []string{id, fo.ID} {
		ds, _, err := h.svc.Deliveries(context.Background(), aid, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.State == "sent" || d.State == "delivered" {
				sent[d.ResidentID]++
			}
		}
	}
	for i := range 10 {
		if n := sent[fmt.Sprintf("shiba-%05d", i)]; n != 1 {
			t.Fatalf("shiba-%05d was sent %d messages, want exactly one", i, n)
		}
	}
	if sent["azabu-00000"] != 1 || len(sent) != 14 {
		t.Fatalf("sent %v", sent)
	}
	if line.delivered(blocked) != 0 {
		t.Fatal("the blocked user got a LINE message")
	}
}

// In the default mode everyone is reached on every channel they have.
func TestAllChannelsIsTheDefault(t *testing.T) {
	h := newHarness(t, "")
	h.people(3, true, true, "shiba")
	line, sms := newFakeLINE(), &fakeSMS{got: map[string]int{}, attempts: map[string]int{}}
	h.start([]alert.Sender{line, sms}, nil)
	v := h.wait(h.send(req("line", "sms")), alert.StatusCompleted)
	if v.Counts["line"].Sent != 3 || v.Counts["sms"].Sent != 3 {
		t.Fatalf("counts %+v", v.Counts)
	}
}

func TestUnknownModeIsRefused(t *testing.T) {
	h := newHarness(t, "")
	r := req("line")
	r.Mode = "whichever"
	if _, err := h.svc.Create(context.Background(), r, "alice"); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

// A wrong alert that has already gone out in full can still be withdrawn:
// cancelling the completed alert corrects everyone it reached, and the
// failover alert made from it is cancelled and corrected too.
func TestCancelCompletedAlertWithdrawsItAndItsFailover(t *testing.T) {
	h := newHarness(t, "")
	h.people(6, true, true, "shiba")
	line := newFakeLINE()
	blocked := fmt.Sprintf("U%032x", 2)
	line.fail = func(b *alert.Batch, _ int) error {
		for _, r := range b.Recipients {
			if r.Address == blocked {
				return &alert.SendError{Status: 400, Msg: "The user hasn't added the account as a friend"}
			}
		}
		return nil
	}
	sms := &fakeSMS{got: map[string]int{}, attempts: map[string]int{}}
	h.start([]alert.Sender{line, sms}, nil)
	r := req("line", "sms")
	r.Mode = alert.ModeFirstReachable
	r.Drill = false
	id := h.send(r)
	h.wait(id, alert.StatusCompleted)
	fo := h.wait(alert.FailoverID(id, "line"), alert.StatusCompleted)
	if fo.Counts["sms"].Sent == 0 {
		t.Fatalf("failover sent nothing: %+v", fo.Counts)
	}
	ctx := context.Background()
	got, err := h.svc.Cancel(ctx, id, "bob", "sent in error", nil)
	if err != nil {
		t.Fatalf("cancel completed alert: %v", err)
	}
	if got.Status != alert.StatusCancelled || got.Correction == nil {
		t.Fatalf("cancelled alert %+v", got)
	}
	fv, err := h.svc.Get(ctx, fo.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fv.Status != alert.StatusCancelled {
		t.Fatalf("failover alert is %s after its parent was cancelled", fv.Status)
	}
	// Each alert's correction goes to the people that alert reached.
	for _, aid := range []string{id, fo.ID} {
		c := h.wait(alert.CorrectionID(aid), alert.StatusCompleted)
		ds, _, err := h.svc.Deliveries(ctx, aid, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		reached := 0
		for _, d := range ds {
			if d.State == "sent" || d.State == "delivered" {
				reached++
			}
		}
		if reached == 0 || len(c.Target.ResidentIDs) != reached {
			t.Fatalf("correction of %s targets %d people, the alert reached %d", aid, len(c.Target.ResidentIDs), reached)
		}
	}
	if _, err := h.svc.Cancel(ctx, id, "bob", "again", nil); !errors.Is(err, alert.ErrState) {
		t.Fatalf("second cancel: %v", err)
	}
}
