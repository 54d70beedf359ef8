package classify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"
)

// BatchClassifier is implemented by classifiers that take several replies
// per call (LLM). Results line up with items; Label "" means no answer.
type BatchClassifier interface {
	ClassifyBatch(ctx context.Context, items []Item) ([]Result, error)
}

// Ensemble runs the rules on every reply and, when configured, the LLM with
// its own timeout. The final label is the more urgent of the two (Urgency):
// the LLM may raise a reply's urgency, never lower it below the rules' label.
// Needs are the union; the people count is the larger when the rules found
// one, else the LLM's. When the LLM is absent, slow, down or wrong the rules'
// result stands with Source "rules"; the call never fails because of the LLM.
type Ensemble struct {
	rules Rules
	llm   Classifier
	log   *slog.Logger
	// Timeout bounds the LLM part of one Classify or ClassifyBatch call;
	// default 10s.
	Timeout time.Duration
}

// NewEnsemble returns an Ensemble; llm may be nil (rules only) and logger nil
// (slog.Default()).
func NewEnsemble(rules Rules, llm Classifier, logger *slog.Logger) *Ensemble {
	if logger == nil {
		logger = slog.Default()
	}
	return &Ensemble{rules: rules, llm: llm, log: logger.With("component", "classify.ensemble"), Timeout: 10 * time.Second}
}

func (e *Ensemble) timeout() time.Duration {
	if e.Timeout <= 0 {
		return 10 * time.Second
	}
	return e.Timeout
}

// Classify implements Classifier. It fails only for invalid UTF-8 or a done
// context.
func (e *Ensemble) Classify(ctx context.Context, text, lang string) (Result, error) {
	r, err := e.rules.Classify(ctx, text, lang)
	if err != nil {
		return Result{}, err
	}
	if e.llm == nil {
		return r, nil
	}
	lctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	lr, lerr := e.llm.Classify(lctx, text, lang)
	if lerr != nil || !ValidLabel(lr.Label) {
		e.log.Warn("llm not used; rules result stands", "err", lerr, "rules_label", r.Label)
		return r, nil
	}
	return merge(r, lr, e.rules.Suspicious(text)), nil
}

// ClassifyBatch classifies items, the LLM part in batches when the LLM
// implements BatchClassifier. Results line up with items. Items with invalid
// UTF-8 get an unclear result with confidence 0 and are reported in the
// error; every other item always gets a result.
func (e *Ensemble) ClassifyBatch(ctx context.Context, items []Item) ([]Result, error) {
	out := make([]Result, len(items))
	var errs []error
	for i, it := range items {
		if !utf8.ValidString(it.Text) {
			out[i] = Result{Label: LabelUnclear, Needs: []string{}, People: 1, Source: SourceRules}
			errs = append(errs, fmt.Errorf("classify item %d: %w", i, ErrInvalidText))
			continue
		}
		out[i] = e.rules.Label(it.Text, it.Lang)
	}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("classify: %w", err)
	}
	if e.llm == nil {
		return out, errors.Join(errs...)
	}
	lctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	var lrs []Result
	var lerr error
	if b, ok := e.llm.(BatchClassifier); ok {
		lrs, lerr = b.ClassifyBatch(lctx, items)
	} else {
		lrs = make([]Result, len(items))
		for i, it := range items {
			var err error
			if lrs[i], err = e.llm.Classify(lctx, it.Text, it.Lang); err != nil {
				lerr = err
			}
		}
	}
	if lerr != nil {
		e.log.Warn("llm batch incomplete; rules results stand where missing", "items", len(items), "err", lerr)
	}
	for i := range out {
		if i < len(lrs) && ValidLabel(lrs[i].Label) && utf8.ValidString(items[i].Text) {
			out[i] = merge(out[i], lrs[i], e.rules.Suspicious(items[i].Text))
		}
	}
	return out, errors.Join(errs...)
}

// merge combines a rules result r with an LLM result l.
func merge(r, l Result, suspicious bool) Result {
	m := r
	m.Source = SourceEnsemble
	switch {
	case Urgency(l.Label) > Urgency(r.Label):
		m.Label, m.Confidence = l.Label, l.Confidence
	case l.Label == r.Label:
		m.Confidence = max(r.Confidence, l.Confidence)
	default:
		// The model thinks it less urgent: keep the rules' label, note the doubt.
		m.Confidence = r.Confidence * 0.8
	}
	m.Needs = needsFromMask(needsMask(r.Needs) | needsMask(l.Needs))
	if r.People > 1 {
		m.People = max(r.People, min(l.People, 50))
	} else if l.People >= 1 && l.People <= 50 {
		m.People = l.People
	}
	if m.Location == "" {
		m.Location = l.Location
	}
	if suspicious {
		m.Confidence = min(m.Confidence, 0.5)
	}
	return m
}
