package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

const (
	twTestSID   = "AC0123456789abcdef0123456789abcdef"
	twTestToken = "s3cr3tT0kenForTests0123456789ab"
	twTestFrom  = "+815012345678"
	twTestTo    = "+819012345678"
)

// twRewrite sends every request to target, keeping path and query: twilio-go
// has no base-URL option.
type twRewrite struct {
	target *url.URL
	next   http.RoundTripper
}

func (rt twRewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = rt.target.Scheme
	r.URL.Host = rt.target.Host
	r.Host = ""
	return rt.next.RoundTrip(r)
}

type twHarness struct {
	sim *Twilio
	srv *httptest.Server
	api *openapi.ApiService
}

func newTwHarness(t *testing.T, cfg TwilioConfig) *twHarness {
	t.Helper()
	t.Setenv("TWILIO_EDGE", "")
	t.Setenv("TWILIO_REGION", "")
	if cfg.AccountSID == "" {
		cfg.AccountSID = twTestSID
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = twTestToken
	}
	sim := NewTwilio(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return &twHarness{sim: sim, srv: srv, api: twClient(t, srv.URL, twTestSID, twTestToken).Api}
}

func twClient(t *testing.T, base, sid, token string) *twilio.RestClient {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c := &client.Client{
		Credentials: client.NewCredentials(sid, token),
		HTTPClient:  &http.Client{Transport: twRewrite{target: u, next: http.DefaultTransport}, Timeout: 10 * time.Second},
	}
	c.SetAccountSid(sid)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Username: sid, Password: token, Client: c})
}

func twRestError(t *testing.T, err error) *client.TwilioRestError {
	t.Helper()
	var re *client.TwilioRestError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *client.TwilioRestError", err, err)
	}
	return re
}

var twSidRe = regexp.MustCompile(`^(SM|CA)[0-9a-f]{32}$`)

func TestTwilioCreateMessage(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	tests := []struct {
		name     string
		body     string
		segments string
	}{
		{"gsm one segment", "Evacuate now", "1"},
		{"gsm two segments", strings.Repeat("a", 161), "2"},
		{"japanese one segment", strings.Repeat("避", 70), "1"},
		{"japanese two segments", strings.Repeat("避", 71), "2"},
		{"japanese three segments", strings.Repeat("避", 135), "3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &openapi.CreateMessageParams{}
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody(tc.body).SetValidityPeriod(600)
			m, err := h.api.CreateMessage(p)
			if err != nil {
				t.Fatalf("CreateMessage: %v", err)
			}
			if m.Sid == nil || !twSidRe.MatchString(*m.Sid) || !strings.HasPrefix(*m.Sid, "SM") {
				t.Fatalf("sid = %v, want SM + 32 hex", m.Sid)
			}
			if *m.Status != "queued" || *m.To != twTestTo || *m.From != twTestFrom || *m.Body != tc.body {
				t.Errorf("message = status %q to %q from %q body %q", *m.Status, *m.To, *m.From, *m.Body)
			}
			if *m.NumSegments != tc.segments {
				t.Errorf("num_segments = %s, want %s", *m.NumSegments, tc.segments)
			}
			if m.DateCreated == nil {
				t.Fatal("date_created missing")
			}
			if _, err := time.Parse(time.RFC1123Z, *m.DateCreated); err != nil {
				t.Errorf("date_created %q: %v", *m.DateCreated, err)
			}
			got := h.sim.Messages(twTestTo)
			last := got[len(got)-1]
			if last.Sid != *m.Sid || last.Body != tc.body || last.ValidityPeriod != 600 || last.From != twTestFrom {
				t.Errorf("recorded %+v", last)
			}
		})
	}
	if n := h.sim.MessageCount(twTestTo); n != len(tests) {
		t.Errorf("MessageCount = %d, want %d", n, len(tests))
	}
	if st := h.sim.Stats(); st.Messages != int64(len(tests)) || st.Numbers != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTwilioMessagingService(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	p := &openapi.CreateMessageParams{}
	p.SetTo(twTestTo).SetMessagingServiceSid("MG" + strings.Repeat("ab", 16)).SetBody("hi")
	m, err := h.api.CreateMessage(p)
	if err != nil {
		t.Fatal(err)
	}
	if *m.Status != "accepted" || m.From != nil {
		t.Errorf("status %q from %v, want accepted and no from", *m.Status, m.From)
	}
}

