import { Buffer } from 'node:buffer';
import type { DeliveryState } from '../codec/composite-types.js';
import { withCallerStack } from './caller-stack.js';
import type { Transaction } from './transaction.js';
import {
  dataSectionHeader,
  encodeMessage,
  encodeMessageAroundBody,
  encodeMessageHead,
  encodeMessageWith,
  writeMessage,
  type Message,
} from '../codec/message.js';
import type { AmqpValue } from '../codec/values.js';
import type { EngineDelivery } from '../engine/delivery.js';
import { SenderSettleMode } from '../engine/link.js';
import {
  ConnectionLostError,
  DeliveryModifiedError,
  DeliveryRejectedError,
  DeliveryReleasedError,
  EncodeError,
  IllegalStateError,
  InDoubtError,
  InvalidArgumentError,
  MessageSizeExceededError,
  type AmqpError,
} from '../errors.js';
import { abortedAtStart, checkTimeout, watchCancellation, type CallOptions } from './cancellation.js';
import { Fifo } from '../collections/fifo.js';
import { EventHook } from './event-hook.js';
import { Link } from './link.js';
import type { Session } from './session.js';
import type { EngineLink } from '../engine/link.js';

/** Options of one `send()`. */
export interface SendOptions extends CallOptions {
  /** The delivery tag. Default: a counter. */
  tag?: Uint8Array | undefined;
  /** Send in this transaction (of this sender's session): delivered only if it commits. */
  transaction?: Transaction | undefined;
  /**
   * Send this message pre-settled (at most once: resolves at once with undefined, no outcome
   * comes). Only on a sender made with `deliveryMode: 'mixed'`, which settles message by message.
   */
  settled?: boolean | undefined;
}

/** A message to send: its body may also be streamed, as an `AsyncIterable<Uint8Array>` (see `send`). */
export type OutgoingMessage = Message<AmqpValue | AsyncIterable<Uint8Array>>;

/** The body to stream, when the message's body is an async iterable of bytes. */
function streamedBody(message: OutgoingMessage): AsyncIterable<Uint8Array> | undefined {
  const body: unknown = message?.body;
  if (body === null || typeof body !== 'object' || body instanceof Uint8Array || Array.isArray(body)) return undefined;
  return typeof (body as Partial<AsyncIterable<Uint8Array>>)[Symbol.asyncIterator] === 'function'
    ? (body as AsyncIterable<Uint8Array>)
    : undefined;
}

const SEND_KEYS = new Set(['tag', 'signal', 'timeout', 'transaction', 'settled']);

/** An InvalidArgumentError for a send option that is not known (a per-message `settled` is not supported yet), or undefined. */
function checkSendOptions(options: SendOptions): InvalidArgumentError | undefined {
  for (const key in options) {
    if (!SEND_KEYS.has(key)) {
      return new InvalidArgumentError(
        `send option ${JSON.stringify(key)} is not supported; the options are tag, signal, timeout, transaction, settled`,
      );
    }
  }
  return undefined;
}

/** The outcome of a message the peer accepted, or undefined for a pre-settled (at-most-once) message. */
export type SendResult = DeliveryState | undefined;

/** A send whose promise is unsettled: waiting for credit, or sent and waiting for its outcome. */
class PendingSend {
  stop: () => void = noop;
  /** `bytes` is a buffer of the connection's payload pool, to give back once written. */
  pooled = false;
  /** The state its first transfer carries (the transaction it is sent in). */
  state: DeliveryState | undefined;
  /** Sent pre-settled (a mixed-mode sender's per-message choice); undefined: as the link says. */
  settled: boolean | undefined;
  /** The engine's delivery, once handed over (to abort it if the send is cancelled mid-transfer). */
  delivery: EngineDelivery | undefined;
  /** It was sent on a connection that was lost before the peer settled it; it waits to be sent again. */
  inDoubt = false;
  constructor(
    public bytes: Payload,
    public tag: Uint8Array | undefined,
    public resolve: Resolve,
    public reject: (error: AmqpError) => void,
    public sent: boolean,
  ) {}
}

type Resolve = (result: SendResult | PromiseLike<SendResult>) => void;

/** An encoded message: whole, or in parts around a large body sent by reference (see `encodeMessageAroundBody`). */
type Payload = Uint8Array | readonly Uint8Array[];

