/**
 * The peers a connection may use: `url`, or the failover list `urls`, or `host`/`port`, each
 * with its own scheme (TCP or WebSocket, TLS or not) and credentials. Checked once, before
 * anything is opened.
 */
import type * as http from 'node:http';
import type * as tls from 'node:tls';
import type { ConnectOptions } from './connection.js';
import { allowedMechanisms } from '../engine/sasl.js';
import { SCRAM_MECHANISMS } from '../engine/scram.js';
import { parseUrl } from './url.js';
import { InsecurePlainError, InvalidArgumentError } from '../errors.js';

/** One peer to connect to, with everything its attempt needs. */
export interface ConnectTarget {
  /** The peer's URL without its password, for events, errors and logs. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** TLS options when the peer is reached over TLS, else undefined. */
  readonly tls: tls.ConnectionOptions | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /**
   * Whether a password would go in clear text (PLAIN without TLS) with `allowInsecurePlain`
   * unset: then only to a loopback address, decided once the host's address is known.
   */
  readonly passwordInClear: boolean;
  /** Set when PLAIN must not be used at all here (`allowInsecurePlain: false` without TLS): why. */
  readonly plainRefused: string | undefined;
  /** For a `ws://` or `wss://` peer: the upgrade's path and options; undefined over plain TCP. */
  readonly websocket: WebSocketTarget | undefined;
}

/** How a WebSocket peer is reached. */
export interface WebSocketTarget {
  /** The HTTP path and query of the upgrade request, e.g. `/amqp`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly agent: http.Agent | undefined;
}

/**
 * Options of AMQP over WebSocket, for the `ws://` and `wss://` URLs of `connect()`. A `wss://`
 * peer takes the same `tls` options as an `amqps://` one (ca, cert, key, servername,
 * rejectUnauthorized...).
 */
export interface WebSocketConnectOptions {
  /**
   * Extra HTTP headers of the upgrade request, e.g. `{ Authorization: 'Bearer ...' }` for a
   * gateway in front of the broker, or `Origin`. The WebSocket headers themselves
   * (`Sec-WebSocket-*`, `Upgrade`, `Connection`) are Quark's and cannot be given.
   */
  headers?: Record<string, string> | undefined;
  /**
   * The `http.Agent` (or `https.Agent` for `wss://`) that opens the socket: how to go through an
   * HTTP proxy, with an agent that tunnels through it (such as the `https-proxy-agent`
   * package's). Quark has no proxy setting of its own, and does not read `HTTP_PROXY`.
   */
  agent?: http.Agent | undefined;
}

const WEBSOCKET_OPTIONS: ReadonlySet<string> = new Set(['headers', 'agent']);
/** An HTTP header name (a token, RFC 9110 section 5.6.2) and value (no line breaks or control characters). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers the WebSocket handshake sets itself. */
const RESERVED_HEADERS = /^(sec-websocket-.*|upgrade|connection|host)$/i;

/** The fields of `connect()`'s options that say where to connect. */
export type TargetOptions = Pick<
  ConnectOptions,
  'url' | 'urls' | 'host' | 'port' | 'tls' | 'username' | 'password' | 'sasl' | 'allowInsecurePlain' | 'websocket'
>;

/**
 * The targets of a connection, in the order they are tried. `urls` (the failover list) and `url`
 * cannot be mixed with each other or with `host`/`port`. In `urls`, each URL's own credentials
 * win over `username`/`password` (the defaults); with one `url`, the options
 * override it. In `urls`, each URL's scheme says whether it uses TLS, and `tls` options apply to
 * the `amqps://` ones.
 */
export function connectTargets(options: TargetOptions): ConnectTarget[] {
  const { urls } = options;
  let targets: ConnectTarget[];
  if (urls !== undefined) {
    if (!Array.isArray(urls) || urls.length === 0)
      throw new InvalidArgumentError(
        'urls must be a non-empty array of connection URLs, e.g. ["amqp://a:5672", "amqp://b:5672"]',
      );
    if (options.url !== undefined)
      throw new InvalidArgumentError('give either url (one peer) or urls (a failover list), not both');
    if (options.host !== undefined || options.port !== undefined)
      throw new InvalidArgumentError('host and port cannot be combined with urls: put every peer in urls');
    targets = urls.map((url) => target(options, url, true));
  } else {
    targets = [target(options, options.url, false)];
  }
  if (options.websocket !== undefined && !targets.some((t) => t.websocket !== undefined)) {
    throw new InvalidArgumentError(
      'connect: the websocket options apply to ws:// and wss:// URLs only, and no URL given is one',
    );
  }
  return targets;
}

/** The `websocket` option, checked. */
function webSocketOptions(options: WebSocketConnectOptions | undefined): WebSocketConnectOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(
      'connect: websocket must be an object such as { headers: { Authorization: "..." } }',
    );
  if ('proxy' in options) {
    throw new InvalidArgumentError(
      "connect: websocket.proxy is not supported; to go through an HTTP proxy, give websocket.agent an http.Agent that tunnels through it (such as https-proxy-agent's)",
    );
  }
  for (const key of Object.keys(options)) {
    if (!WEBSOCKET_OPTIONS.has(key))
      throw new InvalidArgumentError(
        `connect: unknown option websocket.${key}; the websocket options are ${[...WEBSOCKET_OPTIONS].join(', ')}`,
      );
  }
  const { headers, agent } = options;
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null)
      throw new InvalidArgumentError('connect: websocket.headers must be an object of header names and string values');
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== 'string')
        throw new InvalidArgumentError(`connect: websocket.headers.${name} must be a string, got ${typeof value}`);
      if (!HEADER_NAME.test(name))
        throw new InvalidArgumentError(
          `connect: websocket.headers has ${JSON.stringify(name)}, which is not an HTTP header name`,
        );
      if (!HEADER_VALUE.test(value))
        throw new InvalidArgumentError(
          `connect: websocket.headers.${name} has a character an HTTP header cannot hold (a line break or control character)`,
        );
      if (RESERVED_HEADERS.test(name))
        throw new InvalidArgumentError(
          `connect: websocket.headers cannot set ${name}: the WebSocket handshake sets it`,
        );
    }
  }
  if (
    agent !== undefined &&
    (typeof agent !== 'object' ||
      agent === null ||
      typeof (agent as { addRequest?: unknown }).addRequest !== 'function')
  ) {
    throw new InvalidArgumentError('connect: websocket.agent must be an http.Agent (or https.Agent for wss://)');
  }
  return options;
}

