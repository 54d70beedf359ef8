package line

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/webhook"
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
func ParseWebhook(secret string, r *http.Request) ([]Event, error) {
	if secret == "" {
		return nil, errors.New("line webhook: no channel secret configured")
	}
	if r.Header.Get("X-Line-Signature") == "" {
		return nil, fmt.Errorf("line webhook: no signature: %w", ErrBadSignature)
	}
	if r.ContentLength > MaxWebhookBody {
		return nil, fmt.Errorf("line webhook: body of %d bytes over the %d limit", r.ContentLength, MaxWebhookBody)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, MaxWebhookBody)
	cb, err := webhook.ParseRequest(secret, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, webhook.ErrInvalidSignature):
			return nil, fmt.Errorf("line webhook: %w", ErrBadSignature)
		case errors.As(err, &tooBig):
			return nil, fmt.Errorf("line webhook: body over the %d limit: %w", MaxWebhookBody, err)
		}
		// The SDK appends the whole body to decode errors; keep only the cause.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, fmt.Errorf("line webhook: decode: %w", err)
	}
	out := make([]Event, 0, len(cb.Events))
	for _, e := range cb.Events {
		out = append(out, convert(e))
	}
	return out, nil
}

// convert reduces an SDK event to an Event.
func convert(e webhook.EventInterface) Event {
	switch v := e.(type) {
	case webhook.PostbackEvent:
		ev := base(v.WebhookEventId, v.Timestamp, v.DeliveryContext, v.Source, v.ReplyToken)
		ev.Type = EventPostback
		if v.Postback != nil {
			ev.Data = v.Postback.Data
		}
		return ev
	case *webhook.PostbackEvent:
		return convert(*v)
	case webhook.MessageEvent:
		ev := base(v.WebhookEventId, v.Timestamp, v.DeliveryContext, v.Source, v.ReplyToken)
		ev.Type = EventOther
		switch m := v.Message.(type) {
		case webhook.TextMessageContent:
			ev.Type, ev.Text = EventText, m.Text
		case *webhook.TextMessageContent:
			ev.Type, ev.Text = EventText, m.Text
		case webhook.LocationMessageContent:
			ev.Type, ev.Text, ev.Lat, ev.Lng = EventLocation, m.Address, m.Latitude, m.Longitude
		case *webhook.LocationMessageContent:
			ev.Type, ev.Text, ev.Lat, ev.Lng = EventLocation, m.Address, m.Latitude, m.Longitude
		}
		return ev
	case *webhook.MessageEvent:
		return convert(*v)
	case webhook.FollowEvent:
		ev := base(v.WebhookEventId, v.Timestamp, v.DeliveryContext, v.Source, v.ReplyToken)
		ev.Type = EventFollow
		return ev
	case *webhook.FollowEvent:
		return convert(*v)
	case webhook.UnfollowEvent:
		ev := base(v.WebhookEventId, v.Timestamp, v.DeliveryContext, v.Source, "")
		ev.Type = EventUnfollow
		return ev
	case *webhook.UnfollowEvent:
		return convert(*v)
	}
	return other(e)
}

// other keeps the id, time and user of an event anpi does not act on, so
// that it can still be deduplicated and acknowledged.
func other(e webhook.EventInterface) Event {
	ev := Event{Type: EventOther}
	if u, ok := e.(webhook.UnknownEvent); ok {
		// A type newer than the SDK: read the common fields from the raw JSON.
		var common struct {
			ID              string                  `json:"webhookEventId"`
			Timestamp       int64                   `json:"timestamp"`
			DeliveryContext webhook.DeliveryContext `json:"deliveryContext"`
			Source          struct {
				UserID string `json:"userId"`
			} `json:"source"`
		}
		for k, dst := range map[string]any{"webhookEventId": &common.ID, "timestamp": &common.Timestamp,
			"deliveryContext": &common.DeliveryContext, "source": &common.Source} {
			if raw, ok := u.Raw[k]; ok {
				_ = json.Unmarshal(raw, dst)
			}
		}
		ev.ID, ev.UserID, ev.Redelivery = common.ID, common.Source.UserID, common.DeliveryContext.IsRedelivery
		if common.Timestamp != 0 {
			ev.Time = time.UnixMilli(common.Timestamp)
		}
		return ev
	}
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ev
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ev
	}
	if f := v.FieldByName("WebhookEventId"); f.IsValid() && f.Kind() == reflect.String {
		ev.ID = f.String()
	}
	if f := v.FieldByName("Timestamp"); f.IsValid() && f.Kind() == reflect.Int64 {
		ev.Time = time.UnixMilli(f.Int())
	}
	if f := v.FieldByName("DeliveryContext"); f.IsValid() && f.CanInterface() {
		if dc, ok := f.Interface().(*webhook.DeliveryContext); ok && dc != nil {
			ev.Redelivery = dc.IsRedelivery
		}
	}
	if f := v.FieldByName("Source"); f.IsValid() && f.CanInterface() {
		if s, ok := f.Interface().(webhook.SourceInterface); ok {
			ev.UserID = userID(s)
		}
	}
	return ev
}

// base fills the fields every event has.
func base(id string, ts int64, dc *webhook.DeliveryContext, src webhook.SourceInterface, reply string) Event {
	ev := Event{ID: id, ReplyToken: reply, Time: time.UnixMilli(ts), UserID: userID(src)}
	if dc != nil {
		ev.Redelivery = dc.IsRedelivery
	}
	return ev
}

// userID returns the user id of a source (user, group or room).
func userID(s webhook.SourceInterface) string {
	switch v := s.(type) {
	case webhook.UserSource:
		return v.UserId
	case *webhook.UserSource:
		return v.UserId
	case webhook.GroupSource:
		return v.UserId
	case *webhook.GroupSource:
		return v.UserId
	case webhook.RoomSource:
		return v.UserId
	case *webhook.RoomSource:
		return v.UserId
	}
	return ""
}
