package safety_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/safety/classify"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

type env struct {
	svc   *safety.Service
	dir   *residents.Directory
	st    repo.Safety
	links *safety.Links
	check *safety.Check
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.DiscardHandler)
	alerts := alert.NewService(repo.Alerts{B: db}, nil, alert.Config{Vocabulary: alert.Vocabulary{
		Areas: residents.Areas, Languages: residents.Languages, Channels: []string{"line", "sms"}}}, log)
	dir := residents.NewDirectory(repo.Residents{B: db})
	rs := []residents.Resident{
		{ID: "r1", Name: "佐藤", Language: "ja", Area: "shiba", Contacts: residents.Contacts{LINEUserID: "U" + strings.Repeat("1", 32)}},
		{ID: "r2", Name: "Smith", Language: "en", Area: "azabu", Contacts: residents.Contacts{Phone: "+819011112222"}},
		{ID: "r3", Name: "田中", Language: "ja", Area: "azabu", Contacts: residents.Contacts{LINEUserID: "U" + strings.Repeat("3", 32)}},
		{ID: "r4", Name: "no contact", Language: "ja", Area: "azabu"},
	}
	if bad, err := dir.Put(context.Background(), rs); err != nil || bad != nil {
		t.Fatal(err, bad)
	}
	e := &env{dir: dir, st: repo.Safety{B: db}}
	e.svc = safety.NewService(e.st, alerts, dir, classify.NewEnsemble(classify.Rules{}, nil, log), nil, log)
	e.links = safety.NewLinks([]byte(strings.Repeat("k", 32)), "http://anpi.test", time.Hour)
	c, err := e.svc.Start(context.Background(), safety.CheckRequest{Target: alert.Target{All: true}, Channels: []string{"line", "sms"}, Drill: true}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.check = c
	return e
}

