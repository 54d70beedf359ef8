package sandbox

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Recording: numbers are keyed by their E.164 digits as a uint64 (15 digits
// fit; the leading digit is never 0, so the key is unique) in 64 mutex
// shards; each number keeps two counters and its last twKeep messages and
// calls, allocated on first use. With one ~110-byte message each a number
// costs about 375 bytes (BenchmarkTwilioRecord200k): 200k numbers ≈ 75 MB,
// a third of it the bodies. Sender and callback URL strings are interned.
const (
	twShards = 64
	twKeep   = 5
)

type twMsgRec struct {
	sid         string
	created     int64 // unix nanoseconds
	body        string
	from        string
	msvc        string
	callback    string
	validity    int32
	segments    uint16
	undelivered bool
}

type twCallRec struct {
	sid        string
	created    int64
	from       string
	url        string
	twiml      string
	callback   string
	unanswered bool
}

type twNumber struct {
	msgCount, callCount uint32
	msgs                []twMsgRec
	calls               []twCallRec
}

type twShard struct {
	mu   sync.Mutex
	nums map[uint64]*twNumber
}

type twStore struct {
	shards [twShards]twShard
}

func (s *twStore) init() {
	for i := range s.shards {
		s.shards[i].nums = make(map[uint64]*twNumber)
	}
}

func (s *twStore) reset() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.nums = make(map[uint64]*twNumber)
		sh.mu.Unlock()
	}
}

// twKey turns a valid E.164 number into its map key.
func twKey(e164 string) (uint64, bool) {
	if !twIsE164(e164) {
		return 0, false
	}
	n, err := strconv.ParseUint(e164[1:], 10, 64)
	return n, err == nil
}

func (s *twStore) shard(k uint64) *twShard {
	return &s.shards[(k*0x9e3779b97f4a7c15)>>58]
}

func (s *twStore) addMessage(to string, rec twMsgRec) {
	k, ok := twKey(to)
	if !ok {
		return
	}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.nums[k]
	if n == nil {
		n = &twNumber{}
		sh.nums[k] = n
	}
	n.msgCount++
	n.msgs = twPush(n.msgs, rec)
}

func (s *twStore) addCall(to string, rec twCallRec) {
	k, ok := twKey(to)
	if !ok {
		return
	}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.nums[k]
	if n == nil {
		n = &twNumber{}
		sh.nums[k] = n
	}
	n.callCount++
	n.calls = twPush(n.calls, rec)
}

// twPush appends v, keeping only the last twKeep elements.
func twPush[T any](s []T, v T) []T {
	if len(s) < twKeep {
		if s == nil {
			s = make([]T, 0, 1)
		}
		return append(s, v)
	}
	copy(s, s[1:])
	s[len(s)-1] = v
	return s
}

func (s *twStore) counts(to string) (msgs, calls int) {
	k, ok := twKey(to)
	if !ok {
		return 0, 0
	}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n := sh.nums[k]; n != nil {
		return int(n.msgCount), int(n.callCount)
	}
	return 0, 0
}

func (s *twStore) numbers() int {
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += len(sh.nums)
		sh.mu.Unlock()
	}
	return total
}

func (s *twStore) messages(to string, delay time.Duration) []TwilioMessage {
	k, ok := twKey(to)
	if !ok {
		return nil
	}
	sh := s.shard(k)
	sh.mu.Lock()
	var recs []twMsgRec
	if n := sh.nums[k]; n != nil {
		recs = slices.Clone(n.msgs)
	}
	sh.mu.Unlock()
	now := time.Now()
	out := make([]TwilioMessage, 0, len(recs))
	for _, r := range recs {
		created := time.Unix(0, r.created).UTC()
		status := "queued"
		if r.msvc != "" {
			status = "accepted"
		}
		if now.Sub(created) >= delay {
			status = "delivered"
			if r.undelivered {
				status = "undelivered"
			}
		}
		out = append(out, TwilioMessage{
			Sid: r.sid, To: to, From: r.from, MessagingServiceSid: r.msvc, Body: r.body, Status: status,
			NumSegments: int(r.segments), ValidityPeriod: int(r.validity), StatusCallback: r.callback,
			DateCreated: created,
		})
	}
	return out
}

func (s *twStore) calls(to string, delay time.Duration) []TwilioCall {
	k, ok := twKey(to)
	if !ok {
		return nil
	}
	sh := s.shard(k)
	sh.mu.Lock()
	var recs []twCallRec
	if n := sh.nums[k]; n != nil {
		recs = slices.Clone(n.calls)
	}
	sh.mu.Unlock()
	now := time.Now()
	out := make([]TwilioCall, 0, len(recs))
	for _, r := range recs {
		created := time.Unix(0, r.created).UTC()
		status := "queued"
		if now.Sub(created) >= delay {
			status = "completed"
			if r.unanswered {
				status = "no-answer"
			}
		}
		out = append(out, TwilioCall{
			Sid: r.sid, To: to, From: r.from, URL: r.url, Twiml: r.twiml, Status: status,
			StatusCallback: r.callback, DateCreated: created,
		})
	}
	return out
}

// twCallback is one pending status callback.
type twCallback struct {
	kind   twKind
	due    time.Time
	url    string
	sid    string
	to     string
	from   string
	msvc   string
	failed bool // undelivered message or unanswered call
}

