package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/minato-city/anpi/store"
)

// Queue ids are the decimal form of the bbolt bucket sequence (1, 2, ...).
//
// Which messages are handed out but not acknowledged is kept in memory; the
// delivery count is persisted as well. After a restart every unacknowledged
// message is new again (handed out at the next Claim) and its delivery count
// goes on from the persisted one.

func queueBucket(q string) []byte    { return []byte("q:" + q) }
func deliveryBucket(q string) []byte { return []byte("d:" + q) }

// lease is a message handed out and not yet acknowledged.
type lease struct {
	consumer   string
	handedOut  time.Time
	deliveries int
}

// queueState is the in-memory state of one queue.
type queueState struct {
	mu sync.Mutex
	// cursor is the lowest sequence that was never handed out since Open.
	cursor uint64
	// inflight holds the handed-out, unacknowledged messages by sequence.
	inflight map[uint64]*lease
	// notify is closed (and replaced) after every Enqueue.
	notify chan struct{}
}

func (d *DB) queue(name string) *queueState {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	q, ok := d.queues[name]
	if !ok {
		q = &queueState{inflight: make(map[uint64]*lease), notify: make(chan struct{})}
		d.queues[name] = q
	}
	return q
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// Enqueue appends messages to the queue in one write.
func (d *DB) Enqueue(ctx context.Context, queue string, data ...[]byte) error {
	if queue == "" {
		return fmt.Errorf("bolt enqueue: %w", errEmptyKey)
	}
	if len(data) == 0 {
		return nil
	}
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(queueBucket(queue))
		if err != nil {
			return err
		}
		for _, m := range data {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), nonNil(m)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt enqueue: %w", err)
	}
	q := d.queue(queue)
	q.mu.Lock()
	close(q.notify)
	q.notify = make(chan struct{})
	q.mu.Unlock()
	return nil
}

// Claim hands out up to max messages to consumer: first those handed out at
// least minIdle ago and not acknowledged, then new ones in order. With none
// available it waits up to block for an Enqueue.
func (d *DB) Claim(ctx context.Context, queue, consumer string, max int, minIdle, block time.Duration) ([]store.Message, error) {
	if queue == "" {
		return nil, fmt.Errorf("bolt claim: %w", errEmptyKey)
	}
	if max <= 0 {
		return nil, fmt.Errorf("bolt claim: max %d must be positive", max)
	}
	deadline := time.Now().Add(block)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msgs, wait, err := d.claimOnce(ctx, queue, consumer, max, minIdle)
		if err != nil || len(msgs) > 0 || block <= 0 {
			return msgs, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if timer == nil {
			timer = time.NewTimer(left)
		} else {
			timer.Reset(left)
		}
		select {
		case <-wait:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.closing:
			return nil, ErrClosed
		}
	}
}

// claimOnce hands out what is available now. wait is closed by the next
// Enqueue after the read.
func (d *DB) claimOnce(ctx context.Context, queue, consumer string, max int, minIdle time.Duration) ([]store.Message, <-chan struct{}, error) {
	q := d.queue(queue)
	q.mu.Lock()
	wait := q.notify
	now := time.Now()

	var reclaim []uint64
	for seq, l := range q.inflight {
		if now.Sub(l.handedOut) >= minIdle {
			reclaim = append(reclaim, seq)
		}
	}
	sort.Slice(reclaim, func(i, j int) bool { return reclaim[i] < reclaim[j] })
	if len(reclaim) > max {
		reclaim = reclaim[:max]
	}

	var msgs []store.Message
	next := q.cursor
	err := d.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(queueBucket(queue))
		if b == nil {
			return nil
		}
		for _, seq := range reclaim {
			v := b.Get(seqKey(seq))
			if v == nil { // acknowledged meanwhile
				delete(q.inflight, seq)
				continue
			}
			l := q.inflight[seq]
			l.consumer, l.handedOut = consumer, now
			l.deliveries++
			msgs = append(msgs, store.Message{ID: strconv.FormatUint(seq, 10), Data: append([]byte{}, v...), Deliveries: l.deliveries})
		}
		db := tx.Bucket(deliveryBucket(queue))
		c := b.Cursor()
		for k, v := c.Seek(seqKey(q.cursor)); k != nil && len(msgs) < max; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			next = seq + 1
			if _, ok := q.inflight[seq]; ok {
				continue
			}
			n := 1
			if db != nil {
				if dv := db.Get(k); len(dv) == 4 {
					n = int(binary.BigEndian.Uint32(dv)) + 1
				}
			}
			q.inflight[seq] = &lease{consumer: consumer, handedOut: now, deliveries: n}
			msgs = append(msgs, store.Message{ID: strconv.FormatUint(seq, 10), Data: append([]byte{}, v...), Deliveries: n})
		}
		return nil
	})
	if err != nil {
		q.mu.Unlock()
		return nil, wait, fmt.Errorf("bolt claim: %w", err)
	}
	q.cursor = next
	q.mu.Unlock()

	if len(msgs) == 0 {
		return nil, wait, nil
	}
	// Persist the delivery counts. If this fails, the messages stay leased
	// and are handed out again after minIdle, like those of a dead consumer.
	err = d.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(queueBucket(queue))
		if b == nil {
			return nil
		}
		db, err := tx.CreateBucketIfNotExists(deliveryBucket(queue))
		if err != nil {
			return err
		}
		for _, m := range msgs {
			seq, _ := strconv.ParseUint(m.ID, 10, 64)
			k := seqKey(seq)
			if b.Get(k) == nil {
				continue // acknowledged meanwhile
			}
			n := uint32(m.Deliveries)
			if old := db.Get(k); len(old) == 4 && binary.BigEndian.Uint32(old) > n {
				continue
			}
			v := make([]byte, 4)
			binary.BigEndian.PutUint32(v, n)
			if err := db.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wait, fmt.Errorf("bolt claim: %w", err)
	}
	return msgs, wait, nil
}

// Release implements store.Backend. Hand-outs live in memory, so after a
// restart every unacknowledged message is new again and there is nothing to
// release; within one process, the messages of consumers that dead reports
// are made claimable at once (handed out at the zero time).
func (d *DB) Release(_ context.Context, queue string, dead func(consumer string) bool) (int, error) {
	if queue == "" {
		return 0, fmt.Errorf("bolt release: %w", errEmptyKey)
	}
	q := d.queue(queue)
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, l := range q.inflight {
		if l.consumer != "" && dead(l.consumer) {
			l.consumer, l.handedOut = "", time.Time{}
			n++
		}
	}
	return n, nil
}

// Ack removes messages from the queue; unknown ids are ignored.
func (d *DB) Ack(ctx context.Context, queue string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	seqs := make([]uint64, 0, len(ids))
	for _, id := range ids {
		seq, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return fmt.Errorf("bolt ack: %w", errors.New("invalid message id"))
		}
		seqs = append(seqs, seq)
	}
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(queueBucket(queue))
		if b == nil {
			return nil
		}
		db := tx.Bucket(deliveryBucket(queue))
		for _, seq := range seqs {
			if err := b.Delete(seqKey(seq)); err != nil {
				return err
			}
			if db != nil {
				if err := db.Delete(seqKey(seq)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt ack: %w", err)
	}
	q := d.queue(queue)
	q.mu.Lock()
	for _, seq := range seqs {
		delete(q.inflight, seq)
	}
	q.mu.Unlock()
	return nil
}

// QueueLen returns how many messages are not yet acknowledged.
func (d *DB) QueueLen(ctx context.Context, queue string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := d.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(queueBucket(queue)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bolt queue len: %w", err)
	}
	return n, nil
}
