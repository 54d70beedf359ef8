package signage

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
)

// TokensEnv is the environment variable that carries the screen tokens, as
// "id=token,id=token". Tokens are secrets: they never live in the
// configuration file, which may instead hold a token's SHA-256 (token_sha256).
const TokensEnv = "ANPI_SIGNAGE_TOKENS"

// DemoTokenPrefix starts the fixed, public token a screen gets in sandbox
// mode when neither the environment nor the file gives it one:
// DemoTokenPrefix + screen id (e.g. "sandbox-signage-akasaka"). Outside
// sandbox mode such a screen stops start-up.
const DemoTokenPrefix = "sandbox-signage-"

// ScreenConfig is one screen in the configuration file.
type ScreenConfig struct {
	// ID names the screen in its URL: lower-case letters, digits and '-'.
	ID string `yaml:"id"`
	// Name is shown on the screen (e.g. 品川駅港南口).
	Name string `yaml:"name"`
	// Area is the 地区 the screen stands in; alerts for it reach the screen.
	Area string `yaml:"area"`
	// Languages are shown in turn (ja, en, zh, ko, ja-easy).
	Languages []string `yaml:"languages"`
	// TokenSHA256 is the hex SHA-256 of the screen's token, for setups that
	// keep tokens out of the environment. The token itself never goes here.
	TokenSHA256 string `yaml:"token_sha256"`
}

// Screen is a registered screen.
type Screen struct {
	ID        string
	Name      string
	Area      string
	Languages []string
	hash      [sha256.Size]byte
}

// Registry is the set of configured screens.
type Registry struct {
	screens []*Screen
	byID    map[string]*Screen
}

// ConfigError is a problem with the signage configuration, naming the key
// (e.g. "signage.screens[1].area" or "ANPI_SIGNAGE_TOKENS").
type ConfigError struct {
	Key    string
	Reason string
}

// Error implements error.
func (e *ConfigError) Error() string { return e.Key + ": " + e.Reason }

var (
	screenIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	tokenRe    = regexp.MustCompile(`^[A-Za-z0-9._~-]{16,256}$`)
	hashRe     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// reservedIDs cannot name a screen because they name other paths.
var reservedIDs = []string{"static"}

// ParseTokens reads the value of TokensEnv. Errors never quote a token.
func ParseTokens(v string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for i, part := range strings.Split(v, ",") {
		id, tok, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" || tok == "" {
			return nil, &ConfigError{TokensEnv, fmt.Sprintf("entry %d is not id=token", i+1)}
		}
		if _, dup := out[id]; dup {
			return nil, &ConfigError{TokensEnv, fmt.Sprintf("screen %q named twice", id)}
		}
		if !tokenRe.MatchString(tok) {
			return nil, &ConfigError{TokensEnv, fmt.Sprintf("the token of screen %q must be 16-256 characters of A-Z a-z 0-9 . _ ~ -", id)}
		}
		out[id] = tok
	}
	return out, nil
}

