package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/minato-city/anpi/store"
)

// errEmptyKey is returned for an empty key or collection name.
var errEmptyKey = store.ErrEmptyKey

func collBucket(coll string) []byte    { return []byte("c:" + coll) }
func markerBucket(coll string) []byte  { return []byte("p:" + coll) }
func counterBucket(coll string) []byte { return []byte("n:" + coll) }

func checkKey(coll, key string) error {
	if coll == "" || key == "" {
		return errEmptyKey
	}
	return nil
}

// lookup returns the value of key in b and whether it exists; the value is
// copied out of the transaction's memory.
func lookup(b *bbolt.Bucket, key []byte) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	k, v := b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) || (v == nil && b.Bucket(key) != nil) {
		return nil, false
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, true
}

// Put stores val under key in coll, replacing any old value.
func (d *DB) Put(ctx context.Context, coll, key string, val []byte) error {
	if err := checkKey(coll, key); err != nil {
		return fmt.Errorf("bolt put: %w", err)
	}
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(collBucket(coll))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), nonNil(val))
	})
	if err != nil {
		return fmt.Errorf("bolt put: %w", err)
	}
	return nil
}

// PutMany stores all pairs in one transaction.
func (d *DB) PutMany(ctx context.Context, coll string, kvs []store.KV) error {
	for _, kv := range kvs {
		if err := checkKey(coll, kv.Key); err != nil {
			return fmt.Errorf("bolt put many: %w", err)
		}
	}
	if len(kvs) == 0 {
		return nil
	}
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(collBucket(coll))
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := b.Put([]byte(kv.Key), nonNil(kv.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt put many: %w", err)
	}
	return nil
}

// Get returns the value of key, or store.ErrNotFound.
func (d *DB) Get(ctx context.Context, coll, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		val []byte
		ok  bool
	)
	err := d.db.View(func(tx *bbolt.Tx) error {
		val, ok = lookup(tx.Bucket(collBucket(coll)), []byte(key))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt get: %w", err)
	}
	if !ok {
		return nil, store.ErrNotFound
	}
	return val, nil
}

// GetMany returns the values of keys (nil for a missing key) from one read
// transaction.
func (d *DB) GetMany(ctx context.Context, coll string, keys []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	err := d.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(collBucket(coll))
		if b == nil {
			return nil
		}
		for i, k := range keys {
			out[i], _ = lookup(b, []byte(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt get many: %w", err)
	}
	return out, nil
}

// Delete removes key; deleting a missing key is not an error.
func (d *DB) Delete(ctx context.Context, coll, key string) error {
	if err := checkKey(coll, key); err != nil {
		return fmt.Errorf("bolt delete: %w", err)
	}
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(collBucket(coll))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("bolt delete: %w", err)
	}
	return nil
}

// Scan returns up to limit pairs with keys greater than after, in byte order.
// limit must be positive.
func (d *DB) Scan(ctx context.Context, coll, after string, limit int) ([]store.KV, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("bolt scan: limit %d must be positive", limit)
	}
	var out []store.KV
	err := d.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(collBucket(coll))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if after == "" {
			k, v = c.First()
		} else {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			val := make([]byte, len(v))
			copy(val, v)
			out = append(out, store.KV{Key: string(k), Value: val})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt scan: %w", err)
	}
	return out, nil
}

// Count returns the number of keys in coll.
func (d *DB) Count(ctx context.Context, coll string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := d.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(collBucket(coll)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bolt count: %w", err)
	}
	return n, nil
}

// Update reads key, calls fn and stores its result, all in one read-write
// transaction, so fn normally runs once. A nil result deletes the key; an
// error from fn is returned and nothing is written. fn runs on the
// committer goroutine and must not call the DB (that would deadlock).
func (d *DB) Update(ctx context.Context, coll, key string, fn func(old []byte) ([]byte, error)) error {
	if err := checkKey(coll, key); err != nil {
		return fmt.Errorf("bolt update: %w", err)
	}
	fnFailed := false
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		fnFailed = false
		b := tx.Bucket(collBucket(coll))
		old, _ := lookup(b, []byte(key))
		val, err := fn(old)
		if err != nil {
			fnFailed = true
			return userError{err}
		}
		if val == nil {
			if b == nil {
				return nil
			}
			return b.Delete([]byte(key))
		}
		if b == nil {
			if b, err = tx.CreateBucket(collBucket(coll)); err != nil {
				return err
			}
		}
		return b.Put([]byte(key), val)
	})
	if err != nil {
		if fnFailed {
			return err // fn's own error, as the contract asks
		}
		return fmt.Errorf("bolt update: %w", err)
	}
	return nil
}

// UpdateMany runs Update's read-modify-write for every key in one
// group-committed transaction (one fsync for all). Keys must be distinct. fn
// runs on the committer goroutine and must not call the DB.
func (d *DB) UpdateMany(ctx context.Context, coll string, keys []string, fn func(i int, old []byte) ([]byte, error)) ([]error, error) {
	return d.updateMany(ctx, "bolt update many", coll, keys, "", func(i int, old []byte) ([]byte, store.Count, error) {
		v, err := fn(i, old)
		return v, store.Count{}, err
	})
}

// UpdateManyCount implements store.Backend: values and counters change in
// one transaction.
func (d *DB) UpdateManyCount(ctx context.Context, coll string, keys []string, counterColl string, fn func(i int, old []byte) ([]byte, store.Count, error)) ([]error, error) {
	return d.updateMany(ctx, "bolt update many count", coll, keys, counterColl, fn)
}

