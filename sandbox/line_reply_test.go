package sandbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"

	"github.com/minato-city/anpi/sandbox"
)

// replyTokenOf returns the reply token of the first event of a webhook body.
func replyTokenOf(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Events []struct {
			ReplyToken string `json:"replyToken"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Events) == 0 || b.Events[0].ReplyToken == "" {
		t.Fatalf("webhook body without reply token: %s (%v)", body, err)
	}
	return b.Events[0].ReplyToken
}

func TestLINEReply(t *testing.T) {
	sim, _, c := lineSetup(t, sandbox.LINEConfig{})
	user := lineIDs(7, 1)[0]
	body, err := sim.WebhookBody(sandbox.LINEEvent{Type: sandbox.LINEEventLocation, UserID: user, Lat: 35.65, Lng: 139.74})
	if err != nil {
		t.Fatal(err)
	}
	tok := replyTokenOf(t, body)
	req := &messaging_api.ReplyMessageRequest{ReplyToken: tok, Messages: []messaging_api.MessageInterface{
		lineText("近くの施設"), lineText("Nearby", lineReply("Hold 1", "hold=f1")),
	}}
	res, out, err := c.ReplyMessageWithHttpInfo(req)
	if err != nil || res.StatusCode != 200 || len(out.SentMessages) != 2 {
		t.Fatalf("reply: %v %v", err, out)
	}
	lineCheckRequestID(t, res)
	msgs := sim.LastMessages(user)
	if len(msgs) != 2 || msgs[0].Text != "近くの施設" || len(msgs[1].QuickReplies) != 1 || msgs[1].QuickReplies[0].Data != "hold=f1" {
		t.Fatalf("delivered %+v", msgs)
	}
	if sim.Delivered(user) != 1 {
		t.Fatalf("delivered %d requests", sim.Delivered(user))
	}
	if st := sim.Stats(); st.Recipients != 0 {
		t.Fatalf("a reply took quota: %+v", st)
	}

	// Single use: the same token again is refused, and nothing more arrives.
	res, _, err = c.ReplyMessageWithHttpInfo(req)
	if e := lineDecodeErr(t, res, err); res.StatusCode != 400 || e.Message != "Invalid reply token" {
		t.Fatalf("reused token: %d %+v", res.StatusCode, e)
	}
	// Unknown token.
	req.ReplyToken = "nonsense"
	res, _, err = c.ReplyMessageWithHttpInfo(req)
	if e := lineDecodeErr(t, res, err); res.StatusCode != 400 || e.Message != "Invalid reply token" {
		t.Fatalf("unknown token: %d %+v", res.StatusCode, e)
	}
	if sim.Delivered(user) != 1 {
		t.Fatalf("refused replies delivered: %d", sim.Delivered(user))
	}
}

func TestLINEReplyValidation(t *testing.T) {
	sim, srv, c := lineSetup(t, sandbox.LINEConfig{})
	user := lineIDs(8, 1)[0]

	// More than 5 messages: 400 with details, and the token is not spent.
	tok := sim.NewReplyToken(user)
	six := make([]messaging_api.MessageInterface, 6)
	for i := range six {
		six[i] = lineText("x")
	}
	res, _, err := c.ReplyMessageWithHttpInfo(&messaging_api.ReplyMessageRequest{ReplyToken: tok, Messages: six})
	if e := lineDecodeErr(t, res, err); res.StatusCode != 400 || len(e.Details) == 0 || e.Details[0].Property != "messages" {
		t.Fatalf("six messages: %d %+v", res.StatusCode, e)
	}
	res, _, err = c.ReplyMessageWithHttpInfo(&messaging_api.ReplyMessageRequest{ReplyToken: tok, Messages: six[:1]})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("valid reply after an invalid one: %v", err)
	}

	// No retry key on this endpoint; a wrong access token is 401.
	post := func(auth, key string, body string) int {
		r, _ := http.NewRequest("POST", srv.URL+"/v2/bot/message/reply", bytes.NewReader([]byte(body)))
		r.Header.Set("Authorization", auth)
		r.Header.Set("Content-Type", "application/json")
		if key != "" {
			r.Header.Set("X-Line-Retry-Key", key)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"replyToken":"` + sim.NewReplyToken(user) + `","messages":[{"type":"text","text":"hi"}]}`
	if code := post("Bearer "+lineTestToken, "123e4567-e89b-12d3-a456-426614174000", body); code != 400 {
		t.Fatalf("retry key: %d", code)
	}
	if code := post("Bearer wrong", "", body); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code := post("Bearer "+lineTestToken, "", `{"messages":[{"type":"text","text":"hi"}]}`); code != 400 {
		t.Fatalf("no reply token: %d", code)
	}
	if code := post("Bearer "+lineTestToken, "", body); code != 200 {
		t.Fatalf("the token survived the refused requests: %d", code)
	}
}

func TestLINEReplyTokenExpires(t *testing.T) {
	sim, _, c := lineSetup(t, sandbox.LINEConfig{ReplyTokenTTL: time.Millisecond})
	tok := sim.NewReplyToken(lineIDs(9, 1)[0])
	time.Sleep(5 * time.Millisecond) // past the 1 ms lifetime
	res, _, err := c.ReplyMessageWithHttpInfo(&messaging_api.ReplyMessageRequest{ReplyToken: tok,
		Messages: []messaging_api.MessageInterface{lineText("late")}})
	if e := lineDecodeErr(t, res, err); res.StatusCode != 400 || !strings.Contains(e.Message, "reply token") {
		t.Fatalf("expired token: %d %+v", res.StatusCode, e)
	}
}
