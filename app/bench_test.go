package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/sandbox"
)

// cpuTime is the user+system CPU time this process has used so far (all
// goroutines: the engine, the store and the in-process sandbox).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS reads the process's peak resident set size (VmHWM) in MiB, or -1.
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return -1
}

// BenchmarkAlert10kLINE sends one drill alert to 10,000 residents over LINE
// through the whole system: embedded store, planner, dispatcher, the real
// LINE SDK client and the sandbox LINE simulator over loopback HTTP, with the
// provider limits lifted so the engine itself is measured.
func BenchmarkAlert10kLINE(b *testing.B) {
	benchAlert(b, 10_000, "embedded")
}

// BenchmarkAlert10kLINERedis is the same with the Redis backend
// (ANPI_TEST_REDIS_URL).
func BenchmarkAlert10kLINERedis(b *testing.B) {
	benchAlert(b, 10_000, "redis")
}

// BenchmarkAlert1MLINE is BenchmarkAlert10kLINE with a million residents:
// the scale target (throughput, CPU per recipient, peak RSS).
func BenchmarkAlert1MLINE(b *testing.B) {
	benchAlert(b, 1_000_000, "embedded")
}

// BenchmarkAlert100kLINE sits between the two.
func BenchmarkAlert100kLINE(b *testing.B) {
	benchAlert(b, 100_000, "embedded")
}

// BenchmarkAlert1MLINERedis is BenchmarkAlert1MLINE on Redis.
func BenchmarkAlert1MLINERedis(b *testing.B) {
	benchAlert(b, 1_000_000, "redis")
}

