package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// twTwiMLApp is a TwiML webhook for the scripted-callee tests: it checks
// every request's signature with twilio-go's RequestValidator and serves
// a question with a Gather, a silence branch that redirects once, and a
// thank-you for any answer.
type twTwiMLApp struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []url.Values
	bad     int
}

func newTwTwiMLApp(t *testing.T, token string) *twTwiMLApp {
	a := &twTwiMLApp{}
	rv := client.NewRequestValidator(token)
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		params := map[string]string{}
		for k := range r.PostForm {
			params[k] = r.PostForm.Get(k)
		}
		if !rv.Validate(a.srv.URL+r.URL.RequestURI(), params, r.Header.Get("X-Twilio-Signature")) {
			a.mu.Lock()
			a.bad++
			a.mu.Unlock()
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		switch r.URL.Path {
		case "/voice":
			next := "/voice?attempt=2"
			tail := `<Say>not heard</Say><Redirect method="POST">` + next + `</Redirect>`
			if r.URL.Query().Get("attempt") == "2" {
				tail = `<Say>goodbye</Say><Hangup/>`
			}
			_, _ = w.Write([]byte(`<?xml version="1.0"?><Response><Gather input="speech dtmf" action="/answer?step=` +
				r.URL.Query().Get("attempt") + `" method="POST"><Say>are you safe?</Say></Gather>` + tail + `</Response>`))
		case "/answer":
			a.mu.Lock()
			a.answers = append(a.answers, r.PostForm)
			a.mu.Unlock()
			_, _ = w.Write([]byte(`<Response><Say>thanks</Say><Hangup/></Response>`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (h *twHarness) call(t *testing.T, to, u string) string {
	t.Helper()
	p := &openapi.CreateCallParams{}
	p.SetTo(to).SetFrom(twTestFrom).SetUrl(u).SetMethod("POST")
	c, err := h.api.CreateCall(p)
	if err != nil {
		t.Fatal(err)
	}
	return *c.Sid
}

func (h *twHarness) conversation(t *testing.T, sid string) TwilioConversation {
	t.Helper()
	var conv TwilioConversation
	twEventually(t, func() bool {
		c, ok := h.sim.Conversation(sid)
		conv = c
		return ok && c.Done
	}, "the call to end")
	return conv
}

func TestTwilioCalleeAnswers(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{CallsPerSecond: -1})
	app := newTwTwiMLApp(t, twTestToken)
	const speaker, presser, silent, unscripted = "+819000000001", "+819000000002", "+819000000003", "+819000000004"
	h.sim.SetCallee(speaker, TwilioCallee{Answers: []TwilioAnswer{{Speech: "家具の下敷きで動けません", Confidence: 0.8}}})
	h.sim.SetCallee(presser, TwilioCallee{Answers: []TwilioAnswer{{Digits: "3"}}})
	h.sim.SetCallee(silent, TwilioCallee{})

	// Speech: the transcript and confidence are posted to the action.
	sid := h.call(t, speaker, app.srv.URL+"/voice?attempt=1")
	conv := h.conversation(t, sid)
	if conv.Err != "" || !slices.Equal(conv.Heard, []string{"are you safe?", "thanks"}) || len(conv.Steps) != 2 {
		t.Fatalf("speaker: %+v", conv)
	}
	ans := conv.Steps[1].Params
	if ans.Get("SpeechResult") != "家具の下敷きで動けません" || !strings.HasPrefix(ans.Get("Confidence"), "0.8") ||
		ans.Get("CallSid") != sid || ans.Get("To") != speaker || ans.Get("Digits") != "" ||
		conv.Steps[1].URL != app.srv.URL+"/answer?step=1" {
		t.Fatalf("speech answer %s %v", conv.Steps[1].URL, ans)
	}

	// Digits.
	conv = h.conversation(t, h.call(t, presser, app.srv.URL+"/voice?attempt=1"))
	if conv.Err != "" || conv.Steps[1].Params.Get("Digits") != "3" || conv.Steps[1].Params.Get("SpeechResult") != "" {
		t.Fatalf("presser: %+v", conv)
	}

	// Silence: falls through to the Say and the Redirect, then the second
	// attempt's silence ends the call; nothing is posted to the action.
	conv = h.conversation(t, h.call(t, silent, app.srv.URL+"/voice?attempt=1"))
	want := []string{"are you safe?", "not heard", "are you safe?", "goodbye"}
	if conv.Err != "" || !slices.Equal(conv.Heard, want) || len(conv.Steps) != 2 ||
		conv.Steps[1].URL != app.srv.URL+"/voice?attempt=2" {
		t.Fatalf("silent: %+v", conv)
	}
	app.mu.Lock()
	answers, bad := len(app.answers), app.bad
	app.mu.Unlock()
	if answers != 2 || bad != 0 {
		t.Fatalf("answers posted %d, bad signatures %d", answers, bad)
	}

	// Opt-in: a number without a script is not played.
	sid = h.call(t, unscripted, app.srv.URL+"/voice?attempt=1")
	if _, ok := h.sim.Conversation(sid); ok {
		t.Fatal("a call to an unscripted number was played")
	}
	// The default script covers every number once set.
	h.sim.SetDefaultCallee(&TwilioCallee{Answers: []TwilioAnswer{{Digits: "1"}}})
	conv = h.conversation(t, h.call(t, unscripted, app.srv.URL+"/voice?attempt=1"))
	if conv.Steps[1].Params.Get("Digits") != "1" {
		t.Fatalf("default callee: %+v", conv)
	}
}

// TestTwilioCalleeWebhookFailure: a webhook that answers an error ends the
// call with the reason recorded, like Twilio's "application error".
func TestTwilioCalleeWebhookFailure(t *testing.T) {
	h := newTwHarness(t, TwilioConfig{CallsPerSecond: -1})
	app := newTwTwiMLApp(t, twTestToken)
	h.sim.SetCallee(twTestTo, TwilioCallee{Answers: []TwilioAnswer{{Digits: "1"}}})
	conv := h.conversation(t, h.call(t, twTestTo, app.srv.URL+"/missing"))
	if !strings.Contains(conv.Err, "404") || len(conv.Steps) != 1 || conv.Steps[0].Status != 404 {
		t.Fatalf("conversation %+v", conv)
	}
	// An app holding another auth token finds the signature wrong (401).
	other := newTwTwiMLApp(t, "another-token-entirely-000000000")
	conv = h.conversation(t, h.call(t, twTestTo, other.srv.URL+"/voice?attempt=1"))
	if !strings.Contains(conv.Err, "401") || other.bad != 1 {
		t.Fatalf("conversation %+v", conv)
	}
}
