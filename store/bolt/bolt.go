// Package bolt is the embedded storage engine: one bbolt file under the data
// directory, implementing store.Backend for a single process.
//
// Layout of the file (top-level buckets, one per collection, queue or
// counter collection, so that names never collide):
//
//	"c:"+coll   key -> value                      (Put, Get, Scan, Update)
//	"p:"+coll   key -> expiry (8 bytes) + value   (PutIfAbsent markers)
//	"n:"+coll   key -> nested bucket field -> int64 big-endian (counters)
//	"q:"+queue  uint64 big-endian seq -> payload  (queue messages)
//	"d:"+queue  uint64 big-endian seq -> uint32   (persisted delivery counts)
//
// PutIfAbsent markers live in their own namespace: they are not visible to
// Get, Scan or Count, and Put does not create them. This matches store/redis.
//
// Writes from many goroutines are group-committed: a single committer
// goroutine runs every write that is waiting in one bbolt transaction and one
// fsync, and starts the next transaction as soon as the previous one is done
// (no fixed batching window, so a lone writer pays one fsync and no delay).
package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// ErrClosed is returned by writes on a closed DB.
var ErrClosed = errors.New("bolt: database closed")

// maxGroup caps how many waiting writes share one transaction.
const maxGroup = 1000

// sweepInterval is how often expired PutIfAbsent markers are removed.
const sweepInterval = time.Minute

// DB is a store.Backend on one bbolt file. All methods are safe for
// concurrent use.
type DB struct {
	db *bbolt.DB

	reqs    chan *writeReq
	closing chan struct{}
	done    sync.WaitGroup
	once    sync.Once

	qmu    sync.Mutex
	queues map[string]*queueState
}

// writeReq is one write waiting for the committer.
type writeReq struct {
	fn   func(*bbolt.Tx) error
	done chan error
}

// userError marks an error returned by fn before it wrote anything: the
// shared transaction can go on, only this request fails.
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }

// Open opens (or creates) the bbolt file at path, creating its parent
// directories. The file is created with mode 0600.
func Open(path string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("bolt open: %w", err)
		}
	}
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("bolt open: %w", err)
	}
	d := &DB{
		db:      bdb,
		reqs:    make(chan *writeReq),
		closing: make(chan struct{}),
		queues:  make(map[string]*queueState),
	}
	d.done.Add(2)
	go d.commitLoop()
	go d.sweepLoop()
	return d, nil
}

// Ping checks that the database is open.
func (d *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.db.View(func(*bbolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("bolt ping: %w", err)
	}
	return nil
}

// Close waits for pending writes, stops the background work and closes the
// file. Calling Close again is a no-op.
func (d *DB) Close() error {
	var err error
	d.once.Do(func() {
		close(d.closing)
		d.done.Wait()
		if cerr := d.db.Close(); cerr != nil {
			err = fmt.Errorf("bolt close: %w", cerr)
		}
		d.qmu.Lock()
		for _, q := range d.queues {
			q.mu.Lock()
			close(q.notify)
			q.notify = make(chan struct{})
			q.mu.Unlock()
		}
		d.qmu.Unlock()
	})
	return err
}

// write runs fn in a group-committed read-write transaction. fn may run more
// than once (when another write of the same group fails) and must only
// depend on the transaction. A userError from fn fails only this request.
func (d *DB) write(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{fn: fn, done: make(chan error, 1)}
	select {
	case d.reqs <- r:
	case <-d.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the write happens; wait for its outcome.
	err := <-r.done
	var ue userError
	if errors.As(err, &ue) {
		return ue.err
	}
	return err
}

// yields is how often the committer lets other goroutines run before it
// commits a group, when the previous group had more than one write (so
// writers are busy). Under load most writes come from goroutines that a
// commit has just answered and that are about to write again; a commit (page
// writes and two fdatasyncs) costs far more than a few yields, so letting
// them join cuts the commits, and the CPU they cost, several times. A lone
// writer is never delayed. (Timers are too coarse for a sub-millisecond
// linger: they round up to a millisecond and stall closed-loop writers.)
const yields = 3

// drainInto adds the writes waiting now to group, up to maxGroup.
func (d *DB) drainInto(group *[]*writeReq) {
	for len(*group) < maxGroup {
		select {
		case r := <-d.reqs:
			*group = append(*group, r)
		default:
			return
		}
	}
}

// commitLoop is the single committer goroutine.
func (d *DB) commitLoop() {
	defer d.done.Done()
	group := make([]*writeReq, 0, maxGroup)
	busy := false
	for {
		select {
		case r := <-d.reqs:
			group = append(group[:0], r)
			d.drainInto(&group)
			if busy {
				// Let the writers that are runnable now (most were
				// answered by the last commit and are about to write
				// again) hand their writes in before committing.
				for range yields {
					runtime.Gosched()
					d.drainInto(&group)
				}
			}
			busy = len(group) > 1
			d.commit(group)
		case <-d.closing:
			return
		}
	}
}

// commit runs a group in one transaction; if the transaction fails, each
// request is retried alone so that one bad write does not fail the others.
func (d *DB) commit(group []*writeReq) {
	if len(group) > 1 {
		results := make([]error, len(group))
		err := d.db.Update(func(tx *bbolt.Tx) error {
			for i, r := range group {
				err := r.fn(tx)
				var ue userError
				if err != nil && !errors.As(err, &ue) {
					return err
				}
				results[i] = err
			}
			return nil
		})
		if err == nil {
			for i, r := range group {
				r.done <- results[i]
			}
			return
		}
	}
	for _, r := range group {
		var uerr error
		err := d.db.Update(func(tx *bbolt.Tx) error {
			err := r.fn(tx)
			var ue userError
			if errors.As(err, &ue) {
				uerr = err
				return nil
			}
			return err
		})
		if err == nil {
			err = uerr
		}
		r.done <- err
	}
}

// sweepLoop removes expired PutIfAbsent markers now and then.
func (d *DB) sweepLoop() {
	defer d.done.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// A failed sweep is retried at the next tick; lazy expiry keeps
			// PutIfAbsent correct meanwhile.
			_, _ = d.sweepExpired(time.Now())
		case <-d.closing:
			return
		}
	}
}
