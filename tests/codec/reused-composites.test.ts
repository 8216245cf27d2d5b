/**
 * Composites read into a reused object (`readComposite(r, reuse)`, how a receiver reads every
 * transfer): the same fields as a fresh read, nothing left of the read before, one shape whatever
 * the fields, and the same errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { ByteReader, readComposite, reusableComposite, type ReusedComposites } from '../../src/codec/decoder.js';
import { writeComposite } from '../../src/codec/encoder.js';
import { compositeSpecs, type TransferFields } from '../../src/codec/spec-tables.js';
import { DecodeError } from '../../src/errors.js';

/** The bytes of a transfer performative as Quark's encoder writes it. */
function encodeTransfer(fields: TransferFields): Buffer {
  const w = new ByteWriter();
  writeComposite(w, compositeSpecs.transfer, fields);
  return w.toBuffer();
}

/** A fresh read, with every field of the spec present (undefined when absent), as a reused read leaves it. */
function freshRead(bytes: Uint8Array): Record<string, unknown> {
  const p = readComposite(new ByteReader(bytes)) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...(reusableComposite('transfer') as object) };
  for (const key of Object.keys(out)) out[key] = p[key];
  return out;
}

/** rhea 3.0.5's encoding of its first transfer: a list32 of handle, id, tag, format, settled, more. */
const RHEA_TRANSFER = Buffer.from('005314d00000000c000000064343a00130434242', 'hex');

describe('composites read into a reused object', () => {
  it("reads rhea's list32 transfer into the reused object, as a fresh read does", () => {
    const reuse: ReusedComposites = { transfer: reusableComposite('transfer') };
    const p = readComposite(new ByteReader(RHEA_TRANSFER), reuse);
    expect(p).toBe(reuse.transfer);
    expect({ ...p }).toEqual(freshRead(RHEA_TRANSFER));
    expect(p).toMatchObject({
      kind: 'transfer',
      handle: 0,
      deliveryId: 0,
      messageFormat: 0,
      settled: false,
      more: false,
    });
  });

  it('leaves nothing of the transfer read before, and keeps one shape', () => {
    const reuse: ReusedComposites = { transfer: reusableComposite('transfer') };
    const keys = Object.keys(reuse.transfer!);
    const full = encodeTransfer({ handle: 1, deliveryId: 5, deliveryTag: Buffer.from([9]), settled: true, more: true });
    readComposite(new ByteReader(full), reuse);
    const bare = encodeTransfer({ handle: 2 });
    const p = readComposite(new ByteReader(bare), reuse);
    expect({ ...p }).toEqual({ ...(reusableComposite('transfer') as object), handle: 2 });
    expect(Object.keys(p)).toEqual(keys);
  });

  it('reads whatever fields a transfer has as a fresh read does (property)', () => {
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
        state: fc.constantFrom(undefined, { kind: 'accepted' as const }, { kind: 'released' as const }),
        resume: fc.boolean(),
        aborted: fc.boolean(),
        batchable: fc.boolean(),
      },
      { requiredKeys: ['handle'] },
    );
    const reuse: ReusedComposites = { transfer: reusableComposite('transfer') };
    fc.assert(
      fc.property(transfer, (fields) => {
        const bytes = encodeTransfer(fields as TransferFields);
        expect({ ...readComposite(new ByteReader(bytes), reuse) }).toEqual(freshRead(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('reads other composites into new objects', () => {
    const reuse: ReusedComposites = { transfer: reusableComposite('transfer') };
    const w = new ByteWriter();
    writeComposite(w, compositeSpecs.disposition, { role: true, first: 3 });
    const p = readComposite(new ByteReader(w.toBuffer()), reuse);
    expect(p).not.toBe(reuse.transfer);
    expect(p).toMatchObject({ kind: 'disposition', role: true, first: 3 });
  });

  it.each([
    ['an empty list (no handle)', '00531445'],
    ['a null handle', '005314c0020140'],
    ['bytes past the last field', '005314c00401434343'],
    ['a list longer than the input', '005314c0100143'],
  ])('refuses a malformed transfer as a fresh read does: %s', (_what, hex) => {
    const bytes = Buffer.from(hex, 'hex');
    let message = '';
    try {
      readComposite(new ByteReader(bytes));
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
      message = (e as Error).message;
    }
    expect(message).not.toBe('');
    const reuse: ReusedComposites = { transfer: reusableComposite('transfer') };
    expect(() => readComposite(new ByteReader(bytes), reuse)).toThrow(message);
  });
});
