/**
 * A session endpoint (spec, transport 2.5.5-2.5.6 and 2.7.2-2.7.7): begin/end, the transfer
 * windows, handle maps, delivery ids, settlement, and the fair interleaving of links' frames.
 */
import { Buffer } from 'node:buffer';
import type { DeliveryState, ErrorCondition } from '../codec/composite-types.js';
import {
  compositeSpecs,
  type AttachFields,
  type DetachFields,
  type DispositionFields,
  type FlowFields,
  type TransferFields,
} from '../codec/spec-tables.js';
import type { ByteWriter } from '../codec/byte-writer.js';
import type { LocatedTransferFields } from '../codec/transfer-decoder.js';
import { EngineDelivery, numberedTagLength, writeNumberedTag } from './delivery.js';
import type { EndpointState } from './endpoint-state.js';
import type { ProtocolEngine } from './engine.js';
import { AmqpError, IllegalStateError } from '../errors.js';
import { EngineLink, type LinkAttachOptions } from './link.js';
import { serialAdd, serialDiff } from './serial-number.js';
import { UnsettledDeliveries } from './unsettled-deliveries.js';
import type { EndpointContext } from './endpoint-context.js';

/** Our half of a begin. */
export interface SessionOptions {
  /** How many transfer frames the peer may send before we widen the window again. Default 8192. */
  incomingWindow?: number;
  /** The highest link handle we accept. Default 4294967295. */
  handleMax?: number;
}

const DEFAULT_INCOMING_WINDOW = 8192;
const OUTGOING_WINDOW = 0x7fffffff;
/**
 * The largest incoming message a receiver accepts when it set no max-message-size, so that a peer
 * cannot make us buffer without bound (256 MiB).
 */
const DEFAULT_MAX_INCOMING_MESSAGE_SIZE = 256 * 1024 * 1024;
/** Bytes we leave in a frame for the header and the transfer performative, besides the tag. */
const TRANSFER_OVERHEAD = 64;

export class EngineSession {
  /** Holds on the incoming window (see holdIncomingWindow). */
  private windowHolds = 0;
  readonly engine: ProtocolEngine;
  /** Our channel, or -1 when we have not begun. */
  channel = -1;
  /** The peer's channel, or -1 before its begin. */
  remoteChannel = -1;
  localState: EndpointState = 'unopened';
  remoteState: EndpointState = 'unopened';
  remoteError: ErrorCondition | undefined;
  localError: ErrorCondition | undefined;
  readonly options: SessionOptions;

  /** The transfer id of our next transfer frame. */
  nextOutgoingId = 0;
  /** The transfer id we expect next from the peer. */
  nextIncomingId = 0;
  /** Transfer frames the peer may still send us. */
  incomingWindow: number;
  /** Transfer frames we may still send the peer. */
  remoteIncomingWindow = 0;
  remoteOutgoingWindow = 0;
  remoteHandleMax = 0xffffffff;
  /** Set by a layer above to find its own object for this session. */
  context: EndpointContext<'session'> | undefined;

  private readonly initialIncomingWindow: number;
  private nextDeliveryId = 0;
  private readonly localHandles: (EngineLink | undefined)[] = [];
  private readonly remoteHandles = new Map<number, EngineLink>();
  /** Links waiting for the peer's attach, or attached by the peer and not yet answered, by name and role. */
  private readonly linksByName = new Map<string, EngineLink>();
  /** Deliveries we sent and have not settled, by delivery id. */
  readonly outgoingUnsettled = new UnsettledDeliveries();
  /** Deliveries we received and have not settled, by delivery id. */
  readonly incomingUnsettled = new UnsettledDeliveries();
  /** Links with frames to write, served in turn. */
  private readonly sendQueue: EngineLink[] = [];
  private readonly pendingDispositions: EngineDelivery[] = [];
  /** How many of `pendingDispositions` are a sender's (they are never held back: see `waitingAcknowledgements`). */
  private pendingSenderDispositions = 0;
  private readonly pendingLinkFlows: EngineLink[] = [];
  private sessionFlowPending = false;
  /** A sender link was asked to drain: its answer is due at the end of the turn. */
  private drainAsked = false;
  private readonly transferFields: TransferFields = { handle: 0 };
  /** Scratch arrays for numbered delivery tags, by length (1, 2 or 4 bytes). */
  private readonly tagScratch: Record<number, Uint8Array> = {
    1: new Uint8Array(1),
    2: new Uint8Array(2),
    4: new Uint8Array(4),
  };

