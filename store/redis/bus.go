package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/store"
)

// busBuffer is how many events a local subscriber can fall behind before it
// misses events.
const busBuffer = store.SubscriberBuffer

// Bus is a store.Bus on Redis pub/sub. A process holds one Redis
// subscription per topic, only while it has local subscribers to that topic,
// and fans each event out to them. Publish never waits for subscribers: a
// local subscriber whose buffer is full misses the event. Subscribers of one
// event share its slice and must not modify it.
type Bus struct {
	c      goredis.UniversalClient
	prefix string

	mu     sync.RWMutex
	topics map[string]*busTopic
	closed bool
}

// busTopic is the Redis subscription of one topic and its local subscribers.
type busTopic struct {
	ps   *goredis.PubSub
	subs map[*busSub]struct{}
}

type busSub struct {
	ch   chan []byte
	once sync.Once
}

func (s *busSub) close() { s.once.Do(func() { close(s.ch) }) }

// NewBus returns a Bus on c with channel names under prefix. The caller keeps
// ownership of c.
func NewBus(c goredis.UniversalClient, prefix string) *Bus {
	return &Bus{c: c, prefix: prefix, topics: make(map[string]*busTopic)}
}

func (b *Bus) channel(topic string) string { return b.prefix + "bus:" + topic }

// Publish sends data to every subscriber of topic in every process.
func (b *Bus) Publish(ctx context.Context, topic string, data []byte) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return store.ErrBusClosed
	}
	if err := b.c.Publish(ctx, b.channel(topic), data).Err(); err != nil {
		return fmt.Errorf("redis publish: %w", err)
	}
	return nil
}

// Subscribe returns the events published to topic from now on (the Redis
// subscription is confirmed before it returns) and a function that ends the
// subscription and closes the channel.
func (b *Bus) Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error) {
	s := &busSub{ch: make(chan []byte, busBuffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, store.ErrBusClosed
	}
	t := b.topics[topic]
	if t == nil {
		ps := b.c.Subscribe(ctx, b.channel(topic))
		msg, err := ps.Receive(ctx)
		if err == nil {
			if _, ok := msg.(*goredis.Subscription); !ok {
				err = fmt.Errorf("unexpected reply %T", msg)
			}
		}
		if err != nil {
			_ = ps.Close()
			return nil, nil, fmt.Errorf("redis subscribe: %w", err)
		}
		t = &busTopic{ps: ps, subs: make(map[*busSub]struct{})}
		b.topics[topic] = t
		go b.fanOut(t, ps.Channel())
	}
	t.subs[s] = struct{}{}
	cancel := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := t.subs[s]; !ok {
			return
		}
		delete(t.subs, s)
		s.close()
		if len(t.subs) == 0 && b.topics[topic] == t {
			delete(b.topics, topic)
			_ = t.ps.Close()
		}
	}
	return s.ch, cancel, nil
}

// fanOut copies the events of one Redis subscription to its local
// subscribers until the subscription is closed.
func (b *Bus) fanOut(t *busTopic, in <-chan *goredis.Message) {
	for m := range in {
		data := []byte(m.Payload)
		b.mu.RLock()
		for s := range t.subs {
			select {
			case s.ch <- data:
			default: // full: this subscriber misses the event and must resync
			}
		}
		b.mu.RUnlock()
	}
}

// Close ends all subscriptions and closes their channels. It does not close
// the client.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	for name, t := range b.topics {
		for s := range t.subs {
			s.close()
		}
		clear(t.subs)
		if err := t.ps.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(b.topics, name)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redis bus close: %w", err)
	}
	return nil
}
