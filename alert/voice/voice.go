// Package voice is the Twilio voice channel: one outbound call per
// recipient that reads the alert twice (<Say>), optionally followed by a
// speech/keypad answer (<Gather>) posted to anpi's answer webhook. It shares
// the Twilio client, error mapping and fan-out of alert/sms.
package voice

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/sms"
)

// MaxTwiML is Twilio's limit on the inline Twiml parameter, in characters
// (error 32018 beyond it).
const MaxTwiML = 4000

// Config configures the voice channel: the Twilio account settings of the
// SMS channel (sms.Config; From is the caller id, StatusCallbackURL receives
// call status callbacks) plus where answers go.
type Config struct {
	sms.Config
	// AnswerURL is anpi's TwiML webhook for answers. When set, the second
	// reading of the alert sits inside a <Gather input="speech dtmf"> whose
	// action is AnswerURL plus the query parameters alert=<AlertID> and
	// resident=<ResidentID>; Twilio posts SpeechResult, Confidence and
	// Digits there. Empty means the call only reads the alert.
	AnswerURL string
	// TwiMLURL is anpi's TwiML webhook (POST /webhooks/twilio/voice). When
	// set, calls that ask for an answer (batches carrying answer buttons,
	// as safety checks and their reminders do) are placed with Url set to
	// TwiMLURL plus alert=<AlertID> and resident=<ResidentID>, so anpi
	// writes the question and its <Gather> when the call is picked up (see
	// CheckTwiML). Other alerts keep their inline TwiML: it needs no round
	// trip to anpi and is read even if anpi is unreachable at that moment.
	// TwiMLURL takes precedence over AnswerURL for answer-seeking calls.
	TwiMLURL string
}

// Sender is the Twilio voice channel; it implements alert.Sender.
type Sender struct {
	c      *sms.Client
	from   string
	cb     string
	answer *url.URL
	twiml  *url.URL
}

var _ alert.Sender = (*Sender)(nil)

// New returns a Sender for cfg. From is required.
func New(cfg Config) (*Sender, error) {
	var errs []error
	if cfg.From == "" {
		errs = append(errs, errors.New("from: required"))
	}
	absolute := func(name, raw string) *url.URL {
		if raw == "" {
			return nil
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New(name+": must be an absolute http(s) URL"))
			return nil
		}
		return u
	}
	answer := absolute("answer url", cfg.AnswerURL)
	twimlURL := absolute("twiml url", cfg.TwiMLURL)
	c, err := sms.NewClient(cfg.Config)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("voice: %w", err)
	}
	return &Sender{c: c, from: cfg.From, cb: cfg.StatusCallbackURL, answer: answer, twiml: twimlURL}, nil
}

// Channel returns alert.ChannelVoice.
func (s *Sender) Channel() string { return alert.ChannelVoice }

// Cost returns one request per recipient.
func (s *Sender) Cost(b *alert.Batch) int { return len(b.Recipients) }

// Send places one call per recipient, at most Config.Concurrency at once,
// with inline TwiML reading b.Text ("{link}" removed: a link cannot be
// spoken) twice in b.Language. It returns one Outcome per recipient with the
// CallSid as ProviderID. A batch whose deadline has passed is not called;
// every recipient gets a permanent "expired" error, also returned as the
// error. TwiML over 4000 characters fails permanently without a request.
// With Config.TwiMLURL, a batch that asks for an answer is called with that
// URL instead of inline TwiML.
func (s *Sender) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	n := len(b.Recipients)
	if !b.Deadline.IsZero() && !time.Now().Before(b.Deadline) {
		err := &alert.SendError{Retryable: false, Msg: "expired"}
		return same(n, err), err
	}
	if err := ctx.Err(); err != nil {
		se := &alert.SendError{Retryable: true, Msg: "not attempted: " + err.Error()}
		return same(n, se), se
	}
	text := SpokenText(b.Text)
	return s.c.Each(ctx, n, func(ctx context.Context, i int) alert.Outcome {
		r := b.Recipients[i]
		p := &openapi.CreateCallParams{}
		p.SetTo(r.Address).SetFrom(s.from)
		if s.twiml != nil && asksAnswer(b) {
			p.SetUrl(callURL(s.twiml, b.AlertID, r.ResidentID)).SetMethod("POST")
		} else {
			twiml := s.inline(text, b, r)
			if utf8.RuneCountInString(twiml) > MaxTwiML {
				return alert.Outcome{Err: &alert.SendError{Retryable: false, Msg: "twiml exceeds 4000 characters"}}
			}
			p.SetTwiml(twiml)
		}
		if s.cb != "" {
			p.SetStatusCallback(s.cb)
		}
		return s.c.Do(ctx, func(api *openapi.ApiService) (string, error) {
			c, err := api.CreateCall(p)
			if err != nil {
				return "", err
			}
			if c.Sid == nil {
				return "", nil
			}
			return *c.Sid, nil
		})
	}), nil
}

// asksAnswer reports whether a batch expects the person to answer: it
// carries answer buttons (safety checks and their reminders do).
func asksAnswer(b *alert.Batch) bool { return len(b.QuickReplies) > 0 }

