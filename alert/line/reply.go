package line

import (
	"context"
	"errors"
	"fmt"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"

	"github.com/minato-city/anpi/alert"
)

// MaxReplyMessages is how many message objects one reply may carry.
const MaxReplyMessages = 5

// Message is one text message of a reply, with optional postback quick
// replies (LINE shows the quick replies of the last message only).
type Message struct {
	// Text is the message text, at most 5,000 characters.
	Text string
	// QuickReplies are postback buttons: label at most 20 characters, data
	// at most 300.
	QuickReplies []alert.QuickReply
}

// Reply answers a webhook event with its reply token: free of charge and
// outside the monthly allowance, but a token works once and only shortly
// after the event (LINE answers 400 "Invalid reply token" otherwise). The
// request carries no retry key (LINE refuses one on this endpoint), so a
// failed reply is not retried: a second attempt would find the token used
// or expired. Errors are *alert.SendError and never quote the token or the
// access token.
func (s *Sender) Reply(ctx context.Context, replyToken string, msgs ...Message) error {
	switch {
	case replyToken == "":
		return errors.New("line reply: no reply token")
	case len(msgs) == 0 || len(msgs) > MaxReplyMessages:
		return fmt.Errorf("line reply: %d messages; 1 to %d allowed", len(msgs), MaxReplyMessages)
	}
	req := &messaging_api.ReplyMessageRequest{ReplyToken: replyToken, Messages: make([]messaging_api.MessageInterface, len(msgs))}
	for i, m := range msgs {
		req.Messages[i] = textMessage(m.Text, m.QuickReplies)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, _, err := s.client(ctx).ReplyMessageWithHttpInfo(req)
	if _, serr := s.result(res, err); serr != nil {
		return serr
	}
	return nil
}
