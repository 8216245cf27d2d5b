import { debugLog } from '../runtime/debug-log.js';
import { rxjs } from '../runtime/rxjs-module.js';
import { connect, type Connection, type ConnectOptions } from '../client/connection.js';
import type { Delivery } from '../client/delivery.js';
import type { QuarkEvent } from '../client/events.js';
import { checkCredit, type ReceiverOptions, type SenderOptions } from '../client/link-options.js';
import { Receiver } from '../client/receiver.js';
import { Sender } from '../client/sender.js';
import type { Session } from '../client/session.js';
import { parseUrl } from '../client/url.js';
import type { Message } from '../codec/message.js';
import { listen, type ListenOptions } from '../server/listener.js';
import type { IncomingLink } from '../server/incoming-link.js';
import {
  AmqpError,
  AuthenticationError,
  ConnectionClosedError,
  ConnectionLostError,
  IllegalStateError,
  InvalidArgumentError,
} from '../errors.js';
import {
  ContainerConnection,
  ContainerListener,
  ContainerReceiver,
  ContainerSender,
  ContainerTransaction,
  Task,
} from './endpoints.js';
import {
  HandlerError,
  Reject,
  Release,
  type EventOf,
  type HandlerMethod,
  type LinkEvent,
  type MessageEvent,
  type MessagingHandler,
  type TimerEvent,
} from './handler.js';

const log = debugLog('quark:container');
const noop = (): void => {};

/** Options of a container. */
export interface ContainerOptions {
  /** The container id sent in every connection's open. Default: a random UUID. */
  id?: string | undefined;
}

/** Options of `container.connect()`, `createSender()` and `createReceiver()` besides the address. */
export interface HandlerScope {
  /** A handler for the events of this connection or link (more specific than the container's). */
  handler?: MessagingHandler | undefined;
}

type Handlers = readonly (MessagingHandler | undefined)[];
type Outcome = 'none' | 'ok' | 'failed';

/**
 * The Proton-style event API: a `Container` runs a `MessagingHandler`'s callbacks for the events
 * of the connections, links and timers it makes. It is a thin adapter over the client API: every
 * event is one of the client's public events (`connection.events$`, `receiver.deliveries$()`,
 * `listener.links$`) turned into a handler call; no protocol state is kept here.
 *
 * Handler failures. A handler method that throws (or returns a promise that rejects) is a bug in
 * the application, and Quark does what Proton does, only cleanly: the container stops. The
 * failure is logged (`DEBUG=quark:container`); the connection of the event is closed with
 * `amqp:internal-error` (description: the method and the error's message), so the peer knows;
 * for `onMessage` with autoAccept, the message is rejected with the same error first; every other
 * connection and listener is closed and every timer cancelled; and `run()` rejects with a
 * `HandlerError` (its `cause` is what was thrown). Nothing is ever thrown into the event loop.
 *
 * Errors no handler takes. When no handler defines `onConnectionError`, `onTransportError`,
 * `onDisconnected`, `onLinkError` or `onSessionError` for a connection the container made, the
 * error is logged and `run()` rejects with it once everything is closed; a link or session error
 * also closes its connection, as in Proton. Errors on connections accepted by a listener are
 * only logged.
 */
export class Container {
  /** The container id sent in every connection's open. */
  readonly id: string;
  /** The container's (global) handler. */
  readonly handler: MessagingHandler;
  readonly #connections = new Set<ContainerConnection>();
  readonly #byConnection = new WeakMap<Connection, ContainerConnection>();
  readonly #listeners = new Set<ContainerListener>();
  readonly #tasks = new Set<Task>();
  /** Connections, listeners and tasks not yet over: `run()` resolves when none is left. */
  #work = 0;
  #running = false;
  #stopping = false;
  #done: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #idleCheck: NodeJS.Immediate | undefined;
  #error: Error | undefined;
  #linkCounter = 0;
  /** Handler calls run one at a time, in event order (a call made while one runs waits for it). */
  readonly #queue: (() => void)[] = [];
  #draining = false;

