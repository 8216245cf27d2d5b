#!/usr/bin/python3
"""Qpid Proton's side of tests/interop/proton-codec.test.ts.

Run with Debian's /usr/bin/python3 (the one python3-qpid-proton is installed for).

    codec_peer.py corpus   Builds the corpus with Proton (Data put_* calls, proton.Message), checks
                           that Proton decodes its own bytes back to the intended description, and
                           prints one JSON line per item: {kind, name, hex, expected}.
    codec_peer.py decode   Reads JSON lines {kind, name, hex} from stdin, decodes each with Proton and
                           prints {name, ok: true, got, [viaMessage]} or {name, ok: false, error}.

A "typed description" states every AMQP type explicitly, so that both sides can be compared exactly:
    {"type": "null"}                            {"type": "boolean", "value": true}
    {"type": "ubyte"|"ushort"|"uint"|"byte"|"short"|"int", "value": 5}
    {"type": "ulong"|"long"|"timestamp", "value": "-5"}     (decimal text; timestamps in ms)
    {"type": "float"|"double", "value": "3ff0000000000000"} (IEEE 754 bits, big-endian hex)
    {"type": "decimal32"|"decimal64"|"decimal128", "value": hex of the 4, 8 or 16 bytes}
    {"type": "char", "value": 128512}           (the code point)
    {"type": "uuid", "value": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}
    {"type": "binary", "value": "00ff"}         {"type": "string"|"symbol", "value": "text"}
    {"type": "list", "value": [desc, ...]}      {"type": "map", "value": [[key, value], ...]}
    {"type": "array", "element": "int", "value": [desc, ...], "descriptor": desc (described arrays only)}
    {"type": "described", "descriptor": desc, "value": desc}

A message is described section by section, header and properties fields by their spec names, null
fields left out, and a header or properties section with no field left out entirely (Proton always
writes both, as list0, even when empty):
    {"header": {"durable": desc, ...}, "delivery-annotations": [[key, value], ...],
     "message-annotations": [...], "properties": {"message-id": desc, ...},
     "application-properties": [...], "footer": [...],
     "body": {"section": "amqp-value", "value": desc}
           | {"section": "data", "value": [hex, ...]}
           | {"section": "amqp-sequence", "value": [list desc, ...]}}
"""

import json
import struct
import sys
import uuid

import proton
from proton import Array, Data, Described, Message, UNDESCRIBED

# ---- Typed descriptions -------------------------------------------------------------------------

TYPE_CODES = {
    'null': Data.NULL, 'boolean': Data.BOOL, 'ubyte': Data.UBYTE, 'ushort': Data.USHORT,
    'uint': Data.UINT, 'ulong': Data.ULONG, 'byte': Data.BYTE, 'short': Data.SHORT, 'int': Data.INT,
    'long': Data.LONG, 'float': Data.FLOAT, 'double': Data.DOUBLE, 'decimal32': Data.DECIMAL32,
    'decimal64': Data.DECIMAL64, 'decimal128': Data.DECIMAL128, 'char': Data.CHAR,
    'timestamp': Data.TIMESTAMP, 'uuid': Data.UUID, 'binary': Data.BINARY, 'string': Data.STRING,
    'symbol': Data.SYMBOL, 'list': Data.LIST, 'map': Data.MAP, 'array': Data.ARRAY,
    'described': Data.DESCRIBED,
}
TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}


def _t(type_, value):
    return {'type': type_, 'value': value}


def null():
    return {'type': 'null'}


def boolean(b):
    return _t('boolean', b)


def ubyte(n):
    return _t('ubyte', n)


def ushort(n):
    return _t('ushort', n)


def uint(n):
    return _t('uint', n)


def ulong(n):
    return _t('ulong', str(n))


def byte(n):
    return _t('byte', n)


def short(n):
    return _t('short', n)


def int_(n):
    return _t('int', n)


def long_(n):
    return _t('long', str(n))


def float_(x):
    return _t('float', struct.pack('>f', x).hex())


def double(x):
    return _t('double', struct.pack('>d', x).hex())


def decimal32(hex_):
    return _t('decimal32', hex_)


def decimal64(hex_):
    return _t('decimal64', hex_)


def decimal128(hex_):
    return _t('decimal128', hex_)


def char(c):
    return _t('char', ord(c) if isinstance(c, str) else c)


def timestamp(ms):
    return _t('timestamp', str(ms))


def uuid_(text):
    return _t('uuid', str(uuid.UUID(text)))


def binary(b):
    return _t('binary', bytes(b).hex())


def string(s):
    return _t('string', s)


def symbol(s):
    return _t('symbol', s)


def list_(*items):
    return _t('list', list(items))


def map_(*pairs):
    return _t('map', [list(p) for p in pairs])


def array(element, *items, descriptor=None):
    d = {'type': 'array', 'element': element, 'value': list(items)}
    if descriptor is not None:
        d['descriptor'] = descriptor
    return d


def described(descriptor, value):
    return {'type': 'described', 'descriptor': descriptor, 'value': value}


