package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/minato-city/anpi/residents"
)

// Limits are a channel's provider limits and worker count.
type Limits struct {
	// RPS is the provider request rate (tokens per second); <= 0 is unlimited.
	RPS float64
	// Burst is the token bucket size (default: max(1, RPS/10)).
	Burst int
	// Workers is the number of concurrent batch workers (default 4).
	Workers int
}

// DispatcherConfig configures the Dispatcher.
type DispatcherConfig struct {
	// Consumer names this process in queue claims and ledger leases.
	// Default: Instance + "@" + a random boot id, or a random name.
	Consumer string
	// Instance is a name that stays the same when this process is restarted
	// and that no other live process uses (e.g. "embedded" for the embedded
	// store, which one process at a time can open). A batch whose ledger is
	// leased by an earlier run of the same instance (killed mid-request) is
	// taken over at once instead of after the lease.
	Instance string
	// ConfirmInstance defers that takeover until InstanceConfirmed is
	// called: for a shared store, where the caller first makes sure that no
	// live process uses the same Instance name. Sending starts at once
	// either way.
	ConfirmInstance bool
	// Limits per channel.
	Limits map[string]Limits
	// Lease is how long a batch claimed by a worker is considered in work
	// before another process may take it over (default 2 min). It must exceed
	// the time of one attempt.
	Lease time.Duration
	// AttemptTimeout bounds one provider request (default 30 s).
	AttemptTimeout time.Duration
	// MinBackoff is the first wait between attempts (default 1 s).
	MinBackoff time.Duration
	// MaxBackoff caps the wait between attempts (default 30 s).
	MaxBackoff time.Duration
}

// Dispatcher plans approved alerts into durable batches and runs the channel
// workers that send them under per-channel rate limits, with retries until
// the alert's deadline and a ledger that makes sending resumable.
type Dispatcher struct {
	svc      *Service
	store    Store
	aud      Audience
	linker   Linker
	senders  map[string]Sender
	limiters map[string]*rate.Limiter
	// endpoints are the non-person recipients per channel (signage).
	endpoints map[string]Endpoints
	cfg       DispatcherConfig
	log       *slog.Logger
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error

	planq  chan string
	wg     sync.WaitGroup
	alerts alertCache
	// takeover is set while leases and queue entries of an earlier run of
	// this instance may be taken over at once (see ConfirmInstance).
	takeover atomic.Bool
}

// NewDispatcher returns a dispatcher for svc's alerts. It takes over svc's
// approval hook so that approved alerts are planned at once.
func NewDispatcher(svc *Service, aud Audience, linker Linker, senders []Sender, cfg DispatcherConfig) *Dispatcher {
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 30 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Consumer == "" {
		cfg.Consumer = NewID("w_")
		if cfg.Instance != "" {
			cfg.Consumer = cfg.Instance + "@" + cfg.Consumer
		}
	}
	d := &Dispatcher{
		svc: svc, store: svc.store, aud: aud, linker: linker,
		senders: map[string]Sender{}, limiters: map[string]*rate.Limiter{}, endpoints: map[string]Endpoints{},
		cfg: cfg, log: svc.log, now: svc.now, sleep: sleepCtx,
		planq: make(chan string, 1024),
	}
	for _, s := range senders {
		ch := s.Channel()
		d.senders[ch] = s
		l := cfg.Limits[ch]
		if l.RPS <= 0 {
			d.limiters[ch] = rate.NewLimiter(rate.Inf, 1)
			continue
		}
		burst := l.Burst
		if burst <= 0 {
			burst = max(1, int(l.RPS/10))
		}
		d.limiters[ch] = rate.NewLimiter(rate.Limit(l.RPS), burst)
	}
	d.takeover.Store(cfg.Instance != "" && !cfg.ConfirmInstance)
	svc.kick = func(id string) {
		select {
		case d.planq <- id:
		default:
			// The planner is saturated; Recover picks the alert up on the
			// next start and the periodic sweep sooner.
			d.log.Warn("planner queue full", "alert", id)
		}
	}
	return d
}