func TestTwilioMessageValidation(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	tests := []struct {
		name string
		set  func(p *openapi.CreateMessageParams)
		code int
	}{
		{"missing to", func(p *openapi.CreateMessageParams) { p.SetFrom(twTestFrom).SetBody("x") }, 21604},
		{"local number", func(p *openapi.CreateMessageParams) { p.SetTo("09012345678").SetFrom(twTestFrom).SetBody("x") }, 21211},
		{"letters in number", func(p *openapi.CreateMessageParams) { p.SetTo("+81901234567a").SetFrom(twTestFrom).SetBody("x") }, 21211},
		{"too long number", func(p *openapi.CreateMessageParams) { p.SetTo("+8190123456789012").SetFrom(twTestFrom).SetBody("x") }, 21211},
		{"missing from", func(p *openapi.CreateMessageParams) { p.SetTo(twTestTo).SetBody("x") }, 21603},
		{"bad from", func(p *openapi.CreateMessageParams) { p.SetTo(twTestTo).SetFrom("not-a-sender!").SetBody("x") }, 21212},
		{"bad service sid", func(p *openapi.CreateMessageParams) { p.SetTo(twTestTo).SetMessagingServiceSid("MG1").SetBody("x") }, 21701},
		{"missing body", func(p *openapi.CreateMessageParams) { p.SetTo(twTestTo).SetFrom(twTestFrom) }, 21602},
		{"body too long", func(p *openapi.CreateMessageParams) {
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody(strings.Repeat("あ", 1601))
		}, 21617},
		{"validity zero", func(p *openapi.CreateMessageParams) {
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x").SetValidityPeriod(0)
		}, 21624},
		{"validity too long", func(p *openapi.CreateMessageParams) {
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x").SetValidityPeriod(36001)
		}, 21624},
		{"bad callback", func(p *openapi.CreateMessageParams) {
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x").SetStatusCallback("ftp://x")
		}, 21609},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &openapi.CreateMessageParams{}
			tc.set(p)
			_, err := h.api.CreateMessage(p)
			re := twRestError(t, err)
			if re.Code != tc.code || re.Status != http.StatusBadRequest {
				t.Errorf("got status %d code %d (%s), want 400 code %d", re.Status, re.Code, re.Message, tc.code)
			}
			if re.MoreInfo != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", tc.code) {
				t.Errorf("more_info = %q", re.MoreInfo)
			}
			if strings.Contains(re.Message, "901234") || strings.Contains(re.Message, twTestToken) {
				t.Errorf("message echoes a number or the token: %q", re.Message)
			}
		})
	}
	// Edge values that must pass.
	for _, vp := range []int{1, 36000} {
		p := &openapi.CreateMessageParams{}
		p.SetTo(twTestTo).SetFrom("MinatoCity").SetBody(strings.Repeat("あ", 1600)).SetValidityPeriod(vp)
		if _, err := h.api.CreateMessage(p); err != nil {
			t.Errorf("ValidityPeriod %d with 1600-char body and alphanumeric sender: %v", vp, err)
		}
	}
	if st := h.sim.Stats(); st.ClientErrors != int64(len(tests)) || st.Messages != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTwilioValidityNotInteger(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	form := url.Values{"To": {twTestTo}, "From": {twTestFrom}, "Body": {"x"}, "ValidityPeriod": {"ten"}}
	resp := twPostRaw(t, h.srv.URL+"/2010-04-01/Accounts/"+twTestSID+"/Messages.json", twTestSID, twTestToken, form)
	re := twDecodeError(t, resp)
	if resp.StatusCode != 400 || re.Code != 21624 {
		t.Errorf("got %d %+v, want 400 21624", resp.StatusCode, re)
	}
}

