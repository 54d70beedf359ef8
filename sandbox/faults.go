package sandbox

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// FaultConfig injects provider faults in front of the LINE and Twilio
// simulators, for fault drills and tests of the delivery guarantees. The
// zero value injects nothing. (Each simulator's own FailRate already gives
// plain 500s that were processed for nobody.)
type FaultConfig struct {
	// BurstEvery starts a burst of 429 answers this often; 0 means never.
	BurstEvery time.Duration
	// BurstFor is how long each burst lasts.
	BurstFor time.Duration
	// RetryAfter is the Retry-After (whole seconds, at least 1) sent with
	// burst 429s.
	RetryAfter time.Duration
	// SlowRate is the fraction (0..1) of requests that the provider processes
	// at once but answers only after SlowDelay: a client that times out
	// first does not know the request took effect (the case retry keys and
	// the ledger exist for).
	SlowRate float64
	// SlowDelay is the answer delay of slow requests.
	SlowDelay time.Duration
	// Seed seeds the dice.
	Seed uint64
}

// faults is the FaultConfig middleware.
type faults struct {
	cfg   FaultConfig
	start time.Time

	mu  sync.Mutex
	rnd *rand.Rand

	// Injected counts what was injected, for reports.
	bursts, slow int64
}

func newFaults(cfg FaultConfig) *faults {
	return &faults{cfg: cfg, start: time.Now(), rnd: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
}

func (f *faults) active() bool {
	return f.cfg.BurstEvery > 0 || f.cfg.SlowRate > 0
}

// inBurst reports whether now falls in a 429 burst: the last BurstFor of
// every BurstEvery period.
func (f *faults) inBurst(now time.Time) bool {
	if f.cfg.BurstEvery <= 0 || f.cfg.BurstFor <= 0 {
		return false
	}
	phase := now.Sub(f.start) % f.cfg.BurstEvery
	return phase >= f.cfg.BurstEvery-f.cfg.BurstFor
}

func (f *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.inBurst(time.Now()) {
			f.mu.Lock()
			f.bursts++
			f.mu.Unlock()
			secs := max(1, int(f.cfg.RetryAfter/time.Second))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			// Both providers' 429 shapes carry a message; Twilio's adds a code.
			_, _ = w.Write([]byte(`{"message":"Too Many Requests (fault drill)","code":20429,"status":429}`))
			return
		}
		f.mu.Lock()
		slow := f.cfg.SlowRate > 0 && f.rnd.Float64() < f.cfg.SlowRate
		if slow {
			f.slow++
		}
		f.mu.Unlock()
		if !slow {
			next.ServeHTTP(w, r)
			return
		}
		// Process now, answer late.
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		t := time.NewTimer(f.cfg.SlowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = bytes.NewReader(rec.Body.Bytes()).WriteTo(w)
	})
}

// FaultCounts reports how many requests the fault injector answered with a
// burst 429 and how many it delayed.
func (s *Server) FaultCounts() (bursts, slow int64) {
	if s.faults == nil {
		return 0, 0
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.bursts, s.faults.slow
}
