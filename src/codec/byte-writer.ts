/**
 * A growable output buffer. One writer is reused for many encodings, so the hot path allocates
 * only when it grows; callers copy out (`toBuffer`) or hand off (`take`) what they wrote.
 */
import { Buffer } from 'node:buffer';

export class ByteWriter {
  buf: Buffer;
  view: DataView;
  pos = 0;

  /** A writer with `initial` bytes of room: a size, or a buffer to write into (it grows past it if it must). */
  constructor(initial: number | Buffer = 4096) {
    this.buf = typeof initial === 'number' ? Buffer.allocUnsafe(initial) : initial;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const size = Math.max(this.buf.length * 2, this.pos + n);
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Writes a one-byte format code followed by a one-byte value. */
  u8u8(code: number, v: number): void {
    this.ensure(2);
    const b = this.buf;
    b[this.pos] = code;
    b[this.pos + 1] = v;
    this.pos += 2;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v);
    this.pos += 4;
  }

  u64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.pos, v);
    this.pos += 8;
  }

  i64(v: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.pos, v);
    this.pos += 8;
  }

  /** Writes a safe integer as a signed 64-bit value without going through BigInt. */
  i64FromNumber(v: number): void {
    this.ensure(8);
    const high = Math.floor(v / 0x100000000);
    this.view.setInt32(this.pos, high);
    this.view.setUint32(this.pos + 4, v - high * 0x100000000);
    this.pos += 8;
  }

  f32(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, v);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Overwrites a big-endian uint32 at an earlier position. */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v);
  }

  /** Opens `n` bytes at `at` by moving what follows to the right (used to widen a size field). */
  insertGap(at: number, n: number): void {
    this.ensure(n);
    this.buf.copyWithin(at + n, at, this.pos);
    this.pos += n;
  }

  /** A copy of what has been written, sized exactly. */
  toBuffer(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  reset(): void {
    this.pos = 0;
  }
}
