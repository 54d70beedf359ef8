package sms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/sms"
	"github.com/minato-city/anpi/sandbox"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "smsT0kenNeverInErrors0123456789"
	testFrom  = "+815011112222"
)

var sidRe = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

type env struct {
	sim    *sandbox.Twilio
	srv    *httptest.Server
	sender *sms.Sender
	cfg    sms.Config
}

func newEnv(t testing.TB, simCfg sandbox.TwilioConfig, mod func(*sms.Config)) *env {
	t.Helper()
	t.Setenv("TWILIO_EDGE", "")
	t.Setenv("TWILIO_REGION", "")
	simCfg.AccountSID, simCfg.AuthToken = testSID, testToken
	sim := sandbox.NewTwilio(simCfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	cfg := sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL}
	if mod != nil {
		mod(&cfg)
	}
	s, err := sms.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{sim: sim, srv: srv, sender: s, cfg: cfg}
}

func recipients(n int) []alert.Recipient {
	rs := make([]alert.Recipient, n)
	for i := range rs {
		rs[i] = alert.Recipient{
			ResidentID: fmt.Sprintf("r%d", i),
			Address:    fmt.Sprintf("+8190%08d", 10000000+i),
			Link:       fmt.Sprintf("https://anpi.example/r/%d", i),
		}
	}
	return rs
}

// assertClean fails if err's text contains the token or any number.
func assertClean(t *testing.T, err error, numbers ...string) {
	t.Helper()
	if err == nil {
		return
	}
	s := err.Error()
	if strings.Contains(s, testToken) {
		t.Errorf("error contains the auth token: %q", s)
	}
	for _, n := range numbers {
		if strings.Contains(s, n) || strings.Contains(s, strings.TrimPrefix(n, "+")) || strings.Contains(s, n[len(n)-8:]) {
			t.Errorf("error contains a phone number: %q", s)
		}
	}
}

func TestTwilioSendOutcomes(t *testing.T) {
	e := newEnv(t, sandbox.TwilioConfig{}, nil)
	rs := recipients(20)
	rs[1].Link = ""
	b := &alert.Batch{ID: "b1", Channel: alert.ChannelSMS, Language: "ja", Text: "【港区】地震 安否を返信 {link}", Recipients: rs}
	if got := e.sender.Cost(b); got != 20 {
		t.Errorf("Cost = %d", got)
	}
	if e.sender.Channel() != alert.ChannelSMS {
		t.Errorf("Channel = %q", e.sender.Channel())
	}
	out, err := e.sender.Send(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(rs) {
		t.Fatalf("%d outcomes for %d recipients", len(out), len(rs))
	}
	seen := map[string]bool{}
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("recipient %d: %v", i, o.Err)
		}
		if !sidRe.MatchString(o.ProviderID) || seen[o.ProviderID] {
			t.Errorf("recipient %d: ProviderID %q", i, o.ProviderID)
		}
		seen[o.ProviderID] = true
		msgs := e.sim.Messages(rs[i].Address)
		if len(msgs) != 1 || msgs[0].Sid != o.ProviderID || msgs[0].From != testFrom {
			t.Fatalf("recipient %d: simulator has %+v", i, msgs)
		}
		want := "【港区】地震 安否を返信 " + rs[i].Link
		if i == 1 {
			want = "【港区】地震 安否を返信"
		}
		if msgs[0].Body != want {
			t.Errorf("recipient %d: body %q, want %q", i, msgs[0].Body, want)
		}
		if msgs[0].ValidityPeriod != 0 || msgs[0].StatusCallback != "" {
			t.Errorf("recipient %d: validity %d callback %q, want none", i, msgs[0].ValidityPeriod, msgs[0].StatusCallback)
		}
	}
}

func TestTwilioBody(t *testing.T) {
	tests := []struct{ text, link, want string }{
		{"安否を返信 {link}", "https://a.example/x", "安否を返信 https://a.example/x"},
		{"{link} と {link}", "L", "L と L"},
		{"安否を返信", "https://a.example/x", "安否を返信 https://a.example/x"},
		{"安否を返信", "", "安否を返信"},
		{"安否を返信 {link}", "", "安否を返信"},
	}
	for _, tc := range tests {
		if got := sms.Body(tc.text, tc.link); got != tc.want {
			t.Errorf("Body(%q, %q) = %q, want %q", tc.text, tc.link, got, tc.want)
		}
	}
}

