package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// LINE API limits the simulator enforces (LINE Messaging API reference).
const (
	lineMaxMulticastTo   = 500
	lineMaxMessages      = 5
	lineMaxTextChars     = 5000
	lineMaxQuickReplies  = 13
	lineMaxLabelChars    = 20
	lineMaxPostbackChars = 300
	lineMaxBody          = 2 << 20

	lineDefaultMulticastRPS = 200
	lineDefaultPushRPS      = 2000
	lineDefaultRetryKeyTTL  = 24 * time.Hour
)

// LINE's error messages, as the real platform words them.
const (
	lineMsgAuth     = "Authentication failed. Confirm that the access token in the authorization header is valid."
	lineMsgRetried  = "The retry key is already accepted"
	lineMsgRate     = "Too many requests"
	lineMsgQuota    = "You have reached your monthly limit."
	lineMsgServer   = "An error occurred in the server"
	lineMsgNotFound = "Not found"
	lineMsgRetryKey = "The value of the X-Line-Retry-Key header is invalid. Specify a UUID."
	lineMsgJSON     = "The request body could not be parsed as JSON"
	lineMsgTooLarge = "The request body is too large"
)

// LINEConfig configures the LINE Messaging API simulator.
type LINEConfig struct {
	// AccessToken is the channel access token clients must send as
	// "Authorization: Bearer ...". Empty accepts any non-empty token.
	AccessToken string
	// MulticastRPS is the multicast rate limit in requests per second
	// (token bucket, burst = ceil(rate)); 0 means 200, negative unlimited.
	MulticastRPS float64
	// PushRPS is the push rate limit in requests per second; 0 means 2,000,
	// negative unlimited.
	PushRPS float64
	// MonthlyQuota is the monthly allowance in recipients; 0 means unlimited
	// (地方公共団体プラン). Reset starts a new month.
	MonthlyQuota int64
	// FailRate is the fraction (0..1) of well-formed requests answered 500
	// and processed for nobody, for fault drills.
	FailRate float64
	// Latency is added to every request before it is answered.
	Latency time.Duration
	// Seed seeds the FailRate dice and the webhook destination id.
	Seed int64
	// RetryKeyTTL is how long an accepted X-Line-Retry-Key is remembered;
	// 0 means 24 h.
	RetryKeyTTL time.Duration
	// Logger receives one debug record per request; nil discards.
	Logger *slog.Logger
	// ReplyTokenTTL is how long a reply token issued with a webhook event
	// can be used; 0 means one minute. (LINE asks for a prompt reply and
	// rejects late ones; it documents no exact figure.)
	ReplyTokenTTL time.Duration
}

// LINEQuickReply is one quick-reply button as delivered.
type LINEQuickReply struct {
	// Type is the action type, usually "postback".
	Type string `json:"type"`
	// Label is the button label.
	Label string `json:"label"`
	// Data is the postback data.
	Data string `json:"data,omitempty"`
	// DisplayText is what the user's chat shows when tapped.
	DisplayText string `json:"displayText,omitempty"`
	// Text is the text of a message action.
	Text string `json:"text,omitempty"`
}

// LINEMessage is one text message as a user received it.
type LINEMessage struct {
	// RequestID is the X-Line-Request-Id of the request that delivered it.
	RequestID string `json:"requestId"`
	// At is when the simulator accepted the request.
	At time.Time `json:"at"`
	// Text is the message text.
	Text string `json:"text"`
	// QuickReplies are the message's quick-reply buttons.
	QuickReplies []LINEQuickReply `json:"quickReplies,omitempty"`
}

