package classify

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Case is one labelled reply of an evaluation set (one JSON object per line).
type Case struct {
	Text   string   `json:"text"`
	Lang   string   `json:"lang"`
	Label  string   `json:"label"`
	Needs  []string `json:"needs"`
	People int      `json:"people"`
	Tags   []string `json:"tags"`
}

// HasTag reports whether the case carries tag.
func (c Case) HasTag(tag string) bool {
	for _, t := range c.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// LoadCases reads JSON Lines cases, skipping blank lines. Unknown labels or
// needs are errors.
func LoadCases(r io.Reader) ([]Case, error) {
	var out []Case
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var c Case
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("cases line %d: %w", line, err)
		}
		if !ValidLabel(c.Label) {
			return nil, fmt.Errorf("cases line %d: unknown label %q", line, c.Label)
		}
		for _, n := range c.Needs {
			if needIndex(n) < 0 {
				return nil, fmt.Errorf("cases line %d: unknown need %q", line, n)
			}
		}
		if c.People == 0 {
			c.People = 1
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return out, nil
}

// LabelScore holds one label's figures.
type LabelScore struct {
	Label                 string
	Precision, Recall, F1 float64
	Support               int // cases whose true label is Label
	Predicted             int // cases predicted as Label
}

// Miss is one wrongly labelled case.
type Miss struct {
	Case Case
	Got  Result
}

// Report is the outcome of Evaluate.
type Report struct {
	// Cases is the number of cases evaluated.
	Cases int
	// Errors counts cases the classifier returned an error for (scored as unclear).
	Errors int
	// Accuracy is the share of cases with the right label.
	Accuracy float64
	// MacroF1 is the unweighted mean of the per-label F1 over labels with support.
	MacroF1 float64
	// PerLabel follows Labels' order.
	PerLabel []LabelScore
	// Confusion[i][j] counts cases of true label Labels[i] predicted as Labels[j].
	Confusion [][]int
	// NeedsPrecision and NeedsRecall are micro-averaged over all need tags.
	NeedsPrecision, NeedsRecall float64
	// PeopleAccuracy is the share of cases with the right people count.
	PeopleAccuracy float64
	// UrgentTriaged is the share of truly needs_help or injured cases whose
	// result goes to human triage (NeedsTriage), whatever label it got: the
	// share of urgent replies a person is sure to see.
	UrgentTriaged float64
	// Misses lists the wrongly labelled cases.
	Misses []Miss
}

// Score returns the figures for label.
func (r Report) Score(label string) LabelScore {
	for _, s := range r.PerLabel {
		if s.Label == label {
			return s
		}
	}
	return LabelScore{Label: label}
}

// Evaluate classifies every case with c and scores the labels, needs and
// people counts.
func Evaluate(ctx context.Context, c Classifier, cases []Case) Report {
	n := len(Labels)
	idx := func(l string) int {
		for i, x := range Labels {
			if x == l {
				return i
			}
		}
		return n - 2 // unclear
	}
	rep := Report{Cases: len(cases), Confusion: make([][]int, n)}
	for i := range rep.Confusion {
		rep.Confusion[i] = make([]int, n)
	}
	var needTP, needFP, needFN, peopleOK, correct, urgent, urgentSeen int
	for _, cs := range cases {
		res, err := c.Classify(ctx, cs.Text, cs.Lang)
		if err != nil {
			rep.Errors++
			res = Result{Label: LabelUnclear, Needs: []string{}, People: 1}
		}
		rep.Confusion[idx(cs.Label)][idx(res.Label)]++
		if res.Label == cs.Label {
			correct++
		} else {
			rep.Misses = append(rep.Misses, Miss{Case: cs, Got: res})
		}
		want, got := needsMask(cs.Needs), needsMask(res.Needs)
		for b := 0; b < len(Needs); b++ {
			w, g := want&(1<<b) != 0, got&(1<<b) != 0
			switch {
			case w && g:
				needTP++
			case g:
				needFP++
			case w:
				needFN++
			}
		}
		if cs.Label == LabelNeedsHelp || cs.Label == LabelInjured {
			urgent++
			if NeedsTriage(res) {
				urgentSeen++
			}
		}
		if res.People == cs.People {
			peopleOK++
		}
	}
	var f1sum float64
	var withSupport int
	for i, l := range Labels {
		var tp, support, predicted int
		tp = rep.Confusion[i][i]
		for j := 0; j < n; j++ {
			support += rep.Confusion[i][j]
			predicted += rep.Confusion[j][i]
		}
		s := LabelScore{Label: l, Support: support, Predicted: predicted}
		s.Precision = ratio(tp, predicted)
		s.Recall = ratio(tp, support)
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		if support > 0 {
			f1sum += s.F1
			withSupport++
		}
		rep.PerLabel = append(rep.PerLabel, s)
	}
	if withSupport > 0 {
		rep.MacroF1 = f1sum / float64(withSupport)
	}
	rep.Accuracy = ratio(correct, len(cases))
	rep.NeedsPrecision = ratio(needTP, needTP+needFP)
	rep.NeedsRecall = ratio(needTP, needTP+needFN)
	rep.PeopleAccuracy = ratio(peopleOK, len(cases))
	rep.UrgentTriaged = ratio(urgentSeen, urgent)
	return rep
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// String renders the report as aligned tables: per-label figures, then the
// confusion matrix (rows = true label, columns = predicted).
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cases %d  errors %d  accuracy %.3f  macro-F1 %.3f  needs P/R %.3f/%.3f  people acc %.3f  urgent→triage %.3f\n",
		r.Cases, r.Errors, r.Accuracy, r.MacroF1, r.NeedsPrecision, r.NeedsRecall, r.PeopleAccuracy, r.UrgentTriaged)
	fmt.Fprintf(&b, "%-11s %9s %9s %9s %8s %9s\n", "label", "precision", "recall", "f1", "support", "predicted")
	for _, s := range r.PerLabel {
		fmt.Fprintf(&b, "%-11s %9.3f %9.3f %9.3f %8d %9d\n", s.Label, s.Precision, s.Recall, s.F1, s.Support, s.Predicted)
	}
	b.WriteString("\nconfusion (rows true, columns predicted)\n")
	fmt.Fprintf(&b, "%-11s", "")
	for _, l := range Labels {
		fmt.Fprintf(&b, " %10s", l)
	}
	b.WriteString("\n")
	for i, l := range Labels {
		fmt.Fprintf(&b, "%-11s", l)
		for j := range Labels {
			fmt.Fprintf(&b, " %10d", r.Confusion[i][j])
		}
		b.WriteString("\n")
	}
	return b.String()
}
