// Package storetest is the conformance suite that every store.Backend and
// store.Bus must pass. Engines call Run and RunBus from their own tests.
//
// Semantics the suite pins down beyond the comments in package store:
//   - Keys and collection names must not be empty; Scan needs limit > 0.
//   - An empty value is a value: Get returns it (not ErrNotFound) and Update
//     sees a non-nil empty slice.
//   - PutIfAbsent markers live in their own namespace per collection: they
//     are not visible to Get, Scan or Count, and Put does not create them.
//     Read-back "get or create" is done with Update.
//   - Claim returns reclaimed messages first (oldest first), then new ones in
//     enqueue order; when ctx ends while waiting it returns ctx's error.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-city/anpi/store"
)

// Run runs the conformance suite. open must return a new, empty backend for
// each call and arrange its cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"CRUD", testCRUD},
		{"EmptyKeys", testEmptyKeys},
		{"Scan", testScan},
		{"PutManyAtomic", testPutManyAtomic},
		{"Count", testCount},
		{"Update", testUpdate},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"GetMany", testGetMany},
		{"UpdateMany", testUpdateMany},
		{"UpdateManyConcurrent", testUpdateManyConcurrent},
		{"UpdateManyCount", testUpdateManyCount},
		{"UpdateManyCountConcurrent", testUpdateManyCountConcurrent},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentTTL", testPutIfAbsentTTL},
		{"Counters", testCounters},
		{"QueueFIFO", testQueueFIFO},
		{"QueueRedelivery", testQueueRedelivery},
		{"QueueRelease", testQueueRelease},
		{"QueueConcurrentConsumers", testQueueConcurrent},
		{"QueueConcurrentEnqueue", testQueueConcurrentEnqueue},
		{"QueueBlock", testQueueBlock},
		{"Ping", func(t *testing.T, b store.Backend) {
			if err := b.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func testCRUD(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if _, err := b.Get(ctx, "people", "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing = %v, want ErrNotFound", err)
	}
	steps := []struct {
		name string
		do   func() error
		key  string
		want []byte // nil: want ErrNotFound
	}{
		{"put", func() error { return b.Put(ctx, "people", "p1", []byte("one")) }, "p1", []byte("one")},
		{"replace", func() error { return b.Put(ctx, "people", "p1", []byte("uno")) }, "p1", []byte("uno")},
		{"other collection untouched", func() error { return nil }, "p2", nil},
		{"empty value", func() error { return b.Put(ctx, "people", "p2", []byte{}) }, "p2", []byte{}},
		{"delete", func() error { return b.Delete(ctx, "people", "p1") }, "p1", nil},
		{"delete missing", func() error { return b.Delete(ctx, "people", "nope") }, "nope", nil},
		{"delete in missing collection", func() error { return b.Delete(ctx, "nocoll", "x") }, "p2", []byte{}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := b.Get(ctx, "people", s.key)
		if s.want == nil {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: Get(%q) = %q, %v; want ErrNotFound", s.name, s.key, got, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, s.want) {
			t.Fatalf("%s: Get(%q) = %q, %v; want %q", s.name, s.key, got, err, s.want)
		}
	}
	if _, err := b.Get(ctx, "other", "p2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("collections are not separate: %v", err)
	}
	// The returned slice belongs to the caller.
	got, _ := b.Get(ctx, "people", "p2")
	_ = append(got[:0], 'x')
	if again, _ := b.Get(ctx, "people", "p2"); len(again) != 0 {
		t.Fatalf("value changed through a returned slice: %q", again)
	}
}

func testEmptyKeys(t *testing.T, b store.Backend) {
	ctx := t.Context()
	cases := []struct {
		name string
		err  error
	}{
		{"Put empty key", b.Put(ctx, "c", "", []byte("x"))},
		{"Put empty coll", b.Put(ctx, "", "k", []byte("x"))},
		{"PutMany empty key", b.PutMany(ctx, "c", []store.KV{{Key: "a"}, {Key: ""}})},
		{"Update empty key", b.Update(ctx, "c", "", func([]byte) ([]byte, error) { return []byte("x"), nil })},
		{"Scan limit 0", func() error { _, err := b.Scan(ctx, "c", "", 0); return err }()},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if n, err := b.Count(ctx, "c"); err != nil || n != 0 {
		t.Fatalf("after rejected writes Count = %d, %v; want 0 (PutMany must be all or nothing)", n, err)
	}
}

// scanKeys are keys whose byte order differs from naive orders.
var scanKeys = []string{
	"a", "B", "b", "a\x00", "a/b", "ab", "10", "9", "09", "\xff", "\xfe\xff", "ä", "z", "Z", "~",
	"alert:2026-01-01", "alert:2026-01-02", "alert:2025-12-31", "x y", " x", "-", "+", "(", "[a",
}

func testScan(t *testing.T, b store.Backend) {
	ctx := t.Context()
	want := slices.Clone(scanKeys)
	sort.Strings(want) // Go string order is byte order
	var kvs []store.KV
	for _, k := range scanKeys {
		kvs = append(kvs, store.KV{Key: k, Value: []byte("v:" + k)})
	}
	if err := b.PutMany(ctx, "s", kvs); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Scan(ctx, "empty", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("Scan of missing collection = %v, %v", got, err)
	}
	for _, limit := range []int{1, 5, 7, len(want), len(want) + 3} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("limit %d: Scan does not end", limit)
			}
			page, err := b.Scan(ctx, "s", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, kv := range page {
				if string(kv.Value) != "v:"+kv.Key {
					t.Fatalf("key %q has value %q", kv.Key, kv.Value)
				}
				got = append(got, kv.Key)
			}
			after = page[len(page)-1].Key
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: scan order\n got %q\nwant %q", limit, got, want)
		}
	}
	// after need not be a stored key.
	page, err := b.Scan(ctx, "s", "a\x01", 2)
	if err != nil {
		t.Fatal(err)
	}
	i := sort.SearchStrings(want, "a\x01")
	if len(page) != 2 || page[0].Key != want[i] || page[1].Key != want[i+1] {
		t.Fatalf("Scan after absent key = %v, want %q", page, want[i:i+2])
	}
	if page, err := b.Scan(ctx, "s", want[len(want)-1], 5); err != nil || len(page) != 0 {
		t.Fatalf("Scan after last = %v, %v", page, err)
	}
}

func testPutManyAtomic(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const n, rounds = 200, 15
	done := make(chan struct{})
	var readErr atomic.Value
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			default:
			}
			page, err := b.Scan(ctx, "atomic", "", n+10)
			if err != nil {
				readErr.Store(err.Error())
				return
			}
			if len(page) != 0 && len(page) != n {
				readErr.Store(fmt.Sprintf("saw %d of %d keys", len(page), n))
				return
			}
			for _, kv := range page {
				if !bytes.Equal(kv.Value, page[0].Value) {
					readErr.Store(fmt.Sprintf("mixed rounds: %q and %q", page[0].Value, kv.Value))
					return
				}
			}
			if len(page) == n && string(page[0].Value) == strconv.Itoa(rounds) {
				return
			}
		}
	}()
	for r := 1; r <= rounds; r++ {
		kvs := make([]store.KV, n)
		for i := range kvs {
			kvs[i] = store.KV{Key: fmt.Sprintf("k%04d", i), Value: []byte(strconv.Itoa(r))}
		}
		if err := b.PutMany(ctx, "atomic", kvs); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if e := readErr.Load(); e != nil {
		t.Fatalf("PutMany not atomic: %v", e)
	}
	if err := b.PutMany(ctx, "atomic", nil); err != nil {
		t.Fatalf("empty PutMany: %v", err)
	}
}

func testCount(t *testing.T, b store.Backend) {
	ctx := t.Context()
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"missing collection", func() error { return nil }, 0},
		{"put 3", func() error {
			return b.PutMany(ctx, "cnt", []store.KV{{Key: "a"}, {Key: "b"}, {Key: "c"}})
		}, 3},
		{"replace keeps count", func() error { return b.Put(ctx, "cnt", "a", []byte("x")) }, 3},
		{"delete", func() error { return b.Delete(ctx, "cnt", "b") }, 2},
		{"update creates", func() error {
			return b.Update(ctx, "cnt", "d", func([]byte) ([]byte, error) { return []byte("1"), nil })
		}, 3},
		{"update deletes", func() error {
			return b.Update(ctx, "cnt", "d", func([]byte) ([]byte, error) { return nil, nil })
		}, 2},
		{"PutIfAbsent does not count", func() error {
			_, err := b.PutIfAbsent(ctx, "cnt", "e", []byte("m"), 0)
			return err
		}, 2},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n, err := b.Count(ctx, "cnt"); err != nil || n != s.want {
			t.Fatalf("%s: Count = %d, %v; want %d", s.name, n, err, s.want)
		}
	}
}

var errTest = errors.New("test: refuse")

func testUpdate(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if err := b.Put(ctx, "u", "empty", []byte{}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		key     string
		fn      func(old []byte) ([]byte, error)
		wantErr error
		want    []byte // nil: want ErrNotFound afterwards
	}{
		{"create", "k", func(old []byte) ([]byte, error) {
			if old != nil {
				return nil, fmt.Errorf("old = %q, want nil", old)
			}
			return []byte("1"), nil
		}, nil, []byte("1")},
		{"modify", "k", func(old []byte) ([]byte, error) { return append(old, '2'), nil }, nil, []byte("12")},
		{"error aborts", "k", func([]byte) ([]byte, error) { return []byte("bad"), errTest }, errTest, []byte("12")},
		{"conflict aborts", "k", func(old []byte) ([]byte, error) {
			return nil, fmt.Errorf("status %q: %w", old, store.ErrConflict)
		}, store.ErrConflict, []byte("12")},
		{"error on missing writes nothing", "new", func([]byte) ([]byte, error) { return []byte("x"), errTest }, errTest, nil},
		{"empty value is not nil", "empty", func(old []byte) ([]byte, error) {
			if old == nil {
				return nil, errors.New("old is nil for an empty value")
			}
			return []byte("was empty"), nil
		}, nil, []byte("was empty")},
		{"delete via nil", "k", func([]byte) ([]byte, error) { return nil, nil }, nil, nil},
		{"delete missing via nil", "never", func([]byte) ([]byte, error) { return nil, nil }, nil, nil},
	}
	for _, s := range steps {
		err := b.Update(ctx, "u", s.key, s.fn)
		if s.wantErr == nil && err != nil || s.wantErr != nil && !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: Update = %v, want %v", s.name, err, s.wantErr)
		}
		got, gerr := b.Get(ctx, "u", s.key)
		if s.want == nil {
			if !errors.Is(gerr, store.ErrNotFound) {
				t.Fatalf("%s: Get = %q, %v; want ErrNotFound", s.name, got, gerr)
			}
			continue
		}
		if gerr != nil || !bytes.Equal(got, s.want) {
			t.Fatalf("%s: Get = %q, %v; want %q", s.name, got, gerr, s.want)
		}
	}
}