function payloadLength(payload: Payload): number {
  if (payload instanceof Uint8Array) return payload.length;
  let n = 0;
  for (const part of payload) n += part.length;
  return n;
}

/**
 * What a sent delivery keeps (as its `context`) to settle its promise: the pending send while a
 * signal or timeout watches it; otherwise only the promise's resolve function, which settles a
 * failure by adopting a rejected promise. A message in flight then holds as little as can be:
 * thousands of them are alive at once, and what they hold decides how far the heap grows.
 */
export type Tracking = PendingSend | Resolve;

function settleTracked(tracking: Tracking, result: SendResult): void {
  if (typeof tracking === 'function') tracking(result);
  else {
    tracking.stop();
    tracking.resolve(result);
  }
}

function failTracked(tracking: Tracking, error: AmqpError): void {
  if (typeof tracking === 'function') tracking(Promise.reject(error));
  else {
    tracking.stop();
    tracking.reject(error);
  }
}

/** The sending end of a link: `send()` waits for credit and resolves when the peer settles. */
export class Sender extends Link {
  /** Streamed sends under way (begun, not yet written whole): failed if the link or connection goes. */
  readonly #streamFailures = new Set<(error: AmqpError) => void>();
  /** Streamed sends waiting to begin (credit, attach). */
  readonly #sendableWaiters = new Set<{ resolve: () => void; reject: (e: AmqpError) => void; stop: () => void }>();

