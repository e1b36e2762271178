// Package stomp is Rosetta's STOMP 1.0, 1.1 and 1.2 front-end (DESIGN.md
// §1, §3, §5): it speaks STOMP over TCP, TLS and WebSocket, maps frames to
// canonical messages and back (docs/mapping.md, STOMP section), and hands
// them to the core exchange.
//
// # Layers
//
// The codec lives in protocols/stomp/frame (standard library only): a
// size-limited incremental Parser and an encoder that applies each
// version's escaping. This package adds, per connection:
//
//   - conn owns the socket. Its read goroutine feeds the parser and runs
//     the session; its write goroutine drains a bounded outbound queue,
//     coalescing frames into one write per batch, with a write deadline
//     (a client that does not read within WriteTimeout is closed as a slow
//     consumer). Only conn closes the socket.
//   - the session (session.go) is the state machine: awaiting CONNECT, then
//     open, then closing. It negotiates the version and heart-beats,
//     authenticates, authorizes every SEND (Publish on the address) and
//     SUBSCRIBE (Subscribe on the pattern), and turns every failure into an
//     ERROR frame followed by a close (ProtocolError).
//   - a subscription is an exchange consumer. Its Handler never blocks: it
//     appends to the outbound queue, which the consumer's credit bounds —
//     prefetch-count (default Config.Prefetch) unacknowledged messages in
//     the client modes, Config.AutoCredit written-but-not-yet-flushed ones
//     in ack:auto, where credit comes back as messages reach the socket.
//
// go-stomp (github.com/go-stomp/stomp/v3) is used only as a test client:
// its server packages lack what a broker needs (no STOMP 1.0, receipts
// before the message is handed on, a global processing goroutine, no
// shutdown), and its frame reader and writer are replaced for the reasons
// given in the frame package.
//
// # Destinations
//
//   - /topic/<address>: a private queue of the subscription, bound to the
//     pattern ("+" or "*" one level, "#" the rest); durable:true (with the
//     id), durable-subscription-name or activemq.subscriptionName make it a
//     durable named queue, stomp/durable/<client-id or login>/<name>, that
//     outlives the connection; UNSUBSCRIBE with durable:true removes it.
//   - /queue/<name> and its alias /amq/queue/<name>: the shared named queue
//     whose address is <name>; a SEND creates it if needed, so messages
//     wait for a consumer; consumers compete.
//   - /temp-queue/<name>: a reply queue private to the connection (address
//     $tmp/stomp/<session>/<name>, deleted at disconnect). A reply-to header
//     naming it is rewritten to /queue/$tmp/stomp/<session>/<name>, which
//     any client can send to; nobody else can subscribe to it.
//
// Message.ReplyTo holds the canonical reply-to (docs/mapping.md
// "Reply-to"): a reply-to of /topic/a/b is stored as "a/b" and /queue/x as
// "$queue/x", which an MQTT 5 responder publishes to as is. The header as
// written travels beside it and is what STOMP subscribers get back.
//
// A "/" or "%" inside an address level is written %2F or %25.
//
// # Acknowledgment
//
// ack:auto settles on hand-over (at most once). client acknowledges
// cumulatively, client-individual one message at a time, in both the 1.2
// form (ACK id = the MESSAGE ack header) and the 1.0/1.1 form (message-id
// plus subscription). NACK requeues the message with its delivery count
// raised (exchange Outcome Modified), so a message that keeps failing is
// dead-lettered after the queue's MaxDeliveries; NACK with requeue:false
// dead-letters it at once (Rejected). A redelivered MESSAGE carries
// redelivered:true. BEGIN/COMMIT/ABORT cover SEND, ACK and NACK; a
// transaction still open at disconnect is aborted.
//
// A RECEIPT for a SEND is written after exchange.Publish returns, which for
// a durable (persistent:true) message on a durable queue is after the store
// commit.
package stomp
