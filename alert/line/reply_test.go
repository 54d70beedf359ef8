package line_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/line"
	"github.com/minato-city/anpi/sandbox"
)

func TestReply(t *testing.T) {
	sim, _, s := setup(t, sandbox.LINEConfig{}, 0)
	user := "U" + strings.Repeat("ab", 16)
	tok := sim.NewReplyToken(user)
	err := s.Reply(context.Background(), tok,
		line.Message{Text: "近くの施設"},
		line.Message{Text: "Nearby facilities", QuickReplies: []alert.QuickReply{{Label: "Hold 芝公園", Data: "hold=f1"}}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := sim.LastMessages(user)
	if len(msgs) != 2 || msgs[1].Text != "Nearby facilities" || len(msgs[1].QuickReplies) != 1 ||
		msgs[1].QuickReplies[0].Type != "postback" || msgs[1].QuickReplies[0].Data != "hold=f1" {
		t.Fatalf("delivered %+v", msgs)
	}

	// A used token: 400, permanent, and neither token in the message.
	err = s.Reply(context.Background(), tok, line.Message{Text: "again"})
	var se *alert.SendError
	if !errors.As(err, &se) || se.Status != 400 || se.Retryable || !strings.Contains(se.Msg, "Invalid reply token") {
		t.Fatalf("reused token: %#v", err)
	}
	if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), token) {
		t.Fatalf("error leaks a token: %v", err)
	}
	// Local checks: no token, too many messages.
	if err := s.Reply(context.Background(), "", line.Message{Text: "x"}); err == nil {
		t.Fatal("empty token accepted")
	}
	six := make([]line.Message, line.MaxReplyMessages+1)
	if err := s.Reply(context.Background(), sim.NewReplyToken(user), six...); err == nil {
		t.Fatal("six messages accepted")
	}
	if sim.Delivered(user) != 1 {
		t.Fatalf("refused replies were delivered: %d", sim.Delivered(user))
	}
}
