package bolt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/storetest"
)

var _ store.Backend = (*DB)(nil)

func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "dir", "anpi.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		db, _ := openTemp(t)
		return db
	})
}

func TestOpenFileMode(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestRestart(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "anpi.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Put(ctx, "people", "p1", []byte("one")))
	must(db.PutMany(ctx, "people", []store.KV{{Key: "p2", Value: []byte("two")}, {Key: "p3", Value: []byte("three")}}))
	must(db.Update(ctx, "people", "p3", func([]byte) ([]byte, error) { return nil, nil }))
	if _, err := db.PutIfAbsent(ctx, "events", "e1", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	must(db.IncrMany(ctx, "stats", "a1", map[string]int64{"sent": 7, "failed": -1}))
	must(db.Enqueue(ctx, "q", []byte("m1"), []byte("m2"), []byte("m3"), []byte("m4"), []byte("m5")))
	claimed, err := db.Claim(ctx, "q", "c", 3, time.Hour, 0)
	must(err)
	must(db.Ack(ctx, "q", claimed[1].ID)) // m2 done; m1, m3 in flight; m4, m5 new
	must(db.Close())
	if err := db.Put(ctx, "people", "late", nil); err == nil {
		t.Fatal("Put after Close succeeded")
	}

	db, err = Open(path)
	must(err)
	t.Cleanup(func() { _ = db.Close() })
	kvs, err := db.Scan(ctx, "people", "", 10)
	must(err)
	if len(kvs) != 2 || kvs[0].Key != "p1" || string(kvs[1].Value) != "two" {
		t.Fatalf("people after restart = %v", kvs)
	}
	if ok, err := db.PutIfAbsent(ctx, "events", "e1", []byte("x"), 0); err != nil || ok {
		t.Fatalf("PutIfAbsent after restart = %v, %v; want false", ok, err)
	}
	if m, err := db.Counters(ctx, "stats", "a1"); err != nil || m["sent"] != 7 || m["failed"] != -1 {
		t.Fatalf("counters after restart = %v, %v", m, err)
	}
	if n, err := db.QueueLen(ctx, "q"); err != nil || n != 4 {
		t.Fatalf("QueueLen after restart = %d, %v; want 4", n, err)
	}
	got, err := db.Claim(ctx, "q", "c2", 10, time.Hour, 0)
	must(err)
	type md struct {
		data       string
		deliveries int
	}
	var gotMD []md
	for _, m := range got {
		gotMD = append(gotMD, md{string(m.Data), m.Deliveries})
	}
	want := []md{{"m1", 2}, {"m3", 2}, {"m4", 1}, {"m5", 1}}
	if !slices.Equal(gotMD, want) {
		t.Fatalf("after restart claimed %v, want %v", gotMD, want)
	}
	// Sequences go on after the restart: ids never repeat.
	must(db.Enqueue(ctx, "q", []byte("m6")))
	more, err := db.Claim(ctx, "q", "c2", 10, time.Hour, 0)
	must(err)
	if len(more) != 1 || slices.Contains([]string{"1", "2", "3", "4", "5"}, more[0].ID) {
		t.Fatalf("new message after restart = %v", more)
	}
}

func TestOpenLocked(t *testing.T) {
	_, path := openTemp(t)
	// A second Open of the same file waits for the lock and then fails,
	// instead of hanging or sharing the file.
	if db, err := Open(path); err == nil {
		_ = db.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
}

func TestSweepExpired(t *testing.T) {
	db, _ := openTemp(t)
	ctx := t.Context()
	for i, ttl := range []time.Duration{time.Millisecond, time.Hour, 0} {
		if _, err := db.PutIfAbsent(ctx, "m", fmt.Sprint(i), nil, ttl); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.sweepExpired(time.Now().Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("sweep removed %d, %v; want 1", n, err)
	}
	for i, want := range []bool{true, false, false} {
		if ok, _ := db.PutIfAbsent(ctx, "m", fmt.Sprint(i), nil, time.Hour); ok != want {
			t.Fatalf("marker %d: PutIfAbsent = %v, want %v", i, ok, want)
		}
	}
}

func TestClaimAfterCloseReturns(t *testing.T) {
	db, _ := openTemp(t)
	errc := make(chan error, 1)
	go func() {
		_, err := db.Claim(context.Background(), "q", "c", 1, time.Hour, time.Minute)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("blocked Claim returned no error after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Claim did not return after Close")
	}
}

func BenchmarkPutMany500(b *testing.B) {
	db, _ := openTemp(b)
	storetest.BenchPutMany500(b, db)
}

func BenchmarkEnqueueClaimAck(b *testing.B) {
	db, _ := openTemp(b)
	storetest.BenchEnqueueClaimAck(b, db)
}

func BenchmarkUpdate(b *testing.B) {
	db, _ := openTemp(b)
	storetest.BenchUpdate(b, db)
}
