import type { Observable } from 'rxjs';
import type { ErrorCondition, Source, Target } from '../codec/composite-types.js';
import type { EngineDelivery } from '../engine/delivery.js';
import type { EngineLink } from '../engine/link.js';
import { AmqpError, LinkClosedError, type AmqpErrorFields } from '../errors.js';
import { settlersFor, watchCancellation, type CallOptions, type CallSettlers } from './cancellation.js';
import { EventHook } from './event-hook.js';
import type { QuarkEvent } from './events.js';
import type { BodyStream } from './body-stream.js';
import type { Delivery } from './delivery.js';
import type { Tracking } from './sender.js';
import type { Session } from './session.js';

declare module '../engine/endpoint-context.js' {
  /** What the client keeps on its engine's endpoints: its own object for each. */
  interface EndpointContexts {
    session: Session;
    link: Link;
    /** A sent message's tracking; a received message's Delivery, or its body stream before one is handed over. */
    delivery: Tracking | Delivery | BodyStream;
  }
}

/**
 * What senders and receivers share: the attach handshake, detach and close, the link's errors,
 * and its view of the connection's events.
 */
export abstract class Link implements AsyncDisposable {
  /** The session the link belongs to. */
  readonly session: Session;
  /** @internal The engine's link of the connection's current attempt. */
  engineLink: EngineLink;
  /** Why the link ended, once it has. */
  error: AmqpError | undefined;
  /** Listeners of the link's end (made when the first one comes). */
  #closedHook: EventHook<AmqpError | undefined> | undefined;
  #opened: CallSettlers | undefined;
  readonly #closeWaiters: CallSettlers[] = [];
  #ended = false;
  #closing = false;
  /** Waiting for the connection to come back, to attach again. */
  #suspended = false;
  #everOpened = false;
  #events$: Observable<QuarkEvent> | undefined;

  /** @internal */
  constructor(session: Session, engineLink: EngineLink) {
    this.session = session;
    this.engineLink = engineLink;
    engineLink.context = this;
  }

  /** The link's name. */
  get name(): string {
    return this.engineLink.name;
  }

  /** The address messages go to (a sender's target) or come from (a receiver's source). */
  abstract get address(): string | undefined;

  /**
   * How messages and errors name the link: by what the application named, its role and address
   * (`sender to 'orders'`, `receiver from 'replies'`), with the link name only when one was
   * chosen (Quark's own names, `sender-1-<container id>`, say nothing to a reader).
   */
  get label(): string {
    const role = this.engineLink.role;
    const address = this.address;
    // A sender accepted on the listening side has the peer's source (what it receives from) and no target.
    const served = role === 'sender' && address === undefined ? this.engineLink.local.source?.address : undefined;
    const where =
      served !== undefined
        ? ` of '${served}'`
        : address === undefined
          ? role === 'sender'
            ? ' (anonymous relay)'
            : ''
          : ` ${role === 'sender' ? 'to' : 'from'} '${address}'`;
    const name = this.name;
    const chosen = !/^(sender|receiver)-\d+-/.test(name) || !name.endsWith(this.session.connection.containerId);
    return `${role}${chosen ? ` '${name}'` : ''}${where}`;
  }

  /** True from the peer's attach until either end detaches (false while reconnecting). */
  get isOpen(): boolean {
    return this.engineLink.isOpen && !this.#ended && !this.#suspended;
  }

  /** @internal Whether the link waits for the connection to come back, to attach again. */
  get suspended(): boolean {
    return this.#suspended;
  }

  /**
   * @internal Whether the link can still be used: it is open, attaching, or waiting to attach
   * again after a reconnect. False once it has ended.
   */
  get live(): boolean {
    return !this.#ended && !this.#closing;
  }

