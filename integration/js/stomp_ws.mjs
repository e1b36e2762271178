// stomp_ws.mjs: @stomp/stompjs 7 over WebSocket in Node, driven by
// integration/node_test.go. Node has no WebSocket for stompjs to find, so
// the ws package provides one through webSocketFactory.
//
//   node stomp_ws.mjs WS_URL
//
// It subscribes to /topic/js/+/in (ack auto) and /queue/js-work
// (client-individual), prints {"event":"ready"} once the broker has
// confirmed both (a RECEIPT), prints {"event":"message",...} for each of
// the two messages it then expects and ACKs the queue one, sends a reply to
// /topic/js/out with a receipt, prints {"event":"receipt"} when it arrives
// and exits 0. Every line on standard output is one JSON object. It exits
// 2 on an ERROR frame, a WebSocket error or after 15 s.
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const url = process.argv[2];
if (!url) {
  console.error('usage: node stomp_ws.mjs WS_URL');
  process.exit(1);
}
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (why) => {
  console.error('stomp_ws: ' + why);
  process.exit(2);
};
setTimeout(() => fail('timeout'), 15000).unref();

const client = new Client({
  webSocketFactory: () => new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
  connectHeaders: { 'client-id': 'stompjs-node' },
  reconnectDelay: 0, // a test wants the first failure, not a retry
  heartbeatIncoming: 0,
  heartbeatOutgoing: 0,
  debug: () => {},
});

let got = 0;
client.onConnect = (frame) => {
  out({ event: 'connected', version: frame.headers.version, server: frame.headers.server });
  const onMessage = (m) => {
    out({ event: 'message', destination: m.headers.destination, body: m.body, headers: m.headers });
    if (m.headers.ack) m.ack();
    if (++got === 2) reply();
  };
  client.subscribe('/topic/js/+/in', onMessage);
  // Frames are handled in order: the receipt for the second SUBSCRIBE means
  // both subscriptions exist.
  client.watchForReceipt('js-ready', () => out({ event: 'ready' }));
  client.subscribe('/queue/js-work', onMessage, { ack: 'client-individual', receipt: 'js-ready' });
};

function reply() {
  client.watchForReceipt('js-sent', async () => {
    out({ event: 'receipt' });
    await client.deactivate();
    process.exit(0);
  });
  client.publish({
    destination: '/topic/js/out',
    body: 'from-node',
    headers: { receipt: 'js-sent', 'content-type': 'text/plain', 'x-runtime': 'node-' + process.versions.node },
  });
}

client.onStompError = (f) => fail('ERROR frame: ' + f.headers.message + ' ' + f.body);
client.onWebSocketError = (e) => fail('websocket error: ' + (e.message || e));
client.activate();
