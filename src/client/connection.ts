/**
 * A connection to an AMQP peer, and `connect()`. The connection owns the engine and its socket
 * transport, routes engine events to sessions and links, and turns every way a connection can
 * end into one typed error that every pending promise receives.
 */
import net from 'node:net';
import type * as tls from 'node:tls';
import { debugLog } from '../runtime/debug-log.js';
import type { Observable } from 'rxjs';
import { BufferPool } from '../collections/buffer-pool.js';
import { LazySubject } from '../rx/lazy-subject.js';
import type { Fields } from '../codec/composite-types.js';
import { ProtocolEngine, type EngineOptions } from '../engine/engine.js';
import type { EngineEvent } from '../engine/events.js';
import type { EngineLink } from '../engine/link.js';
import {
  AmqpError,
  AuthenticationError,
  ConnectionClosedError,
  ConnectionLostError,
  IllegalStateError,
} from '../errors.js';
import { SocketTransport } from '../transport/socket-transport.js';
import { watchCancellation, type CallOptions } from './cancellation.js';
import type { QuarkEvent } from './events.js';
import type { Link } from './link.js';
import type { ReceiverOptions, SenderOptions } from './link-options.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';
import { Session, type SessionOptions } from './session.js';
import { parseUrl } from './url.js';

const log = debugLog('quark:connection');

/** How long `close()` waits for the peer's close before dropping the socket. */
const CLOSE_ANSWER_TIMEOUT_MS = 5000;
/** How long `connect()` waits for the connection to open when the caller gives no timeout. */
const DEFAULT_CONNECT_TIMEOUT_MS = 60000;

/** Options of `connect()`. A `url` sets scheme, host, port and credentials; the other fields override it. */
export interface ConnectOptions extends CallOptions {
  /** `amqp[s]://[user:password@]host[:port]`. */
  url?: string | undefined;
  host?: string | undefined;
  /** Default 5672, or 5671 for TLS. */
  port?: number | undefined;
  /** Use TLS (as `amqps://` does). */
  tls?: boolean | tls.ConnectionOptions | undefined;
  /** SASL PLAIN user name. */
  username?: string | undefined;
  /** SASL PLAIN password. */
  password?: string | undefined;
  /**
   * SASL: the mechanisms allowed, in order of preference, or `false` to skip SASL entirely.
   * Default: PLAIN when a user name is given, else ANONYMOUS.
   */
  sasl?: { mechanisms?: string[] | undefined } | false | undefined;
  /**
   * Allow SASL PLAIN (a clear-text password) on a connection without TLS. Default: allowed only
   * to loopback addresses (localhost, 127.0.0.0/8, ::1).
   */
  allowInsecurePlain?: boolean | undefined;
  /** Our container id. Default: a random UUID. */
  containerId?: string | undefined;
  /** The virtual host to ask for (open's hostname). Default: the host connected to. */
  hostname?: string | undefined;
  /** Connection properties (open's properties), keyed by symbol name. */
  properties?: Fields | undefined;
  offeredCapabilities?: string[] | undefined;
  desiredCapabilities?: string[] | undefined;
  /** Milliseconds of silence after which we consider the peer gone. Default 60000; 0 for none. */
  idleTimeout?: number | undefined;
  /** The largest frame we accept, in bytes. Default 262144. */
  maxFrameSize?: number | undefined;
  /** The highest channel (session) number we accept. Default 65535. */
  channelMax?: number | undefined;
  /** Milliseconds `connect()` waits for the connection to open (TCP, TLS, SASL and open). Default 60000. */
  timeout?: number | undefined;
}

export class Connection implements AsyncDisposable {
  /** @internal */
  readonly engine: ProtocolEngine;
  /** @internal */
  transport: SocketTransport | undefined;
  /** Why the connection ended, once it has. */
  error: AmqpError | undefined;
  readonly #events = new LazySubject<QuarkEvent>();
  #payloadPool: BufferPool | undefined;
  readonly #sessions = new Set<Session>();
  #defaultSession: Promise<Session> | undefined;
  /** The default session once begun, so that it is made again after it ends. */
  #defaultSessionBegun: Session | undefined;
  #opened: { resolve: () => void; reject: (e: AmqpError) => void } | undefined;
  readonly #closeWaiters: (() => void)[] = [];
  #closing = false;
  #ended = false;
  #socketClosed = false;
  #linkCounter = 0;
  /** @internal The listening side's hook for links the peer attaches. */
  onRemoteLink: ((engineLink: EngineLink, session: Session) => void) | undefined;
  /** @internal The listening side's hook for the peer's open. */
  onRemoteOpen: (() => void) | undefined;

  /** @internal Use `connect()` (or `listen()` for incoming connections). */
  constructor(engine: ProtocolEngine) {
    this.engine = engine;
    engine.onEvent = (e) => this.#onEngineEvent(e);
  }