def put(data, desc):
    """Puts a described value into `data` with the put_* method of its exact type."""
    t = desc['type']
    v = desc.get('value')
    if t == 'null':
        data.put_null()
    elif t == 'boolean':
        data.put_bool(v)
    elif t == 'ubyte':
        data.put_ubyte(v)
    elif t == 'ushort':
        data.put_ushort(v)
    elif t == 'uint':
        data.put_uint(v)
    elif t == 'ulong':
        data.put_ulong(int(v))
    elif t == 'byte':
        data.put_byte(v)
    elif t == 'short':
        data.put_short(v)
    elif t == 'int':
        data.put_int(v)
    elif t == 'long':
        data.put_long(int(v))
    elif t == 'float':
        data.put_float(struct.unpack('>f', bytes.fromhex(v))[0])
    elif t == 'double':
        data.put_double(struct.unpack('>d', bytes.fromhex(v))[0])
    elif t == 'decimal32':
        data.put_decimal32(int(v, 16))
    elif t == 'decimal64':
        data.put_decimal64(int(v, 16))
    elif t == 'decimal128':
        data.put_decimal128(proton.decimal128(bytes.fromhex(v)))
    elif t == 'char':
        data.put_char(chr(v))
    elif t == 'timestamp':
        data.put_timestamp(int(v))
    elif t == 'uuid':
        data.put_uuid(uuid.UUID(v))
    elif t == 'binary':
        data.put_binary(bytes.fromhex(v))
    elif t == 'string':
        data.put_string(v)
    elif t == 'symbol':
        data.put_symbol(v)
    elif t == 'list':
        data.put_list()
        data.enter()
        for item in v:
            put(data, item)
        data.exit()
    elif t == 'map':
        data.put_map()
        data.enter()
        for key, value in v:
            put(data, key)
            put(data, value)
        data.exit()
    elif t == 'array':
        data.put_array('descriptor' in desc, TYPE_CODES[desc['element']])
        data.enter()
        if 'descriptor' in desc:
            put(data, desc['descriptor'])
        for item in v:
            if item['type'] != desc['element']:
                raise ValueError('array of %s holds a %s' % (desc['element'], item['type']))
            put(data, item)
        data.exit()
    elif t == 'described':
        data.put_described()
        data.enter()
        put(data, desc['descriptor'])
        put(data, v)
        data.exit()
    else:
        raise ValueError('unknown type %r' % t)


def read(data):
    """Describes the current node of `data`, by the type Proton decoded it as."""
    code = data.type()
    t = TYPE_NAMES.get(code)
    if t is None:
        raise ValueError('Proton returned unknown type code %r' % code)
    if t == 'null':
        return null()
    if t == 'boolean':
        return boolean(bool(data.get_bool()))
    if t in ('ubyte', 'ushort', 'uint', 'byte', 'short', 'int'):
        return _t(t, int(getattr(data, 'get_' + t)()))
    if t in ('ulong', 'long', 'timestamp'):
        return _t(t, str(int(getattr(data, 'get_' + t)())))
    if t == 'float':
        return _t(t, struct.pack('>f', data.get_float()).hex())
    if t == 'double':
        return _t(t, struct.pack('>d', data.get_double()).hex())
    if t == 'decimal32':
        return _t(t, int(data.get_decimal32()).to_bytes(4, 'big').hex())
    if t == 'decimal64':
        return _t(t, int(data.get_decimal64()).to_bytes(8, 'big').hex())
    if t == 'decimal128':
        return _t(t, bytes(data.get_decimal128()).hex())
    if t == 'char':
        return _t(t, ord(data.get_char()))
    if t == 'uuid':
        return _t(t, str(data.get_uuid()))
    if t == 'binary':
        return _t(t, bytes(data.get_binary()).hex())
    if t == 'string':
        return _t(t, data.get_string())
    if t == 'symbol':
        return _t(t, str(data.get_symbol()))
    if t == 'list':
        count = data.get_list()
        data.enter()
        items = [_read_next(data) for _ in range(count)]
        data.exit()
        return _t(t, items)
    if t == 'map':
        count = data.get_map()
        data.enter()
        flat = [_read_next(data) for _ in range(count)]
        data.exit()
        return _t(t, [[flat[i], flat[i + 1]] for i in range(0, count, 2)])
    if t == 'array':
        count, is_described, element = data.get_array()
        data.enter()
        descriptor = _read_next(data) if is_described else None
        items = [_read_next(data) for _ in range(count)]
        data.exit()
        return array(TYPE_NAMES[element], *items, descriptor=descriptor)
    if t == 'described':
        data.enter()
        descriptor = _read_next(data)
        value = _read_next(data)
        data.exit()
        return described(descriptor, value)
    raise ValueError('unhandled type %s' % t)


def _read_next(data):
    if data.next() is None:
        raise ValueError('Proton ran out of child nodes')
    return read(data)


def encode_value(desc):
    data = Data()
    put(data, desc)
    return data.encode()


def decode_value(encoded):
    data = Data()
    consumed = data.decode(encoded)
    if consumed != len(encoded):
        raise ValueError('%d bytes follow the value' % (len(encoded) - consumed))
    data.rewind()
    data.next()
    value = read(data)
    if data.next() is not None:
        raise ValueError('more than one value')
    return value


