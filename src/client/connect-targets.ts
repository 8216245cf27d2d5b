/**
 * The peers a connection may use: `url`, or the failover list `urls`, or `host`/`port`, each
 * with its own scheme (TLS or not) and credentials. Checked once, before anything is opened.
 */
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
}

/** The fields of `connect()`'s options that say where to connect. */
export type TargetOptions = Pick<ConnectOptions, 'url' | 'urls' | 'host' | 'port' | 'tls' | 'username' | 'password' | 'sasl' | 'allowInsecurePlain'>;

/**
 * The targets of a connection, in the order they are tried. `urls` (the failover list) and `url`
 * cannot be mixed with each other or with `host`/`port`. In `urls`, each URL's own credentials
 * win over `username`/`password` (the defaults); with one `url`, the options
 * override it. In `urls`, each URL's scheme says whether it uses TLS, and `tls` options apply to
 * the `amqps://` ones.
 */
export function connectTargets(options: TargetOptions): ConnectTarget[] {
  const { urls } = options;
  if (urls !== undefined) {
    if (!Array.isArray(urls) || urls.length === 0) throw new InvalidArgumentError('urls must be a non-empty array of connection URLs, e.g. ["amqp://a:5672", "amqp://b:5672"]');
    if (options.url !== undefined) throw new InvalidArgumentError('give either url (one peer) or urls (a failover list), not both');
    if (options.host !== undefined || options.port !== undefined) throw new InvalidArgumentError('host and port cannot be combined with urls: put every peer in urls');
    return urls.map((url) => target(options, url, true));
  }
  return [target(options, options.url, false)];
}

/** `urlWins`: the URL's credentials win over the options' (a failover list); else the options override the URL. */
function target(options: TargetOptions, url: string | undefined, urlWins: boolean): ConnectTarget {
  const parsed = url !== undefined ? parseUrl(url) : undefined;
  // In a failover list each URL's scheme decides (`tls: true` forces TLS on all, `tls: false` on none);
  // with one URL, `tls` overrides its scheme.
  const tlsOption = options.tls;
  const useTls = urlWins
    ? tlsOption === true || (tlsOption !== false && parsed?.scheme === 'amqps')
    : tlsOption !== undefined ? tlsOption !== false : parsed?.scheme === 'amqps';
  const host = options.host ?? parsed?.host ?? 'localhost';
  const port = options.port ?? parsed?.port ?? (useTls ? 5671 : 5672);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new InvalidArgumentError(`port must be from 1 to 65535, got ${String(port)}`);
  const username = urlWins ? parsed?.username ?? options.username : options.username ?? parsed?.username;
  const password = urlWins ? parsed?.password ?? options.password : options.password ?? parsed?.password;
  const inClear = username !== undefined && options.sasl !== false && !useTls;
  // SCRAM never sends the password: only PLAIN is held back where the password would be in clear.
  const scramAllowed = inClear && allowsScram(options.sasl || undefined, username);
  let plainRefused: string | undefined;
  if (inClear && options.allowInsecurePlain === false) {
    plainRefused = `Refusing to send a password in clear text to ${host} (allowInsecurePlain: false) and the server offers no SCRAM mechanism: use amqps:// (TLS).`;
    if (!scramAllowed) throw new InsecurePlainError(`Refusing to send a password in clear text to ${host} (allowInsecurePlain: false): use amqps:// (TLS), or allow a SCRAM mechanism.`);
  }
  return {
    url: targetUrl(useTls, username, host, port),
    host,
    port,
    tls: useTls ? (typeof options.tls === 'object' ? options.tls : {}) : undefined,
    username,
    password,
    passwordInClear: inClear && options.allowInsecurePlain !== true,
    plainRefused,
  };
}

/** Whether the mechanisms allowed include one that keeps the password off the wire (SCRAM). */
export function allowsScram(sasl: { mechanisms?: string[] | undefined } | undefined, username: string | undefined): boolean {
  return allowedMechanisms({ mechanisms: sasl?.mechanisms, username }).some((m) => SCRAM_MECHANISMS.has(m));
}

/** A peer's URL as events and errors show it: scheme, user name, host and port, never the password. */
export function targetUrl(tls: boolean, username: string | undefined, host: string, port: number): string {
  const hostText = host.includes(':') ? `[${host}]` : host;
  return `${tls ? 'amqps' : 'amqp'}://${username !== undefined ? `${encodeURIComponent(username)}@` : ''}${hostText}:${port}`;
}
