// Package app wires anpi together: configuration, the storage engine, the
// providers (real or sandbox), the domain services, the HTTP server and the
// background workers, started and stopped in order.
package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/minato-city/anpi/alert/signage"
	"github.com/minato-city/anpi/httpapi/ratelimit"
)

// Config is the whole configuration. Secrets never live here: they come from
// the environment only (see Secrets).
type Config struct {
	Listen     string           `yaml:"listen"`
	PublicURL  string           `yaml:"public_url"`
	DataDir    string           `yaml:"data_dir"`
	Store      string           `yaml:"store"`
	Redis      RedisConfig      `yaml:"redis"`
	Sandbox    bool             `yaml:"sandbox"`
	LINE       LINEConfig       `yaml:"line"`
	SMS        TwilioConfig     `yaml:"sms"`
	Voice      TwilioConfig     `yaml:"voice"`
	OpenAI     OpenAIConfig     `yaml:"openai"`
	Alerts     AlertsConfig     `yaml:"alerts"`
	Facilities FacilitiesConfig `yaml:"facilities"`
	Demo       DemoConfig       `yaml:"demo"`
	Log        LogConfig        `yaml:"log"`

	// PublicRateLimit limits each client of the public endpoints.
	PublicRateLimit PublicRateLimitConfig `yaml:"public_rate_limit"`

	// Signage lists the signage screens (package alert/signage).
	Signage SignageConfig `yaml:"signage"`

	// Routing configures walking distances (package routing/roads).
	Routing RoutingConfig `yaml:"routing"`

	// Secrets are read from the environment, never from the file.
	Secrets Secrets `yaml:"-"`
}

// RedisConfig selects the Redis server and key prefix.
type RedisConfig struct {
	URL    string `yaml:"url"`
	Prefix string `yaml:"prefix"`
}

// LINEConfig configures the LINE channel.
type LINEConfig struct {
	Enabled      bool    `yaml:"enabled"`
	Endpoint     string  `yaml:"endpoint"`
	MulticastRPS float64 `yaml:"multicast_rps"`
	Workers      int     `yaml:"workers"`
}

// TwilioConfig configures the SMS or voice channel.
type TwilioConfig struct {
	Enabled bool    `yaml:"enabled"`
	BaseURL string  `yaml:"base_url"`
	From    string  `yaml:"from"`
	RPS     float64 `yaml:"rps"`
	Workers int     `yaml:"workers"`
}

// OpenAIConfig configures the optional LLM classifier.
type OpenAIConfig struct {
	Enabled bool     `yaml:"enabled"`
	BaseURL string   `yaml:"base_url"`
	Model   string   `yaml:"model"`
	Timeout Duration `yaml:"timeout"`
}

