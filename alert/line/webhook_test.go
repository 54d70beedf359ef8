package line_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert/line"
	"github.com/minato-city/anpi/sandbox"
)

// signed returns a webhook request for body signed with secret.
func signed(secret string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("X-Line-Signature", sandbox.SignLINE(secret, body))
	return r
}

// TestParseWebhookSources reads the sender from user, group and room
// sources, keeps the reply token of message events anpi does not act on,
// and leaves Time zero when an event has no timestamp.
func TestParseWebhookSources(t *testing.T) {
	const secret = "chan-secret"
	body := []byte(`{"destination":"Ubot","events":[
{"type":"message","message":{"type":"image","id":"1","contentProvider":{"type":"line"}},"webhookEventId":"01IMG","timestamp":1700000000000,"source":{"type":"room","roomId":"R1","userId":"U1"},"replyToken":"rt1","deliveryContext":{"isRedelivery":false},"mode":"active"},
{"type":"postback","postback":{"data":"sc=c1&a=safe","params":{}},"webhookEventId":"01PB","timestamp":1700000000001,"source":{"type":"group","groupId":"C1","userId":"U2"},"replyToken":"rt2","deliveryContext":{"isRedelivery":true},"mode":"active"},
{"type":"message","message":{"type":"text","id":"2","text":"無事です","emojis":[{"index":0,"length":1,"productId":"p","emojiId":"e"}]},"webhookEventId":"01TXT","timestamp":1700000000002,"source":{"type":"user","userId":"U3"},"replyToken":"rt3","mode":"active"},
{"type":"leave","webhookEventId":"01LEAVE","source":{"type":"group","groupId":"C1"}}]}`)
	evs, err := line.ParseWebhook(secret, signed(secret, body))
	if err != nil {
		t.Fatal(err)
	}
	want := []line.Event{
		{ID: "01IMG", Type: line.EventOther, UserID: "U1", ReplyToken: "rt1", Time: time.UnixMilli(1700000000000)},
		{ID: "01PB", Type: line.EventPostback, UserID: "U2", Data: "sc=c1&a=safe", ReplyToken: "rt2", Redelivery: true, Time: time.UnixMilli(1700000000001)},
		{ID: "01TXT", Type: line.EventText, UserID: "U3", Text: "無事です", ReplyToken: "rt3", Time: time.UnixMilli(1700000000002)},
		{ID: "01LEAVE", Type: line.EventOther},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i := range want {
		if !evs[i].Time.Equal(want[i].Time) || evs[i].Time.IsZero() != want[i].Time.IsZero() {
			t.Errorf("event %d time %v, want %v", i, evs[i].Time, want[i].Time)
		}
		evs[i].Time = want[i].Time
		if evs[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, evs[i], want[i])
		}
	}
}

// TestParseWebhookLimitAndSignature: a body of exactly MaxWebhookBody bytes
// is read, one byte more is refused; a signature must be the whole
// base64 HMAC-SHA256 of the body.
func TestParseWebhookLimitAndSignature(t *testing.T) {
	const secret = "chan-secret"
	pad := func(n int) []byte {
		head, tail := `{"events":[],"x":"`, `"}`
		return []byte(head + strings.Repeat("a", n-len(head)-len(tail)) + tail)
	}
	if evs, err := line.ParseWebhook(secret, signed(secret, pad(line.MaxWebhookBody))); err != nil || len(evs) != 0 {
		t.Fatalf("body at the limit: %v, %v", evs, err)
	}
	r := signed(secret, pad(line.MaxWebhookBody+1))
	r.ContentLength = -1
	if _, err := line.ParseWebhook(secret, r); err == nil || errors.Is(err, line.ErrBadSignature) {
		t.Fatalf("body over the limit: %v", err)
	}
	body := []byte(`{"events":[]}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sum := m.Sum(nil)
	for name, sig := range map[string]string{
		"truncated MAC":   base64.StdEncoding.EncodeToString(sum[:16]),
		"MAC and a byte":  base64.StdEncoding.EncodeToString(append(sum, 0)),
		"raw URL base64":  base64.RawURLEncoding.EncodeToString(sum),
		"very long":       strings.Repeat("A", 4096),
		"MAC of nothing":  sandbox.SignLINE(secret, nil),
		"other secret":    sandbox.SignLINE("other", body),
		"padding missing": strings.TrimRight(base64.StdEncoding.EncodeToString(sum), "="),
	} {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("X-Line-Signature", sig)
		if _, err := line.ParseWebhook(secret, r); !errors.Is(err, line.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
}

// TestParseWebhookConcurrentSecrets: the pooled HMAC states never check a
// body against another channel's secret.
func TestParseWebhookConcurrentSecrets(t *testing.T) {
	body := []byte(`{"events":[]}`)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				secret := fmt.Sprintf("secret-%d", (g+i)%3)
				if _, err := line.ParseWebhook(secret, signed(secret, body)); err != nil {
					t.Errorf("%s: %v", secret, err)
					return
				}
				if _, err := line.ParseWebhook(secret, signed(secret+"x", body)); !errors.Is(err, line.ErrBadSignature) {
					t.Errorf("%s accepted a body signed with another secret: %v", secret, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