  constructor(engine: ProtocolEngine, options: SessionOptions) {
    this.engine = engine;
    this.options = options;
    this.initialIncomingWindow = options.incomingWindow ?? DEFAULT_INCOMING_WINDOW;
    this.incomingWindow = this.initialIncomingWindow;
  }

  /** Every link of the session that has not been forgotten. */
  get links(): EngineLink[] {
    const all = new Set<EngineLink>();
    for (const l of this.localHandles) if (l) all.add(l);
    for (const l of this.remoteHandles.values()) all.add(l);
    for (const l of this.linksByName.values()) all.add(l);
    return [...all];
  }

  /** How many links the peer has attached on this session now (its handles in use). */
  get remoteLinkCount(): number {
    return this.remoteHandles.size;
  }

  /** Sends our begin (for a session the peer began, this answers it). */
  open(): void {
    if (this.localState !== 'unopened') return;
    this.engine.beginSession(this);
  }

  /** Ends the session. */
  end(error?: ErrorCondition): void {
    if (this.localState !== 'open') return;
    // Dispositions and flows waiting for the end of the turn go out before the end, not after it.
    this.flush();
    this.localState = 'closed';
    this.localError = error;
    this.engine.writeFrame(this.channel, compositeSpecs.end, error ? { error } : {});
    this.engine.endSessionLocally(this);
  }

  /** Creates a link on this session; `open()` it to attach. */
  createLink(options: LinkAttachOptions): EngineLink {
    return new EngineLink(this, options);
  }

  /** Begin fields for our begin frame. */
  beginFields(): Record<string, unknown> {
    return {
      remoteChannel: this.remoteChannel >= 0 ? this.remoteChannel : undefined,
      nextOutgoingId: this.nextOutgoingId,
      incomingWindow: this.incomingWindow,
      outgoingWindow: OUTGOING_WINDOW,
      handleMax: this.options.handleMax,
    };
  }

  onRemoteBegin(fields: {
    nextOutgoingId: number;
    incomingWindow: number;
    outgoingWindow: number;
    handleMax?: number;
  }): void {
    this.remoteState = 'open';
    this.nextIncomingId = fields.nextOutgoingId;
    this.remoteIncomingWindow = fields.incomingWindow;
    this.remoteOutgoingWindow = fields.outgoingWindow;
    this.remoteHandleMax = fields.handleMax ?? 0xffffffff;
  }

  // ---- Links ----

  attachLink(link: EngineLink): void {
    if (link.localState !== 'unopened') return;
    if (this.localState !== 'open') throw new IllegalStateError('cannot attach a link on a session that is not open');
    let handle = 0;
    while (this.localHandles[handle] !== undefined) handle++;
    if (handle > this.remoteHandleMax) {
      throw new AmqpError(
        'amqp:resource-limit-exceeded',
        `The peer allows at most ${this.remoteHandleMax + 1} links on a session (its handle-max). Close a link first, or use another session.`,
      );
    }
    link.handle = handle;
    this.localHandles[handle] = link;
    link.localState = 'open';
    if (link.remoteState === 'unopened') this.linksByName.set(linkKey(link.name, link.role), link);
    const l = link.local;
    const fields: AttachFields = {
      name: l.name,
      handle,
      role: l.role === 'receiver',
      sndSettleMode: l.sndSettleMode,
      rcvSettleMode: l.rcvSettleMode,
      source: l.source,
      target: l.target,
      initialDeliveryCount: l.role === 'sender' ? link.deliveryCount : undefined,
      maxMessageSize: l.maxMessageSize,
      offeredCapabilities: l.offeredCapabilities,
      desiredCapabilities: l.desiredCapabilities,
      properties: l.properties,
    };
    this.engine.writeFrame(this.channel, compositeSpecs.attach, fields);
    if (link.role === 'receiver' && link.credit > 0) this.scheduleLinkFlow(link);
  }

  detachLink(link: EngineLink, closed: boolean, error: ErrorCondition | undefined): void {
    if (link.localState !== 'open') return;
    link.localState = 'closed';
    link.localError = error;
    if (this.localState === 'open') {
      // The link's settlements waiting for the end of the turn go out before its detach.
      this.flush();
      this.engine.writeFrame(this.channel, compositeSpecs.detach, { handle: link.handle, closed, error });
    }
    this.localHandles[link.handle] = undefined;
    const q = this.sendQueue.indexOf(link);
    if (q >= 0) this.sendQueue.splice(q, 1);
    if (link.remoteState !== 'open') this.forgetLink(link);
  }

