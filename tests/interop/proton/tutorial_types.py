"""The typed corpus the tutorial programs (tutorial_*.py) send and check, for
tests/interop/broker-proton.test.ts. The TypeScript side builds the same corpus with Quark's
constructors (see that test file); both must stay in step.

Every AMQP type appears in the application properties (simple types only, as the spec requires
there) and in the body (an amqp-value map adding lists, maps, arrays and a described value).
`check_message` compares a received message with the corpus by exact Python type, not just by
value: an int that should be a proton.ulong, or a str that should be a proton.symbol, is an error.
"""

import uuid

from proton import (Array, Data, Described, UNDESCRIBED, byte, char, decimal32, decimal64, decimal128,
                    float32, int32, short, symbol, timestamp, ubyte, uint, ulong, ushort)

UUID = uuid.UUID('6ba7b810-9dad-11d1-80b4-00c04fd430c8')


def values(seq):
    """One value of every simple AMQP type (the application properties)."""
    return {
        'seq': seq,  # a Python int is sent as a long
        'null': None,
        'bool': True,
        'ubyte': ubyte(255),
        'ushort': ushort(65535),
        'uint': uint(4294967295),
        'ulong': ulong(18446744073709551615),
        'byte': byte(-128),
        'short': short(-32768),
        'int': int32(-2147483648),
        'long': -9223372036854775808,
        'float': float32(1.5),
        'double': -2.25,
        'decimal32': decimal32(0x22500001),
        'decimal64': decimal64(0x2238000000000001),
        'decimal128': decimal128(bytes(range(16))),
        'char': char('\u20ac'),
        'timestamp': timestamp(1700000000123),
        'uuid': UUID,
        'binary': b'\x00\x01\xfe\xff',
        'string': 'h\u00e9llo \u2713 \U0001f600',
        'symbol': symbol('quark:sym'),
    }


def body(seq, text=None):
    """The body: the simple values again, and every compound type."""
    return {
        'sequence': seq,
        'text': text if text is not None else 'message %d h\u00e9llo' % seq,
        'values': values(seq),
        'list': [1, 'two', None, [ubyte(3), symbol('four')], {'five': 5}],
        'map': {symbol('sym-key'): ulong(1), 7: 'a long key', 'nested': {'deep': [True, False]}},
        'int-array': Array(UNDESCRIBED, Data.INT, int32(1), int32(2), int32(3)),
        'symbol-array': Array(UNDESCRIBED, Data.SYMBOL, symbol('a'), symbol('b')),
        'described': Described(symbol('quark:test'), 'described value'),
        'empty-list': [],
        'empty-map': {},
    }


def _key(k):
    return (type(k).__name__, k)


def compare(path, got, want, errors):
    """Appends to `errors` every place where `got` differs from `want` in type or value."""
    if len(errors) >= 20:
        return
    if type(got) is not type(want):
        errors.append('%s: expected %s %r, got %s %r' % (path, type(want).__name__, want, type(got).__name__, got))
    elif isinstance(want, dict):
        got_keys = {_key(k): k for k in got}
        want_keys = {_key(k): k for k in want}
        if set(got_keys) != set(want_keys):
            errors.append('%s: expected keys %r, got %r' % (path, sorted(want_keys), sorted(got_keys)))
            return
        for tk, k in want_keys.items():
            compare('%s[%r]' % (path, k), got[got_keys[tk]], want[k], errors)
    elif isinstance(want, list):
        if len(got) != len(want):
            errors.append('%s: expected %d items, got %d' % (path, len(want), len(got)))
            return
        for i, (g, w) in enumerate(zip(got, want)):
            compare('%s[%d]' % (path, i), g, w, errors)
    elif isinstance(want, Array):
        if got.type != want.type or got.descriptor != want.descriptor:
            errors.append('%s: expected an array of %r, got one of %r' % (path, want.type, got.type))
            return
        compare(path + '.elements', list(got.elements), list(want.elements), errors)
    elif isinstance(want, Described):
        compare(path + '.descriptor', got.descriptor, want.descriptor, errors)
        compare(path + '.value', got.value, want.value, errors)
    elif got != want:
        errors.append('%s: expected %r, got %r' % (path, want, got))


def check_message(message, seq, errors, text=None):
    """Checks a message of the corpus: id, subject, application properties and body."""
    # The id is a ulong on the wire (Quark checks that); Proton gives message ids back as plain ints.
    compare('id', message.id, seq, errors)
    compare('subject', message.subject, 'tutorial', errors)
    compare('properties', message.properties, values(seq), errors)
    compare('body', message.body, body(seq, text), errors)


def sequence_of(message):
    """The message's sequence number (from its body), or None."""
    b = message.body
    return b.get('sequence') if isinstance(b, dict) else None
