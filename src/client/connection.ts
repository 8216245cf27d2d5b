import net from 'node:net';
import type * as tls from 'node:tls';
import { debugLog } from '../runtime/debug-log.js';
import type { Observable } from 'rxjs';
import { BufferPool } from '../collections/buffer-pool.js';
import type { ErrorCondition, Fields } from '../codec/composite-types.js';
import { checkValuesMode, type ValuesMode } from '../codec/message.js';
import type { AmqpValue } from '../codec/values.js';
import { ProtocolEngine, type EngineOptions } from '../engine/engine.js';
import type { EngineEvent } from '../engine/events.js';
import type { EngineLink } from '../engine/link.js';
import {
  AmqpError,
  type AmqpErrorFields,
  AuthenticationError,
  ConnectionClosedError,
  ConnectionLostError,
  IllegalStateError,
  InsecurePlainError,
  InvalidArgumentError,
  TimeoutError,
  TlsError,
  WebSocketError,
} from '../errors.js';
import { isLoopbackAddress } from '../transport/loopback-address.js';
import { isTlsFailure, tlsFailure } from '../transport/tls-failure.js';
import { SocketTransport } from '../transport/socket-transport.js';
import { DirectReads } from '../transport/direct-reads.js';
import { loadWebSocketModule, type WsModule } from '../transport/websocket-module.js';
import { connectWebSocket } from '../transport/websocket-connect.js';
import { withCallerStack } from './caller-stack.js';
import { refuseUnknownOptions } from '../runtime/known-options.js';
import { CLIENT_MECHANISMS } from '../engine/sasl.js';
import { Requester, type RequesterOptions } from './requester.js';
import type { Transaction } from './transaction.js';
import { Responder, type RequestHandler, type ResponderOptions } from './responder.js';
import { settlersFor, watchCancellation, type CallOptions, type CallSettlers } from './cancellation.js';
import { findConnectConfig, readConnectConfig } from './connect-config.js';
import {
  allowsScram,
  connectTargets,
  targetUrl,
  type ConnectTarget,
  type WebSocketConnectOptions,
} from './connect-targets.js';
import type { QuarkEvent } from './events.js';
import { EventHook } from './event-hook.js';
import type { IncomingConnectionHooks } from './listening-side.js';
import type { ReceiverOptions, SenderOptions } from './link-options.js';
import { reconnectDelay, reconnectPolicy, type ReconnectOptions, type ReconnectPolicy } from './reconnect-policy.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';
import { Session, type SessionOptions } from './session.js';

const log = debugLog('quark:connection');

/** How long `close()` waits for the peer's close before dropping the socket. */
const CLOSE_ANSWER_TIMEOUT_MS = 5000;
/** How long `connect()` waits for the connection to open when the caller gives no timeout. */
const DEFAULT_CONNECT_TIMEOUT_MS = 60000;

/** Who a connection logged in as (see `Connection.authentication`). */
export interface Authentication {
  /** The SASL mechanism used, e.g. `SCRAM-SHA-256`, `EXTERNAL`. */
  mechanism: string;
  /** The user name; on the listening side with EXTERNAL, the client certificate's common name. */
  username?: string | undefined;
  /** On the listening side: the identity the client asked to act as, when it gave one. */
  authzid?: string | undefined;
}

/** The TLS session of a connection (see `Connection.tls`). */
export interface TlsInfo {
  /** The protocol version negotiated, e.g. `TLSv1.3`. */
  protocol: string;
  /** The cipher suite's standard name, e.g. `TLS_AES_256_GCM_SHA384`. */
  cipher: string;
  /** Whether the peer's certificate was verified against the trusted CAs (false when it sent none). */
  authorized: boolean;
  /** Why the peer's certificate did not verify, when it did not. */
  authorizationError?: string | undefined;
  /** The peer's certificate, when it sent one. */
  peerCertificate?: tls.DetailedPeerCertificate | undefined;
}

/**
 * Options of `connect()`. A `url` sets scheme, host, port and credentials; the other fields
 * override it. `urls` is a failover list instead.
 */
export interface ConnectOptions extends CallOptions {
  /**
   * `amqp[s]://[user:password@]host[:port]`, or AMQP over WebSocket:
   * `ws[s]://[user:password@]host[:port][/path]` (see `websocket`). With no `url`, `urls` or
   * `host`, the peer comes from Qpid Proton's connection configuration file when one is found
   * (see `connect()`), else it is `amqp://localhost:5672`.
   */
  url?: string | undefined;
  /**
   * Peers to fail over between, tried in order and then round robin, e.g.
   * `['amqp://a:5672', 'amqps://user:pw@b:5671']`. Each URL's scheme and credentials apply to it
   * (`username`/`password` are the defaults). Not with `url`, `host` or `port`.
   */
  urls?: string[] | undefined;
  /** The host to connect to (instead of a URL). Default `localhost`. */
  host?: string | undefined;
  /** Default 5672, or 5671 for TLS. */
  port?: number | undefined;
  /** Use TLS (as `amqps://` and `wss://` do), with these options. */
  tls?: boolean | tls.ConnectionOptions | undefined;
  /**
   * For `ws://` and `wss://` URLs (AMQP over WebSocket, needing the optional `ws` package):
   * extra HTTP headers of the upgrade, and the `http.Agent` to go through (a proxy). Refused when
   * no URL given is a WebSocket one.
   */
  websocket?: WebSocketConnectOptions | undefined;
  /** The user name to log in with (SCRAM or PLAIN). */
  username?: string | undefined;
  /** The password to log in with (SCRAM or PLAIN). */
  password?: string | undefined;
  /**
   * SASL: the mechanisms allowed, in order of preference, and the identity to act as (`authzid`);
   * or `false` to skip SASL entirely. Quark runs EXTERNAL, SCRAM-SHA-512, SCRAM-SHA-256,
   * SCRAM-SHA-1, PLAIN and ANONYMOUS. Default: with a user name the SCRAM mechanisms strongest
   * first, then PLAIN; with a TLS client certificate (`tls.cert`) and no user name EXTERNAL, then
   * ANONYMOUS; otherwise ANONYMOUS. The first the server offers is used.
   */
  sasl?:
    | {
        /** The mechanisms allowed, in order of preference. */
        mechanisms?: string[] | undefined;
        /** The identity to act as, when it is not the user name's (PLAIN and SCRAM carry it). */
        authzid?: string | undefined;
      }
    | false
    | undefined;
  /**
   * Allow SASL PLAIN (a clear-text password) on a connection without TLS. Default: allowed only
   * when the peer's address is a loopback address (127.0.0.0/8, ::1), decided from the address the
   * host name resolves to, not from the name. `false` refuses it everywhere.
   */
  allowInsecurePlain?: boolean | undefined;
  /**
   * Resolves a host name to its IP addresses, when Quark must know them before connecting (a
   * clear-text password is sent only when every one is a loopback address; the socket then goes
   * to those addresses only). Default: `dns.promises.lookup(hostname, { all: true })`.
   */
  lookup?: ((hostname: string) => Promise<string | string[]>) | undefined;
  /** Our container id, the same on every reconnect. Default: a random UUID. */
  containerId?: string | undefined;
  /** The virtual host to ask for (open's hostname). Default: the host connected to. */
  hostname?: string | undefined;
  /** Connection properties (open's properties), keyed by symbol name. */
  properties?: Fields | undefined;
  /** Capabilities we offer the peer (open's offered-capabilities), as symbol names. */
  offeredCapabilities?: string[] | undefined;
  /** Capabilities we would like the peer to have (open's desired-capabilities): see `connection.remoteOfferedCapabilities`. */
  desiredCapabilities?: string[] | undefined;
  /**
   * How receivers give message values unless they say otherwise: `'native'` (the default:
   * numbers, plain objects, strings, `Date`s, `Buffer`s) or `'exact'` (every AMQP type kept).
   */
  values?: ValuesMode | undefined;
  /**
   * Give `send()` failures the stack of the application's `await` (where it called `send`), not
   * of the socket callback in which Quark found the failure. Costs about a microsecond per send,
   * so it is off by default; `connect()` and the connection's `createSender()` and
   * `createReceiver()` always do it.
   */
  callerStacks?: boolean | undefined;
  /**
   * Milliseconds of silence after which we consider the peer gone (a frozen peer or a dead
   * network path); the connection is then lost, and reconnected when `reconnect` is on.
   * Default 60000; 0 for none.
   */
  idleTimeout?: number | undefined;
  /** The largest frame we accept, in bytes. Default 262144. */
  maxFrameSize?: number | undefined;
  /** The highest channel (session) number we accept. Default 65535. */
  channelMax?: number | undefined;
  /**
   * Milliseconds `connect()` waits for the connection to open (TCP, TLS, SASL and open).
   * Default 60000; none with `reconnect.retryFirstConnect`.
   */
  timeout?: number | undefined;
  /**
   * Reconnect when the connection is lost or the peer closes it: `true` (the default) with the
   * default backoff, an object to tune it, or `false` to let the connection end. Reconnecting
   * starts once the connection has opened; the first `connect()` fails fast unless
   * `retryFirstConnect` is set. Authentication failures (`amqp:unauthorized-access`) are never
   * retried. `amqp:connection:redirect` is followed.
   */
  reconnect?: boolean | ReconnectOptions | undefined;
}

