import { checkValuesMode } from '../codec/message.js';
import type { AmqpValue } from '../codec/values.js';
import type { Coordinator, ErrorCondition } from '../codec/composite-types.js';
import { withCallerStack } from './caller-stack.js';
import { declareTransaction, type Transaction } from './transaction.js';
import { ReceiverSettleMode, SenderSettleMode } from '../engine/link.js';
import type { EngineSession } from '../engine/session.js';
import {
  IllegalStateError,
  InvalidArgumentError,
  LinkClosedError,
  SessionClosedError,
  TransactionError,
  type AmqpError,
} from '../errors.js';
import { described, symbol } from '../codec/values.js';

/** The filter key and descriptor of a selector (the AMQP filter registry's `apache.org:selector-filter:string`). */
const SELECTOR_KEY = 'selector';
const SELECTOR_DESCRIPTOR = 'apache.org:selector-filter:string';
import { settlersFor, watchCancellation, type CallOptions, type CallSettlers } from './cancellation.js';
import type { Connection } from './connection.js';
import type { Link } from './link.js';
import {
  checkCredit,
  receiverOptions,
  senderOptions,
  toSource,
  toTarget,
  type ReceiverOptions,
  type SenderOptions,
  type LinkOptions,
} from './link-options.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';

/** Options of a session. */
export interface SessionOptions extends CallOptions {
  /** Transfer frames the peer may send before we widen the window again. Default 8192. */
  incomingWindow?: number | undefined;
}

/** A session: a sequenced, windowed conversation on a connection that links are made on. */
export class Session implements AsyncDisposable {
  /** The link to the peer's transaction coordinator, attached by the first beginTransaction(). */
  #coordinator: Promise<Sender> | undefined;
  #coordinatorSender: Sender | undefined;
  /** The connection the session belongs to. */
  readonly connection: Connection;
  /** @internal The engine's session of the connection's current attempt. */
  engineSession: EngineSession;
  /** Why the session ended, once it has. */
  error: AmqpError | undefined;
  readonly #links = new Set<Link>();
  readonly #incomingWindow: number | undefined;
  #opened: CallSettlers | undefined;
  #closeWaiters: (() => void)[] = [];
  #ended = false;
  /** Waiting for the connection to come back, to begin again. */
  #suspended = false;
  #everOpened = false;

  /** @internal `engineSession` is given for a session the peer began; otherwise one is made. */
  constructor(connection: Connection, incomingWindow: number | undefined, engineSession?: EngineSession) {
    this.connection = connection;
    this.#incomingWindow = incomingWindow;
    this.engineSession = engineSession ?? connection.engine.createSession({ incomingWindow });
    this.engineSession.context = this;
  }

  /** True from the peer's begin until either end ends the session (false while reconnecting). */
  get isOpen(): boolean {
    return (
      !this.#ended &&
      !this.#suspended &&
      this.engineSession.localState === 'open' &&
      this.engineSession.remoteState === 'open'
    );
  }

  /** @internal Whether the session waits for the connection to come back. */
  get suspended(): boolean {
    return this.#suspended;
  }

