// Package redis is the storage engine for many processes: store.Backend and
// store.Bus on Redis (go-redis/v9), all keys under one prefix.
//
// Key layout under the prefix (hash tags keep a collection's keys in one
// cluster slot, so MULTI and scripts work on Redis Cluster too):
//
//	{c:<coll>}:h       HASH key -> value            (Put, Get, Update)
//	{c:<coll>}:z       ZSET key, score 0            (key order for Scan, Count)
//	p:<len>:<coll>:<key>  STRING                     (PutIfAbsent markers, own TTL)
//	n:<len>:<coll>:<key>  HASH field -> int          (counters)
//	q:{<queue>}        STREAM, consumer group "anpi" (queues)
//	bus:<topic>        pub/sub channel              (Bus)
//
// PutIfAbsent markers live in their own namespace: they are not visible to
// Get, Scan or Count, and Put does not create them. This matches store/bolt.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// Backend is a store.Backend on Redis. All methods are safe for concurrent use.
type Backend struct {
	c          goredis.UniversalClient
	prefix     string
	ownsClient bool
	groups     sync.Map // stream key -> struct{}: consumer group exists

	// Enqueue calls are group-committed by one flusher goroutine (queue.go),
	// started by the first Enqueue and stopped by Close.
	enq       chan *enqueueReq
	enqStart  sync.Once
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns a Backend using c with all keys under prefix (e.g. "anpi:").
// The caller keeps ownership of c: Close does not close it.
func New(c goredis.UniversalClient, prefix string) *Backend {
	return &Backend{c: c, prefix: prefix, enq: make(chan *enqueueReq), closing: make(chan struct{})}
}

// Open connects to the Redis at url (redis:// or rediss://), checks it with
// PING and returns a Backend with keys under prefix. Close closes the client.
// Errors never contain the URL's password.
func Open(ctx context.Context, url, prefix string) (*Backend, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis open: %w", redact(err, url))
	}
	c := goredis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis open: %w", redact(err, url))
	}
	b := New(c, prefix)
	b.ownsClient = true
	return b, nil
}

// redact returns err with the password of rawURL (plain and unescaped)
// removed from its text. The error chain is dropped when text had to change.
func redact(err error, rawURL string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error quotes the whole URL; keep only the reason.
		err = fmt.Errorf("invalid URL: %w", ue.Err)
	}
	msg := err.Error()
	changed := false
	for _, pw := range passwords(rawURL) {
		if pw != "" && strings.Contains(msg, pw) {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			changed = true
		}
	}
	if changed {
		return errors.New(msg)
	}
	return err
}

// passwords returns the password part of a URL's userinfo, as written and
// unescaped, found without a full parse (the URL may be malformed).
func passwords(rawURL string) []string {
	rest := rawURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	userinfo := rest[:at]
	colon := strings.Index(userinfo, ":")
	if colon < 0 {
		// redis://secret@host: go-redis treats a lone user as the password.
		return []string{userinfo, unescape(userinfo)}
	}
	pw := userinfo[colon+1:]
	return []string{pw, unescape(pw)}
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// Ping checks that Redis answers.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close stops the enqueue flusher (Enqueue then fails with ErrClosed) and
// closes the client if Open created it.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() { close(b.closing) })
	if !b.ownsClient {
		return nil
	}
	if err := b.c.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis close: %w", err)
	}
	return nil
}

func (b *Backend) hashKey(coll string) string { return b.prefix + "{c:" + coll + "}:h" }
func (b *Backend) zsetKey(coll string) string { return b.prefix + "{c:" + coll + "}:z" }
func (b *Backend) markerKey(coll, key string) string {
	return b.prefix + "p:" + strconv.Itoa(len(coll)) + ":" + coll + ":" + key
}
func (b *Backend) counterKey(coll, key string) string {
	return b.prefix + "n:" + strconv.Itoa(len(coll)) + ":" + coll + ":" + key
}
func (b *Backend) streamKey(queue string) string { return b.prefix + "q:{" + queue + "}" }
