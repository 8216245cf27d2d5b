import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, startBroker, ulong, type Broker } from '../../src/index.js';
import { startProgram } from '../support/programs.js';
import { selfSignedLocalhost } from '../support/self-signed-certificate.js';

const cli = join(__dirname, '..', '..', 'dist', 'esm', 'cli', 'main.js');

function quark(args: string[], nodeOptions: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...nodeOptions, cli, ...args], { timeout: 30000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

let broker: Broker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

describe('the quark CLI', () => {
  it('prints help for every command and exits 0', async () => {
    for (const args of [
      ['--help'],
      ['send', '--help'],
      ['receive', '--help'],
      ['broker', '--help'],
      ['bench', '--help'],
    ]) {
      const r = await quark(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: quark/);
    }
  });

  it('rejects wrong arguments with one clear line and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['send'], /needs a URL with an address/],
      [['send', 'amqp://localhost:5672'], /has no address/],
      [['send', 'amqp://localhost/q', '--count', 'x'], /--count must be a whole number/],
      [['send', 'amqp://localhost/q', '--bogus'], /Unknown option/],
      [['send', 'amqp://localhost/q', '--property', 'n:int=1.5'], /--property n:int=1.5/],
      [['frobnicate'], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const r = await quark(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('says in one line, without a stack trace, that a connection was refused, with its condition (exit 1)', async () => {
    const r = await quark(['send', 'amqp://127.0.0.1:1/q']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      /^quark: Could not connect to 127\.0\.0\.1:1: connection refused.* \(amqp:connection:forced\)$/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('bad input the library refuses (an InvalidArgumentError) is one line and exit 2, like a usage error; a port it cannot bind is one line with its condition and exit 1', async () => {
    const bad = await quark(['broker', '--port', '70000']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      'quark: listen: port must be a whole number from 0 to 65535 (0 picks a free port), got 70000',
    ]);
    broker = await startBroker({ port: 0 });
    const inUse = await quark(['broker', '--port', String(broker.port)]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr.trim().split('\n')).toEqual([
      `quark: cannot listen on 127.0.0.1:${broker.port}: the port is in use: stop what listens there, or pick another port (0 picks a free one) (quark:listen-failed)`,
    ]);
    // 192.0.2.1 (TEST-NET-1) is not an address of this machine: the bind fails here, nothing is sent.
    const elsewhere = await quark(['broker', '--host', '192.0.2.1', '--port', '0']);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr.trim()).toMatch(
      /^quark: cannot listen on 192\.0\.2\.1:0: 192\.0\.2\.1 is not an address of this machine.*\(quark:listen-failed\)$/,
    );
    for (const r of [bad, inUse, elsewhere]) expect(r.stderr).not.toMatch(/unexpected failure|\n\s+at /);
  });

  it('a password refused in clear text to another machine is one line and exit 2, with no stack', async () => {
    // The "remote" peer: the CLI sees 192.0.2.1 (not loopback) and decides as for a remote peer;
    // a preload rewrites only where its socket goes, to a loopback listener offering PLAIN alone.
    const listener = await listen({ port: 0, sasl: { mechanisms: ['PLAIN'], authenticate: () => true } });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'quark-cli-remote-'));
      const preload = join(dir, 'to-loopback.mjs');
      writeFileSync(
        preload,
        `import net from 'node:net';
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (first && typeof first === 'object' && first.host === '192.0.2.1') { first.host = '127.0.0.1'; first.port = ${listener.port}; }
  return connect.apply(this, args);
};
`,
      );
      const r = await quark(['send', 'amqp://u:p@192.0.2.1:5672/q'], ['--import', preload]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(
        /^quark: Refusing to send a password in clear text to 192\.0\.2\.1.*the server offers no SCRAM mechanism: use amqps:\/\/ \(TLS\)/,
      );
      expect(r.stderr).not.toMatch(/unexpected failure|\n\s+at /);
    } finally {
      await listener.close();
    }
  });

  it('says in one line that a login failed', async () => {
    broker = await startBroker({ port: 0, users: { u: 'p' }, allowInsecurePlain: true });
    const r = await quark(['send', `amqp://u:wrong@127.0.0.1:${broker.port}/q`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^quark: Authentication failed/);
  });

  it('sends messages with properties and receives them as typed JSON', async () => {
    broker = await startBroker({ port: 0 });
    const url = `amqp://127.0.0.1:${broker.port}/cli-q`;
    const sent = await quark([
      'send',
      url,
      '--count',
      '3',
      '--body',
      'hi',
      '--property',
      'region=eu',
      '--property',
      'n:ulong=18446744073709551615',
      '--durable',
    ]);
    expect(sent.code).toBe(0);
    expect(sent.stderr).toMatch(/sent 3 messages/);
    const got = await quark(['receive', url, '--count', '3', '--json', '--timeout', '5']);
    expect(got.code).toBe(0);
    const lines = got.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);
    expect(lines).toHaveLength(3);
    expect(lines[0]!.body).toEqual({ type: 'string', value: 'hi' });
    expect(lines[0]!.applicationProperties).toEqual({
      region: { type: 'string', value: 'eu' },
      n: { type: 'ulong', value: '18446744073709551615' },
    });
    expect(lines[0]!.header).toEqual({ durable: { type: 'boolean', value: true } });
  });

  it('prints a ulong message id as a ulong (its AMQP type), not a long', async () => {
    broker = await startBroker({ port: 0 });
    const client = await connect(broker.url);
    const sender = await client.createSender('ids');
    await sender.send({ messageId: 5, correlationId: ulong(2n ** 64n - 1n), body: 'x' });
    await client.close();
    const got = await quark(['receive', `${broker.url}/ids`, '--count', '1', '--json', '--timeout', '5']);
    expect(got.code).toBe(0);
    const line = JSON.parse(got.stdout) as Record<string, Record<string, unknown>>;
    expect(line.properties).toEqual({
      messageId: { type: 'ulong', value: '5' },
      correlationId: { type: 'ulong', value: '18446744073709551615' },
    });
  });

  it('sends a file as a data section and prints messages section by section', async () => {
    broker = await startBroker({ port: 0 });
    const url = `amqp://127.0.0.1:${broker.port}/files`;
    const file = join(mkdtempSync(join(tmpdir(), 'quark-cli-')), 'payload.bin');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    expect((await quark(['send', url, '--file', file, '--subject', 'bytes'])).code).toBe(0);
    const got = await quark(['receive', url, '--count', '1']);
    expect(got.stdout).toMatch(/message 1/);
    expect(got.stdout).toMatch(/subject: 'bytes'/);
    expect(got.stdout).toMatch(/body \(data\)/);
    expect(got.stderr).toMatch(/received 1 message/);
  });

  it('runs a broker until interrupted, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [cli, 'broker', '--port', '0']);
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`broker did not start: ${out}`)), 10000);
      child.stdout.on('data', () => {
        if (out.includes('listening')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const port = /:(\d+)/.exec(out)![1]!;
    const sent = await quark(['send', `amqp://127.0.0.1:${port}/q`, '--count', '2']);
    expect(sent.code).toBe(0);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/stopped/);
  });

  it('broker --tls-cert/--tls-key serves amqps:// (a client verifying the certificate logs in with PLAIN over it); half the TLS flags is a usage error', async () => {
    const { certPath, keyPath } = selfSignedLocalhost();
    const half = await quark(['broker', '--port', '0', '--tls-cert', certPath]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/TLS needs both --tls-cert and --tls-key/);
    const run = startProgram(
      process.execPath,
      [cli, 'broker', '--port', '0', '--user', 'u:pw', '--tls-cert', certPath, '--tls-key', keyPath],
      process.cwd(),
      30_000,
    );
    const [, port] = (await run.waitFor(/amqps:\/\/127\.0\.0\.1:(\d+)/)) as unknown as [string, string];
    const client = await connect({
      url: `amqps://u:pw@localhost:${port}`,
      tls: { ca: readFileSync(certPath) },
      reconnect: false,
    });
    const sender = await client.createSender('secure');
    await expect(sender.send({ body: 'over TLS' })).resolves.toEqual({ kind: 'accepted' });
    await client.close();
    run.child.kill('SIGINT');
    expect((await run.done).code).toBe(0);
  });

  it('broker --user and --permissions: users log in with SCRAM and may use only what the file grants; a bad file or limit is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quark-cli-perms-'));
    writeFileSync(join(dir, 'perms.json'), JSON.stringify({ alice: { send: ['orders'] } }));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ alice: { sned: ['orders'] } }));
    const bad = await quark(['broker', '--port', '0', '--permissions', join(dir, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/permissions\["alice"\]: unknown key "sned"/);
    const badLimit = await quark(['broker', '--port', '0', '--store-byte-limit', '0']);
    expect(badLimit.code).toBe(2);
    const run = startProgram(
      process.execPath,
      [cli, 'broker', '--port', '0', '--user', 'alice:pw', '--permissions', join(dir, 'perms.json')],
      process.cwd(),
      30_000,
    );
    const [, port] = (await run.waitFor(/amqp:\/\/127\.0\.0\.1:(\d+)/)) as unknown as [string, string];
    const client = await connect({ url: `amqp://alice:pw@127.0.0.1:${port}`, reconnect: false });
    try {
      expect(client.authentication).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'alice' });
      const sender = await client.createSender('orders');
      await expect(sender.send({ body: 'allowed' })).resolves.toEqual({ kind: 'accepted' });
      await expect(client.createSender('elsewhere')).rejects.toMatchObject({
        condition: 'amqp:unauthorized-access',
        description: 'user alice may not send to elsewhere',
      });
    } finally {
      await client.close();
      run.child.kill('SIGINT');
    }
    expect((await run.done).code).toBe(0);
  });

  it('receive goes on over a broker restart, saying on stderr that it reconnects', async () => {
    broker = await startBroker({ port: 0 });
    const port = broker.port;
    const run = startProgram(
      process.execPath,
      [cli, 'receive', `amqp://127.0.0.1:${port}/restart`, '--count', '2'],
      process.cwd(),
      30_000,
    );
    const producer = await connect({ url: `amqp://127.0.0.1:${port}`, reconnect: { initialDelay: 20, maxDelay: 100 } });
    try {
      const sender = await producer.createSender('restart');
      await sender.send({ body: 'first' });
      await run.waitFor(/first/);
      await broker.close();
      broker = await startBroker({ port });
      await sender.send({ body: 'second' }); // waits for the producer's own reconnect
      const r = await run.done;
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/second/);
      expect(r.stderr).toMatch(
        /quark: connection lost \(.*amqp:connection:forced|the server is shutting down.*\); reconnecting/,
      );
      expect(r.stderr).toMatch(/quark: reconnected to amqp:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await producer.close();
    }
  });

  it('bench measures a throughput through an in-process broker', async () => {
    const r = await quark(['bench', '--count', '2000']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2000 messages of 100 bytes, at-least-once: [\d,]+ msg\/s/);
  });
});
