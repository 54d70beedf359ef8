package template_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/minato-city/anpi/alert/sms"
	"github.com/minato-city/anpi/alert/template"
	templates "github.com/minato-city/anpi/configs/templates"
	"github.com/minato-city/anpi/residents"
)

var shipped = []string{"all_clear", "correction", "earthquake", "evacuation_order", "safety_check", "shelter_open", "tsunami"}

func loadShipped(t *testing.T) *template.Set {
	t.Helper()
	s, err := template.Load(templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// longest returns the largest value a variable of the given declaration
// accepts, so the length rules are checked at their worst.
func longest(v template.Variable) string {
	switch v.Type {
	case template.TypeText:
		n := v.Max
		if n == 0 {
			n = template.DefaultTextMax
		}
		return strings.Repeat("避", n)
	case template.TypeArea:
		return "shibaura-konan"
	case template.TypeIntensity:
		return "6+"
	case template.TypeTime:
		return "2026-12-01T23:59:00+09:00"
	case template.TypeHazard:
		return "flood"
	case template.TypeNumber:
		return "1000000"
	}
	return ""
}

func TestShippedTemplatesLoadFromDiskAndEmbedAlike(t *testing.T) {
	emb := loadShipped(t)
	if got := emb.IDs(); !slices.Equal(got, shipped) {
		t.Fatalf("embedded ids %v, want %v", got, shipped)
	}
	disk, err := template.LoadDir("../../configs/templates")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(disk.IDs(), emb.IDs()) {
		t.Fatalf("disk ids %v", disk.IDs())
	}
	if _, err := template.LoadDir("../../configs/no-such-dir"); err == nil {
		t.Fatal("a missing directory loaded")
	}
}

// Every shipped template renders in every language, with the longest
// values its variables accept, within every channel's length limit.
func TestEveryShippedTemplateRendersInEveryLanguage(t *testing.T) {
	s := loadShipped(t)
	rules := template.Rules{}
	for _, id := range shipped {
		t.Run(id, func(t *testing.T) {
			tp, _ := s.Get(id)
			vars := map[string]string{}
			for name, v := range tp.Variables {
				vars[name] = longest(v)
			}
			r, err := tp.Render(vars)
			if err != nil {
				t.Fatal(err)
			}
			for _, lang := range residents.Languages {
				title, body := r.Title[lang], r.Body[lang]
				if title == "" || body == "" {
					t.Fatalf("%s: empty title or body", lang)
				}
				for _, txt := range append([]string{title, body}, variants(r, lang)...) {
					if strings.ContainsAny(txt, "{}") {
						t.Fatalf("%s: placeholder left in %q", lang, txt)
					}
				}
				// The drill prefix and a reply link add up to ~70 characters.
				pad := strings.Repeat("x", 70)
				for _, ch := range template.Channels {
					b := body
					if v := r.Channels[ch][lang]; v != "" {
						b = v
					}
					text := pad + title + "\n" + b
					if ch == "signage" {
						text = title + b
						if r.Channels[ch][lang] == "" {
							text = title
						}
					}
					if _, err := rules.Check(ch, text); err != nil {
						t.Errorf("%s/%s: %v", ch, lang, err)
					}
				}
				if len([]rune(title)) > 100 {
					t.Errorf("%s: title is %d characters; alerts allow 100", lang, len([]rune(title)))
				}
				if len([]rune(body)) > 1000 {
					t.Errorf("%s: body is %d characters; alerts allow 1000", lang, len([]rune(body)))
				}
			}
		})
	}
}

func variants(r *template.Rendered, lang string) []string {
	var out []string
	for _, m := range r.Channels {
		out = append(out, m[lang])
	}
	return out
}

func TestTypedValuesAreWrittenPerLanguage(t *testing.T) {
	s := loadShipped(t)
	eq, _ := s.Get("earthquake")
	r, err := eq.Render(map[string]string{"area": "shiba", "intensity": "5-", "time": "2026-12-01T05:07:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"ja":      {"芝地区", "震度5弱", "14時07分"},
		"en":      {"the Shiba area", "intensity 5 Lower", "14:07"},
		"zh":      {"芝地区", "震度5弱"},
		"ko":      {"시바 지구", "진도 5약", "14시 07분"},
		"ja-easy": {"芝（しば）", "5弱（じゃく）", "午後（ごご） 2時（じ）7分（ふん）"},
	}
	for lang, subs := range want {
		all := r.Title[lang] + "\n" + r.Body[lang]
		for _, sub := range subs {
			if !strings.Contains(all, sub) {
				t.Errorf("%s: %q not in %q", lang, sub, all)
			}
		}
	}
	// The SMS variant is the short one: Japanese in at most two segments.
	if n, enc := template.SMSSegments(r.Channels["sms"]["ja"]); n > 2 || enc != "UCS-2" {
		t.Errorf("ja SMS variant: %d segments %s", n, enc)
	}
}

func TestRenderErrorsNameTheVariable(t *testing.T) {
	s := loadShipped(t)
	ev, _ := s.Get("evacuation_order")
	good := map[string]string{"area": "azabu", "hazard": "fire", "shelter": "港区立麻布小学校", "time": "14:05"}
	cases := map[string]struct {
		mut  func(m map[string]string)
		name string
	}{
		"unknown variable":  {func(m map[string]string) { m["colour"] = "red" }, "colour"},
		"missing required":  {func(m map[string]string) { delete(m, "shelter") }, "shelter"},
		"blank required":    {func(m map[string]string) { m["shelter"] = " \n\t " }, "shelter"},
		"too long":          {func(m map[string]string) { m["shelter"] = strings.Repeat("a", 61) }, "shelter"},
		"control character": {func(m map[string]string) { m["shelter"] = "ok\x00no" }, "shelter"},
		"bidi override":     {func(m map[string]string) { m["shelter"] = "abc\u202edef" }, "shelter"},
		"unknown area":      {func(m map[string]string) { m["area"] = "shinjuku" }, "area"},
		"bad hazard":        {func(m map[string]string) { m["hazard"] = "aliens" }, "hazard"},
		"bad time":          {func(m map[string]string) { m["time"] = "teatime" }, "time"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			vars := maps.Clone(good)
			c.mut(vars)
			_, err := ev.Render(vars)
			var ve *template.VarError
			if !errors.As(err, &ve) || ve.Var != c.name {
				t.Fatalf("want VarError for %s, got %v", c.name, err)
			}
		})
	}
	eq, _ := s.Get("earthquake")
	if _, err := eq.Render(map[string]string{"area": "all", "intensity": "8", "time": "14:05"}); err == nil {
		t.Fatal("intensity 8 accepted")
	}
}

func TestValuesAreSanitisedAndInsertedOnce(t *testing.T) {
	s := loadShipped(t)
	ev, _ := s.Get("evacuation_order")
	r, err := ev.Render(map[string]string{"area": "azabu", "hazard": "fire", "shelter": "  {area}\n  港区立\t麻布小学校 ", "time": "14:05"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Body["ja"], "避難先：{area} 港区立 麻布小学校。") {
		t.Fatalf("value was not inserted literally and cleaned: %q", r.Body["ja"])
	}
}

func TestOptionalVariablesTakeTheirDefault(t *testing.T) {
	s := loadShipped(t)
	sc, _ := s.Get("safety_check")
	r, err := sc.Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Body["ja"], "港区全域") {
		t.Fatalf("default area not used: %q", r.Body["ja"])
	}
	c, _ := s.Get("correction")
	title, body, err := c.RenderLanguage("en", map[string]string{"original": "Tsunami warning"})
	if err != nil {
		t.Fatal(err)
	}
	if title == "" || !strings.HasSuffix(body, `"Tsunami warning".`) {
		t.Fatalf("empty optional message left a gap: %q", body)
	}
}

const validYAML = `severity: severe
preapproved: false
variables:
  area: {type: area, required: true}
title: {ja: "{area}", en: "{area}", zh: "{area}", ko: "{area}", ja-easy: "{area}"}
body: {ja: b, en: b, zh: b, ko: b, ja-easy: b}
`

func TestStrictLoadingNamesFileAndKey(t *testing.T) {
	if _, err := template.Load(fstest.MapFS{"ok.yaml": {Data: []byte(validYAML)}}); err != nil {
		t.Fatalf("valid template refused: %v", err)
	}
	cases := map[string]struct{ file, data, want string }{
		"unknown key":          {"a.yaml", validYAML + "colour: red\n", `a.yaml: unknown key "colour" at line 7`},
		"missing language":     {"b.yaml", strings.Replace(validYAML, ", ja-easy: b", "", 1), "b.yaml: body.ja-easy: missing"},
		"unknown language":     {"c.yaml", strings.Replace(validYAML, "ko: b", "ko: b, fr: b", 1), "c.yaml: body.fr: unknown language"},
		"undeclared":           {"d.yaml", strings.Replace(validYAML, "en: b", "en: \"{shelter}\"", 1), "d.yaml: body.en: placeholder {shelter} is not a declared variable"},
		"unused variable":      {"e.yaml", strings.Replace(validYAML, "variables:\n", "variables:\n  time: {type: time}\n", 1), "e.yaml: variables.time: declared but used in no text"},
		"bad severity":         {"f.yaml", strings.Replace(validYAML, "severity: severe", "severity: apocalyptic", 1), "f.yaml: severity:"},
		"bad type":             {"g.yaml", strings.Replace(validYAML, "type: area", "type: colour", 1), "g.yaml: variables.area.type:"},
		"bad file name":        {"Bad-Name.yaml", validYAML, "Bad-Name.yaml: file name"},
		"duplicate key":        {"h.yaml", validYAML + "severity: minor\n", "h.yaml:"},
		"unknown channel":      {"i.yaml", validYAML + "channels:\n  fax: {ja: x, en: x, zh: x, ko: x, ja-easy: x}\n", "i.yaml: channels.fax: unknown channel"},
		"bad default":          {"j.yaml", strings.Replace(validYAML, "required: true", "default: mars", 1), "j.yaml: variables.area.default:"},
		"empty text":           {"k.yaml", strings.Replace(validYAML, "zh: b", `zh: " "`, 1), "k.yaml: body.zh: empty"},
		"max on non-text type": {"l.yaml", strings.Replace(validYAML, "required: true", "required: true, max: 5", 1), "l.yaml: variables.area.max:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := template.Load(fstest.MapFS{c.file: {Data: []byte(c.data)}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := template.Load(fstest.MapFS{"README.md": {Data: []byte("x")}}); err == nil {
		t.Fatal("a directory without templates loaded")
	}
}

func TestChannelLengthRules(t *testing.T) {
	r := template.Rules{SMSWarnSegments: 2}
	over := map[string]int{"line": template.MaxLINE, "sms": template.MaxSMS, "voice": template.MaxVoice, "signage": template.MaxSignagePage}
	for ch, max := range over {
		if _, err := r.Check(ch, strings.Repeat("a", max)); err != nil {
			t.Errorf("%s at its limit: %v", ch, err)
		}
		_, err := r.Check(ch, strings.Repeat("a", max+1))
		var le *template.LimitError
		if !errors.As(err, &le) || le.Channel != ch {
			t.Errorf("%s over its limit: %v", ch, err)
		}
	}
	m, err := r.Check("sms", strings.Repeat("あ", 70*2))
	if err != nil || m.Segments != 3 || m.Encoding != "UCS-2" || len(m.Warnings) != 1 {
		t.Fatalf("140 Japanese characters: %+v %v", m, err)
	}
	m, _ = template.Rules{}.Check("sms", strings.Repeat("a", 160))
	if m.Segments != 1 || m.Encoding != "GSM-7" || len(m.Warnings) != 0 {
		t.Fatalf("160 GSM characters: %+v", m)
	}
}

// SMSSegments must agree with the SMS channel's own counter.
func TestSMSSegmentsAgreeWithTheSMSChannel(t *testing.T) {
	corpus := []string{"", "a", strings.Repeat("a", 160), strings.Repeat("a", 161), strings.Repeat("{", 80), strings.Repeat("{", 81),
		strings.Repeat("あ", 70), strings.Repeat("あ", 71), strings.Repeat("😀", 35), strings.Repeat("😀", 36),
		"【訓練】地震\n揺れに注意", "[DRILL] Earthquake € ^", strings.Repeat("é", 200)}
	for _, s := range corpus {
		n, _ := template.SMSSegments(s)
		if want := sms.Segments(s); n != want {
			t.Errorf("%q: %d segments, alert/sms says %d", s, n, want)
		}
	}
}
