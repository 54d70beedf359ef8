package repo

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert/signage"
	"github.com/minato-city/anpi/store"
)

func TestSignageStoreBolt(t *testing.T) {
	b := boltBackend(t)
	testSignageStore(t, []store.Backend{b, b})
}

func TestSignageStoreRedis(t *testing.T) { testSignageStore(t, redisBackends(t, 2)) }

// testSignageStore runs the signage.Store contract on backends that share
// one store (two Redis clients stand for two instances).
func testSignageStore(t *testing.T, bs []store.Backend) {
	ctx := context.Background()
	s0, s1 := Signage{B: bs[0]}, Signage{B: bs[1]}
	st, err := s0.GetScreen(ctx, "akasaka")
	if err != nil || st.Version != 0 || len(st.Alerts) != 0 {
		t.Fatalf("missing screen: %+v %v", st, err)
	}
	content := func(id string) signage.Content {
		return signage.Content{AlertID: id, Severity: "severe", Title: map[string]string{"ja": "地震"}, IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	}
	// An update that reports no change writes nothing.
	got, err := s0.UpdateScreen(ctx, "akasaka", func(*signage.State) bool { return false })
	if err != nil || got.Version != 0 {
		t.Fatalf("unchanged update: %+v %v", got, err)
	}
	if n, _ := bs[0].Count(ctx, collSignage); n != 0 {
		t.Fatalf("unchanged update wrote %d keys", n)
	}
	got, err = s0.UpdateScreen(ctx, "akasaka", func(st *signage.State) bool { _, ch := st.Add(content("al_1"), testNow); return ch })
	if err != nil || got.Version != 1 || !got.Has("al_1") {
		t.Fatalf("add: %+v %v", got, err)
	}
	if st, _ := s1.GetScreen(ctx, "akasaka"); st.Version != 1 || st.Alerts[0].Title["ja"] != "地震" || !st.Alerts[0].ExpiresAt.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("read back on the other instance: %+v", st)
	}
	// Concurrent adds from both instances: none is lost.
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []Signage{s0, s1}[i%2]
			if _, err := s.UpdateScreen(ctx, "akasaka", func(st *signage.State) bool {
				_, ch := st.Add(content(fmt.Sprintf("al_c%02d", i)), testNow)
				return ch
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st, _ = s0.GetScreen(ctx, "akasaka")
	if len(st.Alerts) != 13 || st.Version != 13 {
		t.Fatalf("concurrent adds: %d alerts, version %d", len(st.Alerts), st.Version)
	}
	// Withdrawal is stored with its tombstone, which survives a re-read.
	if _, err := s1.UpdateScreen(ctx, "akasaka", func(st *signage.State) bool { _, ch := st.Clear("al_1", testNow.Add(time.Hour), testNow); return ch }); err != nil {
		t.Fatal(err)
	}
	got, err = s0.UpdateScreen(ctx, "akasaka", func(st *signage.State) bool { _, ch := st.Add(content("al_1"), testNow); return ch })
	if err != nil || got.Has("al_1") || got.Cleared["al_1"].IsZero() {
		t.Fatalf("withdrawn alert: %+v %v", got, err)
	}
	// Screens are independent.
	if st, _ := s1.GetScreen(ctx, "shinagawa-konan"); len(st.Alerts) != 0 {
		t.Fatal("another screen has alerts")
	}
}
