package voice_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/voice"
	"github.com/minato-city/anpi/sandbox"
)

func TestCheckTwiML(t *testing.T) {
	action := "https://anpi.example/webhooks/twilio/voice/answer?check=sc_1&resident=r<1>&step=1"
	redirect := "https://anpi.example/webhooks/twilio/voice?check=sc_1&resident=r1&attempt=2"
	for _, tc := range []struct{ lang, say, gather string }{
		{"ja", "ja-JP", "ja-JP"}, {"ja-easy", "ja-JP", "ja-JP"}, {"en", "en-US", "en-US"}, {"zh", "cmn-CN", "zh-CN"}, {"ko", "ko-KR", "ko-KR"},
	} {
		doc := voice.CheckTwiML(voice.Question{Language: tc.lang, Text: "Q & A?", ActionURL: action, RedirectURL: redirect})
		v := parse(t, doc)
		if verbNames(v) != "Gather,Say,Redirect" {
			t.Fatalf("%s: verbs %s", tc.lang, verbNames(v))
		}
		g := v.Verbs[0]
		p := voice.PromptsFor(tc.lang)
		if g.Input != "speech dtmf" || g.Language != tc.gather || g.Action != action || g.Method != "POST" || g.NumDigits != "1" ||
			len(g.Say) != 2 || g.Say[0].Text != "Q & A?" || g.Say[1].Text != p.Keys || g.Say[0].Language != tc.say {
			t.Errorf("%s: gather %+v", tc.lang, g)
		}
		if v.Verbs[1].Text != p.NotHeard || strings.TrimSpace(v.Verbs[2].Text) != redirect {
			t.Errorf("%s: silence branch %+v", tc.lang, v.Verbs[1:])
		}
	}
	// The last attempt says goodbye and hangs up instead of redirecting.
	v := parse(t, voice.CheckTwiML(voice.Question{Language: "en", Text: "Q", ActionURL: action}))
	if verbNames(v) != "Gather,Say,Hangup" || v.Verbs[1].Text != voice.PromptsFor("en").Goodbye {
		t.Fatalf("last attempt: %s", verbNames(v))
	}
	if v := parse(t, voice.SayTwiML("ko", "a", "", "b")); verbNames(v) != "Say,Say,Hangup" || v.Verbs[0].Language != "ko-KR" {
		t.Fatalf("SayTwiML: %s", verbNames(v))
	}
	if v := parse(t, voice.RedirectTwiML("en", "again", redirect)); verbNames(v) != "Say,Redirect" {
		t.Fatalf("RedirectTwiML: %s", verbNames(v))
	}
	// Every key the prompts promise maps to an answer.
	for _, d := range []string{"1", "2", "3"} {
		if voice.Digits[d] == "" {
			t.Fatalf("key %s has no meaning", d)
		}
	}
}

func TestParseWebhook(t *testing.T) {
	const public = "https://anpi.example/"
	form := url.Values{"CallSid": {"CA1"}, "SpeechResult": {"無事です"}, "Confidence": {"0.9"}}
	req := func(target, sig string) *http.Request {
		r := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Twilio-Signature", sig)
		return r
	}
	path := "/webhooks/twilio/voice/answer?check=sc_1&resident=r1&step=1"
	good := sandbox.SignTwilio(testToken, "https://anpi.example"+path, form)
	got, err := voice.ParseWebhook(req("http://10.0.0.5:8080"+path, good), testToken, public)
	if err != nil || got.Get("SpeechResult") != "無事です" || got.Get("CallSid") != "CA1" {
		t.Fatalf("valid: %v %v", got, err)
	}
	for name, r := range map[string]*http.Request{
		"other token":    req(path, sandbox.SignTwilio("other", "https://anpi.example"+path, form)),
		"query changed":  req("/webhooks/twilio/voice/answer?check=sc_1&resident=r2&step=1", good),
		"host not used":  req(path, sandbox.SignTwilio(testToken, "http://10.0.0.5:8080"+path, form)),
		"no signature":   req(path, ""),
		"body tampering": req(path, sandbox.SignTwilio(testToken, "https://anpi.example"+path, url.Values{"CallSid": {"CA1"}})),
	} {
		if _, err := voice.ParseWebhook(r, testToken, public); !errors.Is(err, voice.ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := voice.ParseWebhook(httptest.NewRequest("GET", path, nil), testToken, public); err == nil || errors.Is(err, voice.ErrBadSignature) {
		t.Errorf("GET: %v", err)
	}
}

// TestSendWithTwiMLURL: answer-seeking batches (with answer buttons) are
// called with anpi's TwiML URL; plain alerts keep their inline TwiML.
func TestSendWithTwiMLURL(t *testing.T) {
	sim, s := newEnv(t, sandbox.TwilioConfig{}, func(c *voice.Config) {
		c.TwiMLURL = "https://anpi.example/webhooks/twilio/voice"
	})
	rs := recipients(2)
	check := &alert.Batch{AlertID: "al_check", Language: "ja", Text: "安否確認", Recipients: rs[:1],
		QuickReplies: []alert.QuickReply{{Label: "無事", Data: "sc=sc_1&a=safe"}}}
	if out, err := s.Send(context.Background(), check); err != nil || out[0].Err != nil {
		t.Fatalf("send: %v %+v", err, out)
	}
	c := sim.Calls(rs[0].Address)[0]
	u, err := url.Parse(c.URL)
	if err != nil || c.Twiml != "" || u.Host != "anpi.example" || u.Path != "/webhooks/twilio/voice" ||
		u.Query().Get("alert") != "al_check" || u.Query().Get("resident") != rs[0].ResidentID {
		t.Fatalf("check call %+v", c)
	}
	plain := &alert.Batch{AlertID: "al_plain", Language: "ja", Text: "避難してください", Recipients: rs[1:]}
	if out, err := s.Send(context.Background(), plain); err != nil || out[0].Err != nil {
		t.Fatalf("send: %v %+v", err, out)
	}
	if c := sim.Calls(rs[1].Address)[0]; c.URL != "" || verbNames(parse(t, c.Twiml)) != "Say,Pause,Say" {
		t.Fatalf("plain call %+v", c)
	}
	if _, err := voice.New(voice.Config{TwiMLURL: "/relative"}); err == nil || !strings.Contains(err.Error(), "twiml url") {
		t.Fatalf("relative TwiML URL accepted: %v", err)
	}
}
