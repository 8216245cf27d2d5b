/**
 * Qpid Proton Python reads the same connect.json as findConnectConfig/readConnectConfig: for each
 * file, Proton's `Container.connect()` with no URL (run with Debian's /usr/bin/python3) must arrive
 * at the Quark listener on the port, with the SASL layer, mechanism and credentials, and with the TLS
 * trust that Quark read from the same file. Some listeners stand on ports the file does not name,
 * so a connection that arrives at the wrong place is seen.
 *
 * A machine without Python or Proton fails this suite (it is never skipped).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findConnectConfig, readConnectConfig } from '../../src/client/connect-config.js';
import { listen, type ListenOptions, type Listener, type SaslCredentials } from '../../src/index.js';
import { requirePythonProton } from '../support/proton-peers.js';

/** Connects with no URL, so Proton reads connect.json; prints one JSON line with the outcome. */
const CLIENT = `
import json, sys
from proton.handlers import MessagingHandler
from proton.reactor import Container

class Client(MessagingHandler):
    def __init__(self):
        super().__init__()
        self.result = {"opened": False, "errors": []}

    def on_start(self, event):
        event.container.connect(reconnect=False)

    def on_connection_opened(self, event):
        self.result["opened"] = True
        event.connection.close()

    def on_transport_error(self, event):
        self.result["errors"].append(str(event.transport.condition))

client = Client()
try:
    Container(client).run()
except Exception as e:
    client.result["errors"].append("%s: %s" % (type(e).__name__, e))
print(json.dumps(client.result))
sys.exit(0 if client.result["opened"] else 1)
`;

interface ProtonOutcome {
  code: number | null;
  opened: boolean;
  errors: string[];
  stderr: string;
}