  private forgetLink(link: EngineLink): void {
    this.linksByName.delete(linkKey(link.name, link.role));
    if (link.remoteHandle >= 0 && this.remoteHandles.get(link.remoteHandle) === link)
      this.remoteHandles.delete(link.remoteHandle);
  }

  onAttach(fields: AttachFields): void {
    const handleMax = this.options.handleMax;
    if (handleMax !== undefined && fields.handle > handleMax) {
      this.engine.failSession(this, {
        condition: 'amqp:resource-limit-exceeded',
        description: `attach with handle ${fields.handle}, above the handle-max ${handleMax} of this session`,
      });
      return;
    }
    if (this.remoteHandles.has(fields.handle)) {
      this.engine.failSession(this, {
        condition: 'amqp:session:handle-in-use',
        description: `handle ${fields.handle} is already attached`,
      });
      return;
    }
    // The peer's role is the opposite of our link's.
    const ourRole = fields.role ? 'sender' : 'receiver';
    const key = linkKey(fields.name, ourRole);
    let link = this.linksByName.get(key);
    const isNew = link === undefined || link.remoteState !== 'unopened';
    if (isNew) {
      link = new EngineLink(this, { name: fields.name, role: ourRole });
      this.linksByName.set(key, link);
    }
    link = link!;
    link.remote = fields;
    link.remoteHandle = fields.handle;
    link.remoteState = 'open';
    this.remoteHandles.set(fields.handle, link);
    if (ourRole === 'receiver') {
      const count = fields.initialDeliveryCount ?? 0;
      link.deliveryCount = count;
      link.deliveryLimit = serialAdd(count, link.credit);
      // The limit granted before the attach counted from 0; it counts from the sender's count now.
      link.grantedLimit = undefined;
      if (link.credit > 0) link.raiseGrantedLimit();
    }
    if (link.localState === 'open') this.linksByName.delete(key);
    this.engine.emit({ type: 'linkRemoteOpen', link });
  }

  onDetach(fields: DetachFields): void {
    const link = this.remoteHandles.get(fields.handle);
    if (!link) {
      this.engine.failSession(this, {
        condition: 'amqp:session:unattached-handle',
        description: `detach for handle ${fields.handle}, which is not attached`,
      });
      return;
    }
    link.remoteState = 'closed';
    link.remoteClosed = fields.closed ?? false;
    link.remoteError = fields.error;
    this.remoteHandles.delete(fields.handle);
    if (link.current) link.current = undefined;
    const answer = link.localState === 'open';
    // Answer a detach at once, echoing `closed`, so that no layer above can leave the link half-open.
    if (answer) this.detachLink(link, link.remoteClosed, undefined);
    else this.forgetLink(link);
    this.engine.emit({ type: 'linkRemoteClose', link, error: fields.error, closed: link.remoteClosed });
  }

  // ---- Transfers out ----

  /** Queues a sender link whose outgoing deliveries have frames to write, and writes what the window allows. */
  transmit(link: EngineLink): void {
    if (!this.sendQueue.includes(link)) this.sendQueue.push(link);
    this.pump();
  }

  /** Writes transfer frames while the peer's window allows, one frame per link in turn. */
  pump(): void {
    const engine = this.engine;
    if (this.localState !== 'open' || !engine.canWriteFrames) return;
    const queue = this.sendQueue;
    while (queue.length > 0 && this.remoteIncomingWindow > 0) {
      const link = queue.shift()!;
      const delivery = link.outgoing[0];
      if (delivery === undefined || link.localState !== 'open') continue;
      // A streamed delivery whose current chunk is written waits for the next (transmit() comes back then).
      if (
        delivery.stream !== undefined &&
        !delivery.aborted &&
        delivery.offset >= delivery.payload!.length &&
        !nextChunk(delivery)
      )
        continue;
      this.writeTransferFrame(link, delivery);
      if (
        delivery.stream !== undefined &&
        delivery.offset >= delivery.payload!.length &&
        delivery.onWritten !== undefined &&
        !streamEnded(delivery)
      ) {
        // A chunk of a streamed delivery is out: the application may give the next.
        engine.afterOutputWritten(delivery.onWritten);
        delivery.onWritten = undefined;
      }
      if (
        delivery.aborted ||
        (delivery.offset >= outgoingSize(delivery) && (delivery.stream === undefined || streamEnded(delivery)))
      ) {
        link.outgoing.shift();
        delivery.payload = undefined;
        if (delivery.onWritten !== undefined) {
          engine.afterOutputWritten(delivery.onWritten);
          delivery.onWritten = undefined;
        }
      }
      if (link.outgoing.length > 0) queue.push(link);
    }
  }

