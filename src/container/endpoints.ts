/**
 * What a container hands out: connections, senders and receivers that exist at once (Proton
 * style) while the client objects under them are still being made, trackers of sent messages,
 * scheduled tasks and listeners. Each is a view of a client object; none keeps protocol state.
 */
import { Buffer } from 'node:buffer';
import type { Delivery } from '../client/delivery.js';
import type { Transaction } from '../client/transaction.js';
import type { DeliveryState } from '../codec/composite-types.js';
import type { Message } from '../codec/message.js';
import type { Connection } from '../client/connection.js';
import type { Receiver } from '../client/receiver.js';
import type { Sender } from '../client/sender.js';
import type { Listener } from '../server/listener.js';
import { EncodeError, IllegalStateError, InDoubtError, type AmqpError, type AmqpErrorFields } from '../errors.js';
import type { Container } from './container.js';
import type { MessagingHandler } from './handler.js';

const noop = (): void => {};
const utf8 = new TextEncoder();

/** A connection of a container: returned at once by `connect()`, usable for links before it is open. */
export class ContainerConnection {
  /** The container it belongs to. */
  readonly container: Container;
  /** The connection's handler (scope between the container's and its links'). */
  readonly handler: MessagingHandler | undefined;
  /** @internal True for connections we made (not accepted by a listener). */
  readonly initiated: boolean;
  /** @internal Resolves with the client connection once open. */
  readonly ready: Promise<Connection>;
  /** @internal Links made and not yet seen in an event, by `role:name`. */
  readonly pendingLinks = new Map<string, ContainerSender | ContainerReceiver>();
  /** @internal */
  readonly links = new WeakMap<Sender | Receiver, ContainerSender | ContainerReceiver>();
  #connection: Connection | undefined;
  #closeRequested = false;
  #closeError: AmqpErrorFields | undefined;
  #done = false;

  /** @internal Made by the container. */
  constructor(
    container: Container,
    handler: MessagingHandler | undefined,
    ready: Promise<Connection>,
    initiated: boolean,
  ) {
    this.container = container;
    this.handler = handler;
    this.ready = ready;
    this.initiated = initiated;
  }

  /** The client connection under this one, once open (for everything the promise API offers). */
  get connection(): Connection | undefined {
    return this.#connection;
  }

  /** True from the peer's open until the connection closes. */
  get isOpen(): boolean {
    return this.#connection?.isOpen ?? false;
  }

  /** True once `close()` was called (or the container is stopping). */
  get closing(): boolean {
    return this.#closeRequested;
  }

  /** Our container id. */
  get containerId(): string {
    return this.#connection?.containerId ?? this.container.id;
  }

  /** The peer's container id, once open. */
  get remoteContainerId(): string | undefined {
    return this.#connection?.remoteContainerId;
  }

  /**
   * Closes the connection (with `error` as the close's condition, when given). `onConnectionClosed`
   * follows. Called before the connection is open, it is closed as soon as it opens.
   */
  close(error?: AmqpErrorFields): void {
    if (this.#closeRequested) return;
    this.#closeRequested = true;
    this.#closeError = error;
    const c = this.#connection;
    if (!c) return;
    // A failed close is not lost: the connection's end reaches the handler as onConnectionClosed / onDisconnected.
    if (error) {
      c.close({ error }).catch(noop);
      return;
    }
    // A plain close waits for the running handler to return, as in Proton: an onMessage that
    // closes the connection still gets its message auto-accepted before the close goes out.
    queueMicrotask(() => {
      c.close().catch(noop);
    });
  }

  /** @internal The client connection opened. */
  bind(connection: Connection): void {
    this.#connection = connection;
    if (this.#closeRequested) connection.close(this.#closeError ? { error: this.#closeError } : undefined).catch(noop);
  }

  /** @internal Marks the connection over; true the first time. */
  finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    return true;
  }
}

/** What senders and receivers of a container share. */
export abstract class ContainerLink<L extends Sender | Receiver> {
  /** The container it belongs to. */
  readonly container: Container;
  /** The connection it belongs to. */
  readonly connection: ContainerConnection;
  /** The link's handler (the most specific scope). */
  readonly handler: MessagingHandler | undefined;
  /** The link name. */
  readonly name: string;
  #link: L | undefined;
  #closeRequested: { closed: boolean; error: AmqpErrorFields | undefined } | undefined;