func testUpdateConcurrent(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const workers, each = 50, 20
	type counter struct{ N int }
	// Another key of the same collection, written at the same time, must not
	// disturb the result.
	if err := b.Put(ctx, "uc", "neighbour", []byte("0")); err != nil {
		t.Fatal(err)
	}
	var g errgroup.Group
	for range workers {
		g.Go(func() error {
			for range each {
				err := b.Update(ctx, "uc", "n", func(old []byte) ([]byte, error) {
					var c counter
					if old != nil {
						if err := json.Unmarshal(old, &c); err != nil {
							return nil, err
						}
					}
					c.N++
					return json.Marshal(c)
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		for i := range 100 {
			if err := b.Put(ctx, "uc", "neighbour", []byte(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatalf("Update: %v", err)
	}
	raw, err := b.Get(ctx, "uc", "n")
	if err != nil {
		t.Fatal(err)
	}
	var c counter
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.N != workers*each {
		t.Fatalf("counter = %d, want %d (lost updates)", c.N, workers*each)
	}
}

func testGetMany(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if got, err := b.GetMany(ctx, "gm", []string{"a", "b"}); err != nil || len(got) != 2 || got[0] != nil || got[1] != nil {
		t.Fatalf("GetMany on a missing collection = %q, %v; want two nils", got, err)
	}
	if err := b.PutMany(ctx, "gm", []store.KV{{Key: "a", Value: []byte("1")}, {Key: "e", Value: []byte{}}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetMany(ctx, "gm", []string{"e", "x", "a", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] == nil || len(got[0]) != 0 || got[1] != nil || string(got[2]) != "1" || string(got[3]) != "1" {
		t.Fatalf("GetMany = %q; want [\"\" nil \"1\" \"1\"] with the empty value non-nil", got)
	}
	if got, err := b.GetMany(ctx, "gm", nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany(nil) = %q, %v", got, err)
	}
}

func testUpdateMany(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if err := b.PutMany(ctx, "um", []store.KV{{Key: "keep", Value: []byte("k")}, {Key: "del", Value: []byte("d")},
		{Key: "inc", Value: []byte("1")}, {Key: "empty", Value: []byte{}}}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"new", "del", "inc", "keep", "empty", "never"}
	calls := 0
	errs, err := b.UpdateMany(ctx, "um", keys, func(i int, old []byte) ([]byte, error) {
		calls++
		switch keys[i] {
		case "new":
			if old != nil {
				return nil, fmt.Errorf("old of a new key = %q", old)
			}
			return []byte("n"), nil
		case "del", "never":
			return nil, nil
		case "inc":
			return append(old, '2'), nil
		case "keep":
			return []byte("changed"), errTest
		case "empty":
			if old == nil {
				return nil, errors.New("old is nil for an empty value")
			}
			return []byte("was empty"), nil
		}
		return nil, fmt.Errorf("unexpected key %q", keys[i])
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < len(keys) {
		t.Fatalf("fn ran %d times for %d keys", calls, len(keys))
	}
	for i, e := range errs {
		if keys[i] == "keep" {
			if !errors.Is(e, errTest) {
				t.Fatalf("errs[keep] = %v, want errTest", e)
			}
		} else if e != nil {
			t.Fatalf("errs[%s] = %v", keys[i], e)
		}
	}
	want := map[string]string{"new": "n", "inc": "12", "keep": "k", "empty": "was empty"}
	for k, v := range want {
		if got, err := b.Get(ctx, "um", k); err != nil || string(got) != v {
			t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, v)
		}
	}
	for _, k := range []string{"del", "never"} {
		if _, err := b.Get(ctx, "um", k); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(%s) = %v, want ErrNotFound", k, err)
		}
	}
	if n, err := b.Count(ctx, "um"); err != nil || n != 4 {
		t.Fatalf("Count = %d, %v; want 4", n, err)
	}
	if _, err := b.UpdateMany(ctx, "um", []string{"a", "a"}, func(int, []byte) ([]byte, error) { return []byte("x"), nil }); err == nil {
		t.Fatal("UpdateMany with a duplicate key: no error")
	}
	if _, err := b.UpdateMany(ctx, "um", []string{"a", ""}, func(int, []byte) ([]byte, error) { return []byte("x"), nil }); err == nil {
		t.Fatal("UpdateMany with an empty key: no error")
	}
}

// testUpdateManyConcurrent has UpdateMany and Update race on the same keys:
// no increment may be lost.
func testUpdateManyConcurrent(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const workers, each = 20, 20
	keys := []string{"k0", "k1", "k2", "k3"}
	inc := func(old []byte) ([]byte, error) {
		n := 0
		if old != nil {
			var err error
			if n, err = strconv.Atoi(string(old)); err != nil {
				return nil, err
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	}
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			for range each {
				if w%2 == 0 {
					es, err := b.UpdateMany(ctx, "umc", keys, func(_ int, old []byte) ([]byte, error) { return inc(old) })
					if err == nil {
						err = errors.Join(es...)
					}
					if err != nil {
						return err
					}
				} else if err := b.Update(ctx, "umc", keys[w%len(keys)], inc); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("update: %v", err)
	}
	for i, k := range keys {
		want := workers / 2 * each // every UpdateMany worker
		for w := 1; w < workers; w += 2 {
			if w%len(keys) == i {
				want += each
			}
		}
		got, err := b.Get(ctx, "umc", k)
		if err != nil || string(got) != strconv.Itoa(want) {
			t.Fatalf("%s = %q, %v; want %d (lost updates)", k, got, err, want)
		}
	}
}

func testPutIfAbsent(t *testing.T, b store.Backend) {
	ctx := t.Context()
	steps := []struct {
		name       string
		coll, key  string
		want       bool
		putBefore  bool // Put the same coll/key first
		wantHidden bool // Get must not see the marker
	}{
		{"first", "evt", "e1", true, false, true},
		{"second", "evt", "e1", false, false, true},
		{"other key", "evt", "e2", true, false, true},
		{"other collection", "evt2", "e1", true, false, true},
		{"Put does not make a marker", "evt3", "e1", true, true, false},
	}
	for _, s := range steps {
		if s.putBefore {
			if err := b.Put(ctx, s.coll, s.key, []byte("value")); err != nil {
				t.Fatal(err)
			}
		}
		ok, err := b.PutIfAbsent(ctx, s.coll, s.key, []byte("marker"), 0)
		if err != nil || ok != s.want {
			t.Fatalf("%s: PutIfAbsent = %v, %v; want %v", s.name, ok, err, s.want)
		}
		got, err := b.Get(ctx, s.coll, s.key)
		if s.wantHidden && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: marker visible to Get: %q, %v", s.name, got, err)
		}
		if !s.wantHidden && (err != nil || string(got) != "value") {
			t.Fatalf("%s: PutIfAbsent changed the value: %q, %v", s.name, got, err)
		}
	}
	// Concurrent callers: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := b.PutIfAbsent(ctx, "race", "once", []byte("x"), time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent PutIfAbsent calls won, want 1", wins.Load())
	}
}

func testPutIfAbsentTTL(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const ttl = 50 * time.Millisecond
	if ok, err := b.PutIfAbsent(ctx, "ttl", "k", []byte("x"), ttl); err != nil || !ok {
		t.Fatalf("first = %v, %v", ok, err)
	}
	if ok, err := b.PutIfAbsent(ctx, "ttl", "long", []byte("x"), time.Hour); err != nil || !ok {
		t.Fatalf("long first = %v, %v", ok, err)
	}
	// Semantic check, not a speed check: once the ttl has surely passed the
	// key counts as absent; a key with a long ttl is still present.
	time.Sleep(3 * ttl)
	if ok, err := b.PutIfAbsent(ctx, "ttl", "k", []byte("y"), ttl); err != nil || !ok {
		t.Fatalf("after ttl = %v, %v; want true", ok, err)
	}
	if ok, err := b.PutIfAbsent(ctx, "ttl", "long", []byte("y"), time.Hour); err != nil || ok {
		t.Fatalf("long after short wait = %v, %v; want false", ok, err)
	}
}

func testCounters(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if m, err := b.Counters(ctx, "stats", "none"); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("Counters of missing = %v (nil %v), %v; want empty map", m, m == nil, err)
	}
	incrs := []struct {
		field string
		delta int64
		want  int64
	}{
		{"sent", 1, 1}, {"sent", 41, 42}, {"failed", -3, -3}, {"sent", -2, 40}, {"big", 1 << 40, 1 << 40},
	}
	for _, c := range incrs {
		if n, err := b.Incr(ctx, "stats", "alert1", c.field, c.delta); err != nil || n != c.want {
			t.Fatalf("Incr(%s, %d) = %d, %v; want %d", c.field, c.delta, n, err, c.want)
		}
	}
	if err := b.IncrMany(ctx, "stats", "alert1", map[string]int64{"sent": 10, "read": 5, "failed": 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.IncrMany(ctx, "stats", "alert1", nil); err != nil {
		t.Fatalf("empty IncrMany: %v", err)
	}
	want := map[string]int64{"sent": 50, "failed": 0, "read": 5, "big": 1 << 40}
	got, err := b.Counters(ctx, "stats", "alert1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Counters = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("Counters = %v, want %v", got, want)
		}
	}
	if m, _ := b.Counters(ctx, "stats", "alert2"); len(m) != 0 {
		t.Fatalf("counter sets are not separate: %v", m)
	}
	// Concurrent increments are not lost.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 20 {
				if err := b.IncrMany(ctx, "stats", "conc", map[string]int64{"a": 1, "b": 2}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if m, err := b.Counters(ctx, "stats", "conc"); err != nil || m["a"] != 200 || m["b"] != 400 {
		t.Fatalf("concurrent IncrMany = %v, %v; want a=200 b=400", m, err)
	}
}

const hour = time.Hour

func enqueueN(t *testing.T, b store.Backend, queue string, from, n int) {
	t.Helper()
	data := make([][]byte, 0, n)
	for i := from; i < from+n; i++ {
		data = append(data, []byte(fmt.Sprintf("m%05d", i)))
	}
	if err := b.Enqueue(t.Context(), queue, data...); err != nil {
		t.Fatal(err)
	}
}

func payloads(ms []store.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Data)
	}
	return out
}

func ids(ms []store.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// testQueueConcurrentEnqueue has many callers enqueue into two queues at
// once (engines group such calls into shared writes): every message lands
// once, in its own queue, and the messages of one call keep their order.
func testQueueConcurrentEnqueue(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const callers, calls = 16, 20
	var g errgroup.Group
	for c := range callers {
		g.Go(func() error {
			q := []string{"ea", "eb"}[c%2]
			for i := range calls {
				n := 1 + i%3 // one to three messages per call
				data := make([][]byte, n)
				for j := range data {
					data[j] = fmt.Appendf(nil, "%02d/%02d/%d", c, i, j)
				}
				if err := b.Enqueue(ctx, q, data...); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	for qi, q := range []string{"ea", "eb"} {
		var got []string
		for {
			ms, err := b.Claim(ctx, q, "c", 100, hour, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) == 0 {
				break
			}
			got = append(got, payloads(ms)...)
		}
		want := 0
		last := map[string]string{} // caller/call -> last message seen
		for _, p := range got {
			var c, i, j int
			if _, err := fmt.Sscanf(p, "%02d/%02d/%d", &c, &i, &j); err != nil || c%2 != qi {
				t.Fatalf("queue %s holds %q", q, p)
			}
			call := p[:5]
			if prev, ok := last[call]; (ok && prev >= p) || (!ok && j != 0) {
				t.Fatalf("queue %s: %q after %q: a call's messages out of order", q, p, prev)
			}
			last[call] = p
		}
		for c := qi; c < callers; c += 2 {
			for i := range calls {
				want += 1 + i%3
			}
		}
		if len(got) != want {
			t.Fatalf("queue %s: %d messages, want %d", q, len(got), want)
		}
	}
}

func testQueueFIFO(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if got, err := b.Claim(ctx, "q", "c1", 5, hour, 0); err != nil || len(got) != 0 {
		t.Fatalf("Claim on unused queue = %v, %v", got, err)
	}
	if n, err := b.QueueLen(ctx, "q"); err != nil || n != 0 {
		t.Fatalf("QueueLen unused = %d, %v", n, err)
	}
	enqueueN(t, b, "q", 0, 6)
	enqueueN(t, b, "q", 6, 4)
	if err := b.Enqueue(ctx, "other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := b.QueueLen(ctx, "q"); err != nil || n != 10 {
		t.Fatalf("QueueLen = %d, %v; want 10", n, err)
	}
	seen := map[string]bool{}
	var all []store.Message
	for _, max := range []int{4, 4, 4} {
		got, err := b.Claim(ctx, "q", "c1", max, hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			if m.Deliveries != 1 {
				t.Fatalf("first delivery of %s has Deliveries %d", m.Data, m.Deliveries)
			}
			if m.ID == "" || seen[m.ID] {
				t.Fatalf("bad or repeated id %q", m.ID)
			}
			seen[m.ID] = true
		}
		all = append(all, got...)
	}
	want := []string{"m00000", "m00001", "m00002", "m00003", "m00004", "m00005", "m00006", "m00007", "m00008", "m00009"}
	if !slices.Equal(payloads(all), want) {
		t.Fatalf("claimed %q, want %q", payloads(all), want)
	}
	// In-flight messages still count; acked ones do not.
	if n, _ := b.QueueLen(ctx, "q"); n != 10 {
		t.Fatalf("QueueLen with 10 in flight = %d", n)
	}
	if err := b.Ack(ctx, "q", ids(all[:7])...); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.QueueLen(ctx, "q"); n != 3 {
		t.Fatalf("QueueLen after 7 acks = %d, want 3", n)
	}
	if err := b.Ack(ctx, "q", all[0].ID); err != nil {
		t.Fatalf("second Ack: %v", err)
	}
	// minIdle 0 reclaims at once: only the 3 unacked come back, never acked ones.
	got, err := b.Claim(ctx, "q", "c2", 10, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(payloads(got), want[7:]) {
		t.Fatalf("reclaimed %q, want %q", payloads(got), want[7:])
	}
	if err := b.Ack(ctx, "q", ids(got)...); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Claim(ctx, "q", "c2", 10, 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("after all acks Claim = %q, %v", payloads(got), err)
	}
	if n, _ := b.QueueLen(ctx, "q"); n != 0 {
		t.Fatalf("QueueLen after all acks = %d", n)
	}
	if n, _ := b.QueueLen(ctx, "other"); n != 1 {
		t.Fatalf("queues are not separate: other has %d", n)
	}
}

// testQueueRelease: the messages of consumers reported dead (an earlier run
// of a killed process) are claimable at once, whatever minIdle; those of
// live consumers are not; releasing again finds nothing.
func testQueueRelease(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const hour = time.Hour
	if n, err := b.Release(ctx, "rel-none", func(string) bool { return true }); err != nil || n != 0 {
		t.Fatalf("Release of a queue never used = %d, %v", n, err)
	}
	enqueueN(t, b, "rel", 0, 6)
	dead1, err := b.Claim(ctx, "rel", "inst@boot1-line-0", 2, hour, 0)
	if err != nil || len(dead1) != 2 {
		t.Fatalf("Claim = %v, %v", dead1, err)
	}
	dead2, err := b.Claim(ctx, "rel", "inst@boot1-line-1", 1, hour, 0)
	if err != nil || len(dead2) != 1 {
		t.Fatalf("Claim = %v, %v", dead2, err)
	}
	live, err := b.Claim(ctx, "rel", "other@boot7-line-0", 1, hour, 0)
	if err != nil || len(live) != 1 {
		t.Fatalf("Claim = %v, %v", live, err)
	}
	// Acknowledged by the dead consumer before it died: not released.
	if err := b.Ack(ctx, "rel", dead1[1].ID); err != nil {
		t.Fatal(err)
	}
	dead := func(c string) bool { return strings.HasPrefix(c, "inst@boot1-") }
	n, err := b.Release(ctx, "rel", dead)
	if err != nil || n != 2 {
		t.Fatalf("Release = %d, %v; want the 2 unacknowledged messages of the dead consumers", n, err)
	}
	got, err := b.Claim(ctx, "rel", "inst@boot2-line-0", 10, hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{payloads(dead1)[0], payloads(dead2)[0], "m00004", "m00005"}
	if !slices.Equal(payloads(got), want) {
		t.Fatalf("after Release got %q, want %q (released first, then new; not the live consumer's)", payloads(got), want)
	}
	if got[0].ID != dead1[0].ID || got[0].Deliveries < 1 {
		t.Fatalf("released message %+v, was %+v", got[0], dead1[0])
	}
	if n, err := b.Release(ctx, "rel", dead); err != nil || n != 0 {
		t.Fatalf("second Release = %d, %v", n, err)
	}
	if err := b.Ack(ctx, "rel", append(ids(got), live[0].ID)...); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.QueueLen(ctx, "rel"); n != 0 {
		t.Fatalf("QueueLen = %d after acking everything", n)
	}
}

func testQueueRedelivery(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const minIdle = 150 * time.Millisecond
	enqueueN(t, b, "rq", 0, 5)
	first, err := b.Claim(ctx, "rq", "dead", 3, minIdle, 0)
	if err != nil || len(first) != 3 {
		t.Fatalf("Claim = %v, %v", first, err)
	}
	// Before minIdle: another consumer gets only the new messages.
	got, err := b.Claim(ctx, "rq", "alive", 10, minIdle, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(payloads(got), []string{"m00003", "m00004"}) {
		t.Fatalf("before minIdle got %q, want only the 2 new ones", payloads(got))
	}
	if err := b.Ack(ctx, "rq", ids(got)...); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Claim(ctx, "rq", "alive", 10, minIdle, 0); err != nil || len(got) != 0 {
		t.Fatalf("redelivered before minIdle: %q, %v", payloads(got), err)
	}
	time.Sleep(minIdle + 100*time.Millisecond)
	// After minIdle the dead consumer's work comes back, first and in order.
	enqueueN(t, b, "rq", 5, 1)
	got, err = b.Claim(ctx, "rq", "alive", 10, minIdle, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(payloads(got), []string{"m00000", "m00001", "m00002", "m00005"}) {
		t.Fatalf("after minIdle got %q", payloads(got))
	}
	for i, m := range got[:3] {
		if m.ID != first[i].ID {
			t.Fatalf("reclaimed id %s, was %s", m.ID, first[i].ID)
		}
		if m.Deliveries < 2 {
			t.Fatalf("reclaimed %s has Deliveries %d, want >= 2", m.Data, m.Deliveries)
		}
	}
	if got[3].Deliveries != 1 {
		t.Fatalf("new message has Deliveries %d", got[3].Deliveries)
	}
	// Reclaiming handed them to "alive": not available again before minIdle.
	if again, err := b.Claim(ctx, "rq", "third", 10, minIdle, 0); err != nil || len(again) != 0 {
		t.Fatalf("reclaimed messages handed out twice: %q, %v", payloads(again), err)
	}
	if err := b.Ack(ctx, "rq", ids(got)...); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.QueueLen(ctx, "rq"); n != 0 {
		t.Fatalf("QueueLen = %d, want 0", n)
	}
}

func testQueueConcurrent(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const total, workers = 2000, 4
	for i := 0; i < total; i += 200 {
		enqueueN(t, b, "cq", i, 200)
	}
	var (
		mu      sync.Mutex
		byID    = map[string]int{}
		byData  = map[string]int{}
		handled atomic.Int64
		wg      sync.WaitGroup
	)
	deadline := time.Now().Add(20 * time.Second)
	for w := range workers {
		wg.Go(func() {
			consumer := fmt.Sprintf("c%d", w)
			for handled.Load() < total && time.Now().Before(deadline) {
				msgs, err := b.Claim(ctx, "cq", consumer, 37, hour, 20*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range msgs {
					byID[m.ID]++
					byData[string(m.Data)]++
				}
				mu.Unlock()
				if len(msgs) > 0 {
					if err := b.Ack(ctx, "cq", ids(msgs)...); err != nil {
						t.Error(err)
						return
					}
					handled.Add(int64(len(msgs)))
				}
			}
		})
	}
	wg.Wait()
	if len(byID) != total || len(byData) != total {
		t.Fatalf("handled %d ids / %d payloads, want %d", len(byID), len(byData), total)
	}
	for id, n := range byID {
		if n != 1 {
			t.Fatalf("message %s handed out %d times", id, n)
		}
	}
	if n, _ := b.QueueLen(ctx, "cq"); n != 0 {
		t.Fatalf("QueueLen = %d after all acks", n)
	}
}

func testQueueBlock(t *testing.T, b store.Backend) {
	ctx := t.Context()
	// Nothing arrives: Claim returns empty after block, without error.
	if got, err := b.Claim(ctx, "bq", "c", 1, hour, 30*time.Millisecond); err != nil || len(got) != 0 {
		t.Fatalf("Claim with nothing = %v, %v", got, err)
	}
	// A later Enqueue wakes a blocked Claim.
	res := make(chan []store.Message, 1)
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		got, err := b.Claim(ctx, "bq", "c", 1, hour, 10*time.Second)
		res <- got
		errc <- err
	}()
	<-started
	time.Sleep(50 * time.Millisecond)
	enqueueN(t, b, "bq", 0, 1)
	got, err := <-res, <-errc
	if err != nil || !slices.Equal(payloads(got), []string{"m00000"}) {
		t.Fatalf("blocked Claim = %q, %v; want the later message", payloads(got), err)
	}
	// Cancelling ctx ends the wait with ctx's error.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	got, err = b.Claim(cctx, "bq", "c", 1, hour, 10*time.Second)
	if !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Fatalf("cancelled Claim = %q, %v; want context.Canceled", payloads(got), err)
	}
}

// testUpdateManyCount: counter changes land with the value they belong to,
// and not for a key whose fn failed or that was not written.
func testUpdateManyCount(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if err := b.PutMany(ctx, "umn", []store.KV{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "gone"}
	errs, err := b.UpdateManyCount(ctx, "umn", keys, "umn_n", func(i int, old []byte) ([]byte, store.Count, error) {
		switch keys[i] {
		case "a":
			return append(old, 'x'), store.Count{Set: "s1", Deltas: map[string]int64{"x": 1, "y": 2}}, nil
		case "b":
			return []byte("no"), store.Count{Set: "s1", Deltas: map[string]int64{"x": 100}}, errTest
		case "c":
			return []byte("new"), store.Count{Set: "s2", Deltas: map[string]int64{"x": 5}}, nil
		}
		// A delete of a missing key writes nothing, so counts nothing.
		return nil, store.Count{Set: "s1", Deltas: map[string]int64{"x": 1000}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[1], errTest) || errs[0] != nil || errs[2] != nil || errs[3] != nil {
		t.Fatalf("errs %v", errs)
	}
	for k, v := range map[string]string{"a": "1x", "b": "1", "c": "new"} {
		if got, err := b.Get(ctx, "umn", k); err != nil || string(got) != v {
			t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, v)
		}
	}
	if c, err := b.Counters(ctx, "umn_n", "s1"); err != nil || c["x"] != 1 || c["y"] != 2 || len(c) != 2 {
		t.Fatalf("s1 = %v, %v; want x 1, y 2", c, err)
	}
	if c, err := b.Counters(ctx, "umn_n", "s2"); err != nil || c["x"] != 5 {
		t.Fatalf("s2 = %v, %v; want x 5", c, err)
	}
	// No counter set: only the value changes.
	if _, err := b.UpdateManyCount(ctx, "umn", []string{"a"}, "umn_n", func(int, []byte) ([]byte, store.Count, error) {
		return []byte("plain"), store.Count{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get(ctx, "umn", "a"); string(got) != "plain" {
		t.Fatalf("a = %q", got)
	}
	if _, err := b.UpdateManyCount(ctx, "umn", []string{"a", "a"}, "umn_n", func(int, []byte) ([]byte, store.Count, error) {
		return []byte("x"), store.Count{}, nil
	}); err == nil {
		t.Fatal("duplicate key: no error")
	}
}

// testUpdateManyCountConcurrent: many writers race on the same keys (the
// Redis engine retries the losers); every written increment is counted
// exactly once, so the counter equals the sum of the values.
func testUpdateManyCountConcurrent(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const workers, each = 16, 25
	keys := []string{"k0", "k1", "k2"}
	var g errgroup.Group
	for range workers {
		g.Go(func() error {
			for range each {
				es, err := b.UpdateManyCount(ctx, "umnc", keys, "umnc_n", func(i int, old []byte) ([]byte, store.Count, error) {
					n := 0
					if old != nil {
						var err error
						if n, err = strconv.Atoi(string(old)); err != nil {
							return nil, store.Count{}, err
						}
					}
					return []byte(strconv.Itoa(n + 1)), store.Count{Set: "all", Deltas: map[string]int64{keys[i]: 1, "total": 1}}, nil
				})
				if err == nil {
					err = errors.Join(es...)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("update: %v", err)
	}
	c, err := b.Counters(ctx, "umnc_n", "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		v, _ := b.Get(ctx, "umnc", k)
		if string(v) != strconv.Itoa(workers*each) || c[k] != workers*each {
			t.Fatalf("%s: value %s, counted %d; want %d both", k, v, c[k], workers*each)
		}
	}
	if c["total"] != int64(len(keys)*workers*each) {
		t.Fatalf("total %d", c["total"])
	}
}