// updateMany is UpdateManyCount; op names the operation in errors.
func (d *DB) updateMany(ctx context.Context, op, coll string, keys []string, counterColl string, fn func(i int, old []byte) ([]byte, store.Count, error)) ([]error, error) {
	if err := store.CheckKeys(coll, keys); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	errs := make([]error, len(keys))
	if len(keys) == 0 {
		return errs, nil
	}
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		clear(errs) // the group may be retried
		b := tx.Bucket(collBucket(coll))
		for i, k := range keys {
			key := []byte(k)
			old, _ := lookup(b, key)
			val, c, err := fn(i, old)
			if err == nil {
				err = c.Check(counterColl)
			}
			switch {
			case err != nil:
				errs[i] = err
				continue
			case val == nil && old == nil:
				continue // delete of a missing key: nothing written, nothing counted
			case val == nil:
				if b != nil {
					if err := b.Delete(key); err != nil {
						return err
					}
				}
			default:
				if b == nil {
					if b, err = tx.CreateBucket(collBucket(coll)); err != nil {
						return err
					}
				}
				if err := b.Put(key, val); err != nil {
					return err
				}
			}
			if c.Set != "" && len(c.Deltas) > 0 {
				if _, err := incr(tx, counterColl, c.Set, c.Deltas, ""); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return errs, nil
}

// PutIfAbsent stores a marker for key unless one exists that has not expired.
// Markers live in their own namespace (not visible to Get, Scan, Count).
func (d *DB) PutIfAbsent(ctx context.Context, coll, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := checkKey(coll, key); err != nil {
		return false, fmt.Errorf("bolt put if absent: %w", err)
	}
	var stored bool
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		stored = false
		now := time.Now()
		b, err := tx.CreateBucketIfNotExists(markerBucket(coll))
		if err != nil {
			return err
		}
		if old := b.Get([]byte(key)); old != nil && !expired(old, now) {
			return nil
		}
		var exp int64
		if ttl > 0 {
			exp = now.Add(ttl).UnixNano()
		}
		rec := make([]byte, 8+len(val))
		binary.BigEndian.PutUint64(rec, uint64(exp))
		copy(rec[8:], val)
		if err := b.Put([]byte(key), rec); err != nil {
			return err
		}
		stored = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("bolt put if absent: %w", err)
	}
	return stored, nil
}

// expired reports whether a marker record has expired at now.
func expired(rec []byte, now time.Time) bool {
	if len(rec) < 8 {
		return true
	}
	exp := int64(binary.BigEndian.Uint64(rec))
	return exp != 0 && exp <= now.UnixNano()
}

// sweepExpired deletes expired PutIfAbsent markers and reports how many.
func (d *DB) sweepExpired(now time.Time) (int, error) {
	n := 0
	err := d.write(context.Background(), func(tx *bbolt.Tx) error {
		n = 0
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if !bytes.HasPrefix(name, []byte("p:")) {
				return nil
			}
			var dead [][]byte
			err := b.ForEach(func(k, v []byte) error {
				if expired(v, now) {
					dead = append(dead, append([]byte(nil), k...))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range dead {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(dead)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("bolt sweep: %w", err)
	}
	return n, nil
}

// Incr adds delta to field of the counter set key and returns the new value.
func (d *DB) Incr(ctx context.Context, coll, key, field string, delta int64) (int64, error) {
	if err := checkKey(coll, key); err != nil {
		return 0, fmt.Errorf("bolt incr: %w", err)
	}
	if field == "" {
		return 0, fmt.Errorf("bolt incr: %w", errEmptyKey)
	}
	var n int64
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		var err error
		n, err = incr(tx, coll, key, map[string]int64{field: delta}, field)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bolt incr: %w", err)
	}
	return n, nil
}

// IncrMany applies several counter changes to one counter set atomically.
func (d *DB) IncrMany(ctx context.Context, coll, key string, deltas map[string]int64) error {
	if err := checkKey(coll, key); err != nil {
		return fmt.Errorf("bolt incr many: %w", err)
	}
	if _, ok := deltas[""]; ok {
		return fmt.Errorf("bolt incr many: %w", errEmptyKey)
	}
	if len(deltas) == 0 {
		return nil
	}
	err := d.write(ctx, func(tx *bbolt.Tx) error {
		_, err := incr(tx, coll, key, deltas, "")
		return err
	})
	if err != nil {
		return fmt.Errorf("bolt incr many: %w", err)
	}
	return nil
}

// incr applies deltas in tx and returns the new value of want.
func incr(tx *bbolt.Tx, coll, key string, deltas map[string]int64, want string) (int64, error) {
	top, err := tx.CreateBucketIfNotExists(counterBucket(coll))
	if err != nil {
		return 0, err
	}
	b, err := top.CreateBucketIfNotExists([]byte(key))
	if err != nil {
		return 0, err
	}
	var result int64
	for f, delta := range deltas {
		var cur int64
		if v := b.Get([]byte(f)); len(v) == 8 {
			cur = int64(binary.BigEndian.Uint64(v))
		}
		cur += delta
		buf := make([]byte, 8)
		binary.BigEndian.PutUint64(buf, uint64(cur))
		if err := b.Put([]byte(f), buf); err != nil {
			return 0, err
		}
		if f == want {
			result = cur
		}
	}
	return result, nil
}

// Counters returns all fields of the counter set key (empty map if none).
func (d *DB) Counters(ctx context.Context, coll, key string) (map[string]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]int64)
	err := d.db.View(func(tx *bbolt.Tx) error {
		top := tx.Bucket(counterBucket(coll))
		if top == nil {
			return nil
		}
		b := top.Bucket([]byte(key))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				out[string(k)] = int64(binary.BigEndian.Uint64(v))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt counters: %w", err)
	}
	return out, nil
}

// nonNil turns a nil value into an empty one: bbolt stores both the same.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