// NewRegistry checks the screens of the configuration and returns them.
// tokens are the screens' tokens from the environment (ParseTokens); with
// demo set (sandbox mode), a screen without a token gets DemoTokenPrefix+id.
func NewRegistry(screens []ScreenConfig, tokens map[string]string, demo bool) (*Registry, error) {
	r := &Registry{byID: map[string]*Screen{}}
	for i, c := range screens {
		key := fmt.Sprintf("signage.screens[%d]", i)
		bad := func(field, format string, args ...any) error {
			return &ConfigError{key + field, fmt.Sprintf(format, args...)}
		}
		switch {
		case !screenIDRe.MatchString(c.ID):
			return nil, bad(".id", "%q must be 1-63 lower-case letters, digits or '-'", c.ID)
		case slices.Contains(reservedIDs, c.ID):
			return nil, bad(".id", "%q is reserved", c.ID)
		case r.byID[c.ID] != nil:
			return nil, bad(".id", "%q is used twice", c.ID)
		}
		name := strings.TrimSpace(c.Name)
		if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) {
			return nil, bad(".name", "must be 1-100 characters")
		}
		if !slices.Contains(residents.Areas, c.Area) {
			return nil, bad(".area", "unknown area %q; use one of %s", c.Area, strings.Join(residents.Areas, ", "))
		}
		if len(c.Languages) == 0 {
			return nil, bad(".languages", "name at least one of %s", strings.Join(residents.Languages, ", "))
		}
		for j, l := range c.Languages {
			if !slices.Contains(residents.Languages, l) {
				return nil, bad(fmt.Sprintf(".languages[%d]", j), "unknown language %q; use one of %s", l, strings.Join(residents.Languages, ", "))
			}
			if slices.Index(c.Languages, l) != j {
				return nil, bad(fmt.Sprintf(".languages[%d]", j), "%q is named twice", l)
			}
		}
		s := &Screen{ID: c.ID, Name: name, Area: c.Area, Languages: slices.Clone(c.Languages)}
		switch tok, fromEnv := tokens[c.ID]; {
		case fromEnv:
			s.hash = sha256.Sum256([]byte(tok))
		case c.TokenSHA256 != "":
			h := strings.ToLower(c.TokenSHA256)
			if !hashRe.MatchString(h) {
				return nil, bad(".token_sha256", "must be 64 hex digits (the SHA-256 of the token)")
			}
			hex.Decode(s.hash[:], []byte(h))
		case demo:
			s.hash = sha256.Sum256([]byte(DemoTokenPrefix + c.ID))
		default:
			return nil, bad("", "screen %q has no token: set %s or token_sha256", c.ID, TokensEnv)
		}
		r.screens = append(r.screens, s)
		r.byID[s.ID] = s
	}
	for id := range tokens {
		if r.byID[id] == nil {
			return nil, &ConfigError{TokensEnv, fmt.Sprintf("names screen %q, which is not configured", id)}
		}
	}
	return r, nil
}

// Len returns the number of screens.
func (r *Registry) Len() int { return len(r.screens) }

// Screens returns the screens in configuration order.
func (r *Registry) Screens() []*Screen { return r.screens }

// Screen returns the screen with id.
func (r *Registry) Screen(id string) (*Screen, bool) {
	s, ok := r.byID[id]
	return s, ok
}

// Authorize returns the screen id if token is its token. It takes the same
// time for unknown screens and wrong tokens.
func (r *Registry) Authorize(id, token string) (*Screen, bool) {
	sum := sha256.Sum256([]byte(token))
	s, known := r.byID[id]
	want := [sha256.Size]byte{}
	if known {
		want = s.hash
	}
	ok := subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	if !known || !ok || token == "" {
		return nil, false
	}
	return s, true
}

// Endpoints implements alert.Endpoints: the screens in the target's areas
// (all screens for all:true). Signage is public: a target narrowed to tags
// or to named residents (safety-check reminders) reaches no screen, and one
// narrowed to languages reaches the screens showing any of them. Every
// screen is planned under language "ja", so one batch carries them all; the
// channel reads the alert's text in every language itself.
func (r *Registry) Endpoints(_ context.Context, t alert.Target) ([]alert.Endpoint, error) {
	if len(t.Tags) > 0 || len(t.ResidentIDs) > 0 {
		return nil, nil
	}
	var out []alert.Endpoint
	for _, s := range r.screens {
		if !t.All && !slices.Contains(t.Areas, s.Area) {
			continue
		}
		if len(t.Languages) > 0 && !slices.ContainsFunc(s.Languages, func(l string) bool { return slices.Contains(t.Languages, l) }) {
			continue
		}
		out = append(out, alert.Endpoint{ID: "screen:" + s.ID, Address: s.ID, Language: "ja"})
	}
	return out, nil
}
