#!/usr/bin/python3
"""Proton's tutorial server.py (the uppercase service), for tests/interop/broker-proton.test.ts.
Consumes requests from the URL's address, checks each against the typed corpus, and replies
through one anonymous-relay sender to the request's reply_to with its correlation_id: the same
properties, and the body with its 'text' upper-cased. Exits after N replies were accepted.
Prints one JSON line: {"answered", "confirmed", "errors"}.
"""

import json
import optparse
import sys

from proton import Message, Url
from proton.handlers import MessagingHandler
from proton.reactor import Container

from tutorial_types import check_message, sequence_of


class Server(MessagingHandler):
    def __init__(self, url, address, count):
        super(Server, self).__init__()
        self.url = url
        self.address = address
        self.total = count
        self.answered = 0
        self.confirmed = 0
        self.errors = []

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        self.receiver = event.container.create_receiver(self.conn, self.address)
        self.server = event.container.create_sender(self.conn, None)

    def on_message(self, event):
        request = event.message
        seq = sequence_of(request)
        if len(self.errors) < 20:
            check_message(request, seq, self.errors, text='request %d' % seq)
        reply_body = dict(request.body)
        reply_body['text'] = request.body['text'].upper()
        self.server.send(Message(address=request.reply_to, correlation_id=request.correlation_id, id=request.id,
                                 subject=request.subject, properties=request.properties, body=reply_body))
        self.answered += 1

    def on_accepted(self, event):
        self.confirmed += 1
        if self.confirmed == self.total:
            event.connection.close()

    def on_rejected(self, event):
        self.errors.append('reply rejected: %r' % (event.delivery.remote.condition,))

    def on_transport_error(self, event):
        self.errors.append('transport error: %r' % (event.transport.condition,))

    def on_disconnected(self, event):
        if self.confirmed < self.total:
            self.errors.append('disconnected after %d replies' % self.confirmed)
            event.container.stop()


parser = optparse.OptionParser()
parser.add_option("-a", "--address", default="localhost:5672/examples")
parser.add_option("-m", "--messages", type="int", default=100)
opts, args = parser.parse_args()

url = Url(opts.address)
handler = Server(url, url.path, opts.messages)
Container(handler).run()
print(json.dumps({'answered': handler.answered, 'confirmed': handler.confirmed, 'errors': handler.errors}))
sys.exit(0 if not handler.errors and handler.confirmed == opts.messages else 1)
