/**
 * The listening side of SASL: which mechanisms a client is offered, and one client's login
 * through them (SCRAM over two rounds; PLAIN, EXTERNAL and ANONYMOUS in one). A failure of any
 * kind (malformed message, unknown user, wrong proof, a throwing `authenticate`) is a refusal.
 */
import { Buffer } from 'node:buffer';
import type * as tls from 'node:tls';
import type { Authentication } from '../client/connection.js';
import { parsePlainResponse, utf8 } from '../engine/sasl.js';
import { SCRAM_MECHANISMS, SaslUsers, ScramServer } from '../engine/scram.js';
import type { ListenSaslOptions } from './listener.js';
import { InvalidArgumentError } from '../errors.js';

/** The mechanisms a listener can run, strongest first. */
export const SERVER_MECHANISMS: readonly string[] = ['EXTERNAL', ...SCRAM_MECHANISMS.keys(), 'PLAIN', 'ANONYMOUS'];

/** How a login ended: the identity proven (and SCRAM's server-final message), or a refusal. */
export type LoginOutcome =
  { ok: true; identity: Authentication; additionalData?: Uint8Array | undefined } | { ok: false };

/** Throws an `InvalidArgumentError` naming the problem when the SASL options ask for what cannot run. */
export function checkSaslOptions(options: ListenSaslOptions): void {
  if (options.users !== undefined && !(options.users instanceof SaslUsers)) {
    throw new InvalidArgumentError(
      'sasl.users must be a SaslUsers (salted keys), e.g. SaslUsers.fromPasswords({ alice: "secret" }); a plain { name: password } object is not accepted here',
    );
  }
  for (const m of options.mechanisms ?? []) {
    if (!SERVER_MECHANISMS.includes(m))
      throw new InvalidArgumentError(
        `sasl.mechanisms: ${JSON.stringify(m)} is not a mechanism this server runs (${SERVER_MECHANISMS.join(', ')})`,
      );
    if (SCRAM_MECHANISMS.has(m) && !options.users)
      throw new InvalidArgumentError(
        `sasl.mechanisms: ${m} needs sasl.users (the users' salted keys): SaslUsers.fromPasswords({ name: 'password' })`,
      );
    if (m === 'PLAIN' && !options.users && !options.authenticate)
      throw new InvalidArgumentError('sasl.mechanisms: PLAIN needs sasl.users or sasl.authenticate to check passwords');
  }
}

/** What one client is offered, given how it connected. */
export function offeredMechanisms(
  options: ListenSaslOptions,
  how: { secure: boolean; local: boolean; verifiedCertificate: boolean; allowInsecurePlain: boolean },
): string[] {
  let offered = options.mechanisms ?? [
    'EXTERNAL',
    ...(options.users ? [...SCRAM_MECHANISMS.keys(), 'PLAIN'] : options.authenticate ? ['PLAIN'] : ['ANONYMOUS']),
  ];
  // SCRAM only with the hashes the users have keys for.
  const hashes = options.users?.hashes;
  if (hashes) offered = offered.filter((m) => !SCRAM_MECHANISMS.has(m) || hashes.includes(SCRAM_MECHANISMS.get(m)!));
  // EXTERNAL only with a certificate TLS verified; PLAIN without TLS only to this machine's own
  // clients (the rule clients follow), unless allowed.
  if (!how.verifiedCertificate) offered = offered.filter((m) => m !== 'EXTERNAL');
  if (!how.secure && !how.local && !how.allowInsecurePlain) offered = offered.filter((m) => m !== 'PLAIN');
  return offered;
}

/** One client's login. */
export class Login {
  readonly #options: ListenSaslOptions;
  readonly #certificate: tls.PeerCertificate | undefined;
  readonly #offered: readonly string[];
  #scram: { server: ScramServer; identity: Authentication; known: boolean } | undefined;

  /** `offered`: what this client was offered; it may use nothing else. */
  constructor(options: ListenSaslOptions, offered: readonly string[], certificate: tls.PeerCertificate | undefined) {
    this.#options = options;
    this.#offered = offered;
    this.#certificate = certificate;
  }

  /**
   * Runs the client's sasl-init. Resolves with the outcome, or undefined after sending a
   * challenge through `challenge` (the outcome then comes from {@link respond}).
   */
  async start(
    mechanism: string,
    response: Uint8Array | undefined,
    hostname: string | undefined,
    challenge: (bytes: Uint8Array) => void,
  ): Promise<LoginOutcome | undefined> {
    if (!this.#offered.includes(mechanism)) return { ok: false };
    try {
      const hash = SCRAM_MECHANISMS.get(mechanism);
      if (hash !== undefined) {
        const users = this.#options.users;
        if (!users) return { ok: false };
        const server = new ScramServer(hash);
        const { username, authzid } = server.start(utf8(response));
        // An authorization identity other than one's own needs rights nobody has here.
        if (authzid !== undefined && authzid !== username) return { ok: false };
        // An unknown user gets the same exchange as a wrong password (nobody learns who exists).
        const { credentials, known } = users.credentialsFor(username, hash);
        this.#scram = { server, identity: { mechanism, username }, known };
        challenge(Buffer.from(server.firstMessage(credentials), 'utf8'));
        return undefined;
      }
      return await this.#single(mechanism, response, hostname);
    } catch {
      return { ok: false };
    }
  }

  /** Runs the client's sasl-response (SCRAM's client-final message). */
  async respond(response: Uint8Array): Promise<LoginOutcome> {
    const scram = this.#scram;
    this.#scram = undefined;
    if (!scram) return { ok: false };
    try {
      const serverFinal = scram.server.finish(utf8(response));
      return scram.known
        ? { ok: true, identity: scram.identity, additionalData: Buffer.from(serverFinal, 'utf8') }
        : { ok: false };
    } catch {
      return { ok: false };
    }
  }

  async #single(
    mechanism: string,
    response: Uint8Array | undefined,
    hostname: string | undefined,
  ): Promise<LoginOutcome> {
    const { users, authenticate } = this.#options;
    switch (mechanism) {
      case 'ANONYMOUS': {
        const ok = authenticate ? await authenticate({ mechanism, hostname }) : true;
        return ok ? { ok, identity: { mechanism } } : { ok: false };
      }
      case 'PLAIN': {
        const plain = parsePlainResponse(response);
        if (!plain) return { ok: false };
        const authzid = plain.authzid === '' ? undefined : plain.authzid;
        let ok: boolean;
        if (users)
          ok =
            (authzid === undefined || authzid === plain.username) &&
            (await users.verifyPlain(plain.username, plain.password));
        else if (authenticate)
          ok = await authenticate({ mechanism, username: plain.username, password: plain.password, authzid, hostname });
        else ok = false;
        return ok ? { ok, identity: { mechanism, username: plain.username, authzid } } : { ok: false };
      }
      case 'EXTERNAL': {
        const certificate = this.#certificate;
        if (!certificate) return { ok: false };
        const username = typeof certificate.subject?.CN === 'string' ? certificate.subject.CN : undefined;
        const authzid = response && response.length > 0 ? utf8(response) : undefined;
        const ok = authenticate
          ? await authenticate({ mechanism, username, authzid, hostname, peerCertificate: certificate })
          : authzid === undefined || authzid === username;
        return ok ? { ok, identity: { mechanism, username, authzid } } : { ok: false };
      }
      default:
        return { ok: false };
    }
  }
}
