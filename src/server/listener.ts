import net from 'node:net';
import type * as tls from 'node:tls';
import type { Observable } from 'rxjs';
import type { Fields } from '../codec/composite-types.js';
import type { Connection } from '../client/connection.js';
import { EventHook } from '../client/event-hook.js';
import { acceptConnection, setAuthentication } from '../client/listening-side.js';
import { debugLog } from '../runtime/debug-log.js';
import { ProtocolEngine } from '../engine/engine.js';
import type { SaslUsers } from '../engine/scram.js';
import { isLoopbackAddress } from '../transport/loopback-address.js';
import { SocketTransport } from '../transport/socket-transport.js';
import { refuseUnknownOptions } from '../runtime/known-options.js';
import { IncomingLink } from './incoming-link.js';
import { Login, checkSaslOptions, offeredMechanisms, type LoginOutcome } from './login.js';

const log = debugLog('quark:listener');

/** How long a client has to open its connection when `handshakeTimeout` is not given. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a refused login waits for its answer when `failedLoginDelay` is not given. */
const DEFAULT_FAILED_LOGIN_DELAY_MS = 1000;
/** Sessions per connection (channel-max + 1), links per session (handle-max + 1) and per connection, unless given. */
const DEFAULT_CHANNEL_MAX = 255;
const DEFAULT_HANDLE_MAX = 1023;
const DEFAULT_MAX_LINKS_PER_CONNECTION = 1024;
/** Connections open at once, in all and from one address, unless given. */
const DEFAULT_MAX_CONNECTIONS = 10_000;
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1000;
/** The options listen() knows. */
const LISTEN_OPTIONS: ReadonlySet<string> = new Set([
  'host', 'port', 'tls', 'containerId', 'sasl', 'allowInsecurePlain', 'allowNoSasl', 'idleTimeout', 'handshakeTimeout', 'failedLoginDelay',
  'maxFrameSize', 'channelMax', 'handleMax', 'maxLinksPerConnection', 'maxConnections', 'maxConnectionsPerAddress', 'properties', 'offeredCapabilities',
]);
const SASL_OPTIONS: ReadonlySet<string> = new Set(['mechanisms', 'users', 'authenticate']);
/** Sockets beyond the connection limit that are still answered (with a refusal) rather than dropped. */
const REFUSAL_MARGIN = 64;

/** What a client presented to authenticate. */
export interface SaslCredentials {
  mechanism: string;
  /** The user name (PLAIN), or the client certificate's subject common name (EXTERNAL). */
  username?: string | undefined;
  /** For PLAIN. */
  password?: string | undefined;
  /** The identity the client asks to act as, when it gives one (PLAIN, EXTERNAL). */
  authzid?: string | undefined;
  /** The virtual host the client asked for in sasl-init, if any. */
  hostname?: string | undefined;
  /** For EXTERNAL: the client's certificate, verified by TLS against `tls.ca`. */
  peerCertificate?: tls.PeerCertificate | undefined;
}

/** The SASL side of a listener. */
export interface ListenSaslOptions {
  /**
   * The mechanisms offered, from EXTERNAL, SCRAM-SHA-512, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN and
   * ANONYMOUS; a server offers only what it can run. Default: with `users`, the SCRAM ones and
   * PLAIN; with `authenticate` only, PLAIN; else ANONYMOUS; and EXTERNAL first to a TLS client
   * whose certificate verified. PLAIN is offered without TLS only to loopback clients (see
   * `allowInsecurePlain`).
   */
  mechanisms?: string[] | undefined;
  /**
   * Users held as salted keys: runs SCRAM and checks PLAIN. Make them with
   * `SaslUsers.fromPasswords({ alice: 'secret' })`.
   */
  users?: SaslUsers | undefined;
  /**
   * Decides PLAIN (when there are no `users`), ANONYMOUS and EXTERNAL logins. Default: PLAIN
   * needs `users`, ANONYMOUS is accepted, EXTERNAL is accepted for a verified certificate that
   * asks for no other identity. Not called for SCRAM, which `users` decide.
   */
  authenticate?: ((credentials: SaslCredentials) => boolean | Promise<boolean>) | undefined;
}

