/** Standalone encoding and decoding of single AMQP values, for tools and tests. */
import { DecodeError } from '../errors.js';
import { ByteWriter } from './byte-writer.js';
import { ByteReader, readValue } from './decoder.js';
import { writeValue } from './encoder.js';
import type { AmqpValue } from './values.js';

/** Encodes one value (with its constructor) into a new buffer. Throws `EncodeError` for bad input. */
export function encodeValue(value: AmqpValue): Uint8Array {
  const w = new ByteWriter(64);
  writeValue(w, value);
  return w.toBuffer();
}

/**
 * Decodes exactly one value from `bytes`. Throws `DecodeError` when the bytes are malformed,
 * truncated, or hold more than one value.
 */
export function decodeValue(bytes: Uint8Array): AmqpValue {
  const r = new ByteReader(bytes);
  const value = readValue(r);
  if (r.pos !== r.end) throw new DecodeError(`${r.end - r.pos} bytes follow the value`, r.pos);
  return value;
}
