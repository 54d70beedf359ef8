package sms

import "strings"

// GSM 03.38: the basic character set (one septet each) and the extension
// table (escape + character, two septets each).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExt   = "^{}\\[~]|€\f"
)

// Segment sizes: a single message, and each part of a concatenated one
// (the user-data header takes the difference).
const (
	gsmSingle  = 160
	gsmPart    = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// Segments returns how many SMS segments text needs: GSM-7 when every
// character is in the GSM 03.38 alphabet (160 septets in one segment, 153
// per part when split; extension characters such as { } [ ] € take two),
// otherwise UCS-2 (70 UTF-16 units, 67 per part; an emoji takes two units).
// Japanese text is UCS-2. An empty text needs 0 segments.
func Segments(text string) int {
	if text == "" {
		return 0
	}
	if septets, ok := gsmSeptets(text); ok {
		return split(septets, gsmSingle, gsmPart)
	}
	units := 0
	for _, r := range text {
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	return split(units, ucs2Single, ucs2Part)
}

func gsmSeptets(text string) (int, bool) {
	n := 0
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			n++
		case strings.ContainsRune(gsmExt, r):
			n += 2
		default:
			return 0, false
		}
	}
	return n, true
}

func split(n, single, part int) int {
	if n <= single {
		return 1
	}
	return (n + part - 1) / part
}