  /** @internal The connection was lost and will be reconnected: keep what can be kept for the next attach. */
  suspend(): void {
    if (this.#ended || this.#suspended) return;
    if (this.#closing) {
      this.end(undefined); // being closed: the peer forgets it with the connection
      return;
    }
    this.#suspended = true;
    this.onSuspend();
  }

  /** @internal The session has begun again on a new connection: attach again, with the same name and options. */
  resume(): void {
    if (this.#ended || !this.#suspended) return;
    this.#suspended = false;
    const local = this.engineLink.local;
    this.engineLink = this.session.engineSession.createLink(local);
    this.engineLink.context = this;
    this.onResume();
    this.engineLink.open();
  }

  /** @internal The connection was lost: what the subclass keeps, fails or drops of its deliveries. */
  protected abstract onSuspend(): void;

  /** @internal The link is about to attach again on a new connection (credit to grant, sends to replay). */
  protected abstract onResume(): void;

  /** The source as the peer attached it (for a dynamic receiver, its `address` is the new node). */
  get remoteSource(): Source | undefined {
    return this.engineLink.remote?.source;
  }

  /** The target as the peer attached it. */
  get remoteTarget(): Target | undefined {
    const t = this.engineLink.remote?.target;
    return t?.kind === 'target' ? t : undefined;
  }

  /**
   * Calls `listener` once when the link ends, however it ends (closed or detached by either end,
   * or with its session or connection), with the error when it failed (`undefined` when it was
   * closed cleanly); at once if it has ended already. Returns the function that stops listening.
   */
  onClosed(listener: (error: AmqpError | undefined) => void): () => void {
    if (this.#ended) {
      listener(this.error);
      return () => undefined;
    }
    return (this.#closedHook ??= new EventHook()).listen(listener);
  }

  /** Every event of this link (a filtered view of `connection.events$`). */
  get events$(): Observable<QuarkEvent> {
    return (this.#events$ ??= this.session.connection.eventsWhere(
      (e) => 'link' in e && e.link === (this as unknown),
      'link.events$',
    ));
  }

  /** @internal Sends the attach and waits for the peer's. */
  attach(options: CallOptions | undefined): Promise<this> {
    return new Promise<this>((resolve, reject) => {
      const stop = watchCancellation(options, `attaching ${this.label}`, (error) => {
        this.#opened = undefined;
        if (this.#suspended) {
          this.end(undefined); // never attached on the wire: nothing to undo there
        } else {
          // The attach may still arrive: close the link so the peer does not keep it.
          this.engineLink.detach(true);
          this.session.connection.flushOutput();
        }
        reject(error);
      });
      this.#opened = settlersFor(stop, resolve, this, reject);
      try {
        // During a reconnect the link attaches once the connection is back.
        if (this.session.suspended) this.#suspended = true;
        else this.engineLink.open();
      } catch (e) {
        this.#opened = undefined;
        stop();
        reject(e);
      }
    });
  }

  /** @internal Answers the peer's attach (listening side): the link is open at once. */
  acceptAttach(local: Partial<import('../engine/link.js').LinkAttachOptions>): this {
    this.engineLink.open(local);
    this.#everOpened = true;
    this.session.adopt(this);
    this.session.connection.emit({ type: 'linkOpened', link: this as never });
    return this;
  }

  /**
   * @internal The peer attached. An attach with no terminus announces a refusal, and the detach
   * saying why follows (spec 2.6.3); peers send both in one write. Some peers (rhea) omit the
   * terminus without refusing, so if no detach has come by the next turn the link is open.
   */
  onRemoteOpen(): void {
    const remote = this.engineLink.remote;
    const refused =
      this.engineLink.role === 'sender'
        ? remote?.target === undefined && this.engineLink.local.target !== undefined
        : remote?.source === undefined;
    if (refused) {
      setImmediate(() => {
        if (!this.#ended && this.engineLink.isOpen) this.#markOpen();
      });
      return;
    }
    this.#markOpen();
  }

  #markOpen(): void {
    const w = this.#opened;
    this.#opened = undefined;
    w?.resolve();
    if (this.#everOpened) return; // attached again after a reconnect: not a new link
    this.#everOpened = true;
    this.session.connection.emit({ type: 'linkOpened', link: this as never });
  }

  /** @internal The peer detached (the engine has answered). */
  onRemoteClose(error: ErrorCondition | undefined, closed: boolean): void {
    if (this.#closing) {
      this.end(undefined); // The peer answered our detach.
      return;
    }
    if (error) {
      this.end(
        new LinkClosedError(
          error.condition,
          `The peer ${closed ? 'closed' : 'detached'} the ${this.label}: ${error.description ?? error.condition}.`,
          { description: error.description, info: error.info },
        ),
      );
      return;
    }
    // A clean detach ends iterations quietly; what was pending (an attach, sends) still fails.
    const refused = this.#opened !== undefined;
    this.end(
      refused
        ? new LinkClosedError(
            'amqp:not-found',
            `The peer refused the ${this.label} (it answered the attach with no terminus and gave no reason).`,
          )
        : undefined,
      new LinkClosedError(
        'quark:closed-by-peer',
        `The peer ${closed ? 'closed' : 'detached'} the ${this.label} before this completed.`,
      ),
    );
  }

  /**
   * @internal The link ended, for whatever reason: settle every promise. `error` is why (undefined
   * when we closed it); pending operations fail with `pendingError`, or a plain "closed" error.
   */
  end(error: AmqpError | undefined, pendingError?: AmqpError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.error = error;
    const reason =
      pendingError ?? error ?? new LinkClosedError('quark:closed', `The ${this.label} was closed.`, { byPeer: false });
    const opened = this.#opened;
    this.#opened = undefined;
    opened?.reject(reason);
    this.failPending(reason);
    for (const w of this.#closeWaiters.splice(0)) w.resolve();
    this.session.forget(this);
    const closedHook = this.#closedHook;
    if (closedHook !== undefined) {
      closedHook.emit(error);
      closedHook.end();
    }
    this.session.connection.emit({ type: 'linkClosed', link: this as never, error });
  }

  /** @internal Rejects what the subclass still has pending (sends, receives, drains). */
  protected abstract failPending(error: AmqpError): void;

  // What the connection hands a link from its engine's events. Each applies to one role (the
  // engine emits it only for links of that role); the other role keeps these no-ops.

  /** @internal A sender's credit arrived, or the socket drained. */
  sendWaiting(): void {}

  /** @internal A receiver's drain completed. */
  onDrained(): void {}

  /** @internal A whole message arrived on a receiver. */
  onDelivery(_engineDelivery: EngineDelivery): void {}

  /** @internal A streaming receiver's delivery: the bytes of one more transfer. */
  onDeliveryChunk(_engineDelivery: EngineDelivery, _chunk: Uint8Array, _last: boolean): void {}

  /** @internal The sender aborted a message on a receiver. */
  onAborted(_engineDelivery?: EngineDelivery): void {}

  /** @internal The peer changed the state of a delivery on this link, or settled it. */
  abstract onDeliveryUpdate(engineDelivery: EngineDelivery): void;

  /**
   * Closes the link: the peer forgets it (a durable subscription ends). Resolves once the peer
   * has answered. Pending operations fail with `LinkClosedError`.
   * If the signal fires or the timeout passes first, the link is closed on our side anyway.
   */
  close(options?: CallOptions & { error?: AmqpErrorFields }): Promise<void> {
    return this.#detach(true, options);
  }

  /**
   * Detaches the link without closing it: a durable terminus (e.g. a durable subscription) stays
   * on the peer, to be attached again by name. Resolves once the peer has answered. Pending
   * operations fail with `LinkClosedError`.
   *
   * Cancelled by its signal or timeout, the link is detached on our side at once and the peer's
   * answer is no longer awaited: the detach has gone out, so the terminus stays on the peer as
   * it would have. The session and connection stay open.
   */
  detach(options?: CallOptions & { error?: AmqpErrorFields }): Promise<void> {
    return this.#detach(false, options);
  }

  #detach(closed: boolean, options: (CallOptions & { error?: AmqpErrorFields }) | undefined): Promise<void> {
    if (this.#suspended) this.end(undefined); // the peer forgot it with the lost connection
    if (this.#ended || this.engineLink.localState !== 'open') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const stop = watchCancellation(options, `closing the ${this.label}`, (e) => {
        this.end(undefined);
        reject(e);
      });
      this.#closeWaiters.push(settlersFor(stop, resolve, undefined, reject));
      const e = options?.error;
      this.#closing = true;
      this.engineLink.detach(closed, e ? { condition: e.condition, description: e.description } : undefined);
      this.failPending(new LinkClosedError('quark:closed', `The ${this.label} is being closed.`, { byPeer: false }));
      if (this.engineLink.remoteState !== 'open') this.end(undefined);
    });
  }

  /** Closes the link (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