  /** @internal Sends the begin and waits for the peer's (after the reconnect, during one). */
  begin(options: CallOptions | undefined): Promise<this> {
    return new Promise<this>((resolve, reject) => {
      const stop = watchCancellation(options, 'beginning a session', (e) => {
        this.#opened = undefined;
        if (this.#suspended)
          this.end(undefined); // never begun on the wire
        else this.engineSession.end();
        reject(e);
      });
      this.#opened = settlersFor(stop, resolve, this, reject);
      if (this.connection.live) this.engineSession.open();
      else this.#suspended = true;
    });
  }

  /** @internal The connection was lost and will be reconnected: wait, keeping links and their state. */
  suspend(): void {
    if (this.#ended || this.#suspended) return;
    if (this.#closeWaiters.length > 0) {
      this.end(undefined); // being ended: the peer forgets it with the connection
      return;
    }
    this.#suspended = true;
    for (const link of [...this.#links]) link.suspend();
  }

  /** @internal The connection is back: begin again on its new engine, then attach every link again. */
  resume(): void {
    if (this.#ended || !this.#suspended) return;
    this.#suspended = false;
    this.engineSession = this.connection.engine.createSession({ incomingWindow: this.#incomingWindow });
    this.engineSession.context = this;
    this.engineSession.open();
    for (const link of [...this.#links]) link.resume();
  }

  /** @internal */
  onRemoteOpen(): void {
    const w = this.#opened;
    this.#opened = undefined;
    w?.resolve();
    if (this.#everOpened) return; // begun again after a reconnect: not a new session
    this.#everOpened = true;
    this.connection.emit({ type: 'sessionOpened', session: this });
  }

  /** @internal The peer ended the session (the engine has answered). */
  onRemoteClose(error: ErrorCondition | undefined): void {
    if (error) {
      this.end(
        new SessionClosedError(
          error.condition,
          `The peer ended the session: ${error.description ?? error.condition}.`,
          { description: error.description, info: error.info },
        ),
      );
      return;
    }
    this.end(
      undefined,
      this.#closeWaiters.length > 0
        ? undefined
        : new SessionClosedError('quark:closed-by-peer', 'The peer ended the session before this completed.'),
    );
  }

  /**
   * @internal The session ended: every link ends with it, every promise settles. `error` is why
   * (undefined when we ended it); pending operations fail with `pendingError` or a "closed" error.
   */
  end(error: AmqpError | undefined, pendingError?: AmqpError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.error = error;
    const reason =
      pendingError ?? error ?? new SessionClosedError('quark:closed', 'The session was ended.', { byPeer: false });
    for (const link of [...this.#links]) link.end(error, reason);
    const w = this.#opened;
    this.#opened = undefined;
    w?.reject(reason);
    for (const resolve of this.#closeWaiters.splice(0)) resolve();
    this.connection.forgetSession(this);
    this.connection.emit({ type: 'sessionClosed', session: this, error });
  }

  /** @internal */
  forget(link: Link): void {
    this.#links.delete(link);
  }

  #checkOpen(): void {
    if (this.#ended) throw this.error ?? new IllegalStateError('the session is closed');
    this.connection.checkOpen();
  }

  /**
   * Opens a sender. `target` may be an address, a terminus, or `null` for an anonymous relay.
   * Resolves once the peer attaches; rejects with `LinkClosedError` carrying the peer's condition
   * when it refuses (e.g. `amqp:not-found`). Cancelled, the link is closed again.
   */
  createSender(target: string | null | SenderOptions = {}, options?: SenderOptions): Promise<Sender> {
    try {
      this.#checkOpen();
      const o = senderOptions(target, options);
      const engineLink = this.engineSession.createLink({
        name: o.name ?? this.connection.nextLinkName('sender'),
        role: 'sender',
        source: toSource(o.source),
        target: o.target === null ? undefined : toTarget(o.target),
        ...settleModes(o),
        offeredCapabilities: o.offeredCapabilities,
        desiredCapabilities: o.desiredCapabilities,
        properties: o.properties,
      });
      const sender = new Sender(this, engineLink, o.inDoubt ?? 'reject');
      this.#links.add(sender);
      return sender.attach(o);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /**
   * Begins a transaction: declared through this session's link to the peer's transaction
   * coordinator (attached on first use, and again if the peer closed it). Send in it with `send(message, { transaction })`, accept
   * in it with `delivery.accept({ transaction })`, then `commit()` or `rollback()`. Rejects with
   * `TransactionError` when the peer does not run transactions.
   *
   * Cancelled by its signal or timeout, the declare may already have reached the peer: a
   * transaction declared then is never used, and the peer rolls it back when the coordinator
   * link or the connection closes. Nothing of the caller's work is in it.
   *
   * @example
   * await using tx = await session.beginTransaction();   // rolled back unless committed
   * await sender.send(order, { transaction: tx });
   * delivery.accept({ transaction: tx });
   * await tx.commit();
   */
  async beginTransaction(options?: CallOptions): Promise<Transaction> {
    try {
      if (this.#coordinatorSender !== undefined && !this.#coordinatorSender.live) {
        // The peer closed the link to its coordinator (what was declared on it is rolled back):
        // a new transaction goes through a new link.
        this.#coordinator = undefined;
        this.#coordinatorSender = undefined;
      }
      this.#coordinator ??= this.#attachCoordinator();
      const coordinator = await this.#coordinator.catch((e: unknown) => {
        this.#coordinator = undefined;
        throw e;
      });
      return await declareTransaction(coordinator, options);
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  /** @internal Whether `transaction` was declared on this session's coordinator. */
  transactionIsMine(transaction: Transaction): boolean {
    const coordinator = this.#coordinatorSender;
    return coordinator !== undefined && transaction.belongsTo(coordinator);
  }

  /** The link to the peer's transaction coordinator (target `coordinator`, local transactions). */
  #attachCoordinator(): Promise<Sender> {
    this.#checkOpen();
    const engineLink = this.engineSession.createLink({
      name: this.connection.nextLinkName('txn-coordinator'),
      role: 'sender',
      source: toSource(undefined),
      target: { kind: 'coordinator', capabilities: ['amqp:local-transactions'] } as Coordinator,
      sndSettleMode: SenderSettleMode.unsettled,
      rcvSettleMode: ReceiverSettleMode.first,
    });
    const sender = new Sender(this, engineLink, 'reject');
    this.#links.add(sender);
    return sender.attach(undefined).then((s) => {
      if (s.engineLink.remote?.target === undefined)
        throw new TransactionError(
          'amqp:not-implemented',
          'The peer refused the link to its transaction coordinator: it does not run transactions.',
        );
      this.#coordinatorSender = s;
      return s;
    });
  }

  /**
   * Opens a receiver on `source` (an address or a terminus). Credit (100 by default) is granted
   * as soon as the link is attached (with `credit: 0`, only as you grant it, or as `subscribe()`
   * takes messages). Resolves once the peer attaches; rejects with
   * `LinkClosedError` when it refuses. Cancelled, the link is closed again.
   */
  createReceiver<Body = AmqpValue>(
    source: string | ReceiverOptions = {},
    options?: ReceiverOptions,
  ): Promise<Receiver<Body>> {
    try {
      this.#checkOpen();
      const o = receiverOptions(source, options);
      const credit = checkCredit(o.credit);
      const values = checkValuesMode(o.values, 'values') ?? this.connection.values;
      const maxUnsettled = o.maxUnsettled;
      if (maxUnsettled !== undefined) {
        if (!(Number.isInteger(maxUnsettled) && maxUnsettled >= 1))
          throw new InvalidArgumentError(
            `maxUnsettled must be a whole number of at least 1, got ${String(maxUnsettled)}`,
          );
        if (credit === 0)
          throw new InvalidArgumentError(
            'maxUnsettled needs a credit window: with credit 0 you grant credit yourself (addCredit), so give credit or leave maxUnsettled out',
          );
      }
      if (o.maxMessageSize !== undefined && !(Number.isInteger(o.maxMessageSize) && o.maxMessageSize > 0)) {
        throw new InvalidArgumentError(
          `maxMessageSize must be a positive whole number of bytes, got ${String(o.maxMessageSize)}`,
        );
      }
      if (o.selector !== undefined && (typeof o.selector !== 'string' || o.selector.trim() === ''))
        throw new InvalidArgumentError(
          `selector must be a non-empty string, e.g. "colour = 'green'", got ${JSON.stringify(o.selector)}`,
        );
      const terminus = toSource(o.source);
      if (o.selector !== undefined)
        terminus.filter = { ...terminus.filter, [SELECTOR_KEY]: described(symbol(SELECTOR_DESCRIPTOR), o.selector) };
      const engineLink = this.engineSession.createLink({
        name: o.name ?? this.connection.nextLinkName('receiver'),
        role: 'receiver',
        source: terminus,
        target: toTarget(o.target),
        ...settleModes(o),
        maxMessageSize: o.maxMessageSize === undefined ? undefined : BigInt(o.maxMessageSize),
        offeredCapabilities: o.offeredCapabilities,
        desiredCapabilities: o.desiredCapabilities,
        properties: o.properties,
      });
      const receiver = new Receiver<Body>(this, engineLink, {
        credit,
        autoAccept: o.autoAccept ?? false,
        settlesSecond: o.rcvSettleMode === 'second',
        values,
        maxUnsettled,
        streaming: o.streaming === true,
      });
      this.#links.add(receiver);
      if (o.selector === undefined) return receiver.attach(o);
      return receiver.attach(o).then(async (r) => {
        // A filter the peer does not echo is not in force (spec 3.5.3): refuse rather than deliver everything.
        if (r.remoteSource?.filter?.[SELECTOR_KEY] !== undefined) return r;
        await r.close().catch(() => undefined);
        throw new LinkClosedError(
          'amqp:not-implemented',
          `The peer does not apply the selector ${JSON.stringify(o.selector)} on the ${r.label} (its attach did not echo the filter), so it would deliver every message; the receiver was closed.`,
          { byPeer: true },
        );
      });
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** @internal Adopts a link the peer attached (the listening side). */
  adopt(link: Link): void {
    this.#links.add(link);
  }

  /** The session's links. */
  get links(): Link[] {
    return [...this.#links];
  }

  /**
   * Ends the session and every link on it. Resolves once the peer has answered. Pending
   * operations on its links fail with `SessionClosedError`.
   *
   * Cancelled by its signal or timeout, the session is ended on our side at once (its links end,
   * their pending operations fail) and the peer's answer is no longer awaited: the end has gone
   * out, so the peer ends it too. The connection stays open; unsettled messages of its links are
   * in the state `send()` documents for a lost link.
   */
  close(options?: CallOptions): Promise<void> {
    if (this.#suspended) this.end(undefined); // the peer forgot it with the lost connection
    if (this.#ended || this.engineSession.localState !== 'open') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const stop = watchCancellation(options, 'ending a session', (e) => {
        this.end(undefined);
        reject(e);
      });
      this.#closeWaiters.push(() => {
        stop();
        resolve();
      });
      this.engineSession.end();
      if (this.engineSession.remoteState !== 'open') this.end(undefined);
    });
  }

  /** Ends the session (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The attach's settle modes for a link's `deliveryMode` and `rcvSettleMode` options. */
function settleModes(o: Pick<LinkOptions, 'deliveryMode' | 'rcvSettleMode'>): {
  sndSettleMode: number;
  rcvSettleMode: number;
} {
  return {
    sndSettleMode:
      o.deliveryMode === 'at-most-once'
        ? SenderSettleMode.settled
        : o.deliveryMode === 'mixed'
          ? SenderSettleMode.mixed
          : SenderSettleMode.unsettled,
    rcvSettleMode: o.rcvSettleMode === 'second' ? ReceiverSettleMode.second : ReceiverSettleMode.first,
  };
}
