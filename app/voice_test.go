package app

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/minato-city/anpi/alert/voice"
	"github.com/minato-city/anpi/safety/classify"
	"github.com/minato-city/anpi/sandbox"
)

// twimlDoc is the subset of TwiML anpi's voice webhooks write.
type twimlDoc struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []struct {
		XMLName   xml.Name
		Input     string `xml:"input,attr"`
		Language  string `xml:"language,attr"`
		Action    string `xml:"action,attr"`
		Method    string `xml:"method,attr"`
		NumDigits string `xml:"numDigits,attr"`
		Timeout   string `xml:"timeout,attr"`
		Text      string `xml:",chardata"`
		Say       []struct {
			Language string `xml:"language,attr"`
			Text     string `xml:",chardata"`
		} `xml:"Say"`
	} `xml:",any"`
}

func (d twimlDoc) names() string {
	var out []string
	for _, v := range d.Verbs {
		out = append(out, v.XMLName.Local)
	}
	return strings.Join(out, ",")
}

// postVoice plays Twilio: a signed form POST to one of the voice webhooks.
func postVoice(t *testing.T, s *server, path string, q url.Values, form url.Values) (int, twimlDoc, string) {
	t.Helper()
	u := s.url + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := s.app.Sandbox.Twilio.PostVoiceWebhook(context.Background(), u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc twimlDoc
	if resp.StatusCode == 200 {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
			t.Fatalf("%s: content type %q", path, ct)
		}
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s: not TwiML: %v\n%s", path, err, body)
		}
	}
	return resp.StatusCode, doc, string(body)
}

// runVoiceSafetyCheck runs issue 4 end to end: a safety check on the
// voice channel calls residents through the real twilio-go client and the
// Twilio simulator, which plays the people answering — one speaks, one
// presses 1, one stays silent — through anpi's signed voice webhooks; the
// answers become statuses and triage, and the silent ones are in the
// non-responder CSV.
func TestVoiceSafetyCheckEmbedded(t *testing.T) { runVoiceSafetyCheck(t, "embedded") }
func TestVoiceSafetyCheckRedis(t *testing.T)    { runVoiceSafetyCheck(t, "redis") }

