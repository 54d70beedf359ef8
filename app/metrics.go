package app

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	console "github.com/minato-city/anpi/ops-console"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	webhooks *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "anpi_http_request_duration_seconds", Help: "HTTP requests by route pattern and status class.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"route", "code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anpi_webhook_events_total", Help: "Webhook events by source and outcome.",
		}, []string{"source", "outcome"}),
	}
	reg.MustRegister(m.requests, m.webhooks)
	return m
}

func (m *metrics) hub(h *console.Hub) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "anpi_console_clients", Help: "Connected WebSocket clients.",
	}, func() float64 { return float64(h.Clients()) }))
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (WebSocket
// upgrades hijack it).
func (c *codeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (m *metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &codeWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(cw.code/100)+"xx").Observe(time.Since(start).Seconds())
	})
}

// Hijack lets the WebSocket upgrade take over the connection.
func (c *codeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := c.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	if c.code == 0 {
		c.code = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}
