#!/usr/bin/python3
"""Qpid Proton's side of tests/interop/proton-sasl-tls.test.ts: SASL and TLS, either way.

    sasl_peer.py client URL ADDRESS [options]
        Connects (no reconnect), sends one message to ADDRESS and receives it back from ADDRESS
        (with --send-only: waits until the peer accepts it), then closes. Prints one JSON line:
        {"opened", "mech", "user", "tls", "body", "accepted", "error"}: "opened" says whether the
        AMQP connection opened, "tls" is {"protocol", "cipher"} (or null), "error" the transport's
        or connection's condition {"name", "description"} (or null). Exits 0 when it worked.
    sasl_peer.py server [options]
        Listens on 127.0.0.1 (an OS-chosen port), prints {"listening": port}, then one JSON line
        per event: {"event": "opened", "user", "mech"} when a connection opens, {"event":
        "message", "user", "body"} per message received (accepted, and sent back on the
        connection's links that receive from the same address), {"event": "error", "error"} for
        a transport error (a refused login). Runs until killed.

Options: --mechs "A B" (allowed_mechs), --user, --password, --ca FILE (the client verifies the
server's certificate and name, --peer-name, against it; the server asks for client
certificates and verifies them against it), --cert FILE --key FILE (own certificate), --cyrus LIB
(use Cyrus SASL through cyrus_sasl_plugin.so; with --config-dir and --config-name), --insecure
(allow PLAIN without TLS).
"""

import json
import optparse
import sys

from proton import Message, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import Container

import cyrus_sasl


def condition(c):
    return {'name': c.name, 'description': c.description} if c else None


def emit(obj):
    print(json.dumps(obj), flush=True)


class Client(MessagingHandler):
    def __init__(self, opts, url, address):
        super(Client, self).__init__()
        self.opts = opts
        self.url = url
        self.address = address
        self.result = {'opened': False, 'mech': None, 'user': None, 'tls': None, 'body': None, 'accepted': False,
                       'error': None}

    def on_start(self, event):
        o = self.opts
        kwargs = {'reconnect': False, 'allow_insecure_mechs': o.insecure}
        if o.mechs:
            kwargs['allowed_mechs'] = o.mechs
        if o.user is not None:
            kwargs['user'] = o.user
        if o.password is not None:
            kwargs['password'] = o.password
        if o.ca or o.cert:
            domain = SSLDomain(SSLDomain.MODE_CLIENT)
            if o.ca:
                domain.set_trusted_ca_db(o.ca)
                domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, o.ca)
            if o.cert:
                domain.set_credentials(o.cert, o.key, None)
            kwargs['ssl_domain'] = domain
            kwargs['sni'] = o.peer_name
        self.conn = event.container.connect(self.url, **kwargs)
        self.sender = event.container.create_sender(self.conn, self.address)
        if not o.send_only:
            event.container.create_receiver(self.conn, self.address)
        self.sent = False

    def on_connection_opened(self, event):
        self.result['opened'] = True
        sasl = event.transport.sasl()
        self.result['mech'] = sasl.mech
        self.result['user'] = event.transport.user
        ssl = event.transport._ssl  # the SSL object the connector made (SSL(transport) wants a domain)
        if ssl:
            self.result['tls'] = {'protocol': ssl.protocol_name(), 'cipher': ssl.cipher_name()}

    def on_sendable(self, event):
        if not self.sent:
            event.sender.send(Message(body=self.opts.body))
            self.sent = True

    def on_accepted(self, event):
        self.result['accepted'] = True
        if self.opts.send_only:
            event.connection.close()

    def on_message(self, event):
        self.result['body'] = event.message.body
        event.connection.close()

    def on_transport_error(self, event):
        self.result['error'] = self.result['error'] or condition(event.transport.condition)

    def on_connection_error(self, event):
        self.result['error'] = self.result['error'] or condition(event.connection.remote_condition)
        event.connection.close()

    def on_disconnected(self, event):
        event.container.stop()


class Server(MessagingHandler):
    def __init__(self, opts):
        super(Server, self).__init__()
        self.opts = opts
        self.pending = {}

    def on_start(self, event):
        o = self.opts
        domain = None
        if o.cert:
            domain = SSLDomain(SSLDomain.MODE_SERVER)
            domain.set_credentials(o.cert, o.key, None)
            if o.ca:
                domain.set_trusted_ca_db(o.ca)
                domain.set_peer_authentication(SSLDomain.VERIFY_PEER, o.ca)
        self.acceptor = event.container.listen('127.0.0.1:0', ssl_domain=domain)
        emit({'listening': self.acceptor._selectable.getsockname()[1]})

    def on_connection_bound(self, event):
        sasl = event.transport.sasl()
        sasl.allow_insecure_mechs = self.opts.insecure
        if self.opts.mechs:
            sasl.allowed_mechs(self.opts.mechs)

    def on_connection_opened(self, event):
        emit({'event': 'opened', 'user': event.transport.user, 'mech': event.transport.sasl().mech})

    def on_link_opening(self, event):
        link = event.link
        if link.is_receiver:
            link.target.copy(link.remote_target)
        else:
            link.source.copy(link.remote_source)

    def on_message(self, event):
        emit({'event': 'message', 'user': event.transport.user, 'body': event.message.body})
        # Echo: hand the message to this connection's sender links from the same address.
        address = event.link.remote_target.address
        for link in self.links(event.connection):
            if link.is_sender and link.remote_source.address == address:
                self.pending.setdefault(link, []).append(Message(body=event.message.body))
                self.flush(link)

    def links(self, connection):
        link = connection.link_head(0)
        while link:
            yield link
            link = link.next(0)

    def flush(self, link):
        queue = self.pending.get(link, [])
        while queue and link.credit:
            link.send(queue.pop(0))

    def on_sendable(self, event):
        self.flush(event.sender)

    def on_transport_error(self, event):
        emit({'event': 'error', 'error': condition(event.transport.condition)})


parser = optparse.OptionParser()
parser.add_option('--mechs')
parser.add_option('--user')
parser.add_option('--password')
parser.add_option('--ca')
parser.add_option('--cert')
parser.add_option('--key')
parser.add_option('--cyrus')
parser.add_option('--config-dir')
parser.add_option('--config-name')
parser.add_option('--peer-name', default='localhost')
parser.add_option('--send-only', action='store_true', default=False)
parser.add_option('--insecure', action='store_true', default=False)
parser.add_option('--body', default='hello from Proton')
opts, args = parser.parse_args()

if opts.cyrus:
    cyrus_sasl.install(opts.cyrus, opts.config_dir, opts.config_name)

if args[0] == 'client':
    handler = Client(opts, args[1], args[2])
    Container(handler).run()
    emit(handler.result)
    sys.exit(0 if handler.result['accepted' if opts.send_only else 'body'] == (True if opts.send_only else opts.body) else 1)
elif args[0] == 'server':
    Container(Server(opts)).run()
else:
    sys.exit('unknown mode %r' % args[0])
