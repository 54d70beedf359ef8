package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// errSkip aborts a ledger update that has nothing to change.
var errSkip = errors.New("skip")

// work is one channel worker: it takes batches from the high lane first, then
// the low lane, so an urgent alert starts while a routine send is running.
func (d *Dispatcher) work(ctx context.Context, ch, consumer string) {
	hi, lo := lane(ch, 1), lane(ch, 0)
	for ctx.Err() == nil {
		q := hi
		jobs, err := d.store.Claim(ctx, hi, consumer, 1, d.cfg.Lease, 0)
		if err == nil && len(jobs) == 0 {
			q = lo
			jobs, err = d.store.Claim(ctx, lo, consumer, 1, d.cfg.Lease, 200*time.Millisecond)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Error("claim batch", "channel", ch, "err", err)
			_ = d.sleep(ctx, time.Second)
			continue
		}
		for _, j := range jobs {
			if err := d.process(ctx, ch, q, consumer, j); err != nil && ctx.Err() == nil {
				d.log.Error("process batch", "batch", j.BatchID, "err", err)
				_ = d.sleep(ctx, time.Second)
			}
		}
	}
}

// attemptPlan is what a ledger update decided for one attempt.
type attemptPlan struct {
	skip bool
	wait time.Duration
	todo []int
	done bool
}

// process works on one claimed batch until it is done, or it must wait
// longer than the hold bound, or ctx ends; in the last two cases the entry
// stays claimed and comes back after the lease (or at once after a restart
// on the embedded store).
func (d *Dispatcher) process(ctx context.Context, ch, q, consumer string, j Job) error {
	b, err := d.store.GetBatch(ctx, j.BatchID)
	if errors.Is(err, ErrNotFound) {
		return d.store.Ack(ctx, q, j.ID)
	}
	if err != nil {
		return err
	}
	sender := d.senders[ch]
	holdUntil := d.now().Add(d.cfg.Lease / 2)
	for {
		// A cached copy will do here: a cancel it does not show yet is
		// seen by the fresh read below, which refreshes the cache (no
		// later read can show the alert uncancelled), and then this loop
		// comes round again and settles the batch. Meanwhile an SMS or voice
		// batch's people are marked sending for a moment, and a
		// correction that reads the ledgers then includes them: a
		// needless correction, never a missed one.
		a, err := d.recentAlert(ctx, b.AlertID)
		if err != nil {
			return err
		}
		p, err := d.begin(ctx, a, b, consumer)
		if err != nil {
			return err
		}
		if p.skip {
			return d.store.Ack(ctx, q, j.ID)
		}
		if p.done {
			return d.finish(ctx, q, j, b)
		}
		if p.wait > 0 {
			if d.now().Add(p.wait).After(holdUntil) {
				// Too long to hold a worker: leave the entry claimed and
				// unacknowledged; the queue hands it out again after the
				// lease (minIdle), when another process's lease on the
				// batch has run out. (Queueing it again at once made the
				// next claim take it straight back: a busy loop of store
				// round trips for as long as the wait lasted.)
				return nil
			}
			if err := d.sleep(ctx, p.wait); err != nil {
				return nil
			}
			continue
		}
		// Read the status again now that the lease is taken: a cancel that
		// came between the read above and the lease either saw this batch
		// as sending (so its correction includes these people) or is seen
		// here, and then nothing is sent (begin settles the batch).
		if a, err = d.freshAlert(ctx, b.AlertID); err != nil {
			return err
		}
		if a.Status == StatusCancelled {
			continue
		}
		sub := b
		if ch != ChannelLINE && len(p.todo) < len(b.Recipients) {
			cp := *b
			cp.Recipients = make([]Recipient, len(p.todo))
			for k, i := range p.todo {
				cp.Recipients[k] = b.Recipients[i]
			}
			sub = &cp
		}
		if err := d.waitTokens(ctx, ch, sender.Cost(sub)); err != nil {
			return nil
		}
		actx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
		if dl := b.Deadline; !dl.IsZero() {
			actx, cancel = context.WithDeadline(actx, dl)
		}
		outs, sendErr := sender.Send(actx, sub)
		cancel()
		if ctx.Err() != nil && sendErr != nil {
			// Shutting down mid-request: leave the batch claimed; whatever
			// was in flight is retried after the restart.
			return nil
		}
		// What the provider answered is recorded even while shutting down.
		bctx := context.WithoutCancel(ctx)
		done, err := d.record(bctx, a, b, p.todo, outs, sendErr)
		if err != nil {
			return err
		}
		if done {
			return d.finish(bctx, q, j, b)
		}
		d.progress(bctx, a)
	}
}

// begin takes the ledger lease for an attempt, or decides to skip, wait or
// finish (cancelled alert, expired deadline).
func (d *Dispatcher) begin(ctx context.Context, a *Alert, b *Batch, consumer string) (attemptPlan, error) {
	var p attemptPlan
	now := d.now()
	err := d.updateLedger(ctx, b, func(l *Ledger) (map[string]int64, error) {
		p = attemptPlan{}
		deltas, err := d.take(a, b, consumer, now, l, &p)
		if p.done {
			deltas[countBatchesDone]++
		}
		return deltas, err
	})
	if err != nil && !errors.Is(err, errSkip) {
		return p, fmt.Errorf("ledger: %w", err)
	}
	return p, nil
}