def to_py(desc):
    """The Python object of Proton's API for a description (for proton.Message attributes)."""
    t = desc['type']
    v = desc.get('value')
    simple = {
        'boolean': bool, 'ubyte': proton.ubyte, 'ushort': proton.ushort, 'uint': proton.uint,
        'byte': proton.byte, 'short': proton.short, 'int': proton.int32, 'string': str,
        'symbol': proton.symbol,
    }
    if t == 'null':
        return None
    if t in simple:
        return simple[t](v)
    if t == 'ulong':
        return proton.ulong(int(v))
    if t == 'long':
        return int(v)
    if t == 'timestamp':
        return proton.timestamp(int(v))
    if t == 'float':
        return proton.float32(struct.unpack('>f', bytes.fromhex(v))[0])
    if t == 'double':
        return struct.unpack('>d', bytes.fromhex(v))[0]
    if t == 'decimal32':
        return proton.decimal32(int(v, 16))
    if t == 'decimal64':
        return proton.decimal64(int(v, 16))
    if t == 'decimal128':
        return proton.decimal128(bytes.fromhex(v))
    if t == 'char':
        return proton.char(chr(v))
    if t == 'uuid':
        return uuid.UUID(v)
    if t == 'binary':
        return bytes.fromhex(v)
    if t == 'list':
        return [to_py(item) for item in v]
    if t == 'map':
        return _to_dict(v)
    if t == 'array':
        descriptor = to_py(desc['descriptor']) if 'descriptor' in desc else UNDESCRIBED
        return Array(descriptor, TYPE_CODES[desc['element']], *[to_py(item) for item in v])
    if t == 'described':
        return Described(to_py(desc['descriptor']), to_py(v))
    raise ValueError('unknown type %r' % t)


def _to_dict(pairs, cls=dict):
    d = cls()
    for key, value in pairs:
        d[to_py(key)] = to_py(value)
    if len(d) != len(pairs):
        # A Python dict merges keys that compare equal (symbol('a') == 'a', ulong(1) == 1).
        raise ValueError('map keys collide in a Python dict: build this one with Data')
    return d


# ---- Messages ---------------------------------------------------------------------------------

HEADER_FIELDS = ['durable', 'priority', 'ttl', 'first-acquirer', 'delivery-count']
PROPERTIES_FIELDS = [
    'message-id', 'user-id', 'to', 'subject', 'reply-to', 'correlation-id', 'content-type',
    'content-encoding', 'absolute-expiry-time', 'creation-time', 'group-id', 'group-sequence',
    'reply-to-group-id',
]
SECTIONS = [  # (description key, numeric descriptor, symbolic descriptor), in spec order
    ('header', 0x70, 'amqp:header:list'),
    ('delivery-annotations', 0x71, 'amqp:delivery-annotations:map'),
    ('message-annotations', 0x72, 'amqp:message-annotations:map'),
    ('properties', 0x73, 'amqp:properties:list'),
    ('application-properties', 0x74, 'amqp:application-properties:map'),
    ('data', 0x75, 'amqp:data:binary'),
    ('amqp-sequence', 0x76, 'amqp:amqp-sequence:list'),
    ('amqp-value', 0x77, 'amqp:amqp-value:*'),
    ('footer', 0x78, 'amqp:footer:map'),
]
SECTION_BY_CODE = {code: (i, key) for i, (key, code, _) in enumerate(SECTIONS)}
SECTION_BY_NAME = {name: (i, key) for i, (key, _, name) in enumerate(SECTIONS)}
SECTION_CODE = {key: code for key, code, _ in SECTIONS}
SECTION_NAME = {key: name for key, _, name in SECTIONS}


def walk_message(encoded):
    """Describes the sections of an encoded message, reading each with Data."""
    out = {}
    pos = 0
    last_rank = -1
    while pos < len(encoded):
        data = Data()
        pos += data.decode(encoded[pos:])
        data.rewind()
        data.next()
        section = read(data)
        if section['type'] != 'described':
            raise ValueError('a message section must be described, got %s' % section['type'])
        d = section['descriptor']
        if d['type'] == 'ulong' and int(d['value']) in SECTION_BY_CODE:
            rank, key = SECTION_BY_CODE[int(d['value'])]
        elif d['type'] == 'symbol' and d['value'] in SECTION_BY_NAME:
            rank, key = SECTION_BY_NAME[d['value']]
        else:
            raise ValueError('not a message section: %r' % d)
        repeatable = key in ('data', 'amqp-sequence')
        if rank < last_rank or (rank == last_rank and not repeatable):
            raise ValueError('section %s out of order' % key)
        if repeatable and rank != last_rank and 'body' in out:
            raise ValueError('a %s section follows another kind of body section' % key)
        last_rank = rank
        value = section['value']
        if key in ('header', 'properties'):
            names = HEADER_FIELDS if key == 'header' else PROPERTIES_FIELDS
            if value['type'] != 'list' or len(value['value']) > len(names):
                raise ValueError('%s must be a list of at most %d fields' % (key, len(names)))
            fields = {n: f for n, f in zip(names, value['value']) if f['type'] != 'null'}
            if fields:
                out[key] = fields
        elif key in ('delivery-annotations', 'message-annotations', 'application-properties', 'footer'):
            if value['type'] != 'map':
                raise ValueError('%s must be a map' % key)
            out[key] = value['value']
        elif key == 'amqp-value':
            out['body'] = {'section': key, 'value': value}
        else:
            want = 'binary' if key == 'data' else 'list'
            if value['type'] != want:
                raise ValueError('a %s section must hold a %s' % (key, want))
            body = out.setdefault('body', {'section': key, 'value': []})
            body['value'].append(value['value'] if key == 'data' else value)
    return out


def _put_section(data, key, symbolic):
    data.put_described()
    data.enter()
    if symbolic:
        data.put_symbol(SECTION_NAME[key])
    else:
        data.put_ulong(SECTION_CODE[key])


