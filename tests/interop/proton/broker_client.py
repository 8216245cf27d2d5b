#!/usr/bin/python3
"""Qpid Proton's client side of tests/interop/proton-c-broker.test.ts.

Run with Debian's /usr/bin/python3 (the one python3-qpid-proton is installed for).

    broker_client.py send URL ADDRESS      Sends the corpus below to ADDRESS (each message waits for
                                           the broker's settlement) and prints {"sent": n}.
    broker_client.py receive URL ADDRESS   Receives as many messages as the corpus has from ADDRESS and
                                           checks each against the corpus, values AND Python types
                                           (proton.ulong, proton.symbol, proton.char, ...). Prints
                                           {"received": n, "errors": [...]}; exits 1 on any mismatch.

The corpus is mirrored, value for value and type for type, by protonCorpus() in the test: the
test sends its copy with Quark for this script to check, and checks this script's copy on receipt.
"""

import json
import sys
import uuid

from proton import (Array, Data, Described, Message, UNDESCRIBED, byte, char, decimal128, decimal32,
                    decimal64, float32, int32, short, symbol, timestamp, ubyte, uint, ulong, ushort)
from proton.utils import BlockingConnection

UUID = uuid.UUID('6ba7b810-9dad-11d1-80b4-00c04fd430c8')
POINT = symbol('com.example:point')


def scalars():
    """One value of every scalar AMQP type, keyed by type name (application properties)."""
    return {
        'null': None,
        'boolean': True,
        'ubyte': ubyte(200),
        'ushort': ushort(60000),
        'uint': uint(4000000000),
        'ulong': ulong(18446744073709551615),
        'byte': byte(-100),
        'short': short(-30000),
        'int': int32(-2000000000),
        'long': -9007199254740993,
        'float': float32(1.5),
        'double': -0.1,
        'decimal32': decimal32(0x22501234),
        'decimal64': decimal64(0x31C0000000003039),
        'decimal128': decimal128(bytes(range(0x30, 0x40))),
        'char': char('\U0001F600'),
        'timestamp': timestamp(1700000000123),
        'uuid': UUID,
        'binary': b'\x00\x01\xfe\xff',
        'string': 'h\u00e9llo \u2713',
        'symbol': symbol('sym.bol'),
    }


def mixed_map():
    """A map whose keys have seven different AMQP types (none equal in Python, see PEERS.md)."""
    return {
        'str': int32(1),
        symbol('sym'): ulong(2),
        ulong(3): 'three',
        int32(-4): True,
        5: None,
        b'bin': float32(-2.5),
        char('c'): [int32(1), symbol('x')],
    }


def corpus():
    m1 = Message()
    m1.id = ulong(12345678901234)
    m1.correlation_id = UUID
    m1.user_id = b'quark'
    m1.address = 'to-somewhere'
    m1.subject = 'all the types'
    m1.reply_to = 'reply-here'
    m1.content_type = symbol('application/x-quark')
    m1.content_encoding = symbol('identity')
    m1.creation_time = 1700000000.5
    m1.group_id = 'group'
    m1.group_sequence = 7
    m1.reply_to_group_id = 'reply-group'
    m1.durable = True
    m1.priority = 9
    m1.annotations = {symbol('x-opt-quark'): symbol('annotated')}
    m1.properties = scalars()
    m1.body = mixed_map()

    m2 = Message()
    m2.id = 'string-id'
    m2.body = list(scalars().values()) + [
        [int32(1), 'two', symbol('three'), None],
        mixed_map(),
        Array(UNDESCRIBED, Data.INT, int32(1), int32(-2), int32(3)),
        Array(UNDESCRIBED, Data.SYMBOL, symbol('a'), symbol('b')),
        Array(POINT, Data.LONG, 1, 2),
        Described(POINT, [int32(1), int32(2)]),
        Described(ulong(0x77), 'numeric descriptor'),
    ]

    m3 = Message()
    m3.id = UUID
    m3.body = b'\x00raw data section\xff'

    m4 = Message()
    m4.id = b'\x01\x02'
    m4.body = Described(POINT, {'x': int32(3), 'y': int32(4)})

    m5 = Message()
    m5.body = 'h\u00e9llo \u2713 \U0001F600'
    return [m1, m2, m3, m4, m5]


MESSAGE_FIELDS = ['id', 'correlation_id', 'user_id', 'address', 'subject', 'reply_to', 'content_type',
                  'content_encoding', 'creation_time', 'group_id', 'group_sequence', 'reply_to_group_id',
                  'durable', 'priority', 'annotations', 'properties', 'body']


def show(v):
    return '%s(%r)' % (type(v).__name__, v)


def compare(got, want, path, errors):
    """Appends to errors every place where got differs from want in value or in Python type."""
    if type(got) is not type(want):
        errors.append('%s: got %s, want %s' % (path, show(got), show(want)))
        return
    if isinstance(want, dict):
        got_items, want_items = list(got.items()), list(want.items())
        if len(got_items) != len(want_items):
            errors.append('%s: got %d entries, want %d' % (path, len(got_items), len(want_items)))
            return
        for i, ((gk, gv), (wk, wv)) in enumerate(zip(got_items, want_items)):
            compare(gk, wk, '%s.key[%d]' % (path, i), errors)
            compare(gv, wv, '%s[%r]' % (path, wk), errors)
    elif isinstance(want, list):
        if len(got) != len(want):
            errors.append('%s: got %d items, want %d: %r' % (path, len(got), len(want), got))
            return
        for i, (g, w) in enumerate(zip(got, want)):
            compare(g, w, '%s[%d]' % (path, i), errors)
    elif isinstance(want, Array):
        compare(got.descriptor, want.descriptor, path + '.descriptor', errors)
        if got.type != want.type:
            errors.append('%s: array of %s, want %s' % (path, Data.type_name(got.type), Data.type_name(want.type)))
        compare(list(got.elements), list(want.elements), path + '.elements', errors)
    elif isinstance(want, Described):
        compare(got.descriptor, want.descriptor, path + '.descriptor', errors)
        compare(got.value, want.value, path + '.value', errors)
    elif got != want:
        errors.append('%s: got %s, want %s' % (path, show(got), show(want)))


def send(url, address):
    conn = BlockingConnection(url, timeout=20)
    try:
        sender = conn.create_sender(address)
        messages = corpus()
        for m in messages:
            sender.send(m)
        print(json.dumps({'sent': len(messages)}))
    finally:
        conn.close()


def receive(url, address):
    conn = BlockingConnection(url, timeout=20)
    errors = []
    received = 0
    try:
        want = corpus()
        receiver = conn.create_receiver(address, credit=len(want))
        for i, w in enumerate(want):
            got = receiver.receive(timeout=20)
            received += 1
            # No accept(): the C broker sends pre-settled, and BlockingReceiver keeps no unsettled
            # delivery to accept (accept() would raise).
            for field in MESSAGE_FIELDS:
                compare(getattr(got, field), getattr(w, field), 'message[%d].%s' % (i, field), errors)
    finally:
        conn.close()
    print(json.dumps({'received': received, 'errors': errors}))
    return 1 if errors else 0


if __name__ == '__main__':
    mode, url, address = sys.argv[1:4]
    if mode == 'send':
        send(url, address)
    elif mode == 'receive':
        sys.exit(receive(url, address))
    else:
        sys.exit('unknown mode %r' % mode)
