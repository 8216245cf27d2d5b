/**
 * The receiving end of a link: an async iterable of deliveries, `receive()`, a credit window
 * refilled as messages are taken (or manual credit), drain, and an Observable of deliveries.
 */
import type { Observable, Subscriber } from 'rxjs';
import { rxjs } from '../rx/rxjs-module.js';
import type { EngineDelivery } from '../engine/delivery.js';
import type { EngineLink } from '../engine/link.js';
import { Fifo } from '../collections/fifo.js';
import { IllegalStateError, type AmqpError } from '../errors.js';
import { abortedAtStart, watchCancellation, type CallOptions } from './cancellation.js';
import { Delivery } from './delivery.js';
import { Link } from './link.js';
import type { Session } from './session.js';

interface Waiter {
  resolve: (delivery: Delivery) => void;
  reject: (error: AmqpError) => void;
  stop: () => void;
}

/** Settings a receiver is made with. */
export interface ReceiverSettings {
  credit: number;
  autoAccept: boolean;
  settlesSecond: boolean;
}

export class Receiver extends Link implements AsyncIterable<Delivery> {
  /** @internal Whether we settle after the sender (receiver-settle-mode second). */
  readonly settlesSecond: boolean;
  readonly #window: number;
  readonly #autoAccept: boolean;
  readonly #buffer = new Fifo<Delivery>();
  readonly #waiters = new Fifo<Waiter>();
  readonly #drainWaiters: { resolve: () => void; reject: (e: AmqpError) => void; stop: () => void }[] = [];
  readonly #subscribers = new Set<Subscriber<Delivery>>();
  /** The first of `#subscribers`, which takes each message (kept so that no iterator is made per message). */
  #taker: Subscriber<Delivery> | undefined;
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
    if (settings.credit > 0) engineLink.setCredit(settings.credit);
  }

  /** The source address (for a dynamic receiver, the address of the node the peer made). */
  get address(): string | undefined {
    return this.engineLink.remote?.source?.address ?? this.engineLink.local.source?.address;
  }

  /** Credit granted and not yet used. */
  get credit(): number {
    return this.isOpen ? this.engineLink.credit : 0; // a link waiting for a reconnect has none
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
  receive(options?: CallOptions): Promise<Delivery> {
    const aborted = abortedAtStart(options, `receive on ${this.name}`, 'nothing was taken');
    if (aborted) return Promise.reject(aborted);
    if (this.buffered > 0) return Promise.resolve(this.#take());
    if (!this.live) return Promise.reject(this.error ?? new IllegalStateError(`receiver ${this.name} is closed`));
    return new Promise<Delivery>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, stop: noop };
      waiter.stop = watchCancellation(options, `receive on ${this.name}`, (error) => {
        this.#waiters.delete(waiter);
        reject(error);
      });
      this.#waiters.push(waiter);
      this.#paused = false;
      this.#topUp();
    });
  }

  /**
   * Iterates over messages as they arrive. The loop ends when the link is closed by us, and
   * throws when the peer or the connection ends it. Leaving the loop early leaves the link open.
   */
  [Symbol.asyncIterator](): AsyncIterator<Delivery> {
    // A plain iterator rather than an async generator: a message already buffered costs one
    // resolved promise and one result, not a generator round trip.
    return {
      next: () => this.#next(),
      return: () => Promise.resolve(ITERATION_DONE),
    };
  }

  #next(): Promise<IteratorResult<Delivery>> {
    if (this.buffered > 0) return Promise.resolve({ value: this.#take(), done: false });
    if (!this.live) return this.error ? Promise.reject(this.error) : Promise.resolve(ITERATION_DONE);
    return this.receive().then(
      (value) => ({ value, done: false }),
      (e: unknown) => {
        if (!this.live && this.error === undefined) return ITERATION_DONE;
        throw e;
      },
    );
  }

  /**
   * The messages as an Observable. Credit flows while at least one subscriber is subscribed; when
   * the last one leaves, the receiver grants no more credit and sets it to zero. Messages already
   * in flight then stay buffered for `receive()` or the next subscriber (nothing is released or
   * lost); messages already emitted stay with their subscriber to settle.
   */
  deliveries$(): Observable<Delivery> {
    return new (rxjs().Observable)<Delivery>((subscriber) => {
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
    if (!Number.isInteger(n) || n < 0) throw new TypeError(`addCredit needs a whole number of messages, got ${String(n)}`);
    if (!this.live) throw this.error ?? new IllegalStateError(`receiver ${this.name} is closed`);
    if (this.isOpen) this.engineLink.addCredit(n);
    else this.#creditToRestore += n; // granted once the link is attached (again)
  }

  /**
   * Asks the sender to send what it has for the credit given, then give the rest back; resolves
   * when it has (credit is then zero). Cancelled, the drain request stays with the peer.
   */
  drain(options?: CallOptions): Promise<void> {
    if (!this.live) return Promise.reject(this.error ?? new IllegalStateError(`receiver ${this.name} is closed`));
    if (this.isOpen && this.engineLink.credit === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = { resolve, reject, stop: noop };
      w.stop = watchCancellation(options, `drain on ${this.name}`, (e) => {
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
  onDrained(): void {
    for (const w of this.#drainWaiters.splice(0)) {
      w.stop();
      w.resolve();
    }
    this.session.connection.emit({ type: 'drained', link: this });
  }

  /** @internal A whole message arrived. */
  onDelivery(engineDelivery: EngineDelivery): void {
    const delivery = new Delivery(this, engineDelivery);
    engineDelivery.context = delivery;
    const connection = this.session.connection;
    if (connection.observed) connection.emit({ type: 'message', link: this, delivery });
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
  onDeliveryUpdate(engineDelivery: EngineDelivery): void {
    if (engineDelivery.remoteSettled && !engineDelivery.settled && engineDelivery.localState !== undefined) engineDelivery.settle();
  }

  /** @internal The sender aborted a message. */
  onAborted(): void {
    this.session.connection.emit({ type: 'aborted', link: this });
    this.#topUp();
  }

  #take(): Delivery {
    const delivery = this.#buffer.shift()!;
    this.#consume(delivery);
    return delivery;
  }

  #consume(delivery: Delivery): void {
    if (this.#autoAccept && !delivery.settled) delivery.accept();
    this.#topUp();
  }

  /** Refills the credit window once half of it is used (one flow per half window, not per message). */
  #topUp(): void {
    const window = this.#window;
    if (window === 0 || this.#paused || !this.isOpen) return;
    const target = window - this.buffered;
    if (target <= 0) return;
    const credit = this.engineLink.credit;
    if (credit === 0 || target - credit >= Math.ceil(window / 2)) this.engineLink.setCredit(target);
  }

  /**
   * The connection was lost. Messages that arrived and were not taken are dropped unless their
   * sender settled them (at-most-once): the peer delivers the others again. The credit still
   * granted is kept, to grant again.
   */
  protected onSuspend(): void {
    if (this.#window === 0) this.#creditToRestore += this.engineLink.credit;
    const kept: Delivery[] = [];
    for (const d of this.#buffer.drain()) if (d.remoteSettled) kept.push(d);
    for (const d of kept) this.#buffer.push(d);
  }

  /** About to attach again: grant the credit window (or the manual credit left), and ask again for a drain under way. */
  protected onResume(): void {
    if (this.#window > 0) {
      if (!this.#paused || this.#drainWaiters.length > 0) this.engineLink.setCredit(Math.max(0, this.#window - this.buffered));
    } else if (this.#creditToRestore > 0) {
      this.engineLink.setCredit(this.#creditToRestore);
    }
    this.#creditToRestore = 0;
    if (this.#drainWaiters.length > 0) this.engineLink.requestDrain();
  }

  protected failPending(error: AmqpError): void {
    for (const w of this.#waiters.drain()) {
      w.stop();
      w.reject(error);
    }
    for (const w of this.#drainWaiters.splice(0)) {
      w.stop();
      w.reject(error);
    }
    for (const s of [...this.#subscribers]) {
      if (this.error) s.error(this.error);
      else s.complete();
    }
  }
}

function noop(): void {}

const ITERATION_DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });
