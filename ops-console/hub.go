// Package console is the staff side of anpi: the live WebSocket hub that
// feeds the ops console, signage and the public commuter page, the console
// API and the embedded web UI.
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/minato-city/anpi/httpapi"
)

// Hub defaults, used when the matching HubOptions field is zero.
const (
	// DefaultFlushInterval is the coalescing window of Publish.
	DefaultFlushInterval = 250 * time.Millisecond
	// DefaultClientQueue is the number of frames a client may lag behind
	// before it is dropped as a slow consumer.
	DefaultClientQueue = 64
	// DefaultWriteTimeout bounds every write to one connection.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultPingInterval is how often an idle connection is pinged.
	DefaultPingInterval = 25 * time.Second
)

// Frame types sent by the hub.
const (
	// FrameSnapshot is the first frame of every connection: the full state of
	// each allowed topic.
	FrameSnapshot = "snapshot"
	// FrameDelta carries the latest value of each key of one topic changed
	// since the previous flush.
	FrameDelta = "delta"
)

// Close codes and reasons the hub sends.
const (
	hubCloseSlow     = websocket.ClosePolicyViolation // 1008
	hubReasonSlow    = "slow consumer"
	hubCloseShutdown = websocket.CloseGoingAway // 1001
	hubReasonShut    = "server shutting down"
	hubCloseInternal = websocket.CloseInternalServerErr // 1011
	hubReasonSnap    = "snapshot unavailable"
	hubCloseGrace    = 2 * time.Second // wait for the peer's close reply
	hubReadLimit     = 4096            // clients send nothing but control frames
)

// Frame is one message from the hub to a client, as JSON:
//
//	{"type":"snapshot","seq":7,"data":{"alerts":{"a1":{...}},"safety":{}}}
//	{"type":"delta","topic":"alerts","seq":8,"data":{"a1":{...},"a2":null}}
//
// Seq is one global counter, increasing with every frame the hub encodes, so a
// client sees an increasing (not gap-free) sequence. In a delta, each key
// carries the full latest value; a null value means the key was removed.
// Frame is for decoding by Go clients (CLI, tests); the hub encodes frames
// itself.
type Frame struct {
	// Type is FrameSnapshot or FrameDelta.
	Type string `json:"type"`
	// Topic names the topic of a delta; empty in a snapshot.
	Topic string `json:"topic,omitempty"`
	// Seq is the global frame sequence number.
	Seq uint64 `json:"seq"`
	// Data is topic → (key → value) in a snapshot, key → value in a delta.
	Data json.RawMessage `json:"data"`
}

// HubOptions configures a Hub. Only Authorize is required.
type HubOptions struct {
	// Snapshot returns the current state of the given topics:
	// topic → (key → value), where each topic value is a map[string]any or
	// anything else that encodes as a JSON object. Topics missing from the
	// result are sent as empty objects; topics not asked for are dropped.
	// Nil means every snapshot is empty.
	Snapshot func(ctx context.Context, topics []string) (map[string]any, error)
	// Authorize decides which topics a connecting request may read. An error
	// refuses the connection before the upgrade: an *httpapi.Error chooses the
	// status (e.g. 403), any other error answers 401.
	Authorize func(r *http.Request) (topics []string, err error)
	// FlushInterval is the coalescing window (default 250ms).
	FlushInterval time.Duration
	// ClientQueue is how many frames a client may lag behind before it is
	// dropped (default 64).
	ClientQueue int
	// WriteTimeout bounds each write to a connection and the Snapshot call
	// (default 10s).
	WriteTimeout time.Duration
	// PingInterval is how often connections are pinged (default 25s); a peer
	// silent for PingInterval+WriteTimeout is dropped.
	PingInterval time.Duration
	// AllowedOrigins lists extra browser origins (scheme://host[:port]) allowed
	// besides the request's own host, e.g. the public URL behind a proxy.
	// Requests without an Origin header (CLI clients) are always allowed.
	AllowedOrigins []string
	// Logger receives connection and drop events (default slog.Default()).
	Logger *slog.Logger
}

