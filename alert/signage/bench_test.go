package signage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert/signage"
)

// BenchmarkAlertToScreen measures the time from the channel's Send (store
// write on bolt, bus notice) to the state event arriving on a connected
// screen's event stream over loopback HTTP. Metrics: mean and p99 latency.
func BenchmarkAlertToScreen(b *testing.B) {
	// Resync only covers the warm-up, sent before Run may have subscribed.
	f := newFixture(b, signage.Options{Heartbeat: time.Hour, Resync: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := http.NewServeMux()
	mux.Handle("GET /signage/", f.svc.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer f.svc.Shutdown()
	go f.svc.Run(ctx)
	resp, err := http.Get(srv.URL + "/signage/akasaka/events?token=akasaka-token-0123456789")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	evs := readEvents(resp.Body)
	<-evs // initial state
	if _, err := f.svc.Send(ctx, f.putAlert(b, "al_warmup", false, "severe", "akasaka")); err != nil {
		b.Fatal(err)
	}
	<-evs
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id := fmt.Sprintf("al_b%09d", i)
		batch := f.putAlert(b, id, false, "severe", "akasaka")
		b.StartTimer()
		start := time.Now()
		if _, err := f.svc.Send(ctx, batch); err != nil {
			b.Fatal(err)
		}
		for ev := range evs {
			if ev.Name == "state" && strings.Contains(ev.Data, id) {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(len(lat))/1000, "ms/alert-mean")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms/alert-p99")
}