func TestTwilioSendValidityPeriodAndCallback(t *testing.T) {
	e := newEnv(t, sandbox.TwilioConfig{CallbackDelay: time.Hour}, func(c *sms.Config) {
		c.StatusCallbackURL = "https://anpi.example/twilio/sms/status"
	})
	tests := []struct {
		name     string
		in       time.Duration
		min, max int
	}{
		{"ten minutes", 10 * time.Minute, 590, 600},
		{"sub-second rounds up", 300 * time.Millisecond, 1, 1},
		{"clamped to ten hours", 48 * time.Hour, 36000, 36000},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := recipients(i + 1)[i : i+1]
			b := &alert.Batch{Text: "x", Recipients: r, Deadline: time.Now().Add(tc.in)}
			out, err := e.sender.Send(context.Background(), b)
			if err != nil || out[0].Err != nil {
				t.Fatalf("Send: %v %v", err, out)
			}
			m := e.sim.Messages(r[0].Address)[0]
			if m.ValidityPeriod < tc.min || m.ValidityPeriod > tc.max {
				t.Errorf("ValidityPeriod = %d, want %d..%d", m.ValidityPeriod, tc.min, tc.max)
			}
			if m.StatusCallback != e.cfg.StatusCallbackURL {
				t.Errorf("StatusCallback = %q", m.StatusCallback)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		before := e.sim.Stats().Requests
		b := &alert.Batch{Text: "x", Recipients: recipients(3), Deadline: time.Now().Add(-time.Second)}
		out, err := e.sender.Send(context.Background(), b)
		var se *alert.SendError
		if !errors.As(err, &se) || se.Retryable || se.Msg != "expired" {
			t.Fatalf("err = %v, want permanent expired", err)
		}
		if len(out) != 3 || out[2].Err == nil || alert.IsRetryable(out[2].Err) {
			t.Errorf("outcomes = %+v", out)
		}
		if e.sim.Stats().Requests != before {
			t.Error("an expired batch reached Twilio")
		}
	})
}

func TestTwilioValidityPeriod(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want int
		ok   bool
	}{
		{-time.Second, 0, false},
		{0, 0, false},
		{time.Nanosecond, 1, true},
		{1500 * time.Millisecond, 2, true},
		{time.Hour, 3600, true},
		{10 * time.Hour, 36000, true},
		{11 * time.Hour, 36000, true},
	}
	for _, tc := range tests {
		got, ok := sms.ValidityPeriod(now.Add(tc.d), now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ValidityPeriod(+%v) = %d, %v; want %d, %v", tc.d, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTwilioSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		sim       sandbox.TwilioConfig
		mod       func(*sms.Config)
		addr      string
		status    int
		code      string
		retryable bool
	}{
		{"server error", sandbox.TwilioConfig{FailRate: 1}, nil, "", 500, "20500", true},
		{"invalid number", sandbox.TwilioConfig{}, nil, "0901234567", 400, "21211", false},
		{"bad auth", sandbox.TwilioConfig{}, func(c *sms.Config) { c.AuthToken = "wrongToken123" }, "", 401, "20003", false},
		{"unknown account", sandbox.TwilioConfig{}, func(c *sms.Config) { c.AccountSID = "AC" + strings.Repeat("9", 32) }, "", 401, "20003", false},
		{"body too long", sandbox.TwilioConfig{}, nil, "long", 400, "21617", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.sim, tc.mod)
			r := recipients(1)
			text := "テスト"
			if tc.addr == "long" {
				text = strings.Repeat("長", 1601)
			} else if tc.addr != "" {
				r[0].Address = tc.addr
			}
			out, err := e.sender.Send(context.Background(), &alert.Batch{Text: text, Recipients: r})
			if err != nil {
				t.Fatal(err)
			}
			var se *alert.SendError
			if !errors.As(out[0].Err, &se) {
				t.Fatalf("outcome error %v (%T), want *alert.SendError", out[0].Err, out[0].Err)
			}
			if se.Status != tc.status || se.Code != tc.code || se.Retryable != tc.retryable {
				t.Errorf("got %+v, want status %d code %s retryable %v", se, tc.status, tc.code, tc.retryable)
			}
			if alert.IsRetryable(out[0].Err) != tc.retryable {
				t.Errorf("IsRetryable = %v", !tc.retryable)
			}
			assertClean(t, out[0].Err, r[0].Address, "+819012345670")
		})
	}
}