// take is begin's decision on the ledger l; it returns the count changes.
func (d *Dispatcher) take(a *Alert, b *Batch, consumer string, now time.Time, l *Ledger, p *attemptPlan) (map[string]int64, error) {
	deltas := map[string]int64{}
	if l.State == LedgerDone || l.State == LedgerCancelled {
		p.skip = true
		return nil, errSkip
	}
	if l.State == LedgerSending && l.Owner != consumer && now.Sub(l.Since) < d.cfg.Lease && !d.earlierRun(l.Owner) {
		// Another worker holds this batch, or held it and died (a
		// crash): wait for its lease to run out, then look again.
		p.wait = l.Since.Add(d.cfg.Lease).Sub(now)
		return nil, errSkip
	}
	if len(l.R) != len(b.Recipients) {
		l.R = make([]byte, len(b.Recipients))
	}
	switch {
	case a.Status == StatusCancelled:
		settle(l, RecipientCancelled, "alert cancelled", b.Channel, deltas)
		l.State = LedgerCancelled
		p.done = true
		return deltas, nil
	case !now.Before(b.Deadline):
		settle(l, RecipientFailed, "expired before delivery", b.Channel, deltas)
		l.State = LedgerDone
		p.done = true
		return deltas, nil
	case l.NextAt.After(now):
		p.wait = l.NextAt.Sub(now)
		return nil, errSkip
	}
	for i, s := range l.R {
		if s == RecipientPending || s == RecipientSending {
			p.todo = append(p.todo, i)
			if b.Channel != ChannelLINE {
				// Marked before the request: after a crash these are
				// sent again (at-least-once for SMS and voice).
				l.R[i] = RecipientSending
			}
		}
	}
	if len(p.todo) == 0 {
		l.State = LedgerDone
		p.done = true
		return deltas, nil
	}
	l.State = LedgerSending
	l.Owner = consumer
	l.Since = now
	l.Attempts++
	return deltas, nil
}

// settle moves every unfinished recipient to state s with reason.
func settle(l *Ledger, s byte, reason, channel string, deltas map[string]int64) {
	for i, old := range l.R {
		if old != RecipientPending && old != RecipientSending {
			continue
		}
		l.R[i] = s
		if l.Reasons == nil {
			l.Reasons = map[int]string{}
		}
		l.Reasons[i] = reason
		if s == RecipientFailed {
			deltas[channel+".failed"]++
		} else if s == RecipientCancelled {
			deltas[channel+".cancelled"]++
		}
	}
}

// record writes the outcome of an attempt into the ledger and returns
// whether the batch is finished and the count changes.
func (d *Dispatcher) record(ctx context.Context, a *Alert, b *Batch, todo []int, outs []Outcome, sendErr error) (bool, error) {
	now := d.now()
	var retryAfter time.Duration
	quota := false
	type res struct {
		state  byte
		id     string
		reason string
	}
	rs := make([]res, len(todo))
	for k := range todo {
		err := sendErr
		var id string
		if err == nil {
			if k < len(outs) {
				err, id = outs[k].Err, outs[k].ProviderID
			} else {
				err = errors.New("provider gave no outcome")
			}
		}
		var se *SendError
		switch {
		case err == nil:
			rs[k] = res{state: RecipientSent, id: id}
		case errors.As(err, &se) && se.QuotaExhausted:
			quota = true
			rs[k] = res{state: RecipientFailed, reason: se.Error()}
		case IsRetryable(err):
			rs[k] = res{state: RecipientPending, reason: err.Error()}
			if errors.As(err, &se) && se.RetryAfter > retryAfter {
				retryAfter = se.RetryAfter
			}
		default:
			rs[k] = res{state: RecipientFailed, reason: err.Error()}
		}
	}
	var done bool
	var refs map[string]Ref
	err := d.updateLedger(ctx, b, func(l *Ledger) (map[string]int64, error) {
		deltas := map[string]int64{}
		done, refs = false, map[string]Ref{}
		if len(l.R) != len(b.Recipients) {
			l.R = make([]byte, len(b.Recipients))
		}
		if b.Channel != ChannelLINE && len(l.P) != len(b.Recipients) {
			l.P = make([]string, len(b.Recipients))
		}
		pending := false
		for k, i := range todo {
			r := rs[k]
			if l.R[i] != RecipientPending && l.R[i] != RecipientSending {
				continue // settled meanwhile (cancel, or another worker)
			}
			l.R[i] = r.state
			switch r.state {
			case RecipientSent:
				deltas[b.Channel+".sent"]++
				if b.Channel == ChannelLINE {
					l.P = []string{r.id}
				} else if r.id != "" {
					l.P[i] = r.id
					refs[r.id] = Ref{AlertID: b.AlertID, BatchID: b.ID, Index: i}
				}
			case RecipientFailed:
				deltas[b.Channel+".failed"]++
				if l.Reasons == nil {
					l.Reasons = map[int]string{}
				}
				l.Reasons[i] = r.reason
			case RecipientPending:
				pending = true
				l.LastError = r.reason
			}
		}
		l.Owner = ""
		if !pending {
			l.State = LedgerDone
			done = true
			deltas[countBatchesDone]++
			return deltas, nil
		}
		next := now.Add(max(retryAfter, backoff(l.Attempts, d.cfg.MinBackoff, d.cfg.MaxBackoff)))
		if !next.Before(b.Deadline) {
			settle(l, RecipientFailed, "deadline reached: "+l.LastError, b.Channel, deltas)
			l.State = LedgerDone
			done = true
			deltas[countBatchesDone]++
			return deltas, nil
		}
		l.State = LedgerPending
		l.NextAt = next
		return deltas, nil
	})
	if err != nil {
		return false, fmt.Errorf("ledger: %w", err)
	}
	if len(refs) > 0 {
		if err := d.store.PutRefs(ctx, refs); err != nil {
			return false, fmt.Errorf("refs: %w", err)
		}
		// Receipts that overtook this batch's bookkeeping.
		ids := make([]string, 0, len(refs))
		for id := range refs {
			ids = append(ids, id)
		}
		early, err := d.store.TakeStatuses(ctx, ids)
		if err != nil {
			return false, err
		}
		if len(early) > 0 {
			rs := make([]refReceipt, len(early))
			for i, r := range early {
				rs[i] = refReceipt{refs[r.ProviderID], r}
			}
			if err := d.svc.applyStatuses(ctx, rs); err != nil {
				return false, err
			}
		}
	}
	if quota {
		d.log.Error("provider quota exhausted: messages are failing until operators act", "channel", b.Channel, "alert", a.ID)
		_, _ = d.store.UpdateAlert(ctx, a.ID, func(x *Alert) error {
			x.Problem = b.Channel + ": provider quota exhausted (monthly allowance); waiting does not help"
			return nil
		})
	}
	return done, nil
}

