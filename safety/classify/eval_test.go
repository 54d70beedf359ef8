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
