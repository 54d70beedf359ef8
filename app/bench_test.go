package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
)

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

func benchAlert(b *testing.B, n int, backend string) {
	cfg := Defaults()
	cfg.DataDir = b.TempDir()
	cfg.Secrets.AdminToken = "bench"
	cfg.Sandbox = true
	cfg.applyEnv(func(k string) string {
		if k == "ANPI_ADMIN_TOKEN" {
			return "bench"
		}
		return ""
	})
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
	cfg.Facilities.Shelters, cfg.Facilities.Boundary = "", ""
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}
