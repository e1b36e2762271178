#!/usr/bin/env python3
"""A stomp.py 8 client driven by integration/python_test.go.

    stomp_py_client.py HOST PORT send DEST N   send N persistent messages, each
                                               with a receipt; print the
                                               receipt ids as JSON once all
                                               have arrived
    stomp_py_client.py HOST PORT recv DEST N   subscribe (client-individual,
                                               with a receipt), print READY,
                                               receive and ACK N messages,
                                               print them as JSON

Exit status 0 on success, 2 on a timeout or an ERROR frame (the reason
goes to standard error). Only the standard library and stomp.py are used.
"""

import json
import sys
import threading

import stomp

TIMEOUT = 10.0  # seconds for any one wait


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.cond = threading.Condition()
        self.receipts = []
        self.messages = []
        self.errors = []

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.append(frame.headers["receipt-id"])
            self.cond.notify_all()

    def on_message(self, frame):
        with self.cond:
            self.messages.append(frame)
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame.headers.get("message", "") + " " + frame.body)
            self.cond.notify_all()

    def wait(self, what, done):
        with self.cond:
            if not self.cond.wait_for(lambda: done() or self.errors, TIMEOUT):
                fail("timeout waiting for " + what)
            if self.errors:
                fail("ERROR frame: " + "; ".join(self.errors))


def fail(reason):
    print("stomp_py_client: " + reason, file=sys.stderr, flush=True)
    sys.exit(2)


def main():
    if len(sys.argv) != 6 or sys.argv[3] not in ("send", "recv"):
        print(__doc__, file=sys.stderr)
        sys.exit(1)
    host, port, mode, dest, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])

    listener = Listener()
    conn = stomp.Connection12([(host, port)], heartbeats=(0, 0), timeout=TIMEOUT)
    conn.set_listener("it", listener)
    conn.connect(wait=True, headers={"client-id": "stomp-py-" + mode})

    if mode == "send":
        ids = ["py-r%d" % i for i in range(n)]
        for i, rid in enumerate(ids):
            conn.send(dest, "py-%d" % i, content_type="text/plain",
                      headers={"receipt": rid, "persistent": "true", "x-sender": "stomp.py", "seq": str(i)})
        listener.wait("%d receipts" % n, lambda: all(r in listener.receipts for r in ids))
        print(json.dumps({"receipts": listener.receipts}), flush=True)
    else:
        conn.subscribe(dest, id="py-sub", ack="client-individual", headers={"receipt": "py-subscribed"})
        listener.wait("the SUBSCRIBE receipt", lambda: "py-subscribed" in listener.receipts)
        print("READY", flush=True)
        listener.wait("%d messages" % n, lambda: len(listener.messages) >= n)
        out = []
        for f in listener.messages[:n]:
            conn.ack(f.headers["ack"])  # STOMP 1.2: the MESSAGE's ack header
            out.append({"body": f.body, "headers": f.headers})
        print(json.dumps(out), flush=True)

    conn.disconnect(receipt="py-bye")
    sys.exit(0)


if __name__ == "__main__":
    main()
