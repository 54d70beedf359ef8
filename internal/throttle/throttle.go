// Package throttle spaces out work per key: at most one run per interval,
// and always one run after the last request, so the latest state is never
// left unpublished. The console updates of alerts and safety checks use it:
// thousands of deliveries or replies a second must become a few updates a
// second, the last of them current.
//
// Written here because golang.org/x/time/rate limits a rate but does not
// coalesce requests into a trailing run per key.
package throttle

import (
	"sync"
	"time"
)

// maxKeys bounds the remembered keys; past it the memory is cleared (a
// cleared key may run once early, which is harmless).
const maxKeys = 1024

// Keyed runs fn for a key now when its last run is Every ago, otherwise
// once when the interval ends. The zero value with Every set is ready.
type Keyed struct {
	// Every is the shortest interval between two runs for one key.
	Every time.Duration

	mu      sync.Mutex
	last    map[string]time.Time
	pending map[string]bool
}

// Do runs fn for key now or at the end of key's interval; requests that
// come while a run is pending are folded into it.
func (k *Keyed) Do(key string, fn func()) {
	k.mu.Lock()
	if k.pending[key] {
		k.mu.Unlock()
		return
	}
	if k.last == nil {
		k.last, k.pending = map[string]time.Time{}, map[string]bool{}
	}
	if len(k.last) > maxKeys {
		clear(k.last)
	}
	wait := k.Every - time.Since(k.last[key])
	if wait <= 0 {
		k.last[key] = time.Now()
		k.mu.Unlock()
		fn()
		return
	}
	k.pending[key] = true
	k.mu.Unlock()
	time.AfterFunc(wait, func() {
		k.mu.Lock()
		delete(k.pending, key)
		k.last[key] = time.Now()
		k.mu.Unlock()
		fn()
	})
}