func twPostRaw(t *testing.T, target, user, pass string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func twDecodeError(t *testing.T, resp *http.Response) client.TwilioRestError {
	t.Helper()
	var re client.TwilioRestError
	if err := json.NewDecoder(resp.Body).Decode(&re); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	if re.Status != resp.StatusCode {
		t.Errorf("body status %d != HTTP status %d", re.Status, resp.StatusCode)
	}
	return re
}

func TestTwilioAuth(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	other := "AC" + strings.Repeat("f", 32)
	tests := []struct {
		name     string
		sid, tok string
		pathSid  string
	}{
		{"wrong token", twTestSID, "wrongtoken", ""},
		{"wrong account", other, twTestToken, ""},
		{"other account in path", twTestSID, twTestToken, other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := twClient(t, h.srv.URL, tc.sid, tc.tok).Api
			p := &openapi.CreateMessageParams{}
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x")
			if tc.pathSid != "" {
				p.SetPathAccountSid(tc.pathSid)
			}
			_, err := api.CreateMessage(p)
			re := twRestError(t, err)
			if re.Status != 401 || re.Code != 20003 || re.Message != "Authenticate" {
				t.Errorf("got %+v, want 401 20003 Authenticate", re)
			}
		})
	}
	t.Run("no auth", func(t *testing.T) {
		resp := twPostRaw(t, h.srv.URL+"/2010-04-01/Accounts/"+twTestSID+"/Calls.json", "", "", url.Values{})
		re := twDecodeError(t, resp)
		if resp.StatusCode != 401 || re.Code != 20003 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("got %d %+v", resp.StatusCode, re)
		}
	})
	if st := h.sim.Stats(); st.Unauthorized != int64(len(tests)+1) || st.Messages != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTwilioNotFoundAndMethod(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	tests := []struct {
		method, path string
		status, code int
	}{
		{http.MethodPost, "/2010-04-01/Accounts/" + twTestSID + "/Queues.json", 404, 20404},
		{http.MethodGet, "/", 404, 20404},
		{http.MethodPost, "/2010-04-01/Accounts//Messages.json", 404, 20404},
		{http.MethodGet, "/2010-04-01/Accounts/" + twTestSID + "/Messages/+819012345678.json", 404, 20404},
		{http.MethodGet, "/2010-04-01/Accounts/" + twTestSID + "/Messages.json", 405, 20004},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.srv.URL+tc.path, nil)
			req.SetBasicAuth(twTestSID, twTestToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			re := twDecodeError(t, resp)
			if resp.StatusCode != tc.status || re.Code != tc.code {
				t.Errorf("got %d %+v, want %d %d", resp.StatusCode, re, tc.status, tc.code)
			}
			if tc.code == 20404 && (!strings.HasPrefix(re.Message, "The requested resource") || !strings.HasSuffix(re.Message, "was not found")) {
				t.Errorf("message = %q", re.Message)
			}
			if strings.Contains(re.Message, "9012345678") {
				t.Errorf("message echoes a phone number: %q", re.Message)
			}
			if re.MoreInfo != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", tc.code) {
				t.Errorf("more_info = %q", re.MoreInfo)
			}
		})
	}
}

func TestTwilioRateLimit(t *testing.T) {
	tests := []struct {
		name        string
		mps, cps    float64
		n           int
		wantLimited int64
		calls       bool
	}{
		// 0.001/s with a burst of one: the first request passes, the rest are refused.
		{"messages limited", 0.001, 0, 5, 4, false},
		{"calls limited", 0, 0.001, 3, 2, true},
		{"messages unlimited", -1, 0, 300, 0, false},
		{"default 100 per second burst", 0, 0, 100, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTwHarness(t, TwilioConfig{MessagesPerSecond: tc.mps, CallsPerSecond: tc.cps})
			var limited int64
			for i := range tc.n {
				var err error
				if tc.calls {
					p := &openapi.CreateCallParams{}
					p.SetTo(twTestTo).SetFrom(twTestFrom).SetTwiml("<Response/>")
					_, err = h.api.CreateCall(p)
				} else {
					p := &openapi.CreateMessageParams{}
					p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x")
					_, err = h.api.CreateMessage(p)
				}
				if err == nil {
					continue
				}
				re := twRestError(t, err)
				if re.Status != 429 || re.Code != 20429 || re.Message != "Too Many Requests" {
					t.Fatalf("request %d: %+v", i, re)
				}
				if i == 0 {
					t.Fatal("first request refused")
				}
				limited++
			}
			if limited != tc.wantLimited || h.sim.Stats().RateLimited != tc.wantLimited {
				t.Errorf("limited %d (stats %d), want %d", limited, h.sim.Stats().RateLimited, tc.wantLimited)
			}
		})
	}
}

