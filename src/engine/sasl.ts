/**
 * SASL (spec, security section 5.3): the client's choice of mechanism and its side of the
 * exchange (initial response, answers to challenges, the check of the outcome), and the server's
 * parsing of PLAIN. Credentials stay UTF-8 intact.
 */
import { Buffer } from 'node:buffer';
import { AuthenticationError } from '../errors.js';
import { SCRAM_MECHANISMS, ScramClient } from './scram.js';

/** What a client may authenticate with. */
export interface SaslClientOptions {
  /** The user name (for SCRAM and PLAIN). */
  username?: string | undefined;
  /** The password (for SCRAM and PLAIN). */
  password?: string | undefined;
  /** The authorization identity to act as (SCRAM, PLAIN, EXTERNAL), when different from the authenticated one. */
  authzid?: string | undefined;
  /**
   * Mechanisms we allow, in order of preference. Default: with a user name SCRAM-SHA-512,
   * SCRAM-SHA-256, SCRAM-SHA-1, then PLAIN; with a TLS client certificate and no user name
   * EXTERNAL, then ANONYMOUS; otherwise ANONYMOUS.
   */
  mechanisms?: string[] | undefined;
  /** Whether the TLS layer presents a client certificate (which makes EXTERNAL the default). */
  clientCertificate?: boolean | undefined;
  /**
   * Set when the password would cross the network in clear text (no TLS, a peer that is not this
   * machine): PLAIN is not used, and if the server offers nothing else we allow, the connection
   * fails with `quark:insecure-plain` and this text (saying where and what to do).
   */
  refusePlain?: string | undefined;
}

/** The mechanisms this client can run, strongest first. */
export const CLIENT_MECHANISMS: readonly string[] = ['EXTERNAL', ...SCRAM_MECHANISMS.keys(), 'PLAIN', 'ANONYMOUS'];

/** A client's side of one SASL mechanism. */
export interface SaslClientMechanism {
  readonly name: string;
  /** What sasl-init carries. */
  initialResponse(): Uint8Array | undefined;
  /** The answer to a challenge. Throws `AuthenticationError` when the challenge is wrong. */
  respond(challenge: Uint8Array): Uint8Array;
  /** Checks a successful outcome (and its additional data). Throws `AuthenticationError` when it proves nothing. */
  succeeded(additionalData: Uint8Array | undefined): void;
}

/** The text a SASL frame carries (absent bytes read as empty), without copying them. */
export const utf8 = (bytes: Uint8Array | undefined): string =>
  bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : '';
const EMPTY = new Uint8Array(0);

/** Mechanisms with one message and nothing to check: PLAIN, ANONYMOUS, EXTERNAL. */
class SingleMessage implements SaslClientMechanism {
  constructor(
    readonly name: string,
    private readonly response: Uint8Array,
  ) {}
  initialResponse(): Uint8Array {
    return this.response;
  }
  respond(): Uint8Array {
    throw new AuthenticationError(`SASL: the server sent a challenge, which ${this.name} does not have.`);
  }
  succeeded(): void {}
}

