import net from 'node:net';
import type * as tls from 'node:tls';
import type { Observable } from 'rxjs';
import { AsyncQueue } from '../collections/async-queue.js';
import type { Fields } from '../codec/composite-types.js';
import type { Connection } from '../client/connection.js';
import { EventHook } from '../client/event-hook.js';
import { acceptConnection, setAuthentication } from '../client/listening-side.js';
import { debugLog } from '../runtime/debug-log.js';
import { ProtocolEngine } from '../engine/engine.js';
import type { SaslUsers } from '../engine/scram.js';
import { isLoopbackAddress } from '../transport/loopback-address.js';
import { SocketTransport } from '../transport/socket-transport.js';
import { WebSocketStream } from '../transport/websocket-stream.js';
import { loadWebSocketModule } from '../transport/websocket-module.js';
import { WebSocketEndpoint, checkWebSocketListenOptions, type WebSocketListenOptions } from './websocket-endpoint.js';
import { refuseUnknownOptions } from '../runtime/known-options.js';
import { IncomingLink } from './incoming-link.js';
import { Login, checkSaslOptions, offeredMechanisms, type LoginOutcome } from './login.js';
import { AbortError, InvalidArgumentError, ListenError, TimeoutError, type AmqpError } from '../errors.js';
import { checkTimeout, watchCancellation, type CallOptions } from '../client/cancellation.js';

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
  'host',
  'port',
  'tls',
  'containerId',
  'sasl',
  'allowInsecurePlain',
  'allowNoSasl',
  'idleTimeout',
  'handshakeTimeout',
  'failedLoginDelay',
  'maxFrameSize',
  'channelMax',
  'handleMax',
  'maxLinksPerConnection',
  'maxConnections',
  'maxConnectionsPerAddress',
  'properties',
  'offeredCapabilities',
  'signal',
  'websocket',
  'tcp',
]);
const SASL_OPTIONS: ReadonlySet<string> = new Set(['mechanisms', 'users', 'authenticate']);
/** Sockets beyond the connection limit that are still answered (with a refusal) rather than dropped. */
const REFUSAL_MARGIN = 64;

/** What a client presented to authenticate. */
export interface SaslCredentials {
  /** The mechanism the client chose (`PLAIN`, `ANONYMOUS`, `EXTERNAL`). */
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
  /** The TCP port; 0 (the default) picks a free one (see `listener.port`). */
  port?: number | undefined;
  /**
   * Serve TLS with these options (`key`, `cert`, and `ca` plus `requestCert` for client
   * certificates), on TCP (amqps://) and on the WebSocket port (wss://) alike.
   */
  tls?: tls.TlsOptions | undefined;
  /**
   * Also serve AMQP over WebSocket (needs the optional `ws` package): on a port of its own
   * (`{ port: 5673 }`, `{}` for a free one), or on an HTTP server of yours (`{ server, path }`).
   * WebSocket clients get the same SASL, TLS, limits and timeouts as TCP ones, and count
   * against the same `maxConnections`. See {@link WebSocketListenOptions}.
   */
  websocket?: WebSocketListenOptions | undefined;
  /** Listen on TCP (`host`, `port`). Default true; `false` serves WebSocket only (needs `websocket`). */
  tcp?: boolean | undefined;
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
  /** The largest frame we accept from a client, in bytes. Default 262144. */
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
  /** Capabilities we announce (open's offered-capabilities), as symbol names. */
  offeredCapabilities?: string[] | undefined;
  /**
   * Cancels the listen while the port is being bound: it rejects with an `AbortError` (a
   * `TimeoutError` for `AbortSignal.timeout()`) and nothing is left listening. A signal already
   * aborted is refused before anything is bound. It has no effect once `listen()` has resolved:
   * stop the listener with `close()`.
   */
  signal?: AbortSignal | undefined;
}

/**
 * The listening side: accepts AMQP connections (TCP or WebSocket, plain or TLS, with SASL) and hands the links
 * that peers attach to the application, as senders and receivers of its own. It mirrors the
 * client API: where a client calls `createSender()`, a listener gets an {@link IncomingLink}
 * and calls `accept()`.
 */
