/**
 * A link endpoint (spec, transport 2.6): attach/detach, link credit and delivery count, the
 * outgoing delivery queue of a sender and the partial incoming delivery of a receiver.
 */
import type { Coordinator, DeliveryState, ErrorCondition, Fields, Source, Target } from '../codec/composite-types.js';
import type { AttachFields } from '../codec/spec-tables.js';
import type { ByteWriter } from '../codec/byte-writer.js';
import { IllegalStateError } from '../errors.js';
import { EngineDelivery } from './delivery.js';
import type { EndpointState } from './endpoint-state.js';
import { serialAdd, serialDiff } from './serial-number.js';
import type { EngineSession } from './session.js';
import type { EndpointContext } from './endpoint-context.js';

/** Which end of a link we are. */
export type LinkRole = 'sender' | 'receiver';

/** Sender settle modes (spec 2.8.2). */
export const SenderSettleMode = { unsettled: 0, settled: 1, mixed: 2 } as const;
/** Receiver settle modes (spec 2.8.3). */
export const ReceiverSettleMode = { first: 0, second: 1 } as const;

/** What our attach says. */
export interface LinkAttachOptions {
  name: string;
  role: LinkRole;
  source?: Source | undefined;
  target?: Target | Coordinator | undefined;
  sndSettleMode?: number | undefined;
  rcvSettleMode?: number | undefined;
  maxMessageSize?: bigint | undefined;
  offeredCapabilities?: string[] | undefined;
  desiredCapabilities?: string[] | undefined;
  properties?: Fields | undefined;
}

/** Options of one outgoing delivery. */
export interface SendOptions {
  /** The delivery tag; the link makes one when absent. */
  tag?: Uint8Array | undefined;
  /** Send pre-settled (at-most-once). */
  settled?: boolean | undefined;
  /** The message format; 0 (AMQP messages) by default. */
  messageFormat?: number | undefined;
  /** The state the first transfer carries (a transactional-state for a send in a transaction). */
  state?: DeliveryState | undefined;
  /** The payload comes in chunks (see `sendStream`). */
  stream?: boolean | undefined;
  /**
   * Called once the payload's last byte has been written out by whoever takes the output (for
   * the socket transport: once the socket has taken it), so that its buffer can be reused.
   */
  onWritten?: (() => void) | undefined;
}

export class EngineLink {
  readonly session: EngineSession;
  readonly name: string;
  readonly role: LinkRole;
  /** Our handle, or -1 before we attach / after we detach. */
  handle = -1;
  /** The peer's handle, or -1 before its attach / after its detach. */
  remoteHandle = -1;
  localState: EndpointState = 'unopened';
  remoteState: EndpointState = 'unopened';
  /** Our attach, as sent. */
  local: LinkAttachOptions;
  /** The peer's attach, as received. */
  remote: AttachFields | undefined;
  /** The error of the peer's detach, when it had one. */
  remoteError: ErrorCondition | undefined;
  /** Whether the peer's detach closed the link (rather than only detaching it). */
  remoteClosed = false;
  /** Our detach error, when we detached with one. */
  localError: ErrorCondition | undefined;

  /** Deliveries sent (sender) or received (receiver), as the spec counts them. */
  deliveryCount = 0;
  /** Credit: for a sender, what it may still send; for a receiver, what it has granted and not yet used. */
  credit = 0;
  /** Receiver: the delivery count at which the granted credit runs out. */
  deliveryLimit = 0;
  /**
   * Receiver: the highest delivery limit ever granted (undefined before any). Transfers the
   * sender made under a larger credit we have since lowered may still arrive, and are allowed up
   * to this; one beyond it broke the sender's credit (spec 2.6.7).
   */
  grantedLimit: number | undefined;
  /** The peer's `available` (sender's backlog), as last reported. */
  available = 0;
  /** Receiver: deliveries are handed over frame by frame (`deliveryChunk` events), never assembled. */
  streamIncoming = false;
  /** Sender: the backlog the application says it has (`offered()`), reported in our flows; else what waits in the engine. */
  offered: number | undefined;
  /** Drain: for a sender, requested by the peer; for a receiver, requested by us and not yet completed. */
  drain = false;