func TestTwilioSendRateLimited(t *testing.T) {
	// 0.001 messages/s with a burst of one: the first recipient passes.
	e := newEnv(t, sandbox.TwilioConfig{MessagesPerSecond: 0.001}, func(c *sms.Config) { c.Concurrency = 1 })
	rs := recipients(3)
	out, err := e.sender.Send(context.Background(), &alert.Batch{Text: "x", Recipients: rs})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil {
		t.Fatalf("first: %v", out[0].Err)
	}
	for i := 1; i < 3; i++ {
		var se *alert.SendError
		if !errors.As(out[i].Err, &se) || se.Status != 429 || se.Code != "20429" || !se.Retryable {
			t.Errorf("recipient %d: %v, want retryable 429 20429", i, out[i].Err)
		}
		assertClean(t, out[i].Err, rs[i].Address)
	}
	if e.sim.Stats().RateLimited != 2 {
		t.Errorf("simulator counted %d 429s", e.sim.Stats().RateLimited)
	}
}

// fakeTwilio answers every request with status, headers and body.
func fakeTwilio(t *testing.T, status int, header map[string]string, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTwilioSendErrorShapes(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantStatus int
		wantCode   string
		retryable  bool
		retryAfter time.Duration
	}{
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "7"},
			`{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`,
			429, "20429", true, 7 * time.Second},
		{"Twilio message quoting the number", 400, nil,
			`{"code":21999,"message":"The number +819012345670 is weird, token ` + testToken + `","status":400}`,
			400, "21999", false, 0},
		{"proxy HTML 502", 502, map[string]string{"Content-Type": "text/html"}, "<html>bad gateway</html>", 502, "", true, 0},
		{"503 with Retry-After", 503, map[string]string{"Retry-After": "3"}, `{"code":20503,"message":"Service Unavailable","status":503}`,
			503, "20503", true, 3 * time.Second},
		{"permanent ignores Retry-After", 400, map[string]string{"Retry-After": "3"}, `{"code":21211,"message":"x","status":400}`,
			400, "21211", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := fakeTwilio(t, tc.status, tc.header, tc.body)
			s, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: base})
			if err != nil {
				t.Fatal(err)
			}
			r := recipients(1)
			r[0].Address = "+819012345670"
			out, err := s.Send(context.Background(), &alert.Batch{Text: "x", Recipients: r})
			if err != nil {
				t.Fatal(err)
			}
			var se *alert.SendError
			if !errors.As(out[0].Err, &se) {
				t.Fatalf("got %v", out[0].Err)
			}
			if se.Status != tc.wantStatus || se.Code != tc.wantCode || se.Retryable != tc.retryable || se.RetryAfter != tc.retryAfter {
				t.Errorf("got %+v, want status %d code %q retryable %v retry-after %v", se, tc.wantStatus, tc.wantCode, tc.retryable, tc.retryAfter)
			}
			assertClean(t, out[0].Err, r[0].Address)
		})
	}
}

func TestTwilioSendTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens any more
	s, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	r := recipients(2)
	out, err := s.Send(context.Background(), &alert.Batch{Text: "x", Recipients: r})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		var se *alert.SendError
		if !errors.As(o.Err, &se) || !se.Retryable || se.Status != 0 {
			t.Errorf("recipient %d: %v, want retryable transport error", i, o.Err)
		}
		assertClean(t, o.Err, r[i].Address)
		if strings.Contains(o.Err.Error(), testSID) {
			t.Errorf("transport error carries the request URL: %q", o.Err)
		}
	}
}

