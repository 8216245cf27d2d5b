/**
 * Qpid Proton's connection configuration file (`connect.json`), read by `connect()` when it is
 * called with no URL: where it is looked for, and what it says, as Quark connect options.
 *
 * The file is the one Proton's Python and C++ clients read, with the same search order, keys and
 * defaults, so one file configures both. Quark is stricter than Proton: a key it does not know, a
 * value of the wrong type, or a TLS file it cannot read is refused with an error that names the
 * file and the key and says how to fix it (Proton ignores unknown keys, and its Python client
 * fails on bad values far from their cause).
 *
 * The file (comments `//` and `/* *\/` are allowed, as in Proton; every key is optional):
 *
 * ```jsonc
 * {
 *   "scheme": "amqps",      // "amqp" (no TLS) or "amqps" (TLS). Default "amqps".
 *   "host": "localhost",    // Default "localhost".
 *   "port": "amqps",        // A number, a numeric string, "amqp" (5672) or "amqps" (5671). Default: the scheme's.
 *   "user": "alice",        // SASL user name (PLAIN).
 *   "password": "secret",   // SASL password; needs "user".
 *   "sasl": {
 *     "enabled": true,      // false: no SASL layer. Proton's C++ client spells it "enable"; both are read.
 *     "mechanisms": "PLAIN",// A space-separated string or a list of names.
 *     "allow_insecure": false // PLAIN without TLS. Default: Quark's (loopback hosts only).
 *   },
 *   "tls": {                // Only with "scheme": "amqps".
 *     "ca": "ca.pem",       // PEM files; relative paths are relative to the working folder, as in Proton.
 *     "cert": "client.pem",
 *     "key": "client-key.pem",
 *     "verify": true        // false: accept any server certificate. Default true.
 *   }
 * }
 * ```
 */