/** Options of `listen()`. */
export interface ListenOptions {
  /** The address to listen on. Default `127.0.0.1`. */
  host?: string | undefined;
  /** The port; 0 (the default) picks a free one (see `listener.port`). */
  port?: number | undefined;
  /** Serve TLS with these options (`key`, `cert`, and `ca` plus `requestCert` for client certificates). */
  tls?: tls.TlsOptions | undefined;
  /** Our container id. Default: a random UUID. */
  containerId?: string | undefined;
  /**
   * SASL: the mechanisms offered (default `['ANONYMOUS']`, or `['PLAIN']` when `authenticate` is
   * given), and the check of a client's credentials. `false` accepts clients without SASL only.
   */
  sasl?: ListenSaslOptions | false | undefined;
  /** Offer PLAIN without TLS to clients on other machines. Default false: without TLS, PLAIN is offered only to clients on loopback addresses. */
  allowInsecurePlain?: boolean | undefined;
  /** Accept clients that skip SASL. Default: only when `sasl` is false. */
  allowNoSasl?: boolean | undefined;
  /** Milliseconds of silence after which a client is considered gone. Default 60000; 0 for none. */
  idleTimeout?: number | undefined;
  /**
   * Milliseconds a client has from its TCP (or TLS) connection to its AMQP open: header, SASL and
   * open. A client that has not opened by then is dropped, so that sockets that send nothing, or
   * half a header, do not hold the server's resources. Default 10000 (as RabbitMQ's
   * `handshake_timeout`); 0 for none.
   */
  handshakeTimeout?: number | undefined;
  /**
   * Milliseconds a refused SASL login waits before the server answers it, so that a client
   * cannot try passwords quickly (each connection gets one try). Default 1000; 0 for none.
   */
  failedLoginDelay?: number | undefined;
  maxFrameSize?: number | undefined;
  /** The highest session channel a client may use: at most channelMax + 1 sessions per connection. Default 255. */
  channelMax?: number | undefined;
  /** The highest link handle a client may use on a session: at most handleMax + 1 links per session. Default 1023. */
  handleMax?: number | undefined;
  /**
   * Links one connection may have attached at once, over all its sessions; an attach past it is
   * refused with `amqp:resource-limit-exceeded`. Default 1024.
   */
  maxLinksPerConnection?: number | undefined;
  /**
   * Connections open at once. One past it is answered with SASL outcome sys-temp (or, without
   * SASL, a close with `amqp:resource-limit-exceeded`); far past it sockets are dropped at once.
   * Default 10000.
   */
  maxConnections?: number | undefined;
  /** Connections open at once from one client address. Default 1000. */
  maxConnectionsPerAddress?: number | undefined;
  /** Connection properties we announce. */
  properties?: Fields | undefined;
  offeredCapabilities?: string[] | undefined;
}

/**
 * The listening side: accepts AMQP connections (plain or TLS, with SASL) and hands the links
 * that peers attach to the application, as senders and receivers of its own. It mirrors the
 * client API: where a client calls `createSender()`, a listener gets an {@link IncomingLink}
 * and calls `accept()`.
 */
export class Listener implements AsyncDisposable, AsyncIterable<IncomingLink> {
  readonly #server: net.Server;
  readonly #options: ListenOptions;
  readonly #connections = new Set<Connection>();
  readonly #linkHook = new EventHook<IncomingLink>();
  readonly #connectionHook = new EventHook<Connection>();
  readonly #queue: IncomingLink[] = [];
  readonly #waiters: ((link: IncomingLink | undefined) => void)[] = [];
  /** Connections being turned away (over a connection limit), closed with the others by `close()`. */
  readonly #refused = new Set<Connection>();
  /** Open sockets per client address (for maxConnectionsPerAddress). */
  readonly #perAddress = new Map<string, number>();
  #closed = false;

  /** @internal Use `listen()`. */
  constructor(server: net.Server, options: ListenOptions) {
    this.#server = server;
    this.#options = options;
  }

  /** The port listened on. */
  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** The address listened on. */
  get host(): string {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.address : '';
  }

  /** A URL clients can connect to. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.#options.tls ? 'amqps' : 'amqp'}://${host}:${this.port}`;
  }

  /** Each connection once its peer has opened it. */
  get connections$(): Observable<Connection> {
    return this.#connectionHook.asObservable();
  }

