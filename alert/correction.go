package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/minato-city/anpi/alert/template"
)

// Correction records the correction of a cancelled alert.
//
// Policy: cancelling a live alert that reached anyone always sends a
// correction to the people it reached: a withdrawn warning that stays
// uncorrected on people's phones is the harm (Hawaii 2018 took 38 minutes).
// A drill is corrected only when the operator writes a correction: a drill
// is often stopped because something real is happening, and the channels
// are then needed for live alerts. A correction of a drill is itself a drill
// and carries the drill marker.
//
// The correction is approved by the cancelling action itself (a cancel is a
// safety action that one staff member may take; the correction says no more
// than "the earlier message is withdrawn" plus the operator's words) and is
// sent at the original's severity, so in the original's priority lane.
type Correction struct {
	// Due is set by the cancel and cleared once the correction alert exists
	// or it is known that nobody was reached; ResumeCorrections finishes
	// corrections a crash interrupted.
	Due bool `json:"due,omitempty"`
	// Text is the operator's correction per language (may be empty).
	Text map[string]string `json:"text,omitempty"`
	// By is the staff member who cancelled, who also approves the correction.
	By string `json:"by,omitempty"`
	// ID is the correction alert, once created.
	ID string `json:"id,omitempty"`
	// Note tells operators why there is no correction.
	Note string `json:"note,omitempty"`
}

// MaxCorrection bounds the operator's correction text per language.
const MaxCorrection = 500

// Notes on the original alert when no correction is sent.
const (
	NoteReachedNobody  = "the alert reached nobody; no correction was needed"
	NoteDrillNoText    = "drill cancelled without correction text; no correction sent"
	NoteCorrectionDue  = "correction not sent yet; it is retried"
	correctionTemplate = "correction"
)

// CorrectionID is the id of the correction of alert id. It is derived, so
// a correction retried after a crash, or by another process, is the same
// alert and nobody is corrected twice.
func CorrectionID(id string) string { return id + ".corr" }