  /** @internal Made by the container. */
  constructor(
    container: Container,
    connection: ContainerConnection,
    name: string,
    handler: MessagingHandler | undefined,
  ) {
    this.container = container;
    this.connection = connection;
    this.name = name;
    this.handler = handler;
  }

  /** The client link under this one, once attached (for everything the promise API offers). */
  get link(): L | undefined {
    return this.#link;
  }

  /** True from the peer's attach until either end detaches. */
  get isOpen(): boolean {
    return this.#link?.isOpen ?? false;
  }

  /** Whether `close()` or `detach()` was called. */
  protected get ending(): boolean {
    return this.#closeRequested !== undefined;
  }

  /** Closes the link (the peer forgets it). Called before the link is attached, it is closed as soon as it is. */
  close(error?: AmqpErrorFields): void {
    this.#end(true, error);
  }

  /** Detaches the link without closing it (a durable subscription stays on the peer). */
  detach(error?: AmqpErrorFields): void {
    this.#end(false, error);
  }

  #end(closed: boolean, error: AmqpErrorFields | undefined): void {
    if (this.#closeRequested) return;
    this.#closeRequested = { closed, error };
    const link = this.#link;
    // As for connections, a plain close waits for the running handler to return: an onMessage
    // that closes its receiver still gets its message auto-accepted first (as in Proton).
    if (link) queueMicrotask(() => void (closed ? link.close({ error }) : link.detach({ error })).catch(noop));
  }

  /** @internal The client link exists. */
  bind(link: L): void {
    if (this.#link) return;
    this.#link = link;
    const r = this.#closeRequested;
    if (r) (r.closed ? link.close({ error: r.error }) : link.detach({ error: r.error })).catch(noop);
  }
}

/**
 * A message sent by a {@link ContainerSender}: its outcome once the peer gives it. A message
 * whose link or connection ended first stays unsettled, with `error` saying why (it may or may
 * not have arrived: it is "in doubt").
 */
export class Tracker {
  /** The sender that sent the message. */
  readonly sender: ContainerSender;
  /** The delivery tag (by default the sender's counter as a string, as in Proton). */
  readonly tag: Uint8Array;
  #remoteState: DeliveryState | undefined;
  #settled = false;
  #error: AmqpError | undefined;

  /** @internal */
  constructor(sender: ContainerSender, tag: Uint8Array) {
    this.sender = sender;
    this.tag = tag;
  }

  /** The outcome the peer gave (accepted, rejected, released, modified), once it did. */
  get remoteState(): DeliveryState | undefined {
    return this.#remoteState;
  }

  /** True once the peer settled it (or at once for an at-most-once sender). */
  get settled(): boolean {
    return this.#settled;
  }

  /** Why the outcome will never be known (the link or connection ended first). */
  get error(): AmqpError | undefined {
    return this.#error;
  }

  /** @internal */
  update(state: DeliveryState | undefined): void {
    this.#remoteState = state;
    this.#settled = true;
  }

  /** @internal */
  fail(error: AmqpError): void {
    this.#error ??= error;
  }
}

/** The sending end of a link made (or accepted) by a container. */
export class ContainerSender extends ContainerLink<Sender> {
  readonly #trackers = new Map<string, Tracker>();
  #nextTag = 0;

  /** @internal The target address asked for (what errors name before the link is attached). */
  requestedAddress: string | undefined;

  /** The target address (the one the peer made, for a dynamic target). */
  get address(): string | undefined {
    return this.link?.address ?? this.requestedAddress;
  }

  /** How many more messages may be sent now (credit not yet used by sends). 0 until attached. */
  get credit(): number {
    const s = this.link;
    return s && s.isOpen ? Math.max(0, s.credit - s.pending) : 0;
  }

