/**
 * The receiving end of a link: an async iterable of deliveries, `receive()`, a credit window
 * refilled as messages are taken (or manual credit), drain, and an Observable of deliveries.
 */
import type { Observable, Subscriber } from 'rxjs';
import { rxjs } from '../runtime/rxjs-module.js';
import type { EngineDelivery } from '../engine/delivery.js';
import type { EngineLink } from '../engine/link.js';
import { Fifo } from '../collections/fifo.js';
import type { ValuesMode } from '../codec/message.js';
import type { AmqpValue } from '../codec/values.js';
import {
  ConnectionClosedError,
  ConnectionLostError,
  DeliveryAbortedError,
  IllegalStateError,
  InvalidArgumentError,
  LinkClosedError,
  SessionClosedError,
  type AmqpError,
} from '../errors.js';
import { abortedAtStart, watchCancellation, type CallOptions } from './cancellation.js';
import { BodyStream } from './body-stream.js';
import { Delivery } from './delivery.js';
import { ReceiverSubscription, type SubscribeOptions } from './receiver-subscription.js';
import { Link } from './link.js';
import type { Session } from './session.js';

interface Waiter<Body> {
  resolve: (delivery: Delivery<Body>) => void;
  reject: (error: AmqpError) => void;
  stop: () => void;
}

/** Settings a receiver is made with. */
export interface ReceiverSettings {
  credit: number;
  autoAccept: boolean;
  settlesSecond: boolean;
  /** How message values are given (default native). */
  values?: ValuesMode | undefined;
  /** At most this many deliveries taken and not yet settled (credit is granted as they are settled). */
  maxUnsettled?: number | undefined;
  /** Hand deliveries over as they arrive, their data bodies as `delivery.stream()`. */
  streaming?: boolean | undefined;
}

/** Options of {@link Receiver.deliveries}. */
export interface DeliveriesOptions {
  /**
   * Ends the loop cleanly (no error) when aborted. Messages the loop has taken stay yours to
   * settle; messages prefetched and not taken stay buffered in the receiver, for another loop or
   * `receive()` (close the receiver to give them back: the peer delivers unsettled ones again).
   */
  signal?: AbortSignal | undefined;
}

/**
 * The receiving end of a link. `Body` is the type you expect message bodies to have (not checked:
 * a claim about what the sender sends), e.g. `createReceiver<Order>('orders')`.
 */
export class Receiver<Body = AmqpValue> extends Link implements AsyncIterable<Delivery<Body>> {
  /** Deliveries are handed over as they arrive (see `ReceiverOptions.streaming`). */
  readonly #streaming: boolean;
  /** Streamed deliveries still arriving: failed if the link or connection goes. */
  readonly #streams = new Set<BodyStream>();

  #failStreams(error: AmqpError): void {
    for (const s of this.#streams) s.fail(error);
    this.#streams.clear();
  }

  /** How message values are given: `'native'` (JavaScript numbers, objects, strings) or `'exact'` (every AMQP type kept). */
  readonly values: ValuesMode;
  /** @internal Whether we settle after the sender (receiver-settle-mode second). */
  readonly settlesSecond: boolean;
  readonly #window: number;
  readonly #autoAccept: boolean;
  readonly #buffer = new Fifo<Delivery<Body>>();
  readonly #waiters = new Fifo<Waiter<Body>>();
  readonly #drainWaiters: { resolve: () => void; reject: (e: AmqpError) => void; stop: () => void }[] = [];
  readonly #subscribers = new Set<Subscriber<Delivery<Body>>>();
  /** The first of `#subscribers`, which takes each message (kept so that no iterator is made per message). */
  #taker: Subscriber<Delivery<Body>> | undefined;
  /** The bound on deliveries taken and not yet settled, when there is one (`maxUnsettled`, or a subscription's). */
  #maxUnsettled: number | undefined;
  /** The receiver's own `maxUnsettled`, restored when a subscription ends. */
  readonly #configuredMaxUnsettled: number | undefined;
  /** Deliveries taken and not yet settled, counted only while there is a bound. */
  readonly #unsettled = new Set<Delivery<Body>>();
  /** No credit is granted while paused (after the last Observable subscriber left). */
  #paused = false;
  /** Manual credit (`credit: 0`) granted and unused when the connection was lost, to grant again. */
  #creditToRestore = 0;

