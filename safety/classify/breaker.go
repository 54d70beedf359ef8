package classify

import (
	"sync"
	"time"
)

// breaker is a consecutive-failure circuit breaker: closed until threshold
// failures in a row, then open (every call refused) for cooldown, then
// half-open: one probe call goes through; its success closes the breaker, its
// failure opens it again.
type breaker struct {
	mu        sync.Mutex
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	failures int
	open     bool
	openedAt time.Time
	probing  bool
}

// allow reports whether a call may go ahead. A true answer in the half-open
// state makes the caller the probe: it must report success, failure or
// release.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true
	}
	if b.probing || b.now().Sub(b.openedAt) < b.cooldown {
		return false
	}
	b.probing = true
	return true
}

func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures, b.open, b.probing = 0, false, false
}

func (b *breaker) failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.probing || b.failures >= b.threshold {
		b.open, b.openedAt, b.probing = true, b.now(), false
	}
}

// release ends a call that neither succeeded nor failed (the caller gave up).
func (b *breaker) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// isOpen reports whether calls are being refused now.
func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open && (b.probing || b.now().Sub(b.openedAt) < b.cooldown)
}