/** Where the connection is in its life. */
type Phase =
  /** An attempt (the first or a reconnect) is under way. */
  | 'connecting'
  /** The peer's open arrived on the current attempt. */
  | 'open'
  /** Waiting out the backoff before the next attempt. */
  | 'waiting'
  /** `close()` was called on an open connection: waiting for the peer's close and the socket. */
  | 'closing'
  /** Over: nothing more will be tried. */
  | 'ended';

/** How a client connection makes its attempts; the listening side has none. */
interface ConnectPlan {
  readonly targets: ConnectTarget[];
  readonly engineOptions: EngineOptions;
  /** The `hostname` option, when given (else each attempt asks for the host it connects to). */
  readonly hostname: string | undefined;
  readonly policy: ReconnectPolicy | undefined;
  readonly tlsModule: typeof tls | undefined;
  /** The `ws` package, when a target is a WebSocket one. */
  readonly wsModule: WsModule | undefined;
  /** Resolves a host name to the addresses the connection would go to. */
  readonly lookup: (hostname: string) => Promise<string | string[]>;
}

/** One engine and its socket: what a connection attempt makes. */
interface Attempt {
  readonly engine: ProtocolEngine;
  transport: SocketTransport | undefined;
  target: ConnectTarget | undefined;
  /** The peer's open has arrived. */
  opened: boolean;
  /** The attempt has failed or was lost; its engine's events are no longer heard. */
  over: boolean;
}

/**
 * A connection to an AMQP peer (made by {@link connect}). The connection owns the engine and the socket
 * transport of its current attempt, routes engine events to sessions and links, and turns every
 * way a connection can end into one typed error that every pending promise receives.
 *
 * A client connection outlives its sockets: when one is lost (or the peer closes it), a fresh
 * engine and transport are made for the next attempt, and the same Connection, Session, Sender
 * and Receiver objects attach themselves again (see `reconnect` in {@link ConnectOptions}).
 */
export class Connection implements AsyncDisposable {
  /** Why the connection ended, once it has. */
  error: AmqpError | undefined;
  readonly #events = new EventHook<QuarkEvent>();
  #payloadPool: BufferPool | undefined;
  readonly #sessions = new Set<Session>();
  #defaultSession: Promise<Session> | undefined;
  /** The default session once begun, so that it is made again after it ends. */
  #defaultSessionBegun: Session | undefined;
  #opened: CallSettlers | undefined;
  readonly #closeWaiters: (() => void)[] = [];
  #phase: Phase = 'connecting';
  #linkCounter = 0;
  #attempt: Attempt;
  /** Sockets of this connection that have not closed yet (the current one, and lost ones closing). */
  readonly #transports = new Set<SocketTransport>();
  #plan: ConnectPlan | undefined;
  /** Whether an attempt has ever opened (reconnecting starts only then, unless asked otherwise). */
  #everOpened = false;
  /** Attempts made in the current outage. */
  #attempts = 0;
  /** Index in `#plan.targets` of the last target tried. */
  #targetIndex = 0;
  /** Where the peer's `amqp:connection:redirect` sent us, for the next attempt. */
  #redirect: ConnectTarget | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attemptTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  /** The listening side's hook, on a connection a peer opened to a listener. */
  readonly #incoming: IncomingConnectionHooks | undefined;

  /** @internal Use `connect()` (or `listen()` for incoming connections). */
  constructor(engine: ProtocolEngine, incoming?: IncomingConnectionHooks) {
    this.#incoming = incoming;
    this.#attempt = this.#newAttempt(engine, undefined);
  }

  /** @internal A connection a peer opened to a listener, on `transport`; `hooks` tell the listening side what happens. */
  static incoming(engine: ProtocolEngine, transport: SocketTransport, hooks: IncomingConnectionHooks): Connection {
    const connection = new Connection(engine, hooks);
    connection.#attachTransport(transport);
    return connection;
  }

  #authentication: Authentication | undefined;

  /** How this connection's receivers give message values unless they say otherwise (see `ConnectOptions.values`). */
  values: ValuesMode = 'native';

  /** @internal Whether `send()` failures carry the caller's stack (see `ConnectOptions.callerStacks`). */
  callerStacks = false;

  /** @internal The engine of the current attempt. */
  get engine(): ProtocolEngine {
    return this.#attempt.engine;
  }

  /** @internal The socket transport of the current attempt, while it has one. */
  get transport(): SocketTransport | undefined {
    return this.#attempt.transport;
  }

  /** Every event of the connection, its sessions and links, as they happen (an RxJS view of {@link Connection.onEvent}). */
  get events$(): Observable<QuarkEvent> {
    return this.#events.asObservable('connection.events$');
  }