  /** Sender: deliveries not yet fully written, in order. */
  readonly outgoing: EngineDelivery[] = [];
  /** Receiver: the delivery whose frames are still arriving. */
  current: EngineDelivery | undefined;
  /** Whether a flow frame for this link waits to be written. */
  flowPending = false;
  /** Set by a layer above to find its own object for this link. */
  context: EndpointContext<'link'> | undefined;
  private nextTag = 0;

  constructor(session: EngineSession, options: LinkAttachOptions) {
    this.session = session;
    this.name = options.name;
    this.role = options.role;
    this.local = options;
  }

  /** Sends our attach (for a link the peer opened, this answers its attach). */
  open(options?: Partial<LinkAttachOptions>): void {
    if (options) this.local = { ...this.local, ...options, name: this.name, role: this.role };
    this.session.attachLink(this);
  }

  /** Detaches (or, with `closed`, closes) the link. */
  detach(closed = true, error?: ErrorCondition): void {
    this.session.detachLink(this, closed, error);
  }

  /** True while both ends have attached and neither has detached. */
  get isOpen(): boolean {
    return this.localState === 'open' && this.remoteState === 'open';
  }

  /**
   * Sender: queues a delivery of `payload` (its bytes are not copied: do not change them) and
   * writes as many of its frames as the session window allows. Needs credit (check `credit`).
   */
  send(payload: Uint8Array | readonly Uint8Array[], options?: SendOptions): EngineDelivery {
    if (this.role !== 'sender') throw new IllegalStateError('only a sender link can send');
    if (this.localState !== 'open')
      throw new IllegalStateError(
        `cannot send on link ${this.name}: it is ${this.localState === 'unopened' ? 'not attached' : 'detached'}`,
      );
    if (this.credit <= 0) throw new IllegalStateError(`cannot send on link ${this.name}: no credit`);
    const settled = options?.settled ?? this.local.sndSettleMode === SenderSettleMode.settled;
    const delivery = new EngineDelivery(
      this,
      options?.tag ?? this.nextTagNumber(),
      options?.messageFormat ?? 0,
      settled,
    );
    delivery.onWritten = options?.onWritten;
    delivery.transferState = options?.state;
    if (payload instanceof Uint8Array) {
      delivery.payload = payload;
      if (options?.stream) delivery.stream = { chunks: [], done: false };
    } else {
      // Given in parts (a large body by reference between its head and its tail): framed as if
      // they were one buffer, each frame taking its bytes from the parts it spans.
      delivery.payload = payload[0] ?? new Uint8Array(0); // (set while frames remain to write)
      delivery.parts = payload;
      for (const part of payload) delivery.size += part.length;
    }

    this.credit--;
    this.deliveryCount = serialAdd(this.deliveryCount, 1);
    this.outgoing.push(delivery);
    this.session.transmit(this);
    return delivery;
  }

  /** Sender: whether a delivery sent now could be encoded straight into the output (credit, window, nothing queued). */
  get canSendDirect(): boolean {
    return (
      this.role === 'sender' &&
      this.localState === 'open' &&
      this.credit > 0 &&
      this.outgoing.length === 0 &&
      this.session.canWriteDirect
    );
  }

  /**
   * Sender: sends a delivery whose payload `encode` writes straight into the connection's output,
   * in one frame, with no intermediate copy. Check `canSendDirect` first. Returns the delivery;
   * or, when the payload does not fit one frame, its encoded bytes, with nothing sent (send them
   * with `send()`). What `encode` throws is rethrown, with nothing sent.
   */
  sendDirect(encode: (w: ByteWriter) => void, options?: SendOptions): EngineDelivery | Uint8Array {
    if (!this.canSendDirect) throw new IllegalStateError(`cannot send directly on link ${this.name} now`);
    const settled = options?.settled ?? this.local.sndSettleMode === SenderSettleMode.settled;
    const delivery = new EngineDelivery(
      this,
      options?.tag ?? this.nextTagNumber(),
      options?.messageFormat ?? 0,
      settled,
    );
    delivery.transferState = options?.state;
    const overflow = this.session.writeDirect(this, delivery, encode);
    if (overflow !== undefined) return overflow;
    this.credit--;
    this.deliveryCount = serialAdd(this.deliveryCount, 1);
    return delivery;
  }

