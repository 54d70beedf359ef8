package template

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// areaNames are the Minato areas (and "all") written per language.
var areaNames = map[string]map[string]string{
	"all":            {"ja": "港区全域", "ja-easy": "港区（みなとく） ぜんたい", "en": "all of Minato City", "zh": "港区全域", "ko": "미나토구 전역"},
	"shiba":          {"ja": "芝地区", "ja-easy": "芝（しば）地区（ちく）", "en": "the Shiba area", "zh": "芝地区", "ko": "시바 지구"},
	"azabu":          {"ja": "麻布地区", "ja-easy": "麻布（あざぶ）地区（ちく）", "en": "the Azabu area", "zh": "麻布地区", "ko": "아자부 지구"},
	"akasaka":        {"ja": "赤坂地区", "ja-easy": "赤坂（あかさか）地区（ちく）", "en": "the Akasaka area", "zh": "赤坂地区", "ko": "아카사카 지구"},
	"takanawa":       {"ja": "高輪地区", "ja-easy": "高輪（たかなわ）地区（ちく）", "en": "the Takanawa area", "zh": "高轮地区", "ko": "다카나와 지구"},
	"shibaura-konan": {"ja": "芝浦港南地区", "ja-easy": "芝浦（しばうら）港南（こうなん）地区（ちく）", "en": "the Shibaura-Konan area", "zh": "芝浦港南地区", "ko": "시바우라고난 지구"},
}

func areaName(name, raw, lang string) (string, error) {
	m, ok := areaNames[raw]
	if !ok {
		return "", &VarError{name, fmt.Sprintf("unknown area %q; use all, shiba, azabu, akasaka, takanawa or shibaura-konan", raw)}
	}
	return m[lang], nil
}

// intensities are the JMA seismic intensity classes (震度階級).
var intensities = []string{"1", "2", "3", "4", "5-", "5+", "6-", "6+", "7"}

var intensityAlias = map[string]string{"5弱": "5-", "5強": "5+", "6弱": "6-", "6強": "6+"}

func intensityName(name, raw, lang string) (string, error) {
	v := raw
	if a, ok := intensityAlias[v]; ok {
		v = a
	}
	if !slices.Contains(intensities, v) {
		return "", &VarError{name, fmt.Sprintf("%q is not a JMA intensity; use %s", raw, strings.Join(intensities, ", "))}
	}
	if len(v) == 1 {
		return v, nil
	}
	lower := v[1] == '-'
	word := map[string][2]string{
		"ja": {"弱", "強"}, "ja-easy": {"弱（じゃく）", "強（きょう）"}, "en": {" Lower", " Upper"},
		"zh": {"弱", "强"}, "ko": {"약", "강"},
	}[lang]
	if lower {
		return v[:1] + word[0], nil
	}
	return v[:1] + word[1], nil
}

// Hazards are the values of a hazard variable.
var Hazards = []string{"earthquake", "tsunami", "fire", "flood", "storm_surge", "landslide", "heavy_rain", "typhoon"}

var hazardNames = map[string]map[string]string{
	"earthquake":  {"ja": "地震", "ja-easy": "地震（じしん）", "en": "earthquake", "zh": "地震", "ko": "지진"},
	"tsunami":     {"ja": "津波", "ja-easy": "津波（つなみ）", "en": "tsunami", "zh": "海啸", "ko": "쓰나미"},
	"fire":        {"ja": "大規模な火災", "ja-easy": "大（おお）きな 火事（かじ）", "en": "large fire", "zh": "大规模火灾", "ko": "대규모 화재"},
	"flood":       {"ja": "洪水", "ja-easy": "川（かわ）の 水（みず）が あふれる こと", "en": "flooding", "zh": "洪水", "ko": "홍수"},
	"storm_surge": {"ja": "高潮", "ja-easy": "高潮（たかしお）", "en": "storm surge", "zh": "风暴潮", "ko": "해일"},
	"landslide":   {"ja": "土砂災害", "ja-easy": "がけ崩（くず）れ", "en": "landslide", "zh": "泥石流和山体滑坡", "ko": "산사태"},
	"heavy_rain":  {"ja": "大雨", "ja-easy": "大雨（おおあめ）", "en": "heavy rain", "zh": "暴雨", "ko": "호우"},
	"typhoon":     {"ja": "台風", "ja-easy": "台風（たいふう）", "en": "typhoon", "zh": "台风", "ko": "태풍"},
}

func hazardName(name, raw, lang string) (string, error) {
	m, ok := hazardNames[raw]
	if !ok {
		return "", &VarError{name, fmt.Sprintf("unknown hazard %q; use %s", raw, strings.Join(Hazards, ", "))}
	}
	return m[lang], nil
}

// jst is Japan Standard Time (no daylight saving), fixed so the output does
// not depend on the host's zone database.
var jst = time.FixedZone("JST", 9*60*60)

func timeText(name, raw, lang string) (string, error) {
	var h, m int
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		t = t.In(jst)
		h, m = t.Hour(), t.Minute()
	} else if t, err := time.Parse("15:04", raw); err == nil {
		h, m = t.Hour(), t.Minute()
	} else {
		return "", &VarError{name, fmt.Sprintf("%q is not a time; use RFC 3339 (2026-12-01T14:05:00+09:00) or HH:MM in Japan time", raw)}
	}
	switch lang {
	case "ja":
		return fmt.Sprintf("%d時%02d分", h, m), nil
	case "ja-easy":
		ampm, hh := "午前（ごぜん）", h
		if h >= 12 {
			ampm, hh = "午後（ごご）", h-12
		}
		return fmt.Sprintf("%s %d時（じ）%d分（ふん）", ampm, hh, m), nil
	case "ko":
		return fmt.Sprintf("%d시 %02d분", h, m), nil
	default:
		return fmt.Sprintf("%02d:%02d", h, m), nil
	}
}

func number(name, raw string) (string, error) {
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > 1_000_000 {
		return "", &VarError{name, fmt.Sprintf("%q is not a whole number from 0 to 1000000", raw)}
	}
	return strconv.Itoa(n), nil
}