// LINEStats are running totals of the simulator since start or Reset.
type LINEStats struct {
	// Requests counts requests to the message endpoints.
	Requests int64 `json:"requests"`
	// Accepted counts requests answered 200.
	Accepted int64 `json:"accepted"`
	// Recipients counts recipients of accepted requests (the quota unit).
	Recipients int64 `json:"recipients"`
	// Users counts distinct users reached.
	Users int64 `json:"users"`
	// BadRequests counts 400 answers.
	BadRequests int64 `json:"badRequests"`
	// Unauthorized counts 401 answers.
	Unauthorized int64 `json:"unauthorized"`
	// Conflicts counts 409 answers (retry key already accepted).
	Conflicts int64 `json:"conflicts"`
	// RateLimited counts 429 answers for the rate limit.
	RateLimited int64 `json:"rateLimited"`
	// QuotaExceeded counts 429 answers for the monthly limit.
	QuotaExceeded int64 `json:"quotaExceeded"`
	// ServerErrors counts injected 500 answers.
	ServerErrors int64 `json:"serverErrors"`
}

// LINE simulates the LINE Messaging API push and multicast endpoints and
// plays the LINE platform calling anpi's webhook. It is an http.Handler and
// safe for concurrent use.
type LINE struct {
	token       []byte
	anyToken    bool
	multicast   *rate.Limiter
	push        *rate.Limiter
	quota       int64
	failRate    float64
	latency     time.Duration
	retryKeyTTL time.Duration
	log         *slog.Logger
	destination string

	diceMu sync.Mutex
	dice   *rand.Rand

	keysMu  sync.Mutex
	keys    map[uuid.UUID]lineAccepted
	sweepAt time.Time

	quotaUsed atomic.Int64
	msgSeq    atomic.Uint64

	requests, accepted, recipients       atomic.Int64
	badRequests, unauthorized, conflicts atomic.Int64
	rateLimited, quotaExceeded, failures atomic.Int64

	store lineStore

	eventSeq atomic.Uint64
	client   *http.Client

	replies lineReplyTokens
}

// lineAccepted remembers an accepted retry key.
type lineAccepted struct {
	requestID string
	at        time.Time
}

// NewLINE returns a LINE Messaging API simulator.
func NewLINE(cfg LINEConfig) *LINE {
	l := &LINE{
		token:       []byte(cfg.AccessToken),
		anyToken:    cfg.AccessToken == "",
		multicast:   lineLimiter(cfg.MulticastRPS, lineDefaultMulticastRPS),
		push:        lineLimiter(cfg.PushRPS, lineDefaultPushRPS),
		quota:       cfg.MonthlyQuota,
		failRate:    cfg.FailRate,
		latency:     cfg.Latency,
		retryKeyTTL: cfg.RetryKeyTTL,
		log:         cfg.Logger,
		dice:        rand.New(rand.NewPCG(uint64(cfg.Seed), 0x4c494e45)),
		keys:        make(map[uuid.UUID]lineAccepted),
		client:      &http.Client{Timeout: 30 * time.Second},
	}
	if l.retryKeyTTL <= 0 {
		l.retryKeyTTL = lineDefaultRetryKeyTTL
	}
	l.replies.init(cfg.ReplyTokenTTL)
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	seed := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x64657374))
	l.destination = fmt.Sprintf("U%016x%016x", seed.Uint64(), seed.Uint64())
	l.store.init()
	return l
}

// lineLimiter builds a token bucket from a configured rate.
func lineLimiter(rps, def float64) *rate.Limiter {
	switch {
	case rps < 0:
		return rate.NewLimiter(rate.Inf, 1)
	case rps == 0:
		rps = def
	}
	return rate.NewLimiter(rate.Limit(rps), max(1, int(math.Ceil(rps))))
}

// Destination returns the bot user id the simulated webhooks name as
// "destination".
func (l *LINE) Destination() string { return l.destination }

// Delivered returns how many messages requests reached userID (a request
// with several message objects counts once).
func (l *LINE) Delivered(userID string) int { return l.store.delivered(userID) }

// LastMessages returns the last few messages userID received, oldest first.
func (l *LINE) LastMessages(userID string) []LINEMessage { return l.store.last(userID) }

