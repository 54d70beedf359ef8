package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/minato-city/anpi/alert/template"
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
	for _, l := range slices.Sorted(mapKeys(m)) {
		if m[l] != "" {
			return m[l], l
		}
	}
	return "", lang
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func fallbackOf(lang string) string {
	if lang == "ja-easy" {
		return "ja"
	}
	return "en"
}

// Compose returns the text of a for a person reading lang on channel, with
// the drill marker when a is a drill. A template's short variant for the
// channel replaces the body; signage shows the title (and its variant, if
// any). SMS texts of safety checks carry the "{link}" placeholder for the
// per-person reply link.
func Compose(a *Alert, lang, channel string) string {
	title, tl := pickLanguage(a.Title, lang)
	body, _ := pickLanguage(a.Body, lang)
	variant := ""
	if v := a.ChannelBody[channel]; len(v) > 0 {
		variant, _ = pickLanguage(v, lang)
		if variant != "" {
			body = variant
		}
	}
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
		if variant != "" {
			sb.WriteString("\n")
			sb.WriteString(variant)
		}
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

// expand fills the title and body of a request that names a template and
// returns the template's per-channel variants. A request gives either a
// template (with vars) or title and body, never both.
func (s *Service) expand(req *Request) (map[string]map[string]string, error) {
	if req.Template == "" {
		if len(req.Vars) > 0 {
			return nil, &InputError{"vars", "are only used with a template"}
		}
		return nil, nil
	}
	if len(req.Title) > 0 || len(req.Body) > 0 {
		return nil, &InputError{"template", "give either a template (with vars) or title and body, not both"}
	}
	if s.cfg.Templates == nil {
		return nil, &InputError{"template", "no templates are loaded on this server"}
	}
	t, ok := s.cfg.Templates.Get(req.Template)
	if !ok {
		return nil, &InputError{"template", fmt.Sprintf("unknown template %q; use one of %s", req.Template, strings.Join(s.cfg.Templates.IDs(), ", "))}
	}
	r, err := t.Render(req.Vars)
	if err != nil {
		var ve *template.VarError
		if errors.As(err, &ve) {
			return nil, &InputError{"vars." + ve.Var, ve.Reason}
		}
		return nil, &InputError{"vars", err.Error()}
	}
	req.Title, req.Body = r.Title, r.Body
	if req.Severity == "" {
		req.Severity = t.Severity
	}
	return r.Channels, nil
}

// checkTexts applies the per-channel length rules to every text a would
// send (every language of the directory on every channel of a).
func (s *Service) checkTexts(a *Alert) error {
	for _, ch := range a.Channels {
		for _, lang := range s.languages() {
			if _, err := s.cfg.TextRules.Check(ch, Compose(a, lang, ch)); err != nil {
				return &InputError{"text", fmt.Sprintf("%s (language %s); shorten the title or body, or use a template with a short %s variant", err, lang, ch)}
			}
		}
	}
	return nil
}

func (s *Service) languages() []string {
	if len(s.cfg.Vocabulary.Languages) > 0 {
		return s.cfg.Vocabulary.Languages
	}
	return []string{"ja", "en"}
}

// CreateAutomatic creates an alert for an automatic trigger (kind jma or
// cap) from a template. A template marked preapproved is sent at once,
// approved by "system:" + the template id; any other template waits in
// pending_approval for a person, like a manual alert. Manual alerts never
// come through here: the two-person rule holds for them regardless of the
// template's flag.
func (s *Service) CreateAutomatic(ctx context.Context, req Request, source string) (*Alert, error) {
	if req.Kind != KindJMA && req.Kind != KindCAP {
		return nil, &InputError{"kind", "automatic alerts are jma or cap"}
	}
	if req.Template == "" {
		return nil, &InputError{"template", "automatic alerts are made from a template"}
	}
	now := s.now()
	channelBody, err := s.expand(&req)
	if err != nil {
		return nil, err
	}
	if err := req.validateContent(s.cfg.Vocabulary, now); err != nil {
		return nil, err
	}
	t, _ := s.cfg.Templates.Get(req.Template)
	a := &Alert{
		Kind: req.Kind, Severity: req.Severity, Title: req.Title, Body: req.Body, Target: req.Target,
		Channels: dedupe(req.Channels), Mode: req.Mode, Drill: req.Drill, CreatedBy: source,
		Template: req.Template, ChannelBody: channelBody,
	}
	if req.ExpiresAt != nil {
		a.ExpiresAt = *req.ExpiresAt
	}
	if err := s.checkTexts(a); err != nil {
		return nil, err
	}
	if !t.Preapproved {
		a.ID, a.Status, a.CreatedAt, a.Salt = NewID("al_"), StatusPendingApproval, now, uuid.NewString()
		if a.ExpiresAt.IsZero() {
			a.ExpiresAt = now.Add(s.cfg.DefaultExpiry)
		}
		if err := s.store.PutAlert(ctx, a); err != nil {
			return nil, fmt.Errorf("alert: %w", err)
		}
		s.log.Info("automatic alert waits for approval", "alert", a.ID, "template", t.ID, "source", source)
		s.publish(ctx, a)
		return a, nil
	}
	a.ApprovedBy = "system:" + t.ID
	s.log.Info("automatic alert from a pre-approved template", "template", t.ID, "source", source)
	return s.CreateApproved(ctx, a)
}
