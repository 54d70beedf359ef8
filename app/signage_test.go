package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/signage"
	"github.com/minato-city/anpi/store/repo"
)

// sse is one Server-Sent Event.
type sse struct{ Name, Data string }

// signageState is the payload of a "state" event.
type signageState struct {
	Screen struct {
		ID, Name  string
		Languages []string
	}
	Version int64
	Alerts  []struct {
		AlertID  string `json:"alert_id"`
		Drill    bool
		Severity string
		Title    map[string]string
	}
}

// stream reads a screen's live feed with net/http, as a browser's
// EventSource would, until the test ends or the server closes it.
type stream struct {
	t    *testing.T
	evs  chan sse
	body io.Closer
}

func openStream(t *testing.T, base, screen, token string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/signage/"+screen+"/events?token="+token, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("stream %s: %d %s", screen, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: t, evs: make(chan sse, 256), body: resp.Body}
	go func() {
		defer close(s.evs)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev sse
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "":
				if ev.Name != "" {
					s.evs <- ev
				}
				ev = sse{}
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[len("data: "):]
			}
		}
	}()
	return s
}

// next returns the next event other than a ping.
func (s *stream) next() sse {
	s.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-s.evs:
			if !ok {
				s.t.Fatal("stream ended")
			}
			if ev.Name != "ping" {
				return ev
			}
		case <-timeout:
			s.t.Fatal("no event within 60s")
		}
	}
}

// state returns the next event, which must be a state.
func (s *stream) state() signageState {
	s.t.Helper()
	ev := s.next()
	var st signageState
	if ev.Name != "state" || json.Unmarshal([]byte(ev.Data), &st) != nil {
		s.t.Fatalf("want a state event, got %+v", ev)
	}
	return st
}

