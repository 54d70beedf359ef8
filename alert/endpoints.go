package alert

import (
	"context"
	"fmt"
)

// Endpoint is a recipient that is not a person, such as a signage screen.
type Endpoint struct {
	// ID identifies the endpoint; its ledger entry is "screen:"+ID style,
	// chosen by the Endpoints implementation.
	ID string
	// Address is what the channel's Sender delivers to.
	Address string
	// Language is the language of the text composed for the endpoint.
	Language string
}

// Endpoints lists the non-person recipients of a channel.
type Endpoints interface {
	// Endpoints returns the endpoints reached by target t, in a stable order.
	Endpoints(ctx context.Context, t Target) ([]Endpoint, error)
}

// SetEndpoints makes channel reach the endpoints e lists (in addition to any
// people with an address on it). Call it before Run.
func (d *Dispatcher) SetEndpoints(channel string, e Endpoints) {
	d.endpoints[channel] = e
}

// addEndpoints plans the endpoints of every channel of p's alert that has
// an Endpoints source.
func (d *Dispatcher) addEndpoints(ctx context.Context, p *planner) error {
	for _, ch := range p.a.Channels {
		src := d.endpoints[ch]
		if src == nil {
			continue
		}
		eps, err := src.Endpoints(ctx, p.a.Target)
		if err != nil {
			return fmt.Errorf("plan %s endpoints: %w", ch, err)
		}
		for _, e := range eps {
			if err := p.addRecipient(ctx, ch, e.Language, Recipient{ResidentID: e.ID, Address: e.Address}); err != nil {
				return err
			}
		}
	}
	return nil
}
