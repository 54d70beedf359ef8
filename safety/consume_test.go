package safety_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/safety/classify"
)

// recorder is a BatchPublisher that remembers what it was given.
type recorder struct {
	mu     sync.Mutex
	single map[string][]string // topic -> keys
	many   map[string][]string
}

func (r *recorder) Publish(topic, key string, _ any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.single[topic] = append(r.single[topic], key)
}

func (r *recorder) PublishMany(topic string, keys []string, _ []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.many[topic] = append(r.many[topic], keys...)
}

func (r *recorder) keys(topic string, many bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if many {
		return slices.Clone(r.many[topic])
	}
	return slices.Clone(r.single[topic])
}

// TestConsumePage runs the consumers over one enqueued page that mixes what
// a busy webhook brings: two replies of one person (the later one wins and
// asks for help), a redelivered event, an older reply processed after a
// newer one, an unknown LINE user, a reply-page text and a person without
// contacts. The page is processed with batched store writes; the
// outcome must be what one-by-one processing gives.
func TestConsumePage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	pub := &recorder{single: map[string][]string{}, many: map[string][]string{}}
	svc := safety.NewService(e.st, nil, e.dir, classify.NewEnsemble(classify.Rules{}, nil, log), pub, log)
	u1, u3 := "U"+strings.Repeat("1", 32), "U"+strings.Repeat("3", 32)
	base := time.Now().Add(-time.Hour)
	rs := []safety.Reply{
		{EventID: "e1", LINEUserID: u1, CheckID: e.check.ID, Button: "safe", At: base},
		{EventID: "e2", LINEUserID: u1, Text: "助けて、家具の下敷きになっています", At: base.Add(time.Second)},
		{EventID: "e1", LINEUserID: u1, CheckID: e.check.ID, Button: "safe", At: base}, // redelivered
		{EventID: "e3", LINEUserID: u3, Text: "無事です", At: base.Add(time.Minute)},
		{EventID: "e4", LINEUserID: u3, CheckID: e.check.ID, Button: "injured", At: base}, // older, arrives late
		{EventID: "e5", LINEUserID: "U" + strings.Repeat("9", 32), Button: "safe", CheckID: e.check.ID},
		{EventID: "w1", ResidentID: "r2", Channel: "web", CheckID: e.check.ID, Text: "I am fine, at home", At: base},
		{EventID: "w2", ResidentID: "r4", Channel: "web", CheckID: e.check.ID, Button: "evacuated", At: base},
	}
	if n, err := svc.Accept(ctx, "line", rs...); err != nil || n != len(rs) {
		t.Fatalf("accept: %d, %v", n, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx, "t"); close(done) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := e.st.B.QueueLen(ctx, "replies")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d replies left in the queue", n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	v := e.view(t)
	if v.Responded != 4 || v.ByStatus["needs_help"] != 1 || v.ByStatus["safe"] != 2 || v.ByStatus["evacuated"] != 1 ||
		v.ByStatus["injured"] != 0 || v.ByArea["shiba"]["needs_help"] != 1 || v.ByArea["azabu"]["safe"] != 2 {
		t.Fatalf("counts: responded %d by_status %v by_area %v", v.Responded, v.ByStatus, v.ByArea)
	}
	sts, _, err := svc.Replies(ctx, e.check.ID, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]safety.PersonStatus{}
	for _, p := range sts {
		got[p.ResidentID] = p
	}
	if p := got["r1"]; p.Label != "needs_help" || !p.Pinned || p.Replies != 2 {
		t.Errorf("r1: %+v (want needs_help, pinned, 2 replies: the redelivery is dropped)", p)
	}
	if p := got["r3"]; p.Label != "safe" || p.Replies != 2 || p.Text != "無事です" {
		t.Errorf("r3: %+v (want the newer 'safe' to stand, 2 replies)", p)
	}
	if p := got["r2"]; p.Label != "safe" || p.Channel != "web" || len(got) != 4 {
		t.Errorf("statuses %v: want r1 to r4, r2 safe on the web", got)
	}
	items, err := svc.Triage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, it := range items {
		labels = append(labels, it.ResidentID+":"+it.Label)
	}
	if !slices.Equal(labels, []string{"r1:needs_help", "r3:injured"}) {
		t.Errorf("triage %v, want r1:needs_help then r3:injured", labels)
	}
	published := pub.keys("triage", true)
	slices.Sort(published)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(published, ids) || len(pub.keys("triage", false)) != 0 {
		t.Errorf("triage published in batches %v, one by one %v; want %v in batches", published, pub.keys("triage", false), ids)
	}
	// The console hears about the check, at most a throttle interval late.
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(pub.keys("safety", false), e.check.ID); {
		if time.Now().After(deadline) {
			t.Fatal("no console update of the check")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