func runVoiceSafetyCheck(t *testing.T, backend string) {
	s := start(t, baseConfig(t, backend))
	op, viewer := s.staff("sato", "operator"), s.staff("kato", "viewer")
	const speaker, presser, silent, formula = "+81354000001", "+81354000002", "+81354000003", "+81354000004"
	people := []map[string]any{
		{"id": "v-speaker", "name": "高橋 トメ", "language": "ja", "area": "azabu", "contacts": map[string]string{"voice_phone": speaker}, "tags": []string{"voicetest", "needs_support"}},
		{"id": "v-presser", "name": "Mary Smith", "language": "en", "area": "shiba", "contacts": map[string]string{"voice_phone": presser}, "tags": []string{"voicetest"}},
		{"id": "v-silent", "name": "鈴木 一郎", "language": "ja", "area": "shiba", "contacts": map[string]string{"voice_phone": silent}, "tags": []string{"voicetest"}},
		{"id": "v-formula", "name": "=HYPERLINK(\"http://evil\")", "language": "ja", "area": "akasaka", "contacts": map[string]string{"voice_phone": formula}, "tags": []string{"voicetest"}, "household_id": "@hh"},
	}
	if code := s.call("POST", "/api/v1/residents", op, people, nil); code != 200 && code != 201 {
		t.Fatalf("residents: %d", code)
	}
	tw := s.app.Sandbox.Twilio
	tw.SetCallee(speaker, sandbox.TwilioCallee{Answers: []sandbox.TwilioAnswer{{Speech: "家具の下敷きで動けません", Confidence: 0.87}}})
	tw.SetCallee(presser, sandbox.TwilioCallee{Answers: []sandbox.TwilioAnswer{{Digits: "1"}}})
	tw.SetCallee(silent, sandbox.TwilioCallee{})
	// formula has no script: the call is placed but nobody plays it.

	var check struct{ ID string }
	if code := s.call("POST", "/api/v1/safety-checks", op, map[string]any{"target": map[string]any{"all": true, "tags": []string{"voicetest"}},
		"channels": []string{"voice"}, "drill": true}, &check); code != 201 {
		t.Fatalf("start: %d", code)
	}
	conversation := func(number string) sandbox.TwilioConversation {
		t.Helper()
		var conv sandbox.TwilioConversation
		s.waitFor("the call to "+number+" to end", func() bool {
			calls := tw.Calls(number)
			if len(calls) == 0 {
				return false
			}
			c, ok := tw.Conversation(calls[0].Sid)
			conv = c
			return ok && c.Done
		})
		if conv.Err != "" {
			t.Fatalf("call to %s: %s (steps %+v)", number, conv.Err, conv.Steps)
		}
		return conv
	}
	ja, en := voice.PromptsFor("ja"), voice.PromptsFor("en")

	// Speech: the question in Japanese (drill-marked), the transcript, thanks and
	// "help is being arranged".
	c := conversation(speaker)
	if len(c.Heard) != 4 || c.Heard[0] != "【訓練】"+ja.Question || c.Heard[1] != ja.Keys || c.Heard[2] != ja.Thanks || c.Heard[3] != ja.Urgent {
		t.Fatalf("speaker heard %q", c.Heard)
	}
	if call := tw.Calls(speaker)[0]; call.Twiml != "" || !strings.HasPrefix(call.URL, s.url+"/webhooks/twilio/voice?") {
		t.Fatalf("the check call is not placed with anpi's TwiML URL: %+v", call)
	}
	// Keys: English, and no urgent sentence for "safe".
	c = conversation(presser)
	if !slices.Equal(c.Heard, []string{"[DRILL] " + en.Question, en.Keys, en.Thanks}) {
		t.Fatalf("presser heard %q", c.Heard)
	}
	// Silence: asked twice, then a goodbye; nothing is posted as an answer.
	c = conversation(silent)
	q := "【訓練】" + ja.Question
	if !slices.Equal(c.Heard, []string{q, ja.Keys, ja.NotHeard, q, ja.Keys, ja.Goodbye}) {
		t.Fatalf("silent heard %q", c.Heard)
	}
	for _, st := range c.Steps {
		if strings.Contains(st.URL, "/answer") {
			t.Fatalf("silence posted an answer: %+v", st)
		}
	}

	// Statuses: needs_help (pinned, in triage) and safe; two without reply.
	var cv struct {
		Sent, Responded int
		ByStatus        map[string]int `json:"by_status"`
	}
	s.waitFor("voice answers counted", func() bool {
		s.call("GET", "/api/v1/safety-checks/"+check.ID, op, nil, &cv)
		return cv.Responded == 2
	})
	if cv.Sent != 4 || cv.ByStatus["needs_help"] != 1 || cv.ByStatus["safe"] != 1 || cv.ByStatus["no_reply"] != 2 {
		t.Fatalf("check %+v", cv)
	}
	var replies struct {
		Items []struct {
			ResidentID string `json:"resident_id"`
			Status     string
			Channel    string
			Text       string
			Source     string
		}
	}
	s.call("GET", "/api/v1/safety-checks/"+check.ID+"/replies", op, nil, &replies)
	for _, r := range replies.Items {
		switch r.ResidentID {
		case "v-speaker":
			if r.Status != classify.LabelNeedsHelp || r.Channel != "voice" || r.Text != "家具の下敷きで動けません" {
				t.Errorf("speaker status %+v", r)
			}
		case "v-presser":
			if r.Status != classify.LabelSafe || r.Channel != "voice" || r.Source != "button" {
				t.Errorf("presser status %+v", r)
			}
		default:
			t.Errorf("unexpected status %+v", r)
		}
	}
	var tri struct {
		Items []struct {
			ResidentID string `json:"resident_id"`
			Label      string
			Channel    string
		}
	}
	s.waitFor("triage", func() bool { s.call("GET", "/api/v1/triage?state=open", op, nil, &tri); return len(tri.Items) > 0 })
	if len(tri.Items) != 1 || tri.Items[0].ResidentID != "v-speaker" || tri.Items[0].Label != "needs_help" || tri.Items[0].Channel != "voice" {
		t.Fatalf("triage %+v", tri)
	}

	// The TwiML of a check call, fetched as Twilio does.
	code, doc, _ := postVoice(t, s, "/webhooks/twilio/voice", url.Values{"check": {check.ID}, "resident": {"v-presser"}},
		url.Values{"CallSid": {"CA" + strings.Repeat("0", 32)}})
	if code != 200 || doc.names() != "Gather,Say,Redirect" {
		t.Fatalf("check twiml: %d %s", code, doc.names())
	}
	g := doc.Verbs[0]
	action, _ := url.Parse(g.Action)
	if g.Input != "speech dtmf" || g.Language != "en-US" || g.NumDigits != "1" || g.Timeout == "" || g.Method != "POST" ||
		action.Path != "/webhooks/twilio/voice/answer" || action.Query().Get("check") != check.ID ||
		action.Query().Get("resident") != "v-presser" || action.Query().Get("step") != "1" || len(g.Say) != 2 {
		t.Fatalf("gather %+v", g)
	}
	redirect, _ := url.Parse(strings.TrimSpace(doc.Verbs[2].Text))
	if redirect.Path != "/webhooks/twilio/voice" || redirect.Query().Get("attempt") != "2" {
		t.Fatalf("redirect %q", doc.Verbs[2].Text)
	}

	// A wrong signature is refused, for both webhooks.
	for _, path := range []string{"/webhooks/twilio/voice", "/webhooks/twilio/voice/answer"} {
		req, _ := http.NewRequest("POST", s.url+path+"?check="+check.ID+"&resident=v-silent", strings.NewReader("CallSid=CAx&Digits=3"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sandbox.SignTwilio("not-the-token", s.url+req.URL.RequestURI(), url.Values{"CallSid": {"CAx"}, "Digits": {"3"}}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("%s with a forged signature: %d", path, resp.StatusCode)
		}
	}
	// An unknown resident or check gets polite TwiML and 200, nothing recorded.
	for _, q := range []url.Values{{"check": {check.ID}, "resident": {"nobody"}}, {"check": {"sc_nope"}, "resident": {"v-silent"}}} {
		code, doc, body := postVoice(t, s, "/webhooks/twilio/voice/answer", q, url.Values{"CallSid": {"CAunknown"}, "Digits": {"3"}})
		if code != 200 || !strings.HasPrefix(doc.names(), "Say") || !strings.Contains(body, "Hangup") {
			t.Fatalf("unknown call %v: %d %s", q, code, body)
		}
	}
	// A key that means nothing is asked again, and records nothing.
	code, doc, _ = postVoice(t, s, "/webhooks/twilio/voice/answer", url.Values{"check": {check.ID}, "resident": {"v-silent"}, "step": {"1"}},
		url.Values{"CallSid": {"CAkey9"}, "Digits": {"9"}})
	if code != 200 || doc.names() != "Say,Redirect" {
		t.Fatalf("key 9: %d %s", code, doc.names())
	}

	// The non-responders, as CSV, for a viewer; audited as an export.
	req, _ := http.NewRequest("GET", s.url+"/api/v1/safety-checks/"+check.ID+"/non-responders.csv", nil)
	req.Header.Set("Authorization", "Bearer "+viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v", resp.StatusCode, err)
	}
	if strings.Join(rows[0], ",") != "resident_id,name,area,language,tags,household_id,voice_phone,channels,last_contacted" || len(rows) != 3 {
		t.Fatalf("csv rows %q", rows)
	}
	if f := rows[1]; f[0] != "v-formula" || f[1] != `'=HYPERLINK("http://evil")` || f[5] != "'@hh" || f[6] != "'"+formula ||
		f[4] != "voicetest" || f[7] != "voice" || f[8] == "" {
		t.Fatalf("formula row %q", f)
	}
	if f := rows[2]; f[0] != "v-silent" || f[1] != "鈴木 一郎" || f[2] != "shiba" || f[3] != "ja" {
		t.Fatalf("silent row %q", f)
	}
	if code := s.call("GET", "/api/v1/safety-checks/sc_missing/non-responders.csv", viewer, nil, nil); code != 404 {
		t.Fatalf("unknown check: %d", code)
	}
	var audit struct {
		Entries []struct{ Actor, Action, Target string }
	}
	s.call("GET", "/api/v1/audit?limit=1000", testAdmin, nil, &audit)
	exports := 0
	for _, e := range audit.Entries {
		if e.Actor == "kato" && strings.Contains(e.Action, "non-responders.csv") {
			exports++
			if e.Target == check.ID && !strings.Contains(e.Action, "2 rows") {
				t.Errorf("audit entry %+v", e)
			}
		}
	}
	if exports != 2 {
		t.Fatalf("%d export audit entries, want 2: %+v", exports, audit.Entries)
	}
}

// TestVoiceAlertCall: an ordinary alert is read twice over the TwiML
// webhook once approved; before approval, or after cancellation, it is not
// read out.
func TestVoiceAlertCall(t *testing.T) {
	s := start(t, baseConfig(t, "embedded"))
	sato, suzuki := s.staff("sato", "approver"), s.staff("suzuki", "approver")
	if code := s.call("POST", "/api/v1/residents", sato, map[string]any{"id": "v-ko", "name": "김", "language": "ko", "area": "shiba",
		"contacts": map[string]string{"voice_phone": "+81354000009"}, "tags": []string{"voicetest"}}, nil); code != 200 && code != 201 {
		t.Fatalf("resident: %d", code)
	}
	var created struct{ ID string }
	if code := s.call("POST", "/api/v1/alerts", sato, map[string]any{"severity": "severe", "title": map[string]string{"ja": "地震", "ko": "지진"},
		"body": map[string]string{"ja": "強い揺れ", "ko": "강한 흔들림"}, "target": map[string]any{"all": true, "tags": []string{"voicetest"}},
		"channels": []string{"voice"}}, &created); code != 201 {
		t.Fatalf("alert: %d", code)
	}
	q := url.Values{"alert": {created.ID}, "resident": {"v-ko"}}
	form := url.Values{"CallSid": {"CA" + strings.Repeat("1", 32)}}
	if _, doc, _ := postVoice(t, s, "/webhooks/twilio/voice", q, form); strings.Contains(doc.names(), "Pause") {
		t.Fatalf("an unapproved alert is read out: %s", doc.names())
	}
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/approve", suzuki, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	code, doc, _ := postVoice(t, s, "/webhooks/twilio/voice", q, form)
	if code != 200 || doc.names() != "Say,Pause,Say" || doc.Verbs[0].Language != "ko-KR" || doc.Verbs[0].Text != "지진。 강한 흔들림" ||
		doc.Verbs[2].Text != doc.Verbs[0].Text {
		t.Fatalf("alert twiml: %d %s %+v", code, doc.names(), doc.Verbs)
	}
}
