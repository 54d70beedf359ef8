package alert_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/template"
	templates "github.com/minato-city/anpi/configs/templates"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

var fullVocab = alert.Vocabulary{Areas: residents.Areas, Languages: residents.Languages, Channels: []string{"line", "sms", "voice"}}

func TestPreviewShowsAudienceAndExactTexts(t *testing.T) {
	h := newHarness(t, "")
	withTemplates(h, fullVocab)
	putResidents(t, h,
		person("p-1", "ja", "shiba", lineID(1), "+819022220001"),
		person("p-2", "en", "shiba", lineID(2), ""),
		person("p-3", "ja-easy", "shiba", "", "+819022220003"),
		person("p-4", "ja", "shiba", "", ""), // no address on these channels
		person("p-5", "zh", "azabu", lineID(5), "+819022220005"),
	)
	ctx := context.Background()
	r := alert.Request{Template: "earthquake", Vars: map[string]string{"area": "shiba", "intensity": "5+", "time": "14:05"},
		Target: alert.Target{Areas: []string{"shiba"}}, Channels: []string{"line", "sms"}, Drill: true}
	p, err := h.svc.Preview(ctx, r, "alice", alert.PreviewSource{Audience: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Drill || p.Severity != "severe" || p.Template != "earthquake" {
		t.Fatalf("preview %+v", p)
	}
	au := p.Audience
	if au.Total != 3 || au.ByChannel["line"] != 2 || au.ByChannel["sms"] != 2 || au.ByLanguage["ja"] != 1 || au.ByLanguage["en"] != 1 || au.ByLanguage["ja-easy"] != 1 {
		t.Fatalf("audience %+v", au)
	}
	if len(p.Texts) != 2*len(residents.Languages) {
		t.Fatalf("%d texts", len(p.Texts))
	}
	var smsJA, lineEN alert.PreviewText
	for _, x := range p.Texts {
		switch x.Channel + "/" + x.Language {
		case "sms/ja":
			smsJA = x
		case "line/en":
			lineEN = x
		}
	}
	if !strings.HasPrefix(smsJA.Text, "【訓練】【地震】芝地区で震度5強\n芝地区で震度5強。") || smsJA.Encoding != "UCS-2" || smsJA.SMSSegments != 1 || smsJA.Recipients != 1 {
		t.Fatalf("sms/ja %+v", smsJA)
	}
	if smsJA.Chars != len([]rune(smsJA.Text)) {
		t.Fatalf("chars %d for %q", smsJA.Chars, smsJA.Text)
	}
	if !strings.HasPrefix(lineEN.Text, "[DRILL] Earthquake: intensity 5 Upper in the Shiba area\nStrong shaking") || lineEN.Recipients != 1 || lineEN.SMSSegments != 0 {
		t.Fatalf("line/en %+v", lineEN)
	}
	// No side effects.
	if vs, _ := h.svc.List(ctx, 0); len(vs) != 0 {
		t.Fatalf("preview stored %d alerts", len(vs))
	}

	// A stored pending alert previews the same; a live one says so.
	r.Drill = false
	a, err := h.svc.Create(ctx, r, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.Template != "earthquake" || a.Title["en"] != "Earthquake: intensity 5 Upper in the Shiba area" || a.ChannelBody["sms"]["ja"] == "" {
		t.Fatalf("alert from template %+v", a)
	}
	p2, err := h.svc.PreviewAlert(ctx, a.ID, alert.PreviewSource{Audience: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	if p2.Drill || p2.Audience.Total != 3 || !strings.HasPrefix(p2.Texts[0].Text, "【地震】") || !contains(p2.Warnings, "LIVE") {
		t.Fatalf("pending preview %+v", p2)
	}
	if _, err := h.svc.Cancel(ctx, a.ID, "bob", "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.PreviewAlert(ctx, a.ID, alert.PreviewSource{Audience: h.dir}); !errors.Is(err, alert.ErrState) {
		t.Fatalf("preview of a cancelled alert: %v", err)
	}
}

func contains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestPreviewWarnsAboutLongSMSAndMissingLanguages(t *testing.T) {
	h := newHarness(t, "")
	withTemplates(h, fullVocab)
	r := req("sms")
	r.Body = map[string]string{"ja": strings.Repeat("揺れに注意してください。", 30)} // 360 chars: 6 UCS-2 segments
	r.Title = map[string]string{"ja": "地震"}
	p, err := h.svc.Preview(context.Background(), r, "alice", alert.PreviewSource{Audience: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range p.Texts {
		if x.SMSSegments <= 4 || !contains(x.Warnings, "segments") {
			t.Fatalf("%s: %d segments, warnings %v", x.Language, x.SMSSegments, x.Warnings)
		}
		if x.Language != "ja" && !contains(x.Warnings, "no "+x.Language+" text") {
			t.Fatalf("%s: no fallback warning: %v", x.Language, x.Warnings)
		}
	}
	if !contains(p.Warnings, "nobody") {
		t.Fatalf("empty audience not flagged: %v", p.Warnings)
	}
}

func TestTemplateRequestsAndChannelLimits(t *testing.T) {
	h := newHarness(t, "")
	withTemplates(h, fullVocab)
	ctx := context.Background()
	base := func() alert.Request {
		return alert.Request{Template: "evacuation_order", Vars: map[string]string{"area": "azabu", "hazard": "fire", "shelter": "港区立麻布小学校", "time": "14:05"},
			Target: alert.Target{Areas: []string{"azabu"}}, Channels: []string{"line", "sms", "voice"}}
	}
	cases := map[string]struct {
		mut   func(r *alert.Request)
		field string
	}{
		"template and title": {func(r *alert.Request) { r.Title = map[string]string{"ja": "x"} }, "template"},
		"unknown template":   {func(r *alert.Request) { r.Template = "alien_invasion" }, "template"},
		"unknown variable":   {func(r *alert.Request) { r.Vars["colour"] = "red" }, "vars.colour"},
		"missing variable":   {func(r *alert.Request) { delete(r.Vars, "shelter") }, "vars.shelter"},
		"vars without template": {func(r *alert.Request) {
			r.Template, r.Title, r.Body = "", map[string]string{"ja": "t"}, map[string]string{"ja": "b"}
		}, "vars"},
		"voice too long": {func(r *alert.Request) {
			r.Template, r.Vars = "", nil
			r.Title, r.Body = map[string]string{"ja": "避難"}, map[string]string{"ja": strings.Repeat("避", alert.MaxBody)}
		}, "text"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := base()
			c.mut(&r)
			_, err := h.svc.Create(ctx, r, "alice")
			var ie *alert.InputError
			if !errors.As(err, &ie) || ie.Field != c.field {
				t.Fatalf("want InputError on %s, got %v", c.field, err)
			}
		})
	}
	if vs, _ := h.svc.List(ctx, 0); len(vs) != 0 {
		t.Fatalf("refused requests stored %d alerts", len(vs))
	}
	a, err := h.svc.Create(ctx, base(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.Severity != "extreme" || a.Status != alert.StatusPendingApproval {
		t.Fatalf("severity %s status %s", a.Severity, a.Status)
	}
}

// Pre-approved templates start at once for automatic triggers; others wait
// for a person; manual alerts never skip the two-person rule.
func TestCreateAutomatic(t *testing.T) {
	h := newHarness(t, "")
	withTemplates(h, fullVocab)
	ctx := context.Background()
	eq := alert.Request{Kind: alert.KindJMA, Template: "earthquake", Vars: map[string]string{"area": "all", "intensity": "6-", "time": "14:05"},
		Target: alert.Target{All: true}, Channels: []string{"line"}}
	a, err := h.svc.CreateAutomatic(ctx, eq, "jma:20261201140500")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != alert.StatusQueued || a.ApprovedBy != "system:earthquake" {
		t.Fatalf("pre-approved: status %s approved by %q", a.Status, a.ApprovedBy)
	}
	ev := alert.Request{Kind: alert.KindJMA, Template: "evacuation_order", Vars: map[string]string{"area": "azabu", "hazard": "fire", "shelter": "麻布小", "time": "14:05"},
		Target: alert.Target{All: true}, Channels: []string{"line"}}
	b, err := h.svc.CreateAutomatic(ctx, ev, "jma:x")
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != alert.StatusPendingApproval || b.ApprovedBy != "" {
		t.Fatalf("not pre-approved: status %s", b.Status)
	}
	eq.Kind = alert.KindManual
	var ie *alert.InputError
	if _, err := h.svc.CreateAutomatic(ctx, eq, "alice"); !errors.As(err, &ie) {
		t.Fatalf("manual through CreateAutomatic: %v", err)
	}
	if _, err := h.svc.Create(ctx, alert.Request{Template: "earthquake", Vars: eq.Vars, Target: eq.Target, Channels: eq.Channels}, "alice"); err != nil {
		t.Fatal(err)
	}
	vs, _ := h.svc.List(ctx, 0)
	if len(vs) != 3 || vs[0].Status != alert.StatusPendingApproval {
		t.Fatalf("manual alert from a pre-approved template: %+v", vs[0])
	}
}

// synthAudience streams n generated residents without storing them.
type synthAudience int

func (n synthAudience) Each(ctx context.Context, fn func(residents.Resident) error) error {
	for i := range int(n) {
		r := residents.Resident{ID: "b", Language: residents.Languages[i%5], Area: residents.Areas[i%5],
			Contacts: residents.Contacts{LINEUserID: "U1", Phone: "+819000000000"}}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkPreview100k measures a preview over 100,000 residents (audience
// counting streams the directory; texts for 2 channels × 5 languages).
func BenchmarkPreview100k(b *testing.B) {
	db, err := bolt.Open(b.TempDir() + "/anpi.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tpls, err := template.Load(templates.FS)
	if err != nil {
		b.Fatal(err)
	}
	svc := alert.NewService(repo.Alerts{B: db}, nil, alert.Config{Vocabulary: fullVocab, Templates: tpls}, slog.New(slog.DiscardHandler))
	r := alert.Request{Template: "earthquake", Vars: map[string]string{"area": "all", "intensity": "6-", "time": "14:05"},
		Target: alert.Target{All: true}, Channels: []string{"line", "sms"}}
	src := alert.PreviewSource{Audience: synthAudience(100_000)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Preview(context.Background(), r, "alice", src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/preview")
}
