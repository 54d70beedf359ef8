package voice

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/minato-city/anpi/alert/sms"
)

// ErrBadSignature is returned (wrapped) by ParseWebhook when the
// X-Twilio-Signature header does not match; it is sms.ErrBadSignature.
var ErrBadSignature = sms.ErrBadSignature

// maxWebhookBytes bounds a voice webhook body.
const maxWebhookBytes = 64 << 10

// ParseWebhook reads a Twilio voice webhook (the TwiML fetch of a call or a
// <Gather> action): it parses the form body (at most 64 KiB) and checks
// X-Twilio-Signature against publicBase — the configured public base URL,
// not one rebuilt from r.Host, which differs behind a proxy — followed by
// the request's path and query exactly as Twilio was given them. It returns
// the form parameters (CallSid, SpeechResult, Digits, ...). A mismatch
// returns an error wrapping ErrBadSignature. Errors never quote the body.
func ParseWebhook(r *http.Request, authToken, publicBase string) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("voice webhook: method %s not allowed", r.Method)
	}
	if r.Body == nil {
		return nil, errors.New("voice webhook: empty body")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxWebhookBytes)
	if err := r.ParseForm(); err != nil {
		return nil, errors.New("voice webhook: the body is not a form of at most 64 KiB")
	}
	if !sms.ValidateSignature(authToken, WebhookURL(publicBase, r.URL), r.PostForm, r.Header.Get("X-Twilio-Signature")) {
		return nil, fmt.Errorf("voice webhook: %w", ErrBadSignature)
	}
	return r.PostForm, nil
}

// WebhookURL is the public URL Twilio signed for a request to u: publicBase
// without its trailing slash, u's escaped path and, if any, its raw query.
func WebhookURL(publicBase string, u *url.URL) string {
	s := strings.TrimRight(publicBase, "/") + u.EscapedPath()
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s
}

// Digit answers of a safety-check call: what each key means.
var Digits = map[string]string{"1": "safe", "2": "injured", "3": "needs_help"}
