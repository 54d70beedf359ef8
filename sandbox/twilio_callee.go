package sandbox

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scripted callees: the simulator can play the person who picks up a call,
// for drills and tests. It is opt-in: only calls to a number given a script
// with SetCallee (or any number once SetDefaultCallee is set) are played,
// and only calls created with a Url (inline Twiml needs no webhook). For
// such a call the simulator, like Twilio, fetches the TwiML from the Url
// (form POST, signed with X-Twilio-Signature), reads it verb by verb —
// <Say> is "heard" and recorded, <Gather> takes the script's next answer
// and posts it to the action URL (SpeechResult and Confidence, or Digits;
// signed), a silent answer falls through to the verbs after the <Gather>,
// <Redirect> fetches the next document, <Hangup> ends the call — and keeps
// a transcript (Conversation).

// twMaxDocuments bounds the TwiML documents of one call (redirect loops).
const twMaxDocuments = 16

// twMaxConversations bounds the transcripts kept (oldest dropped first) and
// twConversationWorkers the calls played at once.
const (
	twMaxConversations    = 10000
	twConversationWorkers = 32
)

// TwilioAnswer is what a scripted callee does at one <Gather>: say Speech
// (posted as SpeechResult with Confidence), press Digits, or — when both
// are empty — stay silent.
type TwilioAnswer struct {
	// Speech is the transcript Twilio's recogniser would post.
	Speech string
	// Confidence is the recogniser's confidence; 0 means 0.9.
	Confidence float64
	// Digits are the keys pressed.
	Digits string
}

// TwilioCallee scripts a person answering calls to one number.
type TwilioCallee struct {
	// Answers are used one per <Gather> of a call, in order; when they run
	// out the person stays silent.
	Answers []TwilioAnswer
}

// TwilioStep is one request the simulator made during a call.
type TwilioStep struct {
	// URL is the URL requested.
	URL string
	// Params are the form parameters posted.
	Params url.Values
	// Status is the HTTP status of the answer, 0 if the request failed.
	Status int
}

// TwilioConversation is the transcript of a scripted call.
type TwilioConversation struct {
	// CallSid is the call.
	CallSid string
	// To is the callee's number.
	To string
	// Heard are the texts of the <Say> verbs played, in order.
	Heard []string
	// Steps are the webhook requests made, in order.
	Steps []TwilioStep
	// Done is set when the call has ended.
	Done bool
	// Err says why the call ended abnormally (a webhook failed or returned
	// something that is not TwiML), empty otherwise.
	Err string
}

// twCallees holds the scripts and transcripts.
type twCallees struct {
	mu      sync.Mutex
	byNum   map[string]TwilioCallee
	def     *TwilioCallee
	convs   map[string]*TwilioConversation
	order   []string
	workers chan struct{}
}

func (c *twCallees) script(to string) (TwilioCallee, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.byNum[to]; ok {
		return s, true
	}
	if c.def != nil {
		return *c.def, true
	}
	return TwilioCallee{}, false
}

// SetCallee makes the simulator answer calls to the E.164 number to as
// script says (see TwilioCallee); it replaces an earlier script.
func (t *Twilio) SetCallee(to string, script TwilioCallee) {
	c := &t.callees
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byNum == nil {
		c.byNum = make(map[string]TwilioCallee)
	}
	c.byNum[to] = script
}

// SetDefaultCallee scripts every number without its own script; nil stops
// answering them.
func (t *Twilio) SetDefaultCallee(script *TwilioCallee) {
	c := &t.callees
	c.mu.Lock()
	defer c.mu.Unlock()
	if script == nil {
		c.def = nil
		return
	}
	s := *script
	c.def = &s
}

// Conversation returns a copy of the transcript of a scripted call, and
// false for a call that was not played (no script, no Url, not answered).
func (t *Twilio) Conversation(callSid string) (TwilioConversation, bool) {
	c := &t.callees
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.convs[callSid]
	if !ok {
		return TwilioConversation{}, false
	}
	out := *v
	out.Heard = append([]string(nil), v.Heard...)
	out.Steps = append([]TwilioStep(nil), v.Steps...)
	return out, true
}

// converse plays a scripted callee for a call created with a Url, in the
// background; it does nothing for numbers without a script.
func (t *Twilio) converse(sid, to, from, u, method string) {
	script, ok := t.callees.script(to)
	if !ok || t.ctx.Err() != nil {
		return
	}
	c := &t.callees
	conv := &TwilioConversation{CallSid: sid, To: to}
	c.mu.Lock()
	if c.convs == nil {
		c.convs = make(map[string]*TwilioConversation)
		c.workers = make(chan struct{}, twConversationWorkers)
	}
	c.convs[sid] = conv
	c.order = append(c.order, sid)
	if len(c.order) > twMaxConversations {
		delete(c.convs, c.order[0])
		c.order = c.order[1:]
	}
	workers := c.workers
	c.mu.Unlock()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		select {
		case workers <- struct{}{}:
		case <-t.ctx.Done():
			t.endCall(conv, "simulator closed")
			return
		}
		defer func() { <-workers }()
		call := twLiveCall{t: t, conv: conv, answers: script.Answers, base: url.Values{
			"AccountSid": {t.cfg.AccountSID}, "ApiVersion": {twAPIVersion}, "CallSid": {sid},
			"CallStatus": {"in-progress"}, "Direction": {"outbound-api"}, "From": {from}, "To": {to},
			"Called": {to}, "Caller": {from},
		}}
		t.endCall(conv, call.run(u, method))
	}()
}

