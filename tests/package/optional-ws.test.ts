/** ws is an optional dependency: loaded only when WebSocket is used, and a clear error when it is not installed. */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'quark-no-ws-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const run = (code: string, cwd: string): string =>
  execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd, encoding: 'utf8' });

describe('the optional ws package', () => {
  it('is not loaded by an application that does not use WebSocket, and is once it does', () => {
    const code = `const q = await import('quark-amqp'); const { createRequire } = await import('node:module'); const require = createRequire(process.cwd() + '/');
      const wsLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/ws/'));
      const listener = await q.listen({ port: 0 });
      const tcp = await q.connect(listener.url);
      const before = wsLoaded();
      await tcp.close(); await listener.close();
      const ws = await q.listen({ tcp: false, websocket: {} });
      const client = await q.connect(ws.url);
      console.log(before, wsLoaded(), client.isOpen);
      await client.close(); await ws.close();`;
    expect(run(code, root).trim()).toBe('false true true');
  });

  it('when it is not installed, a ws URL or a WebSocket listener fails at once with a WebSocketError saying to install it; TCP works', () => {
    // The package as installed in an application without ws: its build, and its two dependencies.
    const app = join(scratch, 'app');
    const pkg = join(app, 'node_modules', 'quark-amqp');
    mkdirSync(pkg, { recursive: true });
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
    for (const dep of ['rxjs', 'debug']) symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep));
    writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');
    const code = `const q = await import('quark-amqp');
      const show = (e) => [e.constructor.name, e.reason, e.condition, /npm install ws/.test(e.message)].join(' ');
      console.log(show(await q.connect('ws://127.0.0.1:1/').catch((e) => e)));
      console.log(show(await q.listen({ websocket: {} }).catch((e) => e)));
      const listener = await q.listen({ port: 0 });
      const tcp = await q.connect(listener.url);
      console.log(tcp.isOpen);
      await tcp.close(); await listener.close();`;
    expect(run(code, app).trim().split('\n')).toEqual([
      'WebSocketError unavailable quark:websocket-failed true',
      'WebSocketError unavailable quark:websocket-failed true',
      'true',
    ]);
  });
});
