package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// LINE's wording for a reply token that is unknown, used or expired.
const lineMsgReplyToken = "Invalid reply token"

// lineDefaultReplyTokenTTL is how long a reply token works by default.
const lineDefaultReplyTokenTTL = time.Minute

// lineReplyTokens remembers the reply tokens handed out with webhook
// events: the user each one answers and until when it works. A token is
// removed when it is used (tokens are single-use) or found expired, and
// expired ones are swept now and then, so the map holds about a TTL's
// worth of events.
type lineReplyTokens struct {
	mu      sync.Mutex
	ttl     time.Duration
	tokens  map[string]lineReplyEntry
	sweepAt time.Time
}

type lineReplyEntry struct {
	userID  string
	expires time.Time
}

func (t *lineReplyTokens) init(ttl time.Duration) {
	if ttl <= 0 {
		ttl = lineDefaultReplyTokenTTL
	}
	t.ttl = ttl
	t.tokens = make(map[string]lineReplyEntry)
}

// issue registers a fresh token for userID.
func (t *lineReplyTokens) issue(userID string, now time.Time) string {
	tok := lineReplyToken()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !now.Before(t.sweepAt) {
		for k, v := range t.tokens {
			if !now.Before(v.expires) {
				delete(t.tokens, k)
			}
		}
		t.sweepAt = now.Add(min(t.ttl, time.Minute))
	}
	t.tokens[tok] = lineReplyEntry{userID: userID, expires: now.Add(t.ttl)}
	return tok
}

// use consumes a token and returns its user; ok is false for a token that
// is unknown, already used or expired.
func (t *lineReplyTokens) use(tok string, now time.Time) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.tokens[tok]
	if !ok {
		return "", false
	}
	delete(t.tokens, tok)
	if !now.Before(v.expires) {
		return "", false
	}
	return v.userID, true
}

// peek reports whether a token would be accepted now, without using it.
func (t *lineReplyTokens) peek(tok string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.tokens[tok]
	return ok && now.Before(v.expires)
}

func (t *lineReplyTokens) reset() {
	t.mu.Lock()
	clear(t.tokens)
	t.mu.Unlock()
}

// NewReplyToken issues a reply token for userID, as a webhook event to that
// user would carry; WebhookBody does this for every event but unfollow.
func (l *LINE) NewReplyToken(userID string) string {
	return l.replies.issue(userID, time.Now())
}

// lineReplyBody is the JSON shape of a reply request.
type lineReplyBody struct {
	ReplyToken           *string     `json:"replyToken"`
	Messages             []lineMsgIn `json:"messages"`
	NotificationDisabled bool        `json:"notificationDisabled"`
}

// serveReply handles POST /v2/bot/message/reply the way LINE does: the
// same authentication and message rules as push, no X-Line-Retry-Key
// (400), and a reply token that works once, only for a short time after
// its event, and names the user the messages go to (400 "Invalid reply
// token" otherwise). Replies are free: they take no monthly quota and no
// rate-limit token. It returns the status written.
func (l *LINE) serveReply(w http.ResponseWriter, r *http.Request, reqID string) int {
	if l.latency > 0 {
		t := time.NewTimer(l.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0
		}
	}
	if !l.authorized(r.Header.Get("Authorization")) {
		l.unauthorized.Add(1)
		lineWriteMessage(w, http.StatusUnauthorized, lineMsgAuth)
		return http.StatusUnauthorized
	}
	if r.Header.Get("X-Line-Retry-Key") != "" {
		// Only push, multicast, narrowcast and broadcast take a retry key.
		l.badRequests.Add(1)
		lineWriteMessage(w, http.StatusBadRequest, "X-Line-Retry-Key is not supported for this endpoint")
		return http.StatusBadRequest
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lineMaxBody))
	if err != nil {
		l.badRequests.Add(1)
		lineWriteMessage(w, http.StatusRequestEntityTooLarge, lineMsgTooLarge)
		return http.StatusRequestEntityTooLarge
	}
	var in lineReplyBody
	if err := json.Unmarshal(body, &in); err != nil {
		l.badRequests.Add(1)
		lineWriteMessage(w, http.StatusBadRequest, lineMsgJSON)
		return http.StatusBadRequest
	}
	var problems []lineProblem
	bad := func(prop, msg string) { problems = append(problems, lineProblem{Message: msg, Property: prop}) }
	if in.ReplyToken == nil {
		bad("replyToken", "must be specified")
	} else if *in.ReplyToken == "" {
		bad("replyToken", "May not be empty")
	}
	msgs := lineParseMessages(in.Messages, bad)
	if len(problems) > 0 {
		l.badRequests.Add(1)
		lineWriteJSON(w, http.StatusBadRequest, lineErrorBody{
			Message: fmt.Sprintf("The request body has %d error(s)", len(problems)),
			Details: problems,
		})
		return http.StatusBadRequest
	}
	now := time.Now()
	if l.failRate > 0 && l.replies.peek(*in.ReplyToken, now) && l.roll() < l.failRate {
		l.failures.Add(1)
		lineWriteMessage(w, http.StatusInternalServerError, lineMsgServer)
		return http.StatusInternalServerError
	}
	user, ok := l.replies.use(*in.ReplyToken, now)
	if !ok {
		l.badRequests.Add(1)
		lineWriteMessage(w, http.StatusBadRequest, lineMsgReplyToken)
		return http.StatusBadRequest
	}
	l.store.record(user, &lineBatch{requestID: reqID, at: now, messages: msgs})
	l.accepted.Add(1)
	var resp lineSentBody
	resp.SentMessages = make([]lineSent, len(msgs))
	for i := range resp.SentMessages {
		resp.SentMessages[i] = lineSent{ID: strconv.FormatUint(l.messageID(), 10), QuoteToken: lineToken()}
	}
	lineWriteJSON(w, http.StatusOK, resp)
	return http.StatusOK
}