// Stats returns the running totals.
func (l *LINE) Stats() LINEStats {
	return LINEStats{
		Requests:      l.requests.Load(),
		Accepted:      l.accepted.Load(),
		Recipients:    l.recipients.Load(),
		Users:         l.store.users(),
		BadRequests:   l.badRequests.Load(),
		Unauthorized:  l.unauthorized.Load(),
		Conflicts:     l.conflicts.Load(),
		RateLimited:   l.rateLimited.Load(),
		QuotaExceeded: l.quotaExceeded.Load(),
		ServerErrors:  l.failures.Load(),
	}
}

// Reset forgets deliveries, totals, accepted retry keys, issued reply
// tokens and the quota used (a new month). Rate limiters keep their state.
func (l *LINE) Reset() {
	l.keysMu.Lock()
	clear(l.keys)
	l.keysMu.Unlock()
	l.store.reset()
	l.replies.reset()
	l.quotaUsed.Store(0)
	for _, c := range []*atomic.Int64{&l.requests, &l.accepted, &l.recipients, &l.badRequests,
		&l.unauthorized, &l.conflicts, &l.rateLimited, &l.quotaExceeded, &l.failures} {
		c.Store(0)
	}
}

// ServeHTTP implements http.Handler for POST /v2/bot/message/push,
// POST /v2/bot/message/multicast and POST /v2/bot/message/reply.
func (l *LINE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.New()
	reqIDs := reqID.String()
	w.Header().Set("X-Line-Request-Id", reqIDs)

	var multicast bool
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/bot/message/multicast":
		multicast = true
	case r.Method == http.MethodPost && r.URL.Path == "/v2/bot/message/push":
	case r.Method == http.MethodPost && r.URL.Path == "/v2/bot/message/reply":
		l.requests.Add(1)
		status := l.serveReply(w, r, reqIDs)
		l.log.Debug("line sandbox request", "endpoint", "reply", "status", status, "request_id", reqIDs)
		return
	default:
		lineWriteMessage(w, http.StatusNotFound, lineMsgNotFound)
		return
	}
	l.requests.Add(1)
	endpoint := "push"
	if multicast {
		endpoint = "multicast"
	}
	status, recipients := l.serve(w, r, reqIDs, multicast)
	l.log.Debug("line sandbox request", "endpoint", endpoint, "status", status,
		"recipients", recipients, "request_id", reqIDs)
}

