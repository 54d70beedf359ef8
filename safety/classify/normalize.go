package classify

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxTextBytes is the longest reply text classified. Longer replies are cut at
// the last whole character within the first MaxTextBytes bytes and that prefix
// is classified; the people answering a safety check put the important part
// first, and a cap keeps the rules' cost bounded.
const MaxTextBytes = 4000

// truncate cuts s to at most MaxTextBytes bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= MaxTextBytes {
		return s
	}
	i := MaxTextBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Separators written into normalised text.
const (
	sepSpace    = ' ' // word gap in spaced scripts (Latin, Hangul)
	sepSentence = '|' // sentence boundary: negation and requests never cross it
	sepClause   = ',' // clause boundary: negation never crosses it
)

// normalize appends the matching form of s to dst: NFKC (full/half width),
// lower case, katakana folded to hiragana, the traditional Han characters of
// tradToSimp folded to simplified, long-vowel marks, tildes, emoji
// variation selectors, ZWJ, skin tones and apostrophes dropped, runs of three
// or more identical characters (not digits) collapsed to one, punctuation
// turned into word gaps or sentence boundaries. Word gaps survive only between
// two spaced-script characters, so "けが は ない" reads as "けがはない" while
// "not hurt" keeps its space. Every lexicon phrase goes through the same
// function, so the two always agree.
func normalize(dst []byte, s string) []byte {
	var buf [512]byte
	var n []byte
	if norm.NFKC.IsNormalString(s) {
		n = nil
	} else {
		n = norm.NFKC.AppendString(buf[:0], s)
	}
	var (
		prev       rune = -1 // last rune written (not a separator)
		prevSpaced bool
		pending    byte // separator waiting for the next rune
		runLen     int
		runStart   int
	)
	emit := func(r rune) {
		spaced := isSpacedScript(r)
		if (pending == sepSentence || pending == sepClause) && len(dst) > 0 {
			dst = append(dst, pending)
			prev = -1
		} else if pending == sepSpace && prevSpaced && spaced {
			dst = append(dst, sepSpace)
			prev = -1
		}
		pending = 0
		if r == prev && !(r >= '0' && r <= '9') {
			runLen++
			if runLen == 3 {
				dst = dst[:runStart+utf8.RuneLen(r)]
			}
			if runLen >= 3 {
				return
			}
		} else {
			runLen = 1
			runStart = len(dst)
		}
		dst = utf8.AppendRune(dst, r)
		prev = r
		prevSpaced = spaced
	}
	step := func(r rune) {
		switch {
		case r < utf8.RuneSelf:
			switch {
			case r >= 'A' && r <= 'Z':
				emit(r + 'a' - 'A')
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				emit(r)
			case r == '.' || r == '!' || r == '?' || r == ';' || r == '\n' || r == '|':
				pending = sepSentence
			case r == '\'' || r == '~' || r == '`':
				// dropped: "can't" → "cant", "〜" → ""
			case r == ',' || r == ':':
				if pending != sepSentence {
					pending = sepClause
				}
			case r == ' ' || r == '\t' || r == '\r' || r == '(' || r == ')' ||
				r == '[' || r == ']' || r == '"' || r == '-' || r == '_' || r == '*':
				if pending == 0 {
					pending = sepSpace
				}
			default:
				emit(r)
			}
		case r >= 0x30A1 && r <= 0x30F6: // katakana → hiragana
			emit(r - 0x60)
		case r == 0x30FC || r == 0xFE0F || r == 0x200D || (r >= 0x1F3FB && r <= 0x1F3FF) ||
			r == 0x2019 || r == 0x2018 || r == 0x301C || r == 0xFF5E || r == 0x200B || r == 0xFEFF:
			// long-vowel mark, variation selector, ZWJ, skin tone, quotes, wave dash
		case r == 0x3002 || r == 0xFF61 || r == 0x2026:
			pending = sepSentence
		case r == 0x3001 || r == 0xFF64:
			if pending != sepSentence {
				pending = sepClause
			}
		case r == 0x30FB || r == 0x300C || r == 0x300D ||
			r == 0x300E || r == 0x300F || r == 0x3010 || r == 0x3011 || r == 0x201C || r == 0x201D ||
			r == 0x3000 || unicode.IsSpace(r):
			if pending == 0 {
				pending = sepSpace
			}
		case r >= 0x4E00 && r <= 0x9FFF:
			if f, ok := tradToSimp[r]; ok {
				r = f
			}
			emit(r)
		default:
			emit(unicode.ToLower(r))
		}
	}
	if n == nil {
		for _, r := range s {
			step(r)
		}
	} else {
		for i := 0; i < len(n); {
			r, size := utf8.DecodeRune(n[i:])
			i += size
			step(r)
		}
	}
	return dst
}

