#!/usr/bin/env python3
"""A Qpid Proton (python3-qpid-proton) AMQP 1.0 client driven by
integration/proton_test.go, written in the style of Proton's examples: a
proton.reactor.Container runs one MessagingHandler.

    amqp_proton_client.py URL send ADDRESS N   send N durable messages, wait
                                              until the broker accepted each,
                                              print {"accepted": N} as JSON
    amqp_proton_client.py URL recv ADDRESS N   attach a receiver, print READY
                                              once the broker attached it,
                                              receive (and accept) N messages,
                                              print them as JSON
    amqp_proton_client.py URL request ADDRESS  attach a dynamic receiver for
                                              replies, send one request to
                                              ADDRESS with reply-to set to the
                                              dynamic address, print the
                                              reply as JSON

Exit status 0 on success, 2 on a timeout or a refused link (the reason goes
to standard error). Only the standard library and proton are used.
"""

import json
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container

TIMEOUT = 10.0  # seconds for the whole run


def fail(reason):
    print("amqp_proton_client: " + reason, file=sys.stderr, flush=True)
    sys.exit(2)


def text(body):
    """The body as text: a data section arrives as bytes, an amqp-value
    string as str."""
    if isinstance(body, (bytes, memoryview)):
        return bytes(body).decode("utf-8", "replace")
    return body if body is None else str(body)


def describe(msg):
    return {
        "body": text(msg.body),
        "body_type": type(msg.body).__name__,
        "content_type": msg.content_type,
        "correlation_id": None if msg.correlation_id is None else str(msg.correlation_id),
        "reply_to": msg.reply_to,
        "subject": msg.subject,
        "durable": msg.durable,
        "properties": {str(k): v for k, v in (msg.properties or {}).items()},
        "annotations": {str(k): v for k, v in (msg.annotations or {}).items()},
    }


class Client(MessagingHandler):
    def __init__(self, url, mode, address, n):
        super().__init__()
        self.url, self.mode, self.address, self.n = url, mode, address, n
        self.sent = self.accepted = 0
        self.received = []
        self.sender = self.receiver = None

    def on_start(self, event):
        event.container.schedule(TIMEOUT, self)
        conn = event.container.connect(self.url, allowed_mechs="ANONYMOUS")
        if self.mode == "send":
            self.sender = event.container.create_sender(conn, self.address)
        elif self.mode == "recv":
            self.receiver = event.container.create_receiver(conn, self.address)
        else:
            # The reply queue is named by the broker: send once it is known.
            self.receiver = event.container.create_receiver(conn, None, dynamic=True)
            self.sender = event.container.create_sender(conn, self.address)

    def on_timer_task(self, event):
        fail("timeout in %s mode (sent %d, accepted %d, received %d)"
             % (self.mode, self.sent, self.accepted, len(self.received)))

    def on_link_opened(self, event):
        # The broker attached our receiver (Proton wraps links afresh for
        # each event, so compare the kind, not the object).
        if not event.link.is_receiver:
            return
        if self.mode == "recv":
            print("READY", flush=True)
        elif self.mode == "request":
            self.send_request()

    def on_link_error(self, event):
        fail("link refused: %s" % event.link.remote_condition)

    def on_sendable(self, event):
        if self.mode != "send":
            return
        while event.sender.credit and self.sent < self.n:
            event.sender.send(Message(
                body="py-%d" % self.sent,
                durable=True,
                content_type="text/plain",
                correlation_id="py-c%d" % self.sent,
                subject="proton",
                properties={"seq": self.sent, "sender": "proton"},
            ))
            self.sent += 1

    def send_request(self):
        reply_to = self.receiver.remote_source.address
        self.request_reply_to = reply_to
        self.sender.send(Message(body="ping", reply_to=reply_to, correlation_id="py-req-1",
                                 properties={"op": "echo"}))
        self.sent += 1

    def on_accepted(self, event):
        self.accepted += 1
        if self.mode == "send" and self.accepted == self.n:
            print(json.dumps({"accepted": self.accepted}), flush=True)
            event.connection.close()

    def on_rejected(self, event):
        fail("delivery rejected: %s" % event.delivery.remote.condition)

    def on_message(self, event):
        self.received.append(describe(event.message))
        if self.mode == "recv" and len(self.received) == self.n:
            print(json.dumps(self.received, default=str), flush=True)
            event.connection.close()
        elif self.mode == "request":
            reply = self.received[0]
            reply["request_reply_to"] = self.request_reply_to
            print(json.dumps(reply, default=str), flush=True)
            event.connection.close()

    def on_connection_closed(self, event):
        event.container.stop()

    def on_transport_error(self, event):
        fail("transport error: %s" % event.transport.condition)


def main():
    if len(sys.argv) < 4 or sys.argv[2] not in ("send", "recv", "request"):
        print(__doc__, file=sys.stderr)
        sys.exit(1)
    url, mode, address = sys.argv[1], sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    container = Container(Client(url, mode, address, n))
    container.container_id = "proton-py-" + mode
    container.run()
    sys.exit(0)


if __name__ == "__main__":
    main()
