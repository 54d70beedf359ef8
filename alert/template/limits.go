package template

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Per-channel length limits, in characters (Unicode code points).
const (
	// MaxLINE is LINE's limit for one text message.
	MaxLINE = 5000
	// MaxSMS is Twilio's limit for a message body.
	MaxSMS = 1600
	// MaxVoice keeps a call short enough to be listened to (about three
	// minutes of Japanese text-to-speech) and under TwiML <Say> limits.
	MaxVoice = 1000
	// MaxSignagePage is what one signage screen page shows (title and body).
	MaxSignagePage = 200
	// DefaultSMSWarnSegments is the segment count above which an SMS text
	// draws a warning: each segment is billed, and long texts arrive late
	// or out of order on some phones.
	DefaultSMSWarnSegments = 4
)

// Rules are the configurable parts of the length rules.
type Rules struct {
	// SMSWarnSegments warns above this many SMS segments (default 4).
	SMSWarnSegments int
}

// Measure is what a text costs on a channel.
type Measure struct {
	// Chars is the length in characters.
	Chars int
	// Segments is the SMS segment count (SMS only).
	Segments int
	// Encoding is "GSM-7" or "UCS-2" (SMS only).
	Encoding string
	// Warnings are problems that do not stop sending.
	Warnings []string
}

// LimitError is a text that a channel cannot carry.
type LimitError struct {
	Channel string
	Chars   int
	Max     int
}

// Error implements error.
func (e *LimitError) Error() string {
	what := map[string]string{
		"line": "LINE takes at most", "sms": "Twilio takes at most", "voice": "a call reads at most",
		"signage": "a signage page shows at most",
	}[e.Channel]
	return fmt.Sprintf("%s text is %d characters; %s %d", e.Channel, e.Chars, what, e.Max)
}

// Check measures text as sent on channel and applies the length rules: a
// text over a channel's limit is a *LimitError; an SMS above the warning
// segment count gets a warning.
func (r Rules) Check(channel, text string) (Measure, error) {
	m := Measure{Chars: utf8.RuneCountInString(text)}
	max := 0
	switch channel {
	case "line":
		max = MaxLINE
	case "sms":
		max = MaxSMS
		m.Segments, m.Encoding = SMSSegments(text)
		warn := r.SMSWarnSegments
		if warn <= 0 {
			warn = DefaultSMSWarnSegments
		}
		if m.Segments > warn {
			m.Warnings = append(m.Warnings, fmt.Sprintf("SMS needs %d segments (%s); more than %d is costly and may arrive split", m.Segments, m.Encoding, warn))
		}
	case "voice":
		max = MaxVoice
	case "signage":
		max = MaxSignagePage
	}
	if max > 0 && m.Chars > max {
		return m, &LimitError{Channel: channel, Chars: m.Chars, Max: max}
	}
	return m, nil
}

// GSM 03.38: the basic character set (one septet each) and the extension
// table (escape + character, two septets each).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExt   = "^{}\\[~]|€\f"
)

// SMSSegments returns how many SMS segments text needs and the encoding:
// GSM-7 (160 septets, 153 per part when split; extension characters take
// two) when every character is in the GSM 03.38 alphabet, otherwise UCS-2
// (70 UTF-16 units, 67 per part). Japanese is UCS-2. It agrees with
// alert/sms.Segments (a test checks), which this package cannot import.
func SMSSegments(text string) (int, string) {
	if text == "" {
		return 0, "GSM-7"
	}
	septets, gsm := 0, true
	units := 0
	for _, r := range text {
		switch {
		case !gsm:
		case strings.ContainsRune(gsmBasic, r):
			septets++
		case strings.ContainsRune(gsmExt, r):
			septets += 2
		default:
			gsm = false
		}
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	if gsm {
		return split(septets, 160, 153), "GSM-7"
	}
	return split(units, 70, 67), "UCS-2"
}

func split(n, single, part int) int {
	if n <= single {
		return 1
	}
	return (n + part - 1) / part
}