def encode_sections(desc, keys, symbolic=False):
    """Encodes the given sections of a message description with Data, in spec order."""
    data = Data()
    for key in keys:
        if key in ('header', 'properties'):
            names = HEADER_FIELDS if key == 'header' else PROPERTIES_FIELDS
            fields = [desc[key].get(n, null()) for n in names]
            while fields and fields[-1]['type'] == 'null':
                fields.pop()
            _put_section(data, key, symbolic)
            put(data, list_(*fields))
            data.exit()
        elif key == 'body':
            body = desc['body']
            if body['section'] == 'amqp-value':
                _put_section(data, 'amqp-value', symbolic)
                put(data, body['value'])
                data.exit()
            else:
                for item in body['value']:
                    _put_section(data, body['section'], symbolic)
                    put(data, binary(bytes.fromhex(item)) if body['section'] == 'data' else item)
                    data.exit()
        else:
            _put_section(data, key, symbolic)
            put(data, _t('map', desc[key]))
            data.exit()
    return data.encode()


def _millis_to_secs(ms):
    # Proton's setters truncate int(secs * 1000): half a millisecond keeps the float exact enough.
    return (ms + (0.5 if ms >= 0 else -0.5)) / 1000.0


def encode_with_message(desc):
    """Encodes with proton.Message every section it can carry; appends the rest, made with Data."""
    m = Message()
    header = desc.get('header', {})
    for name, f in header.items():
        v = f['value']
        if name == 'durable':
            m.durable = v
        elif name == 'priority':
            m.priority = v
        elif name == 'ttl':
            m.ttl = _millis_to_secs(v)
        elif name == 'first-acquirer':
            m.first_acquirer = v
        elif name == 'delivery-count':
            m.delivery_count = v
    props = desc.get('properties', {})
    setters = {
        'user-id': 'user_id', 'to': 'address', 'subject': 'subject', 'reply-to': 'reply_to',
        'content-type': 'content_type', 'content-encoding': 'content_encoding', 'group-id': 'group_id',
        'group-sequence': 'group_sequence', 'reply-to-group-id': 'reply_to_group_id',
    }
    for name, f in props.items():
        if name in ('message-id', 'correlation-id'):
            setattr(m, 'id' if name == 'message-id' else 'correlation_id', to_py(f))
        elif name == 'absolute-expiry-time':
            m.expiry_time = _millis_to_secs(int(f['value']))
        elif name == 'creation-time':
            m.creation_time = _millis_to_secs(int(f['value']))
        else:
            setattr(m, setters[name], to_py(f))
    if 'delivery-annotations' in desc:
        m.instructions = _to_dict(desc['delivery-annotations'], proton.AnnotationDict)
    if 'message-annotations' in desc:
        m.annotations = _to_dict(desc['message-annotations'], proton.AnnotationDict)
    if 'application-properties' in desc:
        m.properties = _to_dict(desc['application-properties'])
    rest = []
    body = desc.get('body')
    if body is not None:
        section, value = body['section'], body['value']
        if section == 'amqp-value' and value['type'] != 'null':
            m.body = to_py(value)
            m.inferred = False
        elif section == 'data' and len(value) == 1:
            m.body = bytes.fromhex(value[0])
            m.inferred = True
        elif section == 'amqp-sequence' and len(value) == 1:
            m.body = to_py(value[0])
            m.inferred = True
        else:
            rest.append('body')  # a null amqp-value, or several sections: Message has no way
    if 'footer' in desc:
        rest.append('footer')  # proton.Message has no footer
    encoded = m.encode()
    return encoded + encode_sections(desc, rest) if rest else encoded


def encode_message(desc, build):
    if build == 'message':
        return encode_with_message(desc)
    order = ['header', 'delivery-annotations', 'message-annotations', 'properties',
             'application-properties', 'body', 'footer']
    keys = [k for k in order if k in desc]
    return encode_sections(desc, keys, symbolic=(build == 'data-symbolic'))


# ---- The corpus -------------------------------------------------------------------------------

UUID_A = '6ba7b810-9dad-11d1-80b4-00c04fd430c8'
ALL_BYTES = bytes(range(256))
INF = float('inf')
NAN = float('nan')
FLOAT_MAX = struct.unpack('>f', bytes.fromhex('7f7fffff'))[0]
FLOAT_MIN_SUBNORMAL = struct.unpack('>f', bytes.fromhex('00000001'))[0]
FLOAT_MIN_NORMAL = struct.unpack('>f', bytes.fromhex('00800000'))[0]


