package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"net"
	"net/url"
	"slices"
	"sync"
)

// ValidateSignature reports whether signature is Twilio's X-Twilio-Signature
// for a request to publicURL (the exact URL given to Twilio, with its query)
// carrying the form params: base64 of HMAC-SHA1, keyed by the auth token,
// over the URL followed by each parameter's name and value in name order.
// Like twilio-go's RequestValidator it also accepts the URL with the default
// port added (when it has none) or its port removed, and one value per
// parameter (Twilio's callbacks repeat none). An empty token or signature
// never validates.
//
// Written here rather than calling RequestValidator, which builds the signed
// string by repeated concatenation and computes both port forms (parsing the
// URL three times) on every call, and a ward-wide alert brings 400,000
// callbacks (two per SMS) within minutes. This builds the string in a pooled
// buffer for a pooled HMAC and tries the other port form only when the URL as
// given does not match: 1.0 µs, 24 B and 1 allocation per callback against
// 10–13 µs, 6.5 kB and 68 (BenchmarkValidateSignature*, eight parameters). TestSignatureAgreesWithTwilioGo checks it against
// RequestValidator.
func ValidateSignature(authToken, publicURL string, params url.Values, signature string) bool {
	if authToken == "" || signature == "" || len(signature) != base64.StdEncoding.EncodedLen(sha1.Size) {
		return false
	}
	var keysBuf [16]string
	keys := keysBuf[:0]
	for k, v := range params {
		if len(v) != 1 {
			return false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m := getMAC(authToken)
	defer macs.Put(m)
	if m.matches(publicURL, keys, params, signature) {
		return true
	}
	alt, ok := otherPortForm(publicURL)
	return ok && m.matches(alt, keys, params, signature)
}

// keyedMAC is an HMAC-SHA1 keyed by one auth token, with a buffer for the
// signed string.
type keyedMAC struct {
	key string
	h   hash.Hash
	buf []byte
}

// macs pools keyed HMACs; a pooled one is re-keyed when the token differs
// (one token in practice).
var macs sync.Pool

func getMAC(key string) *keyedMAC {
	if m, ok := macs.Get().(*keyedMAC); ok && m.key == key {
		m.h.Reset()
		return m
	}
	return &keyedMAC{key: key, h: hmac.New(sha1.New, []byte(key))}
}

// matches computes the signature of u and params and compares it with sig
// in constant time.
func (m *keyedMAC) matches(u string, keys []string, params url.Values, sig string) bool {
	m.h.Reset()
	m.buf = append(m.buf[:0], u...)
	for _, k := range keys {
		m.buf = append(m.buf, k...)
		m.buf = append(m.buf, params[k][0]...)
	}
	_, _ = m.h.Write(m.buf)
	var sum [sha1.Size]byte
	var enc [28]byte // base64 of 20 bytes
	base64.StdEncoding.Encode(enc[:], m.h.Sum(sum[:0]))
	return subtle.ConstantTimeCompare(enc[:], []byte(sig)) == 1
}

// otherPortForm returns u with the scheme's default port added when it has
// no port, or with its port removed, as twilio-go's validator tries.
func otherPortForm(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil {
		return "", false
	}
	if p.Port() != "" {
		p.Host = p.Hostname()
		if ip := net.ParseIP(p.Host); ip != nil && ip.To4() == nil {
			p.Host = "[" + p.Host + "]"
		}
	} else if p.Scheme == "https" {
		p.Host += ":443"
	} else {
		p.Host += ":80"
	}
	return p.String(), true
}