  /**
   * Calls `listener` with every event of the connection, its sessions and links, as they happen
   * (what `events$` emits, without rxjs), and `onEnd` once the connection is over and its socket
   * closed (at once if it is already). Returns the function that stops listening. An error a
   * listener throws does not reach the connection: it is thrown again on its own (as rxjs does),
   * an uncaught exception. While anyone listens, an event is built for every message, so stop
   * when done.
   */
  onEvent(listener: (event: QuarkEvent) => void, onEnd?: () => void): () => void {
    return this.#events.listen(listener, onEnd);
  }

  /** @internal An RxJS view of the events `accept` takes (a link's `events$`). */
  eventsWhere(accept: (event: QuarkEvent) => boolean, feature = 'connection.events$'): Observable<QuarkEvent> {
    return this.#events.asObservable(feature, accept);
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
    return this.#phase === 'open' && this.engine.localState === 'open' && this.engine.remoteState === 'open';
  }

  /** True while a lost connection is being reconnected (between `disconnected` and `reconnected`). */
  get reconnecting(): boolean {
    return this.#everOpened && (this.#phase === 'connecting' || this.#phase === 'waiting');
  }

  /** The URL of the peer of the current (or last) attempt, without its password; undefined on the listening side. */
  get url(): string | undefined {
    return this.#attempt.target?.url;
  }

  /**
   * Who this connection logged in as, once SASL succeeded: the mechanism, and the user name
   * (on the listening side, the identity the client proved: its user name, or its certificate's
   * common name for EXTERNAL). Undefined without SASL.
   */
  get authentication(): Authentication | undefined {
    return this.#authentication;
  }

  /** @internal Set by the listening side once a client is authenticated. */
  set authentication(value: Authentication | undefined) {
    this.#authentication = value;
  }

  /**
   * The TLS session of the current socket: protocol, cipher, whether the peer's certificate was
   * verified, and the certificate. Undefined on plain TCP and between attempts.
   */
  get tls(): TlsInfo | undefined {
    const socket = this.transport?.socket as tls.TLSSocket | undefined;
    if (!socket || (socket as { encrypted?: boolean }).encrypted !== true || socket.destroyed) return undefined;
    const certificate = socket.getPeerCertificate(true);
    const info: TlsInfo = {
      protocol: socket.getProtocol() ?? 'unknown',
      cipher: socket.getCipher()?.standardName ?? 'unknown',
      authorized: socket.authorized,
      peerCertificate: certificate && Object.keys(certificate).length > 0 ? certificate : undefined,
    };
    if (socket.authorizationError) info.authorizationError = String(socket.authorizationError);
    return info;
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
    if (this.#phase === 'ended') return new BufferPool(0, 0); // keeps nothing: the connection is over
    return (this.#payloadPool ??= new BufferPool(16, 64 * 1024 * 1024));
  }

  /** @internal Emits a public event (only built when someone listens). */
  emit(event: QuarkEvent): void {
    this.#events.emit(event);
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
    if (this.#phase === 'ended' || this.#phase === 'closing')
      throw this.error ?? new IllegalStateError('the connection is closed');
  }

  /**
   * @internal Whether sessions can begin on the current engine now: it is open, or it is the
   * first attempt (frames wait in the engine until its open has gone out). During a reconnect,
   * sessions and links wait to be attached again once it opens.
   */
  get live(): boolean {
    return this.#phase === 'open' || (this.#phase === 'connecting' && !this.#everOpened && !this.#attempt.over);
  }

  /** Attaches a transport to the current engine (the listening side, and each attempt). */
  #attachTransport(transport: SocketTransport): void {
    const attempt = this.#attempt;
    attempt.transport = transport;
    this.#transports.add(transport);
    transport.onDrain = () => {
      if (this.#attempt !== attempt) return;
      for (const session of this.#sessions)
        for (const link of session.links) if (link instanceof Sender) link.sendWaiting();
    };
    transport.onClosed = () => {
      this.#transports.delete(transport);
      if (this.#attempt === attempt && !attempt.over) this.#onLost(attempt, this.#socketLostError(attempt));
      this.#finishIfDone();
      this.#incoming?.socketClosed();
    };
  }

  /** @internal Starts a client connection: its first attempt, and the reconnects after it. */
  start(plan: ConnectPlan, options: CallOptions): Promise<this> {
    this.#plan = plan;
    const opened = this.#waitOpen(options, `connecting to ${plan.targets[0]!.url}`);
    this.#startAttempt(plan.targets[0]!, this.engine);
    return opened;
  }

  #waitOpen(options: CallOptions, what: string): Promise<this> {
    return new Promise<this>((resolve, reject) => {
      const stop = watchCancellation(options, what, (e) => {
        this.#opened = undefined;
        this.#fail(e);
        reject(e);
      });
      this.#opened = settlersFor(stop, resolve, this, reject);
    });
  }

  #newAttempt(engine: ProtocolEngine, target: ConnectTarget | undefined): Attempt {
    const attempt: Attempt = { engine, transport: undefined, target, opened: false, over: false };
    engine.onEvent = (e) => {
      if (this.#attempt === attempt && !attempt.over) this.#onEngineEvent(attempt, e);
    };
    this.#attempt = attempt;
    return attempt;
  }

  /** Opens a socket to `target` for a new attempt (the first one's engine exists already). */
  #startAttempt(target: ConnectTarget, firstEngine?: ProtocolEngine): void {
    const plan = this.#plan!;
    const engine = firstEngine ?? new ProtocolEngine(engineOptionsFor(plan, target));
    const attempt = firstEngine ? this.#attempt : this.#newAttempt(engine, target);
    attempt.target = target;
    this.#phase = 'connecting';
    log('connecting to %s', target.url);
    if (target.passwordInClear && net.isIP(target.host) === 0) {
      // A clear-text password goes only to a loopback address: resolve the name first, and
      // decide by the address (a name such as 127.0.0.1.example is not loopback).
      plan.lookup(target.host).then(
        (found) => {
          if (this.#attempt !== attempt || attempt.over || this.#phase !== 'connecting') return;
          const addresses = typeof found === 'string' ? [found] : found;
          const remote = addresses.length === 0 ? '(no address)' : addresses.find((a) => !isLoopbackAddress(a));
          if (remote === undefined || this.#holdPlainBack(engine, target, remote))
            this.#openSocket(engine, target, addresses); // to exactly the addresses checked
          else this.#onLost(attempt, insecurePlainError(target, remote));
        },
        (e: unknown) => {
          if (this.#attempt === attempt && !attempt.over)
            this.#onLost(
              attempt,
              new ConnectionLostError(
                `Could not connect to ${target.url}: the name ${target.host} could not be resolved (${(e as Error).message}).`,
                e,
              ),
            );
        },
      );
    } else if (
      target.passwordInClear &&
      !isLoopbackAddress(target.host) &&
      !this.#holdPlainBack(engine, target, target.host)
    ) {
      this.#onLost(attempt, insecurePlainError(target, target.host));
      return;
    } else {
      this.#openSocket(engine, target, undefined);
    }
    if (plan.policy && (this.#everOpened || plan.policy.retryFirstConnect)) {
      const timeout = plan.policy.attemptTimeout;
      this.#attemptTimer = setTimeout(() => {
        this.#attemptTimer = undefined;
        if (this.#attempt !== attempt || attempt.opened || attempt.over) return;
        this.#onLost(
          attempt,
          new ConnectionLostError(
            `Could not connect to ${target.url}: no answer within ${timeout} ms (reconnect.attemptTimeout).`,
          ),
        );
      }, timeout);
    }
  }

  /**
   * Opens the attempt's socket to the target; with `addresses`, to those only (the ones the host
   * name resolved to and that were checked), not to what a second resolution might give.
   */
  #openSocket(engine: ProtocolEngine, target: ConnectTarget, addresses: string[] | undefined): void {
    const servername = net.isIP(target.host) ? undefined : target.host;
    const lookup = addresses === undefined ? undefined : fixedLookup(addresses);
    if (target.websocket !== undefined) {
      const stream = connectWebSocket(this.#plan!.wsModule!, {
        host: target.host,
        port: target.port,
        ...target.websocket,
        tls: target.tls,
        servername,
        lookup,
      });
      this.#attachTransport(new SocketTransport(engine, stream));
      stream.whenOpen(() => engine.open());
      return;
    }
    // TLS sockets read through the stream: Node's `onread` is for plain TCP.
    const directReads = target.tls ? undefined : new DirectReads();
    const socket = target.tls
      ? this.#plan!.tlsModule!.connect({ host: target.host, port: target.port, servername, lookup, ...target.tls })
      : net.connect({ host: target.host, port: target.port, lookup, ...directReads!.socketOptions });
    this.#attachTransport(new SocketTransport(engine, socket, directReads));
    socket.once(target.tls ? 'secureConnect' : 'connect', () => engine.open());
  }

  /**
   * A peer that is not this machine, without TLS: the password may go only through SCRAM (which
   * never sends it). Returns false when no SCRAM mechanism is allowed (then nothing is sent).
   */
  #holdPlainBack(engine: ProtocolEngine, target: ConnectTarget, address: string): boolean {
    const sasl = engine.options.sasl;
    if (!sasl || !allowsScram(sasl, target.username)) return false;
    sasl.refusePlain ??= `${insecurePlainError(target, address).message.replace(/: use amqps/, ', and the server offers no SCRAM mechanism: use amqps')}`;
    return true;
  }

  /** The error of a socket that closed under an attempt. */
  #socketLostError(attempt: Attempt): AmqpError {
    const cause = attempt.transport?.error;
    if (cause instanceof WebSocketError) return cause;
    if (attempt.opened)
      return new ConnectionLostError(
        `The connection to ${attempt.target?.url ?? 'the peer'} was lost: its socket closed${cause ? ` (${cause.message})` : ''}.`,
        cause,
      );
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const where = attempt.target ? `${attempt.target.host}:${attempt.target.port}` : 'the peer';
    if (cause && attempt.target?.tls && isTlsFailure(cause)) return tlsFailure(cause, where);
    const reason =
      code === 'ECONNREFUSED'
        ? 'connection refused (is the broker running, and on this port?)'
        : (cause?.message ?? 'the peer closed the socket before the connection opened');
    return new ConnectionLostError(`Could not connect to ${where}: ${reason}.`, cause);
  }

