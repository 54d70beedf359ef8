package signage_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/signage"
	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

var t0 = time.Date(2026, 12, 1, 14, 46, 0, 0, time.UTC)

var demoScreens = []signage.ScreenConfig{
	{ID: "shinagawa-konan", Name: "品川駅港南口", Area: "shibaura-konan", Languages: []string{"ja", "en", "zh", "ko"}},
	{ID: "akasaka", Name: "赤坂", Area: "akasaka", Languages: []string{"ja", "en"}},
}

// fixture is a Service on a real bolt store and in-memory bus.
type fixture struct {
	svc    *signage.Service
	alerts repo.Alerts
	states repo.Signage
	bus    *store.MemoryBus
	now    time.Time
	mu     sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newFixture(t testing.TB, opt signage.Options) *fixture {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := signage.NewRegistry(demoScreens, map[string]string{"akasaka": "akasaka-token-0123456789"}, true)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{alerts: repo.Alerts{B: db}, states: repo.Signage{B: db}, bus: store.NewMemoryBus(), now: t0}
	t.Cleanup(func() { f.bus.Close() })
	opt.Registry, opt.Store, opt.Alerts, opt.Bus, opt.Now = reg, f.states, f.alerts, f.bus, f.clock
	opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if f.svc, err = signage.New(opt); err != nil {
		t.Fatal(err)
	}
	return f
}

// putAlert stores an approved alert and returns its signage batch.
func (f *fixture) putAlert(t testing.TB, id string, drill bool, severity string, screens ...string) *alert.Batch {
	t.Helper()
	a := &alert.Alert{
		ID: id, Kind: alert.KindManual, Severity: severity, Drill: drill, Status: alert.StatusDispatching,
		Title: map[string]string{"ja": "地震 " + id, "en": "Earthquake " + id}, Body: map[string]string{"ja": "強い揺れに警戒", "en": "Strong shaking"},
		Target: alert.Target{All: true}, Channels: []string{alert.ChannelSignage}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	}
	if err := f.alerts.PutAlert(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	b := &alert.Batch{ID: alert.BatchID(id, alert.ChannelSignage, 0), AlertID: id, Channel: alert.ChannelSignage, Deadline: a.ExpiresAt}
	for _, s := range screens {
		b.Recipients = append(b.Recipients, alert.Recipient{ResidentID: "screen:" + s, Address: s})
	}
	return b
}

func (f *fixture) state(t *testing.T, id string) signage.State {
	t.Helper()
	st, err := f.states.GetScreen(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestNewRegistryNamesTheKey(t *testing.T) {
	ok := signage.ScreenConfig{ID: "a", Name: "A", Area: "shiba", Languages: []string{"ja"}}
	with := func(mod func(*signage.ScreenConfig)) []signage.ScreenConfig {
		c := ok
		mod(&c)
		return []signage.ScreenConfig{ok, c}
	}
	cases := []struct {
		name    string
		screens []signage.ScreenConfig
		tokens  map[string]string
		demo    bool
		want    string
	}{
		{"unknown area", with(func(c *signage.ScreenConfig) { c.ID, c.Area = "b", "shinjuku" }), nil, true, `signage.screens[1].area: unknown area "shinjuku"`},
		{"duplicate id", with(func(c *signage.ScreenConfig) {}), nil, true, `signage.screens[1].id: "a" is used twice`},
		{"bad id", with(func(c *signage.ScreenConfig) { c.ID = "Bad Id" }), nil, true, "signage.screens[1].id:"},
		{"reserved id", with(func(c *signage.ScreenConfig) { c.ID = "static" }), nil, true, "signage.screens[1].id: \"static\" is reserved"},
		{"no name", with(func(c *signage.ScreenConfig) { c.ID, c.Name = "b", " " }), nil, true, "signage.screens[1].name:"},
		{"no languages", with(func(c *signage.ScreenConfig) { c.ID, c.Languages = "b", nil }), nil, true, "signage.screens[1].languages:"},
		{"bad language", with(func(c *signage.ScreenConfig) { c.ID, c.Languages = "b", []string{"ja", "fr"} }), nil, true, "signage.screens[1].languages[1]: unknown language \"fr\""},
		{"bad hash", with(func(c *signage.ScreenConfig) { c.ID, c.TokenSHA256 = "b", "abc" }), nil, true, "signage.screens[1].token_sha256:"},
		{"no token outside sandbox", []signage.ScreenConfig{ok}, nil, false, "signage.screens[0]: screen \"a\" has no token"},
		{"token for unknown screen", []signage.ScreenConfig{ok}, map[string]string{"zz": "0123456789abcdefgh"}, true, `ANPI_SIGNAGE_TOKENS: names screen "zz"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := signage.NewRegistry(c.screens, c.tokens, c.demo)
			var ce *signage.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseTokensNeverQuotesATokenInErrors(t *testing.T) {
	m, err := signage.ParseTokens(" a=0123456789abcdefXYZ , b=.~_-0123456789abcdef ")
	if err != nil || m["a"] != "0123456789abcdefXYZ" || m["b"] != ".~_-0123456789abcdef" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"a", "a=", "=x", "a=short-secret", "a=0123456789abcdef;x", "a=0123456789abcdefg,a=0123456789abcdefh"} {
		_, err := signage.ParseTokens(bad)
		if err == nil {
			t.Fatalf("%q accepted", bad)
		}
		if _, tok, _ := strings.Cut(bad, "="); tok != "" && strings.Contains(err.Error(), tok) {
			t.Fatalf("error quotes the token: %v", err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	hash := "5f0f5b3d1e9ff1f2c4a93f1ef4d96c0a7f9b0b5e0d43ff5e1f8b5c3b8f6a5d11" // not any token's hash
	reg, err := signage.NewRegistry([]signage.ScreenConfig{
		{ID: "a", Name: "A", Area: "shiba", Languages: []string{"ja"}},
		{ID: "b", Name: "B", Area: "shiba", Languages: []string{"ja"}, TokenSHA256: "e3b9f9d0a5ec7f2e1c7a5c4b3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e"},
		{ID: "c", Name: "C", Area: "shiba", Languages: []string{"ja"}, TokenSHA256: hash},
	}, map[string]string{"a": "token-of-a-0123456789"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := reg.Authorize("a", "token-of-a-0123456789"); !ok || s.ID != "a" {
		t.Fatal("env token refused")
	}
	for _, c := range [][2]string{{"a", "token-of-a-012345678"}, {"a", ""}, {"a", "sandbox-signage-a"}, {"zz", "token-of-a-0123456789"}, {"c", "sandbox-signage-c"}} {
		if _, ok := reg.Authorize(c[0], c[1]); ok {
			t.Fatalf("%v accepted", c)
		}
	}
	// With a file hash the demo token does not apply; the env token would.
	reg2, _ := signage.NewRegistry([]signage.ScreenConfig{{ID: "d", Name: "D", Area: "shiba", Languages: []string{"ja"}}}, nil, true)
	if _, ok := reg2.Authorize("d", signage.DemoTokenPrefix+"d"); !ok {
		t.Fatal("sandbox demo token refused")
	}
}

func TestEndpoints(t *testing.T) {
	reg, err := signage.NewRegistry(demoScreens, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(tg alert.Target) string {
		eps, err := reg.Endpoints(context.Background(), tg)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range eps {
			if e.ID != "screen:"+e.Address || e.Language != "ja" {
				t.Fatalf("endpoint %+v", e)
			}
			out = append(out, e.Address)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		t    alert.Target
		want string
	}{
		{alert.Target{All: true}, "shinagawa-konan,akasaka"},
		{alert.Target{Areas: []string{"akasaka"}}, "akasaka"},
		{alert.Target{Areas: []string{"shiba", "azabu"}}, ""},
		{alert.Target{All: true, Tags: []string{"needs_support"}}, ""},
		{alert.Target{All: true, ResidentIDs: []string{"r1"}}, ""},
		{alert.Target{All: true, Languages: []string{"zh"}}, "shinagawa-konan"},
	} {
		if got := ids(c.t); got != c.want {
			t.Fatalf("%+v: %q, want %q", c.t, got, c.want)
		}
	}
}

func TestStateOrderPruneAndTombstones(t *testing.T) {
	var s signage.State
	c := func(id, sev string, drill bool, issued time.Duration, ttl time.Duration) signage.Content {
		return signage.Content{AlertID: id, Severity: sev, Drill: drill, IssuedAt: t0.Add(issued), ExpiresAt: t0.Add(ttl)}
	}
	s.Add(c("drill-extreme", "extreme", true, 0, time.Hour), t0)
	s.Add(c("minor", "minor", false, time.Minute, time.Hour), t0)
	s.Add(c("severe-old", "severe", false, 0, 10*time.Minute), t0)
	s.Add(c("severe-new", "severe", false, time.Minute, time.Hour), t0)
	var order []string
	for _, a := range s.Alerts {
		order = append(order, a.AlertID)
	}
	if got := strings.Join(order, ","); got != "severe-new,severe-old,minor,drill-extreme" {
		t.Fatalf("order %s: live before drill, then severity, then newest", got)
	}
	v := s.Version
	if added, changed := s.Add(c("minor", "minor", false, time.Minute, time.Hour), t0); added || changed || s.Version != v {
		t.Fatal("adding an alert twice changed the state")
	}
	if added, _ := s.Add(c("expired", "severe", false, 0, 0), t0); added {
		t.Fatal("an expired alert was added")
	}
	if n := len(s.Active(t0.Add(11 * time.Minute))); n != 3 {
		t.Fatalf("active after 11m: %d", n)
	}
	if removed, _ := s.Clear("minor", t0.Add(time.Hour), t0); !removed || s.Has("minor") {
		t.Fatal("clear did not remove")
	}
	if added, _ := s.Add(c("minor", "minor", false, time.Minute, time.Hour), t0); added {
		t.Fatal("a withdrawn alert came back")
	}
	// A withdrawal that overtakes the delivery blocks it too.
	if removed, changed := s.Clear("late", t0.Add(time.Hour), t0); removed || !changed {
		t.Fatal("tombstone for an alert not shown yet")
	}
	if added, _ := s.Add(c("late", "severe", false, 0, time.Hour), t0); added {
		t.Fatal("a cancelled alert was put on after its withdrawal")
	}
	// Past expiry, alerts and tombstones go.
	if _, changed := s.Add(c("next", "minor", false, 2*time.Hour, 3*time.Hour), t0.Add(2*time.Hour)); !changed || len(s.Alerts) != 1 || len(s.Cleared) != 0 {
		t.Fatalf("not pruned: %+v", s)
	}
}

func TestSendIsIdempotentAndRespectsWithdrawal(t *testing.T) {
	f := newFixture(t, signage.Options{})
	ctx := context.Background()
	sub, unsub, _ := f.bus.Subscribe(ctx, signage.Topic)
	defer unsub()
	b := f.putAlert(t, "al_1", false, "severe", "akasaka", "gone-screen")
	outs, err := f.svc.Send(ctx, b)
	if err != nil || len(outs) != 2 || outs[0].Err != nil || alert.IsRetryable(outs[1].Err) || outs[1].Err == nil {
		t.Fatalf("send: %v %+v", err, outs)
	}
	st := f.state(t, "akasaka")
	if len(st.Alerts) != 1 || st.Alerts[0].AlertID != "al_1" || st.Alerts[0].Title["en"] != "Earthquake al_1" || st.Version != 1 {
		t.Fatalf("state %+v", st)
	}
	if n := <-sub; !strings.Contains(string(n), `"akasaka"`) {
		t.Fatalf("notice %s", n)
	}
	// Re-delivery (a retry after a crash) is a no-op: same version, no notice.
	if outs, err := f.svc.Send(ctx, b); err != nil || outs[0].Err != nil {
		t.Fatalf("resend: %v %+v", err, outs)
	}
	if st := f.state(t, "akasaka"); st.Version != 1 || len(st.Alerts) != 1 {
		t.Fatalf("resend changed the state: %+v", st)
	}
	select {
	case n := <-sub:
		t.Fatalf("resend notified: %s", n)
	default:
	}
	if got := f.state(t, "shinagawa-konan"); len(got.Alerts) != 0 {
		t.Fatal("screen outside the batch got the alert")
	}

	// Withdrawn, it stays withdrawn even if delivered again.
	if err := f.svc.Clear(ctx, "al_1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := <-sub; !strings.Contains(string(n), `"cleared":["al_1"]`) {
		t.Fatalf("clear notice %s", n)
	}
	f.svc.Send(ctx, b)
	if st := f.state(t, "akasaka"); st.Has("al_1") {
		t.Fatal("withdrawn alert came back")
	}

	// A cancelled or expired alert is refused, not retried.
	b2 := f.putAlert(t, "al_2", true, "minor", "akasaka")
	f.alerts.UpdateAlert(ctx, "al_2", func(a *alert.Alert) error { a.Status = alert.StatusCancelled; return nil })
	if _, err := f.svc.Send(ctx, b2); err == nil || alert.IsRetryable(err) {
		t.Fatalf("cancelled alert: %v", err)
	}
	b3 := f.putAlert(t, "al_3", false, "minor", "akasaka")
	f.advance(2 * time.Hour)
	if _, err := f.svc.Send(ctx, b3); err == nil || alert.IsRetryable(err) {
		t.Fatalf("expired alert: %v", err)
	}
}

func TestWatchWithdrawsCancelledAlerts(t *testing.T) {
	f := newFixture(t, signage.Options{})
	ctx := context.Background()
	b := f.putAlert(t, "al_1", false, "severe", "akasaka", "shinagawa-konan")
	f.svc.Send(ctx, b)
	var got []string
	next := publisherFunc(func(topic, key string, v any) { got = append(got, topic+"/"+key) })
	pub := f.svc.Watch(next)
	view := alert.View{ID: "al_1", Status: alert.StatusDispatching, Channels: []string{"line", "signage"}, ExpiresAt: t0.Add(time.Hour)}
	pub.Publish("alerts", "al_1", view)
	if st := f.state(t, "akasaka"); !st.Has("al_1") {
		t.Fatal("withdrawn while dispatching")
	}
	view.Status = alert.StatusCancelled
	pub.Publish("alerts", "al_1", view)
	if a, s := f.state(t, "akasaka"), f.state(t, "shinagawa-konan"); a.Has("al_1") || s.Has("al_1") {
		t.Fatal("cancelled alert still on a screen")
	}
	if len(got) != 2 {
		t.Fatalf("changes not passed on: %v", got)
	}
}

type publisherFunc func(topic, key string, v any)

func (p publisherFunc) Publish(topic, key string, v any) { p(topic, key, v) }

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Name string
	Data string
}

// readEvents reads SSE events from body into a channel until it ends.
func readEvents(body io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

// next returns the next event that is not a ping.
func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.Name != "ping" {
				return ev
			}
		case <-timeout:
			t.Fatal("no event")
		}
	}
}

type stateEvent struct {
	Screen struct {
		ID        string
		Languages []string
	}
	Version int64
	Alerts  []signage.Content
}

func TestHandlerStreamsLive(t *testing.T) {
	f := newFixture(t, signage.Options{Heartbeat: 200 * time.Millisecond, Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := http.NewServeMux()
	mux.Handle("GET /signage/", f.svc.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	srv.Config.RegisterOnShutdown(f.svc.Shutdown)
	go f.svc.Run(ctx)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Bad token, unknown screen, no token: 401 and no screen data.
	for _, p := range []string{"/signage/akasaka?token=wrong-token-0123456789", "/signage/nowhere?token=akasaka-token-0123456789", "/signage/akasaka", "/signage/akasaka/events"} {
		resp, err := noRedirect.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || strings.Contains(string(body), "赤坂") || strings.Contains(string(body), "akasaka") {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	// First visit with the token: cookie set, token dropped from the URL.
	resp, err := noRedirect.Get(srv.URL + "/signage/akasaka?token=akasaka-token-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/signage/akasaka" || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].Path != "/signage/akasaka" {
		t.Fatalf("token visit: %d %v %+v", resp.StatusCode, resp.Header, cookies)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/signage/akasaka", nil)
	req.AddCookie(cookies[0])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "/signage/static/signage.js") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	for _, a := range []string{"signage.js", "signage.css"} {
		resp, err := http.Get(srv.URL + "/signage/static/" + a)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("asset %s: %v %v", a, err, resp.StatusCode)
		}
		resp.Body.Close()
	}

	// The stream: whole state first, then changes, cleared, pings.
	req, _ = http.NewRequest("GET", srv.URL+"/signage/akasaka/events", nil)
	req.AddCookie(cookies[0])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	evs := readEvents(resp.Body)
	var st stateEvent
	ev := next(t, evs)
	if ev.Name != "state" || json.Unmarshal([]byte(ev.Data), &st) != nil || st.Screen.ID != "akasaka" || len(st.Alerts) != 0 {
		t.Fatalf("first event %+v", ev)
	}
	b := f.putAlert(t, "al_1", true, "severe", "akasaka")
	if _, err := f.svc.Send(ctx, b); err != nil {
		t.Fatal(err)
	}
	ev = next(t, evs)
	st = stateEvent{}
	if ev.Name != "state" || json.Unmarshal([]byte(ev.Data), &st) != nil || len(st.Alerts) != 1 || !st.Alerts[0].Drill || st.Alerts[0].Title["ja"] != "地震 al_1" {
		t.Fatalf("after send %+v", ev)
	}
	// A heartbeat arrives while nothing changes.
	deadline := time.After(10 * time.Second)
	for ping := false; !ping; {
		select {
		case ev := <-evs:
			ping = ev.Name == "ping"
		case <-deadline:
			t.Fatal("no ping")
		}
	}
	if err := f.svc.Clear(ctx, "al_1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ev = next(t, evs); ev.Name != "cleared" || !strings.Contains(ev.Data, `"al_1"`) {
		t.Fatalf("after clear %+v", ev)
	}
	if ev = next(t, evs); ev.Name != "state" || strings.Contains(ev.Data, "al_1") {
		t.Fatalf("state after clear %+v", ev)
	}
	// Shutdown ends the stream, so http.Server.Shutdown does not hang.
	f.svc.Shutdown()
	for range evs {
	}
	if f.svc.Clients() != 0 {
		t.Fatalf("%d clients after shutdown", f.svc.Clients())
	}
}

func TestResyncDropsExpiredAndMissedCancellation(t *testing.T) {
	f := newFixture(t, signage.Options{Heartbeat: time.Hour, Resync: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := http.NewServeMux()
	mux.Handle("GET /signage/", f.svc.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer f.svc.Shutdown()
	b1 := f.putAlert(t, "al_1", false, "severe", "akasaka")
	b2 := f.putAlert(t, "al_2", false, "minor", "akasaka")
	f.alerts.UpdateAlert(ctx, "al_2", func(a *alert.Alert) error { a.ExpiresAt = t0.Add(10 * time.Minute); return nil })
	f.svc.Send(ctx, b1)
	f.svc.Send(ctx, b2)
	resp, err := http.Get(srv.URL + "/signage/akasaka/events?token=akasaka-token-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs := readEvents(resp.Body)
	if ev := next(t, evs); !strings.Contains(ev.Data, "al_1") || !strings.Contains(ev.Data, "al_2") {
		t.Fatalf("first %+v", ev)
	}
	go f.svc.Run(ctx)
	// al_2 expires: the next resync sends a state without it.
	f.advance(11 * time.Minute)
	if ev := next(t, evs); ev.Name != "state" || strings.Contains(ev.Data, "al_2") || !strings.Contains(ev.Data, "al_1") {
		t.Fatalf("after expiry %+v", ev)
	}
	// al_1 is cancelled but nobody told signage (a crash between the status
	// change and its notice): the resync withdraws it.
	f.alerts.UpdateAlert(ctx, "al_1", func(a *alert.Alert) error { a.Status = alert.StatusCancelled; return nil })
	if ev := next(t, evs); ev.Name != "cleared" || !strings.Contains(ev.Data, "al_1") {
		t.Fatalf("after missed cancel %+v", ev)
	}
}

func TestStateKeepsTheMostImportantWhenFull(t *testing.T) {
	var s signage.State
	for i := range signage.MaxAlerts {
		if added, _ := s.Add(signage.Content{AlertID: fmt.Sprintf("al_%02d", i), Severity: "minor", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0); !added {
			t.Fatalf("alert %d not added", i)
		}
	}
	v := s.Version
	// A drill is less important than every live alert shown: refused, nothing changes.
	if added, changed := s.Add(signage.Content{AlertID: "al_99", Drill: true, Severity: "extreme", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0); added || changed || s.Version != v {
		t.Fatal("a drill displaced a live alert on a full screen")
	}
	// A newer alert of the same severity displaces the oldest.
	if added, _ := s.Add(signage.Content{AlertID: "al_50", Severity: "minor", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0); !added || len(s.Alerts) != signage.MaxAlerts || s.Alerts[0].AlertID != "al_50" || s.Has("al_00") {
		t.Fatalf("full screen: %d alerts, first %s", len(s.Alerts), s.Alerts[0].AlertID)
	}
}