// enqueue hands cb to the callback workers, dropping it when too many are
// waiting or the simulator is closed (Twilio does not block API requests on
// callbacks either).
func (t *Twilio) enqueue(cb twCallback) {
	if t.ctx.Err() != nil {
		t.ctr.cbDropped.Add(1)
		return
	}
	t.cbOnce.Do(func() {
		for range twCallbackWorkers {
			t.wg.Add(1)
			go t.callbackWorker()
		}
	})
	t.cbMu.Lock()
	if len(t.cbq)-t.cbHead >= twCallbackQueue {
		t.cbMu.Unlock()
		t.ctr.cbDropped.Add(1)
		t.log.Warn("twilio sandbox: status callback queue full, dropping", "sid", cb.sid)
		return
	}
	t.cbq = append(t.cbq, cb)
	t.cbMu.Unlock()
	t.signalCallback()
}

// signalCallback wakes one idle callback worker, if any is waiting.
func (t *Twilio) signalCallback() {
	select {
	case t.cbReady <- struct{}{}:
	default:
	}
}

// nextCallback takes the oldest waiting callback.
func (t *Twilio) nextCallback() (twCallback, bool) {
	t.cbMu.Lock()
	defer t.cbMu.Unlock()
	if t.cbHead == len(t.cbq) {
		return twCallback{}, false
	}
	cb := t.cbq[t.cbHead]
	t.cbq[t.cbHead] = twCallback{}
	t.cbHead++
	switch {
	case t.cbHead == len(t.cbq):
		t.cbq, t.cbHead = t.cbq[:0], 0
	case t.cbHead > 4096 && t.cbHead > len(t.cbq)/2:
		// Give the consumed front back.
		n := copy(t.cbq, t.cbq[t.cbHead:])
		t.cbq, t.cbHead = t.cbq[:n], 0
	}
	if t.cbHead < len(t.cbq) {
		// More are waiting: pass the wake-up on.
		t.signalCallback()
	}
	return cb, true
}

func (t *Twilio) callbackWorker() {
	defer t.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		cb, ok := t.nextCallback()
		if !ok {
			select {
			case <-t.ctx.Done():
				return
			case <-t.cbReady:
			}
			continue
		}
		if d := time.Until(cb.due); d > 0 {
			timer.Reset(d)
			select {
			case <-t.ctx.Done():
				timer.Stop()
				t.ctr.cbDropped.Add(1)
				return
			case <-timer.C:
			}
		}
		for _, form := range t.callbackForms(cb) {
			t.deliverCallback(cb, form)
		}
	}
}

// callbackForms builds the status callback posts Twilio would make: for a
// message "sent" then "delivered" or "undelivered"; for a call the final
// "completed" or "no-answer" (Twilio's default StatusCallbackEvent).
func (t *Twilio) callbackForms(cb twCallback) []url.Values {
	if cb.kind == twKindCall {
		f := url.Values{
			"AccountSid": {t.cfg.AccountSID},
			"ApiVersion": {twAPIVersion},
			"CallSid":    {cb.sid},
			"CallStatus": {"completed"},
			"Direction":  {"outbound-api"},
			"From":       {cb.from},
			"To":         {cb.to},
		}
		if cb.failed {
			f.Set("CallStatus", "no-answer")
			f.Set("CallDuration", "0")
		} else {
			f.Set("CallDuration", "12")
		}
		return []url.Values{f}
	}
	base := func(status string) url.Values {
		f := url.Values{
			"AccountSid":    {t.cfg.AccountSID},
			"ApiVersion":    {twAPIVersion},
			"MessageSid":    {cb.sid},
			"MessageStatus": {status},
			"SmsSid":        {cb.sid},
			"SmsStatus":     {status},
			"To":            {cb.to},
		}
		if cb.from != "" {
			f.Set("From", cb.from)
		}
		if cb.msvc != "" {
			f.Set("MessagingServiceSid", cb.msvc)
		}
		return f
	}
	final := base("delivered")
	if cb.failed {
		final = base("undelivered")
		final.Set("ErrorCode", twUndeliveredCode)
	}
	return []url.Values{base("sent"), final}
}

func (t *Twilio) deliverCallback(cb twCallback, form url.Values) {
	resp, err := t.post(t.ctx, cb.url, form)
	if err != nil {
		if t.ctx.Err() != nil {
			t.ctr.cbDropped.Add(1)
			return
		}
		t.ctr.cbFailed.Add(1)
		t.log.Warn("twilio sandbox: status callback failed", "sid", cb.sid, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.ctr.cbFailed.Add(1)
		t.log.Warn("twilio sandbox: status callback rejected", "sid", cb.sid, "status", resp.StatusCode)
		return
	}
	t.ctr.cbSent.Add(1)
}

// twSign implements Twilio's webhook signature: the URL, then for each
// parameter name in sorted order each of its values in sorted order, name
// and value concatenated without delimiters; HMAC-SHA1 with the auth token;
// base64. It matches twilio-go's RequestValidator for single-valued params.
func twSign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(authToken))
	_, _ = io.WriteString(mac, fullURL)
	for _, k := range keys {
		vals := slices.Clone(params[k])
		sort.Strings(vals)
		vals = slices.Compact(vals)
		for _, v := range vals {
			_, _ = io.WriteString(mac, k)
			_, _ = io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
