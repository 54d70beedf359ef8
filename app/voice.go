package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/voice"
	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/safety/classify"
)

// Voice webhooks (issue 4): elderly people without smartphones answer a
// safety check on a voice call. Twilio fetches the call's TwiML from
// POST /webhooks/twilio/voice?alert=..&resident=.. when the call is picked
// up (the voice channel places answer-seeking calls with that Url); anpi
// answers with the question inside a <Gather input="speech dtmf">, whose
// action POST /webhooks/twilio/voice/answer?check=..&resident=..&step=N
// receives SpeechResult or Digits. Both are signature-checked against the
// configured public URL. Calls that anpi does not know (unknown resident,
// alert or check) get a polite TwiML answer with status 200 — an error
// status would make Twilio speak an application error to the person — and
// nothing is recorded.

// voicePath and voiceAnswerPath are the webhook paths.
const (
	voicePath       = "/webhooks/twilio/voice"
	voiceAnswerPath = "/webhooks/twilio/voice/answer"
)

// voiceAttempts is how often a silent person is asked: once, then once more.
const voiceAttempts = 2

// voiceCall is what a voice webhook's query names.
type voiceCall struct {
	alertID, checkID, residentID string
	// attempt (TwiML fetch) or step (answer) numbers the asking, from 1.
	attempt int
}

func parseVoiceCall(q url.Values, key string) voiceCall {
	c := voiceCall{alertID: q.Get("alert"), checkID: q.Get("check"), residentID: q.Get("resident"), attempt: 1}
	if n, err := strconv.Atoi(q.Get(key)); err == nil && n >= 1 && n <= voiceAttempts {
		c.attempt = n
	}
	return c
}

// voiceWebhook verifies a voice webhook's signature; on failure it writes
// the error (401 for a bad signature) and returns false.
func (a *App) voiceWebhook(w http.ResponseWriter, r *http.Request, source string) (url.Values, bool) {
	form, err := voice.ParseWebhook(r, a.Cfg.Secrets.TwilioAuthToken, a.Cfg.PublicURL)
	if err != nil {
		a.metrics.webhooks.WithLabelValues(source, "rejected").Inc()
		if errors.Is(err, voice.ErrBadSignature) {
			httpapi.WriteError(w, &httpapi.Error{Status: http.StatusUnauthorized, Code: "bad_signature", Message: "X-Twilio-Signature does not match"})
			return nil, false
		}
		httpapi.WriteError(w, httpapi.BadRequest("%s", err.Error()))
		return nil, false
	}
	return form, true
}

func writeTwiML(w http.ResponseWriter, doc string) {
	w.Header().Set("Content-Type", voice.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(doc))
}

// voiceTarget is a call resolved to its person and, for a safety check,
// its check.
type voiceTarget struct {
	res   residents.Resident
	lang  string
	alert *alert.View
	check *safety.View
}

// resolveVoice looks up the resident and the alert or check a call is
// about. known is false (and err nil) for anything anpi does not know.
func (a *App) resolveVoice(ctx context.Context, c voiceCall) (t voiceTarget, known bool, err error) {
	if c.residentID == "" || (c.alertID == "" && c.checkID == "") {
		return t, false, nil
	}
	t.res, err = a.Residents.Get(ctx, c.residentID)
	if errors.Is(err, residents.ErrNotFound) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	t.lang = t.res.Language
	checkID := c.checkID
	if checkID == "" {
		v, err := a.Alerts.Get(ctx, c.alertID)
		if errors.Is(err, alert.ErrNotFound) {
			return t, false, nil
		}
		if err != nil {
			return t, false, err
		}
		if v.Status == alert.StatusPendingApproval {
			return t, false, nil // never read out an alert nobody approved
		}
		t.alert = &v
		checkID = v.SafetyCheck
	}
	if checkID == "" {
		return t, true, nil
	}
	v, err := a.Safety.Get(ctx, checkID)
	if errors.Is(err, safety.ErrNotFound) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	t.check = &v
	return t, true, nil
}

// unknownCallTwiML is the polite answer to a call anpi cannot place.
func unknownCallTwiML(lang string) string {
	if lang != "" {
		return voice.SayTwiML(lang, voice.PromptsFor(lang).Ended)
	}
	return voice.SayTwiML("ja", voice.PromptsFor("ja").Ended, voice.PromptsFor("en").Ended)
}

func (a *App) voiceURL(path string, q url.Values) string {
	return strings.TrimRight(a.Cfg.PublicURL, "/") + path + "?" + q.Encode()
}

