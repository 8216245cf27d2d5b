/**
 * The allocation-free transfer reader (src/codec/transfer-decoder.ts): it must read exactly what
 * the generic composite reader reads, for the encodings peers send, and leave everything else
 * (untouched reader) to the generic reader.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { ByteReader, readComposite } from '../../src/codec/decoder.js';
import { writeComposite } from '../../src/codec/encoder.js';
import { compositeSpecs, type TransferFields } from '../../src/codec/spec-tables.js';
import { newTransferFields, readTransferInto, startsTransfer } from '../../src/codec/transfer-decoder.js';

/** The spec's fields (the located tag and payload aside). */
const FIELD_NAMES = Object.keys(newTransferFields()).filter(
  (name) => !name.startsWith('tag') && !name.startsWith('payload'),
) as (keyof TransferFields)[];

/** The bytes of a transfer performative as Quark's encoder writes it (a list8 or list32 as the size needs). */
function encodeTransfer(fields: TransferFields): Buffer {
  const w = new ByteWriter();
  writeComposite(w, compositeSpecs.transfer, fields);
  return w.toBuffer();
}

/** What the generic reader makes of the same bytes, with every field present (undefined when absent). */
function genericRead(bytes: Uint8Array): TransferFields {
  const p = readComposite(new ByteReader(bytes)) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of FIELD_NAMES) out[name] = p[name];
  return out as unknown as TransferFields;
}

/**
 * The fast reader's result, its located tag taken from the bytes (so that it compares with the
 * generic reader's), or undefined when it declined (then the reader must not have moved).
 */
function fastRead(bytes: Uint8Array): TransferFields | undefined {
  const r = new ByteReader(bytes);
  const into = newTransferFields();
  if (!readTransferInto(r, into)) {
    expect(r.pos).toBe(0);
    return undefined;
  }
  expect(r.pos).toBe(bytes.length);
  expect(into.deliveryTag).toBeUndefined(); // located, not made a view of
  expect([into.payloadStart, into.payloadEnd]).toEqual([bytes.length, bytes.length]); // no payload here
  const { tagStart, tagEnd, payloadStart: _, payloadEnd: __, ...fields } = into;
  return { ...fields, deliveryTag: tagEnd < 0 ? undefined : Buffer.from(bytes.subarray(tagStart, tagEnd)) };
}

/** rhea 3.0.5's encoding of its first transfer: a list32 of handle, id, tag, format, settled, more. */
const RHEA_TRANSFER = Buffer.from('005314d00000000c000000064343a00130434242', 'hex');

describe('allocation-free transfer reader', () => {
  it("reads rhea's list32 transfer as the generic reader does", () => {
    expect(startsTransfer(RHEA_TRANSFER, 0, RHEA_TRANSFER.length)).toBe(true);
    const fields = fastRead(RHEA_TRANSFER);
    expect(fields).toEqual(genericRead(RHEA_TRANSFER));
    expect(fields).toMatchObject({ handle: 0, deliveryId: 0, messageFormat: 0, settled: false, more: false });
    expect(Buffer.from(fields!.deliveryTag!)).toEqual(Buffer.from('0'));
  });

  it('reads a list8 transfer with every field it handles', () => {
    const bytes = encodeTransfer({
      handle: 7,
      deliveryId: 0x12345678,
      deliveryTag: Buffer.from([0, 1, 2]),
      messageFormat: 0x80013700,
      settled: true,
      more: true,
      rcvSettleMode: 1,
      resume: false,
      aborted: true,
      batchable: true,
    });
    expect(bytes[3]).toBe(0xc0);
    expect(fastRead(bytes)).toEqual(genericRead(bytes));
  });

  it('locates the payload: the rest of the frame after the performative', () => {
    const performative = encodeTransfer({ handle: 0, deliveryId: 1, deliveryTag: Buffer.from([7, 8]) });
    const frame = Buffer.concat([Buffer.from('frame header'), performative, Buffer.from('the message')]);
    const start = 'frame header'.length;
    const r = new ByteReader(frame).rewind(start, frame.length);
    const into = newTransferFields();
    expect(readTransferInto(r, into)).toBe(true);
    expect(frame.subarray(into.tagStart, into.tagEnd)).toEqual(Buffer.from([7, 8]));
    expect(frame.subarray(into.payloadStart, into.payloadEnd).toString()).toBe('the message');
    expect(r.pos).toBe(into.payloadStart);
  });

  it('fills a reused object completely: nothing of the previous transfer is left', () => {
    const into = newTransferFields();
    const full = encodeTransfer({ handle: 1, deliveryId: 5, deliveryTag: Buffer.from([9]), settled: true, more: true });
    expect(readTransferInto(new ByteReader(full), into)).toBe(true);
    const bare = encodeTransfer({ handle: 2 });
    expect(readTransferInto(new ByteReader(bare), into)).toBe(true);
    // tagEnd -1: no tag; the payload (none) where the performative ends
    expect({ ...into, tagStart: 0 }).toEqual({
      ...newTransferFields(),
      handle: 2,
      payloadStart: bare.length,
      payloadEnd: bare.length,
    });
  });

  it('reads whatever a peer may send among the encodings it handles, as the generic reader does (property)', () => {
    const uint = fc.integer({ min: 0, max: 0xffffffff });
    const transfer = fc.record(
      {
        handle: uint,
        deliveryId: uint,
        deliveryTag: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        messageFormat: uint,
        settled: fc.boolean(),
        more: fc.boolean(),
        rcvSettleMode: fc.integer({ min: 0, max: 1 }),
        resume: fc.boolean(),
        aborted: fc.boolean(),
        batchable: fc.boolean(),
      },
      { requiredKeys: ['handle'] },
    );
    fc.assert(
      fc.property(transfer, (fields) => {
        const bytes = encodeTransfer(fields);
        expect(fastRead(bytes)).toEqual(genericRead(bytes));
      }),
      { numRuns: 500 },
    );
  });

  describe('leaves to the generic reader, untouched', () => {
    const cases: [string, Buffer][] = [
      ['a delivery state', encodeTransfer({ handle: 0, deliveryId: 1, state: { kind: 'accepted' } })],
      // handle as a ulong (0x80): legal, lenient readers take it, peers do not send it
      ['a ulong handle', Buffer.from('005314c00a01800000000000000000', 'hex')],
      // twelve fields: one more than the spec's (allowed for forward compatibility)
      ['a field beyond the spec', Buffer.from('005314c00d0c43434040404040404040404040', 'hex')],
      ['an empty list (no handle)', Buffer.from('00531445', 'hex')],
      ['a null handle', Buffer.from('005314c0020140', 'hex')],
      ['a tag longer than the list', Buffer.from('005314c0050343434005', 'hex')],
      ['bytes past the last field', Buffer.from('005314c00401434343', 'hex')],
      ['a list longer than the input', Buffer.from('005314c0100143', 'hex')],
      ['a list32 whose size is too small for its count', Buffer.from('005314d00000000200000001', 'hex')],
    ];
    it.each(cases)('%s', (_what, bytes) => {
      expect(fastRead(bytes)).toBeUndefined();
    });

    it('a transfer described by its symbolic name', () => {
      const w = new ByteWriter();
      const name = 'amqp:transfer:list';
      w.u8(0x00);
      w.u8(0xa3);
      w.u8(name.length);
      w.bytes(Buffer.from(name, 'latin1'));
      w.bytes(Buffer.from('c0020143', 'hex'));
      const bytes = w.toBuffer();
      expect(startsTransfer(bytes, 0, bytes.length)).toBe(false);
      expect(genericRead(bytes).handle).toBe(0);
    });
  });
});