func TestTwilioFailRate(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		wantFail int
	}{
		{"always", 1, 20},
		{"never", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTwHarness(t, TwilioConfig{FailRate: tc.rate})
			fails := 0
			for range 20 {
				p := &openapi.CreateMessageParams{}
				p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x")
				if _, err := h.api.CreateMessage(p); err != nil {
					re := twRestError(t, err)
					if re.Status != 500 || re.Code != 20500 {
						t.Fatalf("got %+v", re)
					}
					fails++
				}
			}
			if fails != tc.wantFail || h.sim.Stats().ServerErrors != int64(tc.wantFail) {
				t.Errorf("fails = %d, want %d", fails, tc.wantFail)
			}
		})
	}
	t.Run("half is seeded and mixed", func(t *testing.T) {
		count := func() int {
			h := newTwHarness(t, TwilioConfig{FailRate: 0.5, Seed: 7})
			fails := 0
			for range 40 {
				p := &openapi.CreateMessageParams{}
				p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x")
				if _, err := h.api.CreateMessage(p); err != nil {
					fails++
				}
			}
			return fails
		}
		a, b := count(), count()
		if a != b || a == 0 || a == 40 {
			t.Errorf("fails %d then %d with the same seed; want equal and strictly between 0 and 40", a, b)
		}
	})
}

func TestTwilioCreateCall(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	twiml := `<Response><Say language="ja-JP">避難してください</Say></Response>`
	p := &openapi.CreateCallParams{}
	p.SetTo(twTestTo).SetFrom(twTestFrom).SetTwiml(twiml)
	c, err := h.api.CreateCall(p)
	if err != nil {
		t.Fatal(err)
	}
	if !twSidRe.MatchString(*c.Sid) || !strings.HasPrefix(*c.Sid, "CA") || *c.Status != "queued" || *c.To != twTestTo {
		t.Errorf("call = sid %s status %s to %s", *c.Sid, *c.Status, *c.To)
	}
	calls := h.sim.Calls(twTestTo)
	if len(calls) != 1 || calls[0].Twiml != twiml || calls[0].Sid != *c.Sid || h.sim.CallCount(twTestTo) != 1 {
		t.Errorf("recorded %+v", calls)
	}

	tests := []struct {
		name string
		set  func(p *openapi.CreateCallParams)
		code int
	}{
		{"missing to", func(p *openapi.CreateCallParams) { p.SetFrom(twTestFrom).SetTwiml("<Response/>") }, 21201},
		{"bad to", func(p *openapi.CreateCallParams) { p.SetTo("0312345678").SetFrom(twTestFrom).SetTwiml("<Response/>") }, 21211},
		{"missing from", func(p *openapi.CreateCallParams) { p.SetTo(twTestTo).SetTwiml("<Response/>") }, 21213},
		{"bad from", func(p *openapi.CreateCallParams) { p.SetTo(twTestTo).SetFrom("Minato").SetTwiml("<Response/>") }, 21212},
		{"no url or twiml", func(p *openapi.CreateCallParams) { p.SetTo(twTestTo).SetFrom(twTestFrom) }, 21205},
		{"bad url", func(p *openapi.CreateCallParams) { p.SetTo(twTestTo).SetFrom(twTestFrom).SetUrl("/relative") }, 21205},
		{"twiml too long", func(p *openapi.CreateCallParams) {
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetTwiml("<Response><Say>" + strings.Repeat("a", 4000) + "</Say></Response>")
		}, 32018},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &openapi.CreateCallParams{}
			tc.set(p)
			_, err := h.api.CreateCall(p)
			re := twRestError(t, err)
			if re.Status != 400 || re.Code != tc.code {
				t.Errorf("got %d %d (%s), want 400 %d", re.Status, re.Code, re.Message, tc.code)
			}
			if strings.Contains(re.Message, "12345678") {
				t.Errorf("message echoes a number: %q", re.Message)
			}
		})
	}
}

