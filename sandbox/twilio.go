package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Twilio API limits and defaults the simulator enforces.
const (
	twAPIVersion          = "2010-04-01"
	twMaxBody             = 1600  // characters in a message Body
	twMaxTwiml            = 4000  // characters in a call's inline Twiml
	twMaxValidity         = 36000 // seconds
	twMaxRequestBytes     = 64 << 10
	twDefaultMPS          = 100
	twDefaultCPS          = 10
	twDefaultCallbackWait = 50 * time.Millisecond
	// twCallbackWorkers bounds the callbacks in flight. Twilio's own are
	// not bounded at all: an SMS alert of 200,000 at 4,000/s brings
	// 4,000 callbacks a second, and the application answers each only
	// once it is stored, so the simulator must keep many in flight.
	twCallbackWorkers = 64
	// twCallbackQueue caps the callbacks waiting (about 120 bytes each);
	// beyond it they are dropped and counted.
	twCallbackQueue   = 1 << 20
	twUndeliveredCode = "30003" // Unreachable destination handset
)

// TwilioConfig configures the Twilio simulator.
type TwilioConfig struct {
	// AccountSID and AuthToken are the credentials clients must present with
	// HTTP basic auth; AuthToken also signs status callbacks and webhooks.
	AccountSID, AuthToken string
	// MessagesPerSecond caps accepted Messages requests per second (token
	// bucket, one second of burst); beyond it the simulator answers 429 with
	// code 20429. 0 means 100; negative means unlimited.
	MessagesPerSecond float64
	// CallsPerSecond caps Calls requests the same way. 0 means 10; negative
	// means unlimited. (Real Twilio queues calls above the account's CPS and
	// answers 20429 only on REST concurrency overflow; the simulator models
	// both as a 429 so clients exercise their retry path.)
	CallsPerSecond float64
	// FailRate is the fraction of authenticated requests answered 500 with
	// code 20500.
	FailRate float64
	// Latency delays every authenticated request.
	Latency time.Duration
	// Seed seeds the pseudo-random choices (failures, delivery outcomes) so a
	// drill can be replayed.
	Seed int64
	// CallbackDelay is the wait between accepting a message or call and
	// posting its status callback. 0 means 50 ms.
	CallbackDelay time.Duration
	// DeliverRate is the fraction of messages reported delivered (the rest
	// undelivered with ErrorCode 30003) and of calls reported completed (the
	// rest no-answer). 0 means 1; use a tiny positive value for "almost none".
	DeliverRate float64
	// HTTPClient posts status callbacks and webhooks; nil means a client with
	// a 10 s timeout.
	HTTPClient *http.Client
	// Logger receives warnings about failed callbacks; nil means slog.Default.
	Logger *slog.Logger
}

// TwilioMessage is a message the simulator accepted.
type TwilioMessage struct {
	// Sid is the message SID (SM + 32 hex digits).
	Sid string
	// To is the recipient's E.164 number.
	To string
	// From is the sender number or alphanumeric sender id, empty when sent
	// through a messaging service.
	From string
	// MessagingServiceSid is the messaging service, if one was used.
	MessagingServiceSid string
	// Body is the message text.
	Body string
	// Status is queued until CallbackDelay has passed, then delivered or
	// undelivered.
	Status string
	// NumSegments is the number of SMS segments the body needs.
	NumSegments int
	// ValidityPeriod is the requested validity in seconds, 0 if none.
	ValidityPeriod int
	// StatusCallback is the callback URL, if any.
	StatusCallback string
	// DateCreated is when the simulator accepted the message.
	DateCreated time.Time
}

// TwilioCall is an outbound call the simulator accepted.
type TwilioCall struct {
	// Sid is the call SID (CA + 32 hex digits).
	Sid string
	// To is the callee's E.164 number.
	To string
	// From is the caller id.
	From string
	// URL is the TwiML webhook, if the call was created with Url.
	URL string
	// Twiml is the inline TwiML, if the call was created with Twiml.
	Twiml string
	// Status is queued until CallbackDelay has passed, then completed or
	// no-answer.
	Status string
	// StatusCallback is the callback URL, if any.
	StatusCallback string
	// DateCreated is when the simulator accepted the call.
	DateCreated time.Time
}