  /** Every event of the connection, its sessions and links, as they happen. */
  get events$(): Observable<QuarkEvent> {
    return this.#events.asObservable();
  }

  /** Our container id. */
  get containerId(): string {
    return this.engine.options.containerId;
  }

  /** The peer's container id (once open). */
  get remoteContainerId(): string | undefined {
    return this.engine.remoteOpen?.containerId;
  }

  /** The peer's connection properties (once open). */
  get remoteProperties(): Fields | undefined {
    return this.engine.remoteOpen?.properties;
  }

  /** The capabilities the peer offers (once open), e.g. `ANONYMOUS-RELAY`. */
  get remoteOfferedCapabilities(): string[] {
    return this.engine.remoteOpen?.offeredCapabilities ?? [];
  }

  /** The peer's open, as received. */
  get remoteOpen(): Readonly<Record<string, unknown>> | undefined {
    return this.engine.remoteOpen as Readonly<Record<string, unknown>> | undefined;
  }

  /** True from the peer's open until the connection closes or is lost. */
  get isOpen(): boolean {
    return !this.#ended && this.engine.localState === 'open' && this.engine.remoteState === 'open';
  }

  /** @internal True while the socket's write buffer is full. */
  get blocked(): boolean {
    return this.transport?.blocked ?? false;
  }