// callURL returns base with the alert and resident query parameters set.
func callURL(base *url.URL, alertID, residentID string) string {
	u := *base
	q := u.Query()
	q.Set("alert", alertID)
	q.Set("resident", residentID)
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *Sender) inline(text string, b *alert.Batch, r alert.Recipient) string {
	if s.answer == nil {
		return TwiMLSay(text, b.Language)
	}
	lang := Language(b.Language)
	var w strings.Builder
	w.WriteString("<Response>")
	writeSay(&w, text, lang)
	w.WriteString(`<Pause length="1"/>`)
	writeGather(&w, text, lang, GatherLanguage(b.Language), callURL(s.answer, b.AlertID, r.ResidentID), 0)
	w.WriteString("</Response>")
	return w.String()
}

func same(n int, err error) []alert.Outcome {
	out := make([]alert.Outcome, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// SpokenText returns text without the "{link}" placeholder and the spaces
// around it.
func SpokenText(text string) string {
	parts := strings.Split(text, sms.LinkPlaceholder)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

// Language maps an anpi language code to a Twilio <Say>/<Gather> language:
// ja and ja-easy → ja-JP, en → en-US, zh → cmn-CN, ko → ko-KR. A code that
// already names a locale (xx-YY) is kept; anything else is ja-JP.
func Language(code string) string {
	switch strings.ToLower(code) {
	case "ja", "ja-easy", "":
		return "ja-JP"
	case "en":
		return "en-US"
	case "zh", "zh-hans", "zh-cn":
		return "cmn-CN"
	case "ko":
		return "ko-KR"
	}
	if i := strings.IndexByte(code, '-'); i >= 2 && i < len(code)-1 && !strings.ContainsAny(code, `<>&"' `) {
		return code
	}
	return "ja-JP"
}

// GatherLanguage maps an anpi language code to a Twilio speech-recognition
// language for <Gather>: ja and ja-easy → ja-JP, en → en-US, zh → zh-CN,
// ko → ko-KR; anything else is ja-JP.
func GatherLanguage(code string) string {
	switch strings.ToLower(code) {
	case "en":
		return "en-US"
	case "zh", "zh-hans", "zh-cn":
		return "zh-CN"
	case "ko":
		return "ko-KR"
	}
	return "ja-JP"
}

// TwiMLSay returns a TwiML document that reads text twice, one second
// apart, in the Twilio voice language for lang (see Language):
// <Response><Say language="ja-JP">TEXT</Say><Pause length="1"/><Say ...>TEXT</Say></Response>.
// text is XML-escaped.
func TwiMLSay(text, lang string) string {
	l := Language(lang)
	var w strings.Builder
	w.WriteString("<Response>")
	writeSay(&w, text, l)
	w.WriteString(`<Pause length="1"/>`)
	writeSay(&w, text, l)
	w.WriteString("</Response>")
	return w.String()
}

// TwiMLGather returns a TwiML document that reads prompt and listens for a
// spoken answer or one key press, posted to actionURL as SpeechResult,
// Confidence and Digits: <Response><Gather input="speech dtmf"
// language="ja-JP" action="..." method="POST" speechTimeout="auto"
// numDigits="1"><Say language="ja-JP">PROMPT</Say></Gather></Response>.
// The Gather listens in GatherLanguage(lang), the prompt is read in
// Language(lang).
// When the caller says nothing the call ends after the Gather. All values
// are XML-escaped.
func TwiMLGather(prompt, lang, actionURL string) string {
	var w strings.Builder
	w.WriteString("<Response>")
	writeGather(&w, prompt, Language(lang), GatherLanguage(lang), actionURL, 0)
	w.WriteString("</Response>")
	return w.String()
}

func writeSay(w *strings.Builder, text, lang string) {
	w.WriteString(`<Say language="`)
	escape(w, lang)
	w.WriteString(`">`)
	escape(w, text)
	w.WriteString("</Say>")
}

// writeGather writes a <Gather> reading the prompts in sayLang and
// listening in gatherLang; timeout > 0 sets the seconds of silence Twilio
// waits for the person to start answering.
func writeGather(w *strings.Builder, prompt, sayLang, gatherLang, action string, timeout int, more ...string) {
	w.WriteString(`<Gather input="speech dtmf" language="`)
	escape(w, gatherLang)
	w.WriteString(`" action="`)
	escape(w, action)
	w.WriteString(`" method="POST" speechTimeout="auto" numDigits="1"`)
	if timeout > 0 {
		w.WriteString(` timeout="`)
		w.WriteString(strconv.Itoa(timeout))
		w.WriteString(`"`)
	}
	w.WriteString(">")
	writeSay(w, prompt, sayLang)
	for _, m := range more {
		writeSay(w, m, sayLang)
	}
	w.WriteString("</Gather>")
}

// escape writes s with the five XML special characters escaped and
// characters XML cannot carry dropped.
func escape(w *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '<':
			w.WriteString("&lt;")
		case '>':
			w.WriteString("&gt;")
		case '&':
			w.WriteString("&amp;")
		case '"':
			w.WriteString("&quot;")
		case '\'':
			w.WriteString("&apos;")
		case '\t', '\n', '\r':
			w.WriteRune(r)
		default:
			if r < 0x20 || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError {
				continue
			}
			w.WriteRune(r)
		}
	}
}
