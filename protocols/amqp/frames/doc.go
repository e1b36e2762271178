// Package frames implements the AMQP 1.0 frame layer (OASIS AMQP 1.0 Part 2
// §2.2–§2.3 and Part 5 §5.3.1) and the composite types that travel in
// frames: the performatives (§2.7), their definitions (§2.8), delivery
// states and termini (§3.4, §3.5), SASL frame bodies (§5.3.3) and the
// transaction types (§4.5).
//
// The composite types are generated from the specification's XML by
// protocols/amqp/internal/amqpgen (see composites_gen.go). Each has
// Marshal(dst) to append its encoding, Unmarshal(b) and DecodeFrom(d) to
// decode it, and Descriptor(). Absent fields follow one rule: a field whose
// default is the Go zero value (false, 0, "first", "none") is a plain value;
// a string, symbol, binary, map, array, timestamp, pointer or interface
// field is absent when it is the zero value; any other field that may be
// absent is an encoding.Optional, with an XxxOrDefault method when the
// specification gives a default.
//
// The frame layer reads protocol headers and frames from an io.Reader with a
// bounded buffer (Reader), and appends them to a byte slice (AppendFrame,
// AppendProtocolHeader). ParseBody splits an AMQP frame body into its
// performative and payload.
package frames

//go:generate go run ../internal/amqpgen -pkg frames -out composites_gen.go -include transport,security,transactions,messaging:delivery-state,messaging:addressing