  private writeTransferFrame(link: EngineLink, delivery: EngineDelivery): void {
    const payload = delivery.payload!;
    const size = outgoingSize(delivery);
    const maxPayload = this.engine.maxOutgoingFrameSize - TRANSFER_OVERHEAD - delivery.tagLength;
    const start = delivery.offset;
    const first = !delivery.started;
    delivery.started = true;
    // An aborted delivery ends with one empty transfer saying so (its first, if none went out).
    const end = delivery.aborted ? start : Math.min(size, start + maxPayload);
    const fields = this.transferFields;
    fields.handle = link.handle;
    fields.aborted = delivery.aborted || undefined;
    if (delivery.aborted) this.outgoingUnsettled.delete(delivery.id); // frames went out: it was tracked
    if (first) {
      delivery.id = this.nextDeliveryId;
      this.nextDeliveryId = serialAdd(this.nextDeliveryId, 1);
      fields.deliveryId = delivery.id;
      fields.deliveryTag = this.tagBytes(delivery);
      fields.messageFormat = delivery.messageFormat;
      fields.settled = delivery.settled || undefined;
      fields.state = delivery.transferState;
      if (!delivery.settled) this.outgoingUnsettled.set(delivery.id, delivery);
    } else {
      fields.deliveryId = undefined;
      fields.deliveryTag = undefined;
      fields.messageFormat = undefined;
      fields.settled = undefined;
      fields.state = undefined;
    }
    fields.more =
      (!delivery.aborted && (end < size || (delivery.stream !== undefined && !streamEnded(delivery)))) || undefined;
    const bytes =
      delivery.parts !== undefined
        ? partsBetween(delivery.parts, start, end)
        : start === 0 && end === payload.length
          ? payload
          : payload.subarray(start, end);
    this.engine.writeFrame(this.channel, compositeSpecs.transfer, fields, bytes);
    delivery.offset = end;
    this.nextOutgoingId = serialAdd(this.nextOutgoingId, 1);
    this.remoteIncomingWindow--;
  }

  /**
   * The bytes of a delivery's tag, for the transfer frame being written: a numbered tag is written
   * into a scratch array of its length (no allocation per delivery; the frame is encoded at once).
   */
  private tagBytes(delivery: EngineDelivery): Uint8Array {
    const n = delivery.tagNumber;
    if (n < 0) return delivery.tag;
    const scratch = this.tagScratch[numberedTagLength(n)]!;
    writeNumberedTag(n, scratch);
    return scratch;
  }

  /** Whether a transfer could be written at once, ahead of nothing (see `EngineLink.sendDirect`). */
  get canWriteDirect(): boolean {
    return (
      this.localState === 'open' &&
      this.engine.canWriteFrames &&
      this.remoteIncomingWindow > 0 &&
      this.sendQueue.length === 0
    );
  }

  /**
   * Writes a whole delivery as one transfer frame, its payload encoded straight into the output.
   * Returns the encoded payload, with nothing written, when it does not fit one frame.
   */
  writeDirect(link: EngineLink, delivery: EngineDelivery, encode: (w: ByteWriter) => void): Uint8Array | undefined {
    const fields = this.transferFields;
    fields.handle = link.handle;
    fields.deliveryId = this.nextDeliveryId;
    fields.deliveryTag = this.tagBytes(delivery);
    fields.messageFormat = delivery.messageFormat;
    fields.settled = delivery.settled || undefined;
    fields.state = delivery.transferState;
    fields.more = undefined;
    fields.aborted = undefined;
    const maxPayload = this.engine.maxOutgoingFrameSize - TRANSFER_OVERHEAD - delivery.tagLength;
    const overflow = this.engine.writeTransferDirect(this.channel, fields, encode, maxPayload);
    if (overflow !== undefined) return overflow;
    delivery.started = true;
    delivery.id = this.nextDeliveryId;
    this.nextDeliveryId = serialAdd(this.nextDeliveryId, 1);
    if (!delivery.settled) this.outgoingUnsettled.set(delivery.id, delivery);
    this.nextOutgoingId = serialAdd(this.nextOutgoingId, 1);
    this.remoteIncomingWindow--;
    return undefined;
  }

  // ---- Transfers in ----