// Hub fans topic updates out to WebSocket clients. Publish coalesces updates
// per (topic, key); Run flushes them every FlushInterval as one delta frame per
// topic, encoded once and queued to every subscribed client. Each client has a
// bounded queue; a client whose queue is full is disconnected (close 1008
// "slow consumer") and resyncs from a fresh snapshot when it reconnects.
//
// Hub is an http.Handler for the WebSocket endpoint (GET /console/ws).
type Hub struct {
	opts     HubOptions
	log      *slog.Logger
	upgrader websocket.Upgrader

	seq atomic.Uint64

	pendMu  sync.Mutex
	pending map[string]map[string]any // topic → key → latest value
	spare   map[string]map[string]any // recycled pending map

	mu      sync.RWMutex
	subs    map[string]map[*hubClient]struct{} // topic → clients
	clients map[*hubClient]struct{}
	closed  bool
	wg      sync.WaitGroup

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc

	nClients atomic.Int64
	nDropped atomic.Uint64
	nFrames  atomic.Uint64
}

// hubItem is one queued frame.
type hubItem struct {
	seq uint64
	msg *websocket.PreparedMessage
}

// hubClient is one connection. Frames reach it only through queue; its
// writer goroutine is the only one writing data frames to conn.
type hubClient struct {
	conn   *websocket.Conn // nil in in-process benchmarks
	topics []string
	queue  chan hubItem
	remote string

	once   sync.Once
	done   chan struct{} // closed by stop
	code   int           // close code to send; 0 = none (peer gone)
	reason string
}

// stop asks the client's writer to end, sending the given close frame (code 0:
// just close). The first call wins. Safe from any goroutine, never blocks.
func (c *hubClient) stop(code int, reason string) bool {
	first := false
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
		first = true
	})
	return first
}

// NewHub returns a hub configured by opts, with defaults filled in. Call Run
// to start flushing and Close to shut down.
func NewHub(opts HubOptions) *Hub {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.ClientQueue <= 0 {
		opts.ClientQueue = DefaultClientQueue
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Hub{
		opts:    opts,
		log:     opts.Logger.With("component", "console-hub"),
		pending: make(map[string]map[string]any),
		subs:    make(map[string]map[*hubClient]struct{}),
		clients: make(map[*hubClient]struct{}),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: opts.WriteTimeout,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      h.hubCheckOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			code := "bad_request"
			if status == http.StatusForbidden {
				code = "forbidden"
			}
			httpapi.WriteError(w, httpapi.Errorf(status, code, "websocket: %s", reason.Error()))
		},
	}
	return h
}

// HubStats is a point-in-time view of the hub's counters, for metrics (e.g.
// prometheus.NewGaugeFunc / NewCounterFunc over Stats).
type HubStats struct {
	// Connections is the number of clients connected now.
	Connections int
	// SlowDropped counts clients disconnected because their queue was full.
	SlowDropped uint64
	// Frames counts frames encoded (snapshots and deltas), not frames sent.
	Frames uint64
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats {
	return HubStats{
		Connections: int(h.nClients.Load()),
		SlowDropped: h.nDropped.Load(),
		Frames:      h.nFrames.Load(),
	}
}

// hubCheckOrigin allows clients without an Origin header (CLI), same-origin
// browsers and the configured extra origins; it refuses every other origin.
func (h *Hub) hubCheckOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range h.opts.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// Publish records the latest value of key in topic; the next flush sends it
// to every client subscribed to topic. Values published for the same key
// within one window are coalesced: only the last is sent. A nil v tells
// clients to remove the key. v is encoded at flush time, so the caller must not
// modify it after publishing (publish a copy or an immutable value).
// Publish never blocks on clients and is safe for concurrent use. An empty
// topic or key is ignored.
func (h *Hub) Publish(topic, key string, v any) {
	if topic == "" || key == "" {
		return
	}
	h.pendMu.Lock()
	m := h.pending[topic]
	if m == nil {
		m = make(map[string]any)
		h.pending[topic] = m
	}
	m[key] = v
	h.pendMu.Unlock()
}

// Run flushes published updates every FlushInterval until ctx is done.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.hubFlush()
		}
	}
}

// Clients returns the number of connected clients.
func (h *Hub) Clients() int {
	return int(h.nClients.Load())
}

