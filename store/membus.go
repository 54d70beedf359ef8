package store

import (
	"context"
	"errors"
	"sync"
)

// ErrBusClosed is returned by a Bus after Close.
var ErrBusClosed = errors.New("bus closed")

// SubscriberBuffer is how many events a subscriber of the in-memory bus can
// fall behind before it misses events.
const SubscriberBuffer = 256

// MemoryBus is an in-process Bus. Publish never blocks: a subscriber whose
// buffer is full misses the event. Subscribers share the published slice and
// must not modify it.
type MemoryBus struct {
	mu     sync.RWMutex
	topics map[string]map[*memSub]struct{}
	closed bool
}

// memSub is one subscription of a MemoryBus.
type memSub struct {
	ch   chan []byte
	once sync.Once
}

// NewMemoryBus returns an empty in-process bus.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{topics: make(map[string]map[*memSub]struct{})}
}

// Publish sends data to every current subscriber of topic that has room.
func (b *MemoryBus) Publish(ctx context.Context, topic string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrBusClosed
	}
	for s := range b.topics[topic] {
		select {
		case s.ch <- data:
		default: // full: this subscriber misses the event and must resync
		}
	}
	return nil
}

// Subscribe returns the events published to topic from now on and a function
// that ends the subscription and closes the channel.
func (b *MemoryBus) Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s := &memSub{ch: make(chan []byte, SubscriberBuffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, ErrBusClosed
	}
	subs := b.topics[topic]
	if subs == nil {
		subs = make(map[*memSub]struct{})
		b.topics[topic] = subs
	}
	subs[s] = struct{}{}
	cancel := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if subs := b.topics[topic]; subs != nil {
			if _, ok := subs[s]; ok {
				delete(subs, s)
				if len(subs) == 0 {
					delete(b.topics, topic)
				}
				s.close()
			}
		}
	}
	return s.ch, cancel, nil
}

// Close ends all subscriptions and closes their channels.
func (b *MemoryBus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, subs := range b.topics {
		for s := range subs {
			s.close()
		}
	}
	b.topics = nil
	return nil
}

func (s *memSub) close() { s.once.Do(func() { close(s.ch) }) }
