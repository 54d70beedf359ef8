package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/store"
)

// collInstances holds one liveness record per instance name (Redis only).
const collInstances = "instances"

// instanceTTL is how long a liveness record stands without renewal; it is
// renewed every instanceTTL/3.
const instanceTTL = 15 * time.Second

// liveness is the record of the process that uses an instance name.
type liveness struct {
	Boot  string    `json:"boot"`
	Until time.Time `json:"until"`
}

// errInstanceInUse: another process holds the instance name's record.
var errInstanceInUse = errors.New("instance name in use")

// instanceGuard keeps this process's claim on its instance name on a shared
// store. The dispatcher treats leases and queue entries of "an earlier run
// of this instance" as a dead process's and takes them over at start (see
// instanceName); if a live process used the same name, both would send the
// same batches. So a process first claims the name: a record from another
// boot that is still current is either a live twin, which keeps renewing
// it, or a killed earlier run, which does not — the guard waits until the
// record's end once to tell the two apart.
type instanceGuard struct {
	b    store.Backend
	name string
	boot string
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error
}

// claim writes this boot's record unless another boot's is current; it
// returns that record and errInstanceInUse then.
func (g *instanceGuard) claim(ctx context.Context) (liveness, error) {
	var other liveness
	err := g.b.Update(ctx, collInstances, g.name, func(old []byte) ([]byte, error) {
		now := g.now()
		if old != nil {
			var l liveness
			if err := json.Unmarshal(old, &l); err == nil && l.Boot != g.boot && now.Before(l.Until) {
				other = l
				return nil, errInstanceInUse
			}
		}
		return json.Marshal(liveness{Boot: g.boot, Until: now.Add(instanceTTL)})
	})
	return other, err
}

// acquire claims the name, waiting once for a current record of another
// boot to run out. It returns errInstanceInUse if that record was renewed
// meanwhile (a live process uses the name).
func (g *instanceGuard) acquire(ctx context.Context) error {
	other, err := g.claim(ctx)
	if !errors.Is(err, errInstanceInUse) {
		return err
	}
	if err := g.wait(ctx, other.Until.Sub(g.now())+100*time.Millisecond); err != nil {
		return err
	}
	again, err := g.claim(ctx)
	if errors.Is(err, errInstanceInUse) && again.Until.After(other.Until) {
		return fmt.Errorf("%w: renewed by boot %s", errInstanceInUse, again.Boot)
	}
	if errors.Is(err, errInstanceInUse) {
		// Not renewed, only not yet expired by this clock: once more.
		if err := g.wait(ctx, again.Until.Sub(g.now())+100*time.Millisecond); err != nil {
			return err
		}
		_, err = g.claim(ctx)
	}
	return err
}

// keep renews the record until ctx ends, then removes it so that the next
// start need not wait.
func (g *instanceGuard) keep(ctx context.Context, log func(msg string, args ...any)) {
	for g.wait(ctx, instanceTTL/3) == nil {
		if _, err := g.claim(ctx); err != nil && ctx.Err() == nil {
			log("instance liveness record", "instance", g.name, "err", err)
		}
	}
	_ = g.b.Update(context.WithoutCancel(ctx), collInstances, g.name, func(old []byte) ([]byte, error) {
		var l liveness
		if old == nil || json.Unmarshal(old, &l) != nil || l.Boot != g.boot {
			return nil, errInstanceInUse // not ours (or gone): write nothing
		}
		return nil, nil
	})
}

// guardInstance claims this process's instance name (Redis only) and
// returns the guard that keeps it, or nil: for the embedded store, which
// one process at a time can open, or when a live process uses the same
// name (logged; the dispatcher then never takes anything over as an earlier
// run's, and waits out leases as between different instances).
func (a *App) guardInstance(ctx context.Context) *instanceGuard {
	name := instanceName(a.Cfg)
	if a.Cfg.Store != "redis" || name == "" {
		return nil
	}
	g := &instanceGuard{b: a.Backend, name: name, boot: alert.NewID("b_"), now: time.Now, wait: waitCtx}
	if err := g.acquire(ctx); err != nil {
		if ctx.Err() == nil {
			a.Log.Error("another live process uses this instance name (host name and listen address); not taking over leases of earlier runs",
				"instance", name, "err", err)
		}
		return nil
	}
	return g
}

// waitCtx waits d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