  constructor(handler: MessagingHandler = {}, options: ContainerOptions = {}) {
    checkHandler(handler);
    rxjs('Container'); // it follows connections through their events$: without rxjs, fail here rather than at the first connection
    this.handler = handler;
    this.id = options.id ?? crypto.randomUUID();
  }

  /**
   * Runs the container: calls `onStart`, then the handlers of every event, and resolves when
   * there is nothing left to do (every connection and listener closed, every task fired or
   * cancelled), or after `stop()`. Rejects with a `HandlerError` when a handler failed, or with
   * an error no handler took (see the class documentation).
   */
  run(): Promise<void> {
    if (this.#running) return Promise.reject(new IllegalStateError('this container was already run; make a new one'));
    this.#running = true;
    return new Promise<void>((resolve, reject) => {
      this.#done = { resolve, reject };
      this.#post(() => this.#dispatch([this.handler], 'onStart', { type: 'start', container: this }, undefined));
      this.#checkIdle();
    });
  }

  /** Closes every connection and listener and cancels every task; `run()` then resolves. */
  stop(): void {
    this.#stopping = true;
    for (const task of [...this.#tasks]) task.cancel();
    for (const c of this.#connections) c.close();
    for (const l of this.#listeners) l.close();
    this.#checkIdle();
  }

  /**
   * Connects to a peer (URL or options; a URL's path is ignored here, see `createSender`). Returns
   * the connection at once: links can be made on it before it is open. `onConnectionOpened`
   * follows, or `onTransportError` + `onDisconnected` (refused, TLS, SASL), or `onConnectionError`.
   */
  connect(url: string | ConnectOptions, scope: HandlerScope = {}): ContainerConnection {
    checkHandler(scope.handler);
    const options: ConnectOptions = typeof url === 'string' ? { url } : { ...url };
    options.containerId ??= this.id;
    const ready = connect(options);
    const cw = new ContainerConnection(this, scope.handler, ready, true);
    this.#track(cw);
    ready.then(
      (connection) => {
        cw.bind(connection);
        this.#adopt(cw, connection);
        if (!cw.closing)
          this.#post(() =>
            this.#dispatch(
              [cw.handler, this.handler],
              'onConnectionOpened',
              { type: 'connectionOpened', container: this, connection: cw, error: undefined },
              cw,
            ),
          );
      },
      (error: unknown) => {
        if (!cw.closing) this.#post(() => this.#connectionFailed(cw, toAmqpError(error), false));
        this.#finish(cw);
      },
    );
    if (this.#stopping) cw.close();
    return cw;
  }

  /**
   * Opens a sender on `context`: a connection of this container, or a URL (a new connection is
   * made, and the URL's path is the target unless one is given). `target` is an address or the
   * client's `SenderOptions`. Returns at once; `onLinkOpened` then `onSendable` follow, or
   * `onLinkError` when the peer refuses.
   */
  createSender(
    context: ContainerConnection | string,
    target?: string | null | SenderOptions,
    scope: HandlerScope = {},
  ): ContainerSender {
    checkHandler(scope.handler);
    const { connection: cw, path } = this.#context(context);
    const o: SenderOptions = target === null || typeof target === 'string' ? { target } : { ...target };
    if (o.target === undefined && path !== undefined) o.target = path;
    const name = o.name ?? `container-sender-${++this.#linkCounter}-${this.id}`;
    const sw = new ContainerSender(this, cw, name, scope.handler);
    sw.requestedAddress = typeof o.target === 'string' ? o.target : o.target?.address;
    cw.pendingLinks.set(`sender:${name}`, sw);
    cw.ready
      .then((connection) => {
        if (cw.closing) throw new IllegalStateError('the connection was closed');
        return connection.createSender({ ...o, name });
      })
      .then(
        (sender) => this.#bind(cw, sender),
        (error: unknown) => this.#linkFailed(cw, sw, error),
      );
    return sw;
  }

  /**
   * Opens a receiver on `context` (a connection of this container, or a URL whose path is the
   * source unless one is given). `source` is an address or the client's `ReceiverOptions`; its
   * credit window is the handler's `prefetch` unless `credit` is given. Messages arrive as
   * `onMessage`.
   */
  createReceiver(
    context: ContainerConnection | string,
    source?: string | ReceiverOptions,
    scope: HandlerScope = {},
  ): ContainerReceiver {
    checkHandler(scope.handler);
    const { connection: cw, path } = this.#context(context);
    const o: ReceiverOptions = typeof source === 'string' ? { source } : { ...source };
    if (o.source === undefined && path !== undefined) o.source = path;
    const credit = checkCredit(o.credit ?? option([scope.handler, cw.handler, this.handler], 'prefetch') ?? 10);
    const name = o.name ?? `container-receiver-${++this.#linkCounter}-${this.id}`;
    const rw = new ContainerReceiver(this, cw, name, scope.handler);
    cw.pendingLinks.set(`receiver:${name}`, rw);
    cw.ready
      .then((connection) => {
        if (cw.closing) throw new IllegalStateError('the connection was closed');
        return connection.createReceiver({ ...o, name, credit, autoAccept: false });
      })
      .then(
        (receiver) => this.#bind(cw, receiver),
        (error: unknown) => this.#linkFailed(cw, rw, error),
      );
    return rw;
  }

  /**
   * Listens for connections (a URL such as `amqp://127.0.0.1:5672`, port 0 for any free port, or
   * Quark's `ListenOptions`). Connections are opened and links accepted automatically: a peer's
   * sender gets a receiver with the container handler's prefetch, a peer's receiver gets a sender.
   * Returns at once; `listener.listening` resolves when the port is bound. A port that cannot be
   * bound stops the container, and `run()` rejects with the error.
   */
  listen(url: string | ListenOptions): ContainerListener {
    let options: ListenOptions;
    if (typeof url === 'string') {
      const parsed = parseUrl(url);
      if (parsed.scheme === 'amqps' || parsed.scheme === 'wss')
        throw new InvalidArgumentError(
          `listen() with an ${parsed.scheme}:// URL needs TLS options: pass ListenOptions with tls`,
        );
      // A ws:// URL listens for WebSocket only, on its port and path ("/" serves any path).
      const path = parsed.websocketPath?.replace(/\?.*$/, '');
      options =
        parsed.scheme === 'ws'
          ? { tcp: false, websocket: { host: parsed.host, port: parsed.port, path: path === '/' ? undefined : path } }
          : { host: parsed.host, port: parsed.port };
    } else {
      options = { ...url };
    }
    options.containerId ??= this.id;
    const bound = listen(options);
    const lw: ContainerListener = new ContainerListener(
      bound.then(() => lw),
      () => {
        lw.listener?.close().then(
          () => this.#finish(lw),
          () => this.#finish(lw),
        );
      },
    );
    lw.listening.catch(noop);
    this.#track(lw);
    bound.then(
      (listener) => {
        listener.connections$.subscribe((connection) => {
          const cw = new ContainerConnection(this, undefined, Promise.resolve(connection), false);
          cw.bind(connection);
          this.#track(cw);
          this.#adopt(cw, connection);
          if (this.#stopping) cw.close();
        });
        listener.links$.subscribe((link) => this.#acceptLink(link));
        lw.bind(listener);
      },
      (error: unknown) => {
        log('listen failed: %s', error instanceof Error ? error.message : String(error));
        this.#error ??= error instanceof Error ? error : new Error(String(error));
        this.#finish(lw);
        this.stop();
      },
    );
    if (this.#stopping) lw.close();
    return lw;
  }

  /**
   * Declares a transaction on `connection` (as Proton's `declare_transaction`): returns at once;
   * `onTransactionDeclared` follows (or `onTransactionDeclareFailed`). Send and accept in it with
   * `transaction.send(sender, message)` and `transaction.accept(delivery)`, then `commit()` or
   * `abort()`.
   */
  declareTransaction(connection: ContainerConnection, scope: HandlerScope = {}): ContainerTransaction {
    checkHandler(scope.handler);
    const cw = connection;
    const txw = new ContainerTransaction(this, cw, scope.handler, (t, fail) => this.#discharge(t, fail));
    const handlers = (): Handlers => [txw.handler, cw.handler, this.handler];
    cw.ready
      .then((c) => c.beginTransaction())
      .then(
        (transaction) => {
          txw.bind(transaction);
          this.#post(() =>
            this.#dispatch(
              handlers(),
              'onTransactionDeclared',
              { type: 'transactionDeclared', container: this, connection: cw, transaction: txw, error: undefined },
              cw,
            ),
          );
        },
        (error: unknown) => {
          const e = toAmqpError(error);
          this.#post(() => {
            const event = {
              type: 'transactionDeclareFailed',
              container: this,
              connection: cw,
              transaction: txw,
              error: e,
            } as const;
            if (this.#dispatch(handlers(), 'onTransactionDeclareFailed', event, cw) === 'none')
              this.reportFailure('declareTransaction', e, cw);
          });
        },
      );
    return txw;
  }

  #discharge(txw: ContainerTransaction, fail: boolean): void {
    const cw = txw.connection;
    const handlers: Handlers = [txw.handler, cw.handler, this.handler];
    const transaction = txw.transaction!;
    (fail ? transaction.rollback() : transaction.commit()).then(
      () =>
        this.#post(() =>
          this.#dispatch(
            handlers,
            fail ? 'onTransactionAborted' : 'onTransactionCommitted',
            {
              type: fail ? 'transactionAborted' : 'transactionCommitted',
              container: this,
              connection: cw,
              transaction: txw,
              error: undefined,
            },
            cw,
          ),
        ),
      (error: unknown) => {
        const e = toAmqpError(error);
        this.#post(() => {
          const event = {
            type: 'transactionCommitFailed',
            container: this,
            connection: cw,
            transaction: txw,
            error: e,
          } as const;
          if (this.#dispatch(handlers, 'onTransactionCommitFailed', event, cw) === 'none')
            this.reportFailure(fail ? 'abort' : 'commit', e, cw);
        });
      },
    );
  }

  /**
   * Calls `callback` (or `handler.onTimerTask`, or the container handler's `onTimerTask`) after
   * `delayMs` milliseconds. A pending task keeps `run()` going; cancel it to let `run()` end.
   */
  schedule(delayMs: number, callback?: ((event: TimerEvent) => void | Promise<void>) | MessagingHandler): Task {
    if (!(typeof delayMs === 'number' && delayMs >= 0 && Number.isFinite(delayMs)))
      throw new InvalidArgumentError(`schedule() needs a delay in milliseconds (0 or more), got ${String(delayMs)}`);
    const task = new Task(() => this.#untrack(task));
    if (this.#stopping) {
      task.cancel();
      return task;
    }
    this.#tasks.add(task);
    this.#work++;
    task.timer = setTimeout(() => {
      if (!task.fired()) return;
      this.#post(() => {
        const event: TimerEvent = { type: 'timerTask', container: this, task };
        if (typeof callback === 'function') this.#invoke('schedule', () => callback(event), undefined);
        else this.#dispatch([callback, this.handler], 'onTimerTask', event, undefined);
      });
      this.#untrack(task);
    }, delayMs);
    return task;
  }

