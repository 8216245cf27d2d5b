import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type Message } from '../../src/codec/message.js';
import { decodeValue, encodeValue } from '../../src/codec/value-bytes.js';
import {
  AmqpArray,
  described,
  double,
  symbol,
  typeOf,
  ubyte,
  uint,
  ulong,
  type AmqpValue,
} from '../../src/codec/values.js';
import {
  amqpArray,
  amqpList,
  amqpMap,
  amqpValue,
  asciiText,
  bytes,
  int32,
  int64,
  message,
  text,
  uint32,
  uint64,
} from '../support/amqp-arbitraries.js';
import { amqpDifference } from '../support/amqp-equal.js';

const RUNS = 1500;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    Buffer.compare(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    ) === 0
  );
}

describe('the exact-comparison helper used by these tests', () => {
  it('tells apart values that differ only in AMQP type', () => {
    expect(amqpDifference(1, 1)).toBeUndefined();
    expect(amqpDifference(1, 1n)).toBeDefined();
    expect(amqpDifference(ulong(1), 1n)).toBeDefined();
    expect(amqpDifference(ulong(1), uint(1))).toBeDefined();
    expect(amqpDifference(double(1), 1)).toBeDefined();
    expect(amqpDifference(symbol('a'), 'a')).toBeDefined();
    expect(amqpDifference(-0, 0)).toBeDefined();
    expect(amqpDifference(double(NaN), double(NaN))).toBeUndefined();
    expect(amqpDifference(Buffer.from([1, 2]), Uint8Array.of(1, 2))).toBeUndefined();
    expect(amqpDifference(Uint8Array.of(1, 3), Uint8Array.of(1, 2))).toBeDefined();
    expect(amqpDifference([1, [2]], [1, [2n]])).toBeDefined();
    expect(amqpDifference(new Map([[1, 'a']]), { 1: 'a' })).toBeDefined();
    expect(amqpDifference(new Date(1), new Date(2))).toBeDefined();
  });

  it('compares map entries in order, and array type, descriptor and elements', () => {
    const ab = new Map<AmqpValue, AmqpValue>([
      ['a', 1],
      ['b', 2],
    ]);
    expect(
      amqpDifference(
        ab,
        new Map<AmqpValue, AmqpValue>([
          ['a', 1],
          ['b', 2],
        ]),
      ),
    ).toBeUndefined();
    expect(
      amqpDifference(
        ab,
        new Map<AmqpValue, AmqpValue>([
          ['b', 2],
          ['a', 1],
        ]),
      ),
    ).toBeDefined();
    expect(amqpDifference(new AmqpArray('int', [1]), new AmqpArray('int', [1]))).toBeUndefined();
    expect(amqpDifference(new AmqpArray('int', [1]), new AmqpArray('uint', [1]))).toBeDefined();
    expect(amqpDifference(new AmqpArray('int', [1], ulong(1)), new AmqpArray('int', [1]))).toBeDefined();
    expect(amqpDifference(new AmqpArray('int', [1], ulong(1)), new AmqpArray('int', [1], ulong(2)))).toBeDefined();
    expect(amqpDifference(described(ulong(1), 'x'), described(symbol('a'), 'x'))).toBeDefined();
    expect(amqpDifference({ a: ubyte(1) }, { a: ubyte(2) })).toBeDefined();
  });
});

