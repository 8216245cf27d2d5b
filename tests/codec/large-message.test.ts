import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/codec/message.js';

describe('encoding a large message', () => {
  it('round trips binary, string and multi-section bodies with the sections around them, without holding twice the memory', () => {
    const binary = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < binary.length; i += 4093) binary[i] = i & 0xff;
    const text = 'ü'.repeat(700_000); // 1.4 MB of UTF-8, longer than its 700,000 characters
    const cases = [
      { subject: 'binary', applicationProperties: { n: 1 }, body: binary, footer: { done: true } },
      { subject: 'text', body: text },
      {
        subject: 'sections',
        bodyType: 'data' as const,
        body: [binary.subarray(0, 1_500_000), binary.subarray(1_500_000)],
      },
    ];
    for (const message of cases) {
      const bytes = encodeMessage(message);
      // The encoded message owns at most a little more than its own size.
      expect(bytes.buffer.byteLength).toBeLessThan(bytes.length * 1.15 + 8192);
      const decoded = decodeMessage(bytes, { values: 'exact' });
      expect(decoded.subject).toBe(message.subject);
      if (message.body instanceof Uint8Array)
        expect(Buffer.compare(Buffer.from(decoded.body as Uint8Array), Buffer.from(binary))).toBe(0);
      else if (typeof message.body === 'string') expect(decoded.body).toBe(text);
      else expect(Buffer.concat(decoded.body as Uint8Array[]).equals(Buffer.from(binary))).toBe(true);
    }
  });
});
