package app

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-city/anpi/store/bolt"
)

// guards returns two guards for one instance name on one store, with a
// shared fake clock that their waits advance; during is called in each wait.
func guards(t *testing.T) (g1, g2 *instanceGuard, clock *time.Time, during *func()) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	hook := func() {}
	now := func() time.Time { return c }
	wait := func(ctx context.Context, d time.Duration) error {
		c = c.Add(d)
		hook()
		return ctx.Err()
	}
	g1 = &instanceGuard{b: db, name: "host/:8080", boot: "b1", now: now, wait: wait}
	g2 = &instanceGuard{b: db, name: "host/:8080", boot: "b2", now: now, wait: wait}
	return g1, g2, &c, &hook
}

func TestInstanceGuardTakesOverAKilledRun(t *testing.T) {
	g1, g2, clock, _ := guards(t)
	ctx := context.Background()
	if err := g1.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// g1 is killed: its record is not renewed. g2 waits it out, then has it.
	start := *clock
	if err := g2.acquire(ctx); err != nil {
		t.Fatalf("a killed run's name was not taken over: %v", err)
	}
	if waited := clock.Sub(start); waited < instanceTTL || waited > instanceTTL+time.Second {
		t.Fatalf("waited %v, want about the record's %v", waited, instanceTTL)
	}
	if _, err := g1.claim(ctx); !errors.Is(err, errInstanceInUse) {
		t.Fatalf("the old boot could claim the name back: %v", err)
	}
}

func TestInstanceGuardRefusesALiveTwin(t *testing.T) {
	g1, g2, _, during := guards(t)
	ctx := context.Background()
	if err := g1.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	*during = func() { // g1 is alive and renews while g2 waits
		if _, err := g1.claim(ctx); err != nil {
			t.Errorf("renewal: %v", err)
		}
	}
	if err := g2.acquire(ctx); !errors.Is(err, errInstanceInUse) {
		t.Fatalf("a live twin's name was taken: %v", err)
	}
}

func TestInstanceGuardKeepRenewsThenRemoves(t *testing.T) {
	g1, g2, _, during := guards(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := g1.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	renewals := 0
	*during = func() {
		if renewals++; renewals == 10 { // ten waits of TTL/3: without renewals it had expired thrice
			if _, err := g2.claim(context.Background()); !errors.Is(err, errInstanceInUse) {
				t.Errorf("record not renewed: %v", err)
			}
			cancel()
		}
	}
	g1.keep(ctx, func(msg string, args ...any) { t.Errorf("%s %v", msg, args) })
	// Removed at the end: the next start need not wait.
	*during = func() { t.Error("waited for a removed record") }
	if err := g2.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
}
