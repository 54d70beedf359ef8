package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

func benchIngest(b *testing.B, backend string) {
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
		defer flushPrefix(nil, cfg.Redis.URL, cfg.Redis.Prefix)
	}
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
	cfg.SMS.Workers = 16
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
			if v.Status == alert.StatusCompleted {
				if v.Counts["line"].Sent != int64(nLINE) || v.Counts["sms"].Sent != int64(nSMS) {
					b.Fatalf("sent %+v", v.Counts)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(time.Since(t0).Seconds()/bound, "bound-ratio")
		b.ReportMetric(lineDone.Seconds(), "line-s")
		b.ReportMetric(smsDone.Seconds(), "sms-s")
		b.ReportMetric(float64(v.Counts["sms"].Delivered), "sms-receipts")
		b.ReportMetric(float64(a.Sandbox.Twilio.Stats().RateLimited), "sms-429s")
		b.ReportMetric(float64(a.Sandbox.LINE.Stats().RateLimited), "line-429s")
	}
	el := time.Since(start)
	b.ReportMetric(bound, "bound-s")
	b.ReportMetric(el.Seconds()/float64(b.N), "s/alert")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64((nLINE+nSMS)*b.N), "cpu-µs/recipient")
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}
