import { describe, expect, it } from 'vitest';
import { DecodeError, decodeMessage, encodeMessage, ulongAnnotations, type Annotations } from '../../src/index.js';

/** A message-annotations section (0x00 0x53 0x72) holding a map8 of two entries. */
function annotationsSection(entries: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x53, 0x72, 0xc1, entries.length + 1, 4]), entries]);
}

describe("annotations keyed by the spec's reserved ulong keys", () => {
  const entries = Buffer.concat([
    Buffer.from([0x53, 7, 0xa1, 1, 0x72]), // smallulong 7 -> str8 "r"
    Buffer.from([0xa3, 7]),
    Buffer.from('x-opt-k'),
    Buffer.from([0x54, 1]), // sym8 "x-opt-k" -> smallint 1
  ]);
  const bytes = Buffer.concat([annotationsSection(entries), Buffer.from([0x00, 0x53, 0x77, 0x40])]);

  it("decode: symbol keys are the object's properties, ulong keys sit apart under ulongAnnotations", () => {
    const m = decodeMessage(bytes, { values: 'exact' });
    expect(Object.keys(m.messageAnnotations!)).toEqual(['x-opt-k']);
    expect(m.messageAnnotations!['x-opt-k']).toBe(1);
    expect(m.messageAnnotations![ulongAnnotations]).toEqual(new Map([[7n, 'r']]));
    // JSON shows the ulong-keyed entries too, keyed by their number (nothing is hidden).
    expect(JSON.stringify(m.messageAnnotations)).toBe('{"7":"r","x-opt-k":1}');
  });

  it('a decoded message with ulong annotation keys encodes again to the same bytes', () => {
    expect(Buffer.compare(Buffer.from(encodeMessage(decodeMessage(bytes, { values: 'exact' }))), bytes)).toBe(0);
  });

  it('a sender can set ulong-keyed annotations; they are written before the symbol keys', () => {
    const annotations: Annotations = { 'x-opt-k': 1 };
    annotations[ulongAnnotations] = new Map([[7n, 'r']]);
    expect(Buffer.compare(Buffer.from(encodeMessage({ messageAnnotations: annotations, body: null })), bytes)).toBe(0);
  });

  it('application properties still refuse keys that are not strings', () => {
    const props = Buffer.from([0x00, 0x53, 0x74, 0xc1, 6, 2, 0x53, 7, 0xa1, 1, 0x72]); // ulong 7 -> "r"
    expect(() => decodeMessage(props, { values: 'exact' })).toThrow(DecodeError);
  });
});