describe('value round trip (property)', () => {
  it('decodeValue(encodeValue(v)) is v, with the same AMQP type at every level', () => {
    fc.assert(
      fc.property(amqpValue, (v) => {
        const decoded = decodeValue(encodeValue(v));
        const diff = amqpDifference(decoded, v);
        if (diff !== undefined) throw new Error(diff);
      }),
      { numRuns: RUNS },
    );
  });

  it('re-encoding a decoded value gives back the very same bytes', () => {
    fc.assert(
      fc.property(amqpValue, (v) => {
        const bytes = encodeValue(v);
        expect(sameBytes(encodeValue(decodeValue(bytes)), bytes)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('round trips lists, maps and arrays of every element type, however nested', () => {
    fc.assert(
      fc.property(fc.oneof(amqpList, amqpMap, amqpArray), (v) => {
        const bytes = encodeValue(v);
        const decoded = decodeValue(bytes);
        const diff = amqpDifference(decoded, v);
        if (diff !== undefined) throw new Error(diff);
        expect(sameBytes(encodeValue(decoded), bytes)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the encoder picks the smallest encoding (property)', () => {
  it('ints use smallint from -128 to 127 and int otherwise', () => {
    fc.assert(
      fc.property(int32, (n) => {
        const b = encodeValue(n);
        expect(b[0]).toBe(n >= -128 && n <= 127 ? 0x54 : 0x71);
        expect(b.length).toBe(n >= -128 && n <= 127 ? 2 : 5);
      }),
    );
  });

  it('longs use smalllong from -128 to 127 and long otherwise', () => {
    fc.assert(
      fc.property(int64, (n) => {
        const b = encodeValue(n);
        expect(b[0]).toBe(n >= -128n && n <= 127n ? 0x55 : 0x81);
      }),
    );
  });

  it('uints use uint0, smalluint or uint, and ulongs ulong0, smallulong or ulong', () => {
    fc.assert(
      fc.property(uint32, uint64, (u, ul) => {
        expect(encodeValue(uint(u))[0]).toBe(u === 0 ? 0x43 : u <= 255 ? 0x52 : 0x70);
        expect(encodeValue(ulong(ul))[0]).toBe(ul === 0n ? 0x44 : ul <= 255n ? 0x53 : 0x80);
      }),
    );
  });

  it('strings, symbols and binaries use the 8-bit size when their bytes fit in 255', () => {
    fc.assert(
      fc.property(text, asciiText, bytes, (s, sym, bin) => {
        const n = Buffer.byteLength(s, 'utf8');
        const bs = encodeValue(s);
        expect([bs[0], bs.length]).toEqual(n <= 255 ? [0xa1, 2 + n] : [0xb1, 5 + n]);
        const by = encodeValue(symbol(sym));
        expect([by[0], by.length]).toEqual(sym.length <= 255 ? [0xa3, 2 + sym.length] : [0xb3, 5 + sym.length]);
        const bb = encodeValue(bin);
        expect([bb[0], bb.length]).toEqual(bin.length <= 255 ? [0xa0, 2 + bin.length] : [0xb0, 5 + bin.length]);
      }),
    );
  });

  it('lists and maps use list0, the 8-bit form when size and count fit in a byte, else the 32-bit form', () => {
    fc.assert(
      fc.property(amqpList, amqpMap, (list, map) => {
        const listContent = list.reduce<number>((n, e) => n + encodeValue(e).length, 0);
        const lb = encodeValue(list);
        if (list.length === 0) expect([...lb]).toEqual([0x45]);
        else if (listContent + 1 <= 255)
          expect([lb[0], lb[1], lb[2], lb.length]).toEqual([0xc0, listContent + 1, list.length, 3 + listContent]);
        else expect([lb[0], lb.length]).toEqual([0xd0, 9 + listContent]);

        let mapContent = 0;
        for (const [k, v] of map) mapContent += encodeValue(k).length + encodeValue(v).length;
        const mb = encodeValue(map);
        if (mapContent + 1 <= 255)
          expect([mb[0], mb[1], mb[2], mb.length]).toEqual([0xc1, mapContent + 1, map.size * 2, 3 + mapContent]);
        else expect([mb[0], mb.length]).toEqual([0xd1, 9 + mapContent]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('message round trip (property)', () => {
  it('decodeMessage(encodeMessage(m), { values: exact }) is m: every header and properties field, every section, every body type', () => {
    fc.assert(
      fc.property(message, (m) => {
        const decoded = decodeMessage(encodeMessage(m), { values: 'exact' });
        const diff = amqpDifference(decoded, m, 'message');
        if (diff !== undefined) throw new Error(diff);
      }),
      { numRuns: 800 },
    );
  });

  it('re-encoding a decoded message gives back the very same bytes', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeMessage(m);
        expect(sameBytes(encodeMessage(decodeMessage(bytes, { values: 'exact' })), bytes)).toBe(true);
      }),
      { numRuns: 800 },
    );
  });

  it('covers each body type and the sections the arbitraries are meant to produce', () => {
    // Guards the generator itself: a property over messages that never carry a footer or
    // several data sections would prove nothing about them.
    const seen = new Set<string>();
    for (const m of fc.sample(message, { numRuns: 400, seed: 42 })) {
      if (m.bodyType === 'data') seen.add(Array.isArray(m.body) ? 'data*' : 'data');
      if (m.bodyType === 'sequence') seen.add(Array.isArray(m.body) && m.body.length > 1 ? 'sequence*' : 'sequence');
      if (m.bodyType === 'value') seen.add('value');
      for (const k of [
        'deliveryAnnotations',
        'messageAnnotations',
        'applicationProperties',
        'footer',
        'messageId',
        'ttl',
        'absoluteExpiryTime',
      ] as const) {
        if (m[k] !== undefined) seen.add(k);
      }
    }
    expect([...seen].sort()).toEqual(
      [
        'absoluteExpiryTime',
        'applicationProperties',
        'data',
        'data*',
        'deliveryAnnotations',
        'footer',
        'messageAnnotations',
        'messageId',
        'sequence',
        'sequence*',
        'ttl',
        'value',
      ].sort(),
    );
  });
});

describe('message shapes that decode to their canonical form', () => {
  it('sends a Uint8Array body without bodyType as one data section', () => {
    const decoded = decodeMessage(encodeMessage({ body: Uint8Array.of(1, 2, 3) }), { values: 'exact' });
    expect(amqpDifference(decoded, { bodyType: 'data', body: Uint8Array.of(1, 2, 3) })).toBeUndefined();
  });

  it('sends any other body without bodyType as an amqp-value, null included', () => {
    expect(
      amqpDifference(decodeMessage(encodeMessage({ body: null }), { values: 'exact' }), {
        bodyType: 'value',
        body: null,
      }),
    ).toBeUndefined();
    expect(
      amqpDifference(decodeMessage(encodeMessage({ body: [1, 'a'] }), { values: 'exact' }), {
        bodyType: 'value',
        body: [1, 'a'],
      }),
    ).toBeUndefined();
  });

  it('sends a number message id as a ulong, which decodes as a ulong (exact) or a number (native, sent back as a ulong)', () => {
    const bytes = encodeMessage({ messageId: 7, correlationId: 2 ** 40 });
    const exact = decodeMessage(bytes, { values: 'exact' });
    expect(amqpDifference(exact, { messageId: ulong(7), correlationId: ulong(2n ** 40n) })).toBeUndefined();
    expect(typeOf(exact.messageId as AmqpValue)).toBe('ulong');
    const native = decodeMessage(bytes);
    expect([native.messageId, native.correlationId]).toEqual([7, 2 ** 40]);
    // Sent back as it came: a ulong again.
    expect(
      amqpDifference(decodeMessage(encodeMessage({ correlationId: native.messageId }), { values: 'exact' }), {
        correlationId: ulong(7),
      }),
    ).toBeUndefined();
  });

  it('sends times given as milliseconds as timestamps, which decode as Dates', () => {
    const decoded = decodeMessage(encodeMessage({ creationTime: 1_700_000_000_000, absoluteExpiryTime: -5 }), {
      values: 'exact',
    });
    expect(
      amqpDifference(decoded, { creationTime: new Date(1_700_000_000_000), absoluteExpiryTime: new Date(-5) }),
    ).toBeUndefined();
  });

  it('keeps an annotation or property named __proto__ as an own key, not a prototype', () => {
    const props: Record<string, AmqpValue> = {};
    Object.defineProperty(props, '__proto__', { value: 1, enumerable: true, writable: true, configurable: true });
    const decoded = decodeMessage(encodeMessage({ applicationProperties: props, messageAnnotations: props }), {
      values: 'exact',
    });
    expect(Object.getPrototypeOf(decoded.applicationProperties)).toBe(Object.prototype);
    expect(Object.keys(decoded.applicationProperties ?? {})).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(decoded.messageAnnotations, '__proto__')?.value).toBe(1);
  });

  it('refuses annotation keys that cannot be symbols (not ASCII) instead of garbling them', () => {
    expect(() => encodeMessage({ messageAnnotations: { clé: 1 } })).toThrow(/symbol must be ASCII/);
    expect(() => encodeMessage({ contentType: 'tëxt/plain' })).toThrow(/symbol must be ASCII/);
  });

  it('keeps a message body nested as deep as the decoder allows sendable, and refuses one deeper', () => {
    const nest = (levels: number): AmqpValue => {
      let v: AmqpValue = 1;
      for (let i = 0; i < levels; i++) v = [v];
      return v;
    };
    const m: Message = { body: nest(64) };
    const decoded = decodeMessage(encodeMessage(m), { values: 'exact' });
    expect(sameBytes(encodeMessage(decoded), encodeMessage(m))).toBe(true);
    expect(() => encodeMessage({ body: nest(65) })).toThrow(/nest more than 64/);
  });
});