// serve handles one message request after routing and returns the status
// and the number of recipients it reached.
func (l *LINE) serve(w http.ResponseWriter, r *http.Request, reqID string, multicast bool) (int, int) {
	if l.latency > 0 {
		t := time.NewTimer(l.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0, 0
		}
	}
	if !l.authorized(r.Header.Get("Authorization")) {
		l.unauthorized.Add(1)
		lineWriteMessage(w, http.StatusUnauthorized, lineMsgAuth)
		return http.StatusUnauthorized, 0
	}
	lim := l.push
	if multicast {
		lim = l.multicast
	}
	if !lim.Allow() {
		l.rateLimited.Add(1)
		w.Header().Set("Retry-After", lineRetryAfter(lim))
		lineWriteMessage(w, http.StatusTooManyRequests, lineMsgRate)
		return http.StatusTooManyRequests, 0
	}

	var key uuid.UUID
	hasKey := false
	if v := r.Header.Get("X-Line-Retry-Key"); v != "" {
		k, err := uuid.Parse(v)
		if err != nil || len(v) != 36 {
			l.badRequests.Add(1)
			lineWriteMessage(w, http.StatusBadRequest, lineMsgRetryKey)
			return http.StatusBadRequest, 0
		}
		key, hasKey = k, true
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lineMaxBody))
	if err != nil {
		l.badRequests.Add(1)
		lineWriteMessage(w, http.StatusRequestEntityTooLarge, lineMsgTooLarge)
		return http.StatusRequestEntityTooLarge, 0
	}
	req, problems, ok := lineParse(body, multicast)
	if !ok {
		l.badRequests.Add(1)
		lineWriteMessage(w, http.StatusBadRequest, lineMsgJSON)
		return http.StatusBadRequest, 0
	}
	if len(problems) > 0 {
		l.badRequests.Add(1)
		lineWriteJSON(w, http.StatusBadRequest, lineErrorBody{
			Message: fmt.Sprintf("The request body has %d error(s)", len(problems)),
			Details: problems,
		})
		return http.StatusBadRequest, 0
	}

	if l.failRate > 0 && l.roll() < l.failRate {
		l.failures.Add(1)
		lineWriteMessage(w, http.StatusInternalServerError, lineMsgServer)
		return http.StatusInternalServerError, 0
	}

	n := int64(len(req.to))
	now := time.Now()
	if hasKey {
		l.keysMu.Lock()
		if prev, dup := l.keys[key]; dup && now.Sub(prev.at) < l.retryKeyTTL {
			l.keysMu.Unlock()
			l.conflicts.Add(1)
			w.Header().Set("X-Line-Accepted-Request-Id", prev.requestID)
			lineWriteMessage(w, http.StatusConflict, lineMsgRetried)
			return http.StatusConflict, 0
		}
		if !l.takeQuota(n) {
			l.keysMu.Unlock()
			l.quotaExceeded.Add(1)
			lineWriteMessage(w, http.StatusTooManyRequests, lineMsgQuota)
			return http.StatusTooManyRequests, 0
		}
		l.sweepKeys(now)
		l.keys[key] = lineAccepted{requestID: reqID, at: now}
		l.keysMu.Unlock()
	} else if !l.takeQuota(n) {
		l.quotaExceeded.Add(1)
		lineWriteMessage(w, http.StatusTooManyRequests, lineMsgQuota)
		return http.StatusTooManyRequests, 0
	}

	batch := &lineBatch{requestID: reqID, at: now, messages: req.messages}
	for _, id := range req.to {
		l.store.record(id, batch)
	}
	l.accepted.Add(1)
	l.recipients.Add(n)
	lineReleaseIDs(req.to)

	if multicast {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{}"))
		return http.StatusOK, int(n)
	}
	var resp lineSentBody
	resp.SentMessages = make([]lineSent, len(req.messages))
	for i := range resp.SentMessages {
		resp.SentMessages[i] = lineSent{
			ID:         strconv.FormatUint(l.messageID(), 10),
			QuoteToken: lineToken(),
		}
	}
	lineWriteJSON(w, http.StatusOK, resp)
	return http.StatusOK, int(n)
}

// authorized checks the Authorization header in constant time.
func (l *LINE) authorized(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	if l.anyToken {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(tok), l.token) == 1
}

// roll returns a uniform number in [0,1) from the seeded dice.
func (l *LINE) roll() float64 {
	l.diceMu.Lock()
	defer l.diceMu.Unlock()
	return l.dice.Float64()
}