  /** @internal A failure that is the application's (a handler, or a message it sent that cannot be encoded). */
  reportFailure(method: string, error: unknown, cw: ContainerConnection | undefined): void {
    const failure = new HandlerError(method, error);
    log(
      '%s (stopping the container)%s',
      failure.message,
      error instanceof Error && error.stack ? `\n${error.stack}` : '',
    );
    this.#error ??= failure;
    cw?.close({ condition: 'amqp:internal-error', description: failure.description });
    this.stop();
  }

  // ---- Work accounting ----

  #track(item: ContainerConnection | ContainerListener): void {
    this.#work++;
    if (item instanceof ContainerConnection) this.#connections.add(item);
    else this.#listeners.add(item);
  }

  #finish(item: ContainerConnection | ContainerListener): void {
    if (item instanceof ContainerConnection) {
      if (!item.finish()) return;
      this.#connections.delete(item);
    } else {
      if (!this.#listeners.delete(item)) return;
    }
    this.#work--;
    this.#checkIdle();
  }

  #untrack(task: Task): void {
    if (!this.#tasks.delete(task)) return;
    this.#work--;
    this.#checkIdle();
  }

  /** Resolves `run()` once nothing is left, after a turn of the event loop (handlers may start more). */
  #checkIdle(): void {
    if (!this.#done || this.#work > 0 || this.#idleCheck !== undefined) return;
    this.#idleCheck = setImmediate(() => {
      this.#idleCheck = undefined;
      const done = this.#done;
      if (!done || this.#work > 0) return;
      this.#done = undefined;
      if (this.#error) done.reject(this.#error);
      else done.resolve();
    });
  }

  // ---- Dispatch ----

  /** Runs `fn` now, or after the handler call running now (calls never nest). */
  #post(fn: () => void): void {
    this.#queue.push(fn);
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let i = 0; i < this.#queue.length; i++) {
        try {
          this.#queue[i]!();
        } catch (error) {
          // A bug of the adapter itself: report it like a handler failure rather than lose it.
          this.reportFailure('container', error, undefined);
        }
      }
    } finally {
      this.#queue.length = 0;
      this.#draining = false;
    }
  }

  /** Calls `fn`; a throw or a rejected promise is a handler failure. */
  #invoke(method: string, fn: () => unknown, cw: ContainerConnection | undefined): Outcome {
    try {
      const result = fn();
      if (isThenable(result)) result.then(undefined, (error: unknown) => this.reportFailure(method, error, cw));
      return 'ok';
    } catch (error) {
      this.reportFailure(method, error, cw);
      return 'failed';
    }
  }

  /** Calls `method` on the most specific handler that defines it. */
  #dispatch<M extends HandlerMethod>(
    handlers: Handlers,
    method: M,
    event: EventOf<M>,
    cw: ContainerConnection | undefined,
  ): Outcome {
    for (const h of handlers) {
      const fn = h?.[method] as ((this: MessagingHandler, event: EventOf<M>) => unknown) | undefined;
      if (typeof fn === 'function') return this.#invoke(method, () => fn.call(h!, event), cw);
    }
    return 'none';
  }

  // ---- Connections ----

  #context(context: ContainerConnection | string): { connection: ContainerConnection; path: string | undefined } {
    if (typeof context === 'string') return { connection: this.connect(context), path: parseUrl(context).path };
    if (!(context instanceof ContainerConnection) || context.container !== this)
      throw new InvalidArgumentError('createSender/createReceiver need a connection of this container, or a URL');
    return { connection: context, path: undefined };
  }

  /** Follows the events of an open connection. */
  #adopt(cw: ContainerConnection, connection: Connection): void {
    this.#byConnection.set(connection, cw);
    connection.events$.subscribe({
      next: (e) => this.#post(() => this.#onEvent(cw, connection, e)),
      complete: () => this.#finish(cw),
    });
  }

  #onEvent(cw: ContainerConnection, connection: Connection, e: QuarkEvent): void {
    const scope: Handlers = [cw.handler, this.handler];
    switch (e.type) {
      case 'opened':
        if (!cw.closing)
          this.#dispatch(
            scope,
            'onConnectionOpened',
            { type: 'connectionOpened', container: this, connection: cw, error: undefined },
            cw,
          );
        return;
      case 'closed':
        if (e.error === undefined)
          this.#dispatch(
            scope,
            'onConnectionClosed',
            { type: 'connectionClosed', container: this, connection: cw, error: undefined },
            cw,
          );
        else if (!(e.error instanceof ConnectionLostError)) this.#connectionFailed(cw, e.error, true); // (lost: `disconnected` came first)
        return;
      case 'disconnected':
        if (e.reconnecting) {
          // Not an error to report: the connection comes back by itself.
          this.#dispatch(
            scope,
            'onDisconnected',
            { type: 'disconnected', container: this, connection: cw, error: e.error, reconnecting: true },
            cw,
          );
        } else if (e.error instanceof ConnectionLostError) {
          this.#unhandled(
            cw,
            e.error,
            this.#dispatch(
              scope,
              'onDisconnected',
              { type: 'disconnected', container: this, connection: cw, error: e.error, reconnecting: false },
              cw,
            ),
            false,
          );
        } // (closed by the peer with an error: `closed` follows, as onConnectionError)
        return;
      case 'reconnected':
        this.#dispatch(
          scope,
          'onReconnected',
          { type: 'reconnected', container: this, connection: cw, error: undefined, url: e.url },
          cw,
        );
        return;
      case 'reconnecting':
        return;
      case 'sessionOpened':
        this.#dispatch(
          scope,
          'onSessionOpened',
          { type: 'sessionOpened', container: this, connection: cw, session: e.session, error: undefined },
          cw,
        );
        return;
      case 'sessionClosed': {
        const error = e.error;
        if (error && error !== connection.error) {
          const event = { type: 'sessionError', container: this, connection: cw, session: e.session, error };
          this.#unhandled(cw, error, this.#dispatch(scope, 'onSessionError', event, cw), true);
        } else {
          this.#dispatch(
            scope,
            'onSessionClosed',
            { type: 'sessionClosed', container: this, connection: cw, session: e.session, error },
            cw,
          );
        }
        return;
      }
      case 'linkOpened': {
        const lw = this.#bind(cw, e.link);
        if (lw)
          this.#dispatch(
            [lw.handler, ...scope],
            'onLinkOpened',
            this.#linkEvent('linkOpened', cw, lw, e.link.session, undefined),
            cw,
          );
        return;
      }
      case 'linkClosed': {
        const lw = this.#bind(cw, e.link);
        if (!lw) return;
        const error = e.error;
        if (lw instanceof ContainerSender)
          lw.failTrackers(
            error ??
              e.link.session.error ??
              connection.error ??
              new IllegalStateError(`link ${lw.name} was closed before the peer settled the message`),
          );
        if (error && error !== e.link.session.error && error !== connection.error) {
          const event = this.#linkEvent('linkError', cw, lw, e.link.session, error) as LinkEvent & { error: AmqpError };
          this.#unhandled(cw, error, this.#dispatch([lw.handler, ...scope], 'onLinkError', event, cw), true);
        } else {
          this.#dispatch(
            [lw.handler, ...scope],
            'onLinkClosed',
            this.#linkEvent('linkClosed', cw, lw, e.link.session, error),
            cw,
          );
        }
        return;
      }
      case 'sendable': {
        const sw = this.#bind(cw, e.link);
        if (sw instanceof ContainerSender && sw.isOpen && sw.credit > 0) {
          this.#dispatch(
            [sw.handler, ...scope],
            'onSendable',
            {
              type: 'sendable',
              container: this,
              connection: cw,
              session: e.link.session,
              link: sw,
              sender: sw,
              error: undefined,
            },
            cw,
          );
        }
        return;
      }
      case 'settled': {
        const sw = this.#bind(cw, e.link);
        const tracker = sw instanceof ContainerSender ? sw.takeTracker(e.tag) : undefined;
        if (!tracker || !(sw instanceof ContainerSender)) return;
        tracker.update(e.outcome);
        const handlers: Handlers = [sw.handler, ...scope];
        const event = {
          type: 'settled',
          container: this,
          connection: cw,
          session: e.link.session,
          link: sw,
          sender: sw,
          delivery: tracker,
          outcome: e.outcome,
          error: undefined,
        };
        switch (e.outcome?.kind) {
          case 'accepted':
            this.#dispatch(handlers, 'onAccepted', { ...event, type: 'accepted' }, cw);
            break;
          case 'rejected':
            this.#dispatch(handlers, 'onRejected', { ...event, type: 'rejected' }, cw);
            break;
          case 'released':
          case 'modified':
            this.#dispatch(handlers, 'onReleased', { ...event, type: 'released' }, cw);
            break;
          default:
            break;
        }
        this.#dispatch(handlers, 'onSettled', event, cw);
        return;
      }
      case 'aborted': {
        const rw = this.#bind(cw, e.link);
        if (rw instanceof ContainerReceiver)
          this.#dispatch(
            [rw.handler, ...scope],
            'onAborted',
            {
              type: 'aborted',
              container: this,
              connection: cw,
              session: e.link.session,
              link: rw,
              receiver: rw,
              error: undefined,
            },
            cw,
          );
        return;
      }
      case 'message': // taken from the receiver's deliveries$ (see #bind)
      case 'drained':
        return;
    }
  }

  /** A connection failed: refused, lost before open, SASL, protocol error, or closed by the peer with an error. */
  #connectionFailed(cw: ContainerConnection, error: AmqpError, wasOpen: boolean): void {
    const scope: Handlers = [cw.handler, this.handler];
    if (
      error instanceof ConnectionClosedError &&
      !(error instanceof ConnectionLostError) &&
      !(error instanceof AuthenticationError)
    ) {
      this.#unhandled(
        cw,
        error,
        this.#dispatch(
          scope,
          'onConnectionError',
          { type: 'connectionError', container: this, connection: cw, error },
          cw,
        ),
        false,
      );
      return;
    }
    // Below AMQP: a transport error, then the socket is gone (the lost-after-open case is `disconnected`).
    const event = { container: this, connection: cw, error };
    const a = this.#dispatch(scope, 'onTransportError', { ...event, type: 'transportError' }, cw);
    const b =
      wasOpen && error instanceof ConnectionLostError
        ? 'none'
        : this.#dispatch(scope, 'onDisconnected', { ...event, type: 'disconnected', reconnecting: false }, cw);
    this.#unhandled(cw, error, a === 'none' && b === 'none' ? 'none' : 'ok', false);
  }

  /** An error event no handler took: logged; for our own connections, `run()` will reject with it. */
  #unhandled(cw: ContainerConnection, error: AmqpError, outcome: Outcome, closeConnection: boolean): void {
    if (outcome !== 'none') return;
    log('unhandled error on a connection of container %s: %s', this.id, error.message);
    if (closeConnection) cw.close();
    if (cw.initiated) this.#error ??= error;
  }

  // ---- Links ----

  /** The container's sender or receiver for a client link; binds it on first sight. */
  #bind(cw: ContainerConnection, link: Sender | Receiver): ContainerSender | ContainerReceiver | undefined {
    const known = cw.links.get(link);
    if (known) return known;
    const key = `${link instanceof Sender ? 'sender' : 'receiver'}:${link.name}`;
    const lw = cw.pendingLinks.get(key);
    if (!lw) return undefined; // a link made with the client API directly
    cw.pendingLinks.delete(key);
    cw.links.set(link, lw);
    if (lw instanceof ContainerSender && link instanceof Sender) lw.bind(link);
    else if (lw instanceof ContainerReceiver && link instanceof Receiver) {
      lw.bind(link);
      if (link.isOpen) {
        link.deliveries$().subscribe({
          next: (delivery) => this.#post(() => this.#onDelivery(cw, lw, delivery)),
          error: noop, // the link's end is reported by its linkClosed event
        });
      }
    }
    return lw;
  }

  /**
   * Making a link failed before any event about it. A peer's refusal, a session or connection
   * failure come as events; what is left is the application's own mistake (e.g. invalid options).
   */
  #linkFailed(cw: ContainerConnection, lw: ContainerSender | ContainerReceiver, error: unknown): void {
    const key = `${lw instanceof ContainerSender ? 'sender' : 'receiver'}:${lw.name}`;
    if (cw.pendingLinks.get(key) !== lw) return; // its events told the handler already
    cw.pendingLinks.delete(key);
    if (error instanceof AmqpError) {
      log('link %s was not made: %s', lw.name, error.message);
      return;
    }
    this.reportFailure(lw instanceof ContainerSender ? 'createSender' : 'createReceiver', error, cw);
  }

  #linkEvent(
    type: string,
    cw: ContainerConnection,
    lw: ContainerSender | ContainerReceiver,
    session: Session,
    error: AmqpError | undefined,
  ): LinkEvent {
    return {
      type,
      container: this,
      connection: cw,
      session,
      link: lw,
      sender: lw instanceof ContainerSender ? lw : undefined,
      receiver: lw instanceof ContainerReceiver ? lw : undefined,
      error,
    };
  }

  /** A link a peer attached to one of our listeners: accepted at once. */
  #acceptLink(incoming: IncomingLink): void {
    const cw = this.#byConnection.get(incoming.connection);
    if (!cw || cw.closing) {
      incoming.refuse({ condition: 'amqp:connection:forced', description: 'the container is closing' });
      return;
    }
    try {
      if (incoming.role === 'receiver') {
        const rw = new ContainerReceiver(this, cw, incoming.name, undefined);
        cw.pendingLinks.set(`receiver:${incoming.name}`, rw);
        const credit = checkCredit(option([this.handler], 'prefetch') ?? 10);
        this.#bind(cw, incoming.acceptAsReceiver({ credit }));
      } else {
        const sw = new ContainerSender(this, cw, incoming.name, undefined);
        cw.pendingLinks.set(`sender:${incoming.name}`, sw);
        this.#bind(cw, incoming.acceptAsSender());
      }
    } catch (error) {
      // The peer detached before we answered: nothing to accept.
      log('could not accept link %s: %s', incoming.name, error instanceof Error ? error.message : String(error));
    }
  }

  /** A message arrived: onMessage, then autoAccept (or Reject/Release, or a failure). */
  #onDelivery(cw: ContainerConnection, rw: ContainerReceiver, delivery: Delivery): void {
    const receiver = rw.link!;
    let message: Message;
    try {
      message = delivery.message;
    } catch (error) {
      const description = error instanceof Error ? error.message : String(error);
      log('rejecting a message on %s that cannot be decoded: %s', rw.name, description);
      if (!delivery.settled && receiver.isOpen) delivery.reject({ condition: 'amqp:decode-error', description });
      return;
    }
    const handlers: Handlers = [rw.handler, cw.handler, this.handler];
    const autoAccept = option(handlers, 'autoAccept') ?? true;
    const event: MessageEvent = {
      type: 'message',
      container: this,
      connection: cw,
      session: receiver.session,
      link: rw,
      receiver: rw,
      delivery,
      message,
      error: undefined,
    };
    const settle = (thrown: unknown, failed: boolean): void => {
      if (delivery.settled || !receiver.isOpen) return; // settled by the handler, or the link is gone (the peer redelivers)
      if (thrown instanceof Reject) delivery.reject(thrown.error);
      else if (thrown instanceof Release) {
        if (thrown.delivered) delivery.modify(thrown.modify);
        else delivery.release();
      } else if (!autoAccept) return;
      else if (failed)
        delivery.reject({
          condition: 'amqp:internal-error',
          description: `onMessage failed: ${thrown instanceof Error ? thrown.message : String(thrown)}`,
        });
      else delivery.accept();
    };
    const after = (thrown: unknown, failed: boolean): void => {
      if (failed && !(thrown instanceof Reject) && !(thrown instanceof Release)) {
        settle(thrown, true);
        this.reportFailure('onMessage', thrown, cw);
        return;
      }
      settle(thrown, false);
    };
    const h = handlers.find((x) => typeof x?.onMessage === 'function');
    if (!h) {
      settle(undefined, false);
      return;
    }
    let result: unknown;
    try {
      result = h.onMessage!(event);
    } catch (thrown) {
      after(thrown, true);
      return;
    }
    if (isThenable(result))
      result.then(
        () => this.#post(() => after(undefined, false)),
        (thrown: unknown) => this.#post(() => after(thrown, true)),
      );
    else after(undefined, false);
  }
}

/** The first handler (most specific first) that sets `name`. */
function option<K extends 'prefetch' | 'autoAccept'>(handlers: Handlers, name: K): MessagingHandler[K] {
  for (const h of handlers) if (h?.[name] !== undefined) return h[name];
  return undefined;
}

function checkHandler(handler: MessagingHandler | undefined): void {
  if (handler === undefined) return;
  if (typeof handler !== 'object' || handler === null)
    throw new InvalidArgumentError('a handler must be an object with on* methods');
  if (handler.prefetch !== undefined) checkCredit(handler.prefetch);
  if (handler.autoSettle === false)
    throw new InvalidArgumentError(
      'autoSettle: false is not supported: Quark settles a sent message as soon as the peer gives its outcome',
    );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function toAmqpError(error: unknown): AmqpError {
  if (error instanceof AmqpError) return error;
  return new AmqpError('amqp:internal-error', error instanceof Error ? error.message : String(error), { cause: error });
}