// twCallbackSink records signed posts and checks each signature with
// twilio-go's RequestValidator.
type twCallbackSink struct {
	srv   *httptest.Server
	mu    sync.Mutex
	forms []url.Values
	valid []bool
	got   chan struct{}
}

func newTwCallbackSink(t *testing.T, token string) *twCallbackSink {
	s := &twCallbackSink{got: make(chan struct{}, 100)}
	rv := client.NewRequestValidator(token)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		params := map[string]string{}
		for k := range r.PostForm {
			params[k] = r.PostForm.Get(k)
		}
		ok := rv.Validate(s.srv.URL+r.URL.RequestURI(), params, r.Header.Get("X-Twilio-Signature"))
		s.mu.Lock()
		s.forms = append(s.forms, r.PostForm)
		s.valid = append(s.valid, ok)
		s.mu.Unlock()
		s.got <- struct{}{}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *twCallbackSink) wait(t *testing.T, n int) []url.Values {
	t.Helper()
	for i := range n {
		select {
		case <-s.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of %d callbacks", i, n)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ok := range s.valid {
		if !ok {
			t.Errorf("callback %d: signature does not validate with twilio-go", i)
		}
	}
	return slicesClone(s.forms)
}

// twEventually polls cond until it holds or 10 s pass (a hang guard, not a
// speed assertion).
func twEventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func slicesClone(in []url.Values) []url.Values { return append([]url.Values(nil), in...) }

func TestTwilioStatusCallback(t *testing.T) {
	tests := []struct {
		name        string
		deliverRate float64
		final       string
		errorCode   string
	}{
		{"delivered", 0, "delivered", ""},
		{"undelivered", 1e-9, "undelivered", "30003"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := newTwCallbackSink(t, twTestToken)
			h := newTwHarness(t, TwilioConfig{DeliverRate: tc.deliverRate, CallbackDelay: time.Millisecond})
			cbURL := sink.srv.URL + "/twilio/status?batch=b1&x=a+b"
			p := &openapi.CreateMessageParams{}
			p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("地震です {link}").SetStatusCallback(cbURL)
			m, err := h.api.CreateMessage(p)
			if err != nil {
				t.Fatal(err)
			}
			forms := sink.wait(t, 2)
			for i, want := range []string{"sent", tc.final} {
				f := forms[i]
				if f.Get("MessageSid") != *m.Sid || f.Get("MessageStatus") != want || f.Get("AccountSid") != twTestSID ||
					f.Get("To") != twTestTo || f.Get("From") != twTestFrom {
					t.Errorf("callback %d = %v, want status %s", i, f, want)
				}
			}
			if got := forms[1].Get("ErrorCode"); got != tc.errorCode {
				t.Errorf("ErrorCode = %q, want %q", got, tc.errorCode)
			}
			msgs := h.sim.Messages(twTestTo)
			if len(msgs) != 1 || msgs[0].Status != tc.final {
				t.Errorf("recorded status %+v, want %s", msgs, tc.final)
			}
			// The counter moves after the sink has answered, so wait for it.
			twEventually(t, func() bool { return h.sim.Stats().CallbacksSent == 2 }, "CallbacksSent == 2")
		})
	}
}

func TestTwilioCallStatusCallback(t *testing.T) {
	sink := newTwCallbackSink(t, twTestToken)
	h := newTwHarness(t, TwilioConfig{CallbackDelay: time.Millisecond})
	p := &openapi.CreateCallParams{}
	p.SetTo(twTestTo).SetFrom(twTestFrom).SetUrl("https://anpi.example/voice").SetStatusCallback(sink.srv.URL + "/call")
	c, err := h.api.CreateCall(p)
	if err != nil {
		t.Fatal(err)
	}
	f := sink.wait(t, 1)[0]
	if f.Get("CallSid") != *c.Sid || f.Get("CallStatus") != "completed" || f.Get("To") != twTestTo {
		t.Errorf("callback = %v", f)
	}
}