import { Buffer } from 'node:buffer';
import { readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import nodePath from 'node:path';
import { InvalidArgumentError } from '../errors.js';

/** The environment variable that names the configuration file, ahead of the search. */
export const CONNECT_FILE_ENV = 'MESSAGING_CONNECT_FILE';

const FILE_NAME = 'connect.json';
const TOP_KEYS = ['scheme', 'host', 'port', 'user', 'password', 'sasl', 'tls'] as const;
const SASL_KEYS = ['enabled', 'enable', 'mechanisms', 'allow_insecure'] as const;
const TLS_KEYS = ['ca', 'cert', 'key', 'verify'] as const;
/** Well-meant keys that are not in the file format, and what to write instead. */
const KEY_HINTS: Readonly<Record<string, string>> = {
  username: 'the user name key is "user"',
  hostname: 'the host key is "host"',
  pass: 'the password key is "password"',
  url: 'the file has no URL: give "scheme", "host" and "port"',
  ssl: 'TLS settings go in "tls"',
  verify: '"verify" goes in "tls"',
  ca: '"ca" goes in "tls"',
  cert: '"cert" goes in "tls"',
  key: '"key" goes in "tls"',
  mechanisms: '"mechanisms" goes in "sasl"',
  allow_insecure: '"allow_insecure" goes in "sasl"',
  'sasl.allowed_mechs': 'the key is "mechanisms"',
  'sasl.mechs': 'the key is "mechanisms"',
  'sasl.allow_insecure_mechs': 'the key is "allow_insecure"',
  'tls.enabled': 'TLS is chosen by "scheme": "amqps" turns it on, "amqp" turns it off',
  'tls.enable': 'TLS is chosen by "scheme": "amqps" turns it on, "amqp" turns it off',
  'tls.password': 'Proton gives no key passphrase: the key file must be unencrypted',
};

/** TLS settings read from the file's `tls` object. */
export interface ConnectConfigTls {
  /** The contents of `tls.ca` (PEM): the certificate authorities trusted for the server. */
  ca?: Buffer;
  /** The contents of `tls.cert` (PEM): our client certificate. */
  cert?: Buffer;
  /** The contents of `tls.key` (PEM, unencrypted), or of `tls.cert` when that file holds the key too. */
  key?: Buffer;
  /** `tls.verify`: check the server's certificate and host name. Default true. */
  rejectUnauthorized: boolean;
}

/**
 * What a connection configuration file says, shaped like Quark's connect options. The file names
 * no URL: `url` is never set.
 */
export interface ConnectConfigOptions {
  /** Never set: the file gives scheme, host and port instead. */
  url?: never;
  /** `host`. Default `localhost`. An IPv6 address is given without brackets. */
  host: string;
  /** `port` as a number. Default 5671 for `amqps`, 5672 for `amqp`. */
  port: number;
  /** `false` for `"scheme": "amqp"`; the TLS settings for `amqps` (the default scheme). */
  tls?: false | ConnectConfigTls;
  /** `user`. */
  username?: string;
  /** `password` (only with `user`). */
  password?: string;
  /** `false` when `sasl.enabled` is false; the allowed mechanisms when `sasl.mechanisms` is given; else absent. */
  sasl?: false | { mechanisms?: string[] };
  /** `sasl.allow_insecure`, when given: allow PLAIN without TLS. Absent: Quark's default applies. */
  allowInsecurePlain?: boolean;
  /** The path of the file read, for error messages. */
  source: string;
}

// ---- Finding the file ----

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The path of the connection configuration file, looked for as Qpid Proton does:
 * 1. the file named by `$MESSAGING_CONNECT_FILE` (relative to `cwd`), if the variable is set and not empty;
 * 2. `connect.json` in `cwd`;
 * 3. `~/.config/messaging/connect.json` (when there is a home folder);
 * 4. `/etc/messaging/connect.json`.
 *
 * Returns undefined when none of 2-4 is a file. When `$MESSAGING_CONNECT_FILE` names no file,
 * throws an `InvalidArgumentError` (Proton would silently connect to amqps://localhost:5671 instead).
 *
 * @param env The environment to read `MESSAGING_CONNECT_FILE` from.
 * @param cwd The working folder: where `./connect.json` is, and what relative paths are relative to.
 * @param home The home folder.
 * @param etc The system configuration folder (`/etc`); tests point it elsewhere.
 */
export function findConnectConfig(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  home: string = os.homedir(),
  etc = '/etc',
): string | undefined {
  const named = env[CONNECT_FILE_ENV];
  if (named !== undefined && named !== '') {
    const file = nodePath.resolve(cwd, named);
    if (isFile(file)) return file;
    throw new InvalidArgumentError(
      `${CONNECT_FILE_ENV} is set to ${JSON.stringify(named)}, but there is no file at ${file}. ` +
        `Point ${CONNECT_FILE_ENV} at a connection configuration file, or unset it to look for ./${FILE_NAME}, ` +
        `~/.config/messaging/${FILE_NAME} and /etc/messaging/${FILE_NAME}.`,
    );
  }
  const candidates = [nodePath.resolve(cwd, FILE_NAME)];
  if (home) candidates.push(nodePath.join(home, '.config', 'messaging', FILE_NAME));
  candidates.push(nodePath.join(etc, 'messaging', FILE_NAME));
  return candidates.find(isFile);
}

// ---- JSON with comments ----

/** A JSON value; objects are Maps, so that no key (not even `__proto__`) is special. */
type Json = null | boolean | number | string | Json[] | JsonObject;
type JsonObject = Map<string, Json>;

const MAX_DEPTH = 32;
const STRING_TOKEN = /"(?:[^"\\]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER_TOKEN = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Parses JSON with `//` and `/* *\/` comments (as Proton allows). Refuses repeated keys (JSON
 * parsers keep the last one silently). Errors give the line and column.
 */
class ConfigJsonParser {
  #i = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  parse(): Json {
    if (this.text.charCodeAt(0) === 0xfeff) this.#i = 1;
    this.#skip();
    if (this.#i >= this.text.length)
      throw this.#error('the file is empty', 'Write a JSON object such as {"host": "example.com"}');
    const value = this.#value('', 0);
    this.#skip();
    if (this.#i < this.text.length)
      throw this.#error(
        `unexpected ${this.#found()} after the JSON object`,
        'Remove it: the file holds one JSON object',
      );
    return value;
  }

  #where(at = this.#i): string {
    const before = this.text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    return `line ${line}, column ${column}`;
  }

  #error(
    problem: string,
    fix = 'Correct the JSON syntax (comments // and /* */ are allowed)',
    at = this.#i,
  ): InvalidArgumentError {
    return new InvalidArgumentError(
      `connection configuration ${this.file}: invalid JSON at ${this.#where(at)}: ${problem}. ${fix}.`,
    );
  }

  #found(): string {
    if (this.#i >= this.text.length) return 'end of file';
    return `\`${this.text.slice(this.#i, this.#i + 12).split(/\r?\n/)[0]}\``;
  }

  #skip(): void {
    const t = this.text;
    while (this.#i < t.length) {
      const c = t[this.#i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        this.#i++;
      } else if (c === '/' && t[this.#i + 1] === '/') {
        const end = t.indexOf('\n', this.#i);
        this.#i = end < 0 ? t.length : end + 1;
      } else if (c === '/' && t[this.#i + 1] === '*') {
        const end = t.indexOf('*/', this.#i + 2);
        if (end < 0) throw this.#error('a /* comment is never closed', 'Close it with */');
        this.#i = end + 2;
      } else {
        return;
      }
    }
  }

  #value(key: string, depth: number): Json {
    if (depth > MAX_DEPTH)
      throw this.#error(
        `more than ${MAX_DEPTH} nested objects and arrays`,
        'Flatten the file: no key is nested that deep',
      );
    const t = this.text;
    const c = t[this.#i];
    if (c === '{') return this.#object(key, depth);
    if (c === '[') return this.#array(key, depth);
    if (c === '"') return this.#string();
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (t.startsWith(word, this.#i)) {
        this.#i += word.length;
        return value;
      }
    }
    NUMBER_TOKEN.lastIndex = this.#i;
    const m = NUMBER_TOKEN.exec(t);
    if (m) {
      this.#i += m[0].length;
      return Number(m[0]);
    }
    if (c === "'") throw this.#error('strings need double quotes (")', 'Write "text", not \'text\'');
    throw this.#error(
      `expected a value${key ? ` for "${key}"` : ''} (a string, number, object, array, true, false or null), found ${this.#found()}`,
    );
  }

  #string(): string {
    STRING_TOKEN.lastIndex = this.#i;
    const m = STRING_TOKEN.exec(this.text);
    if (!m)
      throw this.#error(
        'a string is not closed, or has a control character or a bad \\ escape',
        'Close the string with " and escape \\ and " inside it',
      );
    // The token is a JSON string but for control characters, which JSON.parse refuses.
    let value: string;
    try {
      value = JSON.parse(m[0]) as string;
    } catch {
      throw this.#error(
        'a string has a control character (such as a line break or tab) in it',
        'Write it as an escape (\\n, \\t)',
      );
    }
    this.#i += m[0].length;
    return value;
  }

  #object(path: string, depth: number): JsonObject {
    const object: JsonObject = new Map();
    this.#i++; // {
    this.#skip();
    if (this.text[this.#i] === '}') {
      this.#i++;
      return object;
    }
    while (true) {
      if (this.text[this.#i] !== '"')
        throw this.#error(
          `expected a key in double quotes, found ${this.#found()}`,
          'Quote keys ("host": ...) and put no comma after the last entry',
        );
      const at = this.#i;
      const name = this.#string();
      const key = path ? `${path}.${name}` : name;
      if (object.has(name)) throw this.#error(`"${key}" appears twice`, 'Keep one of them', at);
      this.#skip();
      if (this.text[this.#i] !== ':') throw this.#error(`expected : after "${key}", found ${this.#found()}`);
      this.#i++;
      this.#skip();
      object.set(name, this.#value(key, depth + 1));
      this.#skip();
      const c = this.text[this.#i];
      if (c !== ',' && c !== '}')
        throw this.#error(`expected , or } after "${key}", found ${this.#found()}`, 'Separate entries with commas');
      this.#i++;
      if (c === '}') return object;
      this.#skip();
    }
  }

  #array(path: string, depth: number): Json[] {
    const array: Json[] = [];
    this.#i++; // [
    this.#skip();
    if (this.text[this.#i] === ']') {
      this.#i++;
      return array;
    }
    while (true) {
      array.push(this.#value(`${path}[${array.length}]`, depth + 1));
      this.#skip();
      const c = this.text[this.#i];
      if (c !== ',' && c !== ']')
        throw this.#error(`expected , or ] in "${path}", found ${this.#found()}`, 'Separate items with commas');
      this.#i++;
      if (c === ']') return array;
      this.#skip();
    }
  }
}

// ---- Reading the file ----

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Map) return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v === 'number' ? 'the number ' : ''}${String(v)}`;
}

function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'there is no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission is denied';
  if (code === 'EISDIR') return 'it is a folder, not a file';
  return e instanceof Error ? e.message : String(e);
}

/** Reads values out of one file, each error naming the file and the key. */
class ConfigReader {
  constructor(
    readonly file: string,
    readonly cwd: string,
  ) {}

  error(key: string, problem: string, fix: string): InvalidArgumentError {
    return new InvalidArgumentError(`connection configuration ${this.file}: "${key}" ${problem}. ${fix}.`);
  }

  /** Refuses keys outside `known` (null values count: a misspelt key is refused whatever its value). */
  checkKeys(object: JsonObject, prefix: string, known: readonly string[]): void {
    for (const name of object.keys()) {
      if (known.includes(name)) continue;
      const key = prefix ? `${prefix}.${name}` : name;
      const hint = Object.hasOwn(KEY_HINTS, key) ? KEY_HINTS[key] : undefined;
      const where = prefix ? `in "${prefix}"` : 'at the top level';
      throw this.error(
        key,
        `is not a key of the connection configuration file${hint ? ` (${hint})` : ''}`,
        `Remove it or correct its spelling; the keys ${where} are ${known.map((k) => `"${k}"`).join(', ')}`,
      );
    }
  }

  /** The value of `key`, undefined when absent or null (as Proton's C++ client reads null). */
  get(object: JsonObject | undefined, key: string): Json | undefined {
    const v = object?.get(key.slice(key.lastIndexOf('.') + 1));
    return v === null ? undefined : v;
  }

  string(object: JsonObject | undefined, key: string, fix: string): string | undefined {
    const v = this.get(object, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.error(key, `must be a string, but is ${describe(v)}`, fix);
    return v;
  }

  nonEmptyString(object: JsonObject | undefined, key: string, fix: string): string | undefined {
    const v = this.string(object, key, fix);
    if (v === '') throw this.error(key, 'is an empty string', fix);
    return v;
  }

  boolean(object: JsonObject | undefined, key: string, fix: string): boolean | undefined {
    const v = this.get(object, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw this.error(key, `must be true or false, but is ${describe(v)}`, fix);
    return v;
  }

  object(object: JsonObject, key: string, known: readonly string[]): JsonObject | undefined {
    const v = this.get(object, key);
    if (v === undefined) return undefined;
    if (!(v instanceof Map)) {
      throw this.error(
        key,
        `must be an object, but is ${describe(v)}`,
        `Write it as { ${known.map((k) => `"${k}": ...`).join(', ')} }, each key optional, or remove it`,
      );
    }
    this.checkKeys(v, key, known);
    return v;
  }

  /** Reads a PEM file named by a `tls` key, relative to the working folder as Proton does. */
  tlsFile(key: string, name: string, expect: RegExp, what: string): Buffer {
    const resolved = nodePath.resolve(this.cwd, name);
    const relative = nodePath.isAbsolute(name)
      ? ''
      : ` (the path is relative to the working folder ${this.cwd}, as in Proton, not to the configuration file's folder)`;
    let content: Buffer;
    try {
      content = readFileSync(resolved);
    } catch (e) {
      throw this.error(
        key,
        `names ${resolved}, which cannot be read: ${ioReason(e)}${relative}`,
        `Set "${key}" to the path of a readable PEM file, or make that file readable`,
      );
    }
    const text = content.toString('latin1');
    if (!expect.test(text)) {
      throw this.error(
        key,
        `names ${resolved}, which holds no PEM ${what}`,
        `Give a PEM file (-----BEGIN ...-----); convert others with openssl (e.g. \`openssl pkcs12 -in file.p12 -out file.pem -nodes\`)`,
      );
    }
    return content;
  }
}

const PEM_CERTIFICATE = /-----BEGIN (?:TRUSTED |X509 )?CERTIFICATE-----/;
const PEM_PRIVATE_KEY = /-----BEGIN (?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----/;
const PEM_ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,\s*ENCRYPTED/;

function parsePort(r: ConfigReader, v: Json | undefined, scheme: 'amqp' | 'amqps'): number {
  const fix =
    'Give a port number such as 5672, or "amqp" (5672) or "amqps" (5671), or remove "port" to use the scheme\'s port';
  if (v === undefined) return scheme === 'amqps' ? 5671 : 5672;
  let port: number;
  if (typeof v === 'number') {
    port = v;
  } else if (typeof v === 'string') {
    if (v === 'amqp') return 5672;
    if (v === 'amqps') return 5671;
    if (!/^\d{1,5}$/.test(v)) {
      throw r.error(
        'port',
        `is ${describe(v)}, which is neither a port number nor a service name Quark knows (only "amqp" and "amqps")`,
        fix,
      );
    }
    port = Number(v);
  } else {
    throw r.error('port', `must be a number or a string, but is ${describe(v)}`, fix);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw r.error('port', `is ${describe(v)}, which is not a port number from 1 to 65535`, fix);
  return port;
}

function parseMechanisms(r: ConfigReader, v: Json | undefined): string[] | undefined {
  const key = 'sasl.mechanisms';
  const fix =
    'Give mechanism names in capitals, as a list (["PLAIN", "ANONYMOUS"]) or a space-separated string ("PLAIN ANONYMOUS"), or remove it for the default';
  if (v === undefined) return undefined;
  let names: string[];
  if (typeof v === 'string') {
    names = v.split(/\s+/).filter((s) => s !== '');
  } else if (Array.isArray(v)) {
    names = v.map((item, i) => {
      if (typeof item !== 'string') throw r.error(`${key}[${i}]`, `must be a string, but is ${describe(item)}`, fix);
      return item;
    });
  } else {
    throw r.error(key, `must be a string or an array of strings, but is ${describe(v)}`, fix);
  }
  if (names.length === 0) throw r.error(key, 'names no mechanism', fix);
  for (const name of names) {
    // RFC 4422: 1-20 characters from A-Z, 0-9, "-" and "_".
    if (!/^[A-Z0-9_-]{1,20}$/.test(name))
      throw r.error(key, `has ${JSON.stringify(name)}, which is not a SASL mechanism name`, fix);
  }
  return names;
}

function parseHost(r: ConfigReader, root: JsonObject): string {
  const fix =
    'Give a host name or IP address such as "broker.example.com" or "127.0.0.1", or remove "host" for "localhost"';
  let host = r.nonEmptyString(root, 'host', fix) ?? 'localhost';
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (net.isIP(host) === 6) return host;
  if (/[\s/@]/.test(host) || host.includes(':')) {
    throw r.error(
      'host',
      `is ${JSON.stringify(host)}, which is not a host name or IP address`,
      `${fix}; the port goes in "port" and the scheme in "scheme"`,
    );
  }
  return host;
}

function parseTls(r: ConfigReader, tls: JsonObject | undefined): ConnectConfigTls {
  const fixPath = (key: string): string => `Set "${key}" to the path of a PEM file, or remove it`;
  const ca = r.nonEmptyString(tls, 'tls.ca', fixPath('tls.ca'));
  const cert = r.nonEmptyString(tls, 'tls.cert', fixPath('tls.cert'));
  const key = r.nonEmptyString(tls, 'tls.key', fixPath('tls.key'));
  const verify = r.boolean(
    tls,
    'tls.verify',
    'Set "tls.verify" to true (check the server\'s certificate and name) or false (accept any), or remove it for true',
  );
  const out: ConnectConfigTls = { rejectUnauthorized: verify ?? true };
  if (ca !== undefined) out.ca = r.tlsFile('tls.ca', ca, PEM_CERTIFICATE, 'certificate');
  if (key !== undefined && cert === undefined) {
    throw r.error(
      'tls.key',
      'is given without "tls.cert"',
      'Add "tls.cert" with the client certificate that goes with this key, or remove "tls.key"',
    );
  }
  if (cert !== undefined) {
    out.cert = r.tlsFile('tls.cert', cert, PEM_CERTIFICATE, 'certificate');
    const keyKey = key !== undefined ? 'tls.key' : 'tls.cert';
    let keyPem: Buffer;
    if (key !== undefined) {
      keyPem = r.tlsFile('tls.key', key, PEM_PRIVATE_KEY, 'private key');
    } else {
      if (!PEM_PRIVATE_KEY.test(out.cert.toString('latin1'))) {
        throw r.error(
          'tls.cert',
          `names ${nodePath.resolve(r.cwd, cert)}, which holds no private key, and "tls.key" is not given`,
          'Add "tls.key" with the path of the client certificate\'s private key (PEM)',
        );
      }
      keyPem = out.cert;
    }
    if (PEM_ENCRYPTED_KEY.test(keyPem.toString('latin1'))) {
      throw r.error(
        keyKey,
        'names an encrypted private key, and the file format has no passphrase',
        'Give an unencrypted key (e.g. `openssl pkey -in key.pem -out key-plain.pem`) and protect the file with its permissions',
      );
    }
    out.key = keyPem;
  }
  return out;
}

/**
 * Reads a connection configuration file (see {@link findConnectConfig}) into connect options.
 *
 * Defaults, as in Proton: scheme `amqps`, host `localhost`, the scheme's port (5671 or 5672), SASL
 * on, TLS peer verification on. TLS file paths (`tls.ca`, `tls.cert`, `tls.key`) are relative to
 * `cwd`, as Proton hands them unchanged to its TLS library; their contents are read here.
 *
 * @param path The file to read.
 * @param cwd The working folder that relative TLS file paths are relative to.
 * @throws InvalidArgumentError naming the file and the key, and saying how to fix it, for invalid JSON, an
 * unknown key, a value of the wrong type or out of range, or a TLS file that cannot be read.
 */
export function readConnectConfig(path: string, cwd: string = process.cwd()): ConnectConfigOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(
      `connection configuration ${path} cannot be read: ${ioReason(e)}. Check the path (${CONNECT_FILE_ENV} or the search of findConnectConfig) and the file's permissions.`,
    );
  }
  const root = new ConfigJsonParser(text, path).parse();
  const r = new ConfigReader(path, cwd);
  if (!(root instanceof Map)) {
    throw new InvalidArgumentError(
      `connection configuration ${path}: the file must hold one JSON object, such as {"host": "broker.example.com"}, but holds ${describe(root)}. Wrap the settings in { }.`,
    );
  }
  r.checkKeys(root, '', TOP_KEYS);

  const scheme =
    r.string(root, 'scheme', 'Set "scheme" to "amqp" (no TLS) or "amqps" (TLS), or remove it for "amqps"') ?? 'amqps';
  if (scheme !== 'amqp' && scheme !== 'amqps') {
    throw r.error(
      'scheme',
      `is ${JSON.stringify(scheme)}, which is neither "amqp" nor "amqps"`,
      'Set "scheme" to "amqp" (no TLS) or "amqps" (TLS), or remove it for "amqps"',
    );
  }
  const host = parseHost(r, root);
  const port = parsePort(r, r.get(root, 'port'), scheme);

  const user = r.nonEmptyString(root, 'user', 'Set "user" to the SASL user name, or remove it to connect anonymously');
  const password = r.string(root, 'password', 'Set "password" to the SASL password as a string, or remove it');
  if (password !== undefined && user === undefined) {
    throw r.error(
      'password',
      'is given without "user"',
      'Add "user" with the user name the password is for, or remove "password"',
    );
  }

  const sasl = r.object(root, 'sasl', SASL_KEYS);
  const enabledFix = (k: string): string => `Set "${k}" to true or false, or remove it for true`;
  const enabled = r.boolean(sasl, 'sasl.enabled', enabledFix('sasl.enabled'));
  const enable = r.boolean(sasl, 'sasl.enable', enabledFix('sasl.enable'));
  if (enabled !== undefined && enable !== undefined && enabled !== enable) {
    throw r.error(
      'sasl.enable',
      `is ${String(enable)} but "sasl.enabled" is ${String(enabled)}`,
      'Keep one of them ("enabled" is what Proton\'s Python client reads, "enable" what its C++ client reads)',
    );
  }
  const saslOn = enabled ?? enable ?? true;
  const mechanisms = parseMechanisms(r, r.get(sasl, 'sasl.mechanisms'));
  const allowInsecure = r.boolean(
    sasl,
    'sasl.allow_insecure',
    'Set "sasl.allow_insecure" to true (allow PLAIN without TLS) or false, or remove it',
  );
  if (!saslOn) {
    const offKey = enabled === false ? 'sasl.enabled' : 'sasl.enable';
    if (mechanisms)
      throw r.error(
        'sasl.mechanisms',
        `is given, but "${offKey}" is false`,
        `Remove "sasl.mechanisms", or set "${offKey}" to true`,
      );
    if (user !== undefined)
      throw r.error(
        'user',
        `needs SASL, but "${offKey}" is false`,
        `Remove "user" and "password", or set "${offKey}" to true`,
      );
  }

  const tls = r.object(root, 'tls', TLS_KEYS);
  if (scheme === 'amqp' && tls !== undefined && tls.size > 0) {
    throw r.error(
      'tls',
      'is given, but "scheme" is "amqp" (no TLS)',
      'Set "scheme" to "amqps" to use TLS, or remove "tls"',
    );
  }

  const options: ConnectConfigOptions = { host, port, source: path };
  options.tls = scheme === 'amqps' ? parseTls(r, tls) : false;
  if (user !== undefined) options.username = user;
  if (password !== undefined) options.password = password;
  if (!saslOn) options.sasl = false;
  else if (mechanisms) options.sasl = { mechanisms };
  if (allowInsecure !== undefined) options.allowInsecurePlain = allowInsecure;
  return options;
}
