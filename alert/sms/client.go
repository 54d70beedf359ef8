package sms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/minato-city/anpi/alert"
)

// Defaults of Config.
const (
	DefaultBaseURL     = "https://api.twilio.com"
	DefaultConcurrency = 8
	DefaultTimeout     = 10 * time.Second
)

// maxResponseBytes bounds how much of a Twilio response is buffered.
const maxResponseBytes = 1 << 20

// Config configures the Twilio SMS channel; alert/voice uses the same
// Twilio fields.
type Config struct {
	// AccountSID is the Twilio account (AC...). Used as the basic-auth user
	// and in the API path.
	AccountSID string
	// AuthToken is the account's auth token. It signs webhooks and is never
	// logged or put in an error.
	AuthToken string
	// From is the sender: an E.164 number or an alphanumeric sender id.
	From string
	// BaseURL is where API requests go, default "https://api.twilio.com".
	// twilio-go has no base-URL option, so any other value is reached by a
	// transport that rewrites scheme and host of every request (the sandbox
	// simulator, a test server, a proxy).
	BaseURL string
	// StatusCallbackURL is the public URL Twilio posts status callbacks to;
	// empty means none.
	StatusCallbackURL string
	// Concurrency is how many requests one batch runs at once, default 8.
	Concurrency int
	// HTTPClient supplies the transport (its Timeout is used when Timeout is
	// zero); nil means a pooled transport sized for Concurrency.
	HTTPClient *http.Client
	// Timeout bounds each API request, default 10 s.
	Timeout time.Duration
	// Logger receives warnings; nil means slog.Default.
	Logger *slog.Logger
}

// Client is a prepared Twilio REST client shared by the SMS and voice
// channels. Every request is bound to the caller's context (twilio-go builds
// its requests with context.Background, so the binding happens in the
// transport), its response is fully buffered (twilio-go neither closes error
// bodies nor drains success bodies, which would cost a connection per
// request), and its HTTP status and Retry-After header are kept for error
// mapping (twilio-go drops both).
type Client struct {
	cfg    Config
	creds  *client.Credentials
	rt     http.RoundTripper
	edge   string
	region string
	log    *slog.Logger
}

// NewClient validates cfg, fills defaults and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	cfg, base, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	var next http.RoundTripper
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		next = cfg.HTTPClient.Transport
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Every channel worker's batch runs Concurrency requests at once
		// over this one transport: keep enough idle connections that they
		// are reused, not closed and dialled again (a TLS handshake each
		// against the real API).
		tr.MaxIdleConnsPerHost = max(2*cfg.Concurrency, 256)
		tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
		next = tr
	}
	if cfg.BaseURL != DefaultBaseURL {
		next = RewriteTransport(base, next)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{
		cfg:    cfg,
		creds:  client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		rt:     next,
		edge:   os.Getenv("TWILIO_EDGE"),
		region: os.Getenv("TWILIO_REGION"),
		log:    log,
	}, nil
}

func normalize(cfg Config) (Config, *url.URL, error) {
	var errs []error
	if !alnum(cfg.AccountSID) {
		errs = append(errs, errors.New("account sid: must be non-empty and alphanumeric"))
	}
	if !alnum(cfg.AuthToken) {
		// Never echo the token.
		errs = append(errs, errors.New("auth token: must be non-empty and alphanumeric"))
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		errs = append(errs, errors.New("base url: must be an absolute http(s) URL"))
	}
	if cfg.StatusCallbackURL != "" {
		u, err := url.Parse(cfg.StatusCallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("status callback url: must be an absolute http(s) URL"))
		}
	}
	if cfg.Concurrency < 0 {
		errs = append(errs, errors.New("concurrency: must not be negative"))
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	if cfg.Timeout == 0 && cfg.HTTPClient != nil {
		cfg.Timeout = cfg.HTTPClient.Timeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, nil, fmt.Errorf("twilio config: %w", err)
	}
	return cfg, base, nil
}

// twilio-go refuses credentials that are not alphanumeric.
var alnumRe = regexp.MustCompile(`^[A-Za-z0-9]+$`)

