#!/usr/bin/python3
"""Proton's tutorial simple_send.py, sending the typed corpus (tutorial_types.py), for
tests/interop/broker-proton.test.ts. Sends N messages (id and body sequence 1..N) and waits until
every one is accepted (at-least-once). Prints one JSON line: {"sent", "confirmed", "errors"}.
Exits 1 when a message is rejected, released or modified, or the connection drops.
"""

import json
import optparse
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container

from tutorial_types import body, values


class Send(MessagingHandler):
    def __init__(self, url, messages):
        super(Send, self).__init__()
        self.url = url
        self.sent = 0
        self.confirmed = 0
        self.total = messages
        self.errors = []

    def on_start(self, event):
        event.container.create_sender(self.url)

    def on_sendable(self, event):
        while event.sender.credit and self.sent < self.total:
            seq = self.sent + 1
            event.sender.send(Message(id=seq, subject='tutorial', properties=values(seq), body=body(seq)))
            self.sent += 1

    def on_accepted(self, event):
        self.confirmed += 1
        if self.confirmed == self.total:
            event.connection.close()

    def on_rejected(self, event):
        self.errors.append('rejected: %r' % (event.delivery.remote.condition,))
        event.connection.close()

    def on_released(self, event):
        self.errors.append('released or modified')
        event.connection.close()

    def on_transport_error(self, event):
        self.errors.append('transport error: %r' % (event.transport.condition,))

    def on_disconnected(self, event):
        if self.confirmed < self.total:
            self.errors.append('disconnected after %d confirmed' % self.confirmed)
            event.container.stop()


parser = optparse.OptionParser()
parser.add_option("-a", "--address", default="localhost:5672/examples")
parser.add_option("-m", "--messages", type="int", default=100)
opts, args = parser.parse_args()

handler = Send(opts.address, opts.messages)
Container(handler).run()
print(json.dumps({'sent': handler.sent, 'confirmed': handler.confirmed, 'errors': handler.errors}))
sys.exit(0 if not handler.errors and handler.confirmed == opts.messages else 1)
