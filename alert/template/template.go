// Package template holds the alert templates (configs/templates/*.yaml): a
// title and body per language (ja, en, zh, ko and やさしい日本語), declared
// variables with types, optional short variants per channel, whether an
// automatic trigger may send the template without a second approval, and the
// per-channel length rules every alert text must satisfy.
//
// Substitution is a small single-pass "{name}" replacement, not text/template:
// the texts are written by ward staff and translators, "{area}" is what they
// can read and check; nothing in a template can loop, call or fail at send
// time; every placeholder is checked against the declared variables when the
// file is loaded; and a value is inserted once, never re-scanned, so a value
// that itself contains "{area}" stays literal text.
package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/minato-city/anpi/residents"
)

// Severities are the severities a template may default to (CAP vocabulary).
var Severities = []string{"extreme", "severe", "moderate", "minor"}

// Channels that may carry a short per-channel variant of the body.
var Channels = []string{"line", "sms", "voice", "signage"}

// Template is one alert template, loaded from <id>.yaml.
type Template struct {
	// ID is the file name without ".yaml".
	ID string `yaml:"-"`
	// Description tells operators when to use the template.
	Description string `yaml:"description"`
	// Severity is the default severity of alerts made from it.
	Severity string `yaml:"severity"`
	// Preapproved lets automatic triggers (JMA, CAP) send it without a
	// second person's approval. Manual alerts keep the two-person rule.
	Preapproved bool `yaml:"preapproved"`
	// Variables are the declared variables by name.
	Variables map[string]Variable `yaml:"variables"`
	// Title and Body are the texts per language.
	Title map[string]string `yaml:"title"`
	Body  map[string]string `yaml:"body"`
	// Channels are optional shorter bodies per channel and language
	// (e.g. a two-segment SMS, a signage line).
	Channels map[string]map[string]string `yaml:"channels"`
}

// Variable declares one template variable.
type Variable struct {
	// Type is one of the Type* names; typed values are checked and
	// written in each language (an area id becomes 芝地区 / Shiba area).
	Type string `yaml:"type"`
	// Required variables must be given; others default to Default.
	Required bool `yaml:"required"`
	// Default is used when an optional variable is not given.
	Default string `yaml:"default"`
	// Max bounds a text value in characters (default 100, at most 500).
	Max int `yaml:"max"`
	// Description tells operators what to put in.
	Description string `yaml:"description"`
}

// Variable types.
const (
	TypeText      = "text"      // free text, length-bounded, no control characters
	TypeArea      = "area"      // a Minato area id, or "all"
	TypeIntensity = "intensity" // JMA seismic intensity: 1 2 3 4 5- 5+ 6- 6+ 7
	TypeTime      = "time"      // RFC 3339 or HH:MM, shown in Japan time
	TypeHazard    = "hazard"    // one of the Hazards
	TypeNumber    = "number"    // a whole number 0..1,000,000
)

var types = []string{TypeText, TypeArea, TypeIntensity, TypeTime, TypeHazard, TypeNumber}

// Limits on text variables.
const (
	DefaultTextMax = 100
	MaxTextMax     = 500
)

var (
	idRe          = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	placeholderRe = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)
)

// Set is the loaded templates by id.
type Set struct {
	byID map[string]*Template
}

// LoadDir loads every *.yaml file in dir. Errors name the file and key.
func LoadDir(dir string) (*Set, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("templates: %s is not a directory", dir)
	}
	s, err := Load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("templates in %s: %w", dir, err)
	}
	return s, nil
}

