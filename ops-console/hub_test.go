package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/minato-city/anpi/httpapi"
)

// hubTestWait bounds every wait in these tests. It is a failure timeout, not
// a speed assertion: healthy runs finish in milliseconds.
const hubTestWait = 10 * time.Second

// hubTestAuthorize reads the allowed topics from the X-Topics header;
// "X-Test-Auth: forbidden" answers 403, a missing header 401.
func hubTestAuthorize(r *http.Request) ([]string, error) {
	switch r.Header.Get("X-Test-Auth") {
	case "":
		return nil, errors.New("no credentials")
	case "forbidden":
		return nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "role too low")
	}
	return strings.Split(r.Header.Get("X-Topics"), ","), nil
}

type hubTestEnv struct {
	hub *Hub
	srv *httptest.Server
}

func hubTestStart(t testing.TB, opts HubOptions) *hubTestEnv {
	t.Helper()
	if opts.Authorize == nil {
		opts.Authorize = hubTestAuthorize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := NewHub(opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hubTestWait)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
		srv.Close()
	})
	return &hubTestEnv{hub: h, srv: srv}
}

func (e *hubTestEnv) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") }

// dial connects with the given topics (auth "ok") or extra headers.
func (e *hubTestEnv) dial(t testing.TB, topics string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	if hdr.Get("X-Test-Auth") == "" && topics != "" {
		hdr.Set("X-Test-Auth", "ok")
	}
	hdr.Set("X-Topics", topics)
	d := websocket.Dialer{HandshakeTimeout: hubTestWait}
	c, resp, err := d.Dial(e.wsURL(), hdr)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// mustDial connects and reads the snapshot frame.
func (e *hubTestEnv) mustDial(t testing.TB, topics string) (*websocket.Conn, Frame) {
	t.Helper()
	c, _, err := e.dial(t, topics, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	f := hubTestRead(t, c)
	if f.Type != FrameSnapshot {
		t.Fatalf("first frame type = %q, want snapshot", f.Type)
	}
	return c, f
}

func hubTestRead(t testing.TB, c *websocket.Conn) Frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(hubTestWait))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode frame %q: %v", b, err)
	}
	return f
}

func hubTestData(t testing.TB, f Frame) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(f.Data, &m); err != nil {
		t.Fatalf("decode data %s: %v", f.Data, err)
	}
	return m
}

// hubTestMarker publishes a marker on topic and flushes; the caller reads
// frames until the marker to prove which frames came before it.
func hubTestMarker(h *Hub, topic string) {
	h.Publish(topic, "marker", true)
	h.hubFlush()
}

func TestHubSnapshotThenDeltas(t *testing.T) {
	e := hubTestStart(t, HubOptions{
		Snapshot: func(_ context.Context, topics []string) (map[string]any, error) {
			return map[string]any{
				"alerts": map[string]any{"a1": map[string]string{"status": "queued"}},
			}, nil
		},
	})
	c, snap := e.mustDial(t, "alerts,safety")
	data := hubTestData(t, snap)
	if got := string(data["alerts"]); got != `{"a1":{"status":"queued"}}` {
		t.Errorf("snapshot alerts = %s", got)
	}
	if got := string(data["safety"]); got != `{}` {
		t.Errorf("snapshot safety = %s, want {} for a topic without state", got)
	}

	e.hub.Publish("alerts", "a1", map[string]string{"status": "completed"})
	e.hub.hubFlush()
	d := hubTestRead(t, c)
	if d.Type != FrameDelta || d.Topic != "alerts" {
		t.Fatalf("frame = %+v, want alerts delta", d)
	}
	if d.Seq <= snap.Seq {
		t.Errorf("delta seq %d not after snapshot seq %d", d.Seq, snap.Seq)
	}
	if got := string(hubTestData(t, d)["a1"]); got != `{"status":"completed"}` {
		t.Errorf("delta a1 = %s", got)
	}
	if e.hub.Clients() != 1 {
		t.Errorf("Clients() = %d, want 1", e.hub.Clients())
	}
}

