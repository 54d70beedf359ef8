package ratelimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 11, 14, 46, 0, 0, time.UTC)} }

func mustNew(t *testing.T, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// serve sends one GET through h from remote with the given X-Forwarded-For
// (none when empty) and returns the recorder.
func serve(h http.Handler, remote, xff string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/api/v1/facilities", nil)
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

func TestPerClientIsolationAndRefill(t *testing.T) {
	clk := newClock()
	l := mustNew(t, Config{RPS: 2, Burst: 3, Now: clk.Now})
	h := l.Wrap(ok)
	for i := range 3 {
		if w := serve(h, "192.0.2.1:5000", ""); w.Code != http.StatusNoContent {
			t.Fatalf("request %d of the burst: %d", i+1, w.Code)
		}
	}
	if w := serve(h, "192.0.2.1:5001", ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("4th request in the same instant (other source port, same client): %d, want 429", w.Code)
	}
	// Another client is untouched by the first one's use.
	for i := range 3 {
		if w := serve(h, "192.0.2.2:5000", ""); w.Code != http.StatusNoContent {
			t.Fatalf("other client request %d: %d", i+1, w.Code)
		}
	}
	// Tokens come back at RPS.
	clk.Add(499 * time.Millisecond)
	if w := serve(h, "192.0.2.1:5000", ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("before a token is back: %d, want 429", w.Code)
	}
	clk.Add(time.Millisecond)
	if w := serve(h, "192.0.2.1:5000", ""); w.Code != http.StatusNoContent {
		t.Fatalf("after 500 ms at 2 rps: %d, want 204", w.Code)
	}
	if st := l.Stats(); st.Limited != 2 || st.Clients != 2 {
		t.Errorf("stats %+v, want 2 limited, 2 clients", st)
	}
}

func TestRejectionShape(t *testing.T) {
	clk := newClock()
	l := mustNew(t, Config{RPS: 0.25, Burst: 1, Now: clk.Now})
	called := 0
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++ }))
	serve(h, "198.51.100.7:1", "")
	clk.Add(1500 * time.Millisecond) // 2.5 s still to wait at 1 token per 4 s
	w := serve(h, "198.51.100.7:1", "")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	if called != 1 {
		t.Errorf("handler called %d times, want 1 (not for the refused request)", called)
	}
	if got := w.Header().Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After %q, want 3 (2.5 s rounded up)", got)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body.Error.Code != "client_rate_limited" || body.Error.Message == "" {
		t.Errorf("error %+v, want code client_rate_limited with a message", body.Error)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	// Retry-After tells the truth: waiting that long is enough.
	clk.Add(3 * time.Second)
	if w := serve(h, "198.51.100.7:1", ""); w.Code != http.StatusOK {
		t.Errorf("after Retry-After: %d, want 200", w.Code)
	}
}

func TestIPv6ByPrefix(t *testing.T) {
	l := mustNew(t, Config{RPS: 1, Burst: 1, Now: newClock().Now})
	h := l.Wrap(ok)
	if w := serve(h, "[2001:db8:1:2::1]:443", ""); w.Code != http.StatusNoContent {
		t.Fatalf("first: %d", w.Code)
	}
	// Another address in the same /64 is the same client...
	if w := serve(h, "[2001:db8:1:2:ffff::9]:443", ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d, want 429", w.Code)
	}
	// ...another /64 is not.
	if w := serve(h, "[2001:db8:1:3::1]:443", ""); w.Code != http.StatusNoContent {
		t.Fatalf("other /64: %d", w.Code)
	}
	// IPv4-mapped IPv6 is the IPv4 client.
	if got := l.Client(&http.Request{RemoteAddr: "[::ffff:192.0.2.1]:80"}); got != "192.0.2.1" {
		t.Errorf("mapped address keyed %q", got)
	}
}

func TestEvictionBound(t *testing.T) {
	clk := newClock()
	const maxClients = 64
	l := mustNew(t, Config{RPS: 1, Burst: 5, MaxClients: maxClients, Now: clk.Now})
	// An attacker with many addresses, all in the same instant: the table
	// never holds more than the bound.
	for i := range 20000 {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
		if i%1000 == 0 {
			if n := l.Stats().Clients; n > maxClients {
				t.Fatalf("after %d clients the table holds %d, bound %d", i+1, n, maxClients)
			}
		}
	}
	st := l.Stats()
	if st.Clients > maxClients || st.Clients < maxClients/2 {
		t.Fatalf("table holds %d clients, want at most %d and not nearly empty", st.Clients, maxClients)
	}
	if st.Evicted == 0 {
		t.Error("no eviction counted")
	}
	// Clients idle long enough to be full again are dropped before any
	// active one is evicted.
	clk.Add(5 * time.Second) // burst/rps: every bucket is full again
	before := l.Stats().Evicted
	for i := range 200 {
		l.Allow(fmt.Sprintf("172.16.%d.%d", i>>8, i&255))
		clk.Add(time.Millisecond)
	}
	if got := l.Stats().Evicted; got > before+200-maxClients {
		t.Errorf("evicted %d active clients while idle ones could go", got-before)
	}
}

