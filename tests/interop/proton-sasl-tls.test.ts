/**
 * SASL and TLS against Qpid Proton Python 0.37 (Debian's python3-qpid-proton, run with
 * /usr/bin/python3), all on loopback, with certificates made by openssl for this run:
 *
 * - Proton's client -> Quark's broker over TLS with PLAIN (Proton verifies the broker against the
 *   test CA); a wrong password is refused and Proton says so.
 * - Proton's client with a client certificate -> a Quark listener asking for one: EXTERNAL, and the
 *   Quark side's connection knows the certificate's CN as the user. A certificate from another CA
 *   is refused.
 * - Proton's client -> Quark's broker with SCRAM-SHA-1, -256 and -512 (the mechanisms of Cyrus
 *   SASL 2.1.28), right and wrong password, and a non-ASCII password.
 * - Quark's client -> a Proton server whose Cyrus SASL offers SCRAM: Quark picks the strongest
 *   mechanism offered, logs in, and a wrong password is an AuthenticationError.
 *
 * Debian builds Proton without Cyrus SASL (SASL.extended() is False; libqpid-proton-core does not
 * link libsasl2), so its own SASL has no SCRAM. Proton exports its SASL plugin interface
 * (proton/sasl_plugin.h), and proton/cyrus_sasl_plugin.c implements it with Cyrus's libsasl2: the
 * suite compiles it with gcc and the Python peer loads it (proton/cyrus_sasl.py) before it makes
 * any connection. Proton still frames SASL; Cyrus's libscram does SCRAM. The plugin behaves as
 * Proton's own Cyrus glue does: the server reads <config dir>/proton-server.conf, has no realm of
 * its own (Cyrus uses the host name: a sasldb user made by `saslpasswd2 -f DB alice` logs in as
 * "alice"), and sends SCRAM's server-final message as a sasl-challenge (Cyrus without
 * SASL_SUCCESS_DATA), which the client answers with an empty response before the outcome.
 *
 * Missing peers (Python, Proton, gcc, Proton's headers, Cyrus's libraries and modules, sasl2-bin,
 * openssl) FAIL this suite, saying what to install; it is never skipped.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killPrograms, startProgram, type RunningProgram } from '../support/programs.js';
import { PYTHON, requirePythonProton } from '../support/proton-peers.js';
import {
  AuthenticationError,
  connect,
  listen,
  startBroker,
  type Broker,
  type Connection,
  type Listener,
} from '../../src/index.js';

const PROTON_DIR = fileURLToPath(new URL('./proton/', import.meta.url));
const PEER = path.join(PROTON_DIR, 'sasl_peer.py');
const PLUGIN_SOURCE = path.join(PROTON_DIR, 'cyrus_sasl_plugin.c');
const TEST_TIMEOUT = 30_000;
/** The SCRAM mechanisms Quark implements; Cyrus 2.1.28 has these and SCRAM-SHA-224/384 too. */
const SCRAM = ['SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

function ciNote(): string {
  return process.env.CI ? ' This is CI: interop suites must run here, they are never skipped.' : '';
}

// ---- Peers: checked (and the plugin built) in beforeAll, so a missing one fails the suite ----

function run(
  command: string,
  args: string[],
  what: string,
  fix: string,
  options: { input?: string; cwd?: string } = {},
): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000, ...options });
  if (r.status !== 0) {
    throw new Error(
      `${what} failed (${r.error?.message ?? `exit ${String(r.status)}`}): ${r.stderr}. ${fix}${ciNote()}`,
    );
  }
  return r.stdout;
}

