/**
 * SCRAM (RFC 5802, RFC 7677): password authentication in which neither the password nor anything
 * that would let an eavesdropper log in crosses the wire, and in which the client also checks the
 * server (the server proves it holds the user's keys). SHA-1, SHA-256 and SHA-512 variants; no
 * channel binding (the `-PLUS` mechanisms), like Proton and RabbitMQ.
 *
 * The server keeps salted keys, never passwords: {@link scramCredentials} derives them once.
 */
import { Buffer } from 'node:buffer';
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError, InvalidArgumentError } from '../errors.js';
import { saslPrep } from './saslprep.js';

/** The hash of a SCRAM mechanism. */
export type ScramHash = 'SHA-1' | 'SHA-256' | 'SHA-512';

/** SASL mechanism names, strongest first, and their hashes. */
export const SCRAM_MECHANISMS: ReadonlyMap<string, ScramHash> = new Map([
  ['SCRAM-SHA-512', 'SHA-512'],
  ['SCRAM-SHA-256', 'SHA-256'],
  ['SCRAM-SHA-1', 'SHA-1'],
]);

/** What a server stores for one user and one hash: enough to check a login, not to make one. */
export interface ScramCredentials {
  /** The hash function they were made with (`SHA-512`, `SHA-256` or `SHA-1`). */
  readonly hash: ScramHash;
  /** The salt the password was hashed with. */
  readonly salt: Uint8Array;
  /** How many times the password was hashed (PBKDF2). */
  readonly iterations: number;
  /** H(ClientKey): checks the client's proof. */
  readonly storedKey: Uint8Array;
  /** HMAC(SaltedPassword, "Server Key"): signs the server's answer. */
  readonly serverKey: Uint8Array;
}

/** Iterations when not given: RFC 7677's minimum for SHA-256, as RabbitMQ and Kafka use. */
export const DEFAULT_SCRAM_ITERATIONS = 4096;
/** Fewer than this makes stolen keys cheap to attack; more than this makes a login a denial of service. */
const MIN_ITERATIONS = 4096;
const MAX_ITERATIONS = 1_000_000;

const NODE_HASH: Record<ScramHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-512': 'sha512' };
const HASH_LENGTH: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-512': 64 };

function hmac(hash: ScramHash, key: Uint8Array, text: string): Buffer {
  return createHmac(NODE_HASH[hash], key).update(text, 'utf8').digest();
}

function digest(hash: ScramHash, data: Uint8Array): Buffer {
  return createHash(NODE_HASH[hash]).update(data).digest();
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function saltedPassword(hash: ScramHash, password: string, salt: Uint8Array, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(saslPrep(password), 'utf8'), salt, iterations, HASH_LENGTH[hash], NODE_HASH[hash]);
}

function keysOf(hash: ScramHash, salted: Uint8Array): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(hash, salted, 'Client Key');
  return { clientKey, storedKey: digest(hash, clientKey), serverKey: hmac(hash, salted, 'Server Key') };
}

function checkIterations(iterations: number, what: string): void {
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new InvalidArgumentError(
      `${what} must be a whole number from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}, got ${iterations}`,
    );
  }
}

/**
 * Derives what a server stores for a user from the password: a random 16-byte salt (unless
 * given), PBKDF2 with `iterations` (default 4096), and the stored and server keys.
 */
export function scramCredentials(
  password: string,
  hash: ScramHash,
  options?: { salt?: Uint8Array | undefined; iterations?: number | undefined },
): ScramCredentials {
  if (!(hash in NODE_HASH))
    throw new InvalidArgumentError(`unknown SCRAM hash ${String(hash)}: use SHA-1, SHA-256 or SHA-512`);
  const iterations = options?.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  checkIterations(iterations, 'SCRAM iterations');
  const salt = options?.salt ?? randomBytes(16);
  const { storedKey, serverKey } = keysOf(hash, saltedPassword(hash, password, salt, iterations));
  return { hash, salt: Uint8Array.from(salt), iterations, storedKey, serverKey };
}

/**
 * Whether `password` is the one `credentials` were derived from (a PLAIN login checked against
 * stored SCRAM keys). Asynchronous: PBKDF2 runs off the event loop, so logins do not stall traffic.
 */