  /** A transfer read by the generic reader; its payload is one view, or several (a frame that came in several chunks). */
  onTransfer(fields: TransferFields, payload: Uint8Array | Uint8Array[] | undefined): void {
    this.receiveTransfer(fields, payload, undefined, undefined);
  }

  /**
   * A transfer read by the fast path: its delivery tag and payload are located in `frame` (see
   * `LocatedTransferFields`), and are made views of only when needed.
   */
  onLocatedTransfer(fields: LocatedTransferFields, frame: Uint8Array): void {
    this.receiveTransfer(fields, undefined, fields, frame);
  }

  /** A transfer arrived: its payload is `payload`, or located in `frame` as `located` says. */
  private receiveTransfer(
    fields: TransferFields,
    payload: Uint8Array | Uint8Array[] | undefined,
    located: LocatedTransferFields | undefined,
    frame: Uint8Array | undefined,
  ): void {
    const link = this.remoteHandles.get(fields.handle);
    if (!link || link.role !== 'receiver') {
      this.engine.failSession(this, {
        condition: 'amqp:session:unattached-handle',
        description: `transfer for handle ${fields.handle}, which is not an attached receiving link`,
      });
      return;
    }
    if (this.incomingWindow <= 0) {
      this.engine.failSession(this, {
        condition: 'amqp:session:window-violation',
        description: 'transfer beyond the incoming window',
      });
      return;
    }
    this.incomingWindow--;
    this.nextIncomingId = serialAdd(this.nextIncomingId, 1);
    if (this.incomingWindow < this.initialIncomingWindow / 2 && this.windowHolds === 0) {
      this.incomingWindow = this.initialIncomingWindow;
      this.scheduleSessionFlow();
    }
    if (link.localState !== 'open') return; // detached by us: drop what is still in flight
    let delivery = link.current;
    if (delivery === undefined) {
      if (fields.aborted) return; // an abort of a delivery whose frames we never saw
      const tagLocated = located !== undefined && located.tagEnd >= 0;
      if (fields.deliveryId === undefined || (fields.deliveryTag === undefined && !tagLocated)) {
        this.engine.failConnection({
          condition: 'amqp:invalid-field',
          description: 'the first transfer of a delivery must carry delivery-id and delivery-tag',
        });
        return;
      }
      if (this.engine.options.role === 'server' && !link.withinGrantedCredit) {
        // A client past the credit we gave: close its link rather than keep what it pushes (spec
        // 2.6.7). Only on the listening side, where peers are untrusted: brokers in the field
        // overshoot by a transfer (RabbitMQ 3.10 does) and a client must not drop its link for it.
        link.detach(true, {
          condition: 'amqp:link:transfer-limit-exceeded',
          description: `a transfer arrived on link ${link.name} with no link credit left`,
        });
        this.engine.emit({ type: 'linkLocalError', link, error: link.localError! });
        return;
      }
      const messageFormat = fields.messageFormat ?? 0;
      delivery = tagLocated
        ? EngineDelivery.received(
            link,
            frame!,
            located.tagStart,
            located.tagEnd,
            messageFormat,
            fields.settled ?? false,
          )
        : new EngineDelivery(link, fields.deliveryTag!, messageFormat, fields.settled ?? false);
      delivery.id = fields.deliveryId;
      this.engine.deliveriesReceived++;
      delivery.remoteSettled = fields.settled ?? false;
      if (fields.state) delivery.remoteState = fields.state;
      link.deliveryCount = serialAdd(link.deliveryCount, 1);
      if (link.credit > 0 && --link.credit === 0) this.engine.creditRunOuts++;
      link.current = delivery;
    } else if (fields.settled) {
      delivery.remoteSettled = true;
      delivery.settled = true;
    }
    if (located !== undefined) {
      const size = located.payloadEnd - located.payloadStart;
      if (
        !link.streamIncoming &&
        !fields.more &&
        !fields.aborted &&
        delivery.size === 0 &&
        delivery.chunks === undefined
      ) {
        // The common case, a message whole in one frame: its payload stays where it is.
        if (size > 0 && !this.withinSizeLimit(link, delivery, size)) return;
        if (size > 0) delivery.locatePayload(frame!, located.payloadStart, located.payloadEnd);
        this.delivered(link, delivery);
        return;
      }
      payload = size > 0 ? frame!.subarray(located.payloadStart, located.payloadEnd) : undefined;
    }
    if (link.streamIncoming && !fields.aborted) {
      // Handed over as it comes: never assembled (the application holds the window if it is behind).
      if (payload !== undefined && payload.length > 0) {
        const chunk = Array.isArray(payload) ? Buffer.concat(payload) : payload;
        delivery.size += chunk.length;
        this.engine.emit({ type: 'deliveryChunk', link, delivery, chunk, last: false });
      }
      if (fields.more) return;
      link.current = undefined;
      if (!delivery.settled) this.incomingUnsettled.set(delivery.id, delivery);
      this.engine.emit({ type: 'deliveryChunk', link, delivery, chunk: new Uint8Array(0), last: true });
      return;
    }
    if (fields.aborted) {
      link.current = undefined;
      delivery.aborted = true;
      delivery.chunks = undefined;
      delivery.settled = true;
      this.engine.emit({ type: 'deliveryAborted', link, delivery });
      return;
    }
    if (payload !== undefined && payload.length > 0) {
      const size = Array.isArray(payload) ? payload.reduce((n, p) => n + p.length, 0) : payload.length;
      if (!this.withinSizeLimit(link, delivery, size)) return;
      if (!Array.isArray(payload) && delivery.payload === undefined && delivery.chunks === undefined)
        delivery.payload = payload;
      else {
        if (delivery.chunks === undefined) {
          delivery.chunks = delivery.payload === undefined ? [] : [delivery.payload];
          delivery.payload = undefined;
        }
        if (Array.isArray(payload)) for (const p of payload) delivery.chunks.push(p);
        else delivery.chunks.push(payload);
      }
    }
    if (fields.more) return;
    if (delivery.chunks !== undefined) {
      delivery.payload = Buffer.concat(delivery.chunks, delivery.size);
      delivery.chunks = undefined;
    }
    this.delivered(link, delivery);
  }

