/**
 * Frames and protocol headers (spec, transport sections 2.2 and 2.3; security section 5).
 * A frame is a 4-byte size, a data offset in 4-byte words, a type (0 for AMQP, 1 for SASL), a
 * channel, an optional extended header, then the body: one performative and, for a transfer,
 * the payload that follows it.
 */
import { Buffer } from 'node:buffer';
import { DecodeError, EncodeError } from '../errors.js';
import type { ByteWriter } from './byte-writer.js';
import { ByteReader, readComposite, uint32At } from './decoder.js';
import { writeComposite } from './encoder.js';
import type { CompositeSpec } from './spec-tables.js';
import type { Composite } from './composite-types.js';

/** The frame type of AMQP frames. */
export const AMQP_FRAME_TYPE = 0x00;
/** The frame type of SASL frames. */
export const SASL_FRAME_TYPE = 0x01;
/** The smallest max-frame-size a peer may set (spec 2.7.1, MIN-MAX-FRAME-SIZE). */
export const MIN_MAX_FRAME_SIZE = 512;
/** Bytes in a frame header without an extended header. */
export const FRAME_HEADER_SIZE = 8;

/** The protocol ids of the protocol header `AMQP` id major minor revision (spec 2.2). */
export enum ProtocolId {
  Amqp = 0,
  Tls = 2,
  Sasl = 3,
}

/** A protocol header as read from the wire. */
export interface ProtocolHeader {
  protocolId: number;
  major: number;
  minor: number;
  revision: number;
}

/** The 8 bytes of the protocol header for `protocolId` at version 1.0.0. */
export function protocolHeader(protocolId: ProtocolId): Uint8Array {
  return Uint8Array.of(0x41, 0x4d, 0x51, 0x50, protocolId, 1, 0, 0);
}

/**
 * Reads a protocol header from the first 8 bytes. Throws {@link DecodeError}
 * (`amqp:connection:framing-error`) when they are not `AMQP` followed by four numbers.
 */
export function readProtocolHeader(bytes: Uint8Array, offset = 0): ProtocolHeader {
  if (bytes.length - offset < 8)
    throw new DecodeError('a protocol header needs 8 bytes', offset, 'amqp:connection:framing-error');
  if (
    bytes[offset] !== 0x41 ||
    bytes[offset + 1] !== 0x4d ||
    bytes[offset + 2] !== 0x51 ||
    bytes[offset + 3] !== 0x50
  ) {
    throw new DecodeError(
      "the peer did not send an AMQP protocol header (it does not start with 'AMQP')",
      offset,
      'amqp:connection:framing-error',
    );
  }
  return {
    protocolId: bytes[offset + 4]!,
    major: bytes[offset + 5]!,
    minor: bytes[offset + 6]!,
    revision: bytes[offset + 7]!,
  };
}

/** The fixed part of a frame header. */
export interface FrameHeader {
  /** Total frame size in bytes, header included. */
  size: number;
  /** Where the body starts, in bytes from the frame start (data offset times 4). */
  bodyOffset: number;
  type: number;
  channel: number;
}

/**
 * Reads a frame header at `offset`, checking that its sizes are consistent and within
 * `maxFrameSize`. Returns undefined when fewer than 8 bytes are present. With `into`, the header
 * is written there and `into` returned (no object per frame on the engine's input path).
 */
export function readFrameHeader(
  bytes: Uint8Array,
  offset: number,
  maxFrameSize: number,
  into?: FrameHeader,
): FrameHeader | undefined {
  if (bytes.length - offset < FRAME_HEADER_SIZE) return undefined;
  const size = uint32At(bytes, offset);
  const doff = bytes[offset + 4]!;
  if (size < FRAME_HEADER_SIZE)
    throw new DecodeError(`frame size ${size} is smaller than a frame header`, offset, 'amqp:connection:framing-error');
  if (size > maxFrameSize)
    throw new DecodeError(
      `frame size ${size} exceeds the max-frame-size ${maxFrameSize}`,
      offset,
      'amqp:connection:framing-error',
    );
  if (doff < 2 || doff * 4 > size)
    throw new DecodeError(
      `frame data offset ${doff} is invalid for a frame of ${size} bytes`,
      offset,
      'amqp:connection:framing-error',
    );
  const type = bytes[offset + 5]!;
  const channel = (bytes[offset + 6]! << 8) | bytes[offset + 7]!;
  if (into === undefined) return { size, bodyOffset: doff * 4, type, channel };
  into.size = size;
  into.bodyOffset = doff * 4;
  into.type = type;
  into.channel = channel;
  return into;
}

/** A decoded frame: an empty frame (heartbeat) has no performative. */
export interface Frame {
  type: number;
  channel: number;
  performative: Composite | undefined;
  /** The bytes after the performative (a transfer's payload), a view into the input. */
  payload: Buffer | undefined;
}

/**
 * Decodes one whole frame whose header is `header`, starting at `offset`. The engine passes
 * `reader` (a reader over the same `bytes`, rewound for each frame) and `into` (a frame object it
 * reuses) so that decoding a frame allocates only what the frame holds.
 */
export function decodeFrame(
  bytes: Uint8Array,
  offset: number,
  header: FrameHeader,
  reader?: ByteReader,
  into?: Frame,
): Frame {
  const start = offset + header.bodyOffset;
  const end = offset + header.size;
  if (end > bytes.length) {
    throw new DecodeError(
      `frame of ${header.size} bytes is truncated: ${bytes.length - offset} present`,
      offset,
      'amqp:connection:framing-error',
    );
  }
  const frame = into ?? { type: 0, channel: 0, performative: undefined, payload: undefined };
  frame.type = header.type;
  frame.channel = header.channel;
  frame.performative = undefined;
  frame.payload = undefined;
  if (start === end) return frame;
  const r = reader === undefined ? new ByteReader(bytes, start, end) : reader.rewind(start, end);
  frame.performative = readComposite(r);
  if (r.pos < end) frame.payload = r.buf.subarray(r.pos, end);
  return frame;
}

/**
 * Writes a whole frame: header, performative and optional payload. The size is patched in after
 * the body is written, so the performative is encoded once, straight into the output.
 */
export function writeFrame(
  w: ByteWriter,
  type: number,
  channel: number,
  spec: CompositeSpec,
  fields: object,
  payload?: Uint8Array,
): void {
  if (!(Number.isInteger(channel) && channel >= 0 && channel <= 0xffff))
    throw new EncodeError(`frame channel must be from 0 to 65535, got ${channel}`);
  const start = w.pos;
  w.ensure(FRAME_HEADER_SIZE);
  w.pos += 4;
  w.buf[w.pos] = 2;
  w.buf[w.pos + 1] = type;
  w.buf[w.pos + 2] = channel >>> 8;
  w.buf[w.pos + 3] = channel & 0xff;
  w.pos += 4;
  writeComposite(w, spec, fields);
  if (payload !== undefined) w.bytes(payload);
  w.patchU32(start, w.pos - start);
}

/** Writes an empty AMQP frame, sent to keep a connection alive (spec 2.4.5). */
export function writeEmptyFrame(w: ByteWriter): void {
  w.ensure(FRAME_HEADER_SIZE);
  w.patchU32(w.pos, FRAME_HEADER_SIZE);
  w.buf[w.pos + 4] = 2;
  w.buf[w.pos + 5] = AMQP_FRAME_TYPE;
  w.buf[w.pos + 6] = 0;
  w.buf[w.pos + 7] = 0;
  w.pos += FRAME_HEADER_SIZE;
}