// hubFlush sends one delta frame per topic with changes to the subscribers of
// that topic. The frame is encoded once. Sequence numbers are taken while the
// subscriber set is read-locked, so a client registered after a frame's
// sequence number was taken gets a snapshot with a higher sequence number.
func (h *Hub) hubFlush() {
	h.pendMu.Lock()
	if len(h.pending) == 0 {
		h.pendMu.Unlock()
		return
	}
	batch := h.pending
	if h.spare != nil {
		h.pending, h.spare = h.spare, nil
	} else {
		h.pending = make(map[string]map[string]any, len(batch))
	}
	h.pendMu.Unlock()

	var slow []*hubClient
	h.mu.RLock()
	for topic, values := range batch {
		subs := h.subs[topic]
		if len(subs) == 0 {
			continue
		}
		seq := h.seq.Add(1)
		msg, err := h.hubEncodeDelta(topic, seq, values)
		if err != nil {
			h.log.Error("hub delta not encoded", "topic", topic, "err", err)
			continue
		}
		h.nFrames.Add(1)
		it := hubItem{seq: seq, msg: msg}
		for c := range subs {
			select {
			case c.queue <- it:
			default:
				slow = append(slow, c)
			}
		}
	}
	h.mu.RUnlock()

	for _, c := range slow {
		if c.stop(hubCloseSlow, hubReasonSlow) {
			if c.conn != nil {
				// Abort a write blocked on the peer; the writer then
				// closes the connection without waiting out WriteTimeout.
				_ = c.conn.NetConn().SetWriteDeadline(time.Now())
			}
			h.nDropped.Add(1)
			h.log.Warn("hub dropped slow client", "remote", c.remote, "queue", cap(c.queue))
		}
	}

	clear(batch)
	h.pendMu.Lock()
	if h.spare == nil {
		h.spare = batch
	}
	h.pendMu.Unlock()
}

// hubEncodeDelta encodes a delta frame with keys in sorted order. A value that
// does not encode is logged and left out; the other keys still go.
func (h *Hub) hubEncodeDelta(topic string, seq uint64, values map[string]any) (*websocket.PreparedMessage, error) {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var b bytes.Buffer
	b.Grow(64 + 64*len(keys))
	b.WriteString(`{"type":"delta","topic":`)
	hubWriteJSONString(&b, topic)
	fmt.Fprintf(&b, `,"seq":%d,"data":{`, seq)
	first := true
	for _, k := range keys {
		v, err := json.Marshal(values[k])
		if err != nil {
			h.log.Error("hub value not encoded", "topic", topic, "key", k, "err", err)
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		hubWriteJSONString(&b, k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteString("}}")
	msg, err := websocket.NewPreparedMessage(websocket.TextMessage, b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("prepared message: %w", err)
	}
	return msg, nil
}

func hubWriteJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always encodes
	b.Write(q)
}

// hubTopics drops empty names and duplicates.
func hubTopics(in []string) []string {
	out := make([]string, 0, len(in))
	for _, t := range in {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// ServeHTTP authorizes the request, upgrades it to a WebSocket, sends a
// snapshot of the allowed topics and then their deltas until the client
// leaves, is dropped as slow, or the hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Authorize == nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "no authorization configured"))
		return
	}
	topics, err := h.opts.Authorize(r)
	if err != nil {
		var ae *httpapi.Error
		if !errors.As(err, &ae) {
			ae = httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "authentication required")
		}
		httpapi.WriteError(w, ae)
		return
	}
	topics = hubTopics(topics)

	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	if closed {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "unavailable", "server shutting down"))
		return
	}

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the request.
		h.log.Debug("hub upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := &hubClient{
		conn:   conn,
		topics: topics,
		queue:  make(chan hubItem, h.opts.ClientQueue),
		remote: r.RemoteAddr,
		done:   make(chan struct{}),
	}
	if !h.hubRegister(c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(hubCloseShutdown, hubReasonShut), time.Now().Add(h.opts.WriteTimeout))
		_ = conn.Close()
		return
	}
	h.log.Debug("hub client connected", "remote", c.remote, "topics", topics)
	h.hubServe(c)
}

// hubRegister adds c to the subscriber sets; false once the hub is closed.
func (h *Hub) hubRegister(c *hubClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	for _, t := range c.topics {
		s := h.subs[t]
		if s == nil {
			s = make(map[*hubClient]struct{})
			h.subs[t] = s
		}
		s[c] = struct{}{}
	}
	h.wg.Add(1)
	h.nClients.Add(1)
	return true
}

func (h *Hub) hubUnregister(c *hubClient) {
	h.mu.Lock()
	delete(h.clients, c)
	for _, t := range c.topics {
		if s := h.subs[t]; s != nil {
			delete(s, c)
			if len(s) == 0 {
				delete(h.subs, t)
			}
		}
	}
	h.mu.Unlock()
	h.nClients.Add(-1)
	h.wg.Done()
}