func TestHubCoalesce(t *testing.T) {
	tests := []struct {
		name    string
		publish func(h *Hub)
		want    []string // expected frames before the marker: topic + " " + data
	}{
		{
			name: "1000 updates of one key make one frame with the last value",
			publish: func(h *Hub) {
				for i := range 1000 {
					h.Publish("alerts", "a1", i)
				}
			},
			want: []string{`alerts {"a1":999}`},
		},
		{
			name: "several keys share one frame per topic",
			publish: func(h *Hub) {
				for i := range 1000 {
					h.Publish("alerts", fmt.Sprintf("a%d", i%3), i)
				}
			},
			want: []string{`alerts {"a0":999,"a1":997,"a2":998}`},
		},
		{
			name: "one frame per topic",
			publish: func(h *Hub) {
				h.Publish("alerts", "a1", 1)
				h.Publish("facilities", "f1", 2)
				h.Publish("alerts", "a1", 3)
			},
			want: []string{`alerts {"a1":3}`, `facilities {"f1":2}`},
		},
		{
			name: "nil removes, unencodable values are left out, empty names ignored",
			publish: func(h *Hub) {
				h.Publish("alerts", "gone", nil)
				h.Publish("alerts", "bad", func() {})
				h.Publish("alerts", "ok", "x")
				h.Publish("", "k", 1)
				h.Publish("alerts", "", 1)
			},
			want: []string{`alerts {"gone":null,"ok":"x"}`},
		},
		{
			name:    "nothing published sends nothing",
			publish: func(*Hub) {},
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := hubTestStart(t, HubOptions{})
			c, _ := e.mustDial(t, "alerts,facilities,end")
			tt.publish(e.hub)
			e.hub.hubFlush()
			hubTestMarker(e.hub, "end")

			var got []string
			var last uint64
			for {
				f := hubTestRead(t, c)
				if f.Seq <= last {
					t.Errorf("seq %d after %d", f.Seq, last)
				}
				last = f.Seq
				if f.Topic == "end" {
					break
				}
				got = append(got, f.Topic+" "+string(f.Data))
			}
			// Topics of one flush come in map order.
			if len(got) == 2 && got[0] > got[1] {
				got[0], got[1] = got[1], got[0]
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("frames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestHubRunFlushes(t *testing.T) {
	e := hubTestStart(t, HubOptions{FlushInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.hub.Run(ctx)
	c, _ := e.mustDial(t, "feed")
	for i := range 1000 {
		e.hub.Publish("feed", "f", i)
	}
	frames := 0
	for {
		f := hubTestRead(t, c)
		frames++
		if string(hubTestData(t, f)["f"]) == "999" {
			break
		}
	}
	// Each flush carries one frame; publishing 1000 values cannot take
	// anywhere near 1000 windows, so far fewer frames than updates arrive.
	if frames >= 1000 {
		t.Errorf("got %d frames for 1000 updates: not coalesced", frames)
	}
}

func TestHubTopicFiltering(t *testing.T) {
	e := hubTestStart(t, HubOptions{
		Snapshot: func(_ context.Context, topics []string) (map[string]any, error) {
			// Answers more than asked: the hub must filter.
			return map[string]any{
				"alerts":   map[string]int{"a": 1},
				"safety":   map[string]int{"s": 1},
				"signage:": map[string]int{"x": 1},
			}, nil
		},
	})
	a, snapA := e.mustDial(t, "alerts,,alerts,end")
	b, snapB := e.mustDial(t, "alerts,safety,end")

	if got := hubTestData(t, snapA); len(got) != 2 || got["alerts"] == nil || got["end"] == nil {
		t.Errorf("client A snapshot topics = %s, want alerts and end only", snapA.Data)
	}
	if got := hubTestData(t, snapB); len(got) != 3 || got["safety"] == nil {
		t.Errorf("client B snapshot topics = %s, want alerts, safety, end", snapB.Data)
	}

	e.hub.Publish("safety", "s", 2)
	e.hub.hubFlush()
	hubTestMarker(e.hub, "end")
	if f := hubTestRead(t, a); f.Topic != "end" {
		t.Errorf("client A got %s frame before marker, want none", f.Topic)
	}
	if f := hubTestRead(t, b); f.Topic != "safety" {
		t.Errorf("client B got %s frame, want safety", f.Topic)
	}
}

func TestHubRefusesBeforeUpgrade(t *testing.T) {
	tests := []struct {
		name     string
		hdr      http.Header
		wantCode int
		wantErr  string
	}{
		{"no credentials", http.Header{}, http.StatusUnauthorized, `"code":"unauthorized"`},
		{"forbidden", http.Header{"X-Test-Auth": {"forbidden"}}, http.StatusForbidden, `"code":"forbidden"`},
		{"foreign origin", http.Header{"X-Test-Auth": {"ok"}, "Origin": {"https://evil.example"}}, http.StatusForbidden, `"error"`},
		{"unparsable origin", http.Header{"X-Test-Auth": {"ok"}, "Origin": {"::"}}, http.StatusForbidden, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := hubTestStart(t, HubOptions{})
			c, resp, err := e.dial(t, "", tt.hdr)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded, want refusal")
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantCode)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), tt.wantErr) {
				t.Errorf("body = %s, want it to contain %s", body, tt.wantErr)
			}
			if n := e.hub.Clients(); n != 0 {
				t.Errorf("Clients() = %d after refusal", n)
			}
		})
	}
}

func TestHubOriginAllowed(t *testing.T) {
	tests := []struct {
		name   string
		origin func(srvURL string) string
	}{
		{"no origin (CLI)", func(string) string { return "" }},
		{"same origin", func(u string) string { return u }},
		{"configured public origin", func(string) string { return "https://anpi.city.minato.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := hubTestStart(t, HubOptions{AllowedOrigins: []string{"https://anpi.city.minato.example/"}})
			hdr := http.Header{}
			if o := tt.origin(e.srv.URL); o != "" {
				hdr.Set("Origin", o)
			}
			c, _, err := e.dial(t, "alerts", hdr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if f := hubTestRead(t, c); f.Type != FrameSnapshot {
				t.Errorf("first frame %q, want snapshot", f.Type)
			}
		})
	}
}

// TestHubSnapshotOrdering holds the snapshot while a delta is flushed: the
// client must get the snapshot first and the delta after it.
func TestHubSnapshotOrdering(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	e := hubTestStart(t, HubOptions{
		Snapshot: func(_ context.Context, _ []string) (map[string]any, error) {
			close(entered)
			<-release
			return map[string]any{"alerts": map[string]string{"a1": "old"}}, nil
		},
	})
	type result struct {
		c   *websocket.Conn
		err error
	}
	dialed := make(chan result, 1)
	go func() {
		d := websocket.Dialer{HandshakeTimeout: hubTestWait}
		c, _, err := d.Dial(e.wsURL(), http.Header{"X-Test-Auth": {"ok"}, "X-Topics": {"alerts"}})
		dialed <- result{c, err}
	}()
	select {
	case <-entered: // registered, snapshot in progress
	case <-time.After(hubTestWait):
		t.Fatal("snapshot never requested")
	}
	e.hub.Publish("alerts", "a1", "new")
	e.hub.hubFlush()
	close(release)
	r := <-dialed
	if r.err != nil {
		t.Fatalf("dial: %v", r.err)
	}
	defer r.c.Close()
	snap := hubTestRead(t, r.c)
	if snap.Type != FrameSnapshot {
		t.Fatalf("first frame %q, want snapshot", snap.Type)
	}
	d := hubTestRead(t, r.c)
	if d.Type != FrameDelta || string(hubTestData(t, d)["a1"]) != `"new"` || d.Seq <= snap.Seq {
		t.Errorf("second frame = %+v (data %s), want delta a1=new after snapshot seq %d", d, d.Data, snap.Seq)
	}
}

func TestHubSnapshotErrorCloses(t *testing.T) {
	e := hubTestStart(t, HubOptions{
		Snapshot: func(context.Context, []string) (map[string]any, error) {
			return nil, errors.New("store down")
		},
	})
	c, _, err := e.dial(t, "alerts", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(hubTestWait))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseInternalServerErr) {
		t.Errorf("read error = %v, want close 1011", err)
	}
}

func TestHubSlowClientDropped(t *testing.T) {
	e := hubTestStart(t, HubOptions{ClientQueue: 2, WriteTimeout: 2 * time.Second})
	slow, _ := e.mustDial(t, "alerts")
	fast, _ := e.mustDial(t, "alerts")

	fastFrames := make(chan Frame)
	fastErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := fast.ReadMessage()
			if err != nil {
				fastErr <- err
				return
			}
			var f Frame
			if err := json.Unmarshal(b, &f); err != nil {
				fastErr <- err
				return
			}
			fastFrames <- f
		}
	}()
	recvFast := func(i int) {
		t.Helper()
		select {
		case f := <-fastFrames:
			var v struct{ N int }
			if err := json.Unmarshal(hubTestData(t, f)["k"], &v); err != nil || v.N != i {
				t.Fatalf("fast client frame %d: %s", i, f.Data)
			}
		case err := <-fastErr:
			t.Fatalf("fast client: %v", err)
		case <-time.After(hubTestWait):
			t.Fatalf("fast client got no frame %d", i)
		}
	}

	// Frames big enough to fill the socket buffers of a client that never
	// reads; then its queue (2 frames) fills and the hub must drop it.
	pad := strings.Repeat("x", 256<<10)
	i := 0
	for ; e.hub.Stats().SlowDropped == 0; i++ {
		if i > 2000 {
			t.Fatalf("slow client not dropped after %d frames of %d bytes", i, len(pad))
		}
		e.hub.Publish("alerts", "k", struct {
			N   int
			Pad string
		}{i, pad})
		e.hub.hubFlush()
		recvFast(i)
	}
	t.Logf("slow client dropped after %d frames", i)
	// The fast client keeps receiving after the drop.
	for j := i; j < i+3; j++ {
		e.hub.Publish("alerts", "k", struct{ N int }{j})
		e.hub.hubFlush()
		recvFast(j)
	}
	if got := e.hub.Stats().SlowDropped; got != 1 {
		t.Errorf("SlowDropped = %d, want 1", got)
	}
	// The slow client's connection ends once it reads what was buffered.
	_ = slow.SetReadDeadline(time.Now().Add(hubTestWait))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("slow client still connected: %v", err)
			}
			break
		}
	}
	deadline := time.Now().Add(hubTestWait)
	for e.hub.Clients() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Clients() = %d, want 1 after the drop", e.hub.Clients())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHubCloseSendsGoingAway(t *testing.T) {
	e := hubTestStart(t, HubOptions{})
	var conns []*websocket.Conn
	for range 3 {
		c, _ := e.mustDial(t, "alerts")
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(hubTestWait))
			_, _, errs[i] = c.ReadMessage()
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), hubTestWait)
	defer cancel()
	if err := e.hub.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "server shutting down" {
			t.Errorf("client %d: %v, want close 1001 server shutting down", i, err)
		}
	}
	if n := e.hub.Clients(); n != 0 {
		t.Errorf("Clients() = %d after Close", n)
	}
	// New connections are refused once closed.
	_, resp, err := e.dial(t, "alerts", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: err %v, resp %v; want 503", err, resp)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

func TestHubCloseBoundedByContext(t *testing.T) {
	e := hubTestStart(t, HubOptions{})
	// A raw client that never answers the close frame and never reads.
	c, _ := e.mustDial(t, "alerts")
	_ = c
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already expired: Close must not wait for the peer
	err := e.hub.Close(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close with expired ctx = %v, want context.Canceled", err)
	}
}

// hubBenchClients registers n in-process clients (no network) whose queues
// are drained by goroutines that call done once per frame.
func hubBenchClients(b *testing.B, h *Hub, n int, done *sync.WaitGroup) {
	b.Helper()
	for range n {
		c := &hubClient{topics: []string{"alerts"}, queue: make(chan hubItem, h.opts.ClientQueue), done: make(chan struct{})}
		if !h.hubRegister(c) {
			b.Fatal("register refused")
		}
		go func() {
			for {
				select {
				case <-c.queue:
					done.Done()
				case <-c.done:
					return
				}
			}
		}()
		b.Cleanup(func() { c.stop(0, ""); h.hubUnregister(c) })
	}
}

// BenchmarkBroadcast measures one coalesced delta fanned out to in-process
// clients: one encode, one queue send per client. allocs/op is per broadcast
// and must not grow with the number of clients.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			h := NewHub(HubOptions{Authorize: hubTestAuthorize, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			var done sync.WaitGroup
			hubBenchClients(b, h, n, &done)
			v := map[string]any{"id": "a1", "status": "dispatching", "counts": map[string]int{"planned": 270000, "sent": 1234}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				done.Add(n)
				h.Publish("alerts", "a1", v)
				h.hubFlush()
				done.Wait()
			}
			if d := h.Stats().SlowDropped; d != 0 {
				b.Fatalf("%d clients dropped during the benchmark", d)
			}
		})
	}
}

// BenchmarkBroadcastWebSocket is the same over real loopback connections:
// an op ends when every client has read the frame.
func BenchmarkBroadcastWebSocket(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			e := hubTestStart(b, HubOptions{ClientQueue: 256})
			var got sync.WaitGroup
			for range n {
				c, _ := e.mustDial(b, "alerts")
				_ = c.SetReadDeadline(time.Time{})
				go func() {
					for {
						if _, _, err := c.NextReader(); err != nil {
							return
						}
						got.Done()
					}
				}()
			}
			v := map[string]any{"id": "a1", "status": "dispatching"}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got.Add(n)
				h := e.hub
				h.Publish("alerts", "a1", v)
				h.hubFlush()
				got.Wait()
			}
			b.StopTimer()
			if d := e.hub.Stats().SlowDropped; d != 0 {
				b.Fatalf("%d clients dropped during the benchmark", d)
			}
		})
	}
}