func TestEvictedClientIsForgottenNotBlocked(t *testing.T) {
	clk := newClock()
	l := mustNew(t, Config{RPS: 1, Burst: 1, MaxClients: 16, Now: clk.Now})
	l.Allow("192.0.2.1")
	if ok, _ := l.Allow("192.0.2.1"); ok {
		t.Fatal("second request allowed with burst 1")
	}
	for i := range 1000 {
		l.Allow("203.0.113." + strconv.Itoa(i%256) + "/" + strconv.Itoa(i))
	}
	if l.Stats().Clients > 16 {
		t.Fatalf("bound broken: %d", l.Stats().Clients)
	}
}

func TestTrustedProxy(t *testing.T) {
	cases := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string
	}{
		{"default off ignores the header", nil, "10.0.0.1:80", []string{"203.0.113.9"}, "10.0.0.1"},
		{"untrusted peer's header ignored", []string{"10.0.0.0/8"}, "192.0.2.50:80", []string{"203.0.113.9"}, "192.0.2.50"},
		{"trusted proxy", []string{"10.0.0.0/8"}, "10.0.0.1:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged left part ignored", []string{"10.0.0.0/8"}, "10.0.0.1:80", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", []string{"10.0.0.0/8", "172.16.0.5"}, "10.0.0.1:80", []string{"203.0.113.9, 172.16.0.5", "10.1.1.1"}, "203.0.113.9"},
		{"garbled hop stops the walk", []string{"10.0.0.0/8"}, "10.0.0.1:80", []string{"203.0.113.9, bogus"}, "10.0.0.1"},
		{"no header", []string{"10.0.0.0/8"}, "10.0.0.1:80", nil, "10.0.0.1"},
		{"hop with port", []string{"10.0.0.1"}, "10.0.0.1:80", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6 client behind proxy", []string{"::1"}, "[::1]:80", []string{"2001:db8:aa:bb:1::2"}, "2001:db8:aa:bb::/64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, Config{RPS: 1, Burst: 1, TrustedProxies: tc.trusted})
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := l.Client(r); got != tc.want {
				t.Errorf("client %q, want %q", got, tc.want)
			}
		})
	}
	// Through the middleware: two users behind one trusted proxy have their
	// own buckets; behind an untrusted one they share the peer's.
	l := mustNew(t, Config{RPS: 1, Burst: 1, TrustedProxies: []string{"10.0.0.1"}, Now: newClock().Now})
	h := l.Wrap(ok)
	if serve(h, "10.0.0.1:1", "203.0.113.1").Code != 204 || serve(h, "10.0.0.1:1", "203.0.113.2").Code != 204 {
		t.Error("users behind the trusted proxy share a bucket")
	}
	if serve(h, "10.0.0.2:1", "203.0.113.3").Code != 204 || serve(h, "10.0.0.2:1", "203.0.113.4").Code != 429 {
		t.Error("an untrusted peer chose its bucket with X-Forwarded-For")
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{RPS: -1, Burst: 1}, {RPS: 1, Burst: 0}, {RPS: 1, Burst: 1, MaxClients: -1},
		{RPS: 1, Burst: 1, TrustedProxies: []string{"proxy.example"}},
		{RPS: 1, Burst: 1, TrustedProxies: []string{"10.0.0.0/33"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	l := mustNew(t, Config{}) // off
	if l.Enabled() {
		t.Error("rps 0 is enabled")
	}
	var called atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) })
	w := l.Wrap(h)
	for range 100 {
		serve(w, "192.0.2.1:1", "")
	}
	if called.Load() != 100 {
		t.Errorf("disabled limiter refused requests: %d of 100 passed", called.Load())
	}
	var nilL *Limiter
	if nilL.Wrap(ok) == nil {
		t.Error("nil limiter wrapped to nil")
	}
}

func TestConcurrentClients(t *testing.T) {
	clk := newClock()
	l := mustNew(t, Config{RPS: 1, Burst: 10, MaxClients: 256, Now: clk.Now})
	h := l.Wrap(ok)
	var wg sync.WaitGroup
	var passed [8]atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if serve(h, fmt.Sprintf("192.0.2.%d:1", g), "").Code == 204 {
					passed[g].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for g := range passed {
		if n := passed[g].Load(); n != 10 {
			t.Errorf("client %d passed %d of 50 in one instant, want exactly the burst (10)", g, n)
		}
	}
}

// BenchmarkAllow measures the limiter's cost per request with many clients
// in parallel (ns/op; clients/op is the table size at the end).
func BenchmarkAllow(b *testing.B) {
	l, _ := New(Config{RPS: 1e6, Burst: 1e6})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
	}
	var n atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1)) * 7919
		for pb.Next() {
			l.Allow(keys[i%len(keys)])
			i++
		}
	})
	b.ReportMetric(float64(l.Stats().Clients), "clients")
}
