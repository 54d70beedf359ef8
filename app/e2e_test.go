package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/sandbox"
)

// server is a whole anpi on a loopback port, as `anpi serve` runs it.
type server struct {
	t    *testing.T
	app  *App
	url  string
	stop context.CancelFunc
	done chan error
}

const testAdmin = "test-admin-token-0123456789"

func baseConfig(t *testing.T, backend string) Config {
	t.Helper()
	m := map[string]string{"ANPI_ADMIN_TOKEN": testAdmin, "ANPI_DATA_DIR": t.TempDir()}
	if backend == "redis" {
		u := os.Getenv("ANPI_TEST_REDIS_URL")
		if u == "" {
			t.Skip("ANPI_TEST_REDIS_URL not set: skipping the Redis end-to-end run")
		}
		m["ANPI_STORE"], m["ANPI_REDIS_URL"] = "redis", u
	}
	cfg, err := LoadConfig("../configs/anpi.yaml", env(m))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Facilities.Shelters = "../" + cfg.Facilities.Shelters
	cfg.Facilities.Boundary = "../" + cfg.Facilities.Boundary
	cfg.Demo.Residents = "../" + cfg.Demo.Residents
	cfg.LINE.MulticastRPS, cfg.SMS.RPS = 0, 0 // limits lifted: the flow, not the pace, is under test
	if backend == "redis" {
		cfg.Redis.Prefix = fmt.Sprintf("anpitest:e2e:%d:", time.Now().UnixNano())
		t.Cleanup(func() { flushPrefix(t, cfg.Redis.URL, cfg.Redis.Prefix) })
	}
	return cfg
}

func flushPrefix(t *testing.T, url, prefix string) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Unlink(ctx, iter.Val())
	}
}

func start(t *testing.T, cfg Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = "http://" + ln.Addr().String()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := New(context.Background(), cfg, log)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{t: t, app: a, url: cfg.PublicURL, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Serve(ctx, ln) }()
	t.Cleanup(s.close)
	return s
}

func (s *server) close() {
	if s.stop == nil {
		return
	}
	s.stop()
	if err := <-s.done; err != nil {
		s.t.Errorf("serve: %v", err)
	}
	if err := s.app.Close(context.Background()); err != nil {
		s.t.Errorf("close: %v", err)
	}
	s.stop = nil
}

