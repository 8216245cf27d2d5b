/**
 * The WebSocket side of a listener: an HTTP server (its own, or the application's) whose upgrade
 * requests for AMQP (subprotocol `amqp`, AMQP WebSocket Binding section 2) become byte streams
 * that the listener serves exactly as it serves TCP sockets.
 */
import { Buffer } from 'node:buffer';
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type * as tls from 'node:tls';
import { InvalidArgumentError } from '../errors.js';
import { debugLog } from '../runtime/debug-log.js';
import { AMQP_SUBPROTOCOL } from '../transport/websocket-connect.js';
import { loadWebSocketModule } from '../transport/websocket-module.js';
import { WebSocketStream } from '../transport/websocket-stream.js';
import { refuseUnknownOptions } from '../runtime/known-options.js';

const log = debugLog('quark:listener');

/** Options of AMQP over WebSocket on the listening side (`listen({ websocket })`). */
export interface WebSocketListenOptions {
  /**
   * The port of the HTTP server that takes the upgrades; 0 (the default) picks a free one (see
   * `listener.websocketPort`). Not with `server`.
   */
  port?: number | undefined;
  /** The address to listen on. Default: the listener's `host`. Not with `server`. */
  host?: string | undefined;
  /**
   * The HTTP path clients connect to, e.g. `/amqp`; a request for another path is answered 404
   * (with `server`: left to the server's other upgrade listeners). Default: any path.
   */
  path?: string | undefined;
  /**
   * Take upgrades from this HTTP or HTTPS server of yours, beside what else it serves, instead of
   * listening on a port: only requests asking for the `amqp` subprotocol (on `path`, when given)
   * are taken, others are left to the server's other `upgrade` listeners. The server stays
   * yours: `listen()` neither starts nor closes it, and its TLS (an `https.Server` gives wss://)
   * is what clients get, so the listener's `tls` is refused with it.
   */
  server?: http.Server | https.Server | undefined;
  /**
   * Decides on each upgrade request before any AMQP is read: check its `Origin` (a browser page
   * of another site can open WebSockets to you) or a gateway's headers. `false` answers it with
   * 403. Default: every request is taken (AMQP's SASL then decides who logs in).
   */
  verifyRequest?: ((request: http.IncomingMessage) => boolean | Promise<boolean>) | undefined;
}

const WEBSOCKET_OPTIONS: ReadonlySet<string> = new Set(['port', 'host', 'path', 'server', 'verifyRequest']);

/** What the endpoint shares with the listener's TCP side. */
export interface WebSocketEndpointSettings {
  host: string;
  tls: tls.TlsOptions | undefined;
  /** Bounds the TLS and HTTP handshakes (0: Node's defaults). */
  handshakeTimeout: number;
  /** Sockets beyond which the HTTP server drops connections at once. */
  maxSockets: number;
}

/** Checks `listen()`'s `websocket` option; InvalidArgumentError naming what is wrong. */
export function checkWebSocketListenOptions(options: WebSocketListenOptions, listenerTls: boolean): void {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('listen: websocket must be an object such as { port: 5673, path: "/amqp" }');
  refuseUnknownOptions(options, WEBSOCKET_OPTIONS, 'listen: websocket');
  const { port, path, server, verifyRequest } = options;
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
    throw new InvalidArgumentError(`listen: websocket.port must be from 0 to 65535, got ${String(port)}`);
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path))) {
    throw new InvalidArgumentError(
      `listen: websocket.path must be an HTTP path such as "/amqp" (no query), got ${JSON.stringify(path)}`,
    );
  }
  if (server !== undefined) {
    if (
      typeof (server as { on?: unknown }).on !== 'function' ||
      typeof (server as { address?: unknown }).address !== 'function'
    )
      throw new InvalidArgumentError('listen: websocket.server must be an http.Server or https.Server');
    if (port !== undefined || options.host !== undefined)
      throw new InvalidArgumentError(
        'listen: websocket.port and websocket.host cannot be given with websocket.server, which listens where you made it listen',
      );
    if (listenerTls)
      throw new InvalidArgumentError(
        "listen: tls cannot be combined with websocket.server: the server's own TLS applies (make it an https.Server for wss://); serve the TCP side without tls, or use websocket.port",
      );
  }
  if (verifyRequest !== undefined && typeof verifyRequest !== 'function')
    throw new InvalidArgumentError('listen: websocket.verifyRequest must be a function of the upgrade request');
}

export class WebSocketEndpoint {
  readonly #server: http.Server | https.Server;
  /** Whether the HTTP server is ours to start and close. */
  readonly #owned: boolean;
  readonly #secure: boolean;
  readonly #options: WebSocketListenOptions;
  readonly #onUpgrade: (request: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  #closed = false;

