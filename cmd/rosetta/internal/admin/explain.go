package admin

import (
	"context"
	"net/http"

	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Explained is what the explain endpoint answers: the plan the transform
// engine would run for a receiver, why each step was chosen, and the
// message the receiver would get (nil when it would get nothing).
type Explained struct {
	Route   string          `json:"route,omitempty"`  // the matching config route
	Accept  []string        `json:"accept,omitempty"` // the receiver's accept value, parsed, best first
	Source  string          `json:"source,omitempty"` // the format negotiation started from
	Chosen  string          `json:"chosen,omitempty"` // the accept entry satisfied
	Plan    string          `json:"plan,omitempty"`   // the plan's label in metrics
	Steps   []ExplainedStep `json:"steps"`
	Cached  bool            `json:"cached"`  // the engine's cache holds this result already
	Dropped bool            `json:"dropped"` // a step dropped the message for this receiver
	Error   string          `json:"error,omitempty"`
	// Result is the transformed message; with neither a route nor an
	// accept value it is the message itself.
	Result *message.Message `json:"-"`
}

// ExplainedStep is one step of an explained plan.
type ExplainedStep struct {
	Name string `json:"name"`
	Why  string `json:"why"`
}

// explainSpec is the request: a message as POST publish takes it, and the
// receiver to explain for.
type explainSpec struct {
	Message  publishSpec `json:"message"`
	Receiver struct {
		Protocol string `json:"protocol"` // mqtt, stomp or amqp
		Accept   string `json:"accept"`   // as the receiver would send it
		Queue    string `json:"queue"`    // for routes narrowed to one queue
	} `json:"receiver"`
}

type explainJSON struct {
	Explained
	Result *messageJSON `json:"result,omitempty"`
}

// explain answers POST /api/v1/explain (DESIGN §6): exactly what a
// receiver on a protocol asking for a format would get for a message,
// without publishing it.
func (h *Handler) explain(r *http.Request, id auth.Identity) (int, any, error) {
	if h.cfg.Explain == nil {
		return 0, nil, errorf(http.StatusNotImplemented, "no transform engine")
	}
	var spec explainSpec
	if err := decode(r, &spec); err != nil {
		return 0, nil, err
	}
	m, err := h.messageOf(spec.Message, r, id)
	if err != nil {
		return 0, nil, err
	}
	switch p := message.Protocol(spec.Receiver.Protocol); p {
	case message.ProtocolMQTT, message.ProtocolSTOMP, message.ProtocolAMQP:
	case "":
		return 0, nil, errorf(http.StatusBadRequest, "receiver.protocol is required (mqtt, stomp or amqp)")
	default:
		return 0, nil, errorf(http.StatusBadRequest, "receiver.protocol %q: want mqtt, stomp or amqp", p)
	}
	rcv := exchange.Receiver{Protocol: message.Protocol(spec.Receiver.Protocol), Accept: spec.Receiver.Accept, Queue: spec.Receiver.Queue}
	ex, err := h.cfg.Explain(r.Context(), m, rcv)
	if err != nil {
		// The receiver could not even subscribe (an unknown format).
		return 0, nil, errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	out := explainJSON{Explained: ex}
	if out.Steps == nil {
		out.Steps = []ExplainedStep{}
	}
	if ex.Result != nil {
		mj := toMessage(ex.Result, false)
		out.Result = &mj
	}
	return http.StatusOK, out, nil
}

// ExplainFunc is Config.Explain: it checks r as a subscribe would (an error
// means the subscribe would be refused) and explains what r gets for m.
type ExplainFunc func(ctx context.Context, m *message.Message, r exchange.Receiver) (Explained, error)
