package signage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/minato-city/anpi/alert"
)

// Topic is the bus topic of signage change notices.
const Topic = "signage"

// Defaults of Options.
const (
	DefaultRotate    = 8 * time.Second
	DefaultHeartbeat = 15 * time.Second
	DefaultResync    = 5 * time.Second
)

// Options configure a Service.
type Options struct {
	// Registry is the set of screens (NewRegistry).
	Registry *Registry
	// Store keeps each screen's state; Alerts gives the alerts' content.
	Store  Store
	Alerts Alerts
	// Bus carries change notices to every instance's connected screens.
	Bus Bus
	// Rotate is how long each language stays on screen (default 8 s).
	Rotate time.Duration
	// Heartbeat is the interval of the ping event; a page that hears nothing
	// for 2.5 heartbeats shows "connection lost" and reconnects (default 15 s).
	Heartbeat time.Duration
	// Resync is how often connected screens are re-read from the store, so
	// a missed notice, an expiry or a cancellation whose notice was lost
	// reaches them anyway (default 5 s).
	Resync time.Duration
	// SecureCookie marks the screen cookie Secure (public URL is https).
	SecureCookie bool
	// Log receives operational messages (never tokens).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the signage channel: alert.Sender for channel "signage",
// alert.Endpoints through its Registry, and the screens' HTTP handler.
type Service struct {
	reg    *Registry
	store  Store
	alerts Alerts
	bus    Bus
	opt    Options
	log    *slog.Logger
	now    func() time.Time
	hub    *hub

	mu      sync.Mutex
	cleared map[string]time.Time // alerts this process has withdrawn, by expiry
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Registry == nil || o.Store == nil || o.Alerts == nil || o.Bus == nil {
		return nil, errors.New("signage: registry, store, alerts and bus are required")
	}
	if o.Rotate <= 0 {
		o.Rotate = DefaultRotate
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{
		reg: o.Registry, store: o.Store, alerts: o.Alerts, bus: o.Bus, opt: o, log: o.Log, now: o.Now,
		hub: newHub(), cleared: map[string]time.Time{},
	}, nil
}

// Registry returns the screens.
func (s *Service) Registry() *Registry { return s.reg }

// Enabled reports whether any screen is configured.
func (s *Service) Enabled() bool { return s.reg.Len() > 0 }

// Endpoints implements alert.Endpoints (see Registry.Endpoints).
func (s *Service) Endpoints(ctx context.Context, t alert.Target) ([]alert.Endpoint, error) {
	return s.reg.Endpoints(ctx, t)
}

// Channel implements alert.Sender.
func (s *Service) Channel() string { return alert.ChannelSignage }

// Cost implements alert.Sender: signage has no provider to pace.
func (s *Service) Cost(*alert.Batch) int { return 1 }

// Send implements alert.Sender: it puts the batch's alert on each screen of
// the batch (recipient address = screen id) and tells the connected
// screens. Putting an alert on a screen that shows it, or from which it was
// withdrawn, changes nothing and succeeds.
func (s *Service) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	a, err := s.alerts.GetAlert(ctx, b.AlertID)
	if errors.Is(err, alert.ErrNotFound) {
		return nil, &alert.SendError{Msg: "alert not found"}
	}
	if err != nil {
		return nil, &alert.SendError{Retryable: true, Msg: "signage: " + err.Error()}
	}
	now := s.now()
	switch {
	case a.Status == alert.StatusCancelled:
		return nil, &alert.SendError{Msg: "alert cancelled"}
	case a.Kind == alert.KindSafetyCheck || a.SafetyCheckID != "":
		return nil, &alert.SendError{Msg: "safety checks are not shown on signage"}
	case !now.Before(a.ExpiresAt):
		return nil, &alert.SendError{Msg: "alert expired"}
	}
	c := ContentOf(a)
	outs := make([]alert.Outcome, len(b.Recipients))
	var changed []string
	for i, r := range b.Recipients {
		scr, ok := s.reg.Screen(r.Address)
		if !ok {
			outs[i].Err = &alert.SendError{Msg: "screen is no longer configured"}
			continue
		}
		var added bool
		_, err := s.store.UpdateScreen(ctx, scr.ID, func(st *State) bool {
			var ch bool
			added, ch = st.Add(c, now)
			return ch
		})
		if err != nil {
			outs[i].Err = &alert.SendError{Retryable: true, Msg: "signage: " + err.Error()}
			continue
		}
		outs[i].ProviderID = "screen:" + scr.ID
		if added {
			changed = append(changed, scr.ID)
		}
	}
	if len(changed) > 0 {
		s.notify(ctx, notice{Screens: changed})
	}
	return outs, nil
}

// Clear withdraws alert id (which expires at exp) from every screen, for
// good, and tells the screens that showed it ("cleared" event).
func (s *Service) Clear(ctx context.Context, id string, exp time.Time) error {
	now := s.now()
	var showed []string
	var errs []error
	for _, scr := range s.reg.Screens() {
		var removed bool
		_, err := s.store.UpdateScreen(ctx, scr.ID, func(st *State) bool {
			var ch bool
			removed, ch = st.Clear(id, exp, now)
			return ch
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("screen %s: %w", scr.ID, err))
			continue
		}
		if removed {
			showed = append(showed, scr.ID)
		}
	}
	if len(showed) > 0 {
		s.log.Info("alert withdrawn from signage", "alert", id, "screens", len(showed))
		s.notify(ctx, notice{Screens: showed, Cleared: []string{id}})
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("signage clear: %w", err)
	}
	return nil
}

// Watch returns a publisher that passes every change to next (which may be
// nil) and withdraws cancelled alerts from the screens as their status
// change is published. Give it to alert.NewService.
func (s *Service) Watch(next alert.Publisher) alert.Publisher {
	return watcher{next: next, s: s}
}

type watcher struct {
	next alert.Publisher
	s    *Service
}

// Publish implements alert.Publisher.
func (w watcher) Publish(topic, key string, v any) {
	if w.next != nil {
		w.next.Publish(topic, key, v)
	}
	if topic != "alerts" {
		return
	}
	var view alert.View
	switch x := v.(type) {
	case alert.View:
		view = x
	case *alert.View:
		view = *x
	default:
		return
	}
	if view.Status != alert.StatusCancelled || !slices.Contains(view.Channels, alert.ChannelSignage) {
		return
	}
	w.s.withdraw(view.ID, view.ExpiresAt)
}

// withdraw clears a cancelled alert once per process (its status is
// published many times); the resync loop repeats what fails here.
func (s *Service) withdraw(id string, exp time.Time) {
	now := s.now()
	s.mu.Lock()
	for k, e := range s.cleared {
		if !now.Before(e) {
			delete(s.cleared, k)
		}
	}
	_, done := s.cleared[id]
	s.mu.Unlock()
	if done || !now.Before(exp) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Clear(ctx, id, exp); err != nil {
		s.log.Warn("signage withdraw", "alert", id, "err", err)
		return
	}
	s.mu.Lock()
	s.cleared[id] = exp
	s.mu.Unlock()
}

// notice is the bus message telling every instance which screens changed.
type notice struct {
	Screens []string `json:"screens"`
	Cleared []string `json:"cleared,omitempty"`
}

func (s *Service) notify(ctx context.Context, n notice) {
	data, _ := json.Marshal(n)
	if err := s.bus.Publish(context.WithoutCancel(ctx), Topic, data); err != nil {
		// The resync loop brings connected screens up to date anyway.
		s.log.Warn("signage notify", "err", err)
	}
}