// takeQuota consumes n recipients of the monthly allowance, all or nothing.
func (l *LINE) takeQuota(n int64) bool {
	if l.quota <= 0 {
		l.quotaUsed.Add(n)
		return true
	}
	for {
		used := l.quotaUsed.Load()
		if used+n > l.quota {
			return false
		}
		if l.quotaUsed.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// sweepKeys drops expired retry keys now and then; keysMu must be held.
func (l *LINE) sweepKeys(now time.Time) {
	if now.Before(l.sweepAt) {
		return
	}
	for k, v := range l.keys {
		if now.Sub(v.at) >= l.retryKeyTTL {
			delete(l.keys, k)
		}
	}
	l.sweepAt = now.Add(min(l.retryKeyTTL, time.Minute))
}

// messageID returns a LINE-like numeric message id.
func (l *LINE) messageID() uint64 {
	return 500000000000000000 + l.msgSeq.Add(1)
}

// lineRetryAfter says in whole seconds (at least 1) when the limiter will
// have a token again. The real API sends no Retry-After; the simulator does
// so that clients' handling of it is exercised.
func lineRetryAfter(lim *rate.Limiter) string {
	secs := 1
	if l := float64(lim.Limit()); l > 0 && !math.IsInf(l, 1) {
		need := (1 - lim.Tokens()) / l
		secs = max(1, int(math.Ceil(need)))
	}
	return strconv.Itoa(secs)
}

// lineToken returns a random opaque token (quote and reply tokens).
func lineToken() string {
	var b [24]byte
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := range 8 {
			b[i+j] = lineAlphabet[v&63]
			v >>= 6
		}
	}
	return string(b[:])
}

const lineAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// lineErrorBody is LINE's error JSON.
type lineErrorBody struct {
	Message string        `json:"message"`
	Details []lineProblem `json:"details,omitempty"`
}

// lineProblem is one entry of an error's details.
type lineProblem struct {
	Message  string `json:"message"`
	Property string `json:"property"`
}

// lineSentBody is the push response.
type lineSentBody struct {
	SentMessages []lineSent `json:"sentMessages"`
}

// lineSent is one sent message of a push response.
type lineSent struct {
	ID         string `json:"id"`
	QuoteToken string `json:"quoteToken"`
}

// lineWriteMessage writes LINE's error JSON with only a message.
func lineWriteMessage(w http.ResponseWriter, status int, msg string) {
	lineWriteJSON(w, status, lineErrorBody{Message: msg})
}

// lineWriteJSON writes v as JSON.
func lineWriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"`+lineMsgServer+`"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// lineRequest is a validated push or multicast request.
type lineRequest struct {
	to       []string
	messages []LINEMessage
}

// lineBody is the JSON shape of push and multicast requests.
type lineBody struct {
	To       json.RawMessage `json:"to"`
	Messages []lineMsgIn     `json:"messages"`
}

// lineMsgIn is one message object of a request.
type lineMsgIn struct {
	Type       string `json:"type"`
	Text       string `json:"text"`
	QuickReply *struct {
		Items []struct {
			Type   string `json:"type"`
			Action *struct {
				Type        string `json:"type"`
				Label       string `json:"label"`
				Data        string `json:"data"`
				DisplayText string `json:"displayText"`
				Text        string `json:"text"`
			} `json:"action"`
		} `json:"items"`
	} `json:"quickReply"`
}

// lineParse decodes and validates a request body. ok is false when the body
// is not JSON of the right shape; problems lists LINE's validation errors.
func lineParse(body []byte, multicast bool) (req lineRequest, problems []lineProblem, ok bool) {
	var in lineBody
	if err := json.Unmarshal(body, &in); err != nil {
		return req, nil, false
	}
	bad := func(prop, msg string) { problems = append(problems, lineProblem{Message: msg, Property: prop}) }

	raw := bytes.TrimSpace(in.To)
	switch {
	case multicast:
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			bad("to", "must be specified")
			break
		}
		ids, ok := lineScanIDs(raw)
		if !ok {
			return req, nil, false
		}
		req.to = ids
		if len(ids) < 1 || len(ids) > lineMaxMulticastTo {
			bad("to", fmt.Sprintf("Size must be between 1 and %d", lineMaxMulticastTo))
		}
		for i, id := range ids {
			if id == "" {
				bad(fmt.Sprintf("to[%d]", i), "May not be empty")
			}
		}
	default:
		var to string
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			bad("to", "must be specified")
			break
		}
		if err := json.Unmarshal(raw, &to); err != nil {
			return req, nil, false
		}
		if to == "" {
			bad("to", "May not be empty")
		}
		req.to = []string{to}
	}

	req.messages = lineParseMessages(in.Messages, bad)
	return req, problems, true
}