func TestTwilioSendContext(t *testing.T) {
	t.Run("canceled before", func(t *testing.T) {
		e := newEnv(t, sandbox.TwilioConfig{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		out, err := e.sender.Send(ctx, &alert.Batch{Text: "x", Recipients: recipients(4)})
		if err == nil || !alert.IsRetryable(err) || len(out) != 4 || !alert.IsRetryable(out[3].Err) {
			t.Errorf("err %v outcomes %+v", err, out)
		}
		if e.sim.Stats().Requests != 0 {
			t.Error("requests were made with a canceled context")
		}
	})
	t.Run("a request in flight ends at its own timeout, not with the batch", func(t *testing.T) {
		// Twilio has no idempotency key: a request cut off after it took
		// effect would be sent again. Ending the batch context stops items
		// not started yet; the one in flight runs to its answer or to the
		// per-request timeout (here 300 ms), which the SDK's own requests
		// (built on context.Background()) would not enforce by themselves.
		arrived := make(chan struct{}, 4)
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case arrived <- struct{}{}:
			default:
			}
			io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
			select {                    // hang until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		s, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL,
			Timeout: 300 * time.Millisecond, Concurrency: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan []alert.Outcome)
		start := time.Now()
		go func() {
			out, _ := s.Send(ctx, &alert.Batch{Text: "x", Recipients: recipients(2)})
			done <- out
		}()
		select {
		case <-arrived: // the first request is in flight; now end the batch
		case <-time.After(10 * time.Second):
			t.Fatal("request never arrived")
		}
		cancel()
		select {
		case out := <-done:
			if el := time.Since(start); el < 250*time.Millisecond {
				t.Errorf("Send returned after %v: the request in flight was cut off with the batch", el)
			}
			if out[0].Err == nil || !alert.IsRetryable(out[0].Err) {
				t.Errorf("timed-out request: outcome %v, want a retryable error", out[0].Err)
			}
			if out[1].Err == nil || !strings.Contains(out[1].Err.Error(), "not attempted") {
				t.Errorf("second recipient: %v, want not attempted", out[1].Err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Send ignored its per-request timeout")
		}
		if n := len(arrived); n != 0 {
			t.Errorf("%d more requests were made after the batch ended", n)
		}
	})
}

func TestTwilioSendConcurrencyBound(t *testing.T) {
	var cur, peak atomic.Int32
	sim := sandbox.NewTwilio(sandbox.TwilioConfig{AccountSID: testSID, AuthToken: testToken, MessagesPerSecond: -1,
		Latency: 5 * time.Millisecond})
	defer sim.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer cur.Add(-1)
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Send(context.Background(), &alert.Batch{Text: "x", Recipients: recipients(30)})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("recipient %d: %v", i, o.Err)
		}
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("peak concurrency %d, want at most 3", p)
	}
	if sim.Stats().Messages != 30 {
		t.Errorf("messages = %d", sim.Stats().Messages)
	}
}

func TestTwilioStatusCallback(t *testing.T) {
	type got struct {
		st  sms.Status
		err error
	}
	results := make(chan got, 10)
	var publicURL string
	var (
		rawMu sync.Mutex
		raw   []url.Values
		sigs  []string
	)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := sms.ParseStatus(r, testToken, publicURL)
		rawMu.Lock()
		raw = append(raw, r.PostForm)
		sigs = append(sigs, r.Header.Get("X-Twilio-Signature"))
		rawMu.Unlock()
		if err != nil {
			http.Error(w, "bad", http.StatusForbidden)
		}
		results <- got{st, err}
	}))
	defer cb.Close()
	// The public URL as configured (here: the real listener plus a query the
	// signature must cover).
	publicURL = cb.URL + "/twilio/sms/status?v=1"

	e := newEnv(t, sandbox.TwilioConfig{CallbackDelay: time.Millisecond}, func(c *sms.Config) { c.StatusCallbackURL = publicURL })
	out, err := e.sender.Send(context.Background(), &alert.Batch{Text: "x", Recipients: recipients(1)})
	if err != nil || out[0].Err != nil {
		t.Fatalf("Send: %v %v", err, out)
	}
	var statuses []string
	for range 2 {
		select {
		case g := <-results:
			if g.err != nil {
				t.Fatalf("ParseStatus: %v", g.err)
			}
			if g.st.MessageSid != out[0].ProviderID {
				t.Errorf("MessageSid %q, want %q", g.st.MessageSid, out[0].ProviderID)
			}
			statuses = append(statuses, g.st.MessageStatus)
		case <-time.After(10 * time.Second):
			t.Fatal("no status callback")
		}
	}
	if strings.Join(statuses, ",") != "sent,delivered" {
		t.Errorf("statuses = %v", statuses)
	}

	// Replays: tampered form, wrong public URL, missing signature.
	rawMu.Lock()
	form, sig := raw[1], sigs[1]
	rawMu.Unlock()
	tampered := url.Values{}
	for k, v := range form {
		tampered[k] = v
	}
	tampered.Set("MessageStatus", "undelivered")
	tests := []struct {
		name   string
		form   url.Values
		sig    string
		public string
		wantOK bool
	}{
		{"genuine replay", form, sig, publicURL, true},
		{"tampered status", tampered, sig, publicURL, false},
		{"host from the request instead of the public URL", form, sig, "http://internal:8080/twilio/sms/status?v=1", false},
		{"no signature", form, "", publicURL, false},
		{"other token", form, sig, publicURL, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/twilio/sms/status?v=1", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.sig != "" {
				req.Header.Set("X-Twilio-Signature", tc.sig)
			}
			token := testToken
			if tc.name == "other token" {
				token = "anotherToken1"
			}
			st, err := sms.ParseStatus(req, token, tc.public)
			if tc.wantOK {
				if err != nil || st.MessageStatus != "delivered" {
					t.Errorf("got %+v, %v", st, err)
				}
				return
			}
			if !errors.Is(err, sms.ErrBadSignature) {
				t.Errorf("err = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestTwilioParseStatusLimits(t *testing.T) {
	tests := []struct {
		name   string
		method string
		body   string
	}{
		{"GET", http.MethodGet, ""},
		{"oversized body", http.MethodPost, "Body=" + strings.Repeat("a", 70<<10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/s", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if _, err := sms.ParseStatus(req, testToken, "https://anpi.example/s"); err == nil || errors.Is(err, sms.ErrBadSignature) {
				t.Errorf("err = %v, want a non-signature error", err)
			}
		})
	}
	// A correctly signed callback lacking MessageSid is rejected too.
	form := url.Values{"MessageStatus": {"sent"}}
	req := httptest.NewRequest(http.MethodPost, "/s", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sandbox.SignTwilio(testToken, "https://anpi.example/s", form))
	if _, err := sms.ParseStatus(req, testToken, "https://anpi.example/s"); err == nil {
		t.Error("accepted a callback without MessageSid")
	}
}

func TestTwilioValidateSignature(t *testing.T) {
	u := "https://anpi.example/twilio/voice/answer?check=c1"
	p := url.Values{"CallSid": {"CA1"}, "SpeechResult": {"無事です"}, "Digits": {"1"}}
	good := sandbox.SignTwilio(testToken, u, p)
	tests := []struct {
		name          string
		token, u, sig string
		p             url.Values
		want          bool
	}{
		{"valid", testToken, u, good, p, true},
		{"empty token", "", u, sandbox.SignTwilio("", u, p), p, false},
		{"empty signature", testToken, u, "", p, false},
		{"other url", testToken, "https://anpi.example/twilio/voice/answer", good, p, false},
		{"extra param", testToken, u, good, url.Values{"CallSid": {"CA1"}, "SpeechResult": {"無事です"}, "Digits": {"1"}, "X": {"y"}}, false},
		{"repeated param", testToken, u, good, url.Values{"CallSid": {"CA1", "CA2"}, "SpeechResult": {"無事です"}, "Digits": {"1"}}, false},
	}
	for _, tc := range tests {
		if got := sms.ValidateSignature(tc.token, tc.u, tc.p, tc.sig); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTwilioSegments(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"gsm short", "Evacuate to the nearest shelter.", 1},
		{"gsm 160", strings.Repeat("a", 160), 1},
		{"gsm 161", strings.Repeat("a", 161), 2},
		{"gsm 306", strings.Repeat("a", 306), 2},
		{"gsm 307", strings.Repeat("a", 307), 3},
		{"gsm extension chars count twice", strings.Repeat("€", 81), 2},
		{"gsm accents", strings.Repeat("é", 160), 1},
		{"japanese 70", strings.Repeat("地", 70), 1},
		{"japanese 71", strings.Repeat("地", 71), 2},
		{"japanese 134", strings.Repeat("地", 134), 2},
		{"japanese 135", strings.Repeat("地", 135), 3},
		{"one kana makes it ucs-2", strings.Repeat("a", 70) + "ア", 2},
		{"emoji takes two units", strings.Repeat("🏠", 35), 1},
		{"emoji 36", strings.Repeat("🏠", 36), 2},
		{"alert with link", "【港区】震度5強。安否を返信 https://anpi.example/r/abc123", 1},
	}
	for _, tc := range tests {
		if got := sms.Segments(tc.text); got != tc.want {
			t.Errorf("%s: Segments = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestTwilioNewConfigErrors(t *testing.T) {
	ok := sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom}
	tests := []struct {
		name string
		mod  func(*sms.Config)
		want string
	}{
		{"missing from", func(c *sms.Config) { c.From = "" }, "from"},
		{"missing sid", func(c *sms.Config) { c.AccountSID = "" }, "account sid"},
		{"token with symbols", func(c *sms.Config) { c.AuthToken = testToken + "!" }, "auth token"},
		{"relative base url", func(c *sms.Config) { c.BaseURL = "/twilio" }, "base url"},
		{"bad callback url", func(c *sms.Config) { c.StatusCallbackURL = "anpi.example/cb" }, "status callback"},
		{"negative concurrency", func(c *sms.Config) { c.Concurrency = -1 }, "concurrency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			_, err := sms.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
			assertClean(t, err)
		})
	}
	if _, err := sms.New(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestTwilioRewriteTransport(t *testing.T) {
	var gotPath, gotHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotHost = r.URL.RequestURI(), r.Host
	}))
	defer srv.Close()
	tests := []struct {
		base, want string
	}{
		{srv.URL, "/2010-04-01/Accounts/AC1/Messages.json?x=1"},
		{srv.URL + "/twilio/", "/twilio/2010-04-01/Accounts/AC1/Messages.json?x=1"},
	}
	for _, tc := range tests {
		base, _ := url.Parse(tc.base)
		c := &http.Client{Transport: sms.RewriteTransport(base, nil)}
		resp, err := c.Get("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if gotPath != tc.want || gotHost != strings.TrimPrefix(srv.URL, "http://") {
			t.Errorf("base %s: got host %s path %s, want %s", tc.base, gotHost, gotPath, tc.want)
		}
	}
}

func TestTwilioNewRestClient(t *testing.T) {
	e := newEnv(t, sandbox.TwilioConfig{}, nil)
	rc, err := sms.NewRestClient(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &openapi.CreateMessageParams{}
	p.SetTo("+819088887777").SetFrom(testFrom).SetBody("x")
	m, err := rc.Api.CreateMessage(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Sid == nil || !sidRe.MatchString(*m.Sid) || e.sim.MessageCount("+819088887777") != 1 {
		t.Errorf("message %v not recorded", m.Sid)
	}
}

func BenchmarkTwilioSend(b *testing.B) {
	e := newEnv(b, sandbox.TwilioConfig{MessagesPerSecond: -1}, nil)
	batch := &alert.Batch{Text: "【港区】震度5強。安否を返信 {link}", Recipients: recipients(100), Deadline: time.Now().Add(time.Hour)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := e.sender.Send(ctx, batch)
		if err != nil || out[99].Err != nil {
			b.Fatalf("Send: %v %v", err, out[99].Err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch.Recipients))/b.Elapsed().Seconds(), "msgs/s")
}
