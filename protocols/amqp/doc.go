// Package amqp is Rosetta's AMQP 1.0 front-end (DESIGN.md §1, §3, §5): it
// speaks AMQP 1.0 (OASIS AMQP 1.0, Parts 2, 3 and 5) over TCP, TLS and
// WebSocket, maps messages to canonical ones and back (docs/mapping.md,
// AMQP section), and hands them to the core exchange.
//
// The API follows net/http: New, Serve, ServeTLS, ServeHTTP (WebSocket at
// /amqp, subprotocol "amqp"), Stats and Shutdown, after which Serve returns
// ErrServerClosed.
//
// # Layers
//
// The codec lives in the sub-packages, standard library only, written from
// the specification: encoding (Part 1 types), frames (protocol headers, a
// bounded frame reader, performatives and SASL frames) and message (the
// message sections, with the bare message's bytes kept for forwarding).
// This package adds, per connection:
//
//   - conn owns the socket. Its read goroutine negotiates the protocol
//     layers (§2.2: SASL, then AMQP; a header we do not accept is answered
//     with ours and the socket closed), runs SASL (§5.3: PLAIN, ANONYMOUS,
//     and EXTERNAL on a TLS connection with a verified client certificate)
//     through auth.Service, exchanges open (§2.4.1: max-frame-size,
//     channel-max, idle-time-out) and then decodes frames and runs the
//     state machines. Its write goroutine drains a bounded outbound queue,
//     coalescing frames into one write per batch, with a write deadline: a
//     peer that does not read within WriteTimeout is closed as a slow
//     consumer. It sends empty frames at half the peer's idle timeout; a
//     peer silent for IdleTimeout is closed with
//     amqp:resource-limit-exceeded (§2.4.5). Only conn closes the socket.
//   - a session (session.go, §2.5) maps a pair of channels, holds its
//     links by handle, and does session flow control (§2.5.6): our
//     incoming window is refilled as transfers arrive, and our transfers
//     stop when the peer's window is used up, in the middle of a message
//     if need be, until its flow opens it.
//   - a link (link.go, §2.6) is attached from the peer's source or target
//     (addresses: address.go). A link on which the peer sends
//     (receiver.go) grants Config.LinkCredit, assembles multi-frame and
//     aborted deliveries, publishes each message and batches the
//     dispositions, accepted only after exchange.Publish returned. A link
//     on which the peer receives (sender.go) is an exchange consumer whose
//     credit follows the link credit (§2.6.7), drain included; its
//     deliveries are encoded by the writer, split to the peer's
//     max-frame-size, and settled by the peer's dispositions.
//
// Every failure with a wire form is an *Error carrying its AMQP condition
// and the scope it ends: a connection error closes the connection, a
// session error ends the session (its input discarded until the peer's
// end, §2.5.4), a link error detaches the link; other sessions and links
// go on. Input never panics a connection (FuzzConnection).
//
// # Locks and goroutines
//
// Per connection: the read goroutine (owner of sessions, links and the
// incoming side) and the write goroutine (owner of next-outgoing-id,
// delivery ids and blocked transfers). Exchange handlers run on exchange
// goroutines and only append to the outbound queue. Lock order: a sending
// link's creditMu, then its mu, then conn.mu; a session's mu is taken
// alone. No lock but creditMu is held while calling the exchange, because
// the exchange calls handlers (which take the link's mu and conn.mu)
// synchronously. Shutdown closes every connection with
// amqp:connection:forced and waits for both goroutines of each.
//
// go-amqp (github.com/Azure/go-amqp) is used only as a test client.
package amqp
