// Package mqtt is Rosetta's MQTT 3.1.1 and 5 front-end, built on an
// embedded mochi-mqtt server.
//
// mochi speaks the wire protocol: it parses and validates packets, runs
// CONNECT/CONNACK, keep-alive, session takeover, inbound QoS 2 and topic
// aliases, and $SYS. A single gateway hook connects it to the core
// (docs/adr/0001-mqtt-routing-in-core.md):
//
//   - clients authenticate and are authorized through auth.Service;
//   - every PUBLISH becomes a canonical message (docs/mapping.md) and goes
//     to exchange.Publish; mochi acknowledges it but neither retains nor
//     fans it out;
//   - each MQTT session owns a core queue, "mqtt/<client-id>", bound to
//     its filters, and consumes from it; "$share/<group>/<filter>"
//     consumes from the group's queue and "$queue/<name>" from a named
//     queue;
//   - deliveries come out of core consumers into the session's writer
//     goroutine, which renders them as PUBLISH packets within the client's
//     Receive Maximum and tracks QoS 1/2 acknowledgements itself, settling
//     each delivery when the client acknowledges it.
//
// Listeners: Serve (TCP), ServeTLS and ServeHTTP (WebSocket at /mqtt).
// Shutdown says goodbye to clients (DISCONNECT 0x8B for MQTT 5) and waits
// for every goroutine it started.
package mqtt
