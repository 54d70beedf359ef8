package residents_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-city/anpi/residents"
)

// pagedStore serves ScanResidents from a sorted slice; failAt makes the
// scan that starts at that offset fail.
type pagedStore struct {
	residents.Store
	rs     []residents.Resident
	scans  atomic.Int32
	failAt int
}

func (s *pagedStore) ScanResidents(_ context.Context, after string, limit int) ([]residents.Resident, error) {
	s.scans.Add(1)
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].ID > after })
	if s.failAt > 0 && i == s.failAt {
		return nil, errors.New("disk on fire")
	}
	return s.rs[i:min(i+limit, len(s.rs))], nil
}

func newPaged(n int) *pagedStore {
	s := &pagedStore{}
	for i := range n {
		s.rs = append(s.rs, residents.Resident{ID: fmt.Sprintf("r%07d", i)})
	}
	return s
}

func TestEachAfterVisitsEveryoneInOrderOnce(t *testing.T) {
	s := newPaged(2500)
	d := residents.NewDirectory(s)
	for _, tc := range []struct {
		after string
		want  int
	}{{"", 2500}, {"r0001199", 1300}, {"r0002499", 0}} {
		var got []string
		err := d.EachAfter(context.Background(), tc.after, func(r residents.Resident) error {
			got = append(got, r.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want || !sort.StringsAreSorted(got) || (len(got) > 0 && got[0] <= tc.after) {
			t.Fatalf("after %q: %d residents, sorted %v", tc.after, len(got), sort.StringsAreSorted(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				t.Fatalf("after %q: %s twice", tc.after, got[i])
			}
		}
	}
}

// TestEachAfterStopsReadingWhenFnFails: the page read ahead is the only one
// read beyond the failing page, and the reader goroutine ends.
func TestEachAfterStopsReadingWhenFnFails(t *testing.T) {
	s := newPaged(10_000)
	d := residents.NewDirectory(s)
	stop := errors.New("stop")
	n := 0
	err := d.EachAfter(context.Background(), "", func(residents.Resident) error {
		if n++; n == 1500 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err %v, want fn's", err)
	}
	time.Sleep(20 * time.Millisecond)
	if c := s.scans.Load(); c > 3 {
		t.Fatalf("%d pages read after fn failed on page 2", c)
	}
}

func TestEachAfterReportsStoreErrorAfterEarlierPages(t *testing.T) {
	s := newPaged(2500)
	s.failAt = 1000
	d := residents.NewDirectory(s)
	n := 0
	err := d.EachAfter(context.Background(), "", func(residents.Resident) error { n++; return nil })
	if err == nil || n != 1000 {
		t.Fatalf("err %v after %d residents, want the store's error after 1000", err, n)
	}
}

func TestEachAfterEndsWithContext(t *testing.T) {
	s := newPaged(5000)
	d := residents.NewDirectory(s)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := d.EachAfter(ctx, "", func(residents.Resident) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 1000 {
		t.Fatalf("err %v after %d residents", err, n)
	}
}
