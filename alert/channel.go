package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Channel names as used in the API and configuration.
const (
	ChannelLINE    = "line"
	ChannelSMS     = "sms"
	ChannelVoice   = "voice"
	ChannelSignage = "signage"
)

// Recipient is one address on one channel.
type Recipient struct {
	// ResidentID is the directory id of the person.
	ResidentID string `json:"r"`
	// Address is the provider address: a LINE user id or an E.164 number.
	Address string `json:"a"`
	// Link is an optional per-person URL (the one-tap reply link) that the
	// channel appends to or substitutes into the text ("{link}").
	Link string `json:"l,omitempty"`
}

// QuickReply is one answer button (LINE quick reply with a postback action).
type QuickReply struct {
	// Label is the button text, at most 20 characters.
	Label string `json:"label"`
	// Data is the postback data, at most 300 characters.
	Data string `json:"data"`
}

// Batch is one unit of provider work: one LINE multicast of at most 500
// people, or a group of SMS or calls that share one text.
type Batch struct {
	// ID is unique per (alert, channel, sequence).
	ID string `json:"id"`
	// AlertID is the alert or safety-check id the batch belongs to.
	AlertID string `json:"alert_id"`
	// Channel is one of the Channel* names.
	Channel string `json:"channel"`
	// Seq numbers the batches of one alert and channel from 0.
	Seq int `json:"seq"`
	// Language is the language of Text (ja, en, zh, ko, ja-easy).
	Language string `json:"language"`
	// Text is the message text. "{link}" is replaced by each recipient's Link.
	Text string `json:"text"`
	// QuickReplies are answer buttons (LINE only).
	QuickReplies []QuickReply `json:"quick_replies,omitempty"`
	// RetryKey is a UUID persisted before the first attempt; LINE answers 409 to
	// a repeat of an accepted request with the same key.
	RetryKey string `json:"retry_key"`
	// Recipients are the people of this batch.
	Recipients []Recipient `json:"recipients"`
	// Deadline is when the message becomes useless; SMS ValidityPeriod is set
	// from it and retries stop at it.
	Deadline time.Time `json:"deadline"`
	// Drill marks a drill (訓練) batch.
	Drill bool `json:"drill"`
	// Priority orders work across alerts: higher goes first.
	Priority int `json:"priority"`
}

// Outcome is the result of sending to one recipient of a batch.
type Outcome struct {
	// ProviderID is the provider's id for the message (Twilio MessageSid, LINE
	// request id), empty if none.
	ProviderID string
	// Err is nil when the provider accepted the message; otherwise usually a
	// *SendError telling whether a retry may help.
	Err error
}

// Sender delivers batches to one provider. Implementations do no rate
// limiting and no retries: the dispatcher does both.
type Sender interface {
	// Channel returns the channel name the sender serves.
	Channel() string
	// Cost returns how many provider requests Send makes for b; the dispatcher
	// takes that many tokens from the channel's rate limiter first.
	Cost(b *Batch) int
	// Send delivers b and returns one Outcome per recipient, in order.
	// All-or-nothing providers (LINE multicast) give every recipient the same
	// outcome. A non-nil error means no recipient was reached.
	Send(ctx context.Context, b *Batch) ([]Outcome, error)
}

// SendError describes a failed provider request.
type SendError struct {
	// Status is the HTTP status, 0 for transport errors.
	Status int
	// Code is the provider's error code, if any (e.g. Twilio 20429).
	Code string
	// Retryable tells whether the same request may succeed later.
	Retryable bool
	// RetryAfter is the provider's requested wait, 0 if none.
	RetryAfter time.Duration
	// QuotaExhausted marks a 429 that waiting does not cure (LINE monthly
	// allowance): operators must be told.
	QuotaExhausted bool
	// Msg is a short reason, free of secrets and phone numbers.
	Msg string
}

// Error implements error.
func (e *SendError) Error() string {
	s := "send"
	if e.Status != 0 {
		s += " status " + strconv.Itoa(e.Status)
	}
	if e.Code != "" {
		s += " code " + e.Code
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// RetryableStatus is the shared mapping of an HTTP status to "may a retry help?":
// 429, 408 and 5xx are retryable; other 4xx are not. Channels list only their
// exceptions (LINE 409 means already sent).
func RetryableStatus(status int) bool {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
		return true
	case status >= 500:
		return true
	default:
		return false
	}
}

// ParseRetryAfter reads a Retry-After header value (seconds or HTTP date).
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// IsRetryable reports whether err says a retry may help. Errors that are not
// *SendError (transport errors, timeouts) are retryable.
func IsRetryable(err error) bool {
	var se *SendError
	if errors.As(err, &se) {
		return se.Retryable
	}
	return err != nil
}

// TransportError wraps a network error as a retryable SendError.
func TransportError(err error) *SendError {
	return &SendError{Retryable: true, Msg: fmt.Sprintf("transport: %v", err)}
}
