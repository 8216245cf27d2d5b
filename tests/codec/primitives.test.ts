/**
 * Every primitive type of AMQP 1.0 (spec, types section 1.6) in every encoding the spec lists:
 * hand-written bytes decode to the exact value and type, the encoder writes the smallest
 * encoding byte for byte, and boundary values round trip with their type.
 */
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../../src/errors.js';
import { decodeValue, encodeValue } from '../../src/codec/value-bytes.js';
import {
  AmqpArray,
  Described,
  Typed,
  array,
  byte,
  char,
  decimal128,
  decimal32,
  decimal64,
  described,
  double,
  float,
  int,
  long,
  short,
  symbol,
  timestamp,
  typeOf,
  ubyte,
  uint,
  ulong,
  ushort,
  uuid,
  type AmqpValue,
} from '../../src/codec/values.js';
import { amqpDifference } from '../support/amqp-equal.js';

/** Bytes from hex, spaces allowed: `h('a1 01 61')`. */
function h(hex: string): Buffer {
  const clean = hex.replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex in test: ${hex}`);
  return Buffer.from(clean, 'hex');
}
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const repeat = (byteHex: string, n: number): string => byteHex.repeat(n);
const u32 = (n: number): string => n.toString(16).padStart(8, '0');

function expectDecodes(bytes: string, expected: AmqpValue): void {
  const diff = amqpDifference(decodeValue(h(bytes)), expected);
  expect(diff).toBeUndefined();
}

function expectEncodes(value: AmqpValue, bytes: string): void {
  expect(hexOf(encodeValue(value))).toBe(hexOf(h(bytes)));
}

/** Round trips `value`, checking type and value, and that re-encoding gives the same bytes. */
function expectRoundTrip(value: AmqpValue, expected: AmqpValue = value): void {
  const bytes = encodeValue(value);
  const decoded = decodeValue(bytes);
  expect(amqpDifference(decoded, expected)).toBeUndefined();
  expect(hexOf(encodeValue(decoded))).toBe(hexOf(bytes));
}

function decodeError(bytes: Uint8Array): DecodeError {
  try {
    decodeValue(bytes);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
  throw new Error(`expected a DecodeError for ${hexOf(bytes)}`);
}

describe('null', () => {
  it('decodes 0x40 as null, and encodes null and undefined as 0x40', () => {
    expectDecodes('40', null);
    expectEncodes(null, '40');
    expect(hexOf(encodeValue(undefined as unknown as AmqpValue))).toBe('40');
  });
});

describe('boolean', () => {
  it.each([
    ['41', true],
    ['42', false],
    ['56 01', true],
    ['56 00', false],
  ] as const)('decodes %s as %s', (bytes, value) => expectDecodes(bytes, value));

  it('encodes true as 0x41 and false as 0x42, the one-byte forms', () => {
    expectEncodes(true, '41');
    expectEncodes(false, '42');
  });
});

describe('ubyte, ushort, byte, short (one encoding each)', () => {
  it.each([
    ['50 00', ubyte(0)],
    ['50 ff', ubyte(255)],
    ['60 00 00', ushort(0)],
    ['60 01 00', ushort(256)],
    ['60 ff ff', ushort(65535)],
    ['51 00', byte(0)],
    ['51 7f', byte(127)],
    ['51 80', byte(-128)],
    ['51 ff', byte(-1)],
    ['61 7f ff', short(32767)],
    ['61 80 00', short(-32768)],
    ['61 ff ff', short(-1)],
  ] as const)('%s decodes to %o and encodes back to the same bytes', (bytes, value) => {
    expectDecodes(bytes, value);
    expectEncodes(value, bytes);
  });
});

describe('uint: uint0, smalluint, uint', () => {
  it.each([
    ['43', 0],
    ['52 00', 0],
    ['52 01', 1],
    ['52 ff', 255],
    ['70 00 00 00 00', 0],
    ['70 00 00 00 ff', 255],
    ['70 00 00 01 00', 256],
    ['70 7f ff ff ff', 2 ** 31 - 1],
    ['70 80 00 00 00', 2 ** 31],
    ['70 ff ff ff ff', 2 ** 32 - 1],
  ] as const)('decodes %s as uint(%d)', (bytes, n) => expectDecodes(bytes, uint(n)));

  it.each([
    [0, '43'],
    [1, '52 01'],
    [255, '52 ff'],
    [256, '70 00 00 01 00'],
    [2 ** 32 - 1, '70 ff ff ff ff'],
  ] as const)('encodes uint(%d) in the smallest form, %s', (n, bytes) => expectEncodes(uint(n), bytes));
});

describe('ulong: ulong0, smallulong, ulong', () => {
  it.each([
    ['44', 0n],
    ['53 00', 0n],
    ['53 ff', 255n],
    ['80 00 00 00 00 00 00 00 00', 0n],
    ['80 00 00 00 00 00 00 01 00', 256n],
    ['80 7f ff ff ff ff ff ff ff', 2n ** 63n - 1n],
    ['80 80 00 00 00 00 00 00 00', 2n ** 63n],
    ['80 ff ff ff ff ff ff ff ff', 2n ** 64n - 1n],
  ] as const)('decodes %s as ulong(%s)', (bytes, n) => expectDecodes(bytes, ulong(n)));

  it.each([
    [0n, '44'],
    [1n, '53 01'],
    [255n, '53 ff'],
    [256n, '80 00 00 00 00 00 00 01 00'],
    [2n ** 64n - 1n, '80 ff ff ff ff ff ff ff ff'],
  ] as const)('encodes ulong(%s) in the smallest form, %s', (n, bytes) => expectEncodes(ulong(n), bytes));

  it('takes a safe integer number or a decimal string too', () => {
    expectEncodes(ulong(300), '80 00 00 00 00 00 00 01 2c');
    expectEncodes(ulong('18446744073709551615'), '80 ff ff ff ff ff ff ff ff');
  });

  it('encodes a plain bigint beyond the long range as a ulong', () => {
    expectEncodes(2n ** 63n, '80 80 00 00 00 00 00 00 00');
    expectRoundTrip(2n ** 64n - 1n, ulong(2n ** 64n - 1n));
  });
});

describe('int: smallint, int', () => {
  it.each([
    ['54 00', 0],
    ['54 7f', 127],
    ['54 80', -128],
    ['54 ff', -1],
    ['71 00 00 00 05', 5],
    ['71 00 00 00 80', 128],
    ['71 ff ff ff 7f', -129],
    ['71 7f ff ff ff', 2 ** 31 - 1],
    ['71 80 00 00 00', -(2 ** 31)],
  ] as const)('decodes %s as the number %d', (bytes, n) => expectDecodes(bytes, n));

  it.each([
    [0, '54 00'],
    [127, '54 7f'],
    [-128, '54 80'],
    [128, '71 00 00 00 80'],
    [-129, '71 ff ff ff 7f'],
    [255, '71 00 00 00 ff'],
    [256, '71 00 00 01 00'],
    [2 ** 31 - 1, '71 7f ff ff ff'],
    [-(2 ** 31), '71 80 00 00 00'],
  ] as const)('encodes the number %d in the smallest form, %s', (n, bytes) => expectEncodes(n, bytes));
});

describe('long: smalllong, long', () => {
  it.each([
    ['55 00', 0n],
    ['55 7f', 127n],
    ['55 80', -128n],
    ['81 00 00 00 00 00 00 00 05', 5n],
    ['81 7f ff ff ff ff ff ff ff', 2n ** 63n - 1n],
    ['81 80 00 00 00 00 00 00 00', -(2n ** 63n)],
  ] as const)('decodes %s as the bigint %s', (bytes, n) => expectDecodes(bytes, n));

  it.each([
    [0n, '55 00'],
    [127n, '55 7f'],
    [-128n, '55 80'],
    [128n, '81 00 00 00 00 00 00 00 80'],
    [-129n, '81 ff ff ff ff ff ff ff 7f'],
    [2n ** 31n, '81 00 00 00 00 80 00 00 00'],
    [2n ** 63n - 1n, '81 7f ff ff ff ff ff ff ff'],
    [-(2n ** 63n), '81 80 00 00 00 00 00 00 00'],
  ] as const)('encodes the bigint %s in the smallest form, %s', (n, bytes) => expectEncodes(n, bytes));

  it('encodes safe integers beyond the int range as longs, which decode as bigints', () => {
    expectEncodes(2 ** 31, '81 00 00 00 00 80 00 00 00');
    expectEncodes(-(2 ** 31) - 1, '81 ff ff ff ff 7f ff ff ff');
    expectRoundTrip(Number.MAX_SAFE_INTEGER, BigInt(Number.MAX_SAFE_INTEGER));
    expectRoundTrip(Number.MIN_SAFE_INTEGER, BigInt(Number.MIN_SAFE_INTEGER));
  });

  it('long() gives the bigint that encodes as long', () => {
    expect(long(5)).toBe(5n);
    expect(long('-9223372036854775808')).toBe(-(2n ** 63n));
  });
});

describe('float and double (IEEE 754)', () => {
  it.each([
    ['72 3f 80 00 00', 1],
    ['72 3d cc cc cd', Math.fround(0.1)],
    ['72 80 00 00 00', -0],
    ['72 7f c0 00 00', NaN],
    ['72 7f 80 00 00', Infinity],
    ['72 ff 80 00 00', -Infinity],
    ['72 7f 7f ff ff', 3.4028234663852886e38],
    ['72 00 00 00 01', 1.401298464324817e-45],
  ] as const)('decodes %s as float(%d) and encodes it back', (bytes, n) => {
    expectDecodes(bytes, float(n));
    expectEncodes(float(n), bytes);
  });

  it.each([
    ['82 3f f0 00 00 00 00 00 00', 1],
    ['82 3f f8 00 00 00 00 00 00', 1.5],
    ['82 80 00 00 00 00 00 00 00', -0],
    ['82 7f f8 00 00 00 00 00 00', NaN],
    ['82 7f f0 00 00 00 00 00 00', Infinity],
    ['82 ff f0 00 00 00 00 00 00', -Infinity],
    ['82 7f ef ff ff ff ff ff ff', Number.MAX_VALUE],
    ['82 00 00 00 00 00 00 00 01', Number.MIN_VALUE],
  ] as const)('decodes %s as double(%d) and encodes it back', (bytes, n) => {
    expectDecodes(bytes, double(n));
    expectEncodes(double(n), bytes);
  });

  it('rounds a float to single precision when it is made', () => {
    expect(float(0.1).value).toBe(Math.fround(0.1));
    expectRoundTrip(float(0.1));
  });

  it('encodes a plain non-integer number as a double, which decodes as double() so it stays distinct from an int', () => {
    expectEncodes(1.5, '82 3f f8 00 00 00 00 00 00');
    expectRoundTrip(1.5, double(1.5));
    expectRoundTrip(NaN, double(NaN));
    expectRoundTrip(Infinity, double(Infinity));
    expectRoundTrip(2 ** 53, double(2 ** 53));
  });

  it('encodes a plain -0 as a double, keeping its sign (not as the long 0)', () => {
    expect(typeOf(-0)).toBe('double');
    expectEncodes(-0, '82 80 00 00 00 00 00 00 00');
    expectRoundTrip(-0, double(-0));
  });
});

describe('decimal32, decimal64, decimal128 (raw IEEE 754-2008 bytes)', () => {
  it('decode to their bytes, typed, and encode back', () => {
    const d32 = decimal32(h('22 50 00 01'));
    const d64 = decimal64(h('22 38 00 00 00 00 00 01'));
    const d128Hex = '22 08' + repeat('00', 13) + '01';
    const d128 = decimal128(h(d128Hex));
    expectDecodes('74 22 50 00 01', d32);
    expectDecodes('84 22 38 00 00 00 00 00 01', d64);
    expectDecodes('94' + d128Hex, d128);
    expectEncodes(d32, '74 22 50 00 01');
    expectEncodes(d64, '84 22 38 00 00 00 00 00 01');
    expectEncodes(d128, '94' + d128Hex);
  });

  it('keep the decoded bytes apart from the input buffer', () => {
    const input = h('74 01 02 03 04');
    const v = decodeValue(input) as Typed<'decimal32'>;
    input[1] = 0xff;
    expect([...v.value]).toEqual([1, 2, 3, 4]);
  });
});

describe('char (UTF-32)', () => {
  it.each([
    ['73 00 00 00 61', 'a'],
    ['73 00 00 00 00', '\u0000'],
    ['73 00 00 00 e9', 'é'],
    ['73 00 01 f6 00', '😀'],
    ['73 00 10 ff ff', String.fromCodePoint(0x10ffff)],
  ] as const)('decodes %s as char(%j) and encodes it back', (bytes, c) => {
    expectDecodes(bytes, char(c));
    expectEncodes(char(c), bytes);
  });

  it('accepts a code point number', () => {
    expect(char(0x1f600).value).toBe('😀');
  });

  it('refuses a code point beyond Unicode', () => {
    expect(decodeError(h('73 00 11 00 00')).condition).toBe('amqp:decode-error');
  });
});

describe('timestamp (ms64)', () => {
  it.each([
    ['83 00 00 00 00 00 00 00 00', 0],
    ['83 ff ff ff ff ff ff ff ff', -1],
    ['83 00 00 01 8b cf e5 68 00', 1_700_000_000_000],
    ['83 00 1e b2 08 c2 dc 00 00', 8.64e15],
    ['83 ff e1 4d f7 3d 24 00 00', -8.64e15],
  ] as const)('decodes %s as a Date of %d ms and encodes it back', (bytes, ms) => {
    expectDecodes(bytes, new Date(ms));
    expectEncodes(new Date(ms), bytes);
  });

  it('keeps timestamps beyond the range of Date as typed bigints', () => {
    expectDecodes('83 00 1e b2 08 c2 dc 00 01', new Typed('timestamp', 8_640_000_000_000_001n));
    expectDecodes('83 7f ff ff ff ff ff ff ff', new Typed('timestamp', 2n ** 63n - 1n));
    expectDecodes('83 80 00 00 00 00 00 00 00', new Typed('timestamp', -(2n ** 63n)));
    expectRoundTrip(new Typed('timestamp', 2n ** 63n - 1n));
  });

  it('timestamp() makes a Date from milliseconds', () => {
    expectRoundTrip(timestamp(1234), new Date(1234));
  });
});

describe('uuid', () => {
  it('decodes 16 bytes as the lower-case canonical text form, and encodes it back', () => {
    const bytes = '98 6b a7 b8 10 9d ad 11 d1 80 b4 00 c0 4f d4 30 c8';
    expectDecodes(bytes, uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'));
    expectEncodes(uuid('6BA7B810-9DAD-11D1-80B4-00C04FD430C8'), bytes);
    expectEncodes(uuid(h('6b a7 b8 10 9d ad 11 d1 80 b4 00 c0 4f d4 30 c8')), bytes);
  });
});

describe('binary: vbin8, vbin32', () => {
  it.each([
    ['a0 00', ''],
    ['a0 03 01 02 03', '010203'],
    ['b0 00 00 00 00', ''],
    ['b0 00 00 00 03 01 02 03', '010203'],
  ] as const)('decodes %s as the bytes %j', (bytes, content) => expectDecodes(bytes, h(content)));

  it('decodes to a Buffer', () => {
    expect(Buffer.isBuffer(decodeValue(h('a0 01 07')))).toBe(true);
  });

  it('encodes up to 255 bytes as vbin8 and 256 or more as vbin32', () => {
    expectEncodes(new Uint8Array(0), 'a0 00');
    expectEncodes(new Uint8Array(255).fill(7), 'a0 ff' + repeat('07', 255));
    expectEncodes(new Uint8Array(256).fill(7), 'b0 00 00 01 00' + repeat('07', 256));
    expectRoundTrip(new Uint8Array(256).fill(9));
    expectRoundTrip(new Uint8Array(70_000).fill(1));
  });
});

describe('string: str8-utf8, str32-utf8', () => {
  it.each([
    ['a1 00', ''],
    ['a1 05 68 65 6c 6c 6f', 'hello'],
    ['a1 02 c3 a9', 'é'],
    ['a1 03 e2 82 ac', '€'],
    ['a1 04 f0 9f 98 80', '😀'],
    ['a1 0a 61 c3 a9 e2 82 ac f0 9f 98 80', 'aé€😀'],
    ['b1 00 00 00 00', ''],
    ['b1 00 00 00 02 c3 a9', 'é'],
  ] as const)('decodes %s as %j', (bytes, s) => expectDecodes(bytes, s));

  it.each([
    ['', 'a1 00'],
    ['hello', 'a1 05 68 65 6c 6c 6f'],
    ['aé€😀', 'a1 0a 61 c3 a9 e2 82 ac f0 9f 98 80'],
  ] as const)('encodes %j as str8', (s, bytes) => expectEncodes(s, bytes));

  it('switches from str8 to str32 at 256 UTF-8 bytes, whatever the number of UTF-16 units', () => {
    expectEncodes('a'.repeat(255), 'a1 ff' + repeat('61', 255));
    expectEncodes('a'.repeat(256), 'b1 00 00 01 00' + repeat('61', 256));
    // 85 three-byte characters: 255 bytes, the largest string of 3-byte characters that fits str8.
    expectEncodes('€'.repeat(85), 'a1 ff' + repeat('e282ac', 85));
    expectEncodes('€'.repeat(86), 'b1 00 00 01 02' + repeat('e282ac', 86));
    // 128 UTF-16 units but 255 bytes.
    expectEncodes('é'.repeat(127) + 'a', 'a1 ff' + repeat('c3a9', 127) + '61');
    expectEncodes('é'.repeat(128), 'b1 00 00 01 00' + repeat('c3a9', 128));
    // Surrogate pairs: 63 x 4 bytes + 3 = 255 bytes in 129 UTF-16 units.
    expectEncodes('😀'.repeat(63) + 'abc', 'a1 ff' + repeat('f09f9880', 63) + '616263');
  });

  it('round trips boundary strings', () => {
    for (const s of [
      '',
      'x'.repeat(255),
      'x'.repeat(256),
      '€'.repeat(85),
      '€'.repeat(86),
      '😀'.repeat(64),
      '😀'.repeat(100_000),
      '\u0000',
      '\uffff',
    ]) {
      expectRoundTrip(s);
    }
  });
});

describe('symbol: sym8, sym32', () => {
  it.each([
    ['a3 00', ''],
    ['a3 03 61 62 63', 'abc'],
    ['b3 00 00 00 03 61 62 63', 'abc'],
  ] as const)('decodes %s as symbol(%j)', (bytes, s) => expectDecodes(bytes, symbol(s)));

  it('encodes up to 255 characters as sym8 and more as sym32', () => {
    expectEncodes(symbol('abc'), 'a3 03 61 62 63');
    expectEncodes(symbol('s'.repeat(255)), 'a3 ff' + repeat('73', 255));
    expectEncodes(symbol('s'.repeat(256)), 'b3 00 00 01 00' + repeat('73', 256));
    expectRoundTrip(symbol(''));
    expectRoundTrip(symbol('s'.repeat(256)));
  });

  it('refuses a symbol holding a byte that is not ASCII (it could not be sent on unchanged)', () => {
    const e = decodeError(h('a3 02 c3 a9'));
    expect(e.condition).toBe('amqp:decode-error');
    expect(e.offset).toBe(2);
    expect(decodeError(h('b3 00 00 00 01 80')).condition).toBe('amqp:decode-error');
  });
});

describe('list: list0, list8, list32', () => {
  it.each([
    ['45', []],
    ['c0 01 00', []],
    ['d0 00 00 00 04 00 00 00 00', []],
    ['c0 03 02 41 42', [true, false]],
    ['d0 00 00 00 06 00 00 00 02 41 42', [true, false]],
    ['c0 06 01 c0 03 01 54 01', [[1]]],
    ['c0 04 03 40 45 41', [null, [], true]],
  ] as const)('decodes %s', (bytes, list) => expectDecodes(bytes, list as unknown as AmqpValue[]));

  it('encodes the empty list as list0', () => {
    expectEncodes([], '45');
  });

  it('encodes a list as list8 while size and count fit in a byte, else as list32', () => {
    expectEncodes([true, false], 'c0 03 02 41 42');
    expectEncodes([[1]], 'c0 06 01 c0 03 01 54 01');
    expectEncodes(new Array<null>(254).fill(null), 'c0 ff fe' + repeat('40', 254));
    expectEncodes(new Array<null>(255).fill(null), 'd0 00 00 01 03 00 00 00 ff' + repeat('40', 255));
    expectEncodes(new Array<null>(256).fill(null), 'd0 00 00 01 04 00 00 01 00' + repeat('40', 256));
    // One element whose bytes push the size past 255.
    expectEncodes(['a'.repeat(252)], 'c0 ff 01 a1 fc' + repeat('61', 252));
    expectEncodes(['a'.repeat(253)], 'd0 00 00 01 03 00 00 00 01 a1 fd' + repeat('61', 253));
  });

  it('widens an inner list without disturbing the outer one', () => {
    expectRoundTrip([1, ['x'.repeat(300), [2]], 3]);
    expectRoundTrip([new Array<number>(300).fill(5), 'tail']);
  });

  it('round trips boundary lists', () => {
    for (const n of [0, 1, 254, 255, 256, 70_000]) expectRoundTrip(new Array<number>(n).fill(1));
  });

  it('refuses a list whose elements do not fill its declared size exactly', () => {
    expect(decodeError(h('c0 03 01 41 42')).message).toMatch(/past its last element/);
    expect(decodeError(h('c0 02 02 41 42')).condition).toBe('amqp:decode-error');
    expect(decodeError(h('c0 00')).condition).toBe('amqp:decode-error');
  });
});

describe('map: map8, map32', () => {
  it.each([
    ['c1 01 00', new Map()],
    ['d1 00 00 00 04 00 00 00 00', new Map()],
    ['c1 06 02 a1 01 61 54 01', new Map([['a', 1]])],
    ['d1 00 00 00 09 00 00 00 02 a1 01 61 54 01', new Map([['a', 1]])],
    [
      'c1 08 04 a3 01 6b 40 54 01 41',
      new Map<AmqpValue, AmqpValue>([
        [symbol('k'), null],
        [1, true],
      ]),
    ],
  ] as const)('decodes %s', (bytes, map) => expectDecodes(bytes, map));

  it('encodes a Map, and a plain object as a map with string keys, as map8 when it fits', () => {
    expectEncodes(new Map(), 'c1 01 00');
    expectEncodes(new Map([['a', 1]]), 'c1 06 02 a1 01 61 54 01');
    expectEncodes({ a: 1 }, 'c1 06 02 a1 01 61 54 01');
    expectEncodes({ a: 1, skipped: undefined }, 'c1 06 02 a1 01 61 54 01');
    expectRoundTrip({ a: 1 }, new Map([['a', 1]]));
  });

  it('switches to map32 when the size passes 255', () => {
    const small = new Map<AmqpValue, AmqpValue>(Array.from({ length: 84 }, (_, i) => [i, null]));
    const smallBytes = [...small.keys()].map((i) => `54${(i as number).toString(16).padStart(2, '0')}40`).join('');
    expectEncodes(small, 'c1 fd a8' + smallBytes);
    const big = new Map<AmqpValue, AmqpValue>(Array.from({ length: 85 }, (_, i) => [i, null]));
    const bigBytes = [...big.keys()].map((i) => `54${(i as number).toString(16).padStart(2, '0')}40`).join('');
    expectEncodes(big, 'd1 00 00 01 03 00 00 00 aa' + bigBytes);
    expectRoundTrip(big);
  });

  it('keeps keys of different types distinct: int 1, long 1, ulong 1, ubyte 1, double 1, "1" and symbol 1', () => {
    const m = new Map<AmqpValue, AmqpValue>([
      [1, 'int'],
      [1n, 'long'],
      [ulong(1), 'ulong'],
      [ubyte(1), 'ubyte'],
      [double(1), 'double'],
      ['1', 'string'],
      [symbol('1'), 'symbol'],
    ]);
    const bytes = encodeValue(m);
    const decoded = decodeValue(bytes) as Map<AmqpValue, AmqpValue>;
    expect(decoded.size).toBe(7);
    expect(amqpDifference(decoded, m)).toBeUndefined();
    expect(decoded.get(1)).toBe('int');
    expect(decoded.get(1n)).toBe('long');
    expect(decoded.get('1')).toBe('string');
  });

  it('decodes hand-written int and ulong keys of the same value as two entries', () => {
    expectDecodes(
      'c1 0b 04 54 01 a1 01 69 53 01 a1 01 75',
      new Map<AmqpValue, AmqpValue>([
        [1, 'i'],
        [ulong(1), 'u'],
      ]),
    );
  });

  it('refuses a map with an odd number of elements', () => {
    expect(decodeError(h('c1 02 01 40')).message).toMatch(/odd number/);
  });
});

describe('array: array8, array32', () => {
  it.each([
    ['e0 05 03 54 01 02 03', array('int', [1, 2, 3])],
    ['e0 02 00 54', array('int', [])],
    ['e0 0a 02 71 00 00 00 01 00 00 03 e8', array('int', [1, 1000])],
    ['e0 04 02 56 01 00', array('boolean', [true, false])],
    ['e0 02 02 41', array('boolean', [true, true])],
    ['e0 02 02 42', array('boolean', [false, false])],
    ['e0 04 02 50 00 ff', array('ubyte', [0, 255])],
    ['e0 06 02 60 00 01 ff ff', array('ushort', [1, 65535])],
    ['e0 02 02 43', array('uint', [0, 0])],
    ['e0 04 02 52 00 ff', array('uint', [0, 255])],
    ['e0 0a 02 70 00 00 00 01 00 00 01 00', array('uint', [1, 256])],
    ['e0 02 02 44', array('ulong', [0n, 0n])],
    ['e0 04 02 53 00 ff', array('ulong', [0n, 255n])],
    ['e0 0a 01 80 00 00 00 00 00 00 01 00', array('ulong', [256n])],
    ['e0 04 02 51 80 7f', array('byte', [-128, 127])],
    ['e0 06 02 61 80 00 7f ff', array('short', [-32768, 32767])],
    ['e0 03 01 55 ff', array('long', [-1n])],
    ['e0 0a 01 81 ff ff ff ff ff ff ff 7f', array('long', [-129n])],
    ['e0 06 01 72 3f 80 00 00', array('float', [1])],
    ['e0 0a 01 82 3f f8 00 00 00 00 00 00', array('double', [1.5])],
    ['e0 06 01 74 01 02 03 04', array('decimal32', [h('01020304')])],
    ['e0 0a 01 84 01 02 03 04 05 06 07 08', array('decimal64', [h('0102030405060708')])],
    [
      'e0 12 01 94 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f',
      array('decimal128', [h('000102030405060708090a0b0c0d0e0f')]),
    ],
    ['e0 0a 02 73 00 00 00 61 00 01 f6 00', array('char', ['a', '😀'])],
    ['e0 0a 01 83 00 00 01 8b cf e5 68 00', array('timestamp', [new Date(1_700_000_000_000)])],
    [
      'e0 12 01 98 6b a7 b8 10 9d ad 11 d1 80 b4 00 c0 4f d4 30 c8',
      array('uuid', ['6ba7b810-9dad-11d1-80b4-00c04fd430c8']),
    ],
    ['e0 05 02 a0 01 07 00', array('binary', [h('07'), h('')])],
    ['e0 05 01 a1 02 c3 a9', array('string', ['é'])],
    ['e0 07 02 a3 01 61 02 62 63', array('symbol', ['a', 'bc'])],
  ] as const)('decodes %s and encodes it back to the same bytes', (bytes, arr) => {
    expectDecodes(bytes, arr);
    const canonical = hexOf(encodeValue(decodeValue(h(bytes))));
    // The zero-width element forms (0x41, 0x42, 0x43, 0x44) re-encode in the one-byte form.
    if (!/^e00202(41|42|43|44)$/.test(hexOf(h(bytes)))) expect(canonical).toBe(hexOf(h(bytes)));
  });

  it('re-encodes zero-width and non-smallest element encodings in the smallest form', () => {
    expectEncodes(decodeValue(h('e0 02 02 43')), 'e0 04 02 52 00 00');
    expectEncodes(decodeValue(h('e0 02 02 41')), 'e0 04 02 56 01 01');
    expectEncodes(decodeValue(h('e0 0a 02 70 00 00 00 01 00 00 00 02')), 'e0 04 02 52 01 02');
  });

  it('encodes arrays of described values with the descriptor once, before the element constructor', () => {
    const arr = array('symbol', ['x', 'yz'], ulong(5));
    expectEncodes(arr, 'e0 0a 02 00 53 05 a3 01 78 02 79 7a');
    expectDecodes('e0 0a 02 00 53 05 a3 01 78 02 79 7a', arr);
    expectDecodes('e0 0c 01 00 a3 03 66 6f 6f 71 00 00 00 07', array('int', [7], symbol('foo')));
  });

  it('encodes arrays of arrays, lists and maps with 32-bit element sizes and counts', () => {
    const nested = array('array', [array('int', [1]), array('string', ['a'])]);
    const nestedBytes = 'e0 17 02 f0' + '00000006 00000001 54 01' + '00000007 00000001 a1 01 61';
    expectEncodes(nested, nestedBytes);
    expectDecodes(nestedBytes, nested);

    const lists = array('list', [[1], []]);
    const listBytes = 'e0 14 02 d0' + '00000006 00000001 54 01' + '00000004 00000000';
    expectEncodes(lists, listBytes);
    expectDecodes(listBytes, lists);

    const maps = array('map', [new Map([['a', 1]])]);
    const mapBytes = 'e0 0f 01 d1' + '00000009 00000002 a1 01 61 54 01';
    expectEncodes(maps, mapBytes);
    expectDecodes(mapBytes, maps);

    expectRoundTrip(
      array('array', [array('list', [[array('map', [new Map([[symbol('k'), array('ulong', [1n], symbol('d'))]])])]])]),
    );
  });

  it('decodes list8 and map8 element constructors, and list0 elements', () => {
    expectDecodes('e0 06 02 c0 01 00 01 00', array('list', [[], []]));
    expectDecodes('e0 02 02 45', array('list', [[], []]));
    expectDecodes('e0 07 01 c1 04 02 54 01 40', array('map', [new Map([[1, null]])]));
  });

  it('switches from array8 to array32 when the size passes 255', () => {
    expectEncodes(array('ubyte', new Array<number>(253).fill(7)), 'e0 ff fd 50' + repeat('07', 253));
    expectEncodes(
      array('ubyte', new Array<number>(254).fill(7)),
      `f0 ${u32(4 + 1 + 254)} ${u32(254)} 50` + repeat('07', 254),
    );
    expectDecodes(`f0 ${u32(4 + 1 + 3)} ${u32(3)} 54 01 02 03`, array('int', [1, 2, 3]));
  });

  it('round trips arrays of more than 65536 elements', () => {
    expectRoundTrip(array('ubyte', new Array<number>(70_000).fill(3)));
    expectRoundTrip(array('symbol', new Array<string>(70_000).fill('s')));
  });

  it('accepts up to 65536 zero-width elements in one input, and no more', () => {
    const nulls = decodeValue(h(`f0 00000005 ${u32(65536)} 40`)) as AmqpArray;
    expect(nulls.elements.length).toBe(65536);
    expect(decodeError(h(`f0 00000005 ${u32(65537)} 40`)).message).toMatch(/zero-width/);
    // The budget is shared by all the arrays of one input.
    const two = h(`f0 ${u32(4 + 1 + 18)} 00000002 f0 ${u32(5)} ${u32(40000)} 43 ${u32(5)} ${u32(40000)} 43`);
    expect(decodeError(two).message).toMatch(/zero-width/);
  });

  it('refuses an array whose element constructor is not a type', () => {
    expect(decodeError(h('e0 03 01 ff 00')).condition).toBe('amqp:decode-error');
    expect(decodeError(h('e0 03 01 00 53')).condition).toBe('amqp:decode-error');
  });
});

describe('described values', () => {
  it.each([
    ['00 53 01 a1 01 61', described(ulong(1), 'a')],
    ['00 44 40', described(ulong(0), null)],
    ['00 80 00 00 00 01 00 00 00 10 40', described(ulong(0x1_0000_0010n), null)],
    ['00 a3 03 66 6f 6f 45', described(symbol('foo'), [])],
    ['00 b3 00 00 00 03 66 6f 6f 45', described(symbol('foo'), [])],
    ['00 53 01 00 a3 01 62 41', described(ulong(1), described(symbol('b'), true))],
  ] as const)('decodes %s', (bytes, d) => expectDecodes(bytes, d));

  it('encodes a descriptor given as a number or bigint as a ulong, and as a string as a symbol', () => {
    expectEncodes(described(5n, null), '00 53 05 40');
    expectEncodes(described(5, null), '00 53 05 40');
    expectEncodes(described('x:y', 1), '00 a3 03 78 3a 79 54 01');
    expectEncodes(described(ulong(300), [1]), '00 80 00 00 00 00 00 00 01 2c c0 03 01 54 01');
  });

  it('keeps a descriptor of another type (int, string, long) as it was, so it re-encodes to the same bytes', () => {
    for (const bytes of ['00 54 05 40', '00 54 ff 40', '00 a1 01 61 40', '00 55 80 40', '00 a3 02 78 79 00 52 01 41']) {
      const decoded = decodeValue(h(bytes));
      expect(decoded).toBeInstanceOf(Described);
      expect(hexOf(encodeValue(decoded))).toBe(hexOf(h(bytes)));
    }
    expect((decodeValue(h('00 54 ff 40')) as Described).descriptor).toBe(-1);
    expect((decodeValue(h('00 a1 01 61 40')) as Described).descriptor).toBe('a');
  });

  it('round trips described values of every kind of value', () => {
    for (const v of [
      null,
      1,
      'x',
      [1, 2],
      new Map([['k', 1]]),
      array('int', [1]),
      described(ulong(2), true),
    ] as AmqpValue[]) {
      expectRoundTrip(described(symbol('com.example:thing'), v));
      expectRoundTrip(described(ulong(0x1234_0000_0001n), v));
    }
  });
});

describe('truncated and malformed input', () => {
  it.each([
    ['', 'nothing at all'],
    ['50', 'a ubyte without its byte'],
    ['71 00 00 00', 'an int one byte short'],
    ['a1 05 61 62', 'a string shorter than declared'],
    ['98 00 01', 'a uuid cut short'],
    ['c0 05 02 41', 'a list shorter than declared'],
    ['00 53', 'a described value without its value'],
    ['ff', 'a reserved format code'],
    ['54 01 54 02', 'two values where one is expected'],
  ] as const)('refuses %j (%s) with a DecodeError', (bytes, _what) => {
    const e = decodeError(h(bytes));
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.condition).toBe('amqp:decode-error');
    expect(e.offset).toBeGreaterThanOrEqual(0);
  });
});

describe('bad input to the typed constructors throws EncodeError at once', () => {
  const fn = (): number => 1;
  class Thing {
    x = 1;
  }
  it.each([
    ['ubyte(256)', () => ubyte(256)],
    ['ubyte(-1)', () => ubyte(-1)],
    ['ubyte(1.5)', () => ubyte(1.5)],
    ['ubyte(NaN)', () => ubyte(NaN)],
    ['ushort(65536)', () => ushort(65536)],
    ['uint(-1)', () => uint(-1)],
    ['uint(2^32)', () => uint(2 ** 32)],
    ['ulong(-1)', () => ulong(-1)],
    ['ulong(2^64)', () => ulong(2n ** 64n)],
    ['ulong(1.5)', () => ulong(1.5)],
    ['ulong("x")', () => ulong('x')],
    ['ulong(2^53 + 2) given as an imprecise number', () => ulong(2 ** 53 + 2)],
    ['byte(128)', () => byte(128)],
    ['byte(-129)', () => byte(-129)],
    ['short(32768)', () => short(32768)],
    ['int(2^31)', () => int(2 ** 31)],
    ['int(0.5)', () => int(0.5)],
    ['long(2^63)', () => long(2n ** 63n)],
    ['long(2^60) given as a number', () => long(2 ** 60)],
    ['symbol("é")', () => symbol('é')],
    ['symbol of a number', () => symbol(5 as unknown as string)],
    ['char("ab")', () => char('ab')],
    ['char("")', () => char('')],
    ['char(0x110000)', () => char(0x110000)],
    ['uuid("nope")', () => uuid('nope')],
    ['uuid of 15 bytes', () => uuid(new Uint8Array(15))],
    ['decimal32 of 3 bytes', () => decimal32(new Uint8Array(3))],
    ['decimal64 of 16 bytes', () => decimal64(new Uint8Array(16))],
    ['decimal128 of a string', () => decimal128('x' as unknown as Uint8Array)],
    ['float("1")', () => float('1' as unknown as number)],
    ['double(1n)', () => double(1n as unknown as number)],
    ['timestamp(NaN)', () => timestamp(NaN)],
    ['ubyte(a function)', () => ubyte(fn as unknown as number)],
    ['symbol(a class instance)', () => symbol(new Thing() as unknown as string)],
    ['uint(a class instance)', () => uint(new Thing() as unknown as number)],
    ['char(a function)', () => char(fn as unknown as string)],
  ])('%s', (_name, make) => {
    expect(make).toThrow(EncodeError);
  });

  it.each([
    ['a function', fn],
    ['a class instance', new Thing()],
    ['a Set', new Set([1])],
    ['a JavaScript symbol', Symbol('s')],
    ['a function inside a list', [1, fn]],
    ['a class instance as a map key', new Map([[new Thing(), 1]])],
    ['a bigint beyond the ulong range', 2n ** 64n],
    ['a bigint below the long range', -(2n ** 63n) - 1n],
    ['an invalid Date', new Date(NaN)],
  ])('encodeValue refuses %s with EncodeError', (_name, value) => {
    expect(() => encodeValue(value as unknown as AmqpValue)).toThrow(EncodeError);
  });

  it('typeOf names no type for a function or a class instance', () => {
    expect(() => typeOf(fn as unknown as AmqpValue)).toThrow(EncodeError);
    expect(() => typeOf(new Thing() as unknown as AmqpValue)).toThrow(EncodeError);
  });

  it('refuses a cyclic value with EncodeError rather than overflowing the stack', () => {
    const cycle: AmqpValue[] = [];
    cycle.push(cycle);
    expect(() => encodeValue(cycle)).toThrow(EncodeError);
  });

  it.each([
    ['an int array holding a fraction', array('int', [1.5])],
    ['an int array holding a string', array('int', ['1'])],
    ['a ulong array holding a negative number', array('ulong', [-5n])],
    ['a ubyte array holding 256', array('ubyte', [256])],
    ['a symbol array holding non-ASCII text', array('symbol', ['é'])],
    ['a char array holding two characters', array('char', ['ab'])],
    ['a timestamp array holding an invalid Date', array('timestamp', [new Date(NaN)])],
    ['a list array holding a number', array('list', [1])],
    ['an array of an unknown type', array('bogus' as 'int', [1])],
  ])('encodeValue refuses %s instead of writing something else', (_name, arr) => {
    expect(() => encodeValue(arr)).toThrow(EncodeError);
  });

  it('refuses a directly built Typed whose value is out of range', () => {
    expect(() => encodeValue(new Typed('ubyte', 300))).toThrow(EncodeError);
    expect(() => encodeValue(new Typed('symbol', 'é'))).toThrow(EncodeError);
    expect(() => encodeValue(new Typed('char', 'ab'))).toThrow(EncodeError);
    expect(() => encodeValue(new Typed('uuid', 'nope'))).toThrow(EncodeError);
  });
});

describe('nesting depth', () => {
  const nest = (levels: number): AmqpValue => {
    let v: AmqpValue = null;
    for (let i = 0; i < levels; i++) v = [v];
    return v;
  };

  it('encodes and decodes values nested as deep as the limit, lists, maps, arrays and described values alike', () => {
    expectRoundTrip(nest(64));
    let m: AmqpValue = 1;
    for (let i = 0; i < 64; i++) m = new Map([['k', m]]);
    expectRoundTrip(m);
    let a: AmqpArray = array('int', [1]);
    for (let i = 1; i < 64; i++) a = array('array', [a]);
    expectRoundTrip(a);
    let d: AmqpValue = 1;
    for (let i = 0; i < 64; i++) d = described(ulong(i), d);
    expectRoundTrip(d);
  });

  it('refuses to encode one level deeper, as the decoder would refuse it', () => {
    expect(() => encodeValue(nest(65))).toThrow(EncodeError);
    const bytes = Buffer.concat([...Array.from({ length: 65 }, () => h('c0 00 01')), h('40')]);
    // Fix up the list8 sizes from the inside out.
    for (let i = 64; i >= 0; i--) bytes[i * 3 + 1] = bytes.length - i * 3 - 2;
    expect(decodeError(bytes).message).toMatch(/nest more than 64/);
  });
});