// call sends a JSON request and decodes the JSON answer.
func (s *server) call(method, path, token string, body any, out any) int {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

func (s *server) staff(name, role string) string {
	s.t.Helper()
	var out struct{ Token string }
	if code := s.call("POST", "/api/v1/staff", testAdmin, map[string]string{"name": name, "role": role, "password": "correct-horse-battery"}, &out); code != 201 {
		s.t.Fatalf("create staff %s: %d", name, code)
	}
	return out.Token
}

func (s *server) waitFor(what string, cond func() bool) {
	s.t.Helper()
	// Generous: this is "eventually", not a speed check, and CI runs the
	// packages in parallel on 2 cores under the race detector.
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func demoPopulation(t *testing.T) (line, phones int, users []string) {
	f, err := os.Open("../configs/demo/residents.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	residents.ReadCSV(f, func(_ int, r residents.Resident) error {
		if r.Contacts.LINEUserID != "" {
			line++
			users = append(users, r.Contacts.LINEUserID)
		}
		if r.Contacts.Phone != "" {
			phones++
		}
		return nil
	}, func(residents.RowError) {})
	return line, phones, users
}

func TestEndToEndEmbedded(t *testing.T) { runEndToEnd(t, "embedded", false) }
func TestEndToEndRedis(t *testing.T)    { runEndToEnd(t, "redis", false) }

// TestEndToEndOutsideProviders runs the flow with ANPI_SANDBOX=false against
// LINE/Twilio/OpenAI-compatible endpoints given by the environment (here the
// simulators, started as separate servers with their own credentials).
func TestEndToEndOutsideProviders(t *testing.T) { runEndToEnd(t, "embedded", true) }

func runEndToEnd(t *testing.T, backend string, outside bool) {
	cfg := baseConfig(t, backend)
	var ext *sandbox.Server
	if outside {
		const lineSecret, lineToken, sid, twToken, key = "outside-line-secret", "outside-line-token", "AC0123456789abcdef0123456789abcdef", "outsidetwiliotoken0123456789abcd", "sk-outside"
		var err error
		ext, err = sandbox.Start(sandbox.Config{
			LINE:   sandbox.LINEConfig{AccessToken: lineToken, MulticastRPS: -1},
			Twilio: sandbox.TwilioConfig{AccountSID: sid, AuthToken: twToken, MessagesPerSecond: -1, CallsPerSecond: -1},
			OpenAI: sandbox.OpenAIConfig{APIKey: key},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ext.Close(context.Background()) })
		m := map[string]string{"ANPI_ADMIN_TOKEN": testAdmin, "ANPI_DATA_DIR": cfg.DataDir, "ANPI_SANDBOX": "false",
			"ANPI_LINE_ENDPOINT": ext.URL, "ANPI_TWILIO_BASE_URL": ext.URL, "ANPI_OPENAI_BASE_URL": ext.URL + "/v1",
			"LINE_CHANNEL_SECRET": lineSecret, "LINE_CHANNEL_ACCESS_TOKEN": lineToken, "TWILIO_ACCOUNT_SID": sid,
			"TWILIO_AUTH_TOKEN": twToken, "OPENAI_API_KEY": key,
			"ANPI_SIGNAGE_TOKENS": "shinagawa-konan=outside-screen-token-0001,akasaka=outside-screen-token-0002"}
		c2, err := LoadConfig("../configs/anpi.yaml", env(m))
		if err != nil {
			t.Fatal(err)
		}
		c2.Facilities, c2.Demo = cfg.Facilities, cfg.Demo
		c2.LINE.MulticastRPS, c2.SMS.RPS = 0, 0
		cfg = c2
	}
	s := start(t, cfg)
	if outside && s.app.Sandbox != nil {
		t.Fatal("sandbox started although ANPI_SANDBOX=false")
	}
	lineSecret := SandboxLINESecret
	if outside {
		lineSecret = cfg.Secrets.LINEChannelSecret
	}
	lineCount, phoneCount, users := demoPopulation(t)
	sato, suzuki := s.staff("sato", "approver"), s.staff("suzuki", "approver")
	viewer := s.staff("kato", "viewer")

	// Missing or wrong credentials, and too weak a role.
	if code := s.call("GET", "/api/v1/alerts", "", nil, nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code := s.call("GET", "/api/v1/alerts", "anpi_wrong", nil, nil); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	alertReq := map[string]any{"severity": "severe", "title": map[string]string{"ja": "地震", "en": "Earthquake"},
		"body": map[string]string{"ja": "強い揺れに警戒", "en": "Strong shaking"}, "target": map[string]any{"all": true},
		"channels": []string{"line", "sms"}, "drill": true}
	if code := s.call("POST", "/api/v1/alerts", viewer, alertReq, nil); code != 403 {
		t.Fatalf("viewer created an alert: %d", code)
	}
	// Bad input changes nothing.
	var e apiError
	for _, bad := range []struct {
		body string
		code int
	}{
		{`{"title":`, 400}, {`{"titel":{"ja":"x"}}`, 400}, {`[]`, 400},
		{`{"title":{"ja":"x"},"body":{"ja":"y"},"target":{"areas":["shinjuku"]},"channels":["line"]}`, 400},
		{`{"title":{"ja":"x"},"body":{"ja":"y"},"target":{"all":true},"channels":["fax"]}`, 400},
		{`{"title":{"ja":"` + strings.Repeat("x", 70000) + `"}}`, 413},
	} {
		if code := s.call("POST", "/api/v1/alerts", sato, bad.body, &e); code != bad.code || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("bad body %.40q: %d %+v", bad.body, code, e)
		}
	}
	var list struct{ Alerts []map[string]any }
	s.call("GET", "/api/v1/alerts", sato, nil, &list)
	if len(list.Alerts) != 0 {
		t.Fatalf("bad requests created %d alerts", len(list.Alerts))
	}

	// Create → pending → self-approval refused → approval by another → completed.
	var created struct{ ID, Status string }
	if code := s.call("POST", "/api/v1/alerts", sato, alertReq, &created); code != 201 || created.Status != "pending_approval" {
		t.Fatalf("create: %d %+v", code, created)
	}
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/approve", sato, nil, &e); code != 403 || e.Error.Code != "self_approval" {
		t.Fatalf("self approval: %d %+v", code, e)
	}
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/approve", suzuki, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	type counts struct{ Planned, Queued, Sent, Delivered, Failed int }
	var view struct {
		Status     string
		Drill      bool
		Audience   int
		Counts     map[string]counts
		ApprovedBy string `json:"approved_by"`
	}
	s.waitFor("alert completed", func() bool {
		s.call("GET", "/api/v1/alerts/"+created.ID, sato, nil, &view)
		if view.Status != "completed" && testing.Verbose() {
			t.Logf("view %+v", view)
		}
		return view.Status == "completed"
	})
	if view.Counts["line"].Sent != lineCount || view.Counts["sms"].Sent != phoneCount || view.ApprovedBy != "suzuki" || !view.Drill {
		t.Fatalf("view %+v (line users %d, phones %d)", view, lineCount, phoneCount)
	}
	sb := s.app.Sandbox
	if outside {
		sb = ext
	}
	for _, u := range users {
		if n := sb.LINE.Delivered(u); n != 1 {
			t.Fatalf("LINE user got %d messages", n)
		}
	}
	msgs := sb.LINE.LastMessages(users[0])
	if !strings.HasPrefix(msgs[0].Text, "【訓練】") && !strings.HasPrefix(msgs[0].Text, "[DRILL]") {
		t.Fatalf("drill not marked in the text: %q", msgs[0].Text)
	}
	// Twilio status callbacks (signed against the public URL) mark SMS delivered.
	s.waitFor("sms delivered", func() bool {
		s.call("GET", "/api/v1/alerts/"+created.ID, sato, nil, &view)
		return view.Counts["sms"].Delivered == phoneCount
	})
	// A completed alert can still be withdrawn (a drill without correction
	// text sends nothing more); cancelling it twice is refused.
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/cancel", sato, map[string]string{"reason": "late"}, nil); code != 200 {
		t.Fatalf("withdraw a completed alert: %d", code)
	}
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/cancel", sato, map[string]string{"reason": "late"}, nil); code != 409 {
		t.Fatalf("cancel twice: %d", code)
	}

	// A safety check over LINE with quick-reply buttons; replies through the real webhook.
	var check struct{ ID string }
	if code := s.call("POST", "/api/v1/safety-checks", sato, map[string]any{"target": map[string]any{"all": true}, "channels": []string{"line", "sms"}, "drill": true}, &check); code != 201 {
		t.Fatalf("safety check: %d", code)
	}
	s.waitFor("question delivered", func() bool { return sb.LINE.Delivered(users[0]) == 2 })
	last := sb.LINE.LastMessages(users[0])
	q := last[len(last)-1]
	if len(q.QuickReplies) != 5 {
		t.Fatalf("quick replies %+v", q.QuickReplies)
	}
	hook := s.url + "/webhooks/line"
	post := func(secret string, ev ...sandbox.LINEEvent) int {
		resp, err := sb.LINE.PostWebhook(context.Background(), hook, secret, ev...)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong-secret", sandbox.LINEEvent{Type: "postback", UserID: users[0], Data: q.QuickReplies[0].Data}); code != 401 {
		t.Fatalf("bad signature: %d", code)
	}
	if code := post(lineSecret,
		sandbox.LINEEvent{Type: "postback", UserID: users[0], Data: q.QuickReplies[0].Data, EventID: "evt-1"},
		sandbox.LINEEvent{Type: "text", UserID: users[1], Text: "助けて、家具の下敷きになっています"},
		sandbox.LINEEvent{Type: "text", UserID: users[2], Text: "家族3人とも無事です"},
	); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	var cv struct {
		Sent, Responded int
		ByStatus        map[string]int `json:"by_status"`
	}
	s.waitFor("replies counted", func() bool {
		s.call("GET", "/api/v1/safety-checks/"+check.ID, sato, nil, &cv)
		return cv.Responded == 3
	})
	// The same event again (a replay, after the first was applied) changes
	// nothing. Its button differs so that a second application would show.
	// (Sent while the first is in flight, it would wait out the first's
	// event lease in the queue and then be dropped as seen.)
	if code := post(lineSecret, sandbox.LINEEvent{Type: "postback", UserID: users[0], Data: q.QuickReplies[2].Data, EventID: "evt-1"}); code != 200 {
		t.Fatalf("replay: %d", code)
	}
	time.Sleep(200 * time.Millisecond)
	s.call("GET", "/api/v1/safety-checks/"+check.ID, sato, nil, &cv)
	if cv.ByStatus["safe"] != 2 || cv.ByStatus["needs_help"] != 1 || cv.Responded != 3 || cv.ByStatus["no_reply"] != cv.Sent-3 {
		t.Fatalf("check view %+v", cv)
	}
	var tri struct{ Items []map[string]any }
	s.call("GET", "/api/v1/triage?state=open", sato, nil, &tri)
	if len(tri.Items) != 1 || tri.Items[0]["label"] != "needs_help" {
		t.Fatalf("triage %+v", tri)
	}

	// Classify.
	var cr struct{ Label, Source string }
	if code := s.call("POST", "/api/v1/classify", viewer, map[string]string{"text": "I'm trapped, help", "language": "en"}, &cr); code != 200 || cr.Label != "needs_help" {
		t.Fatalf("classify: %d %+v", code, cr)
	}
	if code := s.call("POST", "/api/v1/classify", viewer, "{\"text\":\"\xff\xfe\"}", &e); code != 400 {
		t.Fatalf("invalid UTF-8: %d", code)
	}

	// Facilities: public, nearest open ones with room.
	var near []struct {
		Facility    struct{ ID, Status string }
		DistanceM   float64 `json:"distance_m"`
		WalkMinutes int     `json:"walk_minutes"`
	}
	if code := s.call("GET", "/api/v1/facilities/nearest?lat=35.6581&lng=139.7414&limit=3", "", nil, &near); code != 200 || len(near) != 3 {
		t.Fatalf("nearest: %d %+v", code, near)
	}
	if code := s.call("PATCH", "/api/v1/facilities/"+near[0].Facility.ID, sato, map[string]any{"status": "full"}, nil); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	var near2 []struct{ Facility struct{ ID string } }
	s.call("GET", "/api/v1/facilities/nearest?lat=35.6581&lng=139.7414&limit=3", "", nil, &near2)
	for _, m := range near2 {
		if m.Facility.ID == near[0].Facility.ID {
			t.Fatal("a full facility is still advised")
		}
	}

	// The audit log has every write, with its outcome.
	var audit struct {
		Entries []struct {
			Actor, Action string
			Status        int
		}
	}
	s.call("GET", "/api/v1/audit?limit=1000", testAdmin, nil, &audit)
	var sawSelf bool
	for _, a := range audit.Entries {
		if a.Actor == "sato" && strings.HasSuffix(a.Action, "/approve") && a.Status == 403 {
			sawSelf = true
		}
	}
	if !sawSelf {
		t.Fatalf("refused self-approval not audited: %+v", audit.Entries)
	}

	// Restart on the same store: every record is still there.
	s.close()
	s2 := start(t, cfg)
	var again struct{ Status string }
	if code := s2.call("GET", "/api/v1/alerts/"+created.ID, sato, nil, &again); code != 200 || again.Status != "cancelled" {
		t.Fatalf("after restart: %d %+v", code, again)
	}
	s2.call("GET", "/api/v1/safety-checks/"+check.ID, sato, nil, &cv)
	if cv.Responded != 3 {
		t.Fatalf("after restart: %+v", cv)
	}
}

