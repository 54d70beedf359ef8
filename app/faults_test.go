package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/minato-city/anpi/sandbox"
)

// TestFaultRun sends one alert over LINE and SMS through providers that fail
// the way real ones do: 5% of requests answered 500 (processed for nobody),
// bursts of 429 with Retry-After, a provider rate limit below the engine's
// pace (more 429s), and requests that take effect but answer after the
// engine's attempt timeout. Every LINE user must get the alert exactly once
// (the retry key turns a repeat into a 409); every phone at least once, with
// duplicates only where a request timed out after taking effect.
func TestFaultRun(t *testing.T) { runFaults(t, "embedded") }

// TestFaultRunRedis is TestFaultRun on the Redis backend.
func TestFaultRunRedis(t *testing.T) { runFaults(t, "redis") }

func runFaults(t *testing.T, backend string) {
	const lineSecret, lineToken, sid, twToken = "fault-line-secret", "fault-line-token", "AC0123456789abcdef0123456789abcdef", "faulttwiliotoken0123456789abcdef"
	ext, err := sandbox.Start(sandbox.Config{
		LINE: sandbox.LINEConfig{AccessToken: lineToken, MulticastRPS: 40, FailRate: 0.05, Seed: 7},
		Twilio: sandbox.TwilioConfig{AccountSID: sid, AuthToken: twToken, MessagesPerSecond: 400, CallsPerSecond: -1,
			FailRate: 0.05, Seed: 7, Logger: slog.New(slog.DiscardHandler)},
		Faults: sandbox.FaultConfig{BurstEvery: 300 * time.Millisecond, BurstFor: 80 * time.Millisecond,
			RetryAfter: time.Second, SlowRate: 0.02, SlowDelay: 1500 * time.Millisecond, Seed: 7},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ext.Close(context.Background()) })

	cfg := baseConfig(t, backend)
	m := map[string]string{"ANPI_ADMIN_TOKEN": testAdmin, "ANPI_DATA_DIR": cfg.DataDir, "ANPI_SANDBOX": "false",
		"ANPI_LINE_ENDPOINT": ext.URL, "ANPI_TWILIO_BASE_URL": ext.URL,
		"LINE_CHANNEL_SECRET": lineSecret, "LINE_CHANNEL_ACCESS_TOKEN": lineToken, "TWILIO_ACCOUNT_SID": sid,
		"TWILIO_AUTH_TOKEN": twToken, "OPENAI_API_KEY": "sk-unused", "ANPI_OPENAI_BASE_URL": ext.URL + "/v1",
		"ANPI_SIGNAGE_TOKENS": "shinagawa-konan=fault-screen-token-0001,akasaka=fault-screen-token-0002"}
	if backend == "redis" {
		m["ANPI_STORE"], m["ANPI_REDIS_URL"] = "redis", cfg.Redis.URL
	}
	c2, err := LoadConfig("../configs/anpi.yaml", env(m))
	if err != nil {
		t.Fatal(err)
	}
	c2.Redis.Prefix, c2.Facilities = cfg.Redis.Prefix, cfg.Facilities
	c2.Demo.Residents = ""
	c2.OpenAI.Enabled, c2.Voice.Enabled = false, false
	// The engine runs faster than the providers allow, so their own limits
	// answer 429 too; attempts time out before the slow answers arrive.
	c2.LINE.MulticastRPS, c2.SMS.RPS = 0, 0
	c2.LINE.Workers, c2.SMS.Workers = 4, 2
	c2.Alerts.AttemptTimeout = Duration(400 * time.Millisecond)
	c2.Alerts.MinBackoff, c2.Alerts.MaxBackoff = Duration(50*time.Millisecond), Duration(400*time.Millisecond)
	s := start(t, c2)

	const lineUsers, phones = 6000, 600
	people := make([]map[string]any, 0, lineUsers+phones)
	for i := range lineUsers {
		people = append(people, map[string]any{"id": fmt.Sprintf("fl%05d", i), "name": "L", "language": []string{"ja", "en"}[i%2],
			"area": "shiba", "contacts": map[string]string{"line_user_id": fmt.Sprintf("U%032x", 0xf000000+i)}})
	}
	for i := range phones {
		people = append(people, map[string]any{"id": fmt.Sprintf("fs%05d", i), "name": "S", "language": "ja",
			"area": "azabu", "contacts": map[string]string{"phone": fmt.Sprintf("+8190%08d", 10000000+i)}})
	}
	for i := 0; i < len(people); i += 1000 {
		if code := s.call("POST", "/api/v1/residents", testAdmin, people[i:min(i+1000, len(people))], nil); code != 200 && code != 201 {
			t.Fatalf("residents: %d", code)
		}
	}
	sato, suzuki := s.staff("sato", "approver"), s.staff("suzuki", "approver")
	var created struct{ ID string }
	if code := s.call("POST", "/api/v1/alerts", sato, map[string]any{"severity": "severe",
		"title": map[string]string{"ja": "地震", "en": "Earthquake"}, "body": map[string]string{"ja": "揺れに警戒", "en": "Take cover"},
		"target": map[string]any{"all": true}, "channels": []string{"line", "sms"}, "drill": true}, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/approve", suzuki, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	var view struct {
		Status string
		Counts map[string]struct{ Planned, Sent, Failed int }
	}
	s.waitFor("alert completed under faults", func() bool {
		s.call("GET", "/api/v1/alerts/"+created.ID, sato, nil, &view)
		return view.Status == "completed"
	})

	// What the providers saw.
	bursts, slow := ext.FaultCounts()
	ls := ext.LINE.Stats()
	t.Logf("injected: %d burst 429s, %d slow answers; LINE stats %+v; counts %+v", bursts, slow, ls, view.Counts)
	if bursts == 0 || slow == 0 {
		t.Fatalf("the run did not exercise the faults (bursts %d, slow %d)", bursts, slow)
	}
	for i := range lineUsers {
		if n := ext.LINE.Delivered(fmt.Sprintf("U%032x", 0xf000000+i)); n != 1 {
			t.Fatalf("LINE user %d got the alert %d times, want exactly once", i, n)
		}
	}
	dups, missing := 0, 0
	for i := range phones {
		n := ext.Twilio.MessageCount(fmt.Sprintf("+8190%08d", 10000000+i))
		if n == 0 {
			missing++
		}
		dups += max(0, n-1)
	}
	// Every failed recipient must carry a reason in the deliveries API.
	var failed struct {
		Deliveries []struct{ ResidentID, Reason string } `json:"deliveries"`
	}
	s.call("GET", "/api/v1/alerts/"+created.ID+"/deliveries?state=failed", sato, nil, &failed)
	for _, d := range failed.Deliveries {
		if d.Reason == "" {
			t.Fatalf("failed delivery without a reason: %+v", d)
		}
	}
	if missing > len(failed.Deliveries) {
		t.Fatalf("%d phones got nothing but only %d deliveries are reported failed", missing, len(failed.Deliveries))
	}
	// A duplicate SMS can only come from a request that took effect but
	// answered after the attempt timeout (Twilio has no idempotency key):
	// each such request repeats at most once per retry, and only the
	// requests in flight at the timeout are affected.
	if dups > int(slow) {
		t.Fatalf("%d duplicate SMS with %d slow answers injected", dups, slow)
	}
	if view.Counts["line"].Sent != lineUsers || view.Counts["sms"].Sent+view.Counts["sms"].Failed != phones {
		t.Fatalf("counts %+v", view.Counts)
	}
	t.Logf("SMS: %d duplicates, %d missing, %d reported failed", dups, missing, len(failed.Deliveries))
}
