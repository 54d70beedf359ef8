package alert

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/minato-city/anpi/residents"
)

// newAlert validates a manual request (filling it from its template) and
// returns the pending alert it makes, not yet stored. Create and Preview
// share it, so a preview shows exactly what approval would send.
func (s *Service) newAlert(req *Request, actor string) (*Alert, error) {
	now := s.now()
	channelBody, err := s.expand(req)
	if err != nil {
		return nil, err
	}
	if err := req.Validate(s.cfg.Vocabulary, now); err != nil {
		return nil, err
	}
	a := &Alert{
		ID: NewID("al_"), Kind: req.Kind, Severity: req.Severity,
		Title: req.Title, Body: req.Body, Target: req.Target, Channels: dedupe(req.Channels),
		Mode: req.Mode, Drill: req.Drill, Status: StatusPendingApproval, CreatedBy: actor, CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.DefaultExpiry), Salt: uuid.NewString(),
		Template: req.Template, ChannelBody: channelBody,
	}
	if req.ExpiresAt != nil {
		a.ExpiresAt = *req.ExpiresAt
	}
	if err := s.checkTexts(a); err != nil {
		return nil, err
	}
	return a, nil
}

// PreviewSource is where a preview counts the audience: the resident
// directory (streamed, never loaded whole) and the non-person endpoints
// per channel (signage screens), if any.
type PreviewSource struct {
	Audience  Audience
	Endpoints map[string]Endpoints
}

// SetEndpoints makes previews count the endpoints e lists on channel (the
// same source given to Dispatcher.SetEndpoints). Call it before serving.
func (s *Service) SetEndpoints(channel string, e Endpoints) {
	if s.endpoints == nil {
		s.endpoints = map[string]Endpoints{}
	}
	s.endpoints[channel] = e
}

// Preview is what an alert would send, shown before approval.
type Preview struct {
	Drill    bool            `json:"drill"`
	Severity string          `json:"severity"`
	Template string          `json:"template,omitempty"`
	Audience PreviewAudience `json:"audience"`
	Texts    []PreviewText   `json:"texts"`
	// Warnings concern the whole alert (e.g. nobody would be reached).
	Warnings []string `json:"warnings"`
}

// PreviewAudience counts the people an alert would reach.
type PreviewAudience struct {
	// Total is the number of distinct people with an address on at least
	// one of the alert's channels (the alert's "audience" once planned).
	Total int `json:"total"`
	// ByChannel counts messages per channel (people, or screens for signage).
	ByChannel map[string]int `json:"by_channel"`
	// ByLanguage counts people per language.
	ByLanguage map[string]int `json:"by_language"`
}

// PreviewText is the exact text one channel sends to readers of one
// language: drill marker included, the reply link shown as "{link}".
type PreviewText struct {
	Channel  string `json:"channel"`
	Language string `json:"language"`
	// Recipients is how many messages carry this text.
	Recipients int    `json:"recipients"`
	Text       string `json:"text"`
	Chars      int    `json:"chars"`
	// SMSSegments and Encoding ("GSM-7" or "UCS-2") are set for SMS only.
	SMSSegments int      `json:"sms_segments,omitempty"`
	Encoding    string   `json:"encoding,omitempty"`
	Warnings    []string `json:"warnings"`
}

// Preview validates req exactly like Create and shows what it would send,
// without storing anything.
func (s *Service) Preview(ctx context.Context, req Request, actor string, src PreviewSource) (*Preview, error) {
	a, err := s.newAlert(&req, actor)
	if err != nil {
		return nil, err
	}
	return s.preview(ctx, a, src)
}

// PreviewAlert shows what a stored alert waiting for approval would send
// to today's directory. Other statuses are refused with ErrState: their
// audience is planned and counted in the alert's view.
func (s *Service) PreviewAlert(ctx context.Context, id string, src PreviewSource) (*Preview, error) {
	a, err := s.store.GetAlert(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Status != StatusPendingApproval {
		return nil, fmt.Errorf("preview alert in status %s (only alerts awaiting approval): %w", a.Status, ErrState)
	}
	return s.preview(ctx, a, src)
}

func (s *Service) preview(ctx context.Context, a *Alert, src PreviewSource) (*Preview, error) {
	p := &Preview{
		Drill: a.Drill, Severity: a.Severity, Template: a.Template, Texts: []PreviewText{}, Warnings: []string{},
		Audience: PreviewAudience{ByChannel: map[string]int{}, ByLanguage: map[string]int{}},
	}
	per := map[string]int{} // channel|language → messages
	for _, ch := range a.Channels {
		p.Audience.ByChannel[ch] = 0
	}
	if src.Audience != nil {
		err := src.Audience.Each(ctx, func(r residents.Resident) error {
			if !a.Target.Matches(&r) {
				return nil
			}
			reached := false
			for _, ch := range a.Channels {
				if Address(&r, ch) == "" {
					continue
				}
				reached = true
				p.Audience.ByChannel[ch]++
				per[ch+"|"+r.Language]++
				if a.Mode == ModeFirstReachable {
					break
				}
			}
			if reached {
				p.Audience.Total++
				p.Audience.ByLanguage[r.Language]++
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("preview audience: %w", err)
		}
	}
	for _, ch := range a.Channels {
		e := src.Endpoints[ch]
		if e == nil {
			e = s.endpoints[ch]
		}
		if e == nil {
			continue
		}
		eps, err := e.Endpoints(ctx, a.Target)
		if err != nil {
			return nil, fmt.Errorf("preview %s endpoints: %w", ch, err)
		}
		for _, ep := range eps {
			p.Audience.ByChannel[ch]++
			per[ch+"|"+ep.Language]++
		}
	}
	for _, ch := range a.Channels {
		for _, lang := range s.languages() {
			text := Compose(a, lang, ch)
			m, err := s.cfg.TextRules.Check(ch, text)
			t := PreviewText{
				Channel: ch, Language: lang, Recipients: per[ch+"|"+lang], Text: text, Chars: m.Chars,
				SMSSegments: m.Segments, Encoding: m.Encoding, Warnings: slices.Clip(append([]string{}, m.Warnings...)),
			}
			if err != nil {
				t.Warnings = append(t.Warnings, err.Error())
			}
			if _, got := pickLanguage(a.Title, lang); got != lang {
				t.Warnings = append(t.Warnings, fmt.Sprintf("no %s text: these readers get the %s text", lang, got))
			}
			p.Texts = append(p.Texts, t)
		}
	}
	if p.Audience.Total == 0 {
		p.Warnings = append(p.Warnings, "nobody in the target has an address on the chosen channels")
	}
	for _, ch := range a.Channels {
		if p.Audience.ByChannel[ch] == 0 && p.Audience.Total > 0 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("nobody in the target can be reached on %s", ch))
		}
	}
	if !a.Drill {
		p.Warnings = append(p.Warnings, "LIVE: this alert goes to real residents")
	}
	return p, nil
}