/** SCRAM: client-first in sasl-init, client-final in answer to the server-first, and the server's signature checked. */
class ScramMechanism implements SaslClientMechanism {
  readonly #scram: ScramClient;
  #answered = false;
  #verified = false;
  constructor(
    readonly name: string,
    scram: ScramClient,
  ) {
    this.#scram = scram;
  }
  initialResponse(): Uint8Array {
    return Buffer.from(this.#scram.firstMessage(), 'utf8');
  }
  respond(challenge: Uint8Array): Uint8Array {
    if (!this.#answered) {
      this.#answered = true;
      return Buffer.from(this.#scram.finalMessage(utf8(challenge)), 'utf8');
    }
    // Some servers send the server-final message as a challenge, and the outcome after an empty answer.
    this.#verify(challenge);
    return EMPTY;
  }
  succeeded(additionalData: Uint8Array | undefined): void {
    if (additionalData !== undefined && additionalData.length > 0 && !this.#verified) this.#verify(additionalData);
    if (!this.#verified)
      throw new AuthenticationError(
        `SASL: the server reported success without proving it holds this user's ${this.name} keys; the connection was not trusted.`,
      );
  }
  #verify(serverFinal: Uint8Array): void {
    if (this.#verified)
      throw new AuthenticationError(`SASL: the server sent a second ${this.name} server-final message.`);
    this.#scram.verifyServerFinal(utf8(serverFinal));
    this.#verified = true;
  }
}

/** The mechanisms we allow, in order, given the options. */
export function allowedMechanisms(options: SaslClientOptions): string[] {
  if (options.mechanisms) return options.mechanisms;
  if (options.username !== undefined) return [...SCRAM_MECHANISMS.keys(), 'PLAIN'];
  return options.clientCertificate ? ['EXTERNAL', 'ANONYMOUS'] : ['ANONYMOUS'];
}

/**
 * Picks the first of our allowed mechanisms that the server offers, ready to run. Returns the
 * reason, as a string, when there is none.
 */
export function chooseSaslMechanism(
  offered: readonly string[],
  options: SaslClientOptions,
): SaslClientMechanism | string {
  const allowed = allowedMechanisms(options);
  for (const mechanism of allowed) {
    if (!offered.includes(mechanism)) continue;
    const hash = SCRAM_MECHANISMS.get(mechanism);
    if (hash !== undefined) {
      if (options.username === undefined) continue;
      return new ScramMechanism(
        mechanism,
        new ScramClient(hash, options.username, options.password ?? '', { authzid: options.authzid }),
      );
    }
    switch (mechanism) {
      case 'PLAIN':
        if (options.username === undefined || options.refusePlain !== undefined) continue;
        return new SingleMessage(
          mechanism,
          plainResponse(options.authzid ?? '', options.username, options.password ?? ''),
        );
      case 'ANONYMOUS':
        return new SingleMessage(mechanism, EMPTY);
      case 'EXTERNAL':
        return new SingleMessage(mechanism, Buffer.from(options.authzid ?? '', 'utf8'));
    }
  }
  let hint = '';
  const needsName = allowed.some((m) => m === 'PLAIN' || SCRAM_MECHANISMS.has(m));
  if (options.username === undefined && offered.some((m) => m === 'PLAIN' || SCRAM_MECHANISMS.has(m)))
    hint = ' (give a user name and password to use them)';
  else if (offered.length === 0)
    hint =
      ' (it offers none: a server with users but no TLS may offer PLAIN only to its own machine; connect over amqps://, or set the server up for it)';
  else if (needsName && !offered.includes('PLAIN') && !offered.some((m) => SCRAM_MECHANISMS.has(m)))
    hint = ' (servers commonly offer password mechanisms only over TLS, so try amqps://)';
  else if (offered.includes('EXTERNAL') && !allowed.includes('EXTERNAL'))
    hint = ' (EXTERNAL logs in with a TLS client certificate: give tls.cert and tls.key)';
  return `the server offers SASL mechanisms [${offered.join(', ')}] but this client allows only [${allowed.join(', ')}]${hint}`;
}

/** The PLAIN initial response: authzid NUL username NUL password, in UTF-8 (RFC 4616). */
export function plainResponse(authzid: string, username: string, password: string): Uint8Array {
  return Buffer.from(`${authzid}\u0000${username}\u0000${password}`, 'utf8');
}

/** The parts of a PLAIN response, or undefined when it is malformed. */
export function parsePlainResponse(
  response: Uint8Array | undefined,
): { authzid: string; username: string; password: string } | undefined {
  if (!response) return undefined;
  const parts = utf8(response).split('\u0000');
  if (parts.length !== 3 || parts[1] === '') return undefined;
  return { authzid: parts[0]!, username: parts[1]!, password: parts[2]! };
}