func TestTwilioSignTwilioMatchesSDK(t *testing.T) {
	rv := client.NewRequestValidator(twTestToken)
	tests := []struct {
		name   string
		url    string
		params url.Values
	}{
		{"no params", "https://anpi.example/voice", url.Values{}},
		{"speech", "https://anpi.example/voice/answer?c=1&r=2", url.Values{
			"CallSid": {"CA1"}, "SpeechResult": {"無事です & 家にいます"}, "Confidence": {"0.92"}, "Digits": {""}}},
		{"port", "http://127.0.0.1:8080/twilio/status", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}},
		{"sorting is case-sensitive", "https://a.example/", url.Values{"b": {"1"}, "B": {"2"}, "a": {"3"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig := SignTwilio(twTestToken, tc.url, tc.params)
			m := map[string]string{}
			for k := range tc.params {
				m[k] = tc.params.Get(k)
			}
			if !rv.Validate(tc.url, m, sig) {
				t.Errorf("twilio-go rejects %q", sig)
			}
			if SignTwilio("other", tc.url, tc.params) == sig {
				t.Error("signature does not depend on the token")
			}
			m["extra"] = "1"
			if rv.Validate(tc.url, m, sig) {
				t.Error("signature still valid with an added parameter")
			}
		})
	}
}

func TestTwilioPostVoiceWebhook(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{})
	sink := newTwCallbackSink(t, twTestToken)
	resp, err := h.sim.PostVoiceWebhook(context.Background(), sink.srv.URL+"/voice/answer?check=c1",
		url.Values{"CallSid": {"CA1"}, "SpeechResult": {"けがをしています"}, "Confidence": {"0.8"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	f := sink.wait(t, 1)[0]
	if f.Get("SpeechResult") != "けがをしています" || f.Get("AccountSid") != twTestSID || f.Get("ApiVersion") != "2010-04-01" {
		t.Errorf("webhook form = %v", f)
	}
}

func TestTwilioCloseStopsCallbacks(t *testing.T) {
	sink := newTwCallbackSink(t, twTestToken)
	h := newTwHarness(t, TwilioConfig{CallbackDelay: time.Hour})
	for range 3 {
		p := &openapi.CreateMessageParams{}
		p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x").SetStatusCallback(sink.srv.URL)
		if _, err := h.api.CreateMessage(p); err != nil {
			t.Fatal(err)
		}
	}
	h.sim.Close() // must return although callbacks are due in an hour
	h.sim.Close() // idempotent
	p := &openapi.CreateMessageParams{}
	p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody("x").SetStatusCallback(sink.srv.URL)
	if _, err := h.api.CreateMessage(p); err != nil {
		t.Fatalf("API after Close: %v", err)
	}
	if st := h.sim.Stats(); st.CallbacksSent != 0 || st.CallbacksDropped != 4 {
		t.Errorf("stats after close = %+v", st)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.forms) != 0 {
		t.Errorf("got %d callbacks after Close", len(sink.forms))
	}
}

func TestTwilioResetAndKeep(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{MessagesPerSecond: -1})
	for i := range twKeep + 3 {
		p := &openapi.CreateMessageParams{}
		p.SetTo(twTestTo).SetFrom(twTestFrom).SetBody(fmt.Sprintf("m%d", i))
		if _, err := h.api.CreateMessage(p); err != nil {
			t.Fatal(err)
		}
	}
	msgs := h.sim.Messages(twTestTo)
	if len(msgs) != twKeep || msgs[0].Body != "m3" || msgs[twKeep-1].Body != "m7" {
		t.Errorf("kept %d messages, first %q", len(msgs), msgs[0].Body)
	}
	if h.sim.MessageCount(twTestTo) != twKeep+3 {
		t.Errorf("count = %d", h.sim.MessageCount(twTestTo))
	}
	h.sim.Reset()
	if st := h.sim.Stats(); st != (TwilioStats{}) || len(h.sim.Messages(twTestTo)) != 0 || h.sim.MessageCount(twTestTo) != 0 {
		t.Errorf("after Reset: %+v", st)
	}
}

func TestTwilioManyNumbers(t *testing.T) {
	if testing.Short() {
		t.Skip("records 200k numbers")
	}
	sim := NewTwilio(TwilioConfig{AccountSID: twTestSID, AuthToken: twTestToken})
	defer sim.Close()
	const n = 200_000
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				sim.store.addMessage(fmt.Sprintf("+8190%08d", i), twMsgRec{sid: "SM1", body: "b"})
			}
		}()
	}
	wg.Wait()
	sim.store.addMessage("+819000000042", twMsgRec{sid: "SM2", body: "second"})
	if got := sim.Stats().Numbers; got != n {
		t.Errorf("Numbers = %d, want %d", got, n)
	}
	if c := sim.MessageCount("+819000000042"); c != 2 {
		t.Errorf("count = %d", c)
	}
	if m := sim.Messages("+819000000042"); len(m) != 2 || m[1].Body != "second" {
		t.Errorf("messages = %+v", m)
	}
	if c := sim.MessageCount("+819099999999"); c != 0 {
		t.Errorf("unknown number count = %d", c)
	}
}

