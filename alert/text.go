package alert

import (
	"strings"
)

// drillPrefix marks drill messages in the text itself, per language, so a
// drill can never be mistaken for a live alert (the Hawaii 2018 lesson).
var drillPrefix = map[string]string{
	"ja":      "【訓練】",
	"ja-easy": "【くんれん】",
	"en":      "[DRILL] ",
	"zh":      "【演习】",
	"ko":      "[훈련] ",
}

// DrillPrefix returns the drill marker for a language.
func DrillPrefix(lang string) string {
	if p, ok := drillPrefix[lang]; ok {
		return p
	}
	return drillPrefix["en"]
}

// pickLanguage chooses the text for lang from m: the language itself, then
// Japanese for やさしい日本語, then English, then Japanese, then any.
func pickLanguage(m map[string]string, lang string) (string, string) {
	for _, l := range []string{lang, fallbackOf(lang), "en", "ja"} {
		if s, ok := m[l]; ok && s != "" {
			return s, l
		}
	}
	for l, s := range m {
		return s, l
	}
	return "", lang
}

func fallbackOf(lang string) string {
	if lang == "ja-easy" {
		return "ja"
	}
	return "en"
}

// Compose returns the text of a for a person reading lang on channel, with
// the drill marker when a is a drill. SMS texts of safety checks carry the
// "{link}" placeholder for the per-person reply link.
func Compose(a *Alert, lang, channel string) string {
	title, tl := pickLanguage(a.Title, lang)
	body, _ := pickLanguage(a.Body, lang)
	var sb strings.Builder
	if a.Drill {
		sb.WriteString(DrillPrefix(tl))
	}
	switch channel {
	case ChannelVoice:
		sb.WriteString(title)
		sb.WriteString("。 ")
		sb.WriteString(body)
	case ChannelSignage:
		sb.WriteString(title)
	default:
		sb.WriteString(title)
		if body != "" {
			sb.WriteString("\n")
			sb.WriteString(body)
		}
	}
	if a.SafetyCheckID != "" && channel == ChannelSMS {
		sb.WriteString("\n{link}")
	}
	return sb.String()
}