  /** Links peers attach, to `accept()` or `refuse()`. If nobody takes them, they wait in `[Symbol.asyncIterator]`. */
  get links$(): Observable<IncomingLink> {
    return this.#linkHook.asObservable();
  }

  /** The connections open now. */
  get connections(): Connection[] {
    return [...this.#connections];
  }

  /** Iterates over links as peers attach them; ends when the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<IncomingLink> {
    while (true) {
      const next = this.#queue.shift() ?? (this.#closed ? undefined : await new Promise<IncomingLink | undefined>((resolve) => this.#waiters.push(resolve)));
      if (next === undefined) return;
      yield next;
    }
  }

  /** @internal */
  handleSocket(socket: net.Socket): void {
    const o = this.#options;
    const saslOption = o.sasl;
    // A TLS socket says so (tls is loaded only by listeners that use it).
    const secure = (socket as net.Socket & { encrypted?: boolean }).encrypted === true;
    const certificate = secure && (socket as tls.TLSSocket).authorized ? (socket as tls.TLSSocket).getPeerCertificate() : undefined;
    const verifiedCertificate = certificate && Object.keys(certificate).length > 0 ? certificate : undefined;
    const local = isLoopbackAddress(socket.remoteAddress);
    const mechanisms = saslOption === false ? false : offeredMechanisms(saslOption ?? {}, { secure, local, verifiedCertificate: verifiedCertificate !== undefined, allowInsecurePlain: o.allowInsecurePlain === true });
    const address = socket.remoteAddress ?? '';
    const fromAddress = (this.#perAddress.get(address) ?? 0) + 1;
    this.#perAddress.set(address, fromAddress);
    const refusal =
      this.#connections.size >= (o.maxConnections ?? DEFAULT_MAX_CONNECTIONS)
        ? `the server has ${this.#connections.size} connections, its limit (maxConnections)`
        : fromAddress > (o.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)
          ? `the server has ${fromAddress - 1} connections from ${address}, its limit per address (maxConnectionsPerAddress)`
          : undefined;
    const engine = new ProtocolEngine({
      role: 'server',
      containerId: o.containerId ?? crypto.randomUUID(),
      maxFrameSize: o.maxFrameSize,
      channelMax: o.channelMax ?? DEFAULT_CHANNEL_MAX,
      handleMax: o.handleMax ?? DEFAULT_HANDLE_MAX,
      idleTimeout: o.idleTimeout ?? 60000,
      properties: o.properties,
      offeredCapabilities: o.offeredCapabilities,
      saslMechanisms: mechanisms,
      allowNoSasl: o.allowNoSasl,
    });
    let loginTimer: NodeJS.Timeout | undefined;
    const failedLoginDelay = o.failedLoginDelay ?? DEFAULT_FAILED_LOGIN_DELAY_MS;
    const login = new Login(saslOption || {}, mechanisms || [], verifiedCertificate);
    const answer = (outcome: LoginOutcome | undefined): void => {
      if (outcome === undefined) return; // a challenge went out; the answer comes as saslResponse
      if (outcome.ok) {
        setAuthentication(connection, outcome.identity);
        engine.completeSasl(0, outcome.additionalData);
      } else if (failedLoginDelay === 0) engine.completeSasl(1);
      // A refused login is answered late, so that guessing passwords is slow.
      else loginTimer = setTimeout(() => engine.completeSasl(1), failedLoginDelay);
    };
    const handshakeTimeout = o.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const handshakeTimer = handshakeTimeout > 0
      ? setTimeout(() => {
          log('dropping a client that did not open within %d ms (handshakeTimeout)', handshakeTimeout);
          transport.destroy();
        }, handshakeTimeout)
      : undefined;
    const stopHandshakeTimer = (): void => {
      if (handshakeTimer !== undefined) clearTimeout(handshakeTimer);
    };
    const maxLinks = o.maxLinksPerConnection ?? DEFAULT_MAX_LINKS_PER_CONNECTION;
    const transport = new SocketTransport(engine, socket);
    const connection: Connection = acceptConnection(engine, transport, {
      saslInit: (mechanism, initialResponse, hostname) => {
        // Over the connection limit: refused as a transient condition, before any credential is checked.
        if (refusal !== undefined) engine.completeSasl(4);
        else void login.start(mechanism, initialResponse, hostname, (challenge) => engine.challengeSasl(challenge)).then(answer);
      },
      saslResponse: (response) => void login.respond(response).then(answer),
      remoteOpen: () => {
        stopHandshakeTimer();
        engine.open();
        if (refusal !== undefined) {
          void connection.close({ error: { condition: 'amqp:resource-limit-exceeded', description: `${refusal}; try again later` } }).catch(() => undefined);
          return;
        }
        this.#connectionHook.emit(connection);
      },
      remoteLink: (engineLink, session) => {
        const link = new IncomingLink(connection, session, engineLink);
        // This link is attached by the peer already, so it counts too.
        if (engine.remoteLinkCount > maxLinks) {
          link.refuse({ condition: 'amqp:resource-limit-exceeded', description: `this connection already has ${maxLinks} links attached (maxLinksPerConnection); close some first` });
          return;
        }
        this.#offer(link);
      },
      // Forget the connection once its socket has closed. (Not by listening to its events: a
      // listener there makes the connection build and publish an event for every message.)
      socketClosed: () => {
        stopHandshakeTimer();
        if (loginTimer !== undefined) clearTimeout(loginTimer);
        this.#connections.delete(connection);
        this.#refused.delete(connection);
        const left = (this.#perAddress.get(address) ?? 1) - 1;
        if (left > 0) this.#perAddress.set(address, left);
        else this.#perAddress.delete(address);
      },
    });
    if (refusal === undefined) this.#connections.add(connection);
    else {
      this.#refused.add(connection);
      log('refusing a connection from %s: %s', address, refusal);
    }
  }

  #offer(link: IncomingLink): void {
    if (this.#linkHook.observed) {
      this.#linkHook.emit(link);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter(link);
    else this.#queue.push(link);
  }

  /**
   * Stops listening and closes every connection with `amqp:connection:forced` (clients that
   * reconnect will try again). Resolves once every socket has closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
    for (const link of this.#queue.splice(0)) link.refuse({ condition: 'amqp:connection:forced', description: 'the listener is closing' });
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Forced: the peer did nothing wrong, and a client that reconnects should (to another server, or this one back).
    const error = { condition: 'amqp:connection:forced', description: 'the server is shutting down' };
    await Promise.all([...this.#connections, ...this.#refused].map((c) => c.close({ error }).catch(() => undefined)));
    await serverClosed;
    this.#linkHook.end();
    this.#connectionHook.end();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Listens for AMQP connections. Resolves once the port is bound; rejects when it cannot be
 * (e.g. `EADDRINUSE`).
 */
export async function listen(options: ListenOptions = {}): Promise<Listener> {
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  for (const [name, value] of [['handshakeTimeout', options.handshakeTimeout], ['failedLoginDelay', options.failedLoginDelay]] as const) {
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && Number.isFinite(value))) {
      throw new TypeError(`${name} must be a non-negative number of milliseconds, got ${String(value)}`);
    }
  }
  for (const [name, value] of [['maxConnections', options.maxConnections], ['maxConnectionsPerAddress', options.maxConnectionsPerAddress]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) throw new TypeError(`${name} must be a whole number of at least 1, got ${String(value)}`);
  }
  refuseUnknownOptions(options, LISTEN_OPTIONS, 'listen');
  if (options.sasl) {
    refuseUnknownOptions(options.sasl, SASL_OPTIONS, 'listen: sasl');
    checkSaslOptions(options.sasl);
  }
  // node:tls is loaded only when used: it costs a process about 1.5 MB. The TLS handshake gets the
  // same bound as the AMQP one (Node's own default is 120 s).
  const server = options.tls
    ? (await import('node:tls')).createServer({ handshakeTimeout: handshakeTimeout > 0 ? handshakeTimeout : 120_000, ...options.tls })
    : net.createServer();
  // Far past the limit, sockets are dropped by the server itself: refusals cost memory too.
  server.maxConnections = (options.maxConnections ?? DEFAULT_MAX_CONNECTIONS) + REFUSAL_MARGIN;
  const listener = new Listener(server, options);
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => listener.handleSocket(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return listener;
}
