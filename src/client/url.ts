import { InvalidArgumentError } from '../errors.js';
/** Parsing of connection URLs: `amqp[s]://[user[:password]@]host[:port][/path]`. */

/** What a connection URL says. */
export interface ParsedUrl {
  /** `amqp` (TCP) or `amqps` (TLS). */
  scheme: 'amqp' | 'amqps';
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  /** The path without its leading `/` (a link address, as in Qpid Proton), or undefined. */
  path: string | undefined;
}

/** Parses a URL; a bare `host[:port]` is taken as `amqp://`. Throws an `InvalidArgumentError` with the reason. */
export function parseUrl(url: string): ParsedUrl {
  if (typeof url !== 'string' || url.length === 0) throw new InvalidArgumentError('the connection URL must be a non-empty string such as amqp://localhost:5672');
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `amqp://${url}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new InvalidArgumentError(`the connection URL ${JSON.stringify(url)} is not valid; expected amqp[s]://[user:password@]host[:port]`);
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'amqp' && scheme !== 'amqps') {
    throw new InvalidArgumentError(`unsupported URL scheme ${JSON.stringify(scheme)} in ${JSON.stringify(url)}; use amqp:// or amqps://`);
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host === '') throw new InvalidArgumentError(`the connection URL ${JSON.stringify(url)} has no host`);
  const port = u.port === '' ? (scheme === 'amqps' ? 5671 : 5672) : Number(u.port);
  const path = u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined;
  return {
    scheme,
    host,
    port,
    username: u.username === '' ? undefined : decodeURIComponent(u.username),
    password: u.password === '' ? undefined : decodeURIComponent(u.password),
    path,
  };
}