// InstanceConfirmed tells a dispatcher configured with ConfirmInstance that
// no live process shares its instance name: from now on it takes over at
// once what an earlier run of this instance left (ledger leases, and the
// batches that run had claimed, which it releases now). It may be called
// while Run is running.
func (d *Dispatcher) InstanceConfirmed(ctx context.Context) {
	if d.cfg.Instance == "" {
		return
	}
	d.takeover.Store(true)
	d.releaseEarlierRun(ctx)
}

// releaseEarlierRun makes the batches that an earlier run of this instance
// had claimed when it died claimable at once: without it, on Redis, they
// would wait out the lease (2 min) in the dead consumers' pending lists
// before any worker took them. Errors are logged: it only speeds recovery.
func (d *Dispatcher) releaseEarlierRun(ctx context.Context) {
	for ch := range d.senders {
		for _, prio := range []int{1, 0} {
			q := lane(ch, prio)
			n, err := d.store.Release(ctx, q, d.earlierRun)
			if err != nil {
				d.log.Warn("release batches of an earlier run", "queue", q, "err", err)
				continue
			}
			if n > 0 {
				d.log.Info("released batches of an earlier run", "queue", q, "batches", n)
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run recovers unfinished alerts, then runs the planner and the workers until
// ctx is done, and waits for them to stop. Work interrupted by ctx is left
// resumable in the queue and ledger.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.Recover(ctx); err != nil {
		d.log.Error("dispatcher recovery", "err", err)
	}
	d.wg.Add(2)
	go func() { defer d.wg.Done(); d.planLoop(ctx) }()
	go func() { defer d.wg.Done(); d.sweepLoop(ctx) }()
	for ch := range d.senders {
		n := d.cfg.Limits[ch].Workers
		if n <= 0 {
			n = 4
		}
		for i := range n {
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.work(ctx, ch, fmt.Sprintf("%s-%s-%d", d.cfg.Consumer, ch, i)) }()
		}
	}
	<-ctx.Done()
	d.wg.Wait()
	return nil
}

func cur(ctx context.Context, st Store, id string) int64 {
	c, err := st.Counts(ctx, id)
	if err != nil {
		return 0
	}
	return c["batches_done"]
}

// SweepInterval is how often the dispatcher looks for alerts whose batches
// are all finished but which were not marked completed (their last batch
// finished in a process that died before saying so).
const SweepInterval = 5 * time.Second

func (d *Dispatcher) sweepLoop(ctx context.Context) {
	t := time.NewTicker(SweepInterval)
	defer t.Stop()
	// moving holds the batches_done count of each dispatching alert at the
	// previous sweep.
	moving := map[string]int64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		after := ""
		open := map[string]int64{}
		for ctx.Err() == nil {
			page, err := d.store.ListAlerts(ctx, after, 200)
			if err != nil || len(page) == 0 {
				break
			}
			for _, a := range page {
				if a.Status == StatusDispatching {
					// An alert whose batches are still being finished
					// is completed by the worker that finishes the last
					// one; reading all its ledgers (thousands for a
					// ward-wide alert) is for alerts that stopped moving.
					n := cur(ctx, d.store, a.ID)
					open[a.ID] = n
					if last, ok := moving[a.ID]; ok && n > last && n < int64(a.Batches) {
						continue
					}
					if err := d.checkDone(ctx, a.ID); err != nil && ctx.Err() == nil {
						d.log.Warn("sweep", "alert", a.ID, "err", err)
					}
				}
			}
			after = page[len(page)-1].ID
		}
		moving = open
	}
}

func (d *Dispatcher) planLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-d.planq:
			if err := d.plan(ctx, id); err != nil && ctx.Err() == nil {
				d.log.Error("plan alert", "alert", id, "err", err)
			}
		}
	}
}

