package signage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minato-city/anpi/alert"
)

// MaxClientsPerScreen bounds the live connections of one screen (a screen
// is a browser or two; more means a leaked token or a reconnect storm).
const MaxClientsPerScreen = 8

// clientQueue is how many frames a connection may fall behind before it is
// dropped; the browser reconnects and gets the whole state first.
const clientQueue = 16

// errTooMany is returned by hub.join when a screen has too many connections.
var errTooMany = errors.New("too many connections for this screen")

// errClosing is returned by hub.join once the server shuts down.
var errClosing = errors.New("shutting down")

// client is one open event stream.
type client struct {
	ch chan []byte
}

// hub holds this instance's open event streams by screen.
type hub struct {
	mu      sync.Mutex
	clients map[string]map[*client]struct{}
	last    map[string]string // last state frame sent per screen
	done    chan struct{}
	once    sync.Once
}

func newHub() *hub {
	return &hub{clients: map[string]map[*client]struct{}{}, last: map[string]string{}, done: make(chan struct{})}
}

func (h *hub) join(screen string) (*client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return nil, errClosing
	default:
	}
	cs := h.clients[screen]
	if len(cs) >= MaxClientsPerScreen {
		return nil, errTooMany
	}
	if cs == nil {
		cs = map[*client]struct{}{}
		h.clients[screen] = cs
	}
	c := &client{ch: make(chan []byte, clientQueue)}
	cs[c] = struct{}{}
	return c, nil
}

// leave removes c; it is safe to call more than once.
func (h *hub) leave(screen string, c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(screen, c)
}

func (h *hub) dropLocked(screen string, c *client) {
	cs := h.clients[screen]
	if _, ok := cs[c]; !ok {
		return
	}
	delete(cs, c)
	close(c.ch)
	if len(cs) == 0 {
		delete(h.clients, screen)
		delete(h.last, screen)
	}
}

// screens returns the screens with open streams.
func (h *hub) screens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.clients))
	for id := range h.clients {
		out = append(out, id)
	}
	return out
}

// send queues frames for every stream of screen; a stream that cannot take
// them is dropped. With dedupe, a state frame equal to the last one sent is
// not sent again.
func (h *hub) send(screen string, state []byte, extra ...[]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.clients[screen]
	if len(cs) == 0 {
		return
	}
	frames := extra
	if len(extra) > 0 || h.last[screen] != string(state) {
		frames = append(frames, state)
		h.last[screen] = string(state)
	}
	for c := range cs {
		for _, f := range frames {
			select {
			case c.ch <- f:
			default:
				h.dropLocked(screen, c)
			}
			if _, still := cs[c]; !still {
				break
			}
		}
	}
}

// shutdown ends every stream and refuses new ones.
func (h *hub) shutdown() {
	h.once.Do(func() { close(h.done) })
}

// clients returns the number of open streams.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, cs := range h.clients {
		n += len(cs)
	}
	return n
}

// Clients returns the number of open event streams on this instance.
func (s *Service) Clients() int { return s.hub.count() }

// Shutdown ends every open event stream (http.Server.Shutdown waits for
// handlers, and an event stream never ends by itself); register it with
// http.Server.RegisterOnShutdown.
func (s *Service) Shutdown() { s.hub.shutdown() }

// Run keeps this instance's connected screens up to date until ctx is done:
// at once on change notices from any instance, and every Resync from the
// store (expiry, lost notices, cancellations whose notice was lost).
func (s *Service) Run(ctx context.Context) {
	sub, unsub, err := s.bus.Subscribe(ctx, Topic)
	if err != nil {
		s.log.Error("signage: bus subscribe; screens update every resync only", "err", err)
		sub = nil
	} else {
		defer unsub()
	}
	t := time.NewTicker(s.opt.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case data, ok := <-sub:
			if !ok {
				sub = nil
				continue
			}
			var n notice
			if err := json.Unmarshal(data, &n); err != nil {
				continue
			}
			for _, id := range n.Screens {
				s.refresh(ctx, id, n.Cleared)
			}
		case <-t.C:
			s.resync(ctx)
		}
	}
}

// refresh sends screen id's current state to its streams, after "cleared"
// events for the alerts named.
func (s *Service) refresh(ctx context.Context, id string, cleared []string) {
	scr, ok := s.reg.Screen(id)
	if !ok {
		return
	}
	if !s.hub.has(id) {
		return
	}
	st, err := s.store.GetScreen(ctx, id)
	if err != nil {
		s.log.Warn("signage refresh", "screen", id, "err", err)
		return
	}
	var extra [][]byte
	for _, a := range cleared {
		if !st.Has(a) {
			extra = append(extra, frame("cleared", map[string]string{"alert_id": a}))
		}
	}
	s.hub.send(id, s.stateFrame(scr, &st), extra...)
}

// has reports whether screen id has open streams.
func (h *hub) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients[id]) > 0
}

// resync re-reads every connected screen, first withdrawing alerts that
// were cancelled without this or another instance withdrawing them (a crash
// between the status change and its notice).
func (s *Service) resync(ctx context.Context) {
	ids := s.hub.screens()
	states := make(map[string]State, len(ids))
	check := map[string]time.Time{}
	for _, id := range ids {
		st, err := s.store.GetScreen(ctx, id)
		if err != nil {
			s.log.Warn("signage resync", "screen", id, "err", err)
			continue
		}
		states[id] = st
		for _, c := range st.Alerts {
			check[c.AlertID] = c.ExpiresAt
		}
	}
	withdrawn := map[string]bool{}
	for aid, exp := range check {
		a, err := s.alerts.GetAlert(ctx, aid)
		if err == nil && a.Status != alert.StatusCancelled {
			continue
		}
		if err != nil && !errors.Is(err, alert.ErrNotFound) {
			continue
		}
		if err := s.Clear(ctx, aid, exp); err != nil {
			s.log.Warn("signage resync withdraw", "alert", aid, "err", err)
			continue
		}
		withdrawn[aid] = true
	}
	for _, id := range ids {
		st, ok := states[id]
		if !ok {
			continue
		}
		if len(withdrawn) > 0 {
			// Clear has sent its own notice; this read would be stale.
			if slicesAny(st.Alerts, withdrawn) {
				continue
			}
		}
		if scr, ok := s.reg.Screen(id); ok {
			s.hub.send(id, s.stateFrame(scr, &st))
		}
	}
}

func slicesAny(cs []Content, ids map[string]bool) bool {
	for _, c := range cs {
		if ids[c.AlertID] {
			return true
		}
	}
	return false
}

// screenView is the screen's own description sent with its state.
type screenView struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Area             string   `json:"area"`
	Languages        []string `json:"languages"`
	RotateSeconds    float64  `json:"rotate_seconds"`
	HeartbeatSeconds float64  `json:"heartbeat_seconds"`
}

// stateView is the payload of the "state" event.
type stateView struct {
	Screen  screenView `json:"screen"`
	Version int64      `json:"version"`
	Alerts  []Content  `json:"alerts"`
}

func (s *Service) stateFrame(scr *Screen, st *State) []byte {
	return frame("state", stateView{
		Screen: screenView{
			ID: scr.ID, Name: scr.Name, Area: scr.Area, Languages: scr.Languages,
			RotateSeconds: s.opt.Rotate.Seconds(), HeartbeatSeconds: s.opt.Heartbeat.Seconds(),
		},
		Version: st.Version, Alerts: st.Active(s.now()),
	})
}

// frame encodes one Server-Sent Event. JSON has no raw newlines, so the
// data fits one "data:" line.
func frame(event string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte("{}")
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data)
}
