/**
 * An independent SCRAM peer for interop tests: tests/support/scram-driver.pl, built on Debian's
 * libauthen-scram-perl (Authen::SCRAM::Client / Authen::SCRAM::Server), spoken to over its
 * stdin/stdout line protocol (see the driver's header).
 *
 * `requirePerlScram()` throws a clear error when perl or the module is missing: the interop suite
 * calls it in `beforeAll`, so a machine without it FAILS the suite (never skips it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PERL = 'perl';
export const SCRAM_DRIVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scram-driver.pl');
const MODULES = ['Authen::SCRAM::Client', 'Authen::SCRAM::Server', 'Authen::SASL::SASLprep', 'Crypt::URandom'];
const INSTALL =
  "Install it with `apt-get install libauthen-scram-perl` (Debian's package; it brings Authen::SASL::SASLprep and PBKDF2::Tiny).";

export type PerlScramDigest = 'SHA-1' | 'SHA-256' | 'SHA-512';

function ciNote(): string {
  return process.env.CI ? ' This is CI: interop suites must run here, they are never skipped.' : '';
}

let checked = false;

/** Checks that perl and Authen::SCRAM are there; throws saying what to install. */
export function requirePerlScram(): void {
  if (checked) return;
  if (!existsSync(SCRAM_DRIVER)) throw new Error(`The SCRAM driver ${SCRAM_DRIVER} is missing from the checkout.`);
  const perl = spawnSync(PERL, ['-e', 'print $]'], { encoding: 'utf8', timeout: 30_000 });
  if (perl.status !== 0) {
    throw new Error(
      `perl is missing (${(perl.error?.message ?? perl.stderr).trim()}). Install it with \`apt-get install perl libauthen-scram-perl\`.${ciNote()}`,
    );
  }
  const r = spawnSync(PERL, [...MODULES.map((m) => `-M${m}`), '-e', 'print $Authen::SCRAM::Client::VERSION'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) {
    throw new Error(
      `The Perl module Authen::SCRAM is missing (${(r.error?.message ?? r.stderr).trim().split('\n')[0]}). ${INSTALL}${ciNote()}`,
    );
  }
  checked = true;
}

/** Hex of a string's UTF-8 bytes: how the driver takes names and passwords, intact. */
export function utf8Hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

/** What the driver says: a SCRAM message, its success, or its refusal. */
export type PerlLine =
  | { kind: 'MSG'; message: string }
  | { kind: 'OK'; authorizationId: string; username: string }
  | { kind: 'ERROR'; text: string };

const live = new Set<PerlScramPeer>();

/** One run of the driver: a single SCRAM exchange as client or server. */
export class PerlScramPeer {
  readonly process: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: Array<(line: string | undefined) => void> = [];
  #stderr = '';
  #ended = false;
  readonly exited: Promise<number | null>;

  private constructor(
    args: string[],
    readonly description: string,
  ) {
    requirePerlScram();
    this.process = spawn(PERL, [SCRAM_DRIVER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    this.process.stderr!.setEncoding('utf8');
    this.process.stderr!.on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    this.process.stdin!.on('error', () => {
      // the driver may exit (after an ERROR) before reading what we wrote: its answer says why
    });
    const lines = createInterface({ input: this.process.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
    this.exited = new Promise((resolve) => {
      // 'close' comes after stdout has ended, so every line has been seen
      this.process.on('close', (code) => {
        this.#ended = true;
        live.delete(this);
        for (const waiter of this.#waiters.splice(0)) waiter(undefined);
        resolve(code);
      });
      this.process.on('error', (error) => {
        this.#stderr += `\n${error.message}`;
      });
    });
  }

  /** Authen::SCRAM::Client for `username`/`password` (and `authzid`); it speaks first. */
  static client(digest: PerlScramDigest, username: string, password: string, authzid?: string): PerlScramPeer {
    const args = ['client', digest, utf8Hex(username), utf8Hex(password)];
    if (authzid !== undefined) args.push(utf8Hex(authzid));
    return new PerlScramPeer(args, `Perl SCRAM client (${digest}, user ${JSON.stringify(username)})`);
  }

  /** Authen::SCRAM::Server knowing the one user `username` with `password`. */
  static server(digest: PerlScramDigest, username: string, password: string, iterations?: number): PerlScramPeer {
    const args = ['server', digest, utf8Hex(username), utf8Hex(password)];
    if (iterations !== undefined) args.push(String(iterations));
    return new PerlScramPeer(args, `Perl SCRAM server (${digest}, user ${JSON.stringify(username)})`);
  }

  /** What the driver wrote on stderr so far (Perl warnings, a crash). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Sends one SCRAM message (UTF-8, base64 on one line). */
  send(message: string): void {
    if (this.#ended || this.process.stdin!.destroyed) return;
    this.process.stdin!.write(`${Buffer.from(message, 'utf8').toString('base64')}\n`);
  }

  /** The driver's next line, parsed; rejects after `timeoutMs` or if it exits without one. */
  async next(timeoutMs = 15_000): Promise<PerlLine> {
    const raw = await this.#nextRaw(timeoutMs);
    if (raw === undefined) {
      const code = await this.exited;
      throw new Error(`${this.description} exited (status ${code}) without answering${this.#stderrNote()}`);
    }
    return parseLine(raw, this.description);
  }

  /** The next line, which must be a SCRAM message: returns it. */
  async message(what: string, timeoutMs?: number): Promise<string> {
    const line = await this.next(timeoutMs);
    if (line.kind !== 'MSG')
      throw new Error(`${this.description}: expected its ${what}, got ${describe(line)}${this.#stderrNote()}`);
    return line.message;
  }

  /** The driver's last line (OK or ERROR) and its exit status. */
  async outcome(timeoutMs?: number): Promise<{ line: Exclude<PerlLine, { kind: 'MSG' }>; status: number | null }> {
    const line = await this.next(timeoutMs);
    if (line.kind === 'MSG')
      throw new Error(`${this.description}: expected OK or ERROR, got another message ${JSON.stringify(line.message)}`);
    const status = await withTimeout(this.exited, timeoutMs ?? 15_000, `${this.description} did not exit`);
    return { line, status };
  }

  /** Ends the driver now. */
  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }

  #stderrNote(): string {
    const text = this.#stderr.trim();
    return text ? `; stderr: ${text}` : '';
  }

  #nextRaw(timeoutMs: number): Promise<string | undefined> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        this.kill();
        reject(new Error(`${this.description} did not answer within ${timeoutMs} ms${this.#stderrNote()}`));
      }, timeoutMs);
      const waiter = (line: string | undefined): void => {
        clearTimeout(timer);
        resolve(line);
      };
      this.#waiters.push(waiter);
    });
  }
}

/** Kills every driver still running (for afterEach). */
export function killPerlScramPeers(): void {
  for (const peer of live) peer.kill();
}

function parseLine(raw: string, who: string): PerlLine {
  const space = raw.indexOf(' ');
  const kind = space < 0 ? raw : raw.slice(0, space);
  const rest = space < 0 ? '' : raw.slice(space + 1);
  switch (kind) {
    case 'MSG':
      return { kind, message: Buffer.from(rest, 'base64').toString('utf8') };
    case 'OK': {
      const [authz = '', user = ''] = rest === '' ? [] : rest.split(' ');
      return {
        kind,
        authorizationId: Buffer.from(authz, 'hex').toString('utf8'),
        username: Buffer.from(user, 'hex').toString('utf8'),
      };
    }
    case 'ERROR':
      return { kind, text: rest };
    default:
      throw new Error(`${who} wrote an unexpected line: ${JSON.stringify(raw)}`);
  }
}

function describe(line: PerlLine): string {
  return line.kind === 'MSG'
    ? `message ${JSON.stringify(line.message)}`
    : line.kind === 'OK'
      ? 'OK'
      : `ERROR ${line.text}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
