// Package sms is the Twilio SMS channel: it sends one message per recipient
// through twilio-go, maps Twilio's errors to retryable or permanent
// alert.SendErrors, and verifies status callbacks. SMS to Japan is one-way,
// so the text carries a one-tap reply link ("{link}").
package sms

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/minato-city/anpi/alert"
)

// Twilio's ValidityPeriod range in seconds.
const (
	minValidity = 1
	maxValidity = 36000
)

// LinkPlaceholder is replaced in a batch text by each recipient's Link.
const LinkPlaceholder = "{link}"

// Sender is the Twilio SMS channel; it implements alert.Sender.
type Sender struct {
	c   *Client
	now func() time.Time
}

var _ alert.Sender = (*Sender)(nil)

// New returns a Sender for cfg. From is required.
func New(cfg Config) (*Sender, error) {
	var errs []error
	if cfg.From == "" {
		errs = append(errs, errors.New("from: required"))
	}
	c, err := NewClient(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sms: %w", err)
	}
	return &Sender{c: c, now: time.Now}, nil
}

// Channel returns alert.ChannelSMS.
func (s *Sender) Channel() string { return alert.ChannelSMS }

// Cost returns one request per recipient.
func (s *Sender) Cost(b *alert.Batch) int { return len(b.Recipients) }

// Send creates one Twilio message per recipient, at most Config.Concurrency
// at once, and returns one Outcome per recipient with the MessageSid as
// ProviderID. The body is b.Text with "{link}" replaced by the recipient's
// Link (or the Link appended when the text has no placeholder). When
// b.Deadline is set, ValidityPeriod makes Twilio drop the message if it is
// still queued at the deadline; a batch whose deadline has passed is not
// sent and every recipient gets a permanent "expired" error, which is also
// returned as the error.
func (s *Sender) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	n := len(b.Recipients)
	validity := 0
	if !b.Deadline.IsZero() {
		v, ok := ValidityPeriod(b.Deadline, s.now())
		if !ok {
			err := &alert.SendError{Retryable: false, Msg: "expired"}
			return sameOutcome(n, err), err
		}
		validity = v
	}
	if err := ctx.Err(); err != nil {
		se := &alert.SendError{Retryable: true, Msg: "not attempted: " + err.Error()}
		return sameOutcome(n, se), se
	}
	cfg := s.c.Config()
	return s.c.Each(ctx, n, func(ctx context.Context, i int) alert.Outcome {
		r := b.Recipients[i]
		p := &openapi.CreateMessageParams{}
		p.SetTo(r.Address).SetFrom(cfg.From).SetBody(Body(b.Text, r.Link))
		if validity > 0 {
			p.SetValidityPeriod(validity)
		}
		if cfg.StatusCallbackURL != "" {
			p.SetStatusCallback(cfg.StatusCallbackURL)
		}
		return s.c.Do(ctx, func(api *openapi.ApiService) (string, error) {
			m, err := api.CreateMessage(p)
			if err != nil {
				return "", err
			}
			if m.Sid == nil {
				return "", nil
			}
			return *m.Sid, nil
		})
	}), nil
}

func sameOutcome(n int, err error) []alert.Outcome {
	out := make([]alert.Outcome, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// Body returns text with "{link}" replaced by link, or with " "+link
// appended when text has no placeholder and link is set.
func Body(text, link string) string {
	if strings.Contains(text, LinkPlaceholder) {
		out := strings.ReplaceAll(text, LinkPlaceholder, link)
		if link == "" {
			out = strings.TrimRight(out, " ")
		}
		return out
	}
	if link == "" {
		return text
	}
	return text + " " + link
}

// ValidityPeriod returns the seconds from now until deadline, rounded up
// and clamped to Twilio's 1..36000, and false when the deadline has passed.
func ValidityPeriod(deadline, now time.Time) (int, bool) {
	d := deadline.Sub(now)
	if d <= 0 {
		return 0, false
	}
	secs := math.Ceil(d.Seconds())
	return int(min(max(secs, minValidity), maxValidity)), true
}

// ErrBadSignature is returned (wrapped) by ParseStatus when the
// X-Twilio-Signature header does not match.
var ErrBadSignature = errors.New("twilio signature mismatch")

// maxCallbackBytes bounds a status callback body.
const maxCallbackBytes = 64 << 10

// Status is a Twilio message status callback.
type Status struct {
	// MessageSid is the message the callback is about.
	MessageSid string
	// MessageStatus is queued, sending, sent, delivered, undelivered, failed, ...
	MessageStatus string
	// ErrorCode is Twilio's error code for undelivered and failed messages.
	ErrorCode string
}

// ParseStatus reads a status callback: it parses the form body (at most
// 64 KiB), checks X-Twilio-Signature against publicURL — the configured
// public URL of the callback exactly as given to Twilio, not one rebuilt
// from r.Host, which differs behind a proxy — and returns the status. A
// mismatch returns an error wrapping ErrBadSignature.
func ParseStatus(r *http.Request, authToken, publicURL string) (Status, error) {
	if r.Method != http.MethodPost {
		return Status{}, fmt.Errorf("status callback: method %s not allowed", r.Method)
	}
	if r.Body == nil {
		return Status{}, errors.New("status callback: empty body")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxCallbackBytes)
	if err := r.ParseForm(); err != nil {
		return Status{}, fmt.Errorf("status callback: %w", err)
	}
	if !ValidateSignature(authToken, publicURL, r.PostForm, r.Header.Get("X-Twilio-Signature")) {
		return Status{}, fmt.Errorf("status callback: %w", ErrBadSignature)
	}
	st := Status{
		MessageSid:    r.PostForm.Get("MessageSid"),
		MessageStatus: r.PostForm.Get("MessageStatus"),
		ErrorCode:     r.PostForm.Get("ErrorCode"),
	}
	if st.MessageSid == "" || st.MessageStatus == "" {
		return Status{}, errors.New("status callback: MessageSid and MessageStatus required")
	}
	return st, nil
}
