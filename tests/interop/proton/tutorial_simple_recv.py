#!/usr/bin/python3
"""Proton's tutorial simple_recv.py, checking every message against the typed corpus
(tutorial_types.py, exact Python types), for tests/interop/broker-proton.test.ts. Receives N
distinct messages (by id; duplicates are counted and skipped), accepting each. Prints one JSON
line: {"received", "duplicates", "in_order", "first", "last", "errors"}.
"""

import json
import optparse
import sys

from proton.handlers import MessagingHandler
from proton.reactor import Container

from tutorial_types import check_message, sequence_of


class Recv(MessagingHandler):
    def __init__(self, url, count, prefetch):
        super(Recv, self).__init__(prefetch=prefetch)
        self.url = url
        self.expected = count
        self.seen = set()
        self.duplicates = 0
        self.order = []
        self.errors = []

    def on_start(self, event):
        event.container.create_receiver(self.url)

    def on_message(self, event):
        message = event.message
        seq = sequence_of(message)
        if message.id in self.seen:
            self.duplicates += 1
            return
        self.seen.add(message.id)
        self.order.append(seq)
        if len(self.errors) < 20:
            check_message(message, seq, self.errors)
        if len(self.seen) == self.expected:
            event.receiver.close()
            event.connection.close()

    def on_transport_error(self, event):
        self.errors.append('transport error: %r' % (event.transport.condition,))

    def on_disconnected(self, event):
        if len(self.seen) < self.expected:
            self.errors.append('disconnected after %d messages' % len(self.seen))
            event.container.stop()


parser = optparse.OptionParser()
parser.add_option("-a", "--address", default="localhost:5672/examples")
parser.add_option("-m", "--messages", type="int", default=100)
parser.add_option("-p", "--prefetch", type="int", default=10)
opts, args = parser.parse_args()

handler = Recv(opts.address, opts.messages, opts.prefetch)
Container(handler).run()
print(json.dumps({
    'received': len(handler.seen),
    'duplicates': handler.duplicates,
    'in_order': handler.order == sorted(handler.order),
    'first': handler.order[0] if handler.order else None,
    'last': handler.order[-1] if handler.order else None,
    'errors': handler.errors,
}))
sys.exit(0 if not handler.errors and len(handler.seen) == opts.messages else 1)
