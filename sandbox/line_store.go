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

// lineUser is the per-user record: a delivery count and a ring of the last
// requests (about 48 bytes a user).
type lineUser struct {
	count uint32
	next  uint8
	last  [lineKeep]*lineBatch
}

// lineUID is a LINE user id ("U" and 32 lowercase hex digits) as 16 bytes:
// a map keyed by it hashes 16 bytes instead of a 33-byte string and needs no
// copy of the id: recording a delivery to a new user went from 773–801 to
// 639–651 ns and from one allocation to none (BenchmarkLINEStoreRecord,
// 10^6 users, this 2-core box).
type lineUID [16]byte

// parseUID converts a well-formed user id; ok is false for any other string.
func parseUID(id string) (u lineUID, ok bool) {
	if len(id) != 33 || id[0] != 'U' {
		return u, false
	}
	for i := range u {
		hi, ok1 := unhex(id[1+2*i])
		lo, ok2 := unhex(id[2+2*i])
		if !ok1 || !ok2 {
			return u, false
		}
		u[i] = hi<<4 | lo
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// lineShard is one mutex-guarded part of the delivery map: indexes into a
// slab of users, by parsed id, or by string for ids of another form (the
// simulator accepts any non-empty id, as tests send some). Padded so
// neighbouring shards' locks do not share a cache line.
type lineShard struct {
	mu    sync.Mutex
	byUID map[lineUID]uint32
	byStr map[string]uint32
	users []lineUser
	_     [16]byte // to 64 bytes
}

// lineStore records deliveries per user, sharded by a hash of the user id.
type lineStore struct {
	shards [lineShards]lineShard
}

// init allocates the shard maps.
func (s *lineStore) init() {
	for i := range s.shards {
		s.shards[i].reset()
	}
}

// reset empties the shard; the caller holds mu or owns the shard.
func (sh *lineShard) reset() {
	sh.byUID = make(map[lineUID]uint32)
	sh.byStr = make(map[string]uint32)
	sh.users = nil
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

// find returns the user's record, adding it when add is set (nil when it
// is not there and add is not set). The caller holds sh.mu.
func (sh *lineShard) find(id string, add bool) *lineUser {
	uid, parsed := parseUID(id)
	var i uint32
	var ok bool
	if parsed {
		i, ok = sh.byUID[uid]
	} else {
		i, ok = sh.byStr[id]
	}
	if !ok {
		if !add {
			return nil
		}
		i = uint32(len(sh.users))
		sh.users = append(sh.users, lineUser{})
		if parsed {
			sh.byUID[uid] = i
		} else {
			sh.byStr[strings.Clone(id)] = i
		}
	}
	return &sh.users[i]
}

// record notes that b reached id. id may alias a request buffer: it is
// copied only when it has to be kept as a string.
func (s *lineStore) record(id string, b *lineBatch) {
	sh := s.shard(id)
	sh.mu.Lock()
	u := sh.find(id, true)
	u.count++
	u.last[u.next] = b
	u.next = (u.next + 1) % lineKeep
	sh.mu.Unlock()
}

// delivered returns how many requests reached id.
func (s *lineStore) delivered(id string) int {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if u := sh.find(id, false); u != nil {
		return int(u.count)
	}
	return 0
}

// last returns the messages of the last lineKeep requests that reached id,
// oldest first.
func (s *lineStore) last(id string) []LINEMessage {
	sh := s.shard(id)
	sh.mu.Lock()
	var u lineUser
	if p := sh.find(id, false); p != nil {
		u = *p
	}
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
		sh.reset()
		sh.mu.Unlock()
	}
}
