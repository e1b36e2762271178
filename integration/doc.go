// Package integration holds Rosetta's black-box end-to-end tests (DESIGN.md
// §11): TestMain builds ./cmd/rosetta once, every test starts the real
// binary on free loopback ports and drives it with real third-party clients
// (paho.mqtt.golang for MQTT 3.1.1, eclipse/paho.golang for MQTT 5, the
// Debian mosquitto-clients, hand-written raw packets) over TCP and
// WebSocket. The package has no non-test code besides this comment.
//
// Knobs: ROSETTA_IT_RACE=1 builds the broker with -race; ROSETTA_IT_BIN
// points at a prebuilt binary instead of building one; CI=true turns a
// missing peer tool (mosquitto_pub) into a failure instead of a skip.
package integration
