package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/store"
)

// Queues are Redis Streams with one consumer group, group, per stream. Ids
// are stream ids ("1733030400000-0"). The payload is the field "d".
const (
	group     = "anpi"
	dataField = "d"
	// blockSlice bounds one blocking XREADGROUP so that a cancelled ctx ends
	// Claim soon even when the client does not watch contexts.
	blockSlice = 500 * time.Millisecond
)

// ensureGroup creates the stream and its consumer group (from the start of
// the stream, so nothing enqueued earlier is skipped) once per process.
func (b *Backend) ensureGroup(ctx context.Context, stream string, force bool) error {
	if _, ok := b.groups.Load(stream); ok && !force {
		return nil
	}
	err := b.c.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	b.groups.Store(stream, struct{}{})
	return nil
}

// isNoGroup reports a missing consumer group (before Redis 7 an error
// inside a script comes back wrapped, hence Contains).
func isNoGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }

// ErrClosed is returned by Enqueue on a closed Backend.
var ErrClosed = errors.New("redis: backend closed")

// maxEnqueueGroup caps how many waiting Enqueue calls share one flush.
const maxEnqueueGroup = 512

// enqueueReq is one Enqueue call waiting for the flusher.
type enqueueReq struct {
	stream string
	data   [][]byte
	done   chan error
}

