/**
 * rxjs is an optional peer dependency: an application installed without it gets the whole API
 * except the RxJS views (and what is built on them: the embedded broker, the Container), which
 * fail at once with a typed error naming the package to install.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
let app: string;

beforeAll(() => {
  // An application folder with quark-amqp installed (a copy: a symlink would resolve rxjs from this repo) and debug, no rxjs.
  app = mkdtempSync(join(tmpdir(), 'quark-no-rxjs-'));
  const installed = join(app, 'node_modules', 'quark-amqp');
  mkdirSync(installed, { recursive: true });
  cpSync(join(root, 'package.json'), join(installed, 'package.json'));
  cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true });
  for (const dependency of ['debug', 'ms'])
    symlinkSync(join(root, 'node_modules', dependency), join(app, 'node_modules', dependency), 'dir');
});

afterAll(() => {
  if (app !== undefined) rmSync(app, { recursive: true, force: true });
});

const run = (code: string, type: 'commonjs' | 'module'): string =>
  execFileSync(process.execPath, [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code], {
    cwd: app,
    encoding: 'utf8',
    timeout: 30_000,
  });

describe('quark-amqp installed without rxjs', () => {
  for (const type of ['commonjs', 'module'] as const) {
    it(`sends and receives peer to peer, and each RxJS view throws MissingDependencyError naming npm install rxjs (${type})`, () => {
      const load = type === 'module' ? `const q = await import('quark-amqp');` : `const q = require('quark-amqp');`;
      const code = `(async () => { ${load}
        const { createRequire } = await import('node:module');
        let rxjsFound = true;
        try { createRequire(process.cwd() + '/').resolve('rxjs'); } catch { rxjsFound = false; }
        const listener = await q.listen({ port: 0, host: '127.0.0.1' });
        let serverGot;
        (async () => {
          for await (const link of listener) {
            if (link.role === 'sender') link.acceptAsSender().send({ body: 'to the client' }).catch(() => undefined);
            else link.acceptAsReceiver().receive().then((d) => { serverGot = d.message.body; d.accept(); }, () => undefined);
          }
        })();
        const connection = await q.connect(listener.url);
        const receiver = await connection.createReceiver('q');
        const sender = await connection.createSender('q');
        const outcome = await sender.send({ body: 'to the server' });
        const delivery = await receiver.receive({ timeout: 5000 });
        delivery.accept();
        const failure = (f) => { try { f(); return 'no error'; } catch (e) { return e instanceof q.MissingDependencyError ? e.condition + ' ' + e.packageName + ' | ' + e.message : 'other: ' + e; } };
        const events = failure(() => connection.events$);
        const deliveries = failure(() => receiver.deliveries$());
        const container = failure(() => new q.Container({}));
        const broker = await q.startBroker({ port: 0, host: '127.0.0.1' }).then(() => 'started', (e) => e instanceof q.MissingDependencyError ? 'rejected ' + e.packageName : 'other: ' + e);
        await connection.close();
        await listener.close();
        console.log(JSON.stringify({ rxjsFound, outcome: outcome.kind, serverGot, clientGot: delivery.message.body, events, deliveries, container, broker }));
      })().catch((e) => { console.log('failed: ' + (e && e.stack)); });`;
      const out = JSON.parse(run(code, type).trim()) as Record<string, unknown>;
      expect(out).toEqual({
        rxjsFound: false,
        outcome: 'accepted',
        serverGot: 'to the server',
        clientGot: 'to the client',
        events:
          'quark:missing-dependency rxjs | connection.events$ needs the package rxjs, which is not installed: run `npm install rxjs`',
        deliveries: expect.stringContaining('receiver.deliveries$() needs the package rxjs') as unknown,
        container: expect.stringContaining('Container needs the package rxjs') as unknown,
        broker: 'rejected rxjs',
      });
    });
  }
});