// Recover resumes alerts that a previous process left unfinished: approved
// but not (fully) planned alerts are planned again (batches are derived
// deterministically, with the same retry keys), planned ones are queued
// again, and finished ones are marked completed. First, unless the instance
// awaits confirmation, it releases the batches an earlier run of this
// instance had claimed (see releaseEarlierRun).
func (d *Dispatcher) Recover(ctx context.Context) error {
	if d.takeover.Load() {
		d.releaseEarlierRun(ctx)
	}
	after := ""
	for {
		page, err := d.store.ListAlerts(ctx, after, 200)
		if err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, a := range page {
			switch a.Status {
			case StatusQueued:
				if err := d.plan(ctx, a.ID); err != nil {
					d.log.Error("recover plan", "alert", a.ID, "err", err)
				}
			case StatusDispatching:
				if err := d.recount(ctx, a.ID, true); err != nil {
					d.log.Error("recover check", "alert", a.ID, "err", err)
				}
			}
		}
		after = page[len(page)-1].ID
	}
}

// plan resolves the audience of an approved alert into batches, stores them
// and queues them. It is idempotent.
func (d *Dispatcher) plan(ctx context.Context, id string) error {
	a, err := d.store.UpdateAlert(ctx, id, func(a *Alert) error {
		if a.Status != StatusQueued {
			return fmt.Errorf("plan alert in status %s: %w", a.Status, ErrState)
		}
		a.PlanStarted = true
		return nil
	})
	if errors.Is(err, ErrState) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	var fresh []string
	if !a.Planned {
		if fresh, err = d.resolve(ctx, a); errors.Is(err, ErrState) {
			return nil // cancelled while planning
		} else if err != nil {
			return err
		}
	}
	return d.enqueueAll(ctx, a, fresh)
}

