// Package integration holds Rosetta's black-box end-to-end tests (DESIGN.md
// §11): TestMain builds ./cmd/rosetta once, every test starts the real
// binary on free loopback ports and drives it with real third-party clients
// over TCP and WebSocket: paho.mqtt.golang for MQTT 3.1.1, eclipse/paho.golang
// for MQTT 5, go-stomp for STOMP, the Debian mosquitto-clients and
// python3-stomp (stomp.py, through testdata/stomp_py_client.py),
// @stomp/stompjs in Node (js/stomp_ws.mjs) and in headless Chromium
// (docs/examples/stomp-websocket.html), and hand-written raw packets. The
// package has no non-test code besides this comment.
//
// scripts/install-peers.sh installs the Debian peers and runs npm ci in
// js/ (package-lock.json is committed, node_modules is not).
//
// Knobs: ROSETTA_IT_RACE=1 builds the broker with -race; ROSETTA_IT_BIN
// points at a prebuilt binary instead of building one; CI=true turns a
// missing peer (mosquitto_pub, python3-stomp, node, the npm packages,
// chromium) into a failure instead of a skip.
package integration
