/**
 * The composite types of the spec (performatives, SASL frames, delivery states, termini, message
 * sections, transactions), frames and protocol headers.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { ByteReader, readComposite } from '../../src/codec/decoder.js';
import { writeComposite } from '../../src/codec/encoder.js';
import {
  AMQP_FRAME_TYPE,
  FRAME_HEADER_SIZE,
  ProtocolId,
  SASL_FRAME_TYPE,
  decodeFrame,
  protocolHeader,
  readFrameHeader,
  readProtocolHeader,
  writeEmptyFrame,
  writeFrame,
} from '../../src/codec/frames.js';
import { decodeMessage } from '../../src/codec/message.js';
import {
  compositeSpecs,
  describedSectionSpecs,
  type CompositeSpec,
  type FieldSpec,
} from '../../src/codec/spec-tables.js';
import { described, symbol, ulong, type AmqpValue } from '../../src/codec/values.js';
import { DecodeError, EncodeError } from '../../src/errors.js';
import { amqpDifference } from '../support/amqp-equal.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const specDir = join(repoRoot, 'spec', 'amqp');
const generator = join(repoRoot, 'scripts', 'generate-spec-tables.mjs');

type Obj = { kind?: string } & Record<string, unknown>;
const specEntries = Object.entries(compositeSpecs) as [string, CompositeSpec][];

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function encodeComposite(spec: CompositeSpec, obj: object): Buffer {
  const w = new ByteWriter(64);
  writeComposite(w, spec, obj);
  return w.toBuffer();
}

function decodeComposite(bytes: Uint8Array): Obj {
  const r = new ByteReader(bytes);
  const v = readComposite(r);
  expect(r.pos).toBe(bytes.length);
  return v as unknown as Obj; // the tests read fields by name
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

// ---- Sample values for every field of every composite, by what the spec says the field holds ----

function sampleComposite(kind: string): Obj {
  const spec = (compositeSpecs as Record<string, CompositeSpec>)[kind];
  if (!spec) throw new Error(`no composite ${kind}`);
  const obj: Obj = { kind };
  for (const field of spec.fields) obj[field.name] = sampleField(spec, field);
  return obj;
}

function sampleField(spec: CompositeSpec, field: FieldSpec): unknown {
  if (field.multiple) {
    if (field.kind !== 'symbol')
      throw new Error(`no sample for multiple ${field.kind} (${spec.name}.${field.specName})`);
    return ['first-symbol', 'second-symbol'];
  }
  switch (field.kind) {
    case 'boolean':
      return true;
    case 'ubyte':
      return 2;
    case 'ushort':
      return 300;
    case 'uint':
      return 70_000;
    case 'ulong':
      return 2n ** 40n + 1n;
    case 'string':
      return `${field.specName} é 😀`;
    case 'symbol':
      return `sym:${field.specName}`;
    case 'binary':
      return Uint8Array.of(1, 2, 3);
    case 'timestamp':
      return new Date(1_700_000_000_000);
    case 'fields':
      return { 'x-opt-one': 1, 'x-opt-two': symbol('two'), 'x-opt-list': [1n, 'x'] };
    case 'map':
      return new Map<AmqpValue, AmqpValue>([
        [Uint8Array.of(9), described(ulong(0x24), [])],
        ['k', null],
      ]);
    case 'error':
      return { kind: 'error', condition: 'amqp:internal-error', description: 'broken', info: { where: 'here' } };
    case 'any':
      switch (field.requires) {
        case 'source':
          return sampleComposite('source');
        case 'target':
          return sampleComposite('target');
        case 'delivery-state':
          return sampleComposite('transactionalState');
        case 'outcome':
          return sampleComposite('rejected');
        case 'address':
          return `address/${field.specName}`;
        case 'message-id':
          return `id-${field.specName}`;
        case 'txn-id':
          return Uint8Array.of(0xaa, 0xbb);
        case 'global-tx-id':
          return Uint8Array.of(1, 2, 3, 4);
      }
  }
  throw new Error(`no sample for ${spec.name}.${field.specName} (${field.kind}, requires ${String(field.requires)})`);
}

function onlyMandatory(kind: string): Obj {
  const full = sampleComposite(kind);
  const spec = (compositeSpecs as Record<string, CompositeSpec>)[kind]!;
  const obj: Obj = { kind };
  for (const f of spec.fields) if (f.mandatory) obj[f.name] = full[f.name];
  return obj;
}

// ---- The spec tables ----

describe('spec tables', () => {
  const scratch: string[] = [];
  afterAll(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it('are in sync with the spec XML (generator --check)', () => {
    const out = execFileSync(process.execPath, [generator, specDir, '--check'], { encoding: 'utf8' });
    expect(out).toMatch(/matches the spec/);
  });

  it('the --check run notices when the XML says something else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'quark-spec-'));
    scratch.push(dir);
    cpSync(specDir, dir, { recursive: true });
    const file = join(dir, 'transport.bare.xml');
    const xml = readFileSync(file, 'utf8');
    const changed = xml.replace(
      '<field name="hostname" type="string"/>',
      '<field name="hostname" type="string" mandatory="true"/>',
    );
    expect(changed).not.toBe(xml);
    writeFileSync(file, changed);
    const run = spawnSync(process.execPath, [generator, dir, '--check'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/out of date/);
  });

  it('list every composite of the XML with its descriptor, fields and mandatory flags, in spec order', () => {
    const fromXml: {
      name: string;
      descriptorName: string;
      code: number;
      fields: { name: string; mandatory: boolean; multiple: boolean }[];
    }[] = [];
    for (const file of readdirSync(specDir)
      .filter((f) => f.endsWith('.xml'))
      .sort()) {
      const xml = readFileSync(join(specDir, file), 'utf8').replace(/<!--[\s\S]*?-->/g, '');
      for (const m of xml.matchAll(/<type\s+name="([^"]+)"\s+class="composite"[^>]*>([\s\S]*?)<\/type>/g)) {
        const d = /<descriptor\s+name="([^"]+)"\s+code="0x([0-9a-f]{8}):0x([0-9a-f]{8})"/i.exec(m[2]!);
        if (!d) throw new Error(`no descriptor for ${m[1]}`);
        expect(d[2]).toBe('00000000');
        fromXml.push({
          name: m[1]!,
          descriptorName: d[1]!,
          code: Number.parseInt(d[3]!, 16),
          fields: [...m[2]!.matchAll(/<field\s([^>]*?)\/?>/g)].map((f) => ({
            name: /name="([^"]+)"/.exec(f[1]!)![1]!,
            mandatory: /mandatory="true"/.test(f[1]!),
            multiple: /multiple="true"/.test(f[1]!),
          })),
        });
      }
    }
    const tables = specEntries.map(([, s]) => ({
      name: s.name,
      descriptorName: s.descriptorName,
      code: s.code,
      fields: s.fields.map((f) => ({ name: f.specName, mandatory: f.mandatory, multiple: f.multiple })),
    }));
    const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
    expect(tables.sort(byName)).toEqual(fromXml.sort(byName));
    expect(tables.length).toBe(33);
  });

  it('give every composite and message section a distinct descriptor', () => {
    const codes = [...specEntries.map(([, s]) => s.code), ...Object.values(describedSectionSpecs).map((s) => s.code)];
    const names = [
      ...specEntries.map(([, s]) => s.descriptorName),
      ...Object.values(describedSectionSpecs).map((s) => s.descriptorName),
    ];
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(names).size).toBe(names.length);
  });
});

// ---- Every composite ----

describe('every composite of the spec', () => {
  it.each(specEntries.map(([kind]) => [kind]))('%s: every field set encodes and decodes back exactly', (kind) => {
    const obj = sampleComposite(kind);
    const bytes = encodeComposite((compositeSpecs as Record<string, CompositeSpec>)[kind]!, obj);
    const decoded = decodeComposite(bytes);
    expect(amqpDifference(decoded, obj, kind)).toBeUndefined();
    // The descriptor is the smallulong code, and re-encoding gives the same bytes.
    expect([...bytes.subarray(0, 3)]).toEqual([
      0x00,
      0x53,
      (compositeSpecs as Record<string, CompositeSpec>)[kind]!.code,
    ]);
    expect(hexOf(encodeComposite((compositeSpecs as Record<string, CompositeSpec>)[kind]!, decoded))).toBe(
      hexOf(bytes),
    );
  });

  it.each(specEntries.map(([kind]) => [kind]))(
    '%s: only the mandatory fields encode and decode back, with no defaults filled in',
    (kind) => {
      const obj = onlyMandatory(kind);
      const decoded = decodeComposite(encodeComposite((compositeSpecs as Record<string, CompositeSpec>)[kind]!, obj));
      expect(amqpDifference(decoded, obj, kind)).toBeUndefined();
    },
  );

  it('omits trailing empty fields and writes null for empty fields in between', () => {
    expect(hexOf(encodeComposite(compositeSpecs.accepted, {}))).toBe('00532445');
    expect(
      hexOf(encodeComposite(compositeSpecs.begin, { nextOutgoingId: 1, incomingWindow: 0, outgoingWindow: 10 })),
    ).toBe(hexOf(h('00 53 11 c0 07 04 40 52 01 43 52 0a')));
    expect(hexOf(encodeComposite(compositeSpecs.open, { containerId: 'c', maxFrameSize: 512 }))).toBe(
      hexOf(h('00 53 10 c0 0a 03 a1 01 63 40 70 00 00 02 00')),
    );
    expect(
      hexOf(
        encodeComposite(compositeSpecs.flow, {
          incomingWindow: 1,
          nextOutgoingId: 2,
          outgoingWindow: 3,
          drain: false,
          echo: undefined,
        }),
      ),
    ).toBe(hexOf(h('00 53 13 c0 0d 09 40 52 01 52 02 52 03 40 40 40 40 42')));
  });

  it('decodes symbolic and 64-bit descriptors of spec composites too', () => {
    expect(decodeComposite(h('00 a3 12' + hexOf(Buffer.from('amqp:accepted:list')) + '45'))).toEqual({
      kind: 'accepted',
    });
    expect(decodeComposite(h('00 80 00 00 00 00 00 00 00 24 45'))).toEqual({ kind: 'accepted' });
  });

  it('reads fields in any encoding of their type and ignores fields beyond the spec', () => {
    expect(decodeComposite(h('00 53 11 d0 00 00 00 11 00 00 00 04 40 70 00 00 00 01 70 00 00 00 00 52 0a'))).toEqual({
      kind: 'begin',
      nextOutgoingId: 1,
      incomingWindow: 0,
      outgoingWindow: 10,
    });
    expect(decodeComposite(h('00 53 24 c0 03 02 41 40'))).toEqual({ kind: 'accepted' });
    expect(decodeComposite(h('00 53 12 c0 07 03 a1 01 6e 43 56 01'))).toEqual({
      kind: 'attach',
      name: 'n',
      handle: 0,
      role: true,
    });
  });

  it('reads a single symbol where several are allowed as a list of one', () => {
    const v = decodeComposite(h('00 53 40 c0 05 01 a3 02 50 4c'));
    expect(v).toEqual({ kind: 'saslMechanisms', saslServerMechanisms: ['PL'] });
  });

  it('refuses descriptors that are not spec composites, and never takes another type for a spec code', () => {
    for (const bytes of [
      '00 53 ff 45', // unknown code
      '00 80 00 00 00 01 00 00 00 24 45', // code 0x24 in domain 1
      '00 54 24 45', // the int 0x24, not the ulong
      '00 a1 12' + hexOf(Buffer.from('amqp:accepted:list')) + '45', // a string, not a symbol
      '00 a3 03 66 6f 6f 45', // unknown symbol
      '45', // not described at all
    ]) {
      const e = thrown(() => decodeComposite(h(bytes)));
      expect(e, bytes).toBeInstanceOf(DecodeError);
      expect((e as DecodeError).condition).toBe('amqp:decode-error');
    }
    // Nor as a message section: an int 0x77 descriptor is no amqp-value section.
    expect(() => decodeMessage(h('00 54 77 40'), { values: 'exact' })).toThrow(DecodeError);
  });

  it('refuses a field of the wrong type with amqp:decode-error', () => {
    const e = thrown(() => decodeComposite(h('00 53 10 c0 03 01 54 01'))) as DecodeError;
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.condition).toBe('amqp:decode-error');
    expect(e.message).toMatch(/container-id/);
    expect(() => decodeComposite(h('00 53 28 c0 03 01 54 01'))).toThrow(/address/);
  });

  it('refuses a symbol field that is not ASCII when encoding', () => {
    expect(() => encodeComposite(compositeSpecs.saslInit, { mechanism: 'PLAÏN' })).toThrow(EncodeError);
    expect(() => encodeComposite(compositeSpecs.open, { containerId: 'c', offeredCapabilities: ['ok', 'nö'] })).toThrow(
      EncodeError,
    );
    expect(() => encodeComposite(compositeSpecs.error, { condition: 'amqp:x', info: { clé: 1 } })).toThrow(EncodeError);
  });

  it('refuses field values of the wrong JavaScript type when encoding', () => {
    expect(() =>
      encodeComposite(compositeSpecs.begin, { nextOutgoingId: 'one', incomingWindow: 0, outgoingWindow: 0 }),
    ).toThrow(EncodeError);
    expect(() =>
      encodeComposite(compositeSpecs.begin, { nextOutgoingId: -1, incomingWindow: 0, outgoingWindow: 0 }),
    ).toThrow(EncodeError);
    expect(() => encodeComposite(compositeSpecs.attach, { name: 'n', handle: 0, role: 'sender' })).toThrow(EncodeError);
    expect(() => encodeComposite(compositeSpecs.saslOutcome, { code: 256 })).toThrow(EncodeError);
    expect(() => encodeComposite(compositeSpecs.transfer, { handle: 0, state: { kind: 'nonsense' } })).toThrow(
      EncodeError,
    );
    expect(() => encodeComposite(compositeSpecs.detach, { handle: 0, error: 'broken' })).toThrow(EncodeError);
  });

  it('counts nesting as the decoder does: a composite the encoder accepts always decodes', () => {
    const nest = (levels: number): AmqpValue => {
      let v: AmqpValue = 1;
      for (let i = 0; i < levels; i++) v = [v];
      return v;
    };
    // attach -> source -> filter (a map) -> list nested `levels` deep.
    let levels = 0;
    let lastGood: Buffer | undefined;
    for (; levels < 80; levels++) {
      try {
        lastGood = encodeComposite(compositeSpecs.attach, {
          name: 'n',
          handle: 0,
          role: false,
          source: { kind: 'source', filter: { f: nest(levels) } },
        });
      } catch (e) {
        expect(e).toBeInstanceOf(EncodeError);
        break;
      }
    }
    expect(levels).toBeGreaterThan(50);
    expect(levels).toBeLessThan(80);
    expect(() => decodeComposite(lastGood!)).not.toThrow();
  });
});

describe('mandatory fields', () => {
  const cases = specEntries.flatMap(([kind, spec]) =>
    spec.fields.filter((f) => f.mandatory).map((f) => [kind, f.name] as const),
  );

  it('exist in the spec tables (so the cases below run)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
  });

  it.each(cases)('%s without %s: EncodeError on encode, amqp:invalid-field on decode', (kind, fieldName) => {
    const spec = (compositeSpecs as Record<string, CompositeSpec>)[kind]!;
    const obj = sampleComposite(kind);
    delete obj[fieldName];
    expect(() => encodeComposite(spec, obj)).toThrow(EncodeError);
    expect(() => encodeComposite(spec, { ...obj, [fieldName]: null })).toThrow(EncodeError);
    // Also when it would be the last field written: trailing fields are left off the list.
    const minimal = onlyMandatory(kind);
    delete minimal[fieldName];
    expect(() => encodeComposite(spec, minimal)).toThrow(EncodeError);

    // The bytes a careless peer would send: the same composite with the field left null.
    const lenient: CompositeSpec = {
      ...spec,
      fields: spec.fields.map((f) => (f.name === fieldName ? { ...f, mandatory: false } : { ...f })),
    };
    const bytes = encodeComposite(lenient, obj);
    const e = thrown(() => decodeComposite(bytes));
    expect(e).toBeInstanceOf(DecodeError);
    expect((e as DecodeError).condition).toBe('amqp:invalid-field');
    expect((e as DecodeError).message).toContain(spec.fields.find((f) => f.name === fieldName)!.specName);
  });

  it('an empty list for a composite with mandatory fields is amqp:invalid-field too', () => {
    const e = thrown(() => decodeComposite(h('00 53 10 45'))) as DecodeError;
    expect(e.condition).toBe('amqp:invalid-field');
  });
});

// ---- Frames ----

describe('frames', () => {
  const MAX = 1 << 20;

  function frame(type: number, channel: number, spec: CompositeSpec, fields: object, payload?: Uint8Array): Buffer {
    const w = new ByteWriter(16);
    writeFrame(w, type, channel, spec, fields, payload);
    return w.toBuffer();
  }

  function framingError(f: () => unknown): DecodeError {
    const e = thrown(f);
    expect(e).toBeInstanceOf(DecodeError);
    expect((e as DecodeError).condition).toBe('amqp:connection:framing-error');
    return e as DecodeError;
  }

  it('writes the header spec 2.3.1 describes: size, doff 2, type, channel', () => {
    const bytes = frame(AMQP_FRAME_TYPE, 0x0102, compositeSpecs.close, {});
    expect(hexOf(bytes)).toBe(hexOf(h('00 00 00 0c 02 00 01 02 00 53 18 45')));
  });

  it('round trips a performative through writeFrame, readFrameHeader and decodeFrame', () => {
    const open = {
      kind: 'open',
      containerId: 'container-1',
      hostname: 'example.org',
      maxFrameSize: 65536,
      channelMax: 7,
      offeredCapabilities: ['ANONYMOUS-RELAY'],
    };
    const bytes = frame(AMQP_FRAME_TYPE, 65535, compositeSpecs.open, open);
    const header = readFrameHeader(bytes, 0, MAX)!;
    expect(header).toEqual({ size: bytes.length, bodyOffset: 8, type: AMQP_FRAME_TYPE, channel: 65535 });
    const decoded = decodeFrame(bytes, 0, header);
    expect(decoded.type).toBe(AMQP_FRAME_TYPE);
    expect(decoded.channel).toBe(65535);
    expect(amqpDifference(decoded.performative, open)).toBeUndefined();
    expect(decoded.payload).toBeUndefined();
  });

  it('round trips a transfer with its payload, and SASL frames with their frame type', () => {
    const payload = Buffer.from('00537741a1036d7367', 'hex');
    const transfer = {
      kind: 'transfer',
      handle: 1,
      deliveryId: 2,
      deliveryTag: Uint8Array.of(0, 1),
      messageFormat: 0,
      settled: false,
      more: true,
    };
    const bytes = frame(AMQP_FRAME_TYPE, 3, compositeSpecs.transfer, transfer, payload);
    const decoded = decodeFrame(bytes, 0, readFrameHeader(bytes, 0, MAX)!);
    expect(amqpDifference(decoded.performative, transfer)).toBeUndefined();
    expect(hexOf(decoded.payload!)).toBe(hexOf(payload));

    const sasl = frame(SASL_FRAME_TYPE, 0, compositeSpecs.saslInit, {
      mechanism: 'PLAIN',
      initialResponse: Buffer.from('\0u\0p'),
    });
    const saslFrame = decodeFrame(sasl, 0, readFrameHeader(sasl, 0, MAX)!);
    expect(saslFrame.type).toBe(SASL_FRAME_TYPE);
    expect(
      amqpDifference(saslFrame.performative, {
        kind: 'saslInit',
        mechanism: 'PLAIN',
        initialResponse: Buffer.from('\0u\0p'),
      }),
    ).toBeUndefined();
  });

  it('round trips every performative of the spec', () => {
    for (const [kind, spec] of specEntries.filter(([, s]) => s.provides === 'frame' || s.provides === 'sasl-frame')) {
      const obj = sampleComposite(kind);
      const bytes = frame(spec.provides === 'frame' ? AMQP_FRAME_TYPE : SASL_FRAME_TYPE, 9, spec, obj);
      const decoded = decodeFrame(bytes, 0, readFrameHeader(bytes, 0, MAX)!);
      expect(amqpDifference(decoded.performative, obj, kind)).toBeUndefined();
    }
  });

  it('writes and reads the empty frame (a heartbeat): no performative, no payload', () => {
    const w = new ByteWriter(4);
    writeEmptyFrame(w);
    const bytes = w.toBuffer();
    expect(hexOf(bytes)).toBe('0000000802000000');
    const header = readFrameHeader(bytes, 0, MAX)!;
    expect(header).toEqual({ size: FRAME_HEADER_SIZE, bodyOffset: 8, type: AMQP_FRAME_TYPE, channel: 0 });
    expect(decodeFrame(bytes, 0, header)).toEqual({
      type: AMQP_FRAME_TYPE,
      channel: 0,
      performative: undefined,
      payload: undefined,
    });
  });

  it('skips an extended header (doff > 2)', () => {
    const body = h('00 53 18 45'); // close
    const withExt = Buffer.concat([
      h(`00 00 00 ${(16 + body.length).toString(16).padStart(2, '0')} 04 00 00 07`),
      h('de ad be ef ca fe ba be'),
      body,
    ]);
    const header = readFrameHeader(withExt, 0, MAX)!;
    expect(header.bodyOffset).toBe(16);
    expect(decodeFrame(withExt, 0, header)).toEqual({
      type: 0,
      channel: 7,
      performative: { kind: 'close' },
      payload: undefined,
    });
    const emptyWithExt = h('00 00 00 0c 03 00 00 00 01 02 03 04');
    expect(decodeFrame(emptyWithExt, 0, readFrameHeader(emptyWithExt, 0, MAX)!).performative).toBeUndefined();
  });

  it('reads frames one after another from one buffer, at their offsets', () => {
    const a = frame(AMQP_FRAME_TYPE, 1, compositeSpecs.end, {});
    const b = frame(AMQP_FRAME_TYPE, 2, compositeSpecs.detach, { handle: 4, closed: true });
    const both = Buffer.concat([a, b]);
    const first = readFrameHeader(both, 0, MAX)!;
    const second = readFrameHeader(both, first.size, MAX)!;
    expect(decodeFrame(both, 0, first).performative).toEqual({ kind: 'end' });
    expect(decodeFrame(both, first.size, second).performative).toEqual({ kind: 'detach', handle: 4, closed: true });
  });

  it('waits for 8 bytes before reading a header', () => {
    expect(readFrameHeader(h('00 00 00 08 02 00 00'), 0, MAX)).toBeUndefined();
    expect(readFrameHeader(h('ff 00 00 00 08 02 00 00 00'), 1, MAX)).toBeDefined();
  });

  it.each([
    ['a size smaller than the header', '00 00 00 07 02 00 00 00'],
    ['a size of zero', '00 00 00 00 02 00 00 00'],
    ['a size beyond max-frame-size', '00 00 10 01 02 00 00 00'],
    ['a size of 4 GB', 'ff ff ff ff 02 00 00 00'],
    ['a data offset of 0', '00 00 00 08 00 00 00 00'],
    ['a data offset of 1', '00 00 00 08 01 00 00 00'],
    ['a data offset past the frame', '00 00 00 0c 04 00 00 00 00 00 00 00'],
  ])('refuses %s with amqp:connection:framing-error', (_name, bytes) => {
    framingError(() => readFrameHeader(h(bytes), 0, 4096));
  });

  it('refuses to decode a frame whose bytes are not all there, rather than reading past them', () => {
    const bytes = frame(AMQP_FRAME_TYPE, 1, compositeSpecs.open, { containerId: 'abcdefgh' });
    const header = readFrameHeader(bytes, 0, MAX)!;
    framingError(() => decodeFrame(bytes.subarray(0, bytes.length - 3), 0, header));
  });

  it('refuses a frame body that is not a performative with amqp:decode-error', () => {
    for (const body of ['40', '00 53 ff 45', '00 53 10 c0 05 01 a1 01']) {
      const bytes = Buffer.concat([
        h(`00 00 00 ${(8 + h(body).length).toString(16).padStart(2, '0')} 02 00 00 00`),
        h(body),
      ]);
      const e = thrown(() => decodeFrame(bytes, 0, readFrameHeader(bytes, 0, MAX)!));
      expect(e).toBeInstanceOf(DecodeError);
      expect((e as DecodeError).condition).toBe('amqp:decode-error');
    }
  });

  it('refuses to write a channel outside 0..65535', () => {
    expect(() => frame(AMQP_FRAME_TYPE, 65536, compositeSpecs.end, {})).toThrow(EncodeError);
    expect(() => frame(AMQP_FRAME_TYPE, -1, compositeSpecs.end, {})).toThrow(EncodeError);
  });

  it('refuses to write a performative missing a mandatory field', () => {
    expect(() => frame(AMQP_FRAME_TYPE, 0, compositeSpecs.open, {})).toThrow(EncodeError);
  });
});

describe('protocol headers', () => {
  it.each([
    [ProtocolId.Amqp, '41 4d 51 50 00 01 00 00'],
    [ProtocolId.Tls, '41 4d 51 50 02 01 00 00'],
    [ProtocolId.Sasl, '41 4d 51 50 03 01 00 00'],
  ])('protocol id %d is written as %s and read back', (id, bytes) => {
    expect(hexOf(protocolHeader(id))).toBe(hexOf(h(bytes)));
    expect(readProtocolHeader(h(bytes))).toEqual({ protocolId: id, major: 1, minor: 0, revision: 0 });
  });

  it('reads a header at an offset and reports other versions as they are', () => {
    expect(readProtocolHeader(h('00 00 41 4d 51 50 00 00 09 0a'), 2)).toEqual({
      protocolId: 0,
      major: 0,
      minor: 9,
      revision: 10,
    });
  });

  it.each([
    ['HTTP/1.1', Buffer.from('HTTP/1.1')],
    ['a header of 7 bytes', h('41 4d 51 50 00 01 00')],
    ['nothing', h('')],
  ])('refuses %s with amqp:connection:framing-error', (_name, bytes) => {
    const e = thrown(() => readProtocolHeader(bytes)) as DecodeError;
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.condition).toBe('amqp:connection:framing-error');
  });
});