  /** @internal */
  constructor(session: Session, engineLink: EngineLink, settings: ReceiverSettings) {
    super(session, engineLink);
    this.#window = settings.credit;
    this.#autoAccept = settings.autoAccept;
    this.settlesSecond = settings.settlesSecond;
    this.values = settings.values ?? 'native';
    this.#maxUnsettled = settings.maxUnsettled;
    this.#configuredMaxUnsettled = settings.maxUnsettled;
    this.#streaming = settings.streaming === true;
    engineLink.streamIncoming = this.#streaming;
    if (settings.credit > 0) engineLink.setCredit(Math.min(settings.credit, settings.maxUnsettled ?? Infinity));
  }

  /** Deliveries taken (by a loop, `receive()`, `deliveries$()` or `subscribe()`) and not settled yet; counted when `maxUnsettled` bounds them. */
  get unsettled(): number {
    return this.#unsettled.size;
  }

  /** The source address (for a dynamic receiver, the address of the node the peer made). */
  get address(): string | undefined {
    return this.engineLink.remote?.source?.address ?? this.engineLink.local.source?.address;
  }

  /** Credit granted and not yet used. */
  get credit(): number {
    return this.isOpen ? this.engineLink.credit : 0; // a link waiting for a reconnect has none
  }

  /** What the sender last said it has for us (its flow's `available`; see `Sender.offered()`). */
  get available(): number {
    return this.engineLink.available;
  }

  /** Messages that arrived and have not been taken yet. */
  get buffered(): number {
    return this.#buffer.size;
  }

