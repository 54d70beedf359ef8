package classify

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxLocationRunes bounds the extracted location text.
const maxLocationRunes = 24

var (
	jaLocTriggers = []string{"にいます", "にいる", "におります", "におる", "にいて", "にいました", "に避難", "で避難", "へ避難",
		"に来て", "に来ました", "に着いた", "に着きました", "で待機", "にとどま", "に泊", "に移動", "へ移動", "に向かって", "に向かい",
		"で足止め", "で立ち往生", "でじっと", "に閉じ込め", "で閉じ込め", "におって", "におるけん", "にいとる", "におるよ", "です。"}
	jaPlaceSuffixes = []string{"小学校", "中学校", "高校", "学校", "公園", "避難所", "体育館", "駅", "センター", "病院", "ホテル", "会館", "大学", "ビル", "タワー"}
	enLocTriggers   = []string{"sheltering at ", "evacuated to ", "moved to ", "went to ", "staying at ", "stuck at ", "stuck in ", "trapped in ", "stranded at ", "stranded in ", "waiting at ", "sheltering in ", "staying in ", " i'm in ", " im in ", " i am in ", " we're in ", " we are in ", " here in ", " at ", " near ", "now in "}
	enLocStopFirst  = map[string]bool{"the moment": true, "least": true, "all": true, "once": true, "first": true, "night": true, "times": true, "last": true, "this": true, "that": true, "my": false, "pain": true, "shock": true, "labor": true}
	enLocStopWords  = map[string]bool{"and": true, "but": true, "with": true, "now": true, "right": true, "because": true, "so": true, "since": true, "for": true, "we": true, "i": true, "until": true, "waiting": true, "please": true, "can": true, "cant": true, "can't": true, "it's": true, "its": true, "who": true, "where": true, "will": true, "all": true, "safe": true, "ok": true, "is": true, "are": true, "was": true}
	koLocTriggers   = []string{"에 있", "에서 대기", "에 대피", "에서 대피", "에 도착", "에 와", "에 갇", "에서 갇", "에 피난", "에서 못"}
)

// extractLocation finds free location text ("芝公園", "Shiba Park", "港区体育馆")
// in text; lang picks which language's patterns run first.
func extractLocation(text, lang string) string {
	s := text
	if !norm.NFKC.IsNormalString(s) {
		s = norm.NFKC.String(s)
	}
	order := [4]string{"ja", "en", "zh", "ko"}
	switch lang {
	case "en":
		order = [4]string{"en", "ja", "zh", "ko"}
	case "zh":
		order = [4]string{"zh", "ja", "en", "ko"}
	case "ko":
		order = [4]string{"ko", "en", "ja", "zh"}
	}
	var cjk, latin, hangul bool
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			latin = latin || (r|0x20 >= 'a' && r|0x20 <= 'z')
		case r >= 0xAC00 && r <= 0xD7A3:
			hangul = true
		case r >= 0x3040 && r <= 0x9FFF:
			cjk = true
		}
	}
	for _, l := range order {
		var loc string
		switch {
		case l == "ja" && cjk:
			loc = locJA(s)
		case l == "en" && latin:
			loc = locEN(s)
		case l == "zh" && cjk:
			loc = locZH(s)
		case l == "ko" && hangul:
			loc = locKO(s)
		}
		if loc != "" {
			return loc
		}
	}
	return ""
}

func isJaPlaceRune(r rune) bool {
	return unicode.Is(unicode.Han, r) || (r >= 0x30A0 && r <= 0x30FF) || r == 'の' || r == 'ヶ' || r == '々' ||
		(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)))
}

// backScanJA returns the place phrase ending at s[:end].
func backScanJA(s string, end int) string {
	i := end
	for _, suf := range []string{"の近く", "のそば", "の前", "の中", "の近所", "のところ", "の辺り", "あたり"} {
		if strings.HasSuffix(s[:i], suf) {
			i -= len(suf)
			break
		}
	}
	n := 0
	for i > 0 && n < maxLocationRunes {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if r == '今' || r == '私' || r == '僕' || r == '俺' || r == '全' || !isJaPlaceRune(r) {
			break
		}
		i -= size
		n++
	}
	loc := strings.TrimLeft(s[i:end], "の")
	if utf8.RuneCountInString(loc) < 1 {
		return ""
	}
	return loc
}

func locJA(s string) string {
	best, bestAt := "", len(s)+1
	for _, t := range jaLocTriggers {
		if i := strings.Index(s, t); i > 0 && i < bestAt {
			if loc := backScanJA(s, i); loc != "" {
				best, bestAt = loc, i
			}
		}
	}
	if best != "" {
		return best
	}
	for _, suf := range jaPlaceSuffixes {
		if i := strings.Index(s, suf); i >= 0 && i < bestAt {
			if loc := backScanJA(s, i+len(suf)); loc != "" && loc != suf {
				best, bestAt = loc, i
			}
		}
	}
	return best
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func locEN(s string) string {
	s = " " + s // a reply may open with its trigger: "at Azabu shelter"
	low := asciiLower(s)
	for _, t := range enLocTriggers {
		from := 0
		for {
			i := strings.Index(low[from:], t)
			if i < 0 {
				break
			}
			start := from + i + len(t)
			from = start
			end := start
			words := 0
			for end < len(low) && words < 6 {
				j := end
				for j < len(low) && low[j] != ' ' && !strings.ContainsRune(".,!?;:\n", rune(low[j])) {
					j++
				}
				w := low[end:j]
				if w == "" || enLocStopWords[w] {
					break
				}
				words++
				end = j
				if j >= len(low) || low[j] != ' ' {
					break
				}
				end = j + 1
			}
			loc := strings.TrimSpace(s[start:end])
			if loc == "" {
				continue
			}
			lw := strings.ToLower(loc)
			if enLocStopFirst[lw] || enLocStopFirst[strings.SplitN(lw, " ", 2)[0]] {
				continue
			}
			if r, _ := utf8.DecodeRuneInString(loc); r >= utf8.RuneSelf && !unicode.Is(unicode.Han, r) {
				continue
			}
			return loc
		}
	}
	return ""
}

func locZH(s string) string {
	from := 0
	for {
		i := strings.Index(s[from:], "在")
		if i < 0 {
			return ""
		}
		i += from
		from = i + len("在")
		if p, _ := utf8.DecodeLastRuneInString(s[:i]); strings.ContainsRune("现正存实所好自", p) {
			continue
		}
		j, n := from, 0
		for j < len(s) && n < 15 {
			r, size := utf8.DecodeRuneInString(s[j:])
			if !(unicode.Is(unicode.Han, r) || unicode.IsLetter(r) || unicode.IsDigit(r)) ||
				strings.ContainsRune("了呢里等避待和跟的吧啊呀，。都也还", r) {
				break
			}
			j += size
			n++
		}
		if j > from {
			return s[from:j]
		}
	}
}

func locKO(s string) string {
	for _, t := range koLocTriggers {
		i := strings.Index(s, t)
		if i <= 0 {
			continue
		}
		k := i
		for k > 0 {
			r, size := utf8.DecodeLastRuneInString(s[:k])
			if r == ' ' || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
				break
			}
			k -= size
		}
		if k < i {
			return s[k:i]
		}
	}
	return ""
}