// pending returns the events received so far without waiting.
func (s *stream) pending() []sse {
	var out []sse
	for {
		select {
		case ev, ok := <-s.evs:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func (st signageState) ids() []string {
	var out []string
	for _, a := range st.Alerts {
		out = append(out, a.AlertID)
	}
	return out
}

func TestSignageEndToEndEmbedded(t *testing.T) { runSignage(t, "embedded") }
func TestSignageEndToEndRedis(t *testing.T)    { runSignage(t, "redis") }

// runSignage: an alert for one area reaches that area's screen live and no
// other, is counted like any delivery, survives a restart without being
// repeated, and a cancelled alert leaves the screen with a "cleared" event.
func runSignage(t *testing.T, backend string) {
	cfg := baseConfig(t, backend)
	// Voice calls crawl, so an alert with voice is still dispatching when it
	// is cancelled (a finished alert cannot be cancelled).
	cfg.Voice.RPS = 0.05
	s := start(t, cfg)
	sato, suzuki := s.staff("sato", "approver"), s.staff("suzuki", "approver")
	const akasakaToken, konanToken = signage.DemoTokenPrefix + "akasaka", signage.DemoTokenPrefix + "shinagawa-konan"

	// Wrong or missing tokens: 401, no screen data.
	for _, p := range []string{"/signage/akasaka", "/signage/akasaka?token=" + konanToken, "/signage/akasaka/events?token=nope-nope-nope-nope", "/signage/unknown?token=" + akasakaToken} {
		resp, err := http.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || strings.Contains(string(body), "赤坂") {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}

	akasaka := openStream(t, s.url, "akasaka", akasakaToken)
	konan := openStream(t, s.url, "shinagawa-konan", konanToken)
	if st := akasaka.state(); st.Screen.ID != "akasaka" || st.Screen.Name != "赤坂" || len(st.Alerts) != 0 || len(st.Screen.Languages) != 4 {
		t.Fatalf("first state %+v", st)
	}
	if st := konan.state(); st.Screen.ID != "shinagawa-konan" || len(st.Alerts) != 0 {
		t.Fatalf("first state %+v", st)
	}

	var created struct{ ID, Status string }
	req := map[string]any{"severity": "severe", "title": map[string]string{"ja": "震度6弱 赤坂", "en": "Strong earthquake, Akasaka"},
		"body": map[string]string{"ja": "落下物に注意", "en": "Beware of falling objects"}, "target": map[string]any{"areas": []string{"akasaka"}},
		"channels": []string{"signage"}, "drill": true}
	if code := s.call("POST", "/api/v1/alerts", sato, req, &created); code != 201 {
		t.Fatalf("create with channel signage: %d", code)
	}
	if code := s.call("POST", "/api/v1/alerts/"+created.ID+"/approve", suzuki, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	st := akasaka.state()
	if len(st.Alerts) != 1 || st.Alerts[0].AlertID != created.ID || !st.Alerts[0].Drill || st.Alerts[0].Title["en"] != "Strong earthquake, Akasaka" {
		t.Fatalf("akasaka state %+v", st)
	}
	version := st.Version
	type counts struct{ Planned, Queued, Sent, Delivered, Failed int }
	var view struct {
		Status string
		Counts map[string]counts
	}
	s.waitFor("alert completed", func() bool {
		s.call("GET", "/api/v1/alerts/"+created.ID, sato, nil, &view)
		return view.Status == "completed"
	})
	if c := view.Counts["signage"]; c.Planned != 1 || c.Sent != 1 || c.Failed != 0 || c.Queued != 0 {
		t.Fatalf("signage counts %+v", view.Counts)
	}
	var dl struct {
		Deliveries []struct {
			ResidentID string `json:"resident_id"`
			State      string
		}
	}
	s.call("GET", "/api/v1/alerts/"+created.ID+"/deliveries", sato, nil, &dl)
	if len(dl.Deliveries) != 1 || dl.Deliveries[0].ResidentID != "screen:akasaka" || dl.Deliveries[0].State != "sent" {
		t.Fatalf("deliveries %+v", dl)
	}
	// The screen in another area got nothing: no event on its stream, and a
	// fresh connection starts empty.
	for _, ev := range konan.pending() {
		if strings.Contains(ev.Data, created.ID) {
			t.Fatalf("shinagawa-konan got %+v", ev)
		}
	}
	if st := openStream(t, s.url, "shinagawa-konan", konanToken).state(); len(st.Alerts) != 0 {
		t.Fatalf("shinagawa-konan shows %v", st.ids())
	}

	// A live alert with voice too; cancelled while the calls go on.
	req["severity"], req["drill"], req["channels"] = "extreme", false, []string{"signage", "voice"}
	req["title"] = map[string]string{"ja": "大津波警報", "en": "Major tsunami warning"}
	var second struct{ ID string }
	if code := s.call("POST", "/api/v1/alerts", sato, req, &second); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := s.call("POST", "/api/v1/alerts/"+second.ID+"/approve", suzuki, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	st = akasaka.state()
	if ids := st.ids(); len(ids) != 2 || ids[0] != second.ID || ids[1] != created.ID {
		t.Fatalf("want the live alert first, then the drill: %v", ids)
	}
	if code := s.call("POST", "/api/v1/alerts/"+second.ID+"/cancel", sato, map[string]string{"reason": "sent in error"}, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if ev := akasaka.next(); ev.Name != "cleared" || !strings.Contains(ev.Data, second.ID) {
		t.Fatalf("want cleared, got %+v", ev)
	}
	if ids := akasaka.state().ids(); len(ids) != 1 || ids[0] != created.ID {
		t.Fatalf("after cancel the screen shows %v", ids)
	}

	// Restart on the same store: the screen shows the same, once; a repeated
	// delivery (what a crash between sending and recording would cause)
	// changes nothing.
	s.close()
	for range akasaka.evs {
	}
	s2 := start(t, cfg)
	st = openStream(t, s2.url, "akasaka", akasakaToken).state()
	if ids := st.ids(); len(ids) != 1 || ids[0] != created.ID {
		t.Fatalf("after restart the screen shows %v", ids)
	}
	b, err := repo.Alerts{B: s2.app.Backend}.GetBatch(context.Background(), alert.BatchID(created.ID, alert.ChannelSignage, 0))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := s2.app.Signage.Send(context.Background(), b)
	if err != nil || len(outs) != 1 || outs[0].Err != nil {
		t.Fatalf("re-delivery: %v %+v", err, outs)
	}
	got, err := repo.Signage{B: s2.app.Backend}.GetScreen(context.Background(), "akasaka")
	if err != nil || len(got.Active(time.Now())) != 1 || !got.Has(created.ID) || got.Version != version+2 {
		// version: +1 for the drill, +1 for the live alert, +1 for its withdrawal.
		t.Fatalf("after re-delivery: version %d (before %d), %d alerts, %v", got.Version, version, len(got.Alerts), err)
	}
	s2.call("GET", "/api/v1/alerts/"+created.ID, sato, nil, &view)
	if c := view.Counts["signage"]; c.Planned != 1 || c.Sent != 1 {
		t.Fatalf("counts after restart %+v", c)
	}
}

func TestSignageConfigErrorsNameTheKey(t *testing.T) {
	screen := "signage:\n  screens:\n    - id: akasaka\n      name: 赤坂\n      area: %s\n      languages: [ja, en]\n"
	cases := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"unknown area", strings.Replace(screen, "%s", "shinjuku", 1), nil, `config: signage.screens[0].area: unknown area "shinjuku"`},
		{"unknown key", strings.Replace(screen, "%s", "akasaka", 1) + "      token: secret\n", nil, `unknown key "token"`},
		{"no token outside sandbox", strings.Replace(screen, "%s", "akasaka", 1) + "sandbox: false\n", nil, `config: signage.screens[0]: screen "akasaka" has no token`},
		{"bad env tokens", strings.Replace(screen, "%s", "akasaka", 1), map[string]string{"ANPI_SIGNAGE_TOKENS": "akasaka=tooshort"}, "config: ANPI_SIGNAGE_TOKENS:"},
		{"env token for unknown screen", "", map[string]string{"ANPI_SIGNAGE_TOKENS": "roppongi=0123456789abcdef0123"}, `config: ANPI_SIGNAGE_TOKENS: names screen "roppongi"`},
		{"bad rotate", "signage:\n  rotate: 100ms\n", nil, "config: signage.rotate:"},
		{"bad language", strings.Replace(strings.Replace(screen, "%s", "akasaka", 1), "[ja, en]", "[ja, fr]", 1), nil, "config: signage.screens[0].languages[1]:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, c.file), env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "tooshort") || strings.Contains(err.Error(), "0123456789abcdef0123") {
				t.Fatalf("error quotes a token: %v", err)
			}
		})
	}
	// The shipped file: two demo screens, demo tokens in sandbox mode only.
	cfg, err := LoadConfig("../configs/anpi.yaml", env(map[string]string{"ANPI_SIGNAGE_TOKENS": "akasaka=akasaka-real-token-0123456789"}))
	if err != nil || len(cfg.Signage.Screens) != 2 {
		t.Fatalf("default file: %v %+v", err, cfg.Signage)
	}
	reg, err := signage.NewRegistry(cfg.Signage.Screens, cfg.Secrets.SignageTokens, cfg.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Authorize("akasaka", signage.DemoTokenPrefix+"akasaka"); ok {
		t.Fatal("demo token accepted for a screen with a real token")
	}
	if _, ok := reg.Authorize("shinagawa-konan", signage.DemoTokenPrefix+"shinagawa-konan"); !ok {
		t.Fatal("demo token refused in sandbox mode")
	}
	if _, err := LoadConfig("../configs/anpi.yaml", env(map[string]string{"ANPI_SANDBOX": "false"})); err == nil || !strings.Contains(err.Error(), "signage.screens[0]") {
		t.Fatalf("sandbox off without screen tokens: %v", err)
	}
}
