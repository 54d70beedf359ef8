package classify

import (
	"context"
	"os"
	"testing"
)

func loadSet(t *testing.T, name string) []Case {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases, err := LoadCases(f)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

func logMisses(t *testing.T, rep Report) {
	t.Helper()
	if os.Getenv("CLASSIFY_MISSES") == "" {
		return
	}
	for _, m := range rep.Misses {
		t.Logf("want %-10s got %-10s %.2f %q", m.Case.Label, m.Got.Label, m.Got.Confidence, m.Case.Text)
	}
}

// logExtraction logs the cases whose needs or people count the rules got
// wrong, when CLASSIFY_MISSES=extract.
func logExtraction(t *testing.T, cases []Case) {
	t.Helper()
	if os.Getenv("CLASSIFY_MISSES") != "extract" {
		return
	}
	for _, c := range cases {
		r := Rules{}.Label(c.Text, c.Lang)
		if needsMask(r.Needs) != needsMask(c.Needs) || r.People != c.People {
			t.Logf("needs %v→%v people %d→%d %q", c.Needs, r.Needs, c.People, r.People, c.Text)
		}
	}
}

func TestDevsetRules(t *testing.T) {
	cases := loadSet(t, "devset.jsonl")
	if len(cases) < 650 {
		t.Errorf("devset has %d cases, want ≥ 650", len(cases))
	}
	rep := Evaluate(context.Background(), Rules{}, cases)
	t.Logf("devset, rules alone:\n%s", rep)
	logMisses(t, rep)
	logExtraction(t, cases)
	checks := []struct {
		name string
		got  float64
		min  float64
	}{
		{"needs_help recall", rep.Score(LabelNeedsHelp).Recall, 0.98},
		{"injured recall", rep.Score(LabelInjured).Recall, 0.95},
		{"macro-F1", rep.MacroF1, 0.90},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("%s = %.3f, want ≥ %.2f", c.name, c.got, c.min)
		}
	}
	if rep.Errors != 0 {
		t.Errorf("%d classify errors", rep.Errors)
	}
	if rep.UrgentTriaged < 0.98 {
		t.Errorf("urgent→triage = %.3f, want ≥ 0.98", rep.UrgentTriaged)
	}
}

// TestDevset2Rules holds the rules to the issue-4 targets on devset.jsonl and
// devset2.jsonl together (both tuned on): needs_help recall ≥ 0.98, injured
// recall ≥ 0.95, macro-F1 ≥ 0.90, and no needs_help or injured reply
// labelled safe.
func TestDevset2Rules(t *testing.T) {
	d2 := loadSet(t, "devset2.jsonl")
	if len(d2) < 150 {
		t.Errorf("devset2 has %d cases, want ≥ 150", len(d2))
	}
	rep2 := Evaluate(context.Background(), Rules{}, d2)
	t.Logf("devset2, rules alone:\n%s", rep2)
	logMisses(t, rep2)
	logExtraction(t, d2)
	cases := append(loadSet(t, "devset.jsonl"), d2...)
	rep := Evaluate(context.Background(), Rules{}, cases)
	t.Logf("devset+devset2, rules alone:\n%s", rep)
	checkTargets(t, "devset+devset2", rep)
}

// checkTargets asserts the issue-4 targets on rep.
func checkTargets(t *testing.T, set string, rep Report) {
	t.Helper()
	checks := []struct {
		name     string
		got, min float64
	}{
		{"needs_help recall", rep.Score(LabelNeedsHelp).Recall, 0.98},
		{"injured recall", rep.Score(LabelInjured).Recall, 0.95},
		{"macro-F1", rep.MacroF1, 0.90},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("%s: %s = %.3f, want ≥ %.2f", set, c.name, c.got, c.min)
		}
	}
	for _, m := range rep.Misses {
		if (m.Case.Label == LabelNeedsHelp || m.Case.Label == LabelInjured) && m.Got.Label == LabelSafe {
			t.Errorf("%s: urgent reply labelled safe: want %s, %q", set, m.Case.Label, m.Case.Text)
		}
	}
}

func loadSetB(b *testing.B) []Case {
	b.Helper()
	f, err := os.Open("testdata/devset.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cases, err := LoadCases(f)
	if err != nil {
		b.Fatal(err)
	}
	return cases
}

// TestHoldoutRules scores the rules on replies written after the rules were
// tuned and never tuned on: the honest estimate of how the rules do on new
// text. Measured at writing: needs_help recall 0.71, injured recall 0.75,
// macro-F1 0.85, urgent→triage 0.96 (most misses land in unclear, which goes
// to triage). The label-recall floors below are regression guards under the
// 0.9 target, which the rules alone do NOT meet on this set; the safety
// floor is that ≥ 0.9 of urgent replies reach a person.
func TestHoldoutRules(t *testing.T) {
	cases := loadSet(t, "holdout.jsonl")
	if len(cases) < 120 {
		t.Errorf("holdout has %d cases, want ≥ 120", len(cases))
	}
	rep := Evaluate(context.Background(), Rules{}, cases)
	t.Logf("holdout, rules alone:\n%s", rep)
	logMisses(t, rep)
	if rep.UrgentTriaged < 0.90 {
		t.Errorf("holdout urgent→triage = %.3f, want ≥ 0.90", rep.UrgentTriaged)
	}
	if r := rep.Score(LabelNeedsHelp).Recall; r < 0.70 {
		t.Errorf("holdout needs_help recall = %.3f, regression floor 0.70", r)
	}
	if r := rep.Score(LabelInjured).Recall; r < 0.70 {
		t.Errorf("holdout injured recall = %.3f, regression floor 0.70", r)
	}
	if rep.MacroF1 < 0.80 {
		t.Errorf("holdout macro-F1 = %.3f, regression floor 0.80", rep.MacroF1)
	}
}

// TestHoldout2Rules scores the rules on holdout2.jsonl, the fresh holdout of
// issue 4, written before the rules were read and never tuned on. Measured
// after the issue-4 changes (testdata/holdout2-after.txt): needs_help recall
// 0.862, injured recall 0.910, macro-F1 0.865, urgent→triage 0.989, and two
// needs_help replies labelled safe. The rules alone do NOT meet the issue-4
// targets on this set; the floors below are regression guards only.
func TestHoldout2Rules(t *testing.T) {
	cases := loadSet(t, "holdout2.jsonl")
	if len(cases) < 300 {
		t.Errorf("holdout2 has %d cases, want ≥ 300", len(cases))
	}
	rep := Evaluate(context.Background(), Rules{}, cases)
	t.Logf("holdout2, rules alone:\n%s", rep)
	logMisses(t, rep)
	floors := []struct {
		name     string
		got, min float64
	}{
		{"needs_help recall", rep.Score(LabelNeedsHelp).Recall, 0.85},
		{"injured recall", rep.Score(LabelInjured).Recall, 0.90},
		{"macro-F1", rep.MacroF1, 0.85},
		{"urgent→triage", rep.UrgentTriaged, 0.98},
	}
	for _, f := range floors {
		if f.got < f.min {
			t.Errorf("holdout2 %s = %.3f, regression floor %.2f", f.name, f.got, f.min)
		}
	}
}