/** The folder of Cyrus's mechanism modules (libscram.so, libplain.so, libsasldb.so). */
function cyrusModules(): string {
  const arch = run('gcc', ['-dumpmachine'], 'gcc', 'Install it with `apt-get install gcc`.').trim();
  for (const dir of [`/usr/lib/${arch}/sasl2`, '/usr/lib/sasl2', '/usr/lib64/sasl2']) {
    if (existsSync(path.join(dir, 'libscram.so'))) return dir;
  }
  throw new Error(
    `Cyrus SASL's SCRAM module (libscram.so) is missing. Install it with \`apt-get install libsasl2-modules\`.${ciNote()}`,
  );
}

/** Checks the Cyrus and Proton pieces and compiles the plugin (cached in the OS temp folder by content). */
function buildCyrusPlugin(): string {
  requirePythonProton();
  const modules = cyrusModules();
  if (!existsSync(path.join(modules, 'libsasldb.so'))) {
    throw new Error(
      `Cyrus SASL's sasldb module (${modules}/libsasldb.so) is missing. Install it with \`apt-get install libsasl2-modules-db\`.${ciNote()}`,
    );
  }
  if (!existsSync('/usr/include/proton/sasl_plugin.h')) {
    throw new Error(
      `Qpid Proton's headers (/usr/include/proton/sasl_plugin.h) are missing. Install them with \`apt-get install libqpid-proton11-dev\`.${ciNote()}`,
    );
  }
  const source = readFileSync(PLUGIN_SOURCE);
  const hash = createHash('sha256').update(source).update(readFileSync('/usr/include/proton/version.h'));
  hash.update(run('gcc', ['--version'], 'gcc', 'Install it with `apt-get install gcc`.'));
  const dir = path.join(os.tmpdir(), `quark-proton-cyrus-${hash.digest('hex').slice(0, 16)}`);
  const lib = path.join(dir, 'cyrus_sasl_plugin.so');
  if (existsSync(lib)) return lib;
  const work = mkdtempSync(path.join(os.tmpdir(), 'quark-proton-cyrus-build-'));
  try {
    run(
      'gcc',
      [
        '-Wall',
        '-Werror',
        '-O2',
        '-shared',
        '-fPIC',
        '-o',
        'cyrus_sasl_plugin.so',
        PLUGIN_SOURCE,
        '-l:libqpid-proton-core.so.10',
        '-l:libsasl2.so.2',
      ],
      'Compiling proton/cyrus_sasl_plugin.c',
      'It needs libqpid-proton11-dev (headers), libqpid-proton-core.so.10 (libqpid-proton11) and libsasl2.so.2 (libsasl2-2).',
      { cwd: work },
    );
    try {
      renameSync(work, dir);
    } catch (e) {
      if (!existsSync(lib)) throw e; // another run put its build there first
    }
  } finally {
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
  return lib;
}

function requireSaslpasswd(): void {
  const r = spawnSync('saslpasswd2', ['-v'], { encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `saslpasswd2 is missing (${r.error.message}). Install it with \`apt-get install sasl2-bin\`.${ciNote()}`,
    );
}

// ---- Certificates: a test CA, the server's (localhost, 127.0.0.1), a client's (CN proton-client), and a stranger's ----

interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate with the same CN, from a CA the server does not trust. */
  rogueCert: string;
  rogueKey: string;
}

const CLIENT_CN = 'proton-client';

function makePki(): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quark-proton-sasl-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) =>
    run('openssl', args, `openssl ${args[0]}`, 'Install it with `apt-get install openssl`.', { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const makeCa = (name: string) =>
    openssl(
      'req',
      '-x509',
      ...ec,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.pem`),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  const issue = (ca: string, name: string, subject: string, extensions: string) => {
    writeFileSync(file(`${name}.ext`), extensions);
    openssl('req', ...ec, '-subj', subject, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`));
    openssl(
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file(`${ca}.pem`),
      '-CAkey',
      file(`${ca}.key`),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      file(`${name}.ext`),
      '-out',
      file(`${name}.pem`),
    );
  };
  makeCa('test-ca');
  makeCa('rogue-ca');
  issue(
    'test-ca',
    'server',
    '/CN=localhost',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  issue('test-ca', 'client', `/O=Quark tests/CN=${CLIENT_CN}`, 'extendedKeyUsage=clientAuth\n');
  issue('rogue-ca', 'rogue', `/O=Quark tests/CN=${CLIENT_CN}`, 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: file('test-ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    rogueCert: file('rogue.pem'),
    rogueKey: file('rogue.key'),
  };
}

// ---- The Proton peer (proton/sasl_peer.py) ----

interface ProtonClientResult {
  opened: boolean;
  mech: string | null;
  user: string | null;
  tls: { protocol: string; cipher: string } | null;
  body: string | null;
  accepted: boolean;
  error: { name: string; description: string } | null;
}

interface ProtonOptions {
  mechs?: string;
  user?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  cyrus?: boolean;
  sendOnly?: boolean;
}

let pki: Pki;
let plugin: string;

function peerArgs(o: ProtonOptions): string[] {
  const args: string[] = [];
  if (o.mechs) args.push('--mechs', o.mechs);
  if (o.user !== undefined) args.push('--user', o.user);
  if (o.password !== undefined) args.push('--password', o.password);
  if (o.ca) args.push('--ca', o.ca);
  if (o.cert) args.push('--cert', o.cert, '--key', o.key!);
  if (o.cyrus) args.push('--cyrus', plugin);
  if (o.sendOnly) args.push('--send-only');
  return args;
}

/**
 * Runs Proton's client: connect, send one message to `address` and get it back (or only have it
 * accepted). Its stderr has Proton's frame trace (PN_TRACE_FRM), SASL frames included, for failures.
 */
async function protonClient(
  url: string,
  address: string,
  options: ProtonOptions,
): Promise<ProtonClientResult & { code: number | null; stderr: string }> {
  const python = requirePythonProton();
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      python,
      [PEER, 'client', url, address, ...peerArgs(options)],
      { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL', env: { ...process.env, PN_TRACE_FRM: '1' } },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          stdout,
          stderr: stderr + (error && typeof error.code !== 'number' ? `\n[${error.message}]` : ''),
        }),
    );
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let result: ProtonClientResult;
  try {
    result = JSON.parse(line) as ProtonClientResult;
  } catch {
    throw new Error(`sasl_peer.py client printed no result (exit ${String(r.code)}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...result, code: r.code, stderr: r.stderr };
}

interface ProtonServer {
  port: number;
  program: RunningProgram;
  /** The JSON events printed so far. */
  events(): Record<string, unknown>[];
  /** Resolves with the first event for which `test` holds. */
  waitFor(test: (event: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/**
 * Starts a Proton server with Cyrus SASL on 127.0.0.1: its own Cyrus folder, holding
 * proton-server.conf (sasldb, the `mech_list` given) and a sasldb with `users` made by saslpasswd2.
 */
async function protonServer(
  mechList: string,
  users: Record<string, string>,
  tls?: { requestCert: boolean },
): Promise<ProtonServer> {
  requireSaslpasswd();
  const dir = mkdtempSync(path.join(pki.dir, 'cyrus-'));
  const db = path.join(dir, 'users.sasldb');
  for (const [user, password] of Object.entries(users)) {
    // -p reads the password from stdin (no newline); no -u: the realm is the host name, as the server's.
    run(
      'saslpasswd2',
      ['-c', '-p', '-f', db, user],
      `saslpasswd2 for ${user}`,
      'It comes with `apt-get install sasl2-bin`.',
      { input: password },
    );
  }
  writeFileSync(
    path.join(dir, 'proton-server.conf'),
    `pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: ${db}\nmech_list: ${mechList}\n`,
  );
  const tlsArgs = tls
    ? ['--cert', pki.serverCert, '--key', pki.serverKey, ...(tls.requestCert ? ['--ca', pki.ca] : [])]
    : [];
  const program = startProgram(
    PYTHON,
    [PEER, 'server', '--cyrus', plugin, '--config-dir', dir, ...tlsArgs],
    PROTON_DIR,
    60_000,
  );
  const port = Number((await program.waitFor(/\{"listening": (\d+)\}/))[1]);
  const events = () =>
    program
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{"event"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitFor = async (test: (event: Record<string, unknown>) => boolean) => {
    for (;;) {
      const found = events().find(test);
      if (found) return found;
      if (program.child.exitCode !== null || program.child.signalCode !== null) {
        throw new Error(`the Proton server ended:\n${program.stdout()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { port, program, events, waitFor };
}

// ---- Quark's side ----

let broker: Broker | undefined;
let listener: Listener | undefined;
let client: Connection | undefined;

beforeAll(() => {
  plugin = buildCyrusPlugin();
  pki = makePki();
}, 120_000);

afterEach(async () => {
  killPrograms();
  await client?.close().catch(() => undefined);
  await listener?.close();
  await broker?.close();
  client = undefined;
  listener = undefined;
  broker = undefined;
});

afterAll(() => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

function brokerTls(): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) };
}