// TwilioStats are the simulator's counters since creation or Reset.
type TwilioStats struct {
	// Requests counts every HTTP request received.
	Requests int64
	// Messages and Calls count accepted (201) creations.
	Messages, Calls int64
	// RateLimited counts 429 answers (code 20429).
	RateLimited int64
	// ServerErrors counts injected 500 answers (code 20500).
	ServerErrors int64
	// Unauthorized counts 401 answers (code 20003).
	Unauthorized int64
	// ClientErrors counts other 4xx answers (validation, 404, 405).
	ClientErrors int64
	// Numbers is how many distinct numbers received a message or call.
	Numbers int
	// CallbacksSent, CallbacksFailed and CallbacksDropped count status
	// callback posts that got a 2xx, that failed, and that were dropped
	// because the callback queue was full or the simulator closed.
	CallbacksSent, CallbacksFailed, CallbacksDropped int64
}

// Twilio is an http.Handler simulating the parts of the Twilio REST API anpi
// uses: POST /2010-04-01/Accounts/{Sid}/Messages.json and .../Calls.json,
// with Twilio's authentication, validation rules, error shapes, rate limit
// answers and signed status callbacks. It records what it accepted per
// number and, for numbers given a script (SetCallee), plays the person
// answering a call: it fetches the call's TwiML and answers its <Gather>s
// (see twilio_callee.go). Create it with NewTwilio and stop it with Close.
type Twilio struct {
	cfg     TwilioConfig
	log     *slog.Logger
	client  *http.Client
	msgLim  *rate.Limiter
	callLim *rate.Limiter

	rngMu sync.Mutex
	rng   *mrand.Rand

	store   twStore
	ctr     twCounters
	callees twCallees

	internMu sync.Mutex
	intern   map[string]string

	cbOnce    sync.Once
	cbMu      sync.Mutex
	cbq       []twCallback // waiting callbacks, oldest first, from cbHead
	cbHead    int
	cbReady   chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type twCounters struct {
	requests, messages, calls, rateLimited, serverErrors, unauthorized, clientErrors atomic.Int64
	cbSent, cbFailed, cbDropped                                                      atomic.Int64
}

// NewTwilio returns a simulator configured by cfg (see TwilioConfig for the
// defaults). Call Close to stop its callback workers.
func NewTwilio(cfg TwilioConfig) *Twilio {
	if cfg.CallbackDelay <= 0 {
		cfg.CallbackDelay = twDefaultCallbackWait
	}
	if cfg.DeliverRate <= 0 {
		cfg.DeliverRate = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// Status callbacks go out from twCallbackWorkers at once: keep that
		// many connections to the application open, as Twilio does.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 2 * twCallbackWorkers
		hc = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Twilio{
		cfg:     cfg,
		log:     log,
		client:  hc,
		msgLim:  twLimiter(cfg.MessagesPerSecond, twDefaultMPS),
		callLim: twLimiter(cfg.CallsPerSecond, twDefaultCPS),
		rng:     mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		intern:  make(map[string]string),
		cbReady: make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
	}
	t.store.init()
	return t
}

func twLimiter(perSecond, def float64) *rate.Limiter {
	switch {
	case perSecond < 0:
		return rate.NewLimiter(rate.Inf, 1)
	case perSecond == 0:
		perSecond = def
	}
	burst := max(1, int(math.Ceil(perSecond)))
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// Close stops the callback workers and waits for them; callbacks not yet
// posted are dropped (and counted in TwilioStats.CallbacksDropped). The handler keeps answering API requests.
func (t *Twilio) Close() {
	t.closeOnce.Do(func() {
		t.cancel()
		t.wg.Wait()
		t.cbMu.Lock()
		t.ctr.cbDropped.Add(int64(len(t.cbq) - t.cbHead))
		t.cbq, t.cbHead = nil, 0
		t.cbMu.Unlock()
	})
}

// Reset forgets every recorded message and call and zeroes the counters.
func (t *Twilio) Reset() {
	t.store.reset()
	for _, c := range []*atomic.Int64{&t.ctr.requests, &t.ctr.messages, &t.ctr.calls, &t.ctr.rateLimited,
		&t.ctr.serverErrors, &t.ctr.unauthorized, &t.ctr.clientErrors, &t.ctr.cbSent, &t.ctr.cbFailed, &t.ctr.cbDropped} {
		c.Store(0)
	}
}

// Stats returns the counters.
func (t *Twilio) Stats() TwilioStats {
	return TwilioStats{
		Requests:         t.ctr.requests.Load(),
		Messages:         t.ctr.messages.Load(),
		Calls:            t.ctr.calls.Load(),
		RateLimited:      t.ctr.rateLimited.Load(),
		ServerErrors:     t.ctr.serverErrors.Load(),
		Unauthorized:     t.ctr.unauthorized.Load(),
		ClientErrors:     t.ctr.clientErrors.Load(),
		Numbers:          t.store.numbers(),
		CallbacksSent:    t.ctr.cbSent.Load(),
		CallbacksFailed:  t.ctr.cbFailed.Load(),
		CallbacksDropped: t.ctr.cbDropped.Load(),
	}
}

// Messages returns the last messages (at most 5, oldest first) accepted for
// the E.164 number to.
func (t *Twilio) Messages(to string) []TwilioMessage {
	return t.store.messages(to, t.cfg.CallbackDelay)
}

// Calls returns the last calls (at most 5, oldest first) accepted for the
// E.164 number to.
func (t *Twilio) Calls(to string) []TwilioCall {
	return t.store.calls(to, t.cfg.CallbackDelay)
}

// MessageCount returns how many messages were accepted for to in total.
func (t *Twilio) MessageCount(to string) int {
	m, _ := t.store.counts(to)
	return m
}

// CallCount returns how many calls were accepted for to in total.
func (t *Twilio) CallCount(to string) int {
	_, c := t.store.counts(to)
	return c
}

// ServeHTTP implements http.Handler.
func (t *Twilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.ctr.requests.Add(1)
	kind, sid, ok := twRoute(r.URL.Path)
	if !ok {
		t.ctr.clientErrors.Add(1)
		twWriteError(w, http.StatusNotFound, 20404,
			"The requested resource "+twMaskPath(r.URL.Path)+" was not found")
		return
	}
	if r.Method != http.MethodPost {
		t.ctr.clientErrors.Add(1)
		twWriteError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, pass, hasAuth := r.BasicAuth()
	if !hasAuth || t.cfg.AccountSID == "" || !twEqual(user, t.cfg.AccountSID) ||
		!twEqual(pass, t.cfg.AuthToken) || sid != t.cfg.AccountSID {
		t.ctr.unauthorized.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		twWriteError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if t.cfg.Latency > 0 {
		tm := time.NewTimer(t.cfg.Latency)
		select {
		case <-tm.C:
		case <-r.Context().Done():
			tm.Stop()
			return
		}
	}
	lim := t.msgLim
	if kind == twKindCall {
		lim = t.callLim
	}
	if !lim.Allow() {
		t.ctr.rateLimited.Add(1)
		twWriteError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
		return
	}
	if t.cfg.FailRate > 0 && t.random() < t.cfg.FailRate {
		t.ctr.serverErrors.Add(1)
		twWriteError(w, http.StatusInternalServerError, 20500, "Internal Server Error")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, twMaxRequestBytes)
	if err := r.ParseForm(); err != nil {
		t.ctr.clientErrors.Add(1)
		twWriteError(w, http.StatusBadRequest, 20001, "The request body could not be parsed.")
		return
	}
	if kind == twKindMessage {
		t.createMessage(w, r.PostForm)
	} else {
		t.createCall(w, r.PostForm)
	}
}

type twKind uint8

const (
	twKindMessage twKind = iota + 1
	twKindCall
)

// twRoute matches /2010-04-01/Accounts/{Sid}/Messages.json and Calls.json.
func twRoute(p string) (twKind, string, bool) {
	rest, ok := strings.CutPrefix(p, "/"+twAPIVersion+"/Accounts/")
	if !ok {
		return 0, "", false
	}
	sid, res, ok := strings.Cut(rest, "/")
	if !ok || sid == "" {
		return 0, "", false
	}
	switch res {
	case "Messages.json":
		return twKindMessage, sid, true
	case "Calls.json":
		return twKindCall, sid, true
	}
	return 0, "", false
}

// twAPIError is Twilio's JSON error shape.
type twAPIError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func twWriteError(w http.ResponseWriter, status, code int, msg string) {
	twWriteJSON(w, status, twAPIError{
		Code:     code,
		Message:  msg,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
		Status:   status,
	})
}

func twWriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// twMaskPath hides anything that looks like a phone number in a path before
// it is echoed in an error message.
func twMaskPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '+' || (p[i] == '%' && strings.HasPrefix(p[i:], "%2B")) {
			b.WriteString("[number]")
			if p[i] == '%' {
				i += 2
			}
			for i+1 < len(p) && p[i+1] >= '0' && p[i+1] <= '9' {
				i++
			}
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func twEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (t *Twilio) random() float64 {
	t.rngMu.Lock()
	defer t.rngMu.Unlock()
	return t.rng.Float64()
}

// twValidationError is a 400 answer chosen by a validation rule.
type twValidationError struct {
	code int
	msg  string
}

func (t *Twilio) reject(w http.ResponseWriter, e *twValidationError) {
	t.ctr.clientErrors.Add(1)
	twWriteError(w, http.StatusBadRequest, e.code, e.msg)
}

type twMessageJSON struct {
	AccountSid          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSid *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	Sid                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func (t *Twilio) createMessage(w http.ResponseWriter, f url.Values) {
	to, from, msvc := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid")
	body, cb := f.Get("Body"), f.Get("StatusCallback")
	var validity int
	verr := func() *twValidationError {
		switch {
		case to == "":
			return &twValidationError{21604, "A 'To' phone number is required."}
		case !twIsE164(to):
			return &twValidationError{21211, "The 'To' number is not a valid phone number."}
		case from == "" && msvc == "":
			return &twValidationError{21603, "A 'From' phone number or a 'MessagingServiceSid' is required."}
		case from != "" && !twIsE164(from) && !twIsAlphaSender(from):
			return &twValidationError{21212, "The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID."}
		case msvc != "" && !twIsSid(msvc, "MG"):
			return &twValidationError{21701, "The Messaging Service Sid is invalid."}
		case body == "":
			return &twValidationError{21602, "Message body is required."}
		case utf8.RuneCountInString(body) > twMaxBody:
			return &twValidationError{21617, "The concatenated message body exceeds the 1600 character limit."}
		case cb != "" && !twIsCallbackURL(cb):
			return &twValidationError{21609, "Invalid StatusCallback url"}
		}
		if v := f.Get("ValidityPeriod"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > twMaxValidity {
				return &twValidationError{21624, "Invalid validity period value. It must be an integer between 1 and 36000 seconds."}
			}
			validity = n
		}
		return nil
	}()
	if verr != nil {
		t.reject(w, verr)
		return
	}
	now := time.Now().UTC()
	sid := twNewSid("SM")
	undelivered := t.cfg.DeliverRate < 1 && t.random() >= t.cfg.DeliverRate
	segs := twSegments(body)
	rec := twMsgRec{
		sid:         sid,
		created:     now.UnixNano(),
		body:        body,
		from:        t.internString(from),
		msvc:        t.internString(msvc),
		callback:    t.internString(cb),
		validity:    int32(validity),
		segments:    uint16(segs),
		undelivered: undelivered,
	}
	t.store.addMessage(to, rec)
	t.ctr.messages.Add(1)

	if cb != "" {
		t.enqueue(twCallback{kind: twKindMessage, due: now.Add(t.cfg.CallbackDelay), url: cb, sid: sid,
			to: to, from: from, msvc: msvc, failed: undelivered})
	}
	date := now.Format(time.RFC1123Z)
	uri := "/" + twAPIVersion + "/Accounts/" + t.cfg.AccountSID + "/Messages/" + sid
	resp := twMessageJSON{
		AccountSid:      t.cfg.AccountSID,
		APIVersion:      twAPIVersion,
		Body:            body,
		DateCreated:     date,
		DateUpdated:     date,
		Direction:       "outbound-api",
		NumMedia:        "0",
		NumSegments:     strconv.Itoa(segs),
		PriceUnit:       "USD",
		Sid:             sid,
		Status:          "queued",
		SubresourceURIs: map[string]string{"media": uri + "/Media.json"},
		To:              to,
		URI:             uri + ".json",
	}
	if from != "" {
		resp.From = &from
	}
	if msvc != "" {
		resp.MessagingServiceSid = &msvc
		resp.Status = "accepted"
	}
	twWriteJSON(w, http.StatusCreated, resp)
}

type twCallJSON struct {
	AccountSid      string            `json:"account_sid"`
	Annotation      *string           `json:"annotation"`
	AnsweredBy      *string           `json:"answered_by"`
	APIVersion      string            `json:"api_version"`
	CallerName      *string           `json:"caller_name"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	Direction       string            `json:"direction"`
	Duration        *string           `json:"duration"`
	EndTime         *string           `json:"end_time"`
	ForwardedFrom   *string           `json:"forwarded_from"`
	From            string            `json:"from"`
	FromFormatted   string            `json:"from_formatted"`
	GroupSid        *string           `json:"group_sid"`
	ParentCallSid   *string           `json:"parent_call_sid"`
	PhoneNumberSid  string            `json:"phone_number_sid"`
	Price           *string           `json:"price"`
	PriceUnit       string            `json:"price_unit"`
	QueueTime       string            `json:"queue_time"`
	Sid             string            `json:"sid"`
	StartTime       *string           `json:"start_time"`
	Status          string            `json:"status"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
	To              string            `json:"to"`
	ToFormatted     string            `json:"to_formatted"`
	TrunkSid        *string           `json:"trunk_sid"`
	URI             string            `json:"uri"`
}

func (t *Twilio) createCall(w http.ResponseWriter, f url.Values) {
	to, from := f.Get("To"), f.Get("From")
	twiml, u, cb := f.Get("Twiml"), f.Get("Url"), f.Get("StatusCallback")
	verr := func() *twValidationError {
		switch {
		case to == "":
			return &twValidationError{21201, "No 'To' number is specified"}
		case !twIsE164(to):
			return &twValidationError{21211, "The 'To' number is not a valid phone number."}
		case from == "":
			return &twValidationError{21213, "No 'From' number is specified"}
		case !twIsE164(from):
			return &twValidationError{21212, "The 'From' number is not a valid phone number."}
		case u == "" && twiml == "" && f.Get("ApplicationSid") == "":
			return &twValidationError{21205, "Url parameter is required."}
		case u != "" && !twIsCallbackURL(u):
			return &twValidationError{21205, "Url is not a valid URL."}
		case utf8.RuneCountInString(twiml) > twMaxTwiml:
			return &twValidationError{32018, "Twiml size exceeded maximum allowed value of 4000 characters"}
		case cb != "" && !twIsCallbackURL(cb):
			return &twValidationError{21609, "Invalid StatusCallback url"}
		}
		return nil
	}()
	if verr != nil {
		t.reject(w, verr)
		return
	}
	now := time.Now().UTC()
	sid := twNewSid("CA")
	unanswered := t.cfg.DeliverRate < 1 && t.random() >= t.cfg.DeliverRate
	t.store.addCall(to, twCallRec{
		sid:        sid,
		created:    now.UnixNano(),
		from:       t.internString(from),
		url:        t.internString(u),
		twiml:      twiml,
		callback:   t.internString(cb),
		unanswered: unanswered,
	})
	t.ctr.calls.Add(1)
	if u != "" && !unanswered {
		t.converse(sid, to, from, u, f.Get("Method"))
	}
	if cb != "" {
		t.enqueue(twCallback{kind: twKindCall, due: now.Add(t.cfg.CallbackDelay), url: cb, sid: sid,
			to: to, from: from, failed: unanswered})
	}
	date := now.Format(time.RFC1123Z)
	uri := "/" + twAPIVersion + "/Accounts/" + t.cfg.AccountSID + "/Calls/" + sid
	twWriteJSON(w, http.StatusCreated, twCallJSON{
		AccountSid:     t.cfg.AccountSID,
		APIVersion:     twAPIVersion,
		DateCreated:    date,
		DateUpdated:    date,
		Direction:      "outbound-api",
		From:           from,
		FromFormatted:  from,
		PhoneNumberSid: "PN" + strings.Repeat("0", 32),
		PriceUnit:      "USD",
		QueueTime:      "0",
		Sid:            sid,
		Status:         "queued",
		SubresourceURIs: map[string]string{
			"notifications": uri + "/Notifications.json",
			"recordings":    uri + "/Recordings.json",
		},
		To:          to,
		ToFormatted: to,
		URI:         uri + ".json",
	})
}

// internString shares the storage of strings that repeat across many
// records (sender, callback URL), so 200k recorded numbers stay small.
func (t *Twilio) internString(s string) string {
	if s == "" {
		return ""
	}
	t.internMu.Lock()
	defer t.internMu.Unlock()
	if v, ok := t.intern[s]; ok {
		return v
	}
	if len(t.intern) < 1024 {
		t.intern[s] = s
	}
	return s
}

func twNewSid(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// twIsE164 reports whether s is +, a non-zero digit and at most 14 more digits.
func twIsE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// twIsAlphaSender reports whether s is an alphanumeric sender id: 1–11
// letters, digits and spaces with at least one letter.
func twIsAlphaSender(s string) bool {
	if len(s) == 0 || len(s) > 11 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9', c == ' ':
		default:
			return false
		}
	}
	return letter
}

func twIsSid(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}

func twIsCallbackURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// twGSM is the GSM 03.38 basic character set; twGSMExt are the extension
// characters that take two septets.
const (
	twGSM    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	twGSMExt = "^{}\\[~]|€\f"
)

// twSegments counts the SMS segments of body the way carriers split it:
// GSM-7 160 septets (153 per part), otherwise UCS-2 70 units (67 per part).
func twSegments(body string) int {
	septets, gsm := 0, true
	for _, r := range body {
		switch {
		case strings.ContainsRune(twGSM, r):
			septets++
		case strings.ContainsRune(twGSMExt, r):
			septets += 2
		default:
			gsm = false
		}
		if !gsm {
			break
		}
	}
	if gsm {
		if septets <= 160 {
			return 1
		}
		return (septets + 152) / 153
	}
	units := 0
	for _, r := range body {
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	if units <= 70 {
		return 1
	}
	return (units + 66) / 67
}

// SignTwilio computes Twilio's X-Twilio-Signature for a request to fullURL
// carrying the form params: base64(HMAC-SHA1(authToken, fullURL followed by
// every parameter name and value, sorted by name, then value)).
func SignTwilio(authToken, fullURL string, params url.Values) string {
	return twSign(authToken, fullURL, params)
}

// PostVoiceWebhook plays the phone network: it posts params to url (one of
// anpi's voice webhooks) as Twilio would, form-encoded and signed with
// X-Twilio-Signature. AccountSid and ApiVersion are added when missing. The
// caller closes the response body.
func (t *Twilio) PostVoiceWebhook(ctx context.Context, url string, params url.Values) (*http.Response, error) {
	p := make(map[string][]string, len(params)+2)
	for k, v := range params {
		p[k] = append([]string(nil), v...)
	}
	if _, ok := p["AccountSid"]; !ok {
		p["AccountSid"] = []string{t.cfg.AccountSID}
	}
	if _, ok := p["ApiVersion"]; !ok {
		p["ApiVersion"] = []string{twAPIVersion}
	}
	resp, err := t.post(ctx, url, p)
	if err != nil {
		return nil, fmt.Errorf("twilio webhook: %w", err)
	}
	return resp, nil
}

func (t *Twilio) post(ctx context.Context, target string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("I-Twilio-Idempotency-Token", twNewSid("")[:32])
	req.Header.Set("X-Twilio-Signature", twSign(t.cfg.AuthToken, target, form))
	return t.client.Do(req)
}