// finish acknowledges a finished batch (its counts were written with its
// ledger) and completes the alert when it was the last batch.
func (d *Dispatcher) finish(ctx context.Context, q string, j Job, b *Batch) error {
	if err := d.store.Ack(ctx, q, j.ID); err != nil {
		return err
	}
	// The number of batches is final once the alert is planned.
	a, err := d.recentAlert(ctx, b.AlertID)
	if err == nil && !a.Planned {
		a, err = d.freshAlert(ctx, b.AlertID)
	}
	if err != nil {
		return err
	}
	c, err := d.store.Counts(ctx, b.AlertID)
	if err != nil {
		return err
	}
	if c["batches_done"] >= int64(a.Batches) {
		return d.checkDone(ctx, b.AlertID)
	}
	d.progress(ctx, a)
	return nil
}

// progressEvery bounds how often the progress of one alert is published:
// a million-recipient send finishes thousands of batches a second and
// receives thousands of receipts, and the console needs a few updates a
// second, the last one current. Status changes are published at once
// elsewhere.
const progressEvery = 200 * time.Millisecond

// progress publishes a's counts, throttled (see progressEvery).
func (d *Dispatcher) progress(_ context.Context, a *Alert) { d.svc.publishSoon(a.ID) }

// waitTokens takes n tokens from the channel's limiter, in pieces no larger
// than the bucket.
func (d *Dispatcher) waitTokens(ctx context.Context, ch string, n int) error {
	l := d.limiters[ch]
	for n > 0 {
		k := min(n, max(1, l.Burst()))
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// backoff is exponential from base with ±20% jitter, capped.
func backoff(attempt int, base, capd time.Duration) time.Duration {
	d := base << min(max(attempt-1, 0), 10)
	d = min(d, capd)
	j := time.Duration(rand.Int64N(int64(d)/5 + 1))
	if rand.IntN(2) == 0 {
		return d - j
	}
	return d + j
}

// earlierRun reports whether owner is a worker of an earlier run of this
// instance: same instance name, different boot. Such a process is dead, so
// its lease need not be waited out. (Workers of this run share the boot id
// and still exclude each other.)
func (d *Dispatcher) earlierRun(owner string) bool {
	inst := d.cfg.Instance
	if !d.takeover.Load() || inst == "" || !strings.HasPrefix(owner, inst+"@") {
		return false
	}
	return !strings.HasPrefix(owner, d.cfg.Consumer+"-")
}

// countBatchesDone counts the finished batches of an alert; it is written
// with the ledger that finishes a batch.
const countBatchesDone = "batches_done"

// updateLedger applies fn to the ledger of b and adds the count changes fn
// returns to the alert's counts in the same atomic write, so the counts
// never lag the ledgers (a recount that finds every ledger finished finds
// every count in place) and a crash cannot keep one without the other.
func (d *Dispatcher) updateLedger(ctx context.Context, b *Batch, fn func(l *Ledger) (map[string]int64, error)) error {
	errs, err := d.store.UpdateLedgers(ctx, []string{b.ID}, []string{b.AlertID}, func(_ int, l *Ledger) (map[string]int64, error) {
		return fn(l)
	})
	if err != nil {
		return err
	}
	return errs[0]
}