  /** A delivery's last transfer arrived: it is handed on (an empty payload if none came), and kept until settled. */
  private delivered(link: EngineLink, delivery: EngineDelivery): void {
    link.current = undefined;
    if (delivery.size === 0) delivery.payload = new Uint8Array(0);
    if (!delivery.settled) this.incomingUnsettled.set(delivery.id, delivery);
    this.engine.emit({ type: 'delivery', link, delivery });
  }

  /**
   * Counts `size` more bytes of `delivery`; past the link's limit on message size, detaches the
   * link (message-size-exceeded) and returns false.
   */
  private withinSizeLimit(link: EngineLink, delivery: EngineDelivery, size: number): boolean {
    delivery.size += size;
    const max = link.local.maxMessageSize;
    const limit = max === undefined || max === 0n ? DEFAULT_MAX_INCOMING_MESSAGE_SIZE : Number(max);
    if (delivery.size <= limit) return true;
    link.current = undefined;
    link.detach(true, {
      condition: 'amqp:link:message-size-exceeded',
      description: `a message of more than ${limit} bytes arrived`,
    });
    this.engine.emit({ type: 'linkLocalError', link, error: link.localError! });
    return false;
  }

  /** Holds the incoming window (no more is granted) while an application is behind a streamed delivery. */
  holdIncomingWindow(): void {
    this.windowHolds++;
  }

  /** Lets the incoming window be granted again (see `holdIncomingWindow`). */
  releaseIncomingWindow(): void {
    if (this.windowHolds === 0 || --this.windowHolds > 0) return;
    if (this.incomingWindow < this.initialIncomingWindow / 2) {
      this.incomingWindow = this.initialIncomingWindow;
      this.scheduleSessionFlow();
    }
  }

  // ---- Dispositions ----

  updateDelivery(delivery: EngineDelivery, state: DeliveryState | undefined, settle: boolean): void {
    if (delivery.settled && !settle) return;
    const wasSettled = delivery.settled;
    delivery.localState = state;
    if (settle) {
      delivery.settled = true;
      const map = delivery.link.role === 'sender' ? this.outgoingUnsettled : this.incomingUnsettled;
      if (map.get(delivery.id) === delivery) map.delete(delivery.id);
    }
    // Nothing to tell the peer about a delivery it settled first, or that it never saw.
    if (wasSettled || delivery.remoteSettled || delivery.id < 0 || this.localState !== 'open') return;
    // A delivery whose frames are not all written yet (it holds its payload until they are) gets
    // no disposition before its transfers.
    if (delivery.link.role === 'sender') {
      if (delivery.payload !== undefined) return;
      this.pendingSenderDispositions++;
    }
    this.pendingDispositions.push(delivery);
    this.engine.outputChanged();
  }