def value_corpus():
    c = []

    def add(name, desc):
        c.append((name, desc))

    add('null', null())
    add('boolean true', boolean(True))
    add('boolean false', boolean(False))
    for n in (0, 1, 127, 128, 255):
        add('ubyte %d' % n, ubyte(n))
    for n in (0, 255, 256, 65535):
        add('ushort %d' % n, ushort(n))
    for n in (0, 1, 255, 256, 65536, 2**31, 2**32 - 1):
        add('uint %d' % n, uint(n))
    for n in (0, 1, 255, 256, 2**32, 2**53 - 1, 2**53 + 1, 2**63, 2**64 - 1):
        add('ulong %d' % n, ulong(n))
    for n in (-128, -1, 0, 127):
        add('byte %d' % n, byte(n))
    for n in (-32768, -129, -1, 0, 128, 32767):
        add('short %d' % n, short(n))
    for n in (-2**31, -129, -128, -1, 0, 127, 128, 2**31 - 1):
        add('int %d' % n, int_(n))
    for n in (-2**63, -2**53 - 1, -2**31 - 1, -129, -128, -1, 0, 127, 128, 2**31, 2**53 + 1, 2**63 - 1):
        add('long %d' % n, long_(n))
    floats = [('0', 0.0), ('-0', -0.0), ('1.5', 1.5), ('-2.25', -2.25), ('0.1 rounded', 0.1),
              ('max', FLOAT_MAX), ('-max', -FLOAT_MAX), ('min normal', FLOAT_MIN_NORMAL),
              ('min subnormal', FLOAT_MIN_SUBNORMAL), ('infinity', INF), ('-infinity', -INF), ('NaN', NAN)]
    for label, x in floats:
        add('float %s' % label, float_(x))
    doubles = [('0', 0.0), ('-0', -0.0), ('1', 1.0), ('0.1', 0.1), ('-1e300', -1e300),
               ('max', sys.float_info.max), ('min normal', sys.float_info.min), ('min subnormal', 5e-324),
               ('2^53+2', 2.0**53 + 2), ('infinity', INF), ('-infinity', -INF), ('NaN', NAN)]
    for label, x in doubles:
        add('double %s' % label, double(x))
    # Decimals are opaque IEEE 754-2008 bit patterns (Proton has no decimal arithmetic either).
    for h in ('00000000', '22500001', 'a2500001', '7c000000', 'ffffffff'):
        add('decimal32 %s' % h, decimal32(h))
    for h in ('0000000000000000', '2238000000000001', 'f800000000000000', 'ffffffffffffffff'):
        add('decimal64 %s' % h, decimal64(h))
    for h in ('00' * 16, '22080000000000000000000000000001', '000102030405060708090a0b0c0d0e0f', 'ff' * 16):
        add('decimal128 %s' % h, decimal128(h))
    for cp in (0, 0x41, 0x7f, 0xe9, 0x20ac, 0xfffd, 0x1f600, 0x10ffff):
        add('char U+%04X' % cp, char(cp))
    for ms in (0, 1, -1, 1700000000123, -62135596800000, 8640000000000000, -8640000000000000,
               8640000000000001, -8640000000000001, 2**63 - 1, -2**63):
        add('timestamp %d' % ms, timestamp(ms))
    for u in ('00000000-0000-0000-0000-000000000000', UUID_A, 'ffffffff-ffff-ffff-ffff-ffffffffffff'):
        add('uuid %s' % u, uuid_(u))
    add('binary empty', binary(b''))
    add('binary one byte', binary(b'\x00'))
    add('binary all byte values', binary(ALL_BYTES))
    add('binary 255 bytes (vbin8 limit)', binary(ALL_BYTES[:255]))
    add('binary 256 bytes (vbin32)', binary(ALL_BYTES[1:] + b'\x00'))
    add('binary 100000 bytes', binary(ALL_BYTES * 390 + ALL_BYTES[:160]))
    add('string empty', string(''))
    add('string ASCII', string('hello, world'))
    add('string NUL and controls', string('a\x00b\x01\x1f\x7f'))
    add('string two-, three- and four-byte UTF-8', string('h\u00e9llo w\u00f6rld \u20ac \u4e2d\u6587 \U0001F600 \U0010FFFF'))
    add('string 255 bytes (str8 limit)', string('x' * 255))
    add('string 256 bytes (str32)', string('y' * 256))
    add('string 85 euro signs (255 bytes)', string('\u20ac' * 85))
    add('string 86 euro signs (258 bytes)', string('\u20ac' * 86))
    add('string 64 emoji (256 bytes)', string('\U0001F600' * 64))
    add('string 70000 characters', string(('0123456789abcdef\u00e9' * 4118)[:70000]))
    add('symbol empty', symbol(''))
    add('symbol amqp:accepted:list', symbol('amqp:accepted:list'))
    add('symbol all printable ASCII', symbol(''.join(chr(i) for i in range(32, 127))))
    add('symbol 255 bytes (sym8 limit)', symbol('s' * 255))
    add('symbol 256 bytes (sym32)', symbol('t' * 256))

    # Lists.
    add('list empty', list_())
    add('list of one int', list_(int_(1)))
    add('list of every scalar type', list_(
        null(), boolean(True), ubyte(1), ushort(2), uint(3), ulong(4), byte(-5), short(-6), int_(-7),
        long_(-8), float_(1.5), double(2.5), decimal32('22500001'), decimal64('2238000000000001'),
        decimal128('22080000000000000000000000000001'), char('\u00e9'), timestamp(1700000000123),
        uuid_(UUID_A), binary(b'\x01\x02'), string('str'), symbol('sym')))
    add('list nested', list_(list_(), list_(list_(int_(1)), map_()), array('int', int_(1))))
    add('list 300 elements (count > 255)', list_(*[int_(i) for i in range(300)]))
    add('list longer than 255 bytes', list_(string('z' * 200), binary(b'\xab' * 100)))
    nested = int_(42)
    for _ in range(30):
        nested = list_(nested)
    add('list nested 30 deep', nested)

    # Maps.
    add('map empty', map_())
    add('map string keys', map_((string('a'), int_(1)), (string('b'), string('two'))))
    add('map symbol keys', map_((symbol('x-opt-a'), long_(1)), (symbol('x-opt-b'), null())))
    add('map with mixed key types', map_(
        (null(), string('null key')), (boolean(True), string('true')), (ubyte(1), string('ubyte 1')),
        (ushort(1), string('ushort 1')), (uint(1), string('uint 1')), (ulong(1), string('ulong 1')),
        (byte(1), string('byte 1')), (short(1), string('short 1')), (int_(1), string('int 1')),
        (long_(1), string('long 1')), (float_(1.0), string('float 1')), (double(1.0), string('double 1')),
        (decimal32('22500001'), string('decimal32')), (char('1'), string('char 1')),
        (timestamp(1), string('timestamp 1')), (uuid_(UUID_A), string('uuid')),
        (binary(b'1'), string('binary 1')), (string('1'), string('string 1')),
        (symbol('1'), string('symbol 1')), (list_(int_(1)), string('list')),
        (map_((int_(1), int_(2))), string('map')), (array('int', int_(1)), string('array')),
        (described(ulong(1), int_(1)), string('described'))))
    add('map nested', map_((string('inner'), map_((symbol('k'), list_(map_()))))))
    add('map 200 entries', map_(*[(string('key%03d' % i), uint(i)) for i in range(200)]))

    # Arrays.
    add('array boolean', array('boolean', boolean(True), boolean(False), boolean(True)))
    add('array ubyte', array('ubyte', ubyte(0), ubyte(255)))
    add('array ushort', array('ushort', ushort(0), ushort(65535)))
    add('array uint zeros', array('uint', uint(0), uint(0)))
    add('array uint', array('uint', uint(0), uint(255), uint(2**32 - 1)))
    add('array ulong', array('ulong', ulong(0), ulong(255), ulong(2**64 - 1)))
    add('array byte', array('byte', byte(-128), byte(127)))
    add('array short', array('short', short(-32768), short(32767)))
    add('array int', array('int', int_(-2**31), int_(0), int_(2**31 - 1)))
    add('array int small', array('int', int_(-1), int_(1)))
    add('array long', array('long', long_(-2**63), long_(0), long_(2**63 - 1)))
    add('array float', array('float', float_(1.5), float_(-INF), float_(NAN)))
    add('array double', array('double', double(0.1), double(-0.0), double(INF)))
    add('array decimal32', array('decimal32', decimal32('22500001'), decimal32('ffffffff')))
    add('array decimal64', array('decimal64', decimal64('2238000000000001')))
    add('array decimal128', array('decimal128', decimal128('22080000000000000000000000000001')))
    add('array char', array('char', char('a'), char(0x1f600)))
    add('array timestamp', array('timestamp', timestamp(0), timestamp(1700000000123), timestamp(2**63 - 1)))
    add('array uuid', array('uuid', uuid_(UUID_A), uuid_('00000000-0000-0000-0000-000000000000')))
    add('array binary', array('binary', binary(b''), binary(b'\x00\xff')))
    add('array binary long elements', array('binary', binary(ALL_BYTES), binary(b'x')))
    add('array string', array('string', string('a'), string('\u20ac\U0001F600'), string('')))
    add('array string long elements', array('string', string('w' * 300), string('v')))
    add('array symbol', array('symbol', symbol('amqp:accepted:list'), symbol('b')))
    add('array list', array('list', list_(int_(1), string('a')), list_()))
    add('array map', array('map', map_((symbol('k'), int_(7))), map_()))
    add('array of arrays', array('array', array('int', int_(1), int_(2)), array('int')))
    add('array empty int', array('int'))
    add('array empty symbol', array('symbol'))
    add('array 1000 ints', array('int', *[int_(i * 7919 - 3000000) for i in range(1000)]))
    add('array 300 ubytes (count > 255)', array('ubyte', *[ubyte(i % 256) for i in range(300)]))
    add('array described, symbol descriptor', array(
        'string', string('a'), string('b'), descriptor=symbol('com.example:label')))
    add('array described, ulong descriptor', array(
        'list', list_(int_(1)), list_(), descriptor=ulong(0x0000013700000001)))
    add('array described, empty', array('int', descriptor=ulong(5)))

    # Described values.
    add('described ulong descriptor, string', described(ulong(0x77), string('v')))
    add('described symbol descriptor, list', described(symbol('example:point:list'), list_(int_(1), int_(2))))
    add('described spec composite (accepted)', described(ulong(0x24), list_()))
    add('described large ulong descriptor, map', described(ulong(0x0000468c00000001), map_((symbol('k'), null()))))
    add('described with null value', described(symbol('x'), null()))
    add('described nested', described(ulong(1), described(symbol('inner'), array('int', int_(1)))))
    add('described with string descriptor', described(string('not a symbol'), int_(1)))
    add('described selector filter', described(symbol('apache.org:selector-filter:string'), string("colour = 'red'")))
    return c


