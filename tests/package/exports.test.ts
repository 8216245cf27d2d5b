import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = (code: string, type: 'commonjs' | 'module'): string =>
  execFileSync(process.execPath, [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code], { cwd: root, encoding: 'utf8' });

describe('the package as a user installs it', () => {
  it('require("quark-amqp") loads the CommonJS build with the public API', () => {
    const out = run(`const q = require('quark-amqp'); const b = q.encodeMessage({ body: q.ulong(5n) }); console.log(typeof q.connect, q.decodeMessage(b, { values: 'exact' }).body.type);`, 'commonjs');
    expect(out.trim()).toBe('function ulong');
  });

  it('import from "quark-amqp" loads the ESM build with the same API', () => {
    const out = run(`import { connect, startBroker, decodeMessage, encodeMessage, symbol } from 'quark-amqp'; console.log(typeof connect, typeof startBroker, decodeMessage(encodeMessage({ body: symbol('x') }), { values: 'exact' }).body.type);`, 'module');
    expect(out.trim()).toBe('function function symbol');
  });

  it('exports only the public API from its one entry point (no engine internals)', () => {
    const out = run(`const q = require('quark-amqp'); console.log(['ProtocolEngine', 'EngineSession', 'ByteWriter', 'ByteReader', 'writeValue'].filter((k) => k in q).join(',') || 'none');`, 'commonjs');
    expect(out.trim()).toBe('none');
  });

  for (const type of ['commonjs', 'module'] as const) {
    it(`loads rxjs only when an RxJS view is first used, and it is the application's rxjs (${type})`, () => {
      const load = type === 'module' ? `const q = await import('quark-amqp'); const { createRequire } = await import('node:module'); const require = createRequire(process.cwd() + '/');` : `const q = require('quark-amqp');`;
      const code = `(async () => { ${load}
        const rxLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/rxjs/'));
        const before = rxLoaded();
        const listener = await q.listen({ port: 0 });
        (async () => { for await (const link of listener) link.acceptAsReceiver(); })();
        const connection = await q.connect(listener.url);
        await connection.createSender('q');
        const stillNot = rxLoaded();
        const events = connection.events$;
        const after = rxLoaded();
        const { Observable } = require('rxjs');
        console.log(before, stillNot, after, events instanceof Observable);
        await connection.close();
        await listener.close();
      })();`;
      expect(run(code, type).trim()).toBe('false false true true');
    });
  }
});
