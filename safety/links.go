package safety

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrBadToken is returned for a reply token that is forged or malformed.
var ErrBadToken = errors.New("reply link is not valid")

// ErrExpiredToken is returned for a genuine reply token past its expiry.
var ErrExpiredToken = errors.New("reply link has expired")

// Links makes and checks the signed one-tap reply links (/r/{token}) that SMS
// and voice residents answer through: one per person and campaign, expiring.
type Links struct {
	secret []byte
	base   string
	ttl    time.Duration
	now    func() time.Time
}

// NewLinks returns Links signing with secret (at least 32 bytes) for links
// under publicURL, valid for ttl.
func NewLinks(secret []byte, publicURL string, ttl time.Duration) *Links {
	return &Links{secret: secret, base: strings.TrimRight(publicURL, "/"), ttl: ttl, now: time.Now}
}

// Link implements alert.Linker.
func (l *Links) Link(checkID, residentID string) string {
	return l.base + "/r/" + l.Token(checkID, residentID, l.now().Add(l.ttl))
}

// Token returns the signed token for a person and check, expiring at exp.
func (l *Links) Token(checkID, residentID string, exp time.Time) string {
	payload := checkID + "~" + residentID + "~" + strconv.FormatInt(exp.Unix(), 36)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + l.sign(payload)
}

func (l *Links) sign(payload string) string {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Verify checks a token and returns its check and resident.
func (l *Links) Verify(token string) (checkID, residentID string, err error) {
	if len(token) > 512 {
		return "", "", ErrBadToken
	}
	p64, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", ErrBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return "", "", ErrBadToken
	}
	payload := string(raw)
	if !hmac.Equal([]byte(sig), []byte(l.sign(payload))) {
		return "", "", ErrBadToken
	}
	parts := strings.Split(payload, "~")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", ErrBadToken
	}
	exp, err := strconv.ParseInt(parts[2], 36, 64)
	if err != nil {
		return "", "", ErrBadToken
	}
	if !l.now().Before(time.Unix(exp, 0)) {
		return "", "", ErrExpiredToken
	}
	return parts[0], parts[1], nil
}
