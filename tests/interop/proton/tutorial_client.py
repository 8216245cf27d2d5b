#!/usr/bin/python3
"""Proton's tutorial client.py, for tests/interop/broker-proton.test.ts: a dynamic receiver gives
the reply-to address; requests (the typed corpus, body text 'request N', correlation_id
'corr-N') go to the URL's address, up to --window of them outstanding (the tutorial's one at a
time is --window 1), and every reply is checked: its correlation id names an outstanding request,
and its properties and body are the corpus with the text upper-cased, by exact Python type.
Prints one JSON line: {"reply_to", "sent", "replies", "errors"}.
"""

import json
import optparse
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container

from tutorial_types import body, check_message, values


class Client(MessagingHandler):
    def __init__(self, url, requests, window):
        super(Client, self).__init__()
        self.url = url
        self.total = requests
        self.window = window
        self.sent = 0
        self.outstanding = set()
        self.replies = 0
        self.reply_to = None
        self.errors = []

    def on_start(self, event):
        self.sender = event.container.create_sender(self.url)
        self.receiver = event.container.create_receiver(self.sender.connection, None, dynamic=True)

    def next_requests(self):
        if not self.reply_to:
            return
        while self.sender.credit and self.sent < self.total and len(self.outstanding) < self.window:
            seq = self.sent + 1
            corr = 'corr-%d' % seq
            self.sender.send(Message(id=seq, subject='tutorial', reply_to=self.reply_to, correlation_id=corr,
                                     properties=values(seq), body=body(seq, 'request %d' % seq)))
            self.outstanding.add(corr)
            self.sent += 1

    def on_link_opened(self, event):
        if event.receiver == self.receiver:
            self.reply_to = self.receiver.remote_source.address
            self.next_requests()

    def on_sendable(self, event):
        self.next_requests()

    def on_message(self, event):
        reply = event.message
        corr = reply.correlation_id
        if corr not in self.outstanding:
            self.errors.append('a reply to %r, which is not outstanding' % (corr,))
        else:
            self.outstanding.discard(corr)
            seq = int(corr.split('-')[1])
            if len(self.errors) < 20:
                check_message(reply, seq, self.errors, text='REQUEST %d' % seq)
        self.replies += 1
        if self.replies == self.total:
            event.connection.close()
        else:
            self.next_requests()

    def on_rejected(self, event):
        self.errors.append('request rejected: %r' % (event.delivery.remote.condition,))

    def on_transport_error(self, event):
        self.errors.append('transport error: %r' % (event.transport.condition,))

    def on_disconnected(self, event):
        if self.replies < self.total:
            self.errors.append('disconnected after %d replies' % self.replies)
            event.container.stop()


parser = optparse.OptionParser()
parser.add_option("-a", "--address", default="localhost:5672/examples")
parser.add_option("-m", "--messages", type="int", default=100)
parser.add_option("-w", "--window", type="int", default=1)
opts, args = parser.parse_args()

handler = Client(opts.address, opts.messages, opts.window)
Container(handler).run()
print(json.dumps({'reply_to': handler.reply_to, 'sent': handler.sent, 'replies': handler.replies, 'errors': handler.errors}))
sys.exit(0 if not handler.errors and handler.replies == opts.messages else 1)