func benchAlert(b *testing.B, n int, backend string) {
	cfg := Defaults()
	if err := cfg.applyEnv(env(map[string]string{"ANPI_ADMIN_TOKEN": "bench"})); err != nil {
		b.Fatal(err)
	}
	cfg.DataDir = b.TempDir()
	if backend == "redis" {
		u := os.Getenv("ANPI_TEST_REDIS_URL")
		if u == "" {
			b.Skip("ANPI_TEST_REDIS_URL not set: skipping the Redis benchmark")
		}
		cfg.Store, cfg.Redis.URL = "redis", u
		cfg.Redis.Prefix = fmt.Sprintf("anpibench:%d:", time.Now().UnixNano())
		defer flushPrefix(nil, u, cfg.Redis.Prefix)
	}
	cfg.LINE.MulticastRPS, cfg.SMS.Enabled, cfg.Voice.Enabled = 0, false, false
	if w, _ := strconv.Atoi(os.Getenv("BENCH_WORKERS")); w > 0 {
		cfg.LINE.Workers = w
	}
	cfg.Facilities.Shelters, cfg.Facilities.Boundary = "", ""
	var logw io.Writer = io.Discard
	if os.Getenv("BENCH_LOG") != "" {
		logw = os.Stderr
	}
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	go a.Dispatcher.Run(ctx)
	defer cancel()
	rs := make([]residents.Resident, n)
	for i := range rs {
		rs[i] = residents.Resident{ID: fmt.Sprintf("r%07d", i), Language: "ja", Area: residents.Areas[i%5],
			Contacts: residents.Contacts{LINEUserID: fmt.Sprintf("U%032x", i+1)}}
	}
	for i := 0; i < n; i += 5000 {
		if _, err := a.Residents.Put(ctx, rs[i:min(i+5000, n)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	for range b.N {
		al, err := a.Alerts.Create(ctx, alert.Request{Severity: "severe", Title: map[string]string{"ja": "地震"},
			Body: map[string]string{"ja": "揺れに警戒"}, Target: alert.Target{All: true}, Channels: []string{"line"}, Drill: true}, "alice")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Alerts.Approve(ctx, al.ID, "bob"); err != nil {
			b.Fatal(err)
		}
		for {
			v, err := a.Alerts.Get(ctx, al.ID)
			if err != nil {
				b.Fatal(err)
			}
			if v.Status == alert.StatusCompleted {
				if v.Counts["line"].Sent != int64(n) {
					b.Fatalf("sent %d of %d", v.Counts["line"].Sent, n)
				}
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(n*b.N)/el.Seconds(), "recipients/s")
	b.ReportMetric(el.Seconds()/float64(b.N), "s/alert")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n*b.N), "cpu-µs/recipient")
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}

// BenchmarkLINEWebhookIngest posts signed LINE webhooks (one text event per
// request, as users type) from 32 concurrent clients over loopback HTTP and
// reports events/s and the p99 acknowledgement time; after the run every
// accepted event must have been consumed (zero loss).
func BenchmarkLINEWebhookIngest(b *testing.B)      { benchIngest(b, "embedded") }
func BenchmarkLINEWebhookIngestRedis(b *testing.B) { benchIngest(b, "redis") }

// benchServerConfig is configs/anpi.yaml for a benchmark on backend, with a
// fresh data directory or Redis prefix (flushed when the benchmark ends).
func benchServerConfig(b *testing.B, backend string) Config {
	m := map[string]string{"ANPI_ADMIN_TOKEN": testAdmin, "ANPI_DATA_DIR": b.TempDir()}
	if backend == "redis" {
		u := os.Getenv("ANPI_TEST_REDIS_URL")
		if u == "" {
			b.Skip("ANPI_TEST_REDIS_URL not set: skipping the Redis benchmark")
		}
		m["ANPI_STORE"], m["ANPI_REDIS_URL"] = "redis", u
	}
	cfg, err := LoadConfig("../configs/anpi.yaml", env(m))
	if err != nil {
		b.Fatal(err)
	}
	if backend == "redis" {
		cfg.Redis.Prefix = fmt.Sprintf("anpibench:%d:", time.Now().UnixNano())
		b.Cleanup(func() { flushPrefix(nil, cfg.Redis.URL, cfg.Redis.Prefix) })
	}
	return cfg
}

func benchIngest(b *testing.B, backend string) {
	cfg := benchServerConfig(b, backend)
	cfg.Facilities.Shelters, cfg.Facilities.Boundary = "", ""
	cfg.Demo.Residents = "../" + cfg.Demo.Residents
	tt := &testing.T{}
	s := start(tt, cfg)
	defer s.close()
	_, _, users := demoPopulation(tt)
	var check struct{ ID string }
	if code := s.call("POST", "/api/v1/safety-checks", testAdmin, map[string]any{"target": map[string]any{"all": true}, "channels": []string{"line"}, "drill": true}, &check); code != 201 {
		b.Fatalf("check: %d", code)
	}
	sim := sandbox.NewLINE(sandbox.LINEConfig{})
	texts := []string{"無事です", "足をけがしました", "助けて、閉じ込められています", "避難所にいます", "帰れません"}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		body, err := sim.WebhookBody(sandbox.LINEEvent{Type: "text", UserID: users[i%len(users)], Text: texts[i%len(texts)]})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	sigs := make([]string, len(bodies))
	for i, body := range bodies {
		sigs[i] = sandbox.SignLINE(SandboxLINESecret, body)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	var lat []time.Duration
	var failed, next atomic.Int64
	b.SetParallelism(16) // 32 clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			// Every request carries a distinct event (fresh webhookEventId).
			i := int(next.Add(1)-1) % len(bodies)
			req, _ := http.NewRequest("POST", s.url+"/webhooks/line", bytes.NewReader(bodies[i]))
			req.Header.Set("X-Line-Signature", sigs[i])
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			local = append(local, time.Since(t0))
			if resp.StatusCode != 200 {
				failed.Add(1)
			}
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	el := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d webhook requests failed", failed.Load())
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/el.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	// Zero loss: the durable queue drains completely. drain-s is how long
	// the consumers still needed after the last acknowledgement.
	drainStart := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := s.app.Backend.QueueLen(context.Background(), "replies")
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d replies never consumed", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(time.Since(drainStart).Seconds(), "drain-s")
	// CPU of this process (server, consumers and the load generator) per
	// event, ingest and consumption included: less noisy than the rate on a
	// shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}

// BenchmarkAlert1MRealistic sends one alert to 1,000,000 people, 800,000 on
// LINE and 200,000 by SMS, through the in-process sandbox with provider
// limits in force (LINE multicast 200 requests/s; SMS 4,000 messages/s, e.g.
// 40 senders at 100/s each) and reports the completion time as a multiple
// of the provider-limit lower bound (bound-ratio; the issue asks ≤ 1.05).
func BenchmarkAlert1MRealistic(b *testing.B) {
	benchRealistic(b, 800_000, 200_000, 200, 4000, "embedded")
}

// BenchmarkAlert1MRealisticRedis is BenchmarkAlert1MRealistic on Redis.
func BenchmarkAlert1MRealisticRedis(b *testing.B) {
	benchRealistic(b, 800_000, 200_000, 200, 4000, "redis")
}

func benchRealistic(b *testing.B, nLINE, nSMS int, lineRPS, smsRPS float64, backend string) {
	if k, _ := strconv.Atoi(os.Getenv("BENCH_SCALE_DOWN")); k > 1 { // for profiling runs
		nLINE, nSMS = nLINE/k, nSMS/k
	}
	if os.Getenv("BENCH_SMS_ONLY") != "" { // for profiling runs
		nLINE = 0
	}
	cfg := Defaults()
	if err := cfg.applyEnv(env(map[string]string{"ANPI_ADMIN_TOKEN": "bench"})); err != nil {
		b.Fatal(err)
	}
	cfg.DataDir = b.TempDir()
	if backend == "redis" {
		u := os.Getenv("ANPI_TEST_REDIS_URL")
		if u == "" {
			b.Skip("ANPI_TEST_REDIS_URL not set: skipping the Redis benchmark")
		}
		cfg.Store, cfg.Redis.URL = "redis", u
		cfg.Redis.Prefix = fmt.Sprintf("anpibench:%d:", time.Now().UnixNano())
		defer flushPrefix(nil, u, cfg.Redis.Prefix)
	}
	cfg.LINE.MulticastRPS, cfg.SMS.RPS, cfg.Voice.Enabled = lineRPS, smsRPS, false
	cfg.SMS.Workers = 48
	cfg.Facilities.Shelters, cfg.Facilities.Boundary = "", ""
	// The whole server runs, so the simulator's status callbacks for 200k
	// SMS land on the signed webhook as Twilio's would.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Listen, cfg.PublicURL = ln.Addr().String(), "http://"+ln.Addr().String()
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	// The two groups are interleaved, as in a real population (every fifth
	// person here has a phone only), so both channels start at once.
	batch := make([]residents.Resident, 0, 5000)
	every := max(1, (nLINE+nSMS)/max(1, nSMS))
	smsLeft, lineLeft := nSMS, nLINE
	for i := range nLINE + nSMS {
		r := residents.Resident{ID: fmt.Sprintf("r%07d", i), Language: residents.Languages[i%4], Area: residents.Areas[i%5]}
		if lineLeft > 0 && (smsLeft == 0 || i%every != every-1) {
			lineLeft--
			r.Contacts.LINEUserID = fmt.Sprintf("U%032x", i+1)
		} else {
			smsLeft--
			r.Contacts.Phone = fmt.Sprintf("+8190%08d", i)
		}
		batch = append(batch, r)
		if len(batch) == cap(batch) || i == nLINE+nSMS-1 {
			if _, err := a.Residents.Put(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// The lower bound: every LINE multicast and every SMS at the provider
	// rate, less what the engine's token bucket lets through at once.
	lineReqs := float64((nLINE + 499) / 500)
	bound := max((lineReqs-max(1, lineRPS/10))/lineRPS, (float64(nSMS)-max(1, smsRPS/10))/smsRPS)
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	for range b.N {
		t0 := time.Now()
		al, err := a.Alerts.Create(ctx, alert.Request{Severity: "severe", Title: map[string]string{"ja": "地震"},
			Body: map[string]string{"ja": "揺れに警戒"}, Target: alert.Target{All: true}, Channels: []string{"line", "sms"}, Drill: true}, "alice")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Alerts.Approve(ctx, al.ID, "bob"); err != nil {
			b.Fatal(err)
		}
		var lineDone, smsDone time.Duration
		timeline, lastLine := os.Getenv("BENCH_TIMELINE") != "", time.Now()
		var v alert.View
		for {
			if v, err = a.Alerts.Get(ctx, al.ID); err != nil {
				b.Fatal(err)
			}
			if lineDone == 0 && v.Counts["line"].Sent == int64(nLINE) {
				lineDone = time.Since(t0)
			}
			if smsDone == 0 && v.Counts["sms"].Sent == int64(nSMS) {
				smsDone = time.Since(t0)
			}
			if timeline && time.Since(lastLine) >= time.Second {
				lastLine = time.Now()
				fmt.Fprintf(os.Stderr, "%5.1fs line sent %7d  sms sent %7d delivered %7d\n", time.Since(t0).Seconds(), v.Counts["line"].Sent, v.Counts["sms"].Sent, v.Counts["sms"].Delivered)
			}
			if v.Status == alert.StatusCompleted {
				if v.Counts["line"].Sent != int64(nLINE) || v.Counts["sms"].Sent != int64(nSMS) {
					b.Fatalf("sent %+v", v.Counts)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		completed := time.Since(t0)
		b.ReportMetric(completed.Seconds()/bound, "bound-ratio")
		b.ReportMetric(lineDone.Seconds(), "line-s")
		b.ReportMetric(smsDone.Seconds(), "sms-s")
		b.ReportMetric(float64(v.Counts["sms"].Delivered), "sms-receipts")
		// Delivery receipts keep coming after the send: the clock for them
		// runs until every SMS is counted delivered (the simulator
		// delivers all), for at most ten minutes.
		for v.Counts["sms"].Delivered < int64(nSMS) && time.Since(t0) < completed+10*time.Minute {
			time.Sleep(100 * time.Millisecond)
			if v, err = a.Alerts.Get(ctx, al.ID); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(t0).Seconds(), "receipts-s")
		if v.Counts["sms"].Delivered != int64(nSMS) {
			b.Errorf("receipts: %d of %d SMS counted delivered", v.Counts["sms"].Delivered, nSMS)
		}
		tw := a.Sandbox.Twilio.Stats()
		b.ReportMetric(float64(tw.RateLimited), "sms-429s")
		b.ReportMetric(float64(tw.CallbacksSent), "callbacks-posted")
		b.ReportMetric(float64(tw.CallbacksFailed+tw.CallbacksDropped), "callbacks-lost")
		b.ReportMetric(float64(a.Sandbox.LINE.Stats().RateLimited), "line-429s")
	}
	el := time.Since(start)
	b.ReportMetric(bound, "bound-s")
	b.ReportMetric(el.Seconds()/float64(b.N), "s/alert")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64((nLINE+nSMS)*b.N), "cpu-µs/recipient")
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}

// BenchmarkReplies270k is the issue's "270,000 replies within 10 minutes,
// fully counted": every one of Minato's ~270,000 residents answers one
// safety check once, through the public paths, while the check's alert is
// still going out. 80% are on LINE and answer with a signed webhook (one
// event per request; 70% tap a button, 30% type free text in their
// language, classified by the rules and the LLM simulator); 20% got the
// question by SMS and answer on the one-tap reply page (POST /r/{token},
// behind the per-client rate limit, each phone its own client address).
// 32 clients post as fast as the server answers. The clock runs from the
// start of the check until GET /api/v1/safety-checks/{id} counts all
// 270,000 (s-to-counted, which the issue wants under 600); replies/s is
// 270,000 over that. The resident directory is imported in bulk before.
func BenchmarkReplies270k(b *testing.B)      { benchReplies(b, 270_000, "embedded") }
func BenchmarkReplies270kRedis(b *testing.B) { benchReplies(b, 270_000, "redis") }

// BenchmarkReplies27k is BenchmarkReplies270k at a tenth of the size.
func BenchmarkReplies27k(b *testing.B)      { benchReplies(b, 27_000, "embedded") }
func BenchmarkReplies27kRedis(b *testing.B) { benchReplies(b, 27_000, "redis") }

func benchReplies(b *testing.B, n int, backend string) {
	cfg := benchServerConfig(b, backend)
	cfg.Facilities.Shelters, cfg.Facilities.Boundary, cfg.Demo.Residents = "", "", ""
	// The alert's own pace is BenchmarkAlert1MRealistic's subject; here it
	// only has to be on its way while the replies come in.
	cfg.LINE.MulticastRPS, cfg.SMS.RPS, cfg.Voice.Enabled = 0, 0, false
	// The phones answering on the reply page reach it through a load
	// balancer on loopback that names them in X-Forwarded-For.
	cfg.PublicRateLimit.TrustedProxies = []string{"127.0.0.1"}
	tt := &testing.T{}
	s := start(tt, cfg)
	defer s.close()
	ctx := context.Background()

	// The directory: 80% on LINE, 20% by SMS; bulk import.
	t0 := time.Now()
	rs := make([]residents.Resident, 0, 5000)
	isLINE := func(i int) bool { return i%5 != 4 }
	lineID := func(i int) string { return fmt.Sprintf("U%032x", i+1) }
	for i := range n {
		r := residents.Resident{ID: fmt.Sprintf("r%07d", i), Language: residents.Languages[i%4], Area: residents.Areas[i%5]}
		if isLINE(i) {
			r.Contacts.LINEUserID = lineID(i)
		} else {
			r.Contacts.Phone = fmt.Sprintf("+8190%08d", i)
		}
		rs = append(rs, r)
		if len(rs) == cap(rs) || i == n-1 {
			if bad, err := s.app.Residents.Put(ctx, rs); err != nil || len(bad) > 0 {
				b.Fatalf("import: %v %v", err, bad)
			}
			rs = rs[:0]
		}
	}
	importTime := time.Since(t0)

	sim := sandbox.NewLINE(sandbox.LINEConfig{})
	labels := []string{"safe", "safe", "safe", "safe", "safe", "safe", "safe", "evacuated", "stranded", "injured", "needs_help"}
	texts := map[string][]string{
		"ja": {"無事です", "家族全員無事です", "避難所にいます", "足をけがしました", "帰宅できません、駅にいます", "助けて、閉じ込められています"},
		"en": {"I'm safe", "We are all fine", "At the shelter now", "I hurt my arm", "Stuck at Shinagawa station", "Help, trapped under furniture"},
		"zh": {"我平安", "全家都平安", "我在避难所", "我受伤了", "回不了家", "救命，被困住了"},
		"ko": {"무사합니다", "가족 모두 무사해요", "대피소에 있어요", "다리를 다쳤어요", "집에 갈 수 없어요", "도와주세요 갇혔어요"},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const clients = 32
	b.ResetTimer()
	for range b.N {
		var check struct{ ID string }
		start := time.Now()
		cpu0 := cpuTime()
		if code := s.call("POST", "/api/v1/safety-checks", testAdmin, map[string]any{
			"target": map[string]any{"all": true}, "channels": []string{"line", "sms"}, "drill": true}, &check); code != 201 {
			b.Fatalf("check: %d", code)
		}
		var next, failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					lang := residents.Languages[i%4]
					free := i%10 >= 7 // 30% free text
					var req *http.Request
					if isLINE(i) {
						ev := sandbox.LINEEvent{Type: sandbox.LINEEventPostback, UserID: lineID(i),
							Data: safety.PostbackData(check.ID, labels[i%len(labels)])}
						if free {
							ev = sandbox.LINEEvent{Type: sandbox.LINEEventText, UserID: lineID(i), Text: texts[lang][i%len(texts[lang])]}
						}
						body, err := sim.WebhookBody(ev)
						if err != nil {
							b.Error(err)
							return
						}
						req, _ = http.NewRequest("POST", s.url+"/webhooks/line", bytes.NewReader(body))
						req.Header.Set("X-Line-Signature", sandbox.SignLINE(SandboxLINESecret, body))
					} else {
						form := url.Values{"a": {labels[i%len(labels)]}}
						if free {
							form = url.Values{"t": {texts[lang][i%len(texts[lang])]}}
						}
						link := s.app.Links.Link(check.ID, fmt.Sprintf("r%07d", i))
						req, _ = http.NewRequest("POST", link, strings.NewReader(form.Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
					}
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %d", req.URL.Path, resp.StatusCode))
					}
				}
			})
		}
		wg.Wait()
		posted := time.Since(start)
		if failed.Load() > 0 {
			b.Fatalf("%d replies refused, first: %v", failed.Load(), firstErr.Load())
		}
		// Fully counted: the check's aggregate says every resident answered.
		var v struct {
			Sent, Responded int64
			ByStatus        map[string]int64 `json:"by_status"`
		}
		deadline := time.Now().Add(10 * time.Minute)
		for {
			if code := s.call("GET", "/api/v1/safety-checks/"+check.ID, testAdmin, nil, &v); code != 200 {
				b.Fatalf("get check: %d", code)
			}
			if v.Responded >= int64(n) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("after 10 minutes %d of %d replies counted", v.Responded, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		el := time.Since(start)
		var sum int64
		for k, c := range v.ByStatus {
			if k != safety.NoReply {
				sum += c
			}
		}
		if v.Sent != int64(n) || v.Responded != int64(n) || sum != int64(n) || v.ByStatus[safety.NoReply] != 0 {
			b.Fatalf("counts: sent %d responded %d by_status %v", v.Sent, v.Responded, v.ByStatus)
		}
		b.ReportMetric(el.Seconds(), "s-to-counted")
		b.ReportMetric(float64(n)/el.Seconds(), "replies/s")
		b.ReportMetric(float64(n)/posted.Seconds(), "posted/s")
		// Everything in this process: server, consumers, the alert going
		// out, the simulators and the load generator.
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/reply")
	}
	b.StopTimer()
	b.ReportMetric(importTime.Seconds(), "import-s")
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}
