// Package sandbox holds local simulators of the LINE Messaging API, the
// Twilio REST API and an OpenAI-compatible chat API. They behave like the
// real services (limits, error shapes, 409/429, signed callbacks) and power
// `make run`, demos, drills and tests: the real SDK clients talk to them over
// HTTP.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Config configures the three simulators served together.
type Config struct {
	LINE   LINEConfig
	Twilio TwilioConfig
	OpenAI OpenAIConfig
	// Faults are injected in front of the LINE and Twilio simulators.
	Faults FaultConfig
	Logger *slog.Logger
}

// Server serves the LINE, Twilio and OpenAI simulators on one loopback
// listener: LINE under /v2/bot/, Twilio under /2010-04-01/, OpenAI under /v1/.
type Server struct {
	LINE   *LINE
	Twilio *Twilio
	OpenAI *OpenAI
	// URL is the base URL of the listener, e.g. http://127.0.0.1:43121.
	URL string

	srv    *http.Server
	ln     net.Listener
	faults *faults
}

// Start listens on 127.0.0.1 (a free port) and serves the simulators.
func Start(cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Server{
		LINE: NewLINE(cfg.LINE), Twilio: NewTwilio(cfg.Twilio), OpenAI: NewOpenAI(cfg.OpenAI),
		URL: "http://" + ln.Addr().String(), ln: ln,
	}
	mux := http.NewServeMux()
	var line, twilio http.Handler = s.LINE, s.Twilio
	if f := newFaults(cfg.Faults); f.active() {
		s.faults = f
		line, twilio = f.wrap(line), f.wrap(twilio)
	}
	mux.Handle("/v2/bot/", line)
	mux.Handle("/2010-04-01/", twilio)
	mux.Handle("/v1/", s.OpenAI)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && cfg.Logger != nil {
			cfg.Logger.Error("sandbox server", "err", err)
		}
	}()
	return s, nil
}

// Close stops the listener and the Twilio callbacks.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.Twilio.Close()
	return err
}
