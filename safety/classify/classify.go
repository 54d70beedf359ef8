// Package classify labels residents' free-text answers to a safety check
// ("are you safe?") as safe, injured, needs_help, evacuated, stranded or
// unclear, and extracts needs, the number of people the reply speaks for and
// a location text.
//
// Three classifiers implement Classifier:
//
//   - Rules: local keyword/phrase rules for ja, en, zh and ko, always on, fast
//     and deterministic. It is the floor the system relies on when no language
//     model is configured or reachable.
//   - LLM: any OpenAI-compatible chat endpoint through go-openai, with a strict
//     JSON-schema answer validated in code, batching, timeouts and a circuit
//     breaker.
//   - Ensemble: rules always, the LLM when it answers in time; the LLM may raise
//     the urgency of a reply but never lower it below the rules' label.
//
// Resident text is untrusted data. It only ever influences its own reply's
// Result: the API returns one Result per input text, the LLM sees replies as
// escaped data inside <reply> tags, and suspected prompt-injection replies are
// sent to the model alone, never batched with other residents' replies.
package classify

import (
	"context"
	"encoding/json"
)

// Label values. Every Result carries exactly one of them.
const (
	// LabelSafe means the person (and the people the reply speaks for) is unharmed
	// and needs nothing now.
	LabelSafe = "safe"
	// LabelInjured means someone the reply speaks for is hurt but does not ask
	// for rescue or urgent medical care.
	LabelInjured = "injured"
	// LabelNeedsHelp means trapped, asking for rescue, urgent medical care, or
	// lacking something needed to stay safe (medicine, power for a medical device,
	// cannot move without help, supplies run out).
	LabelNeedsHelp = "needs_help"
	// LabelEvacuated means the person is at a shelter, evacuation site or has
	// moved somewhere else for safety.
	LabelEvacuated = "evacuated"
	// LabelStranded means the person cannot get home (帰宅困難者).
	LabelStranded = "stranded"
	// LabelUnclear means the reply does not say how the person is.
	LabelUnclear = "unclear"
)

// Labels lists every label, most urgent first.
var Labels = []string{LabelNeedsHelp, LabelInjured, LabelStranded, LabelEvacuated, LabelUnclear, LabelSafe}

// Need values: the fixed vocabulary of Result.Needs.
const (
	NeedMedical  = "medical"  // a doctor, ambulance, hospital, first aid
	NeedMedicine = "medicine" // regular medication (insulin, heart pills, ...)
	NeedWater    = "water"
	NeedFood     = "food"
	NeedPower    = "power"    // electricity for a medical device (ventilator, oxygen, dialysis, suction)
	NeedMobility = "mobility" // wheelchair, bedridden, cannot walk or use stairs
	NeedInfant   = "infant"   // baby, formula milk, diapers
	NeedPet      = "pet"
)

// Needs lists the need vocabulary in a fixed order.
var Needs = []string{NeedMedical, NeedMedicine, NeedWater, NeedFood, NeedPower, NeedMobility, NeedInfant, NeedPet}

// Source values of Result.Source.
const (
	SourceRules    = "rules"
	SourceLLM      = "llm"
	SourceEnsemble = "ensemble"
)

// TriageConfidence is the confidence below which a reply always goes to the
// human triage queue, whatever its label. Rules give 0.9 to replies with an
// explicit cue, 0.7 to replies inferred from weaker evidence (an emoji alone, a
// place name alone), 0.6 when cues conflict and 0.5 or less to suspected
// prompt-injection and unclear replies, so anything the rules only guessed at
// below 0.6 is seen by a person.
const TriageConfidence = 0.6

// Result is the classification of one reply.
type Result struct {
	// Label is one of Labels.
	Label string `json:"label"`
	// Confidence is in [0, 1].
	Confidence float64 `json:"confidence"`
	// Needs holds values from Needs, in that order; never nil from this package.
	Needs []string `json:"needs"`
	// People is the number of people the reply speaks for; 1 unless the reply
	// says otherwise ("家族3人とも無事" → 3).
	People int `json:"people"`
	// Location is free location text from the reply ("芝公園", "Shiba Park"), or "".
	Location string `json:"location"`
	// Source is SourceRules, SourceLLM or SourceEnsemble.
	Source string `json:"source"`
}

// MarshalJSON writes Needs as [] rather than null when empty.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	p := plain(r)
	if p.Needs == nil {
		p.Needs = []string{}
	}
	return json.Marshal(p)
}

// Classifier labels one reply. lang is a BCP-47-ish hint ("ja", "en", "zh",
// "ko") or "" to detect it.
type Classifier interface {
	Classify(ctx context.Context, text, lang string) (Result, error)
}

// Urgency ranks labels for the "may raise, never lower" rule: a higher number
// is more urgent. needs_help 5 > injured 4 > stranded 3 > evacuated 2 >
// unclear 1 > safe 0. unclear ranks above safe so that a model answering
// "safe" can never turn a reply the rules could not read into a safe one;
// stranded ranks above evacuated because a stranded person still has to find
// shelter. An unknown label ranks -1.
func Urgency(label string) int {
	switch label {
	case LabelNeedsHelp:
		return 5
	case LabelInjured:
		return 4
	case LabelStranded:
		return 3
	case LabelEvacuated:
		return 2
	case LabelUnclear:
		return 1
	case LabelSafe:
		return 0
	}
	return -1
}

// ValidLabel reports whether label is one of Labels.
func ValidLabel(label string) bool { return Urgency(label) >= 0 }

// NeedsTriage reports whether a person must look at the reply: every
// needs_help, injured and unclear reply, and every reply whose confidence is
// below TriageConfidence. Injured replies are included because a hurt person's
// state can turn urgent and recall on injuries comes first.
func NeedsTriage(r Result) bool {
	switch r.Label {
	case LabelNeedsHelp, LabelInjured, LabelUnclear:
		return true
	}
	if !ValidLabel(r.Label) {
		return true
	}
	return r.Confidence < TriageConfidence
}

// needIndex returns the position of need in Needs, or -1.
func needIndex(need string) int {
	for i, n := range Needs {
		if n == need {
			return i
		}
	}
	return -1
}

// needsFromMask turns a bit mask over Needs into a non-nil slice.
func needsFromMask(m uint16) []string {
	out := make([]string, 0, 2)
	for i, n := range Needs {
		if m&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// needsMask turns needs into a bit mask over Needs, ignoring unknown values.
func needsMask(needs []string) uint16 {
	var m uint16
	for _, n := range needs {
		if i := needIndex(n); i >= 0 {
			m |= 1 << i
		}
	}
	return m
}