// lineParseMessages validates the message objects of a request, reporting
// LINE's validation errors through bad, and returns them as delivered.
func lineParseMessages(in []lineMsgIn, bad func(prop, msg string)) []LINEMessage {
	var out []LINEMessage
	if len(in) < 1 || len(in) > lineMaxMessages {
		bad("messages", fmt.Sprintf("Size must be between 1 and %d", lineMaxMessages))
	}
	for i, m := range in {
		p := fmt.Sprintf("messages[%d]", i)
		if m.Type != "text" {
			bad(p+".type", "Must be one of the following values: [text]")
			continue
		}
		if m.Text == "" {
			bad(p+".text", "May not be empty")
		} else if utf8.RuneCountInString(m.Text) > lineMaxTextChars {
			bad(p+".text", fmt.Sprintf("Length must be between 0 and %d", lineMaxTextChars))
		}
		msg := LINEMessage{Text: m.Text}
		if m.QuickReply != nil {
			items := m.QuickReply.Items
			if len(items) < 1 || len(items) > lineMaxQuickReplies {
				bad(p+".quickReply.items", fmt.Sprintf("Size must be between 1 and %d", lineMaxQuickReplies))
			}
			for j, it := range items {
				q := fmt.Sprintf("%s.quickReply.items[%d]", p, j)
				if it.Type != "action" {
					bad(q+".type", "Must be one of the following values: [action]")
				}
				a := it.Action
				if a == nil {
					bad(q+".action", "must be specified")
					continue
				}
				switch a.Type {
				case "postback":
					if utf8.RuneCountInString(a.Data) > lineMaxPostbackChars {
						bad(q+".action.data", fmt.Sprintf("Length must be between 0 and %d", lineMaxPostbackChars))
					}
				case "message":
					if a.Text == "" || utf8.RuneCountInString(a.Text) > lineMaxPostbackChars {
						bad(q+".action.text", fmt.Sprintf("Length must be between 1 and %d", lineMaxPostbackChars))
					}
				default:
					bad(q+".action.type", "Must be one of the following values: [postback, message]")
				}
				if n := utf8.RuneCountInString(a.Label); n < 1 || n > lineMaxLabelChars {
					bad(q+".action.label", fmt.Sprintf("Length must be between 1 and %d", lineMaxLabelChars))
				}
				msg.QuickReplies = append(msg.QuickReplies, LINEQuickReply{
					Type: a.Type, Label: a.Label, Data: a.Data, DisplayText: a.DisplayText, Text: a.Text,
				})
			}
		}
		out = append(out, msg)
	}
	return out
}

// lineIDPool recycles the id slices of multicast requests.
var lineIDPool = sync.Pool{New: func() any { s := make([]string, 0, lineMaxMulticastTo); return &s }}

// lineReleaseIDs returns an id slice obtained from lineScanIDs to the pool.
func lineReleaseIDs(ids []string) {
	if cap(ids) < lineMaxMulticastTo || cap(ids) > 4*lineMaxMulticastTo {
		return
	}
	clear(ids)
	ids = ids[:0]
	lineIDPool.Put(&ids)
}

// lineScanIDs reads a JSON array of strings. The ids of plain strings (no
// escapes, the only kind user ids have) are substrings of one copy of raw, so
// a 500-id array costs one allocation instead of 500; anything else falls
// back to encoding/json. Keep an id beyond the request with strings.Clone.
func lineScanIDs(raw []byte) ([]string, bool) {
	s := string(raw) // one copy shared by every id
	ids := (*lineIDPool.Get().(*[]string))[:0]
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
	}
	skip()
	if i >= len(s) || s[i] != '[' {
		return nil, false
	}
	i++
	skip()
	if i < len(s) && s[i] == ']' {
		return ids, i+1 == len(s)
	}
	for {
		skip()
		if i >= len(s) || s[i] != '"' {
			return nil, false
		}
		start := i + 1
		end := strings.IndexByte(s[start:], '"')
		if end < 0 {
			return nil, false
		}
		end += start
		id := s[start:end]
		if strings.IndexByte(id, '\\') >= 0 || !utf8.ValidString(id) {
			// Escapes are legal JSON but never occur in user ids; decode
			// the whole array the slow, exact way.
			var all []string
			if err := json.Unmarshal(raw, &all); err != nil {
				return nil, false
			}
			return all, true
		}
		ids = append(ids, id)
		i = end + 1
		skip()
		if i >= len(s) {
			return nil, false
		}
		if s[i] == ']' {
			i++
			skip()
			return ids, i == len(s)
		}
		if s[i] != ',' {
			return nil, false
		}
		i++
	}
}
