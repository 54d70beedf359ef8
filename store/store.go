// Package store defines the storage engine that the domain stores are built on,
// and the adapters that give each domain package the small interface it declares.
//
// Two engines implement Backend: store/bolt (embedded, the default: one bbolt
// file under the data directory) and store/redis (go-redis/v9, for many
// processes). The same conformance suite (store/storetest) runs against both.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned when a key does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Update when the update function asks to abort
// because the current value does not allow the change; callers wrap their own
// reason in it.
var ErrConflict = errors.New("conflict")

// KV is one key and its value.
type KV struct {
	Key   string
	Value []byte
}

// Count is a change to the counter set Set (see Backend.UpdateManyCount).
type Count struct {
	Set    string
	Deltas map[string]int64
}

// ErrEmptyKey is returned for an empty collection name, key or counter field.
var ErrEmptyKey = errors.New("empty key")

// CheckKeys checks the keys of an UpdateMany: none empty, none repeated.
func CheckKeys(coll string, keys []string) error {
	if coll == "" {
		return ErrEmptyKey
	}
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if k == "" {
			return ErrEmptyKey
		}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("duplicate key %q", k)
		}
		seen[k] = struct{}{}
	}
	return nil
}

// Check reports whether c can be applied to a counter set of coll: a named
// set needs a collection and non-empty field names.
func (c Count) Check(coll string) error {
	if c.Set == "" {
		return nil
	}
	if coll == "" {
		return ErrEmptyKey
	}
	if _, ok := c.Deltas[""]; ok {
		return ErrEmptyKey
	}
	return nil
}

// Message is one entry of a durable queue.
type Message struct {
	// ID is the engine's id of the entry (a bbolt sequence or a Redis stream id).
	ID string
	// Data is the payload as enqueued.
	Data []byte
	// Deliveries counts how often the entry was handed out, 1 on first delivery.
	Deliveries int
}

// Backend is the storage engine. All methods are safe for concurrent use.
// Collections and queues are created on first use. Keys are compared as bytes.
type Backend interface {
	// Put stores val under key in coll, replacing any old value.
	Put(ctx context.Context, coll, key string, val []byte) error
	// PutMany stores all pairs in one atomic, durable write.
	PutMany(ctx context.Context, coll string, kvs []KV) error
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, coll, key string) ([]byte, error)
	// GetMany returns the values of keys in one read, lined up with keys;
	// a missing key gives a nil value.
	GetMany(ctx context.Context, coll string, keys []string) ([][]byte, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, coll, key string) error
	// Scan returns up to limit pairs with keys greater than after, in key order.
	// An empty after starts at the beginning; an empty result means the end.
	Scan(ctx context.Context, coll, after string, limit int) ([]KV, error)
	// Count returns the number of keys in coll.
	Count(ctx context.Context, coll string) (int, error)
	// Update atomically reads key (nil if missing), calls fn with the value and
	// stores what fn returns. fn may run more than once (optimistic retry) and
	// must not have side effects. If fn returns an error nothing is written and
	// Update returns that error. If fn returns a nil slice the key is deleted.
	Update(ctx context.Context, coll, key string, fn func(old []byte) ([]byte, error)) error
	// UpdateMany is Update for several distinct keys of coll in one round
	// (one transaction, or one compare-and-set round trip): for each key it
	// reads the value (nil if missing), calls fn(i, old) and stores what fn
	// returns (nil deletes the key). Each key is updated atomically on its
	// own, not all keys together; fn may run more than once per key and must
	// not have side effects beyond its result. An error from fn for key i
	// leaves that key unchanged and is returned as errs[i]; err is a failure
	// of the engine (then nothing or only some keys may have been written).
	UpdateMany(ctx context.Context, coll string, keys []string, fn func(i int, old []byte) ([]byte, error)) (errs []error, err error)
	// UpdateManyCount is UpdateMany where fn also names a counter set of
	// counterColl and changes to it: they are applied in the same atomic
	// write as key i's new value and only with it, so an update that is
	// retried, fails or is never written counts nothing, and one that is
	// written is counted once. A Count with an empty Set changes no counter.
	UpdateManyCount(ctx context.Context, coll string, keys []string, counterColl string, fn func(i int, old []byte) ([]byte, Count, error)) (errs []error, err error)
	// PutIfAbsent stores val under key only if key does not exist (or has
	// expired) and reports whether it stored it. ttl <= 0 keeps the key forever.
	// It is the primitive for idempotency: webhook event ids, retry keys.
	PutIfAbsent(ctx context.Context, coll, key string, val []byte, ttl time.Duration) (bool, error)
	// Incr adds delta to the named counter field of the counter set key and
	// returns the new value.
	Incr(ctx context.Context, coll, key, field string, delta int64) (int64, error)
	// IncrMany applies several counter changes to one counter set atomically.
	IncrMany(ctx context.Context, coll, key string, deltas map[string]int64) error
	// Counters returns all fields of the counter set key (empty map if none).
	Counters(ctx context.Context, coll, key string) (map[string]int64, error)

	// Enqueue appends messages to the durable queue in one write.
	Enqueue(ctx context.Context, queue string, data ...[]byte) error
	// Claim hands out up to max messages to consumer: first messages that were
	// handed out before but not acknowledged for at least minIdle (work of a
	// dead consumer), then new ones. It waits up to block for new messages when
	// there are none (block <= 0: do not wait).
	Claim(ctx context.Context, queue, consumer string, max int, minIdle, block time.Duration) ([]Message, error)
	// Ack marks messages as done; they are never handed out again.
	Ack(ctx context.Context, queue string, ids ...string) error
	// Release makes the messages handed out to the consumers for which dead
	// reports true (an earlier run of this process, killed) claimable at once
	// instead of after minIdle, and forgets those consumers; it returns how
	// many messages it released. An engine that keeps no hand-outs across a
	// restart has nothing to release.
	Release(ctx context.Context, queue string, dead func(consumer string) bool) (int, error)
	// QueueLen returns how many messages are not yet acknowledged.
	QueueLen(ctx context.Context, queue string) (int, error)

	// Ping checks that the engine is reachable.
	Ping(ctx context.Context) error
	// Close releases the engine.
	Close() error
}

// Bus carries small events (console deltas) between the parts of the system
// and, with Redis, between processes. Delivery is best effort: a subscriber
// that falls behind may miss events and must resync from a snapshot.
type Bus interface {
	// Publish sends data to every current subscriber of topic.
	Publish(ctx context.Context, topic string, data []byte) error
	// Subscribe returns a channel of the events published to topic from now on
	// and a function that ends the subscription and closes the channel.
	Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error)
	// Close ends all subscriptions.
	Close() error
}