  private constructor(
    server: http.Server | https.Server,
    owned: boolean,
    secure: boolean,
    options: WebSocketListenOptions,
    accept: (stream: WebSocketStream) => void,
  ) {
    this.#server = server;
    this.#owned = owned;
    this.#secure = secure;
    this.#options = options;
    const wss = new (loadWebSocketModule().WebSocketServer)({
      noServer: true,
      clientTracking: false, // the listener tracks its connections
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(AMQP_SUBPROTOCOL) ? AMQP_SUBPROTOCOL : false),
    });
    this.#onUpgrade = (request, socket, head) => {
      const ours = this.#takes(request);
      if (ours !== true) {
        // A shared server's other upgrade listeners may take it; answered here only if there are none.
        if (this.#owned || server.listenerCount('upgrade') === 1) refuse(socket, ours.status, ours.message);
        return;
      }
      const verify = options.verifyRequest;
      const upgrade = (): void => {
        if (this.#closed) return refuse(socket, 503, 'The AMQP listener is closing.');
        wss.handleUpgrade(request, socket, head, (ws) => accept(new WebSocketStream(ws, request.socket)));
      };
      if (verify === undefined) return upgrade();
      socket.on('error', () => undefined); // a client gone while we decide
      Promise.resolve()
        .then(() => verify(request))
        .then(
          (allowed) =>
            allowed === true
              ? upgrade()
              : refuse(socket, 403, 'The AMQP listener refused this request (verifyRequest).'),
          (e: unknown) => {
            log('verifyRequest failed: %s', (e as Error).message);
            refuse(socket, 500, 'The AMQP listener could not decide on this request.');
          },
        );
    };
    server.on('upgrade', this.#onUpgrade);
    if (owned) {
      server.on('request', (_request: http.IncomingMessage, response: http.ServerResponse) => {
        response.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'close' });
        response.end(
          'This endpoint serves AMQP over WebSocket: connect with a WebSocket asking for the "amqp" subprotocol.\n',
        );
      });
    }
  }

  /** Starts the endpoint: its own HTTP(S) server bound to a port, or on the application's server. */
  static async open(
    options: WebSocketListenOptions,
    settings: WebSocketEndpointSettings,
    accept: (stream: WebSocketStream) => void,
  ): Promise<WebSocketEndpoint> {
    if (options.server !== undefined) {
      const secure = typeof (options.server as { addContext?: unknown }).addContext === 'function'; // a tls.Server (https.Server) has addContext
      return new WebSocketEndpoint(options.server, false, secure, options, accept);
    }
    const timeouts =
      settings.handshakeTimeout > 0
        ? {
            requestTimeout: settings.handshakeTimeout,
            headersTimeout: settings.handshakeTimeout,
            connectionsCheckingInterval: Math.min(30_000, settings.handshakeTimeout),
          }
        : {};
    const server = settings.tls
      ? (await import('node:https')).createServer({
          handshakeTimeout: settings.handshakeTimeout > 0 ? settings.handshakeTimeout : 120_000,
          ...settings.tls,
          ...timeouts,
        })
      : (await import('node:http')).createServer(timeouts);
    server.maxConnections = settings.maxSockets;
    // A socket that sends no request at all is dropped too (ws stops this clock at the upgrade).
    if (settings.handshakeTimeout > 0) server.timeout = settings.handshakeTimeout;
    const endpoint = new WebSocketEndpoint(server, true, settings.tls !== undefined, options, accept);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? settings.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return endpoint;
  }

  /** The port upgrades come to (the application's server's, with `server`; 0 if it does not listen). */
  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** A URL clients can connect to. */
  get url(): string {
    const a = this.#server.address();
    const address = typeof a === 'object' && a !== null ? a.address : '127.0.0.1';
    const host = address.includes(':') ? `[${address}]` : address;
    return `${this.#secure ? 'wss' : 'ws'}://${host}:${this.port}${this.#options.path ?? '/'}`;
  }

  /** Whether a request is for us; else the HTTP answer it gets when nobody else takes it. */
  #takes(request: http.IncomingMessage): true | { status: number; message: string } {
    const path = this.#options.path;
    const url = request.url ?? '/';
    const pathname = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
    if (path !== undefined && pathname !== path)
      return { status: 404, message: `No AMQP WebSocket endpoint at ${pathname}; it is at ${path}.` };
    const protocols = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!protocols.includes(AMQP_SUBPROTOCOL)) {
      return {
        status: 400,
        message:
          'AMQP over WebSocket needs the "amqp" subprotocol: ask for it with the header Sec-WebSocket-Protocol: amqp.',
      };
    }
    return true;
  }

  /** Takes no more upgrades; resolves once its own HTTP server has closed (connections are the listener's to close). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.off('upgrade', this.#onUpgrade);
    if (!this.#owned) return;
    const server = this.#server;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Idle HTTP sockets; one mid-request is bounded by handshakeTimeout, upgraded ones are the listener's to close.
      server.closeIdleConnections();
    });
  }
}

/** Answers an upgrade request with an HTTP error and drops the socket. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  const reason =
    {
      400: 'Bad Request',
      403: 'Forbidden',
      404: 'Not Found',
      500: 'Internal Server Error',
      503: 'Service Unavailable',
    }[status] ?? 'Error';
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
