package line_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/line"
	"github.com/minato-city/anpi/sandbox"
)

// token is distinctive so a leak into any error string is easy to spot.
const token = "tok-SECRET-7f3a9c1e-do-not-leak"

// setup starts a LINE simulator and a Sender pointed at it.
func setup(t testing.TB, cfg sandbox.LINEConfig, timeout time.Duration) (*sandbox.LINE, *httptest.Server, *line.Sender) {
	t.Helper()
	if cfg.AccessToken == "" {
		cfg.AccessToken = token
	}
	sim := sandbox.NewLINE(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	s, err := line.New(line.Config{Endpoint: srv.URL, AccessToken: token, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return sim, srv, s
}

// batch returns a batch of n recipients with a fresh retry key.
func batch(from, n int) *alert.Batch {
	b := &alert.Batch{
		ID: "a1/line/0", AlertID: "a1", Channel: alert.ChannelLINE, Language: "ja",
		Text:     "【港区】震度5強の地震。無事ですか？\n{link}",
		RetryKey: uuid.NewString(),
		QuickReplies: []alert.QuickReply{
			{Label: "無事です", Data: "a=safe"},
			{Label: "助けが必要", Data: "a=help"},
		},
	}
	for i := range n {
		id := fmt.Sprintf("U%032x", from+i)
		b.Recipients = append(b.Recipients, alert.Recipient{ResidentID: "r" + id, Address: id, Link: "https://x/r/" + id})
	}
	return b
}

func TestNew(t *testing.T) {
	if _, err := line.New(line.Config{}); err == nil {
		t.Error("New without token: no error")
	}
	if _, err := line.New(line.Config{AccessToken: token, Endpoint: "::not a url"}); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("New with bad endpoint: %v", err)
	}
	s, err := line.New(line.Config{AccessToken: token})
	if err != nil {
		t.Fatal(err)
	}
	if s.Channel() != alert.ChannelLINE || s.Cost(batch(0, 500)) != 1 {
		t.Errorf("Channel %q Cost %d", s.Channel(), s.Cost(batch(0, 500)))
	}
}

func TestSendDelivers(t *testing.T) {
	sim, _, s := setup(t, sandbox.LINEConfig{}, 0)
	b := batch(0, 3)
	out, err := s.Send(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d outcomes, want 3", len(out))
	}
	for i, o := range out {
		if o.Err != nil || o.ProviderID != out[0].ProviderID {
			t.Errorf("outcome %d = %+v", i, o)
		}
	}
	if _, err := uuid.Parse(out[0].ProviderID); err != nil {
		t.Errorf("ProviderID %q is not LINE's request id", out[0].ProviderID)
	}
	for _, r := range b.Recipients {
		if n := sim.Delivered(r.Address); n != 1 {
			t.Errorf("Delivered(%s) = %d", r.Address, n)
		}
		msgs := sim.LastMessages(r.Address)
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		m := msgs[0]
		if m.Text != "【港区】震度5強の地震。無事ですか？" || m.RequestID != out[0].ProviderID {
			t.Errorf("message %+v", m)
		}
		want := []sandbox.LINEQuickReply{
			{Type: "postback", Label: "無事です", Data: "a=safe", DisplayText: "無事です"},
			{Type: "postback", Label: "助けが必要", Data: "a=help", DisplayText: "助けが必要"},
		}
		if fmt.Sprint(m.QuickReplies) != fmt.Sprint(want) {
			t.Errorf("quick replies %+v, want %+v", m.QuickReplies, want)
		}
	}
}

func TestSendNoQuickReplies(t *testing.T) {
	sim, _, s := setup(t, sandbox.LINEConfig{}, 0)
	b := batch(0, 1)
	b.QuickReplies = nil
	if _, err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if m := sim.LastMessages(b.Recipients[0].Address); len(m) != 1 || len(m[0].QuickReplies) != 0 {
		t.Errorf("messages %+v", m)
	}
}

func TestSendRepeatIsSuccessDeliveredOnce(t *testing.T) {
	sim, _, s := setup(t, sandbox.LINEConfig{}, 0)
	b := batch(0, 50)
	first, err := s.Send(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // a retry after a lost response, a replay after a crash
		again, err := s.Send(context.Background(), b)
		if err != nil {
			t.Fatalf("repeat: %v", err)
		}
		for i, o := range again {
			if o.Err != nil || o.ProviderID != first[0].ProviderID {
				t.Errorf("repeat outcome %d = %+v, want the first request id %s", i, o, first[0].ProviderID)
			}
		}
	}
	for _, r := range b.Recipients {
		if n := sim.Delivered(r.Address); n != 1 {
			t.Errorf("Delivered(%s) = %d, want 1", r.Address, n)
		}
	}
	if st := sim.Stats(); st.Conflicts != 2 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		cfg       sandbox.LINEConfig
		timeout   time.Duration
		prime     bool // send one batch first (to use up the rate)
		n         int
		token     string // a Sender token other than the simulator's
		status    int
		retryable bool
		quota     bool
		retryAt   bool // RetryAfter must be > 0
		msg       string
	}{
		{name: "rate limited", cfg: sandbox.LINEConfig{MulticastRPS: 1}, prime: true, n: 2,
			status: 429, retryable: true, retryAt: true, msg: "Too many requests"},
		{name: "monthly quota", cfg: sandbox.LINEConfig{MonthlyQuota: 3}, n: 4,
			status: 429, quota: true, msg: "monthly limit"},
		{name: "server error", cfg: sandbox.LINEConfig{FailRate: 1}, n: 2,
			status: 500, retryable: true, msg: "An error occurred in the server"},
		{name: "501 recipients", n: 501, status: 400, msg: "Size must be between 1 and 500"},
		{name: "wrong token", n: 1, token: "tok-WRONG-do-not-leak", status: 401, msg: "Authentication failed"},
		{name: "timeout", cfg: sandbox.LINEConfig{Latency: 500 * time.Millisecond}, timeout: 20 * time.Millisecond,
			n: 2, status: 0, retryable: true, msg: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, srv, s := setup(t, tt.cfg, tt.timeout)
			if tt.token != "" {
				var err error
				if s, err = line.New(line.Config{Endpoint: srv.URL, AccessToken: tt.token}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.prime {
				if _, err := s.Send(context.Background(), batch(10000, 1)); err != nil {
					t.Fatal(err)
				}
			}
			b := batch(0, tt.n)
			out, err := s.Send(context.Background(), b)
			var se *alert.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *alert.SendError", err, err)
			}
			if se.Status != tt.status || se.Retryable != tt.retryable || se.QuotaExhausted != tt.quota ||
				alert.IsRetryable(err) != tt.retryable {
				t.Errorf("SendError %+v, want status %d retryable %v quota %v", se, tt.status, tt.retryable, tt.quota)
			}
			if tt.retryAt != (se.RetryAfter > 0) {
				t.Errorf("RetryAfter = %v", se.RetryAfter)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			for _, secret := range []string{token, tt.token} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks the access token", err)
				}
			}
			if len(out) != tt.n {
				t.Fatalf("%d outcomes, want %d", len(out), tt.n)
			}
			for i, o := range out {
				if o.Err != err || o.ProviderID != "" {
					t.Errorf("outcome %d = %+v, want the batch error", i, o)
				}
			}
			for _, r := range b.Recipients {
				if sim.Delivered(r.Address) != 0 {
					t.Fatalf("%s reached although the request failed", r.Address)
				}
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		s, err := line.New(line.Config{Endpoint: url, AccessToken: token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Send(context.Background(), batch(0, 1))
		var se *alert.SendError
		if !errors.As(err, &se) || !se.Retryable || se.Status != 0 || strings.Contains(err.Error(), token) {
			t.Errorf("err = %v, want a retryable transport SendError", err)
		}
	})
	t.Run("caller's context", func(t *testing.T) {
		_, _, s := setup(t, sandbox.LINEConfig{Latency: time.Second}, 0)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Send(ctx, batch(0, 1)); err == nil || !alert.IsRetryable(err) {
			t.Errorf("cancelled send: %v", err)
		}
	})
}

func TestSendEmptyBatch(t *testing.T) {
	sim, _, s := setup(t, sandbox.LINEConfig{}, 0)
	out, err := s.Send(context.Background(), &alert.Batch{Text: "x", RetryKey: uuid.NewString()})
	if err != nil || len(out) != 0 || sim.Stats().Requests != 0 {
		t.Errorf("empty batch: %v %v, %d requests", out, err, sim.Stats().Requests)
	}
}

func TestSendConcurrent(t *testing.T) {
	sim, _, s := setup(t, sandbox.LINEConfig{MulticastRPS: -1}, 0)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 5 {
				if _, err := s.Send(context.Background(), batch((w*5+i)*100, 100)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if st := sim.Stats(); st.Users != 4000 || st.Recipients != 4000 {
		t.Errorf("stats %+v", st)
	}
}

func TestPush(t *testing.T) {
	sim, srv, s := setup(t, sandbox.LINEConfig{}, 0)
	key := uuid.NewString()
	replies := []alert.QuickReply{{Label: "はい", Data: "yes"}}
	for range 2 { // the repeat is a 409: success, not delivered twice
		if err := s.Push(context.Background(), "Uone", "避難所は港区立芝小学校です", replies, key); err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Delivered("Uone"); n != 1 {
		t.Errorf("Delivered = %d, want 1", n)
	}
	m := sim.LastMessages("Uone")
	if len(m) != 1 || m[0].Text != "避難所は港区立芝小学校です" || len(m[0].QuickReplies) != 1 || m[0].QuickReplies[0].Data != "yes" {
		t.Errorf("messages %+v", m)
	}
	bad, err := line.New(line.Config{Endpoint: srv.URL, AccessToken: "tok-WRONG-push"})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Push(context.Background(), "Uone", "x", nil, uuid.NewString())
	var se *alert.SendError
	if !errors.As(err, &se) || se.Status != 401 || se.Retryable || strings.Contains(err.Error(), "tok-WRONG-push") {
		t.Errorf("push with wrong token: %v", err)
	}
	if err := s.Push(context.Background(), "Uone", strings.Repeat("x", 5001), nil, uuid.NewString()); err == nil || alert.IsRetryable(err) {
		t.Errorf("push of 5001 chars: %v, want permanent error", err)
	}
}

// webhookRequest returns a signed webhook request carrying events.
func webhookRequest(t testing.TB, sim *sandbox.LINE, secret string, events ...sandbox.LINEEvent) *http.Request {
	t.Helper()
	body, err := sim.WebhookBody(events...)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/line/webhook", bytes.NewReader(body))
	r.Header.Set("X-Line-Signature", sandbox.SignLINE(secret, body))
	return r
}

func TestParseWebhookRoundTrip(t *testing.T) {
	const secret = "chan-secret"
	sim := sandbox.NewLINE(sandbox.LINEConfig{})
	var (
		mu   sync.Mutex
		got  []line.Event
		perr error
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := line.ParseWebhook(secret, r)
		mu.Lock()
		got, perr = ev, err
		mu.Unlock()
		if err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
		}
	}))
	defer hook.Close()

	in := []sandbox.LINEEvent{
		{Type: sandbox.LINEEventPostback, UserID: "U1", Data: "a=safe&c=c1"},
		{Type: sandbox.LINEEventText, UserID: "U2", Text: "家が倒れて動けない"},
		{Type: sandbox.LINEEventLocation, UserID: "U3", Lat: 35.6581, Lng: 139.7516, Text: "港区芝公園4-2-8"},
		{Type: sandbox.LINEEventFollow, UserID: "U4"},
		{Type: sandbox.LINEEventUnfollow, UserID: "U5"},
		{Type: sandbox.LINEEventPostback, UserID: "U1", Data: "a=safe&c=c1", EventID: "01J0000000000000000000REPL", Redelivery: true},
	}
	start := time.Now().Add(-time.Second)
	res, err := sim.PostWebhook(context.Background(), hook.URL, secret, in...)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if res.StatusCode != http.StatusOK || perr != nil {
		t.Fatalf("status %d, %v", res.StatusCode, perr)
	}
	want := []line.Event{
		{Type: line.EventPostback, UserID: "U1", Data: "a=safe&c=c1"},
		{Type: line.EventText, UserID: "U2", Text: "家が倒れて動けない"},
		{Type: line.EventLocation, UserID: "U3", Lat: 35.6581, Lng: 139.7516, Text: "港区芝公園4-2-8"},
		{Type: line.EventFollow, UserID: "U4"},
		{Type: line.EventUnfollow, UserID: "U5"},
		{Type: line.EventPostback, UserID: "U1", Data: "a=safe&c=c1", ID: "01J0000000000000000000REPL", Redelivery: true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	ids := map[string]bool{}
	for i, g := range got {
		w := want[i]
		if g.ID == "" || ids[g.ID] || (w.ID != "" && g.ID != w.ID) {
			t.Errorf("event %d: id %q", i, g.ID)
		}
		ids[g.ID] = true
		if g.Time.Before(start) || g.Time.After(time.Now()) {
			t.Errorf("event %d: time %v", i, g.Time)
		}
		if (g.ReplyToken == "") != (w.Type == line.EventUnfollow) {
			t.Errorf("event %d: reply token %q", i, g.ReplyToken)
		}
		g.ID, g.Time, g.ReplyToken = w.ID, time.Time{}, ""
		if g != w {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestParseWebhookRejects(t *testing.T) {
	const secret = "chan-secret"
	sim := sandbox.NewLINE(sandbox.LINEConfig{})
	ev := sandbox.LINEEvent{Type: sandbox.LINEEventText, UserID: "U1", Text: "私的な返信 090-1234-5678"}
	tests := []struct {
		name    string
		req     func() *http.Request
		wantSig bool
	}{
		{"wrong secret", func() *http.Request { return webhookRequest(t, sim, "other", ev) }, true},
		{"no signature", func() *http.Request {
			r := webhookRequest(t, sim, secret, ev)
			r.Header.Del("X-Line-Signature")
			return r
		}, true},
		{"signature not base64", func() *http.Request {
			r := webhookRequest(t, sim, secret, ev)
			r.Header.Set("X-Line-Signature", "!!!")
			return r
		}, true},
		{"body changed after signing", func() *http.Request {
			r := webhookRequest(t, sim, secret, ev)
			sig := r.Header.Get("X-Line-Signature")
			body, _ := sim.WebhookBody(sandbox.LINEEvent{Type: sandbox.LINEEventPostback, UserID: "U1", Data: "a=help"})
			r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("X-Line-Signature", sig)
			return r
		}, true},
		{"too large", func() *http.Request {
			body := append([]byte(`{"events":[],"x":"`), bytes.Repeat([]byte("a"), line.MaxWebhookBody)...)
			body = append(body, `"}`...)
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("X-Line-Signature", sandbox.SignLINE(secret, body))
			return r
		}, false},
		{"too large, length unknown", func() *http.Request {
			body := append([]byte(`{"events":[],"x":"`), bytes.Repeat([]byte("a"), line.MaxWebhookBody)...)
			body = append(body, `"}`...)
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.ContentLength = -1
			r.Header.Set("X-Line-Signature", sandbox.SignLINE(secret, body))
			return r
		}, false},
		{"signed but not JSON", func() *http.Request {
			body := []byte(`{"events":[{"type":"message","text":"私的な返信 090-1234-5678"`)
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("X-Line-Signature", sandbox.SignLINE(secret, body))
			return r
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := line.ParseWebhook(secret, tt.req())
			if err == nil {
				t.Fatalf("accepted: %+v", evs)
			}
			if errors.Is(err, line.ErrBadSignature) != tt.wantSig {
				t.Errorf("err = %v; errors.Is(ErrBadSignature) = %v, want %v", err, !tt.wantSig, tt.wantSig)
			}
			if strings.Contains(err.Error(), "090-1234-5678") || strings.Contains(err.Error(), secret) {
				t.Errorf("error %q quotes the body or the secret", err)
			}
		})
	}
	if _, err := line.ParseWebhook("", webhookRequest(t, sim, "", ev)); err == nil {
		t.Error("empty secret accepted")
	}
}

// BenchmarkSend500 sends 500-recipient multicasts through the real SDK and
// HTTP to the simulator with its limits lifted.
func BenchmarkSend500(b *testing.B) {
	_, _, s := setup(b, sandbox.LINEConfig{MulticastRPS: -1}, 0)
	base := batch(0, 500)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		bt := *base
		for pb.Next() {
			bt.RetryKey = uuid.NewString()
			if _, err := s.Send(context.Background(), &bt); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)*500/b.Elapsed().Seconds(), "recipients/s")
}

// BenchmarkParseWebhook parses signed bodies of 10 events each.
func BenchmarkParseWebhook(b *testing.B) {
	const secret = "chan-secret"
	sim := sandbox.NewLINE(sandbox.LINEConfig{})
	evs := make([]sandbox.LINEEvent, 10)
	for i := range evs {
		evs[i] = sandbox.LINEEvent{Type: sandbox.LINEEventPostback, UserID: fmt.Sprintf("U%032x", i), Data: "a=safe&c=c1"}
	}
	body, err := sim.WebhookBody(evs...)
	if err != nil {
		b.Fatal(err)
	}
	sig := sandbox.SignLINE(secret, body)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("X-Line-Signature", sig)
		if _, err := line.ParseWebhook(secret, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*10/b.Elapsed().Seconds(), "events/s")
}

func TestParseWebhookOtherEvents(t *testing.T) {
	const secret = "chan-secret"
	body := []byte(`{"destination":"Ubot","events":[
{"type":"message","message":{"type":"sticker","id":"1","packageId":"1","stickerId":"1","stickerResourceType":"STATIC"},"webhookEventId":"01OTHERSTICKER000000000000","deliveryContext":{"isRedelivery":false},"timestamp":1700000000000,"source":{"type":"user","userId":"U9"},"replyToken":"r1","mode":"active"},
{"type":"join","webhookEventId":"01OTHERJOIN000000000000000","deliveryContext":{"isRedelivery":true},"timestamp":1700000000001,"source":{"type":"group","groupId":"C1","userId":"U8"},"replyToken":"r2","mode":"active"},
{"type":"somethingNew","webhookEventId":"01OTHERNEW0000000000000000","timestamp":1700000000002,"deliveryContext":{"isRedelivery":true},"source":{"type":"user","userId":"U7"}}]}`)
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("X-Line-Signature", sandbox.SignLINE(secret, body))
	evs, err := line.ParseWebhook(secret, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []line.Event{
		{ID: "01OTHERSTICKER000000000000", Type: line.EventOther, UserID: "U9", ReplyToken: "r1", Time: time.UnixMilli(1700000000000)},
		{ID: "01OTHERJOIN000000000000000", Type: line.EventOther, UserID: "U8", Redelivery: true, Time: time.UnixMilli(1700000000001)},
		{ID: "01OTHERNEW0000000000000000", Type: line.EventOther, UserID: "U7", Redelivery: true, Time: time.UnixMilli(1700000000002)},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i := range want {
		if !evs[i].Time.Equal(want[i].Time) {
			t.Errorf("event %d time %v, want %v", i, evs[i].Time, want[i].Time)
		}
		evs[i].Time = want[i].Time
		if evs[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, evs[i], want[i])
		}
	}
}