// resolve plans a's audience into stored batches and returns the ids of
// those not queued yet. With a ResumableAudience it queues batches at each
// checkpoint while it plans (see PlanCursor) and resumes from the alert's
// cursor after a crash.
func (d *Dispatcher) resolve(ctx context.Context, a *Alert) ([]string, error) {
	p := &planner{
		a: a, store: d.store, linker: d.linker, open: map[string]*Batch{},
		seq: map[string]int{}, planned: map[string]int{}, prio: Priority(a.Severity),
	}
	audience := 0
	match := func(r residents.Resident) error {
		if !a.Target.Matches(&r) {
			return nil
		}
		reached, err := p.add(ctx, &r)
		if reached {
			audience++
		}
		return err
	}
	var err error
	if ra, ok := d.aud.(ResumableAudience); ok {
		after := ""
		if c := a.PlanCursor; c != nil {
			if err := d.resumePlan(ctx, p, c); err != nil {
				return nil, err
			}
			after, audience = c.After, c.Audience
		}
		err = ra.EachAfter(ctx, after, func(r residents.Resident) error {
			if err := match(r); err != nil {
				return err
			}
			if len(p.ready) >= checkpointEvery {
				return d.checkpoint(ctx, p, r.ID, audience)
			}
			return nil
		})
	} else {
		err = d.aud.Each(ctx, match)
	}
	if err != nil {
		return nil, fmt.Errorf("plan audience: %w", err)
	}
	if err := d.addEndpoints(ctx, p); err != nil {
		return nil, err
	}
	// Stage the partly filled batches in a stable order.
	for _, ch := range a.Channels {
		for _, lang := range residents.Languages {
			if b := p.open[ch+"|"+lang]; b != nil {
				if err := p.stage(ctx, b); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	batches := 0
	for _, n := range p.seq {
		batches += n
	}
	updated, err := d.store.UpdateAlert(ctx, a.ID, func(x *Alert) error {
		x.Planned = true
		x.PlanCursor = nil
		x.Audience = audience
		x.PlannedByChannel = p.planned
		x.Batches = batches
		x.BatchesPerChannel = p.seq
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	*a = *updated
	d.log.Info("alert planned", "alert", a.ID, "audience", audience, "batches", batches)
	return p.ready, nil
}

// checkpoint stores what is planned so far, records the cursor after
// resident after, and queues the full batches (see PlanCursor for the order
// and why it is safe).
func (d *Dispatcher) checkpoint(ctx context.Context, p *planner, after string, audience int) error {
	c := &PlanCursor{After: after, Seq: maps.Clone(p.seq), Planned: maps.Clone(p.planned), Audience: audience,
		Open: map[string]string{}, OpenLen: map[string]int{}}
	open := make([]*Batch, 0, len(p.open))
	for key, b := range p.open {
		c.Open[key], c.OpenLen[b.ID] = b.ID, len(b.Recipients)
		open = append(open, b)
	}
	if err := p.flush(ctx); err != nil {
		return err
	}
	if len(open) > 0 {
		if err := d.store.PutBatches(ctx, open); err != nil {
			return fmt.Errorf("plan checkpoint: %w", err)
		}
	}
	a, err := d.store.UpdateAlert(ctx, p.a.ID, func(x *Alert) error {
		if x.Status != StatusQueued {
			return fmt.Errorf("plan alert in status %s: %w", x.Status, ErrState)
		}
		x.PlanCursor = c
		return nil
	})
	if err != nil {
		return fmt.Errorf("plan checkpoint: %w", err)
	}
	if err := d.enqueue(ctx, p.ready, Priority(a.Severity)); err != nil {
		return err
	}
	p.ready = p.ready[:0]
	return nil
}

// resumePlan restores a planner from cursor c and queues again the full
// batches before it.
func (d *Dispatcher) resumePlan(ctx context.Context, p *planner, c *PlanCursor) error {
	p.seq, p.planned = maps.Clone(c.Seq), maps.Clone(c.Planned)
	if p.seq == nil {
		p.seq = map[string]int{}
	}
	if p.planned == nil {
		p.planned = map[string]int{}
	}
	openIDs := map[string]bool{}
	for key, id := range c.Open {
		b, err := d.store.GetBatch(ctx, id)
		if err != nil {
			return fmt.Errorf("plan resume: %w", err)
		}
		if n := c.OpenLen[id]; n < len(b.Recipients) {
			b.Recipients = b.Recipients[:n]
		}
		p.open[key] = b
		openIDs[id] = true
	}
	var full []string
	for ch, n := range p.seq {
		for seq := range n {
			if id := BatchID(p.a.ID, ch, seq); !openIDs[id] {
				full = append(full, id)
			}
		}
	}
	d.log.Info("alert planning resumed", "alert", p.a.ID, "after", c.After, "batches", len(full))
	return d.enqueue(ctx, full, Priority(p.a.Severity))
}

// enqueue queues batches in their channels' lanes.
func (d *Dispatcher) enqueue(ctx context.Context, ids []string, prio int) error {
	byLane := map[string][]string{}
	for _, id := range ids {
		q := lane(batchChannel(id), prio)
		byLane[q] = append(byLane[q], id)
	}
	for q, ids := range byLane {
		for len(ids) > 0 {
			n := min(len(ids), 500)
			if err := d.store.Enqueue(ctx, q, ids[:n]...); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
			ids = ids[n:]
		}
	}
	return nil
}

// enqueueAll queues every unfinished batch of a planned alert and moves it to
// dispatching. fresh, when not nil, are the ids of batches this process has
// just planned (no ledger can exist yet); otherwise batches already done are
// skipped. A batch queued twice is harmless because workers consult the
// ledger first.
func (d *Dispatcher) enqueueAll(ctx context.Context, a *Alert, fresh []string) error {
	ids := fresh
	if fresh == nil {
		err := d.eachLedger(ctx, a, func(id, ch string, l *Ledger) error {
			if l.State != LedgerDone && l.State != LedgerCancelled {
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
	}
	if err := d.enqueue(ctx, ids, Priority(a.Severity)); err != nil {
		return err
	}
	updated, err := d.store.UpdateAlert(ctx, a.ID, func(x *Alert) error {
		if x.Status != StatusQueued {
			return fmt.Errorf("dispatch alert in status %s: %w", x.Status, ErrState)
		}
		x.Status = StatusDispatching
		return nil
	})
	if err != nil && !errors.Is(err, ErrState) {
		return fmt.Errorf("dispatch: %w", err)
	}
	if updated != nil {
		d.svc.publish(ctx, updated)
	}
	return d.checkDone(ctx, a.ID)
}

// checkDone recounts an alert from its ledgers and completes it when every
// batch is finished. The ledgers are the source of truth for the counts.
func (d *Dispatcher) checkDone(ctx context.Context, id string) error {
	return d.recount(ctx, id, false)
}

// recount is checkDone; with exact it also replaces the running counts when
// batches are still open (at start-up, before any worker runs), repairing
// counts a crash left behind.
func (d *Dispatcher) recount(ctx context.Context, id string, exact bool) error {
	a, err := d.store.GetAlert(ctx, id)
	if err != nil {
		return err
	}
	if !a.Planned {
		return nil
	}
	counts := map[string]int64{}
	done := 0
	err = d.eachLedger(ctx, a, func(_, ch string, l *Ledger) error {
		l.tally(ch, counts)
		if l.State == LedgerDone || l.State == LedgerCancelled {
			done++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check done: %w", err)
	}
	if done < a.Batches {
		if exact {
			// Leave batches_done alone: another process may be finishing
			// batches right now, and the sweep completes the alert anyway.
			counts["batches_done"] = cur(ctx, d.store, id)
			if err := d.store.SetCounts(ctx, id, counts); err != nil {
				return fmt.Errorf("recount: %w", err)
			}
		}
		d.svc.publish(ctx, a)
		return nil
	}
	counts["batches_done"] = int64(done)
	// Failover alerts are made before the alert is marked completed, so a
	// crash in between makes them on the next recount instead of never.
	if err := d.failover(ctx, a); err != nil {
		return err
	}
	// Every batch is finished, and each ledger was written together with
	// its counts, so no worker changes these counts any more: replace the
	// running counts with the exact ones from the ledgers.
	if err := d.store.SetCounts(ctx, id, counts); err != nil {
		return fmt.Errorf("check done: %w", err)
	}
	now := d.now()
	updated, err := d.store.UpdateAlert(ctx, id, func(x *Alert) error {
		if x.Status != StatusDispatching && x.Status != StatusQueued {
			return fmt.Errorf("complete alert in status %s: %w", x.Status, ErrState)
		}
		x.Status = StatusCompleted
		x.CompletedAt = &now
		return nil
	})
	if errors.Is(err, ErrState) {
		d.svc.publish(ctx, a)
		return nil
	}
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	d.log.Info("alert completed", "alert", id)
	d.svc.publish(ctx, updated)
	return nil
}

// eachLedger calls fn with the id, channel and ledger of every batch of a
// planned alert, without reading the batches themselves when the alert
// records its batch counts per channel.
func (d *Dispatcher) eachLedger(ctx context.Context, a *Alert, fn func(id, ch string, l *Ledger) error) error {
	if a.BatchesPerChannel == nil {
		// Planned before batch counts were recorded: read the batches.
		after := ""
		for {
			bs, err := d.store.ScanBatches(ctx, a.ID, after, 500)
			if err != nil || len(bs) == 0 {
				return err
			}
			for _, b := range bs {
				l, err := d.store.GetLedger(ctx, b.ID)
				if err != nil {
					return err
				}
				if err := fn(b.ID, b.Channel, l); err != nil {
					return err
				}
			}
			after = bs[len(bs)-1].ID
		}
	}
	// A ward-wide alert has thousands of batches: read their ledgers a
	// page per store round.
	const page = 256
	ids := make([]string, 0, page)
	for _, ch := range a.Channels {
		n := a.BatchesPerChannel[ch]
		for from := 0; from < n; from += page {
			ids = ids[:0]
			for seq := from; seq < min(n, from+page); seq++ {
				ids = append(ids, BatchID(a.ID, ch, seq))
			}
			ls, err := d.store.GetLedgers(ctx, ids)
			if err != nil {
				return err
			}
			for i, l := range ls {
				if err := fn(ids[i], ch, l); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// batchChannel returns the channel part of a BatchID.
func batchChannel(id string) string {
	i := strings.IndexByte(id, '/')
	j := strings.LastIndexByte(id, '/')
	if i < 0 || j <= i {
		return ""
	}
	return id[i+1 : j]
}