  /** Receiver: grants `n` more credit. */
  addCredit(n: number): void {
    this.setCredit(this.credit + n);
  }

  /**
   * Sender: begins a delivery whose payload is given in chunks (`streamChunk`), each written as
   * the session window allows, so that a large message is never held whole. Needs credit.
   */
  sendStream(options?: SendOptions): EngineDelivery {
    return this.send(new Uint8Array(0), { ...options, stream: true });
  }

  /**
   * Sender: the next chunk of a streamed delivery's payload (`last` ends it); `onWritten` is
   * called once its bytes are in the output. Returns false when the delivery is over (aborted).
   */
  streamChunk(delivery: EngineDelivery, bytes: Uint8Array, last: boolean, onWritten?: () => void): boolean {
    const stream = delivery.stream;
    if (!stream || stream.done || delivery.aborted || !this.outgoing.includes(delivery)) return false;
    stream.chunks.push({ bytes, onWritten });
    if (last) stream.done = true;
    this.session.transmit(this);
    return true;
  }

  /**
   * Sender: aborts a delivery whose frames have not all gone out (spec 2.6.12, `aborted`): a last
   * transfer says so, the peer discards what it got, and the delivery is settled. Returns false
   * when it was written whole already (too late: its outcome will come as usual).
   */
  abort(delivery: EngineDelivery): boolean {
    const at = this.role === 'sender' && !delivery.aborted ? this.outgoing.indexOf(delivery) : -1;
    if (at < 0) return false;
    delivery.aborted = true;
    delivery.settled = true;
    if (!delivery.started) {
      // Nothing of it went out: it is taken back whole, with the credit it used.
      this.outgoing.splice(at, 1);
      this.deliveryCount = serialAdd(this.deliveryCount, -1);
      this.credit++;
      delivery.payload = undefined;
      const written = delivery.onWritten;
      delivery.onWritten = undefined;
      written?.();
      return true;
    }
    this.session.transmit(this);
    return true;
  }

  /** Sender: tells the peer (in a flow) how many messages we have for it. */
  offer(available: number): void {
    this.offered = available;
    this.session.scheduleLinkFlow(this);
  }

  /** Receiver: sets the credit to exactly `credit` (and the drain flag, unchanged by default). */
  setCredit(credit: number, drain = this.drain): void {
    if (this.role !== 'receiver') throw new IllegalStateError('only a receiver link grants credit');
    this.credit = Math.max(0, Math.min(credit, 0xffffffff));
    this.deliveryLimit = serialAdd(this.deliveryCount, this.credit);
    this.raiseGrantedLimit();
    this.drain = drain && this.credit > 0;
    this.session.scheduleLinkFlow(this);
  }

  /** Receiver: notes `deliveryLimit` as granted, if it is the highest yet. */
  raiseGrantedLimit(): void {
    if (this.grantedLimit === undefined || serialDiff(this.deliveryLimit, this.grantedLimit) > 0)
      this.grantedLimit = this.deliveryLimit;
  }

  /** Receiver: whether one more delivery from the sender stays within the credit ever granted. */
  get withinGrantedCredit(): boolean {
    return this.grantedLimit !== undefined && serialDiff(this.grantedLimit, this.deliveryCount) > 0;
  }

  /** Receiver: asks the sender to use up or give back all credit (spec 2.6.7). */
  requestDrain(): void {
    this.setCredit(this.credit, true);
  }

  /** Receiver: a flow from the sender moved its delivery count (e.g. it drained). Returns true when a drain completed. */
  onSenderState(deliveryCount: number): boolean {
    this.deliveryCount = deliveryCount;
    this.credit = Math.max(0, serialDiff(this.deliveryLimit, deliveryCount));
    if (this.drain && this.credit === 0) {
      this.drain = false;
      return true;
    }
    return false;
  }

  /** The number of the next tag the link makes; it wraps at 2^32 (tags need only be unique among unsettled deliveries). */
  private nextTagNumber(): number {
    const n = this.nextTag;
    this.nextTag = n === 0xffffffff ? 0 : n + 1;
    return n;
  }
}
