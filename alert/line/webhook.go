package line

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"
	"time"
)

// MaxWebhookBody is the largest webhook body ParseWebhook reads.
const MaxWebhookBody = 1 << 20

// ErrBadSignature means the X-Line-Signature header is missing or does not
// match the body: the request did not come from LINE.
var ErrBadSignature = errors.New("bad LINE signature")

// Event types of Event.Type.
const (
	// EventPostback is a tapped quick reply or rich-menu button (Data).
	EventPostback = "postback"
	// EventText is a text message (Text).
	EventText = "text"
	// EventLocation is a shared location (Lat, Lng; Text is the address).
	EventLocation = "location"
	// EventFollow is a user adding the account as a friend or unblocking it.
	EventFollow = "follow"
	// EventUnfollow is a user blocking the account: stop sending to them.
	EventUnfollow = "unfollow"
	// EventOther is any other event (sticker, image, join, ...): acknowledge
	// and ignore.
	EventOther = "other"
)

// Event is one webhook event reduced to what anpi uses.
type Event struct {
	// ID is the webhookEventId; LINE redelivers with the same id, so dedupe
	// on it.
	ID string
	// Type is one of the Event* constants.
	Type string
	// UserID is the LINE user the event comes from (empty if unknown).
	UserID string
	// Data is the postback data of a postback event.
	Data string
	// Text is the text of a text message, or the address of a location.
	Text string
	// ReplyToken allows one free reply shortly after the event.
	ReplyToken string
	// Lat and Lng are the coordinates of a location message.
	Lat, Lng float64
	// Redelivery is deliveryContext.isRedelivery.
	Redelivery bool
	// Time is when the event happened.
	Time time.Time
}

// ParseWebhook verifies the signature of a webhook request with the channel
// secret and returns its events. A missing or wrong signature gives an error
// wrapping ErrBadSignature; a body over MaxWebhookBody is refused. Errors
// never quote the body (residents' messages).
//
// It reads the body into a pooled buffer, checks the HMAC-SHA256 with a
// pooled hash and decodes the events in one pass into webhookEvent, which
// holds only the fields anpi uses. (The SDK's webhook.ParseRequest decodes
// every event two or three times through interface types and was most of
// the cost of a webhook; this is the same signature check and the same
// reading of the LINE webhook format.)
func ParseWebhook(secret string, r *http.Request) ([]Event, error) {
	if secret == "" {
		return nil, errors.New("line webhook: no channel secret configured")
	}
	sig := r.Header.Get("X-Line-Signature")
	if sig == "" {
		return nil, fmt.Errorf("line webhook: no signature: %w", ErrBadSignature)
	}
	if r.ContentLength > MaxWebhookBody {
		return nil, fmt.Errorf("line webhook: body of %d bytes over the %d limit", r.ContentLength, MaxWebhookBody)
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // do not keep rare huge buffers
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	buf.Reset()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	defer r.Body.Close()
	// One byte more than the limit tells a body that is too large.
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, MaxWebhookBody+1)); err != nil {
		return nil, fmt.Errorf("line webhook: read body: %w", err)
	}
	if buf.Len() > MaxWebhookBody {
		return nil, fmt.Errorf("line webhook: body over the %d limit", MaxWebhookBody)
	}
	body := buf.Bytes()
	if !validSignature(secret, sig, body) {
		return nil, fmt.Errorf("line webhook: %w", ErrBadSignature)
	}
	var cb webhookBody
	if err := json.Unmarshal(body, &cb); err != nil {
		// encoding/json's errors name positions and types, never values.
		return nil, fmt.Errorf("line webhook: decode: %w", err)
	}
	out := make([]Event, len(cb.Events))
	for i := range cb.Events {
		out[i] = cb.Events[i].event()
	}
	return out, nil
}

// bodyPool holds the buffers webhook bodies are read into.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// macPool holds HMAC-SHA256 states with the secret they were keyed with.
var macPool sync.Pool

type keyedMAC struct {
	secret string
	h      hash.Hash
	sum    []byte
}

// validSignature reports whether sig is base64(HMAC-SHA256(secret, body)),
// comparing in constant time.
func validSignature(secret, sig string, body []byte) bool {
	var dec [sha256.Size + 2]byte // room for the decoded length of a right-sized signature
	if base64.StdEncoding.DecodedLen(len(sig)) > len(dec) {
		return false
	}
	n, err := base64.StdEncoding.Decode(dec[:], []byte(sig))
	if err != nil {
		return false
	}
	m, _ := macPool.Get().(*keyedMAC)
	if m == nil || m.secret != secret {
		m = &keyedMAC{secret: secret, h: hmac.New(sha256.New, []byte(secret))}
	}
	m.h.Reset()
	m.h.Write(body)
	m.sum = m.h.Sum(m.sum[:0])
	ok := hmac.Equal(dec[:n], m.sum)
	macPool.Put(m)
	return ok
}

// webhookBody is the part of a webhook request body anpi reads.
type webhookBody struct {
	Events []webhookEvent `json:"events"`
}

// webhookEvent holds the fields of every event type anpi uses; the others
// are skipped by the decoder.
type webhookEvent struct {
	Type            string `json:"type"`
	WebhookEventID  string `json:"webhookEventId"`
	Timestamp       int64  `json:"timestamp"`
	ReplyToken      string `json:"replyToken"`
	DeliveryContext struct {
		IsRedelivery bool `json:"isRedelivery"`
	} `json:"deliveryContext"`
	// Source is a user, group or room; each carries the sender's userId
	// (when LINE may disclose it).
	Source struct {
		UserID string `json:"userId"`
	} `json:"source"`
	Postback struct {
		Data string `json:"data"`
	} `json:"postback"`
	Message struct {
		Type      string  `json:"type"`
		Text      string  `json:"text"`
		Address   string  `json:"address"`
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
	} `json:"message"`
}

// event reduces a decoded event to an Event. Events anpi does not act on
// keep their id, time and user as EventOther, so that they can still be
// deduplicated and acknowledged; of those, only message events keep their
// reply token.
func (w *webhookEvent) event() Event {
	ev := Event{ID: w.WebhookEventID, UserID: w.Source.UserID, Redelivery: w.DeliveryContext.IsRedelivery, Type: EventOther}
	if w.Timestamp != 0 {
		ev.Time = time.UnixMilli(w.Timestamp)
	}
	switch w.Type {
	case "postback":
		ev.Type, ev.Data, ev.ReplyToken = EventPostback, w.Postback.Data, w.ReplyToken
	case "message":
		ev.ReplyToken = w.ReplyToken
		switch w.Message.Type {
		case "text":
			ev.Type, ev.Text = EventText, w.Message.Text
		case "location":
			ev.Type, ev.Text, ev.Lat, ev.Lng = EventLocation, w.Message.Address, w.Message.Latitude, w.Message.Longitude
		}
	case "follow":
		ev.Type, ev.ReplyToken = EventFollow, w.ReplyToken
	case "unfollow":
		ev.Type = EventUnfollow
	}
	return ev
}
