package alert

import "time"

// Per-recipient delivery states kept in a Ledger.
const (
	RecipientPending     byte = 0
	RecipientSending     byte = 1
	RecipientSent        byte = 2
	RecipientFailed      byte = 3
	RecipientDelivered   byte = 4
	RecipientCancelled   byte = 5
	RecipientUndelivered byte = 6
)

// StateName names a per-recipient state for the API.
func StateName(s byte) string {
	switch s {
	case RecipientPending:
		return "queued"
	case RecipientSending:
		return "sending"
	case RecipientSent:
		return "sent"
	case RecipientFailed:
		return "failed"
	case RecipientDelivered:
		return "delivered"
	case RecipientCancelled:
		return "cancelled"
	case RecipientUndelivered:
		return "undelivered"
	}
	return "unknown"
}

// Batch ledger states.
const (
	LedgerPending   = "pending"
	LedgerSending   = "sending"
	LedgerDone      = "done"
	LedgerCancelled = "cancelled"
)

// Ledger records the delivery of one batch: the batch state with a lease
// (owner and since) so that one worker at a time works on it, and one state
// byte per recipient. Counts are derived from ledgers when an alert ends.
type Ledger struct {
	State    string    `json:"state"`
	Owner    string    `json:"owner,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at,omitzero"`
	// R holds one Recipient* state per recipient of the batch.
	R []byte `json:"r"`
	// P holds provider message ids per recipient (SMS, voice) or one id for
	// the whole batch (LINE).
	P []string `json:"p,omitempty"`
	// Reasons maps a recipient index to why it failed.
	Reasons map[int]string `json:"reasons,omitempty"`
	// LastError is the last provider error, free of secrets.
	LastError string `json:"last_error,omitempty"`
}

// Count keys per channel. Workers and the recount own sent, failed and
// cancelled (the recount replaces them with exact figures from the ledgers
// when an alert finishes); delivery receipts, which arrive at any time, also
// after that, only ever add to their own keys, so a receipt is never counted
// twice nor lost to a recount. A receipt moves a recipient that the ledger
// tallies as sent to delivered or undelivered.
const (
	countSent               = ".sent"
	countFailed             = ".failed"
	countCancelled          = ".cancelled"
	countReceiptDelivered   = ".receipt_delivered"
	countReceiptUndelivered = ".receipt_undelivered"
)

// tally adds the ledger's recipient states to counts under channel-prefixed
// keys. Every key the recount owns is present, zero or not, so that the
// recount resets counts the ledgers no longer support.
func (l *Ledger) tally(channel string, c map[string]int64) {
	var sent, failed, cancelled int64
	for _, s := range l.R {
		switch s {
		case RecipientSent, RecipientDelivered, RecipientUndelivered:
			sent++
		case RecipientFailed:
			failed++
		case RecipientCancelled:
			cancelled++
		}
	}
	c[channel+countSent] += sent
	c[channel+countFailed] += failed
	c[channel+countCancelled] += cancelled
}
