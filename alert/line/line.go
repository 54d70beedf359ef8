// Package line is anpi's LINE Messaging API channel: it sends alert batches
// by multicast (at most 500 users a request) and single replies by push,
// each with an X-Line-Retry-Key so that retries never duplicate a message,
// and it parses the platform's signed webhooks.
package line

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"

	"github.com/minato-city/anpi/alert"
)

// DefaultEndpoint is the LINE Messaging API base URL.
const DefaultEndpoint = "https://api.line.me"

// DefaultTimeout bounds one request when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config configures a Sender.
type Config struct {
	// Endpoint is the API base URL; empty means DefaultEndpoint. Tests and
	// the sandbox point it at the simulator.
	Endpoint string
	// AccessToken is the channel access token (secret: never logged).
	AccessToken string
	// HTTPClient makes the requests; nil means a client with a connection
	// pool sized for concurrent multicasts.
	HTTPClient *http.Client
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Sender sends LINE messages. It implements alert.Sender and is safe for
// concurrent use. It neither rate-limits nor retries: the dispatcher does.
type Sender struct {
	api     *messaging_api.MessagingApiAPI
	token   string
	timeout time.Duration
}

var _ alert.Sender = (*Sender)(nil)

// New returns a Sender for cfg.
func New(cfg Config) (*Sender, error) {
	if cfg.AccessToken == "" {
		return nil, errors.New("line config: no access token")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 128
		cfg.HTTPClient = &http.Client{Transport: t}
	}
	api, err := messaging_api.NewMessagingApiAPI(cfg.AccessToken,
		messaging_api.WithEndpoint(cfg.Endpoint), messaging_api.WithHTTPClient(cfg.HTTPClient))
	if err != nil {
		// The SDK's errors name the endpoint, never the token.
		return nil, fmt.Errorf("line config: %w", err)
	}
	return &Sender{api: api, token: cfg.AccessToken, timeout: cfg.Timeout}, nil
}

// Channel returns alert.ChannelLINE.
func (s *Sender) Channel() string { return alert.ChannelLINE }

// Cost returns 1: a batch is one multicast request.
func (s *Sender) Cost(*alert.Batch) int { return 1 }

// Send multicasts b's text (with "{link}" removed: a multicast cannot carry
// per-person links) and quick replies to b's recipients under b.RetryKey.
// LINE is all-or-nothing: every outcome is the same. A 409 (the retry key was
// already accepted) counts as success.
func (s *Sender) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	if b == nil || len(b.Recipients) == 0 {
		return nil, nil
	}
	to := make([]string, len(b.Recipients))
	for i, r := range b.Recipients {
		to[i] = r.Address
	}
	req := &messaging_api.MulticastRequest{
		To:       to,
		Messages: []messaging_api.MessageInterface{textMessage(strings.ReplaceAll(b.Text, "{link}", ""), b.QuickReplies)},
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, _, err := s.client(ctx).MulticastWithHttpInfo(req, b.RetryKey)
	id, serr := s.result(res, err)
	out := make([]alert.Outcome, len(b.Recipients))
	for i := range out {
		out[i] = alert.Outcome{ProviderID: id, Err: serr}
	}
	if serr != nil {
		return out, serr
	}
	return out, nil
}

// Push sends text (and quick replies) to one user, for answers to a
// resident. retryKey must be a UUID persisted before the first attempt; a
// 409 counts as success.
func (s *Sender) Push(ctx context.Context, userID, text string, replies []alert.QuickReply, retryKey string) error {
	req := &messaging_api.PushMessageRequest{
		To:       userID,
		Messages: []messaging_api.MessageInterface{textMessage(text, replies)},
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, _, err := s.client(ctx).PushMessageWithHttpInfo(req, retryKey)
	_, serr := s.result(res, err)
	if serr != nil {
		return serr
	}
	return nil
}

// client returns a copy of the SDK client bound to ctx; the SDK keeps the
// context on the client, so a shared one would race.
func (s *Sender) client(ctx context.Context) *messaging_api.MessagingApiAPI {
	c := *s.api
	return c.WithContext(ctx)
}

// textMessage builds one text message with postback quick replies.
func textMessage(text string, replies []alert.QuickReply) *messaging_api.TextMessage {
	m := &messaging_api.TextMessage{Text: strings.TrimSpace(text)}
	if len(replies) > 0 {
		items := make([]messaging_api.QuickReplyItem, len(replies))
		for i, q := range replies {
			items[i] = messaging_api.QuickReplyItem{
				Type:   "action",
				Action: &messaging_api.PostbackAction{Label: q.Label, Data: q.Data, DisplayText: q.Label},
			}
		}
		m.QuickReply = &messaging_api.QuickReply{Items: items}
	}
	return m
}

// Response headers LINE sets.
const (
	headerRequestID         = "X-Line-Request-Id"
	headerAcceptedRequestID = "X-Line-Accepted-Request-Id"
)

// quotaMessage is how LINE words a 429 that waiting does not cure.
const quotaMessage = "monthly limit"

// result maps an SDK call's response and error to the provider id and a
// *alert.SendError (nil on success).
func (s *Sender) result(res *http.Response, err error) (string, error) {
	if res == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return "", transportError(err, s.token)
	}
	if res.Body != nil {
		defer res.Body.Close()
	}
	status := res.StatusCode
	switch {
	case status/100 == 2:
		// Accepted; a body the SDK could not decode does not undo that.
		return res.Header.Get(headerRequestID), nil
	case status == http.StatusConflict:
		// LINE's exception: the retry key was already accepted, the message
		// went out with the first request.
		id := res.Header.Get(headerAcceptedRequestID)
		if id == "" {
			id = res.Header.Get(headerRequestID)
		}
		return id, nil
	}
	msg := redact(errorMessage(err), s.token)
	se := &alert.SendError{Status: status, Retryable: alert.RetryableStatus(status), Msg: msg}
	if status == http.StatusTooManyRequests {
		if strings.Contains(strings.ToLower(msg), quotaMessage) {
			se.Retryable, se.QuotaExhausted = false, true
		} else {
			se.RetryAfter = alert.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())
		}
	}
	if id := res.Header.Get(headerRequestID); id != "" {
		se.Msg += " (request " + id + ")"
	}
	return "", se
}

// errorMessage extracts LINE's {"message", "details"} from the SDK error,
// which reads "unexpected status code: N, <body>".
func errorMessage(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.Index(s, ", "); i >= 0 && strings.HasPrefix(s, "unexpected status code") {
		s = s[i+2:]
	}
	var body struct {
		Message string `json:"message"`
		Details []struct {
			Message  string `json:"message"`
			Property string `json:"property"`
		} `json:"details"`
	}
	if json.Unmarshal([]byte(s), &body) != nil || body.Message == "" {
		return truncate(s, 200)
	}
	out := body.Message
	for i, d := range body.Details {
		if i == 3 {
			out += fmt.Sprintf("; %d more", len(body.Details)-i)
			break
		}
		out += "; " + d.Property + ": " + d.Message
	}
	return truncate(out, 400)
}

// transportError wraps a network error or timeout as retryable.
func transportError(err error, token string) *alert.SendError {
	se := alert.TransportError(err)
	se.Msg = redact(se.Msg, token)
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		se.Msg = redact("timeout: "+err.Error(), token)
	}
	return se
}

// redact removes the access token from s, should anything ever echo it.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