func alnum(s string) bool { return alnumRe.MatchString(s) }

// Config returns the normalised configuration.
func (c *Client) Config() Config { return c.cfg }

// NewRestClient returns a full twilio-go RestClient for cfg, reaching
// cfg.BaseURL through RewriteTransport when it is not Twilio's. Its requests
// are not bound to a context; the channels use Client.Do instead.
func NewRestClient(cfg Config) (*twilio.RestClient, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	cl := &client.Client{
		Credentials: c.creds,
		HTTPClient:  &http.Client{Transport: c.rt, Timeout: c.cfg.Timeout, CheckRedirect: noRedirect},
	}
	cl.SetAccountSid(c.cfg.AccountSID)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: cl}), nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// RewriteTransport returns a RoundTripper that sends every request to base's
// scheme and host (and path prefix), keeping the request's path and query.
// twilio-go has no base-URL option; this is how it reaches the sandbox.
func RewriteTransport(base *url.URL, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &rewrite{base: base, next: next}
}

type rewrite struct {
	base *url.URL
	next http.RoundTripper
}

func (rt *rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = rt.base.Scheme
	r.URL.Host = rt.base.Host
	if p := strings.TrimRight(rt.base.Path, "/"); p != "" {
		r.URL.Path = p + r.URL.Path
		if r.URL.RawPath != "" {
			r.URL.RawPath = p + r.URL.RawPath
		}
	}
	r.Host = ""
	return rt.next.RoundTrip(r)
}

// probe is the per-request transport: it attaches the caller's context,
// buffers the response and remembers status and Retry-After.
type probe struct {
	ctx        context.Context
	next       http.RoundTripper
	status     int
	retryAfter time.Duration
}

func (p *probe) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r.WithContext(p.ctx))
	if err != nil {
		return nil, err
	}
	p.status = resp.StatusCode
	p.retryAfter = alert.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	return resp, nil
}