// Load loads every *.yaml file at the root of fsys. Errors name the file
// and key.
func Load(fsys fs.FS) (*Set, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("templates: no *.yaml files")
	}
	s := &Set{byID: map[string]*Template{}}
	var errs []error
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		t, err := Parse(strings.TrimSuffix(path.Base(name), ".yaml"), data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		s.byID[t.ID] = t
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

var yamlFieldRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// Parse reads one template; id is its file name without ".yaml".
func Parse(id string, data []byte) (*Template, error) {
	if !idRe.MatchString(id) {
		return nil, fmt.Errorf("file name: %q is not a template id (a-z, 0-9, _)", id)
	}
	t := &Template{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(t); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		msg := err.Error()
		if m := yamlFieldRe.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("unknown key %q at line %s", m[2], m[1])
		}
		return nil, errors.New(strings.ReplaceAll(strings.TrimPrefix(msg, "yaml: "), "\n", "; "))
	}
	t.ID = id
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

// check validates a parsed template; the error names the key.
func (t *Template) check() error {
	if t.Severity == "" {
		return errors.New("severity: missing")
	}
	if !slices.Contains(Severities, t.Severity) {
		return fmt.Errorf("severity: %q is not one of %s", t.Severity, strings.Join(Severities, ", "))
	}
	for name, v := range t.Variables {
		key := "variables." + name
		if !idRe.MatchString(name) {
			return fmt.Errorf("%s: variable names are a-z, 0-9 and _", key)
		}
		if !slices.Contains(types, v.Type) {
			return fmt.Errorf("%s.type: %q is not one of %s", key, v.Type, strings.Join(types, ", "))
		}
		if v.Max < 0 || v.Max > MaxTextMax || (v.Max != 0 && v.Type != TypeText) {
			return fmt.Errorf("%s.max: must be 1-%d and only on text variables", key, MaxTextMax)
		}
		if v.Required && v.Default != "" {
			return fmt.Errorf("%s.default: a required variable has no default", key)
		}
		if v.Default != "" {
			for _, lang := range residents.Languages {
				if _, err := v.value(name, v.Default, lang); err != nil {
					return fmt.Errorf("%s.default: %w", key, err)
				}
			}
		}
	}
	used := map[string]bool{}
	texts := func(key string, m map[string]string, all bool) error {
		for lang := range m {
			if !slices.Contains(residents.Languages, lang) {
				return fmt.Errorf("%s.%s: unknown language; use %s", key, lang, strings.Join(residents.Languages, ", "))
			}
		}
		for _, lang := range residents.Languages {
			s, ok := m[lang]
			if !ok {
				if all {
					return fmt.Errorf("%s.%s: missing (every language needs a text)", key, lang)
				}
				continue
			}
			k := key + "." + lang
			if strings.TrimSpace(s) == "" {
				return fmt.Errorf("%s: empty", k)
			}
			if !utf8.ValidString(s) {
				return fmt.Errorf("%s: not valid UTF-8", k)
			}
			for _, m := range placeholderRe.FindAllStringSubmatch(s, -1) {
				if _, ok := t.Variables[m[1]]; !ok {
					return fmt.Errorf("%s: placeholder {%s} is not a declared variable", k, m[1])
				}
				used[m[1]] = true
			}
		}
		return nil
	}
	if err := texts("title", t.Title, true); err != nil {
		return err
	}
	if err := texts("body", t.Body, true); err != nil {
		return err
	}
	for ch, m := range t.Channels {
		if !slices.Contains(Channels, ch) {
			return fmt.Errorf("channels.%s: unknown channel; use %s", ch, strings.Join(Channels, ", "))
		}
		if err := texts("channels."+ch, m, true); err != nil {
			return err
		}
	}
	for name := range t.Variables {
		if !used[name] {
			return fmt.Errorf("variables.%s: declared but used in no text", name)
		}
	}
	return nil
}

// Get returns the template with id.
func (s *Set) Get(id string) (*Template, bool) {
	if s == nil {
		return nil, false
	}
	t, ok := s.byID[id]
	return t, ok
}

// IDs returns the template ids, sorted.
func (s *Set) IDs() []string {
	if s == nil {
		return nil
	}
	ids := make([]string, 0, len(s.byID))
	for id := range s.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// VarError is a problem with one variable value, naming it.
type VarError struct {
	Var    string
	Reason string
}

// Error implements error.
func (e *VarError) Error() string { return "{" + e.Var + "}: " + e.Reason }

// Rendered is a template filled in: texts per language, and per channel
// and language for the channel variants.
type Rendered struct {
	Title    map[string]string
	Body     map[string]string
	Channels map[string]map[string]string
}

// MaxVars bounds how many variables a request may give.
const MaxVars = 32

// Render fills the template in every language. Unknown or missing
// variables and bad values are *VarError naming the variable.
func (t *Template) Render(vars map[string]string) (*Rendered, error) {
	vals, err := t.resolve(vars)
	if err != nil {
		return nil, err
	}
	r := &Rendered{Title: map[string]string{}, Body: map[string]string{}}
	for _, lang := range residents.Languages {
		if r.Title[lang], err = t.fill(t.Title[lang], vals, lang); err != nil {
			return nil, err
		}
		if r.Body[lang], err = t.fill(t.Body[lang], vals, lang); err != nil {
			return nil, err
		}
		for ch, m := range t.Channels {
			if r.Channels == nil {
				r.Channels = map[string]map[string]string{}
			}
			if r.Channels[ch] == nil {
				r.Channels[ch] = map[string]string{}
			}
			if r.Channels[ch][lang], err = t.fill(m[lang], vals, lang); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// RenderLanguage fills the title and body of one language; values may
// differ per language (a correction quotes the original in each language).
func (t *Template) RenderLanguage(lang string, vars map[string]string) (title, body string, err error) {
	if _, ok := t.Title[lang]; !ok {
		return "", "", &VarError{"language", fmt.Sprintf("template %s has no %q text", t.ID, lang)}
	}
	vals, err := t.resolve(vars)
	if err != nil {
		return "", "", err
	}
	if title, err = t.fill(t.Title[lang], vals, lang); err != nil {
		return "", "", err
	}
	body, err = t.fill(t.Body[lang], vals, lang)
	return title, body, err
}

// resolve checks vars against the declarations and returns the cleaned
// value of every declared variable (defaults filled in).
func (t *Template) resolve(vars map[string]string) (map[string]string, error) {
	if len(vars) > MaxVars {
		return nil, &VarError{"vars", fmt.Sprintf("at most %d variables", MaxVars)}
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if _, ok := t.Variables[name]; !ok {
			return nil, &VarError{name, fmt.Sprintf("template %s has no such variable; it takes %s", t.ID, t.varList())}
		}
	}
	out := make(map[string]string, len(t.Variables))
	for name, v := range t.Variables {
		val, ok := vars[name]
		if ok {
			val = Sanitize(val)
		}
		if val == "" {
			if v.Required {
				return nil, &VarError{name, "required by template " + t.ID}
			}
			val = v.Default
		}
		if val != "" {
			if _, err := v.value(name, val, "ja"); err != nil {
				return nil, err
			}
		}
		out[name] = val
	}
	return out, nil
}

func (t *Template) varList() string {
	if len(t.Variables) == 0 {
		return "none"
	}
	names := make([]string, 0, len(t.Variables))
	for n := range t.Variables {
		names = append(names, "{"+n+"}")
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// fill substitutes the cleaned values into s for lang, in one pass.
func (t *Template) fill(s string, vals map[string]string, lang string) (string, error) {
	var err error
	out := placeholderRe.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		raw := vals[name]
		if raw == "" {
			return ""
		}
		v, e := t.Variables[name].value(name, raw, lang)
		if e != nil && err == nil {
			err = e
		}
		return v
	})
	if err != nil {
		return "", err
	}
	return tidy(out), nil
}

// tidy removes the blank space an empty optional variable leaves behind.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.ReplaceAll(l, "  ", " "), " 　")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// Sanitize trims a value and collapses every run of white space (including
// newlines and tabs) into one space; other control and bidirectional
// formatting characters are left for the type check to refuse.
func Sanitize(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// value checks raw for the variable's type and writes it in lang.
func (v Variable) value(name, raw, lang string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", &VarError{name, "is not valid UTF-8"}
	}
	for _, r := range raw {
		if badRune(r) {
			return "", &VarError{name, fmt.Sprintf("contains the control character U+%04X", r)}
		}
	}
	switch v.Type {
	case TypeText:
		max := v.Max
		if max == 0 {
			max = DefaultTextMax
		}
		if n := utf8.RuneCountInString(raw); n > max {
			return "", &VarError{name, fmt.Sprintf("is %d characters; at most %d", n, max)}
		}
		return raw, nil
	case TypeArea:
		return areaName(name, raw, lang)
	case TypeIntensity:
		return intensityName(name, raw, lang)
	case TypeTime:
		return timeText(name, raw, lang)
	case TypeHazard:
		return hazardName(name, raw, lang)
	case TypeNumber:
		return number(name, raw)
	}
	return "", &VarError{name, "has an unknown type " + v.Type}
}

// badRune reports control characters and the bidirectional overrides that
// can make a text display differently from what it says.
func badRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r == 0xfeff, r == 0xfffe, r == 0xffff:
		return true
	}
	return false
}