// AlertsConfig holds broadcast defaults.
type AlertsConfig struct {
	DefaultExpiry Duration `yaml:"default_expiry"`
	// AttemptTimeout bounds one provider request (default 30s).
	AttemptTimeout Duration `yaml:"attempt_timeout"`
	// MinBackoff and MaxBackoff bound the wait between attempts of a batch
	// (defaults 1s and 30s); a provider's Retry-After wins when longer.
	MinBackoff Duration `yaml:"min_backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
	// TemplatesDir is a directory of alert templates (*.yaml); empty means
	// the templates built into the binary (configs/templates).
	TemplatesDir string `yaml:"templates_dir"`
	// SMSWarnSegments warns in previews above this many SMS segments
	// (default 4).
	SMSWarnSegments int `yaml:"sms_warn_segments"`
}

// FacilitiesConfig names the facility data loaded into an empty registry.
type FacilitiesConfig struct {
	Shelters        string `yaml:"shelters"`
	Boundary        string `yaml:"boundary"`
	DefaultCapacity int    `yaml:"default_capacity"`
	DefaultStatus   string `yaml:"default_status"`
}

// RoutingConfig configures walking distances for nearest-facility advice.
type RoutingConfig struct {
	// RoadGraph is an OpenStreetMap extract (.osm.pbf, or .osm XML) whose
	// walkable ways give walking distances; empty means great-circle
	// distance × 1.2.
	RoadGraph string `yaml:"road_graph"`
}

// PublicRateLimitConfig is the per-client token bucket in front of the
// public endpoints (facilities, holds, /shelters, /r/{token}); see package
// httpapi/ratelimit. RPS 0 turns it off.
type PublicRateLimitConfig struct {
	RPS   float64 `yaml:"rps"`
	Burst int     `yaml:"burst"`
	// TrustedProxies are IPs or CIDR prefixes of reverse proxies whose
	// X-Forwarded-For is believed; empty (the default) ignores the header.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxClients bounds the clients tracked (0: the package default).
	MaxClients int `yaml:"max_clients"`
}

// SignageConfig configures the signage screens. Screen tokens are secrets:
// they come from ANPI_SIGNAGE_TOKENS ("id=token,..."), or the file holds
// only their SHA-256 (token_sha256); in sandbox mode a screen with neither
// gets the public demo token "sandbox-signage-<id>".
type SignageConfig struct {
	// Rotate is how long each language stays on screen (default 8s).
	Rotate Duration `yaml:"rotate"`
	// Heartbeat is the interval of the live feed's ping (default 15s).
	Heartbeat Duration               `yaml:"heartbeat"`
	Screens   []signage.ScreenConfig `yaml:"screens"`
}

// DemoConfig names demo data loaded into an empty directory.
type DemoConfig struct {
	Residents string `yaml:"residents"`
}

// LogConfig sets the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Secrets are the provider credentials, from the environment only.
type Secrets struct {
	LINEChannelSecret      string
	LINEChannelAccessToken string
	TwilioAccountSID       string
	TwilioAuthToken        string
	OpenAIAPIKey           string
	AdminToken             string
	SignageTokens          map[string]string // screen id → token, from ANPI_SIGNAGE_TOKENS
}

// Duration is a time.Duration written as "15m" in YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s or 3h", n.Value)
	}
	*d = Duration(v)
	return nil
}

// Sandbox credentials: fixed, public, and accepted only by the in-process
// simulators.
const (
	SandboxLINESecret  = "sandbox-line-channel-secret"
	SandboxLINEToken   = "sandbox-line-access-token"
	SandboxTwilioSID   = "ACdeadbeefdeadbeefdeadbeefdeadbeef"
	SandboxTwilioToken = "sandboxtwilioauthtoken0000000000"
	SandboxOpenAIKey   = "sandbox-openai-key"
)

// Defaults returns the built-in configuration, the same as configs/anpi.yaml.
func Defaults() Config {
	return Config{
		Listen: "127.0.0.1:8080", DataDir: "./data", Store: "embedded",
		Redis:   RedisConfig{URL: "redis://127.0.0.1:6379/0", Prefix: "anpi:"},
		Sandbox: true,
		LINE:    LINEConfig{Enabled: true, Endpoint: "https://api.line.me", MulticastRPS: 200, Workers: 64},
		SMS:     TwilioConfig{Enabled: true, BaseURL: "https://api.twilio.com", From: "+815000000000", RPS: 100, Workers: 8},
		Voice:   TwilioConfig{Enabled: true, BaseURL: "https://api.twilio.com", From: "+815000000000", RPS: 10, Workers: 4},
		OpenAI:  OpenAIConfig{Enabled: true, BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini", Timeout: Duration(8 * time.Second)},
		Alerts: AlertsConfig{DefaultExpiry: Duration(3 * time.Hour), AttemptTimeout: Duration(30 * time.Second),
			MinBackoff: Duration(time.Second), MaxBackoff: Duration(30 * time.Second)},
		Facilities: FacilitiesConfig{
			Shelters: "configs/facilities/minato_shelters_gsi.geojson",
			Boundary: "configs/facilities/minato_boundary.geojson", DefaultCapacity: 200, DefaultStatus: "open",
		},
		Log: LogConfig{Level: "info", Format: "text"},

		PublicRateLimit: PublicRateLimitConfig{RPS: 10, Burst: 40},
	}
}

// LoadConfig reads the file at path (if path is "" and ANPI_CONFIG is unset,
// only defaults and the environment apply), applies environment overrides,
// reads secrets and validates. Errors name the key at fault in one line.
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	if p := getenv("ANPI_CONFIG"); p != "" && path == "" {
		path = p
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config %s: %s", path, cleanYAMLError(err))
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

var yamlFieldRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// cleanYAMLError turns yaml.v3's messages into one line naming the key.
func cleanYAMLError(err error) string {
	msg := err.Error()
	if m := yamlFieldRe.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q at line %s", m[2], m[1])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "\n", "; ")
	return msg
}

func (c *Config) applyEnv(getenv func(string) string) error {
	set := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set("ANPI_LISTEN", &c.Listen)
	set("ANPI_DATA_DIR", &c.DataDir)
	set("ANPI_STORE", &c.Store)
	set("ANPI_REDIS_URL", &c.Redis.URL)
	set("ANPI_PUBLIC_URL", &c.PublicURL)
	set("ANPI_LINE_ENDPOINT", &c.LINE.Endpoint)
	if v := getenv("ANPI_TWILIO_BASE_URL"); v != "" {
		c.SMS.BaseURL, c.Voice.BaseURL = v, v
	}
	set("ANPI_OPENAI_BASE_URL", &c.OpenAI.BaseURL)
	set("ANPI_OPENAI_MODEL", &c.OpenAI.Model)
	if v := getenv("ANPI_SANDBOX"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: ANPI_SANDBOX: %q is not true or false", v)
		}
		c.Sandbox = b
	}
	c.Secrets = Secrets{
		LINEChannelSecret:      getenv("LINE_CHANNEL_SECRET"),
		LINEChannelAccessToken: getenv("LINE_CHANNEL_ACCESS_TOKEN"),
		TwilioAccountSID:       getenv("TWILIO_ACCOUNT_SID"),
		TwilioAuthToken:        getenv("TWILIO_AUTH_TOKEN"),
		OpenAIAPIKey:           getenv("OPENAI_API_KEY"),
		AdminToken:             getenv("ANPI_ADMIN_TOKEN"),
	}
	toks, err := signage.ParseTokens(getenv(signage.TokensEnv))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	c.Secrets.SignageTokens = toks
	if c.Sandbox {
		// The in-process simulators accept only their own fixed credentials.
		c.Secrets.LINEChannelSecret = SandboxLINESecret
		c.Secrets.LINEChannelAccessToken = SandboxLINEToken
		c.Secrets.TwilioAccountSID = SandboxTwilioSID
		c.Secrets.TwilioAuthToken = SandboxTwilioToken
		c.Secrets.OpenAIAPIKey = SandboxOpenAIKey
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	return nil
}

// Validate checks values; the first problem is returned naming its key.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port", c.Listen)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("public_url", "%q is not an http(s) URL", c.PublicURL)
	}
	switch c.Store {
	case "embedded":
		if c.DataDir == "" {
			return bad("data_dir", "must not be empty")
		}
	case "redis":
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return bad("redis.url", "must be a redis:// or rediss:// URL")
		}
		if c.Redis.Prefix == "" {
			return bad("redis.prefix", "must not be empty")
		}
	default:
		return bad("store", "%q must be embedded or redis", c.Store)
	}
	for _, u := range []struct {
		key, val string
		on       bool
	}{
		{"line.endpoint", c.LINE.Endpoint, c.LINE.Enabled}, {"sms.base_url", c.SMS.BaseURL, c.SMS.Enabled},
		{"voice.base_url", c.Voice.BaseURL, c.Voice.Enabled}, {"openai.base_url", c.OpenAI.BaseURL, c.OpenAI.Enabled},
	} {
		if !u.on {
			continue
		}
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return bad(u.key, "%q is not an http(s) URL", u.val)
		}
	}
	e164 := regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	if c.SMS.Enabled && !e164.MatchString(c.SMS.From) {
		return bad("sms.from", "must be an E.164 number")
	}
	if c.Voice.Enabled && !e164.MatchString(c.Voice.From) {
		return bad("voice.from", "must be an E.164 number")
	}
	for key, v := range map[string]float64{"line.multicast_rps": c.LINE.MulticastRPS, "sms.rps": c.SMS.RPS, "voice.rps": c.Voice.RPS} {
		if v < 0 {
			return bad(key, "must be 0 (unlimited) or more")
		}
	}
	for key, v := range map[string]int{"line.workers": c.LINE.Workers, "sms.workers": c.SMS.Workers, "voice.workers": c.Voice.Workers} {
		if v < 0 || v > 256 {
			return bad(key, "must be 0 (default) to 256")
		}
	}
	if c.Alerts.SMSWarnSegments < 0 || c.Alerts.SMSWarnSegments > 10 {
		return bad("alerts.sms_warn_segments", "must be 0 (default 4) to 10")
	}
	if c.Alerts.DefaultExpiry < Duration(time.Minute) {
		return bad("alerts.default_expiry", "must be at least 1m")
	}
	if c.Alerts.AttemptTimeout < Duration(100*time.Millisecond) || c.Alerts.AttemptTimeout > Duration(5*time.Minute) {
		return bad("alerts.attempt_timeout", "must be between 100ms and 5m")
	}
	if c.Alerts.MinBackoff <= 0 {
		return bad("alerts.min_backoff", "must be positive")
	}
	if c.Alerts.MaxBackoff < c.Alerts.MinBackoff {
		return bad("alerts.max_backoff", "must be at least alerts.min_backoff")
	}
	if err := c.PublicRateLimit.validate(); err != nil {
		return err
	}
	if err := c.Signage.validate(c.Sandbox, c.Secrets.SignageTokens); err != nil {
		return err
	}
	if c.Facilities.DefaultCapacity < 0 {
		return bad("facilities.default_capacity", "must not be negative")
	}
	if p := c.Routing.RoadGraph; p != "" {
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return bad("routing.road_graph", "%q is not a readable file (an .osm.pbf extract, or empty for great-circle distances)", p)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "%q must be text or json", c.Log.Format)
	}
	if !c.Sandbox {
		need := []struct {
			on       bool
			env, val string
		}{
			{c.LINE.Enabled, "LINE_CHANNEL_SECRET", c.Secrets.LINEChannelSecret},
			{c.LINE.Enabled, "LINE_CHANNEL_ACCESS_TOKEN", c.Secrets.LINEChannelAccessToken},
			{c.SMS.Enabled || c.Voice.Enabled, "TWILIO_ACCOUNT_SID", c.Secrets.TwilioAccountSID},
			{c.SMS.Enabled || c.Voice.Enabled, "TWILIO_AUTH_TOKEN", c.Secrets.TwilioAuthToken},
			{c.OpenAI.Enabled, "OPENAI_API_KEY", c.Secrets.OpenAIAPIKey},
		}
		for _, n := range need {
			if n.on && n.val == "" {
				return fmt.Errorf("config: %s is not set (needed by an enabled provider with sandbox off)", n.env)
			}
		}
	}
	return nil
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return "", 0, errors.New("bad port")
	}
	return s[:i], p, nil
}

func (p PublicRateLimitConfig) validate() error {
	switch {
	case math.IsNaN(p.RPS) || p.RPS < 0:
		return errors.New("config: public_rate_limit.rps: must be 0 (off) or more")
	case p.RPS > 0 && p.Burst < 1:
		return errors.New("config: public_rate_limit.burst: must be at least 1")
	case p.MaxClients < 0:
		return errors.New("config: public_rate_limit.max_clients: must not be negative")
	}
	if _, err := ratelimit.ParseProxies(p.TrustedProxies); err != nil {
		return fmt.Errorf("config: public_rate_limit.trusted_proxies: %w", err)
	}
	return nil
}

// validate checks the signage block: the screens (ids, names, areas,
// languages, tokens) through signage.NewRegistry, and the intervals.
func (s SignageConfig) validate(sandbox bool, tokens map[string]string) error {
	if _, err := signage.NewRegistry(s.Screens, tokens, sandbox); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if s.Rotate != 0 && (s.Rotate < Duration(2*time.Second) || s.Rotate > Duration(5*time.Minute)) {
		return errors.New("config: signage.rotate: must be between 2s and 5m")
	}
	if s.Heartbeat != 0 && (s.Heartbeat < Duration(time.Second) || s.Heartbeat > Duration(5*time.Minute)) {
		return errors.New("config: signage.heartbeat: must be between 1s and 5m")
	}
	return nil
}
