/**
 * Parsing of connection URLs: `amqp[s]://[user[:password]@]host[:port][/path]`, and AMQP over
 * WebSocket, `ws[s]://[user[:password]@]host[:port][/path][?query]`.
 */
import { InvalidArgumentError } from '../errors.js';

/** What a connection URL says. */
export interface ParsedUrl {
  /** `amqp` (TCP), `amqps` (TLS), `ws` (WebSocket) or `wss` (WebSocket over TLS). */
  scheme: 'amqp' | 'amqps' | 'ws' | 'wss';
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  /**
   * For amqp[s]: the path without its leading `/` (a link address, as in Qpid Proton), or
   * undefined. Always undefined for ws[s], whose path is the HTTP one (`websocketPath`).
   */
  path: string | undefined;
  /** For ws[s]: the HTTP path and query of the WebSocket upgrade, e.g. `/` or `/amqp?tenant=a`. */
  websocketPath: string | undefined;
}

const DEFAULT_PORTS = { amqp: 5672, amqps: 5671, ws: 80, wss: 443 } as const;

/** Parses a URL; a bare `host[:port]` is taken as `amqp://`. Throws an `InvalidArgumentError` with the reason. */
export function parseUrl(url: string): ParsedUrl {
  if (typeof url !== 'string' || url.length === 0)
    throw new InvalidArgumentError('the connection URL must be a non-empty string such as amqp://localhost:5672');
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `amqp://${url}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new InvalidArgumentError(
      `the connection URL ${JSON.stringify(url)} is not valid; expected amqp[s]://[user:password@]host[:port] or ws[s]://host[:port]/path`,
    );
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'amqp' && scheme !== 'amqps' && scheme !== 'ws' && scheme !== 'wss') {
    throw new InvalidArgumentError(
      `unsupported URL scheme ${JSON.stringify(scheme)} in ${JSON.stringify(url)}; use amqp://, amqps://, ws:// or wss://`,
    );
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host === '') throw new InvalidArgumentError(`the connection URL ${JSON.stringify(url)} has no host`);
  const port = u.port === '' ? DEFAULT_PORTS[scheme] : Number(u.port);
  const websocket = scheme === 'ws' || scheme === 'wss';
  if (websocket && u.hash !== '')
    throw new InvalidArgumentError(
      `the WebSocket URL ${JSON.stringify(url)} has a fragment (#...), which HTTP never sends: remove it`,
    );
  const path = !websocket && u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined;
  return {
    scheme,
    host,
    port,
    username: u.username === '' ? undefined : decodeURIComponent(u.username),
    password: u.password === '' ? undefined : decodeURIComponent(u.password),
    path,
    websocketPath: websocket ? u.pathname + u.search : undefined,
  };
}
