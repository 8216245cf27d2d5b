/**
 * A streaming receiver's view of a delivery as its transfers arrive: the sections before the body
 * are gathered and decoded (the delivery is handed over then), and the bytes of its data sections
 * flow out as an async iterable while they arrive. A body that is not data sections (an
 * amqp-value or amqp-sequence) is gathered whole and handed over at the end, as usual.
 */
import { Buffer } from 'node:buffer';
import { decodeMessage, type Message, type ValuesMode } from '../codec/message.js';
import { AsyncQueue } from '../collections/async-queue.js';
import { DecodeError, type AmqpError } from '../errors.js';

/** Section descriptor codes (messaging 3.2). */
const DATA = 0x75;
const FOOTER = 0x78;
const BEFORE_BODY = new Set([0x70, 0x71, 0x72, 0x73, 0x74]);

/** The encoded length of a described section at `pos` (head sections: lists and maps), or undefined when more bytes are needed. */
function headSectionLength(b: Buffer, pos: number): number | undefined {
  if (b.length - pos < 4) return undefined;
  const code = b[pos + 3]!;
  switch (code) {
    case 0x40:
    case 0x45:
      return 4;
    case 0xc0:
    case 0xc1:
      return b.length - pos < 5 ? undefined : 5 + b[pos + 4]!;
    case 0xd0:
    case 0xd1:
      return b.length - pos < 8 ? undefined : 8 + b.readUInt32BE(pos + 4);
  }
  throw new DecodeError(`a section before the body has format code 0x${code.toString(16)}`, pos + 3);
}

export class BodyStream implements AsyncIterable<Uint8Array> {
  /** Bytes not yet parsed (the head, a data section's header cut between transfers). */
  #pending: Buffer = Buffer.alloc(0);
  /** A body that is not data sections (amqp-value, amqp-sequence): its transfers, joined once at the end. */
  readonly #whole: Buffer[] = [];
  #state: 'head' | 'data' | 'whole' | 'footer' = 'head';
  /** Bytes left in the data section being read. */
  #left = 0;
  #head: Message | undefined;
  /** The body's bytes for the reader; `#queued` of them wait in it. */
  readonly #chunks = new AsyncQueue<Uint8Array>({
    taken: (chunk) => {
      this.#queued -= chunk.length;
      if (this.#queued <= this.limit / 2) this.#setHeld(false);
    },
    // The reader left: what is queued and what still comes is dropped, so nothing holds the window.
    returned: () => {
      this.#queued = 0;
      this.#setHeld(false);
    },
  });
  #queued = 0;
  #held = false;

  /**
   * @param values how the head's values are given
   * @param hold holds the session's incoming window (true) or lets it go (false): the stream is behind, or has caught up
   * @param limit bytes queued for the reader beyond which the window is held
   */
  constructor(
    private readonly values: ValuesMode,
    private readonly hold: (held: boolean) => void,
    private readonly limit = 1 << 20,
  ) {}

  /** The message's sections before the body, once they are in (its `body` is in `stream()`). */
  get head(): Message | undefined {
    return this.#head;
  }

  /** Takes the next transfer's bytes. Returns true when the head has just become complete (hand the delivery over). */
  push(chunk: Uint8Array): boolean {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#state === 'footer') return false;
    if (this.#state === 'whole') {
      this.#whole.push(bytes); // joined once at the end, not at every transfer
      return false;
    }
    // In the head, everything from the message's start is kept until the body begins.
    let b = this.#pending.length > 0 ? Buffer.concat([this.#pending, bytes]) : bytes;
    let pos = 0;
    let headDone = false;
    while (pos < b.length) {
      if (this.#state === 'data' && this.#left > 0) {
        const n = Math.min(this.#left, b.length - pos);
        this.#emit(b.subarray(pos, pos + n));
        this.#left -= n;
        pos += n;
        continue;
      }
      // At a section boundary.
      if (b.length - pos < 3) break;
      const code = b[pos] === 0x00 && b[pos + 1] === 0x53 ? b[pos + 2]! : -1;
      if (this.#state === 'head' && BEFORE_BODY.has(code)) {
        const n = headSectionLength(b, pos);
        if (n === undefined || b.length - pos < n) break;
        pos += n;
        continue;
      }
      if (code === DATA) {
        if (b.length - pos < 5) break;
        const width = b[pos + 3] === 0xa0 ? 1 : b[pos + 3] === 0xb0 ? 4 : 0;
        if (width === 0) throw new DecodeError('a data section must hold binary', pos + 3);
        if (b.length - pos < 4 + width) break;
        if (this.#state === 'head') {
          this.#head = decodeMessage(b.subarray(0, pos), { values: this.values });
          headDone = true;
        }
        this.#state = 'data';
        this.#left = width === 1 ? b[pos + 4]! : b.readUInt32BE(pos + 4);
        pos += 4 + width;
        continue;
      }
      if (code === FOOTER && this.#state === 'data') {
        this.#state = 'footer'; // a streaming receiver does not keep footers
        this.#pending = Buffer.alloc(0);
        return headDone;
      }
      if (this.#state === 'head') {
        // An amqp-value or amqp-sequence body, or symbolic descriptors: gathered whole, decoded at the end.
        this.#state = 'whole';
        this.#pending = b;
        return false;
      }
      throw new DecodeError(`a section with code 0x${code.toString(16)} follows a data section`, pos);
    }
    b = this.#state === 'head' ? b : b.subarray(pos);
    this.#pending = Buffer.from(b); // a copy: the transfer's buffer is not kept alive by a few bytes
    return headDone;
  }

  /** The last transfer came. For a body that was not streamed, returns the whole message. */
  end(): Message | undefined {
    this.#chunks.end();
    if (this.#state === 'whole' || this.#state === 'head') {
      if (this.#whole.length > 0) this.#pending = Buffer.concat([this.#pending, ...this.#whole]);
      const message = decodeMessage(this.#pending, { values: this.values });
      this.#pending = Buffer.alloc(0);
      return message;
    }
    return undefined;
  }

  /** The delivery was aborted, or the link or connection went: the reader gets `error`. */
  fail(error: AmqpError): void {
    this.#chunks.fail(error);
    this.#setHeld(false);
  }

  #emit(bytes: Uint8Array): void {
    if (!this.#chunks.push(bytes)) return; // the reader left
    this.#queued += bytes.length;
    if (this.#queued > this.limit) this.#setHeld(true);
  }

  #setHeld(held: boolean): void {
    if (this.#held === held) return;
    this.#held = held;
    this.hold(held);
  }

  /** The body's bytes as they arrive. Leaving the loop early drops the rest of the body (and lets the session's window go). */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.#chunks;
  }
}
