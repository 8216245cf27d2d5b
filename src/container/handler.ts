/**
 * The handler side of the container: the `MessagingHandler` interface (every method optional,
 * named after Qpid Proton's `on_*` callbacks), the event objects its methods receive, and the
 * exceptions an `onMessage` may throw to settle a message (`Reject`, `Release`).
 */
import type { DeliveryState } from '../codec/composite-types.js';
import type { Message } from '../codec/message.js';
import { checkModifyOptions, type Delivery, type ModifyOptions } from '../client/delivery.js';
import type { Session } from '../client/session.js';
import { AmqpError, type AmqpErrorFields } from '../errors.js';
import type { Container } from './container.js';
import type {
  ContainerConnection,
  ContainerReceiver,
  ContainerSender,
  ContainerTransaction,
  Task,
  Tracker,
} from './endpoints.js';

/** What every event carries. `type` names the event (the handler method without `on`, e.g. `message`). */
export interface ContainerEvent {
  /** The event's name: the handler method's without `on`, e.g. `message` for `onMessage`. */
  readonly type: string;
  /** The container whose handler is called. */
  readonly container: Container;
}

/** An event of a connection. `error` is set when the connection ended with one. */
export interface ConnectionEvent extends ContainerEvent {
  /** The connection the event is about (or the one its session, link or delivery belongs to). */
  readonly connection: ContainerConnection;
  /** Why the connection (or the endpoint the event is about) ended, when it ended with an error. */
  readonly error: AmqpError | undefined;
}

/** A connection failure: `onConnectionError`, `onTransportError`, `onDisconnected`. */
export interface ConnectionErrorEvent extends ConnectionEvent {
  /** What went wrong: its `condition` is the AMQP error condition (or Quark's, `quark:...`). */
  readonly error: AmqpError;
}

/** The connection was lost (`onDisconnected`): `reconnecting` says whether it will be reconnected. */
export interface DisconnectedEvent extends ConnectionErrorEvent {
  /** True when the connection is being reconnected (`onReconnected` follows); false when it is over. */
  readonly reconnecting: boolean;
}

/** The connection is open again after a reconnect (`onReconnected`). */
export interface ReconnectedEvent extends ConnectionEvent {
  /** The URL reconnected to (without its password). */
  readonly url: string;
}

/** An event of a session (Quark's client `Session`). */
export interface SessionEvent extends ConnectionEvent {
  /** The session the event is about (or the one its link or delivery belongs to). */
  readonly session: Session;
}

/** An event of a link: `sender` or `receiver` is set, whichever the link is. */
export interface LinkEvent extends SessionEvent {
  /** The link the event is about. */
  readonly link: ContainerSender | ContainerReceiver;
  /** The link, when it is a sender. */
  readonly sender: ContainerSender | undefined;
  /** The link, when it is a receiver. */
  readonly receiver: ContainerReceiver | undefined;
}

/** An event of a sender (`onSendable`). */
export interface SenderEvent extends SessionEvent {
  /** The sender (as `sender`). */
  readonly link: ContainerSender;
  /** The sender the event is about. */
  readonly sender: ContainerSender;
}

/** An event of a receiver (`onAborted`). */
export interface ReceiverEvent extends SessionEvent {
  /** The receiver (as `receiver`). */
  readonly link: ContainerReceiver;
  /** The receiver the event is about. */
  readonly receiver: ContainerReceiver;
}

/** The peer gave an outcome for (or settled) a message we sent: `delivery` tracks it, `outcome` is what the peer said. */
export interface TrackerEvent extends SenderEvent {
  /** The message sent, as its sender tracks it. */
  readonly delivery: Tracker;
  /** What the peer said of it (`accepted`, `rejected`, `released`, `modified`, ...), if anything. */
  readonly outcome: DeliveryState | undefined;
}

/** A message arrived: settle it with `delivery.accept()` / `reject()` / `release()` / `modify()`, or let autoAccept do it. */
export interface MessageEvent extends ReceiverEvent {
  /** The delivery that brought the message: settle it through this. */
  readonly delivery: Delivery;
  /** The message, decoded (`delivery.message`). */
  readonly message: Message;
}