// isSpacedScript reports whether words of r's script are separated by spaces.
func isSpacedScript(r rune) bool {
	return r < utf8.RuneSelf || (r >= 0xAC00 && r <= 0xD7A3) || (r >= 0x1100 && r <= 0x11FF) || (r >= 0x3130 && r <= 0x318F)
}

// isWordByte reports whether b continues an ASCII word.
func isWordByte(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')
}

// DetectLang guesses the language of text from its scripts: Hangul → "ko",
// any kana → "ja", Han only → "zh" when it holds common simplified or
// Chinese-only characters and "ja" otherwise, Latin → "en", nothing readable →
// "".
func DetectLang(text string) string {
	var latin, han, kana, hangul, zhOnly int
	for _, r := range text {
		switch {
		case r >= 0xAC00 && r <= 0xD7A3, r >= 0x3130 && r <= 0x318F:
			hangul++
		case (r >= 0x3041 && r <= 0x309F) || (r >= 0x30A0 && r <= 0x30FF) || (r >= 0xFF66 && r <= 0xFF9F):
			kana++
		case unicode.Is(unicode.Han, r):
			han++
			if isZhHint(r) {
				zhOnly++
			}
		case (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= 0xFF21 && r <= 0xFF5A):
			latin++
		}
	}
	switch {
	case hangul > 0 && hangul >= kana:
		return "ko"
	case kana > 0:
		return "ja"
	case han > 0 && (han >= latin || zhOnly > 0):
		if zhOnly > 0 {
			return "zh"
		}
		return "ja"
	case latin > 0:
		return "en"
	}
	return ""
}

// isZhHint reports Han characters that are simplified forms or Chinese
// function words rarely written in Japanese replies.
func isZhHint(r rune) bool {
	switch r {
	case '们', '没', '这', '个', '么', '吗', '呢', '了', '的', '是', '我', '你', '他', '她', '伤', '难',
		'车', '门', '还', '过', '说', '对', '时', '为', '东', '发', '无', '被', '让', '给',
		'里', '药', '饭', '吃', '动', '帮', '请', '现', '机', '电', '医', '狗', '宝', '孩', '妈', '爸':
		return true
	}
	return false
}

// tradToSimp folds the traditional Chinese characters that occur in replies
// written in traditional script ("我沒事", "受傷", "救護車", "電車停了") to the
// simplified forms the zh phrases use. Japanese phrases and text go through
// the same fold, so they keep matching each other; where a Japanese and a
// Chinese phrase fold to the same string ("避難", "呼吸困難") they mean the
// same thing. 無 is left alone: folded to 无 it would read as a negator
// inside Japanese words.
var tradToSimp = map[rune]rune{
	'傷': '伤', '沒': '没', '護': '护', '車': '车', '電': '电', '門': '门', '開': '开', '難': '难',
	'醫': '医', '藥': '药', '壓': '压', '們': '们', '這': '这', '個': '个', '麼': '么', '嗎': '吗',
	'時': '时', '為': '为', '發': '发', '給': '给', '讓': '让', '還': '还', '說': '说', '對': '对',
	'過': '过', '動': '动', '機': '机', '幫': '帮', '請': '请', '現': '现', '飯': '饭', '裡': '里',
	'裏': '里', '邊': '边', '樓': '楼', '場': '场', '燒': '烧', '燙': '烫', '腫': '肿', '暈': '晕',
	'館': '馆', '親': '亲', '問': '问', '題': '题', '災': '灾', '從': '从', '來': '来', '著': '着',
	'氣': '气', '體': '体', '離': '离', '滯': '滞', '鐵': '铁', '運': '运', '寶': '宝', '紙': '纸',
	'褲': '裤', '輪': '轮', '島': '岛', '製': '制', '鄰': '邻', '聯': '联', '繫': '系', '謝': '谢',
	'關': '关', '處': '处', '斷': '断', '塊': '块', '頭': '头', '腳': '脚', '髮': '发',
	'劃': '划', '狀': '状', '況': '况', '話': '话', '應': '应', '該': '该', '嚴': '严',
	'重': '重', '輕': '轻', '緊': '紧', '報': '报', '將': '将', '經': '经', '媽': '妈', '爺': '爷',
}
