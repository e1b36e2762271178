// Package message is the AMQP 1.0 message codec (OASIS AMQP 1.0 Part 3,
// §3.2): it converts between the sections of an annotated message and a
// Message struct.
//
// A decoded Message keeps the exact bytes of its bare message (properties,
// application-properties, body and nothing else, §3.2) in Message.Bare, and
// Marshal writes those bytes back verbatim, so a message forwarded from one
// AMQP peer to another is byte-identical even though its sections were also
// decoded for mapping. The header and properties section types are
// generated from the specification's XML by internal/amqpgen.
package message

//go:generate go run ../internal/amqpgen -pkg message -out sections_gen.go -include messaging:message-format