def message_corpus():
    """(name, description, how to build: 'message' | 'data' | 'data-symbolic')."""
    c = []

    def add(name, desc, build='message'):
        c.append((name, desc, build))

    add('empty message (Proton writes empty header and properties)', {})
    add('header, every field', {'header': {
        'durable': boolean(True), 'priority': ubyte(9), 'ttl': uint(2**32 - 1),
        'first-acquirer': boolean(True), 'delivery-count': uint(2**32 - 1)}})
    add('header, small values', {'header': {'priority': ubyte(0), 'ttl': uint(1), 'delivery-count': uint(1)},
                                 'body': {'section': 'amqp-value', 'value': string('x')}})
    add('header, defaults written out, symbolic descriptors', {
        'header': {'durable': boolean(False), 'priority': ubyte(4), 'ttl': uint(0),
                   'first-acquirer': boolean(False), 'delivery-count': uint(0)},
        'properties': {'to': string('q')},
        'body': {'section': 'amqp-value', 'value': string('explicit defaults')}}, 'data-symbolic')
    add('properties, every field', {'properties': {
        'message-id': ulong(2**64 - 1), 'user-id': binary(b'user\x00\xff'), 'to': string('queue://a'),
        'subject': string('subject \u20ac'), 'reply-to': string('reply/address'),
        'correlation-id': uuid_(UUID_A), 'content-type': symbol('application/json'),
        'content-encoding': symbol('gzip'), 'absolute-expiry-time': timestamp(1700000060000),
        'creation-time': timestamp(1700000000123), 'group-id': string('group'),
        'group-sequence': uint(2**31 - 1), 'reply-to-group-id': string('reply-group')}})
    add('properties, string message id, binary correlation id', {'properties': {
        'message-id': string('id-1'), 'correlation-id': binary(b'\x00\x01\x02')}})
    add('properties, uuid message id, ulong correlation id 0', {'properties': {
        'message-id': uuid_(UUID_A), 'correlation-id': ulong(0)}})
    add('properties, empty strings and binary', {'properties': {
        'message-id': string(''), 'user-id': binary(b''), 'subject': string('')}})
    add('properties, uint group-sequence max, times before the epoch', {'properties': {
        'group-sequence': uint(2**32 - 1), 'creation-time': timestamp(-1),
        'absolute-expiry-time': timestamp(8640000000000001)}}, 'data')
    annotation_values = [
        (symbol('x-opt-null'), null()), (symbol('x-opt-bool'), boolean(True)),
        (symbol('x-opt-ubyte'), ubyte(200)), (symbol('x-opt-ushort'), ushort(60000)),
        (symbol('x-opt-uint'), uint(4000000000)), (symbol('x-opt-ulong'), ulong(2**64 - 1)),
        (symbol('x-opt-byte'), byte(-100)), (symbol('x-opt-short'), short(-30000)),
        (symbol('x-opt-int'), int_(-2000000000)), (symbol('x-opt-long'), long_(-2**63)),
        (symbol('x-opt-float'), float_(-1.5)), (symbol('x-opt-double'), double(1e-300)),
        (symbol('x-opt-decimal32'), decimal32('22500001')),
        (symbol('x-opt-decimal64'), decimal64('2238000000000001')),
        (symbol('x-opt-decimal128'), decimal128('22080000000000000000000000000001')),
        (symbol('x-opt-char'), char(0x1f600)), (symbol('x-opt-timestamp'), timestamp(1700000000123)),
        (symbol('x-opt-uuid'), uuid_(UUID_A)), (symbol('x-opt-binary'), binary(b'\x00\xff')),
        (symbol('x-opt-string'), string('\u20ac')), (symbol('x-opt-symbol'), symbol('sym')),
        (symbol('x-opt-list'), list_(int_(1), string('a'))),
        (symbol('x-opt-map'), map_((string('k'), long_(1)))),
        (symbol('x-opt-array'), array('symbol', symbol('a'), symbol('b'))),
        (symbol('x-opt-described'), described(ulong(0x24), list_())),
    ]
    add('delivery and message annotations of every type', {
        'delivery-annotations': [(symbol('x-opt-delivery'), string('d')), (symbol('x-opt-n'), int_(1))],
        'message-annotations': annotation_values})
    add('application properties of every simple type', {'application-properties': [
        (string('null'), null()), (string('bool'), boolean(False)), (string('ubyte'), ubyte(255)),
        (string('ushort'), ushort(65535)), (string('uint'), uint(2**32 - 1)), (string('ulong'), ulong(2**64 - 1)),
        (string('byte'), byte(-128)), (string('short'), short(-32768)), (string('int'), int_(-2**31)),
        (string('long'), long_(2**63 - 1)), (string('float'), float_(FLOAT_MAX)), (string('double'), double(-0.0)),
        (string('decimal32'), decimal32('22500001')), (string('decimal64'), decimal64('2238000000000001')),
        (string('decimal128'), decimal128('22080000000000000000000000000001')), (string('char'), char('\u00e9')),
        (string('timestamp'), timestamp(0)), (string('uuid'), uuid_(UUID_A)), (string('binary'), binary(b'b')),
        (string('string'), string('s')), (string('symbol'), symbol('y')),
        (string('key with spaces and \u00fcnicode'), string('v')), (string(''), string('empty key')),
        (string('__proto__'), string('not a prototype'))]})
    add('application properties, empty map', {'application-properties': []})
    add('amqp-value body, string', {'body': {'section': 'amqp-value', 'value': string('hello')}})
    add('amqp-value body, binary', {'body': {'section': 'amqp-value', 'value': binary(b'\x01\x02')}})
    add('amqp-value body, list', {'body': {'section': 'amqp-value', 'value': list_(int_(1), list_())}})
    add('amqp-value body, map', {'body': {'section': 'amqp-value', 'value': map_(
        (string('a'), int_(1)), (symbol('b'), uint(2)), (ulong(3), double(3.5)))}})
    add('amqp-value body, array', {'body': {'section': 'amqp-value', 'value': array('long', long_(1), long_(2))}})
    add('amqp-value body, described', {'body': {'section': 'amqp-value', 'value': described(
        symbol('example:thing'), map_((symbol('id'), uuid_(UUID_A))))}})
    add('amqp-value body, ulong', {'body': {'section': 'amqp-value', 'value': ulong(2**64 - 1)}})
    add('amqp-value body, null', {'body': {'section': 'amqp-value', 'value': null()}})
    add('one data section', {'body': {'section': 'data', 'value': [b'payload'.hex()]}})
    add('one empty data section', {'body': {'section': 'data', 'value': ['']}})
    add('several data sections', {'body': {'section': 'data', 'value': ['01', '', (ALL_BYTES * 2).hex()]}})
    add('data section of 100000 bytes', {'body': {'section': 'data', 'value': [(ALL_BYTES * 390 + ALL_BYTES[:160]).hex()]}})
    add('one amqp-sequence section', {'body': {'section': 'amqp-sequence', 'value': [list_(int_(1), string('two'))]}})
    add('several amqp-sequence sections', {'body': {'section': 'amqp-sequence', 'value': [
        list_(int_(1)), list_(), list_(symbol('s'), list_(null()))]}})
    add('footer', {'body': {'section': 'data', 'value': ['00']},
                   'footer': [(symbol('x-opt-hash'), binary(b'\xde\xad\xbe\xef')), (symbol('x-opt-alg'), symbol('crc32'))]})
    add('every section', {
        'header': {'durable': boolean(True), 'priority': ubyte(7), 'ttl': uint(60000),
                   'first-acquirer': boolean(True), 'delivery-count': uint(3)},
        'delivery-annotations': [(symbol('x-opt-trace'), list_(string('hop1')))],
        'message-annotations': [(symbol('x-opt-partition-key'), string('pk')),
                                (symbol('x-opt-sequence-number'), long_(42))],
        'properties': {'message-id': string('m-1'), 'user-id': binary(b'guest'), 'to': string('queue'),
                       'subject': string('subj'), 'reply-to': string('replies'), 'correlation-id': ulong(7),
                       'content-type': symbol('text/plain'), 'content-encoding': symbol('utf-8'),
                       'absolute-expiry-time': timestamp(1700000060000), 'creation-time': timestamp(1700000000000),
                       'group-id': string('g'), 'group-sequence': uint(1), 'reply-to-group-id': string('rg')},
        'application-properties': [(string('colour'), string('red')), (string('weight'), int_(5))],
        'body': {'section': 'amqp-sequence', 'value': [list_(string('a')), list_(string('b'))]},
        'footer': [(symbol('x-opt-signature'), binary(b'sig'))]})
    add('every section, symbolic descriptors', {
        'header': {'durable': boolean(True)},
        'delivery-annotations': [(symbol('x-opt-a'), int_(1))],
        'message-annotations': [(symbol('x-opt-b'), int_(2))],
        'properties': {'message-id': ulong(1)},
        'application-properties': [(string('c'), int_(3))],
        'body': {'section': 'data', 'value': ['0102', '03']},
        'footer': [(symbol('x-opt-d'), int_(4))]}, 'data-symbolic')
    # The spec (3.2.10) allows ulong annotation keys (all reserved); proton.AnnotationDict accepts them.
    add('message annotations with a ulong key', {
        'message-annotations': [(ulong(1), string('reserved ulong key')), (symbol('x-opt-k'), int_(1))]})
    return c


