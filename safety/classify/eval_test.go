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

func TestDevsetRules(t *testing.T) {
	cases := loadSet(t, "devset.jsonl")
	if len(cases) < 650 {
		t.Errorf("devset has %d cases, want ≥ 650", len(cases))
	}
	rep := Evaluate(context.Background(), Rules{}, cases)
	t.Logf("devset, rules alone:\n%s", rep)
	logMisses(t, rep)
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
