#!/usr/bin/python3
"""Qpid Proton's side of tests/interop/native-values-peers.test.ts (native values, issue #10).

Run with Debian's /usr/bin/python3 (the one python3-qpid-proton is installed for).

    native_values_peer.py send URL ADDRESS      Sends one message whose body and application
                                                properties are what a Python program sends: a
                                                dict with a float, an int, a str, a nested dict
                                                and list, a proton.timestamp. Waits for the
                                                broker's settlement; prints {"sent": 1}.
    native_values_peer.py receive URL ADDRESS   Receives one message, accepts it, and prints its
                                                body as Proton gives it to Python: for each entry,
                                                the Python type name, the type names of its bases
                                                (proton.int32 is an int, proton.timestamp an int)
                                                and its repr.
"""

import json
import sys

from proton import Message, timestamp
from proton.utils import BlockingConnection

TS = 1700000000123


def send(url, address):
    conn = BlockingConnection(url, timeout=20)
    try:
        sender = conn.create_sender(address)
        m = Message()
        m.body = {
            'price': 1.5,
            'qty': 3,
            'name': 'widget',
            'nested': {'a': 1, 'b': [2, 'two', 2.5]},
            'tags': ['x', 'y'],
            'at': timestamp(TS),
        }
        m.properties = {'price': 1.25, 'count': 7, 'at': timestamp(TS)}
        sender.send(m)
        print(json.dumps({'sent': 1}))
    finally:
        conn.close()


def describe(v):
    return {
        'type': type(v).__name__,
        'module': type(v).__module__,
        'bases': [c.__name__ for c in type(v).__mro__],
        'repr': repr(v),
    }


def receive(url, address):
    conn = BlockingConnection(url, timeout=20)
    try:
        receiver = conn.create_receiver(address, credit=1)
        m = receiver.receive(timeout=20)
        receiver.accept()
        body = m.body
        out = {'body': describe(body), 'entries': {}}
        if isinstance(body, dict):
            for k, v in body.items():
                entry = describe(v)
                entry['key'] = describe(k)
                if isinstance(v, list):
                    entry['items'] = [describe(x) for x in v]
                out['entries'][str(k)] = entry
        print(json.dumps(out))
    finally:
        conn.close()


if __name__ == '__main__':
    mode, url, address = sys.argv[1:4]
    if mode == 'send':
        send(url, address)
    elif mode == 'receive':
        receive(url, address)
    else:
        sys.exit('unknown mode %r' % mode)