// voiceTwiML serves POST /webhooks/twilio/voice: the TwiML of a call when
// it is answered. An alert call reads the alert twice; a safety-check call
// asks the question and listens for speech or a key (1 safe, 2 injured,
// 3 needs help), asking once more after a silence.
func (a *App) voiceTwiML(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.voiceWebhook(w, r, "twilio_voice"); !ok {
		return
	}
	c := parseVoiceCall(r.URL.Query(), "attempt")
	t, known, err := a.resolveVoice(r.Context(), c)
	if err != nil {
		a.Log.Error("voice twiml lookup", "err", err)
	}
	if !known {
		a.metrics.webhooks.WithLabelValues("twilio_voice", "unknown").Inc()
		writeTwiML(w, unknownCallTwiML(t.lang))
		return
	}
	a.metrics.webhooks.WithLabelValues("twilio_voice", "accepted").Inc()
	p := voice.PromptsFor(t.lang)
	if t.check == nil {
		if t.alert.Status == alert.StatusCancelled {
			writeTwiML(w, voice.SayTwiML(t.lang, p.Cancelled))
			return
		}
		text := voice.SpokenText(alert.Compose(&alert.Alert{Title: t.alert.Title, Body: t.alert.Body, Drill: t.alert.Drill}, t.lang, alert.ChannelVoice))
		writeTwiML(w, `<?xml version="1.0" encoding="UTF-8"?>`+voice.TwiMLSay(text, t.lang))
		return
	}
	if t.check.Status != safety.CheckActive {
		writeTwiML(w, voice.SayTwiML(t.lang, p.Ended))
		return
	}
	q := voice.Question{Language: t.lang, Text: checkQuestion(t.check, t.lang),
		ActionURL: a.voiceURL(voiceAnswerPath, url.Values{"check": {t.check.ID}, "resident": {t.res.ID}, "step": {strconv.Itoa(c.attempt)}})}
	if c.attempt < voiceAttempts {
		q.RedirectURL = a.voiceURL(voicePath, url.Values{"check": {t.check.ID}, "resident": {t.res.ID}, "attempt": {strconv.Itoa(c.attempt + 1)}})
	}
	writeTwiML(w, voice.CheckTwiML(q))
}

// checkQuestion is the spoken question of a check in lang: the drill
// marker, then the check's own question in lang — unless it is the default
// one (which talks about buttons) or the check has none in lang, in which
// case the voice wording in lang is used.
func checkQuestion(v *safety.View, lang string) string {
	prefix := ""
	if v.Drill {
		prefix = alert.DrillPrefix(lang)
	}
	if q := v.Question[lang]; strings.TrimSpace(q) != "" && q != safety.DefaultQuestion[lang] {
		return prefix + q
	}
	return prefix + voice.PromptsFor(lang).Question
}

// voiceButtons maps the keys of voice.Digits to the labels safety uses
// for button answers.
var voiceButtons = map[string]string{
	"1": classify.LabelSafe, "2": classify.LabelInjured, "3": classify.LabelNeedsHelp,
}

// voiceAnswer serves POST /webhooks/twilio/voice/answer: the <Gather>
// result of a safety-check call. Digits 1/2/3 become the safe, injured
// and needs_help buttons; SpeechResult becomes the reply text. The reply
// is enqueued like the LINE webhook's, idempotent on CallSid and step, and
// the person hears thanks — and, for an urgent answer, that help is being
// arranged.
func (a *App) voiceAnswer(w http.ResponseWriter, r *http.Request) {
	form, ok := a.voiceWebhook(w, r, "twilio_voice_answer")
	if !ok {
		return
	}
	c := parseVoiceCall(r.URL.Query(), "step")
	sid := form.Get("CallSid")
	t, known, err := a.resolveVoice(r.Context(), c)
	if err != nil {
		a.Log.Error("voice answer lookup", "err", err)
	}
	if !known || t.check == nil || sid == "" {
		a.metrics.webhooks.WithLabelValues("twilio_voice_answer", "unknown").Inc()
		writeTwiML(w, unknownCallTwiML(t.lang))
		return
	}
	p := voice.PromptsFor(t.lang)
	digits := strings.TrimSpace(form.Get("Digits"))
	speech := strings.TrimSpace(form.Get("SpeechResult"))
	rp := safety.Reply{
		EventID: sid + ":" + strconv.Itoa(c.attempt), CheckID: t.check.ID, ResidentID: t.res.ID,
		Channel: alert.ChannelVoice, At: time.Now().UTC(),
	}
	var label string
	switch {
	case voiceButtons[digits] != "":
		rp.Button, label = voiceButtons[digits], voiceButtons[digits]
	case speech != "":
		rp.Text = speech
		// The local rules decide what the person hears now; the stored
		// status comes from the full classifier in the reply consumer.
		label = classify.Rules{}.Label(speech, t.lang).Label
	default:
		// A key that means nothing, or nothing at all: ask again once.
		a.metrics.webhooks.WithLabelValues("twilio_voice_answer", "no_answer").Inc()
		if c.attempt < voiceAttempts {
			writeTwiML(w, voice.RedirectTwiML(t.lang, p.NotUnderstood,
				a.voiceURL(voicePath, url.Values{"check": {t.check.ID}, "resident": {t.res.ID}, "attempt": {strconv.Itoa(c.attempt + 1)}})))
			return
		}
		writeTwiML(w, voice.SayTwiML(t.lang, p.Goodbye))
		return
	}
	if _, err := a.Safety.Accept(r.Context(), alert.ChannelVoice, rp); err != nil {
		a.Log.Error("voice answer enqueue", "err", err)
		a.metrics.webhooks.WithLabelValues("twilio_voice_answer", "failed").Inc()
		writeTwiML(w, voice.SayTwiML(t.lang, p.NotRecorded))
		return
	}
	a.metrics.webhooks.WithLabelValues("twilio_voice_answer", "accepted").Inc()
	if classify.Urgency(label) >= classify.Urgency(classify.LabelInjured) {
		writeTwiML(w, voice.SayTwiML(t.lang, p.Thanks, p.Urgent))
		return
	}
	writeTwiML(w, voice.SayTwiML(t.lang, p.Thanks))
}