  /**
   * @internal Buffers of this connection's large outgoing messages, reused once written. Made on
   * the first large message; gone with the connection, so nothing outlives it.
   */
  get payloadPool(): BufferPool {
    if (this.#ended) return new BufferPool(0, 0); // keeps nothing: the connection is over
    return (this.#payloadPool ??= new BufferPool(16, 64 * 1024 * 1024));
  }

  /** @internal Emits a public event (only built when someone listens). */
  emit(event: QuarkEvent): void {
    this.#events.next(event);
  }

  /** @internal Whether anyone listens to events (to skip building them). */
  get observed(): boolean {
    return this.#events.observed;
  }

  /** @internal */
  nextLinkName(role: string): string {
    return `${role}-${++this.#linkCounter}-${this.containerId}`;
  }

  /** @internal */
  flushOutput(): void {
    this.transport?.flush();
  }

  /** @internal Throws when the connection cannot take new work. */
  checkOpen(): void {
    if (this.#ended || this.#closing) throw this.error ?? new IllegalStateError('the connection is closed');
  }

  /** @internal Attaches a transport and starts the engine (client side). */
  attachTransport(transport: SocketTransport): void {
    this.transport = transport;
    transport.onDrain = () => {
      for (const session of this.#sessions) for (const link of session.links) if (link instanceof Sender) link.onSendable();
    };
    transport.onClosed = () => this.#onSocketClosed();
  }

  /** @internal Waits for the peer's open. */
  waitOpen(options: CallOptions | undefined, what: string): Promise<this> {
    return new Promise<this>((resolve, reject) => {
      const stop = watchCancellation(options, what, (e) => {
        this.#opened = undefined;
        this.#fail(e);
        this.transport?.destroy();
        reject(e);
      });
      this.#opened = { resolve: () => { stop(); resolve(this); }, reject: (e) => { stop(); reject(e); } };
    });
  }

  /** Creates a session. Resolves once the peer begins it. */
  createSession(options?: SessionOptions): Promise<Session> {
    try {
      this.checkOpen();
      const session = new Session(this, this.engine.createSession({ incomingWindow: options?.incomingWindow }));
      this.#sessions.add(session);
      return session.begin(options);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** The default session, begun on first use by `createSender` and `createReceiver`. */
  defaultSession(options?: CallOptions): Promise<Session> {
    if (!this.#defaultSession) {
      const session = this.createSession(options);
      this.#defaultSession = session;
      // A failed default session is made again next time (and one that ends: see forgetSession).
      session.then(
        (s) => (this.#defaultSessionBegun = s),
        () => {
          if (this.#defaultSession === session) this.#defaultSession = undefined;
        },
      );
    }
    return this.#defaultSession;
  }

  /** Opens a sender on the default session. See `Session.createSender`. */
  async createSender(target: string | null | SenderOptions = {}): Promise<Sender> {
    const session = await this.defaultSession(typeof target === 'object' && target !== null ? target : undefined);
    return session.createSender(target);
  }

  /** Opens a receiver on the default session. See `Session.createReceiver`. */
  async createReceiver(source: string | ReceiverOptions = {}): Promise<Receiver> {
    const session = await this.defaultSession(typeof source === 'object' ? source : undefined);
    return session.createReceiver(source);
  }

  /**
   * Closes the connection: every session and link with it, and the socket. Resolves once the
   * socket has closed (no socket, timer or listener is left). Pending operations fail with
   * `ConnectionClosedError`. Cancelled, the socket is destroyed at once.
   */
  close(options?: CallOptions & { error?: { condition: string; description?: string } }): Promise<void> {
    if (this.#socketClosed || this.transport === undefined) {
      this.#end(undefined);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const stop = watchCancellation(options, 'closing the connection', (e) => {
        this.transport?.destroy();
        reject(e);
      });
      this.#closeWaiters.push(() => {
        stop();
        resolve();
      });
      if (!this.#closing) {
        this.#closing = true;
        this.#end(undefined);
        this.engine.close(options?.error);
        // A peer that never answers our close must not hold the socket: drop it after a while.
        this.#closeTimer = setTimeout(() => this.transport?.destroy(), CLOSE_ANSWER_TIMEOUT_MS);
      }
    });
  }

  #closeTimer: NodeJS.Timeout | undefined;

  /** Closes the connection (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal */
  forgetSession(session: Session): void {
    this.#sessions.delete(session);
    if (session === this.#defaultSessionBegun) {
      // The peer (or we) ended the default session: the next createSender/createReceiver begins a new one.
      this.#defaultSessionBegun = undefined;
      this.#defaultSession = undefined;
    }
  }

  #onEngineEvent(e: EngineEvent): void {
    switch (e.type) {
      case 'connectionRemoteOpen': {
        this.onRemoteOpen?.();
        // A peer refusing a connection sends open then close: resolve only if no close followed.
        queueMicrotask(() => {
          if (this.#ended) return;
          const w = this.#opened;
          this.#opened = undefined;
          w?.resolve();
          this.emit({ type: 'opened', connection: this });
        });
        return;
      }
      case 'saslOutcome':
        if (e.code !== 0) {
          this.#fail(new AuthenticationError(`Authentication failed: the server refused the credentials (SASL outcome ${['ok', 'auth', 'sys', 'sys-perm', 'sys-temp'][e.code] ?? e.code}). Check the user name and password.`));
        }
        return;
      case 'connectionRemoteClose': {
        const err = e.error;
        if (err) this.#fail(new ConnectionClosedError(err.condition, `The peer closed the connection: ${err.description ?? err.condition}.`, { description: err.description, info: err.info }));
        // A clean close by the peer ends iterations quietly; what was pending still fails.
        else if (!this.#closing) this.#end(undefined, new ConnectionClosedError('quark:closed-by-peer', 'The peer closed the connection before this completed.'));
        return;
      }
      case 'protocolError': {
        const auth = e.error.condition === 'amqp:unauthorized-access';
        this.#fail(auth ? new AuthenticationError(e.error.message) : e.error);
        return;
      }
      case 'idleTimeout':
        // The peer went silent: to the user that is a lost connection (reconnect), not a protocol breach.
        this.#fail(new ConnectionLostError(`The connection was lost: the peer sent nothing for ${this.engine.options.idleTimeout ?? 0} ms (the idle timeout).`));
        return;
      case 'connectionFinal':
        if (!this.#closing && !this.error && !this.#ended) this.#fail(new ConnectionLostError('The connection was lost: the peer closed the socket without closing the connection.', this.transport?.error));
        this.#end(this.error);
        return;
      case 'sessionRemoteOpen': {
        let session = e.session.context as Session | undefined;
        if (!session) {
          // The peer began a session (listening side): answer it.
          session = new Session(this, e.session);
          this.#sessions.add(session);
          e.session.open();
        }
        session.onRemoteOpen();
        return;
      }
      case 'sessionRemoteClose':
        (e.session.context as Session | undefined)?.onRemoteClose(e.error);
        return;
      case 'linkRemoteOpen': {
        const link = e.link.context as Link | undefined;
        if (link) link.onRemoteOpen();
        else this.#onPeerLink(e.link);
        return;
      }
      case 'linkRemoteClose':
        (e.link.context as Link | undefined)?.onRemoteClose(e.error, e.closed);
        return;
      case 'linkLocalError': {
        const link = e.link.context as Link | undefined;
        link?.end(new AmqpError(e.error.condition, `Link ${e.link.name} was closed: ${e.error.description ?? e.error.condition}.`));
        return;
      }
      case 'linkFlow':
        (e.link.context as Sender | undefined)?.onSendable();
        return;
      case 'linkDrained':
        (e.link.context as Receiver | undefined)?.onDrained();
        return;
      case 'delivery':
        (e.link.context as Receiver | undefined)?.onDelivery(e.delivery);
        return;
      case 'deliveryAborted':
        (e.link.context as Receiver | undefined)?.onAborted();
        return;
      case 'deliveryRemoteUpdate': {
        const link = e.delivery.link.context;
        if (link instanceof Sender) link.onDeliveryUpdate(e.delivery);
        else if (link instanceof Receiver) link.onDeliveryUpdate(e.delivery);
        return;
      }
      case 'protocolHeader':
      case 'saslInit':
        return;
    }
  }

  /** A link the peer attached that we did not ask for (listening side). */
  #onPeerLink(engineLink: EngineLink): void {
    const session = engineLink.session.context as Session | undefined;
    if (!session || !this.onRemoteLink) {
      engineLink.open({ source: undefined, target: undefined });
      engineLink.detach(true, { condition: 'amqp:not-allowed', description: 'this peer does not accept links' });
      return;
    }
    this.onRemoteLink(engineLink, session);
  }

  /** Records why the connection ended and ends everything with it. */
  #fail(error: AmqpError): void {
    if (this.error) return;
    log('connection failed: %s', error.message);
    this.error = error;
    const w = this.#opened;
    this.#opened = undefined;
    w?.reject(error);
    this.#end(error);
  }

  #end(error: AmqpError | undefined, pendingError?: AmqpError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#payloadPool = undefined; // an application may keep the connection object: not its buffers
    const reason = pendingError ?? error ?? new ConnectionClosedError('quark:closed', 'The connection was closed.', { byPeer: false });
    const w = this.#opened;
    this.#opened = undefined;
    w?.reject(reason);
    for (const session of [...this.#sessions]) session.end(error, reason);
    if (error instanceof ConnectionLostError) this.emit({ type: 'disconnected', connection: this, error });
    this.emit({ type: 'closed', connection: this, error });
  }

  #onSocketClosed(): void {
    this.#socketClosed = true;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    if (!this.#ended && !this.#closing) this.#fail(new ConnectionLostError('The connection was lost: its socket closed.', this.transport?.error));
    this.#end(this.error);
    for (const resolve of this.#closeWaiters.splice(0)) resolve();
    this.#events.complete();
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Connects to an AMQP 1.0 peer and opens the connection. Resolves once the peer's open arrives.
 * Rejects with `ConnectionLostError` when the socket cannot be opened (refused, unreachable, TLS
 * failure), `AuthenticationError` when SASL fails, and `ConnectionClosedError` carrying the peer's
 * condition when the peer refuses the connection. Cancelled by its signal or timeout, the socket
 * is destroyed and nothing is left behind.
 */
export async function connect(urlOrOptions: string | ConnectOptions): Promise<Connection> {
  const options: ConnectOptions = typeof urlOrOptions === 'string' ? { url: urlOrOptions } : urlOrOptions ?? {};
  const parsed = options.url !== undefined ? parseUrl(options.url) : undefined;
  const useTls = options.tls !== undefined ? options.tls !== false : parsed?.scheme === 'amqps';
  const host = options.host ?? parsed?.host ?? 'localhost';
  const port = options.port ?? parsed?.port ?? (useTls ? 5671 : 5672);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new TypeError(`port must be from 1 to 65535, got ${String(port)}`);
  const username = options.username ?? parsed?.username;
  const password = options.password ?? parsed?.password;
  if (username !== undefined && options.sasl !== false && !useTls && !(options.allowInsecurePlain ?? isLoopback(host))) {
    throw new TypeError(`refusing to send a password in clear text to ${host}: use amqps:// (TLS), or set allowInsecurePlain: true`);
  }
  const engineOptions: EngineOptions = {
    role: 'client',
    containerId: options.containerId ?? crypto.randomUUID(),
    hostname: options.hostname ?? host,
    maxFrameSize: options.maxFrameSize,
    channelMax: options.channelMax,
    idleTimeout: options.idleTimeout ?? 60000,
    offeredCapabilities: options.offeredCapabilities,
    desiredCapabilities: options.desiredCapabilities,
    properties: options.properties,
    sasl: options.sasl === false ? false : { username, password, mechanisms: options.sasl?.mechanisms },
  };
  // node:tls is loaded only when used: it costs a process about 1.5 MB.
  const tlsModule = useTls ? await import('node:tls') : undefined;
  const engine = new ProtocolEngine(engineOptions);
  const connection = new Connection(engine);
  const socket = tlsModule
    ? tlsModule.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...(typeof options.tls === 'object' ? options.tls : {}) })
    : net.connect({ host, port });
  const transport = new SocketTransport(engine, socket);
  connection.attachTransport(transport);
  const opened = connection.waitOpen({ signal: options.signal, timeout: options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS }, `connecting to ${host}:${port}`);
  socket.once(useTls ? 'secureConnect' : 'connect', () => engine.open());
  try {
    return await opened;
  } catch (e) {
    if (e instanceof ConnectionLostError && transport.error) {
      const code = (transport.error as NodeJS.ErrnoException).code;
      const reason = code === 'ECONNREFUSED' ? 'connection refused (is the broker running, and on this port?)' : transport.error.message;
      throw new ConnectionLostError(`Could not connect to ${host}:${port}: ${reason}.`, transport.error);
    }
    throw e;
  }
}