  onDisposition(fields: DispositionFields): void {
    // role true: the peer is the receiver, so the deliveries are ours.
    const map = fields.role ? this.outgoingUnsettled : this.incomingUnsettled;
    const first = fields.first;
    const last = fields.last ?? first;
    const span = serialDiff(last, first);
    if (span < 0) return;
    const settled = fields.settled ?? false;
    if (span < map.size) {
      for (let i = 0, id = first; i <= span; i++, id = serialAdd(id, 1)) {
        const d = map.get(id);
        if (d) this.applyRemoteState(map, d, fields.state, settled);
      }
    } else {
      // A range wider than what is unsettled: walk the map, never the range (it may span 2^32).
      // Deleting the delivery being visited is safe in this walk; deliveries added meanwhile have
      // ids after `last` and are skipped.
      for (const d of map.values()) {
        if (serialDiff(d.id, first) >= 0 && serialDiff(last, d.id) >= 0)
          this.applyRemoteState(map, d, fields.state, settled);
      }
    }
  }

  private applyRemoteState(
    map: UnsettledDeliveries,
    delivery: EngineDelivery,
    state: DeliveryState | undefined,
    settled: boolean,
  ): void {
    if (state !== undefined) delivery.remoteState = state;
    if (settled) {
      delivery.remoteSettled = true;
      map.delete(delivery.id);
    }
    this.engine.emit({ type: 'deliveryRemoteUpdate', delivery });
  }

  // ---- Flow ----

  scheduleLinkFlow(link: EngineLink): void {
    if (link.flowPending) return;
    link.flowPending = true;
    this.pendingLinkFlows.push(link);
    this.engine.outputChanged();
  }

  scheduleSessionFlow(): void {
    this.sessionFlowPending = true;
    this.engine.outputChanged();
  }

  onFlow(fields: FlowFields): void {
    this.remoteIncomingWindow = serialDiff(
      serialAdd(fields.nextIncomingId ?? 0, fields.incomingWindow),
      this.nextOutgoingId,
    );
    this.remoteOutgoingWindow = fields.outgoingWindow;
    if (fields.handle === undefined) {
      if (fields.echo) this.scheduleSessionFlow();
      this.pump();
      return;
    }
    const link = this.remoteHandles.get(fields.handle);
    if (!link) {
      this.engine.failSession(this, {
        condition: 'amqp:session:unattached-handle',
        description: `flow for handle ${fields.handle}, which is not attached`,
      });
      return;
    }
    link.available = fields.available ?? link.available;
    if (link.role === 'sender') {
      const deliveryCount = fields.deliveryCount ?? link.remote?.initialDeliveryCount ?? 0;
      // Credit = the flow's credit less what we sent that it did not count yet (our delivery-count
      // ahead of its). Not as one serial difference: credit may be 2^31 or more (up to 2^32-1),
      // where serial comparison is undefined (RFC 1982) and would read as negative.
      const unseen = serialDiff(link.deliveryCount, deliveryCount);
      link.credit = Math.max(0, (fields.linkCredit ?? 0) - Math.max(0, unseen));
      link.drain = fields.drain ?? false;
      if (link.drain) {
        this.drainAsked = true;
        this.engine.outputChanged();
      }
      this.engine.emit({ type: 'linkFlow', link });
    } else if (fields.deliveryCount !== undefined) {
      if (link.onSenderState(fields.deliveryCount)) this.engine.emit({ type: 'linkDrained', link });
    }
    if (fields.echo) this.scheduleLinkFlow(link);
    this.pump();
  }

  private flowFields(link: EngineLink | undefined): FlowFields {
    const fields: FlowFields = {
      nextIncomingId: this.remoteState === 'open' ? this.nextIncomingId : undefined,
      incomingWindow: this.incomingWindow,
      nextOutgoingId: this.nextOutgoingId,
      outgoingWindow: OUTGOING_WINDOW,
    };
    if (link) {
      fields.handle = link.handle;
      fields.deliveryCount = link.deliveryCount;
      fields.linkCredit = link.credit;
      fields.drain = link.drain || undefined;
      if (link.role === 'sender') fields.available = link.offered ?? link.outgoing.length;
    }
    return fields;
  }

  /**
   * For the transport's batching of acknowledgements: how many received deliveries' settlements
   * wait for the end of the turn, when that is all the session has to write; -1 when anything
   * else waits too (a flow, a drain's answer, a sender's disposition), which goes out at once.
   */
  get waitingAcknowledgements(): number {
    if (this.localState !== 'open') return 0;
    if (
      this.pendingLinkFlows.length > 0 ||
      this.sessionFlowPending ||
      this.drainAsked ||
      this.pendingSenderDispositions > 0
    )
      return -1;
    return this.pendingDispositions.length;
  }