/** A transaction's event: `onTransactionDeclared`, `onTransactionCommitted`, ... */
export interface TransactionEvent extends ConnectionEvent {
  /** The transaction the event is about. */
  readonly transaction: ContainerTransaction;
}

/** A task made by `container.schedule()` fired. */
export interface TimerEvent extends ContainerEvent {
  /** The task that fired (as `container.schedule()` returned it). */
  readonly task: Task;
}

/** What a handler method returns. A returned promise that rejects counts as the method throwing. */
export type HandlerResult = void | Promise<void>;

/**
 * Callbacks for the events of a {@link Container}, all optional. A handler is given to the
 * container (global), to `connect()` (for that connection's events) and to `createSender()` /
 * `createReceiver()` (for that link's events). For each event the most specific handler that
 * defines the method is called, and only that one: the link's, else the connection's, else the
 * container's. The options below are read the same way (the most specific handler that sets them).
 *
 * A method that throws (or returns a promise that rejects) is a bug in the application; see
 * {@link Container} for what the container then does.
 */
export interface MessagingHandler {
  /** The credit window of receivers (topped up as messages arrive). 0: grant credit with `receiver.flow(n)`. Default 10. */
  readonly prefetch?: number | undefined;
  /**
   * Accept each message once `onMessage` returns (or the promise it returns resolves). When it
   * throws anything but `Reject`/`Release`, the message is rejected with `amqp:internal-error` and
   * the error's message instead. Default true.
   */
  readonly autoAccept?: boolean | undefined;
  /**
   * Settle outgoing messages once the peer gives its outcome. Quark's senders always do; `false`
   * is refused (the constructor throws an InvalidArgumentError). Default true.
   */
  readonly autoSettle?: boolean | undefined;

  /** The container's `run()` started: the place to connect, listen and schedule. */
  onStart?(event: ContainerEvent): HandlerResult;
  /** Both ends have opened the connection. */
  onConnectionOpened?(event: ConnectionEvent): HandlerResult;
  /** The connection closed cleanly (by us or the peer). */
  onConnectionClosed?(event: ConnectionEvent): HandlerResult;
  /** The peer closed (or refused) the connection with an error condition. */
  onConnectionError?(event: ConnectionErrorEvent): HandlerResult;
  /** A session opened: both ends began it. */
  onSessionOpened?(event: SessionEvent): HandlerResult;
  /** The session ended without an error of its own (`error` is the connection's, if the connection failed). */
  onSessionClosed?(event: SessionEvent): HandlerResult;
  /** The peer ended the session with an error. Without this method: logged, and the connection is closed. */
  onSessionError?(event: SessionEvent & { readonly error: AmqpError }): HandlerResult;
  /** Both ends have attached the link. */
  onLinkOpened?(event: LinkEvent): HandlerResult;
  /** The link ended without an error of its own (`error` is the connection's or session's, if they failed). */
  onLinkClosed?(event: LinkEvent): HandlerResult;
  /**
   * The peer refused the attach, or detached the link with an error. Without this method: logged,
   * the connection is closed (as Proton does) and `run()` rejects with the error.
   */
  onLinkError?(event: LinkEvent & { readonly error: AmqpError }): HandlerResult;
  /** A sender has credit: send with `event.sender.send(message)` while `event.sender.credit > 0`. */
  onSendable?(event: SenderEvent): HandlerResult;
  /** A whole message arrived. */
  onMessage?(event: MessageEvent): HandlerResult;
  /** The peer accepted a message we sent. */
  onAccepted?(event: TrackerEvent): HandlerResult;
  /** The peer rejected a message we sent (`event.outcome.error` says why). */
  onRejected?(event: TrackerEvent): HandlerResult;
  /** The peer released or modified a message we sent: it was not processed. */
  onReleased?(event: TrackerEvent): HandlerResult;
  /** The peer settled a message we sent (after the outcome event, if any). */
  onSettled?(event: TrackerEvent): HandlerResult;
  /** The sender aborted a message that was arriving; nothing of it is kept. */
  onAborted?(event: ReceiverEvent): HandlerResult;
  /**
   * The connection was lost: its socket went, the peer went silent, or the peer closed it. With
   * `event.reconnecting` the container reconnects it (as Proton does by default) and
   * `onReconnected` follows; links are attached again by themselves. Otherwise it is over (also
   * when a connection could not be made at all).
   */
  onDisconnected?(event: DisconnectedEvent): HandlerResult;
  /** The connection is open again after a reconnect; its sessions and links are being attached again. */
  onReconnected?(event: ReconnectedEvent): HandlerResult;
  /** The connection could not be made or failed below AMQP: refused socket, TLS, SASL, malformed frames. */
  onTransportError?(event: ConnectionErrorEvent): HandlerResult;
  /** A task from `container.schedule()` fired (when it was scheduled without a callback). */
  onTimerTask?(event: TimerEvent): HandlerResult;
  /** A transaction from `container.declareTransaction()` is declared: send and accept in it. */
  onTransactionDeclared?(event: TransactionEvent): HandlerResult;
  /** The peer refused to declare the transaction (it does not run transactions). Without this method: a handler failure. */
  onTransactionDeclareFailed?(event: TransactionEvent & { readonly error: AmqpError }): HandlerResult;
  /** The transaction committed: its sends and accepts took effect. */
  onTransactionCommitted?(event: TransactionEvent): HandlerResult;
  /** The transaction was rolled back (by `abort()`). */
  onTransactionAborted?(event: TransactionEvent): HandlerResult;
  /** A commit did not take effect (the peer rolled the transaction back, or the connection went). Without this method: a handler failure. */
  onTransactionCommitFailed?(event: TransactionEvent & { readonly error: AmqpError }): HandlerResult;
}

