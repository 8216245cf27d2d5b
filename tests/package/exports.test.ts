import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = (code: string, type: 'commonjs' | 'module'): string =>
  execFileSync(process.execPath, [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code], { cwd: root, encoding: 'utf8' });

describe('the package as a user installs it', () => {
  it('require("quark-amqp") loads the CommonJS build with the public API', () => {
    const out = run(`const q = require('quark-amqp'); const b = q.encodeMessage({ body: q.ulong(5n) }); console.log(typeof q.connect, q.decodeMessage(b).body.type);`, 'commonjs');
    expect(out.trim()).toBe('function ulong');
  });

  it('import from "quark-amqp" loads the ESM build with the same API', () => {
    const out = run(`import { connect, startBroker, decodeMessage, encodeMessage, symbol } from 'quark-amqp'; console.log(typeof connect, typeof startBroker, decodeMessage(encodeMessage({ body: symbol('x') })).body.type);`, 'module');
    expect(out.trim()).toBe('function function symbol');
  });

  it('exports only the public API from its one entry point (no engine internals)', () => {
    const out = run(`const q = require('quark-amqp'); console.log(['ProtocolEngine', 'EngineSession', 'ByteWriter', 'ByteReader', 'writeValue'].filter((k) => k in q).join(',') || 'none');`, 'commonjs');
    expect(out.trim()).toBe('none');
  });
});