func (t *Twilio) endCall(conv *TwilioConversation, errMsg string) {
	t.callees.mu.Lock()
	conv.Done, conv.Err = true, errMsg
	t.callees.mu.Unlock()
}

// twLiveCall is one scripted call in progress.
type twLiveCall struct {
	t       *Twilio
	conv    *TwilioConversation
	answers []TwilioAnswer
	base    url.Values
}

// twNode is a TwiML element.
type twNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []twNode   `xml:",any"`
}

func (n *twNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// run fetches and plays documents until the call ends; it returns why the
// call ended abnormally, or "".
func (c *twLiveCall) run(u, method string) string {
	extra := url.Values(nil)
	for range twMaxDocuments {
		doc, err := c.fetch(u, method, extra)
		if err != nil {
			return err.Error()
		}
		next, nextMethod, nextExtra, done := c.play(u, doc)
		if done {
			return ""
		}
		u, method, extra = next, nextMethod, nextExtra
	}
	return fmt.Sprintf("more than %d TwiML documents", twMaxDocuments)
}

// play performs a document's verbs. It returns the next URL to fetch (a
// Gather action or a Redirect), or done when the call ends.
func (c *twLiveCall) play(current string, doc *twNode) (next, method string, extra url.Values, done bool) {
	for i := range doc.Children {
		v := &doc.Children[i]
		switch v.XMLName.Local {
		case "Say":
			c.hear(v.Text)
		case "Gather":
			for j := range v.Children {
				if v.Children[j].XMLName.Local == "Say" {
					c.hear(v.Children[j].Text)
				}
			}
			a, ok := c.nextAnswer(v.attr("input"))
			if !ok {
				continue // silence: Twilio goes on with the next verb
			}
			action := resolveURL(current, v.attr("action"))
			params := url.Values{}
			if a.Digits != "" {
				params.Set("Digits", a.Digits)
			} else {
				conf := a.Confidence
				if conf == 0 {
					conf = 0.9
				}
				params.Set("SpeechResult", a.Speech)
				params.Set("Confidence", strconv.FormatFloat(conf, 'f', 8, 64))
			}
			return action, v.attr("method"), params, false
		case "Redirect":
			return resolveURL(current, strings.TrimSpace(v.Text)), v.attr("method"), nil, false
		case "Hangup", "Reject":
			return "", "", nil, true
		}
	}
	return "", "", nil, true
}

// nextAnswer takes the script's next answer; ok is false for silence (no
// answer left, an empty one, or one the Gather's input does not take).
func (c *twLiveCall) nextAnswer(input string) (TwilioAnswer, bool) {
	if len(c.answers) == 0 {
		return TwilioAnswer{}, false
	}
	a := c.answers[0]
	c.answers = c.answers[1:]
	if input == "" {
		input = "dtmf"
	}
	switch {
	case a.Digits != "" && strings.Contains(input, "dtmf"):
		return a, true
	case a.Speech != "" && strings.Contains(input, "speech"):
		return TwilioAnswer{Speech: a.Speech, Confidence: a.Confidence}, true
	}
	return TwilioAnswer{}, false
}

func (c *twLiveCall) hear(text string) {
	c.t.callees.mu.Lock()
	c.conv.Heard = append(c.conv.Heard, strings.TrimSpace(text))
	c.t.callees.mu.Unlock()
}

func resolveURL(current, ref string) string {
	if ref == "" {
		return current
	}
	base, err := url.Parse(current)
	if err != nil {
		return ref
	}
	r, err := base.Parse(ref)
	if err != nil {
		return ref
	}
	return r.String()
}

// fetch requests a TwiML document the way Twilio does: POST (or GET, with
// the parameters in the query) of the call's parameters plus extra, signed.
func (c *twLiveCall) fetch(u, method string, extra url.Values) (*twNode, error) {
	params := url.Values{}
	for k, v := range c.base {
		params[k] = v
	}
	for k, v := range extra {
		params[k] = v
	}
	ctx, cancel := context.WithTimeout(c.t.ctx, 15*time.Second)
	defer cancel()
	var req *http.Request
	var err error
	signed := u
	if strings.EqualFold(method, http.MethodGet) {
		pu, perr := url.Parse(u)
		if perr != nil {
			return nil, fmt.Errorf("twiml url: %w", perr)
		}
		q := pu.Query()
		for k, v := range params {
			q[k] = v
		}
		pu.RawQuery = q.Encode()
		signed = pu.String()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, signed, nil)
		params = nil
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("twiml request: %w", err)
	}
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", twSign(c.t.cfg.AuthToken, signed, params))
	step := TwilioStep{URL: signed, Params: params}
	resp, err := c.t.client.Do(req)
	if err != nil {
		c.step(step)
		return nil, fmt.Errorf("twiml fetch: %w", err)
	}
	defer resp.Body.Close()
	step.Status = resp.StatusCode
	c.step(step)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("twiml fetch: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("twiml fetch: status %d (Twilio would say an application error)", resp.StatusCode)
	}
	var doc twNode
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("twiml: %w", err)
	}
	if doc.XMLName.Local != "Response" {
		return nil, errors.New("twiml: the root element is not <Response>")
	}
	return &doc, nil
}

func (c *twLiveCall) step(s TwilioStep) {
	c.t.callees.mu.Lock()
	c.conv.Steps = append(c.conv.Steps, s)
	c.t.callees.mu.Unlock()
}