func (e *env) view(t *testing.T) safety.View {
	t.Helper()
	v, err := e.svc.Get(context.Background(), e.check.ID)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStartValidates(t *testing.T) {
	e := newEnv(t)
	bad := []safety.CheckRequest{
		{Target: alert.Target{All: true}, Channels: []string{"pigeon"}},
		{Target: alert.Target{}, Channels: []string{"line"}},
		{Target: alert.Target{All: true}, Channels: []string{"line"}, Reminders: []string{"soon"}},
		{Target: alert.Target{All: true}, Channels: []string{"line"}, Question: map[string]string{"ja": ""}},
	}
	for i, r := range bad {
		if _, err := e.svc.Start(context.Background(), r, "alice"); err == nil {
			t.Errorf("request %d accepted", i)
		}
	}
	v := e.view(t)
	if v.Sent != 3 || v.ByStatus[safety.NoReply] != 3 || v.ByArea["azabu"][safety.NoReply] != 2 {
		t.Fatalf("sent %d by_status %v by_area azabu %v", v.Sent, v.ByStatus, v.ByArea["azabu"])
	}
}

func TestRepliesMoveCountsAndNeedsHelpIsSticky(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must := func(r safety.Reply) {
		t.Helper()
		if err := e.svc.Process(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	u1 := "U" + strings.Repeat("1", 32)
	must(safety.Reply{EventID: "e1", LINEUserID: u1, Channel: "line", CheckID: e.check.ID, Button: "safe"})
	must(safety.Reply{EventID: "e1", LINEUserID: u1, Channel: "line", CheckID: e.check.ID, Button: "safe"}) // redelivered
	v := e.view(t)
	if v.Responded != 1 || v.ByStatus["safe"] != 1 || v.ByArea["shiba"]["safe"] != 1 || v.ByStatus[safety.NoReply] != 2 {
		t.Fatalf("after safe: %+v", v)
	}
	must(safety.Reply{EventID: "e2", LINEUserID: u1, Channel: "line", Text: "助けて、家具の下敷きになっています"})
	v = e.view(t)
	if v.ByStatus["safe"] != 0 || v.ByStatus["needs_help"] != 1 || v.Responded != 1 {
		t.Fatalf("after needs_help: %v", v.ByStatus)
	}
	must(safety.Reply{EventID: "e3", LINEUserID: u1, Channel: "line", CheckID: e.check.ID, Button: "safe"})
	if v = e.view(t); v.ByStatus["needs_help"] != 1 {
		t.Fatalf("a later 'safe' cleared needs_help: %v", v.ByStatus)
	}
	items, err := e.svc.Triage(ctx, safety.TriageOpen)
	if err != nil || len(items) != 1 || items[0].Label != "needs_help" || items[0].ResidentID != "r1" {
		t.Fatalf("triage %+v %v", items, err)
	}
	if _, err := e.svc.Ack(ctx, items[0].ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Ack(ctx, items[0].ID, "bob"); !errors.Is(err, alert.ErrState) {
		t.Fatalf("double ack: %v", err)
	}
	if _, err := e.svc.Resolve(ctx, items[0].ID, "bob", "rescued by fire brigade", "safe"); err != nil {
		t.Fatal(err)
	}
	if v = e.view(t); v.ByStatus["needs_help"] != 0 || v.ByStatus["safe"] != 1 {
		t.Fatalf("after staff resolve: %v", v.ByStatus)
	}
}

func TestTriageIsUrgentFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := time.Now()
	e.svc.Process(ctx, safety.Reply{EventID: "a", ResidentID: "r2", Channel: "web", CheckID: e.check.ID, Text: "???", At: base})
	e.svc.Process(ctx, safety.Reply{EventID: "b", ResidentID: "r3", Channel: "web", CheckID: e.check.ID, Text: "足を骨折しました", At: base.Add(time.Second)})
	e.svc.Process(ctx, safety.Reply{EventID: "c", ResidentID: "r1", Channel: "web", CheckID: e.check.ID, Text: "Help! I am trapped under the wardrobe", At: base.Add(2 * time.Second)})
	items, err := e.svc.Triage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, it := range items {
		labels = append(labels, it.Label)
	}
	if strings.Join(labels, ",") != "needs_help,injured,unclear" {
		t.Fatalf("triage order %v", labels)
	}
}

func TestConsumerDropsReplays(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.Run(ctx, "c1") }()
	defer func() { cancel(); <-done }()
	u1 := "U" + strings.Repeat("1", 32)
	first := safety.Reply{EventID: "evt-1", LINEUserID: u1, CheckID: e.check.ID, Button: "safe"}
	replay := safety.Reply{EventID: "evt-1", LINEUserID: u1, CheckID: e.check.ID, Button: "needs_help"}
	if n, err := e.svc.Accept(ctx, "line", first, replay); err != nil || n != 2 {
		t.Fatalf("accept: %d %v", n, err)
	}
	// The first is applied and acknowledged (so marked seen) before the
	// replay comes again in a later page. (A replay claimed while the first
	// holds the event's lease waits in the queue for a minute, then is
	// dropped as seen; the contents differ here so that a second application
	// shows.)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := e.st.B.QueueLen(context.Background(), "replies")
		if err == nil && n == 0 && e.view(t).Responded >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first reply not consumed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	later := safety.Reply{EventID: "evt-2", ResidentID: "r3", Channel: "web", CheckID: e.check.ID, Button: "evacuated"}
	e.svc.Accept(ctx, "line", replay) // a replay in a later page
	e.svc.Accept(ctx, "web", later)
	for {
		v := e.view(t)
		if v.Responded == 2 {
			if v.ByStatus["safe"] != 1 || v.ByStatus["needs_help"] != 0 || v.ByStatus["evacuated"] != 1 {
				t.Fatalf("a replayed event changed a status: %v", v.ByStatus)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replies not consumed: %+v", v)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		n, err := e.st.B.QueueLen(context.Background(), "replies")
		if err != nil || n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v := e.view(t); v.ByStatus["needs_help"] != 0 {
		t.Fatalf("replay applied: %v", v.ByStatus)
	}
}

func TestLinks(t *testing.T) {
	now := time.Now()
	l := safety.NewLinks([]byte(strings.Repeat("s", 32)), "http://x", time.Hour)
	tok := l.Token("sc_1", "r1", now.Add(time.Hour))
	if c, r, err := l.Verify(tok); err != nil || c != "sc_1" || r != "r1" {
		t.Fatalf("verify: %s %s %v", c, r, err)
	}
	other := safety.NewLinks([]byte(strings.Repeat("t", 32)), "http://x", time.Hour)
	if _, _, err := other.Verify(tok); !errors.Is(err, safety.ErrBadToken) {
		t.Fatalf("forged: %v", err)
	}
	if _, _, err := l.Verify(tok[:len(tok)-2] + "AA"); !errors.Is(err, safety.ErrBadToken) {
		t.Fatalf("tampered: %v", err)
	}
	if _, _, err := l.Verify(l.Token("sc_1", "r1", now.Add(-time.Second))); !errors.Is(err, safety.ErrExpiredToken) {
		t.Fatalf("expired: %v", err)
	}
	for _, junk := range []string{"", ".", "abc", strings.Repeat("a", 600), "%%%.%%%"} {
		if _, _, err := l.Verify(junk); err == nil {
			t.Fatalf("junk %q verified", junk)
		}
	}
}

func TestReplyPage(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	h := e.svc.ReplyPage(e.links)
	mux.Handle("GET /r/{token}", h)
	mux.Handle("POST /r/{token}", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok := e.links.Token(e.check.ID, "r2", time.Now().Add(time.Hour))

	resp, err := http.Get(srv.URL + "/r/" + tok)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "are you safe") || !strings.Contains(body, "DRILL") {
		t.Fatalf("GET %d: %s", resp.StatusCode, body)
	}
	post := func(token string, form url.Values) (int, string) {
		resp, err := http.PostForm(srv.URL+"/r/"+token, form)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(t, resp)
	}
	if code, _ := post(tok, url.Values{"a": {"nonsense"}}); code != 400 {
		t.Fatalf("unknown answer: %d", code)
	}
	if code, _ := post(tok, url.Values{"t": {strings.Repeat("x", 20000)}}); code != 413 {
		t.Fatalf("oversized: %d", code)
	}
	if code, _ := post("forged."+tok, url.Values{"a": {"safe"}}); code != 404 {
		t.Fatalf("forged: %d", code)
	}
	expired := e.links.Token(e.check.ID, "r2", time.Now().Add(-time.Minute))
	if code, _ := post(expired, url.Values{"a": {"safe"}}); code != 410 {
		t.Fatalf("expired: %d", code)
	}
	qs, _ := e.st.ClaimReplies(context.Background(), "c", 10, time.Minute, 0)
	if len(qs) != 0 {
		t.Fatalf("bad posts enqueued %d replies", len(qs))
	}
	if code, body := post(tok, url.Values{"a": {"evacuated"}}); code != 200 || !strings.Contains(body, "Thank you") {
		t.Fatalf("answer: %d %s", code, body)
	}
	qs, _ = e.st.ClaimReplies(context.Background(), "c", 10, time.Minute, 0)
	if len(qs) != 1 || qs[0].Reply.Button != "evacuated" || qs[0].Reply.ResidentID != "r2" {
		t.Fatalf("queued %+v", qs)
	}
	if err := e.svc.Process(context.Background(), qs[0].Reply); err != nil {
		t.Fatal(err)
	}
	if v := e.view(t); v.ByArea["azabu"]["evacuated"] != 1 {
		t.Fatalf("by_area %v", v.ByArea["azabu"])
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}