func TestTwilioConcurrent(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{MessagesPerSecond: -1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				p := &openapi.CreateMessageParams{}
				p.SetTo(fmt.Sprintf("+8180%04d%04d", g, i)).SetFrom(twTestFrom).SetBody("x")
				if _, err := h.api.CreateMessage(p); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := h.sim.Stats(); st.Messages != 200 || st.Numbers != 200 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTwilioSegments(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"a", 1},
		{strings.Repeat("a", 160), 1},
		{strings.Repeat("a", 161), 2},
		{strings.Repeat("a", 306), 2},
		{strings.Repeat("a", 307), 3},
		{strings.Repeat("{", 80), 1}, // extension chars take two septets
		{strings.Repeat("{", 81), 2},
		{strings.Repeat("é", 160), 1},
		{strings.Repeat("震", 70), 1},
		{strings.Repeat("震", 71), 2},
		{strings.Repeat("震", 134), 2},
		{strings.Repeat("震", 135), 3},
		{strings.Repeat("a", 69) + "震", 1},
		{strings.Repeat("😀", 35), 1}, // surrogate pairs take two UCS-2 units
		{strings.Repeat("😀", 36), 2},
	}
	for _, tc := range tests {
		if got := twSegments(tc.text); got != tc.want {
			t.Errorf("twSegments(%d runes of %q) = %d, want %d", len([]rune(tc.text)), []rune(tc.text)[0], got, tc.want)
		}
	}
}

func TestTwilioMaskPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a/+819012345678.json", "/a/[number].json"},
		{"/a/%2B819012345678", "/a/[number]"},
		{"/2010-04-01/Accounts/AC1/Queues.json", "/2010-04-01/Accounts/AC1/Queues.json"},
	}
	for _, tc := range tests {
		if got := twMaskPath(tc.in); got != tc.want {
			t.Errorf("twMaskPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkTwilioCreateMessage(b *testing.B) {
	sim := NewTwilio(TwilioConfig{AccountSID: twTestSID, AuthToken: twTestToken, MessagesPerSecond: -1})
	defer sim.Close()
	form := url.Values{"To": {twTestTo}, "From": {twTestFrom}, "Body": {"地震です。安否を教えてください https://anpi.example/r/abc"}}
	body := form.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/2010-04-01/Accounts/"+twTestSID+"/Messages.json", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(twTestSID, twTestToken)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkTwilioRecord200k records one message for each of 200k numbers and
// reports the retained heap per number.
func BenchmarkTwilioRecord200k(b *testing.B) {
	const n = 200_000
	body := "【港区】震度5強の地震。安否を返信してください https://anpi.example/r/"
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		sim := NewTwilio(TwilioConfig{AccountSID: twTestSID, AuthToken: twTestToken})
		b.StartTimer()
		for i := range n {
			sim.store.addMessage(fmt.Sprintf("+8190%08d", i), twMsgRec{sid: twNewSid("SM"), body: body + strconv.Itoa(i),
				from: twTestFrom, created: int64(i)})
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/number")
		runtime.KeepAlive(sim)
		sim.Close()
		b.StartTimer()
	}
}