export async function verifyPassword(credentials: ScramCredentials, password: string): Promise<boolean> {
  let prepared: string;
  try {
    prepared = saslPrep(password);
  } catch {
    return false; // a password SASLprep refuses cannot be the stored one
  }
  const hash = credentials.hash;
  const salted = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(
      Buffer.from(prepared, 'utf8'),
      credentials.salt,
      credentials.iterations,
      HASH_LENGTH[hash],
      NODE_HASH[hash],
      (e, key) => (e ? reject(e) : resolve(key)),
    ),
  );
  return timingSafeEqual(keysOf(hash, salted).storedKey, credentials.storedKey);
}

/** `=` and `,` in a SCRAM user name are written `=3D` and `=2C` (RFC 5802 section 5.1). */
function escapeName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function unescapeName(name: string): string {
  if (/=(?!2C|3D)/.test(name))
    throw new AuthenticationError('SCRAM: the user name holds a "=" that is not =2C or =3D.');
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** The attributes of a SCRAM message (`a=...,b=...`), in order. */
function parseAttributes(message: string, who: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of message.split(',')) {
    if (!/^[A-Za-z]=/.test(part))
      throw new AuthenticationError(
        `SCRAM: the ${who} sent a malformed message (${JSON.stringify(message.slice(0, 80))}).`,
      );
    if (!attributes.has(part[0]!)) attributes.set(part[0]!, part.slice(2));
  }
  return attributes;
}

function required(attributes: Map<string, string>, name: string, who: string): string {
  const value = attributes.get(name);
  if (value === undefined || value === '')
    throw new AuthenticationError(`SCRAM: the ${who}'s message has no "${name}=" attribute.`);
  return value;
}

/** A printable nonce (RFC 5802: printable ASCII except ','). */
function newNonce(): string {
  return randomBytes(18).toString('base64');
}

/** The client's half of a SCRAM exchange: first message, final message, and the check of the server. */
export class ScramClient {
  readonly #hash: ScramHash;
  readonly #password: string;
  readonly #nonce: string;
  readonly #gs2Header: string;
  readonly #firstBare: string;
  #serverSignature: Buffer | undefined;

  constructor(
    hash: ScramHash,
    username: string,
    password: string,
    options?: { authzid?: string | undefined; nonce?: string | undefined },
  ) {
    this.#hash = hash;
    this.#password = password;
    this.#nonce = options?.nonce ?? newNonce();
    // No channel binding ("n"); an authorization identity when one is asked for.
    this.#gs2Header = `n,${options?.authzid ? `a=${escapeName(saslPrep(options.authzid))}` : ''},`;
    this.#firstBare = `n=${escapeName(saslPrep(username))},r=${this.#nonce}`;
  }

  /** The client-first message, sent in sasl-init. */
  firstMessage(): string {
    return this.#gs2Header + this.#firstBare;
  }

