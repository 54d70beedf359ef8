package alert

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/minato-city/anpi/residents"
)

// Batch sizes per channel: LINE multicast takes at most 500 ids per request;
// SMS and voice batches group one-request-per-person work for the ledger.
var batchSize = map[string]int{ChannelLINE: 500, ChannelSMS: 100, ChannelVoice: 20}

// Audience lists the residents an alert may reach.
type Audience interface {
	// Each calls fn for every resident in a stable order.
	Each(ctx context.Context, fn func(residents.Resident) error) error
}

// ResumableAudience is an Audience that can also start after a resident id
// (in Each's order). With one, the dispatcher sends while it plans: a
// million-person alert starts going out within a second instead of after
// the whole audience is planned.
type ResumableAudience interface {
	Audience
	EachAfter(ctx context.Context, after string, fn func(residents.Resident) error) error
}

// PlanCursor records a planning checkpoint. Batches planned before it are
// stored and queued (some may be sending), so planning resumes from it after
// a crash and never plans those people again or rewrites those batches,
// even if the directory changed meanwhile.
//
// A checkpoint is written in three steps: (1) store the full batches and the
// open, partly filled ones; (2) record the cursor on the alert; (3) queue the
// full batches. A crash before (2) resumes from the previous cursor: the
// batches of (1) were not queued, so rewriting them is safe, and the open
// batches are cut back to their recorded length. A crash between (2) and (3)
// resumes from the new cursor and queues every full batch before it again
// (a batch queued twice is harmless: workers consult its ledger).
type PlanCursor struct {
	// After is the id of the last resident planned.
	After string `json:"after"`
	// Seq is the next batch number per channel; Planned the recipients per
	// channel; Audience the people reached so far.
	Seq      map[string]int `json:"seq"`
	Planned  map[string]int `json:"planned"`
	Audience int            `json:"audience"`
	// Open maps channel|language to the id of its open (stored, not queued)
	// batch, and OpenLen that batch id to its length at the checkpoint.
	Open    map[string]string `json:"open,omitempty"`
	OpenLen map[string]int    `json:"open_len,omitempty"`
}

// checkpointEvery is how many full batches are planned between
// checkpoints (and queued at once) when sending while planning.
var checkpointEvery = 64

// Linker makes the per-person reply link of a safety check.
type Linker interface {
	Link(checkID, residentID string) string
}

// Matches reports whether r is in the target.
func (t Target) Matches(r *residents.Resident) bool {
	if !t.All && !slices.Contains(t.Areas, r.Area) {
		return false
	}
	if len(t.Languages) > 0 && !slices.Contains(t.Languages, r.Language) {
		return false
	}
	if len(t.ResidentIDs) > 0 {
		if _, found := slices.BinarySearch(t.ResidentIDs, r.ID); !found {
			return false
		}
	}
	if len(t.Tags) > 0 {
		for _, tag := range t.Tags {
			if r.HasTag(tag) {
				return true
			}
		}
		return false
	}
	return true
}

// Address returns the address of r on channel, or "".
func Address(r *residents.Resident, channel string) string {
	switch channel {
	case ChannelLINE:
		return r.Contacts.LINEUserID
	case ChannelSMS:
		return r.Contacts.Phone
	case ChannelVoice:
		if r.Contacts.VoicePhone != "" {
			return r.Contacts.VoicePhone
		}
		return r.Contacts.Phone
	}
	return ""
}

// RetryKey derives the LINE retry key of a batch from the alert's salt, so
// that re-planning after a crash yields the same key for the same batch.
func RetryKey(salt, channel string, seq int) string {
	ns, err := uuid.Parse(salt)
	if err != nil {
		ns = uuid.NameSpaceOID
	}
	return uuid.NewSHA1(ns, fmt.Appendf(nil, "%s/%d", channel, seq)).String()
}

// BatchID returns the id of batch seq of channel in alert id.
func BatchID(alertID, channel string, seq int) string {
	return fmt.Sprintf("%s/%s/%07d", alertID, channel, seq)
}

type planner struct {
	a       *Alert
	store   Store
	linker  Linker
	pending []*Batch
	open    map[string]*Batch // by channel + "|" + language
	seq     map[string]int
	planned map[string]int
	prio    int
	// ready are the full batches staged since the last checkpoint (sending
	// while planning only).
	ready []string
}

func (p *planner) add(ctx context.Context, r *residents.Resident) (bool, error) {
	reached := false
	for _, ch := range p.a.Channels {
		addr := Address(r, ch)
		if addr == "" {
			continue
		}
		reached = true
		rc := Recipient{ResidentID: r.ID, Address: addr}
		if p.linker != nil && p.a.SafetyCheckID != "" && ch != ChannelLINE {
			rc.Link = p.linker.Link(p.a.SafetyCheckID, r.ID)
		}
		if err := p.addRecipient(ctx, ch, r.Language, rc); err != nil {
			return reached, err
		}
		if p.a.Mode == ModeFirstReachable {
			break
		}
	}
	return reached, nil
}

// addRecipient puts rc into the open batch of (ch, lang), staging the batch
// when it is full.
func (p *planner) addRecipient(ctx context.Context, ch, lang string, rc Recipient) error {
	key := ch + "|" + lang
	b := p.open[key]
	if b == nil {
		seq := p.seq[ch]
		p.seq[ch]++
		size := batchSize[ch]
		if size == 0 {
			size = 100
		}
		b = &Batch{
			ID: BatchID(p.a.ID, ch, seq), AlertID: p.a.ID, Channel: ch, Seq: seq, Language: lang,
			Text: Compose(p.a, lang, ch), QuickReplies: p.a.QuickReplies,
			RetryKey: RetryKey(p.a.Salt, ch, seq), Deadline: p.a.ExpiresAt, Drill: p.a.Drill, Priority: p.prio,
			Recipients: make([]Recipient, 0, size),
		}
		p.open[key] = b
	}
	b.Recipients = append(b.Recipients, rc)
	p.planned[ch]++
	size := batchSize[ch]
	if size == 0 {
		size = 100
	}
	if len(b.Recipients) >= size {
		delete(p.open, key)
		return p.stage(ctx, b)
	}
	return nil
}

func (p *planner) stage(ctx context.Context, b *Batch) error {
	p.pending = append(p.pending, b)
	p.ready = append(p.ready, b.ID)
	if len(p.pending) >= 64 {
		return p.flush(ctx)
	}
	return nil
}

func (p *planner) flush(ctx context.Context) error {
	if len(p.pending) == 0 {
		return nil
	}
	if err := p.store.PutBatches(ctx, p.pending); err != nil {
		return fmt.Errorf("plan batches: %w", err)
	}
	p.pending = p.pending[:0]
	return nil
}

// Priority returns the dispatch priority of a severity: extreme and severe
// alerts use the high lane.
func Priority(severity string) int {
	if severity == "extreme" || severity == "severe" {
		return 1
	}
	return 0
}

func lane(channel string, prio int) string {
	if prio > 0 {
		return "dispatch:" + channel + ":hi"
	}
	return "dispatch:" + channel + ":lo"
}