# ---- Entry points -----------------------------------------------------------------------------


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=True, separators=(',', ':')) + '\n')


def run_corpus():
    for name, desc in value_corpus():
        encoded = encode_value(desc)
        got = decode_value(encoded)
        if got != desc:
            raise SystemExit('corpus value %r: Proton decodes its own encoding as %s, not %s'
                             % (name, json.dumps(got), json.dumps(desc)))
        emit({'kind': 'value', 'name': name, 'hex': encoded.hex(), 'expected': desc})
    for name, desc, build in message_corpus():
        encoded = encode_message(desc, build)
        got = walk_message(encoded)
        if got != json.loads(json.dumps(desc)):
            raise SystemExit('corpus message %r: Proton decodes its own encoding as %s, not %s'
                             % (name, json.dumps(got), json.dumps(desc)))
        emit({'kind': 'message', 'name': name, 'hex': encoded.hex(), 'expected': desc})


def run_decode():
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        out = {'name': item['name']}
        try:
            encoded = bytes.fromhex(item['hex'])
            if item['kind'] == 'value':
                out['got'] = decode_value(encoded)
            else:
                out['got'] = walk_message(encoded)
                # Proton's own message API must take the bytes too; re-encoding what it understood
                # shows what it kept (it has no footer and keeps one body section). Not for zero
                # bytes (a message of no sections): pn_message_decode asserts size > 0 and aborts.
                if encoded:
                    m = Message()
                    m.decode(encoded)
                    out['viaMessage'] = walk_message(m.encode())
                else:
                    out['viaMessage'] = None
            out['ok'] = True
        except Exception as e:  # reported per item, so one failure does not hide the others
            out['ok'] = False
            out['error'] = '%s: %s' % (type(e).__name__, e)
        emit(out)


if __name__ == '__main__':
    mode = sys.argv[1] if len(sys.argv) > 1 else ''
    if mode == 'corpus':
        run_corpus()
    elif mode == 'decode':
        run_decode()
    else:
        raise SystemExit('usage: codec_peer.py corpus | decode')