  /** Answers the server-first message with the proof of the password (sent in sasl-response). */
  finalMessage(serverFirst: string): string {
    const a = parseAttributes(serverFirst, 'server');
    if (a.has('m'))
      throw new AuthenticationError('SCRAM: the server asks for an extension this client does not support.');
    const nonce = required(a, 'r', 'server');
    if (!nonce.startsWith(this.#nonce) || nonce.length === this.#nonce.length) {
      throw new AuthenticationError("SCRAM: the server's nonce does not extend ours; the server may be an impostor.");
    }
    const salt = Buffer.from(required(a, 's', 'server'), 'base64');
    const iterations = Number(required(a, 'i', 'server'));
    // Fewer than the minimum would let a false server get keys that are cheap to attack.
    if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
      throw new AuthenticationError(
        `SCRAM: the server asks for ${a.get('i')} iterations; this client does from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}.`,
      );
    }
    const salted = saltedPassword(this.#hash, this.#password, salt, iterations);
    const { clientKey, storedKey, serverKey } = keysOf(this.#hash, salted);
    const withoutProof = `c=${Buffer.from(this.#gs2Header, 'utf8').toString('base64')},r=${nonce}`;
    const authMessage = `${this.#firstBare},${serverFirst},${withoutProof}`;
    const proof = xor(clientKey, hmac(this.#hash, storedKey, authMessage));
    this.#serverSignature = hmac(this.#hash, serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server-final message: the server proves it knew our keys. Throws `AuthenticationError` if not. */
  verifyServerFinal(serverFinal: string): void {
    if (!this.#serverSignature)
      throw new AuthenticationError('SCRAM: the server ended the exchange before it was answered.');
    const a = parseAttributes(serverFinal, 'server');
    const error = a.get('e');
    if (error !== undefined)
      throw new AuthenticationError(
        `SCRAM: the server refused the login (${error}). Check the user name and password.`,
      );
    const signature = Buffer.from(required(a, 'v', 'server'), 'base64');
    if (signature.length !== this.#serverSignature.length || !timingSafeEqual(signature, this.#serverSignature)) {
      throw new AuthenticationError(
        "SCRAM: the server's signature is wrong: it does not hold this user's keys (an impostor, or a server that accepted without checking). The connection was not trusted.",
      );
    }
  }
}

/** The server's half of a SCRAM exchange. */
export class ScramServer {
  readonly #hash: ScramHash;
  readonly #serverNonce: string;
  #clientFirstBare = '';
  #clientNonce = '';
  #gs2Header = '';
  #serverFirst = '';
  #credentials: ScramCredentials | undefined;

  constructor(hash: ScramHash, options?: { nonce?: string | undefined }) {
    this.#hash = hash;
    this.#serverNonce = options?.nonce ?? newNonce();
  }

  /** Reads the client-first message. Throws `AuthenticationError` when it is malformed or asks for channel binding. */
  start(clientFirst: string): {
    /** The user name the client gave. */
    username: string;
    /** The identity the client asks to act as, when it gave one. */
    authzid?: string | undefined;
  } {
    const match = /^([ny]|p=[^,]*),(a=[^,]*)?,(.*)$/s.exec(clientFirst);
    if (!match) throw new AuthenticationError('SCRAM: the client-first message is malformed.');
    if (match[1]!.startsWith('p='))
      throw new AuthenticationError('SCRAM: the client asks for channel binding, which this server does not offer.');
    this.#gs2Header = `${match[1]},${match[2] ?? ''},`;
    this.#clientFirstBare = match[3]!;
    const a = parseAttributes(this.#clientFirstBare, 'client');
    if (a.has('m'))
      throw new AuthenticationError('SCRAM: the client asks for an extension this server does not support.');
    this.#clientNonce = required(a, 'r', 'client');
    const username = unescapeName(required(a, 'n', 'client'));
    const authzid = match[2] ? unescapeName(match[2].slice(2)) : undefined;
    return authzid ? { username, authzid } : { username };
  }

  /**
   * The server-first message for the user's stored credentials. For an unknown user, pass made-up
   * credentials ({@link SaslUsers.credentialsFor} gives them) so that the answer does not tell who exists.
   */
  firstMessage(credentials: ScramCredentials): string {
    if (credentials.hash !== this.#hash)
      throw new InvalidArgumentError(`SCRAM-${this.#hash} needs ${this.#hash} credentials, got ${credentials.hash}`);
    this.#credentials = credentials;
    this.#serverFirst = `r=${this.#clientNonce}${this.#serverNonce},s=${Buffer.from(credentials.salt).toString('base64')},i=${credentials.iterations}`;
    return this.#serverFirst;
  }

  /** Checks the client's proof; returns the server-final message. Throws `AuthenticationError` when the proof is wrong. */
  finish(clientFinal: string): string {
    const credentials = this.#credentials;
    if (!credentials) throw new AuthenticationError('SCRAM: the client answered before the server asked.');
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) throw new AuthenticationError('SCRAM: the client-final message has no proof.');
    const withoutProof = clientFinal.slice(0, proofAt);
    const a = parseAttributes(withoutProof, 'client');
    if (required(a, 'c', 'client') !== Buffer.from(this.#gs2Header, 'utf8').toString('base64')) {
      throw new AuthenticationError("SCRAM: the client's channel-binding data does not match its first message.");
    }
    if (required(a, 'r', 'client') !== this.#clientNonce + this.#serverNonce)
      throw new AuthenticationError("SCRAM: the client's nonce is wrong.");
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.#hash, credentials.storedKey, authMessage);
    if (proof.length !== clientSignature.length)
      throw new AuthenticationError("SCRAM: the client's proof is wrong: wrong password, or unknown user.");
    const clientKey = xor(proof, clientSignature);
    if (!timingSafeEqual(digest(this.#hash, clientKey), credentials.storedKey)) {
      throw new AuthenticationError("SCRAM: the client's proof is wrong: wrong password, or unknown user.");
    }
    return `v=${hmac(this.#hash, credentials.serverKey, authMessage).toString('base64')}`;
  }
}

const decoySecret = randomBytes(32);

/**
 * Credentials for a user that does not exist: a salt stable per name (so that asking twice gives
 * the same answer) and keys nobody knows, so that a refusal looks the same as a wrong password.
 */
export function decoyCredentials(
  hash: ScramHash,
  username: string,
  iterations = DEFAULT_SCRAM_ITERATIONS,
): ScramCredentials {
  const salt = createHmac('sha256', decoySecret).update(username, 'utf8').digest().subarray(0, 16);
  const key = createHmac(NODE_HASH[hash], decoySecret).update(`key:${username}`, 'utf8').digest();
  return { hash, salt, iterations, storedKey: key, serverKey: key };
}

/** One user's stored credentials, per SCRAM hash. */
export type StoredUser = Readonly<Partial<Record<ScramHash, ScramCredentials>>>;

/**
 * Users of a listener or broker, held as salted SCRAM keys (never passwords). Serves SCRAM-SHA-1,
 * -256 and -512, and checks PLAIN passwords against the same keys.
 */
export class SaslUsers {
  readonly #users: Map<string, StoredUser>;

  /** @param users user name to stored credentials; see {@link SaslUsers.fromPasswords} to derive them. */
  constructor(users: Iterable<readonly [string, StoredUser]>) {
    this.#users = new Map(users);
    const all = [...this.#users.values()];
    // The hashes every user has keys for: a mechanism offered before the user is known must work for all.
    this.hashes = [...SCRAM_MECHANISMS.values()].filter((h) => all.every((u) => u[h] !== undefined));
    const first = all.find((u) => Object.values(u).length > 0);
    this.#decoyIterations = first ? Object.values(first)[0]!.iterations : DEFAULT_SCRAM_ITERATIONS;
  }

  /** The SCRAM hashes every user has keys for (the SCRAM mechanisms a server can offer), strongest first. */
  readonly hashes: readonly ScramHash[];
  readonly #decoyIterations: number;

  /**
   * The credentials for `username` and `hash`, or, for an unknown user, made-up ones with the
   * same iteration count as real users (so that the answer does not tell who exists).
   */
  credentialsFor(
    username: string,
    hash: ScramHash,
  ): {
    /** The user's credentials, or made-up ones. */
    credentials: ScramCredentials;
    /** Whether the user exists (false: the credentials are made up). */
    known: boolean;
  } {
    const credentials = this.#users.get(username)?.[hash];
    return credentials
      ? { credentials, known: true }
      : { credentials: decoyCredentials(hash, username, this.#decoyIterations), known: false };
  }

  /** Derives every user's keys (each hash with its own random salt) and forgets the passwords. */
  static fromPasswords(
    users: Readonly<Record<string, string>>,
    options?: { iterations?: number | undefined },
  ): SaslUsers {
    if (typeof users !== 'object' || users === null)
      throw new InvalidArgumentError(
        `SaslUsers.fromPasswords needs an object of user names and passwords, e.g. { alice: 'secret' }, got ${String(users)}`,
      );
    const entries: [string, StoredUser][] = [];
    for (const [name, password] of Object.entries(users)) {
      if (typeof password !== 'string')
        throw new InvalidArgumentError(`the password of user ${JSON.stringify(name)} must be a string`);
      const stored: Partial<Record<ScramHash, ScramCredentials>> = {};
      for (const hash of SCRAM_MECHANISMS.values()) stored[hash] = scramCredentials(password, hash, options);
      entries.push([name, stored]);
    }
    return new SaslUsers(entries);
  }

  /** The user's credentials, or undefined for an unknown user. */
  lookup(username: string): StoredUser | undefined {
    return this.#users.get(username);
  }

  /** The user names. */
  get names(): string[] {
    return [...this.#users.keys()];
  }

  /** Whether `password` is the user's (PLAIN), checked against the strongest stored keys. */
  async verifyPlain(username: string, password: string): Promise<boolean> {
    const user = this.#users.get(username);
    const credentials = user?.['SHA-512'] ?? user?.['SHA-256'] ?? user?.['SHA-1'];
    // An unknown user costs the same time as a known one, so timing does not tell who exists.
    const ok = await verifyPassword(
      credentials ?? decoyCredentials('SHA-512', username, this.#decoyIterations),
      password,
    );
    return ok && credentials !== undefined;
  }
}
