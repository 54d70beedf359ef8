package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Event types LINEEvent.Type accepts.
const (
	// LINEEventPostback is a quick-reply or rich-menu postback (Data).
	LINEEventPostback = "postback"
	// LINEEventText is a text message (Text).
	LINEEventText = "text"
	// LINEEventLocation is a location message (Lat, Lng; Text is the address).
	LINEEventLocation = "location"
	// LINEEventFollow is a user adding the account as a friend.
	LINEEventFollow = "follow"
	// LINEEventUnfollow is a user blocking the account.
	LINEEventUnfollow = "unfollow"
)

// LINEEvent describes one webhook event the simulated platform sends.
type LINEEvent struct {
	// Type is one of the LINEEvent* constants.
	Type string
	// UserID is the user the event comes from.
	UserID string
	// Data is the postback data of a postback event.
	Data string
	// Text is the text of a text message, or the address of a location.
	Text string
	// Lat and Lng are the coordinates of a location message.
	Lat, Lng float64
	// EventID is the webhookEventId; empty generates a fresh one, set it to
	// replay an event.
	EventID string
	// Redelivery sets deliveryContext.isRedelivery.
	Redelivery bool
}

// SignLINE returns the X-Line-Signature of body: base64(HMAC-SHA256(secret,
// body)).
func SignLINE(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// lineWebhookBody is the webhook request body.
type lineWebhookBody struct {
	Destination string             `json:"destination"`
	Events      []lineWebhookEvent `json:"events"`
}

// lineWebhookEvent is one webhook event object.
type lineWebhookEvent struct {
	Type            string              `json:"type"`
	Message         any                 `json:"message,omitempty"`
	Postback        *lineWebhookPB      `json:"postback,omitempty"`
	Follow          *lineWebhookFollow  `json:"follow,omitempty"`
	WebhookEventID  string              `json:"webhookEventId"`
	DeliveryContext lineWebhookDelivery `json:"deliveryContext"`
	Timestamp       int64               `json:"timestamp"`
	Source          lineWebhookSource   `json:"source"`
	ReplyToken      string              `json:"replyToken,omitempty"`
	Mode            string              `json:"mode"`
}

// lineWebhookPB is a postback object.
type lineWebhookPB struct {
	Data string `json:"data"`
}

// lineWebhookFollow is a follow event's detail.
type lineWebhookFollow struct {
	IsUnblocked bool `json:"isUnblocked"`
}

// lineWebhookDelivery is an event's deliveryContext.
type lineWebhookDelivery struct {
	IsRedelivery bool `json:"isRedelivery"`
}

// lineWebhookSource is a user source.
type lineWebhookSource struct {
	Type   string `json:"type"`
	UserID string `json:"userId"`
}

// lineWebhookText is a text message object.
type lineWebhookText struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Text       string `json:"text"`
	QuoteToken string `json:"quoteToken"`
}

// lineWebhookLocation is a location message object.
type lineWebhookLocation struct {
	Type      string  `json:"type"`
	ID        string  `json:"id"`
	Title     string  `json:"title"`
	Address   string  `json:"address"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// WebhookBody builds the JSON body of a webhook request carrying events, as
// the LINE platform would send it. Every event but unfollow carries a fresh
// reply token that POST /v2/bot/message/reply accepts once, for
// LINEConfig.ReplyTokenTTL.
func (l *LINE) WebhookBody(events ...LINEEvent) ([]byte, error) {
	now := time.Now()
	body := lineWebhookBody{Destination: l.destination, Events: make([]lineWebhookEvent, 0, len(events))}
	for i, e := range events {
		if e.UserID == "" {
			return nil, fmt.Errorf("line webhook event %d: no user id", i)
		}
		ev := lineWebhookEvent{
			Type:            e.Type,
			WebhookEventID:  e.EventID,
			DeliveryContext: lineWebhookDelivery{IsRedelivery: e.Redelivery},
			Timestamp:       now.UnixMilli(),
			Source:          lineWebhookSource{Type: "user", UserID: e.UserID},
			ReplyToken:      l.replies.issue(e.UserID, now),
			Mode:            "active",
		}
		if ev.WebhookEventID == "" {
			ev.WebhookEventID = lineULID(now)
		}
		switch e.Type {
		case LINEEventPostback:
			ev.Postback = &lineWebhookPB{Data: e.Data}
		case LINEEventText:
			ev.Type = "message"
			ev.Message = lineWebhookText{Type: "text", ID: l.nextEventMessageID(), Text: e.Text, QuoteToken: lineToken()}
		case LINEEventLocation:
			ev.Type = "message"
			addr := e.Text
			if addr == "" {
				addr = "東京都港区"
			}
			ev.Message = lineWebhookLocation{Type: "location", ID: l.nextEventMessageID(), Title: "位置情報",
				Address: addr, Latitude: e.Lat, Longitude: e.Lng}
		case LINEEventFollow:
			ev.Follow = &lineWebhookFollow{}
		case LINEEventUnfollow:
			ev.ReplyToken = ""
		default:
			return nil, fmt.Errorf("line webhook event %d: unknown type %q", i, e.Type)
		}
		body.Events = append(body.Events, ev)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("line webhook body: %w", err)
	}
	return b, nil
}

// PostWebhook sends events to anpi's LINE webhook at url, signed with the
// channel secret, the way the LINE platform does. The caller closes the
// response body.
func (l *LINE) PostWebhook(ctx context.Context, url, secret string, events ...LINEEvent) (*http.Response, error) {
	body, err := l.WebhookBody(events...)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("line webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "LineBotWebhook/2.0")
	req.Header.Set("X-Line-Signature", SignLINE(secret, body))
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("line webhook post: %w", err)
	}
	return resp, nil
}

// nextEventMessageID returns a numeric id for a user's message.
func (l *LINE) nextEventMessageID() string {
	return strconv.FormatUint(600000000000000000+l.eventSeq.Add(1), 10)
}

// lineReplyToken returns a 32-hex-digit reply token.
func lineReplyToken() string {
	return fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
}

// lineCrockford is the ULID alphabet.
const lineCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// lineULID returns a ULID: 48 bits of milliseconds then 80 random bits, in
// 26 Crockford base32 digits, like LINE's webhookEventId.
func lineULID(t time.Time) string {
	var out [26]byte
	ms := uint64(t.UnixMilli())
	for i := 9; i >= 0; i-- {
		out[i] = lineCrockford[ms&31]
		ms >>= 5
	}
	hi, lo := rand.Uint64()&(1<<16-1), rand.Uint64() // 16 + 64 = 80 bits
	for i := 25; i >= 10; i-- {
		out[i] = lineCrockford[lo&31]
		lo = lo>>5 | (hi&31)<<59
		hi >>= 5
	}
	return string(out[:])
}