func TestConsoleWebSocket(t *testing.T) {
	s := start(t, baseConfig(t, "embedded"))
	ws := "ws" + strings.TrimPrefix(s.url, "http") + "/console/ws"
	if _, resp, err := websocket.DefaultDialer.Dial(ws, nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("unauthenticated websocket accepted: %v", err)
	}
	c, _, err := websocket.DefaultDialer.Dial(ws+"?access_token="+testAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var f struct {
		Type, Topic string
		Data        map[string]json.RawMessage
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.ReadJSON(&f); err != nil || f.Type != "snapshot" {
		t.Fatalf("first frame %+v %v", f, err)
	}
	var facilities map[string]json.RawMessage
	json.Unmarshal(f.Data["facilities"], &facilities)
	if len(facilities) != 83 {
		t.Fatalf("snapshot has %d facilities, want Minato's 83 shelters", len(facilities))
	}
	sato := s.staff("sato", "operator")
	var created struct{ ID string }
	s.call("POST", "/api/v1/alerts", sato, map[string]any{"title": map[string]string{"ja": "訓練"}, "body": map[string]string{"ja": "テスト"},
		"target": map[string]any{"all": true}, "channels": []string{"line"}, "drill": true}, &created)
	for {
		if err := c.ReadJSON(&f); err != nil {
			t.Fatal(err)
		}
		if f.Type == "delta" && f.Topic == "alerts" && f.Data[created.ID] != nil {
			break
		}
	}
}