/** `urlWins`: the URL's credentials win over the options' (a failover list); else the options override the URL. */
function target(options: TargetOptions, url: string | undefined, urlWins: boolean): ConnectTarget {
  const parsed = url !== undefined ? parseUrl(url) : undefined;
  // In a failover list each URL's scheme decides (`tls: true` forces TLS on all, `tls: false` on none);
  // with one URL, `tls` overrides its scheme.
  const tlsOption = options.tls;
  const secureScheme = parsed?.scheme === 'amqps' || parsed?.scheme === 'wss';
  const useTls = urlWins
    ? tlsOption === true || (tlsOption !== false && secureScheme)
    : tlsOption !== undefined
      ? tlsOption !== false
      : secureScheme;
  const host = options.host ?? parsed?.host ?? 'localhost';
  const port = options.port ?? parsed?.port ?? (useTls ? 5671 : 5672);
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new InvalidArgumentError(`port must be from 1 to 65535, got ${String(port)}`);
  const username = urlWins ? (parsed?.username ?? options.username) : (options.username ?? parsed?.username);
  const password = urlWins ? (parsed?.password ?? options.password) : (options.password ?? parsed?.password);
  const inClear = username !== undefined && options.sasl !== false && !useTls;
  // SCRAM never sends the password: only PLAIN is held back where the password would be in clear.
  const scramAllowed = inClear && allowsScram(options.sasl || undefined, username);
  let plainRefused: string | undefined;
  if (inClear && options.allowInsecurePlain === false) {
    plainRefused = `Refusing to send a password in clear text to ${host} (allowInsecurePlain: false) and the server offers no SCRAM mechanism: use amqps:// (TLS).`;
    if (!scramAllowed)
      throw new InsecurePlainError(
        `Refusing to send a password in clear text to ${host} (allowInsecurePlain: false): use amqps:// (TLS), or allow a SCRAM mechanism.`,
      );
  }
  const ws = parsed?.websocketPath !== undefined ? webSocketOptions(options.websocket) : undefined;
  const websocket =
    ws !== undefined ? { path: parsed!.websocketPath!, headers: ws.headers, agent: ws.agent } : undefined;
  return {
    url: targetUrl(useTls, username, host, port, websocket?.path),
    host,
    port,
    tls: useTls ? (typeof options.tls === 'object' ? options.tls : {}) : undefined,
    username,
    password,
    passwordInClear: inClear && options.allowInsecurePlain !== true,
    plainRefused,
    websocket,
  };
}

/** Whether the mechanisms allowed include one that keeps the password off the wire (SCRAM). */
export function allowsScram(
  sasl: { mechanisms?: string[] | undefined } | undefined,
  username: string | undefined,
): boolean {
  return allowedMechanisms({ mechanisms: sasl?.mechanisms, username }).some((m) => SCRAM_MECHANISMS.has(m));
}

/**
 * A peer's URL as events and errors show it: scheme, user name, host and port (and a WebSocket's
 * path), never the password.
 */
export function targetUrl(
  tls: boolean,
  username: string | undefined,
  host: string,
  port: number,
  websocketPath?: string,
): string {
  const hostText = host.includes(':') ? `[${host}]` : host;
  const scheme = websocketPath !== undefined ? (tls ? 'wss' : 'ws') : tls ? 'amqps' : 'amqp';
  return `${scheme}://${username !== undefined ? `${encodeURIComponent(username)}@` : ''}${hostText}:${port}${websocketPath ?? ''}`;
}
