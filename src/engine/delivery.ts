/**
 * A delivery as the engine tracks it (spec, transport 2.6.12): one message transfer on a link,
 * from its first transfer frame until both ends have settled it.
 */
import type { DeliveryState } from '../codec/composite-types.js';
import type { EngineLink } from './link.js';
import type { EndpointContext } from './endpoint-context.js';

export class EngineDelivery {
  /** The link the delivery travels on. */
  readonly link: EngineLink;
  /** The tag given by the application, or made from `tagNumber` or `#tagFrame` when first asked for. */
  #tag: Uint8Array | undefined;
  /**
   * A tag the link numbered, or -1 when the tag is bytes (given by the application, or received):
   * the bytes are made only when someone asks for `tag`, since most deliveries never need them as
   * an object (the transfer frame is written from the number).
   */
  readonly tagNumber: number;
  /** Received: the bytes of the frame that carried the tag, from `#tagStart` to `#tagEnd` (see `received`). */
  #tagFrame: Uint8Array | undefined;
  #tagStart = 0;
  #tagEnd = 0;
  /** The session-scoped delivery id; assigned when the first transfer frame goes out (sender) or arrives (receiver). */
  id = -1;
  /** Sender: the state its first transfer carries (a transactional-state naming the transaction it is sent in). */
  transferState: DeliveryState | undefined;
  /** The message format of the transfer (0 for AMQP messages). */
  messageFormat: number;
  /** The state we last set (our disposition). */
  localState: DeliveryState | undefined;
  /** Whether we have settled the delivery. */
  settled: boolean;
  /** The state the peer last sent. */
  remoteState: DeliveryState | undefined;
  /** Whether the peer has settled the delivery. */
  remoteSettled = false;
  /** Incoming: whether the sender aborted it. Outgoing: whether we abort it (its last transfer says so). */
  aborted = false;
  #payload: Uint8Array | undefined;
  /** Received whole in one frame: the bytes that frame came in, from `#payloadStart` to `#payloadEnd` (see `locatePayload`). */
  #payloadFrame: Uint8Array | undefined;
  #payloadStart = 0;
  #payloadEnd = 0;
  /** Incoming: payload chunks of a multi-frame delivery still arriving. */
  chunks: Uint8Array[] | undefined;
  /** Incoming: payload bytes received so far. */
  size = 0;
  /** Outgoing: how many payload bytes have been framed and written. */
  offset = 0;
  /** Outgoing: its first transfer frame has been written (it has a delivery-id). */
  started = false;
  /** Outgoing, given in parts (see `EngineLink.send`), framed as one payload of `size` bytes; kept to send again whole after a reconnect. */
  parts: readonly Uint8Array[] | undefined;
  /**
   * Outgoing, streamed: the payload comes in chunks (`EngineLink.streamChunk`), each written as it
   * comes; undefined for a delivery whose payload was given whole.
   */
  stream: { chunks: { bytes: Uint8Array; onWritten: (() => void) | undefined }[]; done: boolean } | undefined;
  /** Outgoing: called once every frame of the payload has been taken as output (see `ProtocolEngine.takeWrittenCallbacks`). */
  onWritten: (() => void) | undefined;
  /** Set by a layer above to find its own object for this delivery (a promise, a handler context). */
  context: EndpointContext<'delivery'> | undefined;

  constructor(link: EngineLink, tag: Uint8Array | number, messageFormat: number, settled: boolean) {
    this.link = link;
    if (typeof tag === 'number') {
      this.tagNumber = tag;
    } else {
      this.tagNumber = -1;
      this.#tag = tag;
    }
    this.messageFormat = messageFormat;
    this.settled = settled;
  }

  /**
   * A received delivery whose tag is bytes `tagStart` to `tagEnd` of `frame`: a view of them is
   * made only when someone asks for `tag` (most never do: dispositions name the delivery-id).
   */
  static received(
    link: EngineLink,
    frame: Uint8Array,
    tagStart: number,
    tagEnd: number,
    messageFormat: number,
    settled: boolean,
  ): EngineDelivery {
    const delivery = new EngineDelivery(link, -1, messageFormat, settled);
    delivery.#tagFrame = frame;
    delivery.#tagStart = tagStart;
    delivery.#tagEnd = tagEnd;
    return delivery;
  }

  /** Incoming: the payload (complete once the last frame arrived). Outgoing: the bytes to send. */
  get payload(): Uint8Array | undefined {
    if (this.#payloadFrame !== undefined) {
      this.#payload = this.#payloadFrame.subarray(this.#payloadStart, this.#payloadEnd);
      this.#payloadFrame = undefined;
    }
    return this.#payload;
  }

  set payload(bytes: Uint8Array | undefined) {
    this.#payload = bytes;
    this.#payloadFrame = undefined;
  }

  /**
   * Incoming, whole in one frame: the payload is bytes `start` to `end` of `frame`, made a view of
   * only when `payload` is first read. Until then a message can be decoded straight from the
   * frame (see `payloadFrame`), which saves the receiver a view per message.
   */
  locatePayload(frame: Uint8Array, start: number, end: number): void {
    this.#payload = undefined;
    this.#payloadFrame = frame;
    this.#payloadStart = start;
    this.#payloadEnd = end;
  }

  /** The frame holding the payload from `payloadStart` to `payloadEnd`, while no view of it was made (see `locatePayload`). */
  get payloadFrame(): Uint8Array | undefined {
    return this.#payloadFrame;
  }

  get payloadStart(): number {
    return this.#payloadStart;
  }

  get payloadEnd(): number {
    return this.#payloadEnd;
  }

  /** The delivery tag, unique among the link's unsettled deliveries. */
  get tag(): Uint8Array {
    if (this.#tag === undefined) {
      this.#tag =
        this.#tagFrame !== undefined
          ? this.#tagFrame.subarray(this.#tagStart, this.#tagEnd)
          : numberedTag(this.tagNumber);
      this.#tagFrame = undefined;
    }
    return this.#tag;
  }

  /** The length of the tag in bytes. */
  get tagLength(): number {
    if (this.#tag !== undefined) return this.#tag.length;
    return this.#tagFrame !== undefined ? this.#tagEnd - this.#tagStart : numberedTagLength(this.tagNumber);
  }

  /** Sets our state and, when `settle` is true, settles; the disposition goes out with the next output. */
  update(state: DeliveryState | undefined, settle: boolean): void {
    this.link.session.updateDelivery(this, state, settle);
  }

  /** Settles the delivery without changing its state. */
  settle(): void {
    this.link.session.updateDelivery(this, this.localState, true);
  }
}

/** How many bytes the tag of number `n` takes: the fewest of 1, 2 or 4 that hold it. */
export function numberedTagLength(n: number): number {
  return n < 0x100 ? 1 : n < 0x10000 ? 2 : 4;
}

/** Writes the big-endian tag of number `n` into `out` (of `numberedTagLength(n)` bytes). */
export function writeNumberedTag(n: number, out: Uint8Array): void {
  for (let i = out.length - 1; i >= 0; i--, n = Math.floor(n / 256)) out[i] = n & 0xff;
}

function numberedTag(n: number): Uint8Array {
  const out = new Uint8Array(numberedTagLength(n));
  writeNumberedTag(n, out);
  return out;
}