/** The names of the handler's methods. */
export type HandlerMethod = {
  [K in keyof MessagingHandler]-?: NonNullable<MessagingHandler[K]> extends (event: never) => HandlerResult ? K : never;
}[keyof MessagingHandler];

/** The event a handler method receives. */
export type EventOf<M extends HandlerMethod> = Parameters<NonNullable<MessagingHandler[M]>>[0];

/**
 * Thrown from `onMessage`: the message is rejected (settled with the `rejected` outcome), with
 * `error` when given (a string becomes `amqp:internal-error` with that description). The
 * container goes on; this is not a handler failure.
 */
export class Reject extends Error {
  /** The error the `rejected` outcome carries, if one was given. */
  readonly error: AmqpErrorFields | string | undefined;

  constructor(error?: AmqpErrorFields | string) {
    super(typeof error === 'string' ? error : (error?.description ?? error?.condition ?? 'the message was rejected'));
    this.name = 'Reject';
    this.error = error;
  }
}

/**
 * Thrown from `onMessage`: the message is given back unprocessed. As in Proton, by default it is
 * settled `modified` (counted as a delivery attempt by some brokers); `{ delivered: false }`
 * settles it `released` instead. The container goes on; this is not a handler failure.
 */
export class Release extends Error {
  /** False to settle the message `released` (not counted as an attempt); true (default) for `modified`. */
  readonly delivered: boolean;
  /** The `modified` outcome's options (ignored when `delivered` is false). */
  readonly modify: ModifyOptions;

  constructor(options: ModifyOptions & { delivered?: boolean | undefined } = {}) {
    super('the message was released');
    this.name = 'Release';
    const { delivered, ...modify } = options;
    checkModifyOptions(modify, 'Release');
    this.delivered = delivered ?? true;
    this.modify = modify;
  }
}

/**
 * A handler method threw (or its promise rejected). `container.run()` rejects with this error;
 * `cause` is what was thrown, `method` the handler method. Condition `amqp:internal-error`.
 */
export class HandlerError extends AmqpError {
  /** The handler method that failed, e.g. `onMessage`, or `schedule` for a scheduled callback. */
  readonly method: string;

  constructor(method: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('amqp:internal-error', `The handler's ${method} failed: ${reason}`, {
      description: `${method} failed: ${reason}`,
      cause,
    });
    this.method = method;
  }
}
