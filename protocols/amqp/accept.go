package amqp

import (
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// A receiver asks for a payload format (DESIGN §6) when it attaches, in
// either of two places:
//
//   - the link property "accept" (attach properties, §2.7.3), a string or
//     symbol;
//   - the source filter "rosetta:accept" (filter-set, §3.5.8): an entry
//     keyed rosetta:accept, or any entry whose descriptor is the symbol
//     rosetta:accept, holding a string (go-amqp:
//     amqp.NewLinkFilter("rosetta:accept", 0, "application/json")).
//
// The value goes to the transformer as written. A filter we apply is
// echoed in our attach's source (§3.5.3).
const (
	propAccept   encoding.Symbol = "accept"
	filterAccept encoding.Symbol = "rosetta:accept"
)

// isAcceptFilter reports whether a filter-set entry is the accept filter.
func isAcceptFilter(p encoding.Pair) bool {
	if k, ok := p.Key.(encoding.Symbol); ok && k == filterAccept {
		return true
	}
	d, ok := p.Value.(encoding.Described)
	return ok && d.Descriptor == filterAccept
}

// stringValue reads a string or symbol, described or not.
func stringValue(v any) (string, bool) {
	if d, ok := v.(encoding.Described); ok {
		v = d.Value
	}
	switch s := v.(type) {
	case string:
		return s, true
	case encoding.Symbol:
		return string(s), true
	}
	return "", false
}

// receiverFor reads the format a sending link's peer asks for and checks
// that the exchange's transformer can produce it. A malformed request or
// an unknown format refuses the attach with amqp:invalid-field: "an invalid
// field was passed in a frame body, and the operation could not proceed"
// (§2.8.15); the refusal itself is an attach without a source followed by
// a detach with the error (§2.6.3).
func (l *link) receiverFor(p *frames.Attach) (exchange.Receiver, *Error) {
	r := exchange.Receiver{Protocol: message.ProtocolAMQP}
	var fromProp, fromFilter string
	var hasProp, hasFilter bool
	if v, ok := p.Properties.Get(propAccept); ok {
		if fromProp, hasProp = stringValue(v); !hasProp {
			return r, linkErr(l.handle, frames.AMQPErrorInvalidField, "§2.7.3", "link property %s is %T, not a string", propAccept, v)
		}
	}
	if p.Source != nil {
		for _, e := range p.Source.Filter {
			if !isAcceptFilter(e) {
				continue
			}
			if fromFilter, hasFilter = stringValue(e.Value); !hasFilter {
				return r, linkErr(l.handle, frames.AMQPErrorInvalidField, "§3.5.8", "filter %s value is %T, not a string", filterAccept, e.Value)
			}
			break
		}
	}
	switch {
	case hasProp && hasFilter && fromProp != fromFilter:
		return r, linkErr(l.handle, frames.AMQPErrorInvalidField, "§3.5.8",
			"link property %s %q and filter %s %q disagree", propAccept, fromProp, filterAccept, fromFilter)
	case hasFilter:
		r.Accept = fromFilter
	default:
		r.Accept = fromProp
	}
	if err := l.s.c.srv.x.CheckReceiver(r); err != nil {
		return r, l.refuseFormat(r.Accept, err)
	}
	return r, nil
}

// refuseFormat is the error of an attach asking for a format nobody can
// produce (receiverFor).
func (l *link) refuseFormat(accept string, err error) *Error {
	l.s.c.log.Warn("attach refused: unknown format", "link", l.name, "accept", accept, "err", err)
	return linkErr(l.handle, frames.AMQPErrorInvalidField, "§2.6.3", "%w", err)
}
