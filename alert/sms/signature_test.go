package sms_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/minato-city/anpi/alert/sms"
)

// naiveSign is Twilio's documented algorithm, written plainly.
func naiveSign(token, u string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := u
	for _, k := range keys {
		s += k + params[k][0]
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestSignatureAgreesWithTwilioGo: on thousands of random callbacks —
// signed for the URL as given, for its other port form, for another URL or
// with another token, or with a damaged signature — ValidateSignature says
// what twilio-go's RequestValidator says, and genuine ones validate.
func TestSignatureAgreesWithTwilioGo(t *testing.T) {
	const token = "smsT0kenNeverInErrors0123456789"
	urls := []string{
		"https://anpi.example/twilio/sms/status?v=1",
		"https://anpi.example:443/twilio/sms/status",
		"https://anpi.example:8443/twilio/sms/status?a=b&c=d",
		"http://127.0.0.1:8080/twilio/sms/status",
		"http://anpi.example/x",
		"https://anpi.example/p%20q?x=%E3%81%82",
	}
	alt := map[string]string{
		urls[0]: "https://anpi.example:443/twilio/sms/status?v=1",
		urls[1]: "https://anpi.example/twilio/sms/status",
		urls[2]: "https://anpi.example/twilio/sms/status?a=b&c=d",
		urls[3]: "http://127.0.0.1/twilio/sms/status",
		urls[4]: "http://anpi.example:80/x",
		urls[5]: "https://anpi.example:443/p%20q?x=%E3%81%82",
	}
	names := []string{"MessageSid", "MessageStatus", "ErrorCode", "AccountSid", "From", "To", "ApiVersion", "SmsSid", "SmsStatus", "Body", "a", "B"}
	values := []string{"", "delivered", "SM0123456789abcdef0123456789abcdef", "+819012345678", "30003", "安否 確認", "a&b=c", " "}
	r := rand.New(rand.NewPCG(1, 2))
	genuine := 0
	for i := range 5000 {
		u := urls[r.IntN(len(urls))]
		params := url.Values{}
		for range r.IntN(len(names) + 1) {
			params.Set(names[r.IntN(len(names))], values[r.IntN(len(values))])
		}
		signedFor, key := u, token
		switch r.IntN(6) {
		case 0:
			signedFor = alt[u]
		case 1:
			signedFor = urls[(i+1)%len(urls)]
		case 2:
			key = "anotherToken1"
		}
		sig := naiveSign(key, signedFor, params)
		switch r.IntN(8) {
		case 0:
			b := []byte(sig)
			b[r.IntN(len(b)-1)] ^= 1
			sig = string(b)
		case 1:
			sig = sig[:len(sig)-1]
		case 2:
			sig = ""
		}
		m := map[string]string{}
		for k, v := range params {
			m[k] = v[0]
		}
		rv := client.NewRequestValidator(token)
		want := sig != "" && rv.Validate(u, m, sig)
		if got := sms.ValidateSignature(token, u, params, sig); got != want {
			t.Fatalf("case %d: url %q signed for %q, params %v, sig %q: got %v, twilio-go %v", i, u, signedFor, params, sig, got, want)
		}
		if want {
			genuine++
		}
	}
	if genuine < 1000 {
		t.Fatalf("only %d genuine cases: the test does not exercise acceptance", genuine)
	}
	// Repeated parameters never validate (Twilio's callbacks have none).
	p := url.Values{"MessageSid": {"SM1", "SM2"}}
	if sms.ValidateSignature(token, urls[0], p, naiveSign(token, urls[0], p)) {
		t.Fatal("repeated parameter validated")
	}
	if sms.ValidateSignature("", urls[0], url.Values{}, naiveSign("", urls[0], url.Values{})) {
		t.Fatal("empty token validated")
	}
}

func benchParams() (string, url.Values, string) {
	u := "https://anpi.example/twilio/sms/status?v=1"
	p := url.Values{}
	for i, k := range []string{"MessageSid", "MessageStatus", "AccountSid", "From", "To", "ApiVersion", "SmsSid", "SmsStatus"} {
		p.Set(k, fmt.Sprintf("value-%d-SM0123456789abcdef", i))
	}
	return u, p, naiveSign("tok", u, p)
}

// BenchmarkValidateSignature and BenchmarkValidateSignatureTwilioGo check
// one status callback with eight parameters.
func BenchmarkValidateSignature(b *testing.B) {
	u, p, sig := benchParams()
	b.ReportAllocs()
	for b.Loop() {
		if !sms.ValidateSignature("tok", u, p, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidateSignatureTwilioGo(b *testing.B) {
	u, p, sig := benchParams()
	b.ReportAllocs()
	for b.Loop() {
		m := make(map[string]string, len(p))
		for k, v := range p {
			m[k] = v[0]
		}
		rv := client.NewRequestValidator("tok")
		if !rv.Validate(u, m, sig) {
			b.Fatal("invalid")
		}
	}
}