let python: string;
let root: string;
let counter = 0;
function folder(name: string): string {
  const dir = join(root, `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
function writeConfig(dir: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'connect.json');
  writeFileSync(file, text);
  return file;
}

/** Runs the Proton client in `cwd` with HOME and MESSAGING_CONNECT_FILE as given (unset when undefined). */
function runProton(cwd: string, home: string, connectFile: string | undefined): Promise<ProtonOutcome> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.MESSAGING_CONNECT_FILE;
  if (connectFile !== undefined) env.MESSAGING_CONNECT_FILE = connectFile;
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', CLIENT],
      { cwd, env, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        let parsed: { opened: boolean; errors: string[] } = {
          opened: false,
          errors: [`no result line; stdout: ${stdout}`],
        };
        try {
          parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '') as typeof parsed;
        } catch {
          // keep the placeholder
        }
        resolve({ code, ...parsed, stderr: stderr + (error && code === null ? `\n[${error.message}]` : '') });
      },
    );
  });
}

/** A Quark listener that records the SASL credentials and the opened connections it saw. */
interface Watched {
  listener: Listener;
  credentials: SaslCredentials[];
  opened: number;
}
const listeners: Watched[] = [];
async function watch(options: ListenOptions): Promise<Watched> {
  const credentials: SaslCredentials[] = [];
  const authenticate = (c: SaslCredentials): boolean => (credentials.push(c), true);
  const sasl = options.sasl === false ? false : { mechanisms: options.sasl?.mechanisms ?? ['ANONYMOUS'], authenticate };
  const listener = await listen({ host: '127.0.0.1', ...options, sasl });
  const w: Watched = { listener, credentials, opened: 0 };
  listener.connections$.subscribe(() => w.opened++);
  listeners.push(w);
  return w;
}

let pki: string;
beforeAll(() => {
  python = requirePythonProton();
  root = mkdtempSync(join(tmpdir(), 'quark-connect-config-proton-'));
  // A CA and a server certificate for localhost that it signed (Proton checks DNS names only).
  pki = folder('pki');
  const o = { cwd: pki, stdio: 'ignore' } as const;
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=Quark test CA',
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
    ],
    o,
  );
  execFileSync(
    'openssl',
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      'server-key.pem',
      '-out',
      'server.csr',
    ],
    o,
  );
  writeFileSync(join(pki, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.pem',
    ],
    o,
  );
});
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((w) => w.listener.close()));
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

function explain(outcome: ProtonOutcome): string {
  return `Proton exited ${String(outcome.code)}; errors: ${outcome.errors.join('; ')}; stderr: ${outcome.stderr}`;
}

describe('Proton Python and Quark read the same connect.json', () => {
  it('port, user, password, SASL mechanisms (list) and comments: Proton authenticates with PLAIN at the port Quark read', async () => {
    const target = await watch({ sasl: { mechanisms: ['PLAIN', 'ANONYMOUS'] }, allowInsecurePlain: true });
    const decoy = await watch({ allowInsecurePlain: true });
    const file = writeConfig(
      folder('cfg'),
      `// Written for both Proton and Quark.
{
  "scheme": "amqp", /* no TLS */
  "host": "127.0.0.1",
  "port": ${target.listener.port},
  "user": "alice@example",
  "password": "pä55//wörd",
  "sasl": { "enabled": true, "mechanisms": ["PLAIN"], "allow_insecure": true }
}
`,
    );
    const ours = readConnectConfig(file);
    expect(ours).toEqual({
      host: '127.0.0.1',
      port: target.listener.port,
      tls: false,
      username: 'alice@example',
      password: 'pä55//wörd',
      sasl: { mechanisms: ['PLAIN'] },
      allowInsecurePlain: true,
      source: file,
    });

    const outcome = await runProton(folder('cwd'), folder('home'), file);
    expect(outcome.opened, explain(outcome)).toBe(true);
    expect(target.opened).toBe(1);
    expect(decoy.opened + decoy.credentials.length).toBe(0);
    expect(target.credentials).toHaveLength(1);
    expect(target.credentials[0]).toMatchObject({
      mechanism: 'PLAIN',
      username: ours.username,
      password: ours.password,
    });
  });

  it('mechanisms as a string: Proton uses the one mechanism named, as Quark read it', async () => {
    const target = await watch({ sasl: { mechanisms: ['PLAIN', 'ANONYMOUS'] }, allowInsecurePlain: true });
    const file = writeConfig(
      folder('cfg'),
      JSON.stringify({
        scheme: 'amqp',
        host: '127.0.0.1',
        port: target.listener.port,
        user: 'bob',
        password: 'pw',
        sasl: { mechanisms: 'ANONYMOUS' },
      }),
    );
    expect(readConnectConfig(file).sasl).toEqual({ mechanisms: ['ANONYMOUS'] });
    const outcome = await runProton(folder('cwd'), folder('home'), file);
    expect(outcome.opened, explain(outcome)).toBe(true);
    expect(target.credentials.map((c) => c.mechanism)).toEqual(['ANONYMOUS']);
  });

  it('a numeric port string and sasl.enabled false: Proton connects without SASL, as Quark read it', async () => {
    const target = await watch({ sasl: false });
    const file = writeConfig(
      folder('cfg'),
      JSON.stringify({
        scheme: 'amqp',
        host: '127.0.0.1',
        port: String(target.listener.port),
        sasl: { enabled: false },
      }),
    );
    expect(readConnectConfig(file)).toMatchObject({ port: target.listener.port, sasl: false, tls: false });
    const outcome = await runProton(folder('cwd'), folder('home'), file);
    expect(outcome.opened, explain(outcome)).toBe(true);
    expect(target.opened).toBe(1);
    expect(target.credentials).toEqual([]);
  });

  it('the search order: $MESSAGING_CONNECT_FILE, then ./connect.json, then ~/.config/messaging/connect.json', async () => {
    const byEnv = await watch({});
    const byCwd = await watch({});
    const byHome = await watch({});
    const config = (w: Watched): string => JSON.stringify({ scheme: 'amqp', host: '127.0.0.1', port: w.listener.port });
    const cwd = folder('cwd');
    const home = folder('home');
    const emptyCwd = folder('empty-cwd');
    const etc = folder('etc'); // Quark's /etc stand-in: empty, as the real /etc/messaging is expected to be.
    const envFile = writeConfig(folder('env'), config(byEnv));
    writeConfig(cwd, config(byCwd));
    writeConfig(join(home, '.config', 'messaging'), config(byHome));

    const runs: [cwd: string, env: string | undefined, expected: Watched][] = [
      [cwd, envFile, byEnv],
      [cwd, undefined, byCwd],
      [emptyCwd, undefined, byHome],
    ];
    for (const [dir, env, expected] of runs) {
      const found = findConnectConfig(env === undefined ? {} : { MESSAGING_CONNECT_FILE: env }, dir, home, etc);
      expect(found).toBeDefined();
      expect(readConnectConfig(found!).port).toBe(expected.listener.port);
      const before = listeners.map((w) => w.opened);
      const outcome = await runProton(dir, home, env);
      expect(outcome.opened, explain(outcome)).toBe(true);
      // Exactly the expected listener got Proton's connection.
      expect(listeners.map((w, i) => w.opened - before[i]!)).toEqual(listeners.map((w) => (w === expected ? 1 : 0)));
    }
  });

  it("amqps with a relative tls.ca and verify: both read the CA relative to the working folder, not the file's folder", async () => {
    const target = await watch({
      tls: { cert: readFileSync(join(pki, 'server.pem')), key: readFileSync(join(pki, 'server-key.pem')) },
    });
    const configDir = folder('cfg');
    const file = writeConfig(
      configDir,
      JSON.stringify({
        scheme: 'amqps',
        host: 'localhost',
        port: target.listener.port,
        tls: { ca: 'certs/ca.pem', verify: true },
      }),
    );
    const cwd = folder('cwd');
    mkdirSync(join(cwd, 'certs'));
    writeFileSync(join(cwd, 'certs', 'ca.pem'), readFileSync(join(pki, 'ca.pem')));

    expect(readConnectConfig(file, cwd)).toEqual({
      host: 'localhost',
      port: target.listener.port,
      tls: { ca: readFileSync(join(pki, 'ca.pem')), rejectUnauthorized: true },
      source: file,
    });
    const outcome = await runProton(cwd, folder('home'), file);
    expect(outcome.opened, explain(outcome)).toBe(true);
    expect(target.opened).toBe(1);

    // Run from the configuration file's folder, Proton finds no certs/ca.pem, and Quark says so.
    const lost = await runProton(configDir, folder('home'), file);
    expect(lost.opened).toBe(false);
    expect(lost.errors.join('; ')).toMatch(/SSLException/); // Proton's set_trusted_ca_db found no file
    expect(target.opened).toBe(1);
    expect(() => readConnectConfig(file, configDir)).toThrow(
      /"tls\.ca" names .*certs\/ca\.pem, which cannot be read: there is no such file/,
    );
  });
});