// hubServe runs the writer of c on the calling goroutine and its reader on
// another; it returns when both are done and the connection is closed.
func (h *Hub) hubServe(c *hubClient) {
	defer h.hubUnregister(c)
	conn := c.conn
	readerDone := make(chan struct{})
	go h.hubRead(c, readerDone)

	err := h.hubWrite(c)
	c.stop(0, "") // no-op when already stopped with a close code
	if err != nil && !errors.Is(err, hubErrStopped) {
		// A failed or aborted write leaves the stream unusable: no close frame.
		h.log.Debug("hub client write ended", "remote", c.remote, "err", err)
	} else if c.code != 0 {
		deadline := time.Now().Add(min(hubCloseGrace, h.opts.WriteTimeout))
		if err := conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(c.code, c.reason), deadline); err == nil {
			// Give the peer a moment to answer the close frame.
			_ = conn.SetReadDeadline(time.Now().Add(min(hubCloseGrace, h.opts.WriteTimeout)))
			<-readerDone
		}
	}
	_ = conn.Close()
	<-readerDone
}

// hubErrStopped marks a writer that ended because its client was stopped.
var hubErrStopped = errors.New("client stopped")

// hubWrite sends the snapshot, then queued deltas newer than it, and pings,
// until c is stopped or a write fails.
func (h *Hub) hubWrite(c *hubClient) error {
	conn := c.conn
	snapSeq := h.seq.Add(1)
	snap, err := h.hubEncodeSnapshot(c.topics, snapSeq)
	if err != nil {
		h.log.Error("hub snapshot failed", "remote", c.remote, "err", err)
		c.stop(hubCloseInternal, hubReasonSnap)
		return hubErrStopped
	}
	h.nFrames.Add(1)
	_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, snap); err != nil {
		return fmt.Errorf("snapshot write: %w", err)
	}

	ping := time.NewTicker(h.opts.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return hubErrStopped
		default:
		}
		select {
		case <-c.done:
			return hubErrStopped
		case it := <-c.queue:
			if it.seq < snapSeq {
				// Encoded before the snapshot was taken: already in it.
				continue
			}
			_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			if err := conn.WritePreparedMessage(it.msg); err != nil {
				return fmt.Errorf("delta write: %w", err)
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opts.WriteTimeout)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// hubEncodeSnapshot builds the snapshot frame for topics.
func (h *Hub) hubEncodeSnapshot(topics []string, seq uint64) ([]byte, error) {
	state := map[string]any{}
	if h.opts.Snapshot != nil {
		ctx, cancel := context.WithTimeout(h.ctx, h.opts.WriteTimeout)
		defer cancel()
		got, err := h.opts.Snapshot(ctx, topics)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		for _, t := range topics {
			if v, ok := got[t]; ok && v != nil {
				state[t] = v
			}
		}
	}
	for _, t := range topics {
		if _, ok := state[t]; !ok {
			state[t] = struct{}{}
		}
	}
	b, err := json.Marshal(struct {
		Type string         `json:"type"`
		Seq  uint64         `json:"seq"`
		Data map[string]any `json:"data"`
	}{FrameSnapshot, seq, state})
	if err != nil {
		return nil, fmt.Errorf("snapshot encode: %w", err)
	}
	return b, nil
}

// hubRead discards client messages, answers pings (default handler), keeps
// the read deadline fresh on pongs, and stops c when the peer goes away.
func (h *Hub) hubRead(c *hubClient, done chan<- struct{}) {
	defer close(done)
	conn := c.conn
	wait := h.opts.PingInterval + h.opts.WriteTimeout
	conn.SetReadLimit(hubReadLimit)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	conn.SetPongHandler(func(string) error {
		select {
		case <-c.done: // closing: keep the grace deadline
		default:
			_ = conn.SetReadDeadline(time.Now().Add(wait))
		}
		return nil
	})
	for {
		if _, _, err := conn.NextReader(); err != nil {
			c.stop(0, "")
			return
		}
	}
}

// Close tells every client the server is shutting down (close 1001), refuses
// new connections, stops Run, and waits until every connection has ended or
// ctx is done; then it closes the remaining connections at once and returns
// the context's error.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	clients := make([]*hubClient, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	h.cancel()
	for _, c := range clients {
		c.stop(hubCloseShutdown, hubReasonShut)
	}

	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range clients {
			if c.conn != nil {
				_ = c.conn.Close()
			}
		}
		return fmt.Errorf("hub close: %w", ctx.Err())
	}
}