  /** Writes what waits for the end of the turn: drains, flows and coalesced dispositions. */
  flush(): void {
    if (this.localState !== 'open') return;
    this.drainAsked = false;
    for (const link of this.localHandles) {
      // A sender asked to drain with nothing left to send gives its credit back (spec 2.6.7).
      if (link && link.role === 'sender' && link.drain && link.outgoing.length === 0 && link.isOpen) {
        link.deliveryCount = serialAdd(link.deliveryCount, link.credit);
        link.credit = 0;
        link.drain = false;
        this.engine.writeFrame(this.channel, compositeSpecs.flow, { ...this.flowFields(link), drain: true });
      }
    }
    if (this.pendingLinkFlows.length > 0) {
      for (const link of this.pendingLinkFlows) {
        link.flowPending = false;
        if (link.localState === 'open' && link.handle >= 0)
          this.engine.writeFrame(this.channel, compositeSpecs.flow, this.flowFields(link));
      }
      this.pendingLinkFlows.length = 0;
      this.sessionFlowPending = false;
    }
    if (this.sessionFlowPending) {
      this.sessionFlowPending = false;
      this.engine.writeFrame(this.channel, compositeSpecs.flow, this.flowFields(undefined));
    }
    if (this.pendingDispositions.length > 0) this.writeDispositions();
  }

  private writeDispositions(): void {
    const pending = this.pendingDispositions;
    let i = 0;
    while (i < pending.length) {
      const first = pending[i]!;
      const role = first.link.role === 'receiver';
      let last = first;
      let j = i + 1;
      // Merge a run of consecutive ids only when the states are provably the same.
      if (isMergeable(first.localState)) {
        while (j < pending.length) {
          const next = pending[j]!;
          if (
            next.id !== serialAdd(last.id, 1) ||
            (next.link.role === 'receiver') !== role ||
            next.settled !== first.settled
          )
            break;
          if (!sameSimpleState(first.localState, next.localState)) break;
          last = next;
          j++;
        }
      }
      this.engine.writeFrame(this.channel, compositeSpecs.disposition, {
        role,
        first: first.id,
        last: last === first ? undefined : last.id,
        settled: first.settled || undefined,
        state: first.localState,
      });
      i = j;
    }
    pending.length = 0;
    this.pendingSenderDispositions = 0;
  }

  /** Drops every link and delivery (the session ended or the connection went). */
  clear(): void {
    this.sendQueue.length = 0;
    this.pendingDispositions.length = 0;
    this.pendingSenderDispositions = 0;
    this.pendingLinkFlows.length = 0;
  }
}

function linkKey(name: string, role: string): string {
  return `${role}:${name}`;
}

function isMergeable(state: DeliveryState | undefined): boolean {
  return state === undefined || state.kind === 'accepted' || state.kind === 'released';
}

function sameSimpleState(a: DeliveryState | undefined, b: DeliveryState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.kind === b.kind && isMergeable(b);
}

/** The payload size of an outgoing delivery: its one buffer's, or its parts' together. */
function outgoingSize(delivery: EngineDelivery): number {
  return delivery.parts !== undefined ? delivery.size : delivery.payload!.length;
}

/** The bytes from `start` to `end` of parts taken as one payload: views of the parts they span, never copies. */
function partsBetween(parts: readonly Uint8Array[], start: number, end: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const part of parts) {
    const from = Math.max(start - at, 0);
    const to = Math.min(end - at, part.length);
    if (from < to) pieces.push(from === 0 && to === part.length ? part : part.subarray(from, to));
    at += part.length;
    if (at >= end) break;
  }
  return pieces;
}

/**
 * A streamed delivery's current chunk is written: takes the next one, if it has come, and tells
 * the application the last one is out. False when it must wait for the application.
 */
function nextChunk(delivery: EngineDelivery): boolean {
  const stream = delivery.stream!;
  const next = stream.chunks.shift();
  if (next === undefined) return false;
  delivery.payload = next.bytes;
  delivery.offset = 0;
  delivery.onWritten = next.onWritten;
  return true;
}

/** Whether a streamed delivery has nothing more to write: its last chunk came and is written. */
function streamEnded(delivery: EngineDelivery): boolean {
  const stream = delivery.stream!;
  return stream.done && stream.chunks.length === 0;
}