export class Listener implements AsyncDisposable, AsyncIterable<IncomingLink> {
  readonly #server: net.Server | undefined;
  readonly #websocket: WebSocketEndpoint | undefined;
  readonly #options: ListenOptions;
  readonly #connections = new Set<Connection>();
  readonly #linkHook = new EventHook<IncomingLink>();
  readonly #connectionHook = new EventHook<Connection>();
  /** Links nobody observes on links$, for the `for await` loops. */
  readonly #incoming = new AsyncQueue<IncomingLink>();
  /** Connections being turned away (over a connection limit), closed with the others by `close()`. */
  readonly #refused = new Set<Connection>();
  /** Open sockets per client address (for maxConnectionsPerAddress). */
  readonly #perAddress = new Map<string, number>();
  /** The close under way (or done), which later calls wait for. */
  #closing: Promise<void> | undefined;

  /** @internal Use `listen()`. */
  constructor(server: net.Server | undefined, websocket: WebSocketEndpoint | undefined, options: ListenOptions) {
    this.#server = server;
    this.#websocket = websocket;
    this.#options = options;
  }

  /** The TCP port listened on (0 with `tcp: false`). */
  get port(): number {
    const a = this.#server?.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** The TCP address listened on ('' with `tcp: false`). */
  get host(): string {
    const a = this.#server?.address();
    return typeof a === 'object' && a !== null ? a.address : '';
  }

  /** A URL clients can connect to: the TCP one (amqp:// or amqps://), or with `tcp: false` the WebSocket one. */
  get url(): string {
    if (this.#server === undefined) return this.websocketUrl ?? '';
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.#options.tls ? 'amqps' : 'amqp'}://${host}:${this.port}`;
  }

  /** The port WebSocket clients connect to, when the listener serves WebSocket. */
  get websocketPort(): number | undefined {
    return this.#websocket?.port;
  }

  /** A URL WebSocket clients can connect to (ws:// or wss://, with the path), when the listener serves WebSocket. */
  get websocketUrl(): string | undefined {
    return this.#websocket?.url;
  }

  /** Each connection once its peer has opened it. */
  get connections$(): Observable<Connection> {
    return this.#connectionHook.asObservable('listener.connections$');
  }

  /** Links peers attach, to `accept()` or `refuse()`. If nobody takes them, they wait in `[Symbol.asyncIterator]`. */
  get links$(): Observable<IncomingLink> {
    return this.#linkHook.asObservable('listener.links$');
  }

  /** The connections open now. */
  get connections(): Connection[] {
    return [...this.#connections];
  }

  /** Iterates over links as peers attach them; ends when the listener closes. Leaving a loop early leaves the listener open. */
  [Symbol.asyncIterator](): AsyncIterator<IncomingLink> {
    // No return(): a loop that breaks stops reading, it does not end the queue for the next loop.
    return { next: () => this.#incoming.next() };
  }

  /** @internal A client's TCP or TLS socket, or its WebSocket (over one): served alike. */
  handleSocket(stream: net.Socket | WebSocketStream): void {
    const socket = stream instanceof WebSocketStream ? stream.socket! : stream;
    const o = this.#options;
    const saslOption = o.sasl;
    // A TLS socket says so (tls is loaded only by listeners that use it).
    const secure = (socket as net.Socket & { encrypted?: boolean }).encrypted === true;
    const certificate =
      secure && (socket as tls.TLSSocket).authorized ? (socket as tls.TLSSocket).getPeerCertificate() : undefined;
    const verifiedCertificate = certificate && Object.keys(certificate).length > 0 ? certificate : undefined;
    const local = isLoopbackAddress(socket.remoteAddress);
    const mechanisms =
      saslOption === false
        ? false
        : offeredMechanisms(saslOption ?? {}, {
            secure,
            local,
            verifiedCertificate: verifiedCertificate !== undefined,
            allowInsecurePlain: o.allowInsecurePlain === true,
          });
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
    const handshakeTimer =
      handshakeTimeout > 0
        ? setTimeout(() => {
            log('dropping a client that did not open within %d ms (handshakeTimeout)', handshakeTimeout);
            transport.destroy();
          }, handshakeTimeout)
        : undefined;
    const stopHandshakeTimer = (): void => {
      if (handshakeTimer !== undefined) clearTimeout(handshakeTimer);
    };
    const maxLinks = o.maxLinksPerConnection ?? DEFAULT_MAX_LINKS_PER_CONNECTION;
    const transport = new SocketTransport(engine, stream);
    const connection: Connection = acceptConnection(engine, transport, {
      saslInit: (mechanism, initialResponse, hostname) => {
        // Over the connection limit: refused as a transient condition, before any credential is checked.
        if (refusal !== undefined) engine.completeSasl(4);
        else
          void login
            .start(mechanism, initialResponse, hostname, (challenge) => engine.challengeSasl(challenge))
            .then(answer);
      },
      saslResponse: (response) => void login.respond(response).then(answer),
      remoteOpen: () => {
        stopHandshakeTimer();
        engine.open();
        if (refusal !== undefined) {
          void connection
            .close({ error: { condition: 'amqp:resource-limit-exceeded', description: `${refusal}; try again later` } })
            .catch(() => undefined);
          return;
        }
        this.#connectionHook.emit(connection);
      },
      remoteLink: (engineLink, session) => {
        const link = new IncomingLink(connection, session, engineLink);
        // This link is attached by the peer already, so it counts too.
        if (engine.remoteLinkCount > maxLinks) {
          link.refuse({
            condition: 'amqp:resource-limit-exceeded',
            description: `this connection already has ${maxLinks} links attached (maxLinksPerConnection); close some first`,
          });
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
    if (!this.#incoming.push(link))
      link.refuse({ condition: 'amqp:connection:forced', description: 'the listener is closing' });
  }

  /**
   * Stops listening and closes every connection with `amqp:connection:forced` (clients that
   * reconnect will try again). Resolves once every socket has closed.
   *
   * Cancelled by its signal or timeout (or given a signal already aborted), it stops waiting for
   * clients to answer the close: their sockets are destroyed at once, and it rejects with an
   * `AbortError` (or `TimeoutError`) once every socket has closed, so nothing is left behind
   * either way. A second call while the first runs waits for the same close.
   */
  close(options?: CallOptions): Promise<void> {
    checkTimeout(options?.timeout);
    this.#closing ??= this.#closeAll();
    let cancelled: AmqpError | undefined;
    const stop = watchCancellation(options, 'closing the listener', (e) => {
      cancelled = e;
      // Hard close: each connection's socket is destroyed instead of waiting for the client's answer.
      for (const c of [...this.#connections, ...this.#refused])
        void c.close({ signal: AbortSignal.abort(e) }).catch(() => undefined);
    });
    return this.#closing.then(() => {
      stop();
      if (cancelled) throw cancelled;
    });
  }

  async #closeAll(): Promise<void> {
    for (const link of this.#incoming.clear())
      link.refuse({ condition: 'amqp:connection:forced', description: 'the listener is closing' });
    this.#incoming.end();
    const server = this.#server;
    const serverClosed = Promise.all([
      server && new Promise<void>((resolve) => server.close(() => resolve())),
      this.#websocket?.close(),
    ]);
    // Forced: the peer did nothing wrong, and a client that reconnects should (to another server, or this one back).
    const error = { condition: 'amqp:connection:forced', description: 'the server is shutting down' };
    await Promise.all([...this.#connections, ...this.#refused].map((c) => c.close({ error }).catch(() => undefined)));
    await serverClosed;
    this.#linkHook.end();
    this.#connectionHook.end();
  }

  /** Closes it: `await using` calls this when the block ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Listens for AMQP connections. Resolves once the port is bound; rejects with a `ListenError`
 * when it cannot be (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`), with an `InvalidArgumentError` for
 * bad options, and with an `AbortError` when its `signal` fires first (nothing is left listening).
 */
export async function listen(options: ListenOptions = {}): Promise<Listener> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`listen options must be an object, got ${String(options)}`);
  refuseUnknownOptions(options, LISTEN_OPTIONS, 'listen');
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError('listen: signal must be an AbortSignal');
  const port = options.port ?? 0;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535))
    throw new InvalidArgumentError(
      `listen: port must be a whole number from 0 to 65535 (0 picks a free port), got ${String(options.port)}`,
    );
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === ''))
    throw new InvalidArgumentError(
      `listen: host must be a non-empty host name or IP address, got ${JSON.stringify(options.host)}`,
    );
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  for (const [name, value] of [
    ['handshakeTimeout', options.handshakeTimeout],
    ['failedLoginDelay', options.failedLoginDelay],
  ] as const) {
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && Number.isFinite(value))) {
      throw new InvalidArgumentError(`${name} must be a non-negative number of milliseconds, got ${String(value)}`);
    }
  }
  for (const [name, value] of [
    ['maxConnections', options.maxConnections],
    ['maxConnectionsPerAddress', options.maxConnectionsPerAddress],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1))
      throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got ${String(value)}`);
  }
  if (options.sasl) {
    refuseUnknownOptions(options.sasl, SASL_OPTIONS, 'listen: sasl');
    checkSaslOptions(options.sasl);
  }
  const tcp = options.tcp ?? true;
  if (typeof tcp !== 'boolean') throw new InvalidArgumentError(`listen: tcp must be true or false, got ${String(tcp)}`);
  if (!tcp && options.websocket === undefined)
    throw new InvalidArgumentError('listen: tcp: false leaves nothing to listen on; give websocket too');
  if (!tcp && options.port !== undefined)
    throw new InvalidArgumentError(
      'listen: port is the TCP port, and tcp is false: give the WebSocket port as websocket.port',
    );
  if (options.websocket !== undefined) {
    checkWebSocketListenOptions(options.websocket, options.tls !== undefined);
    loadWebSocketModule(); // a WebSocketError now if ws is not installed
  }
  if (signal?.aborted) throw abortedListen(signal, 'before it began; nothing was bound');
  // node:tls is loaded only when used: it costs a process about 1.5 MB. The TLS handshake gets the
  // same bound as the AMQP one (Node's own default is 120 s).
  const server = !tcp ? undefined : options.tls ? await tlsServer(options.tls, handshakeTimeout) : net.createServer();
  // Far past the limit, sockets are dropped by the server itself: refusals cost memory too.
  const maxSockets = (options.maxConnections ?? DEFAULT_MAX_CONNECTIONS) + REFUSAL_MARGIN;
  const host = options.host ?? '127.0.0.1';
  // The WebSocket endpoint binds first; its clients reach the listener once it exists (in a later turn).
  const settings = { host, tls: options.tls, handshakeTimeout, maxSockets };
  let websocket: WebSocketEndpoint | undefined;
  if (options.websocket !== undefined) {
    const wsPort = options.websocket.port ?? 0;
    try {
      websocket = await WebSocketEndpoint.open(options.websocket, settings, (stream) => listener.handleSocket(stream));
    } catch (e) {
      // A port that cannot be bound is said as the TCP one is (ListenError, with what to do).
      throw typeof (e as NodeJS.ErrnoException).code === 'string'
        ? listenFailure(e as NodeJS.ErrnoException, options.websocket.host ?? host, wsPort)
        : e;
    }
    if (signal?.aborted) {
      await websocket.close();
      throw abortedListen(signal, 'while binding its WebSocket port; nothing is left listening');
    }
  }
  const listener = new Listener(server, websocket, options);
  if (server === undefined) return listener;
  server.maxConnections = maxSockets;
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => listener.handleSocket(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        server.off('error', onError);
        server.close();
        reject(abortedListen(signal!, 'while binding its port; nothing is left listening'));
      };
      const onError = (e: NodeJS.ErrnoException): void => {
        signal?.removeEventListener('abort', onAbort);
        reject(listenFailure(e, host, port));
      };
      server.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      server.listen(port, host, () => {
        server.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  } catch (e) {
    await listener.close(); // the WebSocket endpoint, and any client it took meanwhile
    throw e;
  }
  return listener;
}

/** A TLS server; bad TLS options (a certificate, key or CA that cannot be used) are refused as such. */
async function tlsServer(options: tls.TlsOptions, handshakeTimeout: number): Promise<tls.Server> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(
      `listen: tls must be an object of TLS options (key, cert, ...), got ${String(options)}`,
    );
  const { createServer } = await import('node:tls');
  try {
    return createServer({ handshakeTimeout: handshakeTimeout > 0 ? handshakeTimeout : 120_000, ...options });
  } catch (e) {
    throw new InvalidArgumentError(
      `listen: the tls options cannot be used (${(e as Error).message}): give key and cert as PEM text or Buffers, or pfx with its passphrase`,
      { cause: e },
    );
  }
}

/** The error of a listen cancelled by its signal: a `TimeoutError` for `AbortSignal.timeout()`, else an `AbortError`. */
function abortedListen(signal: AbortSignal, when: string): AbortError | TimeoutError {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new TimeoutError(`listen timed out ${when}`);
  return new AbortError(`listen was aborted ${when}`, reason);
}

/** A socket error of binding, said with what to do. */
function listenFailure(e: NodeJS.ErrnoException, host: string, port: number): ListenError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const advice: Record<string, string> = {
    EADDRINUSE: 'the port is in use: stop what listens there, or pick another port (0 picks a free one)',
    EACCES: 'binding this port needs privileges: pick a port above 1023',
    EADDRNOTAVAIL: `${host} is not an address of this machine: listen on one of its addresses, 127.0.0.1, or 0.0.0.0 for all`,
    ENOTFOUND: `the host name ${host} cannot be resolved: give an address of this machine`,
    EAI_AGAIN: `the host name ${host} cannot be resolved now: give an address of this machine`,
  };
  return new ListenError(`cannot listen on ${where}: ${advice[e.code ?? ''] ?? e.message}`, e.code, e);
}
