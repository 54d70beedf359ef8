package safety

import (
	"context"
	"fmt"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
)

// NonResponder is one person of a check's audience who has not answered.
type NonResponder struct {
	// Resident is the person as the directory has them now.
	Resident residents.Resident
	// Channels are the check's channels (and escalation channels) the
	// person has an address on, in the check's order.
	Channels []string
	// LastContacted is when a message to the person was last queued: the
	// check's start or its latest reminder step that was sent (every step
	// goes to all non-responders). It is not a delivery confirmation.
	LastContacted time.Time
}

// nonResponderPage is how many statuses are read at a time.
const nonResponderPage = 1000

// NonResponders calls fn, in resident id order, for every person in check
// id's audience (matching its target and reachable on one of its channels,
// as counted at start) who has no status in the check yet. It streams: the
// directory and the check's statuses are read page by page side by side
// (both are in resident id order), so memory does not grow with the
// population. It returns ErrNotFound for an unknown check and stops at the
// first error fn returns.
func (s *Service) NonResponders(ctx context.Context, id string, fn func(NonResponder) error) error {
	c, err := s.store.GetCheck(ctx, id)
	if err != nil {
		return err
	}
	last := c.CreatedAt
	for _, rec := range c.ReminderLog {
		if !rec.Skipped && rec.Reminded > 0 && rec.At.After(last) {
			last = rec.At
		}
	}
	channels := union(c.Channels, c.Escalate)
	var page []PersonStatus
	after, done := "", false
	// answered reports whether residentID has a status; ids must come in
	// increasing order.
	answered := func(residentID string) (bool, error) {
		for {
			for len(page) > 0 && page[0].ResidentID < residentID {
				page = page[1:]
			}
			if len(page) > 0 {
				return page[0].ResidentID == residentID, nil
			}
			if done {
				return false, nil
			}
			next, err := s.store.ScanStatuses(ctx, c.ID, after, nonResponderPage)
			if err != nil {
				return false, fmt.Errorf("non-responders: %w", err)
			}
			if len(next) == 0 {
				done = true
				continue
			}
			after = next[len(next)-1].ResidentID
			page = next
		}
	}
	return s.people.Each(ctx, func(r residents.Resident) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !c.Target.Matches(&r) || !reachable(&r, c.Channels) {
			return nil
		}
		ok, err := answered(r.ID)
		if err != nil || ok {
			return err
		}
		nr := NonResponder{Resident: r, LastContacted: last}
		for _, ch := range channels {
			if alert.Address(&r, ch) != "" {
				nr.Channels = append(nr.Channels, ch)
			}
		}
		return fn(nr)
	})
}