  /** Fails the streamed sends under way, and (unless only those) the ones waiting to begin. */
  #failStreams(error: AmqpError, begunOnly = false): void {
    for (const fail of [...this.#streamFailures]) fail(error);
    this.#streamFailures.clear();
    if (begunOnly) return;
    for (const w of [...this.#sendableWaiters]) {
      w.stop();
      w.reject(error);
    }
    this.#sendableWaiters.clear();
  }

  /** Sends waiting for credit (or for the socket to drain, or for a reconnect), oldest first. */
  readonly #queue = new Fifo<PendingSend>();
  /** Whether messages in doubt after a lost connection are sent again (`inDoubt: 'resend'`). */
  readonly #resend: boolean;

  /** @internal */
  constructor(session: Session, engineLink: EngineLink, inDoubt: 'reject' | 'resend' = 'reject') {
    super(session, engineLink);
    this.#resend = inDoubt === 'resend';
  }

  /** Listeners of credit (made when the first one comes). */
  #sendableHook: EventHook<void> | undefined;

  /**
   * Calls `listener` whenever the sender may send more: credit arrived (or the socket drained) and
   * some is left once what `send()` had queued has gone out (Proton's `on_sendable`). Returns
   * the function that stops listening.
   */
  onSendable(listener: () => void): () => void {
    return (this.#sendableHook ??= new EventHook()).listen(listener);
  }

  /** How many more messages the peer lets us send now. */
  get credit(): number {
    return this.isOpen ? this.engineLink.credit : 0; // a link waiting for a reconnect has none
  }

  /** The target address (for a dynamic target, the one the peer made), or undefined for an anonymous relay. */
  get address(): string | undefined {
    const remote = this.engineLink.remote?.target;
    const local = this.engineLink.local.target;
    return (
      (remote?.kind === 'target' ? remote.address : undefined) ?? (local?.kind === 'target' ? local.address : undefined)
    );
  }

  /** Sends waiting for credit. */
  get pending(): number {
    return this.#queue.size;
  }

  /**
   * Sends a message. Waits for credit without limit (use `timeout` or `signal` to bound the wait);
   * many sends may be in flight at once, and messages go out in call order.
   *
   * Resolves when the peer settles the message as accepted, with its state; for an at-most-once
   * sender, as soon as the message is handed to the connection (with `undefined`).
   * Rejects with `DeliveryRejectedError`, `DeliveryReleasedError` or `DeliveryModifiedError` when
   * the peer does not accept it; with `LinkClosedError`, `SessionClosedError` or a connection
   * error when the link ends first; with `EncodeError` at once when the message cannot be encoded.
   *
   * Cancelled (signal or timeout) while waiting for credit: the message was not sent. Cancelled
   * after it went out: it may have been delivered, and its outcome will not be known.
   *
   * A body of one `Uint8Array` of 64 KiB or more is sent by reference, not copied (as
   * `socket.write()` does): do not change it until the send settles. Many sends of one large
   * buffer then hold that buffer once, however long they wait for credit. Smaller bodies, and
   * every other part of the message, are encoded (copied) at once.
   *
   * While the connection is being reconnected, the message waits (within its timeout) and goes
   * out once the link is attached again. If the connection is lost after the message went out
   * and before the peer settled it, the send fails with `InDoubtError`, or, with
   * `inDoubt: 'resend'`, the message is sent again after the reconnect.
   */
  send(message: OutgoingMessage, options?: SendOptions): Promise<SendResult> {
    if (typeof message !== 'object' || message === null)
      return Promise.reject(
        new InvalidArgumentError(`send needs a message object such as { body: 'hello' }, got ${String(message)}`),
      );
    if (options !== undefined && (typeof options !== 'object' || options === null))
      return Promise.reject(new InvalidArgumentError(`send options must be an object, got ${String(options)}`));
    const stream = streamedBody(message);
    if (stream !== undefined) return this.#sendStreamed(message, stream, options);
    // With callerStacks, a failure carries the stack of the caller's await (about 1 us more per send).
    return this.session.connection.callerStacks
      ? this.#sendWithCallerStack(message as Message, options)
      : this.#send(message as Message, options);
  }

  /**
   * A body given as an `AsyncIterable<Uint8Array>` (a Node.js Readable is one) goes out as data
   * sections, one per chunk, each read only once the one before is written: a large message is
   * never held whole. Cancelled (signal, timeout) or failing mid-stream, the delivery is aborted.
   */
  async #sendStreamed(
    message: OutgoingMessage,
    body: AsyncIterable<Uint8Array>,
    options: SendOptions | undefined,
  ): Promise<SendResult> {
    try {
      if (options !== undefined) {
        const bad =
          checkSendOptions(options) ??
          (options.transaction !== undefined || options.settled !== undefined
            ? new InvalidArgumentError("a streamed body is sent outside transactions and at the link's settlement")
            : undefined);
        if (bad) throw bad;
      }
      if (message.footer !== undefined)
        throw new InvalidArgumentError('a message with a streamed body cannot have a footer');
      if (message.bodyType !== undefined && message.bodyType !== 'data')
        throw new InvalidArgumentError(
          "a streamed body is sent as data sections: bodyType must be 'data' (or left out)",
        );
      const head = encodeMessageHead(message);
      // Until it can begin now: credit may have gone to another send between the wake-up and here.
      do await this.#waitSendable(options);
      while (!(this.isOpen && this.engineLink.credit > 0));
      const link = this.engineLink;
      const delivery = link.sendStream(options?.tag === undefined ? undefined : { tag: options.tag });
      const outcome = this.#track(delivery, undefined);
      outcome.catch(noop); // raced below; a lost connection may reject it before that
      // Cancelled (signal, timeout), or failed when the link or the connection goes, at any moment:
      // also while the source or the peer's window holds the next chunk back. The write waiting is
      // failed at once, the source is told to stop, and the delivery aborted below.
      let cancelled: AmqpError | undefined;
      // What the send waits for now (the source's next chunk, or a chunk's write): failed at once.
      // (One slot, not Promise.race with a long-lived promise per chunk: each race would keep its
      // chunk reachable until the send ends, a whole streamed body in memory.)
      let failWait: ((error: AmqpError) => void) | undefined;
      let fail: (error: AmqpError) => void = noop;
      const cancellation = new Promise<never>((_, reject) => {
        fail = (error) => {
          if (cancelled) return;
          cancelled = error;
          failWait?.(error);
          reject(error);
        };
      });
      cancellation.catch(noop);
      const stopWatching = watchCancellation(options, `send on the ${this.label}`, fail);
      this.#streamFailures.add(fail);
      const write = (bytes: Uint8Array, last: boolean): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          if (cancelled) {
            reject(cancelled);
            return;
          }
          failWait = reject;
          if (!link.streamChunk(delivery, bytes, last, resolve))
            reject(new IllegalStateError(`the streamed message on the ${this.label} ended before it was whole`));
        });
      // The peer's max-message-size holds for a streamed message too: checked as it grows.
      const max = this.#peerMaxMessageSize;
      let size = head.length;
      const source = body[Symbol.asyncIterator]();
      const nextChunk = (): Promise<IteratorResult<Uint8Array>> =>
        new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
          if (cancelled) {
            reject(cancelled);
            return;
          }
          failWait = reject;
          source.next().then(resolve, reject);
        });
      try {
        if (head.length > 0) await write(head, false);
        for (;;) {
          const step = await nextChunk();
          if (step.done === true) break;
          const chunk = step.value;
          size += chunk.length + 8;
          if (max > 0 && size > max)
            throw new MessageSizeExceededError(
              `The streamed message passed ${max} bytes, the peer's max-message-size on the ${this.label}; it was aborted.`,
              size,
              max,
            );
          if (!(chunk instanceof Uint8Array))
            throw new InvalidArgumentError(`a streamed body yields Uint8Array chunks, got ${typeof chunk}`);
          if (chunk.length === 0) continue;
          const section = Buffer.allocUnsafe(8 + chunk.length);
          section.set(dataSectionHeader(chunk.length), 0);
          section.set(chunk, 8);
          await write(section, false);
        }
        await write(EMPTY, true);
        // Written whole: the timeout and signal still bound the wait for the outcome (then ignored).
        return await Promise.race([outcome, cancellation]);
      } catch (e) {
        if (this.isOpen) link.abort(delivery); // false, and nothing sent, if it went out whole
        // The source stops (as a for-await loop left early would stop it); its own failure is not this send's.
        source.return?.().catch(noop);
        throw e;
      } finally {
        stopWatching();
        this.#streamFailures.delete(fail);
      }
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  /** Waits until a delivery can be begun now: attached, with credit, nothing waiting before it. */
  #waitSendable(options: SendOptions | undefined): Promise<void> {
    if (this.isOpen && this.engineLink.credit > 0 && this.#queue.size === 0) return Promise.resolve();
    if (!this.live)
      return Promise.reject(this.error ?? new IllegalStateError(`cannot send on the ${this.label}: it is closed`));
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject, stop: noop };
      waiter.stop = watchCancellation(options, `send on the ${this.label}`, (error) => {
        this.#sendableWaiters.delete(waiter);
        reject(error);
      });
      this.#sendableWaiters.add(waiter);
    });
  }

  async #sendWithCallerStack(message: Message, options?: SendOptions): Promise<SendResult> {
    try {
      return await this.#send(message, options);
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  #send(message: Message, options?: SendOptions): Promise<SendResult> {
    if (options !== undefined) {
      const bad = checkSendOptions(options) ?? this.#checkSettled(options);
      if (bad) return Promise.reject(bad);
    }
    const aborted = options?.signal?.aborted
      ? abortedAtStart(options, `send on the ${this.label}`, 'nothing was sent')
      : undefined; // the label is made only when needed
    if (aborted) return Promise.reject(aborted);
    let bytes: Payload;
    let pooled = false;
    try {
      checkTimeout(options?.timeout); // bad input fails before anything is sent
      if (this.engineLink.local.target === undefined && typeof message?.to !== 'string') {
        throw new EncodeError('this sender is an anonymous relay (no target): every message needs a `to` address');
      }
      const around = encodeMessageAroundBody(message);
      if (around !== undefined) {
        // A large binary body is not copied (nor held twice while the send waits for credit):
        // the caller leaves it unchanged until the send settles, as with socket.write().
        bytes = around;
      } else if (this.#resend) {
        // Its bytes are kept until it is settled, to send again after a reconnect: a buffer of its own.
        bytes = encodeMessage(message);
      } else if (
        options?.transaction === undefined &&
        this.isOpen &&
        this.#queue.size === 0 &&
        this.engineLink.canSendDirect &&
        !this.session.connection.blocked &&
        isSmall(message) &&
        this.#directFitsPeerMax()
      ) {
        // With credit and nothing waiting, a small message is encoded straight into the frame.
        const sent = this.engineLink.sendDirect(
          (w) => writeMessage(w, message),
          options?.tag === undefined && options?.settled === undefined
            ? undefined
            : { tag: options.tag, settled: options.settled },
        );
        if (!(sent instanceof Uint8Array)) return this.#track(sent, options);
        bytes = sent;
      } else {
        const pool = this.session.connection.payloadPool;
        pool.lastTaken = undefined;
        let taken: Buffer | undefined;
        try {
          bytes = encodeMessageWith(message, pool.taker);
        } finally {
          taken = pool.lastTaken as Buffer | undefined; // set by the taker during the call
          pool.lastTaken = undefined; // kept, it would hold the buffer as long as the connection object lives
        }
        pooled = taken !== undefined && bytes.buffer === taken.buffer;
      }
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.#enqueue(bytes, options, pooled);
  }

  /** The promise of a delivery already handed to the engine. */
  #track(delivery: EngineDelivery, options: SendOptions | undefined): Promise<SendResult> {
    if (delivery.settled) return Promise.resolve(undefined);
    let resolve: Resolve = noop;
    let reject: (error: AmqpError) => void = noop;
    const promise = new Promise<SendResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    if (options?.signal === undefined && options?.timeout === undefined) {
      delivery.context = resolve satisfies Tracking;
      return promise;
    }
    const pending = new PendingSend(EMPTY, undefined, resolve, reject, true);
    delivery.context = pending satisfies Tracking;
    // The timeout was checked in send(): this cannot throw.
    pending.stop = watchCancellation(options, `send on the ${this.label}`, (error) => this.#cancel(pending, error));
    return promise;
  }

  /**
   * Sends a message that is already encoded (e.g. `delivery.payload` of a message received
   * elsewhere, forwarded unchanged). Otherwise exactly like `send()`. The bytes are not copied:
   * do not change them until the promise settles.
   */
  sendPayload(payload: Uint8Array, options?: SendOptions): Promise<SendResult> {
    if (!(payload instanceof Uint8Array))
      return Promise.reject(new EncodeError('sendPayload needs the encoded message as a Uint8Array'));
    const bad = options === undefined ? undefined : (checkSendOptions(options) ?? this.#checkSettled(options));
    if (bad) return Promise.reject(bad);
    const aborted = options?.signal?.aborted
      ? abortedAtStart(options, `send on the ${this.label}`, 'nothing was sent')
      : undefined; // the label is made only when needed
    if (aborted) return Promise.reject(aborted);
    return this.#enqueue(payload, options);
  }

  #enqueue(bytes: Payload, options: SendOptions | undefined, pooled = false): Promise<SendResult> {
    if (!this.live) {
      return Promise.reject(this.error ?? new IllegalStateError(`cannot send on the ${this.label}: it is closed`));
    }
    const transaction = options?.transaction;
    let state: DeliveryState | undefined;
    if (transaction !== undefined) {
      try {
        if (!this.session.transactionIsMine(transaction))
          throw new InvalidArgumentError(
            `the transaction belongs to another session than the ${this.label}'s: begin it on the same session (or both on the connection's default one)`,
          );
        state = transaction.stateFor(undefined);
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    let resolve: Resolve = noop;
    let reject: (error: AmqpError) => void = noop;
    const promise = new Promise<SendResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending = new PendingSend(bytes, options?.tag, resolve, reject, false);
    pending.pooled = pooled;
    pending.state = state;
    pending.settled = options?.settled;
    try {
      // Without a signal or timeout there is nothing to watch: skip the closure and the name.
      if (options?.signal !== undefined || options?.timeout !== undefined) {
        pending.stop = watchCancellation(options, `send on the ${this.label}`, (error) => this.#cancel(pending, error));
      }
      if (this.#queue.size === 0 && this.isOpen && this.engineLink.credit > 0 && !this.session.connection.blocked)
        this.#transmit(pending);
      else this.#queue.push(pending);
    } catch (e) {
      pending.stop();
      pending.reject(e as AmqpError);
    }
    return promise;
  }

  /**
   * Whether a message encoded straight into one frame is within the peer's max-message-size: so
   * when the peer sets none, or one no smaller than a frame (brokers advertise 128 MiB and more).
   * Only a peer with a smaller limit needs the size checked before sending.
   */
  #directFitsPeerMax(): boolean {
    const max = this.#peerMaxMessageSize;
    return max === 0 || max >= this.session.connection.engine.maxOutgoingFrameSize;
  }

  /** The largest message the peer accepts on this link (its attach's max-message-size), 0 for any. */
  get #peerMaxMessageSize(): number {
    const max = this.engineLink.remote?.maxMessageSize;
    return max === undefined ? 0 : Number(max);
  }

  #transmit(pending: PendingSend): void {
    const bytes = pending.bytes;
    const max = this.#peerMaxMessageSize;
    if (max > 0) {
      // Checked here, where every send passes (also those queued before the attach, and resends).
      const length = payloadLength(bytes);
      if (length > max) {
        if (pending.pooled) this.session.connection.payloadPool.give(bytes as Buffer);
        pending.stop();
        pending.reject(
          new MessageSizeExceededError(
            `The message is ${length} bytes; the peer accepts at most ${max} on the ${this.label} (its max-message-size). It was not sent.`,
            length,
            max,
          ),
        );
        return;
      }
    }
    let onWritten: (() => void) | undefined;
    if (pending.pooled) {
      const pool = this.session.connection.payloadPool;
      onWritten = () => pool.give(bytes as Buffer);
    }
    const options =
      pending.tag === undefined &&
      onWritten === undefined &&
      pending.state === undefined &&
      pending.settled === undefined
        ? undefined
        : { tag: pending.tag, onWritten, state: pending.state, settled: pending.settled };
    const delivery = this.engineLink.send(bytes, options);
    // The engine holds the bytes until they are written; the promise need not keep them, unless
    // they are to be sent again after a reconnect.
    if (!this.#resend) pending.bytes = EMPTY;
    pending.sent = true;
    if (pending.stop !== noop) pending.delivery = delivery; // watched: a cancel may abort it
    if (delivery.settled) {
      pending.stop();
      pending.resolve(undefined);
      return;
    }
    delivery.context = (pending.stop === noop && !this.#resend ? pending.resolve : pending) satisfies Tracking;
  }

  #cancel(pending: PendingSend, error: AmqpError): void {
    if (!pending.sent) {
      this.#queue.delete(pending);
    } else if (pending.delivery !== undefined && this.isOpen && this.engineLink.abort(pending.delivery)) {
      // Its frames had not all gone out: the peer is told it is aborted (and drops what it got).
      pending.delivery = undefined;
    }
    // A message written whole stays tracked by the engine; its outcome is ignored from now on.
    pending.resolve = noop;
    pending.reject(error);
    pending.reject = noop;
  }

  /**
   * Tells the receiver how many messages this sender has for it (the flow's `available`), as
   * Proton's `offered()` does: a receiver may grant credit by it. Default: what waits for credit.
   */
  offered(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new InvalidArgumentError(`offered needs a whole number of messages from 0 to 4294967295, got ${String(n)}`);
    if (!this.live) throw this.error ?? new IllegalStateError(`cannot offer on the ${this.label}: it is closed`);
    if (this.isOpen) this.engineLink.offer(n);
    else this.engineLink.offered = n; // reported once attached
  }

  /** Whether the receiver asked us to drain: use the credit now or give it back (it is given back at the end of this turn if nothing is sent). */
  get drainRequested(): boolean {
    return this.isOpen && this.engineLink.drain;
  }

  /** A `settled` send option on a sender that does not settle message by message. */
  #checkSettled(options: SendOptions): InvalidArgumentError | undefined {
    if (options.settled === undefined) return undefined;
    if (typeof options.settled !== 'boolean')
      return new InvalidArgumentError(`settled must be true or false, got ${JSON.stringify(options.settled)}`);
    if (this.engineLink.local.sndSettleMode !== SenderSettleMode.mixed) {
      return new InvalidArgumentError(
        `send(m, { settled }) needs a sender made with deliveryMode 'mixed'; the ${this.label} settles every message as its deliveryMode says`,
      );
    }
    return undefined;
  }

  /** @internal Credit arrived, or the socket drained: send what waits. */
  override sendWaiting(): void {
    const q = this.#queue;
    const connection = this.session.connection;
    if (this.engineLink.drain && connection.observed)
      connection.emit({ type: 'drainRequested', link: this, credit: this.engineLink.credit });
    while (q.size > 0 && this.engineLink.credit > 0 && !connection.blocked && this.isOpen) this.#transmit(q.shift()!);
    // Then streamed sends waiting to begin, as many as the credit left allows (each takes one).
    let credit = this.engineLink.credit;
    for (const waiter of [...this.#sendableWaiters]) {
      if (q.size > 0 || credit <= 0 || !this.isOpen) break;
      this.#sendableWaiters.delete(waiter);
      waiter.stop();
      waiter.resolve();
      credit--;
    }
    if (this.engineLink.credit > 0) {
      this.#sendableHook?.emit();
      if (connection.observed) connection.emit({ type: 'sendable', link: this, credit: this.engineLink.credit });
    }
  }

  /** @internal The peer gave an outcome or settled a delivery we sent. */
  override onDeliveryUpdate(delivery: EngineDelivery): void {
    const state = delivery.remoteState;
    const terminal = state !== undefined && state.kind !== 'received';
    if (!terminal && !delivery.remoteSettled) return;
    if (!delivery.settled) delivery.settle();
    const tracking = delivery.context as Tracking | undefined;
    delivery.context = undefined;
    const connection = this.session.connection;
    if (connection.observed) connection.emit({ type: 'settled', link: this, tag: delivery.tag, outcome: state });
    if (!tracking) return;
    switch (state?.kind) {
      case undefined:
      case 'accepted':
        settleTracked(tracking, state);
        return;
      case 'rejected':
        failTracked(tracking, this.#rejected(state, ''));
        return;
      case 'released':
        failTracked(
          tracking,
          new DeliveryReleasedError(
            'amqp:released',
            `The peer released the message on the ${this.label} without processing it; it may be sent again.`,
            { kind: 'released' },
          ),
        );
        return;
      case 'modified':
        failTracked(
          tracking,
          new DeliveryModifiedError(
            'amqp:modified',
            `The peer did not accept the message on the ${this.label} (modified${state.deliveryFailed ? ', delivery failed' : ''}${state.undeliverableHere ? ', undeliverable here' : ''}).`,
            {
              kind: 'modified',
              deliveryFailed: state.deliveryFailed,
              undeliverableHere: state.undeliverableHere,
              messageAnnotations: state.messageAnnotations,
            },
          ),
        );
        return;
      case 'transactionalState': {
        // The outcome it will have if the transaction commits.
        const outcome = (state as { outcome?: DeliveryState }).outcome;
        if (outcome?.kind === 'rejected') failTracked(tracking, this.#rejected(outcome, ' (in a transaction)'));
        else settleTracked(tracking, state);
        return;
      }
      default:
        settleTracked(tracking, state);
    }
  }

  /** The error of a message the peer rejected (`where` says more of how it was sent). */
  #rejected(state: Extract<DeliveryState, { kind: 'rejected' }>, where: string): DeliveryRejectedError {
    const e = state.error;
    return new DeliveryRejectedError(
      e?.condition ?? 'amqp:internal-error',
      `The peer rejected the message${where} on the ${this.label}: ${e?.description ?? e?.condition ?? 'no reason given'}.`,
      { kind: 'rejected', error: e },
      { description: e?.description, info: e?.info },
    );
  }

  /**
   * Sends every message of `source`, reading the next one only when the link can take it (credit
   * available and fewer than `maxInFlight` unsettled), so a large or endless source never piles up
   * in memory. Resolves with the number of messages sent, once all are settled; rejects on the
   * first failure (messages after it are not read). Cancelled, no more messages are read; those
   * already sent may or may not be delivered.
   */
  async sendAll(
    source: Iterable<Message> | AsyncIterable<Message>,
    options?: CallOptions & { maxInFlight?: number },
  ): Promise<number> {
    if (
      typeof source !== 'object' ||
      source === null ||
      !(Symbol.iterator in source || Symbol.asyncIterator in source)
    ) {
      throw new InvalidArgumentError(
        `sendAll needs an iterable or async iterable of messages (an array, a generator, a stream in object mode), got ${String(source)}`,
      );
    }
    const maxInFlight = options?.maxInFlight ?? 1000;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
      throw new InvalidArgumentError(`maxInFlight must be a positive whole number, got ${String(maxInFlight)}`);
    let inFlight = 0;
    let count = 0;
    // Boxed: a send rejected with undefined is still a failure.
    let failure: { reason: unknown } | undefined;
    let wake: (() => void) | undefined;
    const settled = (): void => {
      inFlight--;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const failed = (e: unknown): void => {
      failure ??= { reason: e };
      settled();
    };
    let stopWatching: () => void = noop;
    const cancelled = new Promise<never>((_, reject) => {
      stopWatching = watchCancellation(options, `sendAll on the ${this.label}`, reject);
    });
    cancelled.catch(noop);
    /** Until a send settles (or the call is cancelled). */
    const nextSettlement = (): Promise<void> =>
      Promise.race([new Promise<void>((resolve) => (wake = resolve)), cancelled]);
    const sendOptions = options?.signal === undefined ? undefined : { signal: options.signal };
    try {
      for await (const message of source) {
        if (failure !== undefined) break;
        inFlight++;
        count++;
        this.send(message, sendOptions).then(settled, failed);
        // Read the next message no sooner than the link can take it: with credit left, and fewer
        // than maxInFlight unsettled.
        while (failure === undefined && (inFlight >= maxInFlight || (inFlight > 0 && this.credit <= 0)))
          await nextSettlement();
      }
      while (inFlight > 0) await nextSettlement();
    } finally {
      stopWatching();
    }
    if (failure !== undefined) throw failure.reason;
    return count;
  }

  /**
   * @internal The connection was lost. Messages sent and not settled are in doubt: failed with
   * `InDoubtError`, or queued to be sent again (`inDoubt: 'resend'`). Messages the engine had not
   * written whole never reached the peer: queued to be sent again. Both go before the sends that
   * were waiting, in the order they were first sent.
   */
  protected onSuspend(): void {
    const streamLost = new ConnectionLostError(
      `The connection was lost while a message was streaming on the ${this.label}: it was not delivered whole. Send it again.`,
    );
    // Those not begun wait for the reconnect, as other sends do.
    this.#failStreams(streamLost, true);
    const link = this.engineLink;
    const replay: PendingSend[] = [];
    const unwritten = new Set(link.outgoing);
    for (const d of link.session.outgoingUnsettled.values()) {
      if (d.link !== link || unwritten.has(d)) continue;
      const tracking = d.context as Tracking | undefined;
      d.context = undefined;
      if (tracking === undefined) continue;
      if (this.#resend && tracking instanceof PendingSend) {
        tracking.sent = false;
        tracking.inDoubt = true;
        replay.push(tracking);
      } else {
        failTracked(tracking, this.#inDoubtError());
      }
    }
    for (const d of link.outgoing) {
      const tracking = d.context as Tracking | undefined;
      d.context = undefined;
      if (d.stream !== undefined) {
        // A streamed message cannot be sent again from here (its chunks came from the caller's
        // source and are gone): it fails, as its send already did.
        if (tracking !== undefined) failTracked(tracking, streamLost);
        continue;
      }
      let pending: PendingSend;
      if (tracking instanceof PendingSend) pending = tracking;
      else if (tracking !== undefined)
        pending = new PendingSend(EMPTY, undefined, tracking, (e) => tracking(Promise.reject(e)), false);
      else pending = new PendingSend(EMPTY, undefined, noop, noop, false); // at-most-once: no promise waits
      pending.bytes = d.parts ?? d.payload ?? EMPTY;
      pending.pooled = d.parts === undefined && d.onWritten !== undefined; // (only pooled payloads carry onWritten here)
      pending.tag = d.tagNumber === -1 ? d.tag : undefined;
      pending.sent = false;
      replay.push(pending);
    }
    link.outgoing.length = 0;
    for (const p of this.#queue.drain()) replay.push(p);
    for (const p of replay) this.#queue.push(p);
  }

  /** @internal Attached again: what waits goes out as credit arrives (see `sendWaiting`). */
  protected onResume(): void {}

  #inDoubtError(): InDoubtError {
    return new InDoubtError(
      `The connection was lost after a message was sent on the ${this.label} and before the peer settled it: it may or may not have been delivered. ` +
        "Send it again if a duplicate is harmless, or create the sender with inDoubt: 'resend'.",
    );
  }

  /** @internal */
  protected failPending(error: AmqpError): void {
    this.#failStreams(error);
    for (const p of this.#queue.drain()) {
      p.stop();
      p.reject(p.inDoubt ? this.#inDoubtError() : error);
    }
    for (const d of this.engineLink.session.outgoingUnsettled.values()) {
      if (d.link !== this.engineLink) continue;
      const tracking = d.context as Tracking | undefined;
      d.context = undefined;
      if (tracking) failTracked(tracking, error);
    }
    for (const d of this.engineLink.outgoing) {
      const tracking = d.context as Tracking | undefined;
      d.context = undefined;
      if (tracking) failTracked(tracking, error);
    }
  }
}

function noop(): void {}

const EMPTY = new Uint8Array(0);

/** Whether a message will most likely fit one frame, so that encoding it into the frame is a win. */
function isSmall(message: Message): boolean {
  const body = message.body;
  if (body instanceof Uint8Array) return body.length < 65536;
  if (typeof body === 'string') return body.length < 16384;
  return message.bodyType !== 'data';
}
