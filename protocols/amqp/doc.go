// Package amqp is Rosetta's AMQP 1.0 front-end (DESIGN.md §1, §3, §5):
// it speaks AMQP 1.0 (OASIS AMQP 1.0, Parts 2, 3 and 5) over TCP, TLS and
// WebSocket, maps messages to canonical ones and back (docs/mapping.md,
// AMQP section), and hands them to the core exchange.
package amqp