describe('Proton client -> Quark broker over TLS with PLAIN', () => {
  it(
    'logs in, verifying the broker against the test CA, and gets its message back',
    { timeout: TEST_TIMEOUT },
    async () => {
      broker = await startBroker({ port: 0, tls: brokerTls(), users: { alice: 'pässwörd✓' } });
      const r = await protonClient(`amqps://127.0.0.1:${broker.port}`, 'proton-tls', {
        mechs: 'PLAIN',
        user: 'alice',
        password: 'pässwörd✓',
        ca: pki.ca,
      });
      expect(r, r.stderr).toMatchObject({
        opened: true,
        mech: 'PLAIN',
        user: 'alice',
        body: 'hello from Proton',
        error: null,
      });
      expect(r.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
      expect(r.tls?.cipher).toBeTruthy();
    },
  );

  it(
    'is refused with a wrong password: Proton reports amqp:unauthorized-access',
    { timeout: TEST_TIMEOUT },
    async () => {
      broker = await startBroker({ port: 0, tls: brokerTls(), users: { alice: 'pässwörd✓' } });
      const r = await protonClient(`amqps://127.0.0.1:${broker.port}`, 'proton-tls', {
        mechs: 'PLAIN',
        user: 'alice',
        password: 'wrong',
        ca: pki.ca,
      });
      expect(r.opened).toBe(false);
      expect(r.error).toEqual({ name: 'amqp:unauthorized-access', description: 'Authentication failed [mech=PLAIN]' });
      expect(r.code).toBe(1);
    },
  );
});

describe('Proton client with a client certificate -> Quark listener: EXTERNAL', () => {
  function startListener(): Promise<Listener> {
    return listen({
      tls: { ...brokerTls(), ca: readFileSync(pki.ca), requestCert: true },
      sasl: { mechanisms: ['EXTERNAL'] },
    });
  }

  /** Accepts what peers send. */
  function consume(l: Listener): void {
    void (async () => {
      for await (const link of l) {
        if (link.role !== 'receiver') {
          link.refuse();
          continue;
        }
        void (async () => {
          for await (const d of link.acceptAsReceiver()) d.accept();
        })().catch(() => undefined);
      }
    })().catch(() => undefined);
  }

  it(
    'logs in with the certificate; the Quark side sees EXTERNAL and the CN as the user',
    { timeout: TEST_TIMEOUT },
    async () => {
      listener = await startListener();
      consume(listener);
      const opened = firstValueFrom(listener.connections$);
      opened.catch(() => undefined); // the listener closes without a connection when the login fails
      const r = await protonClient(`amqps://127.0.0.1:${listener.port}`, 'external', {
        mechs: 'EXTERNAL',
        ca: pki.ca,
        cert: pki.clientCert,
        key: pki.clientKey,
        sendOnly: true,
      });
      expect(r, r.stderr).toMatchObject({ opened: true, mech: 'EXTERNAL', accepted: true, error: null });
      const connection = await opened;
      expect(connection.authentication).toEqual({ mechanism: 'EXTERNAL', username: CLIENT_CN });
    },
  );

  it('refuses a certificate from a CA it does not trust (same CN)', { timeout: TEST_TIMEOUT }, async () => {
    listener = await startListener();
    consume(listener);
    const r = await protonClient(`amqps://127.0.0.1:${listener.port}`, 'external', {
      mechs: 'EXTERNAL',
      ca: pki.ca,
      cert: pki.rogueCert,
      key: pki.rogueKey,
      sendOnly: true,
    });
    expect(r.opened).toBe(false);
    expect(r.accepted).toBe(false);
    expect(r.error).not.toBeNull();
    expect(listener.connections).toEqual([]);
  });
});

describe('Proton client (Cyrus SASL) -> Quark broker with SCRAM', () => {
  for (const mech of SCRAM) {
    it(
      `${mech}: logs in with the right password and gets its message back; a wrong one is refused`,
      { timeout: TEST_TIMEOUT },
      async () => {
        broker = await startBroker({ port: 0, users: { alice: 'secret' } });
        const url = `amqp://127.0.0.1:${broker.port}`;
        const good = await protonClient(url, 'scram', { mechs: mech, user: 'alice', password: 'secret', cyrus: true });
        expect(good, good.stderr).toMatchObject({
          opened: true,
          mech,
          user: 'alice',
          body: 'hello from Proton',
          error: null,
        });

        const bad = await protonClient(url, 'scram', { mechs: mech, user: 'alice', password: 'Secret', cyrus: true });
        expect(bad.opened).toBe(false);
        expect(bad.error).toEqual({
          name: 'amqp:unauthorized-access',
          description: `Authentication failed [mech=${mech}]`,
        });

        const stranger = await protonClient(url, 'scram', {
          mechs: mech,
          user: 'mallory',
          password: 'secret',
          cyrus: true,
        });
        expect(stranger.opened).toBe(false);
        expect(stranger.error?.name).toBe('amqp:unauthorized-access');
      },
    );
  }

  it(
    'SCRAM-SHA-256 with a non-ASCII password (unchanged by SASLprep: Cyrus does no SASLprep)',
    { timeout: TEST_TIMEOUT },
    async () => {
      broker = await startBroker({ port: 0, users: { carol: 'pässwörd✓' } });
      const url = `amqp://127.0.0.1:${broker.port}`;
      const good = await protonClient(url, 'scram', {
        mechs: 'SCRAM-SHA-256',
        user: 'carol',
        password: 'pässwörd✓',
        cyrus: true,
      });
      expect(good, good.stderr).toMatchObject({ opened: true, mech: 'SCRAM-SHA-256', body: 'hello from Proton' });
      const bad = await protonClient(url, 'scram', {
        mechs: 'SCRAM-SHA-256',
        user: 'carol',
        password: 'passwörd✓',
        cyrus: true,
      });
      expect(bad.error?.name).toBe('amqp:unauthorized-access');
    },
  );
});

describe('Quark client -> Proton server with Cyrus SASL (SCRAM)', () => {
  const cases = [
    { offered: 'SCRAM-SHA-512 SCRAM-SHA-256 SCRAM-SHA-1 PLAIN', picked: 'SCRAM-SHA-512' },
    { offered: 'SCRAM-SHA-256 SCRAM-SHA-1 PLAIN', picked: 'SCRAM-SHA-256' },
    { offered: 'SCRAM-SHA-1 PLAIN', picked: 'SCRAM-SHA-1' },
  ];
  for (const { offered, picked } of cases) {
    it(
      `picks ${picked} from "${offered}", logs in and sends; a wrong password is an AuthenticationError`,
      { timeout: TEST_TIMEOUT },
      async () => {
        const server = await protonServer(offered, { alice: 'secret' });
        const url = `amqp://127.0.0.1:${server.port}`;
        client = await connect({ url, username: 'alice', password: 'secret' });
        expect(client.authentication).toEqual({ mechanism: picked, username: 'alice' });
        const sender = await client.createSender('from-quark');
        await expect(sender.send({ body: 'hello from Quark' })).resolves.toEqual({ kind: 'accepted' });
        await server.waitFor((e) => e.event === 'message');
        expect(server.events()).toEqual([
          { event: 'opened', user: 'alice', mech: picked },
          { event: 'message', user: 'alice', body: 'hello from Quark' },
        ]);
        await client.close();
        client = undefined;

        const err = await connect({ url, username: 'alice', password: 'Secret' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AuthenticationError);
        expect((err as AuthenticationError).condition).toBe('amqp:unauthorized-access');
        const refused = await server.waitFor((e) => e.event === 'error');
        expect(String((refused.error as { description: string }).description)).toMatch(/authentication failure/);
      },
    );
  }

  it('SCRAM-SHA-256 with a non-ASCII password', { timeout: TEST_TIMEOUT }, async () => {
    const server = await protonServer('SCRAM-SHA-256', { carol: 'pässwörd✓' });
    client = await connect({ url: `amqp://127.0.0.1:${server.port}`, username: 'carol', password: 'pässwörd✓' });
    expect(client.authentication).toEqual({ mechanism: 'SCRAM-SHA-256', username: 'carol' });
    await server.waitFor((e) => e.event === 'opened');
    expect(server.events()[0]).toEqual({ event: 'opened', user: 'carol', mech: 'SCRAM-SHA-256' });
  });

  it(
    'over TLS (Proton verified against the test CA): SCRAM-SHA-256, and connection.tls tells the TLS session',
    { timeout: TEST_TIMEOUT },
    async () => {
      const server = await protonServer('SCRAM-SHA-256 PLAIN', { alice: 'secret' }, { requestCert: false });
      client = await connect({
        url: `amqps://127.0.0.1:${server.port}`,
        username: 'alice',
        password: 'secret',
        tls: { ca: readFileSync(pki.ca) },
      });
      expect(client.authentication).toEqual({ mechanism: 'SCRAM-SHA-256', username: 'alice' });
      expect(client.tls).toMatchObject({
        protocol: expect.stringMatching(/^TLSv1\.[23]$/) as unknown,
        authorized: true,
      });
      expect(client.tls?.cipher).toBeTruthy();
      expect(client.tls?.peerCertificate?.subject.CN).toBe('localhost');
      const sender = await client.createSender('over-tls');
      await expect(sender.send({ body: 'hello over TLS' })).resolves.toEqual({ kind: 'accepted' });
    },
  );

  it(
    'EXTERNAL with a client certificate: Cyrus takes the TLS subject as the user',
    { timeout: TEST_TIMEOUT },
    async () => {
      const server = await protonServer('EXTERNAL SCRAM-SHA-256', { alice: 'secret' }, { requestCert: true });
      client = await connect({
        url: `amqps://127.0.0.1:${server.port}`,
        tls: { ca: readFileSync(pki.ca), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) },
      });
      expect(client.authentication?.mechanism).toBe('EXTERNAL');
      const opened = await server.waitFor((e) => e.event === 'opened');
      expect(opened).toEqual({ event: 'opened', user: `CN=${CLIENT_CN},O=Quark tests`, mech: 'EXTERNAL' });
    },
  );

  it('a user the server does not know is an AuthenticationError', { timeout: TEST_TIMEOUT }, async () => {
    const server = await protonServer('SCRAM-SHA-256', { alice: 'secret' });
    const err = await connect({
      url: `amqp://127.0.0.1:${server.port}`,
      username: 'mallory',
      password: 'secret',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
  });
});