  /**
   * Takes the next message, waiting for one. Rejects with `LinkClosedError` (or the connection's
   * error) when the link ends first. Cancelled by its signal or timeout, it takes nothing: a
   * message arriving later stays for the next call.
   */
  receive(options?: CallOptions): Promise<Delivery<Body>> {
    const aborted = options?.signal?.aborted
      ? abortedAtStart(options, `receive on the ${this.label}`, 'nothing was taken')
      : undefined; // the label is made only when needed
    if (aborted) return Promise.reject(aborted);
    if (this.buffered > 0) return Promise.resolve(this.#take());
    if (!this.live) return Promise.reject(this.error ?? new IllegalStateError(`the ${this.label} is closed`));
    return new Promise<Delivery<Body>>((resolve, reject) => {
      const waiter: Waiter<Body> = { resolve, reject, stop: noop };
      if (options?.signal !== undefined || options?.timeout !== undefined) {
        waiter.stop = watchCancellation(options, `receive on the ${this.label}`, (error) => {
          this.#waiters.delete(waiter);
          reject(error);
        });
      }
      this.#waiters.push(waiter);
      this.#paused = false;
      this.#topUp();
    });
  }

  /**
   * Iterates over messages as they arrive. The loop ends when the link is closed by us, and
   * throws when the peer or the connection ends it. Leaving the loop early leaves the link open.
   */
  [Symbol.asyncIterator](): AsyncIterator<Delivery<Body>> {
    return new DeliveryIterator(this, undefined);
  }

  /**
   * The messages as an async iterable that ends cleanly when `signal` aborts:
   * `for await (const d of receiver.deliveries({ signal })) { ... }`. Otherwise as iterating the
   * receiver itself: it ends when we close the link, and throws when the peer or the connection
   * ends it.
   */
  deliveries(options?: DeliveriesOptions): AsyncIterable<Delivery<Body>> {
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw new InvalidArgumentError('deliveries: signal must be an AbortSignal');
    return { [Symbol.asyncIterator]: () => new DeliveryIterator(this, signal) };
  }

  /** @internal The next step of a loop over the messages (see `DeliveryIterator`); it ends when `signal` aborts. */
  nextDelivery(signal: AbortSignal | undefined): Promise<IteratorResult<Delivery<Body>>> {
    if (signal?.aborted) return Promise.resolve(ITERATION_DONE);
    if (this.buffered > 0) return Promise.resolve({ value: this.#take(), done: false });
    if (!this.live) return this.error ? Promise.reject(this.error) : Promise.resolve(ITERATION_DONE);
    return this.receive(signal === undefined ? undefined : { signal }).then(
      (value) => ({ value, done: false }),
      (e: unknown) => {
        if (signal?.aborted) return ITERATION_DONE;
        if (!this.live && this.error === undefined) return ITERATION_DONE;
        throw e;
      },
    );
  }

  /**
   * Runs `handler` for each message, up to `concurrency` at once, with credit following the
   * concurrency (no more messages are taken than handlers can run, plus `prefetch`). A handler
   * that resolves accepts its message; one that throws (or rejects) gives it back as `onError`
   * says (default: modified with delivery-failed, so the broker counts a failed attempt and
   * delivers it again or dead-letters it); a handler that settles the delivery itself is left
   * alone. Ends when `signal` aborts or `stop()` is called (then it waits for the handlers
   * running), or when the receiver closes; awaiting it rejects when the link or connection fails.
   *
   * @example
   * await receiver.subscribe(async (delivery) => { await save(delivery.message.body); }, { concurrency: 4, signal });
   */
  subscribe(
    handler: (delivery: Delivery<Body>) => unknown,
    options?: SubscribeOptions<Body>,
  ): ReceiverSubscription<Body> {
    return new ReceiverSubscription(this, handler, options);
  }

  /** @internal Sets the bound on taken, unsettled deliveries (undefined: back to the receiver's own), and grants credit under it. */
  boundUnsettled(limit: number | undefined): void {
    const bound =
      limit === undefined
        ? this.#configuredMaxUnsettled
        : this.#configuredMaxUnsettled === undefined
          ? limit
          : Math.min(limit, this.#configuredMaxUnsettled);
    this.#maxUnsettled = bound;
    if (bound === undefined) this.#unsettled.clear();
    if (limit !== undefined) {
      this.#paused = false; // a subscription takes messages
      // Prefetched beyond the bound (credit granted before it was set): given back for the peer to deliver again.
      const room = Math.max(0, bound! - this.#unsettled.size);
      if (this.#buffer.size > room) {
        const buffered = this.#buffer.drain();
        for (const d of buffered.slice(0, room)) this.#buffer.push(d);
        for (const surplus of buffered.slice(room)) if (!surplus.settled) surplus.release();
      }
    }
    this.#topUp();
  }

  /** @internal Takes back the credit granted and not used (a flow with credit 0); the broker does this when it is full. */
  withdrawCredit(): void {
    if (this.isOpen) this.engineLink.setCredit(0);
  }

  /** @internal The application settled a delivery: under a bound, that is room for another. */
  onSettled(delivery: Delivery<Body>): void {
    if (this.#unsettled.delete(delivery)) this.#topUp();
  }

  /**
   * The messages as an Observable. Credit flows while at least one subscriber is subscribed; when
   * the last one leaves, the receiver grants no more credit and sets it to zero. Messages already
   * in flight then stay buffered for `receive()` or the next subscriber (nothing is released or
   * lost); messages already emitted stay with their subscriber to settle.
   */
  deliveries$(): Observable<Delivery<Body>> {
    return new (rxjs('receiver.deliveries$()').Observable)<Delivery<Body>>((subscriber) => {
      this.#subscribers.add(subscriber);
      this.#taker ??= subscriber;
      this.#paused = false;
      while (this.buffered > 0 && !subscriber.closed) subscriber.next(this.#take());
      if (!this.live) {
        if (this.error) subscriber.error(this.error);
        else subscriber.complete();
      }
      this.#topUp();
      return () => {
        this.#subscribers.delete(subscriber);
        if (this.#taker === subscriber) this.#taker = this.#subscribers.values().next().value;
        if (this.#subscribers.size === 0 && this.#waiters.size === 0 && this.live && this.#window > 0) {
          this.#paused = true;
          if (this.isOpen) this.engineLink.setCredit(0);
        }
      };
    });
  }

  /** Grants `n` more credit (with `credit: 0`, the only way messages come). */
  addCredit(n: number): void {
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`addCredit needs a whole number of messages, got ${String(n)}`);
    if (!this.live) throw this.error ?? new IllegalStateError(`the ${this.label} is closed`);
    if (this.isOpen) this.engineLink.addCredit(n);
    else this.#creditToRestore += n; // granted once the link is attached (again)
  }

  /**
   * Asks the sender to send what it has for the credit given, then give the rest back; resolves
   * when it has (credit is then zero). Cancelled, the drain request stays with the peer.
   */
  drain(options?: CallOptions): Promise<void> {
    if (!this.live) return Promise.reject(this.error ?? new IllegalStateError(`the ${this.label} is closed`));
    if (this.isOpen && this.engineLink.credit === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = { resolve, reject, stop: noop };
      w.stop = watchCancellation(options, `drain on the ${this.label}`, (e) => {
        const i = this.#drainWaiters.indexOf(w);
        if (i >= 0) this.#drainWaiters.splice(i, 1);
        reject(e);
      });
      this.#drainWaiters.push(w);
      this.#paused = true;
      if (this.isOpen) this.engineLink.requestDrain(); // else once attached (again)
    });
  }

  /** @internal The sender finished a drain. */
  override onDrained(): void {
    for (const w of this.#drainWaiters.splice(0)) {
      w.stop();
      w.resolve();
    }
    this.session.connection.emit({ type: 'drained', link: this.#asEventLink() });
  }

  /** @internal A streaming receiver's delivery: the bytes of one more transfer. */
  override onDeliveryChunk(engineDelivery: EngineDelivery, chunk: Uint8Array, last: boolean): void {
    let stream: BodyStream;
    const context = engineDelivery.context;
    if (context instanceof Delivery) stream = context.bodyStream!;
    else if (context instanceof BodyStream) stream = context;
    else {
      const session = this.session.engineSession;
      stream = new BodyStream(this.values, (held) =>
        held ? session.holdIncomingWindow() : session.releaseIncomingWindow(),
      );
      engineDelivery.context = stream;
      this.#streams.add(stream);
    }
    try {
      if (chunk.length > 0 && stream.push(chunk))
        this.#handOver(new Delivery<Body>(this, engineDelivery, stream, stream.head));
      if (!last) return;
      this.#streams.delete(stream);
      const whole = stream.end();
      if (!(engineDelivery.context instanceof Delivery))
        this.#handOver(new Delivery<Body>(this, engineDelivery, stream, whole));
    } catch (e) {
      // Bytes that are not a message: the stream fails; the delivery is handed over for the application to reject.
      this.#streams.delete(stream);
      stream.fail(e as AmqpError);
      if (!(engineDelivery.context instanceof Delivery))
        this.#handOver(new Delivery<Body>(this, engineDelivery, stream, undefined));
    }
  }

  /** @internal A whole message arrived. */
  override onDelivery(engineDelivery: EngineDelivery): void {
    this.#handOver(new Delivery<Body>(this, engineDelivery));
  }

  #handOver(delivery: Delivery<Body>): void {
    const engineDelivery = delivery.engineDelivery;
    engineDelivery.context = delivery as unknown as Delivery; // the context holds a Delivery of any body type
    const connection = this.session.connection;
    if (connection.observed)
      connection.emit({ type: 'message', link: this.#asEventLink(), delivery: delivery as unknown as Delivery });
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.stop();
      this.#consume(delivery);
      waiter.resolve(delivery);
      return;
    }
    const taker = this.#taker;
    if (taker !== undefined) {
      this.#consume(delivery);
      taker.next(delivery); // One subscriber takes each message, as competing consumers would.
      return;
    }
    this.#buffer.push(delivery);
  }

  /** @internal The peer settled a message we received (receiver-settle-mode second), or changed its state. */
  override onDeliveryUpdate(engineDelivery: EngineDelivery): void {
    if (engineDelivery.remoteSettled && !engineDelivery.settled && engineDelivery.localState !== undefined)
      engineDelivery.settle();
  }

  /** @internal The sender aborted a message. */
  override onAborted(engineDelivery?: EngineDelivery): void {
    const context = engineDelivery?.context;
    const stream =
      context instanceof Delivery ? context.bodyStream : context instanceof BodyStream ? context : undefined;
    if (stream) {
      this.#streams.delete(stream);
      stream.fail(
        new DeliveryAbortedError(
          `The sender aborted the message streaming on the ${this.label}: what came of it is not the whole message.`,
        ),
      );
    }
    this.session.connection.emit({ type: 'aborted', link: this.#asEventLink() });
    this.#topUp();
  }

  /** This receiver as events name it (events are not typed by body). */
  #asEventLink(): Receiver {
    return this as unknown as Receiver;
  }

  #take(): Delivery<Body> {
    const delivery = this.#buffer.shift()!;
    this.#consume(delivery);
    return delivery;
  }

  #consume(delivery: Delivery<Body>): void {
    if (this.#autoAccept && !delivery.settled) delivery.accept();
    else if (this.#maxUnsettled !== undefined && !delivery.settled) this.#unsettled.add(delivery);
    this.#topUp();
  }

  /**
   * Refills the credit window once half of it is used (one flow per half window, not per
   * message). Under a bound on unsettled deliveries, what is taken and not settled counts too.
   */
  #topUp(): void {
    const max = this.#maxUnsettled;
    // Under a bound, manual credit (window 0) takes the bound as its window: a subscription runs.
    const window = max === undefined ? this.#window : this.#window === 0 ? max : Math.min(this.#window, max);
    if (window === 0 || this.#paused || !this.isOpen) return;
    const target = window - this.buffered - (max === undefined ? 0 : this.#unsettled.size);
    const credit = this.engineLink.credit;
    if (max !== undefined && credit > Math.max(target, 0)) {
      // Under a bound that was lowered (a subscription began): take back what is over it.
      this.engineLink.setCredit(Math.max(target, 0));
      return;
    }
    if (target <= 0) return;
    if (credit === 0 || target - credit >= Math.ceil(window / 2)) this.engineLink.setCredit(target);
  }

  /**
   * @internal The connection was lost. Messages that arrived and were not taken are dropped unless their
   * sender settled them (at-most-once): the peer delivers the others again. The credit still
   * granted is kept, to grant again.
   */
  protected onSuspend(): void {
    if (this.#window === 0) this.#creditToRestore += this.engineLink.credit;
    // What was taken on the lost connection can no longer be settled: it takes no room any more.
    this.#unsettled.clear();
    this.#failStreams(
      new ConnectionLostError(
        `The connection was lost while a message was streaming in on the ${this.label}; the peer delivers it again.`,
      ),
    );
    const kept: Delivery<Body>[] = [];
    for (const d of this.#buffer.drain()) if (d.remoteSettled) kept.push(d);
    for (const d of kept) this.#buffer.push(d);
  }

  /** @internal About to attach again: grant the credit window (or the manual credit left), and ask again for a drain under way. */
  protected onResume(): void {
    this.engineLink.streamIncoming = this.#streaming;
    const max = this.#maxUnsettled;
    if (this.#window > 0 || max !== undefined) {
      const window = max === undefined ? this.#window : this.#window === 0 ? max : Math.min(this.#window, max);
      if (!this.#paused || this.#drainWaiters.length > 0)
        this.engineLink.setCredit(Math.max(0, window - this.buffered));
    } else if (this.#creditToRestore > 0) {
      this.engineLink.setCredit(this.#creditToRestore);
    }
    this.#creditToRestore = 0;
    if (this.#drainWaiters.length > 0) this.engineLink.requestDrain();
  }

  /** @internal */
  protected failPending(error: AmqpError): void {
    this.#failStreams(error);
    for (const w of this.#waiters.drain()) {
      w.stop();
      w.reject(error);
    }
    const drainWaiters = this.#drainWaiters.splice(0);
    const drainError = drainWaiters.length > 0 ? endedDuringDrain(error, this.label) : error;
    for (const w of drainWaiters) {
      w.stop();
      w.reject(drainError);
    }
    for (const s of [...this.#subscribers]) {
      if (this.error) s.error(this.error);
      else s.complete();
    }
  }
}

function noop(): void {}

/** How much of a peer's description an error message quotes (the whole of it stays in `description`). */
const QUOTED_DESCRIPTION_LENGTH = 120;

/**
 * The error of a drain whose session, link or connection the peer ended while it was under way:
 * the same kind of error, saying so, since a peer that does not support drain often ends the
 * session instead of refusing it (RabbitMQ 3.10 does, with an Erlang stack as its description).
 */
function endedDuringDrain(error: AmqpError, label: string): AmqpError {
  const byPeer =
    error instanceof SessionClosedError ||
    error instanceof LinkClosedError ||
    (error instanceof ConnectionClosedError && !(error instanceof ConnectionLostError));
  if (!byPeer || !error.byPeer) return error;
  const said = error.description ?? error.condition;
  const quoted =
    said.length > QUOTED_DESCRIPTION_LENGTH
      ? `${said.slice(0, QUOTED_DESCRIPTION_LENGTH)}... (the rest is in error.description)`
      : said;
  const message = `The peer ended the ${error.endpoint} (${error.condition}) while a drain was under way on the ${label}: it may not support drain (RabbitMQ 3.10 does not); take messages with credit and a receive timeout instead. The peer said: ${quoted}`;
  const fields = { description: error.description, info: error.info, byPeer: true };
  if (error instanceof SessionClosedError) return new SessionClosedError(error.condition, message, fields);
  if (error instanceof LinkClosedError) return new LinkClosedError(error.condition, message, fields);
  return new ConnectionClosedError(error.condition, message, { ...fields, cause: error });
}

const ITERATION_DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * A loop over a receiver's messages. A plain iterator rather than an async generator: a message
 * already buffered costs one resolved promise and one result, not a generator round trip. A class
 * rather than an object of closures: a loop's `next` is then the same function for every receiver,
 * so the JIT's code for the loop survives a new receiver (a new closure per loop made it throw that
 * code away each time).
 */
class DeliveryIterator<Body> implements AsyncIterator<Delivery<Body>> {
  readonly #receiver: Receiver<Body>;
  readonly #signal: AbortSignal | undefined;

  constructor(receiver: Receiver<Body>, signal: AbortSignal | undefined) {
    this.#receiver = receiver;
    this.#signal = signal;
  }

  next(): Promise<IteratorResult<Delivery<Body>>> {
    return this.#receiver.nextDelivery(this.#signal);
  }

  return(): Promise<IteratorResult<Delivery<Body>>> {
    return Promise.resolve(ITERATION_DONE);
  }
}
