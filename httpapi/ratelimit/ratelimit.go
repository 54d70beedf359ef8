// Package ratelimit limits requests per client on anpi's public endpoints: a
// token bucket (golang.org/x/time/rate) per client address, kept in a
// bounded table so that a flood of addresses cannot grow memory, and a
// distinct 429 error ({"error":{"code":"client_rate_limited"}}) with a
// Retry-After header.
//
// A client is its IP address; IPv6 clients are keyed by their /64 prefix,
// since one subscriber usually holds a whole /64 and could otherwise rotate
// addresses for a fresh bucket each time (as ntfy does). X-Forwarded-For is
// honoured only when the connection comes from a configured trusted proxy.
//
// The table is split into shards, each a least-recently-used list with a
// fixed capacity. A client idle long enough for its bucket to be full again
// is dropped first: forgetting it loses nothing, as a new bucket starts full
// too. When a shard is full of active clients, the least recently seen one
// is evicted, so an attacker with many addresses can at worst give the
// evicted clients a fresh burst; memory stays bounded either way.
package ratelimit

import (
	"container/list"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/minato-city/anpi/httpapi"
)

// Code is the error code of the 429 answered to a client over its limit.
const Code = "client_rate_limited"

// DefaultMaxClients is the number of clients tracked when Config.MaxClients
// is 0: about 10 MB of table at most.
const DefaultMaxClients = 65536

// shards is the number of independently locked parts of the table.
const shards = 16

// Config configures a Limiter.
type Config struct {
	// RPS is the sustained number of requests per second one client may
	// make. 0 disables limiting: Wrap returns the handler unchanged.
	RPS float64
	// Burst is the number of requests a client may make at once (at least
	// 1 when RPS > 0).
	Burst int
	// TrustedProxies are the addresses (IPs or CIDR prefixes) of reverse
	// proxies whose X-Forwarded-For header names the client. Empty: the
	// header is ignored and the connection's address is the client.
	TrustedProxies []string
	// MaxClients bounds the number of clients tracked (DefaultMaxClients
	// when 0).
	MaxClients int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Limiter is a per-client rate limiter. It is safe for concurrent use.
type Limiter struct {
	limit    rate.Limit
	burst    int
	refill   time.Duration // time for an empty bucket to fill up
	trusted  []netip.Prefix
	now      func() time.Time
	seed     maphash.Seed
	perShard int
	shards   [shards]shard
	limited  atomic.Uint64
	evicted  atomic.Uint64
}

type shard struct {
	mu      sync.Mutex
	clients map[string]*list.Element // of *client
	lru     list.List                // front = most recently seen
}

type client struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter for cfg, or an error naming the bad field.
func New(cfg Config) (*Limiter, error) {
	switch {
	case math.IsNaN(cfg.RPS) || math.IsInf(cfg.RPS, 0) || cfg.RPS < 0:
		return nil, errors.New("ratelimit: rps must be 0 (off) or more")
	case cfg.RPS > 0 && cfg.Burst < 1:
		return nil, errors.New("ratelimit: burst must be at least 1")
	case cfg.MaxClients < 0:
		return nil, errors.New("ratelimit: max_clients must not be negative")
	}
	trusted, err := ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{
		limit: rate.Limit(cfg.RPS), burst: cfg.Burst, trusted: trusted, now: cfg.Now,
		seed: maphash.MakeSeed(), perShard: max(1, (cfg.MaxClients+shards-1)/shards),
	}
	if cfg.RPS > 0 {
		l.refill = time.Duration(float64(cfg.Burst) / cfg.RPS * float64(time.Second))
	}
	for i := range l.shards {
		l.shards[i].clients = make(map[string]*list.Element)
	}
	return l, nil
}

// ParseProxies parses trusted proxy entries: IP addresses or CIDR prefixes.
func ParseProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: trusted proxy %q is not an IP address or CIDR prefix", e)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Enabled reports whether the limiter limits anything (RPS > 0).
func (l *Limiter) Enabled() bool { return l != nil && l.limit > 0 }

// Wrap returns h behind the limiter: a client over its limit gets a 429 with
// code "client_rate_limited" and a Retry-After header (whole seconds), and h
// is not called. A disabled (or nil) Limiter returns h itself.
func (l *Limiter) Wrap(h http.Handler) http.Handler {
	if !l.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := l.Allow(l.Client(r))
		if !ok {
			secs := max(1, int(math.Ceil(wait.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			httpapi.WriteError(w, &httpapi.Error{
				Status: http.StatusTooManyRequests, Code: Code,
				Message: fmt.Sprintf("too many requests from this client; retry in %d s", secs),
			})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Allow takes one token from the bucket of client key. When none is left it
// reports false and how long until one is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	s := &l.shards[maphash.String(l.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	var c *client
	if e, ok := s.clients[key]; ok {
		c = e.Value.(*client)
		s.lru.MoveToFront(e)
	} else {
		l.pruneLocked(s, now)
		c = &client{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
		s.clients[key] = s.lru.PushFront(c)
	}
	c.seen = now
	if c.lim.AllowN(now, 1) {
		return true, 0
	}
	l.limited.Add(1)
	missing := 1 - c.lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// pruneLocked makes room for one more client in s: it drops clients idle
// long enough for their bucket to be full (a few per call, oldest first),
// then, if s is still full, evicts the least recently seen.
func (l *Limiter) pruneLocked(s *shard, now time.Time) {
	for range 4 {
		e := s.lru.Back()
		if e == nil || now.Sub(e.Value.(*client).seen) < l.refill {
			break
		}
		s.lru.Remove(e)
		delete(s.clients, e.Value.(*client).key)
	}
	for s.lru.Len() >= l.perShard {
		e := s.lru.Back()
		s.lru.Remove(e)
		delete(s.clients, e.Value.(*client).key)
		l.evicted.Add(1)
	}
}

// Stats are counters of a Limiter.
type Stats struct {
	// Clients is the number of clients tracked now.
	Clients int
	// Limited counts the requests refused.
	Limited uint64
	// Evicted counts active clients dropped because the table was full.
	Evicted uint64
}

// Stats returns the limiter's counters.
func (l *Limiter) Stats() Stats {
	st := Stats{Limited: l.limited.Load(), Evicted: l.evicted.Load()}
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		st.Clients += len(s.clients)
		s.mu.Unlock()
	}
	return st
}

// Client returns the key of the client that sent r: its IP address (the
// /64 prefix for IPv6). When the connection comes from a trusted proxy, the
// client is the right-most X-Forwarded-For address that is not itself a
// trusted proxy (addresses further left are set by the client and could be
// forged).
func (l *Limiter) Client(r *http.Request) string {
	addr, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if len(l.trusted) > 0 && l.isTrusted(addr) {
		hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
		for i := len(hops) - 1; i >= max(0, len(hops)-maxHops); i-- {
			a, ok := parseHostAddr(hops[i])
			if !ok {
				break // a garbled hop: trust nothing further left
			}
			addr = a
			if !l.isTrusted(addr) {
				break
			}
		}
	}
	return key(addr)
}

func (l *Limiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// key is the bucket key of an address: IPv4 as is, IPv6 by its /64.
func key(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func parseHostAddr(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// maxHops bounds how many X-Forwarded-For hops are looked at.
const maxHops = 16

// forwardedFor splits X-Forwarded-For header values into hops, in order.
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return hops
}
