package sandbox

import (
	"strings"
	"sync"
	"time"
)

// lineShards is the number of delivery-map shards (a power of two).
const lineShards = 64

// lineKeep is how many delivering requests are kept per user for
// LastMessages.
const lineKeep = 4

// lineBatch is what one accepted request delivered; every recipient of the
// request points at the same lineBatch, so a 500-id multicast stores its
// text once.
type lineBatch struct {
	requestID string
	at        time.Time
	messages  []LINEMessage
}

// lineUser is the per-user record, stored by value in the shard map: a
// delivery count and a ring of the last requests (about 48 bytes a user
// plus the map key).
type lineUser struct {
	count uint32
	next  uint8
	last  [lineKeep]*lineBatch
}

// lineShard is one mutex-guarded part of the delivery map, padded so
// neighbouring shards' locks do not share a cache line.
type lineShard struct {
	mu    sync.Mutex
	users map[string]lineUser
	_     [40]byte
}

// lineStore records deliveries per user, sharded by a hash of the user id.
type lineStore struct {
	shards [lineShards]lineShard
}

// init allocates the shard maps.
func (s *lineStore) init() {
	for i := range s.shards {
		s.shards[i].users = make(map[string]lineUser)
	}
}

// shard picks the shard of id (FNV-1a, no allocation).
func (s *lineStore) shard(id string) *lineShard {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &s.shards[h&(lineShards-1)]
}

// record notes that b reached id. id may alias a request buffer: it is
// cloned only when the user is new.
func (s *lineStore) record(id string, b *lineBatch) {
	sh := s.shard(id)
	sh.mu.Lock()
	u, ok := sh.users[id]
	if !ok {
		id = strings.Clone(id)
	}
	u.count++
	u.last[u.next] = b
	u.next = (u.next + 1) % lineKeep
	sh.users[id] = u
	sh.mu.Unlock()
}

// delivered returns how many requests reached id.
func (s *lineStore) delivered(id string) int {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return int(sh.users[id].count)
}

// last returns the messages of the last lineKeep requests that reached id,
// oldest first.
func (s *lineStore) last(id string) []LINEMessage {
	sh := s.shard(id)
	sh.mu.Lock()
	u := sh.users[id]
	sh.mu.Unlock()
	var out []LINEMessage
	for i := range lineKeep {
		b := u.last[(int(u.next)+i)%lineKeep]
		if b == nil {
			continue
		}
		for _, m := range b.messages {
			m.RequestID, m.At = b.requestID, b.at
			m.QuickReplies = append([]LINEQuickReply(nil), m.QuickReplies...)
			out = append(out, m)
		}
	}
	return out
}

// users counts distinct users reached.
func (s *lineStore) users() int64 {
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += int64(len(sh.users))
		sh.mu.Unlock()
	}
	return n
}

// reset forgets every delivery.
func (s *lineStore) reset() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.users = make(map[string]lineUser)
		sh.mu.Unlock()
	}
}