// Enqueue appends messages with XADD, all of one call in one MULTI/EXEC.
//
// Concurrent calls are group-committed: they hand their messages to one
// flusher goroutine, which sends the messages of every call waiting at that
// moment in one MULTI/EXEC and answers each caller when Redis has answered. There is no
// batching window: the next flush starts as soon as the previous one is
// done, so a lone caller pays one round trip and no delay, while under load
// many webhook requests share one round trip and one write to Redis.
func (b *Backend) Enqueue(ctx context.Context, queue string, data ...[]byte) error {
	if queue == "" {
		return fmt.Errorf("redis enqueue: %w", errEmptyKey)
	}
	if len(data) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.enqStart.Do(func() { go b.flushLoop() })
	r := &enqueueReq{stream: b.streamKey(queue), data: data, done: make(chan error, 1)}
	select {
	case b.enq <- r:
	case <-b.closing:
		return fmt.Errorf("redis enqueue: %w", ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the write happens; wait for its outcome.
	if err := <-r.done; err != nil {
		return fmt.Errorf("redis enqueue: %w", err)
	}
	return nil
}

// flushLoop is the flusher goroutine.
func (b *Backend) flushLoop() {
	group := make([]*enqueueReq, 0, maxEnqueueGroup)
	for {
		select {
		case r := <-b.enq:
			group = append(group[:0], r)
		drain:
			for len(group) < maxEnqueueGroup {
				select {
				case r := <-b.enq:
					group = append(group, r)
				default:
					break drain
				}
			}
			b.flush(group)
		case <-b.closing:
			return
		}
	}
}

// flush sends the XADDs of a group in one MULTI/EXEC (go-redis splits it per
// slot on Redis Cluster) and answers each request with the first error among
// its own commands: Redis runs every queued command even when another fails,
// so a request fails alone, except when the whole transaction does.
func (b *Backend) flush(group []*enqueueReq) {
	ctx := context.Background()
	p := b.c.TxPipeline()
	cmds := make([][]*goredis.StringCmd, len(group))
	for i, r := range group {
		cmds[i] = make([]*goredis.StringCmd, len(r.data))
		for j, d := range r.data {
			cmds[i][j] = p.XAdd(ctx, &goredis.XAddArgs{Stream: r.stream, Values: []any{dataField, d}})
		}
	}
	// go-redis records a failure of the whole exchange on every command.
	_, _ = p.Exec(ctx)
	for i, r := range group {
		var err error
		for _, c := range cmds[i] {
			if err = c.Err(); err != nil {
				break
			}
		}
		r.done <- err
	}
}

// claimScript takes over messages pending for at least ARGV[4] ms
// (XAUTOCLAIM, with their delivery counts from XPENDING), then reads new ones
// (XREADGROUP without BLOCK, which scripts may not use) up to ARGV[3] in all:
// one round trip where the two commands and the counts took two or more.
// KEYS[1] is the stream; ARGV = group, consumer, limit, min idle (ms), data
// field. It returns id, data, deliveries for each message. When few pending
// messages are idle, XAUTOCLAIM walks the pending list in steps of the
// limit, inside the script; that list holds about one message per worker.
var claimScript = goredis.NewScript(`
local limit = tonumber(ARGV[3])
local out, n, start = {}, 0, '0-0'
local function data(fields)
  if fields then
    for i = 1, #fields, 2 do
      if fields[i] == ARGV[5] then return fields[i + 1] end
    end
  end
  return ''
end
while n < limit do
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], start, 'COUNT', limit - n)
  for _, e in ipairs(r[2]) do
    if e then -- Redis 6.2 lists entries deleted while pending as nil
      local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
      local d = 2
      if p[1] and p[1][4] and p[1][4] > 1 then d = p[1][4] end
      out[#out + 1] = e[1]
      out[#out + 1] = data(e[2])
      out[#out + 1] = d
      n = n + 1
    end
  end
  start = r[1]
  if start == '0-0' then break end
end
if n < limit then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', limit - n, 'STREAMS', KEYS[1], '>')
  if r and r[1] then
    for _, e in ipairs(r[1][2]) do
      out[#out + 1] = e[1]
      out[#out + 1] = data(e[2])
      out[#out + 1] = 1
    end
  end
end
return out
`)

// Claim reclaims idle pending messages and reads new ones in one script
// (claimScript); when there are none and block > 0 it waits for new ones
// with a blocking XREADGROUP.
func (b *Backend) Claim(ctx context.Context, queue, consumer string, limit int, minIdle, block time.Duration) ([]store.Message, error) {
	if queue == "" {
		return nil, fmt.Errorf("redis claim: %w", errEmptyKey)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("redis claim: max %d must be positive", limit)
	}
	stream := b.streamKey(queue)
	if err := b.ensureGroup(ctx, stream, false); err != nil {
		return nil, fmt.Errorf("redis claim: %w", err)
	}
	msgs, err := b.claimNow(ctx, stream, consumer, limit, minIdle)
	if isNoGroup(err) {
		if err = b.ensureGroup(ctx, stream, true); err == nil {
			msgs, err = b.claimNow(ctx, stream, consumer, limit, minIdle)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("redis claim: %w", err)
	}
	if len(msgs) > 0 || block <= 0 {
		return msgs, nil
	}
	deadline := time.Now().Add(block)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		wait := max(min(left, blockSlice), time.Millisecond)
		fresh, err := b.readNew(ctx, stream, consumer, limit, wait)
		if isNoGroup(err) {
			if err = b.ensureGroup(ctx, stream, true); err == nil {
				fresh, err = b.readNew(ctx, stream, consumer, limit, wait)
			}
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			return nil, fmt.Errorf("redis claim: %w", err)
		}
		if len(fresh) > 0 {
			return fresh, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// claimNow runs claimScript.
func (b *Backend) claimNow(ctx context.Context, stream, consumer string, limit int, minIdle time.Duration) ([]store.Message, error) {
	idle := minIdle.Milliseconds()
	if minIdle > 0 && idle == 0 {
		idle = 1 // 0 would take every pending message
	}
	res, err := claimScript.Run(ctx, b.c, []string{stream}, group, consumer, limit, idle, dataField).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, nil
	}
	out := make([]store.Message, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		id, _ := res[i].(string)
		data, _ := res[i+1].(string)
		d, _ := res[i+2].(int64)
		out = append(out, store.Message{ID: id, Data: []byte(data), Deliveries: int(d)})
	}
	return out, nil
}

// readNew reads never-delivered messages; wait < 0 does not block.
func (b *Backend) readNew(ctx context.Context, stream, consumer string, count int, wait time.Duration) ([]store.Message, error) {
	res, err := b.c.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{stream, ">"},
		Count: int64(count), Block: wait,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []store.Message
	for _, s := range res {
		for _, x := range s.Messages {
			out = append(out, toMessage(x, 1))
		}
	}
	return out, nil
}

func toMessage(x goredis.XMessage, deliveries int) store.Message {
	var data []byte
	switch v := x.Values[dataField].(type) {
	case string:
		data = []byte(v)
	case []byte:
		data = v
	}
	if data == nil {
		data = []byte{}
	}
	return store.Message{ID: x.ID, Data: data, Deliveries: deliveries}
}

// Ack acknowledges and deletes messages (XACK + XDEL in one MULTI/EXEC).
func (b *Backend) Ack(ctx context.Context, queue string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	stream := b.streamKey(queue)
	_, err := b.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.XAck(ctx, stream, group, ids...)
		p.XDel(ctx, stream, ids...)
		return nil
	})
	if err != nil && !isNoGroup(err) {
		return fmt.Errorf("redis ack: %w", err)
	}
	return nil
}

// QueueLen returns XLEN: acknowledged messages are deleted, so this counts
// the messages not yet acknowledged.
func (b *Backend) QueueLen(ctx context.Context, queue string) (int, error) {
	n, err := b.c.XLen(ctx, b.streamKey(queue)).Result()
	if err != nil {
		return 0, fmt.Errorf("redis queue len: %w", err)
	}
	return int(n), nil
}

// releaseScript moves the pending messages of the consumers named in
// ARGV[3...] to consumer ARGV[2] with an idle time of about the age of the
// Unix epoch (XCLAIM TIME 0), so that the next Claim of any live consumer
// takes them whatever its minIdle, then deletes those consumers (each has
// nothing pending by then, so no message is lost with it). KEYS[1] is the
// stream; ARGV[1] the group. It returns how many messages it moved.
var releaseScript = goredis.NewScript(`
local n = 0
for i = 3, #ARGV do
  while true do
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 100, ARGV[i])
    if #p == 0 then break end
    local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
    for _, e in ipairs(p) do args[#args + 1] = e[1] end
    args[#args + 1] = 'TIME'
    args[#args + 1] = 0
    args[#args + 1] = 'JUSTID'
    n = n + #redis.call(unpack(args)) -- deleted entries are dropped, not moved
  end
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[i])
end
return n
`)

// releasedConsumer owns released messages until a live consumer's Claim
// takes them (at once: they look idle since 1970).
const releasedConsumer = "released"

// Release implements store.Backend: it lists the group's consumers (XINFO
// CONSUMERS) and moves the pending messages of the dead ones with
// releaseScript.
func (b *Backend) Release(ctx context.Context, queue string, dead func(consumer string) bool) (int, error) {
	if queue == "" {
		return 0, fmt.Errorf("redis release: %w", errEmptyKey)
	}
	stream := b.streamKey(queue)
	cs, err := b.c.XInfoConsumers(ctx, stream, group).Result()
	if isNoGroup(err) || (err != nil && strings.Contains(err.Error(), "no such key")) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis release: %w", err)
	}
	args := []any{group, releasedConsumer}
	for _, c := range cs {
		if c.Name != releasedConsumer && dead(c.Name) {
			args = append(args, c.Name)
		}
	}
	if len(args) == 2 {
		return 0, nil
	}
	n, err := releaseScript.Run(ctx, b.c, []string{stream}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("redis release: %w", err)
	}
	return n, nil
}
