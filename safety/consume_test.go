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

// TestClaimEventsTellsSeenFromLeased: a claimed event is leased until the
// lease ends, a processed one is seen; only an expired lease is taken again.
func TestClaimEventsTellsSeenFromLeased(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	got, err := e.st.ClaimEvents(ctx, []string{"line|a", "line|b"}, 100*time.Millisecond)
	if err != nil || !slices.Equal(got, []safety.EventClaim{safety.EventMine, safety.EventMine}) {
		t.Fatalf("first claim %v, %v", got, err)
	}
	if err := e.st.MarkSeen(ctx, []string{"line|b"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err = e.st.ClaimEvents(ctx, []string{"line|a", "line|b"}, 100*time.Millisecond)
	if err != nil || !slices.Equal(got, []safety.EventClaim{safety.EventLeased, safety.EventSeen}) {
		t.Fatalf("second claim %v, %v; want leased, seen", got, err)
	}
	time.Sleep(150 * time.Millisecond)
	got, err = e.st.ClaimEvents(ctx, []string{"line|a", "line|b"}, 100*time.Millisecond)
	if err != nil || !slices.Equal(got, []safety.EventClaim{safety.EventMine, safety.EventSeen}) {
		t.Fatalf("after the lease %v, %v; want mine, seen", got, err)
	}
}

// TestReplyOfADeadConsumerIsNotLost: a consumer took an event's lease and
// died before processing it; its queue entry comes back to a live consumer
// while the lease still runs. The entry must stay in the queue (to be
// processed once the lease ends), not be acknowledged as done.
func TestReplyOfADeadConsumerIsNotLost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	svc := safety.NewService(e.st, nil, e.dir, classify.NewEnsemble(classify.Rules{}, nil, log), nil, log)
	u1 := "U" + strings.Repeat("1", 32)
	if _, err := e.st.ClaimEvents(ctx, []string{"line|dead1"}, time.Hour); err != nil { // the dead consumer's lease
		t.Fatal(err)
	}
	if _, err := svc.Accept(ctx, "line", safety.Reply{EventID: "dead1", LINEUserID: u1, CheckID: e.check.ID, Button: "injured"},
		safety.Reply{EventID: "live1", LINEUserID: "U" + strings.Repeat("3", 32), CheckID: e.check.ID, Button: "safe"}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(runCtx, "t"); close(done) }()
	// The other reply of the page is processed: the page was consumed.
	for deadline := time.Now().Add(10 * time.Second); e.view(t).Responded < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the page was not consumed")
		}
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	<-done
	if n, err := e.st.B.QueueLen(ctx, "replies"); err != nil || n != 1 {
		t.Fatalf("queue holds %d replies (%v); want the dead consumer's one kept for later", n, err)
	}
	if v := e.view(t); v.Responded != 1 || v.ByStatus["injured"] != 0 {
		t.Fatalf("responded %d, by status %v", v.Responded, v.ByStatus)
	}
}