// Cancel stops an alert: queued batches are not sent, and (see Correction)
// a correction goes to everyone the alert already reached, on the same
// channels. correction is the operator's text per language (nil: none). A
// finished alert can be cancelled too (it is withdrawn: screens clear it and
// the people it reached are corrected), and so are the failover alerts made
// from it (see FailoverID). A second cancel is refused with ErrState and
// changes nothing. The returned alert's Correction names the
// correction alert or says why there is none.
func (s *Service) Cancel(ctx context.Context, id, actor, reason string, correction map[string]string) (*Alert, error) {
	reason = strings.TrimSpace(reason)
	if len([]rune(reason)) > 500 {
		return nil, &InputError{"reason", "at most 500 characters"}
	}
	text, err := s.cleanCorrection(correction)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a, err := s.store.UpdateAlert(ctx, id, func(a *Alert) error {
		if a.Status == StatusCancelled {
			return fmt.Errorf("alert already cancelled: %w", ErrState)
		}
		a.Status = StatusCancelled
		a.CancelReason = reason
		if a.CompletedAt == nil {
			a.CompletedAt = &now
		}
		if len(text) > 0 || !a.Drill {
			a.Correction = &Correction{Due: true, Text: text, By: actor, Note: NoteCorrectionDue}
		} else {
			a.Correction = &Correction{Note: NoteDrillNoText}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("alert cancelled", "alert", id, "by", actor)
	s.cancelFailovers(ctx, a, actor, reason, correction)
	if a.Correction.Due {
		c, err := s.correct(ctx, a)
		if err != nil {
			s.publish(ctx, a)
			return nil, fmt.Errorf("alert cancelled, correction not yet sent: %w", err)
		}
		a = c
	}
	s.publish(ctx, a)
	return a, nil
}

// cleanCorrection checks the operator's correction text.
func (s *Service) cleanCorrection(m map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for lang, txt := range m {
		key := "correction." + lang
		if !slices.Contains(s.languages(), lang) {
			return nil, &InputError{key, "unknown language; use one of " + strings.Join(s.languages(), ", ")}
		}
		if !utf8.ValidString(txt) {
			return nil, &InputError{key, "must be valid UTF-8"}
		}
		txt = template.Sanitize(txt)
		if txt == "" {
			continue
		}
		if n := utf8.RuneCountInString(txt); n > MaxCorrection {
			return nil, &InputError{key, fmt.Sprintf("is %d characters; at most %d", n, MaxCorrection)}
		}
		for _, r := range txt {
			if r < 0x20 || (r >= 0x7f && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				return nil, &InputError{key, fmt.Sprintf("contains the control character U+%04X", r)}
			}
		}
		out[lang] = txt
	}
	return out, nil
}

// correct sends the due correction of cancelled alert a and records it.
// It is idempotent.
func (s *Service) correct(ctx context.Context, a *Alert) (*Alert, error) {
	c := a.Correction
	reached, err := s.reached(ctx, a)
	if err != nil {
		return a, err
	}
	cid := ""
	if len(reached) > 0 {
		cid = CorrectionID(a.ID)
		if _, err := s.store.GetAlert(ctx, cid); errors.Is(err, ErrNotFound) {
			title, body := s.correctionText(a, c.Text)
			corr := &Alert{
				ID: cid, Kind: KindCorrection, Severity: a.Severity, Title: title, Body: body,
				Target: Target{All: true, ResidentIDs: reached}, Channels: slices.Clone(a.Channels), Mode: a.Mode,
				Drill: a.Drill, CreatedBy: c.By, ApprovedBy: c.By, Corrects: a.ID, Template: correctionTemplate,
				Salt: uuid.NewSHA1(uuid.NameSpaceOID, []byte(a.Salt+"/correction")).String(),
			}
			if _, err := s.CreateApproved(ctx, corr); err != nil {
				return a, err
			}
			s.log.Info("correction created", "alert", a.ID, "correction", cid, "people", len(reached), "drill", a.Drill)
		} else if err != nil {
			return a, err
		}
	}
	return s.store.UpdateAlert(ctx, a.ID, func(x *Alert) error {
		if x.Correction == nil {
			x.Correction = &Correction{}
		}
		x.Correction.Due = false
		x.Correction.ID = cid
		x.Correction.Note = ""
		if cid == "" {
			x.Correction.Note = NoteReachedNobody
		}
		return nil
	})
}

// reached returns the sorted ids of the people alert a reached, read from
// its delivery ledgers: recipients the provider accepted (sent, delivered),
// and those whose request was in flight when the alert was cancelled
// (sending; a LINE batch in the sending state), because they may have been
// reached and an uncorrected alert is worse than a needless correction.
// Signage screens are not people and are left out.
func (s *Service) reached(ctx context.Context, a *Alert) ([]string, error) {
	var ids []string
	after := ""
	for {
		bs, err := s.store.ScanBatches(ctx, a.ID, after, 100)
		if err != nil {
			return nil, fmt.Errorf("reached: %w", err)
		}
		if len(bs) == 0 {
			break
		}
		for _, b := range bs {
			l, err := s.store.GetLedger(ctx, b.ID)
			if err != nil {
				return nil, fmt.Errorf("reached: %w", err)
			}
			inFlight := b.Channel == ChannelLINE && l.State == LedgerSending
			for i, rc := range b.Recipients {
				st := RecipientPending
				if i < len(l.R) {
					st = l.R[i]
				}
				switch {
				case strings.HasPrefix(rc.ResidentID, "screen:"):
				case st == RecipientSent, st == RecipientDelivered, st == RecipientSending:
					ids = append(ids, rc.ResidentID)
				case inFlight && st == RecipientPending:
					ids = append(ids, rc.ResidentID)
				}
			}
		}
		after = bs[len(bs)-1].ID
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// builtinCorrection is used when no correction template is loaded: a
// correction must go out even on a misconfigured server.
var builtinCorrection = map[string][2]string{
	"ja": {"【訂正】先ほどの港区からのお知らせ", "先ほどお送りした「%s」は取り消しました。%s"},
	"en": {"Correction: earlier message from Minato City", "Minato City has withdrawn its earlier message \"%s\". %s"},
}

// correctionText writes the correction of a in every language, quoting the
// original's title and the operator's text in the reader's language.
func (s *Service) correctionText(a *Alert, text map[string]string) (map[string]string, map[string]string) {
	title, body := map[string]string{}, map[string]string{}
	t, _ := s.cfg.Templates.Get(correctionTemplate)
	for _, lang := range s.languages() {
		orig, _ := pickLanguage(a.Title, lang)
		msg := ""
		if len(text) > 0 {
			msg, _ = pickLanguage(text, lang)
		}
		if t != nil {
			ti, bo, err := t.RenderLanguage(lang, map[string]string{"original": orig, "message": msg})
			if err == nil {
				title[lang], body[lang] = ti, bo
				continue
			}
			s.log.Warn("correction template", "lang", lang, "err", err)
		}
		if f, ok := builtinCorrection[lang]; ok {
			title[lang], body[lang] = f[0], strings.TrimSpace(fmt.Sprintf(f[1], orig, msg))
		}
	}
	return title, body
}

// ResumeCorrections sends the corrections that a crash (or a store error)
// left due. Call it at start-up and from a periodic sweep; it is
// idempotent (the correction's id is derived from the original's).
func (s *Service) ResumeCorrections(ctx context.Context) error {
	after := ""
	var errs []error
	for {
		page, err := s.store.ListAlerts(ctx, after, 200)
		if err != nil {
			return fmt.Errorf("resume corrections: %w", err)
		}
		if len(page) == 0 {
			return errors.Join(errs...)
		}
		for _, a := range page {
			if a.Status == StatusCancelled && a.Correction != nil && a.Correction.Due {
				c, err := s.correct(ctx, a)
				if err != nil {
					errs = append(errs, fmt.Errorf("correction of %s: %w", a.ID, err))
					continue
				}
				s.publish(ctx, c)
			}
		}
		after = page[len(page)-1].ID
	}
}

// cancelFailovers cancels the failover alerts of a, which continue its
// delivery on the next channels and so carry the same wrong message. Each
// corrects the people it reached itself.
func (s *Service) cancelFailovers(ctx context.Context, a *Alert, actor, reason string, correction map[string]string) {
	if a.Mode != ModeFirstReachable {
		return
	}
	for _, ch := range a.Channels {
		child := FailoverID(a.ID, ch)
		_, err := s.Cancel(ctx, child, actor, reason, correction)
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrState) {
			s.log.Error("cancel failover alert", "alert", a.ID, "failover", child, "err", err)
		}
	}
}