  /** Messages sent whose outcome is not known yet. */
  get unsettled(): number {
    return this.#trackers.size;
  }

  /**
   * Sends a message and returns its tracker. Its outcome arrives as `onAccepted`, `onRejected` or
   * `onReleased`, then `onSettled` (nothing for an at-most-once sender). Send while `credit > 0`
   * (in `onSendable`): past the credit, messages wait for more.
   * Throws `IllegalStateError` when the sender is not attached (or closed). A message that cannot
   * be encoded is a handler failure (see {@link Container}).
   */
  send(
    message: Message,
    options: { tag?: Uint8Array | undefined; transaction?: Transaction | undefined } = {},
  ): Tracker {
    const s = this.link;
    if (!s || !s.isOpen) {
      const why = this.ending || s ? 'closed' : 'not attached yet (send in onSendable)';
      throw new IllegalStateError(
        `cannot send on sender ${this.name}${this.address === undefined ? '' : ` to '${this.address}'`}: it is ${why}`,
      );
    }
    const tag = options.tag ?? utf8.encode(String(this.#nextTag++));
    const tracker = new Tracker(this, tag);
    const key = tagKey(tag);
    this.#trackers.set(key, tracker);
    s.send(message, options.transaction === undefined ? { tag } : { tag, transaction: options.transaction }).then(
      (state) => {
        // At-most-once: no outcome will come. Otherwise the `settled` event already updated it.
        if (this.#trackers.get(key) === tracker) {
          this.#trackers.delete(key);
          tracker.update(state);
        }
      },
      (error: AmqpError) => {
        // An outcome came as a `settled` event (which took the tracker). A link being closed
        // rejects the send at once, yet the peer's outcome may still arrive before its detach:
        // the tracker waits for it, or for the link's end (`failTrackers`).
        if (error instanceof InDoubtError) {
          // Lost with its connection before the peer settled it: its outcome will never be known.
          if (this.#trackers.get(key) === tracker) this.#trackers.delete(key);
          tracker.fail(error);
          return;
        }
        if (!(error instanceof EncodeError)) return;
        if (this.#trackers.get(key) === tracker) this.#trackers.delete(key);
        tracker.fail(error);
        this.container.reportFailure('send', error, this.connection);
      },
    );
    return tracker;
  }

  /** @internal The tracker of a tag, taken out of the in-flight set. */
  takeTracker(tag: Uint8Array): Tracker | undefined {
    const key = tagKey(tag);
    const t = this.#trackers.get(key);
    if (t) this.#trackers.delete(key);
    return t;
  }

  /** @internal The link ended: what is in flight is in doubt. */
  failTrackers(error: AmqpError): void {
    for (const t of this.#trackers.values()) t.fail(error);
    this.#trackers.clear();
  }
}

/** The receiving end of a link made (or accepted) by a container. */
export class ContainerReceiver extends ContainerLink<Receiver> {
  /** The source address (the one the peer made, for a dynamic source). */
  get address(): string | undefined {
    return this.link?.address;
  }

  /** Credit granted and not yet used. */
  get credit(): number {
    return this.link?.credit ?? 0;
  }

  /** Grants `n` more credit (the way messages come with `prefetch: 0`). Throws when not attached. */
  flow(n: number): void {
    const r = this.link;
    if (!r) throw new IllegalStateError(`cannot grant credit on receiver ${this.name}: it is not attached yet`);
    r.addCredit(n);
  }
}

/** A callback scheduled by `container.schedule()`. */
export class Task {
  /** @internal */
  timer: NodeJS.Timeout | undefined;
  #state: 'pending' | 'fired' | 'cancelled' = 'pending';
  readonly #onCancel: (task: Task) => void;

  /** @internal */
  constructor(onCancel: (task: Task) => void) {
    this.#onCancel = onCancel;
  }

  /** `pending` until it fires or is cancelled. */
  get state(): 'pending' | 'fired' | 'cancelled' {
    return this.#state;
  }

  /** Cancels the task if it has not fired; it then no longer keeps `run()` going. */
  cancel(): void {
    if (this.#state !== 'pending') return;
    this.#state = 'cancelled';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.#onCancel(this);
  }

  /** @internal */
  fired(): boolean {
    if (this.#state !== 'pending') return false;
    this.#state = 'fired';
    this.timer = undefined;
    return true;
  }
}

/**
 * A listener of a container: returned at once by `listen()`; `listening` resolves once the port
 * is bound. Connections to it are opened, and the links peers attach accepted, automatically.
 */
export class ContainerListener {
  /** Resolves with this listener once the port is bound; rejects when it cannot be. */
  readonly listening: Promise<ContainerListener>;
  #listener: Listener | undefined;
  #closeRequested = false;
  readonly #close: () => void;

  /** @internal Made by the container. */
  constructor(listening: Promise<ContainerListener>, close: () => void) {
    this.listening = listening;
    this.#close = close;
  }

  /** The Quark listener under this one, once bound. */
  get listener(): Listener | undefined {
    return this.#listener;
  }

  /** The port, once bound (0 before). */
  get port(): number {
    return this.#listener?.port ?? 0;
  }

  /** A URL clients can connect to, once bound. */
  get url(): string | undefined {
    return this.#listener?.url;
  }

  /** Stops listening and closes the connections made to it. */
  close(): void {
    if (this.#closeRequested) return;
    this.#closeRequested = true;
    if (this.#listener) this.#close();
  }

  /** @internal */
  get closing(): boolean {
    return this.#closeRequested;
  }

  /** @internal The port is bound. */
  bind(listener: Listener): void {
    this.#listener = listener;
    if (this.#closeRequested) this.#close();
  }
}

function tagKey(tag: Uint8Array): string {
  return Buffer.from(tag.buffer, tag.byteOffset, tag.byteLength).toString('latin1');
}

/**
 * A transaction of a container's connection, in Proton's shape: made by
 * `container.declareTransaction(connection)`; `onTransactionDeclared` says when it can be used;
 * `send()` and `accept()` work in it; `commit()` and `abort()` end it, followed by
 * `onTransactionCommitted` or `onTransactionAborted` (or `onTransactionCommitFailed`).
 */
export class ContainerTransaction {
  /** The container it belongs to. */
  readonly container: Container;
  /** The connection it belongs to. */
  readonly connection: ContainerConnection;
  /** The transaction's handler (the most specific scope). */
  readonly handler: MessagingHandler | undefined;
  #transaction: Transaction | undefined;
  readonly #discharge: (transaction: ContainerTransaction, fail: boolean) => void;

  /** @internal Made by the container. */
  constructor(
    container: Container,
    connection: ContainerConnection,
    handler: MessagingHandler | undefined,
    discharge: (transaction: ContainerTransaction, fail: boolean) => void,
  ) {
    this.container = container;
    this.connection = connection;
    this.handler = handler;
    this.#discharge = discharge;
  }

  /** The client transaction, once declared. */
  get transaction(): Transaction | undefined {
    return this.#transaction;
  }

  /** @internal The peer declared it. */
  bind(transaction: Transaction): void {
    this.#transaction = transaction;
  }

  #declared(): Transaction {
    const t = this.#transaction;
    if (!t) throw new IllegalStateError('the transaction is not declared yet: use it in onTransactionDeclared');
    return t;
  }

  /** Sends `message` on `sender` in this transaction: it is delivered only if the transaction commits. */
  send(sender: ContainerSender, message: Message): Tracker {
    return sender.send(message, { transaction: this.#declared() });
  }

  /** Accepts a delivery in this transaction: the accept takes effect only if it commits. */
  accept(delivery: Delivery): void {
    delivery.accept({ transaction: this.#declared() });
  }

  /** Commits: `onTransactionCommitted` follows (or `onTransactionCommitFailed`). */
  commit(): void {
    this.#declared();
    this.#discharge(this, false);
  }

  /** Rolls back: `onTransactionAborted` follows. */
  abort(): void {
    this.#declared();
    this.#discharge(this, true);
  }
}
