// amqp_rhea.mjs: rhea 3 (AMQP 1.0) in Node, driven by
// integration/node_test.go.
//
//   node amqp_rhea.mjs HOST PORT
//
// It connects as container rhea-node (SASL ANONYMOUS), attaches a receiver
// to /topics/js/amqp/+/in (auto-accept) and one to /queues/js-amqp-work
// (accepted by hand), prints {"event":"ready"} once the broker attached
// both, prints {"event":"message",...} for each of the two messages it
// then expects, and sends two of its own: a data-section message to
// /topics/js/amqp/out and an amqp-value string to /queues/js-amqp-back. It
// prints {"event":"accepted"} when the broker has accepted both, then
// closes and exits 0. Every line on standard output is one JSON object. It
// exits 2 on a connection or link error or after 15 s.
import rhea from 'rhea';

const [host, port] = process.argv.slice(2);
if (!host || !port) {
  console.error('usage: node amqp_rhea.mjs HOST PORT');
  process.exit(1);
}
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (why) => {
  console.error('amqp_rhea: ' + why);
  process.exit(2);
};
setTimeout(() => fail('timeout'), 15000).unref();

// text renders a body: a data section (rhea gives its bytes in .content),
// a Buffer, or an amqp-value.
const text = (body) => {
  if (body && Buffer.isBuffer(body.content)) return body.content.toString('utf8');
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  return String(body);
};

const container = rhea.create_container({ id: 'rhea-node' });
const conn = container.connect({ host, port: Number(port), username: 'anonymous', reconnect: false, idle_time_out: 0 });

conn.on('connection_open', () => out({ event: 'connected' }));
conn.open_receiver({ source: { address: '/topics/js/amqp/+/in' }, credit_window: 10 });
conn.open_receiver({ source: { address: '/queues/js-amqp-work' }, credit_window: 10, autoaccept: false });

let opened = 0;
conn.on('receiver_open', () => {
  if (++opened === 2) out({ event: 'ready' });
});

let got = 0;
conn.on('message', (ctx) => {
  const m = ctx.message;
  out({
    event: 'message',
    address: ctx.receiver.source.address,
    body: text(m.body),
    content_type: m.content_type,
    correlation_id: m.correlation_id,
    durable: m.durable,
    properties: m.application_properties || {},
    annotations: m.message_annotations || {},
  });
  if (ctx.receiver.source.address.startsWith('/queues/')) ctx.delivery.accept(); // the topic one is auto-accepted
  if (++got === 2) reply();
});

let accepted = 0;
function reply() {
  const onAccepted = () => {
    if (++accepted === 2) {
      out({ event: 'accepted' });
      conn.close();
    }
  };
  const topic = conn.open_sender('/topics/js/amqp/out');
  topic.once('sendable', () => {
    topic.send({
      body: rhea.message.data_section(Buffer.from('from-rhea')),
      content_type: 'text/plain',
      correlation_id: 'rhea-1',
      durable: true,
      application_properties: { runtime: 'node-' + process.versions.node, n: 7 },
    });
  });
  topic.on('accepted', onAccepted);
  const queue = conn.open_sender('/queues/js-amqp-back');
  queue.once('sendable', () => queue.send({ body: 'rhea-value', subject: 'rhea' }));
  queue.on('accepted', onAccepted);
}

conn.on('connection_close', () => process.exit(0));
conn.on('rejected', (ctx) => fail('rejected: ' + JSON.stringify(ctx.delivery.remote_state)));
conn.on('receiver_error', (ctx) => fail('receiver error: ' + ctx.receiver.error));
conn.on('sender_error', (ctx) => fail('sender error: ' + ctx.sender.error));
conn.on('connection_error', (ctx) => fail('connection error: ' + ctx.connection.error));
conn.on('disconnected', (ctx) => {
  if (accepted < 2) fail('disconnected: ' + (ctx.error || 'connection lost'));
});