// Do runs one Twilio API request. call receives an ApiService whose
// requests are bound to ctx (and to the configured timeout) and returns the
// resource SID. Do returns the Outcome: the SID, or an error mapped by
// MapError. A request that Twilio accepted (2xx) counts as sent even if its
// response could not be decoded, so it is not repeated.
func (c *Client) Do(ctx context.Context, call func(api *openapi.ApiService) (string, error)) alert.Outcome {
	if err := ctx.Err(); err != nil {
		return alert.Outcome{Err: &alert.SendError{Retryable: true, Msg: "not attempted: " + err.Error()}}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	p := &probe{ctx: ctx, next: c.rt}
	cl := &client.Client{Credentials: c.creds, HTTPClient: &http.Client{Transport: p, CheckRedirect: noRedirect}}
	cl.SetAccountSid(c.cfg.AccountSID)
	api := openapi.NewApiService(&client.RequestHandler{Client: cl, Edge: c.edge, Region: c.region})
	sid, err := call(api)
	if err == nil {
		return alert.Outcome{ProviderID: sid}
	}
	if p.status >= 200 && p.status < 300 {
		c.log.Warn("twilio: request accepted but response unreadable", "status", p.status, "err", c.Redact(err.Error()))
		return alert.Outcome{ProviderID: sid}
	}
	return alert.Outcome{Err: c.MapError(err, p.status, p.retryAfter)}
}

// Each runs fn for i in [0, n) with at most Config.Concurrency at once and
// returns the outcomes in order. Once ctx is done, the remaining items are
// not attempted and get a retryable error; requests already in flight are
// not cut off but run to their answer or their own timeout (Do): Twilio has
// no idempotency key, so a request cut off after it took effect would be
// sent again, and a batch deadline would turn every request in flight into
// a possible duplicate instead of only the slow one.
func (c *Client) Each(ctx context.Context, n int, fn func(ctx context.Context, i int) alert.Outcome) []alert.Outcome {
	out := make([]alert.Outcome, n)
	workers := min(c.cfg.Concurrency, n)
	if workers <= 1 {
		for i := range n {
			out[i] = c.guard(ctx, i, fn)
		}
		return out
	}
	var (
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = c.guard(ctx, i, fn)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func (c *Client) guard(ctx context.Context, i int, fn func(ctx context.Context, i int) alert.Outcome) alert.Outcome {
	if err := ctx.Err(); err != nil {
		return alert.Outcome{Err: &alert.SendError{Retryable: true, Msg: "not attempted: " + err.Error()}}
	}
	return fn(context.WithoutCancel(ctx), i)
}

// Twilio error codes that the channels name in their messages. Twilio's own
// messages can quote the phone number, so they are used only after Redact.
var codeText = map[int]string{
	20003: "authentication failed",
	20404: "resource not found",
	20429: "too many requests",
	20500: "twilio internal error",
	20503: "twilio service unavailable",
	21205: "invalid url",
	21211: "invalid 'To' number",
	21212: "invalid 'From' number",
	21214: "'To' number cannot be reached",
	21217: "invalid 'To' number",
	21408: "sending to this region is not enabled",
	21602: "message body required",
	21603: "'From' required",
	21604: "'To' required",
	21608: "unverified number (trial account)",
	21609: "invalid status callback url",
	21610: "recipient unsubscribed (STOP)",
	21612: "'To' number cannot receive this message",
	21614: "'To' number is not a mobile number",
	21617: "message body exceeds 1600 characters",
	21624: "invalid validity period",
	32018: "twiml exceeds 4000 characters",
}

// phoneRe matches things that look like phone numbers (a + or 6+ digits,
// possibly with separators).
var phoneRe = regexp.MustCompile(`\+?\d[\d\s\-().]{4,}\d`)

// Redact removes the auth token and anything that looks like a phone number
// from s.
func (c *Client) Redact(s string) string {
	if c.cfg.AuthToken != "" {
		s = strings.ReplaceAll(s, c.cfg.AuthToken, "[token]")
	}
	return phoneRe.ReplaceAllString(s, "[number]")
}

// MapError turns an error from twilio-go into an *alert.SendError. status
// and retryAfter are what the transport saw (0 if unknown). HTTP 429, code
// 20429, 408 and 5xx are retryable (alert.RetryableStatus), so are
// transport errors and timeouts; other 4xx are permanent. Retry-After is
// honoured when the response carried one; Twilio's 20429 usually does not,
// so the dispatcher's backoff applies. Msg never contains the auth token or
// a phone number.
func (c *Client) MapError(err error, status int, retryAfter time.Duration) *alert.SendError {
	var (
		tre *client.TwilioRestError
		v1  *client.RestErrorV1
	)
	switch {
	case errors.As(err, &tre):
		st := tre.Status
		if st == 0 {
			st = status
		}
		return c.apiError(st, tre.Code, tre.Message, retryAfter)
	case errors.As(err, &v1):
		st := v1.HttpStatusCode
		if st == 0 {
			st = status
		}
		return c.apiError(st, v1.Code, v1.Message, retryAfter)
	case status >= 400:
		// An error answer whose body was not Twilio's JSON (a proxy page).
		return &alert.SendError{Status: status, Retryable: alert.RetryableStatus(status),
			RetryAfter: retryAfter, Msg: "twilio: unreadable error response"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL carries the account path; the reason is enough
	}
	var ne net.Error
	msg := c.Redact(err.Error())
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		msg = "timeout"
	case errors.Is(err, context.Canceled):
		msg = "canceled"
	}
	return &alert.SendError{Retryable: true, Msg: "transport: " + msg}
}

func (c *Client) apiError(status, code int, twMsg string, retryAfter time.Duration) *alert.SendError {
	retry := code == 20429 || alert.RetryableStatus(status)
	text, ok := codeText[code]
	if !ok {
		text = c.Redact(twMsg)
		if text == "" {
			text = "error " + strconv.Itoa(code)
		}
	}
	se := &alert.SendError{Status: status, Retryable: retry, Msg: "twilio: " + text}
	if code != 0 {
		se.Code = strconv.Itoa(code)
	}
	if retry {
		se.RetryAfter = retryAfter
	}
	return se
}