  /**
   * Creates a session. Resolves once the peer begins it. Cancelled by its signal or timeout
   * before that, the session is ended again: if its begin went out, an end follows it (the peer
   * may have begun the session and then ends it), and nothing of it is left on our side. The
   * connection stays open.
   */
  createSession(options?: SessionOptions): Promise<Session> {
    try {
      checkSessionOptions(options);
      this.checkOpen();
      const session = new Session(this, options?.incomingWindow);
      this.#sessions.add(session);
      return session.begin(options);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** The default session, begun on first use by `createSender` and `createReceiver`. */
  defaultSession(options?: CallOptions): Promise<Session> {
    if (!this.#defaultSession) {
      // Only the call's own options: a link's options (credit, ...) are not the session's.
      const session = this.createSession(options && { signal: options.signal, timeout: options.timeout });
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

  /**
   * Opens a sender on the default session: `createSender('orders', { inDoubt: 'resend' })`, or
   * with every option in one object. See `Session.createSender`.
   */
  async createSender(target: string | null | SenderOptions = {}, options?: SenderOptions): Promise<Sender> {
    try {
      return await this.#createSender(target, options);
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  /**
   * Begins a transaction on the default session (the one `createSender()` and `createReceiver()`
   * use). See `Session.beginTransaction`, which says what a cancelled call leaves behind.
   */
  async beginTransaction(options?: CallOptions): Promise<Transaction> {
    const session = await this.defaultSession(options);
    return session.beginTransaction(options);
  }

  /**
   * Makes a requester: requests sent to `address`, each resolved with its reply, which comes to
   * a dynamic queue of ours (`reply-to`) carrying the request's correlation id.
   *
   * Cancelled by its signal (or a failure of either link), nothing is left: a link already
   * attached is closed again. Its `timeout` is each request's default, not this call's.
   *
   * @example
   * const requester = await conn.createRequester('rpc');
   * const reply = await requester.request({ body: 'ping' }, { timeout: 5000 });
   */
  async createRequester(address: string, options: RequesterOptions & CallOptions = {}): Promise<Requester> {
    try {
      if (typeof address !== 'string' || address === '')
        throw new InvalidArgumentError('createRequester needs the address requests go to');
      refuseUnknownOptions(options, REQUESTER_OPTIONS, 'createRequester');
      const call = { signal: options.signal };
      const sender = await this.#createSender(address, call);
      // Credit follows the requester's own subscription of replies (see Requester).
      const receiver = await this.#createReceiver<AmqpValue>(
        { source: { dynamic: true }, credit: 0, signal: options.signal },
        undefined,
      ).catch(async (e: unknown) => {
        await sender.close().catch(() => undefined);
        throw e;
      });
      return new Requester(sender, receiver, { timeout: options.timeout });
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  /**
   * Makes a responder: takes requests from `address`, runs `handler` for each, and sends the
   * message it returns to the request's `reply-to` with the request's correlation id. A request is
   * accepted once its reply was; a failed handler gives it back as `options.onError` says.
   *
   * @example
   * const responder = await conn.createResponder('rpc', (request) => ({ body: String(request.body).toUpperCase() }));
   */
  async createResponder(address: string, handler: RequestHandler, options: ResponderOptions = {}): Promise<Responder> {
    try {
      if (typeof address !== 'string' || address === '')
        throw new InvalidArgumentError('createResponder needs the address requests come from');
      if (typeof handler !== 'function')
        throw new InvalidArgumentError('createResponder needs a handler that makes the reply to each request');
      refuseUnknownOptions(options, RESPONDER_OPTIONS, 'createResponder');
      const receiver = await this.#createReceiver<AmqpValue>({ source: address, credit: 0 }, undefined);
      // Replies go through the peer's anonymous relay when it has one; else one sender per reply-to address.
      const caps = this.remoteOpen?.offeredCapabilities;
      const relay =
        Array.isArray(caps) && caps.includes('ANONYMOUS-RELAY') ? this.#createSender(null, undefined) : undefined;
      relay?.catch(() => undefined);
      const senders = new Map<string, Promise<Sender>>();
      const replies = (to: string): Promise<Sender> => {
        if (relay) return relay;
        let sender = senders.get(to);
        if (!sender) {
          sender = this.#createSender(to, undefined);
          senders.set(to, sender);
          sender.catch(() => senders.delete(to));
        }
        return sender;
      };
      const closeSenders = async (): Promise<void> => {
        const all = relay ? [relay] : [...senders.values()];
        await Promise.all(all.map((p) => p.then((s) => s.close()).catch(() => undefined)));
      };
      return new Responder(receiver, replies, closeSenders, handler, options);
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  async #createSender(target: string | null | SenderOptions, options: SenderOptions | undefined): Promise<Sender> {
    const callOptions = options ?? (typeof target === 'object' && target !== null ? target : undefined);
    const session = await this.defaultSession(callOptions);
    return session.createSender(target, options);
  }

  /**
   * Opens a receiver on the default session: `createReceiver('orders', { credit: 10 })`, or with
   * every option in one object. See `Session.createReceiver`.
   */
  async createReceiver<Body = AmqpValue>(
    source: string | ReceiverOptions = {},
    options?: ReceiverOptions,
  ): Promise<Receiver<Body>> {
    try {
      return await this.#createReceiver<Body>(source, options);
    } catch (e) {
      throw withCallerStack(e);
    }
  }

  async #createReceiver<Body>(
    source: string | ReceiverOptions,
    options: ReceiverOptions | undefined,
  ): Promise<Receiver<Body>> {
    const callOptions = options ?? (typeof source === 'object' ? source : undefined);
    const session = await this.defaultSession(callOptions);
    return session.createReceiver(source, options);
  }

  /**
   * Closes the connection: every session and link with it, and the socket. Resolves once the
   * socket has closed (no socket, timer or listener is left). Pending operations fail with
   * `ConnectionClosedError`. During a reconnect it stops reconnecting at once. Cancelled, the
   * socket is destroyed at once.
   */
  close(options?: CallOptions & { error?: AmqpErrorFields }): Promise<void> {
    if (this.#phase === 'ended' && this.#transports.size === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const stop = watchCancellation(options, 'closing the connection', (e) => {
        for (const t of this.#transports) t.destroy();
        reject(e);
      });
      this.#closeWaiters.push(() => {
        stop();
        resolve();
      });
      // The listening side closes with AMQP even before the peer's open has been handled.
      if (this.#phase === 'open' || (this.#plan === undefined && this.#phase === 'connecting')) {
        this.#phase = 'closing';
        this.#end(undefined);
        const e = options?.error;
        this.engine.close(
          e && { condition: e.condition, description: e.description, info: e.info as ErrorCondition['info'] },
        );
        // A peer that never answers our close must not hold the socket: drop it after a while.
        this.#closeTimer = setTimeout(() => this.transport?.destroy(), CLOSE_ANSWER_TIMEOUT_MS);
      } else if (this.#phase === 'connecting' || this.#phase === 'waiting') {
        // Nothing is open on the wire: stop trying, and drop the socket of the attempt under way.
        const attempt = this.#attempt;
        attempt.over = true;
        this.#stopTimers();
        this.#phase = 'ended';
        attempt.transport?.destroy();
        this.#end(undefined);
      }
      this.#finishIfDone();
    });
  }

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

  #onEngineEvent(attempt: Attempt, e: EngineEvent): void {
    switch (e.type) {
      case 'connectionRemoteOpen': {
        this.#incoming?.remoteOpen();
        // A peer refusing a connection sends open then close: go on only if no close followed.
        queueMicrotask(() => {
          if (this.#attempt === attempt && !attempt.over && this.#phase !== 'ended') this.#onOpened(attempt);
        });
        return;
      }
      case 'saslOutcome':
        if (e.code === 0 && this.#plan) {
          const mechanism = this.engine.saslMechanism ?? '';
          const username = mechanism === 'ANONYMOUS' || mechanism === 'EXTERNAL' ? undefined : attempt.target?.username;
          this.#authentication = username === undefined ? { mechanism } : { mechanism, username };
        }
        if (e.code === 4) {
          // sys-temp: the server cannot take us now (a limit such as its connection count); retried.
          this.#onLost(
            attempt,
            new ConnectionClosedError(
              'amqp:resource-limit-exceeded',
              'The server could not take the connection now (SASL outcome sys-temp: a transient condition such as its connection limit); reconnect tries again.',
            ),
          );
        } else if (e.code !== 0) {
          this.#onLost(
            attempt,
            new AuthenticationError(
              `Authentication failed: the server refused the credentials (SASL outcome ${['ok', 'auth', 'sys', 'sys-perm', 'sys-temp'][e.code] ?? e.code}). Check the user name and password.`,
            ),
          );
        }
        return;
      case 'connectionRemoteClose': {
        if (this.#phase === 'closing') return; // the peer answered our close
        const err = e.error;
        if (err === undefined && this.#plan === undefined) {
          // The listening side: a client that closes cleanly just leaves. Iterations end quietly;
          // what was pending still fails.
          attempt.over = true;
          this.#phase = 'ended';
          this.#end(
            undefined,
            new ConnectionClosedError('quark:closed-by-peer', 'The peer closed the connection before this completed.'),
          );
          this.#finishIfDone();
          return;
        }
        if (err?.condition === 'amqp:connection:redirect') this.#redirect = this.#redirectTarget(attempt, err);
        const error = err
          ? new ConnectionClosedError(
              err.condition,
              `The peer closed the connection: ${err.description ?? err.condition}.`,
              { description: err.description, info: err.info },
            )
          : new ConnectionClosedError(
              'quark:closed-by-peer',
              'The peer closed the connection (without giving a reason).',
            );
        this.#onLost(attempt, error);
        return;
      }
      case 'protocolError': {
        const auth = e.error.condition === 'amqp:unauthorized-access';
        this.#onLost(attempt, auth ? new AuthenticationError(e.error.message) : e.error);
        return;
      }
      case 'idleTimeout':
        // The peer went silent: to the user that is a lost connection (reconnect), not a protocol breach.
        this.#onLost(
          attempt,
          new ConnectionLostError(
            `The connection was lost: the peer sent nothing for ${this.engine.options.idleTimeout ?? 0} ms (the idle timeout).`,
          ),
        );
        return;
      case 'connectionFinal':
        if (this.#phase !== 'closing' && this.#phase !== 'ended') {
          // A WebSocket failure says what broke (a text message, a protocol error) however late it comes.
          const lost = attempt.opened && !(attempt.transport?.error instanceof WebSocketError);
          this.#onLost(
            attempt,
            lost
              ? new ConnectionLostError(
                  'The connection was lost: the peer closed the socket without closing the connection.',
                  attempt.transport?.error,
                )
              : this.#socketLostError(attempt),
          );
        }
        return;
      case 'sessionRemoteOpen': {
        let session = e.session.context;
        if (!session) {
          // The peer began a session (listening side): answer it.
          session = new Session(this, undefined, e.session);
          this.#sessions.add(session);
          e.session.open();
        }
        session.onRemoteOpen();
        return;
      }
      case 'sessionRemoteClose':
        e.session.context?.onRemoteClose(e.error);
        return;
      case 'linkRemoteOpen': {
        const link = e.link.context;
        if (link) link.onRemoteOpen();
        else this.#onPeerLink(e.link);
        return;
      }
      case 'linkRemoteClose':
        e.link.context?.onRemoteClose(e.error, e.closed);
        return;
      case 'linkLocalError': {
        const link = e.link.context;
        link?.end(
          new AmqpError(
            e.error.condition,
            `Link ${e.link.name} was closed: ${e.error.description ?? e.error.condition}.`,
          ),
        );
        return;
      }
      case 'linkFlow':
        e.link.context?.sendWaiting();
        return;
      case 'linkDrained':
        e.link.context?.onDrained();
        return;
      case 'delivery':
        e.link.context?.onDelivery(e.delivery);
        return;
      case 'deliveryAborted':
        e.link.context?.onAborted(e.delivery);
        return;
      case 'deliveryChunk':
        e.link.context?.onDeliveryChunk(e.delivery, e.chunk, e.last);
        return;
      case 'deliveryRemoteUpdate': {
        e.delivery.link.context?.onDeliveryUpdate(e.delivery);
        return;
      }
      case 'saslInit':
        this.#incoming?.saslInit(e.mechanism, e.initialResponse, e.hostname);
        return;
      case 'saslResponse':
        this.#incoming?.saslResponse(e.response);
        return;
      case 'protocolHeader':
        return;
    }
  }

  /** A link the peer attached that we did not ask for (listening side). */
  #onPeerLink(engineLink: EngineLink): void {
    const session = engineLink.session.context;
    if (!session || !this.#incoming) {
      engineLink.open({ source: undefined, target: undefined });
      engineLink.detach(true, { condition: 'amqp:not-allowed', description: 'this peer does not accept links' });
      return;
    }
    this.#incoming.remoteLink(engineLink, session);
  }

  /** The peer's open arrived on `attempt`: the connection is usable (again). */
  #onOpened(attempt: Attempt): void {
    attempt.opened = true;
    if (this.#attemptTimer !== undefined) clearTimeout(this.#attemptTimer);
    this.#attemptTimer = undefined;
    this.#phase = 'open';
    this.#attempts = 0;
    this.#redirect = undefined;
    if (!this.#everOpened) {
      this.#everOpened = true;
      this.#resumeSessions(); // those made during a first connect that needed more than one attempt
      const w = this.#opened;
      this.#opened = undefined;
      w?.resolve();
      this.emit({ type: 'opened', connection: this });
      return;
    }
    log('reconnected to %s', attempt.target?.url);
    this.#resumeSessions();
    this.emit({ type: 'reconnected', connection: this, url: attempt.target?.url ?? '' });
  }

  /** Sessions waiting for a new attempt begin again, each attaching its links again, in the order they were made. */
  #resumeSessions(): void {
    for (const session of [...this.#sessions]) if (session.suspended) session.resume();
  }

  /**
   * The current attempt failed or its connection was lost, with `error`: reconnect if the policy
   * allows it, else end the connection with that error.
   */
  #onLost(attempt: Attempt, error: AmqpError): void {
    if (attempt.over || this.#phase === 'closing' || this.#phase === 'ended') return;
    attempt.over = true;
    if (this.#attemptTimer !== undefined) clearTimeout(this.#attemptTimer);
    this.#attemptTimer = undefined;
    const transport = attempt.transport;
    if (transport) {
      // Let the engine's last frames (its close, or its answer to the peer's) go out, then end the
      // socket: a microtask later, once the engine has written them.
      queueMicrotask(() => {
        transport.flush();
        transport.end();
      });
    }
    const wasOpen = attempt.opened;
    const policy = this.#plan?.policy;
    const retrying =
      policy !== undefined &&
      (this.#everOpened || policy.retryFirstConnect) &&
      isRetryable(error) &&
      this.#attempts < policy.maxAttempts;
    log('connection %s: %s%s', wasOpen ? 'lost' : 'attempt failed', error.message, retrying ? ' (reconnecting)' : '');
    if (!retrying) {
      const final =
        this.#attempts > 0 && !(error instanceof AuthenticationError) ? withAttempts(error, this.#attempts) : error;
      // Lost while open, or given up during an outage: say the connection is over.
      if (wasOpen || this.#everOpened)
        this.emit({ type: 'disconnected', connection: this, error: final, reconnecting: false });
      this.#fail(final);
      return;
    }
    // Sessions and links wait for the next attempt (also those made before a first open that failed).
    for (const session of [...this.#sessions]) session.suspend();
    if (wasOpen) this.emit({ type: 'disconnected', connection: this, error, reconnecting: true });
    this.#scheduleAttempt(policy);
  }

  #scheduleAttempt(policy: ReconnectPolicy): void {
    const plan = this.#plan!;
    const attemptNumber = ++this.#attempts;
    let target = this.#redirect;
    if (target === undefined) {
      // Round robin: after a loss, the next peer of the list (with one URL: the same one again).
      if (attemptNumber > 1 || this.#everOpened) this.#targetIndex = (this.#targetIndex + 1) % plan.targets.length;
      target = plan.targets[this.#targetIndex]!;
    }
    const delay = this.#redirect ? 0 : reconnectDelay(policy, attemptNumber);
    this.#redirect = undefined;
    this.#phase = 'waiting';
    this.emit({ type: 'reconnecting', connection: this, attempt: attemptNumber, delay, url: target.url });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#phase === 'waiting') this.#startAttempt(target);
    }, delay);
  }

  #redirectTarget(attempt: Attempt, error: ErrorCondition): ConnectTarget | undefined {
    const info = error.info as Record<string, unknown> | undefined;
    const host = info?.['network-host'] ?? info?.['hostname'];
    const port = Number(info?.['port'] ?? attempt.target?.port);
    if (
      typeof host !== 'string' ||
      !Number.isInteger(port) ||
      port <= 0 ||
      port > 65535 ||
      attempt.target === undefined
    )
      return undefined;
    const from = attempt.target;
    return {
      ...from,
      host,
      port,
      url: targetUrl(from.tls !== undefined, from.username, host, port, from.websocket?.path),
    };
  }

  #stopTimers(): void {
    for (const timer of [this.#retryTimer, this.#attemptTimer]) if (timer !== undefined) clearTimeout(timer);
    this.#retryTimer = undefined;
    this.#attemptTimer = undefined;
  }

  /** Ends the connection for good with `error`: everything fails with it. */
  #fail(error: AmqpError): void {
    if (this.#phase === 'ended') return;
    log('connection failed: %s', error.message);
    this.error ??= error;
    this.#phase = 'ended';
    this.#stopTimers();
    const attempt = this.#attempt;
    if (!attempt.over) {
      attempt.over = true;
      attempt.transport?.destroy();
    }
    this.#end(this.error);
    this.#finishIfDone();
  }

  /** Ends every session with `error` (undefined when closed by us); pending operations fail with `pendingError`, or `error`, or "closed". */
  #end(error: AmqpError | undefined, pendingError?: AmqpError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#payloadPool = undefined; // an application may keep the connection object: not its buffers
    const reason =
      pendingError ??
      error ??
      new ConnectionClosedError('quark:closed', 'The connection was closed.', { byPeer: false });
    const w = this.#opened;
    this.#opened = undefined;
    w?.reject(reason);
    for (const session of [...this.#sessions]) session.end(error, reason);
    this.emit({ type: 'closed', connection: this, error });
  }

  #ended = false;

  /** Once the connection is over and its last socket has closed: settle `close()`, complete `events$`. */
  #finishIfDone(): void {
    if (this.#phase === 'closing' && this.#transports.size === 0) this.#phase = 'ended';
    if (this.#phase !== 'ended' || this.#transports.size > 0) return;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#end(this.error);
    for (const resolve of this.#closeWaiters.splice(0)) resolve();
    this.#events.end();
  }
}

/** Whether trying again could help: not when the peer refused our credentials, nor when we refused to send them. */
function isRetryable(error: AmqpError): boolean {
  if (error instanceof TlsError) return error.reason === 'handshake';
  if (error instanceof WebSocketError) return error.reason === 'handshake';
  return (
    !(error instanceof AuthenticationError) &&
    !(error instanceof InvalidArgumentError) &&
    error.condition !== 'amqp:unauthorized-access'
  );
}

/** We refused to send a password in clear text to a peer that is not on this machine. */
function insecurePlainError(target: ConnectTarget, address: string): InsecurePlainError {
  return new InsecurePlainError(
    `Refusing to send a password in clear text to ${target.host}${address !== target.host ? ` (${address})` : ''}, which is not a loopback address: use amqps:// (TLS), or set allowInsecurePlain: true.`,
  );
}

/** The error that ends a connection after `attempts` reconnect attempts, saying so. */
function withAttempts(error: AmqpError, attempts: number): AmqpError {
  const message = `${error.message} Gave up reconnecting after ${attempts} attempt${attempts === 1 ? '' : 's'} (reconnect.maxAttempts).`;
  if (error instanceof ConnectionLostError) return new ConnectionLostError(message, error.cause);
  if (error instanceof TimeoutError) return new TimeoutError(message);
  if (error instanceof ConnectionClosedError)
    return new ConnectionClosedError(error.condition, message, {
      description: error.description,
      info: error.info,
      byPeer: error.byPeer,
      cause: error.cause,
    });
  return error;
}

/**
 * With no peer named (no `url`, `urls` or `host`), the peer of Qpid Proton's connection
 * configuration file, when there is one (`$MESSAGING_CONNECT_FILE`, `./connect.json`,
 * `~/.config/messaging/connect.json`, `/etc/messaging/connect.json`); the options given win
 * over the file's. Without a file: `amqp://localhost:5672`.
 */
function withConnectConfig(options: ConnectOptions): ConnectOptions {
  if (options.url !== undefined || options.urls !== undefined || options.host !== undefined) return options;
  const path = findConnectConfig();
  if (path === undefined) return options;
  const { source, ...fromFile } = readConnectConfig(path);
  log('no peer given: using %s', source);
  const merged: ConnectOptions = { ...fromFile };
  for (const [key, value] of Object.entries(options))
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  return merged;
}

/** Every option `connect()` knows (ConnectOptions and CallOptions). */
const CONNECT_KEYS = new Set([
  'url',
  'urls',
  'host',
  'port',
  'tls',
  'username',
  'password',
  'sasl',
  'allowInsecurePlain',
  'lookup',
  'containerId',
  'hostname',
  'properties',
  'offeredCapabilities',
  'desiredCapabilities',
  'values',
  'callerStacks',
  'idleTimeout',
  'maxFrameSize',
  'channelMax',
  'timeout',
  'reconnect',
  'signal',
  'websocket',
]);
const SASL_KEYS = new Set(['mechanisms', 'authzid']);
const SESSION_OPTIONS: ReadonlySet<string> = new Set(['incomingWindow', 'timeout', 'signal']);

/** Refuses session options that are unknown or out of range, naming them. */
function checkSessionOptions(options: SessionOptions | undefined): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`createSession options must be an object, got ${String(options)}`);
  refuseUnknownOptions(options, SESSION_OPTIONS, 'createSession');
  const window = options.incomingWindow;
  if (window !== undefined && !(Number.isInteger(window) && window >= 1 && window <= 0xffffffff)) {
    throw new InvalidArgumentError(
      `createSession: incomingWindow must be a whole number of transfer frames from 1 to 4294967295, got ${String(window)}`,
    );
  }
}
const REQUESTER_OPTIONS: ReadonlySet<string> = new Set(['timeout', 'signal']);
const RESPONDER_OPTIONS: ReadonlySet<string> = new Set(['concurrency', 'signal', 'onError']);

/** Refuses options connect() does not know (a misspelt or unsupported option is never silently ignored). */
function checkConnectKeys(options: ConnectOptions): void {
  if (typeof options !== 'object')
    throw new InvalidArgumentError(`connect takes a URL string or an options object, got ${String(options)}`);
  refuseUnknownOptions(options, CONNECT_KEYS, 'connect');
  const sasl = options.sasl;
  if (sasl !== undefined && sasl !== false) {
    const bad =
      typeof sasl === 'object' && sasl !== null
        ? Object.keys(sasl).filter((k) => !SASL_KEYS.has(k))
        : ['(not an object)'];
    if (bad.length > 0)
      throw new InvalidArgumentError(`connect: sasl takes mechanisms and authzid (or false), got ${bad.join(', ')}`);
    // A mechanism Quark cannot run would be skipped in the negotiation: refused here instead.
    const unsupported = (sasl.mechanisms ?? []).filter((m) => !CLIENT_MECHANISMS.includes(m));
    if (unsupported.length > 0)
      throw new InvalidArgumentError(
        `connect: sasl.mechanisms ${unsupported.map((m) => JSON.stringify(m)).join(', ')} cannot be run by Quark; it runs ${CLIENT_MECHANISMS.join(', ')}`,
      );
  }
  checkConnectValues(options);
}

/** Refuses option values of the wrong kind or range, naming the option, before anything is opened. */
function checkConnectValues(o: ConnectOptions): void {
  const refuse = (name: string, expected: string, value: unknown): never => {
    throw new InvalidArgumentError(
      `connect: ${name} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
    );
  };
  for (const name of ['url', 'host', 'containerId', 'hostname'] as const) {
    const value = o[name];
    if (value !== undefined && (typeof value !== 'string' || value === '')) refuse(name, 'a non-empty string', value);
  }
  for (const name of ['username', 'password'] as const)
    if (o[name] !== undefined && typeof o[name] !== 'string') refuse(name, 'a string', o[name]);
  if (o.lookup !== undefined && typeof o.lookup !== 'function')
    refuse('lookup', 'a function from a host name to its addresses', o.lookup);
  if (o.tls !== undefined && typeof o.tls !== 'boolean' && (typeof o.tls !== 'object' || o.tls === null))
    refuse('tls', 'true, false or an object of TLS options', o.tls);
  if (o.allowInsecurePlain !== undefined && typeof o.allowInsecurePlain !== 'boolean')
    refuse('allowInsecurePlain', 'true or false', o.allowInsecurePlain);
  if (
    o.idleTimeout !== undefined &&
    !(typeof o.idleTimeout === 'number' && o.idleTimeout >= 0 && Number.isFinite(o.idleTimeout))
  )
    refuse('idleTimeout', 'a non-negative number of milliseconds (0 for none)', o.idleTimeout);
  if (
    o.maxFrameSize !== undefined &&
    !(Number.isInteger(o.maxFrameSize) && o.maxFrameSize >= 512 && o.maxFrameSize <= 0xffffffff)
  )
    refuse('maxFrameSize', 'a whole number of bytes from 512 to 4294967295', o.maxFrameSize);
  if (o.channelMax !== undefined && !(Number.isInteger(o.channelMax) && o.channelMax >= 0 && o.channelMax <= 0xffff))
    refuse('channelMax', 'a whole number from 0 to 65535', o.channelMax);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) refuse('signal', 'an AbortSignal', o.signal);
}

/**
 * Checks each target's TLS options by building their secure context now (bad certificates, keys or
 * CAs fail here, as an InvalidArgumentError, not later inside a socket), and keeps the context so
 * that every attempt reuses it. A context the caller gave is left as it is.
 */
function withSecureContexts(targets: ConnectTarget[], tlsModule: typeof tls): ConnectTarget[] {
  const contexts = new Map<tls.ConnectionOptions, tls.ConnectionOptions>();
  return targets.map((target) => {
    const given = target.tls;
    if (given === undefined || given.secureContext !== undefined) return target;
    let checked = contexts.get(given);
    if (checked === undefined) {
      try {
        checked = { ...given, secureContext: tlsModule.createSecureContext(given) };
      } catch (e) {
        throw new InvalidArgumentError(
          `connect: the tls options cannot be used (${(e as Error).message}): give ca, cert and key as PEM text or Buffers, or pfx with its passphrase`,
          { cause: e },
        );
      }
      contexts.set(given, checked);
    }
    return { ...target, tls: checked };
  });
}

async function defaultLookup(hostname: string): Promise<string[]> {
  const dns = await import('node:dns');
  return (await dns.promises.lookup(hostname, { all: true })).map((a) => a.address);
}

/** A `lookup` for `net.connect` that answers with these addresses (for every name it is asked). */
function fixedLookup(addresses: string[]): net.LookupFunction {
  const entries = addresses.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
  return (_hostname, options, callback) => {
    if (options.all) (callback as unknown as (err: null, addresses: typeof entries) => void)(null, entries);
    else callback(null, entries[0]!.address, entries[0]!.family);
  };
}

function engineOptionsFor(plan: ConnectPlan, target: ConnectTarget): EngineOptions {
  const o = plan.engineOptions;
  const tls = target.tls;
  const clientCertificate = tls !== undefined && (tls.cert !== undefined || tls.pfx !== undefined);
  const sasl =
    o.sasl === false
      ? false
      : {
          ...o.sasl,
          username: target.username,
          password: target.password,
          clientCertificate,
          refusePlain: target.plainRefused,
        };
  return { ...o, hostname: plan.hostname ?? target.host, sasl };
}

/**
 * Connects to an AMQP 1.0 peer and opens the connection. Resolves once the peer's open arrives.
 * Rejects with `ConnectionLostError` when the socket cannot be opened (refused, unreachable, TLS
 * failure), `AuthenticationError` when SASL fails, and `ConnectionClosedError` carrying the peer's
 * condition when the peer refuses the connection. Cancelled by its signal or timeout, the socket
 * is destroyed and nothing is left behind.
 *
 * Called with no `url`, `urls` or `host`, it reads Qpid Proton's connection configuration file,
 * as Proton's `Container.connect()` does, from the first of `$MESSAGING_CONNECT_FILE`,
 * `./connect.json`, `~/.config/messaging/connect.json` and `/etc/messaging/connect.json` that
 * exists (keys `scheme`, `host`, `port`, `user`, `password`, `sasl` and `tls`); the options
 * given win over the file's. A file with an error is refused with a message naming it.
 *
 * Once open, the connection reconnects by itself when it is lost (see `reconnect`): sessions and
 * links attach again, receivers get their credit back, and sends waiting for the connection go
 * out. With `urls`, it fails over between peers.
 */
export async function connect(urlOrOptions: string | ConnectOptions = {}): Promise<Connection> {
  const given: ConnectOptions = typeof urlOrOptions === 'string' ? { url: urlOrOptions } : (urlOrOptions ?? {});
  checkConnectKeys(given);
  const options = withConnectConfig(given);
  const targets = connectTargets(options);
  const policy = reconnectPolicy(options.reconnect);
  const engineOptions: EngineOptions = {
    role: 'client',
    containerId: options.containerId ?? crypto.randomUUID(),
    maxFrameSize: options.maxFrameSize,
    channelMax: options.channelMax,
    idleTimeout: options.idleTimeout ?? 60000,
    offeredCapabilities: options.offeredCapabilities,
    desiredCapabilities: options.desiredCapabilities,
    properties: options.properties,
    sasl: options.sasl === false ? false : { mechanisms: options.sasl?.mechanisms, authzid: options.sasl?.authzid },
  };
  // node:tls is loaded only when used: it costs a process about 1.5 MB.
  const tlsModule = targets.some((t) => t.tls !== undefined) ? await import('node:tls') : undefined;
  // So is ws (an optional dependency): a WebSocketError now says to install it.
  const wsModule = targets.some((t) => t.websocket !== undefined) ? loadWebSocketModule() : undefined;
  const lookup = options.lookup ?? defaultLookup;
  const plan: ConnectPlan = {
    targets: tlsModule ? withSecureContexts(targets, tlsModule) : targets,
    engineOptions,
    hostname: options.hostname,
    policy,
    tlsModule,
    wsModule,
    lookup,
  };
  const values = checkValuesMode(options.values, 'values');
  const connection = new Connection(new ProtocolEngine(engineOptionsFor(plan, targets[0]!)));
  if (values !== undefined) connection.values = values;
  if (options.callerStacks !== undefined && typeof options.callerStacks !== 'boolean')
    throw new InvalidArgumentError(`callerStacks must be true or false, got ${JSON.stringify(options.callerStacks)}`);
  connection.callerStacks = options.callerStacks === true;
  const timeout = options.timeout ?? (policy?.retryFirstConnect ? undefined : DEFAULT_CONNECT_TIMEOUT_MS);
  try {
    return await connection.start(plan, { signal: options.signal, timeout });
  } catch (e) {
    throw withCallerStack(e); // the stack of the caller's await, not of the socket callback
  }
}
