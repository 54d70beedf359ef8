package alert

import (
	"context"
	"sync"
	"time"
)

// alertCache keeps the alerts that workers read for every batch. A
// ward-wide alert has thousands of batches and its record hardly changes
// while they go out, but a read per batch is a store round trip (three per
// batch before this cache). Only reads that may be stale use it: the read
// that decides whether to send (after the lease is taken, see process) is
// always fresh, and it refreshes the cache.
type alertCache struct {
	mu     sync.Mutex
	m      map[string]cachedAlert
	pruned time.Time
}

// cachedAlert is an alert and when the read that returned it began.
type cachedAlert struct {
	a  *Alert
	at time.Time
}

// alertCacheAge is how old a cached alert may be.
const alertCacheAge = time.Second

// get returns the cached alert if it is younger than alertCacheAge.
func (c *alertCache) get(id string) *Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && time.Since(e.at) < alertCacheAge {
		return e.a
	}
	return nil
}

// put keeps a, read by a store read that began at readAt, unless the cache
// holds a copy from a later read (two workers' reads can end in either
// order). Callers must not modify a afterwards. Expired entries are dropped
// at most once per alertCacheAge, so finished alerts (some carry a million
// resident ids) do not stay in memory.
func (c *alertCache) put(a *Alert, readAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedAlert{}
	}
	if now := time.Now(); now.Sub(c.pruned) >= alertCacheAge {
		c.pruned = now
		for id, e := range c.m {
			if now.Sub(e.at) >= alertCacheAge {
				delete(c.m, id)
			}
		}
	}
	if e, ok := c.m[a.ID]; ok && e.at.After(readAt) {
		return
	}
	c.m[a.ID] = cachedAlert{a, readAt}
}

// recentAlert returns alert id as read at most alertCacheAge ago. Callers
// must not modify it.
func (d *Dispatcher) recentAlert(ctx context.Context, id string) (*Alert, error) {
	if a := d.alerts.get(id); a != nil {
		return a, nil
	}
	return d.freshAlert(ctx, id)
}

// freshAlert reads alert id from the store and caches it. Callers must not
// modify it.
func (d *Dispatcher) freshAlert(ctx context.Context, id string) (*Alert, error) {
	readAt := time.Now()
	a, err := d.store.GetAlert(ctx, id)
	if err != nil {
		return nil, err
	}
	d.alerts.put(a, readAt)
	return a, nil
}
