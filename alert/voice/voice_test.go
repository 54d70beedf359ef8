package voice_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/sms"
	"github.com/minato-city/anpi/alert/voice"
	"github.com/minato-city/anpi/sandbox"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "voiceT0kenNeverInErrors01234567"
	testFrom  = "+81312345678"
)

var callSidRe = regexp.MustCompile(`^CA[0-9a-f]{32}$`)

func newEnv(t *testing.T, simCfg sandbox.TwilioConfig, mod func(*voice.Config)) (*sandbox.Twilio, *voice.Sender) {
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
	cfg := voice.Config{Config: sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := voice.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return sim, s
}

func recipients(n int) []alert.Recipient {
	rs := make([]alert.Recipient, n)
	for i := range rs {
		rs[i] = alert.Recipient{ResidentID: fmt.Sprintf("res%d", i), Address: fmt.Sprintf("+8180%08d", 20000000+i),
			Link: "https://anpi.example/r/x"}
	}
	return rs
}

// twiml is the subset of TwiML the channel writes.
type twiml struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []struct {
		XMLName       xml.Name
		Language      string `xml:"language,attr"`
		Input         string `xml:"input,attr"`
		Action        string `xml:"action,attr"`
		Method        string `xml:"method,attr"`
		SpeechTimeout string `xml:"speechTimeout,attr"`
		NumDigits     string `xml:"numDigits,attr"`
		Length        string `xml:"length,attr"`
		Text          string `xml:",chardata"`
		Say           []struct {
			Language string `xml:"language,attr"`
			Text     string `xml:",chardata"`
		} `xml:"Say"`
	} `xml:",any"`
}

func parse(t *testing.T, doc string) twiml {
	t.Helper()
	var v twiml
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	if err := d.Decode(&v); err != nil {
		t.Fatalf("TwiML is not valid XML: %v\n%s", err, doc)
	}
	return v
}

func verbNames(v twiml) string {
	var names []string
	for _, x := range v.Verbs {
		names = append(names, x.XMLName.Local)
	}
	return strings.Join(names, ",")
}

func TestTwilioSendCalls(t *testing.T) {
	sim, s := newEnv(t, sandbox.TwilioConfig{}, nil)
	rs := recipients(5)
	b := &alert.Batch{AlertID: "a1", Language: "ja", Text: "港区です。震度5強。安否を返信 {link}", Recipients: rs}
	if s.Channel() != alert.ChannelVoice || s.Cost(b) != 5 {
		t.Errorf("Channel %q Cost %d", s.Channel(), s.Cost(b))
	}
	out, err := s.Send(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	want := voice.TwiMLSay("港区です。震度5強。安否を返信", "ja")
	for i, o := range out {
		if o.Err != nil || !callSidRe.MatchString(o.ProviderID) {
			t.Fatalf("recipient %d: %+v", i, o)
		}
		calls := sim.Calls(rs[i].Address)
		if len(calls) != 1 || calls[0].Sid != o.ProviderID || calls[0].Twiml != want || calls[0].From != testFrom {
			t.Fatalf("recipient %d: recorded %+v", i, calls)
		}
		v := parse(t, calls[0].Twiml)
		if verbNames(v) != "Say,Pause,Say" {
			t.Errorf("verbs = %s", verbNames(v))
		}
		for _, say := range []int{0, 2} {
			if v.Verbs[say].Language != "ja-JP" || v.Verbs[say].Text != "港区です。震度5強。安否を返信" {
				t.Errorf("Say %d = %+v", say, v.Verbs[say])
			}
		}
	}
}

func TestTwilioTwiMLSayEscapingAndLanguage(t *testing.T) {
	tests := []struct {
		text, lang, wantLang string
	}{
		{`Fire <near> "Tamachi" & Shiba's park`, "en", "en-US"},
		{"すぐに避難してください", "ja-easy", "ja-JP"},
		{"请立即疏散", "zh", "cmn-CN"},
		{"즉시 대피하십시오", "ko", "ko-KR"},
		{"避難", "", "ja-JP"},
		{"Evacuate", "fr-FR", "fr-FR"},
		{"避難", `x" onload="`, "ja-JP"},
		{"<&>", "ja", "ja-JP"},
	}
	for _, tc := range tests {
		t.Run(tc.lang+" "+tc.text, func(t *testing.T) {
			doc := voice.TwiMLSay(tc.text, tc.lang)
			v := parse(t, doc)
			if verbNames(v) != "Say,Pause,Say" || v.Verbs[1].Length != "1" {
				t.Fatalf("verbs = %s in %s", verbNames(v), doc)
			}
			for _, i := range []int{0, 2} {
				if v.Verbs[i].Text != tc.text || v.Verbs[i].Language != tc.wantLang {
					t.Errorf("Say = %q (%s), want %q (%s)", v.Verbs[i].Text, v.Verbs[i].Language, tc.text, tc.wantLang)
				}
			}
			if strings.ContainsAny(tc.text, "<&") && strings.Contains(doc, tc.text) {
				t.Errorf("text not escaped: %s", doc)
			}
		})
	}
}

func TestTwilioTwiMLGather(t *testing.T) {
	action := "https://anpi.example/twilio/voice/answer?check=c1&resident=r<1>"
	doc := voice.TwiMLGather("ご無事ですか。無事なら1を押すか、話してください。", "ja", action)
	v := parse(t, doc)
	if verbNames(v) != "Gather" {
		t.Fatalf("verbs = %s", verbNames(v))
	}
	g := v.Verbs[0]
	if g.Input != "speech dtmf" || g.Language != "ja-JP" || g.Action != action || g.Method != "POST" ||
		g.SpeechTimeout != "auto" || g.NumDigits != "1" {
		t.Errorf("Gather = %+v", g)
	}
	if len(g.Say) != 1 || g.Say[0].Text != "ご無事ですか。無事なら1を押すか、話してください。" || g.Say[0].Language != "ja-JP" {
		t.Errorf("Gather Say = %+v", g.Say)
	}
}

func TestTwilioSendWithAnswerURL(t *testing.T) {
	sim, s := newEnv(t, sandbox.TwilioConfig{}, func(c *voice.Config) {
		c.AnswerURL = "https://anpi.example/twilio/voice/answer?v=1"
	})
	rs := recipients(2)
	out, err := s.Send(context.Background(), &alert.Batch{AlertID: "chk-7", Language: "en", Text: "Are you safe? {link}", Recipients: rs})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		v := parse(t, sim.Calls(rs[i].Address)[0].Twiml)
		if verbNames(v) != "Say,Pause,Gather" {
			t.Fatalf("verbs = %s", verbNames(v))
		}
		g := v.Verbs[2]
		u, err := url.Parse(g.Action)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Host != "anpi.example" || q.Get("v") != "1" || q.Get("alert") != "chk-7" || q.Get("resident") != rs[i].ResidentID {
			t.Errorf("action = %s", g.Action)
		}
		if g.Language != "en-US" || g.Input != "speech dtmf" || len(g.Say) != 1 || g.Say[0].Text != "Are you safe?" {
			t.Errorf("Gather = %+v", g)
		}
	}
}

func TestTwilioSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		sim       sandbox.TwilioConfig
		mod       func(*voice.Config)
		addr      string
		status    int
		code      string
		retryable bool
	}{
		{"server error", sandbox.TwilioConfig{FailRate: 1}, nil, "", 500, "20500", true},
		{"invalid number", sandbox.TwilioConfig{}, nil, "0312345678", 400, "21211", false},
		{"bad auth", sandbox.TwilioConfig{}, func(c *voice.Config) { c.AuthToken = "wrong0token" }, "", 401, "20003", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, s := newEnv(t, tc.sim, tc.mod)
			r := recipients(1)
			if tc.addr != "" {
				r[0].Address = tc.addr
			}
			out, err := s.Send(context.Background(), &alert.Batch{Text: "x", Recipients: r})
			if err != nil {
				t.Fatal(err)
			}
			var se *alert.SendError
			if !errors.As(out[0].Err, &se) || se.Status != tc.status || se.Code != tc.code || se.Retryable != tc.retryable {
				t.Fatalf("got %v, want status %d code %s retryable %v", out[0].Err, tc.status, tc.code, tc.retryable)
			}
			msg := out[0].Err.Error()
			if strings.Contains(msg, testToken) || strings.Contains(msg, r[0].Address) || strings.Contains(msg, r[0].Address[3:]) {
				t.Errorf("error leaks a secret or number: %q", msg)
			}
		})
	}
}

func TestTwilioSendRateLimited(t *testing.T) {
	sim, s := newEnv(t, sandbox.TwilioConfig{CallsPerSecond: 0.001}, func(c *voice.Config) { c.Concurrency = 1 })
	out, err := s.Send(context.Background(), &alert.Batch{Text: "x", Recipients: recipients(2)})
	if err != nil {
		t.Fatal(err)
	}
	var se *alert.SendError
	if out[0].Err != nil || !errors.As(out[1].Err, &se) || se.Code != "20429" || !se.Retryable {
		t.Errorf("outcomes %v / %v, want ok then retryable 20429", out[0].Err, out[1].Err)
	}
	if sim.Stats().RateLimited != 1 {
		t.Errorf("RateLimited = %d", sim.Stats().RateLimited)
	}
}

func TestTwilioSendLocalFailures(t *testing.T) {
	sim, s := newEnv(t, sandbox.TwilioConfig{}, nil)
	tests := []struct {
		name string
		b    *alert.Batch
		msg  string
	}{
		{"expired", &alert.Batch{Text: "x", Recipients: recipients(2), Deadline: time.Now().Add(-time.Minute)}, "expired"},
		{"twiml too long", &alert.Batch{Text: strings.Repeat("長", 2000), Recipients: recipients(2)}, "twiml exceeds 4000 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := s.Send(context.Background(), tc.b)
			for i, o := range out {
				var se *alert.SendError
				if !errors.As(o.Err, &se) || se.Retryable || se.Msg != tc.msg {
					t.Errorf("recipient %d: %v, want permanent %q", i, o.Err, tc.msg)
				}
			}
		})
	}
	if sim.Stats().Requests != 0 {
		t.Errorf("%d requests reached Twilio", sim.Stats().Requests)
	}
}

func TestTwilioSpokenText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"避難してください {link}", "避難してください"},
		{"{link} 避難 {link} です", "避難 です"},
		{"no link", "no link"},
	}
	for _, tc := range tests {
		if got := voice.SpokenText(tc.in); got != tc.want {
			t.Errorf("SpokenText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTwilioNewConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  voice.Config
		want string
	}{
		{"missing from", voice.Config{Config: sms.Config{AccountSID: testSID, AuthToken: testToken}}, "from"},
		{"bad answer url", voice.Config{Config: sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom}, AnswerURL: "/answer"}, "answer url"},
		{"bad token", voice.Config{Config: sms.Config{AccountSID: testSID, AuthToken: testToken + "%", From: testFrom}}, "auth token"},
	}
	for _, tc := range tests {
		_, err := voice.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), testToken) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}
