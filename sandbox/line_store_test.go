package sandbox

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestLINEStoreKeepsUsersApart: well-formed ids (kept as 16 bytes) and
// others (kept as strings, e.g. upper-case hex) are counted per user, and a
// reset forgets them all.
func TestLINEStoreKeepsUsersApart(t *testing.T) {
	var s lineStore
	s.init()
	lower := "U" + strings.Repeat("ab", 16)
	upper := strings.ToUpper(lower)
	ids := []string{lower, upper, "user-1", "U" + strings.Repeat("0", 32), "U" + strings.Repeat("0", 31) + "1", "U"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 100 {
				for _, id := range ids {
					s.record(id, &lineBatch{requestID: fmt.Sprint(g, k)})
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if n := s.delivered(id); n != 800 {
			t.Fatalf("%q delivered %d, want 800", id, n)
		}
		if m := len(s.last(id)); m != 0 {
			t.Fatalf("%q: %d messages from batches without messages", id, m)
		}
	}
	if n := s.delivered("U" + strings.Repeat("cd", 16)); n != 0 {
		t.Fatalf("unknown user delivered %d", n)
	}
	if u := s.users(); u != int64(len(ids)) {
		t.Fatalf("users %d, want %d", u, len(ids))
	}
	s.reset()
	if u, n := s.users(), s.delivered(lower); u != 0 || n != 0 {
		t.Fatalf("after reset: users %d, delivered %d", u, n)
	}
}

// TestLINEStoreLastKeepsTheNewest: the ring keeps the last lineKeep
// requests per user, oldest first.
func TestLINEStoreLastKeepsTheNewest(t *testing.T) {
	var s lineStore
	s.init()
	id := "U" + strings.Repeat("9f", 16)
	for i := range 7 {
		s.record(id, &lineBatch{requestID: fmt.Sprint("req", i), messages: []LINEMessage{{Text: fmt.Sprint(i)}}})
	}
	got := s.last(id)
	if len(got) != lineKeep {
		t.Fatalf("%d messages, want %d", len(got), lineKeep)
	}
	for i, m := range got {
		if want := fmt.Sprint(7 - lineKeep + i); m.Text != want || m.RequestID != "req"+want {
			t.Fatalf("message %d: %+v, want text %s", i, m, want)
		}
	}
}

// BenchmarkLINEStoreRecord records one delivery for each of b.N new users,
// as a million-recipient alert does.
func BenchmarkLINEStoreRecord(b *testing.B) {
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("U%032x", i+1)
	}
	var s lineStore
	s.init()
	batch := &lineBatch{requestID: "r"}
	b.ResetTimer()
	for _, id := range ids {
		s.record(id, batch)
	}
}
