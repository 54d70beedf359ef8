package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "anpi.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultConfigFileLoads(t *testing.T) {
	cfg, err := LoadConfig("../configs/anpi.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "embedded" || !cfg.Sandbox || cfg.Listen != "127.0.0.1:8080" || cfg.Secrets.LINEChannelSecret != SandboxLINESecret {
		t.Fatalf("cfg %+v", cfg)
	}
	if _, err := LoadConfig("../configs/anpi.production.example.yaml", env(map[string]string{
		"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "x", "OPENAI_API_KEY": "k",
	})); err != nil {
		t.Fatalf("production example: %v", err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"unknown key", "listen: 127.0.0.1:1\nlisten_adress: x\n", nil, `unknown key "listen_adress"`},
		{"unknown nested key", "line:\n  multicast: 3\n", nil, `unknown key "multicast"`},
		{"bad store", "store: mongo\n", nil, "config: store:"},
		{"bad duration", "alerts:\n  default_expiry: soon\n", nil, "not a duration"},
		{"bad type", "line:\n  workers: many\n", nil, "many"},
		{"bad listen", "listen: nowhere\n", nil, "config: listen:"},
		{"bad redis url", "store: redis\nredis:\n  url: http://x\n", nil, "config: redis.url:"},
		{"bad sms from", "sms:\n  from: '090'\n", nil, "config: sms.from:"},
		{"negative rps", "sms:\n  rps: -1\n", nil, "config: sms.rps:"},
		{"bad log level", "log:\n  level: loud\n", nil, "config: log.level:"},
		{"missing secret", "sandbox: false\n", nil, "LINE_CHANNEL_SECRET is not set"},
		{"bad env bool", "", map[string]string{"ANPI_SANDBOX": "maybe"}, "ANPI_SANDBOX"},
		{"bad env store", "", map[string]string{"ANPI_STORE": "sqlite"}, "config: store:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, c.file), env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestEnvironmentWinsAndSecretsStayOutOfErrors(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, "listen: 127.0.0.1:9000\n"), env(map[string]string{
		"ANPI_LISTEN": "127.0.0.1:9999", "ANPI_STORE": "redis", "ANPI_REDIS_URL": "redis://:pw@127.0.0.1:6379/2",
		"ANPI_SANDBOX": "false", "ANPI_PUBLIC_URL": "https://anpi.example", "ANPI_LINE_ENDPOINT": "http://127.0.0.1:1",
		"LINE_CHANNEL_SECRET": "sec", "LINE_CHANNEL_ACCESS_TOKEN": "tok", "TWILIO_ACCOUNT_SID": "AC", "TWILIO_AUTH_TOKEN": "tw",
		"OPENAI_API_KEY": "sk", "ANPI_OPENAI_MODEL": "llama3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.Store != "redis" || cfg.Sandbox || cfg.PublicURL != "https://anpi.example" ||
		cfg.LINE.Endpoint != "http://127.0.0.1:1" || cfg.OpenAI.Model != "llama3" || cfg.Secrets.TwilioAuthToken != "tw" {
		t.Fatalf("cfg %+v", cfg)
	}
	_, err = LoadConfig(writeConfig(t, "store: redis\nredis:\n  url: ftp://:hunter2@x\n"), env(nil))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err %v", err)
	}
}
